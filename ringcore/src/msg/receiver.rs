//! The receiving end of a [`MessageRing`](super::MessageRing).

use super::committed::{record_at, Record};
use super::record::{payload_ptr, word, PAD, SLACK};
use crate::error::{Error, Result};
use crate::ring::blocking::PeerWatch;
use crate::ring::raw::{ConsumerCursor, Padded, RawRing};
use crate::ring::typed::Owner;
use crate::ring::RingObserver;
use crate::sync::Ordering;
use crate::wait::{WaitStrategy, Waiter};

/// The receiving end of a [`MessageRing`](super::MessageRing). `Send`, not `Clone`.
///
/// It learns of messages from their commit words, not from the tail, and
/// so may run ahead of the tail the sender stored, but by a ring at most:
/// a record that would take it further, or one of an earlier lap, is
/// `Corrupt` (a scribbling peer), and so is every later call until the
/// ring is sound again.
pub struct MessageReceiver {
    cur: Padded<ConsumerCursor>,
    /// Bytes of the record handed out by `peek`, released by `release`.
    peeked: usize,
    _owner: Owner,
}

impl std::fmt::Debug for MessageReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageReceiver")
            .field("ring", &*self.cur)
            .field("peeked", &self.peeked)
            .finish_non_exhaustive()
    }
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

impl std::fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("msg_type", &self.msg_type)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Message<'_> {
    /// The message type given by the sender.
    #[inline]
    pub fn msg_type(&self) -> u32 {
        self.msg_type
    }

    /// The payload, in place.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        // SAFETY: the record is published and ours until this message drops.
        unsafe { std::slice::from_raw_parts(self.payload, self.len) }
    }
}

impl Drop for Message<'_> {
    #[inline]
    fn drop(&mut self) {
        self.rx.release();
    }
}

impl MessageReceiver {
    pub(crate) fn new(raw: RawRing, owner: Owner) -> Result<Self> {
        Ok(MessageReceiver {
            // It reads commit words, so it may be ahead of the stored tail.
            cur: Padded::new(ConsumerCursor::leading(raw)?),
            peeked: 0,
            _owner: owner,
        })
    }

    /// What keeps the ring's memory mapped.
    pub(crate) fn owner(&self) -> &Owner {
        &self._owner
    }

    /// A registration that the sender's next commit wakes, for a
    /// [`WaitSet`](crate::wait_set::WaitSet): arm, look again, and wait
    /// only if there is still nothing to read.
    #[cfg(not(loom))]
    pub fn arm(&self) -> crate::wait_set::Armed {
        // SAFETY: `_owner` keeps the ring's memory valid, and the
        // registration holds a clone of it.
        unsafe {
            crate::wait_set::Armed::new(self.cur.raw.register_consumer(), self._owner.clone())
        }
    }

    /// The next message in place, without freeing it: its type, and the
    /// address and length of its payload. Padding is skipped. Follow with
    /// [`release`](Self::release). Errors: `Empty`, `Closed` (closed and
    /// drained), `Corrupt` (a length or type that cannot be right).
    #[inline]
    pub fn peek(&mut self) -> Result<(u32, *const u8, usize)> {
        if self.peeked != 0 {
            return Err(Error::InvalidArgument(
                "the previous message was not released".into(),
            ));
        }
        // Padding before the message is freed with it, so that a peek that
        // fails leaves the head where it was. At most twice round: padding
        // moves to index 0, where no padding can be.
        let mut skipped = 0;
        loop {
            let Some(r) = self.record(skipped)? else {
                if self.cur.is_closed() {
                    // Closed: a tail that still shows bytes must have them.
                    self.check_not_stalled(skipped)?;
                }
                return Err(self.free_padding(skipped));
            };
            if r.msg_type == PAD {
                skipped += r.span;
                continue;
            }
            self.peeked = skipped + r.span;
            return Ok((r.msg_type, payload_ptr(&self.cur, r.index), r.len));
        }
    }

    /// The record `skip` bytes past the head, checked to keep the receiver
    /// within a ring of the tail.
    #[inline]
    fn record(&self, skip: usize) -> Result<Option<Record>> {
        let Some(r) = record_at(&self.cur, self.cur.head().wrapping_add(skip as u64))? else {
            return Ok(None);
        };
        if skip + r.span > self.limit() {
            self.widen(skip + r.span)?;
        }
        Ok(Some(r))
    }

    /// How many bytes past the head this receiver takes without looking at
    /// the tail: an honest sender's most (a ring less the slack), and no
    /// more than a ring past the tail it loaded last.
    #[inline]
    fn limit(&self) -> usize {
        (self.cur.capacity() - SLACK).min(self.cur.lead_room())
    }

    /// The [`limit`](Self::limit) after loading the tail again; `Corrupt`
    /// when `need` bytes past the head are still beyond it.
    #[cold]
    fn widen(&self, need: usize) -> Result<usize> {
        let limit = (self.cur.capacity() - SLACK).min(self.cur.reload_lead_room());
        if need > limit {
            return Err(Error::Corrupt(format!(
                "committed records at {} run {need} bytes on, past a ring's worth or a \
                 ring ahead of the tail",
                self.cur.head()
            )));
        }
        Ok(limit)
    }

    /// `Corrupt` when the tail shows bytes but no record is committed at the
    /// head. An honest sender stores the commit word before the tail, so
    /// once the tail is loaded (Acquire) the word is visible: only a
    /// scribbling peer gets here, and a blocking receive would otherwise spin.
    fn check_not_stalled(&self, skip: usize) -> Result<()> {
        if self.cur.available(skip + 1)? > skip && self.record(skip)?.is_none() {
            return Err(self.cur.unless_truncated(Error::Corrupt(format!(
                "the tail shows bytes but no record is committed at {}",
                self.cur.head().wrapping_add(skip as u64)
            ))));
        }
        Ok(())
    }

    /// Why nothing but `padding` bytes of padding is readable: `Empty` or
    /// `Closed`, and then the padding is freed (it loses nothing), or
    /// `Corrupt`, and then nothing is.
    fn free_padding(&mut self, padding: usize) -> Error {
        let reason = self.cur.empty_reason_past(padding);
        if padding > 0 && matches!(reason, Error::Empty | Error::Closed) {
            self.cur.release(padding);
        }
        reason
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
    #[inline]
    pub fn release(&mut self) {
        let rec = std::mem::take(&mut self.peeked);
        if rec > 0 {
            self.cur.release(rec);
        }
    }

    /// The next message, in place; freed when the returned [`Message`] drops.
    #[inline]
    pub fn try_recv(&mut self) -> Result<Message<'_>> {
        let peeked = self.peek()?;
        Ok(self.message(peeked))
    }

    /// What [`peek`](Self::peek) returned, as a [`Message`] that frees it
    /// when dropped.
    #[inline]
    pub(crate) fn message(
        &mut self,
        (msg_type, payload, len): (u32, *const u8, usize),
    ) -> Message<'_> {
        Message {
            rx: self,
            msg_type,
            payload,
            len,
        }
    }

    /// Waits by `strategy` for a message, then returns it like [`try_recv`](Self::try_recv).
    pub fn recv_blocking(&mut self, strategy: WaitStrategy) -> Result<Message<'_>> {
        let peeked = self.peek_blocking(strategy)?;
        Ok(self.message(peeked))
    }

    /// [`peek`](Self::peek), waiting by `strategy` while nothing is readable.
    pub fn peek_blocking(&mut self, strategy: WaitStrategy) -> Result<(u32, *const u8, usize)> {
        let mut waiter = Waiter::new(strategy);
        let mut peer = PeerWatch::new(self.cur.raw.process_shared());
        loop {
            match self.peek() {
                Err(Error::Empty) => {}
                other => return other,
            }
            self.check_not_stalled(0)?;
            peer.look(&waiter, self.cur.raw.indices().producer.holder())?;
            // Sleeps until the tail moves: it is stored after the commit word.
            waiter.wait_with(|left| self.cur.park(peer.cap(left)))?;
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
    /// messages before it are delivered and freed, and the next call
    /// reports it; a call that delivers nothing frees nothing).
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
        let mut limit = self.limit();
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
                match self.widen(used + r.span) {
                    Ok(l) => limit = l,
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            if r.msg_type != PAD {
                // SAFETY: the record is committed and checked to lie inside the ring.
                let payload =
                    unsafe { std::slice::from_raw_parts(payload_ptr(&self.cur, r.index), r.len) };
                if !f(r.msg_type, payload) {
                    declined = true;
                    break;
                }
                n += 1;
            }
            used += r.span;
        }
        if n == 0 && !declined {
            // Nothing delivered: padding at most is freed, and nothing on
            // an error.
            return match failure.unwrap_or_else(|| self.free_padding(used)) {
                Error::Empty => Ok(0),
                e => Err(e),
            };
        }
        if used > 0 {
            self.cur.release(used);
        }
        Ok(n)
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

    /// Bytes read since the ring began (wrapping).
    pub(crate) fn read_position(&self) -> u64 {
        self.cur.head()
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
