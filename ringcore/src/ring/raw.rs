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
//! 0x008                   cached_head    u64   producer         producer
//! 0x010                   heartbeat_ns   u64   producer         anyone
//! 0x018                   pid            u32   producer         anyone
//! 0x080   consumer (128)  head           u64   consumer (Rel)   producer (Acq)
//! 0x088                   cached_tail    u64   consumer         consumer
//! 0x090                   heartbeat_ns   u64   consumer         anyone
//! 0x098                   pid            u32   consumer         anyone
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
//! `u64::MAX`. Each side keeps a cached copy of the other side's index in its
//! own line and reloads it (Acquire) only when the cache says full or empty,
//! so in steady state a side reads the other's line once per batch.
//!
//! Lines are 128 bytes apart, not 64: Intel's adjacent-line prefetcher pulls
//! cache lines in pairs, so 64-byte separation still lets the two sides
//! invalidate each other.
//!
//! Every value read from the other side is checked (`tail - head` must not
//! exceed the capacity) before it is used: in shared memory the other side
//! may be a crashed or hostile process.

use crate::sync::{
    futex_wait, futex_wake_all, heavy_barrier, light_barrier, AtomicU32, AtomicU64, Ordering,
};
use std::ptr::NonNull;
use std::time::Duration;

/// The producer's hot line.
#[repr(C, align(128))]
pub(crate) struct ProducerLine {
    /// Next position the producer writes; published with Release on commit.
    pub(crate) tail: AtomicU64,
    /// The producer's last view of `head`; only the producer touches it.
    pub(crate) cached_head: AtomicU64,
    /// Producer liveness stamp (shared rings), CLOCK_MONOTONIC nanoseconds.
    pub(crate) heartbeat_ns: AtomicU64,
    /// Producer process id (shared rings), 0 when none.
    pub(crate) pid: AtomicU32,
}

/// The consumer's hot line.
#[repr(C, align(128))]
pub(crate) struct ConsumerLine {
    /// Next position the consumer reads; published with Release on advance.
    pub(crate) head: AtomicU64,
    /// The consumer's last view of `tail`; only the consumer touches it.
    pub(crate) cached_tail: AtomicU64,
    /// Consumer liveness stamp (shared rings), CLOCK_MONOTONIC nanoseconds.
    pub(crate) heartbeat_ns: AtomicU64,
    /// Consumer process id (shared rings), 0 when none.
    pub(crate) pid: AtomicU32,
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

impl RingIndices {
    /// Fresh indices with both positions at `start` (0 in normal use).
    pub(crate) fn new(start: u64) -> Self {
        RingIndices {
            producer: ProducerLine {
                tail: AtomicU64::new(start),
                cached_head: AtomicU64::new(start),
                heartbeat_ns: AtomicU64::new(0),
                pid: AtomicU32::new(0),
            },
            consumer: ConsumerLine {
                head: AtomicU64::new(start),
                cached_tail: AtomicU64::new(start),
                heartbeat_ns: AtomicU64::new(0),
                pid: AtomicU32::new(0),
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
/// shared memory was overwritten by a crashed or hostile peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Corrupt {
    pub(crate) head: u64,
    pub(crate) tail: u64,
}

impl From<Corrupt> for crate::Error {
    fn from(c: Corrupt) -> Self {
        crate::Error::Corrupt(format!(
            "ring positions head={} tail={} are more than the capacity apart",
            c.head, c.tail
        ))
    }
}

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

    /// Fill level from two positions, refusing impossible ones.
    #[inline(always)]
    fn fill(&self, head: u64, tail: u64) -> Result<usize, Corrupt> {
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

    // ----- producer side --------------------------------------------------

    /// Producer: the tail position and how many slots are free, reloading
    /// `head` only when the cached view shows fewer than `want` free.
    #[inline]
    pub(crate) fn free(&self, want: usize) -> Result<(u64, usize), Corrupt> {
        let p = &self.indices().producer;
        // Relaxed: only this side writes `tail` and `cached_head`.
        let tail = p.tail.load(Ordering::Relaxed);
        let cached = p.cached_head.load(Ordering::Relaxed);
        let free = self.capacity() - self.fill(cached, tail)?;
        if free >= want {
            return Ok((tail, free));
        }
        // Acquire pairs with the Release store of `head` in `release`: the
        // consumer is done with every slot before `head`.
        let head = self.indices().consumer.head.load(Ordering::Acquire);
        p.cached_head.store(head, Ordering::Relaxed);
        Ok((tail, self.capacity() - self.fill(head, tail)?))
    }

    /// Producer: publishes `n` written slots after the tail and wakes a
    /// sleeping consumer. `n` must not exceed what [`free`](Self::free) reported.
    #[inline]
    pub(crate) fn publish(&self, n: usize) {
        let p = &self.indices().producer;
        let tail = p.tail.load(Ordering::Relaxed);
        // Release pairs with the Acquire load of `tail` in `available`: the
        // slot writes before this store are visible to the consumer.
        p.tail.store(tail.wrapping_add(n as u64), Ordering::Release);
        light_barrier();
        let wake = &self.indices().wake;
        if wake.consumer_waiters.load(Ordering::Relaxed) != 0 {
            self.wake(&wake.data_seq);
        }
    }

    // ----- consumer side --------------------------------------------------

    /// Consumer: the head position and how many slots are readable, reloading
    /// `tail` only when the cached view shows fewer than `want`.
    #[inline]
    pub(crate) fn available(&self, want: usize) -> Result<(u64, usize), Corrupt> {
        let c = &self.indices().consumer;
        let head = c.head.load(Ordering::Relaxed);
        let cached = c.cached_tail.load(Ordering::Relaxed);
        let avail = self.fill(head, cached)?;
        if avail >= want {
            return Ok((head, avail));
        }
        // Acquire pairs with the Release store of `tail` in `publish`.
        let tail = self.indices().producer.tail.load(Ordering::Acquire);
        c.cached_tail.store(tail, Ordering::Relaxed);
        Ok((head, self.fill(head, tail)?))
    }

    /// Consumer: hands `n` read slots back to the producer and wakes it if
    /// it sleeps. `n` must not exceed what [`available`](Self::available) reported.
    #[inline]
    pub(crate) fn release(&self, n: usize) {
        let c = &self.indices().consumer;
        let head = c.head.load(Ordering::Relaxed);
        // Release pairs with the Acquire load of `head` in `free`: our reads
        // of these slots happen before the producer overwrites them.
        c.head.store(head.wrapping_add(n as u64), Ordering::Release);
        light_barrier();
        let wake = &self.indices().wake;
        if wake.producer_waiters.load(Ordering::Relaxed) != 0 {
            self.wake(&wake.space_seq);
        }
    }

    // ----- either side ----------------------------------------------------

    /// Items in the ring, as seen now (clamped to the capacity).
    pub(crate) fn len(&self) -> usize {
        let idx = self.indices();
        let head = idx.consumer.head.load(Ordering::Acquire);
        let tail = idx.producer.tail.load(Ordering::Acquire);
        (tail.wrapping_sub(head)).min(self.mask + 1) as usize
    }

    /// Re-reads both positions and checks that they are possible. Call it
    /// from one of the two sides (its own position is then stable).
    pub(crate) fn validate(&self) -> Result<(), Corrupt> {
        let idx = self.indices();
        let head = idx.consumer.head.load(Ordering::Acquire);
        let tail = idx.producer.tail.load(Ordering::Acquire);
        self.fill(head, tail).map(|_| ())
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
        self.wake(&wake.data_seq);
        self.wake(&wake.space_seq);
    }

    #[cold]
    fn wake(&self, seq: &AtomicU32) {
        // Release: a sleeper that reads the new value also sees our index store.
        seq.fetch_add(1, Ordering::Release);
        futex_wake_all(seq, self.process_shared);
    }

    /// Consumer: sleeps until data arrives, the ring closes, `timeout`
    /// passes, or a spurious wake-up. The caller re-checks and loops.
    pub(crate) fn park_consumer(&self, timeout: Option<Duration>) {
        let idx = self.indices();
        let wake = &idx.wake;
        self.park(&wake.data_seq, &wake.consumer_waiters, timeout, || {
            let head = idx.consumer.head.load(Ordering::Relaxed);
            idx.producer.tail.load(Ordering::Acquire) != head
        });
    }

    /// Producer: sleeps until `want` slots are free (capped at the capacity),
    /// the ring closes, `timeout` passes, or a spurious wake-up.
    pub(crate) fn park_producer(&self, want: usize, timeout: Option<Duration>) {
        let idx = self.indices();
        let wake = &idx.wake;
        let want = want.clamp(1, self.capacity()) as u64;
        self.park(&wake.space_seq, &wake.producer_waiters, timeout, || {
            let tail = idx.producer.tail.load(Ordering::Relaxed);
            let head = idx.consumer.head.load(Ordering::Acquire);
            (self.mask + 1).saturating_sub(tail.wrapping_sub(head)) >= want
        });
    }

    fn park(
        &self,
        seq: &AtomicU32,
        waiters: &AtomicU32,
        timeout: Option<Duration>,
        ready: impl Fn() -> bool,
    ) {
        // Longest sleep when the barrier could not reach every waker exactly.
        const INEXACT_SLEEP: Duration = Duration::from_millis(1);
        // Read the word before registering: a wake that bumps it after this
        // point makes futex_wait return at once.
        let observed = seq.load(Ordering::Acquire);
        waiters.fetch_add(1, Ordering::Relaxed);
        let exact = heavy_barrier(self.process_shared);
        if !ready() && !self.is_closed() {
            let timeout = if exact {
                timeout
            } else {
                Some(timeout.map_or(INEXACT_SLEEP, |t| t.min(INEXACT_SLEEP)))
            };
            futex_wait(seq, observed, timeout, self.process_shared);
        }
        waiters.fetch_sub(1, Ordering::Relaxed);
    }

    // ----- bulk copies (used by every slot layer) -------------------------

    /// Producer: copies up to `n` slots from `src` into the ring (at most two
    /// `memcpy`s) and publishes them with one commit. Returns the count.
    ///
    /// # Safety
    /// The caller holds the producer role; `src` is readable for
    /// `n * slot_size` bytes and does not overlap the ring.
    #[inline]
    pub(crate) unsafe fn push_copy(&self, src: *const u8, n: usize) -> Result<usize, Corrupt> {
        let (tail, free) = self.free(n)?;
        let n = n.min(free);
        if n == 0 {
            return Ok(0);
        }
        let (index, to_end) = self.contiguous(tail);
        let first = n.min(to_end);
        // SAFETY: the `n` slots after `tail` are free, so the consumer does
        // not read them; the ranges are inside the slot array (first <= to_end,
        // n - first <= index) and `src` is valid by the caller's contract.
        unsafe {
            std::ptr::copy_nonoverlapping(src, self.slot_ptr(index), first * self.slot_size);
            std::ptr::copy_nonoverlapping(
                src.add(first * self.slot_size),
                self.slot_ptr(0),
                (n - first) * self.slot_size,
            );
        }
        self.publish(n);
        Ok(n)
    }

    /// Consumer: copies up to `n` slots out of the ring into `dst` and
    /// releases them with one head update. Returns the count.
    ///
    /// # Safety
    /// The caller holds the consumer role; `dst` is writable for
    /// `n * slot_size` bytes and does not overlap the ring.
    #[inline]
    pub(crate) unsafe fn pop_copy(&self, dst: *mut u8, n: usize) -> Result<usize, Corrupt> {
        let (head, avail) = self.available(n)?;
        let n = n.min(avail);
        if n == 0 {
            return Ok(0);
        }
        let (index, to_end) = self.contiguous(head);
        let first = n.min(to_end);
        // SAFETY: the `n` slots after `head` are published and the producer
        // does not write them until we release; ranges are in bounds as in
        // `push_copy`; `dst` is valid by the caller's contract.
        unsafe {
            std::ptr::copy_nonoverlapping(self.slot_ptr(index), dst, first * self.slot_size);
            std::ptr::copy_nonoverlapping(
                self.slot_ptr(0),
                dst.add(first * self.slot_size),
                (n - first) * self.slot_size,
            );
        }
        self.release(n);
        Ok(n)
    }
}
