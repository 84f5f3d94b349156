//! `rmpsc_consumer_*`: one consumer of an SPMC or MPMC channel.

use crate::args::{free_handle, handle, items_mut, strategy, OptOut, Out};
use crate::call;
use crate::mpsc::{call_handler, rmpsc_item_fn};
use crate::side::Side;
use ringcore::channel::{Bytes, ClaimConsumer};
use ringcore::Error;
use std::ffi::{c_int, c_void};

/// One consumer of an SPMC or MPMC channel (opaque). One thread at a time.
pub struct rmpsc_consumer_t {
    c: Side<ClaimConsumer<Bytes>>,
}

impl rmpsc_consumer_t {
    pub(crate) fn new(c: ClaimConsumer<Bytes>) -> Self {
        rmpsc_consumer_t {
            c: Side::new("consumer", c),
        }
    }
}

fn consumer<'a>(c: *mut rmpsc_consumer_t) -> Result<&'a Side<ClaimConsumer<Bytes>>, Error> {
    Ok(&handle(c, "consumer")?.c)
}

/// Frees a consumer. NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_consumer_free(c: *mut rmpsc_consumer_t) {
    free_handle(c)
}

/// Claims up to `max` items (an MPMC consumer tries its own shard, then the
/// busiest ring, then a random one) and copies them to `buf`; the count
/// goes to `*out_count` (0: nothing unclaimed). Consumer thread.
/// Errors: RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_consumer_recv(
    c: *mut rmpsc_consumer_t,
    buf: *mut c_void,
    max: usize,
    out_count: *mut usize,
) -> c_int {
    call(|| {
        let out_count = Out::new(out_count, "out_count")?;
        let n = consumer(c)?.enter(|c| {
            let buf = items_mut(buf, max, c.slot_size(), "buf")?;
            Ok(c.steal(buf))
        })?;
        out_count.set(n);
        Ok(())
    })
}

/// rmpsc_consumer_recv, waiting up to `timeout_ns` while nothing is
/// unclaimed; `max` >= 1. Errors: RMPSC_ETIMEDOUT, RMPSC_ECLOSED (closed
/// and drained), RMPSC_EINVAL (max == 0), RMPSC_EBUSY. Consumer thread.
#[no_mangle]
pub extern "C" fn rmpsc_consumer_recv_blocking(
    c: *mut rmpsc_consumer_t,
    buf: *mut c_void,
    max: usize,
    timeout_ns: i64,
    out_count: *mut usize,
) -> c_int {
    call(|| {
        let out_count = Out::new(out_count, "out_count")?;
        let n = consumer(c)?.enter(|c| {
            if max == 0 {
                return Err(Error::InvalidArgument("max is 0".into()));
            }
            let buf = items_mut(buf, max, c.slot_size(), "buf")?;
            c.steal_blocking(buf, strategy(timeout_ns))
        })?;
        out_count.set(n);
        Ok(())
    })
}

/// Claims a batch (up to 4096 items) and calls `handler(ctx, item)` on each
/// in place (a NULL `handler` only counts); the count goes to `*out_count`
/// (may be NULL). Consumer thread. Errors: RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_consumer_consume(
    c: *mut rmpsc_consumer_t,
    handler: rmpsc_item_fn,
    ctx: *mut c_void,
    out_count: *mut usize,
) -> c_int {
    call(|| {
        let n = consumer(c)?
            .enter(|c| Ok(c.consume_batch(|item: &[u8]| call_handler(handler, ctx, item))))?;
        OptOut::new(out_count).set(n);
        Ok(())
    })
}
