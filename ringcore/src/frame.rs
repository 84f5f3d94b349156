//! The record framing the message ring and the log share: records start
//! 8-byte aligned and open with a 32-bit commit word, stored last with
//! Release, whose low bits hold the payload length + 1 and whose high bits
//! a tag (the message ring's lap, the log's record kind). A word of 0 is a
//! record not written yet; a length part of 0 is never stored.
//!
//! ```text
//! commit word (the length bits are a format's `len_mask`)
//! high bits            low bits
//!   tag                payload length + 1
//! ```
//!
//! Each format draws the rest of its record in its own descriptor
//! ([`msg::record`](crate::msg::record), [`log::format`](crate::log::format)).

/// Records start at multiples of this many bytes.
pub(crate) const ALIGN: u64 = 8;

/// `n` rounded up to [`ALIGN`]. Every caller's `n` is a header plus a
/// length of at most 32 bits, far from overflowing.
#[inline(always)]
pub(crate) const fn aligned(n: u64) -> u64 {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

/// The commit word of a record of `len` payload bytes, `tag` already in
/// its place above the length bits.
#[inline(always)]
pub(crate) const fn commit_word(tag: u32, len: u64) -> u32 {
    tag | (len as u32 + 1)
}

/// The tag (in its place) and the payload length of a commit word whose
/// length bits are `len_mask`; `None` when its length part is 0 (not
/// written, or not written by a writer of this format).
#[inline(always)]
pub(crate) const fn parse_commit(word: u32, len_mask: u32) -> Option<(u32, u64)> {
    let len1 = word & len_mask;
    if len1 == 0 {
        return None;
    }
    Some((word & !len_mask, len1 as u64 - 1))
}
