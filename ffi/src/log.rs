//! `rmpsc_log_*`: the persistent mmap log (one writer, any number of readers).

use crate::ring::{timeout_opt, Side};
use crate::shared::{name, put};
use crate::{call, call_infallible, non_null, out, out_opt};
use ringcore::log::{
    Durability, From, LogPosition, Message, Reader, Writer, WriterBuilder, WriterStatus,
};
use ringcore::Error;
use std::ffi::{c_char, c_int, c_void};
use std::time::Duration;

/// Leave flushing to the kernel (a committed record survives a crash of
/// the process, not of the machine).
pub const RMPSC_LOG_DURABLE_NONE: c_int = 0;
/// msync after every `durability_arg` records.
pub const RMPSC_LOG_DURABLE_RECORDS: c_int = 1;
/// msync at the first commit `durability_arg` nanoseconds after the last.
pub const RMPSC_LOG_DURABLE_INTERVAL: c_int = 2;
/// msync after every record (slow).
pub const RMPSC_LOG_DURABLE_COMMIT: c_int = 3;

/// rmpsc_log_reader_writer_status: a writer holds the log.
pub const RMPSC_LOG_WRITER_ACTIVE: c_int = 1;
/// rmpsc_log_reader_writer_status: the last writer closed the log cleanly.
pub const RMPSC_LOG_WRITER_CLOSED: c_int = 2;
/// rmpsc_log_reader_writer_status: the last writer died without closing it.
pub const RMPSC_LOG_WRITER_DEAD: c_int = 3;

/// Options of a log writer; zero-initialise it (`= {0}`) for the defaults.
/// For an existing log, sizes left 0 are taken from the log and sizes set
/// must match it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct rmpsc_log_options_t {
    /// Bytes per region, a multiple of the page size (0: 1 MiB).
    pub region_size: u64,
    /// Bytes per file, a multiple of the region size (0: 64 MiB).
    pub file_size: u64,
    /// Largest payload in bytes (0: the most a region can hold).
    pub mtu: u32,
    /// One of RMPSC_LOG_DURABLE_*.
    pub durability: c_int,
    /// Records (RMPSC_LOG_DURABLE_RECORDS) or nanoseconds (_INTERVAL).
    pub durability_arg: u64,
    /// Keep only the newest this many files (0: keep all).
    pub retention_files: u64,
    /// Start a thread that faults in the pages ahead of the writer, so
    /// appends do not stop for page faults.
    pub prefault: bool,
    /// With `prefault`: 0 leaves the thread on the CPU mask of the thread
    /// that opens the writer; n pins it to CPU n - 1.
    pub prefault_cpu: u32,
    /// A new log without record checksums (8 bytes a record less, no
    /// CRC32C check). false: a new log has them; an existing log keeps its
    /// choice either way unless this asks for the other (RMPSC_EINVAL).
    pub no_checksums: bool,
}

/// A place in a log: file sequence number and byte offset.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct rmpsc_log_position_t {
    /// 0 for the file `path`, n for `path.n`.
    pub file: u64,
    /// Byte offset of a record in that file.
    pub offset: u64,
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

/// The single writer of a log (opaque). One thread at a time.
pub struct rmpsc_log_writer_t {
    w: Side<Writer>,
}

/// A reader of a log (opaque). One thread at a time.
pub struct rmpsc_log_reader_t {
    r: Side<Reader>,
}

fn writer<'a>(w: *mut rmpsc_log_writer_t) -> Result<&'a Side<Writer>, Error> {
    non_null(w, "writer")?;
    // SAFETY: non-NULL and live by contract; the Side serialises access.
    Ok(unsafe { &(*w).w })
}

fn reader<'a>(r: *mut rmpsc_log_reader_t) -> Result<&'a Side<Reader>, Error> {
    non_null(r, "reader")?;
    // SAFETY: as for `writer`.
    Ok(unsafe { &(*r).r })
}

fn position(p: LogPosition) -> rmpsc_log_position_t {
    rmpsc_log_position_t {
        file: p.file,
        offset: p.offset,
    }
}

fn message(m: &Message<'_>) -> rmpsc_log_message_t {
    rmpsc_log_message_t {
        msg_type: m.msg_type,
        timestamp: m.timestamp,
        index: m.index,
        position: position(m.position),
        data: m.payload.as_ptr().cast(),
        len: m.payload.len(),
    }
}

/// Opens (creating if needed) the log at `path` for writing; `options` may
/// be NULL for the defaults. Reopening a log after a crash resumes after
/// its last committed record. Errors: RMPSC_EBUSY (another writer holds
/// the log), RMPSC_EINVAL (sizes), RMPSC_EHEADER, RMPSC_ECORRUPT, RMPSC_EIO.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_log_writer_open(
    path: *const c_char,
    options: *const rmpsc_log_options_t,
    out: *mut *mut rmpsc_log_writer_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let mut b = WriterBuilder::new(name(path)?);
        if !options.is_null() {
            // SAFETY: non-NULL and readable by contract.
            let o = unsafe { *options };
            if o.region_size != 0 {
                b = b.region_size(o.region_size);
            }
            if o.file_size != 0 {
                b = b.file_roll_size(o.file_size);
            }
            if o.mtu != 0 {
                b = b.mtu(o.mtu);
            }
            if o.retention_files != 0 {
                b = b.retention(o.retention_files);
            }
            if o.no_checksums {
                b = b.checksums(false);
            }
            b = match (o.prefault, o.prefault_cpu) {
                (false, _) => b,
                (true, 0) => b.prefault(true),
                (true, cpu) => b.prefault_cpu(cpu as usize - 1),
            };
            b = b.durability(match o.durability {
                RMPSC_LOG_DURABLE_NONE => Durability::None,
                RMPSC_LOG_DURABLE_RECORDS => Durability::EveryRecords(o.durability_arg.max(1)),
                RMPSC_LOG_DURABLE_INTERVAL => {
                    Durability::EveryInterval(Duration::from_nanos(o.durability_arg))
                }
                RMPSC_LOG_DURABLE_COMMIT => Durability::EveryCommit,
                d => return Err(Error::InvalidArgument(format!("unknown durability {d}"))),
            });
        }
        let w = b.build()?;
        put(
            out,
            rmpsc_log_writer_t {
                w: Side::new("log writer", w),
            },
        );
        Ok(())
    })
}

/// Closes the log cleanly (readers see "closed", not "dead") and frees the
/// writer. NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_log_writer_free(w: *mut rmpsc_log_writer_t) {
    crate::free_handle(w)
}

/// Reserves room for a `len`-byte payload and points `*buf` at it, to write
/// in place; publish with rmpsc_log_writer_commit or drop with
/// rmpsc_log_writer_abort. Errors: RMPSC_ETOOLARGE (above the MTU; nothing
/// moves), RMPSC_EIO (a file roll failed). Writer thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_writer_reserve(
    w: *mut rmpsc_log_writer_t,
    len: usize,
    buf: *mut *mut c_void,
) -> c_int {
    call(|| {
        non_null(buf, "buf")?;
        let p = writer(w)?.enter(|w| Ok(w.try_reserve(len)?.as_mut_ptr()))?;
        out(buf, p.cast())
    })
}

/// Publishes the first `len` bytes of the reservation as a record of type
/// `msg_type` with `timestamp` (any 64-bit value); its index goes to
/// `*index` unless NULL. Errors: RMPSC_EINVAL (no reservation, `len` above
/// it). Writer thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_writer_commit(
    w: *mut rmpsc_log_writer_t,
    msg_type: u32,
    len: usize,
    timestamp: u64,
    index: *mut u64,
) -> c_int {
    call(|| {
        let i = writer(w)?.enter(|w| w.commit(msg_type, len, timestamp))?;
        out_opt(index, i);
        Ok(())
    })
}

/// Drops the reservation; nothing is published. Writer thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_writer_abort(w: *mut rmpsc_log_writer_t) -> c_int {
    call(|| {
        writer(w)?.enter(|w| {
            w.abort();
            Ok(())
        })
    })
}

/// Appends one record (a copy of `len` bytes at `data`) with `timestamp`;
/// its index goes to `*index` unless NULL. Errors: RMPSC_ETOOLARGE,
/// RMPSC_EIO. Writer thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_writer_append(
    w: *mut rmpsc_log_writer_t,
    msg_type: u32,
    data: *const c_void,
    len: usize,
    timestamp: u64,
    index: *mut u64,
) -> c_int {
    call(|| {
        let bytes = crate::bytes_arg(data, len)?;
        let i = writer(w)?.enter(|w| w.append_at(msg_type, bytes, timestamp))?;
        out_opt(index, i);
        Ok(())
    })
}

/// Ends the current file and continues in the next. Writer thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_writer_roll(w: *mut rmpsc_log_writer_t) -> c_int {
    call(|| writer(w)?.enter(|w| w.roll()))
}

/// Forces what was written since the last flush to storage (msync). Writer thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_writer_flush(w: *mut rmpsc_log_writer_t) -> c_int {
    call(|| writer(w)?.enter(|w| w.flush()))
}

/// Largest payload in bytes (0 for NULL). Writer thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_writer_mtu(w: *mut rmpsc_log_writer_t) -> usize {
    call_infallible(0, || {
        writer(w)
            .and_then(|s| s.enter(|w| Ok(w.mtu())))
            .unwrap_or(0)
    })
}

/// Index the next record will get, to `*index`. Writer thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_writer_next_index(
    w: *mut rmpsc_log_writer_t,
    index: *mut u64,
) -> c_int {
    call(|| out(index, writer(w)?.enter(|w| Ok(w.next_index()))?))
}

/// Where the next record goes, to `*pos`. Writer thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_writer_position(
    w: *mut rmpsc_log_writer_t,
    pos: *mut rmpsc_log_position_t,
) -> c_int {
    call(|| out(pos, position(writer(w)?.enter(|w| Ok(w.position()))?)))
}

fn open_reader(path: *const c_char, from: From, out: *mut *mut rmpsc_log_reader_t) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let r = Reader::open(name(path)?, from)?;
        put(
            out,
            rmpsc_log_reader_t {
                r: Side::new("log reader", r),
            },
        );
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
    open_reader(path, if live { From::Live } else { From::Start }, out)
}

/// Opens a reader at record `index`. Errors as rmpsc_log_reader_open, and
/// RMPSC_EBEHIND (deleted by retention), RMPSC_EINVAL (not written yet).
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_open_at_index(
    path: *const c_char,
    index: u64,
    out: *mut *mut rmpsc_log_reader_t,
) -> c_int {
    open_reader(path, From::Index(index), out)
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
    if pos.is_null() {
        return call(|| non_null(pos, "pos"));
    }
    // SAFETY: non-NULL and readable by contract.
    let p = unsafe { *pos };
    open_reader(
        path,
        From::Position(LogPosition {
            file: p.file,
            offset: p.offset,
        }),
        out,
    )
}

/// Frees the reader. NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_free(r: *mut rmpsc_log_reader_t) {
    crate::free_handle(r)
}

/// Reads the next committed record in place into `*msg` (its `data` stays
/// valid until the next call on this reader). Errors: RMPSC_EEMPTY (nothing
/// new), RMPSC_ECORRUPT (with the file and offset in rmpsc_last_error()),
/// RMPSC_EBEHIND. Reader thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_read(
    r: *mut rmpsc_log_reader_t,
    msg: *mut rmpsc_log_message_t,
) -> c_int {
    call(|| {
        non_null(msg, "msg")?;
        let m = reader(r)?.enter(|r| r.try_read()?.map(|m| message(&m)).ok_or(Error::Empty))?;
        out(msg, m)
    })
}

/// rmpsc_log_reader_read, waiting up to `timeout_ns` (negative: no limit)
/// for a record; the wait sleeps on a futex the writer wakes only when a
/// reader sleeps. Errors: RMPSC_ETIMEDOUT, RMPSC_ECLOSED (the writer closed
/// the log and everything is read), RMPSC_EDISCONNECTED (the writer died).
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_read_blocking(
    r: *mut rmpsc_log_reader_t,
    timeout_ns: i64,
    msg: *mut rmpsc_log_message_t,
) -> c_int {
    call(|| {
        non_null(msg, "msg")?;
        let m = reader(r)?.enter(|r| r.read(timeout_opt(timeout_ns)).map(|m| message(&m)))?;
        out(msg, m)
    })
}

/// Reads up to `max` committed records in place into `msgs[0..*count)`
/// (a batch ends at a file roll; `*count` may be 0). The `data` pointers
/// stay valid until the next call on this reader. Reader thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_read_batch(
    r: *mut rmpsc_log_reader_t,
    msgs: *mut rmpsc_log_message_t,
    max: usize,
    count: *mut usize,
) -> c_int {
    call(|| {
        non_null(count, "count")?;
        if max > 0 {
            non_null(msgs, "msgs")?;
        }
        let n = reader(r)?.enter(|r| {
            let mut n = 0;
            for m in r.try_read_batch(max)? {
                // SAFETY: msgs has room for `max` entries by contract and
                // a batch holds at most `max`.
                unsafe { msgs.add(n).write(message(&m)) };
                n += 1;
            }
            Ok(n)
        })?;
        out(count, n)
    })
}

/// Where the next read starts, to `*pos`. Reader thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_position(
    r: *mut rmpsc_log_reader_t,
    pos: *mut rmpsc_log_position_t,
) -> c_int {
    call(|| out(pos, position(reader(r)?.enter(|r| Ok(r.position()))?)))
}

/// Index of the next record to read, to `*index`. Reader thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_next_index(
    r: *mut rmpsc_log_reader_t,
    index: *mut u64,
) -> c_int {
    call(|| out(index, reader(r)?.enter(|r| Ok(r.next_index()))?))
}

/// Moves to a record boundary (checked: RMPSC_EINVAL otherwise). Reader thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_seek(
    r: *mut rmpsc_log_reader_t,
    pos: *const rmpsc_log_position_t,
) -> c_int {
    call(|| {
        non_null(pos, "pos")?;
        // SAFETY: non-NULL and readable by contract.
        let p = unsafe { *pos };
        reader(r)?.enter(|r| {
            r.seek(LogPosition {
                file: p.file,
                offset: p.offset,
            })
        })
    })
}

/// One of RMPSC_LOG_WRITER_ACTIVE, _CLOSED, _DEAD, or a negative RMPSC_E*
/// code. Reader thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_reader_writer_status(r: *mut rmpsc_log_reader_t) -> c_int {
    let mut status = 0;
    let rc = call(|| {
        status = match reader(r)?.enter(|r| Ok(r.writer_status()))? {
            WriterStatus::Active => RMPSC_LOG_WRITER_ACTIVE,
            WriterStatus::Closed => RMPSC_LOG_WRITER_CLOSED,
            WriterStatus::Dead => RMPSC_LOG_WRITER_DEAD,
        };
        Ok(())
    });
    if rc < 0 {
        rc
    } else {
        status
    }
}
