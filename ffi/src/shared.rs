//! `rmpsc_shared_*`: fixed-slot rings in shared memory, and the helpers
//! shared by every segment kind (names, descriptors, timeouts).

use crate::ring::rmpsc_ring_t;
use crate::{call, call_infallible, non_null};
use ringcore::shm::{self, Permissions, SharedRing};
use ringcore::Error;
use std::ffi::{c_char, c_int, CStr};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

/// The segment magic, "RMPSCSEG" read as a native-endian 64-bit integer.
pub const RMPSC_SEG_MAGIC: u64 = 0x4745_5343_5350_4d52;
/// The segment format version this library writes and reads.
pub const RMPSC_SEG_VERSION: u32 = 3;
/// Size of the segment header; the data area starts at this offset.
pub const RMPSC_SEG_HEADER_SIZE: usize = 512;

/// A segment name argument: NULL means "anonymous memfd" where allowed.
pub(crate) fn opt_name<'a>(name: *const c_char) -> Result<Option<&'a str>, Error> {
    if name.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and, by the C contract, a NUL-terminated string that
    // outlives the call.
    let s = unsafe { CStr::from_ptr(name) };
    s.to_str()
        .map(Some)
        .map_err(|_| Error::InvalidArgument("name is not UTF-8".into()))
}

pub(crate) fn name<'a>(name: *const c_char) -> Result<&'a str, Error> {
    opt_name(name)?.ok_or_else(|| Error::InvalidArgument("name is NULL".into()))
}

/// A timeout argument: negative waits without limit (capped at a day for attach).
pub(crate) fn timeout(ns: i64) -> Duration {
    if ns < 0 {
        Duration::from_secs(86_400)
    } else {
        Duration::from_nanos(ns as u64)
    }
}

/// Duplicates a caller's descriptor, so the caller keeps its own.
pub(crate) fn dup_fd(fd: c_int) -> Result<OwnedFd, Error> {
    if fd < 0 {
        return Err(Error::InvalidArgument(format!("bad descriptor {fd}")));
    }
    // SAFETY: fd is a descriptor the caller owns for the duration of the call.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(borrowed.try_clone_to_owned()?)
}

pub(crate) fn ring_bits(capacity: usize) -> Result<u8, Error> {
    if !capacity.is_power_of_two() || capacity > 1 << 32 {
        return Err(Error::InvalidArgument(format!(
            "capacity {capacity} is not a power of two up to 2^32"
        )));
    }
    Ok(capacity.trailing_zeros() as u8)
}

/// Writes a new handle to `out`.
pub(crate) fn put<T>(out: *mut *mut T, value: T) {
    // SAFETY: callers check `out` for NULL; writable by the C contract.
    unsafe { *out = Box::into_raw(Box::new(value)) };
}

/// A shared-memory ring of fixed-size slots (opaque): the mapping of a
/// segment that several processes open. Take a side with
/// rmpsc_shared_producer / rmpsc_shared_consumer.
///
/// Every segment (slot ring, message ring, buffer pool) starts with this
/// 512-byte header; integers are native-endian, lines are 128 bytes apart:
///
///   offset size field             meaning
///   0x000  8    magic             "RMPSCSEG" (RMPSC_SEG_MAGIC)
///   0x008  4    version           RMPSC_SEG_VERSION
///   0x00c  4    kind              1 slot ring, 2 message ring, 3 buffer pool
///   0x010  4    header_size       512
///   0x014  4    ring_bits         capacity = 2^ring_bits slots (bytes for kind 2)
///   0x018  4    slot_size         bytes per slot; 1 for kind 2; slab size for kind 3
///   0x01c  4    state             1 once the creator has published the header
///   0x020  8    data_offset       512
///   0x028  8    data_size         bytes after the header
///   0x030  8    total_size        512 + data_size = the file size
///   0x038  4    creator_pid
///   0x03c  4    slab_count        kind 3
///   0x040  8    created_ns        CLOCK_REALTIME
///   0x080  8    tail              producer line: next position written (release)
///   0x088  8    heartbeat_ns      producer liveness, CLOCK_MONOTONIC
///   0x090  4    pid               producer process, 0 when none
///   0x100  8    head              consumer line: next position read (release)
///   0x108  8    heartbeat_ns      consumer liveness, CLOCK_MONOTONIC
///   0x110  4    pid               consumer process, 0 when none
///   0x180  4    closed            wake line: non-zero once closed
///   0x184  4    consumer_waiters
///   0x188  4    producer_waiters
///   0x18c  4    data_seq          futex word consumers sleep on (shared futex)
///   0x190  4    space_seq         futex word producers sleep on (shared futex)
///   0x200       data              slots at (position & (capacity-1)) * slot_size
///
/// A message ring's data is a byte ring of 8-byte-aligned records
/// [u32 commit | u32 type | payload | zero padding], never split across the
/// end; type 0xffffffff is a padding record that fills the end of the ring.
/// `commit` is stored last (release); 0 means not written yet. For a ring
/// of 2^ring_bits bytes (12 to 28) its low ring_bits bits hold the payload
/// length + 1 and the bits above them the low bits of the record's lap
/// (position >> ring_bits): commit = (position - index + length + 1) mod
/// 2^32. A word whose lap is not the reader's is corrupt (bytes of an
/// earlier lap). The sender zeroes the next record's commit word before
/// storing this one's (so it keeps 8 bytes free: the largest payload is
/// capacity - 16), then stores the tail; the receiver polls the commit word
/// at its head and never runs more than a ring ahead of the tail.
pub struct rmpsc_shared_t {
    ring: SharedRing,
}

fn shared<'a>(s: *const rmpsc_shared_t) -> Result<&'a SharedRing, Error> {
    non_null(s, "shared")?;
    // SAFETY: non-NULL; by contract it came from rmpsc_shared_* and is live.
    Ok(unsafe { &(*s).ring })
}

/// Who may open a named segment; zero-initialise it for the defaults (mode
/// 0600, the creator's group).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct rmpsc_permissions_t {
    /// Permission bits, at most 0777 (0: 0600, the creating user only).
    pub mode: u32,
    /// Give the segment the group `group` (the creator must belong to it).
    pub set_group: bool,
    /// The group id, with `set_group`.
    pub group: u32,
}

impl rmpsc_permissions_t {
    pub(crate) fn to_core(self) -> Permissions {
        Permissions {
            mode: if self.mode == 0 { 0o600 } else { self.mode },
            group: self.set_group.then_some(self.group),
        }
    }
}

/// The permissions at `p` (NULL: the defaults).
pub(crate) fn permissions(p: *const rmpsc_permissions_t) -> Permissions {
    if p.is_null() {
        return Permissions::default();
    }
    // SAFETY: non-NULL and readable by the C contract.
    unsafe { *p }.to_core()
}

/// Creates a shared ring of `capacity` slots (a power of two) of `slot_size`
/// bytes. `name` names the segment: a bare name lives under /dev/shm, a name
/// with '/' is a path; creation is exclusive and the file is mode 0600. With
/// `name` NULL the segment is an anonymous sealed memfd: share it with
/// rmpsc_shared_fd and rmpsc_fd_send. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_create(
    name: *const c_char,
    capacity: usize,
    slot_size: usize,
    out: *mut *mut rmpsc_shared_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let ring = SharedRing::create_slots(opt_name(name)?, ring_bits(capacity)?, slot_size)?;
        put(out, rmpsc_shared_t { ring });
        Ok(())
    })
}

/// rmpsc_shared_create with the named segment's mode and group (`perm`
/// NULL: the defaults). Errors also: RMPSC_EINVAL (a mode beyond 0777),
/// RMPSC_EIO (a group the creator does not belong to). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_create_with(
    name: *const c_char,
    capacity: usize,
    slot_size: usize,
    perm: *const rmpsc_permissions_t,
    out: *mut *mut rmpsc_shared_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let ring = SharedRing::create_slots_with(
            opt_name(name)?,
            ring_bits(capacity)?,
            slot_size,
            permissions(perm),
        )?;
        put(out, rmpsc_shared_t { ring });
        Ok(())
    })
}

/// Opens the named shared ring, waiting up to `timeout_ns` (negative: a day)
/// for its name to appear; a file that is not a whole segment fails at
/// once. `slot_size` 0 accepts any slot size,
/// otherwise it must match. Errors: RMPSC_EHEADER (not a matching segment:
/// magic, version, kind, sizes), RMPSC_EIO. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_attach(
    name: *const c_char,
    slot_size: usize,
    timeout_ns: i64,
    out: *mut *mut rmpsc_shared_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let slot = (slot_size != 0).then_some(slot_size);
        let ring = SharedRing::attach_slots(self::name(name)?, slot, timeout(timeout_ns))?;
        put(out, rmpsc_shared_t { ring });
        Ok(())
    })
}

/// Maps a shared ring from a descriptor (received with rmpsc_fd_recv). The
/// library duplicates `fd`; the caller still owns and closes its own.
#[no_mangle]
pub extern "C" fn rmpsc_shared_attach_fd(
    fd: c_int,
    slot_size: usize,
    out: *mut *mut rmpsc_shared_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let slot = (slot_size != 0).then_some(slot_size);
        let ring = SharedRing::from_fd(dup_fd(fd)?, slot)?;
        put(out, rmpsc_shared_t { ring });
        Ok(())
    })
}

/// Unmaps the ring (sides taken from it stay valid until freed). NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_shared_free(s: *mut rmpsc_shared_t) {
    if !s.is_null() {
        // SAFETY: from Box::into_raw in rmpsc_shared_*; freed once.
        call_infallible((), || drop(unsafe { Box::from_raw(s) }));
    }
}

/// The segment's descriptor (owned by the handle; -1 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_fd(s: *const rmpsc_shared_t) -> c_int {
    call_infallible(-1, || shared(s).map_or(-1, |r| r.fd().as_raw_fd()))
}

/// Takes the producer side for this process and returns it as a ring handle
/// that accepts the producer-side rmpsc_ring_* calls (free it with
/// rmpsc_ring_free; freeing closes the ring). Errors: RMPSC_EBUSY while a
/// live process holds the side (a dead holder's side is taken over).
#[no_mangle]
pub extern "C" fn rmpsc_shared_producer(
    s: *mut rmpsc_shared_t,
    out: *mut *mut rmpsc_ring_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let p = shared(s)?.slot_producer(shm::DEFAULT_STALE_AFTER)?;
        // SAFETY: non-NULL, writable by contract.
        unsafe { *out = Box::into_raw(rmpsc_ring_t::with_producer(p)) };
        Ok(())
    })
}

/// Takes the consumer side, as rmpsc_shared_producer does the producer side.
#[no_mangle]
pub extern "C" fn rmpsc_shared_consumer(
    s: *mut rmpsc_shared_t,
    out: *mut *mut rmpsc_ring_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let c = shared(s)?.slot_consumer(shm::DEFAULT_STALE_AFTER)?;
        // SAFETY: non-NULL, writable by contract.
        unsafe { *out = Box::into_raw(rmpsc_ring_t::with_consumer(c)) };
        Ok(())
    })
}

/// Slots of the ring (0 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_capacity(s: *const rmpsc_shared_t) -> usize {
    call_infallible(0, || shared(s).map_or(0, |r| r.capacity()))
}

/// Bytes per slot (0 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_slot_size(s: *const rmpsc_shared_t) -> usize {
    call_infallible(0, || shared(s).map_or(0, |r| r.slot_size()))
}

/// Items waiting (0 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_len(s: *const rmpsc_shared_t) -> usize {
    call_infallible(0, || shared(s).map_or(0, |r| r.len()))
}

/// Closes the ring for every process and wakes every sleeper. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_close(s: *mut rmpsc_shared_t) -> c_int {
    call(|| {
        shared(s)?.close();
        Ok(())
    })
}

/// Whether the ring is closed. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_is_closed(s: *const rmpsc_shared_t) -> bool {
    call_infallible(false, || shared(s).is_ok_and(|r| r.is_closed()))
}

/// Whether a producer process holds the ring and its heartbeat (stamped every
/// 20 ms) is younger than `timeout_ns`. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_is_producer_alive(
    s: *const rmpsc_shared_t,
    timeout_ns: i64,
) -> bool {
    call_infallible(false, || {
        shared(s).is_ok_and(|r| r.is_producer_alive(timeout(timeout_ns)))
    })
}

/// Whether a consumer process holds the ring and is alive (see above). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_is_consumer_alive(
    s: *const rmpsc_shared_t,
    timeout_ns: i64,
) -> bool {
    call_infallible(false, || {
        shared(s).is_ok_and(|r| r.is_consumer_alive(timeout(timeout_ns)))
    })
}

/// Removes the segment's name (named rings); mappings stay valid. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_unlink(s: *mut rmpsc_shared_t) -> c_int {
    call(|| shared(s)?.unlink())
}

/// `unlink` true: remove the segment's name when this process has freed
/// the ring handle and every side taken from it, if the name still leads
/// to this segment (anonymous segments: nothing to do). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_unlink_on_drop(s: *mut rmpsc_shared_t, unlink: bool) -> c_int {
    call(|| {
        shared(s)?.unlink_on_drop(unlink);
        Ok(())
    })
}

/// Removes the named segment (of any kind) if its creator is dead and no
/// live process holds a side; `*removed` (may be NULL) tells whether it was.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shm_remove_if_stale(name: *const c_char, removed: *mut bool) -> c_int {
    call(|| {
        let r = shm::remove_if_stale(self::name(name)?)?;
        if !removed.is_null() {
            // SAFETY: non-NULL, writable by contract.
            unsafe { *removed = r };
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_constants_match_the_core() {
        assert_eq!(RMPSC_SEG_MAGIC, ringcore::shm::layout::MAGIC);
        assert_eq!(RMPSC_SEG_VERSION, ringcore::shm::layout::VERSION);
        assert_eq!(RMPSC_SEG_HEADER_SIZE, ringcore::shm::layout::HEADER_SIZE);
    }

    /// The rows `offset [size] field` of a header drawing in a source file.
    fn drawing(source: &str) -> Vec<(u32, Option<u32>, String)> {
        source
            .lines()
            .filter_map(|line| {
                let line = line.trim_start().trim_start_matches(['/', '!']);
                let mut words = line.split_whitespace();
                let offset = u32::from_str_radix(words.next()?.strip_prefix("0x")?, 16).ok()?;
                let next = words.next()?;
                Some(match next.parse() {
                    Ok(size) => (offset, Some(size), words.next()?.to_owned()),
                    Err(_) => (offset, None, next.to_owned()),
                })
            })
            .collect()
    }

    /// The drawing in the C header (from this file) is the core's, whose
    /// fields are pinned to their structs by compile-time offset checks.
    #[test]
    fn header_drawing_matches_the_core() {
        let ours = drawing(include_str!("shared.rs"));
        let core = drawing(include_str!("../../ringcore/src/shm/layout.rs"));
        assert_eq!(ours.len(), 25, "{ours:?}");
        assert_eq!(ours, core);
    }
}
