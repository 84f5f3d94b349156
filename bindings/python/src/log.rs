//! `ringmpsc.LogWriter` / `ringmpsc.LogReader`: the persistent mmap log.

use crate::aio::Armed;
use crate::errors::{to_py, to_py_saying, IntoPy};
use crate::util::{
    batch_or_timeout, batch_timeout, blocking, blocking_as, is_timeout, open, peek, side, slice_of,
    timeout_arg, Bytes, Repr,
};
use crate::view::{Lease, View};
use pyo3::exceptions::{PyStopIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyMemoryView};
use ringcore::log::{
    Durability, From, LogPosition, MappedFile, Message, Reader, Writer, WriterBuilder, WriterStatus,
};
use ringcore::Error;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WRITER: &str = "LogWriter";
const READER: &str = "LogReader";

/// The exception for an error of a reader of the log at `path`: the ends
/// of a log are named as such (the core says only "closed" or "peer
/// disconnected").
fn reader_error(py: Python<'_>, path: &Path, e: Error) -> PyErr {
    let log = path.display();
    match e {
        Error::Closed => {
            let msg = format!("the log at {log} was closed by its writer and is read to the end");
            to_py_saying(py, e, msg)
        }
        Error::Disconnected => {
            let msg = format!(
                "the writer of the log at {log} died without closing it; \
                 every record it committed is read"
            );
            to_py_saying(py, e, msg)
        }
        e => to_py(py, e),
    }
}

/// Keeps one mapped log file alive for the views into it.
#[pyclass(module = "ringmpsc._ringmpsc", name = "LogMapping", frozen)]
pub(crate) struct LogMapping {
    file: MappedFile,
}

#[pymethods]
impl LogMapping {
    fn __repr__(&self) -> String {
        Repr::new("LogMapping")
            .field("file", self.file.seq())
            .done()
    }
}

/// The Python owner of the mapping a reader reads, made once per mapping
/// (a seek maps a file afresh: the owner of the old mapping is not that
/// of the new one, even for the same file).
struct MappingCache(Option<Py<LogMapping>>);

impl MappingCache {
    fn get(&mut self, py: Python<'_>, r: &Reader) -> PyResult<Py<PyAny>> {
        if let Some(m) = &self.0 {
            if r.maps(&m.get().file) {
                return Ok(m.clone_ref(py).into_any());
            }
        }
        let m = Py::new(
            py,
            LogMapping {
                file: r.mapped_file(),
            },
        )?;
        self.0 = Some(m.clone_ref(py));
        Ok(m.into_any())
    }
}

fn position_tuple(p: LogPosition) -> (u64, u64) {
    (p.file, p.offset)
}

/// The single writer of a log at `path` (files `path`, `path.1`, ...).
/// Only one writer holds a log at a time (Busy otherwise); reopening a log
/// resumes after its last committed record, also after a crash.
#[pyclass(module = "ringmpsc._ringmpsc", name = "LogWriter")]
pub(crate) struct LogWriter {
    w: Mutex<Option<Writer>>,
    path: PathBuf,
    /// The pending reservation: its size and its view, revoked when it is
    /// committed or dropped.
    reserved: Mutex<Option<Reservation>>,
}

/// A pending reservation: its size and its view's lease.
type Reservation = (usize, Arc<Lease>);

impl LogWriter {
    /// The pending reservation, its view checked unused: `BufferError`
    /// while a buffer of it is exported, as the reservation is about to end.
    fn unused_reservation(&self) -> PyResult<std::sync::MutexGuard<'_, Option<Reservation>>> {
        let r = self
            .reserved
            .lock()
            .expect("never poisoned: no panics inside");
        Lease::check_unused(
            r.as_ref()
                .map(|(_, l)| std::slice::from_ref(l))
                .unwrap_or(&[]),
        )?;
        Ok(r)
    }
}

/// Ends the view of a reservation that ended.
fn end(r: &mut Option<Reservation>) {
    if let Some((_, lease)) = r.take() {
        Lease::end(&[lease]);
    }
}

#[pymethods]
impl LogWriter {
    /// Opens or creates the log. `region_size` (a multiple of the page
    /// size), `file_size` (a multiple of the region size) and `mtu` default
    /// to 1 MiB, 64 MiB and the most a region holds, or, for an existing
    /// log, to its own. `retention` keeps the newest N files. `durability`:
    /// "none" (the kernel writes back), "commit" (msync every record), or
    /// set `sync_every_records` / `sync_every_seconds`. `prefault=True`
    /// starts a thread that faults in pages ahead of the writer
    /// (`prefault_cpu=n` pins it to CPU n). `checksums` (default on for a
    /// new log, an existing one keeps its choice): every record carries a
    /// CRC32C that every reader checks.
    #[new]
    #[pyo3(signature = (path, *, region_size = None, file_size = None, mtu = None,
                        retention = None, durability = "none", sync_every_records = None,
                        sync_every_seconds = None, prefault = false, prefault_cpu = None,
                        checksums = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path: std::path::PathBuf,
        region_size: Option<u64>,
        file_size: Option<u64>,
        mtu: Option<u32>,
        retention: Option<u64>,
        durability: &str,
        sync_every_records: Option<u64>,
        sync_every_seconds: Option<f64>,
        prefault: bool,
        prefault_cpu: Option<usize>,
        checksums: Option<bool>,
    ) -> PyResult<Self> {
        let mut b = WriterBuilder::new(&path);
        if let Some(c) = checksums {
            b = b.checksums(c);
        }
        if let Some(r) = region_size {
            b = b.region_size(r);
        }
        if let Some(f) = file_size {
            b = b.file_roll_size(f);
        }
        if let Some(m) = mtu {
            b = b.mtu(m);
        }
        if let Some(n) = retention {
            b = b.retention(n);
        }
        b = match prefault_cpu {
            Some(cpu) => b.prefault_cpu(cpu),
            None => b.prefault(prefault),
        };
        let d = match (durability, sync_every_records, sync_every_seconds) {
            ("none", None, None) => Durability::None,
            ("commit", None, None) => Durability::EveryCommit,
            ("none", Some(n), None) => Durability::EveryRecords(n.max(1)),
            ("none", None, Some(t)) => Durability::EveryInterval(
                timeout_arg(Some(t))?.expect("a number was given"),
            ),
            _ => {
                return Err(PyValueError::new_err(
                    "durability is 'none' or 'commit', or one of sync_every_records / sync_every_seconds",
                ))
            }
        };
        let w = match py.detach(|| b.durability(d).build()) {
            Ok(w) => w,
            Err(e @ Error::Busy(_)) => {
                let msg = format!(
                    "the log at {} already has a writer: another LogWriter, in this or \
                     another process, holds its lock {}.lock",
                    path.display(),
                    path.display()
                );
                return Err(to_py_saying(py, e, msg));
            }
            Err(e) => return Err(to_py(py, e)),
        };
        Ok(LogWriter {
            w: Mutex::new(Some(w)),
            path,
            reserved: Mutex::new(None),
        })
    }

    /// Appends one record (a copy of any bytes-like object); returns its
    /// index. `timestamp` defaults to CLOCK_REALTIME nanoseconds.
    #[pyo3(signature = (data, msg_type = 0, timestamp = None))]
    fn append(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        msg_type: u32,
        timestamp: Option<u64>,
    ) -> PyResult<u64> {
        let data = Bytes::of(data)?;
        let mut g = side(&self.w, WRITER).py_err(py)?;
        let w = open(&mut g, WRITER)?;
        match timestamp {
            Some(t) => w.append_at(msg_type, data.as_slice(), t),
            None => w.append(msg_type, data.as_slice()),
        }
        .py_err(py)
    }

    /// Reserves room for a `size`-byte payload and returns it as a writable
    /// View to fill in place (`view[:n] = data`, or numpy), valid until
    /// `commit` or `abort`, which raise BufferError while a memoryview or
    /// array of it is still in use. A pending reservation is dropped first.
    fn reserve<'py>(slf: &Bound<'py, Self>, size: usize) -> PyResult<Bound<'py, View>> {
        let py = slf.py();
        let this = slf.borrow();
        let mut g = side(&this.w, WRITER).py_err(py)?;
        let w = open(&mut g, WRITER)?;
        if size > w.mtu() {
            return Err(to_py(
                py,
                Error::TooLarge {
                    len: size,
                    max: w.mtu(),
                },
            ));
        }
        let mut reserved = this.unused_reservation()?;
        end(&mut reserved);
        let buf = w.try_reserve(size).py_err(py)?;
        let (ptr, len) = (buf.as_mut_ptr(), buf.len());
        // SAFETY: the reserved bytes lie in the file the writer maps while
        // it is open; the view holds this writer object, whose `close`
        // (like a commit, an abort or a roll) first ends the view.
        let v = unsafe { View::new(slf.clone().into_any().unbind(), ptr, len, false) };
        let v = Bound::new(py, v)?;
        *reserved = Some((size, v.get().lease()));
        Ok(v)
    }

    /// Publishes the reservation (its first `length` bytes; all when None)
    /// as a record; returns its index. An OSError comes from the flush the
    /// durability setting asks for, after the record is published
    /// (`next_index` is past it; `flush()` tries again).
    #[pyo3(signature = (msg_type = 0, length = None, timestamp = None))]
    fn commit(
        &self,
        py: Python<'_>,
        msg_type: u32,
        length: Option<usize>,
        timestamp: Option<u64>,
    ) -> PyResult<u64> {
        let mut g = side(&self.w, WRITER).py_err(py)?;
        let w = open(&mut g, WRITER)?;
        let mut reserved = self.unused_reservation()?;
        let len = length.or(reserved.as_ref().map(|r| r.0)).unwrap_or(0);
        let t = timestamp.unwrap_or_else(realtime_ns);
        let index = w.next_index();
        let result = w.commit(msg_type, len, t);
        // Published, the record is no longer the view's to write, also
        // when the flush the durability setting asks for then failed.
        if w.next_index() != index {
            end(&mut reserved);
        }
        result.py_err(py)
    }

    /// Drops the reservation (BufferError while its view is in use).
    fn abort(&self, py: Python<'_>) -> PyResult<()> {
        let mut g = side(&self.w, WRITER).py_err(py)?;
        let w = open(&mut g, WRITER)?;
        let mut reserved = self.unused_reservation()?;
        w.abort();
        end(&mut reserved);
        Ok(())
    }

    /// Ends the current file and continues in the next (dropping a
    /// pending reservation).
    fn roll(&self, py: Python<'_>) -> PyResult<()> {
        let mut g = side(&self.w, WRITER).py_err(py)?;
        let w = open(&mut g, WRITER)?;
        let mut reserved = self.unused_reservation()?;
        w.abort();
        end(&mut reserved);
        w.roll().py_err(py)
    }

    /// Forces what was written to storage (msync).
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let mut g = side(&self.w, WRITER).py_err(py)?;
        let w = open(&mut g, WRITER)?;
        py.detach(|| w.flush()).py_err(py)
    }

    /// Closes the log cleanly (readers see it closed, not dead). Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let mut g = side(&self.w, WRITER).py_err(py)?;
        end(&mut *self.unused_reservation()?);
        match g.take() {
            Some(w) => w.close().py_err(py),
            None => Ok(()),
        }
    }

    /// Largest payload in bytes.
    #[getter]
    fn mtu(&self, py: Python<'_>) -> PyResult<usize> {
        let mut g = side(&self.w, WRITER).py_err(py)?;
        Ok(open(&mut g, WRITER)?.mtu())
    }

    /// Index the next record will get.
    #[getter]
    fn next_index(&self, py: Python<'_>) -> PyResult<u64> {
        let mut g = side(&self.w, WRITER).py_err(py)?;
        Ok(open(&mut g, WRITER)?.next_index())
    }

    /// Where the next record goes: (file, offset).
    #[getter]
    fn position(&self, py: Python<'_>) -> PyResult<(u64, u64)> {
        let mut g = side(&self.w, WRITER).py_err(py)?;
        Ok(position_tuple(open(&mut g, WRITER)?.position()))
    }

    /// True once the writer was closed.
    #[getter]
    fn closed(&self) -> bool {
        peek(&self.w, |_| ()).is_err_and(|state| state == "closed")
    }

    /// A `with` block closes the log when it ends.
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Leaving a `with` block closes the log (see `close`).
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
        let path = self.path.to_string_lossy();
        let r = Repr::new("LogWriter").field("path", format_args!("'{path}'"));
        match peek(&self.w, |w| (w.next_index(), w.mtu())) {
            Ok((next, mtu)) => r.field("next_index", next).field("mtu", mtu).state("open"),
            Err(state) => r.state(state),
        }
        .done()
    }
}

fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A reader of a log: `LogReader(path, start="start", *, index=None,
/// position=None, wait=0.0)`. `start` is "start" (replay from the oldest
/// record) or "live" (only what is appended from now on); `index=` or
/// `position=(file, offset)` start elsewhere. `wait` is how long to wait
/// for a log that does not exist yet (None: no limit; 0: do not wait), so a
/// reader may start before the writer; FileNotFoundError when none
/// appeared (a log that appears during the wait is read from its first
/// record, also "live"). Iterating yields the records committed so far;
/// `follow()` keeps waiting for more.
#[pyclass(module = "ringmpsc._ringmpsc", name = "LogReader")]
pub(crate) struct LogReader {
    r: Mutex<Option<Reader>>,
    mappings: Mutex<MappingCache>,
    path: PathBuf,
}

/// A record read in place, detached from the reader's borrow.
struct Raw {
    msg_type: u32,
    timestamp: u64,
    index: u64,
    position: LogPosition,
    ptr: *const u8,
    len: usize,
}

impl Raw {
    fn of(m: &Message<'_>) -> Raw {
        Raw {
            msg_type: m.msg_type,
            timestamp: m.timestamp,
            index: m.index,
            position: m.position,
            ptr: m.payload.as_ptr(),
            len: m.payload.len(),
        }
    }
}

impl LogReader {
    /// Wraps a record just read as a `LogMessage` with a payload view that
    /// keeps its file mapped.
    fn wrap(&self, py: Python<'_>, r: &Reader, m: Raw) -> PyResult<LogMessage> {
        let owner = self.mappings.lock().expect("never poisoned").get(py, r)?;
        // SAFETY: the record was just read from the file `r` maps now (a
        // read never rolls past the record it returns), and `owner` keeps
        // that mapping alive for as long as the view lives.
        let view = unsafe { View::new(owner, m.ptr, m.len, true) };
        let payload = PyMemoryView::from(Bound::new(py, view)?.as_any())?;
        Ok(LogMessage {
            msg_type: m.msg_type,
            timestamp: m.timestamp,
            index: m.index,
            position: position_tuple(m.position),
            payload: payload.unbind(),
        })
    }

    /// Waits (GIL released, signals handled) for a record; false on
    /// timeout. The end of the log is Closed or Disconnected, naming it.
    fn wait(&self, py: Python<'_>, r: &mut Reader, timeout: Option<Duration>) -> PyResult<bool> {
        let to_py = |py: Python<'_>, e| reader_error(py, &self.path, e);
        match blocking_as(py, timeout, |s| r.wait(slice_of(s)), to_py) {
            Ok(()) => Ok(true),
            Err(e) if is_timeout(py, &e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Up to `limit` records. `wait`: `None` takes only what is there (a
    /// poll, silent at the end of the log); `Some(timeout)` waits up to
    /// `timeout` for the first, [] when it passed first.
    fn batch<'py>(
        &self,
        py: Python<'py>,
        limit: usize,
        wait: Option<Option<Duration>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut g = side(&self.r, READER).py_err(py)?;
        let r = open(&mut g, READER)?;
        if let Some(timeout) = wait {
            if !self.wait(py, r, timeout)? {
                return Ok(PyList::empty(py));
            }
        }
        let raws: Vec<Raw> = r
            .try_read_batch(limit)
            .py_err(py)?
            .map(|m| Raw::of(&m))
            .collect();
        let list = PyList::empty(py);
        for m in raws {
            list.append(self.wrap(py, r, m)?)?;
        }
        Ok(list)
    }
}

/// Opens the log at `path` for reading from `from`, waiting up to `wait`
/// (None: no limit) for it to appear: in slices, with the GIL released and
/// signals handled between them. FileNotFoundError when none appeared.
fn open_reader(
    py: Python<'_>,
    path: &Path,
    from: From,
    wait: Option<Duration>,
) -> PyResult<Reader> {
    if wait.is_some_and(|w| w.is_zero()) {
        return py.detach(|| Reader::open(path, from)).py_err(py);
    }
    let mut from = from;
    let mut missing = None;
    let opened = blocking(py, wait, |s| {
        match Reader::open_wait(path, from, slice_of(s).unwrap_or_default()) {
            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                // Whatever appears from now on is newer than this reader.
                if from == From::Live {
                    from = From::Start;
                }
                missing = Some(e);
                Err(Error::TimedOut)
            }
            other => other,
        }
    });
    match (opened, missing) {
        (Err(e), Some(io)) if is_timeout(py, &e) => {
            let waited = wait.unwrap_or_default().as_secs_f64();
            let msg = format!("{io} (waited {waited} s for it to appear)");
            Err(to_py_saying(py, Error::Io(io), msg))
        }
        (other, _) => other,
    }
}

#[pymethods]
impl LogReader {
    /// A registration the writer's next commit or close wakes (for `ringmpsc.aio`).
    fn _arm_recv(&self, py: Python<'_>) -> PyResult<Armed> {
        let g = side(&self.r, READER).py_err(py)?;
        let mut g = g;
        Ok(open(&mut g, READER)?.arm().into())
    }

    #[new]
    #[pyo3(signature = (path, start = "start", *, index = None, position = None, wait = 0.0))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        start: &str,
        index: Option<u64>,
        position: Option<(u64, u64)>,
        wait: Option<f64>,
    ) -> PyResult<Self> {
        let from = match (start, index, position) {
            (_, Some(i), None) => From::Index(i),
            (_, None, Some((file, offset))) => From::Position(LogPosition { file, offset }),
            ("start", None, None) => From::Start,
            ("live", None, None) => From::Live,
            _ => {
                return Err(PyValueError::new_err(
                    "start is 'start' or 'live', or give one of index= / position=",
                ))
            }
        };
        let r = open_reader(py, &path, from, timeout_arg(wait)?)?;
        Ok(LogReader {
            r: Mutex::new(Some(r)),
            mappings: Mutex::new(MappingCache(None)),
            path,
        })
    }

    /// The next record, or None when nothing new is committed (also at the
    /// end of a closed log: `writer_status` tells). Never waits.
    fn try_read(&self, py: Python<'_>) -> PyResult<Option<LogMessage>> {
        let mut g = side(&self.r, READER).py_err(py)?;
        let r = open(&mut g, READER)?;
        let Some(m) = r.try_read().py_err(py)?.as_ref().map(Raw::of) else {
            return Ok(None);
        };
        self.wrap(py, r, m).map(Some)
    }

    /// The next record, waiting up to `timeout` seconds (None: no limit; 0:
    /// do not wait). Raises Timeout; Closed when the writer closed the log
    /// and all is read; Disconnected when the writer died and all is read.
    #[pyo3(signature = (timeout = None))]
    fn read(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<LogMessage> {
        let timeout = timeout_arg(timeout)?;
        let mut g = side(&self.r, READER).py_err(py)?;
        let r = open(&mut g, READER)?;
        if !self.wait(py, r, timeout)? {
            return Err(to_py(py, Error::TimedOut));
        }
        // Only a peer that zeroed a committed record finds none after the wait.
        let m = r.try_read().py_err(py)?.ok_or_else(|| {
            to_py(
                py,
                Error::Corrupt("a committed record was taken back".into()),
            )
        })?;
        let m = Raw::of(&m);
        self.wrap(py, r, m)
    }

    /// Up to `limit` committed records, waiting up to `timeout` seconds for
    /// the first (None: no limit; 0: do not wait). Raises Timeout when none
    /// came; Closed or Disconnected at the end of a log whose writer closed
    /// it or died.
    #[pyo3(signature = (limit = 1024, timeout = None))]
    fn read_batch<'py>(
        &self,
        py: Python<'py>,
        limit: usize,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let got = self.batch(py, limit, Some(batch_timeout(limit, timeout)?))?;
        batch_or_timeout(py, got, limit)
    }

    /// Up to `limit` committed records, without waiting: a list, [] when
    /// nothing new is committed (also at the end of a closed log).
    #[pyo3(signature = (limit = 1024))]
    fn try_read_batch<'py>(&self, py: Python<'py>, limit: usize) -> PyResult<Bound<'py, PyList>> {
        self.batch(py, limit, None)
    }

    /// An iterator of records that waits for new ones: it ends when
    /// `timeout` seconds pass without a record (None: never) or when the
    /// writer closes the log, and raises Disconnected if the writer dies.
    /// (An iterator ends rather than raising Timeout, so a `for` loop
    /// needs no `try`.)
    #[pyo3(signature = (timeout = None))]
    fn follow(slf: Py<Self>, timeout: Option<f64>) -> PyResult<LogFollow> {
        timeout_arg(timeout)?;
        Ok(LogFollow {
            reader: slf,
            timeout,
        })
    }

    /// Index of the next record to read.
    #[getter]
    fn next_index(&self, py: Python<'_>) -> PyResult<u64> {
        let mut g = side(&self.r, READER).py_err(py)?;
        Ok(open(&mut g, READER)?.next_index())
    }

    /// Where the next read starts: (file, offset).
    #[getter]
    fn position(&self, py: Python<'_>) -> PyResult<(u64, u64)> {
        let mut g = side(&self.r, READER).py_err(py)?;
        Ok(position_tuple(open(&mut g, READER)?.position()))
    }

    /// Moves to a record boundary `(file, offset)` (a record's `position`).
    fn seek(&self, py: Python<'_>, position: (u64, u64)) -> PyResult<()> {
        let mut g = side(&self.r, READER).py_err(py)?;
        let (file, offset) = position;
        open(&mut g, READER)?
            .seek(LogPosition { file, offset })
            .py_err(py)
    }

    /// "active", "closed" (cleanly) or "dead" (the writer died).
    #[getter]
    fn writer_status(&self, py: Python<'_>) -> PyResult<&'static str> {
        let mut g = side(&self.r, READER).py_err(py)?;
        Ok(match open(&mut g, READER)?.writer_status() {
            WriterStatus::Active => "active",
            WriterStatus::Closed => "closed",
            WriterStatus::Dead => "dead",
        })
    }

    /// Releases the reader (payload views already handed out stay valid).
    /// Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        side(&self.r, READER).py_err(py)?.take();
        Ok(())
    }

    /// True once the reader was closed.
    #[getter]
    fn closed(&self) -> bool {
        peek(&self.r, |_| ()).is_err_and(|state| state == "closed")
    }

    /// Iterating yields the records committed so far, then stops.
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next committed record; stops when caught up.
    fn __next__(&self, py: Python<'_>) -> PyResult<LogMessage> {
        self.try_read(py)?
            .ok_or_else(|| PyStopIteration::new_err(()))
    }

    /// A `with` block closes the reader when it ends.
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Leaving a `with` block closes the reader.
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
        let path = self.path.to_string_lossy();
        let r = Repr::new("LogReader").field("path", format_args!("'{path}'"));
        match peek(&self.r, |r| r.next_index()) {
            Ok(next) => r.field("next_index", next).state("open"),
            Err(state) => r.state(state),
        }
        .done()
    }
}

/// The iterator `LogReader.follow()` returns: it waits for records and
/// ends at its timeout or when the log is closed and read to the end.
#[pyclass(module = "ringmpsc._ringmpsc", name = "LogFollow")]
pub(crate) struct LogFollow {
    reader: Py<LogReader>,
    timeout: Option<f64>,
}

#[pymethods]
impl LogFollow {
    /// The iterator itself.
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __repr__(&self) -> String {
        let r = Repr::new("LogFollow");
        match self.timeout {
            Some(t) => r.field("timeout", t),
            None => r.field("timeout", "None"),
        }
        .done()
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<LogMessage> {
        let reader = self.reader.borrow(py);
        match reader.read(py, self.timeout) {
            Err(e)
                if is_timeout(py, &e)
                    || e.is_instance(
                        py,
                        py.import("ringmpsc.errors")?.getattr("Closed")?.as_any(),
                    ) =>
            {
                Err(PyStopIteration::new_err(()))
            }
            other => other,
        }
    }
}

/// A record of a log: `msg_type`, `timestamp`, `index`, `position`
/// `(file, offset)`, and `payload`, a read-only memoryview of the record in
/// place (it keeps its file mapped for as long as it lives).
#[pyclass(module = "ringmpsc._ringmpsc", name = "LogMessage", frozen)]
pub(crate) struct LogMessage {
    /// The writer's message type.
    #[pyo3(get)]
    msg_type: u32,
    /// The writer's timestamp (CLOCK_REALTIME nanoseconds by default).
    #[pyo3(get)]
    timestamp: u64,
    /// Index of the record in the log (0 for the first record ever written).
    #[pyo3(get)]
    index: u64,
    /// Where the record is: (file, offset).
    #[pyo3(get)]
    position: (u64, u64),
    /// The payload: a read-only memoryview of the record in place.
    #[pyo3(get)]
    payload: Py<PyMemoryView>,
}

#[pymethods]
impl LogMessage {
    /// The payload copied into bytes.
    fn tobytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.payload
            .bind(py)
            .call_method0("tobytes")?
            .cast_into::<PyBytes>()
            .map_err(Into::into)
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.payload.bind(py).len()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        Repr::new("LogMessage")
            .field("index", self.index)
            .field("msg_type", self.msg_type)
            .field("len", self.payload.bind(py).len().unwrap_or(0))
            .field("timestamp", self.timestamp)
            .field("position", format_args!("{:?}", self.position))
            .done()
    }
}
