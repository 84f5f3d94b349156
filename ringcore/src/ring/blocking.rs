//! Waiting for space or data on top of the index protocol, shared by every
//! ring flavour.

use super::raw::{ConsumerCursor, ProducerCursor, Side};
use crate::error::{Error, Result};
use crate::metrics::RingMetrics;
use crate::sync::Ordering;
use crate::sys::process;
use crate::wait::{Waiter, LIVENESS_SLICE};
use std::time::{Duration, Instant};

/// How long a side's heartbeat (stamped every 20 ms) must have been silent
/// before its process, gone from this pid namespace, counts as dead: a
/// process of another namespace that shares the segment keeps beating.
const SILENT_AFTER: Duration = Duration::from_secs(1);

/// The other side of a ring other processes may hold, looked at every
/// [`LIVENESS_SLICE`] while a wait goes on: a process killed with the ring
/// open never closes it, and a wait for it would last for ever. A side no
/// process holds (pid 0) is waited for; one whose process died is
/// `Disconnected`. Rings of one process are never looked at.
pub(crate) struct PeerWatch {
    /// Other processes may hold a side.
    shared: bool,
    /// Turns of the wait loop so far.
    turns: u32,
    /// When to look next (`None`: at the first chance).
    next: Option<Instant>,
}

impl PeerWatch {
    pub(crate) fn new(process_shared: bool) -> PeerWatch {
        PeerWatch {
            shared: process_shared,
            turns: 0,
            next: None,
        }
    }

    /// Once a turn of a wait by `waiter`: `Disconnected` once the process
    /// holding `side` is gone and its heartbeat silent. It reads the clock
    /// only before a sleep, or every 1024 turns of a spinning wait (a turn
    /// is a few nanoseconds there): the first look comes when the wait
    /// starts to sleep or at its 1024th turn, then at most every
    /// [`LIVENESS_SLICE`].
    pub(crate) fn look(&mut self, waiter: &Waiter, side: Side<'_>) -> Result<()> {
        if !self.shared {
            return Ok(());
        }
        self.turns = self.turns.wrapping_add(1);
        if !waiter.settled() && self.turns % 1024 != 0 {
            return Ok(());
        }
        let now = Instant::now();
        if self.next.is_some_and(|next| now < next) {
            return Ok(());
        }
        self.next = Some(now + LIVENESS_SLICE);
        // Acquire pairs with the holder's Release stamps of its words.
        let pid = side.pid.load(Ordering::Acquire);
        let beat = side.heartbeat.load(Ordering::Acquire);
        let silent = !process::stamped_within(beat, SILENT_AFTER);
        // A holder of another pid namespace has only its heartbeat to tell.
        let foreign = process::foreign_namespace(side.pidns.load(Ordering::Acquire));
        if pid != 0 && silent && (foreign || !process::pid_exists(pid)) {
            return Err(Error::Disconnected);
        }
        Ok(())
    }

    /// A sleep of at most `left`, cut to [`LIVENESS_SLICE`] where the other
    /// side is watched, so that the next look comes in time.
    pub(crate) fn cap(&self, left: Option<Duration>) -> Option<Duration> {
        if !self.shared {
            return left;
        }
        Some(left.map_or(LIVENESS_SLICE, |l| l.min(LIVENESS_SLICE)))
    }
}

impl ProducerCursor {
    /// Waits by `waiter`'s strategy until at least one slot is free.
    /// Errors: `Closed`, `TimedOut`, `Corrupt`.
    pub(crate) fn wait_for_space(
        &mut self,
        waiter: &mut Waiter,
        metrics: Option<&RingMetrics>,
    ) -> Result<()> {
        self.wait_for_free(1, waiter, metrics)
    }

    /// Waits until `want` slots (at most the capacity) are free.
    pub(crate) fn wait_for_free(
        &mut self,
        want: usize,
        waiter: &mut Waiter,
        metrics: Option<&RingMetrics>,
    ) -> Result<()> {
        let want = want.clamp(1, self.capacity());
        let started = metrics.map(|_| Instant::now());
        let mut peer = PeerWatch::new(self.raw.process_shared());
        loop {
            if self.is_closed() {
                return Err(self.closed_error());
            }
            let free = self
                .free(want)
                .map_err(|c| self.unless_truncated(c.into()))?;
            if free >= want {
                break;
            }
            if let Some(m) = metrics {
                m.on_reserve_retry();
            }
            peer.look(waiter, self.raw.indices().consumer.holder())?;
            waiter.wait_with(|left| self.park(want, peer.cap(left)))?;
        }
        waiter.progress();
        if let (Some(m), Some(t)) = (metrics, started) {
            m.on_producer_wait(t.elapsed());
        }
        Ok(())
    }
}

impl ConsumerCursor {
    /// Why nothing is readable: `Corrupt`, `Closed` (closed and drained) or `Empty`.
    #[inline]
    pub(crate) fn empty_reason(&self) -> Error {
        self.empty_reason_past(0)
    }

    /// Why no more than the first `skip` readable items are: as
    /// [`empty_reason`](Self::empty_reason), `Closed` when nothing is left
    /// past them.
    #[inline]
    pub(crate) fn empty_reason_past(&self, skip: usize) -> Error {
        if !self.is_closed() {
            return Error::Empty;
        }
        // Closed is final only once nothing is left: the producer may have
        // committed just before closing, so look again after seeing it.
        match self.available(skip + 1) {
            Err(c) => self.unless_truncated(c.into()),
            Ok(n) if n <= skip => self.closed_error(),
            Ok(_) => Error::Empty,
        }
    }

    /// Waits by `waiter`'s strategy until at least one item is readable.
    /// Errors: `Closed` once closed and drained, `TimedOut`, `Corrupt`.
    pub(crate) fn wait_for_data(
        &mut self,
        waiter: &mut Waiter,
        metrics: Option<&RingMetrics>,
    ) -> Result<()> {
        self.wait_for_data_past(0, waiter, metrics)
    }

    /// [`wait_for_data`](Self::wait_for_data) for an item past the first
    /// `skip` readable ones (which a caller holds on to without freeing).
    pub(crate) fn wait_for_data_past(
        &mut self,
        skip: usize,
        waiter: &mut Waiter,
        metrics: Option<&RingMetrics>,
    ) -> Result<()> {
        let started = metrics.map(|_| Instant::now());
        let mut peer = PeerWatch::new(self.raw.process_shared());
        while self
            .available(skip + 1)
            .map_err(|c| self.unless_truncated(c.into()))?
            <= skip
        {
            match self.empty_reason_past(skip) {
                Error::Empty => {}
                e => return Err(e),
            }
            peer.look(waiter, self.raw.indices().producer.holder())?;
            waiter.wait_with(|left| self.park_past(skip, peer.cap(left)))?;
        }
        waiter.progress();
        if let (Some(m), Some(t)) = (metrics, started) {
            m.on_consumer_wait(t.elapsed());
        }
        Ok(())
    }
}
