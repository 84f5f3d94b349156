//! `rmpsc_mpsc_*`: the MPSC channel of `elem_size`-byte items, one ring
//! per producer. Producers are ring handles (`rmpsc_ring_t`, producer side).

use crate::args::{free_handle, handle, items_mut, strategy, OptOut, Out};
use crate::metrics::{channel_config, no_metrics, rmpsc_metrics_t};
use crate::notifier::{notify_of, rmpsc_notifier_t};
use crate::ring::rmpsc_ring_t;
use crate::side::Side;
use crate::{call, call_infallible};
use ringcore::channel::mpsc::{Registrar, SlotChannel};
use ringcore::{Error, SlotConsumer, SlotProducer};
use std::ffi::{c_int, c_void};

/// A multi-producer single-consumer channel (opaque): one ring per producer.
pub struct rmpsc_mpsc_t {
    registrar: Registrar<SlotProducer, SlotConsumer>,
    /// The consumer side; `None` while an event loop runs it.
    pub(crate) consumer: Side<Option<SlotChannel>>,
    elem_size: usize,
}

impl rmpsc_mpsc_t {
    /// Runs `f` on the consumer side (one thread at a time; `Busy` while
    /// another thread or an event loop has it).
    fn consumer<R>(
        &self,
        f: impl FnOnce(&mut SlotChannel) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.consumer
            .enter(|c| f(c.as_mut().ok_or_else(loop_runs_it)?))
    }
}

/// The error of a consumer call while an event loop has the consumer side.
pub(crate) fn loop_runs_it() -> Error {
    Error::Busy("consumer side (an event loop runs it)")
}

/// A handler called with each item: `ctx` is the caller's pointer, `item`
/// points at `elem_size` bytes valid during the call.
pub type rmpsc_item_fn = Option<extern "C" fn(ctx: *mut c_void, item: *const c_void)>;

/// Hands `item` to the C handler; a NULL handler only counts.
#[inline]
pub(crate) fn call_handler(handler: rmpsc_item_fn, ctx: *mut c_void, item: &[u8]) {
    if let Some(f) = handler {
        f(ctx, item.as_ptr().cast());
    }
}

pub(crate) fn channel<'a>(ch: *const rmpsc_mpsc_t) -> Result<&'a rmpsc_mpsc_t, Error> {
    handle(ch, "channel")
}

/// Creates an MPSC channel whose producers each get a ring of `capacity`
/// slots (a power of two) of `elem_size` bytes; `flags` of
/// RMPSC_CHANNEL_* (0: none). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_new(
    capacity: usize,
    elem_size: usize,
    flags: u32,
    out: *mut *mut rmpsc_mpsc_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let ch = SlotChannel::with_slots(channel_config(capacity, flags)?, elem_size)?;
        out.put(rmpsc_mpsc_t {
            registrar: ch.registrar(),
            consumer: Side::new("consumer side", Some(ch)),
            elem_size,
        });
        Ok(())
    })
}

/// Frees the channel (producers keep their rings until freed). NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_free(ch: *mut rmpsc_mpsc_t) {
    free_handle(ch)
}

/// Registers a producer: `*out` is a ring handle for the producer-side
/// rmpsc_ring_* calls (send, reserve/commit, blocking sends); freeing it
/// deregisters (what it sent is still delivered). Errors: RMPSC_ECLOSED.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_new_producer(
    ch: *mut rmpsc_mpsc_t,
    out: *mut *mut rmpsc_ring_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let p = channel(ch)?.registrar.register()?.into_end();
        out.put(rmpsc_ring_t::with_producer(p));
        Ok(())
    })
}

/// Consumer side. Calls `handler(ctx, item)` on up to `max` items from all
/// producers (one head update per ring); `*out_count` (may be NULL) gets
/// the number handled. A NULL `handler` consumes and only counts.
/// Errors: RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_consume(
    ch: *mut rmpsc_mpsc_t,
    handler: rmpsc_item_fn,
    ctx: *mut c_void,
    max: usize,
    out_count: *mut usize,
) -> c_int {
    call(|| {
        let n = channel(ch)?.consumer(|c| {
            Ok(c.consume_all_up_to(max, |item: &[u8]| call_handler(handler, ctx, item)))
        })?;
        OptOut::new(out_count).set(n);
        Ok(())
    })
}

/// Consumer side. rmpsc_mpsc_consume of everything readable, waiting up to
/// `timeout_ns` while every ring is empty (a NULL `handler` only counts).
/// Errors: RMPSC_ETIMEDOUT, RMPSC_ECLOSED (closed and drained), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_consume_blocking(
    ch: *mut rmpsc_mpsc_t,
    handler: rmpsc_item_fn,
    ctx: *mut c_void,
    timeout_ns: i64,
    out_count: *mut usize,
) -> c_int {
    call(|| {
        let n = channel(ch)?.consumer(|c| {
            c.consume_all_blocking(
                |item: &[u8]| call_handler(handler, ctx, item),
                strategy(timeout_ns),
            )
        })?;
        OptOut::new(out_count).set(n);
        Ok(())
    })
}

/// Consumer side. Copies up to `max` items into `buf` (room for `max *
/// elem_size` bytes), taking from the producers in turn; `*out_received`
/// gets the count (0 when empty). Errors: RMPSC_ECLOSED (closed and
/// drained), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_recv(
    ch: *mut rmpsc_mpsc_t,
    buf: *mut c_void,
    max: usize,
    out_received: *mut usize,
) -> c_int {
    call(|| {
        let out_received = Out::new(out_received, "out_received")?;
        let ch = channel(ch)?;
        let buf = items_mut(buf, max, ch.elem_size, "buf")?;
        let n = ch.consumer(|c| match c.recv(buf) {
            0 if c.is_fully_drained() => Err(Error::Closed),
            n => Ok(n),
        })?;
        out_received.set(n);
        Ok(())
    })
}

/// Consumer side. Copies one item into `buf` (`elem_size` bytes), taking
/// the rings in turn: one ring until the items its producer's position
/// last showed are taken, then the next. Errors: RMPSC_EEMPTY,
/// RMPSC_ECLOSED (closed and drained), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_try_recv(ch: *mut rmpsc_mpsc_t, buf: *mut c_void) -> c_int {
    call(|| {
        let ch = channel(ch)?;
        let buf = items_mut(buf, 1, ch.elem_size, "buf")?;
        ch.consumer(|c| c.try_recv(buf))
    })
}

/// Consumer side. Calls `handler` on everything readable in every ring,
/// whatever the adaptive skip says; the count goes to `*out_count` (may be
/// NULL). A NULL `handler` drains and only counts. Errors: RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_drain(
    ch: *mut rmpsc_mpsc_t,
    handler: rmpsc_item_fn,
    ctx: *mut c_void,
    out_count: *mut usize,
) -> c_int {
    call(|| {
        let n = channel(ch)?
            .consumer(|c| Ok(c.drain_all(|item: &[u8]| call_handler(handler, ctx, item))))?;
        OptOut::new(out_count).set(n);
        Ok(())
    })
}

/// Consumer side. Closes the channel: registrations and sends fail with
/// RMPSC_ECLOSED, what was sent is still delivered, sleepers wake up.
/// Errors: RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_close(ch: *mut rmpsc_mpsc_t) -> c_int {
    call(|| {
        channel(ch)?.consumer(|c| {
            c.close();
            Ok(())
        })
    })
}

/// 1 once the channel is closed (by rmpsc_mpsc_close or an event loop's
/// stop), 0 if not (or NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_is_closed(ch: *const rmpsc_mpsc_t) -> bool {
    call_infallible(false, || channel(ch).is_ok_and(|c| c.registrar.is_closed()))
}

/// Consumer side. Items waiting over all producers (0 for NULL or while
/// another thread has the consumer side).
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_len(ch: *const rmpsc_mpsc_t) -> usize {
    call_infallible(0, || {
        channel(ch)
            .and_then(|c| c.consumer(|c| Ok(c.total_pending())))
            .unwrap_or(0)
    })
}

/// Consumer side. 1 once the channel is closed and every ring is empty.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_is_drained(ch: *const rmpsc_mpsc_t) -> bool {
    call_infallible(false, || {
        channel(ch)
            .and_then(|c| c.consumer(|c| Ok(c.is_fully_drained())))
            .unwrap_or(false)
    })
}

/// A snapshot of an MPSC channel.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct rmpsc_mpsc_snapshot_t {
    /// Rings the consumer polls.
    pub rings: usize,
    /// Items waiting over all rings.
    pub len: usize,
    /// Whether the channel is closed.
    pub closed: bool,
    /// Whether `metrics` holds counters (the channel was made with RMPSC_CHANNEL_METRICS).
    pub has_metrics: bool,
    /// All rings' counters merged.
    pub metrics: rmpsc_metrics_t,
    /// Seconds since the channel was created.
    pub uptime_s: f64,
    /// Items received per second since creation (with metrics).
    pub throughput: f64,
    /// Mean batch processing time in nanoseconds (with metrics).
    pub avg_latency_ns: f64,
}

/// Consumer side. A snapshot of the channel into `*out`. Errors: RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_snapshot(
    ch: *const rmpsc_mpsc_t,
    out: *mut rmpsc_mpsc_snapshot_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let s = channel(ch)?.consumer(|c| Ok(c.snapshot()))?;
        out.set(rmpsc_mpsc_snapshot_t {
            rings: s.rings,
            len: s.pending,
            closed: s.closed,
            has_metrics: s.metrics.is_some(),
            metrics: (&s.metrics.unwrap_or_default()).into(),
            uptime_s: s.uptime.as_secs_f64(),
            throughput: s.throughput,
            avg_latency_ns: s.avg_latency_ns,
        });
        Ok(())
    })
}

/// Consumer side. Every ring's counters merged into `*out`. Errors:
/// RMPSC_EINVAL (made without RMPSC_CHANNEL_METRICS), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_metrics(ch: *const rmpsc_mpsc_t, out: *mut rmpsc_metrics_t) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let m = channel(ch)?.consumer(|c| c.snapshot().metrics.ok_or_else(no_metrics))?;
        out.set((&m).into());
        Ok(())
    })
}

/// Consumer side. The ring with the most items waiting, to `*out_ring`.
/// Errors: RMPSC_EEMPTY (no ring registered, or none has items),
/// RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_hottest_ring(ch: *const rmpsc_mpsc_t, out_ring: *mut usize) -> c_int {
    call(|| {
        let out_ring = Out::new(out_ring, "out_ring")?;
        out_ring.set(channel(ch)?.consumer(|c| c.hottest_ring().ok_or(Error::Empty))?);
        Ok(())
    })
}

/// Consumer side. Items waiting in ring `ring` (as numbered by
/// registration), to `*out_len`. Errors: RMPSC_EINVAL (no such ring, or
/// one whose producer has left), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_ring_len(
    ch: *const rmpsc_mpsc_t,
    ring: usize,
    out_len: *mut usize,
) -> c_int {
    call(|| {
        let out_len = Out::new(out_len, "out_len")?;
        let n = channel(ch)?.consumer(|c| {
            c.get_ring(ring)
                .map(|r| r.len())
                .ok_or_else(|| Error::InvalidArgument(format!("no ring {ring}")))
        })?;
        out_len.set(n);
        Ok(())
    })
}

/// Consumer side. Polls every ring at the next pass again (adaptive skip
/// reset). Errors: RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_reset_adaptive_skip(ch: *mut rmpsc_mpsc_t) -> c_int {
    call(|| {
        channel(ch)?.consumer(|c| {
            c.reset_adaptive_skip();
            Ok(())
        })
    })
}

/// Signals `notifier` after every commit of any producer (NULL detaches).
/// Errors: RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_set_notifier(
    ch: *mut rmpsc_mpsc_t,
    notifier: *const rmpsc_notifier_t,
) -> c_int {
    call(|| {
        let n = notify_of(notifier);
        channel(ch)?.consumer(|c| {
            c.set_notifier(n);
            Ok(())
        })
    })
}
