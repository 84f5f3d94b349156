//! `rmpsc_shared_ring_*`: rings of fixed-size slots in shared memory, for
//! two processes in any language.

use crate::args::{dup_fd, duration, free_handle, handle, name, opt_name, Out};
use crate::ring::rmpsc_ring_t;
use crate::shm::{permissions, rmpsc_permissions_t};
use crate::{call, call_infallible};
use ringcore::shm::{SharedRing, DEFAULT_STALE_AFTER};
use ringcore::{Config, Error};
use std::ffi::{c_char, c_int};
use std::os::fd::AsRawFd;

/// A shared-memory ring of fixed-size slots (opaque): the mapping of a
/// segment that several processes open (its layout is drawn at
/// rmpsc_permissions_t). Take a side with rmpsc_shared_ring_take_producer /
/// rmpsc_shared_ring_take_consumer.
pub struct rmpsc_shared_ring_t {
    ring: SharedRing,
}

fn shared<'a>(s: *const rmpsc_shared_ring_t) -> Result<&'a SharedRing, Error> {
    Ok(&handle(s, "ring")?.ring)
}

/// Creates a shared ring of `capacity` slots (a power of two) of `slot_size`
/// bytes. `name` names the segment: a bare name lives under /dev/shm, a name
/// with '/' is a path; creation is exclusive and the file is mode 0600. With
/// `name` NULL the segment is an anonymous sealed memfd: share it with
/// rmpsc_shared_ring_fd and rmpsc_fd_send. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_ring_create(
    name: *const c_char,
    capacity: usize,
    slot_size: usize,
    out: *mut *mut rmpsc_shared_ring_t,
) -> c_int {
    rmpsc_shared_ring_create_with(name, capacity, slot_size, std::ptr::null(), out)
}

/// rmpsc_shared_ring_create with the named segment's mode and group
/// (`perm` NULL: the defaults). Errors also: RMPSC_EINVAL (a mode beyond
/// 0777), RMPSC_EIO (a group the creator does not belong to). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_ring_create_with(
    name: *const c_char,
    capacity: usize,
    slot_size: usize,
    perm: *const rmpsc_permissions_t,
    out: *mut *mut rmpsc_shared_ring_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let ring = SharedRing::create_slots_with(
            opt_name(name)?,
            Config::bits_for_capacity(capacity)?,
            slot_size,
            permissions(perm),
        )?;
        out.put(rmpsc_shared_ring_t { ring });
        Ok(())
    })
}

/// Opens the named shared ring, waiting up to `timeout_ns` for its name to
/// appear; a file that is not a whole segment fails at once. `slot_size` 0
/// accepts any slot size, otherwise it must match. Errors: RMPSC_EHEADER
/// (not a matching segment: magic, version, kind, sizes), RMPSC_EIO.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_ring_attach(
    name: *const c_char,
    slot_size: usize,
    timeout_ns: i64,
    out: *mut *mut rmpsc_shared_ring_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let slot = (slot_size != 0).then_some(slot_size);
        let ring = SharedRing::attach_slots(self::name(name)?, slot, duration(timeout_ns))?;
        out.put(rmpsc_shared_ring_t { ring });
        Ok(())
    })
}

/// Maps a shared ring from a descriptor (received with rmpsc_fd_recv). The
/// library duplicates `fd`; the caller still owns and closes its own. It
/// must be a memfd whose size is sealed, as an anonymous shared ring is
/// made; any other file is RMPSC_EHEADER (its sender could shrink it under
/// the mapping).
#[no_mangle]
pub extern "C" fn rmpsc_shared_ring_attach_fd(
    fd: c_int,
    slot_size: usize,
    out: *mut *mut rmpsc_shared_ring_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let slot = (slot_size != 0).then_some(slot_size);
        out.put(rmpsc_shared_ring_t {
            ring: SharedRing::from_fd(dup_fd(fd)?, slot)?,
        });
        Ok(())
    })
}

/// Unmaps the ring (sides taken from it stay valid until freed). NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_shared_ring_free(s: *mut rmpsc_shared_ring_t) {
    free_handle(s)
}

/// The segment's descriptor (owned by the handle; -1 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_ring_fd(s: *const rmpsc_shared_ring_t) -> c_int {
    call_infallible(-1, || shared(s).map_or(-1, |r| r.fd().as_raw_fd()))
}

/// Takes the producer side for this process and returns it as a ring handle
/// that accepts the producer-side rmpsc_ring_* calls (free it with
/// rmpsc_ring_free; freeing closes the ring). Errors: RMPSC_EBUSY while a
/// live process holds the side (a dead holder's side is taken over).
#[no_mangle]
pub extern "C" fn rmpsc_shared_ring_take_producer(
    s: *mut rmpsc_shared_ring_t,
    out: *mut *mut rmpsc_ring_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let p = shared(s)?.slot_producer(DEFAULT_STALE_AFTER)?;
        out.put(rmpsc_ring_t::with_producer(p));
        Ok(())
    })
}

/// Takes the consumer side, as rmpsc_shared_ring_take_producer does the
/// producer side.
#[no_mangle]
pub extern "C" fn rmpsc_shared_ring_take_consumer(
    s: *mut rmpsc_shared_ring_t,
    out: *mut *mut rmpsc_ring_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let c = shared(s)?.slot_consumer(DEFAULT_STALE_AFTER)?;
        out.put(rmpsc_ring_t::with_consumer(c));
        Ok(())
    })
}

/// Slots of the ring (0 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_ring_capacity(s: *const rmpsc_shared_ring_t) -> usize {
    call_infallible(0, || shared(s).map_or(0, |r| r.capacity()))
}

/// Bytes per slot (0 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_ring_slot_size(s: *const rmpsc_shared_ring_t) -> usize {
    call_infallible(0, || shared(s).map_or(0, |r| r.slot_size()))
}

/// Items waiting (0 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_ring_len(s: *const rmpsc_shared_ring_t) -> usize {
    call_infallible(0, || shared(s).map_or(0, |r| r.len()))
}

/// Closes the ring for every process and wakes every sleeper. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_ring_close(s: *mut rmpsc_shared_ring_t) -> c_int {
    call(|| {
        shared(s)?.close();
        Ok(())
    })
}

/// Whether the ring is closed. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_ring_is_closed(s: *const rmpsc_shared_ring_t) -> bool {
    call_infallible(false, || shared(s).is_ok_and(|r| r.is_closed()))
}

/// Whether a producer process holds the ring and its heartbeat (stamped
/// every 20 ms) is younger than `timeout_ns` (negative: any age). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_ring_is_producer_alive(
    s: *const rmpsc_shared_ring_t,
    timeout_ns: i64,
) -> bool {
    call_infallible(false, || {
        shared(s).is_ok_and(|r| r.is_producer_alive(duration(timeout_ns)))
    })
}

/// Whether a consumer process holds the ring and is alive (see above). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_ring_is_consumer_alive(
    s: *const rmpsc_shared_ring_t,
    timeout_ns: i64,
) -> bool {
    call_infallible(false, || {
        shared(s).is_ok_and(|r| r.is_consumer_alive(duration(timeout_ns)))
    })
}

/// Removes the segment's name (named rings); mappings stay valid. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_ring_unlink(s: *mut rmpsc_shared_ring_t) -> c_int {
    call(|| shared(s)?.unlink())
}

/// `unlink` true: remove the segment's name when this process has freed
/// the ring handle and every side taken from it, if the name still leads
/// to this segment (anonymous segments: nothing to do). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shared_ring_unlink_on_drop(
    s: *mut rmpsc_shared_ring_t,
    unlink: bool,
) -> c_int {
    call(|| {
        shared(s)?.unlink_on_drop(unlink);
        Ok(())
    })
}
