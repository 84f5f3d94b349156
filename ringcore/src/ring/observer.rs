//! A handle for looking at a ring (and closing it) from any thread.

use super::raw::RawRing;
use super::typed::Owner;

/// Status and close for a ring, usable from any thread and cloneable;
/// it neither produces nor consumes. Get one from any ring handle's
/// `observer()`.
///
/// ```
/// use ringcore::{Config, Ring};
/// let (mut tx, rx) = Ring::<u8>::new(Config::with_ring_bits(2)).unwrap();
/// let watch = rx.observer();
/// tx.send_one(1).unwrap();
/// std::thread::spawn(move || {
///     assert_eq!(watch.len(), 1);
///     watch.close();
/// }).join().unwrap();
/// assert!(tx.is_closed());
/// ```
#[derive(Clone)]
pub struct RingObserver {
    raw: RawRing,
    _owner: Owner,
}

impl std::fmt::Debug for RingObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingObserver")
            .field("ring", &self.raw)
            .finish_non_exhaustive()
    }
}

// SAFETY: an observer touches only the atomics of the index lines.
unsafe impl Send for RingObserver {}
// SAFETY: as above; every method takes &self and uses atomics only.
unsafe impl Sync for RingObserver {}

impl RingObserver {
    pub(crate) fn new(raw: RawRing, owner: Owner) -> Self {
        RingObserver { raw, _owner: owner }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.raw.capacity()
    }

    /// Items waiting, as seen now from outside both roles (clamped to the capacity).
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// True when nothing waits to be read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether either side closed the ring.
    pub fn is_closed(&self) -> bool {
        self.raw.is_closed()
    }

    /// Closes the ring and wakes every blocked thread.
    pub fn close(&self) {
        self.raw.close();
    }
}
