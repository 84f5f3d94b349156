//! Arguments (timeouts, capacities, descriptors), buffers and GIL-released waits.

use crate::errors::{is_library_error, to_py};
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use ringcore::{Deadline, Error, WaitStrategy, LIVENESS_SLICE};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;

/// A `timeout` argument in seconds: `None` waits without limit, and so
/// does one beyond what a `Duration` holds (about 1.8e19 s).
pub(crate) fn timeout_arg(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_finite() && t >= 0.0 => Ok(Some(
            Duration::try_from_secs_f64(t).unwrap_or(Duration::MAX),
        )),
        Some(t) => Err(PyValueError::new_err(format!(
            "timeout must be a non-negative number of seconds, not {t}"
        ))),
    }
}

/// The wait of a batch receive of at most `max` items: none when `max` is
/// 0 (a request for none is answered at once), else `timeout` as
/// [`timeout_arg`] reads it.
pub(crate) fn batch_timeout(max: usize, timeout: Option<f64>) -> PyResult<Option<Duration>> {
    if max == 0 {
        return Ok(Some(Duration::ZERO));
    }
    timeout_arg(timeout)
}

/// A `timeout` argument in seconds, `default` when not given.
pub(crate) fn seconds(t: Option<f64>, default: Duration) -> PyResult<Duration> {
    Ok(timeout_arg(t)?.unwrap_or(default))
}

/// Takes a descriptor from the caller without taking ownership of it.
pub(crate) fn dup_fd(fd: i32) -> PyResult<OwnedFd> {
    if fd < 0 {
        return Err(PyValueError::new_err(format!("bad descriptor {fd}")));
    }
    // SAFETY: the caller owns fd for the duration of the call.
    let b = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(b.try_clone_to_owned()?)
}

/// A capacity (a power of two up to 2**32) as the ring's bit count.
pub(crate) fn ring_bits(capacity: usize) -> PyResult<u8> {
    ringcore::Config::bits_for_capacity(capacity).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Runs `op` with the GIL released, in slices of at most
/// [`LIVENESS_SLICE`] so that signals (Ctrl-C) are handled between them,
/// until it succeeds, fails with anything but `TimedOut`, or the overall
/// `timeout` passes (then `TimedOut`). It runs at least once.
pub(crate) fn blocking<T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    op: impl FnMut(WaitStrategy) -> Result<T, Error> + Send,
) -> PyResult<T> {
    blocking_as(py, timeout, op, to_py)
}

/// [`blocking`], turning the error that ends the wait into an exception
/// with `to_py` (a caller that names the object in its messages).
pub(crate) fn blocking_as<T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    op: impl FnMut(WaitStrategy) -> Result<T, Error> + Send,
    to_py: impl Fn(Python<'_>, Error) -> PyErr,
) -> PyResult<T> {
    blocking_apart(py, timeout, op)?.map_err(|e| to_py(py, e))
}

/// [`blocking`], keeping the two ways a wait can fail apart: `Ok` holds
/// what `op` ended with, the library's error included; `Err` is the
/// exception a signal handler raised between slices (Ctrl-C).
pub(crate) fn blocking_apart<T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    mut op: impl FnMut(WaitStrategy) -> Result<T, Error> + Send,
) -> PyResult<Result<T, Error>> {
    let deadline = Deadline::after(timeout);
    let mut slice = deadline.slice(LIVENESS_SLICE).unwrap_or_default();
    loop {
        let result = py.detach(|| op(WaitStrategy::TimedBlocking { timeout: slice }));
        match (result, deadline.slice(LIVENESS_SLICE)) {
            (Err(Error::TimedOut), Some(next)) => {
                py.check_signals()?;
                slice = next;
            }
            (other, _) => return Ok(other),
        }
    }
}

/// Runs `op` with the GIL released, handing it a check to call now and
/// then while it waits (a handshake that cannot be cut into retries): the
/// check handles signals with the GIL held, and an exception one raises
/// (KeyboardInterrupt) ends `op` and is this call's.
pub(crate) fn detach_checking<T: Send>(
    py: Python<'_>,
    op: impl FnOnce(&mut dyn FnMut() -> Result<(), Error>) -> Result<T, Error> + Send,
) -> PyResult<T> {
    let mut raised = None;
    let result = py.detach(|| {
        op(&mut || {
            Python::attach(|py| py.check_signals()).map_err(|e| {
                raised = Some(e);
                // Ends `op`; the exception above is what the caller gets.
                Error::TimedOut
            })
        })
    });
    match raised {
        Some(e) => Err(e),
        None => result.map_err(|e| to_py(py, e)),
    }
}

/// The exception a signal handler raised during a batch send's wait
/// (Ctrl-C's KeyboardInterrupt), with `queued` set on it: how many of the
/// batch were queued before it, in order. They stay queued.
pub(crate) fn raised_after(py: Python<'_>, e: PyErr, queued: usize) -> PyErr {
    // Every exception instance takes an attribute; were one to refuse,
    // the exception itself still stands.
    let _ = e.value(py).setattr("queued", queued);
    e
}

/// For a batch send inside [`blocking`]: an error once some were sent ends
/// the wait, the count being the answer (the next call meets the error
/// again); a slice's `TimedOut` goes on to `blocking`, which checks for
/// signals and the deadline.
pub(crate) fn stop_after(sent: usize, e: Error) -> Result<(), Error> {
    if sent > 0 && !matches!(e, Error::TimedOut) {
        Ok(())
    } else {
        Err(e)
    }
}

/// Opens what `open(wait)` opens once its name appears, waiting at most
/// `wait` for it, with the GIL released: in waits of at most
/// [`LIVENESS_SLICE`] until `timeout` (None: no limit) passes, handling
/// signals (Ctrl-C) between them. A name still missing at the end is the
/// last try's `FileNotFoundError`.
pub(crate) fn attach_within<T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    mut open: impl FnMut(Duration) -> Result<T, Error> + Send,
) -> PyResult<T> {
    let deadline = Deadline::after(timeout);
    loop {
        let wait = deadline.slice(LIVENESS_SLICE).unwrap_or_default();
        match py.detach(|| open(wait)) {
            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound && !deadline.passed() => {
                py.check_signals()?
            }
            other => return other.map_err(|e| to_py(py, e)),
        }
    }
}

/// Calls `handler(item)` (a bytes object) on up to `max` items that `take`
/// hands over one at a time, in place (`take(f)` calls `f` on the item's
/// bytes and returns `true`; `false`: none waits now; `Closed` once closed
/// and drained), so each is copied once, into its bytes object, and a
/// raising handler loses nothing: the items after the one it raised on stay
/// where they were. Returns the count; `Closed` only when there was nothing
/// at all.
pub(crate) fn consume_each(
    py: Python<'_>,
    handler: &Bound<'_, PyAny>,
    max: Option<usize>,
    mut take: impl FnMut(&mut dyn FnMut(&[u8])) -> Result<bool, Error>,
) -> PyResult<usize> {
    let mut n = 0;
    while n < max.unwrap_or(usize::MAX) {
        let mut item = None;
        match take(&mut |bytes| item = Some(PyBytes::new(py, bytes))) {
            Ok(true) => {}
            Ok(false) => break,
            Err(Error::Closed) if n > 0 => break,
            Err(e) => return Err(to_py(py, e)),
        }
        n += 1;
        handler.call1((item.expect("`take` handed an item over"),))?;
    }
    Ok(n)
}

/// Locks one side of a ring for this call, or reports it busy.
pub(crate) fn side<'a, T>(m: &'a Mutex<T>, role: &'static str) -> Result<MutexGuard<'a, T>, Error> {
    match m.try_lock() {
        Ok(g) => Ok(g),
        // A panic inside a call is caught by PyO3; the ring state itself is
        // consistent after any failed call, so keep going.
        Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
        Err(TryLockError::WouldBlock) => Err(Error::Busy(role)),
    }
}

/// A contiguous view of any object with the buffer protocol, holding it:
/// the view outlives the argument list it came from (an item a generator
/// made, a list another thread empties while the GIL is released).
pub(crate) struct Bytes {
    /// A bytes object (immutable), held by a reference.
    _object: Option<Py<PyBytes>>,
    /// Any other exporter, held by its buffer export.
    _export: Option<PyUntypedBuffer>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: `_object` or `_export` keeps the memory alive and unmoved; we
// only read it.
unsafe impl Send for Bytes {}
// SAFETY: shared access only reads the buffer.
unsafe impl Sync for Bytes {}

impl Bytes {
    pub(crate) fn of(obj: &Bound<'_, PyAny>) -> PyResult<Bytes> {
        if let Ok(b) = obj.cast::<PyBytes>() {
            let s = b.as_bytes();
            return Ok(Bytes {
                ptr: s.as_ptr(),
                len: s.len(),
                _object: Some(b.clone().unbind()),
                _export: None,
            });
        }
        let buf = PyUntypedBuffer::get(obj).map_err(|_| {
            PyTypeError::new_err("expected bytes or an object with the buffer protocol")
        })?;
        if !buf.is_c_contiguous() {
            return Err(PyValueError::new_err("buffer must be C-contiguous"));
        }
        Ok(Bytes {
            ptr: buf.buf_ptr() as *const u8,
            len: buf.len_bytes(),
            _object: None,
            _export: Some(buf),
        })
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr/len describe the exported contiguous buffer (or the
        // bytes object's data), alive for as long as self holds it.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// A writable contiguous view of a buffer-protocol object.
pub(crate) struct BytesMut {
    _buf: PyUntypedBuffer,
    ptr: *mut u8,
    len: usize,
}

// SAFETY: as for `Bytes`; the export pins the memory (a bytearray cannot be
// resized while exported).
unsafe impl Send for BytesMut {}

impl BytesMut {
    pub(crate) fn of(obj: &Bound<'_, PyAny>) -> PyResult<BytesMut> {
        let buf = PyUntypedBuffer::get(obj).map_err(|_| {
            PyTypeError::new_err(
                "expected a writable buffer (bytearray, memoryview, array, numpy array)",
            )
        })?;
        if buf.readonly() {
            return Err(PyTypeError::new_err("buffer is read-only"));
        }
        if !buf.is_c_contiguous() {
            return Err(PyValueError::new_err("buffer must be C-contiguous"));
        }
        Ok(BytesMut {
            ptr: buf.buf_ptr() as *mut u8,
            len: buf.len_bytes(),
            _buf: buf,
        })
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: writable contiguous export, alive for as long as self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// The start of the buffer, for memory that others may change at the
    /// same time (atomics), where no slice may be formed.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// The object inside a side lock, or `ValueError` once it was closed.
pub(crate) fn open<'a, T>(g: &'a mut MutexGuard<'_, Option<T>>, what: &str) -> PyResult<&'a mut T> {
    g.as_mut()
        .ok_or_else(|| PyValueError::new_err(format!("the {what} is closed")))
}

/// What a waiting call returns when it did nothing: an empty list, a zero
/// count. `Timeout` stands for it once the wait is over (see [`or_timeout`]).
pub(crate) trait Nothing {
    fn is_nothing(&self) -> bool;
}

impl Nothing for usize {
    fn is_nothing(&self) -> bool {
        *self == 0
    }
}

impl Nothing for Bound<'_, pyo3::types::PyList> {
    fn is_nothing(&self) -> bool {
        self.is_empty()
    }
}

/// The timeout rule of every call that waits: a call whose wait ended with
/// nothing done raises `Timeout` (its `try_` form returns the empty value
/// instead); one that did part of its work returns that part.
pub(crate) fn or_timeout<T: Nothing>(py: Python<'_>, got: T) -> PyResult<T> {
    if got.is_nothing() {
        return Err(to_py(py, Error::TimedOut));
    }
    Ok(got)
}

/// [`or_timeout`] for a batch of up to `max` items: asking for none is
/// answered at once, with no `Timeout`.
pub(crate) fn batch_or_timeout<'py>(
    py: Python<'py>,
    got: Bound<'py, pyo3::types::PyList>,
    max: usize,
) -> PyResult<Bound<'py, pyo3::types::PyList>> {
    if max == 0 {
        return Ok(got);
    }
    or_timeout(py, got)
}

/// Whether `e` is `ringmpsc.Timeout`: a `TimeoutError` of the library's
/// own, not one a signal handler raised.
pub(crate) fn is_timeout(py: Python<'_>, e: &PyErr) -> bool {
    e.is_instance_of::<pyo3::exceptions::PyTimeoutError>(py) && is_library_error(py, e)
}

/// One `__repr__` shape for every class: `<Kind name='x' key=value ... state>`.
/// Built from cheap reads only, it never raises: a closed or busy object says so.
pub(crate) struct Repr(String);

impl Repr {
    pub(crate) fn new(kind: &str) -> Repr {
        Repr(format!("<{kind}"))
    }

    /// `name='...'` when there is a name.
    pub(crate) fn name(self, name: Option<&str>) -> Repr {
        match name {
            Some(n) => {
                let quoted = n.replace('\\', "\\\\").replace('\'', "\\'");
                self.field("name", format_args!("'{quoted}'"))
            }
            None => self,
        }
    }

    /// ` key=value`.
    pub(crate) fn field(mut self, key: &str, value: impl std::fmt::Display) -> Repr {
        use std::fmt::Write;
        let _ = write!(self.0, " {key}={value}");
        self
    }

    /// A bare word: a state (`open`, `closed`, `sender alive`, ...).
    pub(crate) fn state(mut self, word: &str) -> Repr {
        self.0.push(' ');
        self.0.push_str(word);
        self
    }

    /// `open` or `closed`.
    pub(crate) fn open(self, closed: bool) -> Repr {
        self.state(if closed { "closed" } else { "open" })
    }

    pub(crate) fn done(mut self) -> String {
        self.0.push('>');
        self.0
    }
}

/// For a `__repr__`: `f` of the object inside a side lock, without waiting;
/// `Err("busy")` while another thread holds the lock, `Err("closed")` once
/// the object was closed.
pub(crate) fn peek<T, R>(
    m: &Mutex<Option<T>>,
    f: impl FnOnce(&mut T) -> R,
) -> Result<R, &'static str> {
    let mut g = match m.try_lock() {
        Ok(g) => g,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => return Err("busy"),
    };
    g.as_mut().map(f).ok_or("closed")
}

/// The timeout of one GIL-released slice of a [`blocking`] wait.
pub(crate) fn slice_of(s: WaitStrategy) -> Option<Duration> {
    match s {
        WaitStrategy::TimedBlocking { timeout } => Some(timeout),
        _ => None,
    }
}
