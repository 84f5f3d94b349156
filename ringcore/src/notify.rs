//! Telling a consumer that data arrived: the [`Notify`] hook a ring's
//! producer calls after every commit, and [`EventNotifier`], an eventfd that
//! lets a consumer wait in `epoll`, `io_uring` or Python's `asyncio`.

use crate::error::Result;
use crate::sync::{fence, AtomicU32, Ordering};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

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
    fd: OwnedFd,
}

impl EventNotifier {
    /// A new non-blocking, close-on-exec eventfd.
    pub fn new() -> Result<EventNotifier> {
        // SAFETY: eventfd has no memory arguments.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        // SAFETY: a new descriptor we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(EventNotifier { fd })
    }

    /// Adds one to the counter, waking any reader.
    pub fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd. A full
        // counter (EAGAIN) already means "readable", so errors are ignored.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
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
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our eventfd.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
        if n == 8 {
            v
        } else {
            0
        }
    }

    /// Adds the eventfd to `epoll_fd`, edge-triggered for input.
    pub fn register_epoll(&self, epoll_fd: RawFd) -> Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: self.fd.as_raw_fd() as u64,
        };
        // SAFETY: ev is a valid epoll_event; the kernel copies it.
        if unsafe { libc::epoll_ctl(epoll_fd, libc::EPOLL_CTL_ADD, self.fd.as_raw_fd(), &mut ev) }
            != 0
        {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(())
    }

    /// Removes the eventfd from `epoll_fd`.
    pub fn unregister_epoll(&self, epoll_fd: RawFd) -> Result<()> {
        // SAFETY: EPOLL_CTL_DEL ignores the event argument.
        if unsafe {
            libc::epoll_ctl(
                epoll_fd,
                libc::EPOLL_CTL_DEL,
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
            )
        } != 0
        {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(())
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
