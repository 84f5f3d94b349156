//! The consuming side of a ring shared by several consumers, which claim
//! runs of items with a CAS. The producing side is the plain SPSC producer.
//!
//! Beside the ring's indices:
//!
//! - `claim`: the next item not yet claimed. A consumer reads `claim` and
//!   `tail` and moves `claim` forward with a CAS; the items in between are
//!   then its own, and nobody else reads them.
//! - `head` (the ring's own consumer index, which the producer reads): moved
//!   past a run only once the runs before it are done, so the producer
//!   never overwrites an item a consumer is still reading, and no item is
//!   copied before it is claimed (no speculative read races the producer).
//! - `done`: one word per slot. A run whose earlier runs are still out
//!   after a short wait (spins, a few yields) leaves its end there, in the
//!   word of its first slot, and returns. Whoever moves `head` to that slot
//!   takes the end and moves `head` there too.
//!
//! So a completion does not wait for a stalled consumer: one that stalls
//! between claim and completion holds back the producer's free space, never
//! another consumer (a handler may even take from its own lane), and no
//! item is lost or delivered twice.
//!
//! Only the holder of the run at `head` moves `head`: the run's consumer
//! when it finds `head` at its start, or whoever took the run's `done`
//! word. Each stores its own word (`head`, the `done` word) and then looks
//! at the other's, so the pair needs a StoreLoad barrier on both sides: the
//! side that moves `head` runs at every completion and takes the frequent
//! barrier, the hand-over the rare one (see [`crate::sync`]). So at least
//! one sees the other, and a compare-exchange of the `done` word to 0
//! picks exactly one. The word holds the run's end, not its length: a
//! slot's runs of different laps never end at the same position, so a
//! thread that read the word, stalled, and tries to take it after the slot
//! came round again fails instead of taking a later run.

use crate::error::Result;
use crate::ring::raw::{Corrupt, RawRing};
use crate::sync::{frequent_barrier, rare_barrier, AtomicU64, Ordering};
use crossbeam_utils::CachePadded;
use std::time::Duration;

/// The shared claim counter, on a cache line (pair) of its own, and the
/// ends of runs completed early (see the module notes).
pub(crate) struct ClaimState {
    claim: CachePadded<AtomicU64>,
    /// The positions' start: a `done` word holds an end less this, so that
    /// 0 (zeroed memory) is no run's end in the first lap.
    base: u64,
    /// Per slot: the end of the run starting there, completed while a run
    /// before it was still out (less `base`); 0 when none.
    done: Box<[AtomicU64]>,
}

impl ClaimState {
    /// The state of a ring of `capacity` slots whose positions are at `start`.
    pub(crate) fn new(start: u64, capacity: usize) -> Result<Self> {
        Ok(ClaimState {
            claim: CachePadded::new(AtomicU64::new(start)),
            base: start,
            done: zeroed_words(capacity)?,
        })
    }
}

/// `n` words at 0, from zeroed memory (a large ring's table costs no page
/// until a run completes early there); `Io(OutOfMemory)` when it cannot be had.
#[cfg(not(loom))]
fn zeroed_words(n: usize) -> Result<Box<[AtomicU64]>> {
    assert!(n > 0, "a ring has at least one slot");
    let layout = std::alloc::Layout::array::<AtomicU64>(n)
        .map_err(|e| crate::Error::InvalidArgument(e.to_string()))?;
    // SAFETY: the layout has a non-zero size (`n` > 0, asserted above).
    let p = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<AtomicU64>();
    if p.is_null() {
        return Err(crate::Error::Io(std::io::Error::new(
            std::io::ErrorKind::OutOfMemory,
            format!("cannot allocate {} bytes for a claim ring", layout.size()),
        )));
    }
    // SAFETY: allocated by the global allocator with the layout of `n`
    // `AtomicU64`s, whose all-zero bytes are valid values.
    Ok(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, n)) })
}

/// `n` words at 0 (loom's atomics are not plain memory).
#[cfg(loom)]
fn zeroed_words(n: usize) -> Result<Box<[AtomicU64]>> {
    Ok((0..n).map(|_| AtomicU64::new(0)).collect())
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

    /// Marks a claimed run as done. When runs before it are still out
    /// after a short wait, it leaves its end for whichever completion
    /// moves the head to it and returns (see the module notes).
    #[inline]
    pub(crate) fn complete(&self, run: Run) {
        let head = &self.raw.indices().consumer.head;
        // Acquire pairs with the Release store of the previous run's end.
        if head.load(Ordering::Acquire) == run.start
            || self.reaches_head(run.start)
            || self.keeps_run(run)
        {
            self.pass_done_runs(run.start.wrapping_add(run.len as u64));
        }
        self.count(run.len);
    }

    /// Whether the head reaches `start` within a short wait (spins, then a
    /// few yields, which let a preempted consumer of the run before finish
    /// it): that run is most often being copied out just now.
    #[cold]
    fn reaches_head(&self, start: u64) -> bool {
        let head = &self.raw.indices().consumer.head;
        let backoff = crate::wait::Backoff::new();
        loop {
            // Acquire pairs with the Release store of the previous run's end.
            if head.load(Ordering::Acquire) == start {
                return true;
            }
            // Loom goes straight to the hand-over, the part it checks.
            if cfg!(loom) || backoff.is_completed() {
                return false;
            }
            backoff.snooze();
        }
    }

    /// Runs before `run` are still out: leaves its end in its `done` word
    /// for the completion that moves the head to it. True when this caller
    /// must move the head past it after all: the head came to it meanwhile
    /// (and nobody took the word), or the rare barrier failed and the
    /// caller took the word back and waited in order.
    #[cold]
    fn keeps_run(&self, run: Run) -> bool {
        let head = &self.raw.indices().consumer.head;
        let word = self.done_word(run.start);
        let mine = self.encode(run.start.wrapping_add(run.len as u64));
        // A swap where a Release store would do: loom lets a later swap
        // read past a plain store another swap raced with.
        word.swap(mine, Ordering::AcqRel);
        // Against `pass_done_runs`: store of `head`, barrier, look here.
        let exact = rare_barrier();
        let at_head = || head.load(Ordering::Acquire) == run.start;
        if exact && !at_head() {
            return false;
        }
        if word
            .compare_exchange(mine, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            // The completion that moved the head here took it.
            return false;
        }
        let backoff = crate::wait::Backoff::new();
        while !at_head() {
            backoff.snooze();
            #[cfg(loom)]
            loom::thread::yield_now();
        }
        true
    }

    /// Moves the head to `head`, the end of a run this caller holds, then on
    /// past the runs completed early that follow it.
    fn pass_done_runs(&self, mut head: u64) {
        loop {
            // No other caller moves the head: it is at a run not yet
            // completed, or at one whose word only this caller can take.
            self.raw.store_head(head);
            // The frequent side of the pair in `keeps_run`.
            frequent_barrier();
            let word = self.done_word(head);
            let w = word.load(Ordering::Acquire);
            // Empty (0), or no end of a run starting at `head`.
            let end = w.wrapping_add(self.state.base);
            if !(1..=self.raw.capacity() as u64).contains(&end.wrapping_sub(head)) {
                return;
            }
            if word
                .compare_exchange(w, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                // Its consumer took it back and moves the head on itself.
                return;
            }
            head = end;
        }
    }

    /// What a `done` word holds for a run ending at `end`.
    fn encode(&self, end: u64) -> u64 {
        end.wrapping_sub(self.state.base)
    }

    /// The `done` word of the run starting at `pos`.
    fn done_word(&self, pos: u64) -> &AtomicU64 {
        &self.state.done[self.raw.contiguous(pos).0]
    }

    fn count(&self, n: usize) {
        if let Some(c) = self.counters {
            c.on_complete(n);
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

/// Completes a run when dropped, so a panicking handler cannot hold back
/// the producer (the items it did not reach are leaked, not dropped twice).
pub(crate) struct CompleteOnDrop<'a> {
    pub(crate) core: ClaimCore<'a>,
    pub(crate) run: Run,
}

impl Drop for CompleteOnDrop<'_> {
    fn drop(&mut self) {
        self.core.complete(self.run);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::ring::heap::HeapRing;
    use crate::ring::raw::ProducerCursor;

    /// Runs of 1, 2 and 1 items completed in every order, lap after lap
    /// across the positions' wrap: each completion returns, and the head
    /// stands at the end of the longest completed prefix of runs.
    #[test]
    fn runs_completed_in_any_order_move_the_head_past_the_completed_prefix() {
        let (done, result) = std::sync::mpsc::channel();
        // On a thread of its own, so that a completion that waits fails the test.
        std::thread::spawn(move || {
            let start = u64::MAX - 5;
            let heap = HeapRing::allocate(2, 8, 8, start, |_| {}).unwrap();
            let raw = heap.raw();
            let state = ClaimState::new(start, 4).unwrap();
            let core = ClaimCore {
                raw,
                state: &state,
                counters: None,
            };
            let mut p = ProducerCursor::new(raw).unwrap();
            let orders = [
                [0, 1, 2],
                [0, 2, 1],
                [1, 0, 2],
                [1, 2, 0],
                [2, 0, 1],
                [2, 1, 0],
            ];
            for order in orders.iter().cycle().take(18) {
                assert_eq!(p.free(4).unwrap(), 4);
                p.publish(4);
                let runs = [1, 2, 1].map(|n| core.claim(n).unwrap().unwrap());
                assert!(core.claim(1).unwrap().is_none());
                let mut completed = [false; 3];
                for &i in order {
                    core.complete(runs[i]);
                    completed[i] = true;
                    let prefix = completed.iter().take_while(|&&c| c).count();
                    let expected = match prefix {
                        0 => runs[0].start,
                        k => runs[k - 1].start.wrapping_add(runs[k - 1].len as u64),
                    };
                    let head = raw.indices().consumer.head.load(Ordering::Acquire);
                    assert_eq!(head, expected, "order {order:?}, after run {i}");
                }
                assert!(state.done.iter().all(|w| w.load(Ordering::Relaxed) == 0));
            }
            done.send(()).unwrap();
        });
        result
            .recv_timeout(Duration::from_secs(20))
            .expect("every completion returns");
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
            Arc::new(ClaimState::new(u64::MAX - 1, 1 << bits).unwrap()),
        )
    }

    struct HeapRingBox(#[allow(dead_code)] std::sync::Arc<HeapRing>);

    /// Claim and completion over `raw`, with no counters.
    fn core_over(raw: RawRing, state: &ClaimState) -> ClaimCore<'_> {
        ClaimCore {
            raw,
            state,
            counters: None,
        }
    }

    /// Completes `run` on a thread of its own.
    fn complete_on_thread(
        keep: &Arc<HeapRingBox>,
        raw: RawRing,
        state: &Arc<ClaimState>,
        run: Run,
    ) -> thread::JoinHandle<()> {
        let (state, keep) = (state.clone(), keep.clone());
        thread::spawn(move || {
            let _keep = keep;
            core_over(raw, &state).complete(run)
        })
    }

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
                        let core = core_over(raw, &state);
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

    /// Three runs completed at once by three threads, in whatever order:
    /// no completion waits, and the head ends past all three (an end left
    /// behind is always taken by the completion that reaches it).
    #[test]
    fn loom_runs_completed_out_of_order_are_all_passed() {
        loom::model(|| {
            let (keep, raw, state) = ring(2);
            let mut p = ProducerCursor::new(raw).unwrap();
            p.publish(3);
            let core = core_over(raw, &state);
            let runs = [0, 1, 2].map(|_| core.claim(1).unwrap().unwrap());
            let others = [runs[1], runs[2]].map(|run| complete_on_thread(&keep, raw, &state, run));
            core.complete(runs[0]);
            for t in others {
                t.join().unwrap();
            }
            assert_eq!(p.free(4).unwrap(), 4, "every slot handed back");
        });
    }

    /// A hand-over whose slot comes round again while its consumer is
    /// still in `keeps_run`, or the completion that took it still in
    /// `pass_done_runs`: in a ring of two slots, runs at 0 and 1 complete
    /// at once on two threads, then runs at 2 and 3 are claimed and 3 may
    /// be handed over into slot 1 too. Whoever read slot 1's word for the
    /// first hand-over must not take the second: the head ends past all
    /// four, and every completion returns.
    #[test]
    fn loom_a_hand_over_is_not_taken_for_the_next_lap_in_its_slot() {
        loom::model(|| {
            let (keep, raw, state) = ring(1);
            let mut p = ProducerCursor::new(raw).unwrap();
            p.publish(2);
            let core = core_over(raw, &state);
            let first = [0, 1].map(|_| core.claim(1).unwrap().unwrap());
            let late = complete_on_thread(&keep, raw, &state, first[1]);
            let early = complete_on_thread(&keep, raw, &state, first[0]);
            while p.free(2).unwrap() < 2 {
                thread::yield_now();
            }
            p.publish(2);
            let second = [0, 1].map(|_| core.claim(1).unwrap().unwrap());
            let next_lap = complete_on_thread(&keep, raw, &state, second[1]);
            core.complete(second[0]);
            for t in [late, early, next_lap] {
                t.join().unwrap();
            }
            assert_eq!(p.free(2).unwrap(), 2, "every slot handed back");
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
                    let core = core_over(raw, &state);
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
