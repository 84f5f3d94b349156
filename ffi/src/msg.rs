//! `rmpsc_msg_*`: variable-size byte messages in shared memory.

use crate::ring::{strategy, Side};
use crate::shared::{dup_fd, name, opt_name, permissions, put, rmpsc_permissions_t, timeout};
use crate::{call, call_infallible, non_null};
use ringcore::msg::{MessageReceiver, MessageRing, MessageSender};
use ringcore::shm::DEFAULT_STALE_AFTER;
use ringcore::Error;
use std::ffi::{c_char, c_int, c_void};
use std::os::fd::AsRawFd;

/// A shared ring of variable-size byte messages (opaque): the mapping.
pub struct rmpsc_msg_ring_t {
    ring: MessageRing,
}

/// The sending side of a message ring (opaque). One thread at a time: a
/// second thread gets RMPSC_EBUSY.
pub struct rmpsc_msg_sender_t {
    tx: Side<MessageSender>,
}

/// The receiving side of a message ring (opaque). One thread at a time: a
/// second thread gets RMPSC_EBUSY.
pub struct rmpsc_msg_receiver_t {
    rx: Side<MessageReceiver>,
}

fn ring<'a>(r: *const rmpsc_msg_ring_t) -> Result<&'a MessageRing, Error> {
    non_null(r, "ring")?;
    // SAFETY: non-NULL and live by contract.
    Ok(unsafe { &(*r).ring })
}

fn sender<'a>(s: *mut rmpsc_msg_sender_t) -> Result<&'a Side<MessageSender>, Error> {
    non_null(s, "sender")?;
    // SAFETY: non-NULL and live by contract; the side guards its use.
    Ok(unsafe { &(*s).tx })
}

fn receiver<'a>(r: *mut rmpsc_msg_receiver_t) -> Result<&'a Side<MessageReceiver>, Error> {
    non_null(r, "receiver")?;
    // SAFETY: as for `sender`.
    Ok(unsafe { &(*r).rx })
}

/// Creates a message ring of `capacity` bytes (a power of two, 4 KiB to
/// 256 MiB). `name` as for rmpsc_shared_create (NULL: anonymous memfd). The
/// largest message is `capacity - 16` bytes. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_create(
    name: *const c_char,
    capacity: usize,
    out: *mut *mut rmpsc_msg_ring_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let bits = crate::shared::ring_bits(capacity)?;
        let ring = MessageRing::create(opt_name(name)?, bits)?;
        put(out, rmpsc_msg_ring_t { ring });
        Ok(())
    })
}

/// rmpsc_msg_ring_create with the named segment's mode and group (`perm`
/// NULL: the defaults; see rmpsc_shared_create_with). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_create_with(
    name: *const c_char,
    capacity: usize,
    perm: *const rmpsc_permissions_t,
    out: *mut *mut rmpsc_msg_ring_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let bits = crate::shared::ring_bits(capacity)?;
        let ring = MessageRing::create_with(opt_name(name)?, bits, permissions(perm))?;
        put(out, rmpsc_msg_ring_t { ring });
        Ok(())
    })
}

/// Opens a named message ring, waiting up to `timeout_ns` (negative: a day)
/// for its name to appear; a file that is not a whole message ring fails at
/// once. Errors: RMPSC_EHEADER, RMPSC_EIO. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_attach(
    name: *const c_char,
    timeout_ns: i64,
    out: *mut *mut rmpsc_msg_ring_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let ring = MessageRing::attach(self::name(name)?, timeout(timeout_ns))?;
        put(out, rmpsc_msg_ring_t { ring });
        Ok(())
    })
}

/// Maps a message ring from a descriptor (duplicated; the caller keeps `fd`).
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_attach_fd(fd: c_int, out: *mut *mut rmpsc_msg_ring_t) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let ring = MessageRing::from_fd(dup_fd(fd)?)?;
        put(out, rmpsc_msg_ring_t { ring });
        Ok(())
    })
}

/// Unmaps the ring (sides taken from it stay valid until freed). NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_free(r: *mut rmpsc_msg_ring_t) {
    if !r.is_null() {
        // SAFETY: from Box::into_raw; freed once.
        call_infallible((), || drop(unsafe { Box::from_raw(r) }));
    }
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

/// Whether a sending process holds the ring and is alive within `timeout_ns`. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_is_sender_alive(
    r: *const rmpsc_msg_ring_t,
    timeout_ns: i64,
) -> bool {
    call_infallible(false, || {
        ring(r).is_ok_and(|r| r.is_producer_alive(timeout(timeout_ns)))
    })
}

/// Whether a receiving process holds the ring and is alive within `timeout_ns`. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_msg_ring_is_receiver_alive(
    r: *const rmpsc_msg_ring_t,
    timeout_ns: i64,
) -> bool {
    call_infallible(false, || {
        ring(r).is_ok_and(|r| r.is_consumer_alive(timeout(timeout_ns)))
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

/// Takes the sending side for this process. RMPSC_EBUSY while a live process
/// holds it. Free it with rmpsc_msg_sender_free (which closes the ring).
#[no_mangle]
pub extern "C" fn rmpsc_msg_sender_new(
    r: *mut rmpsc_msg_ring_t,
    out: *mut *mut rmpsc_msg_sender_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let tx = ring(r)?.sender_with(DEFAULT_STALE_AFTER)?;
        put(
            out,
            rmpsc_msg_sender_t {
                tx: Side::new("sending side", tx),
            },
        );
        Ok(())
    })
}

/// Releases the sending side and closes the ring. NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_msg_sender_free(s: *mut rmpsc_msg_sender_t) {
    if !s.is_null() {
        // SAFETY: from Box::into_raw; freed once.
        call_infallible((), || drop(unsafe { Box::from_raw(s) }));
    }
}

/// Claims room for a `len`-byte message and points `*buf` at it, for writing
/// in place; publish with rmpsc_msg_sender_commit or drop with
/// rmpsc_msg_sender_abort. Errors: RMPSC_EFULL, RMPSC_ECLOSED,
/// RMPSC_ETOOLARGE. Sending side, one thread at a time.
#[no_mangle]
pub extern "C" fn rmpsc_msg_sender_claim(
    s: *mut rmpsc_msg_sender_t,
    len: usize,
    buf: *mut *mut c_void,
) -> c_int {
    call(|| {
        non_null(buf, "buf")?;
        let b = sender(s)?.enter(|tx| Ok(tx.try_claim(len)?.as_mut_ptr()))?;
        // SAFETY: non-NULL, writable by contract.
        unsafe { *buf = b.cast() };
        Ok(())
    })
}

/// Publishes the first `len` bytes of the claimed message with type
/// `msg_type` (0xffffffff is reserved). Errors: RMPSC_EINVAL.
#[no_mangle]
pub extern "C" fn rmpsc_msg_sender_commit(
    s: *mut rmpsc_msg_sender_t,
    msg_type: u32,
    len: usize,
) -> c_int {
    call(|| sender(s)?.enter(|tx| tx.commit_len(msg_type, len)))
}

/// Drops the claimed message; nothing is published.
#[no_mangle]
pub extern "C" fn rmpsc_msg_sender_abort(s: *mut rmpsc_msg_sender_t) -> c_int {
    call(|| {
        sender(s)?.enter(|tx| {
            tx.abort();
            Ok(())
        })
    })
}

/// Sends one message (copy). Errors: RMPSC_EFULL, RMPSC_ECLOSED, RMPSC_ETOOLARGE.
#[no_mangle]
pub extern "C" fn rmpsc_msg_sender_send(
    s: *mut rmpsc_msg_sender_t,
    msg_type: u32,
    data: *const c_void,
    len: usize,
) -> c_int {
    call(|| {
        let data = crate::bytes_arg(data, len)?;
        sender(s)?.enter(|tx| tx.send(msg_type, data))
    })
}

/// Sends one message, waiting up to `timeout_ns` (negative: no limit) for room.
/// Errors: RMPSC_ETIMEDOUT, RMPSC_ECLOSED, RMPSC_ETOOLARGE.
#[no_mangle]
pub extern "C" fn rmpsc_msg_sender_send_blocking(
    s: *mut rmpsc_msg_sender_t,
    msg_type: u32,
    data: *const c_void,
    len: usize,
    timeout_ns: i64,
) -> c_int {
    call(|| {
        let data = crate::bytes_arg(data, len)?;
        sender(s)?.enter(|tx| tx.send_blocking(msg_type, data, strategy(timeout_ns)))
    })
}

/// Takes the receiving side for this process. RMPSC_EBUSY while a live
/// process holds it. Free it with rmpsc_msg_receiver_free (which closes the ring).
#[no_mangle]
pub extern "C" fn rmpsc_msg_receiver_new(
    r: *mut rmpsc_msg_ring_t,
    out: *mut *mut rmpsc_msg_receiver_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let rx = ring(r)?.receiver_with(DEFAULT_STALE_AFTER)?;
        put(
            out,
            rmpsc_msg_receiver_t {
                rx: Side::new("receiving side", rx),
            },
        );
        Ok(())
    })
}

/// Releases the receiving side and closes the ring. NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_msg_receiver_free(r: *mut rmpsc_msg_receiver_t) {
    if !r.is_null() {
        // SAFETY: from Box::into_raw; freed once.
        call_infallible((), || drop(unsafe { Box::from_raw(r) }));
    }
}

fn put_message(
    (msg_type, data, len): (u32, *const u8, usize),
    out_type: *mut u32,
    out_data: *mut *const c_void,
    out_len: *mut usize,
) {
    // SAFETY: the out-pointers were checked for NULL by the caller.
    unsafe {
        *out_type = msg_type;
        *out_data = data.cast();
        *out_len = len;
    }
}

/// Receives the next message in place: `*data` points into shared memory and
/// stays valid until rmpsc_msg_receiver_release, which must come before the
/// next receive. Errors: RMPSC_EEMPTY, RMPSC_ECLOSED (closed and drained),
/// RMPSC_ECORRUPT. Receiving side, one thread at a time.
#[no_mangle]
pub extern "C" fn rmpsc_msg_receiver_recv(
    r: *mut rmpsc_msg_receiver_t,
    msg_type: *mut u32,
    data: *mut *const c_void,
    len: *mut usize,
) -> c_int {
    call(|| {
        non_null(msg_type, "msg_type")?;
        non_null(data, "data")?;
        non_null(len, "len")?;
        put_message(receiver(r)?.enter(|rx| rx.peek())?, msg_type, data, len);
        Ok(())
    })
}

/// rmpsc_msg_receiver_recv, waiting up to `timeout_ns` (negative: no limit).
/// Errors: RMPSC_ETIMEDOUT, RMPSC_ECLOSED, RMPSC_ECORRUPT.
#[no_mangle]
pub extern "C" fn rmpsc_msg_receiver_recv_blocking(
    r: *mut rmpsc_msg_receiver_t,
    timeout_ns: i64,
    msg_type: *mut u32,
    data: *mut *const c_void,
    len: *mut usize,
) -> c_int {
    call(|| {
        non_null(msg_type, "msg_type")?;
        non_null(data, "data")?;
        non_null(len, "len")?;
        let view = receiver(r)?.enter(|rx| rx.peek_blocking(strategy(timeout_ns)))?;
        put_message(view, msg_type, data, len);
        Ok(())
    })
}

/// Frees the message from the last receive. Receiving side.
#[no_mangle]
pub extern "C" fn rmpsc_msg_receiver_release(r: *mut rmpsc_msg_receiver_t) -> c_int {
    call(|| {
        receiver(r)?.enter(|rx| {
            rx.release();
            Ok(())
        })
    })
}
