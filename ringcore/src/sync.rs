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
//! heavy_barrier(shared)                   if waiters != 0 { word += 1; futex_wake(word) }
//! if !ready() { futex_wait(word, seq) }
//! waiters -= 1
//! ```
//!
//! Each side stores, then loads what the other side stores, so each needs
//! a StoreLoad barrier or a wake-up can be lost. The waker runs on every
//! commit, so its barrier is free: a compiler fence. The waiter makes up for
//! it, one of two ways:
//!
//! - **Exactly**, for a word of this process where the kernel offers
//!   `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`: the call makes every
//!   running thread of the process execute a full barrier (the asymmetric
//!   fence technique).
//! - **By settling**, for a word in memory shared with other processes (no
//!   kernel barrier reaches them reliably: the cross-process
//!   `MEMBARRIER_CMD_GLOBAL_EXPEDITED`, which finds the threads to reach
//!   through a per-CPU flag, left both sides of an in-process ring asleep
//!   with items between them within a few hundred runs of
//!   `tests/c/test_lease.c`), or where `membarrier` fails. After its fence
//!   the waiter spins [`SETTLE`] before it looks again (a waiter whose
//!   condition holds meanwhile stops there and does not sleep). A waker whose load
//!   of the count missed the registration ran that load before the
//!   registration was visible, with its index store still in its CPU's
//!   store buffer; a store leaves the buffer as soon as its cache line
//!   arrives (and at any interrupt or exit from the CPU), well within
//!   [`SETTLE`], so the waiter's look finds the index. That bound is the
//!   hardware's, not the memory model's, which promises only that a store
//!   becomes visible in finite time: so a settled waiter that sleeps looks
//!   again once after [`SETTLED_LOOK`] (for a store that waited behind a
//!   long queue of others) and never sleeps longer than [`SETTLED_SLEEP`]
//!   without looking again, and a wake-up missed against every expectation
//!   costs that delay, never a message.
//!
//! A full fence on the waker would wait for the index's cache line, which
//! the other side polls: a transport client spent 86% of each request's
//! send in one, and log appends with a reader polling the log lost 14%-52%
//! of their rate to it. Under loom and Miri both sides use `fence(SeqCst)`,
//! which is what the models check.

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

/// The waker's side of the handshake: keeps its index store before its
/// load of the waiter count. A compiler fence: the waiter's side makes it a
/// barrier (see the module notes); a full fence under loom and Miri.
#[inline(always)]
pub(crate) fn light_barrier() {
    #[cfg(not(any(loom, miri)))]
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
    #[cfg(any(loom, miri))]
    fence(Ordering::SeqCst);
}

/// Whether [`light_barrier`] is a compiler fence: code outside the library
/// that publishes an index and checks for waiters (a C lease) may then use
/// a compiler fence too.
pub(crate) const LIGHT_BARRIER_IS_FREE: bool = cfg!(not(any(loom, miri)));

/// The frequent side of an exact barrier pair between threads of this
/// process, whose rare side is [`rare_barrier`]: a compiler fence where the
/// kernel barrier reaches every thread (the process is registered for it,
/// which never changes while its threads run), else a full fence.
#[inline(always)]
pub(crate) fn frequent_barrier() {
    #[cfg(not(any(loom, miri)))]
    if crate::sys::futex::registered() {
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        return;
    }
    fence(Ordering::SeqCst);
}

/// The rare side of the pair with [`frequent_barrier`]: a full fence, and
/// the kernel barrier where [`frequent_barrier`] counts on it. False in the
/// one case the pair is not exact: a registered process whose kernel
/// barrier failed (which the kernel documents for unregistered ones only).
pub(crate) fn rare_barrier() -> bool {
    fence(Ordering::SeqCst);
    #[cfg(not(any(loom, miri)))]
    if crate::sys::futex::registered() {
        return crate::sys::futex::process_barrier();
    }
    true
}

/// How long a settling waiter spins after its fence before it looks again:
/// many times what a store waits in a store buffer for its cache line
/// (about 0.2 us between the CPUs of a slow virtual machine), and little
/// beside the spin-then-yield phase that comes before any sleep.
#[cfg_attr(miri, allow(dead_code))]
pub(crate) const SETTLE: Duration = Duration::from_micros(2);

/// When a settled waiter looks once more after its first sleep began.
pub(crate) const SETTLED_LOOK: Duration = Duration::from_millis(1);

/// The longest sleep of a settled waiter before it looks again: the most a
/// wake-up missed in spite of the settling can cost (see the module notes).
pub(crate) const SETTLED_SLEEP: Duration = Duration::from_millis(50);

/// How the waiter's side of the handshake ended ([`heavy_barrier`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Barrier {
    /// A kernel barrier reached every waker.
    Exact,
    /// The waiter settled: its sleeps are capped at [`SETTLED_SLEEP`].
    Settled,
    /// The waiter's condition held while it settled: it need not sleep.
    Ready,
}

/// The waiter's side of the handshake, after its registration: a kernel
/// barrier where one reaches every waker, else the settling spin, which
/// ends early once `ready()` holds (an item that lands meanwhile is taken
/// at once, not after the rest of the spin; a waiter that then sleeps
/// after all registers again).
pub(crate) fn heavy_barrier(process_shared: bool, ready: impl Fn() -> bool) -> Barrier {
    fence(Ordering::SeqCst);
    #[cfg(any(loom, miri))]
    {
        // Every waker runs a full fence here.
        let _ = (process_shared, ready);
        Barrier::Exact
    }
    #[cfg(not(any(loom, miri)))]
    {
        if !process_shared
            && crate::sys::futex::registered()
            && crate::sys::futex::process_barrier()
        {
            return Barrier::Exact;
        }
        let start = std::time::Instant::now();
        while start.elapsed() < SETTLE {
            if ready() {
                return Barrier::Ready;
            }
            std::hint::spin_loop();
        }
        Barrier::Settled
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
    barrier: Barrier,
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
        // SAFETY: the caller's contract.
        unsafe { Self::counted_unless(seq, waiters, process_shared, || false) }
    }

    /// [`counted`](Self::counted) for a waiter that sleeps only while
    /// `ready()` is false ([`sleep_unless`](Self::sleep_unless)): its
    /// settling ends once `ready()` holds.
    ///
    /// # Safety
    /// As for [`counted`](Self::counted).
    unsafe fn counted_unless(
        seq: &AtomicU32,
        waiters: &AtomicU32,
        process_shared: bool,
        ready: impl Fn() -> bool,
    ) -> Self {
        // Read the word before registering: a wake that bumps it after this
        // point makes the sleep return at once.
        let observed = seq.load(Ordering::Acquire);
        waiters.fetch_add(1, Ordering::Relaxed);
        let barrier = heavy_barrier(process_shared, ready);
        Registration {
            word: NonNull::from(seq),
            count: NonNull::from(waiters),
            observed,
            barrier,
            process_shared,
        }
    }

    /// Registers as the sleeper of `bell` and arms it.
    ///
    /// # Safety
    /// `bell` stays valid while the registration lives.
    pub(crate) unsafe fn on_doorbell(bell: &Doorbell) -> Self {
        // SAFETY: the caller's contract.
        unsafe { Self::on_doorbell_unless(bell, || false) }
    }

    /// [`on_doorbell`](Self::on_doorbell) for a waiter that sleeps only
    /// while `ready()` is false, as [`counted_unless`](Self::counted_unless).
    ///
    /// # Safety
    /// As for [`on_doorbell`](Self::on_doorbell).
    unsafe fn on_doorbell_unless(bell: &Doorbell, ready: impl Fn() -> bool) -> Self {
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
        let barrier = heavy_barrier(true, ready);
        Registration {
            word: NonNull::from(&bell.seq),
            count: NonNull::from(&bell.state),
            observed,
            barrier,
            process_shared: true,
        }
    }

    fn word(&self) -> &AtomicU32 {
        // SAFETY: valid by the constructors' contract.
        unsafe { self.word.as_ref() }
    }

    /// Sleeps until the word is woken, at most `timeout` (at most
    /// [`SETTLED_SLEEP`] when the registration settled).
    pub(crate) fn sleep(&self, timeout: Option<Duration>) {
        futex_wait(
            self.word(),
            self.observed,
            self.bound(timeout),
            self.process_shared,
        );
    }

    /// Sleeps unless `ready()`, at most `timeout` (see [`sleep`](Self::sleep)).
    /// A settled registration looks once more after [`SETTLED_LOOK`]: an
    /// index store queued behind many others (a large copy into lines the
    /// sleeper had read) may leave its store buffer after the settling
    /// spin, and is then found within that rather than at the cap.
    pub(crate) fn sleep_unless(&self, ready: impl Fn() -> bool, timeout: Option<Duration>) {
        if self.barrier == Barrier::Ready || ready() {
            return;
        }
        if self.exact() {
            return self.sleep(timeout);
        }
        let start = std::time::Instant::now();
        self.sleep(Some(timeout.map_or(SETTLED_LOOK, |t| t.min(SETTLED_LOOK))));
        if self.woken() || ready() {
            return;
        }
        match timeout.map(|t| t.checked_sub(start.elapsed())) {
            None => self.sleep(None),
            Some(Some(left)) if !left.is_zero() => self.sleep(Some(left)),
            Some(_) => {}
        }
    }

    /// Whether a kernel barrier reached every waker (else the
    /// registration settled, and its sleeps are capped).
    pub(crate) fn exact(&self) -> bool {
        self.barrier == Barrier::Exact
    }

    /// `timeout`, or at most [`SETTLED_SLEEP`] when the registration settled.
    pub(crate) fn bound(&self, timeout: Option<Duration>) -> Option<Duration> {
        match timeout {
            Some(t) => Some(self.cap(t)),
            None if self.exact() => None,
            None => Some(SETTLED_SLEEP),
        }
    }

    /// `time`, or at most [`SETTLED_SLEEP`] when the registration settled.
    pub(crate) fn cap(&self, time: Duration) -> Duration {
        if self.exact() {
            time
        } else {
            time.min(SETTLED_SLEEP)
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
    let registration =
        unsafe { Registration::counted_unless(seq, waiters, process_shared, &ready) };
    registration.sleep_unless(ready, timeout);
}

/// The waker's side: after its index store, wakes `seq` if anybody waits.
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
    /// Call it after the publication of a process-shared ring
    /// ([`wake_if_waiting`]), whose compiler fence keeps this load after the
    /// publication's stores in the code; the sleeper settles for the CPU
    /// (see the module notes).
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
        let registration = unsafe { Registration::on_doorbell_unless(self, &ready) };
        registration.sleep_unless(ready, Some(timeout));
    }
}

#[cfg(all(test, not(any(loom, miri))))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;
    use std::time::Instant;

    /// The words of one handshake in memory taken as shared between
    /// processes (so the sleeper settles), the round the sleeper is in, and
    /// the last round whose waker is done.
    #[derive(Default)]
    struct Words {
        index: AtomicU64,
        seq: AtomicU32,
        waiters: AtomicU32,
        round: AtomicU64,
        done: Done,
    }

    /// On a line of its own, so that the test's own bookkeeping does not
    /// move the handshake's words between the CPUs.
    #[derive(Default)]
    #[repr(align(128))]
    struct Done(AtomicU64);

    fn spin_for(d: Duration) {
        let start = Instant::now();
        while start.elapsed() < d {
            std::hint::spin_loop();
        }
    }

    /// A condition that turns true while the waiter settles (an item that
    /// lands in those microseconds) ends the wait there: the waiter does
    /// not sleep, where it used to finish the spin and then sleep until
    /// its first look after [`SETTLED_LOOK`]. Only a sleep takes that long,
    /// so one quick wait of five shows it (preemption aside).
    #[test]
    fn a_settling_waiter_stops_when_its_condition_holds() {
        let w = Words::default();
        let fastest = (0..5)
            .map(|_| {
                let looks = std::cell::Cell::new(0);
                let ready = || {
                    looks.set(looks.get() + 1);
                    looks.get() > 1
                };
                let start = Instant::now();
                park(&w.seq, &w.waiters, ready, None, true);
                assert!(looks.get() >= 2, "the wait ended before the condition held");
                start.elapsed()
            })
            .min()
            .unwrap();
        assert!(
            fastest < SETTLED_LOOK,
            "every wait slept ({fastest:?}) although its condition held while it settled"
        );
        assert_eq!(
            w.waiters.load(Ordering::Relaxed),
            0,
            "registrations left behind"
        );
    }

    /// The waker publishes with a compiler fence only, at times spread
    /// around the sleeper's registration; whenever the sleeper, looking
    /// after its settling spin, found nothing and slept, and the waker did
    /// not wake it, the waker missed the registration and the sleeper the
    /// index: the spin is there so that this never happens.
    #[test]
    fn a_settled_sleeper_misses_no_publication_its_waker_missed() {
        // Without the settling spin, 2 runs of 6 lost a round or two.
        const ROUNDS: u64 = 400_000;
        let mut slept = 0;
        let w = Arc::new(Words::default());
        let waker = {
            let w = w.clone();
            thread::spawn(move || {
                for round in 1..=ROUNDS {
                    while w.round.load(Ordering::Acquire) < round {
                        std::hint::spin_loop();
                    }
                    // Mostly within the settling spin, every fourth after it.
                    let late = if round % 4 == 0 { 3_000 } else { 0 };
                    spin_for(Duration::from_nanos(late + round * 53 % 61 * 10));
                    w.index.store(round, Ordering::Release);
                    wake_if_waiting(&w.waiters, &w.seq, true);
                    w.done.0.store(round, Ordering::Release);
                }
            })
        };
        let mut missed = 0;
        for round in 1..=ROUNDS {
            w.round.store(round, Ordering::Release);
            // Register from before the publication to well after it.
            spin_for(Duration::from_nanos(round * 37 % 41 * 10));
            // SAFETY: the words outlive the registration, dropped below.
            let registration = unsafe { Registration::counted(&w.seq, &w.waiters, true) };
            assert!(
                !registration.exact(),
                "a shared word's registration settles"
            );
            while w.index.load(Ordering::Acquire) < round {
                slept += 1;
                registration.sleep(None);
                if w.index.load(Ordering::Acquire) >= round && !registration.woken() {
                    // Once the waker is done with the round (and so with
                    // any wake-up of it), a sleep it did not wake is one it
                    // missed.
                    while w.done.0.load(Ordering::Acquire) < round {
                        thread::yield_now();
                    }
                    missed += u32::from(!registration.woken());
                }
            }
        }
        waker.join().unwrap();
        assert_eq!(
            missed, 0,
            "rounds whose wake-up was lost, of {slept} sleeps"
        );
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
                        // The barrier of a shared ring's publication.
                        light_barrier();
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
