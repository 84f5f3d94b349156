//! numpy dtypes on slot rings: the dtype a `Ring` carries, the items and
//! arrays checked against it, and the slots `recv_array` lends to arrays.
//! numpy is imported when a dtype is given, never when the module is, so
//! `import ringmpsc` works without numpy.

use crate::util::Bytes;
use crate::view::Lease;
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::VecDeque;
use std::sync::Arc;

/// The numpy dtype of a ring's items.
pub(crate) struct Dtype {
    /// The `numpy.dtype` object.
    dtype: Py<PyAny>,
    /// `numpy.frombuffer`, looked up once.
    frombuffer: Py<PyAny>,
    /// `numpy.ascontiguousarray`, looked up once.
    contiguous: Py<PyAny>,
    /// `dtype.itemsize`: the ring's item size, never 0.
    itemsize: usize,
}

impl Dtype {
    /// `numpy.dtype(spec)`. ValueError for a dtype holding Python objects
    /// (pointers, meaningless in another process or once freed) or of no size.
    pub(crate) fn new(spec: &Bound<'_, PyAny>) -> PyResult<Dtype> {
        let np = spec.py().import("numpy")?;
        let dtype = np.getattr("dtype")?.call1((spec,))?;
        if dtype.getattr("hasobject")?.extract::<bool>()? {
            return Err(PyValueError::new_err(format!(
                "dtype {dtype} holds Python objects: a ring carries plain data"
            )));
        }
        let itemsize: usize = dtype.getattr("itemsize")?.extract()?;
        if itemsize == 0 {
            return Err(PyValueError::new_err(format!("dtype {dtype} has no size")));
        }
        Ok(Dtype {
            frombuffer: np.getattr("frombuffer")?.unbind(),
            contiguous: np.getattr("ascontiguousarray")?.unbind(),
            dtype: dtype.unbind(),
            itemsize,
        })
    }

    /// `Dtype::new` of an optional argument.
    pub(crate) fn of(spec: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Dtype>> {
        spec.map(Dtype::new).transpose()
    }

    /// The item size of a ring made with `size` (an `item_size` or
    /// `slot_size` argument, named `what`) and `dtype`: the dtype's, which
    /// `size` must then equal; else `size`, or `default` when not given.
    pub(crate) fn item_size(
        dtype: Option<&Dtype>,
        size: Option<usize>,
        default: usize,
        what: &str,
    ) -> PyResult<usize> {
        match (dtype, size) {
            (Some(d), Some(s)) if s != d.itemsize => Err(PyValueError::new_err(format!(
                "{what}={s} conflicts with the dtype's itemsize {}",
                d.itemsize
            ))),
            (Some(d), _) => Ok(d.itemsize),
            (None, s) => Ok(s.unwrap_or(default)),
        }
    }

    /// Another reference to the same dtype.
    pub(crate) fn clone_ref(&self, py: Python<'_>) -> Dtype {
        Dtype {
            dtype: self.dtype.clone_ref(py),
            frombuffer: self.frombuffer.clone_ref(py),
            contiguous: self.contiguous.clone_ref(py),
            itemsize: self.itemsize,
        }
    }

    /// The `numpy.dtype` object.
    pub(crate) fn object<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.dtype.bind(py).clone()
    }

    /// Checks what is sent, one item or many: an object with a `dtype` (a
    /// numpy scalar, record or array) must have this one; bytes and other
    /// buffers pass (the caller checks their size).
    pub(crate) fn check(&self, obj: &Bound<'_, PyAny>) -> PyResult<()> {
        if obj.is_instance_of::<PyBytes>() {
            return Ok(());
        }
        match obj.getattr(intern!(obj.py(), "dtype")) {
            Ok(dt) if !dt.eq(self.dtype.bind(obj.py()))? => Err(PyValueError::new_err(format!(
                "items of dtype {dt}: the ring carries {}",
                self.dtype.bind(obj.py())
            ))),
            _ => Ok(()),
        }
    }

    /// The buffer of `obj`: its own, or for a numpy object that exports
    /// none (a record, a strided array) that of a contiguous copy.
    pub(crate) fn bytes_of(&self, obj: &Bound<'_, PyAny>) -> PyResult<Bytes> {
        match Bytes::of(obj) {
            Err(_) if obj.hasattr(intern!(obj.py(), "dtype"))? => {
                Bytes::of(&self.contiguous.bind(obj.py()).call1((obj,))?)
            }
            b => b,
        }
    }

    /// An array of this dtype over `buffer`'s memory (`numpy.frombuffer`,
    /// no copy; read-only as `buffer` is).
    pub(crate) fn array<'py>(&self, buffer: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.frombuffer
            .bind(buffer.py())
            .call1((buffer, self.dtype.bind(buffer.py())))
    }

    /// The item in `item` (a bytes object of one item) as a numpy scalar.
    pub(crate) fn scalar<'py>(&self, item: &Bound<'py, PyBytes>) -> PyResult<Bound<'py, PyAny>> {
        self.array(item.as_any())?.get_item(0)
    }
}

/// The slots at a ring's head that `recv_array` handed out, oldest first.
/// They stay in the ring until freed, and are freed in order: a run once
/// the array over it is gone (its view dropped) and every run before it is.
#[derive(Default)]
pub(crate) struct Lent {
    /// Runs in ring order: the lease of the view an array shows them
    /// through (`None`: copied out, free at once), and their item count.
    runs: VecDeque<(Option<Arc<Lease>>, usize)>,
    /// Items in `runs`.
    items: usize,
}

impl Lent {
    /// Items handed out and not freed yet.
    pub(crate) fn items(&self) -> usize {
        self.items
    }

    /// Records the next `n` items after those lent as handed out, shown
    /// through the view of `lease` (or copied out, with `None`).
    pub(crate) fn push(&mut self, lease: Option<Arc<Lease>>, n: usize) {
        self.runs.push_back((lease, n));
        self.items += n;
    }

    /// Takes the runs at the front whose arrays are gone: returns their
    /// item count, for the caller to free.
    pub(crate) fn reclaim(&mut self) -> usize {
        let mut n = 0;
        while let Some((lease, k)) = self.runs.front() {
            if lease.as_ref().is_some_and(Lease::held) {
                break;
            }
            n += k;
            self.runs.pop_front();
        }
        self.items -= n;
        n
    }
}
