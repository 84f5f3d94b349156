//! Time bounds for tests that start processes or threads: a hang must fail
//! the run in seconds, never stall it.

use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::time::Duration;

/// Aborts the test process (and so, through [`die_with_parent`], its
/// children) when the test holding it runs past its limit; disarmed when
/// dropped, also while a failing test unwinds.
pub struct Watchdog(#[allow(dead_code)] Sender<()>);

/// Arms a watchdog of `limit` seconds for the calling test (none under
/// Miri, whose runs are slow by design).
pub fn watchdog(limit: u64) -> Watchdog {
    let (armed, expiry) = channel::<()>();
    if cfg!(miri) {
        return Watchdog(armed);
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    std::thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = expiry.recv_timeout(Duration::from_secs(limit)) {
            eprintln!("{test} still runs after {limit} s: aborting the test process");
            std::process::abort();
        }
    });
    Watchdog(armed)
}

/// In a child process: be killed when the test process that started it
/// dies (an aborted test leaves no process behind), and exit at once if it
/// is gone already.
#[allow(dead_code)]
pub fn die_with_parent() {
    let parent: i32 = std::env::var("RINGCORE_TEST_PARENT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number; getppid cannot fail.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if parent != 0 && libc::getppid() != parent {
            libc::_exit(1);
        }
    }
}

/// The environment a child needs for [`die_with_parent`].
#[allow(dead_code)]
pub fn parent_env() -> (&'static str, String) {
    ("RINGCORE_TEST_PARENT", std::process::id().to_string())
}
