//! Futex sleeps and wakes on a 32-bit word (private to the process, or on
//! shared memory), and `membarrier`, the heavy side of the barrier pair the
//! wake-up handshake uses (`crate::sync`).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Once;
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

const CMD_GLOBAL_EXPEDITED: libc::c_int = 1 << 1;
const CMD_REGISTER_GLOBAL_EXPEDITED: libc::c_int = 1 << 2;

/// Set once this process is registered, so other processes' heavy barriers reach it.
static REGISTERED: AtomicBool = AtomicBool::new(false);

fn membarrier(cmd: libc::c_int) -> bool {
    // SAFETY: membarrier takes two integer arguments and touches no memory of ours.
    unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0, 0) == 0 }
}

extern "C" fn reregister_after_fork() {
    // A child of fork gets a new mm; register it again so the flag stays true.
    if !membarrier(CMD_REGISTER_GLOBAL_EXPEDITED) {
        REGISTERED.store(false, Ordering::Relaxed);
    }
}

/// Registers this process for `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`
/// once (about 20 ms, in the kernel), also in children of `fork`.
pub(crate) fn register_for_barriers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if membarrier(CMD_REGISTER_GLOBAL_EXPEDITED) {
            super::process::after_fork_in_child(reregister_after_fork);
            REGISTERED.store(true, Ordering::Relaxed);
        }
    });
}

/// Whether this process is registered (so a light barrier may be a compiler fence).
#[inline(always)]
pub(crate) fn registered() -> bool {
    REGISTERED.load(Ordering::Relaxed)
}

/// Makes every running thread of every registered process execute a full
/// barrier; false where the kernel cannot.
pub(crate) fn global_barrier() -> bool {
    membarrier(CMD_GLOBAL_EXPEDITED)
}
