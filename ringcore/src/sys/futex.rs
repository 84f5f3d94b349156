//! Futex sleeps and wakes on a 32-bit word (private to the process, or on
//! shared memory), and `membarrier`, the heavy side of the barrier pair the
//! wake-up handshake uses (`crate::sync`).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// Sleeps while `*word == expected`, at most `timeout`. Spurious returns are allowed.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>, shared: bool) {
    let op = if shared {
        libc::FUTEX_WAIT
    } else {
        libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG
    };
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned u32 for the whole call; the kernel
    // only reads it. `ts_ptr` is null or points at a timespec on our stack.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            op,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Wakes every thread sleeping on `word`.
pub(crate) fn wake_all(word: &AtomicU32, shared: bool) {
    let op = if shared {
        libc::FUTEX_WAKE
    } else {
        libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG
    };
    // SAFETY: FUTEX_WAKE reads no memory through the pointer beyond using it as a key.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), op, i32::MAX);
    }
}

// The process-private commands: the global ones, which reach registered
// processes through a per-CPU flag, were seen to miss running threads and
// lose wake-ups (see `crate::sync`).
const CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

/// Set once this process is registered, so its heavy barriers reach every thread of it.
static REGISTERED: AtomicBool = AtomicBool::new(false);

fn membarrier(cmd: libc::c_int) -> bool {
    // SAFETY: membarrier takes two integer arguments and touches no memory of ours.
    unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0, 0) == 0 }
}

/// Registers this process for barriers, once.
static BARRIERS: super::process::ForkSafeOnce = super::process::ForkSafeOnce::new();

extern "C" fn reregister_after_fork() {
    BARRIERS.mark_done();
    // A child of fork gets a new mm; register it again (a child forked
    // before its parent's set-up ended finds the flag not yet set).
    REGISTERED.store(
        membarrier(CMD_REGISTER_PRIVATE_EXPEDITED),
        Ordering::Relaxed,
    );
}

/// Registers this process for `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`
/// once, also in children of `fork`.
pub(crate) fn register_for_barriers() {
    BARRIERS.call_once(|| {
        if membarrier(CMD_REGISTER_PRIVATE_EXPEDITED) {
            super::process::after_fork_in_child(reregister_after_fork);
            REGISTERED.store(true, Ordering::Relaxed);
        }
    });
}

/// Whether this process is registered (so a sleeper's
/// [`process_barrier`] can reach every thread of it).
#[inline(always)]
pub(crate) fn registered() -> bool {
    REGISTERED.load(Ordering::Relaxed)
}

/// Makes every running thread of this process execute a full barrier;
/// false where the kernel cannot.
pub(crate) fn process_barrier() -> bool {
    membarrier(CMD_PRIVATE_EXPEDITED)
}

/// One word of [`wait_any`]: its address, the value to sleep on, and
/// whether it lives in memory shared between processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word {
    pub(crate) addr: usize,
    pub(crate) expected: u32,
    pub(crate) shared: bool,
}

/// The most words one [`wait_any`] takes (the kernel's limit).
pub(crate) const WAIT_ANY_MAX: usize = 128;

/// Sleeps until one of `words` (at most [`WAIT_ANY_MAX`]) is woken or no
/// longer holds its value, at most `timeout` (`futex_waitv`, Linux 5.16).
/// Returns early on any wake-up or error (the caller re-checks the words);
/// `Err` only when the kernel lacks the call.
pub(crate) fn wait_any(words: &[Word], timeout: Duration) -> std::io::Result<()> {
    const FUTEX2_SIZE_U32: u32 = 0x02;
    const FUTEX2_PRIVATE: u32 = 128;
    /// `struct futex_waitv` of the kernel's uapi.
    #[repr(C)]
    struct FutexWaitv {
        val: u64,
        uaddr: u64,
        flags: u32,
        reserved: u32,
    }
    let list: Vec<FutexWaitv> = words
        .iter()
        .take(WAIT_ANY_MAX)
        .map(|w| FutexWaitv {
            val: u64::from(w.expected),
            uaddr: w.addr as u64,
            flags: FUTEX2_SIZE_U32 | if w.shared { 0 } else { FUTEX2_PRIVATE },
            reserved: 0,
        })
        .collect();
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes one timespec into a live local.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let end_ns = i128::from(now.tv_sec) * 1_000_000_000
        + i128::from(now.tv_nsec)
        + timeout.as_nanos().min(i64::MAX as u128) as i128;
    let end = libc::timespec {
        tv_sec: (end_ns / 1_000_000_000).min(i128::from(i64::MAX)) as libc::time_t,
        tv_nsec: (end_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: `list` and `end` are live for the call; the kernel only reads
    // the words' addresses (a stale one gives EFAULT, not a fault here).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex_waitv,
            list.as_ptr(),
            list.len() as libc::c_uint,
            0u32,
            &end as *const libc::timespec,
            libc::CLOCK_MONOTONIC,
        )
    };
    let err = std::io::Error::last_os_error();
    if rc < 0 && err.raw_os_error() == Some(libc::ENOSYS) {
        return Err(err);
    }
    Ok(())
}
