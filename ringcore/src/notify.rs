//! Telling a consumer that data arrived: the [`Notify`] hook a ring's
//! producer calls after every commit, and [`EventNotifier`], an eventfd that
//! lets a consumer wait in `epoll`, `io_uring` or Python's `asyncio`.

use crate::error::Result;
use crate::sync::{fence, AtomicU32, Ordering};
use crate::sys::event::{Epoll, EventFd, READABLE_EDGE};
use std::os::fd::RawFd;

/// Called by a ring's producer after each commit when attached with
/// `set_notifier`. Keep it cheap: it runs on the producer's hot path.
pub trait Notify: Send + Sync {
    /// New items were published.
    fn notify(&self);
}

/// An eventfd for event loops. Attached to a ring (`set_notifier`), every
/// commit signals it; the consumer sleeps in `epoll_wait` (or
/// `loop.add_reader`) on [`fd`](Self::fd), calls [`consume`](Self::consume)
/// to reset it, and drains the ring.
///
/// Signals coalesce: many commits before a `consume` wake the reader once.
/// Each signal is a system call, so attach it only where the consumer
/// really waits in an event loop; a dedicated consumer thread is better
/// served by the rings' futex waits (free unless someone sleeps).
///
/// ```
/// use ringcore::{Config, EventNotifier, Ring};
/// use std::sync::Arc;
/// let n = Arc::new(EventNotifier::new()?);
/// let (mut tx, mut rx) = Ring::<u32>::new(Config::with_ring_bits(4))?;
/// tx.set_notifier(Some(n.clone()));
/// tx.send_one(1).unwrap();
/// tx.send_one(2).unwrap();
/// assert_eq!(n.consume(), 2); // two commits, read at once
/// assert_eq!(n.consume(), 0);
/// assert_eq!(rx.consume_batch(|_| {}), 2);
/// # Ok::<(), ringcore::Error>(())
/// ```
pub struct EventNotifier {
    fd: EventFd,
}

impl std::fmt::Debug for EventNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventNotifier")
            .field("fd", &self.fd())
            .finish_non_exhaustive()
    }
}

impl EventNotifier {
    /// A new non-blocking, close-on-exec eventfd.
    pub fn new() -> Result<EventNotifier> {
        Ok(EventNotifier {
            fd: EventFd::new()?,
        })
    }

    /// Adds one to the counter, waking any reader.
    pub fn signal(&self) {
        self.fd.signal();
    }

    /// Signals only when `waiters` is non-zero: no system call while nobody
    /// waits. Call it after publishing. A waiter must count itself in
    /// (`fetch_add`, SeqCst), check for data once more, and only then wait
    /// on the eventfd; with the full fence here, one of the two sides always
    /// sees the other, so no wake-up is lost.
    pub fn signal_if_waiting(&self, waiters: &AtomicU32) {
        // Orders the caller's publication before the load of the count
        // (a store followed by a load needs a full fence, even on x86).
        fence(Ordering::SeqCst);
        if waiters.load(Ordering::Relaxed) != 0 {
            self.signal();
        }
    }

    /// Reads and resets the counter: the number of signals since the last
    /// call (0 when none).
    pub fn consume(&self) -> u64 {
        self.fd.take()
    }

    /// Adds the eventfd to `epoll_fd`, edge-triggered for input.
    pub fn register_epoll(&self, epoll_fd: RawFd) -> Result<()> {
        let fd = self.fd.as_raw_fd();
        Ok(Epoll::add_to(epoll_fd, fd, READABLE_EDGE, fd as u64)?)
    }

    /// Removes the eventfd from `epoll_fd`.
    pub fn unregister_epoll(&self, epoll_fd: RawFd) -> Result<()> {
        Ok(Epoll::remove_from(epoll_fd, self.fd.as_raw_fd())?)
    }

    /// The raw descriptor, for custom event loops (io_uring, mio, asyncio).
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Notify for EventNotifier {
    fn notify(&self) {
        self.signal();
    }
}
