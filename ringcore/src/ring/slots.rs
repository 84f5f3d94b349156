//! Rings of fixed-size byte slots whose size is known only at run time:
//! the ring behind the C API (`elem_size`) and the Python `Ring`.

use super::heap::HeapRing;
use super::lease::Lease;
use super::raw::{ConsumerCursor, Corrupt, Padded, ProducerCursor, RawRing};
use super::status_methods;
use super::typed::Owner;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::RingMetrics;
use crate::notify::{Hook, Notify};
use crate::wait::{WaitStrategy, Waiter};
use std::sync::Arc;

/// Builds rings of `slot_size`-byte slots; see [`SlotProducer`] and [`SlotConsumer`].
///
/// ```
/// use ringcore::{Config, SlotRing};
/// let (mut tx, mut rx) = SlotRing::new(Config::with_ring_bits(4), 8).unwrap();
/// assert_eq!(tx.send(&7u64.to_le_bytes()).unwrap(), 1);
/// let mut out = [0u8; 8];
/// rx.try_recv(&mut out).unwrap();
/// assert_eq!(u64::from_le_bytes(out), 7);
/// ```
#[derive(Debug)]
pub struct SlotRing;

impl SlotRing {
    /// A ring of `config.capacity()` slots of `slot_size` bytes (at least 1).
    #[allow(clippy::new_ret_no_self)] // a ring is built as its two role handles
    pub fn new(config: Config, slot_size: usize) -> Result<(SlotProducer, SlotConsumer)> {
        config.validate()?;
        check_slot_size(slot_size)?;
        let ring = HeapRing::allocate(config.ring_bits, slot_size, 8, 0, |_| {})?;
        let metrics = (config.enable_metrics || config.track_contention).then(|| {
            Arc::new(RingMetrics::new(
                config.enable_metrics,
                config.track_contention,
            ))
        });
        let raw = ring.raw();
        let owner: Owner = ring;
        slot_split(raw, owner, metrics)
    }
}

impl SlotRing {
    /// Puts the ring of `producer` and `consumer` back to its initial state,
    /// as [`Ring::reset`](crate::Ring::reset) does: empties it, drops a
    /// pending reservation, reopens it and zeroes its metrics.
    pub fn reset(producer: &mut SlotProducer, consumer: &mut SlotConsumer) -> Result<()> {
        let left = super::raw::to_drain(&producer.cur, &consumer.cur)?;
        consumer.cur.release(left);
        producer.reserved = 0;
        super::raw::reopen(
            &mut producer.cur,
            &mut consumer.cur,
            producer.metrics.as_deref(),
        )
    }
}

/// `InvalidArgument` for a byte slot of 0 bytes: rings and channels of byte
/// slots check it when they are made.
pub(crate) fn check_slot_size(slot_size: usize) -> Result<()> {
    if slot_size == 0 {
        return Err(Error::InvalidArgument(
            "slot size must be at least 1 byte".into(),
        ));
    }
    Ok(())
}

/// Builds the two byte-slot handles over `raw` (both positions must be valid).
pub(crate) fn slot_split(
    raw: RawRing,
    owner: Owner,
    metrics: Option<Arc<RingMetrics>>,
) -> Result<(SlotProducer, SlotConsumer)> {
    Ok((
        SlotProducer::from_parts(raw, owner.clone(), metrics.clone())?,
        SlotConsumer::from_parts(raw, owner, metrics)?,
    ))
}

impl SlotProducer {
    /// The producer handle of the ring at `raw`, whose memory `owner` keeps alive.
    pub(crate) fn from_parts(
        raw: RawRing,
        owner: Owner,
        metrics: Option<Arc<RingMetrics>>,
    ) -> Result<Self> {
        Ok(SlotProducer {
            cur: Padded::new(ProducerCursor::new(raw)?),
            reserved: 0,
            metrics,
            notify: None,
            _owner: owner,
        })
    }

    /// A registration that the consumer's next release of slots wakes, for
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
}

impl SlotConsumer {
    /// The consumer handle of the ring at `raw`, whose memory `owner` keeps alive.
    pub(crate) fn from_parts(
        raw: RawRing,
        owner: Owner,
        metrics: Option<Arc<RingMetrics>>,
    ) -> Result<Self> {
        Ok(SlotConsumer {
            cur: Padded::new(ConsumerCursor::new(raw)?),
            metrics,
            _owner: owner,
        })
    }

    /// A registration that the producer's next commit wakes, for a
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
}

/// The writing end of a byte-slot ring.
pub struct SlotProducer {
    cur: Padded<ProducerCursor>,
    /// Slots handed out by the last `reserve`, the most `commit` accepts.
    reserved: usize,
    metrics: Option<Arc<RingMetrics>>,
    notify: Option<Hook>,
    _owner: Owner,
}

impl std::fmt::Debug for SlotProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotProducer")
            .field("ring", &*self.cur)
            .field("reserved", &self.reserved)
            .field("metrics", &self.metrics.is_some())
            .field("notify", &self.notify.is_some())
            .finish_non_exhaustive()
    }
}

// SAFETY: the handle carries the producer role; the slots are plain bytes.
unsafe impl Send for SlotProducer {}

/// The reading end of a byte-slot ring.
pub struct SlotConsumer {
    cur: Padded<ConsumerCursor>,
    metrics: Option<Arc<RingMetrics>>,
    _owner: Owner,
}

impl std::fmt::Debug for SlotConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotConsumer")
            .field("ring", &*self.cur)
            .field("metrics", &self.metrics.is_some())
            .finish_non_exhaustive()
    }
}

// SAFETY: the handle carries the consumer role; the slots are plain bytes.
unsafe impl Send for SlotConsumer {}

fn whole_slots(len: usize, slot_size: usize) -> Result<usize> {
    if len % slot_size != 0 {
        return Err(Error::InvalidArgument(format!(
            "{len} bytes is not a whole number of {slot_size}-byte slots"
        )));
    }
    Ok(len / slot_size)
}

impl SlotProducer {
    status_methods!();

    /// Bytes per slot.
    pub fn slot_size(&self) -> usize {
        self.cur.slot_size()
    }

    /// Reserves up to `n` contiguous slots; the returned bytes hold
    /// `len / slot_size` slots. Follow with [`commit`](Self::commit).
    /// Errors: `Full`, `Closed`, `Corrupt`, `InvalidArgument` for `n == 0`.
    #[inline]
    pub fn reserve(&mut self, n: usize) -> Result<&mut [u8]> {
        if n == 0 {
            return Err(Error::InvalidArgument("reserve of 0 slots".into()));
        }
        if self.cur.is_closed() {
            return Err(self.cur.closed_error());
        }
        let free = self.cur.free(n)?;
        if free == 0 {
            return Err(Error::Full);
        }
        let (index, to_end) = self.cur.contiguous(self.cur.tail());
        self.reserved = n.min(free).min(to_end);
        // SAFETY: the reserved slots are free, so only we touch them until commit.
        Ok(unsafe {
            std::slice::from_raw_parts_mut(
                self.cur.slot_ptr(index),
                self.reserved * self.cur.slot_size(),
            )
        })
    }

    /// Publishes the first `n` slots of the last reservation.
    /// `InvalidArgument` when `n` exceeds it.
    #[inline]
    pub fn commit(&mut self, n: usize) -> Result<()> {
        if n > self.reserved {
            return Err(Error::InvalidArgument(format!(
                "commit of {n} slots exceeds the {} reserved",
                self.reserved
            )));
        }
        self.reserved = 0;
        if n > 0 {
            self.cur.publish(n);
            self.committed(n);
        }
        Ok(())
    }

    /// Copies as many whole slots of `bytes` as fit, one commit; returns
    /// the slot count (0 when full). `bytes.len()` must be a multiple of
    /// the slot size. Errors: `Closed`, `Corrupt`, `InvalidArgument`.
    #[inline]
    pub fn send(&mut self, bytes: &[u8]) -> Result<usize> {
        let n = whole_slots(bytes.len(), self.cur.slot_size())?;
        self.send_slots(bytes, n)
    }

    /// [`send`](Self::send) for callers that know the slot count: `slots`
    /// must be exactly `count` slots long (no division on this path).
    #[inline]
    pub fn send_slots(&mut self, slots: &[u8], count: usize) -> Result<usize> {
        if count == 1 {
            return self.send_one(slots).map(usize::from);
        }
        if count.checked_mul(self.cur.slot_size()) != Some(slots.len()) {
            return Err(not_whole_slots(slots.len(), count, self.cur.slot_size()));
        }
        if self.cur.is_closed() {
            return Err(self.cur.closed_error());
        }
        self.reserved = 0;
        // SAFETY: `slots` holds `count` slots and is not in the ring.
        let sent = unsafe { self.cur.push_copy(slots.as_ptr(), count)? };
        if sent > 0 {
            self.committed(sent);
        }
        Ok(sent)
    }

    /// Sends one slot (`slot` is exactly one slot long); `false` when full.
    /// The single-item path the C and Python calls take, small enough to
    /// inline there.
    #[inline(always)]
    pub fn send_one(&mut self, slot: &[u8]) -> Result<bool> {
        if slot.len() != self.cur.slot_size() {
            return Err(not_whole_slots(slot.len(), 1, self.cur.slot_size()));
        }
        if self.cur.is_closed() {
            return Err(self.cur.closed_error());
        }
        self.reserved = 0;
        // SAFETY: `slot` is one slot long and not in the ring.
        let sent = unsafe { self.cur.push_one(slot.as_ptr())? };
        if sent && (self.metrics.is_some() || self.notify.is_some()) {
            self.committed(1);
        }
        Ok(sent)
    }

    #[cold]
    fn committed(&self, n: usize) {
        if let Some(m) = &self.metrics {
            m.on_commit(n);
        }
        if let Some(hook) = &self.notify {
            hook.after_commit();
        }
    }

    /// Attaches `notify` (for example an [`EventNotifier`](crate::EventNotifier)),
    /// called after every commit; `None` detaches. A channel's producer
    /// calls it beside the channel's own wake-up, which stays.
    pub fn set_notifier(&mut self, notify: Option<Arc<dyn Notify>>) {
        self.notify = Hook::attach(self.notify.take(), notify);
    }

    /// Takes a channel's wake-up, called after every commit for the
    /// producer's life (what [`RingProducer::join_channel`](crate::channel::RingProducer::join_channel) does).
    pub(crate) fn join_channel(&mut self, wake: Arc<dyn Notify>) {
        self.notify = Some(Hook::channel(wake));
    }

    /// Waits by `strategy` until at least one slot is free. Errors:
    /// `Closed`, `TimedOut`, `Corrupt`.
    pub fn wait_for_space(&mut self, strategy: WaitStrategy) -> Result<()> {
        self.cur
            .wait_for_space(&mut Waiter::new(strategy), self.metrics.as_deref())
    }

    /// Sends every slot of `bytes`, waiting by `strategy` while the ring is
    /// full. On error, `Err((slots_sent, error))`.
    pub fn send_blocking(
        &mut self,
        bytes: &[u8],
        strategy: WaitStrategy,
    ) -> std::result::Result<usize, (usize, Error)> {
        let slot = self.cur.slot_size();
        let total = whole_slots(bytes.len(), slot).map_err(|e| (0, e))?;
        let mut sent = 0;
        // One waiter for the whole call, so a timeout bounds the call.
        let mut waiter = Waiter::new(strategy);
        while sent < total {
            let step = self
                .cur
                .wait_for_space(&mut waiter, self.metrics.as_deref())
                .and_then(|()| self.send(&bytes[sent * slot..]));
            match step {
                Ok(n) => sent += n,
                Err(e) => return Err((sent, e)),
            }
        }
        Ok(sent)
    }
}

impl SlotProducer {
    /// Lends the producer side to code that runs the index protocol itself
    /// (see [`Lease`]); a pending reservation is dropped. Until
    /// [`resume`](Self::resume) the handle must not send, nor take a
    /// notifier (the holder would not signal it). A producer of an MPSC or
    /// MPMC channel is lent with the channel's gate as the word its holder
    /// looks at after each publication ([`Lease::peer_waiters`]): the
    /// channel's consumers sleep on the channel's words, not the ring's.
    /// Refused (`InvalidArgument`) when the ring counts metrics or signals
    /// a notifier of the user's after commits, which the holder would skip.
    pub fn lease(&mut self) -> Result<Lease> {
        if self.metrics.is_some() {
            return Err(Self::not_lent());
        }
        let gate = match &self.notify {
            None => None,
            Some(hook) => Some(hook.lease_word().ok_or_else(Self::not_lent)?),
        };
        self.reserved = 0;
        let mut lease = self.cur.lease();
        if let Some(word) = gate {
            lease.peer_waiters = word;
        }
        Ok(lease)
    }

    #[cold]
    fn not_lent() -> Error {
        Error::InvalidArgument(
            "a producer with metrics or a notifier of its own cannot be leased".into(),
        )
    }

    /// Takes the side back from a lease whose position is now `tail`. It
    /// must be the tail the lease published and within a capacity of the
    /// consumer's head, else `Corrupt` and nothing changes.
    pub fn resume(&mut self, tail: u64) -> Result<()> {
        self.cur.resume(tail)
    }

    /// Wakes the consumer if it sleeps: what a lease holder does after
    /// publishing a tail while the word its lease looks at
    /// ([`Lease::peer_waiters`]) is not zero. For a producer of a channel
    /// that word is the channel's gate, and the channel's wake-up runs as
    /// after the producer's own commits.
    #[cold]
    pub fn wake_consumer(&self) {
        match &self.notify {
            Some(hook) if hook.is_channel() => hook.after_commit(),
            _ => self.cur.wake_consumer(),
        }
    }
}

impl Drop for SlotProducer {
    fn drop(&mut self) {
        self.cur.close();
    }
}

impl SlotConsumer {
    status_methods!();

    /// Bytes per slot.
    pub fn slot_size(&self) -> usize {
        self.cur.slot_size()
    }

    /// The readable slots at the head up to the end of the slot array, as
    /// bytes. Follow with [`advance`](Self::advance). Errors: `Empty`,
    /// `Closed` (closed and drained), `Corrupt`.
    #[inline]
    pub fn readable(&mut self) -> Result<&[u8]> {
        let avail = self.cur.available(usize::MAX)?;
        if avail == 0 {
            return Err(self.cur.empty_reason());
        }
        let (index, to_end) = self.cur.contiguous(self.cur.head());
        // SAFETY: published slots, ours until we advance past them.
        Ok(unsafe {
            std::slice::from_raw_parts(
                self.cur.slot_ptr(index),
                avail.min(to_end) * self.cur.slot_size(),
            )
        })
    }

    /// The readable slots past the first `skip` readable ones, which stay
    /// where they are: for a consumer that lends the slots at its head out
    /// in place (the Python binding's numpy arrays) and reads on before it
    /// frees them with [`advance`](Self::advance). Two runs, as
    /// `VecDeque::as_slices`: up to the end of the slot array, and from its
    /// start (empty unless the slots wrap around). Errors: `Empty` when no
    /// more than `skip` are readable, `Closed` when closed with none past
    /// them, `Corrupt`.
    #[inline]
    pub fn readable_past(&mut self, skip: usize) -> Result<(&[u8], &[u8])> {
        let avail = self.cur.available(usize::MAX)?;
        if avail <= skip {
            return Err(self.cur.empty_reason_past(skip));
        }
        let n = avail - skip;
        let (index, to_end) = self
            .cur
            .contiguous(self.cur.head().wrapping_add(skip as u64));
        let first = n.min(to_end);
        let size = self.cur.slot_size();
        // SAFETY: the `n` slots after the first `skip` are published and
        // ours until we advance past them; `first` runs to the end of the
        // slot array at most and the rest starts at slot 0.
        Ok(unsafe {
            (
                std::slice::from_raw_parts(self.cur.slot_ptr(index), first * size),
                std::slice::from_raw_parts(self.cur.slot_ptr(0), (n - first) * size),
            )
        })
    }

    /// Frees `n` read slots. `InvalidArgument` when fewer are readable.
    #[inline]
    pub fn advance(&mut self, n: usize) -> Result<()> {
        let avail = self.cur.available(n)?;
        if n > avail {
            return Err(Error::InvalidArgument(format!(
                "advance of {n} slots exceeds the {avail} readable"
            )));
        }
        if n > 0 {
            self.cur.release(n);
            if let Some(m) = &self.metrics {
                m.on_consume(n, None);
            }
        }
        Ok(())
    }

    /// Calls `f` on up to `max` readable slots in place and frees them with
    /// one head update; returns the count (0 when empty, closed or corrupt).
    pub fn consume_up_to(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> usize {
        self.consume_while(max, |slot| {
            f(slot);
            true
        })
    }

    /// Calls `f` on up to `max` readable slots in order until it returns
    /// `false`: the slots it accepted are freed with one head update, the
    /// one it declined and those after it stay in the ring. Returns the
    /// count accepted.
    pub fn consume_while(&mut self, max: usize, mut f: impl FnMut(&[u8]) -> bool) -> usize {
        let Ok(avail) = self.cur.available(max) else {
            return 0;
        };
        let n = avail.min(max);
        if n == 0 {
            return 0;
        }
        let started = self.metrics.as_ref().and_then(|m| m.start_batch());
        let size = self.cur.slot_size();
        let (index, to_end) = self.cur.contiguous(self.cur.head());
        let first = n.min(to_end);
        let mut done = 0;
        'runs: for (start, count) in [(index, first), (0, n - first)] {
            if count == 0 {
                continue;
            }
            // SAFETY: `count` published slots from `start`, ours until released.
            let run = unsafe { std::slice::from_raw_parts(self.cur.slot_ptr(start), count * size) };
            for slot in run.chunks_exact(size) {
                if !f(slot) {
                    break 'runs;
                }
                done += 1;
            }
        }
        if done > 0 {
            self.cur.release(done);
            if let Some(m) = &self.metrics {
                m.on_consume(done, started.map(|t| t.elapsed()));
            }
        }
        done
    }

    /// Copies as many whole slots as fit in `out` (one head update) and
    /// returns the slot count; `Ok(0)` when empty but open. Errors: `Closed`
    /// (closed and drained), `Corrupt`.
    #[inline]
    pub fn recv(&mut self, out: &mut [u8]) -> Result<usize> {
        let n = out.len() / self.cur.slot_size();
        self.recv_slots(out, n)
    }

    /// [`recv`](Self::recv) of at most `max` slots, for callers that know
    /// the count: `out` must hold at least `max` slots (no division on this path).
    #[inline]
    pub fn recv_slots(&mut self, out: &mut [u8], max: usize) -> Result<usize> {
        if max
            .checked_mul(self.cur.slot_size())
            .is_none_or(|need| need > out.len())
        {
            return Err(Error::InvalidArgument(format!(
                "buffer of {} bytes cannot hold {max} slots of {} bytes",
                out.len(),
                self.cur.slot_size()
            )));
        }
        let n = max;
        // SAFETY: `out` holds n slots and is not in the ring.
        let got = unsafe { self.cur.pop_copy(out.as_mut_ptr(), n)? };
        if got == 0 && n > 0 {
            return match self.cur.empty_reason() {
                Error::Empty => Ok(0),
                e => Err(e),
            };
        }
        if let Some(m) = &self.metrics {
            m.on_consume(got, None);
        }
        Ok(got)
    }

    /// Copies one slot into `out[..slot_size]`. Errors: `Empty`, `Closed`
    /// (closed and drained), `Corrupt`, `InvalidArgument` for a short `out`.
    #[inline(always)]
    pub fn try_recv(&mut self, out: &mut [u8]) -> Result<()> {
        match self.take_into(out)? {
            Some(_) => Ok(()),
            None => Err(self.nothing_taken(out.len())),
        }
    }

    /// Why [`try_recv`](Self::try_recv) took nothing: a short buffer (the
    /// take reads nothing into one), or the ring empty.
    #[cold]
    fn nothing_taken(&self, len: usize) -> Error {
        let slot = self.cur.slot_size();
        if len < slot {
            short_buffer(len, slot)
        } else {
            self.cur.empty_reason()
        }
    }

    /// Copies one slot into `out`; returns how many more the last look at
    /// the producer's position showed, `None` when empty: for a channel
    /// that polls many rings. `None` too for an `out` shorter than a slot,
    /// taking nothing: its callers tell the two apart afterwards.
    #[inline(always)]
    pub(crate) fn take_into(&mut self, out: &mut [u8]) -> Result<Option<usize>, Corrupt> {
        if out.len() < self.cur.slot_size() {
            return Ok(None);
        }
        // SAFETY: `out` holds a slot (above) and, borrowed mutably, is not
        // in the ring.
        let more = unsafe { self.cur.pop_one(out.as_mut_ptr())? };
        match more {
            Some(_) => {
                if let Some(m) = &self.metrics {
                    m.on_consume(1, None);
                }
            }
            None => self.cur.polled_empty(),
        }
        Ok(more)
    }

    /// Waits by `strategy` until at least one slot is readable. Errors:
    /// `Closed` (closed and drained), `TimedOut`, `Corrupt`.
    pub fn wait_for_data(&mut self, strategy: WaitStrategy) -> Result<()> {
        self.cur
            .wait_for_data(&mut Waiter::new(strategy), self.metrics.as_deref())
    }

    /// Waits by `strategy` until a slot past the first `skip` readable ones
    /// is readable (see [`readable_past`](Self::readable_past)). Errors:
    /// `Closed` when closed with none past them, `TimedOut`, `Corrupt`.
    pub fn wait_for_data_past(&mut self, skip: usize, strategy: WaitStrategy) -> Result<()> {
        self.cur
            .wait_for_data_past(skip, &mut Waiter::new(strategy), self.metrics.as_deref())
    }

    /// Waits by `strategy` until at least one slot is readable, then
    /// receives like [`recv`](Self::recv). `Closed` once closed and drained.
    pub fn recv_blocking(&mut self, out: &mut [u8], strategy: WaitStrategy) -> Result<usize> {
        if out.len() < self.cur.slot_size() {
            return Err(short_buffer(out.len(), self.cur.slot_size()));
        }
        self.cur
            .wait_for_data(&mut Waiter::new(strategy), self.metrics.as_deref())?;
        self.recv(out)
    }
}

impl SlotConsumer {
    /// Lends the consumer side to code that runs the index protocol itself
    /// (see [`Lease`]). Until [`resume`](Self::resume) the handle must not
    /// read. Refused (`InvalidArgument`) when the ring counts metrics,
    /// which the lease holder would skip.
    pub fn lease(&mut self) -> Result<Lease> {
        if self.metrics.is_some() {
            return Err(Error::InvalidArgument(
                "a consumer with metrics cannot be leased".into(),
            ));
        }
        Ok(self.cur.lease())
    }

    /// Takes the side back from a lease whose position is now `head`. It
    /// must be the head the lease published and at most a capacity behind
    /// the producer's tail, else `Corrupt` and nothing changes.
    pub fn resume(&mut self, head: u64) -> Result<()> {
        self.cur.resume(head)
    }

    /// Wakes the producer if it sleeps: what a lease holder does after
    /// publishing a head while the producer's sleeper count is not zero.
    #[cold]
    pub fn wake_producer(&self) {
        self.cur.wake_producer();
    }
}

impl Drop for SlotConsumer {
    fn drop(&mut self) {
        self.cur.close();
    }
}

/// The error for a buffer smaller than a slot, out of the hot paths.
#[cold]
fn short_buffer(len: usize, slot: usize) -> Error {
    Error::InvalidArgument(format!(
        "buffer of {len} bytes is smaller than a {slot}-byte slot"
    ))
}

#[cold]
fn not_whole_slots(len: usize, count: usize, slot: usize) -> Error {
    Error::InvalidArgument(format!("{len} bytes are not {count} slots of {slot} bytes"))
}
