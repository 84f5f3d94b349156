//! The channels whose consumers claim items, SPMC and MPMC, written once:
//! one claim ring ("lane") per producer, so producers never contend, and
//! consumers that claim runs of items with a CAS (see [`claim`](super::claim))
//! and look for work in turn in the lanes of their own shard (locality),
//! the lane with the most unclaimed items (load balance), a random lane (so
//! none starves), then every lane. Every item goes to exactly one consumer,
//! and each consumer sees each producer's items in order.
//!
//! SPMC is this channel with its one producer made with it
//! ([`spmc::channel`](super::spmc::channel)); MPMC registers producers as
//! they come ([`mpmc::channel`](super::mpmc::channel)). Items are a Rust
//! type `T` or, for the C and Python APIs, run-time sized byte slots
//! (`[u8]`).

use super::claim::{ClaimCore, ClaimCounters, ClaimState, CompleteOnDrop};
use super::mpmc::MpmcConfig;
use super::{ChannelWake, RingProducer, XorShift};
use crate::error::{Error, Result};
use crate::metrics::{Metrics, RingMetrics};
use crate::ring::heap::{drop_items, slot_array_bytes, HeapRing};
use crate::ring::raw::RawRing;
use crate::ring::typed::Owner;
use crate::ring::{Producer, SlotProducer};
use crate::wait::{WaitStrategy, Waiter};
use crossbeam_utils::CachePadded;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Most items a consumer claims in one `consume_batch`.
pub const MAX_BATCH: usize = 4096;

mod sealed {
    /// How a claimed slot is seen as an item.
    pub trait Items: 'static {
        /// What a handler is given: `T`, or the bytes of one slot.
        type Item: ?Sized;
        /// The item in the slot at `p`, `size` bytes long.
        fn at(p: *mut u8, size: usize) -> *mut Self::Item;
    }
}

/// What a claim channel carries: [`Typed`] items or [`Bytes`].
pub trait ClaimItems: sealed::Items {}

/// Items of the Rust type `T`.
#[derive(Debug)]
pub struct Typed<T>(PhantomData<T>);

/// Run-time sized byte slots (the C and Python APIs).
#[derive(Debug)]
pub enum Bytes {}

impl<T: Send + 'static> sealed::Items for Typed<T> {
    type Item = T;
    fn at(p: *mut u8, _size: usize) -> *mut T {
        p.cast()
    }
}
impl<T: Send + 'static> ClaimItems for Typed<T> {}

impl sealed::Items for Bytes {
    type Item = [u8];
    fn at(p: *mut u8, size: usize) -> *mut [u8] {
        std::ptr::slice_from_raw_parts_mut(p, size)
    }
}
impl ClaimItems for Bytes {}

/// How a channel's items lie in its slots.
struct Layout {
    size: usize,
    align: usize,
    drop: unsafe fn(&RawRing),
}

/// One producer's ring with the claim state beside it.
struct Lane {
    ring: Arc<HeapRing>,
    state: ClaimState,
    /// The producer's counters and the consumers', with `enable_metrics`.
    metrics: Option<(Arc<RingMetrics>, ClaimCounters)>,
}

impl Lane {
    fn core(&self) -> ClaimCore<'_> {
        ClaimCore {
            raw: self.ring.raw(),
            state: &self.state,
            counters: self.metrics.as_ref().map(|(_, c)| c),
        }
    }

    fn unclaimed(&self) -> usize {
        self.core().unclaimed().unwrap_or(0)
    }

    fn is_closed(&self) -> bool {
        self.ring.raw().is_closed()
    }

    /// Both sides' counters of this lane (with `enable_metrics`).
    fn metrics(&self) -> Option<Metrics> {
        self.metrics.as_ref().map(|(ring, consumers)| {
            let mut m = ring.snapshot();
            consumers.fill(&mut m);
            m
        })
    }
}

type Lanes = Arc<Vec<Arc<Lane>>>;

struct Shared {
    config: MpmcConfig,
    layout: Layout,
    /// The lanes, replaced (copy on write) when a producer registers.
    lanes: Mutex<Lanes>,
    /// Bumped (Release) after `lanes` changed; read by every consumer call,
    /// so not on the lock's line.
    version: CachePadded<AtomicUsize>,
    consumers: AtomicUsize,
    next_consumer: AtomicUsize,
    closed: AtomicBool,
    /// SPMC: the channel ends when its one producer closes its ring, and
    /// consumers sleep on that ring's own wake-up word (the producer's
    /// commit and close wake it; no notifier). MPMC consumers sleep on
    /// `wake`, which every producer notifies after its commits.
    single: bool,
    wake: Arc<ChannelWake>,
}

impl Shared {
    fn lanes(&self) -> Lanes {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// No item can arrive any more: closed, or (SPMC) its producer closed
    /// its ring (`lanes`: the current lanes, looked at only for SPMC, whose
    /// one lane never changes).
    fn is_finished(&self, lanes: &[Arc<Lane>]) -> bool {
        self.closed.load(Ordering::Acquire)
            || (self.single && lanes.first().is_some_and(|l| l.is_closed()))
    }
}

/// A channel whose consumers claim items: registers producers (one lane
/// each) and consumers. `Clone`, `Send`, `Sync`. Made by
/// [`spmc::channel`](super::spmc::channel) or
/// [`mpmc::channel`](super::mpmc::channel) (and their `slot_channel`).
pub struct ClaimChannel<K> {
    shared: Arc<Shared>,
    _marker: PhantomData<fn() -> K>,
}

impl<K> Clone for ClaimChannel<K> {
    fn clone(&self) -> Self {
        ClaimChannel {
            shared: self.shared.clone(),
            _marker: PhantomData,
        }
    }
}

impl<K: ClaimItems> std::fmt::Debug for ClaimChannel<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimChannel")
            .field("lanes", &self.shared.lanes().len())
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// One consumer of a [`ClaimChannel`]. `Send` (for `Send` items), not `Clone`.
/// It touches only the items it claimed.
pub struct ClaimConsumer<K> {
    shared: Arc<Shared>,
    id: usize,
    lanes: Lanes,
    version: usize,
    rng: XorShift,
    _marker: PhantomData<K>,
}

impl<K> std::fmt::Debug for ClaimConsumer<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimConsumer")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<K> Drop for ClaimConsumer<K> {
    fn drop(&mut self) {
        self.shared.consumers.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<K: ClaimItems> ClaimChannel<K> {
    fn with_layout(config: MpmcConfig, layout: Layout, single: bool) -> Result<Self> {
        config.ring.validate()?;
        slot_array_bytes(config.ring.ring_bits, layout.size)?;
        for (name, n) in [
            ("max_producers", config.max_producers),
            ("max_consumers", config.max_consumers),
            ("rings_per_shard", config.rings_per_shard),
        ] {
            if n == 0 {
                return Err(Error::InvalidArgument(format!("{name} must be at least 1")));
            }
        }
        Ok(ClaimChannel {
            shared: Arc::new(Shared {
                config,
                layout,
                lanes: Mutex::new(Arc::new(Vec::new())),
                version: CachePadded::new(AtomicUsize::new(0)),
                consumers: AtomicUsize::new(0),
                next_consumer: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
                single,
                wake: ChannelWake::new(),
            }),
            _marker: PhantomData,
        })
    }

    /// Makes a lane, its producer with `make`, and adds the lane to those
    /// consumers claim from.
    fn add_lane<P: RingProducer>(
        &self,
        make: impl FnOnce(RawRing, Owner, Option<Arc<RingMetrics>>) -> Result<P>,
    ) -> Result<P> {
        let s = &self.shared;
        let mut lanes = s.lanes.lock().unwrap_or_else(|p| p.into_inner());
        if s.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if lanes.len() >= s.config.max_producers {
            return Err(Error::TooManyProducers);
        }
        let ring = &s.config.ring;
        let heap = HeapRing::allocate(
            ring.ring_bits,
            s.layout.size,
            s.layout.align,
            0,
            s.layout.drop,
        )?;
        let metrics = (ring.enable_metrics || ring.track_contention).then(|| {
            (
                Arc::new(RingMetrics::new(ring.enable_metrics, ring.track_contention)),
                ClaimCounters::default(),
            )
        });
        let lane = Arc::new(Lane {
            ring: heap.clone(),
            state: ClaimState::new(0, ring.capacity())?,
            metrics,
        });
        let producer_metrics = lane.metrics.as_ref().map(|(m, _)| m.clone());
        let mut p = make(heap.raw(), lane.clone(), producer_metrics)?;
        if !s.single {
            p.join_channel(s.wake.clone());
        }
        let mut next = Vec::clone(&lanes);
        next.push(lane);
        *lanes = Arc::new(next);
        // Release: consumers that see the new version see the new lanes.
        s.version.fetch_add(1, Ordering::Release);
        Ok(p)
    }

    /// A new consumer. `TooManyConsumers` past `max_consumers`, `Closed`
    /// once no item can arrive any more.
    pub fn register_consumer(&self) -> Result<ClaimConsumer<K>> {
        let s = &self.shared;
        if self.is_closed() {
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
        Ok(ClaimConsumer {
            shared: s.clone(),
            id,
            lanes: s.lanes(),
            version,
            rng: XorShift::new(0x9e37_79b9_7f4a_7c15 ^ id as u64),
            _marker: PhantomData,
        })
    }

    /// Closes the channel: no more registrations, every lane closes, and
    /// consumers drain what is left, then get `Closed`.
    pub fn close(&self) {
        let s = &self.shared;
        let lanes = s.lanes.lock().unwrap_or_else(|p| p.into_inner());
        s.closed.store(true, Ordering::Release);
        for l in lanes.iter() {
            l.ring.raw().close();
        }
        s.wake.wake_all();
    }

    /// Whether no item can arrive any more: the channel was closed or, for
    /// SPMC, its producer closed its ring (or was dropped).
    pub fn is_closed(&self) -> bool {
        let s = &self.shared;
        s.closed.load(Ordering::Acquire) || (s.single && s.is_finished(&s.lanes()))
    }

    /// Items not yet claimed, over all lanes.
    pub fn len(&self) -> usize {
        self.shared.lanes().iter().map(|l| l.unclaimed()).sum()
    }

    /// True when nothing waits to be claimed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots in each producer's ring.
    pub fn capacity(&self) -> usize {
        self.shared.config.ring.capacity()
    }

    /// Every lane's counters merged, producers' and consumers' (`None`
    /// unless the ring configuration has `enable_metrics` or
    /// `track_contention`).
    pub fn metrics(&self) -> Option<Metrics> {
        self.shared
            .lanes()
            .iter()
            .filter_map(|l| l.metrics())
            .reduce(|mut a, b| {
                a.merge(&b);
                a
            })
    }
}

impl<T: Send + 'static> ClaimChannel<Typed<T>> {
    /// An empty channel of `T`; `single`: the SPMC channel (see `Shared`).
    pub(crate) fn new(config: MpmcConfig, single: bool) -> Result<Self> {
        Self::with_layout(
            config,
            Layout {
                size: std::mem::size_of::<T>(),
                align: std::mem::align_of::<T>(),
                drop: drop_items::<T>,
            },
            single,
        )
    }

    /// A new producer with its own ring. `TooManyProducers` past
    /// `max_producers`, `Closed` once the channel is closed.
    pub fn register_producer(&self) -> Result<Producer<T>> {
        self.add_lane(Producer::from_parts)
    }
}

impl ClaimChannel<Bytes> {
    /// An empty channel of `slot_size`-byte items (`single`: as `new`).
    pub(crate) fn with_slots(config: MpmcConfig, slot_size: usize, single: bool) -> Result<Self> {
        crate::ring::slots::check_slot_size(slot_size)?;
        Self::with_layout(
            config,
            Layout {
                size: slot_size,
                align: 8,
                drop: |_| {},
            },
            single,
        )
    }

    /// A new producer with its own ring (`TooManyProducers`, `Closed`).
    pub fn register_producer(&self) -> Result<SlotProducer> {
        self.add_lane(SlotProducer::from_parts)
    }

    /// Bytes per item.
    pub fn slot_size(&self) -> usize {
        self.shared.layout.size
    }
}

impl<K: ClaimItems> ClaimConsumer<K> {
    /// Picks up lanes registered since the last call.
    fn refresh(&mut self) {
        let v = self.shared.version.load(Ordering::Acquire);
        if v != self.version {
            self.lanes = self.shared.lanes();
            self.version = v;
        }
    }

    /// Runs `op` on lanes in turn until it takes something: the lanes of
    /// this consumer's shard, the lane with the most unclaimed items, a
    /// random lane, then every lane. `None`: nothing was unclaimed.
    fn phased<R>(&mut self, mut op: impl FnMut(ClaimCore<'_>) -> Option<R>) -> Option<R> {
        self.refresh();
        let lanes = &*self.lanes;
        let n = lanes.len();
        if n <= 1 {
            return lanes.first().and_then(|l| op(l.core()));
        }
        let consumers = self.shared.consumers.load(Ordering::Relaxed).max(1);
        let rps = self.shared.config.rings_per_shard;
        let me = self.id % consumers;
        let own = (0..n).filter(|i| (i / rps) % consumers == me);
        if let Some(r) = own.into_iter().find_map(|i| op(lanes[i].core())) {
            return Some(r);
        }
        let (hottest, most) = (0..n)
            .map(|i| (i, lanes[i].unclaimed()))
            .max_by_key(|&(_, u)| u)?;
        if most == 0 {
            return None;
        }
        let random = (self.rng.next() % n as u64) as usize;
        [hottest, random]
            .into_iter()
            .chain(0..n)
            .find_map(|i| op(lanes[i].core()))
    }

    /// [`phased`](Self::phased), waiting by `strategy` while every lane is
    /// empty. `Closed` once no item can arrive and every lane is drained.
    fn phased_blocking<R>(
        &mut self,
        mut op: impl FnMut(ClaimCore<'_>) -> Option<R>,
        strategy: WaitStrategy,
    ) -> Result<R> {
        let mut waiter = Waiter::new(strategy);
        loop {
            if let Some(r) = self.phased(&mut op) {
                return Ok(r);
            }
            match self.empty() {
                Error::Empty => {}
                e => return Err(e),
            }
            let (shared, lanes, version) = (&*self.shared, &self.lanes, self.version);
            waiter.wait_with(|left| match (shared.single, lanes.first()) {
                (true, Some(lane)) => lane.core().park(left),
                _ => shared.wake.park(
                    || {
                        shared.version.load(Ordering::Acquire) != version
                            || lanes.iter().any(|l| l.unclaimed() > 0)
                            || shared.is_finished(lanes)
                    },
                    left,
                ),
            })?;
        }
    }

    /// Why nothing was taken: `Corrupt` when a lane's indices cannot be
    /// right, `Closed` once no item can arrive and none is left, else `Empty`.
    fn empty(&mut self) -> Error {
        // Finished first, then the lanes: a close seen here comes after
        // every lane and item before it (the lock and the Release stores).
        let finished = self.shared.is_finished(&self.lanes);
        self.refresh();
        let mut left = false;
        for l in self.lanes.iter() {
            match l.core().unclaimed() {
                Err(c) => return c.into(),
                Ok(n) => left |= n > 0,
            }
        }
        if finished && !left {
            Error::Closed
        } else {
            Error::Empty
        }
    }

    /// Claims up to `max` items from the first lane that has any and calls
    /// `f` on each in place; returns the count (0: nothing unclaimed, or
    /// `max` is 0). `f` runs while the items are claimed: their slots, and
    /// those of runs claimed after them, go back to the producer once it
    /// returns. Other consumers go on meanwhile, and `f` may take from the
    /// channel itself.
    pub fn consume_up_to(&mut self, max: usize, mut f: impl FnMut(&K::Item)) -> usize {
        self.phased(|core| {
            each_claimed::<K>(core, max, |_, p| {
                // SAFETY: published and claimed by us alone until completion.
                f(unsafe { &*p });
                if std::mem::needs_drop::<K::Item>() {
                    // SAFETY: handled; dropped exactly once, before the slot is freed.
                    unsafe { std::ptr::drop_in_place(p) };
                }
            })
        })
        .unwrap_or(0)
    }

    /// [`consume_up_to`](Self::consume_up_to) a batch of at most [`MAX_BATCH`] items.
    pub fn consume_batch(&mut self, f: impl FnMut(&K::Item)) -> usize {
        self.consume_up_to(MAX_BATCH, f)
    }

    /// Waits by `strategy` until some lane has an unclaimed item (another
    /// consumer may claim it first). `Closed` once closed and drained.
    pub fn wait_for_data(&mut self, strategy: WaitStrategy) -> Result<()> {
        self.phased_blocking(
            |core| (core.unclaimed().unwrap_or(0) > 0).then_some(()),
            strategy,
        )
    }

    /// Whether no item can arrive any more (see [`ClaimChannel::is_closed`]).
    pub fn is_closed(&self) -> bool {
        self.shared.is_finished(&self.lanes)
    }

    /// This consumer's id (its shard).
    pub fn id(&self) -> usize {
        self.id
    }
}

/// Claims up to `max` items of `core` and calls `f(i, item)` on the `i`th
/// in place; the run is completed after the last (also when `f` panics).
/// The count, `None` when nothing was unclaimed.
fn each_claimed<K: ClaimItems>(
    core: ClaimCore<'_>,
    max: usize,
    mut f: impl FnMut(usize, *mut K::Item),
) -> Option<usize> {
    let run = core.claim(max).ok().flatten()?;
    let _done = CompleteOnDrop { core, run };
    let size = core.raw.slot_size();
    for i in 0..run.len {
        f(i, K::at(core.slot(run.start.wrapping_add(i as u64)), size));
    }
    Some(run.len)
}

impl<T: Send + 'static> ClaimConsumer<Typed<T>> {
    /// Claims up to `out.len()` items and copies them into `out`; returns
    /// the count (0: nothing unclaimed, or `out` is empty).
    pub fn steal(&mut self, out: &mut [T]) -> usize
    where
        T: Copy,
    {
        self.phased(|core| steal_into(core, out)).unwrap_or(0)
    }

    /// [`steal`](Self::steal), waiting by `strategy` while nothing is
    /// unclaimed. `Closed` once closed and drained.
    pub fn steal_blocking(&mut self, out: &mut [T], strategy: WaitStrategy) -> Result<usize>
    where
        T: Copy,
    {
        if out.is_empty() {
            return Err(Error::InvalidArgument("the buffer is empty".into()));
        }
        self.phased_blocking(|core| steal_into(core, out), strategy)
    }

    /// Claims one item. `Empty`, or `Closed` once closed and drained.
    pub fn steal_one(&mut self) -> Result<T> {
        match self.phased(take_one) {
            Some(item) => Ok(item),
            None => Err(self.empty()),
        }
    }

    /// One item, waiting by `strategy` while nothing is unclaimed.
    /// `Closed` once closed and drained.
    pub fn recv_blocking(&mut self, strategy: WaitStrategy) -> Result<T> {
        self.phased_blocking(take_one, strategy)
    }
}

/// Claims up to `out.len()` items of `core` into `out`.
fn steal_into<T: Copy + Send + 'static>(core: ClaimCore<'_>, out: &mut [T]) -> Option<usize> {
    // SAFETY: the item is published and claimed by us alone.
    each_claimed::<Typed<T>>(core, out.len(), |i, p| out[i] = unsafe { p.read() })
}

/// Claims one item of `core` and moves it out.
fn take_one<T: Send + 'static>(core: ClaimCore<'_>) -> Option<T> {
    let mut item = None;
    // SAFETY: published, claimed by us alone, and moved out exactly once
    // (completion frees the slot without dropping it).
    each_claimed::<Typed<T>>(core, 1, |_, p| item = Some(unsafe { p.read() }));
    item
}

impl ClaimConsumer<Bytes> {
    /// Claims as many whole items as `out` holds and copies their bytes in;
    /// returns the count (0: nothing unclaimed, or `out` holds no item).
    pub fn steal(&mut self, out: &mut [u8]) -> usize {
        self.phased(|core| steal_slots(core, out)).unwrap_or(0)
    }

    /// [`steal`](Self::steal), waiting by `strategy` while nothing is
    /// unclaimed. `Closed` once closed and drained.
    pub fn steal_blocking(&mut self, out: &mut [u8], strategy: WaitStrategy) -> Result<usize> {
        if out.len() < self.slot_size() {
            return Err(Error::InvalidArgument(
                "the buffer cannot hold one item".into(),
            ));
        }
        self.phased_blocking(|core| steal_slots(core, out), strategy)
    }

    /// Bytes per item.
    pub fn slot_size(&self) -> usize {
        self.shared.layout.size
    }
}

/// Claims as many whole items of `core` as `out` holds and copies them in.
fn steal_slots(core: ClaimCore<'_>, out: &mut [u8]) -> Option<usize> {
    let size = core.raw.slot_size();
    each_claimed::<Bytes>(core, out.len() / size, |i, p| {
        // SAFETY: the item is published, `size` bytes long, and claimed by us
        // alone until completion.
        out[i * size..][..size].copy_from_slice(unsafe { &*p })
    })
}
