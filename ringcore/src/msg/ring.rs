//! `MessageRing`: byte messages of any size up to a documented maximum, on
//! the SPSC index protocol with one-byte slots.
//!
//! The record format and how records are published are described in
//! [`record`](super::record); the two ends are [`MessageSender`] and
//! [`MessageReceiver`].

use super::record::{max_payload, MAX_RING_BITS, MIN_RING_BITS};
use super::{MessageReceiver, MessageSender};
use crate::error::{Error, Result};
use crate::ring::typed::Owner;
use crate::ring::RingObserver;
use crate::shm::layout::{Geometry, Kind};
use crate::shm::Permissions;
use crate::shm::{segment_methods, Mapped, DEFAULT_STALE_AFTER};
use std::os::fd::OwnedFd;
use std::time::Duration;

/// A ring of variable-size byte messages in shared memory.
///
/// ```
/// use ringcore::msg::MessageRing;
/// let ring = MessageRing::create(None, 16)?;           // 64 KiB, anonymous memfd
/// let mut tx = ring.sender()?;
/// let mut rx = ring.receiver()?;
/// tx.send(7, b"hello")?;
/// let buf = tx.try_claim(3)?;                          // zero-copy write
/// buf.copy_from_slice(b"abc");
/// tx.commit(8)?;
/// let m = rx.try_recv()?;
/// assert_eq!((m.msg_type(), m.payload()), (7, &b"hello"[..]));
/// drop(m);                                             // frees the record
/// assert_eq!(rx.try_recv()?.payload(), b"abc");
/// # Ok::<(), ringcore::Error>(())
/// ```
pub struct MessageRing {
    mapped: Mapped,
}

impl std::fmt::Debug for MessageRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageRing")
            .field("segment", &self.mapped)
            .field("ring", &self.mapped.raw())
            .finish_non_exhaustive()
    }
}

impl MessageRing {
    /// Creates a byte ring of `2^ring_bits` bytes (12 to 28): named when
    /// `name` is given (a bare name goes under `/dev/shm`), else an anonymous
    /// sealed memfd to pass by descriptor.
    pub fn create(name: Option<&str>, ring_bits: u8) -> Result<MessageRing> {
        Self::create_with(name, ring_bits, Permissions::default())
    }

    /// [`create`](Self::create) with the named segment's mode and group.
    pub fn create_with(
        name: Option<&str>,
        ring_bits: u8,
        perm: Permissions,
    ) -> Result<MessageRing> {
        if !(MIN_RING_BITS..=MAX_RING_BITS).contains(&(ring_bits as u32)) {
            return Err(Error::InvalidArgument(format!(
                "message ring_bits {ring_bits} outside {MIN_RING_BITS}..={MAX_RING_BITS}"
            )));
        }
        let g = Geometry {
            kind: Kind::MessageRing,
            ring_bits: ring_bits as u32,
            slot_size: 1,
            slab_count: 0,
            data_size: 1 << ring_bits,
        };
        Ok(MessageRing {
            mapped: Mapped::create(name, g, perm)?,
        })
    }

    /// Opens a named message ring, waiting up to `timeout` for it.
    pub fn attach(name: &str, timeout: Duration) -> Result<MessageRing> {
        let mapped = Mapped::open(name, Kind::MessageRing, Some(1), timeout)?;
        Self::checked(mapped)
    }

    /// Maps a message ring received as a descriptor: a memfd whose size
    /// is sealed, as [`create`](Self::create) makes them (`InvalidHeader`
    /// for any other file: its sender could shrink it under the mapping).
    pub fn from_fd(fd: OwnedFd) -> Result<MessageRing> {
        Self::checked(Mapped::from_sealed_fd(fd, Kind::MessageRing, Some(1))?)
    }

    fn checked(mapped: Mapped) -> Result<MessageRing> {
        if !(MIN_RING_BITS..=MAX_RING_BITS).contains(&mapped.geometry.ring_bits) {
            return Err(Error::InvalidHeader(format!(
                "message ring of 2^{} bytes, outside 2^{MIN_RING_BITS}..=2^{MAX_RING_BITS}",
                mapped.geometry.ring_bits
            )));
        }
        Ok(MessageRing { mapped })
    }

    /// Bytes in the ring.
    pub fn capacity(&self) -> usize {
        1 << self.mapped.geometry.ring_bits
    }

    /// Largest payload a message may have: capacity - 16 bytes.
    pub fn max_message(&self) -> usize {
        max_payload(self.capacity())
    }

    /// Takes the sending side (`Busy` while a live process holds it).
    pub fn sender(&self) -> Result<MessageSender> {
        self.sender_with(DEFAULT_STALE_AFTER)
    }

    /// [`sender`](Self::sender), taking over a holder silent for `stale_after`.
    pub fn sender_with(&self, stale_after: Duration) -> Result<MessageSender> {
        let owner = self.mapped.claim(true, stale_after)?;
        MessageSender::new(self.mapped.raw(), owner)
    }

    /// Takes the receiving side (`Busy` while a live process holds it).
    pub fn receiver(&self) -> Result<MessageReceiver> {
        self.receiver_with(DEFAULT_STALE_AFTER)
    }

    /// [`receiver`](Self::receiver), taking over a holder silent for `stale_after`.
    pub fn receiver_with(&self, stale_after: Duration) -> Result<MessageReceiver> {
        let owner = self.mapped.claim(false, stale_after)?;
        MessageReceiver::new(self.mapped.raw(), owner)
    }

    segment_methods!();
}
