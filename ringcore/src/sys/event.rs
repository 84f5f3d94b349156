//! eventfd counters and epoll sets.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// A non-blocking, close-on-exec eventfd.
pub(crate) struct EventFd(OwnedFd);

impl EventFd {
    pub(crate) fn new() -> std::io::Result<EventFd> {
        // SAFETY: eventfd has no memory arguments.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a new descriptor we now own.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Adds one to the counter, waking any reader. A full counter already
    /// reads as "readable", so errors are ignored.
    pub(crate) fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Reads and resets the counter (0 when it was 0).
    pub(crate) fn take(&self) -> u64 {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our eventfd.
        let n = unsafe { libc::read(self.0.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
        if n == 8 {
            v
        } else {
            0
        }
    }

    pub(crate) fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// An epoll set; each descriptor is registered with a 64-bit token that
/// comes back with its events.
pub(crate) struct Epoll(OwnedFd);

/// Input readiness, level-triggered, also on hang-up of the peer.
pub(crate) const READABLE: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
/// Input readiness, edge-triggered.
pub(crate) const READABLE_EDGE: u32 = (libc::EPOLLIN | libc::EPOLLET) as u32;

impl Epoll {
    pub(crate) fn new() -> std::io::Result<Epoll> {
        // SAFETY: epoll_create1 takes a flag and returns a new descriptor.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a descriptor epoll_create1 just returned to us.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// The epoll set of descriptor `epfd` (which the caller keeps open).
    pub(crate) fn add_to(epfd: RawFd, fd: RawFd, events: u32, token: u64) -> std::io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: ev is a valid epoll_event; the kernel copies it.
        if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Removes `fd` from the epoll set of descriptor `epfd`.
    pub(crate) fn remove_from(epfd: RawFd, fd: RawFd) -> std::io::Result<()> {
        // SAFETY: EPOLL_CTL_DEL ignores the event argument.
        if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    pub(crate) fn add(&self, fd: RawFd, events: u32, token: u64) -> std::io::Result<()> {
        Self::add_to(self.0.as_raw_fd(), fd, events, token)
    }

    /// Forgets `fd` (closing it does too; this is for descriptors that live on).
    pub(crate) fn remove(&self, fd: RawFd) {
        let _ = Self::remove_from(self.0.as_raw_fd(), fd);
    }

    /// The tokens of ready descriptors, waiting up to `timeout` (at least
    /// a millisecond), at most `room` of them.
    pub(crate) fn wait(&self, room: usize, timeout: Duration) -> Vec<u64> {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; room.max(1)];
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: `events` is a writable array of its length.
        let n = unsafe {
            libc::epoll_wait(
                self.0.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                ms,
            )
        };
        events[..n.max(0) as usize].iter().map(|e| e.u64).collect()
    }
}
