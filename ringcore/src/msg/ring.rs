//! `MessageRing`: byte messages of any size up to a documented maximum, on
//! the SPSC index protocol with one-byte slots.
//!
//! # Record format
//!
//! ```text
//! offset  size  field
//! 0       4     len    payload length in bytes
//! 4       4     type   user message type; 0xffff_ffff marks a padding record
//! 8       len   payload
//! 8+len   0..7  zero padding up to a multiple of 8
//! ```
//!
//! Records are 8-byte aligned and never split across the end of the byte
//! ring: when a record does not fit before the end, the producer first
//! publishes a padding record covering the rest of the ring. A record
//! becomes visible with the tail's Release store, after its header and
//! payload were written, so a reader never sees half a record, and a
//! producer that dies between claim and commit leaves nothing behind.
//!
//! The largest payload is `capacity - 8` bytes. A reader checks every length
//! and type it reads against what the producer published and the end of the
//! ring, and reports `Corrupt` instead of following a bad one.

use crate::error::{Error, Result};
use crate::ring::raw::{prefetch_read, ConsumerCursor, ProducerCursor, RawRing};
use crate::ring::typed::Owner;
use crate::ring::RingObserver;
use crate::shm::layout::{Geometry, Kind};
use crate::shm::ring::{segment_methods, Mapped, DEFAULT_STALE_AFTER};
use crate::sync::{AtomicU32, Ordering};
use crate::wait::{WaitStrategy, Waiter};
use std::os::fd::OwnedFd;
use std::time::Duration;

/// Bytes of a record header.
pub const RECORD_HEADER: usize = 8;
const PAD: u32 = u32::MAX;
/// Smallest byte ring: 4 KiB.
const MIN_RING_BITS: u8 = 12;

fn record_len(payload: usize) -> usize {
    (RECORD_HEADER + payload).div_ceil(8) * 8
}

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

impl MessageRing {
    /// Creates a byte ring of `2^ring_bits` bytes (12 to 32): named when
    /// `name` is given (a bare name goes under `/dev/shm`), else an anonymous
    /// sealed memfd to pass by descriptor.
    pub fn create(name: Option<&str>, ring_bits: u8) -> Result<MessageRing> {
        if !(MIN_RING_BITS..=32).contains(&ring_bits) {
            return Err(Error::InvalidArgument(format!(
                "message ring_bits {ring_bits} outside {MIN_RING_BITS}..=32"
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
            mapped: Mapped::create(name, g)?,
        })
    }

    /// Opens a named message ring, waiting up to `timeout` for it.
    pub fn attach(name: &str, timeout: Duration) -> Result<MessageRing> {
        let mapped = Mapped::open(name, Kind::MessageRing, Some(1), timeout)?;
        Self::checked(mapped)
    }

    /// Maps a message ring received as a descriptor.
    pub fn from_fd(fd: OwnedFd) -> Result<MessageRing> {
        Self::checked(Mapped::from_fd(fd, Kind::MessageRing, Some(1))?)
    }

    fn checked(mapped: Mapped) -> Result<MessageRing> {
        if mapped.geometry.ring_bits < MIN_RING_BITS as u32 {
            return Err(Error::InvalidHeader(format!(
                "message ring of 2^{} bytes is below the minimum",
                mapped.geometry.ring_bits
            )));
        }
        Ok(MessageRing { mapped })
    }

    /// Bytes in the ring.
    pub fn capacity(&self) -> usize {
        1 << self.mapped.geometry.ring_bits
    }

    /// Largest payload a message may have: capacity - 8 bytes.
    pub fn max_message(&self) -> usize {
        self.capacity() - RECORD_HEADER
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

/// Reads the header word at byte `index` as an atomic: a peer may be
/// scribbling it, so each field is loaded once and then checked.
fn word(raw: &RawRing, index: usize) -> &AtomicU32 {
    debug_assert!(index % 4 == 0 && index + 4 <= raw.capacity());
    // SAFETY: index is 4-aligned (records are 8-aligned, the data area
    // starts 512-aligned) and inside the byte ring.
    unsafe { &*raw.slot_ptr(index).cast::<AtomicU32>() }
}

/// The sending end of a [`MessageRing`]. `Send`, not `Clone`.
pub struct MessageSender {
    cur: ProducerCursor,
    /// Byte index and payload capacity of the claimed record, if any.
    claim: Option<(usize, usize)>,
    _owner: Owner,
}

// SAFETY: the handle carries the producer role of a shared byte ring.
unsafe impl Send for MessageSender {}

impl MessageSender {
    pub(crate) fn new(raw: RawRing, owner: Owner) -> Result<Self> {
        Ok(MessageSender {
            cur: ProducerCursor::new(raw)?,
            claim: None,
            _owner: owner,
        })
    }

    /// Largest payload: capacity - 8 bytes.
    pub fn max_message(&self) -> usize {
        self.cur.capacity() - RECORD_HEADER
    }

    /// Claims room for a `len`-byte payload and returns it for writing in
    /// place; publish with [`commit`](Self::commit), drop with
    /// [`abort`](Self::abort). Errors: `Full`, `Closed`, `TooLarge`, `Corrupt`.
    pub fn try_claim(&mut self, len: usize) -> Result<&mut [u8]> {
        if len > self.max_message() {
            return Err(Error::TooLarge {
                len,
                max: self.max_message(),
            });
        }
        if self.cur.is_closed() {
            return Err(Error::Closed);
        }
        let rec = record_len(len);
        let (index, to_end) = self.cur.contiguous(self.cur.tail());
        if rec > to_end {
            // Pad to the end first (publishing the padding makes progress
            // even when the record does not fit yet).
            if self.cur.free(to_end)? < to_end {
                return Err(Error::Full);
            }
            word(&self.cur, index).store((to_end - RECORD_HEADER) as u32, Ordering::Relaxed);
            word(&self.cur, index + 4).store(PAD, Ordering::Relaxed);
            self.cur.publish(to_end);
        }
        if self.cur.free(rec)? < rec {
            return Err(Error::Full);
        }
        let (index, _) = self.cur.contiguous(self.cur.tail());
        self.claim = Some((index, len));
        // SAFETY: `rec` free bytes follow the tail without wrapping; only
        // the producer writes them until it publishes.
        Ok(
            unsafe {
                std::slice::from_raw_parts_mut(self.cur.slot_ptr(index + RECORD_HEADER), len)
            },
        )
    }

    /// Publishes the claimed record with type `msg_type` (below 0xffff_ffff).
    pub fn commit(&mut self, msg_type: u32) -> Result<()> {
        let len = self.claim.map_or(0, |(_, len)| len);
        self.commit_len(msg_type, len)
    }

    /// Publishes the claimed record, keeping only its first `len` bytes.
    pub fn commit_len(&mut self, msg_type: u32, len: usize) -> Result<()> {
        if msg_type == PAD {
            return Err(Error::InvalidArgument(
                "message type 0xffffffff is reserved".into(),
            ));
        }
        let Some((index, claimed)) = self.claim else {
            return Err(Error::InvalidArgument("commit without a claim".into()));
        };
        if len > claimed {
            return Err(Error::InvalidArgument(format!(
                "commit of {len} bytes exceeds the {claimed} claimed"
            )));
        }
        self.claim = None;
        word(&self.cur, index).store(len as u32, Ordering::Relaxed);
        word(&self.cur, index + 4).store(msg_type, Ordering::Relaxed);
        // The tail's Release store in publish makes header and payload visible.
        self.cur.publish(record_len(len));
        Ok(())
    }

    /// Gives up the claimed record; nothing is published.
    pub fn abort(&mut self) {
        self.claim = None;
    }

    /// Sends one message (claim, copy, commit). Errors as [`try_claim`](Self::try_claim).
    pub fn send(&mut self, msg_type: u32, payload: &[u8]) -> Result<()> {
        self.try_claim(payload.len())?.copy_from_slice(payload);
        self.commit(msg_type)
    }

    /// Sends as many of `messages` as fit now, publishing them all with one
    /// tail update (one cache-line transfer for the batch); returns how
    /// many were sent (0 when full). A message above the maximum ends the
    /// batch; it is `TooLarge` when it comes first.
    pub fn send_many<'a>(
        &mut self,
        messages: impl IntoIterator<Item = (u32, &'a [u8])>,
    ) -> Result<usize> {
        if self.claim.is_some() {
            return Err(Error::InvalidArgument(
                "a claimed message is pending".into(),
            ));
        }
        if self.cur.is_closed() {
            return Err(Error::Closed);
        }
        let free = self.cur.free(usize::MAX)?;
        let (mut pending, mut sent) = (0usize, 0usize);
        for (msg_type, payload) in messages {
            if payload.len() > self.max_message() || msg_type == PAD {
                if sent == 0 {
                    return Err(if msg_type == PAD {
                        Error::InvalidArgument("message type 0xffffffff is reserved".into())
                    } else {
                        Error::TooLarge {
                            len: payload.len(),
                            max: self.max_message(),
                        }
                    });
                }
                break;
            }
            let rec = record_len(payload.len());
            let (mut index, to_end) = self
                .cur
                .contiguous(self.cur.tail().wrapping_add(pending as u64));
            let pad = if rec > to_end { to_end } else { 0 };
            if pending + pad + rec > free {
                break;
            }
            if pad > 0 {
                word(&self.cur, index).store((pad - RECORD_HEADER) as u32, Ordering::Relaxed);
                word(&self.cur, index + 4).store(PAD, Ordering::Relaxed);
                index = 0;
            }
            word(&self.cur, index).store(payload.len() as u32, Ordering::Relaxed);
            word(&self.cur, index + 4).store(msg_type, Ordering::Relaxed);
            // SAFETY: `rec` free bytes at `index` (checked against `free`,
            // never past the end); only the producer writes them until publish.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    payload.as_ptr(),
                    self.cur.slot_ptr(index + RECORD_HEADER),
                    payload.len(),
                )
            };
            pending += pad + rec;
            sent += 1;
        }
        if pending > 0 {
            self.cur.publish(pending);
        }
        Ok(sent)
    }

    /// Sends one message, waiting by `strategy` while there is no room.
    pub fn send_blocking(
        &mut self,
        msg_type: u32,
        payload: &[u8],
        strategy: WaitStrategy,
    ) -> Result<()> {
        let mut waiter = Waiter::new(strategy);
        loop {
            match self.send(msg_type, payload) {
                Err(Error::Full) => {}
                other => return other,
            }
            // Worst case the record needs its own size plus the padding of
            // the rest of the ring; waiting for its own size is enough to retry.
            self.cur
                .wait_for_free(record_len(payload.len()), &mut waiter, None)?;
        }
    }

    /// Bytes in the ring.
    pub fn capacity(&self) -> usize {
        self.cur.capacity()
    }

    /// Bytes free now.
    pub fn free_bytes(&self) -> usize {
        self.cur.capacity() - self.cur.len()
    }

    /// Closes the ring.
    pub fn close(&self) {
        self.cur.close();
    }

    /// Whether the ring is closed.
    pub fn is_closed(&self) -> bool {
        self.cur.is_closed()
    }

    /// Status and close from any thread.
    pub fn observer(&self) -> RingObserver {
        RingObserver::new(self.cur.raw, self._owner.clone())
    }
}

impl Drop for MessageSender {
    fn drop(&mut self) {
        self.cur.close();
    }
}

/// The receiving end of a [`MessageRing`]. `Send`, not `Clone`.
pub struct MessageReceiver {
    cur: ConsumerCursor,
    /// Bytes of the record handed out by `peek`, released by `release`.
    peeked: usize,
    _owner: Owner,
}

// SAFETY: the handle carries the consumer role of a shared byte ring.
unsafe impl Send for MessageReceiver {}

/// A received message, in place in the ring; its bytes are freed when it is
/// dropped.
pub struct Message<'a> {
    rx: &'a mut MessageReceiver,
    msg_type: u32,
    payload: *const u8,
    len: usize,
}

impl Message<'_> {
    /// The message type given by the sender.
    pub fn msg_type(&self) -> u32 {
        self.msg_type
    }

    /// The payload, in place.
    pub fn payload(&self) -> &[u8] {
        // SAFETY: the record is published and ours until this message drops.
        unsafe { std::slice::from_raw_parts(self.payload, self.len) }
    }
}

impl Drop for Message<'_> {
    fn drop(&mut self) {
        self.rx.release();
    }
}

impl MessageReceiver {
    pub(crate) fn new(raw: RawRing, owner: Owner) -> Result<Self> {
        Ok(MessageReceiver {
            cur: ConsumerCursor::new(raw)?,
            peeked: 0,
            _owner: owner,
        })
    }

    /// The next message in place, without freeing it: its type, and the
    /// address and length of its payload. Padding is skipped. Follow with
    /// [`release`](Self::release). Errors: `Empty`, `Closed` (closed and
    /// drained), `Corrupt` (a length or type that cannot be right).
    pub fn peek(&mut self) -> Result<(u32, *const u8, usize)> {
        if self.peeked != 0 {
            return Err(Error::InvalidArgument(
                "the previous message was not released".into(),
            ));
        }
        loop {
            let avail = self.cur.available(RECORD_HEADER)?;
            if avail == 0 {
                // Start fetching the line the next record lands on while the
                // caller polls: a round trip then overlaps the two cache-line
                // transfers (published tail and record) instead of adding them.
                let (index, _) = self.cur.contiguous(self.cur.head());
                prefetch_read(self.cur.slot_ptr(index));
                return Err(self.cur.empty_reason());
            }
            let head = self.cur.head();
            let (index, to_end) = self.cur.contiguous(head);
            if avail % 8 != 0 || index % 8 != 0 {
                return Err(Error::Corrupt(format!(
                    "message ring positions are not 8-byte aligned (head {head}, {avail} bytes readable)"
                )));
            }
            let len = word(&self.cur, index).load(Ordering::Relaxed) as usize;
            let msg_type = word(&self.cur, index + 4).load(Ordering::Relaxed);
            if msg_type == PAD {
                if RECORD_HEADER + len != to_end || to_end > avail {
                    return Err(Error::Corrupt(format!(
                        "padding record of {len} bytes at {index} does not end the ring"
                    )));
                }
                self.cur.release(to_end);
                continue;
            }
            let rec = record_len(len);
            if len > self.cur.capacity() - RECORD_HEADER || rec > to_end || rec > avail {
                return Err(Error::Corrupt(format!(
                    "record at {index} claims {len} bytes, {avail} are published, {to_end} before the end"
                )));
            }
            self.peeked = rec;
            return Ok((msg_type, self.cur.slot_ptr(index + RECORD_HEADER), len));
        }
    }

    /// Whether the sender published anything not read yet; also true when
    /// its position is garbage, so that the read which follows reports it.
    #[inline]
    pub(crate) fn has_news(&self) -> bool {
        self.cur.raw.indices().producer.tail.load(Ordering::Acquire) != self.cur.head()
    }

    /// Forgets a [`peek`](Self::peek) without freeing the record: the next
    /// peek returns it again.
    pub(crate) fn unpeek(&mut self) {
        self.peeked = 0;
    }

    /// Whether a whole, well-formed message is next (`Corrupt` if what is
    /// next cannot be right), without taking it.
    pub(crate) fn probe(&mut self) -> Result<bool> {
        match self.peek() {
            Ok(_) => {
                self.unpeek();
                Ok(true)
            }
            Err(Error::Empty) | Err(Error::Closed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Frees the message handed out by [`peek`](Self::peek).
    pub fn release(&mut self) {
        let rec = std::mem::take(&mut self.peeked);
        if rec > 0 {
            self.cur.release(rec);
        }
    }

    /// The next message, in place; freed when the returned [`Message`] drops.
    pub fn try_recv(&mut self) -> Result<Message<'_>> {
        let (msg_type, payload, len) = self.peek()?;
        Ok(Message {
            rx: self,
            msg_type,
            payload,
            len,
        })
    }

    /// Waits by `strategy` for a message, then returns it like [`try_recv`](Self::try_recv).
    pub fn recv_blocking(&mut self, strategy: WaitStrategy) -> Result<Message<'_>> {
        let (msg_type, payload, len) = self.peek_blocking(strategy)?;
        Ok(Message {
            rx: self,
            msg_type,
            payload,
            len,
        })
    }

    /// [`peek`](Self::peek), waiting by `strategy` while nothing is readable.
    pub fn peek_blocking(&mut self, strategy: WaitStrategy) -> Result<(u32, *const u8, usize)> {
        let mut waiter = Waiter::new(strategy);
        loop {
            self.cur.wait_for_data(&mut waiter, None)?;
            // What woke us may have been padding only: wait again then.
            match self.peek() {
                Err(Error::Empty) => continue,
                other => return other,
            }
        }
    }

    /// Waits by `strategy` until something is readable. `Closed` once the
    /// ring is closed and drained.
    pub fn wait(&mut self, strategy: WaitStrategy) -> Result<()> {
        self.cur.wait_for_data(&mut Waiter::new(strategy), None)
    }

    /// Calls `f(type, payload)` for up to `max` messages in place and frees
    /// them all with one head update; returns the count (0 when empty).
    /// `Closed` once closed and drained; `Corrupt` stops the batch (the
    /// messages before it are delivered and freed).
    pub fn recv_batch(&mut self, max: usize, mut f: impl FnMut(u32, &[u8])) -> Result<usize> {
        if self.peeked != 0 {
            return Err(Error::InvalidArgument(
                "the previous message was not released".into(),
            ));
        }
        let avail = self.cur.available(usize::MAX)?;
        let mut used = 0;
        let mut n = 0;
        let mut failure = None;
        while n < max && used < avail {
            let pos = self.cur.head().wrapping_add(used as u64);
            let (index, to_end) = self.cur.contiguous(pos);
            let left = avail - used;
            if left < RECORD_HEADER || left % 8 != 0 || index % 8 != 0 {
                failure = Some(Error::Corrupt(format!("unaligned record at {index}")));
                break;
            }
            let len = word(&self.cur, index).load(Ordering::Relaxed) as usize;
            let msg_type = word(&self.cur, index + 4).load(Ordering::Relaxed);
            if msg_type == PAD {
                if RECORD_HEADER + len != to_end || to_end > left {
                    failure = Some(Error::Corrupt(format!("bad padding record at {index}")));
                    break;
                }
                used += to_end;
                continue;
            }
            let rec = record_len(len);
            if len > self.cur.capacity() - RECORD_HEADER || rec > to_end || rec > left {
                failure = Some(Error::Corrupt(format!(
                    "record at {index} claims {len} bytes, {left} are published"
                )));
                break;
            }
            // SAFETY: the record is published and checked to lie inside the ring.
            let payload = unsafe {
                std::slice::from_raw_parts(self.cur.slot_ptr(index + RECORD_HEADER), len)
            };
            f(msg_type, payload);
            used += rec;
            n += 1;
        }
        if used > 0 {
            self.cur.release(used);
        }
        match failure {
            Some(e) if n == 0 => Err(e),
            _ if n == 0 && avail == 0 => match self.cur.empty_reason() {
                Error::Empty => Ok(0),
                e => Err(e),
            },
            _ => Ok(n),
        }
    }

    /// Closes the ring.
    pub fn close(&self) {
        self.cur.close();
    }

    /// Whether the ring is closed.
    pub fn is_closed(&self) -> bool {
        self.cur.is_closed()
    }

    /// Bytes in the ring.
    pub fn capacity(&self) -> usize {
        self.cur.capacity()
    }

    /// Bytes waiting to be read.
    pub fn pending_bytes(&self) -> usize {
        self.cur.len()
    }

    /// Status and close from any thread.
    pub fn observer(&self) -> RingObserver {
        RingObserver::new(self.cur.raw, self._owner.clone())
    }
}

impl Drop for MessageReceiver {
    fn drop(&mut self) {
        self.cur.close();
    }
}
