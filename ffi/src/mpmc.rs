//! `rmpsc_mpmc_*`: the multi-producer multi-consumer channel of
//! `elem_size`-byte items: a ring per producer, consumers claim items with
//! a CAS. Producers are ring handles.

use crate::args::{free_handle, handle, Out};
use crate::consumer::rmpsc_consumer_t;
use crate::metrics::{channel_config, no_metrics, rmpsc_metrics_t};
use crate::ring::rmpsc_ring_t;
use crate::spmc::limit;
use crate::{call, call_infallible};
use ringcore::channel::mpmc;
use ringcore::Error;
use std::ffi::c_int;

/// A multi-producer multi-consumer channel (opaque). Thread-safe.
pub struct rmpsc_mpmc_t {
    ch: mpmc::SlotChannel,
}

fn mpmc<'a>(ch: *const rmpsc_mpmc_t) -> Result<&'a mpmc::SlotChannel, Error> {
    Ok(&handle(ch, "channel")?.ch)
}

/// Creates an MPMC channel: each producer gets its own `capacity`-slot
/// ring of `elem_size`-byte items; at most `max_producers` producers over
/// the channel's life (a producer's ring stays after it is freed) and
/// `max_consumers` consumers at once; `flags` of RMPSC_CHANNEL_* (0: none). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpmc_new(
    capacity: usize,
    elem_size: usize,
    max_producers: u32,
    max_consumers: u32,
    flags: u32,
    out: *mut *mut rmpsc_mpmc_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let cfg = mpmc::MpmcConfig {
            ring: channel_config(capacity, flags)?,
            max_producers: limit(max_producers, "max_producers")?,
            max_consumers: limit(max_consumers, "max_consumers")?,
            rings_per_shard: 1,
        };
        out.put(rmpsc_mpmc_t {
            ch: mpmc::slot_channel(cfg, elem_size)?,
        });
        Ok(())
    })
}

/// Frees the channel handle (producers and consumers stay valid until
/// freed). NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_mpmc_free(ch: *mut rmpsc_mpmc_t) {
    free_handle(ch)
}

/// A new producer with its own ring: a ring handle with the producer side.
/// Errors: RMPSC_ETOOMANY, RMPSC_ECLOSED. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpmc_new_producer(
    ch: *mut rmpsc_mpmc_t,
    out: *mut *mut rmpsc_ring_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        out.put(rmpsc_ring_t::with_producer(mpmc(ch)?.register_producer()?));
        Ok(())
    })
}

/// A new consumer. Errors: RMPSC_ETOOMANY, RMPSC_ECLOSED. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpmc_new_consumer(
    ch: *mut rmpsc_mpmc_t,
    out: *mut *mut rmpsc_consumer_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let c = mpmc(ch)?.register_consumer()?;
        out.put(rmpsc_consumer_t::new(c));
        Ok(())
    })
}

/// Closes the channel: no more registrations, consumers drain what is
/// left, then get RMPSC_ECLOSED. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpmc_close(ch: *mut rmpsc_mpmc_t) -> c_int {
    call(|| {
        mpmc(ch)?.close();
        Ok(())
    })
}

/// Every ring's counters merged into `*out`. Errors: RMPSC_EINVAL (made
/// without RMPSC_CHANNEL_METRICS, or no producer yet). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpmc_metrics(ch: *const rmpsc_mpmc_t, out: *mut rmpsc_metrics_t) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        out.set((&mpmc(ch)?.metrics().ok_or_else(no_metrics)?).into());
        Ok(())
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
