//! `MessageRing`: byte messages of any size up to a documented maximum, on
//! the SPSC index protocol with one-byte slots.
//!
//! # Record format
//!
//! ```text
//! offset  size  field
//! 0       4     commit  payload length + 1, stored last (Release); 0 = not yet written
//! 4       4     type    user message type; 0xffff_ffff marks a padding record
//! 8       len   payload
//! 8+len   0..7  zero padding up to a multiple of 8
//! ```
//!
//! Records are 8-byte aligned and never split across the end of the byte
//! ring: when a record does not fit before the end, the producer first
//! commits a padding record covering the rest of the ring.
//!
//! A record is published by its commit word: the producer writes type and
//! payload, zeroes the commit word of the *next* record position, then
//! stores this record's commit word with Release, and only then the tail.
//! The receiver polls the commit word at its head, so a message costs it
//! the record's cache lines only, not the tail's line as well, and
//! it never sees half a record: a word still zero means "not yet", and the
//! zero stored ahead guarantees that stale bytes of an older lap are never
//! taken for a commit. The tail still counts the bytes for `len`, for the
//! producer's successor and for futex waits. For that zero the producer
//! keeps 8 bytes free beyond its records, so the largest payload is
//! `capacity - 16` bytes. A batch publishes its first record's commit word
//! last, so a receiver sees the whole batch at once. `make loom` checks the
//! protocol (a model over the real cursors, in `ring::loom_models`).
//!
//! A reader checks every length and type it reads against the end of the
//! ring and the ring's capacity, and reports `Corrupt` instead of following
//! a bad one.

use crate::error::{Error, Result};
use crate::ring::raw::{ConsumerCursor, ProducerCursor, RawRing};
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
/// Bytes the producer keeps free after its records: the zeroed commit word
/// of the next record.
const SLACK: usize = 8;
const PAD: u32 = u32::MAX;
/// Smallest byte ring: 4 KiB.
const MIN_RING_BITS: u8 = 12;

fn record_len(payload: usize) -> usize {
    (RECORD_HEADER + payload).div_ceil(8) * 8
}

/// Largest payload of a ring of `capacity` bytes.
fn max_payload(capacity: usize) -> usize {
    capacity - RECORD_HEADER - SLACK
}

/// The commit word of a record of `len` payload bytes: never 0.
fn commit_word(len: usize) -> u32 {
    len as u32 + 1
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

/// Reads the header word at byte `index` as an atomic: a peer may be
/// scribbling it, so each field is loaded once and then checked.
fn word(raw: &RawRing, index: usize) -> &AtomicU32 {
    debug_assert!(index % 4 == 0 && index + 4 <= raw.capacity());
    // SAFETY: index is 4-aligned (records are 8-aligned, the data area
    // starts 512-aligned) and inside the byte ring.
    unsafe { &*raw.slot_ptr(index).cast::<AtomicU32>() }
}

/// A committed record, as a reader checked it.
struct Record {
    /// Byte index of its header.
    index: usize,
    /// Its type; [`PAD`] for padding.
    msg_type: u32,
    /// Payload bytes.
    len: usize,
    /// Bytes it occupies: the record, or the rest of the ring for padding.
    span: usize,
}

/// The record at position `pos`, `None` while its commit word is 0;
/// `Corrupt` for a place, length or type that cannot be right.
fn record_at(raw: &RawRing, pos: u64) -> Result<Option<Record>> {
    let (index, to_end) = raw.contiguous(pos);
    if index % 8 != 0 {
        return Err(Error::Corrupt(format!(
            "message ring position {pos} is not 8-byte aligned"
        )));
    }
    // Acquire pairs with the commit word's Release store: type and payload
    // were written before it.
    let commit = word(raw, index).load(Ordering::Acquire);
    if commit == 0 {
        return Ok(None);
    }
    let len = (commit - 1) as usize;
    let msg_type = word(raw, index + 4).load(Ordering::Relaxed);
    let span = if msg_type == PAD {
        // Padding ends the ring after some record, so never starts it.
        if RECORD_HEADER + len != to_end || index == 0 {
            return Err(Error::Corrupt(format!(
                "padding record of {len} bytes at {index} does not end the ring"
            )));
        }
        to_end
    } else {
        if len > max_payload(raw.capacity()) || record_len(len) > to_end {
            return Err(Error::Corrupt(format!(
                "record at {index} claims {len} bytes, {to_end} are left before the end"
            )));
        }
        record_len(len)
    };
    Ok(Some(Record {
        index,
        msg_type,
        len,
        span,
    }))
}

/// Takes over a sending side: a sender that died between storing commit
/// words and the tail left whole records past the tail (which the receiver
/// may have read already), so move the tail over them first.
fn recover_tail(raw: &RawRing) -> Result<()> {
    let idx = raw.indices();
    let start = idx.producer.tail.load(Ordering::Acquire);
    let mut tail = start;
    while let Some(r) = record_at(raw, tail)? {
        tail = tail.wrapping_add(r.span as u64);
        if tail.wrapping_sub(start) > raw.capacity() as u64 {
            return Err(Error::Corrupt(
                "committed records past the tail run over a ring's worth".into(),
            ));
        }
    }
    if tail == start {
        return Ok(());
    }
    // The receiver never passes a committed record, and an honest sender
    // kept its slack: anything else is a scribble, not stored.
    let head = idx.consumer.head.load(Ordering::Acquire);
    if tail.wrapping_sub(head) > (raw.capacity() - SLACK) as u64 {
        return Err(Error::Corrupt(format!(
            "recovered tail {tail} is not within a ring of the head {head}"
        )));
    }
    raw.store_tail(tail);
    Ok(())
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
        recover_tail(&raw)?;
        let cur = ProducerCursor::new(raw)?;
        // Checked again on the cursor's own copy: a peer may have moved the
        // shared tail since, and every index the sender writes derives from it.
        if cur.tail() % 8 != 0 {
            return Err(Error::Corrupt(format!(
                "message ring tail {} is not 8-byte aligned",
                cur.tail()
            )));
        }
        Ok(MessageSender {
            cur,
            claim: None,
            _owner: owner,
        })
    }

    /// Largest payload: capacity - 16 bytes.
    pub fn max_message(&self) -> usize {
        max_payload(self.cur.capacity())
    }

    /// Publishes `bytes` of records written after the tail, the first at
    /// `first` with commit word `commit` (every later one complete already):
    /// zeroes the commit word after them, stores the first one's (Release:
    /// the rest becomes visible with it), then the tail.
    fn publish(&mut self, first: usize, commit: u32, bytes: usize) {
        let (next, _) = self
            .cur
            .contiguous(self.cur.tail().wrapping_add(bytes as u64));
        word(&self.cur, next).store(0, Ordering::Relaxed);
        word(&self.cur, first).store(commit, Ordering::Release);
        self.cur.publish(bytes);
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
            if self.cur.free(to_end + SLACK)? < to_end + SLACK {
                return Err(Error::Full);
            }
            word(&self.cur, index + 4).store(PAD, Ordering::Relaxed);
            self.publish(index, commit_word(to_end - RECORD_HEADER), to_end);
        }
        if self.cur.free(rec + SLACK)? < rec + SLACK {
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
        word(&self.cur, index + 4).store(msg_type, Ordering::Relaxed);
        self.publish(index, commit_word(len), record_len(len));
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

    /// Sends as many of `messages` as fit now, publishing them all at once
    /// (the receiver sees the whole batch or none of it, and the tail moves
    /// once); returns how many were sent (0 when full). A message above the
    /// maximum ends the batch; it is `TooLarge` when it comes first.
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
        // The first record's header index and commit word, stored last.
        let mut first = None;
        let mut header = |index: usize, commit: u32, msg_type: u32| {
            word(&self.cur, index + 4).store(msg_type, Ordering::Relaxed);
            match first {
                None => first = Some((index, commit)),
                // Unreachable for the receiver until the first commit word.
                Some(_) => word(&self.cur, index).store(commit, Ordering::Relaxed),
            }
        };
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
            if pending + pad + rec + SLACK > free {
                break;
            }
            if pad > 0 {
                header(index, commit_word(pad - RECORD_HEADER), PAD);
                index = 0;
            }
            header(index, commit_word(payload.len()), msg_type);
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
        if let Some((index, commit)) = first {
            self.publish(index, commit, pending);
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
                .wait_for_free(record_len(payload.len()) + SLACK, &mut waiter, None)?;
        }
    }

    /// Bytes in the ring.
    pub fn capacity(&self) -> usize {
        self.cur.capacity()
    }

    /// Bytes waiting to be read, as the sender sees them.
    pub fn pending_bytes(&self) -> usize {
        self.cur.len()
    }

    /// Bytes free now for records (headers included): the ring's free
    /// bytes less the 8 the sender keeps for the next commit word.
    pub fn free_bytes(&self) -> usize {
        (self.cur.capacity() - self.cur.len()).saturating_sub(SLACK)
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
            // It reads commit words, so it may be ahead of the stored tail.
            cur: ConsumerCursor::leading(raw)?,
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
        // At most twice: padding moves the head to index 0, where no
        // padding can be.
        loop {
            let Some(r) = record_at(&self.cur, self.cur.head())? else {
                if !self.cur.is_closed() {
                    return Err(Error::Empty);
                }
                // Closed: a tail that still shows bytes must have them.
                self.check_not_stalled()?;
                return Err(self.cur.empty_reason());
            };
            if r.msg_type == PAD {
                self.cur.release(r.span);
                continue;
            }
            self.peeked = r.span;
            return Ok((
                r.msg_type,
                self.cur.slot_ptr(r.index + RECORD_HEADER),
                r.len,
            ));
        }
    }

    /// `Corrupt` when the tail shows bytes but no record is committed at the
    /// head. An honest sender stores the commit word before the tail, so
    /// once the tail is loaded (Acquire) the word is visible: only a
    /// scribbling peer gets here, and a blocking receive would otherwise spin.
    fn check_not_stalled(&self) -> Result<()> {
        if self.cur.available(1)? > 0 && record_at(&self.cur, self.cur.head())?.is_none() {
            return Err(Error::Corrupt(format!(
                "the tail shows bytes but no record is committed at {}",
                self.cur.head()
            )));
        }
        Ok(())
    }

    /// Whether the sender committed anything not read yet; also true when
    /// the head is garbage, so that the read which follows reports it.
    #[inline]
    pub(crate) fn has_news(&self) -> bool {
        let (index, _) = self.cur.contiguous(self.cur.head());
        index % 8 != 0 || word(&self.cur, index).load(Ordering::Relaxed) != 0
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
            match self.peek() {
                Err(Error::Empty) => {}
                other => return other,
            }
            self.check_not_stalled()?;
            // Sleeps until the tail moves: it is stored after the commit word.
            waiter.wait_with(|left| self.cur.park(left))?;
        }
    }

    /// Waits by `strategy` until a message is readable. `Closed` once the
    /// ring is closed and drained.
    pub fn wait(&mut self, strategy: WaitStrategy) -> Result<()> {
        if self.peeked == 0 {
            self.peek_blocking(strategy)?;
            self.unpeek();
        }
        Ok(())
    }

    /// Calls `f(type, payload)` for up to `max` messages in place and frees
    /// them all with one head update; returns the count (0 when empty).
    /// `Closed` once closed and drained; `Corrupt` stops the batch (the
    /// messages before it are delivered and freed).
    pub fn recv_batch(&mut self, max: usize, mut f: impl FnMut(u32, &[u8])) -> Result<usize> {
        self.recv_batch_while(max, |t, p| {
            f(t, p);
            true
        })
    }

    /// [`recv_batch`](Self::recv_batch) where `f` may decline a message by
    /// returning false: that message stays in the ring (the next receive
    /// gets it again) and the batch ends there. For a handler that can fail
    /// without losing what it was handed.
    pub fn recv_batch_while(
        &mut self,
        max: usize,
        mut f: impl FnMut(u32, &[u8]) -> bool,
    ) -> Result<usize> {
        if self.peeked != 0 {
            return Err(Error::InvalidArgument(
                "the previous message was not released".into(),
            ));
        }
        let head = self.cur.head();
        // An honest sender never has more than this unread.
        let limit = self.cur.capacity() - SLACK;
        let (mut used, mut n, mut failure, mut declined) = (0usize, 0usize, None, false);
        while n < max {
            let r = match record_at(&self.cur, head.wrapping_add(used as u64)) {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            if used + r.span > limit {
                failure = Some(Error::Corrupt(
                    "committed records run over a ring's worth".into(),
                ));
                break;
            }
            if r.msg_type != PAD {
                // SAFETY: the record is committed and checked to lie inside the ring.
                let payload = unsafe {
                    std::slice::from_raw_parts(self.cur.slot_ptr(r.index + RECORD_HEADER), r.len)
                };
                if !f(r.msg_type, payload) {
                    declined = true;
                    break;
                }
                n += 1;
            }
            used += r.span;
        }
        if used > 0 {
            self.cur.release(used);
        }
        match failure {
            _ if declined => Ok(n),
            Some(e) if n == 0 => Err(e),
            _ if n == 0 => match self.cur.empty_reason() {
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
