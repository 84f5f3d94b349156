//! Atomics, fences and futexes: the std/kernel ones, or loom's models under `cfg(loom)`.
//!
//! # The wake-up handshake and its barrier pair
//!
//! A side that is about to sleep (the *waiter*) and the side that makes
//! progress (the *waker*) run a Dekker-style handshake:
//!
//! ```text
//! waiter                                  waker (commit / advance)
//! seq = word.load()                       index.store(new, Release)
//! waiters += 1                            light_barrier()
//! heavy_barrier()                         if waiters != 0 { word += 1; futex_wake(word) }
//! if !ready() { futex_wait(word, seq) }
//! waiters -= 1
//! ```
//!
//! Each side stores, then loads what the other side stores, so a StoreLoad
//! barrier is needed on both sides or a wake-up can be lost. The waker runs on
//! every commit, so its barrier must be free: where the kernel offers
//! `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`, the waker's barrier is a
//! compiler fence and the waiter's barrier is the `membarrier` call, which
//! makes every running thread of every registered process execute a full
//! barrier (the asymmetric-fence technique). Without `membarrier` both sides
//! use `fence(SeqCst)`. Under loom and Miri both sides use `fence(SeqCst)`,
//! which is what the models check.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64};
pub(crate) use std::sync::atomic::Ordering;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64};

use std::time::Duration;

/// Prepares the barrier pair for this process; call before handing out ring handles.
pub(crate) fn init_barriers() {
    #[cfg(not(any(loom, miri)))]
    crate::sys::futex::register_for_barriers();
}

/// The waker's side of the handshake: orders its index store before its load
/// of the waiter count. Free (a compiler fence) when `membarrier` is available.
#[inline(always)]
pub(crate) fn light_barrier() {
    #[cfg(not(any(loom, miri)))]
    {
        if crate::sys::futex::registered() {
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
            return;
        }
    }
    fence(Ordering::SeqCst);
}

/// The waiter's side of the handshake. Returns `false` when it could not
/// reach every possible waker exactly (no `membarrier` while a peer process
/// may rely on it); the caller then bounds its sleep so progress is kept.
pub(crate) fn heavy_barrier(process_shared: bool) -> bool {
    fence(Ordering::SeqCst);
    #[cfg(not(any(loom, miri)))]
    {
        if crate::sys::futex::global_barrier() {
            return true;
        }
        // In process every waker used a real fence unless we are registered.
        !process_shared && !crate::sys::futex::registered()
    }
    #[cfg(any(loom, miri))]
    {
        let _ = process_shared;
        true
    }
}

#[cfg(not(loom))]
pub(crate) use crate::sys::futex::{wait as futex_wait, wake_all as futex_wake_all};

// Under loom a futex is modelled by one mutex + condvar: checking the word
// and going to sleep are atomic with respect to a wake, as in the kernel.
#[cfg(loom)]
loom::lazy_static! {
    static ref FUTEX: (loom::sync::Mutex<()>, loom::sync::Condvar) =
        (loom::sync::Mutex::new(()), loom::sync::Condvar::new());
}

#[cfg(loom)]
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, _timeout: Option<Duration>, _: bool) {
    let guard = FUTEX.0.lock().unwrap();
    if word.load(Ordering::Relaxed) == expected {
        drop(FUTEX.1.wait(guard).unwrap());
    }
}

#[cfg(loom)]
pub(crate) fn futex_wake_all(_word: &AtomicU32, _: bool) {
    let _guard = FUTEX.0.lock().unwrap();
    FUTEX.1.notify_all();
}

/// The waiter's side of the handshake (see the module notes): sleeps on
/// `seq` unless `ready()` turns true after registering in `waiters`, for at
/// most `timeout`. Returns early on any wake-up; callers re-check and loop.
pub(crate) fn park(
    seq: &AtomicU32,
    waiters: &AtomicU32,
    ready: impl Fn() -> bool,
    timeout: Option<Duration>,
    process_shared: bool,
) {
    // Longest sleep when the barrier could not reach every waker exactly.
    const INEXACT_SLEEP: Duration = Duration::from_millis(1);
    // Read the word before registering: a wake that bumps it after this
    // point makes futex_wait return at once.
    let observed = seq.load(Ordering::Acquire);
    waiters.fetch_add(1, Ordering::Relaxed);
    let exact = heavy_barrier(process_shared);
    if !ready() {
        let timeout = if exact {
            timeout
        } else {
            Some(timeout.map_or(INEXACT_SLEEP, |t| t.min(INEXACT_SLEEP)))
        };
        futex_wait(seq, observed, timeout, process_shared);
    }
    waiters.fetch_sub(1, Ordering::Relaxed);
}

/// The waker's side: after its index store, wakes `seq` if anybody waits.
/// The barrier is free where `membarrier` is available.
#[inline]
pub(crate) fn wake_if_waiting(waiters: &AtomicU32, seq: &AtomicU32, process_shared: bool) {
    light_barrier();
    if waiters.load(Ordering::Relaxed) != 0 {
        wake(seq, process_shared);
    }
}

/// Bumps `seq` and wakes everyone sleeping on it.
#[cold]
pub(crate) fn wake(seq: &AtomicU32, process_shared: bool) {
    // Release: a sleeper that reads the new value also sees the caller's stores.
    seq.fetch_add(1, Ordering::Release);
    futex_wake_all(seq, process_shared);
}

/// The words a consumer sleeps on while its rings are empty. Producers ring
/// it after a commit: a load when nobody sleeps, and one futex wake per
/// sleep however many producers commit meanwhile (the first of them takes
/// the `ARMED` bit). Only one thread sleeps on a doorbell.
///
/// `state` holds the sleepers (bits 0..31) and `ARMED` (bit 31) in one word,
/// so that a producer that sees a sleeper registered also sees the arming
/// (read-then-modify coherence on one location); the barrier pair of the
/// module notes covers a producer that sees none.
#[repr(C, align(128))]
pub(crate) struct Doorbell {
    pub(crate) state: AtomicU32,
    pub(crate) seq: AtomicU32,
}

/// The bit of `Doorbell::state` set while a sleeper has not been rung.
const ARMED: u32 = 1 << 31;

impl Doorbell {
    /// After a commit: wakes the sleeper, if there is one not yet rung.
    #[inline]
    pub(crate) fn ring_if_waiting(&self) {
        light_barrier();
        let s = self.state.load(Ordering::Relaxed);
        if s & !ARMED != 0
            && s & ARMED != 0
            && self.state.fetch_and(!ARMED, Ordering::AcqRel) & ARMED != 0
        {
            wake(&self.seq, true);
        }
    }

    /// Wakes the sleeper unconditionally.
    pub(crate) fn ring(&self) {
        wake(&self.seq, true);
    }

    /// Sleeps until `ready()` or a ring, at most `timeout`.
    pub(crate) fn park(&self, ready: impl Fn() -> bool, timeout: Duration) {
        const INEXACT_SLEEP: Duration = Duration::from_millis(1);
        // Read before registering: a ring after this makes the wait return.
        let observed = self.seq.load(Ordering::Acquire);
        let mut s = self.state.load(Ordering::Relaxed);
        while let Err(now) = self.state.compare_exchange_weak(
            s,
            s.wrapping_add(1) | ARMED,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            s = now;
        }
        let exact = heavy_barrier(true);
        if !ready() {
            futex_wait(
                &self.seq,
                observed,
                Some(if exact {
                    timeout
                } else {
                    timeout.min(INEXACT_SLEEP)
                }),
                true,
            );
        }
        self.state.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// Two producers commit and ring; the consumer sleeps on the doorbell
    /// until it has seen both commits. One wake per sleep (`ARMED`) must
    /// never leave it asleep with a commit unseen: loom reports that as a
    /// deadlock.
    #[test]
    fn loom_doorbell_never_loses_a_ring() {
        loom::model(|| {
            let bell = Arc::new(Doorbell {
                state: AtomicU32::new(0),
                seq: AtomicU32::new(0),
            });
            let data = Arc::new(AtomicU32::new(0));
            let producers: Vec<_> = (0..2)
                .map(|_| {
                    let (bell, data) = (bell.clone(), data.clone());
                    thread::spawn(move || {
                        data.fetch_add(1, Ordering::Release);
                        bell.ring_if_waiting();
                    })
                })
                .collect();
            while data.load(Ordering::Acquire) < 2 {
                bell.park(
                    || data.load(Ordering::Acquire) == 2,
                    Duration::from_secs(3600),
                );
            }
            for p in producers {
                p.join().unwrap();
            }
        });
    }
}
