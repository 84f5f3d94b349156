//! `rmpsc_ring_lease` and `rmpsc_lease_*`: one side of a ring lent to the
//! inline fast path of `ringmpsc_lease.h`, which runs the index protocol
//! in the caller's code instead of a call per item (see `ringcore`'s
//! `ring::lease`). The functions here are its slow paths: taking and
//! ending the lease, waking a sleeping peer, waiting, and the corruption
//! report.

use crate::args::{handle, strategy};
use crate::call;
use crate::ring::rmpsc_ring_t;
use ringcore::ring::Lease;
use ringcore::{Error, SlotConsumer, SlotProducer};
use std::ffi::c_int;

/// The producer side of a ring (rmpsc_ring_lease).
pub const RMPSC_SIDE_PRODUCER: c_int = 0;

/// The consumer side of a ring (rmpsc_ring_lease).
pub const RMPSC_SIDE_CONSUMER: c_int = 1;

/// The layout of rmpsc_lease_t this header's inline functions read; pass it
/// to rmpsc_ring_lease, which refuses any other.
pub const RMPSC_LEASE_LAYOUT: u32 = 1;

/// One side of a ring lent to the inline functions of ringmpsc_lease.h
/// (rmpsc_lease_try_send, _try_recv, _send, _recv, _reserve, _commit,
/// _peek, _advance). Filled by rmpsc_ring_lease; the caller keeps it and
/// passes it to those functions, from one thread at a time. One copy is in
/// use at a time: a loop may work on a copy in a local variable (whose
/// fields then stay in registers), copied back before the original goes to
/// rmpsc_lease_wait or rmpsc_lease_end (which ends the struct it is given,
/// not its copies: discard them). Its fields are the inline functions'
/// own: read them, do not write them.
#[repr(C)]
pub struct rmpsc_lease_t {
    /// This side's next position (the tail of a producer, head of a consumer).
    pub position: u64,
    /// The other side's position as this side last loaded it.
    pub cached: u64,
    /// Number of slots - 1: a position's slot is `position & mask`.
    pub mask: u64,
    /// The first slot; slot i is at `slots + i * slot_size`.
    pub slots: *mut u8,
    /// Bytes per slot.
    pub slot_size: usize,
    /// Producer: slots handed out by the last rmpsc_lease_reserve.
    pub reserved: usize,
    /// This side's position in the ring, stored (release) after each
    /// commit or release.
    pub own: *mut u64,
    /// The other side's position in the ring, loaded (acquire).
    pub peer: *const u64,
    /// Non-zero once the ring is closed.
    pub closed: *const u32,
    /// The other side's sleepers (for a producer of an MPSC or MPMC
    /// channel, the channel's wake-up word, where its consumers sleep):
    /// non-zero after a publication means calling rmpsc_lease_wake.
    pub peer_waiters: *const u32,
    /// 1: a full fence between publishing and reading peer_waiters; 0 (what
    /// this library sets): a compiler fence is enough, because a side that
    /// goes to sleep makes up for it (a membarrier in a ring of one process,
    /// a short settling spin in a ring shared between processes).
    pub full_fence: u32,
    /// RMPSC_SIDE_PRODUCER or RMPSC_SIDE_CONSUMER.
    pub side: c_int,
    /// The ring the side belongs to; NULL once the lease has ended.
    pub ring: *mut rmpsc_ring_t,
}

impl rmpsc_lease_t {
    fn new(lease: Lease, side: c_int, ring: *mut rmpsc_ring_t) -> Self {
        rmpsc_lease_t {
            position: lease.position,
            cached: lease.cached,
            mask: lease.mask,
            slots: lease.slots,
            slot_size: lease.slot_size,
            reserved: 0,
            own: lease.own.cast_mut().cast(),
            peer: lease.peer.cast(),
            closed: lease.closed.cast(),
            peer_waiters: lease.peer_waiters.cast(),
            full_fence: lease.full_fence.into(),
            side,
            ring,
        }
    }
}

/// `side` of a lease that has ended: every inline function fails with
/// `RMPSC_EINVAL` on it.
const ENDED: c_int = -1;

/// The side a lease holds, for its holder.
enum Held<'a> {
    Producer(&'a mut SlotProducer),
    Consumer(&'a mut SlotConsumer),
}

/// Runs `f` on the side `lease` holds; `InvalidArgument` for a NULL or
/// ended lease.
fn with_held<R>(
    lease: *const rmpsc_lease_t,
    f: impl FnOnce(&rmpsc_lease_t, Held) -> Result<R, Error>,
) -> Result<R, Error> {
    let l = handle(lease, "lease")?;
    let ring = handle(l.ring, "lease's ring (ended)")?;
    match l.side {
        RMPSC_SIDE_PRODUCER => ring.producer()?.held(|p| f(l, Held::Producer(p))),
        RMPSC_SIDE_CONSUMER => ring.consumer()?.held(|c| f(l, Held::Consumer(c))),
        _ => Err(ended()),
    }
}

#[cold]
fn ended() -> Error {
    Error::InvalidArgument("the lease has ended".into())
}

/// Lends one side of `ring` (RMPSC_SIDE_PRODUCER or RMPSC_SIDE_CONSUMER) to
/// the inline functions of ringmpsc_lease.h, which move items without a
/// call into the library; `layout` is RMPSC_LEASE_LAYOUT. Until
/// rmpsc_lease_end the side's rmpsc_ring_* calls fail with RMPSC_EBUSY (the
/// thread-safe ones still work); the ring must not be freed before. A
/// producer's pending reservation is dropped. A forked child must not use
/// the parent's lease.
/// Errors: RMPSC_EINVAL (another layout, a side the handle does not hold,
/// a ring with metrics or a notifier of its own, which the inline path
/// would skip), RMPSC_EBUSY (in use or leased already). A producer of an
/// MPSC or MPMC channel is lent: its inline publications look at the
/// channel's wake-up word (`peer_waiters`).
#[no_mangle]
pub extern "C" fn rmpsc_ring_lease(
    ring: *mut rmpsc_ring_t,
    side: c_int,
    layout: u32,
    out: *mut rmpsc_lease_t,
) -> c_int {
    call(|| {
        let out = crate::args::Out::new(out, "out")?;
        if layout != RMPSC_LEASE_LAYOUT {
            return Err(Error::InvalidArgument(format!(
                "lease layout {layout} is not this library's {RMPSC_LEASE_LAYOUT} \
                 (rebuild against its header)"
            )));
        }
        let r = handle(ring, "ring")?;
        let lease = match side {
            RMPSC_SIDE_PRODUCER => r.producer()?.lend(|p| p.lease())?,
            RMPSC_SIDE_CONSUMER => r.consumer()?.lend(|c| c.lease())?,
            _ => return Err(Error::InvalidArgument(format!("side {side} is neither"))),
        };
        out.set(rmpsc_lease_t::new(lease, side, ring));
        Ok(())
    })
}

/// Ends a lease: the side takes the lease's position back and its
/// rmpsc_ring_* calls work again. The position must be the one the lease
/// published in the ring, else RMPSC_ECORRUPT and the lease stays (a
/// damaged lease or a peer that wrote this side's position); on a shared
/// segment truncated under this process, where nothing is left to check,
/// the lease ends and the side's calls report the truncation. An ended
/// lease has `ring` NULL and `side` -1: every inline function fails on it
/// with RMPSC_EINVAL.
/// Errors: RMPSC_EINVAL (NULL or ended), RMPSC_ECORRUPT.
#[no_mangle]
pub extern "C" fn rmpsc_lease_end(lease: *mut rmpsc_lease_t) -> c_int {
    call(|| {
        with_held(lease, |l, held| match held {
            Held::Producer(p) => p.resume(l.position),
            Held::Consumer(c) => c.resume(l.position),
        })?;
        // SAFETY: non-NULL (checked by with_held) and, by the C contract,
        // the caller's writable lease.
        let l = unsafe { &mut *lease };
        let ring = handle(l.ring, "ring")?;
        match l.side {
            RMPSC_SIDE_PRODUCER => ring.producer()?.give_back(),
            _ => ring.consumer()?.give_back(),
        }
        l.ring = std::ptr::null_mut();
        l.side = ENDED;
        l.reserved = 0;
        Ok(())
    })
}

/// Wakes the other side if it sleeps: what the inline functions call after
/// a publication that finds peer_waiters non-zero.
/// Errors: RMPSC_EINVAL (NULL or ended).
#[no_mangle]
pub extern "C" fn rmpsc_lease_wake(lease: *mut rmpsc_lease_t) -> c_int {
    call(|| {
        with_held(lease, |_, held| {
            match held {
                Held::Producer(p) => p.wake_consumer(),
                Held::Consumer(c) => c.wake_producer(),
            }
            Ok(())
        })
    })
}

/// Waits up to `timeout_ns` until the side can go on: a producer until a
/// slot is free, a consumer until an item is readable (a pending
/// reservation stays).
/// Errors: RMPSC_ETIMEDOUT, RMPSC_ECLOSED (producer: closed; consumer:
/// closed and drained), RMPSC_ECORRUPT, RMPSC_EDISCONNECTED (a shared
/// ring whose other process died), RMPSC_EINVAL (NULL or ended).
#[no_mangle]
pub extern "C" fn rmpsc_lease_wait(lease: *mut rmpsc_lease_t, timeout_ns: i64) -> c_int {
    call(|| {
        let renewed = with_held(lease, |l, held| match held {
            Held::Producer(p) => {
                p.resume(l.position)?;
                p.wait_for_space(strategy(timeout_ns))?;
                p.lease()
            }
            Held::Consumer(c) => {
                c.resume(l.position)?;
                c.wait_for_data(strategy(timeout_ns))?;
                c.lease()
            }
        })?;
        // SAFETY: non-NULL (checked by with_held) and, by the C contract,
        // the caller's writable lease.
        unsafe { (*lease).cached = renewed.cached };
        Ok(())
    })
}

/// Records why `peer`, the other side's position the inline functions
/// just loaded, is impossible (more than a capacity from the lease's own:
/// a crashed or hostile peer in shared memory, or a segment truncated
/// under this process, which the message then names) and returns
/// RMPSC_ECORRUPT; the value is not used.
/// Errors: RMPSC_ECORRUPT, RMPSC_EINVAL (NULL or ended).
#[no_mangle]
pub extern "C" fn rmpsc_lease_report(lease: *mut rmpsc_lease_t, peer: u64) -> c_int {
    call(|| {
        with_held(lease, |l, held| {
            Err(match held {
                Held::Producer(p) => Lease::impossible(peer, l.position, p.is_truncated()),
                Held::Consumer(c) => Lease::impossible(l.position, peer, c.is_truncated()),
            })
        })
    })
}
