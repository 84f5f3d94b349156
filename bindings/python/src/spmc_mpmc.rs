//! `ringmpsc.SpmcChannel`, `ringmpsc.MpmcChannel` and their `Consumer`:
//! channels whose consumers claim items with a CAS, each item going to
//! exactly one consumer.

use crate::channel::metrics_dict;
use crate::errors::{to_py, IntoPy};
use crate::ring::Ring;
use crate::util::{blocking, consume_each, ring_bits, side, timeout_arg, BytesMut};
use pyo3::exceptions::{PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use ringcore::channel::{mpmc, spmc, SlotClaimer};
use ringcore::{Config, Error, SlotProducer, WaitStrategy};
use std::sync::Mutex;
use std::time::Duration;

const CONSUMER: &str = "consumer";

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
        let (p, ch) = spmc::SlotChannel::new(cfg, item_size).py_err(py)?;
        Ok(SpmcChannel {
            ch,
            producer: Mutex::new(Some(p)),
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
        Ok(Ring::from_producer(p))
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

    #[getter]
    fn closed(&self) -> bool {
        self.ch.is_closed()
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
            ch: mpmc::SlotChannel::new(cfg, item_size).py_err(py)?,
        })
    }

    /// A new producer with its own ring. Raises TooMany, Closed.
    fn register_producer(&self, py: Python<'_>) -> PyResult<Ring> {
        Ok(Ring::from_producer(self.ch.register_producer().py_err(py)?))
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

    #[getter]
    fn closed(&self) -> bool {
        self.ch.is_closed()
    }
}

/// A claim that does not wait: `TimedOut` when nothing is there.
const NO_WAIT: WaitStrategy = WaitStrategy::TimedBlocking {
    timeout: Duration::ZERO,
};

/// One consumer of an `SpmcChannel` or `MpmcChannel`.
#[pyclass(module = "ringmpsc._ringmpsc", name = "Consumer")]
pub(crate) struct Consumer {
    c: Mutex<Box<dyn SlotClaimer>>,
    item_size: usize,
}

impl Consumer {
    fn new(c: impl SlotClaimer + 'static) -> Consumer {
        Consumer {
            item_size: c.slot_size(),
            c: Mutex::new(Box::new(c)),
        }
    }

    /// Claims into `out` (GIL released while it waits): the count, 0 when
    /// `timeout` passed first. Raises Closed once closed and drained.
    fn steal(&self, py: Python<'_>, out: &mut [u8], timeout: Option<Duration>) -> PyResult<usize> {
        let mut g = side(&self.c, CONSUMER).py_err(py)?;
        let c: &mut Box<dyn SlotClaimer> = &mut g;
        let result = if timeout == Some(Duration::ZERO) {
            c.steal_blocking(out, NO_WAIT).map_err(|e| to_py(py, e))
        } else {
            blocking(py, timeout, |s| c.steal_blocking(out, s))
        };
        match result {
            Ok(n) => Ok(n),
            Err(e) if e.is_instance_of::<PyTimeoutError>(py) => Ok(0),
            Err(e) => Err(e),
        }
    }
}

#[pymethods]
impl Consumer {
    /// Claims up to `max_items` items, returned as a list of bytes, waiting
    /// up to `timeout` seconds for the first (None: no limit; 0: no wait);
    /// [] on timeout. Raises Closed once the channel is closed and drained.
    #[pyo3(signature = (max_items = 1024, timeout = None))]
    fn recv_many<'py>(
        &self,
        py: Python<'py>,
        max_items: usize,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let timeout = timeout_arg(timeout)?;
        let mut buf = vec![0u8; max_items.max(1) * self.item_size];
        let n = self.steal(py, &mut buf, timeout)?;
        PyList::new(
            py,
            buf.chunks(self.item_size)
                .take(n)
                .map(|s| PyBytes::new(py, s)),
        )
    }

    /// Claims as many whole items as the writable `buffer` holds and copies
    /// them in, waiting up to `timeout` seconds for the first; returns the
    /// count (0 on timeout). Raises Closed once closed and drained.
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
        self.steal(py, out.as_mut_slice(), timeout)
    }

    /// One item claimed now, or None when none is waiting. Raises Closed
    /// once the channel is closed and drained.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let mut buf = vec![0u8; self.item_size];
        Ok((self.steal(py, &mut buf, Some(Duration::ZERO))? == 1).then(|| PyBytes::new(py, &buf)))
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
        consume_each(py, self.item_size, handler, max_items, |buf| {
            match g.steal_blocking(buf, NO_WAIT) {
                Ok(_) => Ok(true),
                Err(Error::TimedOut) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    /// Bytes per item.
    #[getter]
    fn item_size(&self) -> usize {
        self.item_size
    }
}
