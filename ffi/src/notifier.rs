//! `rmpsc_notifier_*`: an eventfd that rings and channels signal after
//! every commit, for poll, epoll and event loops.

use crate::args::{free_handle, handle, non_null, Out};
use crate::{call, call_infallible};
use ringcore::{Error, EventNotifier, Notify};
use std::ffi::c_int;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

/// An eventfd that a ring or channel signals after every commit (opaque).
pub struct rmpsc_notifier_t {
    notifier: Arc<EventNotifier>,
}

fn notifier<'a>(n: *const rmpsc_notifier_t) -> Result<&'a EventNotifier, Error> {
    Ok(&handle(n, "notifier")?.notifier)
}

/// What a producer signals: the notifier behind `n`, `None` for NULL.
pub(crate) fn notify_of(n: *const rmpsc_notifier_t) -> Option<Arc<dyn Notify>> {
    // SAFETY: NULL or a live notifier by contract.
    (!n.is_null()).then(|| unsafe { (*n).notifier.clone() } as Arc<dyn Notify>)
}

/// Creates an eventfd notifier (non-blocking, close-on-exec). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_notifier_new(out: *mut *mut rmpsc_notifier_t) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        out.put(rmpsc_notifier_t {
            notifier: Arc::new(EventNotifier::new()?),
        });
        Ok(())
    })
}

/// Frees the notifier handle (rings it is attached to keep it alive). NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_notifier_free(n: *mut rmpsc_notifier_t) {
    free_handle(n)
}

/// The eventfd, to poll/epoll for readability (-1 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_notifier_fd(n: *const rmpsc_notifier_t) -> c_int {
    call_infallible(-1, || notifier(n).map_or(-1, |n| n.fd()))
}

/// Reads and resets the counter: signals since the last call go to
/// `*out_count` (0: none). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_notifier_consume(n: *mut rmpsc_notifier_t, out_count: *mut u64) -> c_int {
    call(|| {
        let out_count = Out::new(out_count, "out_count")?;
        out_count.set(notifier(n)?.consume());
        Ok(())
    })
}

/// Signals the notifier by hand. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_notifier_signal(n: *mut rmpsc_notifier_t) -> c_int {
    call(|| {
        notifier(n)?.signal();
        Ok(())
    })
}

/// Signals only when the 32-bit counter at `waiters` is non-zero: no
/// system call while nobody waits. `waiters` is a count of sleeping
/// consumers the caller keeps in writable memory (e.g. shared memory); it
/// is read atomically after a full fence. A consumer must increment it
/// (atomically, sequentially consistent), check for data once more, and
/// only then wait on the eventfd, so no wake-up is lost. Thread-safe.
/// Errors: RMPSC_EINVAL (NULL or misaligned `waiters`).
#[no_mangle]
pub extern "C" fn rmpsc_notifier_signal_if_waiting(
    n: *mut rmpsc_notifier_t,
    waiters: *const u32,
) -> c_int {
    call(|| {
        let n = notifier(n)?;
        non_null(waiters, "waiters")?;
        if !waiters.is_aligned() {
            return Err(Error::InvalidArgument(
                "waiters is not 4-byte aligned".into(),
            ));
        }
        // SAFETY: non-NULL and aligned; by contract it points at a live,
        // writable u32 that other threads change only atomically.
        n.signal_if_waiting(unsafe { AtomicU32::from_ptr(waiters.cast_mut()) });
        Ok(())
    })
}

/// Adds the notifier's eventfd to the epoll instance `epoll_fd`,
/// edge-triggered for input (event data: the eventfd). Thread-safe.
/// Errors: RMPSC_EIO (the kernel's error, e.g. already registered).
#[no_mangle]
pub extern "C" fn rmpsc_notifier_register_epoll(
    n: *mut rmpsc_notifier_t,
    epoll_fd: c_int,
) -> c_int {
    call(|| notifier(n)?.register_epoll(epoll_fd))
}

/// Removes the notifier's eventfd from `epoll_fd`. Thread-safe.
/// Errors: RMPSC_EIO (the kernel's error, e.g. not registered).
#[no_mangle]
pub extern "C" fn rmpsc_notifier_unregister_epoll(
    n: *mut rmpsc_notifier_t,
    epoll_fd: c_int,
) -> c_int {
    call(|| notifier(n)?.unregister_epoll(epoll_fd))
}
