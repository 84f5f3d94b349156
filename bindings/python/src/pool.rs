//! `ringmpsc.BufferPool`: slabs for zero-copy large messages, in process or
//! in shared memory.

use crate::errors::IntoPy;
use crate::util::{dup_fd, seconds, Bytes};
use crate::view::{Lease, View};
use pyo3::prelude::*;
use ringcore::{BufferPool as Core, Handle};
use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A lock-free pool of fixed-size slabs. A handle (an int) names a slab;
/// send handles through a ring instead of payloads. `view(handle)` gives
/// the slab in place (writable), `payload(handle)` the bytes set with
/// `set_len` (read-only); both work with `numpy.frombuffer`. `free`
/// raises BufferError while a memoryview or array of a view of that slab,
/// taken from this object, is in use (the slab is about to be reused); a
/// free by another process or pool object cannot see such views.
#[pyclass(module = "ringmpsc._ringmpsc", name = "BufferPool", frozen)]
pub(crate) struct BufferPool {
    pool: Core,
    /// Leases of the views handed out per handle, revoked when it is freed.
    views: Mutex<HashMap<u32, Vec<Arc<Lease>>>>,
}

impl BufferPool {
    fn over(pool: Core) -> BufferPool {
        BufferPool {
            pool,
            views: Mutex::new(HashMap::new()),
        }
    }

    /// A view of `len` bytes at `at` in the slab of `handle`, tracked for `free`.
    fn tracked_view<'py>(
        slf: &Bound<'py, Self>,
        handle: u32,
        at: std::ptr::NonNull<u8>,
        len: usize,
        readonly: bool,
    ) -> PyResult<Bound<'py, View>> {
        // SAFETY: the slab stays mapped while this pool object lives; the view holds it.
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
}

#[pymethods]
impl BufferPool {
    /// BufferPool(slab_size, num_slabs): a pool on this process's heap.
    #[new]
    fn new(py: Python<'_>, slab_size: usize, num_slabs: usize) -> PyResult<Self> {
        Ok(Self::over(Core::new(slab_size, num_slabs).py_err(py)?))
    }

    /// A pool in shared memory, named (a file) or anonymous (a memfd shared
    /// through `fileno()`).
    #[staticmethod]
    /// A named segment gets `mode` (default 0o600) and, when given, `group`.
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
        ))
    }

    /// Opens a named shared pool, waiting up to `timeout` seconds.
    #[staticmethod]
    #[pyo3(signature = (name, timeout = 1.0))]
    fn attach(py: Python<'_>, name: &str, timeout: Option<f64>) -> PyResult<Self> {
        let t = seconds(timeout, Duration::from_secs(86_400))?;
        let pool = py.detach(|| Core::attach_shared(name, t)).py_err(py)?;
        Ok(Self::over(pool))
    }

    /// Maps a shared pool from a descriptor (duplicated; the caller keeps `fd`).
    #[staticmethod]
    fn from_fd(py: Python<'_>, fd: i32) -> PyResult<Self> {
        Ok(Self::over(Core::from_fd(dup_fd(fd)?).py_err(py)?))
    }

    /// The segment descriptor of a shared pool (-1 for a heap pool).
    fn fileno(&self) -> i32 {
        self.pool.segment().map_or(-1, |s| s.fd().as_raw_fd())
    }

    /// Takes a free slab and returns its handle, or None when all are in use.
    fn alloc(&self, py: Python<'_>) -> PyResult<Option<u32>> {
        Ok(self.pool.try_alloc().py_err(py)?.map(Handle::raw))
    }

    /// Returns a slab; a handle that is not allocated raises ValueError.
    /// BufferError, and the slab stays, while a view of it is in use.
    fn free(&self, py: Python<'_>, handle: u32) -> PyResult<()> {
        let mut views = self.views.lock().expect("never poisoned: no panics inside");
        let leases = views.remove(&handle).unwrap_or_default();
        if let Err(e) = Lease::check_unused(&leases) {
            views.insert(handle, leases);
            return Err(e);
        }
        // Freed now, or not allocated at all: either way its views are stale.
        Lease::end(&leases);
        self.pool.free(Handle::from_raw(handle)).py_err(py)
    }

    /// Copies `data` into the slab and sets its length.
    fn write(&self, py: Python<'_>, handle: u32, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let b = Bytes::of(data)?;
        self.pool
            .write(Handle::from_raw(handle), b.as_slice())
            .py_err(py)
    }

    /// Sets the payload length of a slab.
    fn set_len(&self, py: Python<'_>, handle: u32, len: usize) -> PyResult<()> {
        self.pool.set_len(Handle::from_raw(handle), len).py_err(py)
    }

    /// The payload length of a slab.
    fn len_of(&self, py: Python<'_>, handle: u32) -> PyResult<usize> {
        self.pool.len(Handle::from_raw(handle)).py_err(py)
    }

    /// The whole slab, writable in place (a View; zero copy).
    fn view<'py>(slf: &Bound<'py, Self>, handle: u32) -> PyResult<Bound<'py, View>> {
        let pool = &slf.get().pool;
        let at = pool
            .slab_address(Handle::from_raw(handle))
            .py_err(slf.py())?;
        Self::tracked_view(slf, handle, at, pool.slab_size(), false)
    }

    /// The payload (length set by `set_len`/`write`), read-only, in place.
    fn payload<'py>(slf: &Bound<'py, Self>, handle: u32) -> PyResult<Bound<'py, View>> {
        let py = slf.py();
        let pool = &slf.get().pool;
        let h = Handle::from_raw(handle);
        let len = pool.len(h).py_err(py)?;
        let at = pool.slab_address(h).py_err(py)?;
        Self::tracked_view(slf, handle, at, len, true)
    }

    /// Free slabs (a diagnostic walk of the free list).
    fn available(&self) -> usize {
        self.pool.available_count()
    }

    #[getter]
    fn capacity(&self) -> usize {
        self.pool.capacity()
    }

    #[getter]
    fn slab_size(&self) -> usize {
        self.pool.slab_size()
    }

    /// Removes the name of a named shared pool.
    fn unlink(&self, py: Python<'_>) -> PyResult<()> {
        match self.pool.segment() {
            Some(s) => s.unlink().py_err(py),
            None => Err(pyo3::exceptions::PyValueError::new_err(
                "a heap pool has no name",
            )),
        }
    }

    /// Removes the name of a named shared pool once this object is gone.
    #[pyo3(signature = (unlink = true))]
    fn unlink_on_drop(&self, unlink: bool) -> PyResult<()> {
        match self.pool.segment() {
            Some(s) => {
                s.set_unlink_on_drop(unlink);
                Ok(())
            }
            None => Err(pyo3::exceptions::PyValueError::new_err(
                "a heap pool has no name",
            )),
        }
    }
}
