//! The committed record at a position, as a reader checks it: the
//! receiver, and a sender recovering the records a dead sender committed
//! past the tail it stored.

use super::record::{lap_tag, len_mask, max_payload, record_len, word, PAD, RECORD_HEADER};
use crate::error::{corrupt, Result};
use crate::frame;
use crate::ring::raw::RawRing;
use crate::sync::Ordering;

/// A committed record, as a reader checked it.
pub(crate) struct Record {
    /// Byte index of its header.
    pub(crate) index: usize,
    /// Its type; [`PAD`] for padding.
    pub(crate) msg_type: u32,
    /// Payload bytes.
    pub(crate) len: usize,
    /// Bytes it occupies: the record, or the rest of the ring for padding.
    pub(crate) span: usize,
}

/// The record at position `pos`, `None` while its commit word is 0;
/// `Corrupt` for a word of another lap, or a place, length or type that
/// cannot be right.
#[inline(always)]
pub(crate) fn record_at(raw: &RawRing, pos: u64) -> Result<Option<Record>> {
    let (index, to_end) = raw.contiguous(pos);
    if index % 8 != 0 {
        return Err(corrupt(format_args!(
            "message ring position {pos} is not 8-byte aligned"
        )));
    }
    // Acquire pairs with the commit word's Release store in
    // `MessageSender::publish`: type and payload were written before it.
    let commit = word(raw, index).load(Ordering::Acquire);
    if commit == 0 {
        return Ok(None);
    }
    let len = match frame::parse_commit(commit, len_mask(raw)) {
        Some((tag, len)) if tag == lap_tag(raw, pos) => len as usize,
        _ => {
            return Err(corrupt(format_args!(
                "commit word {commit:#010x} at position {pos} is not of this lap \
                 (an earlier lap's bytes, or a scribble)"
            )))
        }
    };
    let msg_type = word(raw, index + 4).load(Ordering::Relaxed);
    let span = if msg_type == PAD {
        // Padding ends the ring after some record, so never starts it.
        if RECORD_HEADER + len != to_end || index == 0 {
            return Err(corrupt(format_args!(
                "padding record of {len} bytes at {index} does not end the ring"
            )));
        }
        to_end
    } else {
        if len > max_payload(raw.capacity()) || record_len(len) > to_end {
            return Err(corrupt(format_args!(
                "record at {index} claims {len} bytes, {to_end} are left before the end"
            )));
        }
        record_len(len)
    };
    Ok(Some(Record {
        index,
        msg_type,
        len,
        span,
    }))
}
