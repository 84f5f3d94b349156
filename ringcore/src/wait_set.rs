//! Waiting on many rings from one thread, for event loops (asyncio).
//!
//! A waiter that must not block (a coroutine) registers on the wake-up word
//! of what it waits for ([`Armed`], from `arm` methods such as
//! [`SlotConsumer::arm`](crate::SlotConsumer::arm)), looks once more, and
//! if there is still nothing hands the registration to its [`WaitSet`].
//! One thread per process sleeps on every registered word at once
//! (`futex_waitv`); when a word moves it reports the registration's token
//! through the set's eventfd, which the event loop watches. No thread per
//! waiter and no polling: a registration that sees no wake-up is reported
//! after [`LIVENESS_SLICE`] anyway, so that the waiter looks at its peer's
//! liveness as often as a blocking call does.

use crate::error::{Error, Result};
use crate::ring::typed::Owner;
use crate::sync::Registration;
use crate::sys::event::EventFd;
use crate::sys::futex::{self, Word, WAIT_ANY_MAX};
use crate::wait::LIVENESS_SLICE;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// A registration on a wake-up word that keeps the memory it points into
/// mapped. Dropping it unregisters.
pub struct Armed {
    registration: Registration,
    _owner: Owner,
}

impl std::fmt::Debug for Armed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Armed")
            .field("word", &self.registration.futex_word())
            .finish_non_exhaustive()
    }
}

impl Armed {
    /// # Safety
    /// The words of `registration` lie in memory that `owner` keeps valid.
    pub(crate) unsafe fn new(registration: Registration, owner: Owner) -> Armed {
        Armed {
            registration,
            _owner: owner,
        }
    }

    /// Whether a wake-up came since arming: look again.
    pub fn woken(&self) -> bool {
        self.registration.woken()
    }
}

/// A set of registrations whose wake-ups an event loop learns through one
/// eventfd ([`fd`](WaitSet::fd)): readable when [`take_woken`](WaitSet::take_woken)
/// has tokens to return.
pub struct WaitSet {
    inner: Arc<SetInner>,
}

impl std::fmt::Debug for WaitSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitSet")
            .field("fd", &self.fd())
            .finish_non_exhaustive()
    }
}

struct SetInner {
    event: EventFd,
    woken: Mutex<Vec<u64>>,
    /// How long a registration waits before it is reported anyway.
    slice: Duration,
}

impl WaitSet {
    /// A new, empty set.
    pub fn new() -> Result<WaitSet> {
        Self::with_slice(LIVENESS_SLICE)
    }

    /// A set whose registrations are reported unwoken after `slice` (tests
    /// use a long one, so that only a real wake-up can report a token).
    pub(crate) fn with_slice(slice: Duration) -> Result<WaitSet> {
        Ok(WaitSet {
            inner: Arc::new(SetInner {
                event: EventFd::new().map_err(Error::Io)?,
                woken: Mutex::new(Vec::new()),
                slice,
            }),
        })
    }

    /// The eventfd that turns readable when tokens are woken.
    pub fn fd(&self) -> RawFd {
        self.inner.event.as_raw_fd()
    }

    /// Hands `armed` to the waiting thread; its token comes back from
    /// [`take_woken`](WaitSet::take_woken) once its word moves (or after
    /// [`LIVENESS_SLICE`]).
    pub fn add(&self, armed: Armed) -> u64 {
        let hub = hub();
        let token = hub.next_token.fetch_add(1, Ordering::Relaxed);
        hub.entries().push(Entry {
            token,
            armed,
            set: Arc::clone(&self.inner),
            since: Instant::now(),
        });
        hub.wake();
        token
    }

    /// Drops the registration of `token` if it is still waiting (a
    /// cancelled waiter); true when it was.
    pub fn remove(&self, token: u64) -> bool {
        let hub = hub();
        let removed = {
            let mut entries = hub.entries();
            let before = entries.len();
            entries.retain(|e| e.token != token);
            before != entries.len()
        };
        if removed {
            hub.wake();
        }
        removed
    }

    /// The tokens woken since the last call, and resets the eventfd.
    pub fn take_woken(&self) -> Vec<u64> {
        self.inner.event.take();
        std::mem::take(&mut *lock(&self.inner.woken))
    }
}

impl Drop for WaitSet {
    fn drop(&mut self) {
        if let Some(hub) = HUB.get() {
            hub.entries().retain(|e| !Arc::ptr_eq(&e.set, &self.inner));
            hub.wake();
        }
    }
}

struct Entry {
    token: u64,
    armed: Armed,
    set: Arc<SetInner>,
    since: Instant,
}

/// The process's waiting thread and what it waits for.
struct Hub {
    entries: Mutex<Vec<Entry>>,
    /// Bumped when `entries` changes, so the thread waits on the new list.
    control: AtomicU32,
    next_token: AtomicU64,
}

static HUB: OnceLock<&'static Hub> = OnceLock::new();

fn hub() -> &'static Hub {
    HUB.get_or_init(|| {
        let hub: &'static Hub = Box::leak(Box::new(Hub {
            entries: Mutex::new(Vec::new()),
            control: AtomicU32::new(0),
            next_token: AtomicU64::new(1),
        }));
        std::thread::Builder::new()
            .name("ringmpsc-waitset".into())
            .spawn(move || hub.run())
            .expect("a thread for the wait set");
        hub
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    fn entries(&self) -> MutexGuard<'_, Vec<Entry>> {
        lock(&self.entries)
    }

    /// Makes the thread wait on the changed list.
    fn wake(&self) {
        self.control.fetch_add(1, Ordering::Release);
        futex::wake_all(&self.control, false);
    }

    fn control_word(&self, expected: u32) -> Word {
        Word {
            addr: self.control.as_ptr() as usize,
            expected,
            shared: false,
        }
    }

    fn run(&self) {
        loop {
            let control = self.control.load(Ordering::Acquire);
            let mut words = vec![self.control_word(control)];
            let mut timeout = Duration::from_secs(3600);
            {
                let entries = self.entries();
                for e in entries.iter() {
                    let w = e.armed.registration.futex_word();
                    if !words.contains(&w) {
                        words.push(w);
                    }
                    let left = e.set.slice.saturating_sub(e.since.elapsed());
                    timeout = timeout.min(e.armed.registration.cap(left));
                }
            }
            if words.len() > WAIT_ANY_MAX {
                // More distinct words than one wait takes: look often.
                timeout = timeout.min(Duration::from_millis(1));
            }
            if futex::wait_any(&words, timeout).is_err() {
                // A kernel without futex_waitv (before 5.16): look often.
                std::thread::sleep(timeout.min(Duration::from_millis(1)));
            }
            self.report();
        }
    }

    /// Hands every woken or overdue registration's token to its set.
    fn report(&self) {
        let mut entries = self.entries();
        let mut sets: Vec<Arc<SetInner>> = Vec::new();
        entries.retain(|e| {
            // A settled registration is handed back by its cap at the
            // latest, for its set to look again.
            let limit = e.armed.registration.cap(e.set.slice);
            if !e.armed.woken() && e.since.elapsed() < limit {
                return true;
            }
            lock(&e.set.woken).push(e.token);
            if !sets.iter().any(|s| Arc::ptr_eq(s, &e.set)) {
                sets.push(Arc::clone(&e.set));
            }
            false
        });
        drop(entries);
        for s in sets {
            s.event.signal();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, SlotRing};

    /// Waits up to `timeout` for the set's eventfd to turn readable.
    fn readable(set: &WaitSet, timeout: Duration) -> bool {
        let mut pfd = libc::pollfd {
            fd: set.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd.
        unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as i32) == 1 }
    }

    #[test]
    fn a_commit_wakes_the_registration_and_only_its_token_comes_back() {
        let (mut tx, rx) = SlotRing::new(Config::with_ring_bits(4), 8).unwrap();
        // No liveness report within the test's 5 s: only the commit's
        // wake-up can report the token, so a lost wake-up fails.
        let set = WaitSet::with_slice(Duration::from_secs(3600)).unwrap();
        let token = set.add(rx.arm());
        let other = set.add(rx.arm());
        assert!(set.remove(other));
        assert!(!set.remove(other));
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            assert!(tx.send_one(&[1; 8]).unwrap());
            tx
        });
        assert!(readable(&set, Duration::from_secs(5)));
        assert_eq!(set.take_woken(), vec![token]);
        assert!(set.take_woken().is_empty());
        drop(sender.join().unwrap());
    }

    #[test]
    fn an_idle_registration_is_reported_after_the_liveness_slice() {
        let (_tx, rx) = SlotRing::new(Config::with_ring_bits(4), 8).unwrap();
        let set = WaitSet::new().unwrap();
        let started = Instant::now();
        let token = set.add(rx.arm());
        assert!(readable(&set, Duration::from_secs(5)));
        assert!(started.elapsed() >= LIVENESS_SLICE);
        assert_eq!(set.take_woken(), vec![token]);
    }

    #[test]
    fn many_registrations_on_many_rings_each_come_back_once() {
        let rings: Vec<_> = (0..200)
            .map(|_| SlotRing::new(Config::with_ring_bits(2), 8).unwrap())
            .collect();
        // An hour-long slice: a lost wake-up fails the test, no liveness
        // report covers it.
        let set = WaitSet::with_slice(Duration::from_secs(3600)).unwrap();
        let mut tokens: Vec<u64> = rings.iter().map(|(_, rx)| set.add(rx.arm())).collect();
        let mut rings = rings;
        for (tx, _) in rings.iter_mut() {
            assert!(tx.send_one(&[7; 8]).unwrap());
        }
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.len() < tokens.len() && Instant::now() < deadline {
            if readable(&set, Duration::from_millis(100)) {
                seen.extend(set.take_woken());
            }
        }
        seen.sort_unstable();
        tokens.sort_unstable();
        assert_eq!(seen, tokens);
    }
}
