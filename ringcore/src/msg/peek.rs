//! A look at a message ring's records that consumes nothing: for an
//! inspector holding a read-only view of a ring that live processes use.
//!
//! The walk reads each record as the receiver does ([`record_at`]: the
//! commit word's lap tag, the length against the ring, padding only at the
//! end), so a scribbled or overwritten record stops it with an error
//! instead of a misread. A copied payload is kept only when the consumer
//! had not freed the record by the time the copy was made (its head is not
//! past the record): until then the producer cannot reuse those bytes, so
//! the copy is exactly what was committed. Records the consumer freed
//! before the look reached them are gone from the look, not misread.

use super::committed::{record_at, Record};
use super::record::{payload_ptr, PAD};
use crate::error::Error;
use crate::ring::raw::RawRing;
use crate::sync::Ordering;
use std::ops::ControlFlow;
use std::ptr::NonNull;

/// A record seen by a look, copied out of the ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeekedRecord {
    /// Position of the record in the ring: a free-running byte count,
    /// `position mod capacity` is where its header is.
    pub position: u64,
    /// The sender's message type.
    pub msg_type: u32,
    /// The payload, as committed.
    pub payload: Vec<u8>,
}

/// Why a walk over records ended.
#[derive(Debug)]
pub(crate) enum Stop {
    /// It reached the end it was given.
    End,
    /// The next record is not committed yet.
    Pending,
    /// It walked as many messages as it was allowed, or its caller
    /// stopped it.
    Limit,
    /// The record there is not one of this lap, or cannot be right: the
    /// consumer freed it and the producer wrote over it, or the ring is
    /// damaged.
    Broken(Error),
}

/// Where a walk ended and what it met.
#[derive(Debug)]
pub(crate) struct Walk {
    /// The position after the last record walked over.
    pub(crate) pos: u64,
    /// Messages walked over (padding not counted).
    pub(crate) messages: u64,
    /// Why it ended.
    pub(crate) stop: Stop,
}

/// Walks the committed records of `raw` from position `from` up to `to`
/// (a tail: no record crosses it), at most `limit` messages, calling
/// `each(position, record)` for each message, which may stop the walk
/// (`Break`: it ends as at a limit, after that message). Loads only.
pub(crate) fn walk(
    raw: &RawRing,
    from: u64,
    to: u64,
    limit: u64,
    mut each: impl FnMut(u64, &Record) -> ControlFlow<()>,
) -> Walk {
    let mut w = Walk {
        pos: from,
        messages: 0,
        stop: Stop::End,
    };
    if to.wrapping_sub(from) > raw.capacity() as u64 {
        w.stop = Stop::Broken(raw.unless_truncated(Error::Corrupt(format!(
            "positions {from} and {to} are more than the ring's {} bytes apart",
            raw.capacity()
        ))));
        return w;
    }
    while w.pos != to {
        if w.messages >= limit {
            w.stop = Stop::Limit;
            return w;
        }
        let r = match record_at(raw, w.pos) {
            Ok(Some(r)) => r,
            Ok(None) => {
                w.stop = Stop::Pending;
                return w;
            }
            Err(e) => {
                w.stop = Stop::Broken(raw.unless_truncated(e));
                return w;
            }
        };
        if r.span as u64 > to.wrapping_sub(w.pos) {
            w.stop = Stop::Broken(raw.unless_truncated(Error::Corrupt(format!(
                "the record at position {} runs past the tail {to}",
                w.pos
            ))));
            return w;
        }
        let flow = if r.msg_type != PAD {
            w.messages += 1;
            each(w.pos, &r)
        } else {
            ControlFlow::Continue(())
        };
        w.pos = w.pos.wrapping_add(r.span as u64);
        if flow.is_break() {
            w.stop = Stop::Limit;
            return w;
        }
    }
    w
}

/// The consumer's position, as stored last.
pub(crate) fn head(raw: &RawRing) -> u64 {
    // Acquire pairs with the consumer's Release store of its head: the
    // records before it are freed.
    raw.indices().consumer.head.load(Ordering::Acquire)
}

/// The producer's position, as stored last.
pub(crate) fn tail(raw: &RawRing) -> u64 {
    // Acquire pairs with the producer's Release store of its tail: the
    // records before it are committed.
    raw.indices().producer.tail.load(Ordering::Acquire)
}

/// A copy of the record `r` at position `pos`, or `None` when the consumer
/// freed it before the copy was done (the producer may have reused it).
pub(crate) fn copy(raw: &RawRing, pos: u64, r: &Record) -> Option<PeekedRecord> {
    let p = NonNull::new(payload_ptr(raw, r.index))?;
    // SAFETY: `record_at` bounded the payload by the ring (len bytes after
    // the header, before the end of the byte ring), which lies in a mapping
    // the caller keeps alive.
    let payload = unsafe { crate::shm::view::copy_shared(p, r.len) };
    // The head is loaded after the copy: if it is not past `pos` now, it
    // was not during the copy, and the producer never writes a record the
    // consumer has not freed.
    let freed = head(raw).wrapping_sub(pos) as i64 > 0;
    (!freed).then_some(PeekedRecord {
        position: pos,
        msg_type: r.msg_type,
        payload,
    })
}
