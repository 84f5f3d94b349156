//! The sending end of a [`MessageRing`](super::MessageRing).

use super::committed::record_at;
use super::record::{
    commit_word, max_payload, payload_ptr, record_len, word, PAD, RECORD_HEADER, SLACK,
};
use crate::error::{Error, Result};
use crate::ring::raw::{Padded, ProducerCursor, RawRing};
use crate::ring::typed::Owner;
use crate::ring::RingObserver;
use crate::sync::Ordering;
use crate::wait::{WaitStrategy, Waiter};

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

/// `InvalidArgument` for the type reserved for padding.
#[inline]
fn check_type(msg_type: u32) -> Result<()> {
    if msg_type == PAD {
        return Err(Error::InvalidArgument(
            "message type 0xffffffff is reserved".into(),
        ));
    }
    Ok(())
}

/// The sending end of a [`MessageRing`](super::MessageRing). `Send`, not `Clone`.
///
/// A call that fails changes no message: a refused `send` claims nothing,
/// a refused `commit` leaves the claim as it was. (A claim that needs the
/// rest of the ring first publishes a padding record, which carries no
/// message, so that a record of any size fits once the receiver catches up.)
pub struct MessageSender {
    cur: Padded<ProducerCursor>,
    /// Byte index and payload capacity of the claimed record, if any.
    claim: Option<(usize, usize)>,
    _owner: Owner,
}

impl std::fmt::Debug for MessageSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageSender")
            .field("ring", &*self.cur)
            .field("claimed", &self.claim.is_some())
            .finish_non_exhaustive()
    }
}

// SAFETY: the handle carries the producer role of a shared byte ring.
unsafe impl Send for MessageSender {}

impl MessageSender {
    pub(crate) fn new(raw: RawRing, owner: Owner) -> Result<Self> {
        recover_tail(&raw)?;
        let cur = Padded::new(ProducerCursor::new(raw)?);
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

    /// A registration that the receiver's next release of bytes wakes, for
    /// a [`WaitSet`](crate::wait_set::WaitSet): arm, try again, and wait
    /// only if the ring is still full.
    #[cfg(not(loom))]
    pub fn arm(&self) -> crate::wait_set::Armed {
        // SAFETY: `_owner` keeps the ring's memory valid, and the
        // registration holds a clone of it.
        unsafe {
            crate::wait_set::Armed::new(self.cur.raw.register_producer(), self._owner.clone())
        }
    }

    /// Largest payload: capacity - 16 bytes.
    #[inline]
    pub fn max_message(&self) -> usize {
        max_payload(self.cur.capacity())
    }

    /// The commit word of a `len`-byte record `offset` bytes past the tail.
    #[inline]
    fn commit_at(&self, offset: usize, len: usize) -> u32 {
        commit_word(&self.cur, self.cur.tail().wrapping_add(offset as u64), len)
    }

    /// Publishes `bytes` of records written after the tail, the first at
    /// `first` with commit word `commit` (every later one complete already):
    /// zeroes the commit word after them, stores the first one's (Release:
    /// the rest becomes visible with it), then the tail.
    #[inline]
    fn publish(&mut self, first: usize, commit: u32, bytes: usize) {
        let (next, _) = self
            .cur
            .contiguous(self.cur.tail().wrapping_add(bytes as u64));
        word(&self.cur, next).store(0, Ordering::Relaxed);
        // Pairs with the Acquire load of the commit word in `record_at`.
        word(&self.cur, first).store(commit, Ordering::Release);
        self.cur.publish(bytes);
    }

    /// `InvalidArgument` while a claimed message is pending: a send would
    /// take its place.
    #[inline]
    fn check_no_claim(&self) -> Result<()> {
        if self.claim.is_some() {
            return Err(Error::InvalidArgument(
                "a claimed message is pending: commit or abort it first".into(),
            ));
        }
        Ok(())
    }

    /// Claims room for a `len`-byte payload and returns it for writing in
    /// place; publish with [`commit`](Self::commit), drop with
    /// [`abort`](Self::abort). A pending claim is dropped first, whatever
    /// the outcome. Errors: `Full`, `Closed`, `TooLarge`, `Corrupt`.
    #[inline]
    pub fn try_claim(&mut self, len: usize) -> Result<&mut [u8]> {
        self.claim = None;
        if len > self.max_message() {
            return Err(Error::TooLarge {
                len,
                max: self.max_message(),
            });
        }
        if self.cur.is_closed() {
            return Err(self.cur.closed_error());
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
            let commit = self.commit_at(0, to_end - RECORD_HEADER);
            self.publish(index, commit, to_end);
        }
        if self.cur.free(rec + SLACK)? < rec + SLACK {
            return Err(Error::Full);
        }
        let (index, _) = self.cur.contiguous(self.cur.tail());
        self.claim = Some((index, len));
        // SAFETY: `rec` free bytes follow the tail without wrapping; only
        // the producer writes them until it publishes.
        Ok(unsafe { std::slice::from_raw_parts_mut(payload_ptr(&self.cur, index), len) })
    }

    /// Publishes the claimed record with type `msg_type` (below 0xffff_ffff).
    #[inline]
    pub fn commit(&mut self, msg_type: u32) -> Result<()> {
        let len = self.claim.map_or(0, |(_, len)| len);
        self.commit_len(msg_type, len)
    }

    /// Publishes the claimed record, keeping only its first `len` bytes.
    /// On an error the claim stays as it was.
    #[inline]
    pub fn commit_len(&mut self, msg_type: u32, len: usize) -> Result<()> {
        check_type(msg_type)?;
        let Some((index, claimed)) = self.claim else {
            return Err(Error::InvalidArgument("commit without a claim".into()));
        };
        if len > claimed {
            return Err(crate::error::overlong_commit(len as u64, claimed as u64));
        }
        self.claim = None;
        word(&self.cur, index + 4).store(msg_type, Ordering::Relaxed);
        let commit = self.commit_at(0, len);
        self.publish(index, commit, record_len(len));
        Ok(())
    }

    /// Gives up the claimed record; nothing is published.
    pub fn abort(&mut self) {
        self.claim = None;
    }

    /// Sends one message (claim, copy, commit). Errors as
    /// [`try_claim`](Self::try_claim), and `InvalidArgument` for the
    /// reserved type or while a claimed message is pending, before anything
    /// is claimed.
    #[inline]
    pub fn send(&mut self, msg_type: u32, payload: &[u8]) -> Result<()> {
        check_type(msg_type)?;
        self.check_no_claim()?;
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
        self.check_no_claim()?;
        if self.cur.is_closed() {
            return Err(self.cur.closed_error());
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
                    check_type(msg_type)?;
                    return Err(Error::TooLarge {
                        len: payload.len(),
                        max: self.max_message(),
                    });
                }
                break;
            }
            let rec = record_len(payload.len());
            let at = self.cur.tail().wrapping_add(pending as u64);
            let (mut index, to_end) = self.cur.contiguous(at);
            let pad = if rec > to_end { to_end } else { 0 };
            if pending + pad + rec + SLACK > free {
                break;
            }
            if pad > 0 {
                header(index, commit_word(&self.cur, at, pad - RECORD_HEADER), PAD);
                index = 0;
            }
            let commit = commit_word(&self.cur, at.wrapping_add(pad as u64), payload.len());
            header(index, commit, msg_type);
            // SAFETY: `rec` free bytes at `index` (checked against `free`,
            // never past the end); only the producer writes them until publish.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    payload.as_ptr(),
                    payload_ptr(&self.cur, index),
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
        self.send_blocking_then(msg_type, payload, strategy, || {})
    }

    /// [`send_blocking`](Self::send_blocking), calling `after_attempt`
    /// after every attempt that published (the message, or the padding a
    /// full attempt may publish at the end of the ring): a consumer that
    /// sleeps elsewhere (a transport server on its doorbell) must learn of
    /// the padding too, or the room the message waits for never comes.
    pub(crate) fn send_blocking_then(
        &mut self,
        msg_type: u32,
        payload: &[u8],
        strategy: WaitStrategy,
        mut after_attempt: impl FnMut(),
    ) -> Result<()> {
        let mut waiter = Waiter::new(strategy);
        loop {
            let tail = self.cur.tail();
            let sent = self.send(msg_type, payload);
            if self.cur.tail() != tail {
                after_attempt();
            }
            match sent {
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

    /// The span this sender wrote that the receiver may not have read: from
    /// the receiver's position as the sender last read it to its own.
    pub(crate) fn unread_span(&self) -> (u64, u64) {
        (self.cur.seen_head(), self.cur.tail())
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
