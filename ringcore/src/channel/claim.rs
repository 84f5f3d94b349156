//! The consuming side of a ring shared by several consumers, which claim
//! runs of items with a CAS. The producing side is the plain SPSC producer.
//!
//! Two counters sit beside the ring's indices:
//!
//! - `claim`: the next item not yet claimed. A consumer reads `claim` and
//!   `tail` and moves `claim` forward with a CAS; the items in between are
//!   then its own, and nobody else reads them.
//! - `head` (the ring's own consumer index, which the producer reads): moved
//!   forward only when the items before it are done. A consumer that has
//!   finished a run waits until `head` reaches the start of its run, then
//!   stores the end (Release). The producer therefore never overwrites an
//!   item that a consumer is still reading, and no item is copied before
//!   it is claimed (no speculative read races the producer).
//!
//! A consumer that stalls between claim and completion delays the head (the
//! producer sees less free space, later consumers wait to publish) but
//! never loses or duplicates an item.

use crate::ring::raw::{Corrupt, RawRing};
use crate::sync::{AtomicU64, Ordering};
use crossbeam_utils::CachePadded;
use std::time::Duration;

/// The shared claim counter, on a cache line (pair) of its own.
pub(crate) struct ClaimState {
    claim: CachePadded<AtomicU64>,
}

impl ClaimState {
    pub(crate) fn new(start: u64) -> Self {
        ClaimState {
            claim: CachePadded::new(AtomicU64::new(start)),
        }
    }
}

/// A claimed run of items: positions `start .. start + len`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run {
    pub(crate) start: u64,
    pub(crate) len: usize,
}

/// What the consumers of a claim ring took, when metrics are on. Several
/// consumers complete runs at once, so these are read-modify-write counters
/// (the ring's own consumer counters assume one writer).
#[derive(Default)]
pub(crate) struct ClaimCounters {
    received: AtomicU64,
    batches: AtomicU64,
    max_batch: AtomicU64,
}

impl ClaimCounters {
    fn on_complete(&self, n: usize) {
        self.received.fetch_add(n as u64, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.max_batch.fetch_max(n as u64, Ordering::Relaxed);
    }

    /// Puts the consumers' side into `m` (the producer's side is the ring's).
    pub(crate) fn fill(&self, m: &mut crate::metrics::Metrics) {
        m.messages_received = self.received.load(Ordering::Relaxed);
        m.batches_received = self.batches.load(Ordering::Relaxed);
        m.max_batch_size = self.max_batch.load(Ordering::Relaxed);
    }
}

/// Claim and completion over a ring; `Copy`, no ownership.
#[derive(Clone, Copy)]
pub(crate) struct ClaimCore<'a> {
    pub(crate) raw: RawRing,
    pub(crate) state: &'a ClaimState,
    /// Counted into at each completion, when metrics are on.
    pub(crate) counters: Option<&'a ClaimCounters>,
}

impl ClaimCore<'_> {
    /// The claim position and the items published after it. A consumer
    /// may be descheduled between reading `claim` and `tail` while the others
    /// and the producer move on, so an impossible distance is only reported
    /// (`Corrupt`) if `claim` did not move meanwhile.
    fn claim_and_unclaimed(&self) -> Result<(u64, usize), Corrupt> {
        let mut claim = self.state.claim.load(Ordering::Acquire);
        loop {
            // Acquire pairs with the producer's Release store of `tail`: the
            // items before it are written.
            let tail = self.raw.indices().producer.tail.load(Ordering::Acquire);
            match self.raw.fill(claim, tail) {
                Ok(n) => return Ok((claim, n)),
                Err(c) => {
                    let now = self.state.claim.load(Ordering::Acquire);
                    if now == claim {
                        return Err(c);
                    }
                    claim = now;
                }
            }
        }
    }

    /// Items published but not claimed yet.
    pub(crate) fn unclaimed(&self) -> Result<usize, Corrupt> {
        Ok(self.claim_and_unclaimed()?.1)
    }

    /// Claims up to `max` items; `None` when nothing is unclaimed.
    pub(crate) fn claim(&self, max: usize) -> Result<Option<Run>, Corrupt> {
        loop {
            let (claim, avail) = self.claim_and_unclaimed()?;
            let len = avail.min(max);
            if len == 0 {
                return Ok(None);
            }
            if self
                .state
                .claim
                .compare_exchange_weak(
                    claim,
                    claim.wrapping_add(len as u64),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
            {
                return Ok(Some(Run { start: claim, len }));
            }
        }
    }

    /// Marks a claimed run as done: waits for the runs claimed before it,
    /// then moves the head past it and wakes a sleeping producer.
    pub(crate) fn complete(&self, run: Run) {
        let head = &self.raw.indices().consumer.head;
        let backoff = crate::wait::Backoff::new();
        // Acquire pairs with the Release store of the previous run's end.
        while head.load(Ordering::Acquire) != run.start {
            // The runs before it are being copied out: spin, then yield.
            backoff.snooze();
            #[cfg(loom)]
            loom::thread::yield_now();
        }
        self.raw.store_head(run.start.wrapping_add(run.len as u64));
        if let Some(c) = self.counters {
            c.on_complete(run.len);
        }
    }

    /// Address of the item at position `pos`.
    pub(crate) fn slot(&self, pos: u64) -> *mut u8 {
        self.raw.slot_ptr(self.raw.contiguous(pos).0)
    }

    /// Sleeps on the ring's own wake-up word until something may be
    /// unclaimed, the ring closes, or `timeout`.
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        let claim = self.state.claim.load(Ordering::Acquire);
        self.raw.park_consumer(claim, 0, false, timeout);
    }
}

/// Completes a run when dropped, so a panicking handler cannot stall the
/// other consumers (the items it did not reach are leaked, not dropped twice).
pub(crate) struct CompleteOnDrop<'a> {
    pub(crate) core: ClaimCore<'a>,
    pub(crate) run: Run,
}

impl Drop for CompleteOnDrop<'_> {
    fn drop(&mut self) {
        self.core.complete(self.run);
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::ring::heap::HeapRing;
    use crate::ring::raw::ProducerCursor;
    use loom::sync::atomic::AtomicU64 as LoomU64;
    use loom::sync::Arc;
    use loom::thread;

    fn ring(bits: u8) -> (Arc<HeapRingBox>, RawRing, Arc<ClaimState>) {
        let heap = HeapRing::allocate(bits, 8, 8, u64::MAX - 1, |_| {}).unwrap();
        let raw = heap.raw();
        (
            Arc::new(HeapRingBox(heap)),
            raw,
            Arc::new(ClaimState::new(u64::MAX - 1)),
        )
    }

    struct HeapRingBox(#[allow(dead_code)] std::sync::Arc<HeapRing>);

    /// Two consumers race for two published items: each item is claimed
    /// exactly once, and the head reaches the end only after both completed
    /// (in order, whatever order the consumers finish in).
    #[test]
    fn loom_cas_claim_delivers_each_item_once() {
        loom::model(|| {
            let (keep, raw, state) = ring(1);
            let mut p = ProducerCursor::new(raw).unwrap();
            for v in 0..2u64 {
                let (index, _) = p.contiguous(p.tail());
                // SAFETY: the slot is free and only the producer writes it.
                unsafe { raw.slot_ptr(index).cast::<u64>().write(v + 1) };
                p.publish(1);
            }
            let consumers: Vec<_> = (0..2)
                .map(|_| {
                    let (state, keep) = (state.clone(), keep.clone());
                    thread::spawn(move || {
                        let _keep = keep;
                        let core = ClaimCore {
                            raw,
                            state: &state,
                            counters: None,
                        };
                        let run = core.claim(1).unwrap().expect("two items for two claims");
                        // SAFETY: published and claimed by this thread alone.
                        let v = unsafe { core.slot(run.start).cast::<u64>().read() };
                        core.complete(run);
                        v
                    })
                })
                .collect();
            let mut got: Vec<u64> = consumers.into_iter().map(|c| c.join().unwrap()).collect();
            got.sort();
            assert_eq!(got, [1, 2]);
            assert_eq!(p.free(2).unwrap(), 2, "both slots handed back");
        });
    }

    /// With one slot, the producer reuses it only after the consumer has
    /// completed the item in it: the consumer always reads what was written.
    #[test]
    fn loom_completion_comes_before_reuse() {
        loom::model(|| {
            let (keep, raw, state) = ring(0);
            let payload = Arc::new(LoomU64::new(0));
            let consumer = {
                let (state, payload, keep) = (state.clone(), payload.clone(), keep.clone());
                thread::spawn(move || {
                    let _keep = keep;
                    let core = ClaimCore {
                        raw,
                        state: &state,
                        counters: None,
                    };
                    let mut seen = Vec::new();
                    while seen.len() < 2 {
                        match core.claim(1).unwrap() {
                            Some(run) => {
                                seen.push(payload.load(Ordering::Relaxed));
                                core.complete(run);
                            }
                            None => thread::yield_now(),
                        }
                    }
                    seen
                })
            };
            let mut p = ProducerCursor::new(raw).unwrap();
            for v in 1..=2u64 {
                while p.free(1).unwrap() == 0 {
                    thread::yield_now();
                }
                payload.store(v, Ordering::Relaxed);
                p.publish(1);
            }
            assert_eq!(consumer.join().unwrap(), [1, 2]);
        });
    }
}
