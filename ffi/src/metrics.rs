//! `rmpsc_metrics_*`: the counters of rings and channels, and the channel
//! flags that turn them on.

use crate::args::{handle, Out};
use crate::{call, call_infallible};
use ringcore::{Config, Error, Metrics};
use std::ffi::c_int;

/// Channel flag: count messages, batches and batch latency (read them with
/// rmpsc_mpsc_metrics, rmpsc_spmc_metrics, rmpsc_mpmc_metrics).
pub const RMPSC_CHANNEL_METRICS: u32 = 1;
/// Channel flag: also count reserve retries and failures.
pub const RMPSC_CHANNEL_TRACK_CONTENTION: u32 = 2;

/// The ring configuration of a channel: `capacity` slots, `flags` of
/// RMPSC_CHANNEL_*.
pub(crate) fn channel_config(capacity: usize, flags: u32) -> Result<Config, Error> {
    if flags & !(RMPSC_CHANNEL_METRICS | RMPSC_CHANNEL_TRACK_CONTENTION) != 0 {
        return Err(Error::InvalidArgument(format!("unknown flags {flags:#x}")));
    }
    Ok(Config {
        enable_metrics: flags & RMPSC_CHANNEL_METRICS != 0,
        track_contention: flags & RMPSC_CHANNEL_TRACK_CONTENTION != 0,
        ..Config::with_capacity(capacity)?
    })
}

/// The error of a metrics call on a channel made without them.
pub(crate) fn no_metrics() -> Error {
    Error::InvalidArgument("the channel was made without RMPSC_CHANNEL_METRICS".into())
}

/// Counters of a ring or channel (zero unless built with metrics).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct rmpsc_metrics_t {
    /// Items committed by producers.
    pub messages_sent: u64,
    /// Items consumed.
    pub messages_received: u64,
    /// Commits (each may carry many items).
    pub batches_sent: u64,
    /// Consume calls that returned at least one item.
    pub batches_received: u64,
    /// Retries of a reserve that found the ring full (with contention tracking).
    pub reserve_spins: u64,
    /// Reserves that gave up on a full ring.
    pub reserve_failures: u64,
    /// Time spent in blocking waits, in nanoseconds.
    pub total_wait_ns: u64,
    /// Largest batch consumed at once.
    pub max_batch_size: u64,
    /// Sum of batch processing times, in nanoseconds.
    pub latency_sum_ns: u64,
    /// Number of timed batches.
    pub latency_count: u64,
    /// Shortest batch time; meaningful only while `latency_count` is non-zero.
    pub latency_min_ns: u64,
    /// Longest batch time.
    pub latency_max_ns: u64,
}

/// Converts between the C and Rust counters, field by field.
macro_rules! metrics_fields {
    ($($f:ident),*) => {
        impl From<&Metrics> for rmpsc_metrics_t {
            fn from(m: &Metrics) -> Self {
                rmpsc_metrics_t { $($f: m.$f),* }
            }
        }

        impl From<&rmpsc_metrics_t> for Metrics {
            fn from(m: &rmpsc_metrics_t) -> Self {
                Metrics { $($f: m.$f),* }
            }
        }
    };
}

metrics_fields!(
    messages_sent,
    messages_received,
    batches_sent,
    batches_received,
    reserve_spins,
    reserve_failures,
    total_wait_ns,
    max_batch_size,
    latency_sum_ns,
    latency_count,
    latency_min_ns,
    latency_max_ns
);

fn metrics(m: *const rmpsc_metrics_t) -> Result<Metrics, Error> {
    Ok(handle(m, "metrics")?.into())
}

/// Adds `from` into `into` (sums, wrapping; minimum and maximum combined,
/// the minimum only from sides with `latency_count` > 0). Start a total
/// from a zeroed struct. Errors: RMPSC_EINVAL (NULL).
#[no_mangle]
pub extern "C" fn rmpsc_metrics_merge(
    into: *mut rmpsc_metrics_t,
    from: *const rmpsc_metrics_t,
) -> c_int {
    call(|| {
        let mut total = metrics(into)?;
        total.merge(&metrics(from)?);
        Out::new(into, "into")?.set((&total).into());
        Ok(())
    })
}

/// Mean batch processing time in nanoseconds (0 before any batch or for NULL).
#[no_mangle]
pub extern "C" fn rmpsc_metrics_avg_latency_ns(m: *const rmpsc_metrics_t) -> f64 {
    call_infallible(0.0, || metrics(m).map_or(0.0, |m| m.avg_latency_ns()))
}

/// Mean items per consumed batch (0 before any batch or for NULL).
#[no_mangle]
pub extern "C" fn rmpsc_metrics_avg_batch_size(m: *const rmpsc_metrics_t) -> f64 {
    call_infallible(0.0, || metrics(m).map_or(0.0, |m| m.avg_batch_size()))
}

/// Items received per second over `elapsed_s` seconds (0 when not positive
/// or for NULL).
#[no_mangle]
pub extern "C" fn rmpsc_metrics_throughput(m: *const rmpsc_metrics_t, elapsed_s: f64) -> f64 {
    call_infallible(0.0, || {
        let elapsed = std::time::Duration::try_from_secs_f64(elapsed_s).unwrap_or_default();
        metrics(m).map_or(0.0, |m| m.throughput_per_second(elapsed))
    })
}
