//! Waiting for space or data on top of the index protocol, shared by every
//! ring flavour.

use super::raw::RawRing;
use crate::error::{Error, Result};
use crate::metrics::RingMetrics;
use crate::wait::Waiter;
use std::time::Instant;

impl RawRing {
    /// Why a consumer found nothing: `Corrupt`, `Closed` (closed and
    /// drained) or `Empty`.
    pub(crate) fn empty_reason(&self) -> Error {
        if let Err(c) = self.validate() {
            return c.into();
        }
        // Closed is final only once nothing is left: the producer may have
        // committed just before closing.
        if self.is_closed() && self.len() == 0 {
            Error::Closed
        } else {
            Error::Empty
        }
    }

    /// Producer: waits by `waiter`'s strategy until at least one slot is free.
    pub(crate) fn wait_for_space(
        &self,
        waiter: &mut Waiter,
        metrics: Option<&RingMetrics>,
    ) -> Result<()> {
        let started = metrics.map(|_| Instant::now());
        loop {
            if self.is_closed() {
                return Err(Error::Closed);
            }
            if self.free(1)?.1 > 0 {
                break;
            }
            if let Some(m) = metrics {
                m.on_reserve_retry();
            }
            waiter.wait_with(|left| self.park_producer(1, left))?;
        }
        waiter.progress();
        if let (Some(m), Some(t)) = (metrics, started) {
            m.on_producer_wait(t.elapsed());
        }
        Ok(())
    }

    /// Consumer: waits by `waiter`'s strategy until at least one item is readable;
    /// `Closed` once the ring is closed and drained.
    pub(crate) fn wait_for_data(
        &self,
        waiter: &mut Waiter,
        metrics: Option<&RingMetrics>,
    ) -> Result<()> {
        let started = metrics.map(|_| Instant::now());
        while self.available(1)?.1 == 0 {
            match self.empty_reason() {
                Error::Empty => {}
                e => return Err(e),
            }
            waiter.wait_with(|left| self.park_consumer(left))?;
        }
        waiter.progress();
        if let (Some(m), Some(t)) = (metrics, started) {
            m.on_consumer_wait(t.elapsed());
        }
        Ok(())
    }
}
