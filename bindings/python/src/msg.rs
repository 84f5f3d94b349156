//! `ringmpsc.MessageRing`: variable-size byte messages in shared memory.

use crate::aio::Armed;
use crate::errors::{to_py, IntoPy};
use crate::util::{
    attach_within, batch_or_timeout, batch_timeout, blocking, blocking_apart, dup_fd, is_timeout,
    or_timeout, raised_after, ring_bits, seconds, side, stop_after, timeout_arg, Bytes, Repr,
};
use crate::view::{Lease, View};
use pyo3::exceptions::{PyStopIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use ringcore::msg::{MessageReceiver as CoreRx, MessageRing as Core, MessageSender as CoreTx};
use ringcore::shm::{Permissions, DEFAULT_STALE_AFTER};
use ringcore::Error;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A ring of variable-size byte messages (each with an int type) in shared
/// memory. One process sends (`sender()`), one receives (`receiver()`).
#[pyclass(module = "ringmpsc._ringmpsc", name = "MessageRing")]
pub(crate) struct MessageRing {
    ring: Core,
    /// The name it was created or attached with (None: from a descriptor).
    name: Option<String>,
}

#[pymethods]
impl MessageRing {
    /// Creates a ring of `capacity` bytes (a power of two, at least 4096),
    /// named (a file; bare names go under /dev/shm) or anonymous (a memfd
    /// shared through `fileno()`). The largest message is capacity - 16 bytes.
    #[staticmethod]
    /// A named segment gets `mode` (default 0o600) and, when given, `group`.
    #[pyo3(signature = (name = None, capacity = 1 << 20, *, mode = 0o600, group = None))]
    fn create(
        py: Python<'_>,
        name: Option<&str>,
        capacity: usize,
        mode: u32,
        group: Option<u32>,
    ) -> PyResult<Self> {
        let perm = Permissions { mode, group };
        Ok(MessageRing {
            ring: Core::create_with(name, ring_bits(capacity)?, perm).py_err(py)?,
            name: name.map(str::to_owned),
        })
    }

    /// Opens a named message ring, waiting up to `timeout` seconds for it
    /// to appear (None: no limit; 0: do not wait). Raises FileNotFoundError
    /// when no such ring appeared in time.
    #[staticmethod]
    #[pyo3(signature = (name, timeout = 1.0))]
    fn attach(py: Python<'_>, name: &str, timeout: Option<f64>) -> PyResult<Self> {
        let ring = attach_within(py, timeout_arg(timeout)?, |t| Core::attach(name, t))?;
        Ok(MessageRing {
            ring,
            name: Some(name.to_owned()),
        })
    }

    /// Maps a message ring from a descriptor (duplicated; the caller keeps
    /// `fd`): a memfd whose size is sealed, as `create(None, ...)` makes
    /// them (InvalidHeader for any other file).
    #[staticmethod]
    fn from_fd(py: Python<'_>, fd: i32) -> PyResult<Self> {
        Ok(MessageRing {
            ring: Core::from_fd(dup_fd(fd)?).py_err(py)?,
            name: None,
        })
    }

    /// The segment's descriptor (owned by this object), for `socket.send_fds`.
    fn fileno(&self) -> i32 {
        self.ring.fd().as_raw_fd()
    }

    /// Takes the sending side (Busy while a live process holds it).
    fn sender(&self, py: Python<'_>) -> PyResult<MessageSender> {
        let tx = self.ring.sender_with(DEFAULT_STALE_AFTER).py_err(py)?;
        Ok(MessageSender {
            max: tx.max_message(),
            observer: tx.observer(),
            tx: Mutex::new(tx),
            claimed: Mutex::new(None),
        })
    }

    /// Takes the receiving side (Busy while a live process holds it).
    fn receiver(&self, py: Python<'_>) -> PyResult<MessageReceiver> {
        let rx = self.ring.receiver_with(DEFAULT_STALE_AFTER).py_err(py)?;
        Ok(MessageReceiver {
            observer: rx.observer(),
            rx: Mutex::new(rx),
            dropped: Mutex::new(None),
        })
    }

    /// Size of the ring in bytes.
    #[getter]
    fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Largest message in bytes (capacity - 16).
    #[getter]
    fn max_message(&self) -> usize {
        self.ring.max_message()
    }

    /// Closes the ring for every process: sends raise Closed, receives
    /// drain what is left and then raise Closed.
    fn close(&self) {
        self.ring.close();
    }

    /// True once any process closed the ring.
    #[getter]
    fn closed(&self) -> bool {
        self.ring.is_closed()
    }

    /// Whether a sending process holds the ring and is alive within
    /// `timeout` seconds (a heartbeat age, not a wait: this never waits).
    #[pyo3(signature = (timeout = 1.0))]
    fn is_sender_alive(&self, timeout: Option<f64>) -> PyResult<bool> {
        Ok(self
            .ring
            .is_producer_alive(seconds(timeout, Duration::from_secs(1))?))
    }

    /// Whether a receiving process holds the ring and is alive within
    /// `timeout` seconds (a heartbeat age, not a wait).
    #[pyo3(signature = (timeout = 1.0))]
    fn is_receiver_alive(&self, timeout: Option<f64>) -> PyResult<bool> {
        Ok(self
            .ring
            .is_consumer_alive(seconds(timeout, Duration::from_secs(1))?))
    }

    /// Pid of the process that holds the sending side (0: none).
    #[getter]
    fn sender_pid(&self) -> u32 {
        self.ring.producer_pid()
    }

    /// Pid of the process that holds the receiving side (0: none).
    #[getter]
    fn receiver_pid(&self) -> u32 {
        self.ring.consumer_pid()
    }

    /// Removes the segment's name (the mapping stays valid).
    fn unlink(&self, py: Python<'_>) -> PyResult<()> {
        self.ring.unlink().py_err(py)
    }

    /// Removes the segment's name once this object and its sender and
    /// receiver are garbage collected.
    #[pyo3(signature = (unlink = true))]
    fn unlink_on_drop(&self, unlink: bool) {
        self.ring.unlink_on_drop(unlink);
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
        self.ring.close();
        false
    }

    fn __repr__(&self) -> String {
        let alive = Duration::from_secs(1);
        let mut r = Repr::new("MessageRing")
            .name(self.name.as_deref())
            .field("capacity", self.ring.capacity())
            .field("used", self.ring.len())
            .open(self.ring.is_closed());
        if self.ring.is_producer_alive(alive) {
            r = r.state("sender alive");
        }
        if self.ring.is_consumer_alive(alive) {
            r = r.state("receiver alive");
        }
        r.done()
    }
}

/// The sending side of a MessageRing. Closing it (or leaving a `with`
/// block, or dropping it) closes the ring.
#[pyclass(module = "ringmpsc._ringmpsc", name = "MessageSender")]
pub(crate) struct MessageSender {
    tx: Mutex<CoreTx>,
    max: usize,
    observer: ringcore::RingObserver,
    /// The claimed message's view, ended when it is committed or dropped.
    claimed: Mutex<Option<Arc<Lease>>>,
}

impl MessageSender {
    /// The pending claim's view, checked unused: `BufferError` while a
    /// buffer of it is exported, as the claim is about to end.
    fn unused_claim(&self) -> PyResult<MutexGuard<'_, Option<Arc<Lease>>>> {
        let claimed = self
            .claimed
            .lock()
            .expect("never poisoned: no panics inside");
        Lease::check_unused(claimed.as_slice())?;
        Ok(claimed)
    }

    /// Sends `messages` (as for `send_many`), waiting up to `timeout`
    /// while there is no room; returns how many were sent and how many
    /// there were.
    fn send_all(
        &self,
        py: Python<'_>,
        messages: &Bound<'_, PyAny>,
        timeout: Option<Duration>,
    ) -> PyResult<(usize, usize)> {
        let mut owned = Vec::new();
        for m in messages.try_iter()? {
            let m = m?;
            match m.cast::<PyTuple>() {
                Ok(t) if t.len() == 2 => owned.push((
                    t.get_item(0)?.extract::<u32>()?,
                    Bytes::of(&t.get_item(1)?)?,
                )),
                _ => owned.push((0, Bytes::of(&m)?)),
            }
        }
        let mut guard = side(&self.tx, SENDER).py_err(py)?;
        let tx: &mut CoreTx = &mut guard;
        let mut sent = 0;
        let batch = |tx: &mut CoreTx, from: usize| {
            tx.send_many(owned[from..].iter().map(|(t, b)| (*t, b.as_slice())))
        };
        // As many as fit at once (one publication), then wait for room.
        sent += batch(tx, 0).py_err(py)?;
        if sent < owned.len() && timeout != Some(Duration::ZERO) {
            let outcome = blocking_apart(py, timeout, |s| {
                while sent < owned.len() {
                    let step = batch(tx, sent).and_then(|n| {
                        if n > 0 {
                            return Ok(n);
                        }
                        let (t, b) = &owned[sent];
                        tx.send_blocking(*t, b.as_slice(), s).map(|()| 1)
                    });
                    match step {
                        Ok(n) => sent += n,
                        Err(e) => return stop_after(sent, e),
                    }
                }
                Ok(())
            });
            match outcome {
                // A timeout ends the wait: what was sent is the answer.
                Ok(Ok(())) | Ok(Err(Error::TimedOut)) => {}
                Ok(Err(e)) => return Err(to_py(py, e)),
                Err(e) => return Err(raised_after(py, e, sent)),
            }
        }
        Ok((sent, owned.len()))
    }
}

const SENDER: &str = "sending side";
const RECEIVER: &str = "receiving side";

#[pymethods]
impl MessageSender {
    /// A registration the receiver's next release wakes (for `ringmpsc.aio`).
    fn _arm_send(&self, py: Python<'_>) -> PyResult<Armed> {
        Ok(side(&self.tx, SENDER).py_err(py)?.arm().into())
    }

    /// Sends one message, waiting up to `timeout` seconds (None: no limit)
    /// while there is no room. Raises Timeout, Closed, TooLarge.
    #[pyo3(signature = (data, msg_type = 0, timeout = None))]
    fn send(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        msg_type: u32,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let data = Bytes::of(data)?;
        let timeout = timeout_arg(timeout)?;
        let mut guard = side(&self.tx, SENDER).py_err(py)?;
        let tx: &mut CoreTx = &mut guard;
        match tx.send(msg_type, data.as_slice()) {
            Err(Error::Full) => {}
            other => return other.py_err(py),
        }
        blocking(py, timeout, |s| {
            tx.send_blocking(msg_type, data.as_slice(), s)
        })
    }

    /// Sends one message if there is room; returns False when full.
    #[pyo3(signature = (data, msg_type = 0))]
    fn try_send(&self, py: Python<'_>, data: &Bound<'_, PyAny>, msg_type: u32) -> PyResult<bool> {
        let data = Bytes::of(data)?;
        let mut tx = side(&self.tx, SENDER).py_err(py)?;
        match tx.send(msg_type, data.as_slice()) {
            Ok(()) => Ok(true),
            Err(Error::Full) => Ok(false),
            Err(e) => Err(to_py(py, e)),
        }
    }

    /// Sends many messages: an iterable of bytes-like objects (type 0) or of
    /// (type, bytes) pairs, waiting up to `timeout` seconds while there is no
    /// room (None: no limit; 0: do not wait). Returns how many were sent: all
    /// of them, those that fitted before the time ran out, or those before
    /// an error (Closed, TooLarge), which the next call raises. Raises
    /// Timeout when not one fitted, Closed, TooLarge when none was sent;
    /// KeyboardInterrupt (what was sent before it stays sent, and the
    /// exception's `queued` says how many).
    #[pyo3(signature = (messages, timeout = None))]
    fn send_many(
        &self,
        py: Python<'_>,
        messages: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let (sent, total) = self.send_all(py, messages, timeout_arg(timeout)?)?;
        if total > 0 {
            return or_timeout(py, sent);
        }
        Ok(sent)
    }

    /// Sends as many of `messages` (as for `send_many`) as fit now, without
    /// waiting; returns how many (0 when there is no room).
    fn try_send_many(&self, py: Python<'_>, messages: &Bound<'_, PyAny>) -> PyResult<usize> {
        Ok(self.send_all(py, messages, Some(Duration::ZERO))?.0)
    }

    /// Claims room for a `size`-byte message and returns it as a writable
    /// View to fill in place; then `commit(msg_type, length)` or `abort()`.
    /// A pending claim is dropped first (BufferError, and nothing done,
    /// while its view is in use).
    fn claim<'py>(slf: &Bound<'py, Self>, size: usize) -> PyResult<Bound<'py, View>> {
        let py = slf.py();
        let this = slf.borrow();
        let mut tx = side(&this.tx, SENDER).py_err(py)?;
        let mut claimed = this.unused_claim()?;
        Lease::end(claimed.as_slice());
        *claimed = None;
        let buf = tx.try_claim(size).py_err(py)?;
        let (ptr, len) = (buf.as_mut_ptr(), buf.len());
        // SAFETY: the claimed bytes stay mapped while this sender (which owns
        // the mapping) lives; the view holds it.
        let v = unsafe { View::new(slf.clone().into_any().unbind(), ptr, len, false) };
        let v = Bound::new(py, v)?;
        *claimed = Some(v.get().lease());
        Ok(v)
    }

    /// Publishes the claimed message (its first `length` bytes; all when
    /// None). Its view ends: BufferError, and nothing is published, while a
    /// memoryview or array of it is still in use.
    #[pyo3(signature = (msg_type = 0, length = None))]
    fn commit(&self, py: Python<'_>, msg_type: u32, length: Option<usize>) -> PyResult<()> {
        let mut tx = side(&self.tx, SENDER).py_err(py)?;
        let mut claimed = self.unused_claim()?;
        match length {
            Some(n) => tx.commit_len(msg_type, n),
            None => tx.commit(msg_type),
        }
        .py_err(py)?;
        Lease::end(claimed.as_slice());
        *claimed = None;
        Ok(())
    }

    /// Drops the claimed message (BufferError while its view is in use).
    fn abort(&self, py: Python<'_>) -> PyResult<()> {
        let mut tx = side(&self.tx, SENDER).py_err(py)?;
        let mut claimed = self.unused_claim()?;
        tx.abort();
        Lease::end(claimed.as_slice());
        *claimed = None;
        Ok(())
    }

    /// Largest message in bytes.
    #[getter]
    fn max_message(&self) -> usize {
        self.max
    }

    /// Closes the ring: the receiver drains what is left, then gets Closed.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        side(&self.tx, SENDER).py_err(py)?.close();
        Ok(())
    }

    /// True once either side closed the ring.
    #[getter]
    fn closed(&self) -> bool {
        self.observer.is_closed()
    }

    /// A `with` block closes the ring when it ends.
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __repr__(&self) -> String {
        let claimed = self.claimed.try_lock().is_ok_and(|c| c.is_some());
        let r = Repr::new("MessageSender")
            .field("capacity", self.observer.capacity())
            .field("used", self.observer.len())
            .field("max_message", self.max)
            .open(self.observer.is_closed());
        if claimed { r.state("claim pending") } else { r }.done()
    }

    /// Leaving a `with` block closes the ring.
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

/// A list item of `recv_batch`: `(type, bytes)`.
fn typed<'py>(py: Python<'py>) -> impl FnMut(u32, &[u8]) -> PyResult<Bound<'py, PyAny>> {
    move |t, p| {
        (t, PyBytes::new(py, p))
            .into_pyobject(py)
            .map(Bound::into_any)
    }
}

/// A list item of `recv_many`: the payload's bytes.
fn untyped<'py>(py: Python<'py>) -> impl FnMut(u32, &[u8]) -> PyResult<Bound<'py, PyAny>> {
    move |_, p| Ok(PyBytes::new(py, p).into_any())
}

/// The receiving side of a MessageRing.
#[pyclass(module = "ringmpsc._ringmpsc", name = "MessageReceiver")]
pub(crate) struct MessageReceiver {
    rx: Mutex<CoreRx>,
    observer: ringcore::RingObserver,
    /// The payload of a [`Message`] dropped unreleased while a buffer of it
    /// was in use: the next receive frees the message once that is gone.
    dropped: Mutex<Option<Arc<Lease>>>,
}

fn wait_some(py: Python<'_>, rx: &mut CoreRx, timeout: Option<Duration>) -> PyResult<bool> {
    if timeout == Some(Duration::ZERO) {
        return Ok(true);
    }
    match blocking(py, timeout, |s| rx.wait(s)) {
        Ok(()) => Ok(true),
        Err(e) if is_timeout(py, &e) => Ok(false),
        Err(e) => Err(e),
    }
}

impl MessageReceiver {
    /// The receiving side for a receive, once a message dropped unreleased
    /// is freed: `BufferError` while a buffer of its payload is in use.
    fn receiving(&self, py: Python<'_>) -> PyResult<MutexGuard<'_, CoreRx>> {
        let mut rx = side(&self.rx, RECEIVER).py_err(py)?;
        let mut dropped = self.dropped.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lease) = dropped.take() {
            let leases = [lease];
            if let Err(e) = Lease::check_unused(&leases) {
                let [lease] = leases;
                *dropped = Some(lease);
                return Err(e);
            }
            rx.release();
            Lease::end(&leases);
        }
        Ok(rx)
    }

    /// Waits up to `timeout` for a first message, then turns up to `max`
    /// messages into list items with `item`, releasing them with one head
    /// update; [] when the time passed first.
    fn batch<'py>(
        &self,
        py: Python<'py>,
        max: usize,
        timeout: Option<Duration>,
        mut item: impl FnMut(u32, &[u8]) -> PyResult<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut guard = self.receiving(py)?;
        let rx: &mut CoreRx = &mut guard;
        let list = PyList::empty(py);
        if !wait_some(py, rx, timeout)? {
            return Ok(list);
        }
        // A message whose item cannot be made stays in the ring.
        let mut failed = None;
        rx.recv_batch_while(max, |t, p| match item(t, p).and_then(|o| list.append(o)) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        })
        .py_err(py)?;
        // Messages already in the list are delivered; the error comes with
        // the next call, which starts at the message that failed.
        match failed {
            Some(e) if list.is_empty() => Err(e),
            _ => Ok(list),
        }
    }
}

#[pymethods]
impl MessageReceiver {
    /// A registration the sender's next commit wakes (for `ringmpsc.aio`).
    fn _arm_recv(&self, py: Python<'_>) -> PyResult<Armed> {
        Ok(side(&self.rx, RECEIVER).py_err(py)?.arm().into())
    }

    /// Receives one message as `(type, bytes)`, waiting up to `timeout`
    /// seconds (None: no limit). Raises Timeout, Closed (closed and drained), Corrupt.
    #[pyo3(signature = (timeout = None))]
    fn recv<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<(u32, Bound<'py, PyBytes>)> {
        let timeout = timeout_arg(timeout)?;
        let mut guard = self.receiving(py)?;
        let rx: &mut CoreRx = &mut guard;
        let (t, ptr, len) = match rx.peek() {
            Err(Error::Empty) => blocking(py, timeout, |s| {
                rx.peek_blocking(s).map(|(t, p, l)| (t, p as usize, l))
            })
            .map(|(t, p, l)| (t, p as *const u8, l))?,
            other => other.py_err(py)?,
        };
        // SAFETY: the peeked record is published and ours until release.
        let bytes = PyBytes::new(py, unsafe { std::slice::from_raw_parts(ptr, len) });
        rx.release();
        Ok((t, bytes))
    }

    /// One message as `(type, bytes)`, or None when nothing is waiting.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<(u32, Bound<'py, PyBytes>)>> {
        match self.recv(py, Some(0.0)) {
            Err(e) if is_timeout(py, &e) => Ok(None),
            other => other.map(Some),
        }
    }

    /// Up to `max_messages` messages as a list of `(type, bytes)`, waiting up
    /// to `timeout` seconds for the first (None: no limit; 0: do not wait).
    /// One head update for the batch. Raises Timeout when none came, Closed
    /// once closed and drained.
    #[pyo3(signature = (max_messages = 1024, timeout = None))]
    fn recv_batch<'py>(
        &self,
        py: Python<'py>,
        max_messages: usize,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let got = self.batch(
            py,
            max_messages,
            batch_timeout(max_messages, timeout)?,
            typed(py),
        )?;
        batch_or_timeout(py, got, max_messages)
    }

    /// Up to `max_messages` messages waiting now, as `(type, bytes)`,
    /// without waiting; [] when none is there. Raises Closed once closed and
    /// drained.
    #[pyo3(signature = (max_messages = 1024))]
    fn try_recv_batch<'py>(
        &self,
        py: Python<'py>,
        max_messages: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        self.batch(py, max_messages, Some(Duration::ZERO), typed(py))
    }

    /// `recv_batch` without the types: a list of payloads (no tuple per
    /// message, so less work for a fast consumer). Raises Timeout when none
    /// came, Closed once closed and drained.
    #[pyo3(signature = (max_messages = 1024, timeout = None))]
    fn recv_many<'py>(
        &self,
        py: Python<'py>,
        max_messages: usize,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let got = self.batch(
            py,
            max_messages,
            batch_timeout(max_messages, timeout)?,
            untyped(py),
        )?;
        batch_or_timeout(py, got, max_messages)
    }

    /// `try_recv_batch` without the types: the payloads waiting now, [] when
    /// none is there. Raises Closed once closed and drained.
    #[pyo3(signature = (max_messages = 1024))]
    fn try_recv_many<'py>(
        &self,
        py: Python<'py>,
        max_messages: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        self.batch(py, max_messages, Some(Duration::ZERO), untyped(py))
    }

    /// Receives one message in place (zero copy), waiting up to `timeout`
    /// seconds (None: no limit; 0: do not wait): a `Message` whose `payload`
    /// is a read-only View into shared memory. Release it (or use it as a
    /// context manager) before the next receive; one dropped unreleased is
    /// released then, or, while a buffer of its payload is still in use (the
    /// receive raises BufferError), by the first receive after it is gone.
    /// Raises Timeout, Closed once closed and drained.
    #[pyo3(signature = (timeout = None))]
    fn recv_view<'py>(slf: &Bound<'py, Self>, timeout: Option<f64>) -> PyResult<Message> {
        let py = slf.py();
        let timeout = timeout_arg(timeout)?;
        let this = slf.borrow();
        let mut guard = this.receiving(py)?;
        let rx: &mut CoreRx = &mut guard;
        let (t, ptr, len) = match rx.peek() {
            Err(Error::Empty) => blocking(py, timeout, |s| {
                rx.peek_blocking(s).map(|(t, p, l)| (t, p as usize, l))
            })
            .map(|(t, p, l)| (t, p as *const u8, l))?,
            other => other.py_err(py)?,
        };
        drop(guard);
        drop(this);
        // SAFETY: the record stays mapped while the receiver lives (the view holds it).
        let view = unsafe { View::new(slf.clone().into_any().unbind(), ptr, len, true) };
        Ok(Message {
            receiver: slf.clone().unbind(),
            msg_type: t,
            payload: Py::new(py, view)?,
            released: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Whether the ring is closed.
    #[getter]
    fn closed(&self) -> bool {
        self.observer.is_closed()
    }

    /// Closes the ring: the sender's next send raises Closed; what is left
    /// can still be received.
    fn close(&self) {
        self.observer.close();
    }

    /// Iterating receives `(type, bytes)` until the ring is closed and drained.
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Iterating receives `(type, bytes)` until the ring is closed and drained.
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<(u32, Bound<'py, PyBytes>)> {
        match self.recv(py, None) {
            Err(e)
                if e.is_instance(
                    py,
                    py.import("ringmpsc.errors")?.getattr("Closed")?.as_any(),
                ) =>
            {
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
        Repr::new("MessageReceiver")
            .field("capacity", self.observer.capacity())
            .field("used", self.observer.len())
            .open(self.observer.is_closed())
            .done()
    }
}

/// A message received in place: `msg_type`, and `payload` (a read-only View
/// into shared memory, valid until `release()`).
#[pyclass(module = "ringmpsc._ringmpsc", name = "Message", frozen)]
pub(crate) struct Message {
    receiver: Py<MessageReceiver>,
    /// The message's type.
    #[pyo3(get)]
    msg_type: u32,
    payload: Py<View>,
    released: std::sync::atomic::AtomicBool,
}

impl Drop for Message {
    fn drop(&mut self) {
        // Dropped unreleased, the message frees its record as `release`
        // would, so the receiver can go on; unless a buffer of its payload
        // is still in use, whose memory must stay: then the first receive
        // after that buffer is gone frees it.
        if !self.released.load(std::sync::atomic::Ordering::Acquire) {
            Python::attach(|py| {
                if self.release(py).is_err() {
                    let r = self.receiver.borrow(py);
                    *r.dropped.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(self.payload.get().lease());
                }
            });
        }
    }
}

impl Message {
    fn check(&self) -> PyResult<()> {
        if self.released.load(std::sync::atomic::Ordering::Acquire) {
            return Err(PyValueError::new_err("the message was released"));
        }
        Ok(())
    }
}

#[pymethods]
impl Message {
    /// The payload: a read-only View into shared memory, until `release()`.
    #[getter]
    fn payload(&self, py: Python<'_>) -> PyResult<Py<View>> {
        self.check()?;
        Ok(self.payload.clone_ref(py))
    }

    /// Frees the message in the ring (once; later calls do nothing).
    /// BufferError, and the message stays, while a memoryview or array of
    /// its payload is still in use: its memory is about to be reused.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        if self.released.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(());
        }
        let r = self.receiver.borrow(py);
        let mut rx = side(&r.rx, RECEIVER).py_err(py)?;
        let lease = [self.payload.get().lease()];
        Lease::check_unused(&lease)?;
        rx.release();
        Lease::end(&lease);
        self.released
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// The payload copied into bytes.
    fn tobytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.check()?;
        View::tobytes(self.payload.bind(py))
    }

    /// A `with` block releases the message when it ends.
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Leaving a `with` block releases the message.
    fn __exit__(
        &self,
        py: Python<'_>,
        _t: &Bound<'_, PyAny>,
        _e: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        self.release(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let r = Repr::new("Message")
            .field("msg_type", self.msg_type)
            .field("len", self.payload.get().len());
        if self.released.load(std::sync::atomic::Ordering::Acquire) {
            r.state("released")
        } else {
            r
        }
        .done()
    }
}
