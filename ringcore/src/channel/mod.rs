//! Channels built from the SPSC ring: MPSC (one ring per producer), SPMC
//! and MPMC (one [`ClaimChannel`]: rings whose consumers claim items with a
//! CAS), and a consumer loop ([`EventLoop`]).

pub(crate) mod claim;
mod claiming;
mod event_loop;
pub mod mpmc;
pub mod mpsc;
pub mod spmc;

pub use claiming::{Bytes, ClaimChannel, ClaimConsumer, ClaimItems, Typed};
pub use event_loop::EventLoop;

/// The reference API's default SPSC channel: a ring of `u64`
/// (`Ring::new(Config::DEFAULT)`).
pub type DefaultSpscChannel = crate::ring::Ring<u64>;
/// The default MPSC channel: `u64` items (`Channel::new(Config::DEFAULT)`).
pub type DefaultChannel = mpsc::Channel<u64>;
/// The default SPMC channel: `u64` items (`spmc::channel(SpmcConfig::default())`).
pub type DefaultSpmcChannel = spmc::Channel<u64>;
/// The default MPMC channel: `u64` items (`mpmc::channel(MpmcConfig::default())`).
pub type DefaultMpmcChannel = mpmc::Channel<u64>;

use crate::metrics::Metrics;
use crate::notify::{Gate, Notify};
use crate::ring::{Consumer, Producer, RingObserver, SlotConsumer, SlotProducer};
use crate::sync::{park, AtomicU32, Ordering};
use crossbeam_utils::CachePadded;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The consuming end of one ring, as a channel drives it. Implemented by
/// the typed [`Consumer`] and the byte-slot [`SlotConsumer`].
pub trait RingConsumer: Send + 'static {
    /// What a handler is given: `T`, or the bytes of one slot.
    type Item: ?Sized;
    /// Calls `f` on up to `max` items until it returns `false` and frees
    /// those it accepted (one head update); the declined item stays.
    fn consume_while<F: FnMut(&Self::Item) -> bool>(&mut self, max: usize, f: F) -> usize;
    /// Items waiting.
    fn pending(&self) -> usize;
    /// Whether the ring is closed.
    fn is_closed(&self) -> bool;
    /// Closes the ring.
    fn close(&self);
    /// A handle for status from any thread.
    fn observer(&self) -> RingObserver;
    /// The ring's counters, when enabled.
    fn metrics(&self) -> Option<Metrics>;
}

/// The producing end of one ring, as a channel hands it out.
pub trait RingProducer: Send + 'static {
    /// Called by the channel that registers the producer: its wake-up,
    /// called after every commit for the producer's life, beside any
    /// notifier the producer's `set_notifier` attaches.
    fn join_channel(&mut self, wake: Arc<dyn Notify>);
    /// Closes the ring.
    fn close(&self);
}

impl<T: Send + 'static> RingConsumer for Consumer<T> {
    type Item = T;
    fn consume_while<F: FnMut(&T) -> bool>(&mut self, max: usize, f: F) -> usize {
        Consumer::consume_while(self, max, f)
    }
    fn pending(&self) -> usize {
        self.len()
    }
    fn is_closed(&self) -> bool {
        Consumer::is_closed(self)
    }
    fn close(&self) {
        Consumer::close(self)
    }
    fn observer(&self) -> RingObserver {
        Consumer::observer(self)
    }
    fn metrics(&self) -> Option<Metrics> {
        Consumer::metrics(self)
    }
}

impl<T: Send + 'static> RingProducer for Producer<T> {
    fn join_channel(&mut self, wake: Arc<dyn Notify>) {
        Producer::join_channel(self, wake)
    }
    fn close(&self) {
        Producer::close(self)
    }
}

impl RingConsumer for SlotConsumer {
    type Item = [u8];
    fn consume_while<F: FnMut(&[u8]) -> bool>(&mut self, max: usize, f: F) -> usize {
        SlotConsumer::consume_while(self, max, f)
    }
    fn pending(&self) -> usize {
        self.len()
    }
    fn is_closed(&self) -> bool {
        SlotConsumer::is_closed(self)
    }
    fn close(&self) {
        SlotConsumer::close(self)
    }
    fn observer(&self) -> RingObserver {
        SlotConsumer::observer(self)
    }
    fn metrics(&self) -> Option<Metrics> {
        SlotConsumer::metrics(self)
    }
}

impl RingProducer for SlotProducer {
    fn join_channel(&mut self, wake: Arc<dyn Notify>) {
        SlotProducer::join_channel(self, wake)
    }
    fn close(&self) {
        SlotProducer::close(self)
    }
}

/// One futex word for a consumer that waits on many rings: every ring's
/// producer calls [`notify`](Notify::notify) after its commit (after the
/// ring's own barrier), which wakes the consumer only if it is registered
/// as waiting; an optional user notifier (eventfd) is signalled too. The
/// count of consumers about to sleep and a bit for the user notifier share
/// one word, the [`Gate`] producers read inline: while it is zero, a
/// commit costs them a load, not a call.
pub(crate) struct ChannelWake {
    /// The gate (sleepers, and [`HAS_USER`]) and the futex word: read by
    /// every commit of every ring, so on a line (pair) of their own.
    futex: CachePadded<(Gate, AtomicU32)>,
    user: Mutex<Option<Arc<dyn Notify>>>,
}

/// The gate's bit for an attached user notifier; the bits below count the
/// sleepers.
const HAS_USER: u32 = 1 << 31;

impl ChannelWake {
    pub(crate) fn new() -> Arc<ChannelWake> {
        Arc::new(ChannelWake {
            futex: CachePadded::new((Gate::new(), AtomicU32::new(0))),
            user: Mutex::new(None),
        })
    }

    /// Sleeps until `ready()`, a notify, or `timeout`.
    pub(crate) fn park(&self, ready: impl Fn() -> bool, timeout: Option<Duration>) {
        let (gate, seq) = &*self.futex;
        park(seq, gate.word(), ready, timeout, false);
    }

    /// Wakes every sleeper (close).
    pub(crate) fn wake_all(&self) {
        crate::sync::wake(&self.futex.1, false);
    }

    /// Whether a user notifier is attached.
    pub(crate) fn has_user(&self) -> bool {
        self.futex.0.word().load(Ordering::Relaxed) & HAS_USER != 0
    }

    /// Attaches (or with `None` detaches) a user notifier.
    pub(crate) fn set_user(&self, notify: Option<Arc<dyn Notify>>) {
        let mut u = self.user.lock().unwrap_or_else(|p| p.into_inner());
        let gate = self.futex.0.word();
        // Under the lock, which a producer that sees the bit takes too.
        if notify.is_some() {
            gate.fetch_or(HAS_USER, Ordering::Relaxed);
        } else {
            gate.fetch_and(!HAS_USER, Ordering::Relaxed);
        }
        *u = notify;
    }
}

impl Notify for ChannelWake {
    #[inline]
    fn notify(&self) {
        // Called by `Hook::notify_now` once its barrier and its look at the
        // gate found someone: the word is read once more to tell what to do.
        let gate = self.futex.0.word().load(Ordering::Relaxed);
        if gate & !HAS_USER != 0 {
            crate::sync::wake(&self.futex.1, false);
        }
        if gate & HAS_USER != 0 {
            if let Some(n) = &*self.user.lock().unwrap_or_else(|p| p.into_inner()) {
                n.notify();
            }
        }
    }

    fn gate(&self) -> Option<&Gate> {
        Some(&self.futex.0)
    }
}

/// A small xorshift generator for the random phase of work stealing.
pub(crate) struct XorShift(u64);

impl XorShift {
    pub(crate) fn new(seed: u64) -> Self {
        XorShift(seed | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
