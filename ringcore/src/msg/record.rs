//! The message ring's record format: the drawing, the constants and the
//! offset functions, nothing else (the framing it shares with the log is
//! in `frame`; reading a record, checked, in `committed`).
//!
//! ```text
//! offset  size  field
//! 0       4     commit  lap tag | (payload length + 1), stored last (Release);
//!                       0 = not yet written
//! 4       4     type    user message type; 0xffff_ffff marks a padding record
//! 8       len   payload
//! 8+len   0..7  padding up to a multiple of 8 (not written)
//! ```
//!
//! Records are 8-byte aligned and never split across the end of the byte
//! ring: when a record does not fit before the end, the producer first
//! commits a padding record covering the rest of the ring.
//!
//! # The commit word
//!
//! For a ring of `2^ring_bits` bytes (12 to 28) the low `ring_bits` bits
//! hold the payload length + 1 (never 0) and the `32 - ring_bits` bits
//! above them the low bits of the record's lap (`position >> ring_bits`):
//! the word is `(position - index + length + 1) mod 2^32`, where `index` is
//! the record's byte index in the ring. A receiver at position `p` accepts
//! a word only when its tag is `p`'s lap, so bytes left by an earlier lap
//! (an old header, or payload the receiver was misled into) are reported as
//! `Corrupt`, never delivered again. Rings are at most 2^28 bytes so that
//! every tag has at least 4 bits.
//!
//! # Publication
//!
//! A record is published by its commit word: the producer writes type and
//! payload, zeroes the commit word of the *next* record position, then
//! stores this record's commit word with Release, and only then the tail.
//! The receiver polls the commit word at its head, so a message costs it
//! the record's cache lines only, not the tail's line as well, and it never
//! sees half a record: a word still zero means "not yet". For that zero the
//! producer keeps `SLACK` bytes free beyond its records, so the largest
//! payload is `capacity - 16` bytes. A batch publishes its first record's
//! commit word last, so a receiver sees the whole batch at once.
//!
//! A receiver that polls commit words may run ahead of the stored tail,
//! but never by more than a ring: it loads the tail again when a record
//! would take it further than a ring past the tail it loaded last, about
//! once a lap.
//! `make loom` checks the protocol (a model over the real cursors, in
//! `ring::loom_models`).

use crate::frame;
use crate::ring::raw::RawRing;
use crate::sync::AtomicU32;

/// Bytes of a record header.
pub const RECORD_HEADER: usize = 8;
const _: () = assert!(RECORD_HEADER as u64 == frame::ALIGN);
/// Bytes the producer keeps free after its records: the zeroed commit word
/// of the next record.
pub(crate) const SLACK: usize = 8;
/// The type of a padding record.
pub(crate) const PAD: u32 = u32::MAX;
/// Smallest byte ring: 4 KiB.
pub(crate) const MIN_RING_BITS: u32 = 12;
/// Largest byte ring: 256 MiB, so that a commit word keeps 4 bits of lap.
pub const MAX_RING_BITS: u32 = 28;

/// Bytes a record of `payload` bytes occupies.
#[inline]
pub(crate) fn record_len(payload: usize) -> usize {
    frame::aligned((RECORD_HEADER + payload) as u64) as usize
}

/// Largest payload of a ring of `capacity` bytes.
#[inline]
pub(crate) fn max_payload(capacity: usize) -> usize {
    capacity - RECORD_HEADER - SLACK
}

/// The bits of a commit word that hold the length + 1: those of a byte
/// index in the ring.
#[inline(always)]
pub(crate) fn len_mask(raw: &RawRing) -> u32 {
    raw.capacity() as u32 - 1
}

/// The lap tag of position `pos`, in its place: `pos` less its index in
/// the ring, cut to 32 bits.
#[inline(always)]
pub(crate) fn lap_tag(raw: &RawRing, pos: u64) -> u32 {
    (pos & !(raw.capacity() as u64 - 1)) as u32
}

/// The commit word of a record of `len` payload bytes at position `pos`.
#[inline(always)]
pub(crate) fn commit_word(raw: &RawRing, pos: u64, len: usize) -> u32 {
    frame::commit_word(lap_tag(raw, pos), len as u64)
}

/// The header word at byte `index`, as an atomic: a peer may be scribbling
/// it, so each field is loaded once and then checked.
#[inline]
pub(crate) fn word(raw: &RawRing, index: usize) -> &AtomicU32 {
    debug_assert!(index % 4 == 0 && index + 4 <= raw.capacity());
    // SAFETY: index is 4-aligned (records are 8-aligned, the data area
    // starts 512-aligned) and inside the byte ring.
    unsafe { &*raw.byte_ptr(index).cast::<AtomicU32>() }
}

/// The payload address of the record whose header is at byte `index`: one
/// past the end of the ring for an empty record that ends it.
#[inline]
pub(crate) fn payload_ptr(raw: &RawRing, index: usize) -> *mut u8 {
    debug_assert!(index + RECORD_HEADER <= raw.capacity());
    // SAFETY: a header lies inside the ring, so its end is at most one
    // past the ring's last byte.
    unsafe { raw.byte_ptr(index).add(RECORD_HEADER) }
}
