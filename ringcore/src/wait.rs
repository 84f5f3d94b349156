//! How a thread waits when a ring is empty (consumer) or full (producer).
//!
//! [`Backoff`] is the building block (spin, then yield); [`WaitStrategy`]
//! picks how far a wait escalates (spin, yield, sleep, or block on a futex);
//! [`Waiter`] runs a strategy step by step for a retry loop.

use crate::error::{Error, Result};
use std::time::{Duration, Instant};

/// Exponential spin-then-yield backoff for retry loops.
///
/// Steps 0..=6 spin `2^step` times (1 to 64 `pause` instructions): long
/// enough to let a peer on another core finish a store, short enough to stay
/// below a cache miss or two. Steps 7..=10 call `sched_yield`. After that
/// [`is_completed`](Backoff::is_completed) tells the caller to block instead.
///
/// ```
/// use ringcore::Backoff;
/// let mut b = Backoff::new();
/// while !b.is_completed() {
///     b.snooze();
/// }
/// b.reset();
/// ```
#[derive(Debug, Default, Clone)]
pub struct Backoff {
    step: u32,
}

impl Backoff {
    /// Last step that spins: 2^6 = 64 pause instructions.
    const SPIN_LIMIT: u32 = 6;
    /// Last step that yields; beyond it the backoff is completed.
    const YIELD_LIMIT: u32 = 10;

    /// A fresh backoff at step 0.
    pub const fn new() -> Self {
        Backoff { step: 0 }
    }

    /// Spins `2^step` times (capped at 64) and moves to the next spin step.
    #[inline]
    pub fn spin(&mut self) {
        for _ in 0..1u32 << self.step.min(Self::SPIN_LIMIT) {
            std::hint::spin_loop();
        }
        if self.step <= Self::SPIN_LIMIT {
            self.step += 1;
        }
    }

    /// Spins during the spin phase, then yields the CPU, then stays completed.
    pub fn snooze(&mut self) {
        if self.step <= Self::SPIN_LIMIT {
            for _ in 0..1u32 << self.step {
                std::hint::spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
        if self.step <= Self::YIELD_LIMIT {
            self.step += 1;
        }
    }

    /// True once the yield phase is over: time to block instead of retrying.
    pub fn is_completed(&self) -> bool {
        self.step > Self::YIELD_LIMIT
    }

    /// Starts over at step 0 (after a successful retry).
    pub fn reset(&mut self) {
        self.step = 0;
    }
}

/// How far a wait escalates while the ring is empty or full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitStrategy {
    /// Spin with `pause`: lowest latency, one core at 100%.
    BusySpin,
    /// Spin briefly, then `sched_yield` on every retry.
    Yielding,
    /// Spin, yield, then sleep `sleep` between retries.
    Sleeping {
        /// Sleep between retries once the yield phase is over.
        sleep: Duration,
    },
    /// Spin, yield, then sleep on a futex until the peer wakes us: no CPU while idle.
    #[default]
    Blocking,
    /// [`Blocking`](WaitStrategy::Blocking) that gives up with [`Error::TimedOut`] after `timeout`.
    TimedBlocking {
        /// Total time the wait may take.
        timeout: Duration,
    },
    /// Spin `spin_iterations` times, yield `yield_iterations` times, then block on a futex.
    PhasedBackoff {
        /// Retries that spin.
        spin_iterations: u32,
        /// Retries that yield, after the spins.
        yield_iterations: u32,
    },
}

impl WaitStrategy {
    /// `TimedBlocking` for `timeout`, or `Blocking` for `None`.
    pub fn blocking_for(timeout: Option<Duration>) -> Self {
        match timeout {
            Some(timeout) => WaitStrategy::TimedBlocking { timeout },
            None => WaitStrategy::Blocking,
        }
    }
}

/// Runs a [`WaitStrategy`] one retry at a time.
///
/// Call [`wait_with`](Waiter::wait_with) each time a retry finds nothing to
/// do; `park` is called in the blocking phase with the time left and should
/// sleep until the peer makes progress (the rings pass their futex wait).
///
/// ```
/// use ringcore::{Waiter, WaitStrategy};
/// use std::time::Duration;
/// let mut w = Waiter::new(WaitStrategy::TimedBlocking { timeout: Duration::from_millis(5) });
/// let mut polls = 0;
/// let outcome = loop {
///     polls += 1; // poll the resource here
///     if let Err(e) = w.wait() { break e; }
/// };
/// assert!(matches!(outcome, ringcore::Error::TimedOut));
/// assert!(polls > 1);
/// ```
#[derive(Debug, Clone)]
pub struct Waiter {
    strategy: WaitStrategy,
    backoff: Backoff,
    steps: u32,
    deadline: Option<Instant>,
}

impl Waiter {
    /// A waiter at its first step.
    pub fn new(strategy: WaitStrategy) -> Self {
        Waiter {
            strategy,
            backoff: Backoff::new(),
            steps: 0,
            deadline: None,
        }
    }

    /// The strategy this waiter runs.
    pub fn strategy(&self) -> WaitStrategy {
        self.strategy
    }

    /// Starts over (after a successful retry); the deadline restarts too.
    pub fn reset(&mut self) {
        self.backoff.reset();
        self.steps = 0;
        self.deadline = None;
    }

    /// Progress was made within a longer operation: start spinning again,
    /// keep the deadline.
    pub fn progress(&mut self) {
        self.backoff.reset();
        self.steps = 0;
    }

    /// Time left before the deadline, `None` when the strategy has none.
    /// Errors with [`Error::TimedOut`] once it has passed.
    fn time_left(&mut self) -> Result<Option<Duration>> {
        let WaitStrategy::TimedBlocking { timeout } = self.strategy else {
            return Ok(None);
        };
        let deadline = *self
            .deadline
            .get_or_insert_with(|| Instant::now() + timeout);
        match deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ => Err(Error::TimedOut),
        }
    }

    /// One waiting step; `park(time_left)` is called in the blocking phase.
    pub fn wait_with(&mut self, park: impl FnOnce(Option<Duration>)) -> Result<()> {
        let left = self.time_left()?;
        self.steps = self.steps.saturating_add(1);
        match self.strategy {
            WaitStrategy::BusySpin => std::hint::spin_loop(),
            WaitStrategy::Yielding => self.backoff.snooze(),
            WaitStrategy::Sleeping { sleep } => {
                if self.backoff.is_completed() {
                    std::thread::sleep(sleep);
                } else {
                    self.backoff.snooze();
                }
            }
            WaitStrategy::Blocking | WaitStrategy::TimedBlocking { .. } => {
                if self.backoff.is_completed() {
                    park(left);
                } else {
                    self.backoff.snooze();
                }
            }
            WaitStrategy::PhasedBackoff {
                spin_iterations,
                yield_iterations,
            } => {
                if self.steps <= spin_iterations {
                    std::hint::spin_loop();
                } else if self.steps <= spin_iterations.saturating_add(yield_iterations) {
                    std::thread::yield_now();
                } else {
                    park(left);
                }
            }
        }
        Ok(())
    }

    /// One waiting step with no wake-up source: the blocking phases sleep in
    /// short slices (at most 100 µs) instead of on a futex.
    pub fn wait(&mut self) -> Result<()> {
        self.wait_with(|left| {
            let slice = Duration::from_micros(100);
            std::thread::sleep(left.map_or(slice, |l| l.min(slice)));
        })
    }
}
