//! `rmpsc_ring_*`: the in-process SPSC ring with `elem_size`-byte slots.

use crate::{call, call_infallible, non_null};
use ringcore::{Config, Error, RingObserver, SlotConsumer, SlotProducer, SlotRing, WaitStrategy};
use std::cell::UnsafeCell;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// One role of a C handle, with a guard against two threads entering it at
/// once. The guard is made of plain loads and stores, no locked
/// instruction: a call finds the flag set (another thread is inside) and
/// fails with `Busy`, else sets it, runs, and clears it. It catches a
/// second thread that enters while the first is inside, which is how
/// misuse shows up in practice; two threads entering within the same few
/// nanoseconds can both pass, so it is a diagnostic, not a lock. Handing a
/// side from one thread to another needs the usual synchronisation (a
/// mutex, a join, a queue), which also orders the flag.
///
/// Padded to its own lines: the flag is written on every call.
#[repr(align(128))]
pub(crate) struct Side<T> {
    busy: AtomicBool,
    role: &'static str,
    inner: UnsafeCell<T>,
}

// SAFETY: a side is used by one thread at a time (the C contract, checked
// by the guard as far as plain loads and stores can); T itself is Send.
unsafe impl<T: Send> Sync for Side<T> {}

impl<T> Side<T> {
    pub(crate) fn new(role: &'static str, inner: T) -> Self {
        Side {
            busy: AtomicBool::new(false),
            role,
            inner: UnsafeCell::new(inner),
        }
    }

    /// Runs `f` with exclusive access to the side, or fails with `Busy`
    /// when another thread is inside.
    #[inline(always)]
    pub(crate) fn enter<R>(&self, f: impl FnOnce(&mut T) -> Result<R, Error>) -> Result<R, Error> {
        struct Exit<'a>(&'a AtomicBool);
        impl Drop for Exit<'_> {
            #[inline(always)]
            fn drop(&mut self) {
                self.0.store(false, Ordering::Relaxed);
            }
        }
        // Relaxed load and store: plain moves, no locked instruction and no
        // fence. They order nothing; they only let a second thread see
        // that the side is taken.
        if self.busy.load(Ordering::Relaxed) {
            return Err(busy(self.role));
        }
        self.busy.store(true, Ordering::Relaxed);
        let _exit = Exit(&self.busy);
        // SAFETY: by the C contract one thread at a time is inside; the
        // flag turns the usual violation of it into `Busy` instead.
        f(unsafe { &mut *self.inner.get() })
    }
}

#[cold]
#[inline(never)]
fn busy(role: &'static str) -> Error {
    Error::Busy(role)
}

/// An SPSC ring of fixed-size slots (opaque): an in-process ring from
/// rmpsc_ring_new (both sides), or one side of a shared ring from
/// rmpsc_shared_producer / rmpsc_shared_consumer.
pub struct rmpsc_ring_t {
    producer: Option<Side<SlotProducer>>,
    consumer: Option<Side<SlotConsumer>>,
    observer: RingObserver,
}

impl rmpsc_ring_t {
    pub(crate) fn with_producer(p: SlotProducer) -> Box<Self> {
        Box::new(rmpsc_ring_t {
            observer: p.observer(),
            producer: Some(Side::new("producer side", p)),
            consumer: None,
        })
    }

    pub(crate) fn with_consumer(c: SlotConsumer) -> Box<Self> {
        Box::new(rmpsc_ring_t {
            observer: c.observer(),
            producer: None,
            consumer: Some(Side::new("consumer side", c)),
        })
    }

    pub(crate) fn set_notifier(
        &self,
        n: Option<std::sync::Arc<dyn ringcore::Notify>>,
    ) -> Result<(), Error> {
        self.producer()?.enter(|p| {
            p.set_notifier(n);
            Ok(())
        })
    }

    #[inline(always)]
    fn producer(&self) -> Result<&Side<SlotProducer>, Error> {
        self.producer.as_ref().ok_or_else(|| wrong_side("consumer"))
    }

    #[inline(always)]
    fn consumer(&self) -> Result<&Side<SlotConsumer>, Error> {
        self.consumer.as_ref().ok_or_else(|| wrong_side("producer"))
    }
}

#[cold]
#[inline(never)]
fn wrong_side(this: &str) -> Error {
    Error::InvalidArgument(format!("this handle is the {this} side of a shared ring"))
}

/// A timeout argument of a blocking call: negative waits without limit.
pub(crate) fn timeout_opt(timeout_ns: i64) -> Option<Duration> {
    (timeout_ns >= 0).then(|| Duration::from_nanos(timeout_ns as u64))
}

pub(crate) fn strategy(timeout_ns: i64) -> WaitStrategy {
    WaitStrategy::blocking_for(timeout_opt(timeout_ns))
}

/// Borrows the handle or fails with RMPSC_EINVAL.
fn ring<'a>(ring: *const rmpsc_ring_t) -> Result<&'a rmpsc_ring_t, Error> {
    non_null(ring, "ring")?;
    // SAFETY: non-NULL; the C contract is that it came from rmpsc_ring_new
    // and was not freed.
    Ok(unsafe { &*ring })
}

/// Creates an in-process ring of `capacity` slots (a power of two, at most 2^32) of
/// `elem_size` bytes each and stores it in `*out`.
/// Errors: RMPSC_EINVAL (bad capacity or size, NULL out), RMPSC_EIO (no memory).
/// Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_ring_new(
    capacity: usize,
    elem_size: usize,
    out: *mut *mut rmpsc_ring_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        if !capacity.is_power_of_two() {
            return Err(Error::InvalidArgument(format!(
                "capacity {capacity} is not a power of two"
            )));
        }
        let config = Config::with_ring_bits(capacity.trailing_zeros() as u8);
        let (p, c) = SlotRing::new(config, elem_size)?;
        let observer = p.observer();
        let handle = Box::new(rmpsc_ring_t {
            producer: Some(Side::new("producer side", p)),
            consumer: Some(Side::new("consumer side", c)),
            observer,
        });
        // SAFETY: `out` is non-NULL and, by the C contract, writable.
        unsafe { *out = Box::into_raw(handle) };
        Ok(())
    })
}

/// Destroys a ring; NULL is ignored. No other call on it may be running or follow.
#[no_mangle]
pub extern "C" fn rmpsc_ring_free(ring: *mut rmpsc_ring_t) {
    if !ring.is_null() {
        // SAFETY: came from Box::into_raw in rmpsc_ring_new and is freed once.
        call_infallible((), || drop(unsafe { Box::from_raw(ring) }));
    }
}

/// Producer side. Reserves up to `n` contiguous free slots for writing in
/// place: `*slots` points at the first, `*count` (>= 1) says how many (fewer
/// than `n` at the end of the slot array). Publish them with rmpsc_ring_commit.
/// Errors: RMPSC_EFULL, RMPSC_ECLOSED, RMPSC_EINVAL (n == 0), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_ring_reserve(
    ring: *mut rmpsc_ring_t,
    n: usize,
    slots: *mut *mut c_void,
    count: *mut usize,
) -> c_int {
    call(|| {
        non_null(slots, "slots")?;
        non_null(count, "count")?;
        self::ring(ring)?.producer()?.enter(|p| {
            let slot = p.slot_size();
            let buf = p.reserve(n)?;
            // SAFETY: both out-pointers are non-NULL and writable by contract.
            unsafe {
                *count = buf.len() / slot;
                *slots = buf.as_mut_ptr().cast();
            }
            Ok(())
        })
    })
}

/// Producer side. Publishes the first `n` slots of the last reservation.
/// Errors: RMPSC_EINVAL (`n` above the reserved count), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_ring_commit(ring: *mut rmpsc_ring_t, n: usize) -> c_int {
    call(|| self::ring(ring)?.producer()?.enter(|p| p.commit(n)))
}

/// Producer side. Copies up to `n` items from `items` into the ring with one
/// commit; `*sent` receives how many fit (0 when full).
/// Errors: RMPSC_ECLOSED, RMPSC_EINVAL, RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_ring_send(
    ring: *mut rmpsc_ring_t,
    items: *const c_void,
    n: usize,
    sent: *mut usize,
) -> c_int {
    call(|| {
        non_null(items, "items")?;
        non_null(sent, "sent")?;
        self::ring(ring)?.producer()?.enter(|p| {
            // SAFETY: by contract `items` holds n elements of elem_size bytes.
            let bytes =
                unsafe { std::slice::from_raw_parts(items.cast::<u8>(), n * p.slot_size()) };
            let k = p.send_slots(bytes, n)?;
            // SAFETY: non-NULL, writable by contract.
            unsafe { *sent = k };
            Ok(())
        })
    })
}

/// Producer side. Sends all `n` items, waiting up to `timeout_ns` in total
/// (negative: no limit) while the ring is full. `*sent` (may be NULL)
/// receives how many were sent, also on failure.
/// Errors: RMPSC_ETIMEDOUT, RMPSC_ECLOSED, RMPSC_EINVAL, RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_ring_send_blocking(
    ring: *mut rmpsc_ring_t,
    items: *const c_void,
    n: usize,
    timeout_ns: i64,
    sent: *mut usize,
) -> c_int {
    call(|| {
        non_null(items, "items")?;
        self::ring(ring)?.producer()?.enter(|p| {
            // SAFETY: by contract `items` holds n elements of elem_size bytes.
            let bytes =
                unsafe { std::slice::from_raw_parts(items.cast::<u8>(), n * p.slot_size()) };
            let (k, result) = match p.send_blocking(bytes, strategy(timeout_ns)) {
                Ok(k) => (k, Ok(())),
                Err((k, e)) => (k, Err(e)),
            };
            if !sent.is_null() {
                // SAFETY: non-NULL, writable by contract.
                unsafe { *sent = k };
            }
            result
        })
    })
}

/// Consumer side. Points `*slots` at the readable items at the head and
/// stores their count in `*count` (contiguous: at the end of the slot array
/// the rest follows on the next call). Free them with rmpsc_ring_advance.
/// Errors: RMPSC_EEMPTY, RMPSC_ECLOSED (closed and drained), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_ring_readable(
    ring: *mut rmpsc_ring_t,
    slots: *mut *const c_void,
    count: *mut usize,
) -> c_int {
    call(|| {
        non_null(slots, "slots")?;
        non_null(count, "count")?;
        self::ring(ring)?.consumer()?.enter(|c| {
            let slot = c.slot_size();
            let buf = c.readable()?;
            // SAFETY: both out-pointers are non-NULL and writable.
            unsafe {
                *count = buf.len() / slot;
                *slots = buf.as_ptr().cast();
            }
            Ok(())
        })
    })
}

/// Consumer side. Frees `n` items read through rmpsc_ring_readable.
/// Errors: RMPSC_EINVAL (more than readable), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_ring_advance(ring: *mut rmpsc_ring_t, n: usize) -> c_int {
    call(|| self::ring(ring)?.consumer()?.enter(|c| c.advance(n)))
}

/// Consumer side. Copies up to `max` items into `out` (one head update);
/// `*received` gets the count (0 when empty).
/// Errors: RMPSC_ECLOSED (closed and drained), RMPSC_EINVAL, RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_ring_recv(
    ring: *mut rmpsc_ring_t,
    out: *mut c_void,
    max: usize,
    received: *mut usize,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        non_null(received, "received")?;
        self::ring(ring)?.consumer()?.enter(|c| {
            // SAFETY: by contract `out` has room for `max` elements.
            let buf =
                unsafe { std::slice::from_raw_parts_mut(out.cast::<u8>(), max * c.slot_size()) };
            let k = c.recv_slots(buf, max)?;
            // SAFETY: non-NULL, writable by contract.
            unsafe { *received = k };
            Ok(())
        })
    })
}

/// Consumer side. Copies one item into `out` (room for elem_size bytes).
/// Errors: RMPSC_EEMPTY, RMPSC_ECLOSED (closed and drained), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_ring_try_recv(ring: *mut rmpsc_ring_t, out: *mut c_void) -> c_int {
    call(|| {
        non_null(out, "out")?;
        self::ring(ring)?.consumer()?.enter(|c| {
            // SAFETY: by contract `out` has room for one element.
            let buf = unsafe { std::slice::from_raw_parts_mut(out.cast::<u8>(), c.slot_size()) };
            c.try_recv(buf)
        })
    })
}

/// Consumer side. Waits up to `timeout_ns` (negative: no limit) for at least
/// one item, then copies up to `max` into `out`; `*received` gets the count.
/// Errors: RMPSC_ETIMEDOUT, RMPSC_ECLOSED (closed and drained), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_ring_recv_blocking(
    ring: *mut rmpsc_ring_t,
    out: *mut c_void,
    max: usize,
    timeout_ns: i64,
    received: *mut usize,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        non_null(received, "received")?;
        self::ring(ring)?.consumer()?.enter(|c| {
            // SAFETY: by contract `out` has room for `max` elements.
            let buf =
                unsafe { std::slice::from_raw_parts_mut(out.cast::<u8>(), max * c.slot_size()) };
            let k = c.recv_blocking(buf, strategy(timeout_ns))?;
            // SAFETY: non-NULL, writable by contract.
            unsafe { *received = k };
            Ok(())
        })
    })
}

/// Items waiting to be read (0 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_ring_len(ring: *const rmpsc_ring_t) -> usize {
    call_infallible(0, || self::ring(ring).map_or(0, |r| r.observer.len()))
}

/// Number of slots (0 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_ring_capacity(ring: *const rmpsc_ring_t) -> usize {
    call_infallible(0, || self::ring(ring).map_or(0, |r| r.observer.capacity()))
}

/// Free slots: how many items a send could take now (0 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_ring_available_capacity(ring: *const rmpsc_ring_t) -> usize {
    call_infallible(0, || {
        self::ring(ring).map_or(0, |r| {
            r.observer.capacity().saturating_sub(r.observer.len())
        })
    })
}

/// Closes the ring: sends fail with RMPSC_ECLOSED, reads drain what is left,
/// blocked threads wake up. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_ring_close(ring: *mut rmpsc_ring_t) -> c_int {
    call(|| {
        self::ring(ring)?.observer.close();
        Ok(())
    })
}

/// Puts an in-process ring back to its initial state: drops what is left
/// in it, forgets a pending reservation, reopens it if closed and zeroes
/// its metrics. Takes both sides, so it fails with RMPSC_EBUSY while either
/// is in use on another thread; RMPSC_EINVAL for one side of a shared ring
/// (a reset needs both).
#[no_mangle]
pub extern "C" fn rmpsc_ring_reset(ring: *mut rmpsc_ring_t) -> c_int {
    call(|| {
        let r = self::ring(ring)?;
        r.producer()?
            .enter(|p| r.consumer()?.enter(|c| SlotRing::reset(p, c)))
    })
}

/// 1 if the ring is closed, 0 if not (or NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_ring_is_closed(ring: *const rmpsc_ring_t) -> bool {
    call_infallible(false, || {
        self::ring(ring).is_ok_and(|r| r.observer.is_closed())
    })
}
