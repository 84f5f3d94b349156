//! `rmpsc_msg_ring_*`: rings of variable-size byte messages in shared
//! memory; take a side with rmpsc_msg_sender_new / rmpsc_msg_receiver_new.

use crate::args::{dup_fd, duration, free_handle, handle, name, opt_name, Out};
use crate::shm::{permissions, rmpsc_permissions_t};
use crate::{call, call_infallible};
use ringcore::msg::MessageRing;
use ringcore::{Config, Error};
use std::ffi::{c_char, c_int};
use std::os::fd::AsRawFd;

/// A shared ring of variable-size byte messages (opaque): the mapping.
pub struct rmpsc_msg_ring_t {
    pub(crate) ring: MessageRing,
}

pub(crate) fn ring<'a>(r: *const rmpsc_msg_ring_t) -> Result<&'a MessageRing, Error> {
    Ok(&handle(r, "ring")?.ring)
}

/// Creates a message ring of `capacity` bytes (a power of two, 4 KiB to
/// 256 MiB). `name` as for rmpsc_shared_ring_create (NULL: anonymous memfd). The
/// largest message is `capacity - 16` bytes. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_create(
    name: *const c_char,
    capacity: usize,
    out: *mut *mut rmpsc_msg_ring_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let bits = Config::bits_for_capacity(capacity)?;
        let ring = MessageRing::create(opt_name(name)?, bits)?;
        out.put(rmpsc_msg_ring_t { ring });
        Ok(())
    })
}

/// rmpsc_msg_ring_create with the named segment's mode and group (`perm`
/// NULL: the defaults; see rmpsc_shared_ring_create_with). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_create_with(
    name: *const c_char,
    capacity: usize,
    perm: *const rmpsc_permissions_t,
    out: *mut *mut rmpsc_msg_ring_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let bits = Config::bits_for_capacity(capacity)?;
        let ring = MessageRing::create_with(opt_name(name)?, bits, permissions(perm))?;
        out.put(rmpsc_msg_ring_t { ring });
        Ok(())
    })
}

/// Opens a named message ring, waiting up to `timeout_ns`
/// for its name to appear; a file that is not a whole message ring fails at
/// once. Errors: RMPSC_EHEADER, RMPSC_EIO. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_attach(
    name: *const c_char,
    timeout_ns: i64,
    out: *mut *mut rmpsc_msg_ring_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let ring = MessageRing::attach(self::name(name)?, duration(timeout_ns))?;
        out.put(rmpsc_msg_ring_t { ring });
        Ok(())
    })
}

/// Maps a message ring from a descriptor (duplicated; the caller keeps
/// `fd`): a memfd whose size is sealed, as rmpsc_msg_ring_create(NULL, ...)
/// makes them; any other file is RMPSC_EHEADER (its sender could shrink it
/// under the mapping).
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_attach_fd(fd: c_int, out: *mut *mut rmpsc_msg_ring_t) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let ring = MessageRing::from_fd(dup_fd(fd)?)?;
        out.put(rmpsc_msg_ring_t { ring });
        Ok(())
    })
}

/// Unmaps the ring (sides taken from it stay valid until freed). NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_free(r: *mut rmpsc_msg_ring_t) {
    free_handle(r)
}

/// The segment's descriptor (owned by the handle; -1 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_fd(r: *const rmpsc_msg_ring_t) -> c_int {
    call_infallible(-1, || ring(r).map_or(-1, |r| r.fd().as_raw_fd()))
}

/// Largest message payload in bytes (0 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_max_message(r: *const rmpsc_msg_ring_t) -> usize {
    call_infallible(0, || ring(r).map_or(0, |r| r.max_message()))
}

/// Closes the ring for every process. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_close(r: *mut rmpsc_msg_ring_t) -> c_int {
    call(|| {
        ring(r)?.close();
        Ok(())
    })
}

/// Whether the ring is closed. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_is_closed(r: *const rmpsc_msg_ring_t) -> bool {
    call_infallible(false, || ring(r).is_ok_and(|r| r.is_closed()))
}

/// Whether a sending process holds the ring and stamped its heartbeat
/// within `timeout_ns` (negative: any age). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_is_sender_alive(
    r: *const rmpsc_msg_ring_t,
    timeout_ns: i64,
) -> bool {
    call_infallible(false, || {
        ring(r).is_ok_and(|r| r.is_producer_alive(duration(timeout_ns)))
    })
}

/// Whether a receiving process holds the ring and stamped its heartbeat
/// within `timeout_ns` (negative: any age). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_is_receiver_alive(
    r: *const rmpsc_msg_ring_t,
    timeout_ns: i64,
) -> bool {
    call_infallible(false, || {
        ring(r).is_ok_and(|r| r.is_consumer_alive(duration(timeout_ns)))
    })
}

/// Removes the segment's name (named rings). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_unlink(r: *mut rmpsc_msg_ring_t) -> c_int {
    call(|| ring(r)?.unlink())
}

/// `unlink` true: remove the segment's name when this process has freed
/// the ring handle and its sender/receiver, if the name still leads to
/// this segment (anonymous segments: nothing to do). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_unlink_on_drop(r: *mut rmpsc_msg_ring_t, unlink: bool) -> c_int {
    call(|| {
        ring(r)?.unlink_on_drop(unlink);
        Ok(())
    })
}
