//! Typed producer and consumer handles over the index protocol.

use super::raw::{ConsumerCursor, Corrupt, Padded, ProducerCursor, RawRing};
use super::status_methods;
use crate::error::{Error, Result, SendError};
use crate::metrics::RingMetrics;
use crate::notify::{Hook, Notify};
use crate::pod::Pod;
use crate::wait::{Backoff, WaitStrategy, Waiter};
use std::marker::PhantomData;
use std::mem::{needs_drop, MaybeUninit};
use std::ptr;
use std::sync::Arc;

/// Keeps a ring's memory alive while any handle to it exists.
pub(crate) type Owner = Arc<dyn Send + Sync>;

/// The writing end of an SPSC ring. `Send`, not `Clone`, not `Sync`: exactly
/// one thread produces at a time.
///
/// Dropping the producer closes the ring; the consumer still reads what is left.
///
/// ```
/// use ringcore::{Config, Ring};
/// let (mut tx, mut rx) = Ring::<u64>::new(Config::with_ring_bits(4)).unwrap();
/// tx.send_one(7).unwrap();
/// assert_eq!(tx.send(&[8, 9]), 2);
/// let mut seen = Vec::new();
/// rx.consume_batch(|x| seen.push(*x));
/// assert_eq!(seen, [7, 8, 9]);
/// ```
pub struct Producer<T> {
    cur: Padded<ProducerCursor>,
    metrics: Option<Arc<RingMetrics>>,
    notify: Option<Hook>,
    _owner: Owner,
    _marker: PhantomData<T>,
}

impl<T> std::fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("ring", &*self.cur)
            .field("metrics", &self.metrics.is_some())
            .field("notify", &self.notify.is_some())
            .finish_non_exhaustive()
    }
}

// SAFETY: the producer owns the writing role; moving it to another thread
// moves the role. Items of type T cross threads, hence `T: Send`.
unsafe impl<T: Send> Send for Producer<T> {}

/// The reading end of an SPSC ring. `Send`, not `Clone`, not `Sync`.
///
/// Dropping the consumer closes the ring, so a blocked producer wakes up.
pub struct Consumer<T> {
    cur: Padded<ConsumerCursor>,
    metrics: Option<Arc<RingMetrics>>,
    prefetch_threshold: usize,
    _owner: Owner,
    _marker: PhantomData<T>,
}

impl<T> std::fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("ring", &*self.cur)
            .field("metrics", &self.metrics.is_some())
            .finish_non_exhaustive()
    }
}

// SAFETY: as for `Producer`: the handle carries the reading role.
unsafe impl<T: Send> Send for Consumer<T> {}

/// Builds the two handles over `raw` (both positions must be valid).
pub(crate) fn split<T>(
    raw: RawRing,
    owner: Owner,
    metrics: Option<Arc<RingMetrics>>,
    prefetch_threshold: usize,
) -> Result<(Producer<T>, Consumer<T>)> {
    Ok((
        Producer::from_parts(raw, owner.clone(), metrics.clone())?,
        Consumer::from_parts(raw, owner, metrics, prefetch_threshold)?,
    ))
}

impl<T> Producer<T> {
    /// The producer handle of the ring at `raw`, whose memory `owner` keeps alive.
    pub(crate) fn from_parts(
        raw: RawRing,
        owner: Owner,
        metrics: Option<Arc<RingMetrics>>,
    ) -> Result<Self> {
        debug_assert_eq!(raw.slot_size(), std::mem::size_of::<T>());
        Ok(Producer {
            cur: Padded::new(ProducerCursor::new(raw)?),
            metrics,
            notify: None,
            _owner: owner,
            _marker: PhantomData,
        })
    }
}

impl<T> Consumer<T> {
    /// The consumer handle of the ring at `raw`, whose memory `owner` keeps alive.
    pub(crate) fn from_parts(
        raw: RawRing,
        owner: Owner,
        metrics: Option<Arc<RingMetrics>>,
        prefetch_threshold: usize,
    ) -> Result<Self> {
        debug_assert_eq!(raw.slot_size(), std::mem::size_of::<T>());
        Ok(Consumer {
            cur: Padded::new(ConsumerCursor::new(raw)?),
            metrics,
            prefetch_threshold,
            _owner: owner,
            _marker: PhantomData,
        })
    }
}

impl<T> Producer<T> {
    status_methods!();

    /// Slots free for writing now.
    pub fn available_capacity(&self) -> usize {
        self.capacity() - self.len()
    }

    /// Reserves up to `n` contiguous slots for writing in place.
    ///
    /// The reservation may be shorter than `n`: it never wraps past the end
    /// of the slot array and never exceeds the free space. Nothing is
    /// published until [`Reservation::commit`]; dropping it publishes nothing.
    /// Errors: [`Error::Full`], [`Error::Closed`], [`Error::Corrupt`], and
    /// [`Error::InvalidArgument`] for `n == 0`.
    #[inline]
    pub fn reserve(&mut self, n: usize) -> Result<Reservation<'_, T>> {
        if n == 0 {
            return Err(Error::InvalidArgument("reserve of 0 slots".into()));
        }
        if self.cur.is_closed() {
            return Err(self.cur.closed_error());
        }
        let free = self.cur.free(n)?;
        if free == 0 {
            if let Some(m) = &self.metrics {
                m.on_reserve_failure();
            }
            return Err(Error::Full);
        }
        let (index, to_end) = self.cur.contiguous(self.cur.tail());
        Ok(Reservation {
            ptr: self.cur.slot_ptr(index).cast::<T>(),
            len: n.min(free).min(to_end),
            written: 0,
            producer: self,
        })
    }

    /// [`reserve`](Self::reserve), retrying with a [`Backoff`] (spin, then
    /// yield) while the ring is full; gives [`Error::Full`] when the backoff completes.
    pub fn reserve_with_backoff(&mut self, n: usize) -> Result<Reservation<'_, T>> {
        let backoff = Backoff::new();
        while self.free_now(n)? == 0 {
            if backoff.is_completed() {
                if let Some(m) = &self.metrics {
                    m.on_reserve_failure();
                }
                return Err(Error::Full);
            }
            if let Some(m) = &self.metrics {
                m.on_reserve_retry();
            }
            backoff.snooze();
        }
        self.reserve(n)
    }

    /// [`reserve`](Self::reserve), waiting by `strategy` while the ring is
    /// full. Errors: [`Error::TimedOut`], [`Error::Closed`], [`Error::Corrupt`].
    pub fn reserve_blocking(
        &mut self,
        n: usize,
        strategy: WaitStrategy,
    ) -> Result<Reservation<'_, T>> {
        self.wait_for_space(&mut Waiter::new(strategy))?;
        self.reserve(n)
    }

    /// Sends one item. On failure the item comes back in the error
    /// ([`Error::Full`], [`Error::Closed`] or [`Error::Corrupt`]).
    #[inline(always)]
    pub fn send_one(&mut self, item: T) -> Result<(), SendError<T>> {
        if !self.cur.is_closed() {
            if let Ok(1..) = self.cur.free(1) {
                let (index, _) = self.cur.contiguous(self.cur.tail());
                // SAFETY: the slot at the tail is free and only we write it.
                unsafe { self.cur.slot_of::<T>(index).write(item) };
                self.publish(1);
                return Ok(());
            }
        }
        Err(self.refused(item))
    }

    /// Why [`send_one`](Self::send_one) refused `item`, looked at again:
    /// out of line, so that the send itself inlines into its caller's loop
    /// (passing what the send found instead cost it that in measurements).
    /// A ring that has room by now is still reported full, as it was
    /// found; one closed, or with impossible positions, by now says so.
    #[cold]
    #[inline(never)]
    fn refused(&self, item: T) -> SendError<T> {
        let reason = if self.cur.is_closed() {
            self.cur.closed_error()
        } else if let Err(c) = self.cur.free(1) {
            c.into()
        } else {
            if let Some(m) = &self.metrics {
                m.on_reserve_failure();
            }
            Error::Full
        };
        SendError { item, reason }
    }

    /// Sends one item, waiting by `strategy` while the ring is full.
    pub fn send_one_blocking(
        &mut self,
        item: T,
        strategy: WaitStrategy,
    ) -> Result<(), SendError<T>> {
        match self.wait_for_space(&mut Waiter::new(strategy)) {
            Ok(()) => self.send_one(item),
            Err(reason) => Err(SendError { item, reason }),
        }
    }

    /// Sends as many of `items` as fit, with one commit; returns how many.
    ///
    /// Returns 0 when the ring is full, closed or corrupt
    /// ([`is_closed`](Self::is_closed) and [`check`](Self::check) tell which).
    #[inline]
    pub fn send(&mut self, items: &[T]) -> usize
    where
        T: Copy,
    {
        self.send_or_why(items).unwrap_or(0)
    }

    /// [`send`](Self::send), with why nothing went: `Closed` or `Corrupt`
    /// (`Ok(0)`: full).
    #[inline]
    fn send_or_why(&mut self, items: &[T]) -> Result<usize>
    where
        T: Copy,
    {
        if self.cur.is_closed() {
            return Err(self.cur.closed_error());
        }
        // SAFETY: `items` is a live slice of `items.len()` values of the
        // ring's slot type, outside the ring.
        let n = unsafe {
            self.cur
                .push_copy(items.as_ptr().cast::<u8>(), items.len())?
        };
        if n > 0 {
            if let Some(m) = &self.metrics {
                m.on_commit(n);
            }
            if let Some(hook) = &self.notify {
                hook.after_commit();
            }
        }
        Ok(n)
    }

    /// Sends every item of `items`, waiting by `strategy` whenever the ring
    /// is full; returns how many were sent before an error (`Closed`,
    /// `TimedOut` or `Corrupt`), with the error.
    pub fn send_blocking(
        &mut self,
        items: &[T],
        strategy: WaitStrategy,
    ) -> std::result::Result<usize, (usize, Error)>
    where
        T: Copy,
    {
        let mut sent = 0;
        let mut waiter = Waiter::new(strategy);
        while sent < items.len() {
            // A send that found the consumer's position impossible says so:
            // the wait looks only at the view it has, which shows room.
            let step = self
                .wait_for_space(&mut waiter)
                .and_then(|()| self.send_or_why(&items[sent..]));
            match step {
                Ok(n) => sent += n,
                Err(e) => return Err((sent, e)),
            }
        }
        Ok(sent)
    }

    /// Free slots after refreshing the consumer's position; Closed/Corrupt as errors.
    fn free_now(&self, want: usize) -> Result<usize> {
        if self.cur.is_closed() {
            return Err(self.cur.closed_error());
        }
        Ok(self.cur.free(want)?)
    }

    fn wait_for_space(&mut self, waiter: &mut Waiter) -> Result<()> {
        self.cur.wait_for_space(waiter, self.metrics.as_deref())
    }

    #[inline]
    fn publish(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.cur.publish(n);
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
}

impl<T> Producer<T> {
    /// [`Ring::reset`](super::Ring::reset).
    pub(crate) fn reset_with(&mut self, consumer: &mut Consumer<T>) -> Result<()> {
        let left = super::raw::to_drain(&self.cur, &consumer.cur)?;
        consumer.skip(left);
        super::raw::reopen(&mut self.cur, &mut consumer.cur, self.metrics.as_deref())
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        self.cur.close();
    }
}

/// Contiguous free slots reserved by [`Producer::reserve`], written in place.
///
/// Write with [`push`](Self::push), [`copy_from_slice`](Self::copy_from_slice),
/// [`fill_from_iter`](Self::fill_from_iter) or, for [`Pod`] types,
/// [`as_mut_slice`](Self::as_mut_slice); then [`commit`](Self::commit).
/// Dropped without a commit, it publishes nothing and drops what it holds.
///
/// ```
/// use ringcore::{Config, Ring};
/// let (mut tx, mut rx) = Ring::<u32>::new(Config::with_ring_bits(3)).unwrap();
/// let mut r = tx.reserve(4).unwrap();
/// r.as_mut_slice().copy_from_slice(&[1, 2, 3, 4]);
/// r.commit_n(4);
/// assert_eq!(rx.readable(), Some(&[1, 2, 3, 4][..]));
/// ```
pub struct Reservation<'a, T> {
    producer: &'a mut Producer<T>,
    ptr: *mut T,
    len: usize,
    written: usize,
}

impl<T> std::fmt::Debug for Reservation<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("len", &self.len)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl<T> Reservation<'_, T> {
    /// Slots reserved (may be fewer than requested).
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true for a reservation that was handed out.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slots written so far through the safe writers.
    pub fn written(&self) -> usize {
        self.written
    }

    /// Writes the next slot; gives the item back when the reservation is full.
    #[inline]
    pub fn push(&mut self, item: T) -> std::result::Result<(), T> {
        if self.written == self.len {
            return Err(item);
        }
        // SAFETY: written < len, so the slot is inside the reservation and unwritten.
        unsafe { self.ptr.add(self.written).write(item) };
        self.written += 1;
        Ok(())
    }

    /// Writes items from `iter` until it ends or the reservation is full;
    /// returns how many were written.
    pub fn fill_from_iter<I: IntoIterator<Item = T>>(&mut self, iter: I) -> usize {
        let before = self.written;
        for item in iter.into_iter().take(self.len - self.written) {
            // SAFETY: take() bounds the count to the unwritten slots.
            unsafe { self.ptr.add(self.written).write(item) };
            self.written += 1;
        }
        self.written - before
    }

    /// Copies as much of `src` as fits after the written slots; returns the count.
    #[inline]
    pub fn copy_from_slice(&mut self, src: &[T]) -> usize
    where
        T: Copy,
    {
        let n = src.len().min(self.len - self.written);
        // SAFETY: n slots after `written` are inside the reservation; `src`
        // is a separate live slice.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.add(self.written), n) };
        self.written += n;
        n
    }

    /// The reserved slots as uninitialised memory, for writers that fill
    /// them by hand and then call [`assume_init_commit`](Self::assume_init_commit).
    pub fn as_mut_uninit(&mut self) -> &mut [MaybeUninit<T>] {
        // SAFETY: the slots are reserved for us alone; MaybeUninit makes no
        // claim about their contents.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.cast(), self.len) }
    }

    /// Publishes the written slots; returns how many.
    #[inline]
    pub fn commit(mut self) -> usize {
        let n = std::mem::take(&mut self.written);
        self.producer.publish(n);
        n
    }

    /// Publishes the first `n` slots, written through [`as_mut_uninit`](Self::as_mut_uninit).
    ///
    /// # Safety
    /// Slots `0..n` hold initialised values and `n <= len()`.
    pub unsafe fn assume_init_commit(mut self, n: usize) -> usize {
        debug_assert!(n <= self.len);
        self.written = 0;
        self.producer.publish(n);
        n
    }
}

impl<T: Pod> Reservation<'_, T> {
    /// The reserved slots as `&mut [T]`. Slot memory of a `Pod` ring is
    /// always initialised (zeroed at creation), so this is safe.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: the slots are reserved for us alone and hold valid `T`
        // (zeroed or previously written bytes; every bit pattern is a valid Pod).
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// Publishes the first `min(n, len())` slots; returns how many.
    #[inline]
    pub fn commit_n(mut self, n: usize) -> usize {
        let n = n.min(self.len);
        self.written = 0;
        self.producer.publish(n);
        n
    }
}

impl<T> Drop for Reservation<'_, T> {
    fn drop(&mut self) {
        if needs_drop::<T>() {
            // SAFETY: the first `written` slots were written and not published.
            unsafe {
                ptr::drop_in_place(ptr::slice_from_raw_parts_mut(self.ptr, self.written));
            }
        }
    }
}

/// Releases consumed slots when dropped, so a panicking handler neither
/// loses its place nor lets an item be dropped twice.
struct ReleaseGuard<'a> {
    cur: &'a mut ConsumerCursor,
    done: usize,
}

impl Drop for ReleaseGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.done > 0 {
            self.cur.release(self.done);
        }
    }
}

impl<T> Consumer<T> {
    status_methods!();

    /// The run of readable items at the head, up to the end of the slot
    /// array; `None` when nothing is readable. Follow with [`advance`](Self::advance).
    #[inline]
    pub fn readable(&mut self) -> Option<&[T]> {
        let avail = self.cur.available(usize::MAX).ok()?;
        if avail == 0 {
            return None;
        }
        let (index, to_end) = self.cur.contiguous(self.cur.head());
        // SAFETY: `avail` slots after head are published; we hold the
        // consumer role, so the producer does not touch them until we advance.
        Some(unsafe {
            std::slice::from_raw_parts(self.cur.slot_ptr(index).cast::<T>(), avail.min(to_end))
        })
    }

    /// Consumes `n` items (at most what is readable): drops them and hands
    /// their slots back to the producer with one head update.
    #[inline]
    pub fn advance(&mut self, n: usize) {
        self.consume_up_to(n, |_| {});
    }

    /// Calls `f` on every readable item, then frees them all with one head
    /// update; returns the count.
    ///
    /// A consumer slower than its producer (one that works on each item)
    /// runs faster this way than item by item: the producer refills whole
    /// lines behind it, where [`try_recv`](Self::try_recv) hands each slot
    /// back at once and brings the producer into the line being read (2x-2.7x
    /// the single-item rate in the `spsc` bench's working consumer).
    #[inline]
    pub fn consume_batch(&mut self, f: impl FnMut(&T)) -> usize {
        self.consume_up_to(usize::MAX, f)
    }

    /// [`consume_batch`](Self::consume_batch) limited to `max` items.
    #[inline]
    pub fn consume_up_to(&mut self, max: usize, mut f: impl FnMut(&T)) -> usize {
        self.consume_while(max, |item| {
            f(item);
            true
        })
    }

    /// Calls `f` on up to `max` readable items in order until it returns
    /// `false`: the items it accepted are freed with one head update, the
    /// one it declined and those after it stay in the ring. Returns the
    /// count accepted. A handler that may fail (a Python callback) keeps
    /// batching this way without losing the item it failed on.
    pub fn consume_while(&mut self, max: usize, mut f: impl FnMut(&T) -> bool) -> usize {
        let Ok(avail) = self.cur.available(max) else {
            return 0;
        };
        let n = avail.min(max);
        if n == 0 {
            return 0;
        }
        let started = self.metrics.as_ref().and_then(|m| m.start_batch());
        let (index, to_end) = self.cur.contiguous(self.cur.head());
        let first = n.min(to_end);
        let prefetch = self.prefetch_threshold != 0 && n >= self.prefetch_threshold;
        let per_line = (64 / std::mem::size_of::<T>().max(1)).max(1);
        let raw = self.cur.raw;
        let mut guard = ReleaseGuard {
            cur: &mut self.cur,
            done: 0,
        };
        'runs: for (start, count) in [(index, first), (0, n - first)] {
            let base = raw.slot_ptr(start).cast::<T>();
            for i in 0..count {
                if prefetch && i % per_line == 0 {
                    super::raw::prefetch_read(base.wrapping_add(i + 4 * per_line).cast());
                }
                // SAFETY: slot start+i is published and ours until released.
                let item = unsafe { &*base.add(i) };
                if !f(item) {
                    break 'runs;
                }
                guard.done += 1;
                if needs_drop::<T>() {
                    // SAFETY: the item was handled and is counted as consumed,
                    // so it is dropped exactly once.
                    unsafe { ptr::drop_in_place(base.add(i)) };
                }
            }
        }
        let done = guard.done;
        drop(guard);
        if done > 0 {
            if let Some(m) = &self.metrics {
                m.on_consume(done, started.map(|t| t.elapsed()));
            }
        }
        done
    }

    /// Frees every readable item without looking at it; returns the count.
    pub fn consume_batch_count(&mut self) -> usize {
        if needs_drop::<T>() {
            return self.consume_batch(|_| {});
        }
        let Ok(n) = self.cur.available(usize::MAX) else {
            return 0;
        };
        if n > 0 {
            self.cur.release(n);
            if let Some(m) = &self.metrics {
                m.on_consume(n, None);
            }
        }
        n
    }

    /// [`consume_batch`](Self::consume_batch), waiting by `strategy` while
    /// the ring is empty. Returns [`Error::Closed`] once the ring is closed
    /// and drained, [`Error::TimedOut`] at the strategy's deadline.
    pub fn consume_batch_blocking(
        &mut self,
        mut f: impl FnMut(&T),
        strategy: WaitStrategy,
    ) -> Result<usize> {
        self.wait_for_data(strategy)?;
        Ok(self.consume_batch(&mut f))
    }

    /// Moves up to `out.len()` items into `out` (two `memcpy`s at most, one
    /// head update); returns the count.
    #[inline]
    pub fn recv(&mut self, out: &mut [T]) -> usize
    where
        T: Copy,
    {
        // SAFETY: `out` is a live, writable slice of slot values, outside the ring.
        let n = unsafe {
            self.cur
                .pop_copy(out.as_mut_ptr().cast::<u8>(), out.len())
                .unwrap_or(0)
        };
        if let Some(m) = &self.metrics {
            m.on_consume(n, None);
        }
        n
    }

    /// Takes one item. Errors: [`Error::Empty`], [`Error::Closed`] (closed
    /// and drained), [`Error::Corrupt`].
    #[inline(always)]
    pub fn try_recv(&mut self) -> Result<T> {
        match self.take() {
            Ok(Some((item, _))) => Ok(item),
            found => Err(self.nothing_read(found.err())),
        }
    }

    /// One item and how many more the last look at the producer's position
    /// showed (taking those reads no shared index); `None` when empty,
    /// without building [`try_recv`](Self::try_recv)'s error: for a channel
    /// that polls many rings. Always inline: it is the whole of a receive.
    #[inline(always)]
    pub(crate) fn take(&mut self) -> Result<Option<(T, usize)>, Corrupt> {
        let seen = match self.cur.available(1)? {
            0 => {
                self.cur.polled_empty();
                return Ok(None);
            }
            seen => seen,
        };
        let (index, _) = self.cur.contiguous(self.cur.head());
        // SAFETY: the slot is published and ours; it is released right after
        // the read, so the moved-out value is never dropped in place.
        let item = unsafe { self.cur.slot_of::<T>(index).read() };
        self.cur.release(1);
        if let Some(m) = &self.metrics {
            m.on_consume(1, None);
        }
        Ok(Some((item, seen - 1)))
    }

    /// Why [`try_recv`](Self::try_recv) read nothing: the impossible
    /// positions it read, or the ring empty (`Closed` once closed and
    /// drained). Out of line, so that the receive itself inlines.
    #[cold]
    #[inline(never)]
    fn nothing_read(&self, corrupt: Option<Corrupt>) -> Error {
        match corrupt {
            Some(c) => c.into(),
            None => self.cur.empty_reason(),
        }
    }

    /// Takes one item, waiting by `strategy` while the ring is empty.
    pub fn recv_blocking(&mut self, strategy: WaitStrategy) -> Result<T> {
        self.wait_for_data(strategy)?;
        self.try_recv()
    }

    /// The next item, left in the ring.
    pub fn peek(&self) -> Option<&T> {
        self.peek_many(1).map(|s| &s[0])
    }

    /// Up to `n` readable items from the head (contiguous, so possibly
    /// fewer at the wrap), left in the ring; `None` when empty.
    pub fn peek_many(&self, n: usize) -> Option<&[T]> {
        let avail = self.cur.available(n).ok()?;
        let (index, to_end) = self.cur.contiguous(self.cur.head());
        let len = n.min(avail).min(to_end);
        if len == 0 {
            return None;
        }
        // SAFETY: published slots, ours until released; the borrow of self
        // keeps `advance` (which needs &mut) from freeing them meanwhile.
        Some(unsafe { std::slice::from_raw_parts(self.cur.slot_ptr(index).cast::<T>(), len) })
    }

    /// Drops up to `n` items unread; returns how many.
    pub fn skip(&mut self, n: usize) -> usize {
        self.consume_up_to(n, |_| {})
    }

    /// Moves out every item readable now, one at a time. Items are freed
    /// with one head update when the iterator is dropped; items it did not
    /// yield stay in the ring.
    pub fn drain(&mut self) -> Drain<'_, T> {
        let avail = self.cur.available(usize::MAX).unwrap_or(0);
        Drain {
            head: self.cur.head(),
            consumer: self,
            avail,
            taken: 0,
        }
    }

    /// Iterates over copies of the readable items without consuming them;
    /// [`ReadIter::finish`] consumes the ones yielded so far, dropping the
    /// iterator without `finish` consumes nothing.
    pub fn iter(&mut self) -> ReadIter<'_, T>
    where
        T: Copy,
    {
        let avail = self.cur.available(usize::MAX).unwrap_or(0);
        ReadIter {
            head: self.cur.head(),
            consumer: self,
            avail,
            taken: 0,
        }
    }

    #[cfg(all(test, not(loom)))]
    pub(crate) fn raw_for_tests(&self) -> RawRing {
        self.cur.raw
    }

    fn wait_for_data(&mut self, strategy: WaitStrategy) -> Result<()> {
        self.cur
            .wait_for_data(&mut Waiter::new(strategy), self.metrics.as_deref())
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        self.cur.close();
    }
}

/// Iterator of [`Consumer::drain`].
pub struct Drain<'a, T> {
    consumer: &'a mut Consumer<T>,
    head: u64,
    avail: usize,
    taken: usize,
}

impl<T> std::fmt::Debug for Drain<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drain")
            .field("available", &self.avail)
            .field("taken", &self.taken)
            .finish_non_exhaustive()
    }
}

impl<T> Iterator for Drain<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.taken == self.avail {
            return None;
        }
        let raw = &self.consumer.cur;
        let (index, _) = raw.contiguous(self.head.wrapping_add(self.taken as u64));
        self.taken += 1;
        // SAFETY: published slot, ours; counted in `taken`, so it is released
        // (not dropped) on drop: the value is moved out exactly once.
        Some(unsafe { raw.slot_ptr(index).cast::<T>().read() })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.avail - self.taken;
        (left, Some(left))
    }
}

impl<T> Drop for Drain<'_, T> {
    fn drop(&mut self) {
        if self.taken > 0 {
            self.consumer.cur.release(self.taken);
            if let Some(m) = &self.consumer.metrics {
                m.on_consume(self.taken, None);
            }
        }
    }
}

/// Iterator of [`Consumer::iter`].
pub struct ReadIter<'a, T: Copy> {
    consumer: &'a mut Consumer<T>,
    head: u64,
    avail: usize,
    taken: usize,
}

impl<T: Copy> std::fmt::Debug for ReadIter<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadIter")
            .field("available", &self.avail)
            .field("taken", &self.taken)
            .finish_non_exhaustive()
    }
}

impl<T: Copy> Iterator for ReadIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.taken == self.avail {
            return None;
        }
        let raw = &self.consumer.cur;
        let (index, _) = raw.contiguous(self.head.wrapping_add(self.taken as u64));
        self.taken += 1;
        // SAFETY: published slot, ours until released; T: Copy, so reading
        // a copy leaves the slot valid.
        Some(unsafe { raw.slot_ptr(index).cast::<T>().read() })
    }
}

impl<T: Copy> ReadIter<'_, T> {
    /// Consumes the items yielded so far (one head update); returns how many.
    pub fn finish(self) -> usize {
        if self.taken > 0 {
            self.consumer.cur.release(self.taken);
            if let Some(m) = &self.consumer.metrics {
                m.on_consume(self.taken, None);
            }
        }
        self.taken
    }
}
