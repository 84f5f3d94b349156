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
//! waiters += 1                            light_barrier(shared)
//! heavy_barrier(shared)                   if waiters != 0 { word += 1; futex_wake(word) }
//! if !ready() { futex_wait(word, seq) }
//! waiters -= 1
//! ```
//!
//! Each side stores, then loads what the other side stores, so a StoreLoad
//! barrier is needed on both sides or a wake-up can be lost. The waker runs on
//! every commit, so its barrier should be free. Where every waker is a thread
//! of this process and the kernel offers
//! `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, the waker's barrier is a
//! compiler fence and the waiter's is the `membarrier` call, which makes every
//! running thread of the process execute a full barrier (the asymmetric-fence
//! technique). Words in memory shared between processes take `fence(SeqCst)`
//! on both sides. The cross-process command
//! (`MEMBARRIER_CMD_GLOBAL_EXPEDITED`, which finds the threads to reach
//! through a per-CPU flag) was used here for both and missed running threads:
//! an in-process ring's two sides, each sleeping on every fill, were both left
//! asleep with items or room between them within a few hundred runs of 20000
//! items through an 8-slot ring (`tests/c/test_lease.c`), where the private
//! command lost none in 60000 runs. Without `membarrier` both sides use
//! `fence(SeqCst)`. Under loom and Miri both sides use `fence(SeqCst)`, which
//! is what the models check.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64};
pub(crate) use std::sync::atomic::Ordering;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64};

use std::ptr::NonNull;
use std::time::Duration;

/// Prepares the barrier pair for this process; call before handing out ring handles.
pub(crate) fn init_barriers() {
    #[cfg(not(any(loom, miri)))]
    crate::sys::futex::register_for_barriers();
}

/// The waker's side of the handshake: orders its index store before its load
/// of the waiter count. Free (a compiler fence) for a word of this process
/// when `membarrier` is available.
#[inline(always)]
pub(crate) fn light_barrier(process_shared: bool) {
    if !process_shared && light_barrier_is_free() {
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

/// Whether [`light_barrier`] is a compiler fence for a word of this
/// process: code outside the library that publishes an index and checks
/// for waiters (a C lease of an in-process ring) may then use a compiler
/// fence too.
#[inline(always)]
pub(crate) fn light_barrier_is_free() -> bool {
    #[cfg(not(any(loom, miri)))]
    {
        crate::sys::futex::registered()
    }
    #[cfg(any(loom, miri))]
    {
        false
    }
}

/// The waiter's side of the handshake. Returns `false` when it could not
/// reach every possible waker exactly (the `membarrier` call failed while
/// wakers rely on it); the caller then bounds its sleep so progress is kept.
pub(crate) fn heavy_barrier(process_shared: bool) -> bool {
    fence(Ordering::SeqCst);
    if process_shared || !light_barrier_is_free() {
        // Every waker runs a full fence.
        return true;
    }
    #[cfg(not(any(loom, miri)))]
    {
        crate::sys::futex::process_barrier()
    }
    #[cfg(any(loom, miri))]
    {
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

/// A waiter's registration, the first three steps of the handshake: the
/// word's value read before registering, then the count raised and the
/// heavy barrier run. Sleeping on the word (here, or in another thread
/// through [`crate::wait_set`]) misses no wake-up that comes after it;
/// dropping it lowers the count.
pub(crate) struct Registration {
    word: NonNull<AtomicU32>,
    count: NonNull<AtomicU32>,
    observed: u32,
    exact: bool,
    process_shared: bool,
}

// SAFETY: only atomics are reached through the pointers, which the
// creator's contract keeps valid for the registration's life.
unsafe impl Send for Registration {}
// SAFETY: as for Send; every access is an atomic operation.
unsafe impl Sync for Registration {}

impl Registration {
    /// Registers in the counter `waiters` of the wake-up word `seq`.
    ///
    /// # Safety
    /// `seq` and `waiters` stay valid while the registration lives.
    pub(crate) unsafe fn counted(
        seq: &AtomicU32,
        waiters: &AtomicU32,
        process_shared: bool,
    ) -> Self {
        // Read the word before registering: a wake that bumps it after this
        // point makes the sleep return at once.
        let observed = seq.load(Ordering::Acquire);
        waiters.fetch_add(1, Ordering::Relaxed);
        let exact = heavy_barrier(process_shared);
        Registration {
            word: NonNull::from(seq),
            count: NonNull::from(waiters),
            observed,
            exact,
            process_shared,
        }
    }

    /// Registers as the sleeper of `bell` and arms it.
    ///
    /// # Safety
    /// `bell` stays valid while the registration lives.
    pub(crate) unsafe fn on_doorbell(bell: &Doorbell) -> Self {
        let observed = bell.seq.load(Ordering::Acquire);
        let mut s = bell.state.load(Ordering::Relaxed);
        while let Err(now) = bell.state.compare_exchange_weak(
            s,
            s.wrapping_add(1) | ARMED,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            s = now;
        }
        let exact = heavy_barrier(true);
        Registration {
            word: NonNull::from(&bell.seq),
            count: NonNull::from(&bell.state),
            observed,
            exact,
            process_shared: true,
        }
    }

    fn word(&self) -> &AtomicU32 {
        // SAFETY: valid by the constructors' contract.
        unsafe { self.word.as_ref() }
    }

    /// Sleeps until the word is woken, at most `timeout` (at most
    /// [`INEXACT_SLEEP`] when the barrier could not reach every waker).
    pub(crate) fn sleep(&self, timeout: Option<Duration>) {
        futex_wait(
            self.word(),
            self.observed,
            self.bound(timeout),
            self.process_shared,
        );
    }

    /// `timeout`, or at most [`INEXACT_SLEEP`] when the barrier was inexact.
    pub(crate) fn bound(&self, timeout: Option<Duration>) -> Option<Duration> {
        if self.exact {
            timeout
        } else {
            Some(timeout.map_or(INEXACT_SLEEP, |t| t.min(INEXACT_SLEEP)))
        }
    }

    /// Whether the word moved since the registration (a wake-up came).
    pub(crate) fn woken(&self) -> bool {
        self.word().load(Ordering::Acquire) != self.observed
    }

    /// The word's address and the value it held before the registration.
    #[cfg(not(loom))]
    pub(crate) fn futex_word(&self) -> crate::sys::futex::Word {
        crate::sys::futex::Word {
            addr: self.word.as_ptr() as usize,
            expected: self.observed,
            shared: self.process_shared,
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: valid by the constructors' contract.
        unsafe { self.count.as_ref() }.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Longest sleep when the barrier could not reach every waker exactly.
const INEXACT_SLEEP: Duration = Duration::from_millis(1);

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
    // SAFETY: both words outlive the registration, dropped in this call.
    let registration = unsafe { Registration::counted(seq, waiters, process_shared) };
    if !ready() {
        registration.sleep(timeout);
    }
}

/// The waker's side: after its index store, wakes `seq` if anybody waits.
/// The barrier is free for a word of this process where `membarrier` is
/// available.
#[inline]
pub(crate) fn wake_if_waiting(waiters: &AtomicU32, seq: &AtomicU32, process_shared: bool) {
    light_barrier(process_shared);
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
    /// Call it after the publication of a process-shared ring
    /// ([`wake_if_waiting`] with `process_shared`), whose full fence already
    /// orders every store before it ahead of this load: a second fence
    /// would cost a request as much again.
    #[inline]
    pub(crate) fn ring_if_waiting(&self) {
        let s = self.state.load(Ordering::Relaxed);
        if s & !ARMED != 0
            && s & ARMED != 0
            && self.state.fetch_and(!ARMED, Ordering::AcqRel) & ARMED != 0
        {
            wake(&self.seq, true);
        }
    }

    /// Whether a sleeper registered and no publication has rung it yet.
    #[cfg(test)]
    pub(crate) fn armed(&self) -> bool {
        self.state.load(Ordering::Relaxed) & ARMED != 0
    }

    /// Wakes the sleeper unconditionally.
    pub(crate) fn ring(&self) {
        wake(&self.seq, true);
    }

    /// Sleeps until `ready()` or a ring, at most `timeout`.
    pub(crate) fn park(&self, ready: impl Fn() -> bool, timeout: Duration) {
        // SAFETY: the bell outlives the registration, dropped in this call.
        let registration = unsafe { Registration::on_doorbell(self) };
        if !ready() {
            registration.sleep(Some(timeout));
        }
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
                        // The fence of a shared ring's publication.
                        fence(Ordering::SeqCst);
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
