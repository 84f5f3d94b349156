//! Reading a file mapping that someone else may shrink.
//!
//! Touching a page of a `MAP_SHARED` mapping beyond the end of its file
//! raises `SIGBUS`. A hostile or careless process can truncate a segment
//! or log file while an inspector, a log reader or a log writer maps it,
//! so those mappings ([`Mapping::inspect`](super::map::Mapping::inspect),
//! [`Mapping::guarded`](super::map::Mapping::guarded)) register their
//! range here. The handler, for a fault inside a registered range, maps a
//! page of zeros over the faulting page (`MAP_FIXED`; writable in a
//! writable range), marks the range as faulted and returns: the access is
//! retried, a read sees zeros, which every reader checks like any other
//! hostile bytes, and a write lands on that page of no file; the inspector
//! and the log report the file as truncated. A fault anywhere else goes to the handler that was there
//! before, called directly; where that was the default (or ignore), it is
//! put back and the fault happens again under it: the process dies as it
//! would have.
//!
//! The handler is installed the first time a range is registered: a
//! process that never inspects and never maps a log keeps its own
//! `SIGBUS` handling untouched. Inspection mappings and the log's
//! mappings are guarded (a log file is an ordinary file anyone with write
//! access can shrink); shared memory segments are sealed memfds or files
//! whose storage was allocated when they were made or attached, and keep
//! the ordinary behaviour.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::registry::Registry;

#[derive(Debug, Default)]
struct Range {
    /// First byte; 0 while the entry is free.
    start: AtomicUsize,
    len: AtomicUsize,
    /// A fault was repaired in this range.
    hit: AtomicBool,
    /// The entry is taken (set before `start`, cleared after it).
    taken: AtomicBool,
    /// The mapping is writable: so is the page of zeros put in.
    writable: AtomicBool,
}

/// The guarded ranges.
static RANGES: Registry<Range> = Registry::new();
static PAGE: AtomicUsize = AtomicUsize::new(4096);
static INSTALL: super::process::ForkSafeOnce = super::process::ForkSafeOnce::new();

/// The disposition of `SIGBUS` before ours, restored for faults that are
/// not ours. Written inside `INSTALL` before our handler is installed, and
/// again right after it where another went in between, always before
/// `HAVE_PREVIOUS` is set.
struct Previous(std::cell::UnsafeCell<std::mem::MaybeUninit<libc::sigaction>>);
// SAFETY: written only inside `INSTALL`, before HAVE_PREVIOUS is set; the
// handler reads it only once HAVE_PREVIOUS is set.
unsafe impl Sync for Previous {}
static PREVIOUS: Previous = Previous(std::cell::UnsafeCell::new(std::mem::MaybeUninit::uninit()));
static HAVE_PREVIOUS: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for r in RANGES.iter() {
        let start = r.start.load(Ordering::Acquire);
        if start == 0 || addr < start || addr - start >= r.len.load(Ordering::Relaxed) {
            continue;
        }
        let at = addr & !(page - 1);
        // A write retried on the page of a writable mapping (a log's futex
        // words, a writer's record) goes nowhere instead of faulting again.
        let prot = if r.writable.load(Ordering::Relaxed) {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY: replaces one page of a registered mapping (its owner
        // unregisters before unmapping) with a private page of zeros; mmap
        // is a plain system call on Linux, safe in a signal handler.
        let p = unsafe {
            libc::mmap(
                at as *mut libc::c_void,
                page,
                prot,
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
    // Not ours (or not repairable): the handler that was there before gets
    // it, called as the kernel would have; a default or ignored one is put
    // back instead, and the faulting access runs again under it.
    if HAVE_PREVIOUS.load(Ordering::Acquire) {
        // SAFETY: PREVIOUS was written before HAVE_PREVIOUS was set (Release
        // in `install`) and is only read since.
        let prev = unsafe { (*PREVIOUS.0.get()).assume_init_ref() };
        match prev.sa_sigaction {
            libc::SIG_DFL | libc::SIG_IGN => {
                // SAFETY: sigaction is async-signal-safe; `prev` is valid.
                unsafe { libc::sigaction(libc::SIGBUS, prev, std::ptr::null_mut()) };
            }
            f if prev.sa_flags & libc::SA_SIGINFO != 0 => {
                // SAFETY: an SA_SIGINFO handler has this signature; it gets
                // the arguments the kernel gave us.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(f) };
                f(sig, info, ctx);
            }
            f => {
                // SAFETY: a plain handler has this signature.
                let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(f) };
                f(sig);
            }
        }
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
        let ours = on_sigbus as *const () as usize;
        // SAFETY: an all-zero sigaction is a valid value to fill.
        let mut before: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a null new action only reads the disposition.
        unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut before) };
        if before.sa_sigaction == ours {
            // A child forked while its parent ran this, after ours went in:
            // the parent's PREVIOUS, written before that, came with it.
            HAVE_PREVIOUS.store(true, Ordering::Release);
            return;
        }
        // SAFETY: PREVIOUS is not read before HAVE_PREVIOUS is set, and is
        // written before ours goes in, so that a fork in between copies it.
        unsafe { (*PREVIOUS.0.get()).write(before) };
        // SAFETY: an all-zero sigaction is a valid value to fill.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = ours;
        act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: act.sa_mask is a valid sigset to empty.
        unsafe { libc::sigemptyset(&mut act.sa_mask) };
        // SAFETY: an all-zero sigaction is a valid value to fill.
        let mut replaced: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a valid action and out-pointer; our handler is an
        // extern "C" function of the right signature.
        if unsafe { libc::sigaction(libc::SIGBUS, &act, &mut replaced) } == 0 {
            if replaced.sa_sigaction != before.sa_sigaction && replaced.sa_sigaction != ours {
                // Another handler went in between the two calls: it is the
                // one to call (ours, put in by a set-up that was taken
                // over, is not).
                // SAFETY: ours reads PREVIOUS only once HAVE_PREVIOUS is
                // set, below.
                unsafe { (*PREVIOUS.0.get()).write(replaced) };
            }
            HAVE_PREVIOUS.store(true, Ordering::Release);
        }
    });
}

/// A registered range; unregistered when dropped.
#[derive(Debug)]
pub(crate) struct Guard {
    range: &'static Range,
}

impl Guard {
    /// Registers `[start, start + len)`.
    pub(crate) fn new(start: usize, len: usize, writable: bool) -> Guard {
        install();
        // Look before taking: a taken entry's line stays shared with the
        // threads that load its `hit`.
        let r = RANGES.claim(|r| {
            !r.taken.load(Ordering::Relaxed)
                && r.taken
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
        });
        r.hit.store(false, Ordering::Relaxed);
        r.writable.store(writable, Ordering::Relaxed);
        r.len.store(len, Ordering::Relaxed);
        // Release pairs with the handler's Acquire load of `start`: it sees
        // the length with it.
        r.start.store(start, Ordering::Release);
        Guard { range: r }
    }

    /// Whether an access to the range faulted (the file was shrunk under it).
    #[inline]
    pub(crate) fn faulted(&self) -> bool {
        self.range.hit.load(Ordering::Acquire)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.range.start.store(0, Ordering::Release);
        self.range.taken.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{fs, map::Mapping, process::page_size};
    use super::Guard;
    use std::os::fd::AsFd;

    #[test]
    fn a_mapping_guarded_after_thousands_of_others_reads_zeros_past_a_shrunk_end() {
        // More ranges than the fixed table of 8192 the guards once had, at
        // an address no mapping has.
        let others: Vec<Guard> = (0..9000).map(|_| Guard::new(1, 1, false)).collect();
        let fd = fs::memfd("sigbus-test").expect("memfd");
        let page = page_size();
        fs::set_len(fd.as_fd(), 2 * page).expect("size");
        let map = Mapping::shared(fd.as_fd(), 2 * page)
            .expect("map")
            .guarded(true);
        // SAFETY: the mapping is 2 pages long and lives to the end of the test.
        unsafe { map.base().as_ptr().add(page).write_volatile(7) };
        fs::set_len(fd.as_fd(), page).expect("shrink");
        assert!(!map.faulted());
        // SAFETY: as above; the page past the new end is repaired on fault.
        let byte = unsafe { map.base().as_ptr().add(page).read_volatile() };
        assert_eq!(byte, 0, "the page past the end reads as zeros");
        assert!(map.faulted());
        drop(others);
    }
}
