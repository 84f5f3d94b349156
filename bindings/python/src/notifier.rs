//! `ringmpsc.EventNotifier`: an eventfd for select, epoll and asyncio.

use crate::errors::IntoPy;
use crate::util::{peek, BytesMut, Repr};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use ringcore::{EventNotifier as Core, Notify};
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};

/// An eventfd that rings and channels signal after every commit: put
/// `fileno()` in `select`/`epoll`/`asyncio` (`loop.add_reader`), call
/// `consume()` when it is readable, then drain the ring or channel.
/// `close()` (or the end of a `with` block) lets go of the eventfd: it is
/// closed once no ring or channel signals it any more.
#[pyclass(module = "ringmpsc._ringmpsc", name = "EventNotifier", frozen)]
pub(crate) struct EventNotifier {
    /// `None` once closed.
    inner: Mutex<Option<Arc<Core>>>,
}

impl EventNotifier {
    /// The eventfd, or ValueError once closed.
    fn core(&self) -> PyResult<Arc<Core>> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| PyValueError::new_err("the EventNotifier is closed"))
    }

    /// What a ring or channel signals (ValueError once closed).
    pub(crate) fn as_notify(&self) -> PyResult<Arc<dyn Notify>> {
        Ok(self.core()?)
    }
}

#[pymethods]
impl EventNotifier {
    /// EventNotifier(): a new eventfd.
    #[new]
    fn new(py: Python<'_>) -> PyResult<Self> {
        Ok(EventNotifier {
            inner: Mutex::new(Some(Arc::new(Core::new().py_err(py)?))),
        })
    }

    /// The eventfd.
    fn fileno(&self) -> PyResult<i32> {
        Ok(self.core()?.fd())
    }

    /// Reads and resets the counter: commits since the last call (0: none).
    fn consume(&self) -> PyResult<u64> {
        Ok(self.core()?.consume())
    }

    /// Signals by hand.
    fn signal(&self) -> PyResult<()> {
        self.core()?.signal();
        Ok(())
    }

    /// Signals only when the 32-bit count of waiters at the start of the
    /// writable `waiters` buffer (4-byte aligned: a shared-memory word, an
    /// `array('I')`, a ctypes `c_uint32`) is non-zero, so producers make no
    /// system call while nobody sleeps.
    fn signal_if_waiting(&self, waiters: &Bound<'_, PyAny>) -> PyResult<()> {
        let core = self.core()?;
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
        core.signal_if_waiting(waiters);
        Ok(())
    }

    /// Adds the eventfd to the epoll instance `epoll_fd` (e.g.
    /// `select.epoll().fileno()`), edge-triggered for input.
    fn register_epoll(&self, py: Python<'_>, epoll_fd: i32) -> PyResult<()> {
        self.core()?.register_epoll(epoll_fd).py_err(py)
    }

    /// Removes the eventfd from `epoll_fd`.
    fn unregister_epoll(&self, py: Python<'_>, epoll_fd: i32) -> PyResult<()> {
        self.core()?.unregister_epoll(epoll_fd).py_err(py)
    }

    /// True once this object was closed.
    #[getter]
    fn closed(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// Lets go of the eventfd: this object's calls raise ValueError from now
    /// on, and the descriptor is closed once no ring or channel it was
    /// given to signals it any more (their `set_notifier(None)`, or their
    /// end). Idempotent.
    fn close(&self) {
        drop(self.inner.lock().unwrap_or_else(|p| p.into_inner()).take());
    }

    /// A `with` block closes the notifier when it ends.
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Leaving a `with` block closes the notifier (see `close`).
    fn __exit__(
        &self,
        _t: &Bound<'_, PyAny>,
        _e: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        let r = Repr::new("EventNotifier");
        match peek(&self.inner, |c| c.fd()) {
            Ok(fd) => r.field("fd", fd).state("open"),
            Err(state) => r.state(state),
        }
        .done()
    }
}
