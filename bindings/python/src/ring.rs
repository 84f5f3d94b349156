//! `ringmpsc.Ring`: the in-process SPSC ring of fixed-size byte items.

use crate::aio::Armed;
use crate::dtype::{Dtype, Lent};
use crate::errors::{to_py, IntoPy};
use crate::notifier::EventNotifier;
use crate::util::{
    batch_or_timeout, batch_timeout, blocking, blocking_apart, is_timeout, or_timeout,
    raised_after, ring_bits, side, stop_after, timeout_arg, Bytes, BytesMut, Repr,
};
use crate::view::{Lease, View};
use pyo3::exceptions::{PyBufferError, PyStopIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use ringcore::{Config, Error, RingObserver, SlotConsumer, SlotProducer, SlotRing};
use std::sync::{Arc, Mutex};

const PRODUCER: &str = "producer side";
const CONSUMER: &str = "consumer side";

/// What a `Ring` object is: a ring of its own (both sides) or one side
/// taken from a shared ring or a channel; named in errors and `repr`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Own,
    SharedProducer,
    SharedConsumer,
    MpscProducer,
    SpmcProducer,
    MpmcProducer,
}

impl Origin {
    /// What the object is, in a sentence.
    fn what(self) -> &'static str {
        match self {
            Origin::Own => "a Ring",
            Origin::SharedProducer => "the producer side of a SharedRing",
            Origin::SharedConsumer => "the consumer side of a SharedRing",
            Origin::MpscProducer => "a producer of an MpscChannel",
            Origin::SpmcProducer => "the producer of an SpmcChannel",
            Origin::MpmcProducer => "a producer of an MpmcChannel",
        }
    }

    /// Where the side this object lacks is.
    fn other_side(self) -> &'static str {
        match self {
            Origin::Own => "",
            Origin::SharedProducer => "take it with SharedRing.consumer()",
            Origin::SharedConsumer => "take it with SharedRing.producer()",
            Origin::MpscProducer => "receive from the MpscChannel itself",
            Origin::SpmcProducer | Origin::MpmcProducer => {
                "receive with a Consumer from register_consumer()"
            }
        }
    }

    /// The side for `repr`.
    fn side(self) -> Option<&'static str> {
        match self {
            Origin::Own => None,
            Origin::SharedProducer => Some("producer of SharedRing"),
            Origin::SharedConsumer => Some("consumer of SharedRing"),
            Origin::MpscProducer => Some("producer of MpscChannel"),
            Origin::SpmcProducer => Some("producer of SpmcChannel"),
            Origin::MpmcProducer => Some("producer of MpmcChannel"),
        }
    }
}

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
    origin: Origin,
    /// Leases of the views handed out by `readable`, revoked before any
    /// call frees slots.
    views: Mutex<Vec<Arc<Lease>>>,
    /// The numpy dtype of the items, if the ring was given one.
    dtype: Option<Dtype>,
    /// Slots at the head handed out by `recv_array` (only with a dtype);
    /// locked inside the consumer side's lock.
    lent: Mutex<Lent>,
}

impl Ring {
    /// The producer side of a shared ring or a channel as a `Ring` object.
    pub(crate) fn from_producer(p: SlotProducer, origin: Origin) -> Ring {
        Ring {
            observer: p.observer(),
            item_size: p.slot_size(),
            origin,
            producer: Some(Mutex::new(p)),
            consumer: None,
            views: Mutex::new(Vec::new()),
            dtype: None,
            lent: Mutex::default(),
        }
    }

    /// The consumer side of a shared ring as a `Ring` object.
    pub(crate) fn from_consumer(c: SlotConsumer, origin: Origin) -> Ring {
        Ring {
            observer: c.observer(),
            item_size: c.slot_size(),
            origin,
            producer: None,
            consumer: Some(Mutex::new(c)),
            views: Mutex::new(Vec::new()),
            dtype: None,
            lent: Mutex::default(),
        }
    }

    /// This side with items of `dtype` (whose itemsize the caller checked
    /// against the slot size).
    pub(crate) fn with_dtype(mut self, dtype: Option<Dtype>) -> Ring {
        self.dtype = dtype;
        self
    }

    fn producer(&self, py: Python<'_>) -> PyResult<std::sync::MutexGuard<'_, SlotProducer>> {
        let m = self.producer.as_ref().ok_or_else(|| self.lacks(PRODUCER))?;
        side(m, PRODUCER).py_err(py)
    }

    /// `BufferError` while a view `readable` handed out is in use: checked
    /// right before a call frees slots, as their memory is about to be reused.
    fn check_views_unused(&self) -> PyResult<()> {
        self.check_nothing_lent()?;
        Lease::check_unused(&self.views.lock().expect("never poisoned: no panics inside"))
    }

    /// `BufferError` while arrays from `recv_array` still hold slots at the
    /// head: every call but `recv_array` reads or frees at the head.
    fn check_nothing_lent(&self) -> PyResult<()> {
        if self.dtype.is_none() {
            return Ok(());
        }
        match self.lent().items() {
            0 => Ok(()),
            n => Err(PyBufferError::new_err(format!(
                "{n} item(s) at the head are still shown by arrays from recv_array: \
                 drop them (and every view of them) first"
            ))),
        }
    }

    fn lent(&self) -> std::sync::MutexGuard<'_, Lent> {
        self.lent.lock().expect("never poisoned: no panics inside")
    }

    /// Frees the slots of the arrays from `recv_array` that are gone (in
    /// order, and not while a view from `readable` still shows them).
    fn reclaim(&self, py: Python<'_>, c: &mut SlotConsumer) -> PyResult<()> {
        self.free_returned(c).py_err(py)
    }

    /// [`reclaim`](Self::reclaim) without the GIL.
    fn free_returned(&self, c: &mut SlotConsumer) -> Result<(), Error> {
        let mut lent = self.lent();
        if lent.items() == 0
            || Lease::any_exported(&self.views.lock().expect("never poisoned: no panics inside"))
        {
            return Ok(());
        }
        let n = lent.reclaim();
        if n > 0 {
            c.advance(n)?;
            self.freed();
        }
        Ok(())
    }

    /// The view of an array from `recv_array` is gone: frees its slots now
    /// if the consumer side is free. Else the thread inside it does, at its
    /// next call or within 50 ms if it is waiting in `recv_array`.
    fn lent_view_dropped(owner: &Bound<'_, PyAny>) {
        let Ok(ring) = owner.cast::<Ring>() else {
            return;
        };
        let Ok(ring) = ring.try_borrow() else {
            return;
        };
        let Some(Ok(mut c)) = ring.consumer.as_ref().map(Mutex::try_lock) else {
            return;
        };
        // A failure here is the ring's (Corrupt): the next call reports it.
        let _ = ring.free_returned(&mut c);
    }

    /// Waits (GIL released) until an item past those lent to arrays is
    /// readable, freeing meanwhile the slots of arrays that are gone (whose
    /// thread cannot, as this one holds the consumer side); false when
    /// `timeout` passed first.
    fn wait_unlent(
        &self,
        py: Python<'_>,
        c: &mut SlotConsumer,
        timeout: Option<std::time::Duration>,
    ) -> PyResult<bool> {
        match c.readable_past(self.lent().items()) {
            Ok(_) => return Ok(true),
            Err(Error::Empty) if timeout == Some(std::time::Duration::ZERO) => return Ok(false),
            Err(Error::Empty) => {}
            Err(e) => return Err(crate::errors::to_py(py, e)),
        }
        let waited = blocking(py, timeout, |s| {
            // With the GIL: a view's export checks its lease under it, so
            // no buffer of a view can be made while its slots are freed.
            Python::attach(|_| self.free_returned(c))?;
            c.wait_for_data_past(self.lent().items(), s)
        });
        match waited {
            Ok(()) => Ok(true),
            Err(e) if is_timeout(py, &e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Ends the views `readable` handed out: slots were freed.
    fn freed(&self) {
        let mut views = self.views.lock().expect("never poisoned: no panics inside");
        Lease::end(&views);
        views.clear();
    }

    fn consumer(&self, py: Python<'_>) -> PyResult<std::sync::MutexGuard<'_, SlotConsumer>> {
        let m = self.consumer.as_ref().ok_or_else(|| self.lacks(CONSUMER))?;
        let mut c = side(m, CONSUMER).py_err(py)?;
        if self.dtype.is_some() {
            self.reclaim(py, &mut c)?;
        }
        Ok(c)
    }

    /// Sends `items` (one buffer of whole items, or an iterable of items),
    /// waiting up to `timeout` while the ring is full; returns how many
    /// were sent and how many there were.
    fn send_packed(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        timeout: Option<std::time::Duration>,
    ) -> PyResult<(usize, usize)> {
        // One buffer of items (a numpy array of the ring's dtype) goes from
        // its own memory into the slots: one copy. An iterable is packed first.
        self.check_dtype(items)?;
        let (buffer, mut list);
        let packed: &[u8] = match self.bytes_of(items) {
            Ok(b) => {
                buffer = b;
                if buffer.as_slice().len() % self.item_size != 0 {
                    return Err(PyValueError::new_err(format!(
                        "buffer of {} bytes is not a whole number of {}-byte items",
                        buffer.as_slice().len(),
                        self.item_size
                    )));
                }
                buffer.as_slice()
            }
            Err(_) => {
                list = Vec::new();
                for item in items.try_iter()? {
                    list.extend_from_slice(self.item(&item?)?.as_slice());
                }
                &list
            }
        };
        let total = packed.len() / self.item_size;
        let mut guard = self.producer(py)?;
        let p: &mut SlotProducer = &mut guard;
        let size = self.item_size;
        let mut sent = p.send(packed).py_err(py)?;
        if sent == total || timeout == Some(std::time::Duration::ZERO) {
            return Ok((sent, total));
        }
        let outcome = blocking_apart(py, timeout, |s| {
            while sent < total {
                match p
                    .wait_for_space(s)
                    .and_then(|()| p.send(&packed[sent * size..]))
                {
                    Ok(n) => sent += n,
                    Err(e) => return stop_after(sent, e),
                }
            }
            Ok(())
        });
        match outcome {
            // A timeout ends the wait: what was sent is the answer.
            Ok(Ok(())) | Ok(Err(Error::TimedOut)) => Ok((sent, total)),
            Ok(Err(e)) => Err(to_py(py, e)),
            Err(e) => Err(raised_after(py, e, sent)),
        }
    }

    /// Up to `max` items as a list, waiting up to `timeout` for the first;
    /// [] when it passed first.
    fn take_many<'py>(
        &self,
        py: Python<'py>,
        max: usize,
        timeout: Option<std::time::Duration>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut guard = self.consumer(py)?;
        let c: &mut SlotConsumer = &mut guard;
        if !wait_some(py, c, timeout)? {
            return Ok(PyList::empty(py));
        }
        self.check_views_unused()?;
        let items = take(py, c, max)?;
        self.freed();
        PyList::new(py, items)
    }

    /// Up to `max` items as a read-only numpy array of the dtype, waiting up
    /// to `timeout` for the first (see `recv_array`); empty when it passed first.
    fn take_array<'py>(
        slf: &Bound<'py, Self>,
        max: usize,
        timeout: Option<std::time::Duration>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.borrow();
        let dtype = this.dtype.as_ref().ok_or_else(|| {
            PyValueError::new_err(
                "recv_array needs a ring made with a dtype (or use readable(dtype))",
            )
        })?;
        let mut guard = this.consumer(py)?;
        let c: &mut SlotConsumer = &mut guard;
        if max == 0 || !this.wait_unlent(py, c, timeout)? {
            return dtype.array(PyBytes::new(py, b"").as_any());
        }
        let mut lent = this.lent();
        let skip = lent.items();
        let size = this.item_size;
        let (first, second) = c.readable_past(skip).py_err(py)?;
        let in_first = first.len() / size;
        if in_first >= max || second.is_empty() {
            // Contiguous: an array over the slots, which stay taken until
            // its view is gone.
            let run = &first[..in_first.min(max) * size];
            let owner = slf.clone().into_any().unbind();
            // SAFETY: the slots stay mapped while this Ring object (which
            // owns the consumer and its memory) lives, and the view holds
            // it; they are lent, so nothing frees or writes them while the
            // view lives.
            let view =
                unsafe { View::lending(owner, run.as_ptr(), run.len(), Ring::lent_view_dropped) };
            let view = Bound::new(py, view)?;
            lent.push(Some(view.get().lease()), in_first.min(max));
            return dtype.array(view.as_any());
        }
        // Wrapped around the end of the slots: one copy, freed at once (or
        // once the arrays before it are gone).
        let n = (in_first + second.len() / size).min(max);
        let second = &second[..(n - in_first) * size];
        let copy = PyBytes::new_with(py, n * size, |out| {
            let (a, b) = out.split_at_mut(first.len());
            a.copy_from_slice(first);
            b.copy_from_slice(second);
            Ok(())
        })?;
        lent.push(None, n);
        drop(lent);
        this.reclaim(py, c)?;
        dtype.array(copy.as_any())
    }

    /// Copies whole items into `buffer`, waiting up to `timeout` for the
    /// first; 0 when it passed first.
    fn take_into(
        &self,
        py: Python<'_>,
        buffer: &Bound<'_, PyAny>,
        timeout: Option<std::time::Duration>,
    ) -> PyResult<usize> {
        // A numpy destination of another dtype would get the items' bytes
        // under its own type: refused, as `send` refuses one.
        self.check_dtype(buffer)?;
        let mut out = BytesMut::of(buffer)?;
        if out.as_mut_slice().len() < self.item_size {
            return Err(PyValueError::new_err(format!(
                "buffer of {} bytes cannot hold one {}-byte item",
                out.as_mut_slice().len(),
                self.item_size
            )));
        }
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

    /// `ValueError` for a call that needs the side this object lacks.
    fn lacks(&self, wanted: &str) -> PyErr {
        PyValueError::new_err(format!(
            "this Ring is {}: it has no {wanted} ({})",
            self.origin.what(),
            self.origin.other_side()
        ))
    }

    /// A received item as returned: bytes, or a numpy scalar of the dtype.
    fn item_out<'py>(&self, item: Bound<'py, PyBytes>) -> PyResult<Bound<'py, PyAny>> {
        match &self.dtype {
            Some(d) => d.scalar(&item),
            None => Ok(item.into_any()),
        }
    }

    /// The buffer of `obj` (on a ring with a dtype, see `Dtype::bytes_of`).
    fn bytes_of(&self, obj: &Bound<'_, PyAny>) -> PyResult<Bytes> {
        match &self.dtype {
            Some(d) => d.bytes_of(obj),
            None => Bytes::of(obj),
        }
    }

    /// Checks `obj` against the ring's dtype, if it has one.
    fn check_dtype(&self, obj: &Bound<'_, PyAny>) -> PyResult<()> {
        self.dtype.as_ref().map_or(Ok(()), |d| d.check(obj))
    }

    /// The bytes of one item to send: of the item size, and of the ring's
    /// dtype where the object has one.
    fn item(&self, obj: &Bound<'_, PyAny>) -> PyResult<Bytes> {
        self.check_dtype(obj)?;
        let item = self.bytes_of(obj)?;
        self.check_item(item.as_slice().len())?;
        Ok(item)
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
    /// A registration the producer's next commit wakes (for `ringmpsc.aio`).
    fn _arm_recv(&self, py: Python<'_>) -> PyResult<Armed> {
        Ok(self.consumer(py)?.arm().into())
    }

    /// A registration the consumer's next release wakes (for `ringmpsc.aio`).
    fn _arm_send(&self, py: Python<'_>) -> PyResult<Armed> {
        Ok(self.producer(py)?.arm().into())
    }

    /// Ring(capacity, item_size=8, *, dtype=None): `capacity` slots (a
    /// power of two) of `item_size` bytes. With a numpy `dtype` (anything
    /// `numpy.dtype()` takes, plain or structured) the items are of that
    /// dtype and its itemsize (a different `item_size` is a ValueError):
    /// `send` takes a numpy scalar, record or 0-d array of it (or bytes of
    /// its size), `send_many` an array of it, `recv` returns a numpy scalar
    /// and `recv_array` an array.
    #[new]
    #[pyo3(signature = (capacity, item_size = None, *, dtype = None))]
    fn new(
        py: Python<'_>,
        capacity: usize,
        item_size: Option<usize>,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let dtype = Dtype::of(dtype)?;
        let item_size = Dtype::item_size(dtype.as_ref(), item_size, 8, "item_size")?;
        let config = Config::with_ring_bits(ring_bits(capacity)?);
        let (p, c) = SlotRing::new(config, item_size).py_err(py)?;
        Ok(Ring {
            observer: p.observer(),
            producer: Some(Mutex::new(p)),
            consumer: Some(Mutex::new(c)),
            views: Mutex::new(Vec::new()),
            item_size,
            origin: Origin::Own,
            dtype,
            lent: Mutex::default(),
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

    /// The numpy dtype of the items, or None for a ring of bytes.
    #[getter]
    fn dtype<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        self.dtype.as_ref().map(|d| d.object(py))
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
        let item = self.item(item)?;
        let mut p = self.producer(py)?;
        Ok(p.send(item.as_slice()).py_err(py)? == 1)
    }

    /// Sends one item, waiting up to `timeout` seconds (None: no limit)
    /// while the ring is full. Raises Timeout or Closed.
    #[pyo3(signature = (item, timeout = None))]
    fn send(&self, py: Python<'_>, item: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<()> {
        let item = self.item(item)?;
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
    /// ring is full (None: no limit; 0: do not wait) and returns how many
    /// items were sent: all of them, those that fitted before the time ran
    /// out, or those sent before the ring was closed (the next call raises
    /// Closed). Raises Timeout when not one fitted, Closed if the ring is
    /// closed before any was sent; KeyboardInterrupt (what was sent before
    /// it stays sent, and the exception's `queued` says how many).
    #[pyo3(signature = (items, timeout = None))]
    fn send_many(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let (sent, total) = self.send_packed(py, items, timeout_arg(timeout)?)?;
        if total > 0 {
            return or_timeout(py, sent);
        }
        Ok(sent)
    }

    /// Sends as many of `items` (as for `send_many`) as fit now, without
    /// waiting; returns how many (0 when the ring is full).
    fn try_send_many(&self, py: Python<'_>, items: &Bound<'_, PyAny>) -> PyResult<usize> {
        Ok(self
            .send_packed(py, items, Some(std::time::Duration::ZERO))?
            .0)
    }

    /// Takes one item if one is waiting (bytes, or a numpy scalar on a ring
    /// with a dtype), else returns None. Raises Closed once the ring is
    /// closed and drained.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let mut c = self.consumer(py)?;
        self.check_views_unused()?;
        let item = take(py, &mut c, 1)?.pop();
        drop(c);
        if item.is_some() {
            self.freed();
        }
        item.map(|i| self.item_out(i)).transpose()
    }

    /// Takes one item (bytes, or a numpy scalar on a ring with a dtype),
    /// waiting up to `timeout` seconds (None: no limit). Raises Timeout, or
    /// Closed once the ring is closed and drained.
    #[pyo3(signature = (timeout = None))]
    fn recv<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let timeout = timeout_arg(timeout)?;
        let mut guard = self.consumer(py)?;
        let c: &mut SlotConsumer = &mut guard;
        blocking(py, timeout, |s| poll_then_wait(c, s))?;
        self.check_views_unused()?;
        let mut items = take(py, c, 1)?;
        self.freed();
        drop(guard);
        // Only a peer that moved the tail back since the wait finds none.
        let item = items.pop().ok_or_else(|| {
            to_py(
                py,
                Error::Corrupt("an item seen readable was taken back".into()),
            )
        })?;
        self.item_out(item)
    }

    /// Takes up to `max_items` items as a list of bytes, waiting up to
    /// `timeout` seconds for the first (None: no limit; 0: do not wait).
    /// Raises Timeout when none came, Closed once closed and drained.
    #[pyo3(signature = (max_items = 1024, timeout = None))]
    fn recv_many<'py>(
        &self,
        py: Python<'py>,
        max_items: usize,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let items = self.take_many(py, max_items, batch_timeout(max_items, timeout)?)?;
        batch_or_timeout(py, items, max_items)
    }

    /// Takes up to `max_items` items waiting now, without waiting: a list
    /// of bytes, [] when none is there. Raises Closed once closed and drained.
    #[pyo3(signature = (max_items = 1024))]
    fn try_recv_many<'py>(
        &self,
        py: Python<'py>,
        max_items: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        self.take_many(py, max_items, Some(std::time::Duration::ZERO))
    }

    /// Takes up to `max_items` items as a read-only numpy array of the
    /// ring's dtype, waiting up to `timeout` seconds for the first (None: no
    /// limit; 0: do not wait). Where the items lie contiguous in the slots
    /// the array shows them in place (no copy) and their slots stay taken
    /// until the array and every view of it are gone (the next call on this
    /// side then frees them); where they wrap around the end of the slots
    /// the array is one copy and they are freed at once. A further
    /// `recv_array` goes on after the items handed out, so a loop may keep
    /// the last array; the other receives, `readable` and `advance` raise
    /// BufferError while arrays still hold slots. Raises ValueError on a
    /// ring without a dtype, Timeout when none came, Closed once closed and
    /// drained.
    #[pyo3(signature = (max_items = 1024, timeout = None))]
    fn recv_array<'py>(
        slf: &Bound<'py, Self>,
        max_items: usize,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let array = Self::take_array(slf, max_items, timeout_arg(timeout)?)?;
        if max_items > 0 && array.len()? == 0 {
            return Err(crate::errors::to_py(slf.py(), Error::TimedOut));
        }
        Ok(array)
    }

    /// `recv_array` without waiting: an empty array when none is there.
    #[pyo3(signature = (max_items = 1024))]
    fn try_recv_array<'py>(
        slf: &Bound<'py, Self>,
        max_items: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        Self::take_array(slf, max_items, Some(std::time::Duration::ZERO))
    }

    /// Copies as many whole items as fit into the writable `buffer`
    /// (bytearray, memoryview, array, numpy array), waiting up to `timeout`
    /// seconds for the first (None: no limit; 0: do not wait); returns the
    /// number of items. Raises Timeout when none came, Closed once closed
    /// and drained.
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
    /// `buffer`, without waiting; returns the number of items (0 when none
    /// is there). Raises Closed once closed and drained.
    fn try_recv_into(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.take_into(py, buffer, Some(std::time::Duration::ZERO))
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
            this.check_nothing_lent()?;
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
        let n = notifier.map(|n| n.as_notify()).transpose()?;
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

    /// Iterating a ring receives until it is closed and drained.
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Iterating a ring receives until it is closed and drained.
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.recv(py, None) {
            Err(e) if e.is_instance(py, closed_type(py)?.as_any()) => {
                Err(PyStopIteration::new_err(()))
            }
            other => other,
        }
    }

    /// A `with` block closes the ring when it ends.
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Leaving a `with` block closes the ring.
    fn __exit__(
        &self,
        _t: &Bound<'_, PyAny>,
        _e: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> bool {
        self.observer.close();
        false
    }

    fn __repr__(&self) -> String {
        let r = Repr::new("Ring")
            .field("capacity", self.observer.capacity())
            .field("item_size", self.item_size)
            .field("used", self.observer.len())
            .open(self.observer.is_closed());
        match self.origin.side() {
            Some(side) => r.state(side),
            None => r,
        }
        .done()
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
        Err(e) if is_timeout(py, &e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// How long a single-item `recv` (the round-trip path) polls the ring, GIL
/// released, before it waits by the ring's strategy (which spins ~3 us,
/// yields, then sleeps on the futex): a Python peer often answers later
/// than 3 us (GIL, interpreter), and a yield or a futex wake-up costs ~10 us,
/// or a scheduler slice (ms) when another process wants the CPU. Measured
/// with bench_ipc.py's ping-pong (two processes pinned to the two CPUs,
/// alternating rounds): p99 12 us -> 1.7 us; beside two busy processes
/// p99 5.5 ms -> 2 us. The cost: up to this much CPU per wait that finds
/// nothing, and where both processes share one CPU (a peer that cannot run
/// while this one polls) a round trip of ~50 us instead of ~11 us (the
/// pure-Python busy-polling ring takes ~8 ms there). Batch receives do not
/// poll: on a busy machine they leave the CPU to the producer sooner.
const POLL_BEFORE_WAIT: std::time::Duration = std::time::Duration::from_micros(20);

/// Waits by `s` for an item after polling for up to [`POLL_BEFORE_WAIT`].
fn poll_then_wait(c: &mut SlotConsumer, s: ringcore::WaitStrategy) -> Result<(), Error> {
    let start = std::time::Instant::now();
    while matches!(c.readable(), Err(Error::Empty)) && start.elapsed() < POLL_BEFORE_WAIT {
        std::hint::spin_loop();
    }
    c.wait_for_data(s)
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
    // An error after a run was taken ends the call with what was taken
    // (the next call meets it again): taken items are never dropped.
    while out.len() < max {
        let run = match c.readable() {
            Ok(run) => run,
            Err(Error::Empty) => break,
            Err(_) if !out.is_empty() => break,
            Err(e) => return Err(crate::errors::to_py(py, e)),
        };
        let n = (run.len() / size).min(max - out.len());
        let before = out.len();
        out.extend(
            run[..n * size]
                .chunks_exact(size)
                .map(|item| PyBytes::new(py, item)),
        );
        if let Err(e) = c.advance(n) {
            // Not freed: they stay in the ring for the next call.
            out.truncate(before);
            if out.is_empty() {
                return Err(crate::errors::to_py(py, e));
            }
            break;
        }
    }
    Ok(out)
}
