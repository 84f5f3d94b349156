//! Who holds a side of a shared segment, and whether it is still alive.
//!
//! A process that takes a side records its pid in that side's line and a
//! background thread stamps the side's heartbeat every 20 ms while the claim
//! lives. A side is alive when its pid exists *and* its heartbeat is recent:
//! the pid check catches a killed process at once, the heartbeat catches a
//! recycled pid or a stopped process. A ring side also records its
//! holder's pid namespace: a holder of another namespace (a container
//! sharing the segment) is judged by its heartbeat alone, since its pid
//! means nothing here.

use super::segment::Segment;
use crate::error::{Error, Result};
use crate::ring::raw::Side;
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::sys::process;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the heartbeat thread stamps the sides this process holds.
pub const HEARTBEAT_PERIOD: Duration = Duration::from_millis(20);

/// CLOCK_MONOTONIC in nanoseconds: one clock for the processes of one time
/// namespace (another one's reads with an offset).
pub fn monotonic_ns() -> u64 {
    crate::sys::process::monotonic_ns()
}

/// Whether a process with this pid exists and has not exited (also when it
/// belongs to another user). A process killed but not yet reaped by its
/// parent (a zombie) has exited: it counts as gone.
pub fn pid_exists(pid: u32) -> bool {
    crate::sys::process::pid_exists(pid)
}

/// The words that describe who holds a side.
#[derive(Clone, Copy)]
pub(crate) struct SideWords {
    pid: *const AtomicU32,
    heartbeat: *const AtomicU64,
    /// The holder's pid namespace, where the side has room for it (a ring
    /// side's line; null for a transport's).
    pidns: *const AtomicU64,
}

impl SideWords {
    /// The words of a transport side: a pid and a heartbeat.
    pub(crate) fn new(pid: &AtomicU32, heartbeat: &AtomicU64) -> SideWords {
        SideWords {
            pid,
            heartbeat,
            pidns: std::ptr::null(),
        }
    }

    /// The words of a ring side, with its holder's pid namespace.
    pub(crate) fn of_ring(side: Side<'_>) -> SideWords {
        SideWords {
            pid: side.pid,
            heartbeat: side.heartbeat,
            pidns: side.pidns,
        }
    }

    fn pid(&self) -> &AtomicU32 {
        // SAFETY: points into a mapping kept alive by whoever holds SideWords.
        unsafe { &*self.pid }
    }
    fn heartbeat(&self) -> &AtomicU64 {
        // SAFETY: as above.
        unsafe { &*self.heartbeat }
    }
    fn pidns(&self) -> Option<&AtomicU64> {
        // SAFETY: as above, where not null.
        unsafe { self.pidns.as_ref() }
    }

    /// Whether the holder recorded a pid namespace other than this
    /// process's (or was still claiming the side): its pid means nothing
    /// here.
    pub(crate) fn foreign(&self) -> bool {
        self.pidns()
            .is_some_and(|w| process::foreign_namespace(w.load(Ordering::Acquire)))
    }

    /// Alive: a pid is recorded, the process exists, and the heartbeat is
    /// younger than `timeout`. A holder of another pid namespace is alive
    /// while its heartbeat is: its pid cannot be looked up here.
    pub(crate) fn is_alive(&self, timeout: Duration) -> bool {
        let pid = self.pid().load(Ordering::Acquire);
        if pid == 0 || (!self.foreign() && !pid_exists(pid)) {
            return false;
        }
        let beat = self.heartbeat().load(Ordering::Acquire);
        process::stamped_within(beat, timeout)
    }

    /// The recorded pid (0: none).
    pub(crate) fn holder(&self) -> u32 {
        self.pid().load(Ordering::Acquire)
    }

    /// The last heartbeat stamp (CLOCK_MONOTONIC ns; 0: never stamped).
    pub(crate) fn last_beat(&self) -> u64 {
        // Acquire pairs with the holder's Release stamps.
        self.heartbeat().load(Ordering::Acquire)
    }

    fn stamp(&self) {
        self.heartbeat().store(monotonic_ns(), Ordering::Release);
    }
}

/// This process's hold on one side of a segment. Dropping it gives the side up.
pub(crate) struct Claim {
    _segment: Arc<Segment>,
    words: SideWords,
    pid: u32,
}

// SAFETY: the raw pointers point into `_segment`'s mapping, which the claim
// keeps alive; they are only used for atomic operations.
unsafe impl Send for Claim {}
// SAFETY: as above.
unsafe impl Sync for Claim {}

impl Claim {
    /// Takes `side` (named for errors) of `segment`. A side held by a live
    /// process (alive within `stale_after`) gives `Busy`; one held by a dead
    /// process is taken over.
    pub(crate) fn take(
        segment: Arc<Segment>,
        words: SideWords,
        side: &'static str,
        stale_after: Duration,
    ) -> Result<Arc<Claim>> {
        let me = std::process::id();
        loop {
            let holder = words.pid().load(Ordering::Acquire);
            if holder != 0 && (holder == me || words.is_alive(stale_after)) {
                return Err(Error::Busy(side));
            }
            // Stamp before taking, so that nobody sees our pid with a stale
            // beat; the namespace reads "being claimed" (judged by the
            // heartbeat alone) until the side is ours: a loser of the race
            // below may still store that (our heartbeat thread puts ours
            // back), never its own namespace over ours.
            words.stamp();
            if let Some(ns) = words.pidns() {
                ns.store(process::CLAIMING_NAMESPACE, Ordering::Relaxed);
            }
            if words
                .pid()
                .compare_exchange(holder, me, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                break;
            }
        }
        if let Some(ns) = words.pidns() {
            ns.store(process::pid_namespace(), Ordering::Release);
        }
        let claim = Arc::new(Claim {
            _segment: segment,
            words,
            pid: me,
        });
        register(&claim)?;
        Ok(claim)
    }

    /// Stamps the heartbeat, and records this process's pid namespace again
    /// where the side still names this claim but its namespace word reads
    /// "being claimed": a claimer that lost the race in [`Claim::take`] may
    /// have stored that after the winner recorded its namespace, which
    /// would leave the winner judged by its heartbeat alone (a `kill -9`
    /// noticed after the stale time instead of at once). Only that marker
    /// is replaced: any other value may be a later holder's.
    /// A claim whose side another process took (this one was judged
    /// stale while it was stopped) stamps it no more: its beats would keep
    /// the side looking held after the new holder died.
    fn beat(&self) {
        if self.words.holder() != self.pid {
            return;
        }
        self.words.stamp();
        if let Some(ns) = self.words.pidns() {
            let _ = ns.compare_exchange(
                process::CLAIMING_NAMESPACE,
                process::pid_namespace(),
                Ordering::Release,
                Ordering::Relaxed,
            );
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = self
            .words
            .pid()
            .compare_exchange(self.pid, 0, Ordering::AcqRel, Ordering::Relaxed);
    }
}

struct Registry {
    claims: Vec<Weak<Claim>>,
    /// Process whose heartbeat thread runs (a forked child must start its own).
    thread_pid: u32,
}

/// The claims this process stamps, behind a spin lock taken under a
/// [`NoFork`](crate::sys::fork::NoFork): no fork happens while a thread
/// holds it, so a child never inherits it locked by a thread that does not
/// exist there. Every use is cold and short (the longest starts the
/// heartbeat thread).
struct Shared {
    locked: std::sync::atomic::AtomicBool,
    registry: std::cell::UnsafeCell<Registry>,
}

// SAFETY: `registry` is only reached while `locked` is held (see `with`),
// or in a fork's child, where the forking thread is the only one.
unsafe impl Sync for Shared {}

static SHARED: Shared = Shared {
    locked: std::sync::atomic::AtomicBool::new(false),
    registry: std::cell::UnsafeCell::new(Registry {
        claims: Vec::new(),
        thread_pid: 0,
    }),
};

fn with<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    let _no_fork = crate::sys::fork::NoFork::enter();
    while SHARED
        .locked
        .swap(true, std::sync::atomic::Ordering::Acquire)
    {
        std::thread::yield_now();
    }
    // SAFETY: the lock is held, so this is the only reference.
    let r = f(unsafe { &mut *SHARED.registry.get() });
    SHARED
        .locked
        .store(false, std::sync::atomic::Ordering::Release);
    r
}

/// Registers [`after_fork_child`], once.
static FORK_HANDLER: crate::sys::process::ForkSafeOnce = crate::sys::process::ForkSafeOnce::new();

extern "C" fn after_fork_child() {
    FORK_HANDLER.mark_done();
    // The parent's claims and heartbeat thread stay with the parent.
    // SAFETY: the forking thread is the only one in the child, and no
    // thread held the lock at the fork (see `Shared`).
    let reg = unsafe { &mut *SHARED.registry.get() };
    reg.claims.clear();
    reg.thread_pid = 0;
}

/// Has the heartbeat thread stamp `claim`, starting the thread if this
/// process has none. A thread that cannot start fails the claim: a side
/// stamped once would be judged dead a second later while its holder runs.
fn register(claim: &Arc<Claim>) -> Result<()> {
    FORK_HANDLER.call_once(|| {
        crate::sys::process::after_fork_in_child(after_fork_child);
    });
    let me = std::process::id();
    with(|reg| {
        // Started under the lock: a claim registered meanwhile by another
        // thread never counts on a thread whose start then fails (after a
        // failure the next claim tries again).
        if reg.thread_pid != me {
            std::thread::Builder::new()
                .name("ringmpsc-heartbeat".into())
                .spawn(heartbeat_loop)
                .map_err(Error::Io)?;
            reg.thread_pid = me;
        }
        reg.claims.push(Arc::downgrade(claim));
        Ok(())
    })
}

/// Stamps every live claim of this process; exits when none is left.
fn heartbeat_loop() {
    loop {
        let live: Vec<Arc<Claim>> = with(|reg| {
            // Judged by what could be upgraded: a claim dropped by another
            // thread between a count and an upgrade must not leave this
            // thread gone with `thread_pid` still naming this process (no
            // later claim would start another, and every side's heartbeat
            // would stop).
            let live: Vec<Arc<Claim>> = reg.claims.iter().filter_map(Weak::upgrade).collect();
            reg.claims.retain(|w| w.strong_count() > 0);
            if live.is_empty() {
                reg.thread_pid = 0;
            }
            live
        });
        if live.is_empty() {
            return;
        }
        for c in &live {
            c.beat();
        }
        drop(live);
        std::thread::sleep(HEARTBEAT_PERIOD);
    }
}
