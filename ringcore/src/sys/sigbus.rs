//! Reading a file mapping that someone else may shrink.
//!
//! Touching a page of a `MAP_SHARED` mapping beyond the end of its file
//! raises `SIGBUS`. A hostile or careless process can truncate a segment
//! or log file while an inspector, a log reader or a log writer maps it,
//! so those mappings ([`Mapping::inspect`](super::map::Mapping::inspect),
//! [`Mapping::guarded`](super::map::Mapping::guarded)) register their
//! range here. The handler, for a fault inside a registered range, maps a page of
//! zeros over the faulting page (`MAP_FIXED`), marks the range as faulted
//! and returns: the read is retried and sees zeros, which every reader
//! checks like any other hostile bytes, and the inspector reports the file
//! as truncated. A fault anywhere else restores the handler that was there
//! before and returns, so the fault happens again under it (the default:
//! the process dies as it would have).
//!
//! The handler is installed the first time a range is registered: a
//! process that never inspects and never maps a log keeps its own
//! `SIGBUS` handling untouched. Inspection mappings and the log's
//! mappings are guarded (a log file is an ordinary file anyone with write
//! access can shrink); shared memory segments are sealed memfds or files
//! whose storage was allocated when they were made or attached, and keep
//! the ordinary behaviour.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;

/// Ranges that can be guarded at once: a transport server can have 4096
/// clients, each with its channel segment mapped by a meter, plus the
/// control segment and a few logs.
const SLOTS: usize = 8192;

struct Range {
    /// First byte; 0 while the slot is free.
    start: AtomicUsize,
    len: AtomicUsize,
    /// A fault was repaired in this range.
    hit: AtomicBool,
    /// The slot is taken (set before `start`, cleared after it).
    taken: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Range = Range {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    hit: AtomicBool::new(false),
    taken: AtomicBool::new(false),
};

static RANGES: [Range; SLOTS] = [FREE; SLOTS];
static PAGE: AtomicUsize = AtomicUsize::new(4096);
static INSTALL: Once = Once::new();

/// The disposition of `SIGBUS` before ours, restored for faults that are
/// not ours. Written once, before our handler is installed.
struct Previous(std::cell::UnsafeCell<std::mem::MaybeUninit<libc::sigaction>>);
// SAFETY: written once inside `INSTALL` before the handler that reads it
// exists; only read afterwards.
unsafe impl Sync for Previous {}
static PREVIOUS: Previous = Previous(std::cell::UnsafeCell::new(std::mem::MaybeUninit::uninit()));
static HAVE_PREVIOUS: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for r in &RANGES {
        let start = r.start.load(Ordering::Acquire);
        if start == 0 || addr < start || addr - start >= r.len.load(Ordering::Relaxed) {
            continue;
        }
        let at = addr & !(page - 1);
        // SAFETY: replaces one page of a registered mapping (its owner
        // unregisters before unmapping) with a private page of zeros,
        // writable so that a write retried there (a log's futex words) goes
        // nowhere instead of faulting again; mmap is a plain system call on
        // Linux, safe in a signal handler.
        let p = unsafe {
            libc::mmap(
                at as *mut libc::c_void,
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            r.hit.store(true, Ordering::Release);
            return;
        }
        break;
    }
    // Not ours (or not repairable): put the previous disposition back; the
    // faulting access runs again under it.
    if HAVE_PREVIOUS.load(Ordering::Acquire) {
        // SAFETY: PREVIOUS was written before HAVE_PREVIOUS was set (Release
        // in `install`); sigaction is async-signal-safe.
        unsafe {
            libc::sigaction(
                libc::SIGBUS,
                (*PREVIOUS.0.get()).as_ptr(),
                std::ptr::null_mut(),
            )
        };
    } else {
        // SAFETY: an all-zero sigaction is SIG_DFL with no flags.
        let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
        dfl.sa_sigaction = libc::SIG_DFL;
        // SAFETY: as above.
        unsafe { libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut()) };
    }
}

fn install() {
    INSTALL.call_once(|| {
        PAGE.store(super::process::page_size(), Ordering::Relaxed);
        // SAFETY: an all-zero sigaction is a valid value to fill.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = on_sigbus as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: act.sa_mask is a valid sigset to empty.
        unsafe { libc::sigemptyset(&mut act.sa_mask) };
        // SAFETY: PREVIOUS is not read before HAVE_PREVIOUS is set; the
        // out-pointer is valid for a sigaction; our handler is an
        // extern "C" function of the right signature.
        let rc = unsafe { libc::sigaction(libc::SIGBUS, &act, (*PREVIOUS.0.get()).as_mut_ptr()) };
        if rc == 0 {
            HAVE_PREVIOUS.store(true, Ordering::Release);
        }
    });
}

/// A registered range; unregistered when dropped.
#[derive(Debug)]
pub(crate) struct Guard {
    slot: usize,
}

impl Guard {
    /// Registers `[start, start + len)`; `None` when every slot is taken
    /// (the mapping is then unguarded).
    pub(crate) fn new(start: usize, len: usize) -> Option<Guard> {
        install();
        for (slot, r) in RANGES.iter().enumerate() {
            if r.taken
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                r.hit.store(false, Ordering::Relaxed);
                r.len.store(len, Ordering::Relaxed);
                // Release pairs with the handler's Acquire load of `start`:
                // it sees the length with it.
                r.start.store(start, Ordering::Release);
                return Some(Guard { slot });
            }
        }
        None
    }

    /// Whether a read of the range faulted (the file was shrunk under it).
    pub(crate) fn faulted(&self) -> bool {
        RANGES[self.slot].hit.load(Ordering::Acquire)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let r = &RANGES[self.slot];
        r.start.store(0, Ordering::Release);
        r.taken.store(false, Ordering::Release);
    }
}
