//! `ringmpsc.Ring`: the in-process SPSC ring of fixed-size byte items.

use crate::errors::IntoPy;
use crate::notifier::EventNotifier;
use crate::util::{blocking, ring_bits, side, timeout_arg, Bytes, BytesMut};
use crate::view::{Lease, View};
use pyo3::exceptions::{PyStopIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use ringcore::{Config, Error, RingObserver, SlotConsumer, SlotProducer, SlotRing};
use std::sync::{Arc, Mutex};

const PRODUCER: &str = "producer side";
const CONSUMER: &str = "consumer side";

/// A bounded lock-free ring of fixed-size byte items between two threads.
///
/// One thread sends, another receives; a second thread entering a side that
/// is in use gets `ringmpsc.Busy`. Blocking calls release the GIL and answer
/// Ctrl-C within 50 ms.
#[pyclass(module = "ringmpsc._ringmpsc", name = "Ring")]
pub(crate) struct Ring {
    producer: Option<Mutex<SlotProducer>>,
    consumer: Option<Mutex<SlotConsumer>>,
    observer: RingObserver,
    item_size: usize,
    /// Leases of the views handed out by `readable`, revoked before any
    /// call frees slots.
    views: Mutex<Vec<Arc<Lease>>>,
}

impl Ring {
    /// The producer side of a shared ring as a `Ring` object.
    pub(crate) fn from_producer(p: SlotProducer) -> Ring {
        Ring {
            observer: p.observer(),
            item_size: p.slot_size(),
            producer: Some(Mutex::new(p)),
            consumer: None,
            views: Mutex::new(Vec::new()),
        }
    }

    /// The consumer side of a shared ring as a `Ring` object.
    pub(crate) fn from_consumer(c: SlotConsumer) -> Ring {
        Ring {
            observer: c.observer(),
            item_size: c.slot_size(),
            producer: None,
            consumer: Some(Mutex::new(c)),
            views: Mutex::new(Vec::new()),
        }
    }

    fn producer(&self, py: Python<'_>) -> PyResult<std::sync::MutexGuard<'_, SlotProducer>> {
        let m = self
            .producer
            .as_ref()
            .ok_or_else(|| PyValueError::new_err("this is the consumer side of a shared ring"))?;
        side(m, PRODUCER).py_err(py)
    }

    /// `BufferError` while a view `readable` handed out is in use: checked
    /// right before a call frees slots, as their memory is about to be reused.
    fn check_views_unused(&self) -> PyResult<()> {
        Lease::check_unused(&self.views.lock().expect("never poisoned: no panics inside"))
    }

    /// Ends the views `readable` handed out: slots were freed.
    fn freed(&self) {
        let mut views = self.views.lock().expect("never poisoned: no panics inside");
        Lease::end(&views);
        views.clear();
    }

    fn consumer(&self, py: Python<'_>) -> PyResult<std::sync::MutexGuard<'_, SlotConsumer>> {
        let m = self
            .consumer
            .as_ref()
            .ok_or_else(|| PyValueError::new_err("this is the producer side of a shared ring"))?;
        side(m, CONSUMER).py_err(py)
    }

    fn check_item(&self, len: usize) -> PyResult<()> {
        if len != self.item_size {
            return Err(PyValueError::new_err(format!(
                "item of {len} bytes, the ring carries items of {} bytes",
                self.item_size
            )));
        }
        Ok(())
    }
}

#[pymethods]
impl Ring {
    /// Ring(capacity, item_size=8): `capacity` slots (a power of two) of
    /// `item_size` bytes.
    #[new]
    #[pyo3(signature = (capacity, item_size = 8))]
    fn new(py: Python<'_>, capacity: usize, item_size: usize) -> PyResult<Self> {
        let config = Config::with_ring_bits(ring_bits(capacity)?);
        let (p, c) = SlotRing::new(config, item_size).py_err(py)?;
        Ok(Ring {
            observer: p.observer(),
            producer: Some(Mutex::new(p)),
            consumer: Some(Mutex::new(c)),
            views: Mutex::new(Vec::new()),
            item_size,
        })
    }

    /// Number of slots.
    #[getter]
    fn capacity(&self) -> usize {
        self.observer.capacity()
    }

    /// Free slots: how many items a send could take now.
    #[getter]
    fn available_capacity(&self) -> usize {
        self.observer.capacity().saturating_sub(self.observer.len())
    }

    /// Bytes per item.
    #[getter]
    fn item_size(&self) -> usize {
        self.item_size
    }

    /// True once either side closed the ring.
    #[getter]
    fn closed(&self) -> bool {
        self.observer.is_closed()
    }

    fn __len__(&self) -> usize {
        self.observer.len()
    }

    /// Closes the ring: sends raise Closed, receives drain what is left and
    /// then raise Closed; blocked threads wake up.
    fn close(&self) {
        self.observer.close();
    }

    /// Back to the initial state: drops what is left, forgets a pending
    /// reservation and reopens the ring if it was closed. It needs both
    /// sides: raises Busy while another thread is inside a send or receive,
    /// ValueError on one side of a shared ring.
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        let mut p = self.producer(py)?;
        let mut c = self.consumer(py)?;
        self.check_views_unused()?;
        SlotRing::reset(&mut p, &mut c).py_err(py)?;
        self.freed();
        Ok(())
    }

    /// Sends one item if there is room; returns False when the ring is full.
    fn try_send(&self, py: Python<'_>, item: &Bound<'_, PyAny>) -> PyResult<bool> {
        let item = Bytes::of(item)?;
        self.check_item(item.as_slice().len())?;
        let mut p = self.producer(py)?;
        Ok(p.send(item.as_slice()).py_err(py)? == 1)
    }

    /// Sends one item, waiting up to `timeout` seconds (None: no limit)
    /// while the ring is full. Raises Timeout or Closed.
    #[pyo3(signature = (item, timeout = None))]
    fn send(&self, py: Python<'_>, item: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<()> {
        let item = Bytes::of(item)?;
        self.check_item(item.as_slice().len())?;
        let timeout = timeout_arg(timeout)?;
        let mut guard = self.producer(py)?;
        let p: &mut SlotProducer = &mut guard;
        if p.send(item.as_slice()).py_err(py)? == 1 {
            return Ok(());
        }
        blocking(py, timeout, |s| match p.send(item.as_slice())? {
            1 => Ok(()),
            _ => p
                .wait_for_space(s)
                .and_then(|()| match p.send(item.as_slice())? {
                    1 => Ok(()),
                    _ => Err(Error::TimedOut),
                }),
        })
    }

    /// Sends many items: a list (or any iterable) of items, or one buffer
    /// holding items back to back. Waits up to `timeout` seconds while the
    /// ring is full (0: do not wait, None: no limit) and returns how many
    /// items were sent. Raises Closed if the ring is closed.
    #[pyo3(signature = (items, timeout = None))]
    fn send_many(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let packed = match Bytes::of(items) {
            Ok(b) => {
                if b.as_slice().len() % self.item_size != 0 {
                    return Err(PyValueError::new_err(format!(
                        "buffer of {} bytes is not a whole number of {}-byte items",
                        b.as_slice().len(),
                        self.item_size
                    )));
                }
                b.as_slice().to_vec()
            }
            Err(_) => {
                let mut v = Vec::new();
                for item in items.try_iter()? {
                    let item = Bytes::of(&item?)?;
                    self.check_item(item.as_slice().len())?;
                    v.extend_from_slice(item.as_slice());
                }
                v
            }
        };
        let total = packed.len() / self.item_size;
        let timeout = timeout_arg(timeout)?;
        let mut guard = self.producer(py)?;
        let p: &mut SlotProducer = &mut guard;
        let size = self.item_size;
        let mut sent = p.send(&packed).py_err(py)?;
        if sent == total || timeout == Some(std::time::Duration::ZERO) {
            return Ok(sent);
        }
        let outcome = blocking(py, timeout, |s| {
            while sent < total {
                p.wait_for_space(s)?;
                sent += p.send(&packed[sent * size..])?;
            }
            Ok(())
        });
        match outcome {
            Ok(()) => Ok(sent),
            Err(e) if e.is_instance_of::<pyo3::exceptions::PyTimeoutError>(py) => Ok(sent),
            Err(e) => Err(e),
        }
    }

    /// Takes one item if one is waiting, else returns None. Raises Closed
    /// once the ring is closed and drained.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let mut c = self.consumer(py)?;
        self.check_views_unused()?;
        let item = take(py, &mut c, 1)?.pop();
        if item.is_some() {
            self.freed();
        }
        Ok(item)
    }

    /// Takes one item, waiting up to `timeout` seconds (None: no limit).
    /// Raises Timeout, or Closed once the ring is closed and drained.
    #[pyo3(signature = (timeout = None))]
    fn recv<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyBytes>> {
        let timeout = timeout_arg(timeout)?;
        let mut guard = self.consumer(py)?;
        let c: &mut SlotConsumer = &mut guard;
        blocking(py, timeout, |s| c.wait_for_data(s))?;
        self.check_views_unused()?;
        let mut items = take(py, c, 1)?;
        self.freed();
        Ok(items.pop().expect("an item is readable after the wait"))
    }

    /// Takes up to `max_items` items as a list of bytes, waiting up to
    /// `timeout` seconds for the first (0: do not wait, None: no limit);
    /// returns [] when the time runs out. Raises Closed once closed and drained.
    #[pyo3(signature = (max_items = 1024, timeout = None))]
    fn recv_many<'py>(
        &self,
        py: Python<'py>,
        max_items: usize,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let timeout = timeout_arg(timeout)?;
        let mut guard = self.consumer(py)?;
        let c: &mut SlotConsumer = &mut guard;
        if !wait_some(py, c, timeout)? {
            return Ok(PyList::empty(py));
        }
        self.check_views_unused()?;
        let items = take(py, c, max_items)?;
        self.freed();
        PyList::new(py, items)
    }

    /// Copies as many whole items as fit into the writable `buffer`
    /// (bytearray, memoryview, array, numpy array), waiting up to `timeout`
    /// seconds for the first; returns the number of items (0 on timeout).
    /// Raises Closed once closed and drained.
    #[pyo3(signature = (buffer, timeout = None))]
    fn recv_into(
        &self,
        py: Python<'_>,
        buffer: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let mut out = BytesMut::of(buffer)?;
        if out.as_mut_slice().len() < self.item_size {
            return Err(PyValueError::new_err(format!(
                "buffer of {} bytes cannot hold one {}-byte item",
                out.as_mut_slice().len(),
                self.item_size
            )));
        }
        let timeout = timeout_arg(timeout)?;
        let mut guard = self.consumer(py)?;
        let c: &mut SlotConsumer = &mut guard;
        if !wait_some(py, c, timeout)? {
            return Ok(0);
        }
        self.check_views_unused()?;
        let n = c.recv(out.as_mut_slice()).py_err(py)?;
        if n > 0 {
            self.freed();
        }
        Ok(n)
    }

    /// The readable items at the head, in place: a read-only View
    /// (buffer protocol) of whole items, or a numpy array over it when
    /// `dtype` is given (zero copy). Valid until `advance` or a receive,
    /// which raise BufferError while a memoryview or array of it is in use
    /// (drop it first: its slots are about to be reused); empty when nothing
    /// is readable. Raises Closed once closed and drained.
    #[pyo3(signature = (dtype = None))]
    fn readable<'py>(
        slf: &Bound<'py, Self>,
        dtype: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.borrow();
        let (ptr, len) = {
            let mut c = this.consumer(py)?;
            match c.readable() {
                Ok(run) => (run.as_ptr(), run.len()),
                Err(Error::Empty) => (std::ptr::NonNull::<u8>::dangling().as_ptr().cast_const(), 0),
                Err(e) => return Err(crate::errors::to_py(py, e)),
            }
        };
        // SAFETY: the slots stay mapped while this Ring object (which owns
        // the consumer and its memory) is alive; the view holds it.
        let view = unsafe { View::new(slf.clone().into_any().unbind(), ptr, len, true) };
        let view = Bound::new(py, view)?;
        let mut views = this.views.lock().expect("never poisoned: no panics inside");
        // Views that are gone can export nothing more: forget them.
        views.retain(Lease::held);
        if len > 0 {
            views.push(view.get().lease());
        }
        drop(views);
        let view = view.into_any();
        match dtype {
            None => Ok(view),
            Some(dt) => py.import("numpy")?.call_method1("frombuffer", (view, dt)),
        }
    }

    /// Producer side: signal `notifier` (an EventNotifier) after every
    /// commit, so a consumer can wait in asyncio or select; None detaches.
    fn set_notifier(
        &self,
        py: Python<'_>,
        notifier: Option<PyRef<'_, EventNotifier>>,
    ) -> PyResult<()> {
        let n = notifier.map(|n| n.as_notify());
        self.producer(py)?.set_notifier(n);
        Ok(())
    }

    /// Frees `n` items read through `readable`.
    fn advance(&self, py: Python<'_>, n: usize) -> PyResult<()> {
        let mut c = self.consumer(py)?;
        self.check_views_unused()?;
        c.advance(n).py_err(py)?;
        if n > 0 {
            self.freed();
        }
        Ok(())
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Iterating a ring receives until it is closed and drained.
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        match self.recv(py, None) {
            Err(e) if e.is_instance(py, closed_type(py)?.as_any()) => {
                Err(PyStopIteration::new_err(()))
            }
            other => other,
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Leaving a `with` block closes the ring.
    fn __exit__(
        &self,
        _exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> bool {
        self.observer.close();
        false
    }

    fn __repr__(&self) -> String {
        format!(
            "Ring(capacity={}, item_size={}, len={}, closed={})",
            self.observer.capacity(),
            self.item_size,
            self.observer.len(),
            if self.observer.is_closed() {
                "True"
            } else {
                "False"
            }
        )
    }
}

fn closed_type(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyType>> {
    Ok(py
        .import("ringmpsc.errors")?
        .getattr("Closed")?
        .cast_into::<pyo3::types::PyType>()?)
}

/// Waits (GIL released) until an item is readable; false when the timeout
/// passed first. Closed and corruption are errors.
fn wait_some(
    py: Python<'_>,
    c: &mut SlotConsumer,
    timeout: Option<std::time::Duration>,
) -> PyResult<bool> {
    if timeout == Some(std::time::Duration::ZERO) {
        return match c.readable() {
            Ok(_) => Ok(true),
            Err(Error::Empty) => Ok(false),
            Err(e) => Err(crate::errors::to_py(py, e)),
        };
    }
    match blocking(py, timeout, |s| c.wait_for_data(s)) {
        Ok(()) => Ok(true),
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyTimeoutError>(py) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Copies up to `max` readable items straight from the slots into new bytes
/// objects (one copy) and frees them with one head update per contiguous run.
fn take<'py>(
    py: Python<'py>,
    c: &mut SlotConsumer,
    max: usize,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let size = c.slot_size();
    let mut out = Vec::new();
    while out.len() < max {
        let run = match c.readable() {
            Ok(run) => run,
            Err(Error::Empty) => break,
            Err(Error::Closed) if !out.is_empty() => break,
            Err(e) => return Err(crate::errors::to_py(py, e)),
        };
        let n = (run.len() / size).min(max - out.len());
        out.extend(
            run[..n * size]
                .chunks_exact(size)
                .map(|item| PyBytes::new(py, item)),
        );
        c.advance(n).py_err(py)?;
    }
    Ok(out)
}
