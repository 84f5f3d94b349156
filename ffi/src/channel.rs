//! `rmpsc_mpsc_*` (the MPSC channel of `elem_size`-byte items) and
//! `rmpsc_notifier_*` (eventfd notification).

use crate::ring::{rmpsc_ring_t, strategy, Side};
use crate::shared::put;
use crate::{call, call_infallible, non_null};
use ringcore::channel::mpsc::{Registrar, SlotChannel};
use ringcore::{Config, Error, EventNotifier, Notify, SlotConsumer, SlotProducer};
use std::ffi::{c_int, c_void};
use std::sync::Arc;

/// A multi-producer single-consumer channel (opaque): one ring per producer.
pub struct rmpsc_mpsc_t {
    registrar: Registrar<SlotProducer, SlotConsumer>,
    consumer: Side<SlotChannel>,
    elem_size: usize,
}

/// An eventfd that a ring or channel signals after every commit (opaque).
pub struct rmpsc_notifier_t {
    notifier: Arc<EventNotifier>,
}

/// A handler called with each item: `ctx` is the caller's pointer, `item`
/// points at `elem_size` bytes valid during the call.
pub type rmpsc_item_fn = Option<extern "C" fn(ctx: *mut c_void, item: *const c_void)>;

fn channel<'a>(ch: *const rmpsc_mpsc_t) -> Result<&'a rmpsc_mpsc_t, Error> {
    non_null(ch, "channel")?;
    // SAFETY: non-NULL and live by contract.
    Ok(unsafe { &*ch })
}

/// Creates an MPSC channel whose producers each get a ring of `capacity`
/// slots (a power of two) of `elem_size` bytes. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_new(
    capacity: usize,
    elem_size: usize,
    out: *mut *mut rmpsc_mpsc_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let bits = crate::shared::ring_bits(capacity)?;
        let ch = SlotChannel::with_slots(Config::with_ring_bits(bits), elem_size)?;
        put(
            out,
            rmpsc_mpsc_t {
                registrar: ch.registrar(),
                consumer: Side::new("consumer side", ch),
                elem_size,
            },
        );
        Ok(())
    })
}

/// Destroys the channel (producers keep their rings until freed). NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_free(ch: *mut rmpsc_mpsc_t) {
    if !ch.is_null() {
        // SAFETY: from Box::into_raw; freed once.
        call_infallible((), || drop(unsafe { Box::from_raw(ch) }));
    }
}

/// Registers a producer: `*producer` is a ring handle for the producer-side
/// rmpsc_ring_* calls (send, reserve/commit, blocking sends); freeing it
/// deregisters (what it sent is still delivered). Errors: RMPSC_ECLOSED.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_register(
    ch: *mut rmpsc_mpsc_t,
    producer: *mut *mut rmpsc_ring_t,
) -> c_int {
    call(|| {
        non_null(producer, "producer")?;
        let p = channel(ch)?.registrar.register()?.into_end();
        // SAFETY: non-NULL, writable by contract.
        unsafe { *producer = Box::into_raw(rmpsc_ring_t::with_producer(p)) };
        Ok(())
    })
}

/// Consumer side. Calls `handler(ctx, item)` on up to `max` items from all
/// producers (one head update per ring); `*count` (may be NULL) gets the
/// number handled. Errors: RMPSC_EINVAL (NULL handler), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_consume(
    ch: *mut rmpsc_mpsc_t,
    handler: rmpsc_item_fn,
    ctx: *mut c_void,
    max: usize,
    count: *mut usize,
) -> c_int {
    call(|| {
        let f = handler.ok_or_else(|| Error::InvalidArgument("handler is NULL".into()))?;
        let n = channel(ch)?
            .consumer
            .enter(|c| Ok(c.consume_all_up_to(max, |item: &[u8]| f(ctx, item.as_ptr().cast()))))?;
        if !count.is_null() {
            // SAFETY: non-NULL, writable by contract.
            unsafe { *count = n };
        }
        Ok(())
    })
}

/// Consumer side. rmpsc_mpsc_consume of everything readable, waiting up to
/// `timeout_ns` (negative: no limit) while every ring is empty.
/// Errors: RMPSC_ETIMEDOUT, RMPSC_ECLOSED (closed and drained), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_consume_blocking(
    ch: *mut rmpsc_mpsc_t,
    handler: rmpsc_item_fn,
    ctx: *mut c_void,
    timeout_ns: i64,
    count: *mut usize,
) -> c_int {
    call(|| {
        let f = handler.ok_or_else(|| Error::InvalidArgument("handler is NULL".into()))?;
        let n = channel(ch)?.consumer.enter(|c| {
            c.consume_all_blocking(
                |item: &[u8]| f(ctx, item.as_ptr().cast()),
                strategy(timeout_ns),
            )
        })?;
        if !count.is_null() {
            // SAFETY: non-NULL, writable by contract.
            unsafe { *count = n };
        }
        Ok(())
    })
}

/// Consumer side. Copies up to `max` items into `out` (room for `max *
/// elem_size` bytes), taking from the producers in turn; `*received` gets
/// the count (0 when empty). Errors: RMPSC_ECLOSED (closed and drained), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_recv(
    ch: *mut rmpsc_mpsc_t,
    out: *mut c_void,
    max: usize,
    received: *mut usize,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        non_null(received, "received")?;
        let ch = channel(ch)?;
        let n = ch.consumer.enter(|c| {
            // SAFETY: by contract `out` has room for `max` items.
            let buf =
                unsafe { std::slice::from_raw_parts_mut(out.cast::<u8>(), max * ch.elem_size) };
            let n = c.recv(buf);
            if n == 0 && c.is_fully_drained() {
                return Err(Error::Closed);
            }
            Ok(n)
        })?;
        // SAFETY: non-NULL, writable by contract.
        unsafe { *received = n };
        Ok(())
    })
}

/// Consumer side. Closes the channel: registrations and sends fail with
/// RMPSC_ECLOSED, what was sent is still delivered, sleepers wake up.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_close(ch: *mut rmpsc_mpsc_t) -> c_int {
    call(|| {
        channel(ch)?.consumer.enter(|c| {
            c.close();
            Ok(())
        })
    })
}

/// Consumer side. Items waiting over all producers (0 on error).
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_pending(ch: *mut rmpsc_mpsc_t) -> usize {
    call_infallible(0, || {
        channel(ch)
            .and_then(|c| c.consumer.enter(|c| Ok(c.total_pending())))
            .unwrap_or(0)
    })
}

/// Consumer side. 1 once the channel is closed and every ring is empty.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_is_drained(ch: *mut rmpsc_mpsc_t) -> bool {
    call_infallible(false, || {
        channel(ch)
            .and_then(|c| c.consumer.enter(|c| Ok(c.is_fully_drained())))
            .unwrap_or(false)
    })
}

/// Signals `notifier` after every commit of any producer (NULL detaches).
/// Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_set_notifier(
    ch: *mut rmpsc_mpsc_t,
    notifier: *const rmpsc_notifier_t,
) -> c_int {
    call(|| {
        let ch = channel(ch)?;
        let n = notifier_arc(notifier);
        ch.consumer.enter(|c| {
            c.set_notifier(n);
            Ok(())
        })
    })
}

fn notifier<'a>(n: *const rmpsc_notifier_t) -> Result<&'a EventNotifier, Error> {
    non_null(n, "notifier")?;
    // SAFETY: non-NULL and live by contract.
    Ok(unsafe { &(*n).notifier })
}

fn notifier_arc(n: *const rmpsc_notifier_t) -> Option<Arc<dyn Notify>> {
    // SAFETY: NULL or a live notifier by contract.
    (!n.is_null()).then(|| unsafe { (*n).notifier.clone() } as Arc<dyn Notify>)
}

/// Creates an eventfd notifier (non-blocking, close-on-exec). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_notifier_new(out: *mut *mut rmpsc_notifier_t) -> c_int {
    call(|| {
        non_null(out, "out")?;
        put(
            out,
            rmpsc_notifier_t {
                notifier: Arc::new(EventNotifier::new()?),
            },
        );
        Ok(())
    })
}

/// Frees the notifier handle (rings it is attached to keep it alive). NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_notifier_free(n: *mut rmpsc_notifier_t) {
    if !n.is_null() {
        // SAFETY: from Box::into_raw; freed once.
        call_infallible((), || drop(unsafe { Box::from_raw(n) }));
    }
}

/// The eventfd, to poll/epoll for readability (-1 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_notifier_fd(n: *const rmpsc_notifier_t) -> c_int {
    call_infallible(-1, || notifier(n).map_or(-1, |n| n.fd()))
}

/// Reads and resets the counter: signals since the last call (0: none). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_notifier_consume(n: *const rmpsc_notifier_t) -> u64 {
    call_infallible(0, || notifier(n).map_or(0, |n| n.consume()))
}

/// Signals the notifier by hand. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_notifier_signal(n: *const rmpsc_notifier_t) -> c_int {
    call(|| {
        notifier(n)?.signal();
        Ok(())
    })
}

/// Producer side of a ring handle: signal `notifier` after every commit
/// (NULL detaches). Errors: RMPSC_EINVAL (not a producer handle), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_ring_set_notifier(
    ring: *mut rmpsc_ring_t,
    notifier: *const rmpsc_notifier_t,
) -> c_int {
    call(|| {
        non_null(ring, "ring")?;
        let n = notifier_arc(notifier);
        // SAFETY: non-NULL and live by contract.
        unsafe { &*ring }.set_notifier(n)
    })
}
