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
//! and the log report the file as truncated.
//!
//! A shared memory segment's range ([`Guard::past_end`]) is repaired only
//! where the fault lies past the file's end (the handler asks the file's
//! size, through a descriptor of its own): the rest of the range from
//! there is mapped with zeros at once, and the word its owner named
//! ([`Guard::mark_on_truncation`]: a ring's closed flag) is set, so that
//! every side in this process sees the ring closed at its next call and
//! stops writing into memory no peer shares. A fault inside the file (a
//! write into a hole on a full file system) is not repaired: its page
//! would take this process's writes away from its peers while their
//! positions were published.
//!
//! Only faults the kernel raised for a missing page of a file
//! (`BUS_ADRERR`) are repaired. Any other `SIGBUS` (a memory error, one
//! another process sent, a fault outside the ranges) goes to the handler
//! that was there before, called directly; where that was the default, it
//! is put back and the fault happens again under it (a sent signal is
//! raised again): the process dies as it would have. A sent signal the
//! process ignored is ignored.
//!
//! The handler is installed the first time a range is registered: a
//! process that never inspects, never maps a log and never maps a segment
//! another process could shrink (a named one, or an unsealed descriptor)
//! keeps its own `SIGBUS` handling untouched.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicUsize, Ordering};

use super::registry::Registry;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

#[derive(Debug, Default)]
struct Range {
    /// Odd while a registration writes the fields below; bumped twice by
    /// each, so the handler can tell fields read across one (an entry
    /// freed and taken again meanwhile) from one registration's.
    seq: AtomicUsize,
    /// First byte; 0 while the entry is free.
    start: AtomicUsize,
    len: AtomicUsize,
    /// A fault was repaired in this range.
    hit: AtomicBool,
    /// The entry is taken (set before `start`, cleared after it).
    taken: AtomicBool,
    /// The mapping is writable: so is the page of zeros put in.
    writable: AtomicBool,
    /// The mapped file (from offset 0), for a range repaired only past its
    /// end; -1: any fault is repaired, page by page.
    file: AtomicI32,
    /// Offset in the range of a `u32` set to 1 after a repair past the
    /// end; `NO_MARK`: none.
    mark: AtomicUsize,
    /// The page of the last fault found inside the file, retried.
    retried: AtomicUsize,
    /// Faults in a row on that page, each found inside the file.
    retries: AtomicUsize,
}

const NO_MARK: usize = usize::MAX;

/// Faults in a row on one page found inside the file each time after
/// which the fault is passed on: a fault of its own (a write into a hole
/// on a full file system), not a race with a peer that shrinks and grows
/// the file in turn, which would have to win every one of them.
const SAME_PAGE_RETRIES: usize = 64;

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
    // SAFETY: __errno_location gives this thread's errno, which the
    // handler's system calls may change and the interrupted code still reads.
    let errno = unsafe { *libc::__errno_location() };
    if !repaired(info) {
        pass_on(sig, info, ctx);
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// A fault that is not ours (or cannot be repaired): the handler that was
/// there before gets it, called as the kernel would have; a default or
/// ignored one is put back instead, and the faulting access runs again
/// under it.
fn pass_on(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let code = unsafe { (*info).si_code };
    // Sent (kill, raise, a queued signal) or an asynchronous memory error:
    // no faulting access runs again to deliver it anew.
    let sent = code <= 0 || code == libc::BUS_MCEERR_AO;
    if HAVE_PREVIOUS.load(Ordering::Acquire) {
        // SAFETY: PREVIOUS was written before HAVE_PREVIOUS was set (Release
        // in `install`) and is only read since.
        let prev = unsafe { (*PREVIOUS.0.get()).assume_init_ref() };
        match prev.sa_sigaction {
            // Ignored as it would have been; ours stays.
            libc::SIG_IGN if sent => {}
            libc::SIG_DFL if sent => {
                // SAFETY: sigaction and raise are async-signal-safe; the
                // signal raised again is delivered, under the default, once
                // this handler returns.
                unsafe {
                    libc::sigaction(libc::SIGBUS, prev, std::ptr::null_mut());
                    libc::raise(libc::SIGBUS);
                }
            }
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
        if sent {
            // SAFETY: raise is async-signal-safe.
            unsafe { libc::raise(libc::SIGBUS) };
        }
    }
}

/// One registration of a [`Range`], read whole.
#[derive(Debug, PartialEq, Eq)]
struct View {
    start: usize,
    len: usize,
    file: i32,
    writable: bool,
    mark: usize,
}

impl Range {
    /// The registration of this entry where it holds `addr`, read as one:
    /// `None` where the entry is free (once its freeing shows), holds
    /// another address, or is being (or was meanwhile) registered again.
    /// The entry of a faulting access cannot change under the fault (its
    /// owner unregisters only once no access to the mapping is left), so
    /// one that changes is not it.
    fn view_holding(&self, addr: usize) -> Option<View> {
        // Acquire pairs with the Release of the registration's last bump:
        // the fields read below are at least that registration's.
        let seq = self.seq.load(Ordering::Acquire);
        if seq % 2 == 1 {
            return None;
        }
        let view = View {
            start: self.start.load(Ordering::Relaxed),
            len: self.len.load(Ordering::Relaxed),
            file: self.file.load(Ordering::Relaxed),
            writable: self.writable.load(Ordering::Relaxed),
            mark: self.mark.load(Ordering::Relaxed),
        };
        // Keeps the loads above before the second look at `seq`.
        std::sync::atomic::fence(Ordering::Acquire);
        let held = view.start != 0 && addr >= view.start && addr - view.start < view.len;
        (held && self.seq.load(Ordering::Relaxed) == seq).then_some(view)
    }
}

/// Repairs the fault `info` describes where it lies in a registered range
/// (and, for a range of a file, past the file's end); false where it is
/// not ours or cannot be repaired.
fn repaired(info: *mut libc::siginfo_t) -> bool {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    // A page of a file that is not there; not a signal another process
    // sent (whose si_addr means something else) or a memory error.
    if code != libc::BUS_ADRERR {
        return false;
    }
    let page = PAGE.load(Ordering::Relaxed);
    let Some((
        r,
        View {
            start,
            len,
            file,
            writable,
            mark,
        },
    )) = RANGES.iter().find_map(|r| Some((r, r.view_holding(addr)?)))
    else {
        return false;
    };
    let at = addr & !(page - 1);
    let (from, to) = if file < 0 {
        (at, at + page)
    } else {
        // Past the file's end from `end` on: a fault before it is not a
        // truncation.
        let Some(size) = file_size(file) else {
            return false;
        };
        let end = start + size.div_ceil(page) * page;
        if at < end {
            // Inside the file: the file grew back since the fault (or
            // another thread repaired it), and the access goes through when
            // retried; the same page faulting again and again is a fault
            // of its own (see `SAME_PAGE_RETRIES`), passed on.
            let again = if r.retried.swap(at, Ordering::Relaxed) == at {
                r.retries.fetch_add(1, Ordering::Relaxed) + 1
            } else {
                r.retries.store(0, Ordering::Relaxed);
                0
            };
            return again < SAME_PAGE_RETRIES;
        }
        (end, start + len.div_ceil(page) * page)
    };
    // A write retried on the page of a writable mapping (a log's futex
    // words, a writer's record, a ring's slots) goes nowhere instead of
    // faulting again.
    let prot = if writable {
        libc::PROT_READ | libc::PROT_WRITE
    } else {
        libc::PROT_READ
    };
    let len = to - from;
    // The zeros are made aside and moved over the range in one step, the
    // mark already in them where it falls there: no thread of this process
    // sees the new pages without it (and takes the ring for open).
    // (mmap, a plain system call on Linux, is safe in a signal handler.)
    let Ok(zeros) = super::map::map_anonymous(len) else {
        return false;
    };
    // Before the repair shows (zeros, the mark): a thread that sees it
    // sees why.
    r.hit.store(true, Ordering::SeqCst);
    let mark_at = (writable && mark != NO_MARK).then(|| start + mark);
    match mark_at {
        // SAFETY: inside the new mapping (mark_at is in [from, to)), 4-aligned.
        Some(at) if at >= from => unsafe {
            (*(zeros.as_ptr().add(at - from) as *const AtomicU32)).store(1, Ordering::Relaxed)
        },
        Some(at) => {
            // The file kept the mark's page: set there (for every process)
            // before the zeros go in. Where the file shrinks again
            // meanwhile, the store faults: SIGBUS unblocked, that fault
            // comes here too and puts marked zeros under it (the mask is
            // restored when this handler returns).
            // SAFETY: a valid signal set, filled before use; sigemptyset,
            // sigaddset and pthread_sigmask are async-signal-safe.
            unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGBUS);
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            }
            // SAFETY: the owner set the mark 4-aligned in the range's first
            // page, which its mapping covers.
            unsafe { (*(at as *const AtomicU32)).store(1, Ordering::Release) };
        }
        None => {}
    }
    // SAFETY: `zeros` is ours, `len` bytes; the target lies in a
    // registered mapping (its owner unregisters before unmapping). mprotect
    // and mremap are plain system calls, safe in a signal handler.
    let moved = unsafe {
        libc::mprotect(zeros.as_ptr().cast(), len, prot) == 0
            && libc::mremap(
                zeros.as_ptr().cast(),
                len,
                len,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                from as *mut libc::c_void,
            ) != libc::MAP_FAILED
    };
    if !moved {
        // SAFETY: still ours where it was not moved.
        unsafe { super::map::unmap_anonymous(zeros, len) };
    }
    moved
}

/// Whether an access to the guarded range that holds `addr` faulted
/// (false where none holds it). Walks the table: for error paths, which
/// have an address but not the mapping.
pub(crate) fn faulted_at(addr: usize) -> bool {
    RANGES
        .iter()
        .any(|r| r.view_holding(addr).is_some() && r.hit.load(Ordering::Acquire))
}

/// Claims an entry for `[start, start + len)` of the file `file` (-1:
/// any fault is repaired, page by page), without a mark.
fn register(start: usize, len: usize, writable: bool, file: i32) -> &'static Range {
    install();
    // Look before taking: a taken entry's line stays shared with the
    // threads that load its `hit`.
    let r = RANGES.claim(|r| {
        !r.taken.load(Ordering::Relaxed)
            && r.taken
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    });
    // Odd while the fields change: a handler reading them meanwhile
    // drops what it read (`Range::view_holding`).
    r.seq.fetch_add(1, Ordering::Relaxed);
    std::sync::atomic::fence(Ordering::Release);
    r.hit.store(false, Ordering::Relaxed);
    r.writable.store(writable, Ordering::Relaxed);
    r.file.store(file, Ordering::Relaxed);
    r.mark.store(NO_MARK, Ordering::Relaxed);
    r.retried.store(0, Ordering::Relaxed);
    r.retries.store(0, Ordering::Relaxed);
    r.len.store(len, Ordering::Relaxed);
    r.start.store(start, Ordering::Relaxed);
    // Release pairs with the handler's Acquire load of `seq`: it sees the
    // fields with it.
    r.seq.fetch_add(1, Ordering::Release);
    r
}

/// The size of the open file `fd`; `None` where it cannot be read. Not
/// `fs::stat`, whose error allocates: this runs in the handler.
fn file_size(fd: libc::c_int) -> Option<usize> {
    // SAFETY: an all-zero stat is a valid value to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat is async-signal-safe; `st` is a valid out-pointer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    Some(st.st_size.max(0) as usize)
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
    /// The handler's own descriptor of the file of a
    /// [`past_end`](Self::past_end) range (its owner's may be closed by a
    /// user who was given it); closed after the range is unregistered.
    file: Option<OwnedFd>,
}

impl Guard {
    /// Registers `[start, start + len)`: any fault in it is repaired, page
    /// by page.
    pub(crate) fn new(start: usize, len: usize, writable: bool) -> Guard {
        Guard {
            range: register(start, len, writable, -1),
            file: None,
        }
    }

    /// Registers the writable mapping `[start, start + len)` of the file
    /// `fd` from offset 0: a fault past the file's end maps zeros over the
    /// rest of the range (and sets the [mark](Self::mark_on_truncation));
    /// a fault inside the file goes to the handler before ours.
    pub(crate) fn past_end(start: usize, len: usize, fd: BorrowedFd<'_>) -> std::io::Result<Guard> {
        let file = fd.try_clone_to_owned()?;
        Ok(Guard {
            range: register(start, len, true, file.as_raw_fd()),
            file: Some(file),
        })
    }

    /// Sets the `u32` at `offset` (4-aligned, in the first page) to 1 after
    /// each repair past the end of a [`past_end`](Self::past_end) range.
    pub(crate) fn mark_on_truncation(&self, offset: usize) {
        let first_page = self
            .range
            .len
            .load(Ordering::Relaxed)
            .min(PAGE.load(Ordering::Relaxed));
        debug_assert!(self.file.is_some() && offset % 4 == 0 && offset + 4 <= first_page);
        self.range.mark.store(offset, Ordering::Release);
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
    use std::os::fd::{AsFd, OwnedFd};

    /// A guarded mapping of `pages` pages of `fd`, whose truncation sets
    /// the word at 0x180 where `marked`.
    fn past_end(fd: &OwnedFd, pages: usize, marked: bool) -> Mapping {
        let map = Mapping::shared(fd.as_fd(), pages * page_size())
            .expect("map")
            .guarded_past_end(fd.as_fd())
            .expect("guard");
        if marked {
            map.mark_on_truncation(0x180);
        }
        map
    }

    /// The handler takes an entry's fields only as one registration's:
    /// not while one is being written (odd `seq`), and not from a free
    /// entry or one holding another address.
    #[test]
    fn an_entry_is_read_only_as_one_registration() {
        use super::{Range, View, NO_MARK};
        use std::sync::atomic::Ordering;
        let r = Range::default();
        assert_eq!(r.view_holding(0x1000), None, "a free entry");
        r.seq.fetch_add(1, Ordering::Relaxed);
        r.len.store(0x2000, Ordering::Relaxed);
        r.file.store(-1, Ordering::Relaxed);
        r.mark.store(NO_MARK, Ordering::Relaxed);
        r.start.store(0x10000, Ordering::Relaxed);
        assert_eq!(r.view_holding(0x10800), None, "being registered");
        r.seq.fetch_add(1, Ordering::Release);
        let view = View {
            start: 0x10000,
            len: 0x2000,
            file: -1,
            writable: false,
            mark: NO_MARK,
        };
        assert_eq!(r.view_holding(0x10800), Some(view));
        assert_eq!(r.view_holding(0x12000), None, "past the range");
        assert_eq!(r.view_holding(0xffff), None, "before the range");
    }

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

    #[test]
    fn a_segment_shrunk_under_its_mapping_reads_zeros_past_the_end_and_is_marked() {
        use std::os::fd::AsRawFd;
        let fd = fs::memfd("sigbus-past-end").expect("memfd");
        let page = page_size();
        fs::set_len(fd.as_fd(), 3 * page).expect("size");
        let map = past_end(&fd, 3, true);
        let base = map.base().as_ptr();
        // SAFETY: the mapping is 3 pages long and lives to the end of the test.
        unsafe { base.add(2 * page).write_volatile(7) };
        fs::set_len(fd.as_fd(), page).expect("shrink");
        // SAFETY: as above; the pages past the new end are repaired on fault.
        unsafe { base.add(2 * page).write_volatile(9) };
        assert!(map.faulted());
        // SAFETY: as above.
        let (lost, next) = unsafe {
            (
                base.add(2 * page).read_volatile(),
                base.add(page).read_volatile(),
            )
        };
        assert_eq!((lost, next), (9, 0), "private zeros from the end on");
        // The mark lies in the page the file kept: set there, for every
        // process that maps it.
        let mut word = [0u8; 4];
        // SAFETY: pread into a 4-byte buffer from a descriptor we hold.
        let n = unsafe { libc::pread(fd.as_raw_fd(), word.as_mut_ptr().cast(), 4, 0x180) };
        assert_eq!((n, u32::from_ne_bytes(word)), (4, 1));
    }

    #[test]
    fn a_segment_shrunk_to_nothing_gets_its_mark_in_the_zeros() {
        let fd = fs::memfd("sigbus-to-nothing").expect("memfd");
        let page = page_size();
        fs::set_len(fd.as_fd(), 2 * page).expect("size");
        let (map, unmarked) = (past_end(&fd, 2, true), past_end(&fd, 2, false));
        fs::set_len(fd.as_fd(), 0).expect("shrink");
        // SAFETY: both mappings are 2 pages long and live to the end of
        // the test; their pages past the new end are repaired on fault.
        let (marked, plain) = unsafe {
            (
                map.base().as_ptr().add(page).read_volatile(),
                unmarked.base().as_ptr().add(page).read_volatile(),
            )
        };
        assert_eq!((marked, plain), (0, 0));
        // SAFETY: as above; the first page is zeros now, 4-aligned at 0x180.
        let mark =
            |m: &Mapping| unsafe { m.base().as_ptr().add(0x180).cast::<u32>().read_volatile() };
        assert_eq!((mark(&map), mark(&unmarked)), (1, 0));
        assert!(map.faulted() && unmarked.faulted());
    }
}
