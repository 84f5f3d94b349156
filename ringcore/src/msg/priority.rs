//! Three priorities over three message rings, and the doorbell a consumer
//! sleeps on while all three are empty.

use super::{Message, MessageReceiver, MessageSender};
use crate::error::{Error, Result};
pub(crate) use crate::sync::Doorbell;
use std::ptr::NonNull;
use std::time::Duration;

/// The priority of a message. A read returns a Critical message before any
/// High one and a High before any Low; within a priority, messages keep the
/// order they were sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Priority {
    /// Time-critical control messages.
    Critical = 0,
    /// Ordinary traffic.
    High = 1,
    /// Background traffic: the first to be dropped under `SendPolicy::DropLow`.
    Low = 2,
}

impl Priority {
    /// Every priority, highest first.
    pub const ALL: [Priority; 3] = [Priority::Critical, Priority::High, Priority::Low];

    /// The priority numbered `n` (0 Critical, 1 High, 2 Low).
    pub fn from_index(n: u32) -> Option<Priority> {
        Priority::ALL.get(n as usize).copied()
    }

    /// 0 for Critical, 1 for High, 2 for Low.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How the bytes of one direction are split between the priorities, in
/// percent (default 20 / 50 / 30). Each priority's ring gets the largest
/// power of two that fits its share (at least 4 KiB), so the split of a
/// capacity that is not a power of two is approximate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Percent for Critical.
    pub critical: u8,
    /// Percent for High.
    pub high: u8,
    /// Percent for Low.
    pub low: u8,
}

impl Default for Split {
    fn default() -> Self {
        Split {
            critical: 20,
            high: 50,
            low: 30,
        }
    }
}

impl Split {
    /// Ring sizes (log2 of bytes, 12..=28) for `capacity` bytes.
    pub(crate) fn ring_bits(&self, capacity: usize) -> Result<[u32; 3]> {
        let shares = [self.critical, self.high, self.low];
        if shares.iter().map(|&s| s as u32).sum::<u32>() != 100 || shares.contains(&0) {
            return Err(Error::InvalidArgument(format!(
                "priority split {}/{}/{} must be three non-zero percentages summing to 100",
                self.critical, self.high, self.low
            )));
        }
        Ok(shares.map(|s| {
            let bytes = (capacity as u128 * s as u128 / 100) as u64;
            // Largest power of two not above the share, within 4 KiB..256 MiB.
            (63 - bytes.max(1).leading_zeros()).clamp(12, super::MAX_RING_BITS)
        }))
    }
}

/// A ring error as the transport reports it: a ring the peer closed means
/// the peer left; corruption names the ring.
fn ring_error(e: Error, p: Priority) -> Error {
    match e {
        Error::Closed => Error::Disconnected,
        Error::Corrupt(m) => Error::Corrupt(format!("{p:?} ring: {m}")),
        other => other,
    }
}

/// The sending end of one direction: a ring per priority, and the
/// receiver's doorbell.
pub(crate) struct PrioritySender {
    rings: [MessageSender; 3],
    doorbell: NonNull<Doorbell>,
    /// The priority of the claimed message, if any.
    claimed: Option<Priority>,
}

// SAFETY: the doorbell lies in a mapping the rings' owner keeps alive; the
// handle is used by one thread at a time (`&mut self`).
unsafe impl Send for PrioritySender {}

impl PrioritySender {
    /// # Safety
    /// `doorbell` stays valid while the rings (their owner) live.
    pub(crate) unsafe fn new(rings: [MessageSender; 3], doorbell: NonNull<Doorbell>) -> Self {
        PrioritySender {
            rings,
            doorbell,
            claimed: None,
        }
    }

    fn doorbell(&self) -> &Doorbell {
        // SAFETY: valid by the contract of `new`.
        unsafe { self.doorbell.as_ref() }
    }

    /// [`MessageSender::unread_span`] of ring `i`.
    pub(crate) fn unread_span(&self, i: usize) -> (u64, u64) {
        self.rings[i].unread_span()
    }

    /// A registration that the receiver's next release on priority `p` wakes.
    #[cfg(not(loom))]
    pub(crate) fn arm(&self, p: Priority) -> crate::wait_set::Armed {
        self.rings[p.index()].arm()
    }

    /// Sends one message. Errors: `Full`, `Closed`, `TooLarge`, `Corrupt`.
    #[inline]
    pub(crate) fn send(&mut self, p: Priority, payload: &[u8]) -> Result<()> {
        let sent = self.rings[p.index()].send(0, payload);
        // Also when full: the attempt may have published padding, which a
        // sleeping server must consume before the message fits.
        if matches!(sent, Ok(()) | Err(Error::Full)) {
            self.doorbell().ring_if_waiting();
        }
        sent.map_err(|e| ring_error(e, p))
    }

    /// Sends as many of `payloads` as fit now, published at once (the first
    /// record's commit word) with at most one doorbell ring; returns how
    /// many were sent.
    pub(crate) fn send_many<'a>(
        &mut self,
        p: Priority,
        payloads: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<usize> {
        let n = self.rings[p.index()]
            .send_many(payloads.into_iter().map(|m| (0, m)))
            .map_err(|e| ring_error(e, p))?;
        if n > 0 {
            self.doorbell().ring_if_waiting();
        }
        Ok(n)
    }

    /// Waits up to `slice` for room for `payload` and sends it.
    pub(crate) fn send_waiting(
        &mut self,
        p: Priority,
        payload: &[u8],
        slice: Duration,
    ) -> Result<()> {
        let bell = self.doorbell;
        self.rings[p.index()]
            .send_blocking_then(
                0,
                payload,
                crate::wait::WaitStrategy::TimedBlocking { timeout: slice },
                // SAFETY: valid by the contract of `new`.
                || unsafe { bell.as_ref() }.ring_if_waiting(),
            )
            .map_err(|e| ring_error(e, p))
    }

    /// Claims room for a `len`-byte message, to write in place.
    pub(crate) fn claim(&mut self, p: Priority, len: usize) -> Result<&mut [u8]> {
        if let Some(q) = self.claimed.take() {
            self.rings[q.index()].abort();
        }
        let bell = self.doorbell;
        let claimed = self.rings[p.index()].try_claim(len);
        if matches!(claimed, Err(Error::Full)) {
            // It may have published padding (see `send`).
            // SAFETY: valid by the contract of `new`.
            unsafe { bell.as_ref() }.ring_if_waiting();
        }
        let buf = claimed.map_err(|e| ring_error(e, p))?;
        self.claimed = Some(p);
        Ok(buf)
    }

    /// Publishes the first `len` bytes of the claimed message.
    pub(crate) fn commit(&mut self, len: usize) -> Result<()> {
        let Some(p) = self.claimed.take() else {
            return Err(Error::InvalidArgument("commit without a claim".into()));
        };
        if let Err(e) = self.rings[p.index()].commit_len(0, len) {
            self.claimed = Some(p);
            return Err(e);
        }
        self.doorbell().ring_if_waiting();
        Ok(())
    }

    /// Drops the claimed message.
    pub(crate) fn abort(&mut self) {
        if let Some(p) = self.claimed.take() {
            self.rings[p.index()].abort();
        }
    }

    /// Largest payload of priority `p`.
    pub(crate) fn max_message(&self, p: Priority) -> usize {
        self.rings[p.index()].max_message()
    }

    /// Rings the receiver's doorbell even if nobody seems to sleep.
    pub(crate) fn signal(&self) {
        self.doorbell().ring();
    }

    /// The fill of the fullest priority ring, 0.0 to 1.0.
    pub(crate) fn backpressure(&self) -> f32 {
        backpressure(self.rings.iter().map(|r| (r.pending_bytes(), r.capacity())))
    }
}

fn backpressure(fills: impl Iterator<Item = (usize, usize)>) -> f32 {
    fills
        .map(|(used, cap)| used as f32 / cap as f32)
        .fold(0.0, f32::max)
        .min(1.0)
}

/// The receiving end of one direction: a ring per priority, and the
/// doorbell this side sleeps on.
pub(crate) struct PriorityReceiver {
    rings: [MessageReceiver; 3],
    doorbell: NonNull<Doorbell>,
}

// SAFETY: as for `PrioritySender`.
unsafe impl Send for PriorityReceiver {}

impl PriorityReceiver {
    /// # Safety
    /// `doorbell` stays valid while the rings (their owner) live.
    pub(crate) unsafe fn new(rings: [MessageReceiver; 3], doorbell: NonNull<Doorbell>) -> Self {
        PriorityReceiver { rings, doorbell }
    }

    fn doorbell(&self) -> &Doorbell {
        // SAFETY: valid by the contract of `new`.
        unsafe { self.doorbell.as_ref() }
    }

    /// A registration that the next commit of any priority wakes (the
    /// doorbell's sleeper).
    #[cfg(not(loom))]
    pub(crate) fn arm(&self) -> crate::wait_set::Armed {
        // SAFETY: the doorbell lies in the mapping the rings' owner keeps
        // valid (the contract of `new`); the registration holds a clone.
        unsafe {
            crate::wait_set::Armed::new(
                crate::sync::Registration::on_doorbell(self.doorbell()),
                self.rings[0].owner().clone(),
            )
        }
    }

    /// Whether priority `p` has bytes waiting (or a position a read will
    /// find corrupt).
    #[inline]
    pub(crate) fn has(&self, p: Priority) -> bool {
        self.rings[p.index()].has_news()
    }

    /// Whether any priority has bytes waiting.
    pub(crate) fn has_any(&self) -> bool {
        Priority::ALL.iter().any(|&p| self.has(p))
    }

    /// The oldest message of the highest priority waiting, in place. A
    /// priority whose bytes are padding only (the record after it not yet
    /// committed) gives way to the next.
    pub(crate) fn try_recv(&mut self) -> Result<Option<(Priority, Message<'_>)>> {
        for p in Priority::ALL {
            if self.has(p) {
                // Padding only, or a ring the peer closed: the next priority.
                if let Some(peeked) = self.peek_from(p)? {
                    return Ok(Some((p, self.message(p, peeked))));
                }
            }
        }
        Ok(None)
    }

    /// The oldest message of priority `p` as [`MessageReceiver::peek`]
    /// gives it (type, address, length), not freed: take it with
    /// [`message`](Self::message). `None` when nothing waits.
    #[inline]
    pub(crate) fn peek_from(&mut self, p: Priority) -> Result<Option<(u32, *const u8, usize)>> {
        match self.rings[p.index()].peek() {
            Ok(peeked) => Ok(Some(peeked)),
            Err(Error::Empty) | Err(Error::Closed) => Ok(None),
            Err(e) => Err(ring_error(e, p)),
        }
    }

    /// What [`peek_from`](Self::peek_from) gave for priority `p`, as a
    /// [`Message`] that frees it when dropped.
    #[inline]
    pub(crate) fn message(&mut self, p: Priority, peeked: (u32, *const u8, usize)) -> Message<'_> {
        self.rings[p.index()].message(peeked)
    }

    /// Copies the oldest message of priority `p` into `buf` and frees it;
    /// its length, or `None` when nothing waits. A message longer than
    /// `buf` stays in the ring (`TooLarge` names its length).
    pub(crate) fn recv_into_from(&mut self, p: Priority, buf: &mut [u8]) -> Result<Option<usize>> {
        let Some((_, ptr, len)) = self.peek_from(p)? else {
            return Ok(None);
        };
        let ring = &mut self.rings[p.index()];
        if len > buf.len() {
            ring.unpeek();
            return Err(Error::TooLarge {
                len,
                max: buf.len(),
            });
        }
        // SAFETY: the peeked record is published, checked to lie inside the
        // ring, and ours until released.
        buf[..len].copy_from_slice(unsafe { std::slice::from_raw_parts(ptr, len) });
        ring.release();
        Ok(Some(len))
    }

    /// Whether a well-formed message of any priority is waiting.
    pub(crate) fn probe_any(&mut self) -> Result<bool> {
        for p in Priority::ALL {
            if self.has(p) && self.probe(p)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether a well-formed message of priority `p` is next.
    pub(crate) fn probe(&mut self, p: Priority) -> Result<bool> {
        self.rings[p.index()].probe().map_err(|e| ring_error(e, p))
    }

    /// Calls `f` for up to `max` messages of priority `p`, in place, and
    /// frees them with one head update; returns the count.
    pub(crate) fn recv_batch_from(
        &mut self,
        p: Priority,
        max: usize,
        f: &mut impl FnMut(Priority, &[u8]),
    ) -> Result<usize> {
        match self.rings[p.index()].recv_batch(max, |_, payload| f(p, payload)) {
            Ok(n) => Ok(n),
            Err(Error::Empty) | Err(Error::Closed) => Ok(0),
            Err(e) => Err(ring_error(e, p)),
        }
    }

    /// Up to `max` messages, highest priority first. An error ends the
    /// batch; it is returned only when nothing was delivered.
    pub(crate) fn recv_batch(
        &mut self,
        max: usize,
        mut f: impl FnMut(Priority, &[u8]),
    ) -> Result<usize> {
        let mut n = 0;
        for p in Priority::ALL {
            if n < max && self.has(p) {
                match self.recv_batch_from(p, max - n, &mut f) {
                    Ok(k) => n += k,
                    // What was delivered is counted; the failed priority
                    // changed nothing and reports at the first call that
                    // delivers nothing before it.
                    Err(e) if n == 0 => return Err(e),
                    Err(_) => break,
                }
            }
        }
        Ok(n)
    }

    /// Sleeps on the doorbell until a message may be waiting, at most `timeout`.
    pub(crate) fn park(&self, timeout: Duration) {
        self.doorbell().park(|| self.has_any(), timeout);
    }

    /// The fill of the fullest priority ring, 0.0 to 1.0.
    pub(crate) fn backpressure(&self) -> f32 {
        backpressure(self.rings.iter().map(|r| (r.pending_bytes(), r.capacity())))
    }

    /// Each priority's read position, for [`drained_since`](Self::drained_since).
    pub(crate) fn read_positions(&self) -> [u64; 3] {
        std::array::from_fn(|i| self.rings[i].read_position())
    }

    /// Whether everything the sender had written when the positions were
    /// `from` has been read: each ring is empty, or a whole ring's worth
    /// was read since (more than it could hold then), so a sender that
    /// writes on cannot keep it from ending.
    pub(crate) fn drained_since(&self, from: &[u64; 3]) -> bool {
        self.rings.iter().zip(from).all(|(r, &at)| {
            !r.has_news() || r.read_position().wrapping_sub(at) >= r.capacity() as u64
        })
    }
}
