//! Single-producer multi-consumer: one ring, whose consumers claim runs of
//! items with a CAS (see [`claim`](super::claim)); every item goes to
//! exactly one consumer.

use super::claim::{ClaimCore, ClaimState, CompleteOnDrop};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ring::heap::{drop_items, HeapRing};
use crate::ring::typed::Owner;
use crate::ring::Producer;
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
}

impl Inner {
    pub(crate) fn core(&self) -> ClaimCore<'_> {
        ClaimCore {
            raw: self.ring.raw(),
            state: &self.state,
        }
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
    inner: Arc<Inner>,
    _marker: PhantomData<T>,
}

// SAFETY: a consumer only touches items it claimed; items cross threads.
unsafe impl<T: Send> Send for Consumer<T> {}

/// A ring of `T` with the claim state beside it: the building block of the
/// SPMC and MPMC channels.
pub(crate) fn claim_ring_with<T: Send>(
    config: &Config,
    max_consumers: usize,
) -> Result<(Producer<T>, Arc<Inner>)> {
    config.validate()?;
    let ring = HeapRing::allocate(
        config.ring_bits,
        std::mem::size_of::<T>(),
        std::mem::align_of::<T>(),
        0,
        drop_items::<T>,
    )?;
    let inner = Arc::new(Inner {
        ring: ring.clone(),
        state: ClaimState::new(0),
        consumers: AtomicUsize::new(0),
        max_consumers,
    });
    let owner: Owner = inner.clone();
    Ok((Producer::from_parts(ring.raw(), owner, None)?, inner))
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
        if self.inner.ring.raw().is_closed() {
            return Err(Error::Closed);
        }
        let max = self.inner.max_consumers;
        self.inner
            .consumers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| Error::TooManyConsumers)?;
        Ok(Consumer {
            inner: self.inner.clone(),
            _marker: PhantomData,
        })
    }

    /// Closes the channel; consumers drain what is left.
    pub fn close(&self) {
        self.inner.ring.raw().close();
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.ring.raw().is_closed()
    }

    /// Items not yet claimed.
    pub fn len(&self) -> usize {
        self.inner.core().unclaimed().unwrap_or(0)
    }

    /// True when nothing waits to be claimed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.inner.ring.raw().capacity()
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        self.inner.consumers.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<T: Send> Consumer<T> {
    /// Claims up to `out.len()` items and moves them into `out`; returns the count.
    pub fn steal(&mut self, out: &mut [T]) -> usize
    where
        T: Copy,
    {
        steal_into(self.inner.core(), out)
    }

    /// Claims one item. `Empty`, or `Closed` once closed and drained.
    pub fn steal_one(&mut self) -> Result<T> {
        steal_one(self.inner.core())
    }

    /// Claims up to 4096 items, calls `f` on each in place, then frees them;
    /// returns the count.
    pub fn consume_batch(&mut self, f: impl FnMut(&T)) -> usize {
        consume_claimed(self.inner.core(), MAX_BATCH, f)
    }

    /// [`steal`](Self::steal), waiting by `strategy` while nothing is unclaimed.
    pub fn steal_blocking(&mut self, out: &mut [T], strategy: WaitStrategy) -> Result<usize>
    where
        T: Copy,
    {
        let core = self.inner.core();
        wait_claimable(core, &mut Waiter::new(strategy), |c| {
            match steal_into(c, out) {
                0 => None,
                n => Some(n),
            }
        })
    }

    /// One item, waiting by `strategy` while nothing is unclaimed.
    pub fn recv_blocking(&mut self, strategy: WaitStrategy) -> Result<T> {
        let core = self.inner.core();
        wait_claimable(core, &mut Waiter::new(strategy), |c| steal_one(c).ok())
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.ring.raw().is_closed()
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
