//! [`SlotClaimer`]: the one vocabulary of the consumers that claim items
//! (SPMC and MPMC), so that a binding holds either as one type.

use super::{mpmc, spmc};
use crate::error::Result;
use crate::wait::WaitStrategy;

/// A consumer of an SPMC or MPMC channel of byte slots.
pub trait SlotClaimer: Send {
    /// Bytes per item.
    fn slot_size(&self) -> usize;

    /// Claims as many whole items as `out` holds and copies them in;
    /// returns the count (0: nothing unclaimed).
    fn steal(&mut self, out: &mut [u8]) -> usize;

    /// [`steal`](Self::steal), waiting by `strategy` while nothing is
    /// unclaimed. `Closed` once the channel is closed and drained.
    fn steal_blocking(&mut self, out: &mut [u8], strategy: WaitStrategy) -> Result<usize>;

    /// Claims a batch (up to 4096 items) and calls `f` on each in place;
    /// returns the count.
    fn consume_batch(&mut self, f: &mut dyn FnMut(&[u8])) -> usize;

    /// Claims up to `max` items and calls `f` on each in place (so a
    /// binding copies each once, into the object it returns); returns the
    /// count, 0 only when nothing is unclaimed anywhere. `f` runs while
    /// the items are claimed, delaying the other consumers' frees: keep it short.
    fn consume_up_to(&mut self, max: usize, f: &mut dyn FnMut(&[u8])) -> usize;

    /// Waits by `strategy` until something is unclaimed (another consumer
    /// may claim it first). `Closed` once the channel is closed and drained.
    fn wait_for_data(&mut self, strategy: WaitStrategy) -> Result<()>;
}

/// Both consumers already speak the vocabulary; the trait only names it.
macro_rules! slot_claimer {
    ($t:ty) => {
        impl SlotClaimer for $t {
            fn slot_size(&self) -> usize {
                <$t>::slot_size(self)
            }
            fn steal(&mut self, out: &mut [u8]) -> usize {
                <$t>::steal(self, out)
            }
            fn steal_blocking(&mut self, out: &mut [u8], strategy: WaitStrategy) -> Result<usize> {
                <$t>::steal_blocking(self, out, strategy)
            }
            fn consume_batch(&mut self, f: &mut dyn FnMut(&[u8])) -> usize {
                <$t>::consume_batch(self, f)
            }
            fn consume_up_to(&mut self, max: usize, f: &mut dyn FnMut(&[u8])) -> usize {
                <$t>::consume_up_to(self, max, f)
            }
            fn wait_for_data(&mut self, strategy: WaitStrategy) -> Result<()> {
                <$t>::wait_for_data(self, strategy)
            }
        }
    };
}

slot_claimer!(spmc::SlotConsumer);
slot_claimer!(mpmc::SlotConsumer);
