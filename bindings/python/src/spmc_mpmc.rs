//! `ringmpsc.SpmcChannel`, `ringmpsc.MpmcChannel` and their `Consumer`:
//! channels whose consumers claim items with a CAS, each item going to
//! exactly one consumer.

use crate::channel::metrics_dict;
use crate::errors::{to_py, IntoPy};
use crate::ring::{Origin, Ring};
use crate::util::{
    batch_or_timeout, batch_timeout, blocking, consume_each, is_timeout, open, or_timeout, peek,
    ring_bits, side, timeout_arg, BytesMut, Repr,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use ringcore::channel::{mpmc, spmc, Bytes, ClaimConsumer};
use ringcore::{Config, Deadline, Error, SlotProducer, WaitStrategy};
use std::sync::Mutex;
use std::time::Duration;

const CONSUMER: &str = "Consumer";

fn config(capacity: usize, metrics: bool) -> PyResult<Config> {
    Ok(Config {
        enable_metrics: metrics,
        ..Config::with_ring_bits(ring_bits(capacity)?)
    })
}

/// A single-producer multi-consumer channel of fixed-size byte items:
/// `SpmcChannel(capacity, item_size=8, max_consumers=16, metrics=False)`. `producer()`
/// hands out the one producer (a `Ring` with the producer side);
/// `register_consumer()` a new `Consumer`. Closing the producer closes the
/// channel; consumers drain what is left.
#[pyclass(module = "ringmpsc._ringmpsc", name = "SpmcChannel")]
pub(crate) struct SpmcChannel {
    ch: spmc::SlotChannel,
    producer: Mutex<Option<SlotProducer>>,
    capacity: usize,
}

#[pymethods]
impl SpmcChannel {
    #[new]
    #[pyo3(signature = (capacity, item_size = 8, max_consumers = 16, metrics = false))]
    fn new(
        py: Python<'_>,
        capacity: usize,
        item_size: usize,
        max_consumers: usize,
        metrics: bool,
    ) -> PyResult<Self> {
        let cfg = spmc::SpmcConfig {
            ring: config(capacity, metrics)?,
            max_consumers,
        };
        let (p, ch) = spmc::slot_channel(cfg, item_size).py_err(py)?;
        Ok(SpmcChannel {
            ch,
            producer: Mutex::new(Some(p)),
            capacity,
        })
    }

    /// The producer, once (a second call raises ValueError).
    fn producer(&self) -> PyResult<Ring> {
        let p = self
            .producer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| PyValueError::new_err("the producer was already taken"))?;
        Ok(Ring::from_producer(p, Origin::SpmcProducer))
    }

    /// A new consumer. Raises TooMany past `max_consumers`, Closed.
    fn register_consumer(&self, py: Python<'_>) -> PyResult<Consumer> {
        let c = self.ch.register_consumer().py_err(py)?;
        Ok(Consumer::new(c))
    }

    /// Items not yet claimed.
    fn __len__(&self) -> usize {
        self.ch.len()
    }

    /// Closes the channel; consumers drain what is left, then get Closed.
    fn close(&self) {
        self.ch.close();
    }

    /// Both sides' counters as a dict (None without `metrics=True`).
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.ch.metrics().map(|m| metrics_dict(py, &m)).transpose()
    }

    /// True once the channel is closed.
    #[getter]
    fn closed(&self) -> bool {
        self.ch.is_closed()
    }

    /// A `with` block closes the channel when it ends.
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Leaving a `with` block closes the channel.
    fn __exit__(
        &self,
        _t: &Bound<'_, PyAny>,
        _e: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> bool {
        self.ch.close();
        false
    }

    fn __repr__(&self) -> String {
        let r = Repr::new("SpmcChannel")
            .field("capacity", self.capacity)
            .field("item_size", self.ch.slot_size())
            .field("used", self.ch.len())
            .open(self.ch.is_closed());
        match peek(&self.producer, |_| ()) {
            Err("closed") => r.state("producer taken"),
            _ => r,
        }
        .done()
    }
}

/// A multi-producer multi-consumer channel of fixed-size byte items:
/// `MpmcChannel(capacity, item_size=8, max_producers=16, max_consumers=16,
/// metrics=False)`.
/// Each producer gets a ring of its own (a `Ring` with the producer side);
/// consumers steal from their own shard, then the busiest ring, then a
/// random one.
#[pyclass(module = "ringmpsc._ringmpsc", name = "MpmcChannel")]
pub(crate) struct MpmcChannel {
    ch: mpmc::SlotChannel,
    capacity: usize,
}

#[pymethods]
impl MpmcChannel {
    #[new]
    #[pyo3(signature = (capacity, item_size = 8, max_producers = 16, max_consumers = 16,
                        metrics = false))]
    fn new(
        py: Python<'_>,
        capacity: usize,
        item_size: usize,
        max_producers: usize,
        max_consumers: usize,
        metrics: bool,
    ) -> PyResult<Self> {
        let cfg = mpmc::MpmcConfig {
            ring: config(capacity, metrics)?,
            max_producers,
            max_consumers,
            rings_per_shard: 1,
        };
        Ok(MpmcChannel {
            ch: mpmc::slot_channel(cfg, item_size).py_err(py)?,
            capacity,
        })
    }

    /// A new producer with its own ring. Raises TooMany, Closed.
    fn register_producer(&self, py: Python<'_>) -> PyResult<Ring> {
        Ok(Ring::from_producer(
            self.ch.register_producer().py_err(py)?,
            Origin::MpmcProducer,
        ))
    }

    /// A new consumer. Raises TooMany, Closed.
    fn register_consumer(&self, py: Python<'_>) -> PyResult<Consumer> {
        let c = self.ch.register_consumer().py_err(py)?;
        Ok(Consumer::new(c))
    }

    /// Items not yet claimed, over all rings.
    fn __len__(&self) -> usize {
        self.ch.len()
    }

    /// Closes the channel: no more registrations; consumers drain what is
    /// left, then get Closed.
    fn close(&self) {
        self.ch.close();
    }

    /// Every ring's counters merged, as a dict (None without `metrics=True`
    /// or before the first producer).
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.ch.metrics().map(|m| metrics_dict(py, &m)).transpose()
    }

    /// True once the channel is closed.
    #[getter]
    fn closed(&self) -> bool {
        self.ch.is_closed()
    }

    /// A `with` block closes the channel when it ends.
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Leaving a `with` block closes the channel.
    fn __exit__(
        &self,
        _t: &Bound<'_, PyAny>,
        _e: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> bool {
        self.ch.close();
        false
    }

    fn __repr__(&self) -> String {
        Repr::new("MpmcChannel")
            .field("capacity", self.capacity)
            .field("item_size", self.ch.slot_size())
            .field("used", self.ch.len())
            .open(self.ch.is_closed())
            .done()
    }
}

/// A claim that does not wait: `TimedOut` when nothing is there.
const NO_WAIT: WaitStrategy = WaitStrategy::TimedBlocking {
    timeout: Duration::ZERO,
};

/// One consumer of an `SpmcChannel` or `MpmcChannel`. `close()` (or the
/// end of a `with` block) deregisters it, making room for another.
#[pyclass(module = "ringmpsc._ringmpsc", name = "Consumer")]
pub(crate) struct Consumer {
    /// `None` once closed.
    c: Mutex<Option<ClaimConsumer<Bytes>>>,
    item_size: usize,
}

impl Consumer {
    fn new(c: ClaimConsumer<Bytes>) -> Consumer {
        Consumer {
            item_size: c.slot_size(),
            c: Mutex::new(Some(c)),
        }
    }

    /// Claims into `out` (GIL released while it waits): the count, 0 when
    /// `timeout` passed first. Raises Closed once closed and drained.
    fn steal(&self, py: Python<'_>, out: &mut [u8], timeout: Option<Duration>) -> PyResult<usize> {
        let mut g = side(&self.c, CONSUMER).py_err(py)?;
        let c = open(&mut g, CONSUMER)?;
        let result = if timeout == Some(Duration::ZERO) {
            c.steal_blocking(out, NO_WAIT).map_err(|e| to_py(py, e))
        } else {
            blocking(py, timeout, |s| c.steal_blocking(out, s))
        };
        match result {
            Ok(n) => Ok(n),
            Err(e) if is_timeout(py, &e) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Up to `max` items as a list, waiting up to `timeout` for the first;
    /// [] when it passed first. The items are claimed in place and each is
    /// copied once, into its bytes object; the GIL is released only while
    /// nothing is there.
    fn take_many<'py>(
        &self,
        py: Python<'py>,
        max: usize,
        timeout: Option<Duration>,
    ) -> PyResult<Bound<'py, PyList>> {
        if max == 0 {
            return Ok(PyList::empty(py));
        }
        let mut g = side(&self.c, CONSUMER).py_err(py)?;
        let c = open(&mut g, CONSUMER)?;
        let deadline = Deadline::after(timeout);
        let mut items = Vec::new();
        loop {
            if c.consume_up_to(max, |s| items.push(PyBytes::new(py, s))) > 0 {
                return PyList::new(py, items);
            }
            // Nothing unclaimed: wait, then claim (another consumer may
            // take it first; then wait again, within the same deadline).
            let waited = match deadline.left() {
                Some(Duration::ZERO) => c.wait_for_data(NO_WAIT).map_err(|e| to_py(py, e)),
                left => blocking(py, left, |s| c.wait_for_data(s)),
            };
            match waited {
                Ok(()) => {}
                Err(e) if is_timeout(py, &e) => return Ok(PyList::empty(py)),
                Err(e) => return Err(e),
            }
        }
    }

    /// Claims into `buffer`, waiting up to `timeout` for the first item.
    fn take_into(
        &self,
        py: Python<'_>,
        buffer: &Bound<'_, PyAny>,
        timeout: Option<Duration>,
    ) -> PyResult<usize> {
        let mut out = BytesMut::of(buffer)?;
        if out.as_mut_slice().len() < self.item_size {
            return Err(PyValueError::new_err("the buffer cannot hold one item"));
        }
        self.steal(py, out.as_mut_slice(), timeout)
    }
}

#[pymethods]
impl Consumer {
    /// Claims up to `max_items` items, returned as a list of bytes, waiting
    /// up to `timeout` seconds for the first (None: no limit; 0: do not
    /// wait). Raises Timeout when none came, Closed once the channel is
    /// closed and drained.
    #[pyo3(signature = (max_items = 1024, timeout = None))]
    fn recv_many<'py>(
        &self,
        py: Python<'py>,
        max_items: usize,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let got = self.take_many(py, max_items, batch_timeout(max_items, timeout)?)?;
        batch_or_timeout(py, got, max_items)
    }

    /// Claims up to `max_items` items waiting now, without waiting; [] when
    /// none is there. Raises Closed once the channel is closed and drained.
    #[pyo3(signature = (max_items = 1024))]
    fn try_recv_many<'py>(
        &self,
        py: Python<'py>,
        max_items: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        self.take_many(py, max_items, Some(Duration::ZERO))
    }

    /// Claims as many whole items as the writable `buffer` holds and copies
    /// them in, waiting up to `timeout` seconds for the first (None: no
    /// limit; 0: do not wait); returns the count. Raises Timeout when none
    /// came, Closed once closed and drained.
    #[pyo3(signature = (buffer, timeout = None))]
    fn recv_into(
        &self,
        py: Python<'_>,
        buffer: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let n = self.take_into(py, buffer, timeout_arg(timeout)?)?;
        or_timeout(py, n)
    }

    /// Claims as many whole items as are waiting and fit into the writable
    /// `buffer`, without waiting; returns the count (0 when none is there).
    /// Raises Closed once closed and drained.
    fn try_recv_into(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.take_into(py, buffer, Some(Duration::ZERO))
    }

    /// One item claimed now, or None when none is waiting. Raises Closed
    /// once the channel is closed and drained.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        Ok(self.take_many(py, 1, Some(Duration::ZERO))?.iter().next())
    }

    /// Claims up to `max_items` items waiting now, one at a time, calling
    /// `handler(item)` (a bytes object) on each; returns the count. When
    /// `handler` raises, the items after the one it raised on stay for the
    /// other consumers. Raises Closed once closed and drained.
    #[pyo3(signature = (handler, max_items = None))]
    fn consume(
        &self,
        py: Python<'_>,
        handler: &Bound<'_, PyAny>,
        max_items: Option<usize>,
    ) -> PyResult<usize> {
        let mut g = side(&self.c, CONSUMER).py_err(py)?;
        let c = open(&mut g, CONSUMER)?;
        consume_each(py, handler, max_items, |f| match c.consume_up_to(1, f) {
            0 => match c.wait_for_data(NO_WAIT) {
                Ok(()) | Err(Error::TimedOut) => Ok(false),
                Err(e) => Err(e),
            },
            _ => Ok(true),
        })
    }

    /// Bytes per item.
    #[getter]
    fn item_size(&self) -> usize {
        self.item_size
    }

    /// True once this consumer was closed.
    #[getter]
    fn closed(&self) -> bool {
        peek(&self.c, |_| ()).is_err_and(|state| state == "closed")
    }

    /// Deregisters this consumer (room for another); its later calls raise
    /// ValueError. Items it did not claim stay for the other consumers.
    /// Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        side(&self.c, CONSUMER).py_err(py)?.take();
        Ok(())
    }

    /// A `with` block closes the consumer when it ends.
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Leaving a `with` block closes the consumer.
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

    fn __repr__(&self) -> String {
        let r = Repr::new("Consumer").field("item_size", self.item_size);
        match peek(&self.c, |_| ()) {
            Ok(()) => r.state("open"),
            Err(state) => r.state(state),
        }
        .done()
    }
}
