//! `ringmpsc.MpscChannel` (one ring per producer) and `ringmpsc.EventNotifier`.

use crate::errors::{to_py, IntoPy};
use crate::notifier::EventNotifier;
use crate::ring::{Origin, Ring};
use crate::util::{
    batch_or_timeout, batch_timeout, blocking, is_timeout, or_timeout, peek, ring_bits, side,
    timeout_arg, BytesMut, Repr,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use ringcore::channel::mpsc::{Registrar, SlotChannel};
use ringcore::{Config, Error, SlotConsumer, SlotProducer};
use std::sync::Mutex;
use std::time::Duration;

const CONSUMER: &str = "consumer side";

/// A multi-producer single-consumer channel of fixed-size byte items: each
/// `register()` gives a producer its own ring (a `Ring` object with the
/// producer side), so producers never contend. This object is the consumer.
#[pyclass(module = "ringmpsc._ringmpsc", name = "MpscChannel")]
pub(crate) struct MpscChannel {
    registrar: Registrar<SlotProducer, SlotConsumer>,
    /// The consumer side; `None` once an event loop took it.
    consumer: Mutex<Option<SlotChannel>>,
    item_size: usize,
    /// Slots of each producer's ring.
    capacity: usize,
}

impl MpscChannel {
    /// The consumer side for this call (`Busy` while another thread has it,
    /// `ValueError` once an event loop took it).
    fn consumer(&self, py: Python<'_>) -> PyResult<MappedMutexGuard<'_>> {
        let g = side(&self.consumer, CONSUMER).py_err(py)?;
        if g.is_none() {
            return Err(PyValueError::new_err(
                "the consumer side runs in an event loop",
            ));
        }
        Ok(MappedMutexGuard(g))
    }

    /// Up to `max` items, waiting up to `timeout` for the first; [] when it
    /// passed first.
    fn take_many<'py>(
        &self,
        py: Python<'py>,
        max: usize,
        timeout: Option<Duration>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut guard = self.consumer(py)?;
        let ch: &mut SlotChannel = &mut guard;
        if !wait_some(py, ch, timeout)? {
            return Ok(PyList::empty(py));
        }
        let mut items = Vec::new();
        ch.consume_all_up_to(max, |s: &[u8]| items.push(PyBytes::new(py, s)));
        PyList::new(py, items)
    }

    /// Copies whole items into `buffer`, waiting up to `timeout` for the
    /// first; 0 when it passed first.
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
        let mut guard = self.consumer(py)?;
        let ch: &mut SlotChannel = &mut guard;
        if !wait_some(py, ch, timeout)? {
            return Ok(0);
        }
        Ok(ch.recv(out.as_mut_slice()))
    }
}

/// A locked consumer side known to be present.
struct MappedMutexGuard<'a>(std::sync::MutexGuard<'a, Option<SlotChannel>>);

impl std::ops::Deref for MappedMutexGuard<'_> {
    type Target = SlotChannel;
    fn deref(&self) -> &SlotChannel {
        self.0.as_ref().expect("checked when made")
    }
}

impl std::ops::DerefMut for MappedMutexGuard<'_> {
    fn deref_mut(&mut self) -> &mut SlotChannel {
        self.0.as_mut().expect("checked when made")
    }
}

#[pymethods]
impl MpscChannel {
    /// MpscChannel(capacity, item_size=8, metrics=False): each producer's
    /// ring has `capacity` slots (a power of two) of `item_size` bytes;
    /// `metrics` counts messages, batches and batch latency (see `stats()`).
    #[new]
    #[pyo3(signature = (capacity, item_size = 8, metrics = false))]
    fn new(py: Python<'_>, capacity: usize, item_size: usize, metrics: bool) -> PyResult<Self> {
        let config = Config {
            enable_metrics: metrics,
            ..Config::with_ring_bits(ring_bits(capacity)?)
        };
        let ch = SlotChannel::with_slots(config, item_size).py_err(py)?;
        Ok(MpscChannel {
            registrar: ch.registrar(),
            consumer: Mutex::new(Some(ch)),
            item_size,
            capacity,
        })
    }

    /// One item, or None when nothing waits. Raises Closed once closed and drained.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let mut ch = self.consumer(py)?;
        let mut buf = vec![0u8; self.item_size];
        match ch.try_recv(&mut buf) {
            Ok(()) => Ok(Some(PyBytes::new(py, &buf))),
            Err(Error::Empty) => Ok(None),
            Err(e) => Err(crate::errors::to_py(py, e)),
        }
    }

    /// Calls `handler(item)` (a bytes object) on up to `max_items` items
    /// waiting now, from all producers, reading each ring in place and
    /// freeing what was handled with one head update per ring; returns the
    /// count. When `handler` raises, the item it raised on and those after
    /// it stay in the channel (the next call hands that item over again:
    /// nothing is lost). Raises Closed once closed and drained.
    #[pyo3(signature = (handler, max_items = None))]
    fn consume(
        &self,
        py: Python<'_>,
        handler: &Bound<'_, PyAny>,
        max_items: Option<usize>,
    ) -> PyResult<usize> {
        let mut ch = self.consumer(py)?;
        let mut failure = None;
        let n = ch.consume_all_while(max_items.unwrap_or(usize::MAX), |item: &[u8]| match handler
            .call1((PyBytes::new(py, item),))
        {
            Ok(_) => true,
            Err(e) => {
                failure = Some(e);
                false
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        if n == 0 && ch.is_fully_drained() {
            return Err(to_py(py, Error::Closed));
        }
        Ok(n)
    }

    /// Everything readable in every ring now (adaptive skip ignored), as a
    /// list of bytes.
    fn drain_all<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let mut items = Vec::new();
        self.consumer(py)?
            .drain_all(|s: &[u8]| items.push(PyBytes::new(py, s)));
        PyList::new(py, items)
    }

    /// A snapshot: a dict with rings, pending, closed, uptime (seconds),
    /// throughput (items/s) and avg_latency_ns, and with `metrics=True` the
    /// merged counters under "metrics".
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.consumer(py)?.snapshot();
        let d = PyDict::new(py);
        d.set_item("rings", s.rings)?;
        d.set_item("pending", s.pending)?;
        d.set_item("closed", s.closed)?;
        d.set_item("uptime", s.uptime.as_secs_f64())?;
        d.set_item("throughput", s.throughput)?;
        d.set_item("avg_latency_ns", s.avg_latency_ns)?;
        if let Some(m) = s.metrics {
            d.set_item("metrics", metrics_dict(py, &m)?)?;
        }
        Ok(d)
    }

    /// The ring with the most items waiting (its registration number), or None.
    fn hottest_ring(&self, py: Python<'_>) -> PyResult<Option<usize>> {
        Ok(self.consumer(py)?.hottest_ring())
    }

    /// Items waiting in ring `ring` (ValueError when there is no such ring).
    fn ring_len(&self, py: Python<'_>, ring: usize) -> PyResult<usize> {
        self.consumer(py)?
            .get_ring(ring)
            .map(|r| r.len())
            .ok_or_else(|| PyValueError::new_err(format!("no ring {ring}")))
    }

    /// Polls every ring at the next pass again.
    fn reset_adaptive_skip(&self, py: Python<'_>) -> PyResult<()> {
        self.consumer(py)?.reset_adaptive_skip();
        Ok(())
    }

    /// Hands the consumer side to a thread that calls `handler(item)` (a
    /// bytes object) for every item, taking the GIL for each batch; returns
    /// the `EventLoop`. An exception the handler raises is reported as
    /// unraisable (`sys.unraisablehook`) and the loop goes on with the next
    /// item: the item it raised on is not handed out again. Its `stop()`
    /// closes the channel and handles
    /// everything left before returning. While idle the thread waits by
    /// `wait`: "blocking" (spin briefly, then sleep until an item comes),
    /// "spin" (never sleep: a core at 100%), "yield" (give the CPU away on
    /// every retry) or "paced" (spin `pause` seconds, up to 0.001, before
    /// each retry, so items build up for the next batch; then sleep as
    /// "blocking"). ValueError for another wait or pause; OSError when the
    /// thread cannot start (thread or memory limits): the consumer side
    /// stays here.
    #[pyo3(signature = (handler, wait = "blocking", pause = None))]
    fn run(
        &self,
        py: Python<'_>,
        handler: Py<PyAny>,
        wait: &str,
        pause: Option<f64>,
    ) -> PyResult<EventLoop> {
        let strategy = loop_wait(wait, pause)?;
        let mut consumer = side(&self.consumer, CONSUMER).py_err(py)?;
        let ch = consumer
            .take()
            .ok_or_else(|| PyValueError::new_err("the consumer side runs in an event loop"))?;
        let started = ringcore::channel::EventLoop::try_spawn_batched(
            ch,
            move |item: &[u8]| {
                // Inside the batch's `attach`: this one only counts.
                Python::attach(|py| {
                    if let Err(e) = handler.call1(py, (PyBytes::new(py, item),)) {
                        // The loop goes on: report the handler's error like an
                        // unraisable exception.
                        e.write_unraisable(py, None);
                    }
                })
            },
            strategy,
            // The GIL once per batch, not once per item, never while waiting.
            |batch: &mut dyn FnMut()| Python::attach(|_| batch()),
        );
        // A thread that could not start hands the consumer back.
        let lp = started
            .map_err(|(ch, e)| {
                *consumer = Some(ch);
                ringcore::Error::from(e)
            })
            .py_err(py)?;
        Ok(EventLoop {
            inner: Mutex::new(Some(lp)),
        })
    }

    /// A new producer: a `Ring` with the producer side of its own ring.
    /// Closing it deregisters; what it sent is still delivered. Any thread.
    fn register(&self, py: Python<'_>) -> PyResult<Ring> {
        let p = self.registrar.register().py_err(py)?.into_end();
        Ok(Ring::from_producer(p, Origin::MpscProducer))
    }

    /// Up to `max_items` items (from all producers) as a list of bytes,
    /// waiting up to `timeout` seconds for the first (None: no limit; 0: do
    /// not wait). Raises Timeout when none came, Closed once closed and
    /// drained.
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

    /// Up to `max_items` items waiting now (from all producers), without
    /// waiting; [] when none is there. Raises Closed once closed and drained.
    #[pyo3(signature = (max_items = 1024))]
    fn try_recv_many<'py>(
        &self,
        py: Python<'py>,
        max_items: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        self.take_many(py, max_items, Some(Duration::ZERO))
    }

    /// Copies as many whole items as fit into the writable `buffer`, waiting
    /// up to `timeout` seconds for the first (None: no limit; 0: do not
    /// wait); returns the item count. Raises Timeout when none came, Closed
    /// once closed and drained.
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

    /// Copies as many whole items as are waiting and fit into the writable
    /// `buffer`, without waiting; returns the count (0 when none is there).
    /// Raises Closed once closed and drained.
    fn try_recv_into(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.take_into(py, buffer, Some(Duration::ZERO))
    }

    /// Items waiting over all producers.
    #[getter]
    fn pending(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.consumer(py)?.total_pending())
    }

    /// Closes the channel (registrations and sends raise Closed; what was
    /// sent is still received).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.consumer(py)?.close();
        Ok(())
    }

    /// Whether the channel is closed.
    #[getter]
    fn closed(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.consumer(py)?.is_closed())
    }

    /// Closed and every ring empty: nothing more will arrive.
    #[getter]
    fn drained(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.consumer(py)?.is_fully_drained())
    }

    /// Items waiting over all producers (as `pending`).
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.pending(py)
    }

    /// Signals `notifier` after every commit of any producer (None detaches).
    fn set_notifier(
        &self,
        py: Python<'_>,
        notifier: Option<PyRef<'_, EventNotifier>>,
    ) -> PyResult<()> {
        let n = notifier.map(|n| n.as_notify()).transpose()?;
        self.consumer(py)?.set_notifier(n);
        Ok(())
    }

    /// A `with` block closes the channel when it ends.
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Leaving a `with` block closes the channel (unless an EventLoop runs
    /// its consumer side: the loop's `stop()` closes it then).
    fn __exit__(
        &self,
        py: Python<'_>,
        _t: &Bound<'_, PyAny>,
        _e: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        if let Some(ch) = side(&self.consumer, CONSUMER).py_err(py)?.as_mut() {
            ch.close();
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let r = Repr::new("MpscChannel")
            .field("capacity", self.capacity)
            .field("item_size", self.item_size);
        match peek(&self.consumer, |ch| (ch.total_pending(), ch.is_closed())) {
            Ok((pending, closed)) => r.field("used", pending).open(closed),
            Err("closed") => r
                .open(self.registrar.is_closed())
                .state("consumer in an EventLoop"),
            Err(busy) => r.open(self.registrar.is_closed()).state(busy),
        }
        .done()
    }
}

/// A metrics snapshot as a dict.
pub(crate) fn metrics_dict<'py>(
    py: Python<'py>,
    m: &ringcore::Metrics,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("messages_sent", m.messages_sent)?;
    d.set_item("messages_received", m.messages_received)?;
    d.set_item("batches_sent", m.batches_sent)?;
    d.set_item("batches_received", m.batches_received)?;
    d.set_item("reserve_spins", m.reserve_spins)?;
    d.set_item("reserve_failures", m.reserve_failures)?;
    d.set_item("total_wait_ns", m.total_wait_ns)?;
    d.set_item("max_batch_size", m.max_batch_size)?;
    d.set_item("avg_batch_size", m.avg_batch_size())?;
    d.set_item("avg_latency_ns", m.avg_latency_ns())?;
    Ok(d)
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
        Err(e) if is_timeout(py, &e) => Ok(false),
        Err(e) => Err(e),
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        // Stopping joins a thread that may wait for the GIL to call the
        // handler: never join it while holding the GIL.
        if let Some(l) = self
            .inner
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            Python::attach(|py| py.detach(|| drop(l)));
        }
    }
}

/// A consumer thread running an `MpscChannel` (from `MpscChannel.run`).
#[pyclass(module = "ringmpsc._ringmpsc", name = "EventLoop")]
pub(crate) struct EventLoop {
    inner: Mutex<Option<ringcore::channel::EventLoop>>,
}

#[pymethods]
impl EventLoop {
    /// Items handled so far.
    #[getter]
    fn processed(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, |l| l.processed())
    }

    /// Closes the channel, lets the thread handle everything left (nothing
    /// is lost), joins it; returns the total handled. Idempotent. Ctrl-C
    /// (a signal handler's exception) ends the wait, not the stop: the
    /// thread goes on draining, and a later `stop` waits for it again.
    fn stop(&self, py: Python<'_>) -> PyResult<u64> {
        let inner = || self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut taken = inner();
        match taken.as_ref() {
            None => return Ok(0),
            // From the loop's own handler: it cannot wait for itself (the
            // loop stops once the handler returns).
            Some(l) if l.thread_id() == Some(std::thread::current().id()) => {
                return Ok(taken.take().map_or(0, |l| l.stop()));
            }
            Some(l) => l.request_stop(),
        }
        drop(taken);
        // The thread takes the GIL for its handler: wait without it, and
        // without the lock, which `processed` takes with the GIL.
        while !inner().as_ref().is_none_or(|l| l.is_finished()) {
            py.detach(|| std::thread::sleep(Duration::from_millis(2)));
            py.check_signals()?;
        }
        Ok(inner().take().map_or(0, |l| l.stop()))
    }

    /// A `with` block stops the loop when it ends.
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Leaving a `with` block stops the loop (see `stop`).
    fn __exit__(
        &self,
        py: Python<'_>,
        _t: &Bound<'_, PyAny>,
        _e: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        self.stop(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let r = Repr::new("EventLoop");
        match peek(&self.inner, |l| l.processed()) {
            Ok(n) => r.field("processed", n).state("running"),
            Err(state) => r.state(if state == "closed" { "stopped" } else { state }),
        }
        .done()
    }
}

/// The wait of `MpscChannel.run`: `wait` by name, `pause` in seconds for
/// "paced" only.
fn loop_wait(wait: &str, pause: Option<f64>) -> PyResult<ringcore::WaitStrategy> {
    use ringcore::WaitStrategy;
    match (wait, pause) {
        ("blocking", None) => Ok(WaitStrategy::Blocking),
        ("spin", None) => Ok(WaitStrategy::BusySpin),
        ("yield", None) => Ok(WaitStrategy::Yielding),
        // A positive pause under a nanosecond is one nanosecond.
        ("paced", Some(p)) if p > 0.0 => Duration::try_from_secs_f64(p)
            .map_err(|e| Error::InvalidArgument(format!("pause {p}: {e}")))
            .and_then(|d| WaitStrategy::paced(d.max(Duration::from_nanos(1))))
            .map_err(|e| PyValueError::new_err(e.to_string())),
        ("paced", p) => Err(PyValueError::new_err(format!(
            "wait 'paced' takes a pause of more than 0 seconds, not {p:?}"
        ))),
        ("blocking" | "spin" | "yield", Some(_)) => {
            Err(PyValueError::new_err("pause is for wait 'paced' only"))
        }
        (w, _) => Err(PyValueError::new_err(format!(
            "wait is 'blocking', 'spin', 'yield' or 'paced', not {w:?}"
        ))),
    }
}
