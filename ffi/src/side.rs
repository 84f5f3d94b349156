//! The guard on every role handle: one thread at a time per side.

use ringcore::Error;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

/// One role of a C handle, with a guard against two threads entering it at
/// once. The guard is made of plain loads and stores, no locked
/// instruction: a call finds the flag set (another thread is inside) and
/// fails with `Busy`, else sets it, runs, and clears it. It catches a
/// second thread that enters while the first is inside, which is how
/// misuse shows up in practice; two threads entering within the same few
/// nanoseconds can both pass, so it is a diagnostic, not a lock. Handing a
/// side from one thread to another needs the usual synchronisation (a
/// mutex, a join, a queue), which also orders the flag.
///
/// Padded to its own lines: the flag is written on every call.
#[repr(align(128))]
pub(crate) struct Side<T> {
    busy: AtomicBool,
    role: &'static str,
    inner: UnsafeCell<T>,
}

// SAFETY: a side is used by one thread at a time (the C contract, checked
// by the guard as far as plain loads and stores can); T itself is Send.
unsafe impl<T: Send> Sync for Side<T> {}

impl<T> Side<T> {
    pub(crate) fn new(role: &'static str, inner: T) -> Self {
        Side {
            busy: AtomicBool::new(false),
            role,
            inner: UnsafeCell::new(inner),
        }
    }

    /// Runs `f` with exclusive access to the side, or fails with `Busy`
    /// when another thread is inside.
    #[inline(always)]
    pub(crate) fn enter<R>(&self, f: impl FnOnce(&mut T) -> Result<R, Error>) -> Result<R, Error> {
        struct Exit<'a>(&'a AtomicBool);
        impl Drop for Exit<'_> {
            #[inline(always)]
            fn drop(&mut self) {
                self.0.store(false, Ordering::Relaxed);
            }
        }
        // Relaxed load and store: plain moves, no locked instruction and no
        // fence. They order nothing; they only let a second thread see
        // that the side is taken.
        if self.busy.load(Ordering::Relaxed) {
            return Err(busy(self.role));
        }
        self.busy.store(true, Ordering::Relaxed);
        let _exit = Exit(&self.busy);
        // SAFETY: by the C contract one thread at a time is inside; the
        // flag turns the usual violation of it into `Busy` instead.
        f(unsafe { &mut *self.inner.get() })
    }
}

impl<T> Side<T> {
    /// Runs `f` and, when it succeeds, keeps the side taken across calls
    /// (a lease) until [`give_back`](Self::give_back): every other call on
    /// it fails with `Busy` meanwhile.
    pub(crate) fn lend<R>(&self, f: impl FnOnce(&mut T) -> Result<R, Error>) -> Result<R, Error> {
        let r = self.enter(f)?;
        self.busy.store(true, Ordering::Relaxed);
        Ok(r)
    }

    /// Runs `f` for the holder of the lease on this side;
    /// `InvalidArgument` when the side is not lent.
    pub(crate) fn held<R>(&self, f: impl FnOnce(&mut T) -> Result<R, Error>) -> Result<R, Error> {
        if !self.busy.load(Ordering::Relaxed) {
            return Err(Error::InvalidArgument(format!(
                "the {} is not leased",
                self.role
            )));
        }
        // SAFETY: the side is lent, so by the C contract only the lease's
        // holder (this thread) uses it; other calls get `Busy`.
        f(unsafe { &mut *self.inner.get() })
    }

    /// Ends a lease: the side is free for calls again.
    pub(crate) fn give_back(&self) {
        self.busy.store(false, Ordering::Relaxed);
    }
}

#[cold]
#[inline(never)]
fn busy(role: &'static str) -> Error {
    Error::Busy(role)
}
