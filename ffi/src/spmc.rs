//! `rmpsc_spmc_*`: the single-producer multi-consumer channel of
//! `elem_size`-byte items; consumers claim items with a CAS (each item goes
//! to exactly one consumer). Its producer is a ring handle.

use crate::args::{free_handle, handle, Out};
use crate::consumer::rmpsc_consumer_t;
use crate::metrics::{channel_config, no_metrics, rmpsc_metrics_t};
use crate::ring::rmpsc_ring_t;
use crate::{call, call_infallible};
use ringcore::channel::spmc;
use ringcore::{Error, SlotProducer};
use std::ffi::c_int;
use std::sync::Mutex;

/// A single-producer multi-consumer channel (opaque). Thread-safe.
pub struct rmpsc_spmc_t {
    ch: spmc::SlotChannel,
    /// The one producer, until rmpsc_spmc_new_producer takes it.
    producer: Mutex<Option<SlotProducer>>,
}

/// At least 1: a limit of producers or consumers.
pub(crate) fn limit(n: u32, what: &str) -> Result<usize, Error> {
    if n == 0 {
        return Err(Error::InvalidArgument(format!("{what} must be at least 1")));
    }
    Ok(n as usize)
}

fn spmc<'a>(ch: *const rmpsc_spmc_t) -> Result<&'a rmpsc_spmc_t, Error> {
    handle(ch, "channel")
}

/// Creates an SPMC channel of a `capacity`-slot ring (a power of two) of
/// `elem_size`-byte items for up to `max_consumers` consumers, `flags` of
/// RMPSC_CHANNEL_* (0: none). Take its producer with
/// rmpsc_spmc_new_producer. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_spmc_new(
    capacity: usize,
    elem_size: usize,
    max_consumers: u32,
    flags: u32,
    out: *mut *mut rmpsc_spmc_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let cfg = spmc::SpmcConfig {
            ring: channel_config(capacity, flags)?,
            max_consumers: limit(max_consumers, "max_consumers")?,
        };
        let (p, ch) = spmc::slot_channel(cfg, elem_size)?;
        out.put(rmpsc_spmc_t {
            ch,
            producer: Mutex::new(Some(p)),
        });
        Ok(())
    })
}

/// Frees the channel handle (consumers and the producer stay valid until
/// freed). NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_spmc_free(ch: *mut rmpsc_spmc_t) {
    free_handle(ch)
}

/// The channel's one producer: a ring handle with the producer side
/// (rmpsc_ring_send, _reserve, ...). Errors: RMPSC_ETOOMANY (already
/// taken). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_spmc_new_producer(
    ch: *mut rmpsc_spmc_t,
    out: *mut *mut rmpsc_ring_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let mut slot = spmc(ch)?.producer.lock().unwrap_or_else(|e| e.into_inner());
        let p = slot.take().ok_or(Error::TooManyProducers)?;
        out.put(rmpsc_ring_t::with_producer(p));
        Ok(())
    })
}

/// A new consumer. Errors: RMPSC_ETOOMANY, RMPSC_ECLOSED. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_spmc_new_consumer(
    ch: *mut rmpsc_spmc_t,
    out: *mut *mut rmpsc_consumer_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let c = spmc(ch)?.ch.register_consumer()?;
        out.put(rmpsc_consumer_t::new(c));
        Ok(())
    })
}

/// Closes the channel: consumers drain what is left, then get
/// RMPSC_ECLOSED. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_spmc_close(ch: *mut rmpsc_spmc_t) -> c_int {
    call(|| {
        spmc(ch)?.ch.close();
        Ok(())
    })
}

/// Both sides' counters into `*out`. Errors: RMPSC_EINVAL (made without
/// RMPSC_CHANNEL_METRICS). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_spmc_metrics(ch: *const rmpsc_spmc_t, out: *mut rmpsc_metrics_t) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        out.set((&spmc(ch)?.ch.metrics().ok_or_else(no_metrics)?).into());
        Ok(())
    })
}

/// 1 once the channel is closed, 0 if not (or NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_spmc_is_closed(ch: *const rmpsc_spmc_t) -> bool {
    call_infallible(false, || spmc(ch).is_ok_and(|c| c.ch.is_closed()))
}

/// Items not yet claimed (0 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_spmc_len(ch: *const rmpsc_spmc_t) -> usize {
    call_infallible(0, || spmc(ch).map_or(0, |c| c.ch.len()))
}
