//! Single-producer multi-consumer: a [`ClaimChannel`] whose one producer is
//! made with it. Consumers claim runs of items with a CAS; every item goes
//! to exactly one consumer. Closing or dropping the producer closes the
//! channel: the consumers drain what is left, then get `Closed`.

use super::claiming::{Bytes, ClaimChannel, ClaimConsumer, Typed};
use super::mpmc::MpmcConfig;
use crate::config::Config;
use crate::error::Result;
use crate::ring::{Producer, SlotProducer};

pub use super::claiming::MAX_BATCH;

/// Configuration of an SPMC channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpmcConfig {
    /// The ring (capacity, NUMA placement, metrics).
    pub ring: Config,
    /// Most consumers registered at once.
    pub max_consumers: usize,
}

impl Default for SpmcConfig {
    fn default() -> Self {
        SpmcConfig {
            ring: Config::DEFAULT,
            max_consumers: 16,
        }
    }
}

impl From<SpmcConfig> for MpmcConfig {
    fn from(c: SpmcConfig) -> MpmcConfig {
        MpmcConfig {
            ring: c.ring,
            max_producers: 1,
            max_consumers: c.max_consumers,
            rings_per_shard: 1,
        }
    }
}

/// An SPMC channel of `T`: registers consumers.
pub type Channel<T> = ClaimChannel<Typed<T>>;
/// One consumer of an SPMC channel of `T`.
pub type Consumer<T> = ClaimConsumer<Typed<T>>;
/// An SPMC channel of run-time sized byte slots (the C and Python APIs).
pub type SlotChannel = ClaimChannel<Bytes>;
/// One consumer of a [`SlotChannel`].
pub type SlotConsumer = ClaimConsumer<Bytes>;

/// A channel of `T`: its producer, and the handle that registers consumers.
///
/// ```
/// use ringcore::channel::spmc;
/// use ringcore::WaitStrategy;
/// let (mut tx, ch) = spmc::channel::<u64>(spmc::SpmcConfig::default())?;
/// let workers: Vec<_> = (0..3).map(|_| {
///     let mut rx = ch.register_consumer().unwrap();
///     std::thread::spawn(move || {
///         let mut sum = 0;
///         while let Ok(x) = rx.recv_blocking(WaitStrategy::Blocking) { sum += x; }
///         sum
///     })
/// }).collect();
/// for i in 1..=1000 { tx.send_one_blocking(i, WaitStrategy::Blocking).unwrap(); }
/// drop(tx); // closes: the workers drain and stop
/// let total: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
/// assert_eq!(total, 500_500);
/// # Ok::<(), ringcore::Error>(())
/// ```
pub fn channel<T: Send + 'static>(config: SpmcConfig) -> Result<(Producer<T>, Channel<T>)> {
    let ch = Channel::new(config.into(), true)?;
    Ok((ch.register_producer()?, ch))
}

/// A channel of `slot_size`-byte items: its producer, and the handle that
/// registers consumers.
///
/// ```
/// use ringcore::channel::spmc;
/// let (mut tx, ch) = spmc::slot_channel(spmc::SpmcConfig::default(), 4)?;
/// let mut rx = ch.register_consumer()?;
/// tx.send(b"abcdefgh")?;                   // two 4-byte items
/// let mut out = [0u8; 8];
/// assert_eq!(rx.steal(&mut out), 2);
/// assert_eq!(&out, b"abcdefgh");
/// # Ok::<(), ringcore::Error>(())
/// ```
pub fn slot_channel(config: SpmcConfig, slot_size: usize) -> Result<(SlotProducer, SlotChannel)> {
    let ch = SlotChannel::with_slots(config.into(), slot_size, true)?;
    Ok((ch.register_producer()?, ch))
}
