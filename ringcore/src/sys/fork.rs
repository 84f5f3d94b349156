//! What a child forked without `exec` must not inherit from its parent.
//!
//! A child gets a copy of its parent's memory, mappings and descriptors:
//! of a log writer, say, with the writer's mapping of the log and the
//! descriptors that hold its locks. An open file description's lock lasts
//! while anything of it is open, a descriptor or a mapping, in any process,
//! so a child (Python's `multiprocessing` workers, a daemonising fork)
//! would keep the log locked after its writer died, and no new writer could
//! take over until the child ended. And a child writing through its copy of
//! the writer, or closing it, would write into the log beside its parent.
//!
//! So at a fork, a child's copies of registered lock descriptors are
//! pointed at `/dev/null` and its copies of registered mappings replaced by
//! inaccessible anonymous memory: the numbers and the address ranges stay
//! the child's copy of their owner's (closing or unmapping them harms
//! nothing else), and the locks stay with the parent alone. A fork count
//! tells an owner whether it runs in the process that made it.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};

use super::registry::Registry;

/// An entry's descriptor while free, and while its mapping is being filled
/// in (under a [`NoFork`], so no fork sees that).
const FREE: i32 = -1;
const FILLING: i32 = -2;

/// A registered descriptor and, where `len` is not 0, a mapping of it.
#[derive(Debug)]
struct Entry {
    fd: AtomicI32,
    addr: AtomicUsize,
    len: AtomicUsize,
}

impl Default for Entry {
    fn default() -> Entry {
        Entry {
            fd: AtomicI32::new(FREE),
            addr: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
        }
    }
}

/// Registered descriptors: a log writer holds two or three (`NAME.lock`,
/// its file, and the next one while it rolls). A forked child walks the
/// whole table (a load an entry).
static ENTRIES: Registry<Entry> = Registry::new();
/// Forks between the first process of this line and this one.
static FORKS: AtomicU64 = AtomicU64::new(0);
/// `/dev/null`, opened with the hook: a child that cannot open it (out of
/// descriptors, a sandbox without it) points its copies here instead.
static NULL: AtomicI32 = AtomicI32::new(-1);

/// [`NoFork`]s alive (the low 32 bits), and forks between their prepare
/// and parent handlers (the high 32 bits, one a call: where the handlers
/// were registered twice, a fork counts twice and is let go twice).
static GATE: AtomicU64 = AtomicU64::new(0);
const NO_FORKS: u64 = u32::MAX as u64;
const ONE_FORK: u64 = 1 << 32;

/// Registers the fork handlers, once.
static HOOKED: super::process::ForkSafeOnce = super::process::ForkSafeOnce::new();

fn hook() {
    HOOKED.call_once(|| {
        // A child that runs this again (forked while its parent ran it)
        // keeps the `/dev/null` it copied; of two runs at once (one took
        // the other over) one keeps its own.
        if NULL.load(Ordering::Relaxed) < 0 {
            // SAFETY: open with a valid C string.
            let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
            if NULL
                .compare_exchange(-1, null, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
                && null >= 0
            {
                // SAFETY: closes the descriptor just opened, which nothing else holds.
                unsafe { libc::close(null) };
            }
        }
        super::process::at_fork(before, in_parent, in_child);
    });
}

/// Keeps forks out while it lives: a fork from another thread waits until
/// it is dropped (a fork comes to it waiting). Held from the moment a
/// descriptor to register is opened until it is registered, and from its
/// release until it is closed, so that no child ever gets a copy outside
/// the registry; and around the heartbeat registry's lock
/// (`shm::liveness`), so that no child inherits it taken. Never fork while
/// holding one.
pub(crate) struct NoFork(());

impl NoFork {
    pub(crate) fn enter() -> NoFork {
        hook();
        // Counted first, so that no fork starts meanwhile; then it waits
        // for the forks already under way to end, which overlapping forks
        // cannot drag out for ever. A nested guard finds none under way.
        // Acquire pairs with the Release of a fork's end, in the parent:
        // what it did comes before what this guards.
        GATE.fetch_add(1, Ordering::Acquire);
        while GATE.load(Ordering::Acquire) & !NO_FORKS != 0 {
            std::thread::yield_now();
        }
        NoFork(())
    }
}

impl Drop for NoFork {
    fn drop(&mut self) {
        // Release pairs with the fork's Acquire: what this guarded (an
        // entry filled in or freed) is there when the fork copies memory.
        GATE.fetch_sub(1, Ordering::Release);
    }
}

extern "C" fn before() {
    // Waits for every NoFork to end, and lets no new one start; other
    // forks may go on meanwhile (no NoFork starts while any does).
    loop {
        let v = GATE.load(Ordering::Relaxed);
        if v & NO_FORKS == 0
            && GATE
                .compare_exchange_weak(v, v + ONE_FORK, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            return;
        }
        std::thread::yield_now();
    }
}

extern "C" fn in_parent() {
    GATE.fetch_sub(ONE_FORK, Ordering::Release);
}

extern "C" fn in_child() {
    HOOKED.mark_done();
    GATE.store(0, Ordering::Relaxed);
    FORKS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: open, dup3, mmap and close are async-signal-safe system
    // calls, as a fork handler needs; the path is a valid C string. Each
    // registered descriptor and mapping is one the parent held at the
    // fork, so the child holds its copy and may replace it: MAP_FIXED
    // replaces exactly the copied range.
    unsafe {
        let opened = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        let null = if opened >= 0 {
            opened
        } else {
            NULL.load(Ordering::Relaxed)
        };
        for e in ENTRIES.iter() {
            let fd = e.fd.load(Ordering::Acquire);
            if fd < 0 {
                continue;
            }
            // The child's copies hold nothing once replaced: a later fork
            // of the child must not replace what took their place.
            e.fd.store(FREE, Ordering::Relaxed);
            let (addr, len) = (
                e.addr.load(Ordering::Relaxed),
                e.len.load(Ordering::Relaxed),
            );
            if len > 0 {
                libc::mmap(
                    addr as *mut libc::c_void,
                    len,
                    libc::PROT_NONE,
                    libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                );
            }
            if null >= 0 && fd != null {
                libc::dup3(null, fd, libc::O_CLOEXEC);
            }
        }
        if opened >= 0 {
            libc::close(opened);
        }
    }
}

/// The fork count of this process, to record: it grows in a child at each
/// fork, so an owner that recorded it tells by [`current`] whether it runs
/// in a child of the process that made it.
pub(crate) fn generation() -> u64 {
    hook();
    FORKS.load(Ordering::Relaxed)
}

/// The fork count now, to compare with one [`generation`] gave.
#[inline]
pub(crate) fn current() -> u64 {
    FORKS.load(Ordering::Relaxed)
}

/// A lock descriptor, and a mapping of its file, that forked children let
/// go of (see the module), for as long as this lives. Make it and drop it
/// under a [`NoFork`] held from the descriptor's opening and to its
/// closing, before the mapping is unmapped and the descriptor closed.
#[derive(Debug)]
pub(crate) struct ReleasedInChildren {
    entry: &'static Entry,
    /// The fork count at registration: a child's copy frees nothing (the
    /// fork freed the child's entry, which may be another's by now).
    forks: u64,
}

impl ReleasedInChildren {
    /// Registers `fd` and the mapping `map` (address and length) of its
    /// file.
    pub(crate) fn new(fd: BorrowedFd<'_>, map: Option<(*const u8, usize)>) -> ReleasedInChildren {
        hook();
        let entry = ENTRIES.claim(|e| {
            e.fd.compare_exchange(FREE, FILLING, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        });
        let (addr, len) = map.map_or((0, 0), |(a, l)| (a as usize, l));
        entry.addr.store(addr, Ordering::Relaxed);
        entry.len.store(len, Ordering::Relaxed);
        // Release: a fork that sees the descriptor sees the mapping.
        entry.fd.store(fd.as_raw_fd(), Ordering::Release);
        ReleasedInChildren {
            entry,
            forks: current(),
        }
    }
}

impl Drop for ReleasedInChildren {
    fn drop(&mut self) {
        if current() == self.forks {
            self.entry.fd.store(FREE, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{before, hook, in_child, in_parent, NoFork};
    use std::time::Duration;

    /// Handlers registered twice (see `ForkSafeOnce`) run twice in one
    /// fork: the fork must neither hang nor leave forks shut out after it.
    /// In a child of its own, so that the test binary's handlers stay
    /// registered once.
    #[test]
    fn a_fork_with_the_handlers_registered_twice_ends_and_lets_no_fork_guards_in() {
        hook();
        // SAFETY: the child runs only the code below and ends by `_exit`;
        // forking a threaded test binary is safe for that.
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork");
        if child == 0 {
            super::super::process::at_fork(before, in_parent, in_child);
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                // SAFETY: the grandchild only exits.
                let grandchild = unsafe { libc::fork() };
                if grandchild == 0 {
                    drop(NoFork::enter());
                    // SAFETY: ends the grandchild at once.
                    unsafe { libc::_exit(0) };
                }
                drop(NoFork::enter());
                let _ = tx.send(grandchild > 0);
            });
            let ok = rx.recv_timeout(Duration::from_secs(10)) == Ok(true);
            // SAFETY: ends the child at once, with what it found.
            unsafe { libc::_exit(if ok { 0 } else { 3 }) };
        }
        let status = super::super::process::exit_status_within(child, Duration::from_secs(20))
            .expect("the child hung");
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child status {status}"
        );
    }
}
