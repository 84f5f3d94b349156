//! `rmpsc_log_writer_*`: the single writer of a persistent mmap log.

use crate::args::{free_handle, handle, name, read_in, slice, OptOut, Out};
use crate::call;
use crate::call_infallible;
use crate::log_reader::rmpsc_log_position_t;
use crate::side::Side;
use ringcore::log::{Durability, Writer, WriterBuilder};
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

/// The single writer of a log (opaque). One thread at a time.
pub struct rmpsc_log_writer_t {
    w: Side<Writer>,
}

fn writer<'a>(w: *const rmpsc_log_writer_t) -> Result<&'a Side<Writer>, Error> {
    Ok(&handle(w, "writer")?.w)
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
        let out = Out::new(out, "out")?;
        let mut b = WriterBuilder::new(name(path)?);
        if let Some(o) = read_in(options) {
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
        out.put(rmpsc_log_writer_t {
            w: Side::new("log writer", b.build()?),
        });
        Ok(())
    })
}

/// Closes the log cleanly (readers see "closed", not "dead") and frees the
/// writer. NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_log_writer_free(w: *mut rmpsc_log_writer_t) {
    free_handle(w)
}

/// Reserves room for a `len`-byte payload and points `*out_buf` at it, to
/// write in place; publish with rmpsc_log_writer_commit or drop with
/// rmpsc_log_writer_abort. A reservation not committed is given up by the
/// next one, whatever its outcome. Errors: RMPSC_ETOOLARGE (above the MTU;
/// nothing moves), RMPSC_EIO (a file roll failed). Writer thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_writer_reserve(
    w: *mut rmpsc_log_writer_t,
    len: usize,
    out_buf: *mut *mut c_void,
) -> c_int {
    call(|| {
        let out_buf = Out::new(out_buf, "out_buf")?;
        let p = writer(w)?.enter(|w| Ok(w.try_reserve(len)?.as_mut_ptr()))?;
        out_buf.set(p.cast());
        Ok(())
    })
}

/// Runs a commit or an append; once its record is published, its index
/// goes to `*out_index` (unless NULL), also when the flush the durability
/// setting asks for then fails.
fn publishing(
    w: *mut rmpsc_log_writer_t,
    out_index: *mut u64,
    f: impl FnOnce(&mut Writer) -> Result<u64, Error>,
) -> Result<(), Error> {
    writer(w)?.enter(|w| {
        let index = w.next_index();
        let result = f(w);
        if w.next_index() != index {
            OptOut::new(out_index).set(index);
        }
        result.map(|_| ())
    })
}

/// Publishes the first `len` bytes of the reservation as a record of type
/// `msg_type` with `timestamp` (any 64-bit value); its index goes to
/// `*out_index` unless NULL. Errors: RMPSC_EINVAL (no reservation, `len`
/// above it; nothing changes), RMPSC_EIO (the flush the durability setting
/// asks for failed after the record was published: its index is in
/// `*out_index`, it may not be on storage yet, rmpsc_log_writer_flush tries
/// again). Writer thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_writer_commit(
    w: *mut rmpsc_log_writer_t,
    msg_type: u32,
    len: usize,
    timestamp: u64,
    out_index: *mut u64,
) -> c_int {
    call(|| publishing(w, out_index, |w| w.commit(msg_type, len, timestamp)))
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
/// its index goes to `*out_index` unless NULL. Errors: RMPSC_ETOOLARGE,
/// RMPSC_EIO (a file could not be readied: nothing published; or, as for
/// rmpsc_log_writer_commit, the flush failed after publishing, and the
/// index is in `*out_index`: rmpsc_log_writer_next_index tells which).
/// Writer thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_writer_append(
    w: *mut rmpsc_log_writer_t,
    msg_type: u32,
    data: *const c_void,
    len: usize,
    timestamp: u64,
    out_index: *mut u64,
) -> c_int {
    call(|| {
        let bytes = slice(data.cast::<u8>(), len, "data")?;
        publishing(w, out_index, |w| w.append_at(msg_type, bytes, timestamp))
    })
}

/// Ends the current file and continues in the next, giving up a
/// reservation not committed. Writer thread.
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
pub extern "C" fn rmpsc_log_writer_mtu(w: *const rmpsc_log_writer_t) -> usize {
    call_infallible(0, || {
        writer(w)
            .and_then(|s| s.enter(|w| Ok(w.mtu())))
            .unwrap_or(0)
    })
}

/// Index the next record will get, to `*out_index`. Writer thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_writer_next_index(
    w: *const rmpsc_log_writer_t,
    out_index: *mut u64,
) -> c_int {
    call(|| {
        let out_index = Out::new(out_index, "out_index")?;
        out_index.set(writer(w)?.enter(|w| Ok(w.next_index()))?);
        Ok(())
    })
}

/// Where the next record goes, to `*out_pos`. Writer thread.
#[no_mangle]
pub extern "C" fn rmpsc_log_writer_position(
    w: *const rmpsc_log_writer_t,
    out_pos: *mut rmpsc_log_position_t,
) -> c_int {
    call(|| {
        let out_pos = Out::new(out_pos, "out_pos")?;
        out_pos.set(writer(w)?.enter(|w| Ok(w.position()))?.into());
        Ok(())
    })
}
