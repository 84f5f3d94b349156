//! The SPSC index protocol, written once over raw memory.
//!
//! [`RawRing`] knows where the three index lines ([`RingIndices`]) and the
//! slot array live, and nothing else: the heap [`Ring`](crate::Ring), the
//! byte-slot ring of the C and Python APIs and the shared-memory ring all
//! drive the same code over different memory.
//!
//! # Layout of the index lines
//!
//! ```text
//! offset  line            field          type  written by       read by
//! 0x000   producer (128)  tail           u64   producer (Rel)   consumer (Acq)
//! 0x008                   heartbeat_ns   u64   producer         anyone
//! 0x010                   pid            u32   producer         anyone
//! 0x018                   pidns          u64   producer         anyone
//! 0x080   consumer (128)  head           u64   consumer (Rel)   producer (Acq)
//! 0x088                   heartbeat_ns   u64   consumer         anyone
//! 0x090                   pid            u32   consumer         anyone
//! 0x098                   pidns          u64   consumer         anyone
//! 0x100   wake (128)      closed         u32   anyone (Rel)     anyone (Acq)
//! 0x104                   consumer_wait  u32   consumer         producer
//! 0x108                   producer_wait  u32   producer         consumer
//! 0x10c                   data_seq       u32   producer         consumer (futex word)
//! 0x110                   space_seq      u32   consumer         producer (futex word)
//! ```
//!
//! Positions are free-running `u64` counters; a slot index is
//! `position & (capacity - 1)` and a fill level is `tail - head` in wrapping
//! arithmetic, so the protocol stays correct when the counters wrap past
//! `u64::MAX`.
//!
//! Each side works through a cursor ([`ProducerCursor`], [`ConsumerCursor`])
//! held in its own handle: its own position and a cached copy of the other
//! side's. The shared line of a side is only ever *stored* by its owner
//! (one Release store per batch) and *loaded* by the other side, and a side
//! reloads the other's position (Acquire) only when its cache says full or
//! empty. Keeping the cursor out of shared memory measured 3-9x faster for
//! single-item transfers than keeping own position and cache in the shared
//! line, because the owner never has to read back a line the other side is
//! polling; it also means a hostile peer cannot move our own position.
//!
//! Lines are 128 bytes apart, not 64: Intel's adjacent-line prefetcher pulls
//! cache lines in pairs, so 64-byte separation still lets the two sides
//! invalidate each other.
//!
//! Every value read from the other side is checked (`tail - head` must not
//! exceed the capacity) before it is used: in shared memory the other side
//! may be a crashed or hostile process. The one exception is a consumer that
//! learns of data from the slots themselves (the message ring's commit
//! words, [`ConsumerCursor::leads`]): a tail up to a capacity behind its head
//! then means "not stored yet".

use super::lease::Lease;
use crate::error::Error;
use crate::metrics::RingMetrics;
use crate::sync::{park, wake_if_waiting, AtomicU32, AtomicU64, Ordering};
use std::cell::Cell;
use std::ptr::NonNull;
use std::time::Duration;

/// The producer's hot line.
#[repr(C, align(128))]
pub(crate) struct ProducerLine {
    /// Next position the producer writes; published with Release on commit.
    pub(crate) tail: AtomicU64,
    /// Producer liveness stamp (shared rings), CLOCK_MONOTONIC nanoseconds.
    pub(crate) heartbeat_ns: AtomicU64,
    /// Producer process id (shared rings), 0 when none.
    pub(crate) pid: AtomicU32,
    /// The pid namespace `pid` belongs to (shared rings; 0: not recorded).
    pub(crate) pidns: AtomicU64,
}

/// The consumer's hot line.
#[repr(C, align(128))]
pub(crate) struct ConsumerLine {
    /// Next position the consumer reads; published with Release on advance.
    pub(crate) head: AtomicU64,
    /// Consumer liveness stamp (shared rings), CLOCK_MONOTONIC nanoseconds.
    pub(crate) heartbeat_ns: AtomicU64,
    /// Consumer process id (shared rings), 0 when none.
    pub(crate) pid: AtomicU32,
    /// The pid namespace `pid` belongs to (shared rings; 0: not recorded).
    pub(crate) pidns: AtomicU64,
}

/// Rarely written state: the closed flag and the sleep/wake handshake.
#[repr(C, align(128))]
pub(crate) struct WakeLine {
    /// Non-zero once either side closed the ring.
    pub(crate) closed: AtomicU32,
    /// Consumers registered as about to sleep on `data_seq`.
    pub(crate) consumer_waiters: AtomicU32,
    /// Producers registered as about to sleep on `space_seq`.
    pub(crate) producer_waiters: AtomicU32,
    /// Futex word consumers sleep on; bumped by a producer that wakes them.
    pub(crate) data_seq: AtomicU32,
    /// Futex word producers sleep on; bumped by a consumer that wakes them.
    pub(crate) space_seq: AtomicU32,
}

/// The three lines of the index protocol, in this order.
#[repr(C)]
pub(crate) struct RingIndices {
    pub(crate) producer: ProducerLine,
    pub(crate) consumer: ConsumerLine,
    pub(crate) wake: WakeLine,
}

// The drawing in `shm::layout` (the indices at 0x080 of a segment header)
// is what C and Python processes read: every field checked against it.
#[cfg(not(loom))]
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(offset_of!(RingIndices, producer) == 0x000);
    assert!(offset_of!(ProducerLine, tail) == 0x00);
    assert!(offset_of!(ProducerLine, heartbeat_ns) == 0x08);
    assert!(offset_of!(ProducerLine, pid) == 0x10);
    assert!(offset_of!(ProducerLine, pidns) == 0x18);
    assert!(offset_of!(RingIndices, consumer) == 0x080);
    assert!(offset_of!(ConsumerLine, head) == 0x00);
    assert!(offset_of!(ConsumerLine, heartbeat_ns) == 0x08);
    assert!(offset_of!(ConsumerLine, pid) == 0x10);
    assert!(offset_of!(ConsumerLine, pidns) == 0x18);
    assert!(offset_of!(RingIndices, wake) == 0x100);
    assert!(offset_of!(WakeLine, closed) == 0x00);
    assert!(offset_of!(WakeLine, consumer_waiters) == 0x04);
    assert!(offset_of!(WakeLine, producer_waiters) == 0x08);
    assert!(offset_of!(WakeLine, data_seq) == 0x0c);
    assert!(offset_of!(WakeLine, space_seq) == 0x10);
    assert!(size_of::<RingIndices>() == 0x180);
};

/// The words of a side's line that tell who holds it.
#[derive(Clone, Copy)]
pub(crate) struct Side<'a> {
    pub(crate) pid: &'a AtomicU32,
    pub(crate) heartbeat: &'a AtomicU64,
    pub(crate) pidns: &'a AtomicU64,
}

impl ProducerLine {
    /// Who holds the producer side.
    pub(crate) fn holder(&self) -> Side<'_> {
        Side {
            pid: &self.pid,
            heartbeat: &self.heartbeat_ns,
            pidns: &self.pidns,
        }
    }
}

impl ConsumerLine {
    /// Who holds the consumer side.
    pub(crate) fn holder(&self) -> Side<'_> {
        Side {
            pid: &self.pid,
            heartbeat: &self.heartbeat_ns,
            pidns: &self.pidns,
        }
    }
}

impl RingIndices {
    /// Fresh indices with both positions at `start` (0 in normal use).
    pub(crate) fn new(start: u64) -> Self {
        RingIndices {
            producer: ProducerLine {
                tail: AtomicU64::new(start),
                heartbeat_ns: AtomicU64::new(0),
                pid: AtomicU32::new(0),
                pidns: AtomicU64::new(0),
            },
            consumer: ConsumerLine {
                head: AtomicU64::new(start),
                heartbeat_ns: AtomicU64::new(0),
                pid: AtomicU32::new(0),
                pidns: AtomicU64::new(0),
            },
            wake: WakeLine {
                closed: AtomicU32::new(0),
                consumer_waiters: AtomicU32::new(0),
                producer_waiters: AtomicU32::new(0),
                data_seq: AtomicU32::new(0),
                space_seq: AtomicU32::new(0),
            },
        }
    }
}

/// The positions read were impossible (`tail - head` above the capacity):
/// shared memory was overwritten by a crashed or hostile peer (or read as
/// zeros after its file was truncated: see [`RawRing::unless_truncated`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Corrupt {
    pub(crate) head: u64,
    pub(crate) tail: u64,
}

impl From<Corrupt> for crate::error::Error {
    fn from(c: Corrupt) -> Self {
        crate::error::Error::Corrupt(format!(
            "ring positions head={} tail={} are more than the capacity apart",
            c.head, c.tail
        ))
    }
}

/// What a side reports once its segment's file was shrunk under it.
pub(crate) fn truncation() -> crate::error::Error {
    crate::error::Error::Corrupt(
        "the segment's file was truncated under this process's mapping \
         (the ring is closed here; what it held is gone)"
            .into(),
    )
}

/// A cursor as a handle holds it: on a cache line (pair) of its own.
pub(crate) type Padded<C> = crossbeam_utils::CachePadded<C>;

/// Where a ring's memory is and how big it is; `Copy`, no ownership.
///
/// The index methods touch only atomics and are safe; reading or writing
/// slots is up to the caller, who must hold the matching role.
#[derive(Clone, Copy)]
pub(crate) struct RawRing {
    indices: NonNull<RingIndices>,
    slots: NonNull<u8>,
    mask: u64,
    slot_size: usize,
    process_shared: bool,
}

impl std::fmt::Debug for RawRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRing")
            .field("capacity", &self.capacity())
            .field("slot_size", &self.slot_size)
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl RawRing {
    /// # Safety
    /// `indices` must point to initialised [`RingIndices`] and `slots` to
    /// `slot_size << ring_bits` bytes, both valid for as long as any copy of
    /// the returned value is used. `ring_bits <= 32`.
    pub(crate) unsafe fn new(
        indices: NonNull<RingIndices>,
        slots: NonNull<u8>,
        ring_bits: u8,
        slot_size: usize,
        process_shared: bool,
    ) -> Self {
        debug_assert!(ring_bits <= 32);
        crate::sync::init_barriers();
        RawRing {
            indices,
            slots,
            mask: (1u64 << ring_bits) - 1,
            slot_size,
            process_shared,
        }
    }

    /// Whether the segment's file was shrunk under this process's mapping
    /// (which then closed the ring here). Looked up by address, off the
    /// paths that move items: only errors ask.
    #[cold]
    #[inline(never)]
    pub(crate) fn truncated(&self) -> bool {
        #[cfg(not(loom))]
        if self.process_shared {
            return crate::sys::sigbus::faulted_at(self.indices.as_ptr() as usize);
        }
        false
    }

    /// `e`, or the truncation where the segment's file was
    /// [`truncated`](Self::truncated): what the garbage `e` reports was
    /// read from zeros.
    #[cold]
    #[inline(never)]
    pub(crate) fn unless_truncated(&self, e: crate::error::Error) -> crate::error::Error {
        if self.truncated() {
            truncation()
        } else {
            e
        }
    }

    /// Why a closed ring is: `Closed`, or `Corrupt` where its segment was
    /// [`truncated`](Self::truncated).
    #[cold]
    #[inline(never)]
    pub(crate) fn closed_error(&self) -> crate::error::Error {
        self.unless_truncated(crate::error::Error::Closed)
    }

    /// The peer's position for a side that takes its role back from a
    /// lease at `position`: `position` must be what the side's word `own`
    /// holds (the lease published it last), and `(head, tail)` of the
    /// peer's word `peer` at most a capacity apart. `None` where the
    /// segment was truncated: nothing is left to check against, so the
    /// side ends the lease where it was and its calls report why.
    pub(crate) fn resumed(
        &self,
        position: u64,
        own: &AtomicU64,
        peer: &AtomicU64,
        head_tail: impl FnOnce(u64) -> (u64, u64),
    ) -> Result<Option<u64>, Error> {
        let published = own.load(Ordering::Relaxed);
        let checked = if position != published {
            Err(Error::Corrupt(format!(
                "lease position {position} is not the position {published} in the ring"
            )))
        } else {
            // Acquire pairs with the peer's Release store of its position.
            let peer = peer.load(Ordering::Acquire);
            let (head, tail) = head_tail(peer);
            self.fill(head, tail).map(|_| peer).map_err(Into::into)
        };
        match checked {
            Ok(peer) => Ok(Some(peer)),
            Err(_) if self.truncated() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether other processes may hold a side (the futex words are shared).
    pub(crate) fn process_shared(&self) -> bool {
        self.process_shared
    }

    #[inline(always)]
    pub(crate) fn indices(&self) -> &RingIndices {
        // SAFETY: valid for the lifetime of self by the contract of `new`.
        unsafe { self.indices.as_ref() }
    }

    /// Number of slots.
    #[inline(always)]
    pub(crate) fn capacity(&self) -> usize {
        (self.mask + 1) as usize
    }

    /// Bytes per slot.
    #[inline(always)]
    pub(crate) fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// Address of slot `index` (`index < capacity`).
    #[inline(always)]
    pub(crate) fn slot_ptr(&self, index: usize) -> *mut u8 {
        debug_assert!(index < self.capacity());
        // SAFETY: index < capacity, so the offset stays inside the slot array.
        unsafe { self.slots.as_ptr().add(index * self.slot_size) }
    }

    /// Address of slot `index` (`index < capacity`) of a ring whose slots
    /// are `T`s: [`slot_ptr`](Self::slot_ptr) without the multiply by the
    /// slot size read at run time, for the typed rings' per-item calls.
    #[inline(always)]
    pub(crate) fn slot_of<T>(&self, index: usize) -> *mut T {
        debug_assert!(self.slot_size == std::mem::size_of::<T>() && index < self.capacity());
        // SAFETY: index < capacity slots of size_of::<T>() bytes, the slot array.
        unsafe { self.slots.as_ptr().cast::<T>().add(index) }
    }

    /// Address of byte `index` of a ring of 1-byte slots (`index <
    /// capacity`): [`slot_ptr`](Self::slot_ptr) without the multiply, for
    /// the message ring's per-record reads.
    #[inline(always)]
    pub(crate) fn byte_ptr(&self, index: usize) -> *mut u8 {
        debug_assert!(self.slot_size == 1 && index < self.capacity());
        // SAFETY: index < capacity bytes, the size of the slot array.
        unsafe { self.slots.as_ptr().add(index) }
    }

    /// Fill level from two positions, refusing impossible ones.
    #[inline(always)]
    pub(crate) fn fill(&self, head: u64, tail: u64) -> Result<usize, Corrupt> {
        let used = tail.wrapping_sub(head);
        if used > self.mask + 1 {
            return Err(Corrupt { head, tail });
        }
        Ok(used as usize)
    }

    /// Slot index of `pos` and the number of slots from there to the end of the array.
    #[inline(always)]
    pub(crate) fn contiguous(&self, pos: u64) -> (usize, usize) {
        let index = (pos & self.mask) as usize;
        (index, self.capacity() - index)
    }

    /// A [`Lease`] of the side that publishes `own`, reads `peer` and wakes
    /// the sleepers counted in `peer_waiters`.
    fn lease_of(
        &self,
        own: &AtomicU64,
        peer: &AtomicU64,
        peer_waiters: &AtomicU32,
        position: u64,
        cached: u64,
    ) -> Lease {
        Lease {
            slots: self.slots.as_ptr(),
            slot_size: self.slot_size,
            mask: self.mask,
            own,
            peer,
            closed: &self.indices().wake.closed,
            peer_waiters,
            full_fence: !crate::sync::LIGHT_BARRIER_IS_FREE,
            position,
            cached,
        }
    }

    // ----- either side ----------------------------------------------------

    /// Items in the ring as seen by a third party (clamped to the capacity).
    pub(crate) fn len(&self) -> usize {
        let idx = self.indices();
        let head = idx.consumer.head.load(Ordering::Acquire);
        let tail = idx.producer.tail.load(Ordering::Acquire);
        let cap = self.mask + 1;
        match tail.wrapping_sub(head) {
            used if used <= cap => used as usize,
            // A message receiver ahead of a tail not stored yet.
            _ if self.tail_lags(head, tail) => 0,
            _ => cap as usize,
        }
    }

    /// Whether `tail` is behind `head` by at most a capacity: what a
    /// consumer that leads the tail ([`ConsumerCursor::leads`]) sees while
    /// the producer has not stored it yet.
    #[inline]
    fn tail_lags(&self, head: u64, tail: u64) -> bool {
        head.wrapping_sub(tail) <= self.mask + 1
    }

    /// Whether either side closed the ring.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        // Acquire pairs with the Release in `close`.
        self.indices().wake.closed.load(Ordering::Acquire) != 0
    }

    /// Closes the ring and wakes every sleeper on both sides.
    pub(crate) fn close(&self) {
        let wake = &self.indices().wake;
        wake.closed.store(1, Ordering::Release);
        self.wake_consumer();
        self.wake_producer();
    }

    /// Publishes a new tail (Release: the slot writes before it become
    /// visible with it) and wakes a sleeping consumer.
    #[inline]
    pub(crate) fn store_tail(&self, tail: u64) {
        let idx = self.indices();
        // Pairs with the Acquire loads of `tail` by the consumer(s).
        idx.producer.tail.store(tail, Ordering::Release);
        wake_if_waiting(
            &idx.wake.consumer_waiters,
            &idx.wake.data_seq,
            self.process_shared,
        );
    }

    /// Publishes a new head (Release: the reads of the freed slots happen
    /// before the producer reuses them) and wakes a sleeping producer.
    #[inline]
    pub(crate) fn store_head(&self, head: u64) {
        let idx = self.indices();
        // Pairs with the Acquire load of `head` in `ProducerCursor::free`.
        idx.consumer.head.store(head, Ordering::Release);
        wake_if_waiting(
            &idx.wake.producer_waiters,
            &idx.wake.space_seq,
            self.process_shared,
        );
    }

    /// Wakes every consumer sleeping on the ring.
    pub(crate) fn wake_consumer(&self) {
        crate::sync::wake(&self.indices().wake.data_seq, self.process_shared);
    }

    /// Wakes every producer sleeping on the ring.
    pub(crate) fn wake_producer(&self) {
        crate::sync::wake(&self.indices().wake.space_seq, self.process_shared);
    }

    /// Consumer at `head`: sleeps until more than `skip` items are
    /// readable (or the tail is impossible, for the caller to report), the
    /// ring closes, `timeout` passes, or a spurious wake-up. The caller
    /// re-checks and loops. A tail short of `skip` (moved back by a peer, or
    /// not there yet) puts it to sleep, never into a spin.
    ///
    /// With `leads` the consumer may be ahead of the published tail (see
    /// [`ConsumerCursor::leads`]); a tail behind it then means nothing new.
    pub(crate) fn park_consumer(
        &self,
        head: u64,
        skip: u64,
        leads: bool,
        timeout: Option<Duration>,
    ) {
        let idx = self.indices();
        let wake = &idx.wake;
        let ready = || {
            let tail = idx.producer.tail.load(Ordering::Acquire);
            (tail.wrapping_sub(head) > skip && !(leads && self.tail_lags(head, tail)))
                || self.is_closed()
        };
        park(
            &wake.data_seq,
            &wake.consumer_waiters,
            ready,
            timeout,
            self.process_shared,
        );
    }

    /// A registration on the word a consumer sleeps on (woken after commits).
    ///
    /// # Safety
    /// The ring's memory stays valid while the registration lives.
    pub(crate) unsafe fn register_consumer(&self) -> crate::sync::Registration {
        let wake = &self.indices().wake;
        // SAFETY: by this function's contract.
        unsafe {
            crate::sync::Registration::counted(
                &wake.data_seq,
                &wake.consumer_waiters,
                self.process_shared,
            )
        }
    }

    /// A registration on the word a producer sleeps on (woken after the
    /// consumer frees slots).
    ///
    /// # Safety
    /// The ring's memory stays valid while the registration lives.
    pub(crate) unsafe fn register_producer(&self) -> crate::sync::Registration {
        let wake = &self.indices().wake;
        // SAFETY: by this function's contract.
        unsafe {
            crate::sync::Registration::counted(
                &wake.space_seq,
                &wake.producer_waiters,
                self.process_shared,
            )
        }
    }

    /// Producer at `tail`: sleeps until `want` slots are free (capped at the
    /// capacity), the ring closes, `timeout` passes, or a spurious wake-up.
    pub(crate) fn park_producer(&self, tail: u64, want: usize, timeout: Option<Duration>) {
        let idx = self.indices();
        let wake = &idx.wake;
        let want = (want as u64).clamp(1, self.mask + 1);
        let ready = || {
            let head = idx.consumer.head.load(Ordering::Acquire);
            (self.mask + 1).saturating_sub(tail.wrapping_sub(head)) >= want || self.is_closed()
        };
        park(
            &wake.space_seq,
            &wake.producer_waiters,
            ready,
            timeout,
            self.process_shared,
        );
    }
}

/// The producer's private state: its position and its last view of the
/// consumer's. Lives in the producer's handle, never in shared memory.
///
/// It is written on every operation, so a handle keeps it in a
/// [`Padded`]: wherever the handle is stored it must not share a line
/// (pair) with the other side's handle or anything else another thread writes.
pub(crate) struct ProducerCursor {
    pub(crate) raw: RawRing,
    tail: u64,
    cached_head: Cell<u64>,
}

impl std::fmt::Debug for ProducerCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerCursor")
            .field("ring", &self.raw)
            .field("tail", &self.tail)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for ProducerCursor {
    type Target = RawRing;
    #[inline(always)]
    fn deref(&self) -> &RawRing {
        &self.raw
    }
}

impl ProducerCursor {
    /// Takes the producer role at the ring's current tail. `Corrupt` when
    /// the positions in memory are impossible.
    pub(crate) fn new(raw: RawRing) -> Result<Self, Corrupt> {
        let idx = raw.indices();
        let tail = idx.producer.tail.load(Ordering::Acquire);
        let head = idx.consumer.head.load(Ordering::Acquire);
        raw.fill(head, tail)?;
        Ok(ProducerCursor {
            raw,
            tail,
            cached_head: Cell::new(head),
        })
    }

    /// The next position to write.
    #[inline(always)]
    pub(crate) fn tail(&self) -> u64 {
        self.tail
    }

    /// The consumer's position as this producer last read it: the consumer
    /// has read at least this far.
    pub(crate) fn seen_head(&self) -> u64 {
        self.cached_head.get()
    }

    /// Free slots, reloading `head` only when the cached view shows fewer than `want`.
    #[inline]
    pub(crate) fn free(&self, want: usize) -> Result<usize, Corrupt> {
        let free = self.raw.capacity() - self.raw.fill(self.cached_head.get(), self.tail)?;
        if free >= want {
            return Ok(free);
        }
        // Acquire pairs with the Release store of `head` in `ConsumerCursor::release`:
        // the consumer is done with every slot before `head`.
        let head = self.raw.indices().consumer.head.load(Ordering::Acquire);
        // Cache only a possible value, so a scribble that is undone is forgotten.
        let used = self.raw.fill(head, self.tail)?;
        self.cached_head.set(head);
        Ok(self.raw.capacity() - used)
    }

    /// Publishes `n` written slots after the tail (at most what `free`
    /// reported) and wakes a sleeping consumer.
    #[inline]
    pub(crate) fn publish(&mut self, n: usize) {
        self.tail = self.tail.wrapping_add(n as u64);
        self.raw.store_tail(self.tail);
    }

    /// Items in the ring as the producer sees them now.
    pub(crate) fn len(&self) -> usize {
        let head = self.raw.indices().consumer.head.load(Ordering::Acquire);
        self.raw
            .fill(head, self.tail)
            .unwrap_or(self.raw.capacity())
    }

    /// Re-reads the consumer's position and checks it against ours.
    pub(crate) fn validate(&self) -> Result<(), Corrupt> {
        let head = self.raw.indices().consumer.head.load(Ordering::Acquire);
        self.raw.fill(head, self.tail).map(|_| ())
    }

    /// The producer side as a [`Lease`]: its words, position and cached head.
    pub(crate) fn lease(&self) -> Lease {
        let idx = self.raw.indices();
        self.raw.lease_of(
            &idx.producer.tail,
            &idx.consumer.head,
            &idx.wake.consumer_waiters,
            self.tail,
            self.cached_head.get(),
        )
    }

    /// Takes the producer role back from a lease at `tail`: it must be the
    /// tail the lease published, within a capacity of the consumer's head.
    pub(crate) fn resume(&mut self, tail: u64) -> Result<(), Error> {
        let idx = self.raw.indices();
        let (own, peer) = (&idx.producer.tail, &idx.consumer.head);
        if let Some(head) = self.raw.resumed(tail, own, peer, |head| (head, tail))? {
            self.cached_head.set(head);
        }
        self.tail = tail;
        Ok(())
    }

    /// Sleeps until `want` slots may be free (see [`RawRing::park_producer`]).
    pub(crate) fn park(&self, want: usize, timeout: Option<Duration>) {
        self.raw.park_producer(self.tail, want, timeout);
    }

    /// Copies one slot from `src` into the ring and publishes it; `false`
    /// when the ring is full. The single-item path of the byte-slot ring
    /// (and so of the C and Python calls), small enough to inline.
    ///
    /// # Safety
    /// `src` is readable for `slot_size` bytes and does not overlap the ring.
    #[inline(always)]
    pub(crate) unsafe fn push_one(&mut self, src: *const u8) -> Result<bool, Corrupt> {
        if self.free(1)? == 0 {
            return Ok(false);
        }
        let (index, _) = self.raw.contiguous(self.tail);
        // SAFETY: the slot at the tail is free and inside the slot array;
        // `src` is valid by the caller's contract.
        unsafe { copy_bytes(src, self.raw.slot_ptr(index), self.raw.slot_size()) };
        self.publish(1);
        Ok(true)
    }

    /// Copies up to `n` slots from `src` into the ring (at most two
    /// `memcpy`s) and publishes them with one commit. Returns the count.
    ///
    /// # Safety
    /// `src` is readable for `n * slot_size` bytes and does not overlap the ring.
    #[inline]
    pub(crate) unsafe fn push_copy(&mut self, src: *const u8, n: usize) -> Result<usize, Corrupt> {
        let n = n.min(self.free(n)?);
        if n == 0 {
            return Ok(0);
        }
        let size = self.raw.slot_size();
        let (index, to_end) = self.raw.contiguous(self.tail);
        let first = n.min(to_end);
        // SAFETY: the `n` slots after `tail` are free, so the consumer does
        // not read them; both ranges are inside the slot array (first <=
        // to_end, n - first <= index); `src` is valid by the caller's contract.
        unsafe {
            copy_bytes(src, self.raw.slot_ptr(index), first * size);
            if n > first {
                copy_bytes(
                    src.add(first * size),
                    self.raw.slot_ptr(0),
                    (n - first) * size,
                );
            }
        }
        self.publish(n);
        Ok(n)
    }
}

/// The consumer's private state: its position and its last view of the
/// producer's. Lives in the consumer's handle, never in shared memory, in a
/// [`Padded`] for the reason given on [`ProducerCursor`].
pub(crate) struct ConsumerCursor {
    pub(crate) raw: RawRing,
    head: u64,
    cached_tail: Cell<u64>,
    /// The consumer learns of data from the slots themselves (the message
    /// ring's commit words), so it may run ahead of a tail the producer has
    /// not stored yet: a tail up to a capacity behind `head` then means
    /// "nothing new" instead of corruption.
    pub(crate) leads: bool,
    /// Empty polls in a row at `empty_at`, the head they found (see
    /// [`polled_empty`](Self::polled_empty)); kept off the read path.
    empty_polls: Cell<u32>,
    empty_at: Cell<u64>,
}

/// Empty polls in a row after which a poller prefetches the next slot.
const PREFETCH_AFTER: u32 = 8;

impl std::fmt::Debug for ConsumerCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerCursor")
            .field("ring", &self.raw)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for ConsumerCursor {
    type Target = RawRing;
    #[inline(always)]
    fn deref(&self) -> &RawRing {
        &self.raw
    }
}

impl ConsumerCursor {
    /// Takes the consumer role at the ring's current head. `Corrupt` when
    /// the positions in memory are impossible.
    pub(crate) fn new(raw: RawRing) -> Result<Self, Corrupt> {
        Self::open(raw, false)
    }

    /// Takes the consumer role of a ring whose consumer leads the tail
    /// (see [`leads`](Self::leads)): a head ahead of the stored tail, left by
    /// a producer that died between a commit word and the tail, is valid.
    pub(crate) fn leading(raw: RawRing) -> Result<Self, Corrupt> {
        Self::open(raw, true)
    }

    fn open(raw: RawRing, leads: bool) -> Result<Self, Corrupt> {
        let idx = raw.indices();
        let head = idx.consumer.head.load(Ordering::Acquire);
        let tail = idx.producer.tail.load(Ordering::Acquire);
        let cur = ConsumerCursor {
            raw,
            head,
            cached_tail: Cell::new(tail),
            leads,
            empty_polls: Cell::new(0),
            empty_at: Cell::new(head),
        };
        cur.readable(tail)?;
        Ok(cur)
    }

    /// The next position to read.
    #[inline(always)]
    pub(crate) fn head(&self) -> u64 {
        self.head
    }

    /// Readable items, reloading `tail` only when the cached view shows fewer than `want`.
    #[inline]
    pub(crate) fn available(&self, want: usize) -> Result<usize, Corrupt> {
        if let Ok(avail) = self.raw.fill(self.head, self.cached_tail.get()) {
            if avail >= want {
                return Ok(avail);
            }
        }
        // Acquire pairs with the Release store of `tail` in `ProducerCursor::publish`.
        let tail = self.raw.indices().producer.tail.load(Ordering::Acquire);
        let avail = self.readable(tail)?;
        self.cached_tail.set(tail);
        Ok(avail)
    }

    /// Readable slots when the producer's tail is `tail`.
    #[inline]
    fn readable(&self, tail: u64) -> Result<usize, Corrupt> {
        self.raw.fill(self.head, tail).or_else(|c| {
            if self.leads && self.raw.tail_lags(self.head, tail) {
                Ok(0)
            } else {
                Err(c)
            }
        })
    }

    /// For a consumer that leads the tail: how many positions past its
    /// head it may read, up to a ring past the tail it loaded last (0 when
    /// that tail is impossible). Costs no load of the tail: a consumer
    /// that keeps up reloads it ([`reload_lead_room`](Self::reload_lead_room))
    /// about once a lap.
    #[inline]
    pub(crate) fn lead_room(&self) -> usize {
        self.room_before(self.cached_tail.get())
    }

    /// [`lead_room`](Self::lead_room) after loading the tail again.
    #[cold]
    pub(crate) fn reload_lead_room(&self) -> usize {
        // Acquire pairs with the Release store of `tail` in `ProducerCursor::publish`.
        let tail = self.raw.indices().producer.tail.load(Ordering::Acquire);
        let room = self.room_before(tail);
        if room > 0 {
            self.cached_tail.set(tail);
        }
        room
    }

    fn room_before(&self, tail: u64) -> usize {
        let cap = self.raw.mask + 1;
        match tail.wrapping_add(cap).wrapping_sub(self.head) {
            room if room <= 2 * cap => room as usize,
            _ => 0,
        }
    }

    /// A poller found the ring empty. After [`PREFETCH_AFTER`] empty polls
    /// in a row it starts fetching the slot the next item lands in, with
    /// each poll, so that the slot arrives with the tail: a consumer waiting
    /// for a reply measured round trip p50 130-140 ns with it, 150-160 ns
    /// without. Not sooner: a consumer keeping up with a streaming producer
    /// finds the ring empty between most items, and fetching the slot line
    /// the producer is filling takes the line from it once per item
    /// (single-item throughput 9-49 M/s when every empty poll prefetched,
    /// where rtrb made 38-173 M/s; 164-173 M/s with the threshold, beside
    /// rtrb's 131-177 M/s).
    #[inline]
    pub(crate) fn polled_empty(&self) {
        if self.empty_at.get() != self.head {
            // The first empty poll since the consumer moved on.
            self.empty_at.set(self.head);
            self.empty_polls.set(1);
            return;
        }
        let n = self.empty_polls.get();
        if n < PREFETCH_AFTER {
            self.empty_polls.set(n + 1);
            return;
        }
        let (index, _) = self.raw.contiguous(self.head);
        prefetch_read(self.raw.slot_ptr(index));
    }

    /// Hands `n` read slots back (at most what `available` reported) and
    /// wakes a sleeping producer.
    #[inline]
    pub(crate) fn release(&mut self, n: usize) {
        self.head = self.head.wrapping_add(n as u64);
        self.raw.store_head(self.head);
    }

    /// Items in the ring as the consumer sees them now.
    pub(crate) fn len(&self) -> usize {
        let tail = self.raw.indices().producer.tail.load(Ordering::Acquire);
        self.readable(tail).unwrap_or(0)
    }

    /// Re-reads the producer's position and checks it against ours.
    pub(crate) fn validate(&self) -> Result<(), Corrupt> {
        let tail = self.raw.indices().producer.tail.load(Ordering::Acquire);
        self.readable(tail).map(|_| ())
    }

    /// The consumer side as a [`Lease`]: its words, position and cached
    /// tail. Not for a consumer that leads the tail.
    pub(crate) fn lease(&self) -> Lease {
        debug_assert!(!self.leads);
        let idx = self.raw.indices();
        self.raw.lease_of(
            &idx.consumer.head,
            &idx.producer.tail,
            &idx.wake.producer_waiters,
            self.head,
            self.cached_tail.get(),
        )
    }

    /// Takes the consumer role back from a lease at `head`: it must be the
    /// head the lease published, at most a capacity behind the tail.
    pub(crate) fn resume(&mut self, head: u64) -> Result<(), Error> {
        let idx = self.raw.indices();
        let (own, peer) = (&idx.consumer.head, &idx.producer.tail);
        if let Some(tail) = self.raw.resumed(head, own, peer, |tail| (head, tail))? {
            self.cached_tail.set(tail);
        }
        self.head = head;
        self.empty_polls.set(0);
        Ok(())
    }

    /// Sleeps until data may be readable (see [`RawRing::park_consumer`]).
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        self.park_past(0, timeout);
    }

    /// [`park`](Self::park) until data may be readable past the first
    /// `skip` readable items (at most what `available` reported).
    pub(crate) fn park_past(&self, skip: usize, timeout: Option<Duration>) {
        self.raw
            .park_consumer(self.head, skip as u64, self.leads, timeout);
    }

    /// Copies one slot out of the ring into `dst` and releases it; returns
    /// how many more the last look at the producer's position showed, or
    /// `None` when none is readable. The single-item path, small enough to
    /// inline.
    ///
    /// # Safety
    /// `dst` is writable for `slot_size` bytes and does not overlap the ring.
    #[inline(always)]
    pub(crate) unsafe fn pop_one(&mut self, dst: *mut u8) -> Result<Option<usize>, Corrupt> {
        let seen = self.available(1)?;
        if seen == 0 {
            return Ok(None);
        }
        let (index, _) = self.raw.contiguous(self.head);
        // SAFETY: the slot at the head is published and ours until we
        // release it; `dst` is valid by the caller's contract.
        unsafe { copy_bytes(self.raw.slot_ptr(index), dst, self.raw.slot_size()) };
        self.release(1);
        Ok(Some(seen - 1))
    }

    /// Copies up to `n` slots out of the ring into `dst` and releases them
    /// with one head update. Returns the count.
    ///
    /// # Safety
    /// `dst` is writable for `n * slot_size` bytes and does not overlap the ring.
    #[inline]
    pub(crate) unsafe fn pop_copy(&mut self, dst: *mut u8, n: usize) -> Result<usize, Corrupt> {
        let n = n.min(self.available(n)?);
        if n == 0 {
            return Ok(0);
        }
        let size = self.raw.slot_size();
        let (index, to_end) = self.raw.contiguous(self.head);
        let first = n.min(to_end);
        // SAFETY: the `n` slots after `head` are published and the producer
        // does not write them until we release; ranges are in bounds as in
        // `push_copy`; `dst` is valid by the caller's contract.
        unsafe {
            copy_bytes(self.raw.slot_ptr(index), dst, first * size);
            if n > first {
                copy_bytes(
                    self.raw.slot_ptr(0),
                    dst.add(first * size),
                    (n - first) * size,
                );
            }
        }
        self.release(n);
        Ok(n)
    }
}

/// Copies `len` bytes between non-overlapping ranges. Up to 16 bytes (one
/// small slot, the common single-item call) are moved inline, 8 bytes with
/// one word load and store, the others with two possibly overlapping ones:
/// a libc memcpy call costs more than such a copy.
///
/// # Safety
/// As for `ptr::copy_nonoverlapping(src, dst, len)`.
#[inline(always)]
unsafe fn copy_bytes(src: *const u8, dst: *mut u8, len: usize) {
    use std::ptr::{read_unaligned as get, write_unaligned as put};
    // SAFETY: in every arm each access lies within the first `len` bytes
    // of its range, which the caller guarantees valid and non-overlapping.
    unsafe {
        match len {
            // The most common slot (a u64 or a pointer) in one move.
            8 => put(dst.cast::<u64>(), get(src.cast::<u64>())),
            9..=16 => {
                let (a, b) = (get(src.cast::<u64>()), get(src.add(len - 8).cast::<u64>()));
                put(dst.cast::<u64>(), a);
                put(dst.add(len - 8).cast::<u64>(), b);
            }
            4..=7 => {
                let (a, b) = (get(src.cast::<u32>()), get(src.add(len - 4).cast::<u32>()));
                put(dst.cast::<u32>(), a);
                put(dst.add(len - 4).cast::<u32>(), b);
            }
            _ => std::ptr::copy_nonoverlapping(src, dst, len),
        }
    }
}

/// The items a reset of the ring of `p` and `c` drains, checked before it
/// changes anything: the two cursors must be one ring's, and its published
/// tail the producer's own (a peer that wrote it makes the reset fail
/// whole, rather than drain to its tail and then fail).
pub(crate) fn to_drain(p: &ProducerCursor, c: &ConsumerCursor) -> Result<usize, Error> {
    if !std::ptr::eq(p.raw.indices(), c.raw.indices()) {
        return Err(Error::InvalidArgument(
            "the producer and the consumer belong to different rings".into(),
        ));
    }
    if p.raw.truncated() {
        // Reopened, it would take sends into memory no peer shares.
        return Err(truncation());
    }
    let published = p.raw.indices().producer.tail.load(Ordering::Acquire);
    if published != p.tail {
        return Err(Error::Corrupt(format!(
            "the ring's tail {published} is not its producer's {}",
            p.tail
        )));
    }
    Ok(p.raw.fill(c.head, p.tail)?)
}

/// Reopens a drained ring and zeroes its metrics: the end of a reset, for
/// which the caller holds both cursors mutably (so neither side is in use or
/// asleep) and has emptied the ring. The positions stay where they are
/// (equal), so an observer on another thread never sees them jump.
pub(crate) fn reopen(
    p: &mut ProducerCursor,
    c: &mut ConsumerCursor,
    metrics: Option<&RingMetrics>,
) -> Result<(), Error> {
    if p.tail != c.head {
        // Only a peer scribbling a shared ring's tail gets here.
        return Err(Error::Corrupt(format!(
            "ring not empty after draining (tail {}, head {})",
            p.tail, c.head
        )));
    }
    p.raw.indices().wake.closed.store(0, Ordering::Release);
    if let Some(m) = metrics {
        m.reset();
    }
    Ok(())
}

/// Hints the CPU to start loading the cache line at `p` for reading.
#[inline(always)]
pub(crate) fn prefetch_read(p: *const u8) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = p;
}
