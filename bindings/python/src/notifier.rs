//! `ringmpsc.EventNotifier`: an eventfd for select, epoll and asyncio.

use crate::errors::IntoPy;
use crate::util::BytesMut;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use ringcore::{EventNotifier as Core, Notify};
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

/// An eventfd that rings and channels signal after every commit: put
/// `fileno()` in `select`/`epoll`/`asyncio` (`loop.add_reader`), call
/// `consume()` when it is readable, then drain the ring or channel.
#[pyclass(module = "ringmpsc._ringmpsc", name = "EventNotifier", frozen)]
pub(crate) struct EventNotifier {
    pub(crate) inner: Arc<Core>,
}

#[pymethods]
impl EventNotifier {
    #[new]
    fn new(py: Python<'_>) -> PyResult<Self> {
        Ok(EventNotifier {
            inner: Arc::new(Core::new().py_err(py)?),
        })
    }

    /// The eventfd.
    fn fileno(&self) -> i32 {
        self.inner.fd()
    }

    /// Reads and resets the counter: commits since the last call (0: none).
    fn consume(&self) -> u64 {
        self.inner.consume()
    }

    /// Signals by hand.
    fn signal(&self) {
        self.inner.signal();
    }

    /// Signals only when the 32-bit count of waiters at the start of the
    /// writable `waiters` buffer (4-byte aligned: a shared-memory word, an
    /// `array('I')`, a ctypes `c_uint32`) is non-zero, so producers make no
    /// system call while nobody sleeps.
    fn signal_if_waiting(&self, waiters: &Bound<'_, PyAny>) -> PyResult<()> {
        let buf = BytesMut::of(waiters)?;
        let word = buf.as_ptr().cast::<u32>();
        if buf.len() < 4 || !word.is_aligned() {
            return Err(PyValueError::new_err(
                "waiters must be a 4-byte aligned buffer of at least 4 bytes",
            ));
        }
        // SAFETY: 4 aligned bytes of a writable buffer the export keeps alive
        // for this call (no Rust reference to them exists); other threads
        // change them only atomically.
        let waiters = unsafe { AtomicU32::from_ptr(word) };
        self.inner.signal_if_waiting(waiters);
        Ok(())
    }

    /// Adds the eventfd to the epoll instance `epoll_fd` (e.g.
    /// `select.epoll().fileno()`), edge-triggered for input.
    fn register_epoll(&self, py: Python<'_>, epoll_fd: i32) -> PyResult<()> {
        self.inner.register_epoll(epoll_fd).py_err(py)
    }

    /// Removes the eventfd from `epoll_fd`.
    fn unregister_epoll(&self, py: Python<'_>, epoll_fd: i32) -> PyResult<()> {
        self.inner.unregister_epoll(epoll_fd).py_err(py)
    }
}

impl EventNotifier {
    pub(crate) fn as_notify(&self) -> Arc<dyn Notify> {
        self.inner.clone()
    }
}
