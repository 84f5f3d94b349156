//! `rmpsc_log_reader_*`: readers of a persistent mmap log, in any process.

use crate::args::{free_handle, handle, name, null_argument, read_in, slice_mut, timeout, Out};
use crate::call;
use crate::side::Side;
use ringcore::log::{From as Start, LogPosition, Message, Reader, WriterStatus};
use ringcore::Error;
use std::ffi::{c_char, c_int, c_void};

/// rmpsc_log_reader_writer_status gives a writer holds the log.
pub const RMPSC_LOG_WRITER_ACTIVE: c_int = 1;
/// rmpsc_log_reader_writer_status gives the last writer closed the log cleanly.
pub const RMPSC_LOG_WRITER_CLOSED: c_int = 2;
/// rmpsc_log_reader_writer_status gives the last writer died without closing it.
pub const RMPSC_LOG_WRITER_DEAD: c_int = 3;

/// A place in a log: file sequence number and byte offset.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct rmpsc_log_position_t {
    /// 0 for the file `path`, n for `path.n`.
    pub file: u64,
    /// Byte offset of a record in that file.
    pub offset: u64,
}

impl From<LogPosition> for rmpsc_log_position_t {
    fn from(p: LogPosition) -> Self {
        rmpsc_log_position_t {
            file: p.file,
            offset: p.offset,
        }
    }
}

impl From<rmpsc_log_position_t> for LogPosition {
    fn from(p: rmpsc_log_position_t) -> Self {
        LogPosition {
            file: p.file,
            offset: p.offset,
        }
    }
}

/// A record read in place. `data` points into the log's mapping and stays
/// valid until the next call on the same reader.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct rmpsc_log_message_t {
    /// The writer's message type.
    pub msg_type: u32,
    /// The writer's timestamp or user field.
    pub timestamp: u64,
    /// Index of the record in the log (0 for the first record ever).
    pub index: u64,
    /// Where the record is.
    pub position: rmpsc_log_position_t,
    /// The payload.
    pub data: *const c_void,
    /// Payload bytes.
    pub len: usize,
}

/// A reader of a log (opaque). One thread at a time.
pub struct rmpsc_log_reader_t {
    r: Side<Reader>,
}

fn reader<'a>(r: *const rmpsc_log_reader_t) -> Result<&'a Side<Reader>, Error> {
    Ok(&handle(r, "reader")?.r)
}

fn message(m: &Message<'_>) -> rmpsc_log_message_t {
    rmpsc_log_message_t {
        msg_type: m.msg_type,
        timestamp: m.timestamp,
        index: m.index,
        position: m.position.into(),
        data: m.payload.as_ptr().cast(),
        len: m.payload.len(),
    }
}

fn open_reader(path: *const c_char, from: Start, out: *mut *mut rmpsc_log_reader_t) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let r = Reader::open(name(path)?, from)?;
        out.put(rmpsc_log_reader_t {
            r: Side::new("log reader", r),
        });
        Ok(())
    })
}

/// Opens a reader of the log at `path`: from its oldest record when
/// `live` is false (replay), or from the end of what is committed now.
/// Errors: RMPSC_EIO (no such log), RMPSC_EHEADER, RMPSC_ECORRUPT. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_open(
    path: *const c_char,
    live: bool,
    out: *mut *mut rmpsc_log_reader_t,
) -> c_int {
    open_reader(path, if live { Start::Live } else { Start::Start }, out)
}

/// Opens a reader at record `index`. Errors as rmpsc_log_reader_open, and
/// RMPSC_EBEHIND (deleted by retention), RMPSC_EINVAL (not written yet).
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_open_at_index(
    path: *const c_char,
    index: u64,
    out: *mut *mut rmpsc_log_reader_t,
) -> c_int {
    open_reader(path, Start::Index(index), out)
}

/// Opens a reader at a position from rmpsc_log_reader_position or a
/// message. Errors as rmpsc_log_reader_open_at_index (RMPSC_EINVAL: not a
/// record boundary).
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_open_at(
    path: *const c_char,
    pos: *const rmpsc_log_position_t,
    out: *mut *mut rmpsc_log_reader_t,
) -> c_int {
    match read_in(pos) {
        Some(p) => open_reader(path, Start::Position(p.into()), out),
        None => call(|| Err(null_argument("pos"))),
    }
}

/// Frees the reader. NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_free(r: *mut rmpsc_log_reader_t) {
    free_handle(r)
}

/// Reads the next committed record in place into `*out_msg` (its `data`
/// stays valid until the next call on this reader). Errors: RMPSC_EEMPTY
/// (nothing new), RMPSC_ECORRUPT (with the file and offset in
/// rmpsc_error_message()), RMPSC_EBEHIND. Reader thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_read(
    r: *mut rmpsc_log_reader_t,
    out_msg: *mut rmpsc_log_message_t,
) -> c_int {
    call(|| {
        let out_msg = Out::new(out_msg, "out_msg")?;
        let m = reader(r)?.enter(|r| r.try_read()?.map(|m| message(&m)).ok_or(Error::Empty))?;
        out_msg.set(m);
        Ok(())
    })
}

/// rmpsc_log_reader_read, waiting up to `timeout_ns` for a record; the wait sleeps on a futex the writer wakes only when a
/// reader sleeps. Errors: RMPSC_ETIMEDOUT, RMPSC_ECLOSED (the writer closed
/// the log and everything is read), RMPSC_EDISCONNECTED (the writer died).
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_read_blocking(
    r: *mut rmpsc_log_reader_t,
    timeout_ns: i64,
    out_msg: *mut rmpsc_log_message_t,
) -> c_int {
    call(|| {
        let out_msg = Out::new(out_msg, "out_msg")?;
        let m = reader(r)?.enter(|r| r.read(timeout(timeout_ns)).map(|m| message(&m)))?;
        out_msg.set(m);
        Ok(())
    })
}

/// Reads up to `max` committed records in place into `msgs[0..*out_count)`
/// (a batch ends at a file roll; `*out_count` may be 0). The `data`
/// pointers stay valid until the next call on this reader. The reader
/// moves past the batch when it is taken: a batch whose records another
/// process changed meanwhile ends short, and the next call returns
/// RMPSC_ECORRUPT naming where and how many were not handed out, then
/// reads on after them. Reader thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_read_batch(
    r: *mut rmpsc_log_reader_t,
    msgs: *mut rmpsc_log_message_t,
    max: usize,
    out_count: *mut usize,
) -> c_int {
    call(|| {
        let out_count = Out::new(out_count, "out_count")?;
        let msgs = slice_mut(msgs, max, "msgs")?;
        let n = reader(r)?.enter(|r| {
            let batch = r.try_read_batch(max)?;
            let mut n = 0;
            for (slot, m) in msgs.iter_mut().zip(batch) {
                *slot = message(&m);
                n += 1;
            }
            Ok(n)
        })?;
        out_count.set(n);
        Ok(())
    })
}

/// Where the next read starts, to `*out_pos`. Reader thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_position(
    r: *const rmpsc_log_reader_t,
    out_pos: *mut rmpsc_log_position_t,
) -> c_int {
    call(|| {
        let out_pos = Out::new(out_pos, "out_pos")?;
        out_pos.set(reader(r)?.enter(|r| Ok(r.position()))?.into());
        Ok(())
    })
}

/// Index of the next record to read, to `*out_index`. Reader thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_next_index(
    r: *const rmpsc_log_reader_t,
    out_index: *mut u64,
) -> c_int {
    call(|| {
        let out_index = Out::new(out_index, "out_index")?;
        out_index.set(reader(r)?.enter(|r| Ok(r.next_index()))?);
        Ok(())
    })
}

/// Moves to a record boundary (checked: RMPSC_EINVAL otherwise). Reader thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_seek(
    r: *mut rmpsc_log_reader_t,
    pos: *const rmpsc_log_position_t,
) -> c_int {
    call(|| {
        let pos = read_in(pos).ok_or_else(|| null_argument("pos"))?.into();
        reader(r)?.enter(|r| r.seek(pos))
    })
}

/// The state of the log's writer, one of RMPSC_LOG_WRITER_ACTIVE, _CLOSED,
/// _DEAD, to `*out_status`. Reader thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_writer_status(
    r: *const rmpsc_log_reader_t,
    out_status: *mut c_int,
) -> c_int {
    call(|| {
        let out_status = Out::new(out_status, "out_status")?;
        out_status.set(match reader(r)?.enter(|r| Ok(r.writer_status()))? {
            WriterStatus::Active => RMPSC_LOG_WRITER_ACTIVE,
            WriterStatus::Closed => RMPSC_LOG_WRITER_CLOSED,
            WriterStatus::Dead => RMPSC_LOG_WRITER_DEAD,
        });
        Ok(())
    })
}
