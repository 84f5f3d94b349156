//! Telling a consumer that data arrived: the [`Notify`] hook a ring's
//! producer calls after every commit, and [`EventNotifier`], an eventfd that
//! lets a consumer wait in `epoll`, `io_uring` or Python's `asyncio`.

use crate::error::Result;
use crate::sync::{fence, light_barrier, AtomicU32, Ordering};
use crate::sys::event::{Epoll, EventFd, READABLE_EDGE};
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::Arc;

/// Called by a ring's producer after each commit when attached with
/// `set_notifier`. Keep it cheap: it runs on the producer's hot path.
pub trait Notify: Send + Sync {
    /// New items were published.
    fn notify(&self);

    /// The library's own notifiers (a channel's) tell a producer, through
    /// a [`Gate`], when a call would do nothing, so that it is skipped;
    /// others are called after every commit.
    fn gate(&self) -> Option<&Gate> {
        None
    }
}

/// A word that is zero while a notifier has nothing to do (no consumer
/// sleeps, no user notifier is attached): a producer reads it after its
/// commit and calls the notifier only when it is not. Only the library's
/// notifiers have one: code outside it can neither make nor read a gate.
#[repr(transparent)]
pub struct Gate(AtomicU32);

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Gate")
            .field(&self.0.load(Ordering::Relaxed))
            .finish()
    }
}

impl Gate {
    pub(crate) fn new() -> Gate {
        Gate(AtomicU32::new(0))
    }

    /// The word.
    pub(crate) fn word(&self) -> &AtomicU32 {
        &self.0
    }
}

/// A notifier as a producer holds it: its gate, if it has one, read inline
/// so that a commit nobody waits for costs a load, not a call. A channel's
/// producer holds the channel's wake-up this way for life; a notifier its
/// user attaches ([`attach`](Self::attach)) is called beside it, never
/// instead, or the channel's consumer would sleep through the commits.
pub(crate) struct Hook {
    notify: Arc<dyn Notify>,
    gate: Option<NonNull<Gate>>,
    /// The user's notifier beside a channel's wake-up (in `notify`).
    user: Option<Arc<dyn Notify>>,
    /// Whether `notify` is a channel's wake-up.
    channel: bool,
}

// SAFETY: `gate` points into the notifier that `notify` keeps alive; the
// notifier is `Send + Sync`, and the gate is only loaded from.
unsafe impl Send for Hook {}
// SAFETY: as above.
unsafe impl Sync for Hook {}

impl Hook {
    fn new(notify: Arc<dyn Notify>, channel: bool) -> Hook {
        let gate = notify.gate().map(NonNull::from);
        Hook {
            notify,
            gate,
            user: None,
            channel,
        }
    }

    /// A channel's wake-up, for a producer it registers.
    pub(crate) fn channel(wake: Arc<dyn Notify>) -> Hook {
        Hook::new(wake, true)
    }

    /// Whether the hook is a channel's wake-up.
    pub(crate) fn is_channel(&self) -> bool {
        self.channel
    }

    /// The one word a lent producer looks at after its commits, calling
    /// the library when it is not zero: the gate of a channel's wake-up
    /// (the channel's consumers sleep behind it), with no notifier of the
    /// user's beside it. `None` for any other hook.
    pub(crate) fn lease_word(&self) -> Option<&AtomicU32> {
        let gate = self.gate()?;
        (self.channel && self.user.is_none()).then_some(gate.word())
    }

    /// The notifier's gate, if it has one.
    #[inline(always)]
    fn gate(&self) -> Option<&Gate> {
        // SAFETY: the gate lives in the notifier `self.notify` owns.
        self.gate.map(|g| unsafe { g.as_ref() })
    }

    /// The hook once a user attaches `user` to a producer that holds
    /// `current` (`None` detaches the user's): a channel's wake-up stays.
    pub(crate) fn attach(current: Option<Hook>, user: Option<Arc<dyn Notify>>) -> Option<Hook> {
        match current {
            Some(h) if h.channel => Some(Hook { user, ..h }),
            _ => user.map(|n| Hook::new(n, false)),
        }
    }

    /// After a commit: calls the notifier unless its gate says there is
    /// nothing to do (and the user's beside a channel's, always). Only the
    /// look at the gate is inline; the calls are not, so that a send stays
    /// small enough to inline into its caller.
    #[inline(always)]
    pub(crate) fn after_commit(&self) {
        if self.user.is_some() || !self.nobody_waits() {
            self.notify_now();
        }
    }

    /// The calls of [`after_commit`](Self::after_commit).
    #[inline(never)]
    fn notify_now(&self) {
        if let Some(user) = &self.user {
            user.notify();
        }
        if !self.nobody_waits() {
            self.notify.notify();
        }
    }

    /// Whether the notifier's gate says nobody waits (false without a
    /// gate). The barrier keeps the load after the commit, as a waker's
    /// does (`wake_if_waiting`; the sleeper's side completes it).
    #[inline(always)]
    fn nobody_waits(&self) -> bool {
        self.gate().is_some_and(|gate| {
            light_barrier();
            gate.word().load(Ordering::Relaxed) == 0
        })
    }
}

/// An eventfd for event loops. Attached to a ring (`set_notifier`), every
/// commit signals it; the consumer sleeps in `epoll_wait` (or
/// `loop.add_reader`) on [`fd`](Self::fd), calls [`consume`](Self::consume)
/// to reset it, and drains the ring.
///
/// Signals coalesce: many commits before a `consume` wake the reader once.
/// Each signal is a system call, so attach it only where the consumer
/// really waits in an event loop; a dedicated consumer thread is better
/// served by the rings' futex waits (a system call only when someone sleeps).
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
