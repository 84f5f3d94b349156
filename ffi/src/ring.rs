//! `rmpsc_ring_*`: the SPSC ring of `elem_size`-byte slots: an in-process
//! ring with both sides, or one side of a shared ring or channel.

use crate::args::{free_handle, handle, items, items_mut, strategy, Out};
use crate::notifier::{notify_of, rmpsc_notifier_t};
use crate::side::Side;
use crate::{call, call_infallible};
use ringcore::{Config, Error, RingObserver, SlotConsumer, SlotProducer, SlotRing};
use std::ffi::{c_int, c_void};

/// An SPSC ring of fixed-size slots (opaque): an in-process ring from
/// rmpsc_ring_new (both sides), or one side of a shared ring or channel.
pub struct rmpsc_ring_t {
    producer: Option<Side<SlotProducer>>,
    consumer: Option<Side<SlotConsumer>>,
    observer: RingObserver,
}

impl rmpsc_ring_t {
    /// A handle holding only the producer side.
    pub(crate) fn with_producer(p: SlotProducer) -> rmpsc_ring_t {
        rmpsc_ring_t {
            observer: p.observer(),
            producer: Some(Side::new("producer side", p)),
            consumer: None,
        }
    }

    /// A handle holding only the consumer side.
    pub(crate) fn with_consumer(c: SlotConsumer) -> rmpsc_ring_t {
        rmpsc_ring_t {
            observer: c.observer(),
            producer: None,
            consumer: Some(Side::new("consumer side", c)),
        }
    }

    #[inline(always)]
    pub(crate) fn producer(&self) -> Result<&Side<SlotProducer>, Error> {
        self.producer.as_ref().ok_or_else(|| wrong_side("consumer"))
    }

    #[inline(always)]
    pub(crate) fn consumer(&self) -> Result<&Side<SlotConsumer>, Error> {
        self.consumer.as_ref().ok_or_else(|| wrong_side("producer"))
    }
}

#[cold]
#[inline(never)]
fn wrong_side(this: &str) -> Error {
    Error::InvalidArgument(format!("this handle is the {this} side of a ring"))
}

#[inline(always)]
fn ring<'a>(ring: *const rmpsc_ring_t) -> Result<&'a rmpsc_ring_t, Error> {
    handle(ring, "ring")
}

/// Creates an in-process ring of `capacity` slots (a power of two, at most
/// 2^32) of `elem_size` bytes each. Thread-safe.
/// Errors: RMPSC_EINVAL (bad capacity or size), RMPSC_EIO (no memory).
#[no_mangle]
pub extern "C" fn rmpsc_ring_new(
    capacity: usize,
    elem_size: usize,
    out: *mut *mut rmpsc_ring_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let (p, c) = SlotRing::new(Config::with_capacity(capacity)?, elem_size)?;
        out.put(rmpsc_ring_t {
            observer: p.observer(),
            producer: Some(Side::new("producer side", p)),
            consumer: Some(Side::new("consumer side", c)),
        });
        Ok(())
    })
}

/// Frees a ring handle; NULL is ignored. No other call on it may be
/// running or follow, and no lease of its sides may be used after it (end
/// leases first; one that cannot end, RMPSC_ECORRUPT, is dropped with the
/// handle). Freeing a side closes the ring.
#[no_mangle]
pub extern "C" fn rmpsc_ring_free(ring: *mut rmpsc_ring_t) {
    free_handle(ring)
}

/// Producer side. Reserves up to `n` contiguous free slots for writing in
/// place: `*out_slots` points at the first, `*out_count` (>= 1) says how
/// many (fewer than `n` at the end of the slot array). Publish them with
/// rmpsc_ring_commit.
/// Errors: RMPSC_EFULL, RMPSC_ECLOSED, RMPSC_EINVAL (n == 0), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_ring_reserve(
    ring: *mut rmpsc_ring_t,
    n: usize,
    out_slots: *mut *mut c_void,
    out_count: *mut usize,
) -> c_int {
    call(|| {
        let (out_slots, out_count) = (
            Out::new(out_slots, "out_slots")?,
            Out::new(out_count, "out_count")?,
        );
        self::ring(ring)?.producer()?.enter(|p| {
            let slot = p.slot_size();
            let buf = p.reserve(n)?;
            out_count.set(buf.len() / slot);
            out_slots.set(buf.as_mut_ptr().cast());
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
/// commit; `*out_sent` receives how many fit (0 when full).
/// Errors: RMPSC_ECLOSED, RMPSC_EINVAL, RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_ring_send(
    ring: *mut rmpsc_ring_t,
    items: *const c_void,
    n: usize,
    out_sent: *mut usize,
) -> c_int {
    call(|| {
        let out_sent = Out::new(out_sent, "out_sent")?;
        self::ring(ring)?.producer()?.enter(|p| {
            let bytes = self::items(items, n, p.slot_size(), "items")?;
            out_sent.set(p.send_slots(bytes, n)?);
            Ok(())
        })
    })
}

/// Producer side. Copies one item (elem_size bytes at `item`) into the
/// ring: the single-item call, as rmpsc_ring_try_recv is on the consumer side.
/// Errors: RMPSC_EFULL, RMPSC_ECLOSED, RMPSC_EINVAL, RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_ring_try_send(ring: *mut rmpsc_ring_t, item: *const c_void) -> c_int {
    call(|| {
        self::ring(ring)?.producer()?.enter(|p| {
            let item = self::items(item, 1, p.slot_size(), "item")?;
            match p.send_one(item)? {
                true => Ok(()),
                false => Err(Error::Full),
            }
        })
    })
}

/// Producer side. Waits up to `timeout_ns` until at least one of the `n`
/// items fits, then sends as many as fit with one commit; `*out_sent`
/// (>= 1) receives how many. Call again for the rest.
/// Errors: RMPSC_ETIMEDOUT (nothing sent), RMPSC_ECLOSED, RMPSC_EINVAL
/// (n == 0), RMPSC_EBUSY, RMPSC_EDISCONNECTED (a shared ring whose
/// consumer process died).
#[no_mangle]
pub extern "C" fn rmpsc_ring_send_blocking(
    ring: *mut rmpsc_ring_t,
    items: *const c_void,
    n: usize,
    timeout_ns: i64,
    out_sent: *mut usize,
) -> c_int {
    call(|| {
        let out_sent = Out::new(out_sent, "out_sent")?;
        self::ring(ring)?.producer()?.enter(|p| {
            let bytes = self::items(items, n, p.slot_size(), "items")?;
            if n == 0 {
                return Err(Error::InvalidArgument("n is 0".into()));
            }
            p.wait_for_space(strategy(timeout_ns))?;
            out_sent.set(p.send_slots(bytes, n)?);
            Ok(())
        })
    })
}

/// Consumer side. Points `*out_slots` at the readable items at the head
/// and stores their count in `*out_count` (contiguous: at the end of the
/// slot array the rest follows on the next call). Free them with
/// rmpsc_ring_advance.
/// Errors: RMPSC_EEMPTY, RMPSC_ECLOSED (closed and drained), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_ring_peek(
    ring: *mut rmpsc_ring_t,
    out_slots: *mut *const c_void,
    out_count: *mut usize,
) -> c_int {
    call(|| {
        let (out_slots, out_count) = (
            Out::new(out_slots, "out_slots")?,
            Out::new(out_count, "out_count")?,
        );
        self::ring(ring)?.consumer()?.enter(|c| {
            let slot = c.slot_size();
            let buf = c.readable()?;
            out_count.set(buf.len() / slot);
            out_slots.set(buf.as_ptr().cast());
            Ok(())
        })
    })
}

/// Consumer side. Frees `n` items read through rmpsc_ring_peek.
/// Errors: RMPSC_EINVAL (more than readable), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_ring_advance(ring: *mut rmpsc_ring_t, n: usize) -> c_int {
    call(|| self::ring(ring)?.consumer()?.enter(|c| c.advance(n)))
}

/// Consumer side. Copies up to `max` items into `buf` (one head update);
/// `*out_received` gets the count (0 when empty).
/// Errors: RMPSC_ECLOSED (closed and drained), RMPSC_EINVAL, RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_ring_recv(
    ring: *mut rmpsc_ring_t,
    buf: *mut c_void,
    max: usize,
    out_received: *mut usize,
) -> c_int {
    call(|| {
        let out_received = Out::new(out_received, "out_received")?;
        self::ring(ring)?.consumer()?.enter(|c| {
            let buf = items_mut(buf, max, c.slot_size(), "buf")?;
            out_received.set(c.recv_slots(buf, max)?);
            Ok(())
        })
    })
}

/// Consumer side. Copies one item into `buf` (room for elem_size bytes).
/// Errors: RMPSC_EEMPTY, RMPSC_ECLOSED (closed and drained), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_ring_try_recv(ring: *mut rmpsc_ring_t, buf: *mut c_void) -> c_int {
    call(|| {
        self::ring(ring)?.consumer()?.enter(|c| {
            let buf = items_mut(buf, 1, c.slot_size(), "buf")?;
            c.try_recv(buf)
        })
    })
}

/// Consumer side. Waits up to `timeout_ns` for at least one item, then
/// copies up to `max` (>= 1) into `buf`; `*out_received` gets the count.
/// Errors: RMPSC_ETIMEDOUT, RMPSC_ECLOSED (closed and drained),
/// RMPSC_EINVAL (max == 0), RMPSC_EBUSY, RMPSC_EDISCONNECTED (a shared
/// ring whose producer process died, and all it sent is read).
#[no_mangle]
pub extern "C" fn rmpsc_ring_recv_blocking(
    ring: *mut rmpsc_ring_t,
    buf: *mut c_void,
    max: usize,
    timeout_ns: i64,
    out_received: *mut usize,
) -> c_int {
    call(|| {
        let out_received = Out::new(out_received, "out_received")?;
        self::ring(ring)?.consumer()?.enter(|c| {
            if max == 0 {
                return Err(Error::InvalidArgument("max is 0".into()));
            }
            let buf = items_mut(buf, max, c.slot_size(), "buf")?;
            out_received.set(c.recv_blocking(buf, strategy(timeout_ns))?);
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

/// 1 if the ring is closed, 0 if not (or NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_ring_is_closed(ring: *const rmpsc_ring_t) -> bool {
    call_infallible(false, || {
        self::ring(ring).is_ok_and(|r| r.observer.is_closed())
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
/// is in use on another thread; RMPSC_EINVAL for a handle with one side
/// (a reset needs both).
#[no_mangle]
pub extern "C" fn rmpsc_ring_reset(ring: *mut rmpsc_ring_t) -> c_int {
    call(|| {
        let r = self::ring(ring)?;
        r.producer()?
            .enter(|p| r.consumer()?.enter(|c| SlotRing::reset(p, c)))
    })
}

/// Producer side: signal `notifier` after every commit (NULL detaches).
/// An MPSC or MPMC producer signals it beside its channel's own wake-up,
/// which stays. Errors: RMPSC_EINVAL (not a producer handle), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_ring_set_notifier(
    ring: *mut rmpsc_ring_t,
    notifier: *const rmpsc_notifier_t,
) -> c_int {
    call(|| {
        let n = notify_of(notifier);
        self::ring(ring)?.producer()?.enter(|p| {
            p.set_notifier(n);
            Ok(())
        })
    })
}
