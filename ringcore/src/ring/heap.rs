//! Rings whose memory lives on the heap of this process.

use super::raw::{RawRing, RingIndices};
use super::typed::{split, Consumer, Owner, Producer};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::RingMetrics;
use crate::sync::Ordering;
use std::alloc::{self, Layout};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;

/// Slot arrays start on a 128-byte boundary, like the index lines, so the
/// first slots never share a prefetch pair with the indices.
const SLOT_ALIGN: usize = 128;

/// The heap memory of one ring: index lines plus a zeroed slot array.
/// Freed when the last handle goes; items still in the ring are dropped then.
pub(crate) struct HeapRing {
    /// From `Box::into_raw`: a raw pointer, because `RawRing` copies alias it.
    indices: NonNull<RingIndices>,
    slots: NonNull<u8>,
    layout: Layout,
    /// Drops the items between head and tail (monomorphised for the item type).
    drop_items: unsafe fn(&RawRing),
    raw: RawRing,
}

// SAFETY: the memory is only reached through `RawRing`, whose users hold the
// producer or consumer role; the item type's `Send` bound is enforced by the
// handles that own this value.
unsafe impl Send for HeapRing {}
// SAFETY: as above; `HeapRing` itself has no `&self` methods that touch slots.
unsafe impl Sync for HeapRing {}

/// Bytes of a slot array of `2^ring_bits` slots of `slot_size` bytes;
/// `InvalidArgument` when it cannot be allocated. A channel checks it when
/// it is made, so that its producers' rings do not fail one by one later.
pub(crate) fn slot_array_bytes(ring_bits: u8, slot_size: usize) -> Result<usize> {
    if ring_bits > Config::MAX_RING_BITS {
        return Err(Error::InvalidArgument(format!(
            "ring_bits {ring_bits} is above the maximum of {}",
            Config::MAX_RING_BITS
        )));
    }
    slot_size
        .checked_mul(1usize << ring_bits)
        .filter(|&b| b <= isize::MAX as usize / 2)
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "a ring of 2^{ring_bits} slots of {slot_size} bytes overflows memory"
            ))
        })
}

impl HeapRing {
    /// Allocates a ring of `2^ring_bits` slots of `slot_size` bytes, aligned
    /// for `align`, with both positions at `start`.
    pub(crate) fn allocate(
        ring_bits: u8,
        slot_size: usize,
        align: usize,
        start: u64,
        drop_items: unsafe fn(&RawRing),
    ) -> Result<Arc<HeapRing>> {
        let bytes = slot_array_bytes(ring_bits, slot_size)?;
        let layout = Layout::from_size_align(bytes, align.max(SLOT_ALIGN))
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let slots = if bytes == 0 {
            // Zero-sized slots need no memory, only an aligned address.
            NonNull::new(std::ptr::without_provenance_mut::<u8>(layout.align()))
                .expect("alignment is non-zero")
        } else {
            // SAFETY: the layout has a non-zero size.
            let p = unsafe { alloc::alloc_zeroed(layout) };
            NonNull::new(p).ok_or_else(|| {
                Error::Io(std::io::Error::new(
                    std::io::ErrorKind::OutOfMemory,
                    format!("cannot allocate {bytes} bytes for a ring"),
                ))
            })?
        };
        let indices = NonNull::from(Box::leak(Box::new(RingIndices::new(start))));
        // SAFETY: both pointers stay valid until this HeapRing is dropped,
        // and every RawRing copy lives in a handle that keeps it alive.
        let raw = unsafe { RawRing::new(indices, slots, ring_bits, slot_size, false) };
        Ok(Arc::new(HeapRing {
            indices,
            slots,
            layout,
            drop_items,
            raw,
        }))
    }

    pub(crate) fn raw(&self) -> RawRing {
        self.raw
    }
}

impl Drop for HeapRing {
    fn drop(&mut self) {
        // SAFETY: no handle is left, so nothing else touches the slots; the
        // function was monomorphised for the ring's item type.
        unsafe { (self.drop_items)(&self.raw) };
        if self.layout.size() != 0 {
            // SAFETY: allocated in `allocate` with this layout.
            unsafe { alloc::dealloc(self.slots.as_ptr(), self.layout) };
        }
        // SAFETY: leaked from a Box in `allocate`; no RawRing copy is left.
        drop(unsafe { Box::from_raw(self.indices.as_ptr()) });
    }
}

/// Drops every item between head and tail.
///
/// # Safety
/// No handle to the ring is left, and the slots hold `T`s.
pub(crate) unsafe fn drop_items<T>(raw: &RawRing) {
    if !std::mem::needs_drop::<T>() {
        return;
    }
    let idx = raw.indices();
    let head = idx.consumer.head.load(Ordering::Relaxed);
    let tail = idx.producer.tail.load(Ordering::Relaxed);
    let mut pos = head;
    while pos != tail {
        let (index, _) = raw.contiguous(pos);
        // SAFETY: slots between head and tail hold committed, unread items.
        unsafe { std::ptr::drop_in_place(raw.slot_ptr(index).cast::<T>()) };
        pos = pos.wrapping_add(1);
    }
}

/// A bounded lock-free single-producer single-consumer ring of `T`.
///
/// `Ring` only builds rings: [`Ring::new`] returns the two role handles,
/// [`Producer`] and [`Consumer`], each `Send` but neither `Clone` nor `Sync`,
/// so the type system enforces "one producer thread, one consumer thread".
///
/// Operations are wait-free: every call finishes in a bounded number of
/// steps (the `*_blocking` variants wait by a [`WaitStrategy`](crate::WaitStrategy)).
/// The ring never overwrites unread items. Items left in it when both
/// handles are gone are dropped exactly once.
///
/// ```
/// use ringcore::{Config, Ring};
/// let (mut tx, mut rx) = Ring::<String>::new(Config::with_ring_bits(8)).unwrap();
/// let t = std::thread::spawn(move || {
///     for i in 0..1000 {
///         let mut item = i.to_string();
///         loop {
///             match tx.send_one(item) {
///                 Ok(()) => break,
///                 Err(e) => item = e.into_inner(),
///             }
///         }
///     }
/// });
/// let mut next = 0;
/// while next < 1000 {
///     rx.consume_batch(|s| { assert_eq!(*s, next.to_string()); next += 1; });
/// }
/// t.join().unwrap();
/// ```
pub struct Ring<T> {
    _marker: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring").finish()
    }
}

impl<T: Send> Ring<T> {
    /// A ring of `config.capacity()` slots, split into its two handles.
    #[allow(clippy::new_ret_no_self)] // a ring is built as its two role handles
    pub fn new(config: Config) -> Result<(Producer<T>, Consumer<T>)> {
        Self::with_start(config, 0)
    }

    /// A ring of `capacity` slots with the default configuration;
    /// `capacity` must be a power of two.
    pub fn with_capacity(capacity: usize) -> Result<(Producer<T>, Consumer<T>)> {
        Self::new(Config::with_capacity(capacity)?)
    }

    /// Puts the ring of `producer` and `consumer` back to its initial
    /// state: drops the items still in it (each once), reopens it if it was
    /// closed and zeroes its metrics. Holding both handles mutably is what
    /// makes this safe: neither side can be in use meanwhile. `InvalidArgument`
    /// when the two handles belong to different rings.
    ///
    /// ```
    /// use ringcore::{Config, Ring};
    /// let (mut tx, mut rx) = Ring::<String>::new(Config::with_ring_bits(4)).unwrap();
    /// tx.send_one("left over".to_string()).unwrap();
    /// rx.close();
    /// Ring::reset(&mut tx, &mut rx).unwrap();
    /// assert!(rx.is_empty() && !rx.is_closed());
    /// tx.send_one("again".to_string()).unwrap();
    /// assert_eq!(rx.try_recv().unwrap(), "again");
    /// ```
    pub fn reset(producer: &mut Producer<T>, consumer: &mut Consumer<T>) -> Result<()> {
        producer.reset_with(consumer)
    }

    /// Bytes of the slot array for `config`.
    pub fn buffer_memory(config: &Config) -> usize {
        config.capacity() * std::mem::size_of::<T>()
    }

    /// Bytes of the slot array plus the index lines.
    pub fn total_memory(config: &Config) -> usize {
        Self::buffer_memory(config) + std::mem::size_of::<RingIndices>()
    }

    /// Both positions start at `start`: lets tests cross `u64::MAX`.
    pub(crate) fn with_start(config: Config, start: u64) -> Result<(Producer<T>, Consumer<T>)> {
        config.validate()?;
        let ring = HeapRing::allocate(
            config.ring_bits,
            std::mem::size_of::<T>(),
            std::mem::align_of::<T>(),
            start,
            drop_items::<T>,
        )?;
        crate::numa::place_memory(ring.slots.as_ptr(), ring.layout.size(), &config);
        let metrics = (config.enable_metrics || config.track_contention).then(|| {
            Arc::new(RingMetrics::new(
                config.enable_metrics,
                config.track_contention,
            ))
        });
        let raw = ring.raw();
        let owner: Owner = ring;
        split(raw, owner, metrics, config.prefetch_threshold)
    }
}
