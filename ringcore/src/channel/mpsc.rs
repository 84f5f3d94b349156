//! Multi-producer single-consumer: one SPSC ring per producer, so producers
//! never contend with each other; the consumer polls the rings.
//!
//! Registering a producer creates its ring in the registering thread (on
//! that thread's NUMA node) and hands the consuming end to the consumer
//! through a mutex-protected list; the consumer notices new rings through
//! one counter it loads per pass, so the lock is only ever taken on that
//! cold path, and a running consumer can neither read out of bounds nor
//! miss a ring.

use super::{ChannelWake, RingConsumer, RingProducer};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::notify::Notify;
use crate::ring::heap::slot_array_bytes;
use crate::ring::raw::Corrupt;
use crate::ring::{Consumer, Producer, Ring, RingObserver, SlotConsumer, SlotProducer, SlotRing};
use crate::wait::{WaitStrategy, Waiter};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest adaptive skip: an idle ring is polled at least every 64 passes.
const MAX_SKIP: u32 = 64;

type Factory<P, C> = Box<dyn Fn() -> Result<(P, C)> + Send + Sync>;

struct Shared<P, C> {
    closed: AtomicBool,
    /// Rings registered so far; bumped (Release) after the ring is queued.
    registered: AtomicUsize,
    /// Consuming ends not yet taken by the consumer, with their ids.
    pending: Mutex<Vec<(usize, C)>>,
    wake: Arc<ChannelWake>,
    make_ring: Factory<P, C>,
}

/// One ring as the consumer sees it.
struct Lane<C> {
    id: usize,
    end: C,
    /// Current adaptive skip (0: poll every pass).
    skip: u32,
    /// Passes left before the ring is polled again.
    countdown: u32,
}

/// How a receive of one item takes it from a ring: an item and how many
/// more the ring showed, or `None`. A trait whose method always inlines:
/// passed as closures, the takes stayed calls in the bench's loop.
trait TakeOne<C> {
    /// What the receive returns.
    type Item;
    /// Takes one item from `ring`.
    fn take_one(&mut self, ring: &mut C) -> Result<Option<(Self::Item, usize)>, Corrupt>;
}

/// The typed channel's: the item by value.
struct ByValue;

impl<T: Send + 'static> TakeOne<Consumer<T>> for ByValue {
    type Item = T;
    #[inline(always)]
    fn take_one(&mut self, ring: &mut Consumer<T>) -> Result<Option<(T, usize)>, Corrupt> {
        ring.take()
    }
}

/// The byte-slot channel's: the item copied into a buffer.
struct IntoBuffer<'a>(&'a mut [u8]);

impl TakeOne<SlotConsumer> for IntoBuffer<'_> {
    type Item = ();
    #[inline(always)]
    fn take_one(&mut self, ring: &mut SlotConsumer) -> Result<Option<((), usize)>, Corrupt> {
        Ok(ring.take_into(self.0)?.map(|more| ((), more)))
    }
}

/// A multi-producer single-consumer channel; this value is the consumer.
/// Producers come from [`register`](Channel::register) or from a
/// [`Registrar`] on other threads.
///
/// ```
/// use ringcore::{Config, WaitStrategy};
/// use ringcore::channel::mpsc;
/// // Rings of 1024 slots: each producer's 1000 items fit without a consumer.
/// let mut ch = mpsc::Channel::<u64>::new(Config::with_ring_bits(10))?;
/// let threads: Vec<_> = (0..4u64).map(|p| {
///     let mut tx = ch.register().unwrap();
///     std::thread::spawn(move || {
///         for i in 0..1000 {
///             tx.send_one_blocking(p << 32 | i, WaitStrategy::Blocking).unwrap();
///         }
///     }) // dropping tx deregisters: its ring closes, its items still arrive
/// }).collect();
/// for t in threads { t.join().unwrap(); }
/// ch.close();
/// let mut seen = 0;
/// ch.drain_all(|_| seen += 1);
/// assert_eq!(seen, 4000);
/// assert!(ch.is_fully_drained());
/// # Ok::<(), ringcore::Error>(())
/// ```
pub struct Core<P, C: RingConsumer> {
    shared: Arc<Shared<P, C>>,
    lanes: Vec<Lane<C>>,
    known: usize,
    next: usize,
    created: Instant,
}

impl<P: RingProducer, C: RingConsumer> std::fmt::Debug for Core<P, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("mpsc::Channel")
            .field("rings", &self.lanes.len())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// A typed MPSC channel.
pub type Channel<T> = Core<Producer<T>, Consumer<T>>;
/// An MPSC channel of `slot_size`-byte items (the C and Python API).
pub type SlotChannel = Core<SlotProducer, SlotConsumer>;

/// A producer registered with a channel: its own ring's producer end (all
/// of the SPSC producer API through `Deref`) plus its id. Dropping it (or
/// [`deregister`](Registered::deregister)) closes its ring; what it sent
/// is still delivered.
pub struct Registered<P> {
    id: usize,
    end: P,
}

impl<P: std::fmt::Debug> std::fmt::Debug for Registered<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("id", &self.id)
            .field("end", &self.end)
            .finish()
    }
}

/// The producer handle of a typed MPSC channel.
pub type ChannelProducer<T> = Registered<Producer<T>>;

impl<P> Registered<P> {
    /// The producer's id (its ring's id in the channel).
    pub fn id(&self) -> usize {
        self.id
    }

    /// The ring's producer end itself (dropping it still closes the ring).
    pub fn into_end(self) -> P {
        self.end
    }
}

impl<P: RingProducer> Registered<P> {
    /// Gives the producer up: its ring closes; the consumer still receives
    /// what was sent.
    pub fn deregister(self) {
        self.end.close();
    }
}

impl<P> Deref for Registered<P> {
    type Target = P;
    fn deref(&self) -> &P {
        &self.end
    }
}

impl<P> DerefMut for Registered<P> {
    fn deref_mut(&mut self) -> &mut P {
        &mut self.end
    }
}

/// Registers producers from any thread (`Clone`, `Send`, `Sync`).
pub struct Registrar<P, C> {
    shared: Arc<Shared<P, C>>,
}

impl<P: RingProducer, C: RingConsumer> std::fmt::Debug for Registrar<P, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl<P, C> Clone for Registrar<P, C> {
    fn clone(&self) -> Self {
        Registrar {
            shared: self.shared.clone(),
        }
    }
}

impl<P: RingProducer, C: RingConsumer> Registrar<P, C> {
    /// Registers a new producer with its own ring. `Closed` once the
    /// channel is closed.
    pub fn register(&self) -> Result<Registered<P>> {
        let s = &self.shared;
        let mut pending = s.pending.lock().unwrap_or_else(|p| p.into_inner());
        if s.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let (mut p, c) = (s.make_ring)()?;
        p.join_channel(s.wake.clone());
        let id = s.registered.load(Ordering::Relaxed);
        pending.push((id, c));
        // Release: the queued ring is visible to a consumer that sees the count.
        s.registered.store(id + 1, Ordering::Release);
        Ok(Registered { id, end: p })
    }

    /// Whether the channel is closed (registration then fails).
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }
}

/// A point-in-time view of a channel's health.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelStats {
    /// Rings the consumer polls (closed ones leave once drained).
    pub rings: usize,
    /// Items waiting, over all rings.
    pub pending: usize,
    /// Whether the channel is closed.
    pub closed: bool,
    /// Counters of all rings merged (rings built with `enable_metrics`).
    pub metrics: Option<Metrics>,
    /// Time since the channel was created.
    pub uptime: Duration,
    /// Items received per second since creation (with metrics), else 0.
    pub throughput: f64,
    /// Mean batch processing time in nanoseconds (with metrics), else 0.
    pub avg_latency_ns: f64,
}

impl<T: Send + 'static> Core<Producer<T>, Consumer<T>> {
    /// A typed channel whose rings are built with `config`.
    pub fn new(config: Config) -> Result<Self> {
        config.validate()?;
        slot_array_bytes(config.ring_bits, std::mem::size_of::<T>())?;
        Ok(Self::with_factory(Box::new(move || Ring::<T>::new(config))))
    }
}

impl Core<SlotProducer, SlotConsumer> {
    /// A channel of `slot_size`-byte items whose rings are built with `config`.
    pub fn with_slots(config: Config, slot_size: usize) -> Result<Self> {
        config.validate()?;
        crate::ring::slots::check_slot_size(slot_size)?;
        slot_array_bytes(config.ring_bits, slot_size)?;
        Ok(Self::with_factory(Box::new(move || {
            SlotRing::new(config, slot_size)
        })))
    }
}

impl<P, C: RingConsumer> Core<P, C> {
    /// Takes rings registered since the last pass.
    #[inline]
    fn sync(&mut self) {
        if self.shared.registered.load(Ordering::Acquire) != self.known {
            self.adopt_registered();
        }
    }

    /// [`sync`](Self::sync)'s work once the registration count moved: out
    /// of line, so that every receive keeps only the look at the count.
    #[cold]
    #[inline(never)]
    fn adopt_registered(&mut self) {
        let mut pending = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (id, end) in pending.drain(..) {
            self.lanes.push(Lane {
                id,
                end,
                skip: 0,
                countdown: 0,
            });
        }
        self.known = self.shared.registered.load(Ordering::Acquire);
    }

    /// Closes the channel: no more registrations, every ring closes (sends
    /// fail with `Closed`), and blocked threads wake up. What was sent is
    /// still delivered. Dropping the channel closes it too.
    pub fn close(&mut self) {
        {
            // Under the registrations' lock: one that went before has queued
            // its ring, which the sync below takes and closes; one after
            // sees the channel closed.
            let _registrations = self
                .shared
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            self.shared.closed.store(true, Ordering::Release);
        }
        self.sync();
        for lane in &self.lanes {
            lane.end.close();
        }
        self.shared.wake.wake_all();
    }
}

/// The consumer gone, nothing can read what producers send: the channel
/// closes, so that their sends fail with `Closed` and blocked ones wake.
impl<P, C: RingConsumer> Drop for Core<P, C> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<P: RingProducer, C: RingConsumer> Core<P, C> {
    fn with_factory(make_ring: Factory<P, C>) -> Self {
        Core {
            shared: Arc::new(Shared {
                closed: AtomicBool::new(false),
                registered: AtomicUsize::new(0),
                pending: Mutex::new(Vec::new()),
                wake: ChannelWake::new(),
                make_ring,
            }),
            lanes: Vec::new(),
            known: 0,
            next: 0,
            created: Instant::now(),
        }
    }

    /// Registers a producer (see [`Registrar::register`]).
    pub fn register(&self) -> Result<Registered<P>> {
        self.registrar().register()
    }

    /// A handle that registers producers from other threads.
    pub fn registrar(&self) -> Registrar<P, C> {
        Registrar {
            shared: self.shared.clone(),
        }
    }

    /// One item by `take` from the ring whose turn it is, else from the
    /// others round from there: the turn of the receives one item at a
    /// time ([`try_recv`](Core::try_recv)). A ring keeps the turn until
    /// the items it showed are taken. `Empty`, or `Closed` once closed
    /// and drained.
    #[inline(always)]
    fn take_in_turn<K: TakeOne<C>>(&mut self, mut take: K) -> Result<K::Item> {
        self.sync();
        // While a ring keeps its turn, a receive is one bounds check and
        // the ring's own.
        let i = self.next;
        if let Some(lane) = self.lanes.get_mut(i) {
            if let Ok(Some((item, more))) = take.take_one(&mut lane.end) {
                if more == 0 {
                    self.next = self.after(i);
                }
                return Ok(item);
            }
        }
        self.take_from_the_others(take)
    }

    /// [`take_in_turn`](Self::take_in_turn) once the ring whose turn it
    /// was had nothing: out of line, so that a receive stays short.
    #[inline(never)]
    fn take_from_the_others<K: TakeOne<C>>(&mut self, mut take: K) -> Result<K::Item> {
        let mut i = self.next;
        for _ in 1..self.lanes.len() {
            i = self.after(i);
            if let Ok(Some((item, more))) = take.take_one(&mut self.lanes[i].end) {
                self.next = if more == 0 { self.after(i) } else { i };
                return Ok(item);
            }
        }
        Err(self.nothing_received())
    }

    /// Every ring, starting with the one whose turn it is (for the batch
    /// receives, which pass the turn on once per call).
    fn lanes_from_turn(&mut self) -> impl Iterator<Item = &mut Lane<C>> {
        let (before, from) = self.lanes.split_at_mut(self.next);
        from.iter_mut().chain(before)
    }

    /// The ring after ring `i` (the first after the last).
    #[inline(always)]
    fn after(&self, i: usize) -> usize {
        if i + 1 >= self.lanes.len() {
            0
        } else {
            i + 1
        }
    }

    /// Why a receive found nothing: out of line, so that the receive
    /// itself inlines.
    #[cold]
    #[inline(never)]
    fn nothing_received(&mut self) -> Error {
        if self.is_fully_drained() {
            Error::Closed
        } else {
            Error::Empty
        }
    }

    /// Drops rings that are closed and drained (deregistered producers).
    /// The turn stays with the ring that had it, or goes to the first
    /// ring when that one is dropped last: it always names a ring.
    fn retire(&mut self) {
        let (turn, mut seen, mut kept_before) = (self.next, 0, 0);
        self.lanes.retain(|l| {
            let keep = !(l.end.is_closed() && l.end.pending() == 0);
            kept_before += usize::from(keep && seen < turn);
            seen += 1;
            keep
        });
        self.next = if kept_before < self.lanes.len() {
            kept_before
        } else {
            0
        };
    }

    /// Calls `f` on everything readable in every ring, one head update per
    /// ring; returns the count. Rings found empty are polled less often
    /// (after 1, 2, 4 ... 64 passes) until they have data again. A loop
    /// that calls it again at once catches up with its producers and then
    /// takes every line from them as they write it: such a loop does
    /// better with [`try_recv`](Core::try_recv) or a `Paced` wait between
    /// calls (README, "Where the time goes").
    pub fn consume_all(&mut self, f: impl FnMut(&C::Item)) -> usize {
        self.consume_all_up_to(usize::MAX, f)
    }

    /// [`consume_all`](Self::consume_all), stopping after `max` items.
    pub fn consume_all_up_to(&mut self, max: usize, mut f: impl FnMut(&C::Item)) -> usize {
        self.consume_all_while(max, |item| {
            f(item);
            true
        })
    }

    /// [`consume_all_up_to`](Self::consume_all_up_to) until `f` returns
    /// `false`: the item it declined stays in its ring (with everything
    /// after it) and the call returns the count accepted, so a handler that
    /// may fail keeps batching without losing the item it failed on.
    pub fn consume_all_while(&mut self, max: usize, mut f: impl FnMut(&C::Item) -> bool) -> usize {
        self.sync();
        let (mut total, declined) = self.consume_pass(max, &mut f);
        // A pass never reports 0 while a ring in skip mode holds data (a
        // caller that sees 0 would sleep with data waiting); with a user
        // notifier attached, a call with room left leaves none there (an
        // event loop woken by it waits for the next signal, which may never
        // come).
        let room = if self.shared.wake.has_user() { max } else { 1 };
        if total < room && !declined && self.lanes.iter().any(|l| l.skip > 0 && l.end.pending() > 0)
        {
            self.reset_adaptive_skip();
            total += self.consume_pass(max - total, &mut f).0;
        }
        total
    }

    /// One pass over the rings: the count, and whether `f` declined an item.
    fn consume_pass(&mut self, max: usize, f: &mut impl FnMut(&C::Item) -> bool) -> (usize, bool) {
        let mut total = 0;
        let mut retire = false;
        let mut declined = false;
        for lane in &mut self.lanes {
            if total >= max || declined {
                break;
            }
            if lane.countdown > 0 {
                lane.countdown -= 1;
                continue;
            }
            let n = lane.end.consume_while(max - total, |item| {
                let accepted = f(item);
                declined |= !accepted;
                accepted
            });
            if n == 0 && !declined {
                lane.skip = (lane.skip * 2).clamp(1, MAX_SKIP);
                lane.countdown = lane.skip;
                retire |= lane.end.is_closed();
            } else {
                lane.skip = 0;
            }
            total += n;
        }
        if retire {
            self.retire();
        }
        (total, declined)
    }

    /// Frees everything readable without handler calls; returns the count.
    pub fn consume_all_count(&mut self) -> usize {
        self.consume_all(|_| {})
    }

    /// Polls every ring at the next pass again.
    pub fn reset_adaptive_skip(&mut self) {
        for lane in &mut self.lanes {
            lane.skip = 0;
            lane.countdown = 0;
        }
    }

    /// Waits by `strategy` until something is readable, then consumes like
    /// [`consume_all`](Self::consume_all). `Closed` once the channel is
    /// closed and drained.
    pub fn consume_all_blocking(
        &mut self,
        mut f: impl FnMut(&C::Item),
        strategy: WaitStrategy,
    ) -> Result<usize> {
        let mut waiter = Waiter::new(strategy);
        loop {
            let n = self.consume_all(&mut f);
            if n > 0 {
                return Ok(n);
            }
            self.wait_step(&mut waiter)?;
        }
    }

    /// Waits by `strategy` until some ring has an item, without consuming
    /// it. `Closed` once the channel is closed and drained.
    pub fn wait_for_data(&mut self, strategy: WaitStrategy) -> Result<()> {
        self.wait_for_data_with(&mut Waiter::new(strategy))
    }

    /// [`wait_for_data`](Self::wait_for_data) by `waiter`.
    pub(crate) fn wait_for_data_with(&mut self, waiter: &mut Waiter) -> Result<()> {
        loop {
            self.sync();
            if self.lanes.iter().any(|l| l.end.pending() > 0) {
                return Ok(());
            }
            self.wait_step(waiter)?;
        }
    }

    /// One step of waiting for data: `Closed` once closed and drained,
    /// else spin, yield or sleep (on the channel's futex) by the waiter.
    fn wait_step(&mut self, waiter: &mut Waiter) -> Result<()> {
        if self.is_closed() && self.is_fully_drained() {
            return Err(Error::Closed);
        }
        let lanes = &mut self.lanes;
        let (shared, known) = (&self.shared, self.known);
        waiter.wait_with(|left| {
            // About to sleep: poll every ring at the next pass, and sleep
            // only if none has anything (and nothing was registered).
            for lane in lanes.iter_mut() {
                lane.skip = 0;
                lane.countdown = 0;
            }
            let lanes = &*lanes;
            shared.wake.park(
                || {
                    shared.closed.load(Ordering::Acquire)
                        || shared.registered.load(Ordering::Acquire) != known
                        || lanes.iter().any(|l| l.end.pending() > 0)
                },
                left,
            )
        })
    }

    /// Alias of [`close`](Self::close).
    pub fn shutdown(&mut self) {
        self.close();
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Consumes everything left in every ring (no skipping); call it after
    /// the producers are done. Returns the count.
    pub fn drain_all(&mut self, mut f: impl FnMut(&C::Item)) -> usize {
        let mut total = 0;
        loop {
            self.reset_adaptive_skip();
            let n = self.consume_all(&mut f);
            if n == 0 {
                self.retire();
                return total;
            }
            total += n;
        }
    }

    /// [`drain_all`](Self::drain_all) without handler calls.
    pub fn drain_all_count(&mut self) -> usize {
        self.drain_all(|_| {})
    }

    /// Closed, and nothing is left in any ring.
    pub fn is_fully_drained(&mut self) -> bool {
        self.sync();
        self.is_closed() && self.lanes.iter().all(|l| l.end.pending() == 0)
    }

    /// Items waiting, over all rings.
    pub fn total_pending(&mut self) -> usize {
        self.sync();
        self.lanes.iter().map(|l| l.end.pending()).sum()
    }

    /// True when no ring holds an item.
    pub fn is_empty(&mut self) -> bool {
        self.total_pending() == 0
    }

    /// The id of the ring with the most items waiting.
    pub fn hottest_ring(&mut self) -> Option<usize> {
        self.sync();
        self.lanes
            .iter()
            .max_by_key(|l| l.end.pending())
            .filter(|l| l.end.pending() > 0)
            .map(|l| l.id)
    }

    /// Status of the ring of producer `id` (`None` once it left).
    pub fn get_ring(&mut self, id: usize) -> Option<RingObserver> {
        self.sync();
        self.lanes
            .iter()
            .find(|l| l.id == id)
            .map(|l| l.end.observer())
    }

    /// Health: rings, pending items and, with metrics, merged counters,
    /// throughput and latency.
    pub fn snapshot(&mut self) -> ChannelStats {
        self.sync();
        let mut merged: Option<Metrics> = None;
        for m in self.lanes.iter().filter_map(|l| l.end.metrics()) {
            merged.get_or_insert_with(Metrics::default).merge(&m);
        }
        let uptime = self.created.elapsed();
        ChannelStats {
            rings: self.lanes.len(),
            pending: self.lanes.iter().map(|l| l.end.pending()).sum(),
            closed: self.is_closed(),
            throughput: merged.map_or(0.0, |m| m.throughput_per_second(uptime)),
            avg_latency_ns: merged.map_or(0.0, |m| m.avg_latency_ns()),
            metrics: merged,
            uptime,
        }
    }

    pub(crate) fn wake(&self) -> Arc<ChannelWake> {
        self.shared.wake.clone()
    }

    /// Signals `notify` (for example an [`EventNotifier`](crate::EventNotifier))
    /// after every commit of any producer; `None` detaches.
    pub fn set_notifier(&self, notify: Option<Arc<dyn Notify>>) {
        self.shared.wake.set_user(notify);
    }
}

impl<T: Send + Copy + 'static> Core<Producer<T>, Consumer<T>> {
    /// Moves up to `out.len()` items into `out`, taking from the rings in
    /// turn; returns the count.
    pub fn recv(&mut self, out: &mut [T]) -> usize {
        self.sync();
        let mut got = 0;
        for lane in self.lanes_from_turn() {
            if got == out.len() {
                break;
            }
            got += lane.end.recv(&mut out[got..]);
        }
        self.next = self.after(self.next);
        got
    }

    /// Every item readable now, appended to `out`; returns the count.
    pub fn drain(&mut self, out: &mut Vec<T>) -> usize {
        self.consume_all(|x| out.push(*x))
    }
}

impl<T: Send + 'static> Core<Producer<T>, Consumer<T>> {
    /// One item from the next ring that has one. `Empty`, or `Closed` once
    /// the channel is closed and drained. A ring is read until the items
    /// its producer's position last showed are taken, then the next one
    /// (as [`consume_all`](Self::consume_all) takes a ring's at once): no
    /// producer's position is read per item, and no ring waits behind
    /// another for more than that.
    #[inline(always)]
    pub fn try_recv(&mut self) -> Result<T> {
        self.take_in_turn(ByValue)
    }

    /// Alias of [`try_recv`](Self::try_recv).
    pub fn recv_one(&mut self) -> Result<T> {
        self.try_recv()
    }

    /// One item, waiting by `strategy` while every ring is empty.
    pub fn recv_blocking(&mut self, strategy: WaitStrategy) -> Result<T> {
        let mut waiter = Waiter::new(strategy);
        loop {
            match self.try_recv() {
                Err(Error::Empty) => {}
                other => return other,
            }
            self.wait_step(&mut waiter)?;
        }
    }
}

impl Core<SlotProducer, SlotConsumer> {
    /// Copies one item into `out[..slot_size]`, taking the rings in turn
    /// as the typed [`try_recv`](Core::try_recv) does. `Empty`, or `Closed`
    /// once closed and drained; `InvalidArgument` when `out` cannot hold
    /// an item (known once a producer has registered: until then it is
    /// `Empty`).
    #[inline]
    pub fn try_recv(&mut self, out: &mut [u8]) -> Result<()> {
        let len = out.len();
        self.take_in_turn(IntoBuffer(out))
            .map_err(|e| self.refuse_short_buffer(len).unwrap_or(e))
    }

    /// `InvalidArgument` when `len` bytes cannot hold an item (the rings
    /// share one slot size): why a receive into them found nothing, as a
    /// ring reads nothing into a short buffer.
    #[cold]
    fn refuse_short_buffer(&self, len: usize) -> Option<Error> {
        let size = self.lanes.first()?.end.slot_size();
        (len < size).then(|| {
            Error::InvalidArgument(format!(
                "buffer of {len} bytes cannot hold an item of {size}"
            ))
        })
    }

    /// Copies whole items into `out`, taking from the rings in turn;
    /// returns the item count.
    pub fn recv(&mut self, out: &mut [u8]) -> usize {
        self.sync();
        let mut used = 0;
        for lane in self.lanes_from_turn() {
            let size = lane.end.slot_size();
            if out.len() - used < size {
                break;
            }
            used += lane.end.recv(&mut out[used..]).unwrap_or(0) * size;
        }
        self.next = self.after(self.next);
        self.lanes.first().map_or(0, |l| used / l.end.slot_size())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;
    use std::time::Duration;

    /// A registration inside its ring's making when the channel closes:
    /// the close waits for it and closes its ring, so its sends fail.
    #[test]
    fn a_close_during_a_registration_closes_the_ring_it_makes() {
        let (inside, entered) = channel();
        let (go, release) = channel::<()>();
        let release = Mutex::new(release);
        let mut ch = Channel::<u32>::with_factory(Box::new(move || {
            inside.send(()).unwrap();
            release.lock().unwrap().recv().unwrap();
            Ring::<u32>::new(Config::with_ring_bits(2))
        }));
        let registrar = ch.registrar();
        let registering = std::thread::spawn(move || registrar.register());
        entered.recv().unwrap();
        // The channel lives on (its pending rings with it) past the close.
        std::thread::scope(|s| {
            let closing = s.spawn(|| ch.close());
            // Long enough for a close that does not wait to be done.
            std::thread::sleep(Duration::from_millis(50));
            go.send(()).unwrap();
            closing.join().unwrap();
        });
        let mut p = registering.join().unwrap().unwrap();
        assert!(
            matches!(p.send_one(1).unwrap_err().reason, Error::Closed),
            "the ring made during the close stayed open"
        );
    }
}
