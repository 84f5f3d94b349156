//! Waiting for space or data on top of the index protocol, shared by every
//! ring flavour.

use super::raw::{ConsumerCursor, ProducerCursor};
use crate::error::{Error, Result};
use crate::metrics::RingMetrics;
use crate::wait::Waiter;
use std::time::Instant;

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
        loop {
            if self.is_closed() {
                return Err(Error::Closed);
            }
            if self.free(want)? >= want {
                break;
            }
            if let Some(m) = metrics {
                m.on_reserve_retry();
            }
            waiter.wait_with(|left| self.park(want, left))?;
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
            Err(c) => c.into(),
            Ok(n) if n <= skip => Error::Closed,
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
        while self.available(skip + 1)? <= skip {
            match self.empty_reason_past(skip) {
                Error::Empty => {}
                e => return Err(e),
            }
            waiter.wait_with(|left| self.park_past(skip, left))?;
        }
        waiter.progress();
        if let (Some(m), Some(t)) = (metrics, started) {
            m.on_consumer_wait(t.elapsed());
        }
        Ok(())
    }
}
