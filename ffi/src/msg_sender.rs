//! `rmpsc_msg_sender_*`: the sending side of a message ring.

use crate::args::{free_handle, handle, slice, strategy, Out};
use crate::call;
use crate::msg_ring::{ring, rmpsc_msg_ring_t};
use crate::side::Side;
use ringcore::msg::MessageSender;
use ringcore::shm::DEFAULT_STALE_AFTER;
use ringcore::Error;
use std::ffi::{c_int, c_void};

/// The sending side of a message ring (opaque). One thread at a time: a
/// second thread gets RMPSC_EBUSY.
pub struct rmpsc_msg_sender_t {
    tx: Side<MessageSender>,
}

fn sender<'a>(s: *mut rmpsc_msg_sender_t) -> Result<&'a Side<MessageSender>, Error> {
    Ok(&handle(s, "sender")?.tx)
}

/// Takes the sending side for this process. RMPSC_EBUSY while a live process
/// holds it. Free it with rmpsc_msg_sender_free (which closes the ring).
#[no_mangle]
pub extern "C" fn rmpsc_msg_sender_new(
    r: *mut rmpsc_msg_ring_t,
    out: *mut *mut rmpsc_msg_sender_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let tx = ring(r)?.sender_with(DEFAULT_STALE_AFTER)?;
        out.put(rmpsc_msg_sender_t {
            tx: Side::new("sending side", tx),
        });
        Ok(())
    })
}

/// Releases the sending side and closes the ring. NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_msg_sender_free(s: *mut rmpsc_msg_sender_t) {
    free_handle(s)
}

/// Claims room for a `len`-byte message and points `*out_buf` at it, for
/// writing in place; publish with rmpsc_msg_sender_commit or drop with
/// rmpsc_msg_sender_abort. A pending claim is given up by the next claim,
/// whatever its outcome. Errors: RMPSC_EFULL, RMPSC_ECLOSED,
/// RMPSC_ETOOLARGE. Sending side, one thread at a time.
#[no_mangle]
pub extern "C" fn rmpsc_msg_sender_claim(
    s: *mut rmpsc_msg_sender_t,
    len: usize,
    out_buf: *mut *mut c_void,
) -> c_int {
    call(|| {
        let out_buf = Out::new(out_buf, "out_buf")?;
        let b = sender(s)?.enter(|tx| Ok(tx.try_claim(len)?.as_mut_ptr()))?;
        out_buf.set(b.cast());
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

/// Sends one message (copy). Errors: RMPSC_EFULL, RMPSC_ECLOSED, RMPSC_ETOOLARGE,
/// RMPSC_EINVAL (the reserved type, or a claimed message pending).
#[no_mangle]
pub extern "C" fn rmpsc_msg_sender_send(
    s: *mut rmpsc_msg_sender_t,
    msg_type: u32,
    data: *const c_void,
    len: usize,
) -> c_int {
    call(|| {
        let data = slice(data.cast::<u8>(), len, "data")?;
        sender(s)?.enter(|tx| tx.send(msg_type, data))
    })
}

/// Sends one message, waiting up to `timeout_ns` (negative: no limit) for room.
/// Errors: RMPSC_ETIMEDOUT, RMPSC_ECLOSED, RMPSC_ETOOLARGE,
/// RMPSC_EDISCONNECTED (the receiving process died).
#[no_mangle]
pub extern "C" fn rmpsc_msg_sender_send_blocking(
    s: *mut rmpsc_msg_sender_t,
    msg_type: u32,
    data: *const c_void,
    len: usize,
    timeout_ns: i64,
) -> c_int {
    call(|| {
        let data = slice(data.cast::<u8>(), len, "data")?;
        sender(s)?.enter(|tx| tx.send_blocking(msg_type, data, strategy(timeout_ns)))
    })
}
