//! Multi-producer multi-consumer: a [`ClaimChannel`] that registers
//! producers as they come, one ring each (producers never contend), and
//! consumers that claim from their own shard, the busiest ring, a random
//! ring, then any. Every item goes to exactly one consumer.

use super::claiming::{Bytes, ClaimChannel, ClaimConsumer, Typed};
use crate::config::Config;
use crate::error::Result;

pub use super::claiming::MAX_BATCH;

/// Configuration of an MPMC channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpmcConfig {
    /// Each producer's ring (capacity, NUMA placement, metrics).
    pub ring: Config,
    /// Most producers over the channel's life: each producer's ring stays
    /// with the channel, also after the producer is dropped.
    pub max_producers: usize,
    /// Most consumers at once.
    pub max_consumers: usize,
    /// Consecutive rings in one consumer's shard.
    pub rings_per_shard: usize,
}

impl Default for MpmcConfig {
    fn default() -> Self {
        MpmcConfig {
            ring: Config::with_ring_bits(12),
            max_producers: 16,
            max_consumers: 16,
            rings_per_shard: 1,
        }
    }
}

/// An MPMC channel of `T`: registers producers and consumers.
pub type Channel<T> = ClaimChannel<Typed<T>>;
/// One consumer of an MPMC channel of `T`.
pub type Consumer<T> = ClaimConsumer<Typed<T>>;
/// An MPMC channel of run-time sized byte slots (the C and Python APIs).
pub type SlotChannel = ClaimChannel<Bytes>;
/// One consumer of a [`SlotChannel`].
pub type SlotConsumer = ClaimConsumer<Bytes>;

/// An empty channel of `T`.
///
/// ```
/// use ringcore::channel::mpmc;
/// let ch = mpmc::channel::<u64>(mpmc::MpmcConfig::default())?;
/// let mut a = ch.register_producer()?;
/// let mut b = ch.register_producer()?;
/// let mut c = ch.register_consumer()?;
/// a.send(&[1, 2]);
/// b.send(&[3]);
/// let mut sum = 0;
/// while c.consume_batch(|x| sum += x) > 0 {}
/// assert_eq!(sum, 6);
/// # Ok::<(), ringcore::Error>(())
/// ```
pub fn channel<T: Send + 'static>(config: MpmcConfig) -> Result<Channel<T>> {
    Channel::new(config, false)
}

/// An empty channel of `slot_size`-byte items.
///
/// ```
/// use ringcore::channel::mpmc;
/// let ch = mpmc::slot_channel(mpmc::MpmcConfig::default(), 2)?;
/// let mut a = ch.register_producer()?;
/// let mut c = ch.register_consumer()?;
/// a.send(b"hi")?;
/// let mut got = Vec::new();
/// c.consume_batch(|item| got.extend_from_slice(item));
/// assert_eq!(got, b"hi");
/// # Ok::<(), ringcore::Error>(())
/// ```
pub fn slot_channel(config: MpmcConfig, slot_size: usize) -> Result<SlotChannel> {
    SlotChannel::with_slots(config, slot_size, false)
}
