//! `ringmpsc.BufferPool`: slabs for zero-copy large messages, in process or
//! in shared memory.

use crate::errors::IntoPy;
use crate::util::{attach_within, dup_fd, timeout_arg, Bytes, Repr};
use crate::view::{Lease, View};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use ringcore::{BufferPool as Core, Handle};
use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, RwLock};

/// A lock-free pool of fixed-size slabs. A handle (an int) names a slab;
/// send handles through a ring instead of payloads. `view(handle)` gives
/// the slab in place (writable), `payload(handle)` the bytes set with
/// `set_len` (read-only); both work with `numpy.frombuffer`. `free`
/// raises BufferError while a memoryview or array of a view of that slab,
/// taken from this object, is in use (the slab is about to be reused); a
/// free by another process or pool object cannot see such views.
/// `close()` (or the end of a `with` block) unmaps the pool.
#[pyclass(module = "ringmpsc._ringmpsc", name = "BufferPool", frozen)]
pub(crate) struct BufferPool {
    /// `None` once closed.
    pool: RwLock<Option<Core>>,
    /// The name of a named shared pool.
    name: Option<String>,
    /// Leases of the views handed out per handle, revoked when it is freed.
    views: Mutex<HashMap<u32, Vec<Arc<Lease>>>>,
}

impl BufferPool {
    fn over(pool: Core, name: Option<&str>) -> BufferPool {
        BufferPool {
            pool: RwLock::new(Some(pool)),
            name: name.map(str::to_owned),
            views: Mutex::new(HashMap::new()),
        }
    }

    /// `f` on the pool, or ValueError once it is closed.
    fn with<R>(&self, f: impl FnOnce(&Core) -> PyResult<R>) -> PyResult<R> {
        let g = self.pool.read().unwrap_or_else(|p| p.into_inner());
        f(g.as_ref()
            .ok_or_else(|| PyValueError::new_err("the BufferPool is closed"))?)
    }

    /// A view of `len` bytes at `at` in the slab of `handle`, tracked for
    /// `free` and `close`.
    fn tracked_view<'py>(
        slf: &Bound<'py, Self>,
        handle: u32,
        at: std::ptr::NonNull<u8>,
        len: usize,
        readonly: bool,
    ) -> PyResult<Bound<'py, View>> {
        // SAFETY: the slab stays mapped while this pool object lives and is
        // not closed; `close` first revokes this view (the lease below).
        let v = unsafe { View::new(slf.clone().into_any().unbind(), at.as_ptr(), len, readonly) };
        let v = Bound::new(slf.py(), v)?;
        let mut views = slf
            .get()
            .views
            .lock()
            .expect("never poisoned: no panics inside");
        let leases = views.entry(handle).or_default();
        leases.retain(Lease::held);
        leases.push(v.get().lease());
        Ok(v)
    }

    /// ValueError for a heap pool, which has no name.
    fn no_name() -> PyErr {
        PyValueError::new_err("a heap pool has no name")
    }
}

#[pymethods]
impl BufferPool {
    /// BufferPool(slab_size, num_slabs): a pool on this process's heap.
    #[new]
    fn new(py: Python<'_>, slab_size: usize, num_slabs: usize) -> PyResult<Self> {
        Ok(Self::over(
            Core::new(slab_size, num_slabs).py_err(py)?,
            None,
        ))
    }

    /// A pool in shared memory, named (a file; bare names go under
    /// /dev/shm) or anonymous (None: a memfd shared through `fileno()`). A
    /// named segment gets `mode` (default 0o600) and, when given, `group`.
    #[staticmethod]
    #[pyo3(signature = (name, slab_size, num_slabs, *, mode = 0o600, group = None))]
    fn create_shared(
        py: Python<'_>,
        name: Option<&str>,
        slab_size: usize,
        num_slabs: usize,
        mode: u32,
        group: Option<u32>,
    ) -> PyResult<Self> {
        let perm = ringcore::shm::Permissions { mode, group };
        Ok(Self::over(
            Core::create_shared_with(name, slab_size, num_slabs, perm).py_err(py)?,
            name,
        ))
    }

    /// Opens a named shared pool, waiting up to `timeout` seconds for it to
    /// appear (None: no limit; 0: do not wait). Raises FileNotFoundError
    /// when no such pool appeared in time.
    #[staticmethod]
    #[pyo3(signature = (name, timeout = 1.0))]
    fn attach(py: Python<'_>, name: &str, timeout: Option<f64>) -> PyResult<Self> {
        let pool = attach_within(py, timeout_arg(timeout)?, |t| Core::attach_shared(name, t))?;
        Ok(Self::over(pool, Some(name)))
    }

    /// Maps a shared pool from a descriptor (duplicated; the caller keeps
    /// `fd`): a memfd whose size is sealed, as an anonymous shared pool is
    /// made (InvalidHeader for any other file).
    #[staticmethod]
    fn from_fd(py: Python<'_>, fd: i32) -> PyResult<Self> {
        Ok(Self::over(Core::from_fd(dup_fd(fd)?).py_err(py)?, None))
    }

    /// The segment descriptor of a shared pool (-1 for a heap pool).
    fn fileno(&self) -> PyResult<i32> {
        self.with(|p| Ok(p.segment().map_or(-1, |s| s.fd().as_raw_fd())))
    }

    /// Takes a free slab and returns its handle, or None when all are in use.
    fn alloc(&self, py: Python<'_>) -> PyResult<Option<u32>> {
        self.with(|p| Ok(p.try_alloc().py_err(py)?.map(Handle::raw)))
    }

    /// Returns a slab; a handle that is not allocated raises ValueError.
    /// BufferError, and the slab stays, while a view of it is in use.
    fn free(&self, py: Python<'_>, handle: u32) -> PyResult<()> {
        self.with(|p| {
            let mut views = self.views.lock().expect("never poisoned: no panics inside");
            let leases = views.remove(&handle).unwrap_or_default();
            if let Err(e) = Lease::check_unused(&leases) {
                views.insert(handle, leases);
                return Err(e);
            }
            // Freed now, or not allocated at all: either way its views are stale.
            Lease::end(&leases);
            p.free(Handle::from_raw(handle)).py_err(py)
        })
    }

    /// Copies `data` into the slab and sets its length. `data` may be a
    /// view of the slab itself.
    fn write(&self, py: Python<'_>, handle: u32, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let b = Bytes::of(data)?;
        self.with(|p| {
            let h = Handle::from_raw(handle);
            let slab = p.slab_address(h).py_err(py)?.as_ptr() as usize;
            let src = b.as_slice().as_ptr_range();
            // A source inside the slab is copied out first: the pool writes
            // the slab while it holds the source as a shared slice.
            let overlaps = (src.start as usize) < slab + p.slab_size() && slab < src.end as usize;
            let copy;
            let bytes = if overlaps {
                copy = b.as_slice().to_vec();
                &copy[..]
            } else {
                b.as_slice()
            };
            p.write(h, bytes).py_err(py)
        })
    }

    /// Sets the payload length of a slab (at most `slab_size`).
    fn set_len(&self, py: Python<'_>, handle: u32, length: usize) -> PyResult<()> {
        self.with(|p| p.set_len(Handle::from_raw(handle), length).py_err(py))
    }

    /// The payload length of a slab.
    fn len_of(&self, py: Python<'_>, handle: u32) -> PyResult<usize> {
        self.with(|p| p.len(Handle::from_raw(handle)).py_err(py))
    }

    /// The whole slab, writable in place (a View; zero copy).
    fn view<'py>(slf: &Bound<'py, Self>, handle: u32) -> PyResult<Bound<'py, View>> {
        let (at, size) = slf.get().with(|p| {
            let at = p.slab_address(Handle::from_raw(handle)).py_err(slf.py())?;
            Ok((at, p.slab_size()))
        })?;
        Self::tracked_view(slf, handle, at, size, false)
    }

    /// The payload (length set by `set_len`/`write`), read-only, in place.
    fn payload<'py>(slf: &Bound<'py, Self>, handle: u32) -> PyResult<Bound<'py, View>> {
        let py = slf.py();
        let (at, len) = slf.get().with(|p| {
            let h = Handle::from_raw(handle);
            let len = p.len(h).py_err(py)?;
            Ok((p.slab_address(h).py_err(py)?, len))
        })?;
        Self::tracked_view(slf, handle, at, len, true)
    }

    /// Free slabs (a diagnostic walk of the free list).
    fn available(&self) -> PyResult<usize> {
        self.with(|p| Ok(p.available_count()))
    }

    /// Number of slabs.
    #[getter]
    fn capacity(&self) -> PyResult<usize> {
        self.with(|p| Ok(p.capacity()))
    }

    /// Bytes per slab.
    #[getter]
    fn slab_size(&self) -> PyResult<usize> {
        self.with(|p| Ok(p.slab_size()))
    }

    /// Removes the name of a named shared pool.
    fn unlink(&self, py: Python<'_>) -> PyResult<()> {
        self.with(|p| match p.segment() {
            Some(s) => s.unlink().py_err(py),
            None => Err(Self::no_name()),
        })
    }

    /// Removes the name of a named shared pool once this object is gone.
    #[pyo3(signature = (unlink = true))]
    fn unlink_on_drop(&self, unlink: bool) -> PyResult<()> {
        self.with(|p| match p.segment() {
            Some(s) => {
                s.set_unlink_on_drop(unlink);
                Ok(())
            }
            None => Err(Self::no_name()),
        })
    }

    /// True once the pool was closed.
    #[getter]
    fn closed(&self) -> bool {
        self.pool
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// Unmaps the pool (a heap pool's memory is freed; a shared pool stays
    /// for the other processes). Its views end; BufferError, and nothing
    /// is done, while a memoryview or array of one is still in use. Later
    /// calls raise ValueError. Idempotent.
    fn close(&self) -> PyResult<()> {
        let mut pool = self.pool.write().unwrap_or_else(|p| p.into_inner());
        let mut views = self.views.lock().expect("never poisoned: no panics inside");
        for leases in views.values() {
            Lease::check_unused(leases)?;
        }
        for leases in views.values() {
            Lease::end(leases);
        }
        views.clear();
        drop(pool.take());
        Ok(())
    }

    /// A `with` block closes the pool when it ends.
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Leaving a `with` block closes the pool (see `close`).
    fn __exit__(
        &self,
        _t: &Bound<'_, PyAny>,
        _e: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        self.close()?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let r = Repr::new("BufferPool").name(self.name.as_deref());
        let g = match self.pool.try_read() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return r.state("busy").done(),
        };
        match g.as_ref() {
            Some(p) => r
                .field("capacity", p.capacity())
                .field("slab_size", p.slab_size())
                .state(if p.segment().is_some() {
                    "shared"
                } else {
                    "heap"
                })
                .state("open"),
            None => r.state("closed"),
        }
        .done()
    }
}
