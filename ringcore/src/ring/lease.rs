//! Leases: one side of a byte-slot ring lent to code outside the library
//! that runs the index protocol itself, without a call per item.
//!
//! The C header's inline fast path (`include/ringmpsc_lease.h`) is the user:
//! a call into the library costs about 10 ns, more than an 8-byte item
//! takes through the ring, so the header carries the protocol of
//! [`raw`](super::raw) as inline C over the words a [`Lease`] points at. The
//! protocol it must follow, per operation:
//!
//! - Load the peer's position (Acquire) only when the cached one shows
//!   fewer free (producer) or readable (consumer) slots than the call
//!   wants, and check it: `tail - head` above the capacity means a
//!   crashed or hostile peer, reported as corrupt and never used.
//! - Copy the slots, then store the own position (Release).
//! - Then a barrier (a compiler fence, or a full fence where
//!   [`full_fence`](Lease::full_fence) says so) and a load of
//!   [`peer_waiters`](Lease::peer_waiters); when it is not zero, wake the
//!   peer ([`SlotProducer::wake_consumer`](super::SlotProducer::wake_consumer)
//!   or [`SlotConsumer::wake_producer`](super::SlotConsumer::wake_producer)).
//! - A producer refuses to send once [`closed`](Lease::closed) is set; a
//!   consumer reports closed only when, after seeing the flag, it finds the
//!   ring still empty.
//!
//! The side's own position and cached view live in the lease, as they do
//! in a handle's cursor; handing the side back (`resume`) checks the
//! position against the one published in the ring.

use crate::error::Error;
use crate::sync::{AtomicU32, AtomicU64};

/// One side of a byte-slot ring as code outside the library drives it:
/// where its words and slots are, its position and its last view of the
/// peer's. Made by [`SlotProducer::lease`](super::SlotProducer::lease) or
/// [`SlotConsumer::lease`](super::SlotConsumer::lease); the pointers are
/// valid while the handle lives.
#[derive(Debug, Clone, Copy)]
pub struct Lease {
    /// The first slot; slot `i` is at `slots + i * slot_size`.
    pub slots: *mut u8,
    /// Bytes per slot.
    pub slot_size: usize,
    /// Capacity - 1: a position's slot is `position & mask`.
    pub mask: u64,
    /// This side's published position (the tail of a producer, the head
    /// of a consumer): stored with Release after each commit or release.
    pub own: *const AtomicU64,
    /// The peer's published position, loaded with Acquire.
    pub peer: *const AtomicU64,
    /// Non-zero once the ring is closed.
    pub closed: *const AtomicU32,
    /// The peer's sleepers, read after each publication: for a producer of
    /// an MPSC or MPMC channel, the channel's gate (its consumers sleep
    /// there).
    pub peer_waiters: *const AtomicU32,
    /// The barrier between storing `own` and loading `peer_waiters` must
    /// be a full fence; when `false` a compiler fence is enough, because
    /// the sleeping side makes up for it (`crate::sync`'s notes: a
    /// `membarrier` in a ring of one process, a settling spin in one
    /// shared between processes). `false` outside loom and Miri.
    pub full_fence: bool,
    /// This side's next position (written last through `own`).
    pub position: u64,
    /// The peer's position as this side last loaded it.
    pub cached: u64,
}

impl Lease {
    /// The error for positions a lease holder loaded that are more than a
    /// capacity apart: the same report as the library's own checks (the
    /// truncation where the ring's segment file was shrunk under this
    /// process, `truncated`: its positions read as zeros).
    pub fn impossible(head: u64, tail: u64, truncated: bool) -> Error {
        if truncated {
            return super::raw::truncation();
        }
        super::raw::Corrupt { head, tail }.into()
    }
}
