//! The native half of `ringmpsc.aio`: registrations on wake-up words and
//! the wait set an event loop watches through its file descriptor.

use crate::errors::IntoPy;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use ringcore::wait_set;
use std::sync::Mutex;

/// A registration on what a coroutine waits for (made by the `_arm`
/// methods); handed once to a `_WaitSet`, dropped to unregister.
#[pyclass(module = "ringmpsc._ringmpsc", name = "_Armed")]
pub(crate) struct Armed(Mutex<Option<wait_set::Armed>>);

impl From<wait_set::Armed> for Armed {
    fn from(armed: wait_set::Armed) -> Self {
        Armed(Mutex::new(Some(armed)))
    }
}

/// The registrations of one event loop: the tokens of those whose word
/// moved come back from `take_woken`, and `fileno()` turns readable then.
#[pyclass(module = "ringmpsc._ringmpsc", name = "_WaitSet")]
pub(crate) struct WaitSet(wait_set::WaitSet);

#[pymethods]
impl WaitSet {
    #[new]
    fn new(py: Python<'_>) -> PyResult<Self> {
        Ok(WaitSet(wait_set::WaitSet::new().py_err(py)?))
    }

    /// The eventfd to watch (`loop.add_reader`).
    fn fileno(&self) -> i32 {
        self.0.fd()
    }

    /// Hands `armed` to the waiting thread; returns its token.
    fn add(&self, armed: &Armed) -> PyResult<u64> {
        let taken = armed
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| PyValueError::new_err("this registration was already handed over"))?;
        Ok(self.0.add(taken))
    }

    /// Drops the registration of `token` if it still waits; True when it did.
    fn remove(&self, token: u64) -> bool {
        self.0.remove(token)
    }

    /// The tokens woken since the last call.
    fn take_woken(&self) -> Vec<u64> {
        self.0.take_woken()
    }
}
