//! Multi-producer multi-consumer: one claim ring per producer (producers
//! never contend), and consumers that steal work in three phases: first
//! from the rings of their own shard (locality), then from the ring with
//! the most unclaimed items (load balance), then from a random ring (so no
//! ring starves). Every item goes to exactly one consumer.

use super::claim::ClaimCore;
use super::spmc::{
    claim_ring_slots, claim_ring_with, consume_claimed, consume_slots, steal_into, steal_slots,
    Inner, MAX_BATCH,
};
use super::{ChannelWake, XorShift};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::notify::Notify;
use crate::ring::{Producer, SlotProducer};
use crate::wait::{WaitStrategy, Waiter};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Configuration of an MPMC channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpmcConfig {
    /// Each producer's ring (capacity, NUMA placement).
    pub ring: Config,
    /// Most producers at once.
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

type Lanes = Arc<Vec<Arc<Inner>>>;

struct Shared {
    config: MpmcConfig,
    /// The rings, replaced (copy on write) when a producer registers.
    lanes: Mutex<Lanes>,
    /// Bumped (Release) after `lanes` changed.
    version: AtomicUsize,
    producers: AtomicUsize,
    consumers: AtomicUsize,
    next_consumer: AtomicUsize,
    closed: AtomicBool,
    wake: Arc<ChannelWake>,
}

/// An MPMC channel: registers producers and consumers (`Clone`, `Send`, `Sync`).
///
/// ```
/// use ringcore::channel::mpmc;
/// use ringcore::WaitStrategy;
/// let ch = mpmc::Channel::<u64>::new(mpmc::MpmcConfig::default())?;
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
pub struct Channel<T> {
    shared: Arc<Shared>,
    _marker: PhantomData<fn() -> T>,
}

impl<T: Send> std::fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("mpmc::Channel")
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        Channel {
            shared: self.shared.clone(),
            _marker: PhantomData,
        }
    }
}

/// A consumer of an MPMC channel. `Send`, not `Clone`.
pub struct Consumer<T> {
    shared: Arc<Shared>,
    id: usize,
    lanes: Lanes,
    version: usize,
    rng: XorShift,
    _marker: PhantomData<T>,
}

impl<T> std::fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("mpmc::Consumer")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

// SAFETY: a consumer touches only items it claimed; items cross threads.
unsafe impl<T: Send> Send for Consumer<T> {}

impl<T: Send> Channel<T> {
    /// An empty channel.
    pub fn new(config: MpmcConfig) -> Result<Channel<T>> {
        config.ring.validate()?;
        if config.max_producers == 0 || config.max_consumers == 0 || config.rings_per_shard == 0 {
            return Err(Error::InvalidArgument(
                "max_producers, max_consumers and rings_per_shard must be at least 1".into(),
            ));
        }
        Ok(Channel {
            shared: Arc::new(Shared {
                config,
                lanes: Mutex::new(Arc::new(Vec::new())),
                version: AtomicUsize::new(0),
                producers: AtomicUsize::new(0),
                consumers: AtomicUsize::new(0),
                next_consumer: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
                wake: ChannelWake::new(),
            }),
            _marker: PhantomData,
        })
    }

    /// A new producer with its own ring. `TooManyProducers` past
    /// `max_producers`, `Closed` once the channel is closed.
    pub fn register_producer(&self) -> Result<Producer<T>> {
        self.add_lane(
            |c| claim_ring_with::<T>(c, usize::MAX),
            |p: &mut Producer<T>, n| p.set_notifier(Some(n)),
        )
    }

    /// Makes a producer's ring with `make` and adds it to the lanes that
    /// consumers steal from.
    fn add_lane<P>(
        &self,
        make: impl FnOnce(&Config) -> Result<(P, Arc<Inner>)>,
        notify: impl FnOnce(&mut P, Arc<dyn Notify>),
    ) -> Result<P> {
        let s = &self.shared;
        let mut lanes = s.lanes.lock().unwrap_or_else(|p| p.into_inner());
        if s.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if lanes.len() >= s.config.max_producers {
            return Err(Error::TooManyProducers);
        }
        let (mut p, inner) = make(&s.config.ring)?;
        notify(&mut p, s.wake.clone());
        let mut next = Vec::clone(&lanes);
        next.push(inner);
        *lanes = Arc::new(next);
        s.producers.fetch_add(1, Ordering::AcqRel);
        // Release: consumers that see the new version see the new ring list.
        s.version.fetch_add(1, Ordering::Release);
        Ok(p)
    }

    /// A new consumer. `TooManyConsumers` past `max_consumers`, `Closed`
    /// once the channel is closed.
    pub fn register_consumer(&self) -> Result<Consumer<T>> {
        let s = &self.shared;
        if s.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let max = s.config.max_consumers;
        s.consumers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| Error::TooManyConsumers)?;
        let id = s.next_consumer.fetch_add(1, Ordering::Relaxed);
        let version = s.version.load(Ordering::Acquire);
        let lanes = s.lanes.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Ok(Consumer {
            shared: s.clone(),
            id,
            lanes,
            version,
            rng: XorShift::new(0x9e37_79b9_7f4a_7c15 ^ id as u64),
            _marker: PhantomData,
        })
    }

    /// Closes the channel: no more registrations, every ring closes, and
    /// consumers drain what is left, then get `Closed`.
    pub fn close(&self) {
        let s = &self.shared;
        let lanes = s.lanes.lock().unwrap_or_else(|p| p.into_inner());
        s.closed.store(true, Ordering::Release);
        for l in lanes.iter() {
            l.ring_raw().close();
        }
        s.wake.wake_all();
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Items not yet claimed, over all rings.
    pub fn len(&self) -> usize {
        let lanes = self
            .shared
            .lanes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        lanes
            .iter()
            .map(|l| l.core().unclaimed().unwrap_or(0))
            .sum()
    }

    /// True when nothing waits to be claimed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every ring's counters merged (`None` unless the rings were
    /// configured with `enable_metrics` or `track_contention`).
    pub fn metrics(&self) -> Option<Metrics> {
        let lanes = self
            .shared
            .lanes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        lanes.iter().filter_map(|l| l.metrics()).reduce(|mut a, b| {
            a.merge(&b);
            a
        })
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        self.shared.consumers.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<T: Send> Consumer<T> {
    /// Picks up rings registered since the last call.
    fn refresh(&mut self) {
        let v = self.shared.version.load(Ordering::Acquire);
        if v != self.version {
            self.lanes = self
                .shared
                .lanes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            self.version = v;
        }
    }

    /// The rings to try, in the three phases: own shard, the hottest ring,
    /// a random ring.
    fn candidates(&mut self) -> impl Iterator<Item = usize> + '_ {
        let n = self.lanes.len();
        let consumers = self.shared.consumers.load(Ordering::Relaxed).max(1);
        let rps = self.shared.config.rings_per_shard;
        let me = self.id % consumers;
        let own = (0..n).filter(move |i| (i / rps) % consumers == me);
        let hottest = (0..n).max_by_key(|&i| self.lanes[i].core().unclaimed().unwrap_or(0));
        let random = (n > 0).then(|| (self.rng.next() % n as u64) as usize);
        own.chain(hottest).chain(random)
    }

    /// Runs `op` on the rings of the three phases in turn until it takes
    /// something; with `sweep`, then on every ring, so that nothing is
    /// reported empty that is not. Returns what `op` took.
    fn phased(&mut self, mut op: impl FnMut(ClaimCore<'_>) -> usize, sweep: bool) -> usize {
        self.refresh();
        let lanes = self.lanes.clone();
        for i in self.candidates().collect::<Vec<_>>() {
            let n = op(lanes[i].core());
            if n > 0 {
                return n;
            }
        }
        if !sweep {
            return 0;
        }
        lanes
            .iter()
            .map(|l| op(l.core()))
            .find(|&n| n > 0)
            .unwrap_or(0)
    }

    /// [`phased`](Self::phased) with a sweep, waiting by `strategy` while
    /// every ring is empty. `Closed` once the channel is closed and drained.
    fn phased_blocking(
        &mut self,
        mut op: impl FnMut(ClaimCore<'_>) -> usize,
        strategy: WaitStrategy,
    ) -> Result<usize> {
        let mut waiter = Waiter::new(strategy);
        loop {
            let n = self.phased(&mut op, true);
            if n > 0 {
                return Ok(n);
            }
            if self.is_drained_and_closed() {
                return Err(Error::Closed);
            }
            let (shared, lanes) = (self.shared.clone(), self.lanes.clone());
            let version = self.version;
            waiter.wait_with(|left| {
                shared.wake.park(
                    || {
                        shared.closed.load(Ordering::Acquire)
                            || shared.version.load(Ordering::Acquire) != version
                            || lanes.iter().any(|l| l.core().unclaimed().unwrap_or(0) > 0)
                    },
                    left,
                )
            })?;
        }
    }

    /// Claims a batch (up to 4096 items) from the first ring that has work,
    /// trying the three phases in turn, and calls `f` on each item in
    /// place; returns the count (0 when every ring is empty).
    pub fn consume_batch(&mut self, mut f: impl FnMut(&T)) -> usize {
        self.phased(|core| consume_claimed(core, MAX_BATCH, &mut f), false)
    }

    /// Claims up to `out.len()` items into `out` (three phases); returns the count.
    pub fn steal(&mut self, out: &mut [T]) -> usize
    where
        T: Copy,
    {
        self.phased(|core| steal_into(core, out), true)
    }

    /// [`steal`](Self::steal), waiting by `strategy` while every ring is
    /// empty. `Closed` once the channel is closed and drained.
    pub fn steal_blocking(&mut self, out: &mut [T], strategy: WaitStrategy) -> Result<usize>
    where
        T: Copy,
    {
        self.phased_blocking(|core| steal_into(core, out), strategy)
    }

    fn is_drained_and_closed(&mut self) -> bool {
        self.refresh();
        self.shared.closed.load(Ordering::Acquire)
            && self
                .lanes
                .iter()
                .all(|l| l.core().unclaimed().unwrap_or(0) == 0)
    }

    /// This consumer's id (its shard).
    pub fn id(&self) -> usize {
        self.id
    }
}

impl Inner {
    pub(crate) fn ring_raw(&self) -> crate::ring::raw::RawRing {
        self.core().raw
    }
}

/// The item type of the channel a [`SlotChannel`] wraps: never a value,
/// only a name (slot channels move bytes).
enum Bytes {}

/// An MPMC channel of run-time sized byte slots (what the C and Python
/// APIs use): the same rings, claims and stealing as [`Channel`].
///
/// ```
/// use ringcore::channel::mpmc::{MpmcConfig, SlotChannel};
/// let ch = SlotChannel::new(MpmcConfig::default(), 2)?;
/// let mut a = ch.register_producer()?;
/// let mut c = ch.register_consumer()?;
/// a.send(b"hi")?;
/// let mut got = Vec::new();
/// c.consume_batch(|item| got.extend_from_slice(item));
/// assert_eq!(got, b"hi");
/// # Ok::<(), ringcore::Error>(())
/// ```
#[derive(Clone)]
pub struct SlotChannel {
    ch: Channel<Bytes>,
    slot_size: usize,
}

impl std::fmt::Debug for SlotChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("mpmc::SlotChannel")
            .field("slot_size", &self.slot_size)
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// A consumer of a [`SlotChannel`]. `Send`, not `Clone`.
pub struct SlotConsumer {
    c: Consumer<Bytes>,
    slot_size: usize,
}

impl std::fmt::Debug for SlotConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("mpmc::SlotConsumer")
            .field("id", &self.c.id)
            .field("slot_size", &self.slot_size)
            .finish_non_exhaustive()
    }
}

impl SlotChannel {
    /// An empty channel of `slot_size`-byte items.
    pub fn new(config: MpmcConfig, slot_size: usize) -> Result<SlotChannel> {
        if slot_size == 0 {
            return Err(Error::InvalidArgument(
                "slot size must be at least 1".into(),
            ));
        }
        Ok(SlotChannel {
            ch: Channel::new(config)?,
            slot_size,
        })
    }

    /// A new producer with its own ring (`TooManyProducers`, `Closed`).
    pub fn register_producer(&self) -> Result<SlotProducer> {
        let size = self.slot_size;
        self.ch.add_lane(
            |c| claim_ring_slots(c, size, usize::MAX),
            |p: &mut SlotProducer, n| p.set_notifier(Some(n)),
        )
    }

    /// A new consumer (`TooManyConsumers`, `Closed`).
    pub fn register_consumer(&self) -> Result<SlotConsumer> {
        Ok(SlotConsumer {
            c: self.ch.register_consumer()?,
            slot_size: self.slot_size,
        })
    }

    /// Closes the channel (see [`Channel::close`]).
    pub fn close(&self) {
        self.ch.close();
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.ch.is_closed()
    }

    /// Items not yet claimed, over all rings.
    pub fn len(&self) -> usize {
        self.ch.len()
    }

    /// True when nothing waits to be claimed.
    pub fn is_empty(&self) -> bool {
        self.ch.is_empty()
    }

    /// Bytes per item.
    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// Every ring's counters merged (see [`Channel::metrics`]).
    pub fn metrics(&self) -> Option<Metrics> {
        self.ch.metrics()
    }
}

impl SlotConsumer {
    /// Claims a batch (up to 4096 items, three phases) and calls `f` on each
    /// in place; returns the count.
    pub fn consume_batch(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        self.c
            .phased(|core| consume_slots(core, MAX_BATCH, &mut f), false)
    }

    /// Claims as many whole items as `out` holds (three phases) and copies
    /// them in; returns the count.
    pub fn steal(&mut self, out: &mut [u8]) -> usize {
        self.c.phased(|core| steal_slots(core, out), true)
    }

    /// Claims up to `max` items from the first ring that has any (three
    /// phases, then every ring) and calls `f` on each in place; returns the
    /// count (0: every ring empty).
    pub fn consume_up_to(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> usize {
        self.c.phased(|core| consume_slots(core, max, &mut f), true)
    }

    /// Waits by `strategy` until some ring has an unclaimed item (another
    /// consumer may claim it first). `Closed` once closed and drained.
    pub fn wait_for_data(&mut self, strategy: WaitStrategy) -> Result<()> {
        self.c
            .phased_blocking(|core| core.unclaimed().unwrap_or(0), strategy)
            .map(|_| ())
    }

    /// [`steal`](Self::steal), waiting by `strategy` while every ring is
    /// empty. `Closed` once the channel is closed and drained.
    pub fn steal_blocking(&mut self, out: &mut [u8], strategy: WaitStrategy) -> Result<usize> {
        if out.len() < self.slot_size {
            return Err(Error::InvalidArgument(
                "the buffer cannot hold one item".into(),
            ));
        }
        self.c
            .phased_blocking(|core| steal_slots(core, out), strategy)
    }

    /// Bytes per item.
    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// This consumer's id (its shard).
    pub fn id(&self) -> usize {
        self.c.id()
    }
}
