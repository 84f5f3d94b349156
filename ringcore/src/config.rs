//! Ring configuration and its presets.

use crate::error::{Error, Result};

/// Configuration shared by the SPSC ring and the channels built from it.
///
/// ```
/// use ringcore::Config;
/// let cfg = Config { ring_bits: 8, enable_metrics: true, ..Config::default() };
/// assert_eq!(cfg.capacity(), 256);
/// assert_eq!(Config::LOW_LATENCY.capacity(), 4096);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Capacity is `2^ring_bits` slots, `ring_bits` in `0..=32`.
    pub ring_bits: u8,
    /// Most producers a multi-producer channel accepts.
    pub max_producers: usize,
    /// Count messages, batches and batch latency (see [`Metrics`](crate::Metrics)).
    pub enable_metrics: bool,
    /// Count reserve retries (spins) and failures.
    pub track_contention: bool,
    /// NUMA node to place the ring on; `None` picks the node of the creating thread.
    pub numa_node: Option<usize>,
    /// Place ring memory on a NUMA node at all (a no-op on single-node machines).
    pub numa_aware: bool,
    /// Smallest batch for which batch consumers prefetch ahead; 0 disables prefetching.
    pub prefetch_threshold: usize,
}

impl Config {
    /// Largest accepted `ring_bits`.
    pub const MAX_RING_BITS: u8 = 32;

    /// 64 Ki slots: general purpose.
    pub const DEFAULT: Config = Config {
        ring_bits: 16,
        max_producers: 16,
        enable_metrics: false,
        track_contention: false,
        numa_node: None,
        numa_aware: true,
        prefetch_threshold: 16,
    };
    /// 4 Ki slots: a ring of small items stays in L1/L2.
    pub const LOW_LATENCY: Config = Config {
        ring_bits: 12,
        ..Config::DEFAULT
    };
    /// 256 Ki slots: deep buffering for bursty producers.
    pub const HIGH_THROUGHPUT: Config = Config {
        ring_bits: 18,
        ..Config::DEFAULT
    };
    /// 1 Ki slots: the smallest footprint, for latency above all.
    pub const ULTRA_LOW_LATENCY: Config = Config {
        ring_bits: 10,
        ..Config::DEFAULT
    };

    /// A default configuration with `2^ring_bits` slots.
    pub const fn with_ring_bits(ring_bits: u8) -> Config {
        Config {
            ring_bits,
            ..Config::DEFAULT
        }
    }

    /// The `ring_bits` of a ring of `capacity` slots: `InvalidArgument`
    /// unless `capacity` is a power of two of at most `2^MAX_RING_BITS`.
    /// The one check of a capacity that every API (Rust, C, Python) makes.
    pub fn bits_for_capacity(capacity: usize) -> Result<u8> {
        if !capacity.is_power_of_two() || capacity.trailing_zeros() > Self::MAX_RING_BITS as u32 {
            return Err(Error::InvalidArgument(format!(
                "capacity {capacity} is not a power of two of at most 2^{}",
                Self::MAX_RING_BITS
            )));
        }
        Ok(capacity.trailing_zeros() as u8)
    }

    /// A default configuration of `capacity` slots (see
    /// [`bits_for_capacity`](Self::bits_for_capacity)).
    pub fn with_capacity(capacity: usize) -> Result<Config> {
        Ok(Config::with_ring_bits(Self::bits_for_capacity(capacity)?))
    }

    /// Number of slots, `2^ring_bits`.
    pub const fn capacity(&self) -> usize {
        1usize << self.ring_bits
    }

    /// Checks the ranges of every field.
    pub fn validate(&self) -> Result<()> {
        if self.ring_bits > Self::MAX_RING_BITS {
            return Err(Error::InvalidArgument(format!(
                "ring_bits {} is above the maximum of {}",
                self.ring_bits,
                Self::MAX_RING_BITS
            )));
        }
        if self.max_producers == 0 {
            return Err(Error::InvalidArgument(
                "max_producers must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}
