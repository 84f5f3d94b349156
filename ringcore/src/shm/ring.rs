//! `SharedRing`: the SPSC ring of fixed-size slots, placed in a segment that
//! several processes map. The index protocol is the one of
//! [`ring::raw`](crate::ring); only the memory differs.

use super::layout::{Geometry, Kind, HEADER_SIZE};
use super::segment::Permissions;
use super::{segment_methods, Mapped, DEFAULT_STALE_AFTER};
use crate::error::{Error, Result};
use crate::pod::Pod;
use crate::ring::raw::ProducerCursor;
use crate::ring::typed::Owner;
use crate::ring::{Consumer, Producer, RingObserver, SlotConsumer, SlotProducer};
use std::os::fd::OwnedFd;
use std::time::Duration;

/// An SPSC ring of fixed-size slots in shared memory, for two processes
/// (in any language: the C and Python APIs open the same segments).
///
/// A `SharedRing` is the mapping; take a side with [`producer`](Self::producer)
/// or [`consumer`](Self::consumer) (typed over a [`Pod`] type) or their
/// byte-slot variants. Each side can be held by one process at a time; a
/// side whose process died is taken over.
///
/// ```
/// use ringcore::shm::SharedRing;
/// let name = format!("doc-shared-{}", std::process::id());
/// let ring = SharedRing::create::<u64>(&name, 10)?;
/// let mut tx = ring.producer::<u64>()?;
/// // In another process: SharedRing::attach::<u64>(&name)?.consumer::<u64>()
/// let other = SharedRing::attach::<u64>(&name)?;
/// let mut rx = other.consumer::<u64>()?;
/// tx.send_one(7).unwrap();
/// assert_eq!(rx.try_recv()?, 7);
/// ring.unlink()?;
/// # Ok::<(), ringcore::Error>(())
/// ```
pub struct SharedRing {
    mapped: Mapped,
}

impl std::fmt::Debug for SharedRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRing")
            .field("segment", &self.mapped)
            .field("ring", &self.mapped.raw())
            .finish_non_exhaustive()
    }
}

/// A slot size an attacher asks for, as the header keeps it: one above
/// `u32::MAX` matches no segment (`InvalidArgument`).
fn wanted_slot(slot_size: Option<usize>) -> Result<Option<u32>> {
    slot_size
        .map(|s| {
            u32::try_from(s).map_err(|_| {
                Error::InvalidArgument(format!("slot size {s} is above a segment's 2^32 - 1"))
            })
        })
        .transpose()
}

impl SharedRing {
    /// Creates a named segment (under `/dev/shm` for a bare name) holding a
    /// ring of `2^ring_bits` slots of `T`.
    pub fn create<T: Pod>(name: &str, ring_bits: u8) -> Result<SharedRing> {
        Self::create_slots(Some(name), ring_bits, std::mem::size_of::<T>())
    }

    /// Creates a ring of `2^ring_bits` slots of `slot_size` bytes, in a named
    /// segment when `name` is given, else in an anonymous sealed memfd.
    pub fn create_slots(name: Option<&str>, ring_bits: u8, slot_size: usize) -> Result<SharedRing> {
        Self::create_slots_with(name, ring_bits, slot_size, Permissions::default())
    }

    /// [`create_slots`](Self::create_slots) with the named segment's mode and group.
    pub fn create_slots_with(
        name: Option<&str>,
        ring_bits: u8,
        slot_size: usize,
        perm: Permissions,
    ) -> Result<SharedRing> {
        if ring_bits > crate::config::Config::MAX_RING_BITS {
            return Err(Error::InvalidArgument(format!(
                "ring_bits {ring_bits} is above 32"
            )));
        }
        let slot = u32::try_from(slot_size)
            .ok()
            .filter(|&s| s > 0)
            .ok_or_else(|| Error::InvalidArgument(format!("slot size {slot_size}")))?;
        let data_size = (slot as u64)
            .checked_mul(1 << ring_bits)
            .filter(|&d| d <= isize::MAX as u64 / 2)
            .ok_or_else(|| Error::InvalidArgument("ring too large".into()))?;
        let g = Geometry {
            kind: Kind::SlotRing,
            ring_bits: ring_bits as u32,
            slot_size: slot,
            slab_count: 0,
            data_size,
        };
        Ok(SharedRing {
            mapped: Mapped::create(name, g, perm)?,
        })
    }

    /// Opens the named ring of `T` slots, waiting up to one second for its
    /// name to appear (a segment appears whole; a bad one fails at once).
    pub fn attach<T: Pod>(name: &str) -> Result<SharedRing> {
        Self::attach_slots(name, Some(std::mem::size_of::<T>()), Duration::from_secs(1))
    }

    /// Opens a named ring, checking the slot size when one is given and
    /// waiting up to `timeout` for the segment to appear and be published.
    pub fn attach_slots(
        name: &str,
        slot_size: Option<usize>,
        timeout: Duration,
    ) -> Result<SharedRing> {
        Ok(SharedRing {
            mapped: Mapped::open(name, Kind::SlotRing, wanted_slot(slot_size)?, timeout)?,
        })
    }

    /// Maps a ring received as a descriptor (see [`recv_fd`](super::recv_fd)):
    /// a memfd whose size is sealed, as [`create_slots`](Self::create_slots)
    /// makes them (`InvalidHeader` for any other file: its sender could
    /// shrink it under the mapping).
    pub fn from_fd(fd: OwnedFd, slot_size: Option<usize>) -> Result<SharedRing> {
        Ok(SharedRing {
            mapped: Mapped::from_sealed_fd(fd, Kind::SlotRing, wanted_slot(slot_size)?)?,
        })
    }

    /// Bytes per slot.
    pub fn slot_size(&self) -> usize {
        self.mapped.geometry.slot_size as usize
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        1 << self.mapped.geometry.ring_bits
    }

    fn check_type<T: Pod>(&self) -> Result<()> {
        let (size, align) = (std::mem::size_of::<T>(), std::mem::align_of::<T>());
        if size != self.slot_size() || size == 0 || HEADER_SIZE % align != 0 || size % align != 0 {
            return Err(Error::InvalidArgument(format!(
                "a {size}-byte type (alignment {align}) does not fit {}-byte slots",
                self.slot_size()
            )));
        }
        Ok(())
    }

    /// Takes the producer side as typed slots. `Busy` while a live process
    /// holds it. Dropping the producer closes the ring.
    pub fn producer<T: Pod>(&self) -> Result<Producer<T>> {
        self.producer_with(DEFAULT_STALE_AFTER)
    }

    /// [`producer`](Self::producer), taking over a holder silent for `stale_after`.
    pub fn producer_with<T: Pod>(&self, stale_after: Duration) -> Result<Producer<T>> {
        self.check_type::<T>()?;
        let owner = self.claim(true, stale_after)?;
        Producer::from_parts(self.mapped.raw(), owner, None)
    }

    /// Takes the consumer side as typed slots. `Busy` while a live process holds it.
    pub fn consumer<T: Pod>(&self) -> Result<Consumer<T>> {
        self.consumer_with(DEFAULT_STALE_AFTER)
    }

    /// [`consumer`](Self::consumer), taking over a holder silent for `stale_after`.
    pub fn consumer_with<T: Pod>(&self, stale_after: Duration) -> Result<Consumer<T>> {
        self.check_type::<T>()?;
        let owner = self.claim(false, stale_after)?;
        Consumer::from_parts(self.mapped.raw(), owner, None, 16)
    }

    /// Takes the producer side as byte slots (what the C and Python APIs use).
    pub fn slot_producer(&self, stale_after: Duration) -> Result<SlotProducer> {
        let owner = self.claim(true, stale_after)?;
        SlotProducer::from_parts(self.mapped.raw(), owner, None)
    }

    /// Takes the consumer side as byte slots.
    pub fn slot_consumer(&self, stale_after: Duration) -> Result<SlotConsumer> {
        let owner = self.claim(false, stale_after)?;
        SlotConsumer::from_parts(self.mapped.raw(), owner, None)
    }

    /// Claims a side once the ring's positions are checked: a corrupt ring
    /// is refused before the claim writes the holder's pid, heartbeat and
    /// namespace (the side's own check after the claim covers a peer that
    /// writes meanwhile).
    fn claim(&self, producer: bool, stale_after: Duration) -> Result<Owner> {
        ProducerCursor::new(self.mapped.raw())?;
        self.mapped.claim(producer, stale_after)
    }

    segment_methods!();
}
