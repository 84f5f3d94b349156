//! `ringmpsc.View`: a buffer-protocol window onto shared memory (ring slots,
//! a message payload, a claimed message, a log reservation, a pool slab),
//! so `memoryview(view)` and `numpy.frombuffer(view, dtype)` read and write
//! it in place, without a copy.

use pyo3::exceptions::{PyBufferError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyMemoryView};
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// A window onto shared memory that supports the buffer protocol. It keeps
/// the mapping alive (through `owner`) for as long as any view or
/// memoryview of it exists, so reading it is always memory-safe.
///
/// Where the memory it covers can be used again (a message freed, a claim
/// committed, slots advanced, a slab freed), the call that gives the item
/// back first revokes the view: that call raises `BufferError` while a
/// memoryview or numpy array still uses the view (as `mmap.close` does),
/// and a revoked view exports nothing more, so no buffer ever shows the
/// memory after it is reused.
#[pyclass(module = "ringmpsc._ringmpsc", name = "View", frozen)]
pub(crate) struct View {
    _owner: Py<PyAny>,
    /// Called with the owner once the view is gone (its lease let go), for
    /// memory that is given back when its last view ends.
    on_drop: Option<fn(&Bound<'_, PyAny>)>,
    ptr: usize,
    len: usize,
    readonly: bool,
    lease: Arc<Lease>,
}

/// A view's right to its memory, shared with whoever gives the memory back
/// (without a reference to the view, so no cycle keeps either alive).
#[derive(Default)]
pub(crate) struct Lease {
    /// Buffers exported and not released yet.
    exports: AtomicUsize,
    revoked: AtomicBool,
}

impl Lease {
    /// `BufferError` while a buffer of the view is exported.
    fn unused(&self) -> PyResult<()> {
        let exported = self.exports.load(Ordering::Acquire);
        if exported != 0 {
            return Err(PyBufferError::new_err(format!(
                "{exported} memoryview(s) or array(s) still use the view of this memory: \
                 release them first"
            )));
        }
        Ok(())
    }

    /// Whether a buffer of a view of `leases` is exported (`check_unused`
    /// without an error, for callers without the GIL).
    pub(crate) fn any_exported(leases: &[Arc<Lease>]) -> bool {
        leases
            .iter()
            .any(|l| l.exports.load(Ordering::Acquire) != 0)
    }

    /// `BufferError` while a buffer of a view of `leases` is exported: what
    /// a call checks before it gives their memory back.
    pub(crate) fn check_unused(leases: &[Arc<Lease>]) -> PyResult<()> {
        leases.iter().try_for_each(|l| l.unused())
    }

    /// Ends the views of `leases` (checked unused) as their memory is given
    /// back: they export nothing more.
    pub(crate) fn end(leases: &[Arc<Lease>]) {
        for l in leases {
            l.revoked.store(true, Ordering::Release);
        }
    }

    /// Whether a view still holds this lease (else it can export nothing more).
    pub(crate) fn held(self: &Arc<Self>) -> bool {
        Arc::strong_count(self) > 1
    }

    fn check(&self) -> PyResult<()> {
        if self.revoked.load(Ordering::Acquire) {
            return Err(PyValueError::new_err(
                "the item this view covered was given back (its memory may be in use again)",
            ));
        }
        Ok(())
    }
}

impl View {
    /// # Safety
    /// `ptr..ptr+len` stays mapped while `owner` is alive.
    pub(crate) unsafe fn new(owner: Py<PyAny>, ptr: *const u8, len: usize, readonly: bool) -> View {
        View {
            _owner: owner,
            on_drop: None,
            ptr: ptr as usize,
            len,
            readonly,
            lease: Arc::default(),
        }
    }

    /// A read-only view of memory lent out until the view is gone: then
    /// `on_drop(owner)` runs, after the view let go of its lease (so
    /// `Lease::held` is false by then).
    ///
    /// # Safety
    /// As for [`new`](Self::new).
    pub(crate) unsafe fn lending(
        owner: Py<PyAny>,
        ptr: *const u8,
        len: usize,
        on_drop: fn(&Bound<'_, PyAny>),
    ) -> View {
        // SAFETY: by this function's contract.
        let mut view = unsafe { View::new(owner, ptr, len, true) };
        view.on_drop = Some(on_drop);
        view
    }

    /// Its length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The lease to revoke before the memory is given back.
    pub(crate) fn lease(&self) -> Arc<Lease> {
        Arc::clone(&self.lease)
    }

    /// A memoryview of `slf` for one operation; released by the caller.
    fn memoryview<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyMemoryView>> {
        slf.get().lease.check()?;
        PyMemoryView::from(slf.as_any())
    }
}

#[pymethods]
impl View {
    fn __len__(&self) -> usize {
        self.len
    }

    /// A byte (an int) or a slice of bytes (copied).
    fn __getitem__<'py>(
        slf: &Bound<'py, Self>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mv = Self::memoryview(slf)?;
        let item = mv
            .get_item(key)
            .and_then(|item| match item.cast::<PyMemoryView>() {
                Ok(part) => {
                    let bytes = part.call_method0("tobytes");
                    part.call_method0("release")?;
                    bytes
                }
                Err(_) => Ok(item),
            });
        mv.call_method0("release")?;
        item
    }

    /// Writes a byte or a slice in place (`view[:n] = data`).
    fn __setitem__(
        slf: &Bound<'_, Self>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let mv = Self::memoryview(slf)?;
        let done = mv.set_item(key, value);
        mv.call_method0("release")?;
        done
    }

    /// The bytes, copied.
    pub(crate) fn tobytes<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyBytes>> {
        let this = slf.get();
        this.lease.check()?;
        // SAFETY: mapped while `slf` lives (see `new`); not revoked.
        let bytes = unsafe { std::slice::from_raw_parts(this.ptr as *const u8, this.len) };
        Ok(PyBytes::new(slf.py(), bytes))
    }

    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let this = slf.get();
        this.lease.check()?;
        if this.readonly && flags & ffi::PyBUF_WRITABLE != 0 {
            return Err(PyBufferError::new_err("this view is read-only"));
        }
        // SAFETY: `view` is the exporter's out-struct from the interpreter;
        // the memory stays mapped while `slf` (stored in view.obj) lives.
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                this.ptr as *mut c_void,
                this.len as ffi::Py_ssize_t,
                this.readonly as c_int,
                flags,
            )
        };
        if rc != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        this.lease.exports.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        self.lease.exports.fetch_sub(1, Ordering::AcqRel);
    }

    fn __repr__(&self) -> String {
        let r = crate::util::Repr::new("View")
            .field("len", self.len)
            .state(if self.readonly {
                "readonly"
            } else {
                "writable"
            });
        if self.lease.revoked.load(Ordering::Acquire) {
            r.state("released")
        } else {
            r
        }
        .done()
    }
}

impl Drop for View {
    fn drop(&mut self) {
        if let Some(on_drop) = self.on_drop {
            // Let go of the lease first: the owner frees what it covered.
            drop(std::mem::take(&mut self.lease));
            Python::attach(|py| on_drop(self._owner.bind(py)));
        }
    }
}
