//! `rmpsc_spmc_*` and `rmpsc_mpmc_*`: channels whose consumers claim items
//! with a CAS (every item goes to exactly one consumer), of `elem_size`-byte
//! items. Producers are ring handles (`rmpsc_ring_t`, producer side).

use crate::channel::{c_metrics, call_handler, channel_config, rmpsc_item_fn, rmpsc_metrics_t};
use crate::ring::{rmpsc_ring_t, strategy, Side};
use crate::shared::put;
use crate::{call, call_infallible, non_null, out, out_opt};
use ringcore::channel::{mpmc, spmc};
use ringcore::Error;
use std::ffi::{c_int, c_void};

/// A single-producer multi-consumer channel (opaque). Thread-safe.
pub struct rmpsc_spmc_t {
    ch: spmc::SlotChannel,
}

/// A multi-producer multi-consumer channel (opaque). Thread-safe.
pub struct rmpsc_mpmc_t {
    ch: mpmc::SlotChannel,
}

/// One consumer of an SPMC or MPMC channel (opaque). One thread at a time.
pub struct rmpsc_consumer_t {
    c: Side<Consumer>,
}

/// The consumer of either kind of channel.
enum Consumer {
    Spmc(spmc::SlotConsumer),
    Mpmc(mpmc::SlotConsumer),
}

impl Consumer {
    fn slot_size(&self) -> usize {
        match self {
            Consumer::Spmc(c) => c.slot_size(),
            Consumer::Mpmc(c) => c.slot_size(),
        }
    }
}

fn limit(n: u32, what: &str) -> Result<usize, Error> {
    if n == 0 {
        return Err(Error::InvalidArgument(format!("{what} must be at least 1")));
    }
    Ok(n as usize)
}

fn consumer<'a>(c: *mut rmpsc_consumer_t) -> Result<&'a Side<Consumer>, Error> {
    non_null(c, "consumer")?;
    // SAFETY: non-NULL and live by contract; the Side serialises access.
    Ok(unsafe { &(*c).c })
}

/// `max_items` items' room at `out`, as bytes.
fn items_arg<'a>(out: *mut c_void, max_items: usize, size: usize) -> Result<&'a mut [u8], Error> {
    if max_items == 0 {
        return Ok(&mut []);
    }
    non_null(out, "out")?;
    let bytes = max_items
        .checked_mul(size)
        .ok_or_else(|| Error::InvalidArgument("max_items * elem_size overflows".into()))?;
    // SAFETY: non-NULL and, by the C contract, writable for max_items items.
    Ok(unsafe { std::slice::from_raw_parts_mut(out.cast::<u8>(), bytes) })
}

/// Creates an SPMC channel of a `capacity`-slot ring (a power of two) of
/// `elem_size`-byte items for up to `max_consumers` consumers, `flags` of
/// RMPSC_CHANNEL_* (0: none); its producer
/// (a ring handle with the producer side: rmpsc_ring_send, _reserve, ...)
/// goes to `*producer`. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_spmc_new(
    capacity: usize,
    elem_size: usize,
    max_consumers: u32,
    flags: u32,
    out_channel: *mut *mut rmpsc_spmc_t,
    producer: *mut *mut rmpsc_ring_t,
) -> c_int {
    call(|| {
        non_null(out_channel, "out")?;
        non_null(producer, "producer")?;
        let cfg = spmc::SpmcConfig {
            ring: channel_config(capacity, flags)?,
            max_consumers: limit(max_consumers, "max_consumers")?,
        };
        let (p, ch) = spmc::SlotChannel::new(cfg, elem_size)?;
        put(out_channel, rmpsc_spmc_t { ch });
        out(producer, Box::into_raw(rmpsc_ring_t::with_producer(p)))
    })
}

/// Frees the channel handle (consumers and the producer stay valid until
/// freed). NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_spmc_free(ch: *mut rmpsc_spmc_t) {
    crate::free_handle(ch)
}

fn spmc<'a>(ch: *const rmpsc_spmc_t) -> Result<&'a spmc::SlotChannel, Error> {
    non_null(ch, "channel")?;
    // SAFETY: non-NULL and live by contract; the channel is Sync.
    Ok(unsafe { &(*ch).ch })
}

/// A new consumer. Errors: RMPSC_ETOOMANY, RMPSC_ECLOSED. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_spmc_consumer_new(
    ch: *const rmpsc_spmc_t,
    out_consumer: *mut *mut rmpsc_consumer_t,
) -> c_int {
    call(|| {
        non_null(out_consumer, "out")?;
        let c = spmc(ch)?.register_consumer()?;
        put(
            out_consumer,
            rmpsc_consumer_t {
                c: Side::new("consumer", Consumer::Spmc(c)),
            },
        );
        Ok(())
    })
}

/// Closes the channel: consumers drain what is left, then get
/// RMPSC_ECLOSED. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_spmc_close(ch: *const rmpsc_spmc_t) -> c_int {
    call(|| {
        spmc(ch)?.close();
        Ok(())
    })
}

/// Both sides' counters into `*metrics`. Errors: RMPSC_EINVAL (made
/// without RMPSC_CHANNEL_METRICS). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_spmc_metrics(
    ch: *const rmpsc_spmc_t,
    metrics: *mut rmpsc_metrics_t,
) -> c_int {
    call(|| {
        out(
            metrics,
            c_metrics(&spmc(ch)?.metrics().ok_or_else(no_metrics)?),
        )
    })
}

fn no_metrics() -> Error {
    Error::InvalidArgument("the channel was made without RMPSC_CHANNEL_METRICS".into())
}

/// 1 once the channel is closed, 0 if not (or NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_spmc_is_closed(ch: *const rmpsc_spmc_t) -> bool {
    call_infallible(false, || spmc(ch).is_ok_and(|c| c.is_closed()))
}

/// Items not yet claimed (0 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_spmc_len(ch: *const rmpsc_spmc_t) -> usize {
    call_infallible(0, || spmc(ch).map_or(0, |c| c.len()))
}

/// Creates an MPMC channel: each producer gets its own `capacity`-slot
/// ring of `elem_size`-byte items; at most `max_producers` producers and
/// `max_consumers` consumers; `flags` of RMPSC_CHANNEL_* (0: none). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpmc_new(
    capacity: usize,
    elem_size: usize,
    max_producers: u32,
    max_consumers: u32,
    flags: u32,
    out_channel: *mut *mut rmpsc_mpmc_t,
) -> c_int {
    call(|| {
        non_null(out_channel, "out")?;
        let cfg = mpmc::MpmcConfig {
            ring: channel_config(capacity, flags)?,
            max_producers: limit(max_producers, "max_producers")?,
            max_consumers: limit(max_consumers, "max_consumers")?,
            rings_per_shard: 1,
        };
        put(
            out_channel,
            rmpsc_mpmc_t {
                ch: mpmc::SlotChannel::new(cfg, elem_size)?,
            },
        );
        Ok(())
    })
}

/// Frees the channel handle (producers and consumers stay valid until
/// freed). NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_mpmc_free(ch: *mut rmpsc_mpmc_t) {
    crate::free_handle(ch)
}

fn mpmc<'a>(ch: *const rmpsc_mpmc_t) -> Result<&'a mpmc::SlotChannel, Error> {
    non_null(ch, "channel")?;
    // SAFETY: non-NULL and live by contract; the channel is Sync.
    Ok(unsafe { &(*ch).ch })
}

/// A new producer with its own ring: a ring handle with the producer side.
/// Errors: RMPSC_ETOOMANY, RMPSC_ECLOSED. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpmc_producer_new(
    ch: *const rmpsc_mpmc_t,
    out_producer: *mut *mut rmpsc_ring_t,
) -> c_int {
    call(|| {
        non_null(out_producer, "out")?;
        let p = mpmc(ch)?.register_producer()?;
        out(out_producer, Box::into_raw(rmpsc_ring_t::with_producer(p)))
    })
}

/// A new consumer. Errors: RMPSC_ETOOMANY, RMPSC_ECLOSED. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpmc_consumer_new(
    ch: *const rmpsc_mpmc_t,
    out_consumer: *mut *mut rmpsc_consumer_t,
) -> c_int {
    call(|| {
        non_null(out_consumer, "out")?;
        let c = mpmc(ch)?.register_consumer()?;
        put(
            out_consumer,
            rmpsc_consumer_t {
                c: Side::new("consumer", Consumer::Mpmc(c)),
            },
        );
        Ok(())
    })
}

/// Closes the channel: no more registrations, consumers drain what is
/// left, then get RMPSC_ECLOSED. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpmc_close(ch: *const rmpsc_mpmc_t) -> c_int {
    call(|| {
        mpmc(ch)?.close();
        Ok(())
    })
}

/// Every ring's counters merged into `*metrics`. Errors: RMPSC_EINVAL
/// (made without RMPSC_CHANNEL_METRICS, or no producer yet). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpmc_metrics(
    ch: *const rmpsc_mpmc_t,
    metrics: *mut rmpsc_metrics_t,
) -> c_int {
    call(|| {
        out(
            metrics,
            c_metrics(&mpmc(ch)?.metrics().ok_or_else(no_metrics)?),
        )
    })
}

/// 1 once the channel is closed, 0 if not (or NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpmc_is_closed(ch: *const rmpsc_mpmc_t) -> bool {
    call_infallible(false, || mpmc(ch).is_ok_and(|c| c.is_closed()))
}

/// Items not yet claimed, over all rings (0 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpmc_len(ch: *const rmpsc_mpmc_t) -> usize {
    call_infallible(0, || mpmc(ch).map_or(0, |c| c.len()))
}

/// Frees a consumer. NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_consumer_free(c: *mut rmpsc_consumer_t) {
    crate::free_handle(c)
}

/// Claims up to `max_items` items (an MPMC consumer tries its own shard,
/// then the busiest ring, then a random one) and copies them to `out`; the
/// count goes to `*count` (0: nothing unclaimed). Consumer thread.
#[no_mangle]
pub extern "C" fn rmpsc_consumer_steal(
    c: *mut rmpsc_consumer_t,
    out_items: *mut c_void,
    max_items: usize,
    count: *mut usize,
) -> c_int {
    call(|| {
        non_null(count, "count")?;
        let n = consumer(c)?.enter(|c| {
            let buf = items_arg(out_items, max_items, c.slot_size())?;
            Ok(match c {
                Consumer::Spmc(c) => c.steal(buf),
                Consumer::Mpmc(c) => c.steal(buf),
            })
        })?;
        out(count, n)
    })
}

/// rmpsc_consumer_steal, waiting up to `timeout_ns` (negative: no limit)
/// while nothing is unclaimed. Errors: RMPSC_ETIMEDOUT, RMPSC_ECLOSED
/// (closed and drained). Consumer thread.
#[no_mangle]
pub extern "C" fn rmpsc_consumer_steal_blocking(
    c: *mut rmpsc_consumer_t,
    out_items: *mut c_void,
    max_items: usize,
    timeout_ns: i64,
    count: *mut usize,
) -> c_int {
    call(|| {
        non_null(count, "count")?;
        let n = consumer(c)?.enter(|c| {
            let buf = items_arg(out_items, max_items.max(1), c.slot_size())?;
            match c {
                Consumer::Spmc(c) => c.steal_blocking(buf, strategy(timeout_ns)),
                Consumer::Mpmc(c) => c.steal_blocking(buf, strategy(timeout_ns)),
            }
        })?;
        out(count, n)
    })
}

/// Claims a batch (up to 4096 items) and calls `f(ctx, item)` on each in
/// place (a NULL `f` only counts); the count goes to `*count` (may be
/// NULL). Consumer thread.
#[no_mangle]
pub extern "C" fn rmpsc_consumer_consume(
    c: *mut rmpsc_consumer_t,
    f: rmpsc_item_fn,
    ctx: *mut c_void,
    count: *mut usize,
) -> c_int {
    call(|| {
        let n = consumer(c)?.enter(|c| {
            let mut each = |item: &[u8]| call_handler(f, ctx, item);
            Ok(match c {
                Consumer::Spmc(c) => c.consume_batch(&mut each),
                Consumer::Mpmc(c) => c.steal_batch(&mut each),
            })
        })?;
        out_opt(count, n);
        Ok(())
    })
}
