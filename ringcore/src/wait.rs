//! How a thread waits when a ring is empty (consumer) or full (producer).
//!
//! [`Backoff`] is the building block (spin, then yield); [`WaitStrategy`]
//! picks how far a wait escalates (spin, yield, sleep, or block on a futex);
//! [`Waiter`] runs a strategy step by step for a retry loop.

use crate::error::{Error, Result};
use std::time::{Duration, Instant};

/// Exponential spin-then-yield backoff for retry loops (crossbeam's):
/// steps 0..=6 spin `2^step` times (1 to 64 `pause` instructions), long
/// enough for a peer on another core to finish a store and short enough to
/// stay below a cache miss or two; steps 7..=10 yield the CPU; then
/// `is_completed` tells the caller to block instead.
///
/// ```
/// use ringcore::Backoff;
/// let b = Backoff::new();
/// while !b.is_completed() {
///     b.snooze();
/// }
/// b.reset();
/// ```
pub use crossbeam_utils::Backoff;

/// How often a wait that must look at something besides its wake-up (the
/// peer's liveness, pending signals) does so: a blocking call sees a dead
/// peer, or answers Ctrl-C, within this.
pub const LIVENESS_SLICE: Duration = Duration::from_millis(50);

/// A deadline cut into slices: the one shape of every wait that looks at
/// something else between sleeps.
///
/// ```
/// use ringcore::Deadline;
/// use std::time::Duration;
/// let d = Deadline::after(Some(Duration::from_millis(120)));
/// while let Some(slice) = d.slice(Duration::from_millis(50)) {
///     assert!(slice <= Duration::from_millis(50));
///     std::thread::sleep(slice); // or park on a futex for `slice`
/// }
/// assert_eq!(d.left(), Some(Duration::ZERO));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    end: Option<Instant>,
}

impl Deadline {
    /// `timeout` from now (`None`, or a time too far to represent: never).
    pub fn after(timeout: Option<Duration>) -> Deadline {
        Deadline {
            end: timeout.and_then(|t| Instant::now().checked_add(t)),
        }
    }

    /// Whether the deadline has passed.
    pub fn passed(&self) -> bool {
        self.slice(Duration::MAX).is_none()
    }

    /// The next sleep: the time left, at most `slice` (all of `slice` when
    /// there is no deadline); `None` once the deadline has passed.
    pub fn slice(&self, slice: Duration) -> Option<Duration> {
        match self.end {
            None => Some(slice),
            Some(end) => match end.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left.min(slice)),
                _ => None,
            },
        }
    }

    /// Time left (`None`: no deadline); zero once passed.
    pub fn left(&self) -> Option<Duration> {
        self.end
            .map(|e| e.saturating_duration_since(Instant::now()))
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
    /// Spin `pause` before each retry, then, after [`PACED_RETRIES`] of
    /// them in a row, block like [`Blocking`](WaitStrategy::Blocking).
    /// For a consumer of a stream: while it waits, items build up for its
    /// next batch, where a consumer that looks again at once reads the
    /// producer's position and slots as the producer writes them, moving
    /// those cache lines between the CPUs for every few items. In the MPSC
    /// bench's pinned runs about a microsecond took single-item producers
    /// from 20-28 to 54-96 M items/s (README, performance), for up to
    /// `pause` more latency per wait.
    ///
    /// A polling loop paces itself with a [`Waiter`], parking in its own
    /// wait (here a transport server's):
    ///
    /// ```no_run
    /// use ringcore::msg::transport::{Server, ServerOptions};
    /// use ringcore::{WaitStrategy, Waiter};
    /// use std::time::Duration;
    /// let mut server = Server::create("paced-demo", ServerOptions::default())?;
    /// let pause = Duration::from_micros(1);
    /// let mut waiter = Waiter::new(WaitStrategy::Paced { pause });
    /// loop {
    ///     match server.serve(4096, |r| println!("{} bytes", r.payload().len()))? {
    ///         0 => waiter.wait_with(|_| {
    ///             let _ = server.wait(Some(Duration::from_millis(50)));
    ///         })?,
    ///         _ => waiter.reset(),
    ///     }
    /// }
    /// # Ok::<(), ringcore::Error>(())
    /// ```
    Paced {
        /// Spin this long before each retry.
        pause: Duration,
    },
}

/// Retries a [`WaitStrategy::Paced`] wait spins before it blocks.
pub const PACED_RETRIES: u32 = 16;

/// Spin steps of a bounded wait per look at the clock.
const SPINS_PER_CLOCK: u32 = 64;

/// The longest pause [`WaitStrategy::paced`] takes: a longer one spins a
/// core where sleeping would do.
pub const MAX_PACE: Duration = Duration::from_millis(1);

impl WaitStrategy {
    /// `TimedBlocking` for `timeout`, or `Blocking` for `None`.
    pub fn blocking_for(timeout: Option<Duration>) -> Self {
        match timeout {
            Some(timeout) => WaitStrategy::TimedBlocking { timeout },
            None => WaitStrategy::Blocking,
        }
    }

    /// [`Paced`](WaitStrategy::Paced) with `pause`, checked as the C and
    /// Python event loops check it: `InvalidArgument` unless it is more
    /// than zero and at most [`MAX_PACE`].
    pub fn paced(pause: Duration) -> Result<Self> {
        if pause.is_zero() || pause > MAX_PACE {
            return Err(Error::InvalidArgument(format!(
                "a paced wait takes a pause of 1 ns to {MAX_PACE:?}, not {pause:?}"
            )));
        }
        Ok(WaitStrategy::Paced { pause })
    }
}

/// One step of a [`Waiter`].
enum Step {
    /// A spin-loop hint.
    Spin,
    /// The backoff's next step: spins, growing, then yields.
    Snooze,
    /// Give the CPU away once.
    Yield,
    /// Spin this long.
    Pace(Duration),
    /// Sleep this long.
    Sleep(Duration),
    /// Block until woken (or the deadline).
    Park,
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
#[derive(Debug)]
pub struct Waiter {
    strategy: WaitStrategy,
    backoff: Backoff,
    steps: u32,
    /// How long a wait may take in all (`TimedBlocking`'s timeout).
    limit: Option<Duration>,
    deadline: Option<Instant>,
}

impl Waiter {
    /// A waiter at its first step.
    pub fn new(strategy: WaitStrategy) -> Self {
        let limit = match strategy {
            WaitStrategy::TimedBlocking { timeout } => Some(timeout),
            _ => None,
        };
        Waiter {
            strategy,
            backoff: Backoff::new(),
            steps: 0,
            limit,
            deadline: None,
        }
    }

    /// A waiter of any strategy that gives up with [`Error::TimedOut`]
    /// after `limit` (or the strategy's own timeout, if shorter): for a
    /// loop that must look at something else now and then, whatever its
    /// strategy.
    pub(crate) fn within(strategy: WaitStrategy, limit: Duration) -> Self {
        let mut w = Waiter::new(strategy);
        w.limit = Some(w.limit.map_or(limit, |l| l.min(limit)));
        w
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

    /// Starts the time limit over, keeping the phase: a loop that looked at
    /// something else after a time-out waits on from the step it reached
    /// (a paced or blocking wait goes on sleeping, not spinning again).
    pub(crate) fn renew(&mut self) {
        self.deadline = None;
    }

    /// What the next call of [`wait_with`](Self::wait_with) does: the
    /// phases of every strategy, in one place.
    fn next_step(&self) -> Step {
        let step = self.steps.saturating_add(1);
        let backed_off = self.backoff.is_completed();
        match self.strategy {
            WaitStrategy::BusySpin => Step::Spin,
            WaitStrategy::Sleeping { sleep } if backed_off => Step::Sleep(sleep),
            WaitStrategy::Blocking | WaitStrategy::TimedBlocking { .. } if backed_off => Step::Park,
            WaitStrategy::Yielding
            | WaitStrategy::Sleeping { .. }
            | WaitStrategy::Blocking
            | WaitStrategy::TimedBlocking { .. } => Step::Snooze,
            WaitStrategy::PhasedBackoff {
                spin_iterations, ..
            } if step <= spin_iterations => Step::Spin,
            WaitStrategy::PhasedBackoff {
                spin_iterations,
                yield_iterations,
            } if step <= spin_iterations.saturating_add(yield_iterations) => Step::Yield,
            WaitStrategy::PhasedBackoff { .. } => Step::Park,
            WaitStrategy::Paced { pause } if step <= PACED_RETRIES => Step::Pace(pause),
            WaitStrategy::Paced { .. } => Step::Park,
        }
    }

    /// Whether its next step sleeps (parks, or sleeps a while) rather than
    /// spins or yields.
    pub(crate) fn settled(&self) -> bool {
        matches!(self.next_step(), Step::Sleep(_) | Step::Park)
    }

    /// Time left before the deadline, `None` when the wait has none.
    /// Errors with [`Error::TimedOut`] once it has passed.
    fn time_left(&mut self) -> Result<Option<Duration>> {
        let Some(timeout) = self.limit else {
            return Ok(None);
        };
        let deadline = *self.deadline.get_or_insert_with(|| {
            let now = Instant::now();
            // A timeout too far to represent waits a century instead.
            now.checked_add(timeout)
                .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
        });
        match deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ => Err(Error::TimedOut),
        }
    }

    /// One waiting step; `park(time_left)` is called in the blocking phase.
    pub fn wait_with(&mut self, park: impl FnOnce(Option<Duration>)) -> Result<()> {
        let step = self.next_step();
        // A spin takes a few nanoseconds and a clock read can take tens (a
        // virtual machine's clock): a bounded spin looks at it one step in
        // SPINS_PER_CLOCK (every step once `steps` saturates).
        let left =
            if matches!(step, Step::Spin) && self.steps % SPINS_PER_CLOCK != SPINS_PER_CLOCK - 1 {
                None
            } else {
                self.time_left()?
            };
        self.steps = self.steps.saturating_add(1);
        match step {
            Step::Spin => std::hint::spin_loop(),
            Step::Snooze => self.backoff.snooze(),
            Step::Yield => std::thread::yield_now(),
            Step::Pace(pause) => {
                let pause = left.map_or(pause, |l| l.min(pause));
                let start = Instant::now();
                while start.elapsed() < pause {
                    std::hint::spin_loop();
                }
            }
            Step::Sleep(sleep) => std::thread::sleep(left.map_or(sleep, |l| l.min(sleep))),
            Step::Park => park(left),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paced_spins_its_pause_before_each_retry_then_blocks() {
        let pause = Duration::from_micros(200);
        let mut w = Waiter::new(WaitStrategy::Paced { pause });
        for round in 0..2 {
            let start = Instant::now();
            for _ in 0..PACED_RETRIES {
                assert!(!w.settled());
                w.wait_with(|_| panic!("parked in the paced phase"))
                    .unwrap();
            }
            assert!(start.elapsed() >= pause * PACED_RETRIES, "round {round}");
            assert!(w.settled());
            let mut parked = false;
            w.wait_with(|left| parked = left.is_none()).unwrap();
            assert!(parked, "round {round}: blocks after the paced retries");
            // Progress starts the paced phase over.
            w.progress();
        }
    }

    #[test]
    fn paced_takes_a_pause_of_a_nanosecond_to_max_pace() {
        let ns = Duration::from_nanos(1);
        for ok in [ns, MAX_PACE] {
            assert_eq!(
                WaitStrategy::paced(ok).unwrap(),
                WaitStrategy::Paced { pause: ok }
            );
        }
        for bad in [Duration::ZERO, MAX_PACE + ns] {
            assert!(matches!(
                WaitStrategy::paced(bad),
                Err(Error::InvalidArgument(_))
            ));
        }
    }

    #[test]
    fn a_bounded_waiter_times_out_whatever_its_strategy() {
        let limit = Duration::from_millis(5);
        let hour = Duration::from_secs(3600);
        let cases = [
            (WaitStrategy::BusySpin, limit),
            (WaitStrategy::Paced { pause: hour }, limit),
            (WaitStrategy::Sleeping { sleep: hour }, limit),
            (WaitStrategy::Blocking, limit),
            // The shorter of the two limits, whichever it is.
            (WaitStrategy::TimedBlocking { timeout: hour }, limit),
            (WaitStrategy::TimedBlocking { timeout: limit }, hour),
        ];
        for (s, within) in cases {
            let mut w = Waiter::within(s, within);
            let start = Instant::now();
            let outcome = loop {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "{s:?}: no time-out"
                );
                // A park gets the time left, never an unbounded sleep.
                let park = |left: Option<Duration>| std::thread::sleep(left.unwrap());
                if let Err(e) = w.wait_with(park) {
                    break e;
                }
            };
            assert!(matches!(outcome, Error::TimedOut), "{s:?}");
            assert!(start.elapsed() >= limit, "{s:?}");
            // Renewed, it waits on from where it was, with a new limit.
            let settled = w.settled();
            w.renew();
            assert_eq!(w.settled(), settled, "{s:?}");
            assert!(w.wait_with(|left| assert!(left.is_some())).is_ok(), "{s:?}");
        }
    }
}
