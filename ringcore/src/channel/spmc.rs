//! Single-producer multi-consumer: one ring, whose consumers claim runs of
//! items with a CAS (see [`claim`](super::claim)); every item goes to
//! exactly one consumer.

use super::claim::{ClaimCore, ClaimCounters, ClaimState, CompleteOnDrop};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::metrics::RingMetrics;
use crate::ring::heap::{drop_items, HeapRing};
use crate::ring::raw::RawRing;
use crate::ring::typed::Owner;
use crate::ring::{Producer, SlotProducer};
use crate::wait::{WaitStrategy, Waiter};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Most items a consumer claims in one `consume_batch`.
pub const MAX_BATCH: usize = 4096;

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

pub(crate) struct Inner {
    ring: Arc<HeapRing>,
    state: ClaimState,
    consumers: AtomicUsize,
    max_consumers: usize,
    /// The producer's counters and the consumers', with `enable_metrics`.
    metrics: Option<(Arc<RingMetrics>, ClaimCounters)>,
}

impl Inner {
    pub(crate) fn core(&self) -> ClaimCore<'_> {
        ClaimCore {
            raw: self.ring.raw(),
            state: &self.state,
            counters: self.metrics.as_ref().map(|(_, c)| c),
        }
    }

    /// Both sides' counters of this ring (with `enable_metrics`).
    pub(crate) fn metrics(&self) -> Option<Metrics> {
        self.metrics.as_ref().map(|(ring, consumers)| {
            let mut m = ring.snapshot();
            consumers.fill(&mut m);
            m
        })
    }
}

/// The consumer side of an SPMC channel: registers consumers (`Clone`,
/// `Send`, `Sync`). The producer is the plain ring [`Producer`].
///
/// ```
/// use ringcore::channel::spmc;
/// use ringcore::{Config, WaitStrategy};
/// let (mut tx, ch) = spmc::Channel::<u64>::new(spmc::SpmcConfig::default())?;
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
pub struct Channel<T> {
    inner: Arc<Inner>,
    _marker: PhantomData<fn() -> T>,
}

impl<T: Send> std::fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("spmc::Channel")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        Channel {
            inner: self.inner.clone(),
            _marker: PhantomData,
        }
    }
}

/// One consumer of an SPMC channel. `Send`, not `Clone`.
pub struct Consumer<T> {
    reg: Registration,
    _marker: PhantomData<T>,
}

impl<T: Send> std::fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("spmc::Consumer")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

// SAFETY: a consumer only touches items it claimed; items cross threads.
unsafe impl<T: Send> Send for Consumer<T> {}

/// How a channel's items lie in its slots: a Rust type, or run-time sized
/// byte slots (the C and Python APIs).
#[derive(Clone, Copy)]
pub(crate) struct Layout {
    size: usize,
    align: usize,
    drop: unsafe fn(&RawRing),
}

impl Layout {
    pub(crate) fn of<T>() -> Layout {
        Layout {
            size: std::mem::size_of::<T>(),
            align: std::mem::align_of::<T>(),
            drop: drop_items::<T>,
        }
    }

    pub(crate) fn slots(size: usize) -> Result<Layout> {
        if size == 0 {
            return Err(Error::InvalidArgument(
                "slot size must be at least 1".into(),
            ));
        }
        Ok(Layout {
            size,
            align: 8,
            drop: |_| {},
        })
    }
}

/// A ring with the claim state beside it: the building block of the SPMC
/// and MPMC channels.
fn claim_ring(
    config: &Config,
    layout: Layout,
    max_consumers: usize,
) -> Result<(RawRing, Owner, Arc<Inner>)> {
    config.validate()?;
    let ring = HeapRing::allocate(config.ring_bits, layout.size, layout.align, 0, layout.drop)?;
    let metrics = (config.enable_metrics || config.track_contention).then(|| {
        (
            Arc::new(RingMetrics::new(
                config.enable_metrics,
                config.track_contention,
            )),
            ClaimCounters::default(),
        )
    });
    let inner = Arc::new(Inner {
        ring: ring.clone(),
        state: ClaimState::new(0),
        consumers: AtomicUsize::new(0),
        max_consumers,
        metrics,
    });
    let owner: Owner = inner.clone();
    Ok((ring.raw(), owner, inner))
}

impl Inner {
    /// The producer's share of the counters.
    fn producer_metrics(&self) -> Option<Arc<RingMetrics>> {
        self.metrics.as_ref().map(|(m, _)| m.clone())
    }
}

/// A claim ring of `T` and its producer.
pub(crate) fn claim_ring_with<T: Send>(
    config: &Config,
    max_consumers: usize,
) -> Result<(Producer<T>, Arc<Inner>)> {
    let (raw, owner, inner) = claim_ring(config, Layout::of::<T>(), max_consumers)?;
    Ok((
        Producer::from_parts(raw, owner, inner.producer_metrics())?,
        inner,
    ))
}

/// A claim ring of `slot_size`-byte slots and its producer.
pub(crate) fn claim_ring_slots(
    config: &Config,
    slot_size: usize,
    max_consumers: usize,
) -> Result<(SlotProducer, Arc<Inner>)> {
    let (raw, owner, inner) = claim_ring(config, Layout::slots(slot_size)?, max_consumers)?;
    Ok((
        SlotProducer::from_parts(raw, owner, inner.producer_metrics())?,
        inner,
    ))
}

impl Inner {
    /// Counts in a new consumer.
    fn register(self: &Arc<Inner>) -> Result<Registration> {
        if self.ring.raw().is_closed() {
            return Err(Error::Closed);
        }
        let max = self.max_consumers;
        self.consumers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| Error::TooManyConsumers)?;
        Ok(Registration(self.clone()))
    }

    fn close(&self) {
        self.ring.raw().close();
    }

    fn is_closed(&self) -> bool {
        self.ring.raw().is_closed()
    }

    fn unclaimed(&self) -> usize {
        self.core().unclaimed().unwrap_or(0)
    }
}

/// A consumer's place in the count of its channel, given back on drop.
pub(crate) struct Registration(Arc<Inner>);

impl Drop for Registration {
    fn drop(&mut self) {
        self.0.consumers.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<T: Send> Channel<T> {
    /// A channel: its producer, and the handle that registers consumers.
    #[allow(clippy::new_ret_no_self)] // the producer is a ring Producer
    pub fn new(config: SpmcConfig) -> Result<(Producer<T>, Channel<T>)> {
        if config.max_consumers == 0 {
            return Err(Error::InvalidArgument(
                "max_consumers must be at least 1".into(),
            ));
        }
        let (p, inner) = claim_ring_with::<T>(&config.ring, config.max_consumers)?;
        Ok((
            p,
            Channel {
                inner,
                _marker: PhantomData,
            },
        ))
    }

    /// A new consumer. `TooManyConsumers` past `max_consumers`, `Closed`
    /// once the channel is closed.
    pub fn register_consumer(&self) -> Result<Consumer<T>> {
        Ok(Consumer {
            reg: self.inner.register()?,
            _marker: PhantomData,
        })
    }

    /// Closes the channel; consumers drain what is left.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Items not yet claimed.
    pub fn len(&self) -> usize {
        self.inner.unclaimed()
    }

    /// True when nothing waits to be claimed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.inner.ring.raw().capacity()
    }

    /// The producer's and the consumers' counters (`None` unless the ring
    /// was configured with `enable_metrics` or `track_contention`).
    pub fn metrics(&self) -> Option<Metrics> {
        self.inner.metrics()
    }
}

impl<T: Send> Consumer<T> {
    /// Claims up to `out.len()` items and moves them into `out`; returns the count.
    pub fn steal(&mut self, out: &mut [T]) -> usize
    where
        T: Copy,
    {
        steal_into(self.reg.0.core(), out)
    }

    /// Claims one item. `Empty`, or `Closed` once closed and drained.
    pub fn steal_one(&mut self) -> Result<T> {
        steal_one(self.reg.0.core())
    }

    /// Claims up to 4096 items, calls `f` on each in place, then frees them;
    /// returns the count.
    pub fn consume_batch(&mut self, f: impl FnMut(&T)) -> usize {
        consume_claimed(self.reg.0.core(), MAX_BATCH, f)
    }

    /// [`steal`](Self::steal), waiting by `strategy` while nothing is unclaimed.
    pub fn steal_blocking(&mut self, out: &mut [T], strategy: WaitStrategy) -> Result<usize>
    where
        T: Copy,
    {
        let core = self.reg.0.core();
        wait_claimable(core, &mut Waiter::new(strategy), |c| {
            match steal_into(c, out) {
                0 => None,
                n => Some(n),
            }
        })
    }

    /// One item, waiting by `strategy` while nothing is unclaimed.
    pub fn recv_blocking(&mut self, strategy: WaitStrategy) -> Result<T> {
        let core = self.reg.0.core();
        wait_claimable(core, &mut Waiter::new(strategy), |c| steal_one(c).ok())
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.reg.0.is_closed()
    }
}

/// Claims up to `out.len()` items into `out`.
pub(crate) fn steal_into<T: Copy>(core: ClaimCore<'_>, out: &mut [T]) -> usize {
    let Ok(Some(run)) = core.claim(out.len()) else {
        return 0;
    };
    let done = CompleteOnDrop { core, run };
    for (i, slot) in out[..run.len].iter_mut().enumerate() {
        // SAFETY: the item is published and claimed by us alone.
        *slot = unsafe {
            core.slot(run.start.wrapping_add(i as u64))
                .cast::<T>()
                .read()
        };
    }
    drop(done);
    run.len
}

/// Claims one item.
pub(crate) fn steal_one<T>(core: ClaimCore<'_>) -> Result<T> {
    match core.claim(1)? {
        Some(run) => {
            let done = CompleteOnDrop { core, run };
            // SAFETY: published, claimed by us alone, and moved out exactly once
            // (completion frees the slot without dropping it).
            let item = unsafe { core.slot(run.start).cast::<T>().read() };
            drop(done);
            Ok(item)
        }
        None => Err(core.empty_reason()),
    }
}

/// Claims up to `max` items and calls `f` on each in place.
pub(crate) fn consume_claimed<T>(core: ClaimCore<'_>, max: usize, mut f: impl FnMut(&T)) -> usize {
    let Ok(Some(run)) = core.claim(max) else {
        return 0;
    };
    let _done = CompleteOnDrop { core, run };
    for i in 0..run.len {
        let p = core.slot(run.start.wrapping_add(i as u64)).cast::<T>();
        // SAFETY: published and claimed by us alone until completion.
        f(unsafe { &*p });
        if std::mem::needs_drop::<T>() {
            // SAFETY: handled; dropped exactly once, before the slot is freed.
            unsafe { std::ptr::drop_in_place(p) };
        }
    }
    run.len
}

/// Claims as many whole items as `out` holds and copies their bytes into
/// it; returns the count.
pub(crate) fn steal_slots(core: ClaimCore<'_>, out: &mut [u8]) -> usize {
    let size = core.raw.slot_size();
    let Ok(Some(run)) = core.claim(out.len() / size) else {
        return 0;
    };
    let _done = CompleteOnDrop { core, run };
    for (i, dst) in out.chunks_exact_mut(size).take(run.len).enumerate() {
        // SAFETY: the item is published, `size` bytes long, and claimed by us
        // alone until completion.
        dst.copy_from_slice(unsafe {
            std::slice::from_raw_parts(core.slot(run.start.wrapping_add(i as u64)), size)
        });
    }
    run.len
}

/// Claims up to `max` items and calls `f` on the bytes of each in place.
pub(crate) fn consume_slots(core: ClaimCore<'_>, max: usize, mut f: impl FnMut(&[u8])) -> usize {
    let size = core.raw.slot_size();
    let Ok(Some(run)) = core.claim(max) else {
        return 0;
    };
    let _done = CompleteOnDrop { core, run };
    for i in 0..run.len {
        // SAFETY: as in `steal_slots`.
        f(
            unsafe {
                std::slice::from_raw_parts(core.slot(run.start.wrapping_add(i as u64)), size)
            },
        );
    }
    run.len
}

/// Retries `attempt` until it yields, waiting by `waiter` on the ring.
pub(crate) fn wait_claimable<R>(
    core: ClaimCore<'_>,
    waiter: &mut Waiter,
    mut attempt: impl FnMut(ClaimCore<'_>) -> Option<R>,
) -> Result<R> {
    loop {
        if let Some(r) = attempt(core) {
            return Ok(r);
        }
        match core.empty_reason() {
            Error::Empty => {}
            e => return Err(e),
        }
        waiter.wait_with(|left| core.park(left))?;
    }
}

/// An SPMC channel of run-time sized byte slots (what the C and Python
/// APIs use): the same ring and claims as [`Channel`], items as bytes.
///
/// ```
/// use ringcore::channel::spmc::{SlotChannel, SpmcConfig};
/// let (mut tx, ch) = SlotChannel::new(SpmcConfig::default(), 4)?;
/// let mut rx = ch.register_consumer()?;
/// tx.send(b"abcdefgh")?;                   // two 4-byte items
/// let mut out = [0u8; 8];
/// assert_eq!(rx.steal(&mut out), 2);
/// assert_eq!(&out, b"abcdefgh");
/// # Ok::<(), ringcore::Error>(())
/// ```
#[derive(Clone)]
pub struct SlotChannel {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SlotChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("spmc::SlotChannel")
            .field("slot_size", &self.slot_size())
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// One consumer of a [`SlotChannel`]. `Send`, not `Clone`.
pub struct SlotConsumer {
    reg: Registration,
}

impl std::fmt::Debug for SlotConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("spmc::SlotConsumer")
            .field("slot_size", &self.slot_size())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl SlotChannel {
    /// A channel of `slot_size`-byte items: its producer, and the handle
    /// that registers consumers.
    #[allow(clippy::new_ret_no_self)] // the producer is a ring SlotProducer
    pub fn new(config: SpmcConfig, slot_size: usize) -> Result<(SlotProducer, SlotChannel)> {
        if config.max_consumers == 0 {
            return Err(Error::InvalidArgument(
                "max_consumers must be at least 1".into(),
            ));
        }
        let (p, inner) = claim_ring_slots(&config.ring, slot_size, config.max_consumers)?;
        Ok((p, SlotChannel { inner }))
    }

    /// A new consumer (`TooManyConsumers`, `Closed`).
    pub fn register_consumer(&self) -> Result<SlotConsumer> {
        Ok(SlotConsumer {
            reg: self.inner.register()?,
        })
    }

    /// Closes the channel; consumers drain what is left.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Items not yet claimed.
    pub fn len(&self) -> usize {
        self.inner.unclaimed()
    }

    /// True when nothing waits to be claimed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes per item.
    pub fn slot_size(&self) -> usize {
        self.inner.ring.raw().slot_size()
    }

    /// Both sides' counters (see [`Channel::metrics`]).
    pub fn metrics(&self) -> Option<Metrics> {
        self.inner.metrics()
    }
}

impl SlotConsumer {
    /// Claims as many whole items as `out` holds and copies them in;
    /// returns the count.
    pub fn steal(&mut self, out: &mut [u8]) -> usize {
        steal_slots(self.reg.0.core(), out)
    }

    /// Claims up to 4096 items and calls `f` on each in place; returns the count.
    pub fn consume_batch(&mut self, f: impl FnMut(&[u8])) -> usize {
        consume_slots(self.reg.0.core(), MAX_BATCH, f)
    }

    /// Claims up to `max` items and calls `f` on each in place; returns the
    /// count (0: nothing unclaimed).
    pub fn consume_up_to(&mut self, max: usize, f: impl FnMut(&[u8])) -> usize {
        consume_slots(self.reg.0.core(), max, f)
    }

    /// Waits by `strategy` until something is unclaimed (another consumer
    /// may claim it first). `Closed` once closed and drained.
    pub fn wait_for_data(&mut self, strategy: WaitStrategy) -> Result<()> {
        wait_claimable(self.reg.0.core(), &mut Waiter::new(strategy), |c| {
            (c.unclaimed().unwrap_or(0) > 0).then_some(())
        })
    }

    /// [`steal`](Self::steal), waiting by `strategy` while nothing is
    /// unclaimed. `Closed` once closed and drained.
    pub fn steal_blocking(&mut self, out: &mut [u8], strategy: WaitStrategy) -> Result<usize> {
        if out.len() < self.slot_size() {
            return Err(Error::InvalidArgument(
                "the buffer cannot hold one item".into(),
            ));
        }
        wait_claimable(
            self.reg.0.core(),
            &mut Waiter::new(strategy),
            |c| match steal_slots(c, out) {
                0 => None,
                n => Some(n),
            },
        )
    }

    /// Bytes per item.
    pub fn slot_size(&self) -> usize {
        self.reg.0.ring.raw().slot_size()
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.reg.0.is_closed()
    }
}
