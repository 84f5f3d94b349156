//! `ringmpsc.MpscChannel` (one ring per producer) and `ringmpsc.EventNotifier`.

use crate::errors::IntoPy;
use crate::ring::Ring;
use crate::util::{blocking, side, timeout_arg, BytesMut};
use pyo3::exceptions::{PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use ringcore::channel::mpsc::{Registrar, SlotChannel};
use ringcore::{Config, Error, EventNotifier as Core, Notify, SlotConsumer, SlotProducer};
use std::sync::{Arc, Mutex};

const CONSUMER: &str = "consumer side";

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
}

impl EventNotifier {
    pub(crate) fn as_notify(&self) -> Arc<dyn Notify> {
        self.inner.clone()
    }
}

/// A multi-producer single-consumer channel of fixed-size byte items: each
/// `register()` gives a producer its own ring (a `Ring` object with the
/// producer side), so producers never contend. This object is the consumer.
#[pyclass(module = "ringmpsc._ringmpsc", name = "MpscChannel")]
pub(crate) struct MpscChannel {
    registrar: Registrar<SlotProducer, SlotConsumer>,
    consumer: Mutex<SlotChannel>,
    item_size: usize,
}

#[pymethods]
impl MpscChannel {
    /// MpscChannel(capacity, item_size=8): each producer's ring has
    /// `capacity` slots (a power of two) of `item_size` bytes.
    #[new]
    #[pyo3(signature = (capacity, item_size = 8))]
    fn new(py: Python<'_>, capacity: usize, item_size: usize) -> PyResult<Self> {
        let bits = crate::shared::ring_bits(capacity)?;
        let ch = SlotChannel::with_slots(Config::with_ring_bits(bits), item_size).py_err(py)?;
        Ok(MpscChannel {
            registrar: ch.registrar(),
            consumer: Mutex::new(ch),
            item_size,
        })
    }

    /// A new producer: a `Ring` with the producer side of its own ring.
    /// Closing it deregisters; what it sent is still delivered. Any thread.
    fn register(&self, py: Python<'_>) -> PyResult<Ring> {
        let p = self.registrar.register().py_err(py)?.into_end();
        Ok(Ring::from_producer(p))
    }

    /// Up to `max_items` items (from all producers) as a list of bytes,
    /// waiting up to `timeout` seconds for the first (None: no limit);
    /// [] on timeout. Raises Closed once closed and drained.
    #[pyo3(signature = (max_items = 1024, timeout = None))]
    fn recv_many<'py>(
        &self,
        py: Python<'py>,
        max_items: usize,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let timeout = timeout_arg(timeout)?;
        let mut guard = side(&self.consumer, CONSUMER).py_err(py)?;
        let ch: &mut SlotChannel = &mut guard;
        if !wait_some(py, ch, timeout)? {
            return Ok(PyList::empty(py));
        }
        let mut items = Vec::new();
        ch.consume_all_up_to(max_items, |s: &[u8]| items.push(PyBytes::new(py, s)));
        PyList::new(py, items)
    }

    /// Copies as many whole items as fit into the writable `buffer`, waiting
    /// up to `timeout` seconds for the first; returns the item count (0 on
    /// timeout). Raises Closed once closed and drained.
    #[pyo3(signature = (buffer, timeout = None))]
    fn recv_into(
        &self,
        py: Python<'_>,
        buffer: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let mut out = BytesMut::of(buffer)?;
        if out.as_mut_slice().len() < self.item_size {
            return Err(PyValueError::new_err("the buffer cannot hold one item"));
        }
        let timeout = timeout_arg(timeout)?;
        let mut guard = side(&self.consumer, CONSUMER).py_err(py)?;
        let ch: &mut SlotChannel = &mut guard;
        if !wait_some(py, ch, timeout)? {
            return Ok(0);
        }
        Ok(ch.recv(out.as_mut_slice()))
    }

    /// Items waiting over all producers.
    #[getter]
    fn pending(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(side(&self.consumer, CONSUMER).py_err(py)?.total_pending())
    }

    /// Closes the channel (registrations and sends raise Closed; what was
    /// sent is still received).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        side(&self.consumer, CONSUMER).py_err(py)?.close();
        Ok(())
    }

    #[getter]
    fn closed(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(side(&self.consumer, CONSUMER).py_err(py)?.is_closed())
    }

    /// Signals `notifier` after every commit of any producer (None detaches).
    fn set_notifier(
        &self,
        py: Python<'_>,
        notifier: Option<PyRef<'_, EventNotifier>>,
    ) -> PyResult<()> {
        let n = notifier.map(|n| n.as_notify());
        side(&self.consumer, CONSUMER).py_err(py)?.set_notifier(n);
        Ok(())
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _t: &Bound<'_, PyAny>,
        _e: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
}

/// Waits (GIL released) until an item is readable; false when `timeout`
/// passed first (0: just look). Raises Closed once closed and drained.
fn wait_some(
    py: Python<'_>,
    ch: &mut SlotChannel,
    timeout: Option<std::time::Duration>,
) -> PyResult<bool> {
    if let Some(t) = timeout.filter(|t| t.is_zero()) {
        return match ch.wait_for_data(ringcore::WaitStrategy::TimedBlocking { timeout: t }) {
            Ok(()) => Ok(true),
            Err(Error::TimedOut) => Ok(false),
            Err(e) => Err(crate::errors::to_py(py, e)),
        };
    }
    match blocking(py, timeout, |s| ch.wait_for_data(s)) {
        Ok(()) => Ok(true),
        Err(e) if e.is_instance_of::<PyTimeoutError>(py) => Ok(false),
        Err(e) => Err(e),
    }
}
