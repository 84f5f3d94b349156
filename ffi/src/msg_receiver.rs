//! `rmpsc_msg_receiver_*`: the receiving side of a message ring.

use crate::args::{free_handle, handle, strategy, Out};
use crate::call;
use crate::msg_ring::{ring, rmpsc_msg_ring_t};
use crate::side::Side;
use ringcore::msg::MessageReceiver;
use ringcore::shm::DEFAULT_STALE_AFTER;
use ringcore::Error;
use std::ffi::{c_int, c_void};

/// The receiving side of a message ring (opaque). One thread at a time: a
/// second thread gets RMPSC_EBUSY.
pub struct rmpsc_msg_receiver_t {
    rx: Side<MessageReceiver>,
}

fn receiver<'a>(r: *mut rmpsc_msg_receiver_t) -> Result<&'a Side<MessageReceiver>, Error> {
    Ok(&handle(r, "receiver")?.rx)
}

/// Takes the receiving side for this process. RMPSC_EBUSY while a live
/// process holds it. Free it with rmpsc_msg_receiver_free (which closes the ring).
#[no_mangle]
pub extern "C" fn rmpsc_msg_receiver_new(
    r: *mut rmpsc_msg_ring_t,
    out: *mut *mut rmpsc_msg_receiver_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let rx = ring(r)?.receiver_with(DEFAULT_STALE_AFTER)?;
        out.put(rmpsc_msg_receiver_t {
            rx: Side::new("receiving side", rx),
        });
        Ok(())
    })
}

/// Releases the receiving side and closes the ring. NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_msg_receiver_free(r: *mut rmpsc_msg_receiver_t) {
    free_handle(r)
}

/// The out-parameters of a received message.
struct MessageOut {
    msg_type: Out<u32>,
    data: Out<*const c_void>,
    len: Out<usize>,
}

impl MessageOut {
    fn new(msg_type: *mut u32, data: *mut *const c_void, len: *mut usize) -> Result<Self, Error> {
        Ok(MessageOut {
            msg_type: Out::new(msg_type, "out_type")?,
            data: Out::new(data, "out_data")?,
            len: Out::new(len, "out_len")?,
        })
    }

    fn set(self, (msg_type, data, len): (u32, *const u8, usize)) {
        self.msg_type.set(msg_type);
        self.data.set(data.cast());
        self.len.set(len);
    }
}

/// Receives the next message in place: `*data` points into shared memory and
/// stays valid until rmpsc_msg_receiver_release, which must come before the
/// next receive. Errors: RMPSC_EEMPTY, RMPSC_ECLOSED (closed and drained),
/// RMPSC_ECORRUPT, RMPSC_EINVAL (the previous message not released).
/// Receiving side, one thread at a time.
#[no_mangle]
pub extern "C" fn rmpsc_msg_receiver_recv(
    r: *mut rmpsc_msg_receiver_t,
    out_type: *mut u32,
    out_data: *mut *const c_void,
    out_len: *mut usize,
) -> c_int {
    call(|| {
        let out = MessageOut::new(out_type, out_data, out_len)?;
        out.set(receiver(r)?.enter(|rx| rx.peek())?);
        Ok(())
    })
}

/// rmpsc_msg_receiver_recv, waiting up to `timeout_ns` (negative: no limit).
/// Errors: RMPSC_ETIMEDOUT, RMPSC_ECLOSED, RMPSC_ECORRUPT,
/// RMPSC_EDISCONNECTED (the sending process died, and all it committed is
/// read).
#[no_mangle]
pub extern "C" fn rmpsc_msg_receiver_recv_blocking(
    r: *mut rmpsc_msg_receiver_t,
    timeout_ns: i64,
    out_type: *mut u32,
    out_data: *mut *const c_void,
    out_len: *mut usize,
) -> c_int {
    call(|| {
        let out = MessageOut::new(out_type, out_data, out_len)?;
        out.set(receiver(r)?.enter(|rx| rx.peek_blocking(strategy(timeout_ns)))?);
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
