//! The guard on every role handle: one thread at a time per side.

use ringcore::Error;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU8, Ordering};

/// No thread is inside the side.
const FREE: u8 = 0;
/// A call is inside the side.
const IN_CALL: u8 = 1;
/// The side is lent to a lease (`lend`) until `give_back`.
const LEASED: u8 = 2;

/// One role of a C handle, with a guard against two threads entering it at
/// once. The guard is made of plain loads and stores, no locked
/// instruction: a call finds the state taken (another thread is inside, or
/// the side is leased) and fails with `Busy`, else takes it, runs, and
/// frees it. It catches a second thread that enters while the first is
/// inside, which is how misuse shows up in practice; two threads entering
/// within the same few nanoseconds can both pass, so it is a diagnostic,
/// not a lock. Handing a side from one thread to another needs the usual
/// synchronisation (a mutex, a join, a queue); `Busy` is not a hand-off.
///
/// Padded to its own lines: the state is written on every call.
#[repr(align(128))]
pub(crate) struct Side<T> {
    state: AtomicU8,
    role: &'static str,
    inner: UnsafeCell<T>,
}

// SAFETY: a side is used by one thread at a time (the C contract, checked
// by the guard as far as plain loads and stores can); T itself is Send.
unsafe impl<T: Send> Sync for Side<T> {}

impl<T> Side<T> {
    pub(crate) fn new(role: &'static str, inner: T) -> Self {
        Side {
            state: AtomicU8::new(FREE),
            role,
            inner: UnsafeCell::new(inner),
        }
    }

    /// Runs `f` with exclusive access to the side, or fails with `Busy`
    /// when another thread is inside or the side is leased.
    #[inline(always)]
    pub(crate) fn enter<R>(&self, f: impl FnOnce(&mut T) -> Result<R, Error>) -> Result<R, Error> {
        struct Exit<'a>(&'a AtomicU8);
        impl Drop for Exit<'_> {
            #[inline(always)]
            fn drop(&mut self) {
                self.0.store(FREE, Ordering::Release);
            }
        }
        self.take(IN_CALL)?;
        let _exit = Exit(&self.state);
        // SAFETY: by the C contract one thread at a time is inside; the
        // state turns the usual violation of it into `Busy` instead.
        f(unsafe { &mut *self.inner.get() })
    }

    /// Runs `f` and, when it succeeds, keeps the side leased across calls
    /// until [`give_back`](Self::give_back): every call on it fails with
    /// `Busy` meanwhile. The side goes from free to leased directly, so no
    /// call can slip in between.
    pub(crate) fn lend<R>(&self, f: impl FnOnce(&mut T) -> Result<R, Error>) -> Result<R, Error> {
        /// Frees the side unless the lease was made (also on a panic).
        struct Unless<'a>(&'a AtomicU8, bool);
        impl Drop for Unless<'_> {
            fn drop(&mut self) {
                if !self.1 {
                    self.0.store(FREE, Ordering::Release);
                }
            }
        }
        self.take(LEASED)?;
        let mut made = Unless(&self.state, false);
        // SAFETY: as in `enter`: the side was free and is now leased to us.
        let r = f(unsafe { &mut *self.inner.get() });
        made.1 = r.is_ok();
        r
    }

    /// Runs `f` for the holder of the lease on this side;
    /// `InvalidArgument` when the side is not leased.
    pub(crate) fn held<R>(&self, f: impl FnOnce(&mut T) -> Result<R, Error>) -> Result<R, Error> {
        if self.state.load(Ordering::Acquire) != LEASED {
            return Err(Error::InvalidArgument(format!(
                "the {} is not leased",
                self.role
            )));
        }
        // SAFETY: the side is leased, so by the C contract only the lease's
        // holder (this thread) uses it; calls get `Busy`.
        f(unsafe { &mut *self.inner.get() })
    }

    /// Ends a lease: the side is free for calls again (after `held`
    /// returned, so no reference into it is left).
    pub(crate) fn give_back(&self) {
        self.state.store(FREE, Ordering::Release);
    }

    /// Moves the state from free to `to`, or fails with `Busy`. Plain load
    /// and store (Acquire and Release are plain moves on x86-64): no locked
    /// instruction, no fence.
    #[inline(always)]
    fn take(&self, to: u8) -> Result<(), Error> {
        if self.state.load(Ordering::Acquire) != FREE {
            return Err(busy(self.role));
        }
        self.state.store(to, Ordering::Relaxed);
        Ok(())
    }
}

#[cold]
#[inline(never)]
fn busy(role: &'static str) -> Error {
    Error::Busy(role)
}
