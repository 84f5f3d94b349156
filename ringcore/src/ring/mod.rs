//! The SPSC ring: one index protocol (`raw`), typed handles over it
//! ([`Producer`], [`Consumer`]), heap rings of `T` ([`Ring`]) and rings of
//! run-time-sized byte slots ([`SlotRing`]) for the C and Python APIs.

pub(crate) mod blocking;
pub(crate) mod heap;
pub(crate) mod lease;
pub(crate) mod observer;
pub(crate) mod raw;
pub(crate) mod slots;
pub(crate) mod typed;

/// Status and lifecycle methods shared by every ring handle (`self.cur`,
/// a cursor, and `self.metrics`).
macro_rules! status_methods {
    () => {
        /// Number of slots.
        #[inline]
        pub fn capacity(&self) -> usize {
            self.cur.capacity()
        }

        /// Items waiting to be read.
        pub fn len(&self) -> usize {
            self.cur.len()
        }

        /// True when nothing waits to be read.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        /// True when every slot holds an unread item.
        pub fn is_full(&self) -> bool {
            self.len() >= self.capacity()
        }

        /// Closes the ring: sends fail from now on, reads drain what is
        /// left, and every blocked thread wakes up.
        pub fn close(&self) {
            self.cur.close();
        }

        /// Whether either side closed the ring.
        #[inline]
        pub fn is_closed(&self) -> bool {
            self.cur.is_closed()
        }

        /// Whether the ring's segment file was shrunk under this process's
        /// mapping ([`Segment::truncated`](crate::shm::Segment::truncated)):
        /// the ring is closed here and its calls fail with `Corrupt`.
        pub fn is_truncated(&self) -> bool {
            self.cur.truncated()
        }

        /// A snapshot of the ring's counters, if it was built with
        /// `enable_metrics` or `track_contention`.
        pub fn metrics(&self) -> Option<$crate::metrics::Metrics> {
            self.metrics.as_ref().map(|m| m.snapshot())
        }

        /// A handle for status and close from any thread.
        pub fn observer(&self) -> $crate::ring::RingObserver {
            $crate::ring::RingObserver::new(self.cur.raw, self._owner.clone())
        }

        /// Re-reads both positions and reports [`Error::Corrupt`](crate::Error::Corrupt)
        /// if they are impossible (only a crashed or hostile peer in shared
        /// memory can cause that; operations returning a count report 0 then).
        pub fn check(&self) -> $crate::error::Result<()> {
            self.cur.validate().map_err($crate::error::Error::from)
        }
    };
}
pub(crate) use status_methods;

pub use heap::Ring;
pub use lease::Lease;
pub use observer::RingObserver;
pub use slots::{SlotConsumer, SlotProducer, SlotRing};
pub use typed::{Consumer, Drain, Producer, ReadIter, Reservation};

#[cfg(all(test, loom))]
mod loom_models;
#[cfg(all(test, not(loom)))]
mod tests;
