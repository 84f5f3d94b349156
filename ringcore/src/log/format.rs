//! The on-disk format of a log file (version 3; version 1 and 2 files
//! still read). Native-endian: a file records the byte order it was written in and
//! readers refuse the other.
//!
//! # File
//!
//! A log is a series of files `NAME`, `NAME.1`, `NAME.2`, ... (the file
//! sequence number), each of `file_size` bytes, divided into regions of
//! `region_size` bytes (a multiple of the page size). The first 256 bytes of
//! each file are its header; records follow.
//!
//! ```text
//! offset  size  field          meaning
//! 0x00    8     magic          b"RMPSCLOG"
//! 0x08    4     version        2 (1: no flags, no checksums)
//! 0x0c    4     byte_order     0x01020304 written natively
//! 0x10    4     header_size    256
//! 0x14    4     mtu            largest payload, bytes
//! 0x18    8     region_size    bytes; records never cross a region boundary
//! 0x20    8     file_size      bytes of this file
//! 0x28    8     file_seq       0 for NAME, n for NAME.n
//! 0x30    8     first_index    index of the first record of this file
//! 0x38    8     created_ns     CLOCK_REALTIME
//! 0x40    8     writer_epoch   bumped by each writer that opens the log
//! 0x48    4     writer_pid     the writer's process
//! 0x4c    4     writer_state   1 active, 2 closed cleanly, 3 rolled to the next file
//! 0x50    8     write_pos      end of the committed records (Release, after each commit)
//! 0x58    4     flags          bit 0: records carry a CRC32C (version 2; 0 in version 1)
//! 0x60    8     log_id         the log's identity: random and non-zero, chosen when the
//!                              log is made, the same in every file of it (version 3;
//!                              read as 0, none, in older files)
//! 0x80    4     readers_waiting  readers about to sleep on wake_seq
//! 0x84    4     wake_seq       futex word (shared) readers sleep on
//! 0x100         records
//! ```
//!
//! # Record
//!
//! ```text
//! without checksums (version 1, and version 2 without the flag)
//! offset  size  field
//! 0       4     commit     bits 0..30: payload length + 1, bits 30..32: kind
//!                          (0 message, 1 padding to the region end, 2 roll to
//!                          the next file); 0 until committed. Stored last, Release.
//! 4       4     msg_type   the writer's message type
//! 8       8     timestamp  the writer's timestamp or user field
//! 16      len   payload
//! 16+len  0..7  zero padding to a multiple of 8
//!
//! with checksums (version 2, flag set)
//! 0       4     commit     as above
//! 4       4     crc        CRC32C of bytes 8..24+len (8..24 for padding), seeded
//!                          with commit ^ low 32 bits ^ high 32 bits of the
//!                          record's file offset
//! 8       4     msg_type
//! 12      4     zero
//! 16      8     timestamp
//! 24      len   payload
//! 24+len  0..7  zero padding to a multiple of 8
//! ```
//!
//! The commit word and the 8-byte alignment are the framing the message
//! ring shares (`frame`); the kind is the commit word's tag.
//!
//! The checksum covers every byte a reader takes from the record: the
//! commit word (length and kind) and the record's place through the seed,
//! the rest as one contiguous run, so one CRC32C pass checks a record.
//!
//! A reader polls the `commit` word of the next record: once it is non-zero
//! (Acquire) the whole record is there, and with checksums it checks the
//! CRC before returning the record. The writer fills the end of a region
//! that a record does not fit in with a padding record (or, when less than
//! a record header is left, with nothing: readers skip such a remainder).
//! The last `H + 8` bytes of a file are kept for the roll record, whose
//! 8-byte payload is the next file's sequence number; the next file exists
//! (created under a temporary name and renamed) before the roll record is
//! committed. Regions are at most 1 GiB, so a length always fits its 30 bits.
//!
//! Every length and offset a reader takes from a file is checked against
//! the header, the region and the mapping: a bad one is an error naming its
//! position, never an out-of-bounds read.

use crate::frame;
use crate::sync::{AtomicU32, AtomicU64};

/// `b"RMPSCLOG"` read natively.
pub const MAGIC: u64 = u64::from_ne_bytes(*b"RMPSCLOG");
/// Format version written. Version 3 added `log_id`; version 2 the flags
/// word and checksums. A version 3 writer reopening an older log keeps it
/// without an identity (the files it adds carry `log_id` 0).
pub const VERSION: u32 = 3;
/// Header flag: every record carries a CRC32C.
pub const FLAG_CHECKSUMS: u32 = 1;
/// Written natively; a reader on the other byte order sees it reversed.
pub const BYTE_ORDER: u32 = 0x0102_0304;
/// Bytes of the file header.
pub const HEADER_SIZE: u64 = 256;
/// Bytes of a record header without a checksum.
pub const RECORD_HEADER: u64 = 16;
/// Bytes of a record header with a checksum.
pub const CHECKED_RECORD_HEADER: u64 = 24;
/// Largest region: lengths are 30 bits.
pub const MAX_REGION: u64 = 1 << 30;

/// Record kind: padding to the end of the region.
pub const FLAG_PADDING: u32 = 1;
/// Record kind: the log continues in the next file.
pub const FLAG_ROLL: u32 = 2;
/// Bits of the commit word that hold the length.
const LEN_BITS: u32 = 30;
const LEN_MASK: u32 = (1 << LEN_BITS) - 1;

/// The commit word of a record of kind `flags` with `len` payload bytes.
#[inline]
pub(crate) fn commit_word(flags: u32, len: u64) -> u32 {
    debug_assert!(flags < 4 && len < LEN_MASK as u64);
    frame::commit_word(flags << LEN_BITS, len)
}

/// The kind and payload length in a non-zero commit word (`None` when the
/// length part is 0: no writer stores that).
#[inline]
pub(crate) fn parse_commit(word: u32) -> Option<(u32, u64)> {
    frame::parse_commit(word, LEN_MASK).map(|(tag, len)| (tag >> LEN_BITS, len))
}

/// Writer states in the header.
pub const STATE_ACTIVE: u32 = 1;
/// The writer closed the log cleanly.
pub const STATE_CLOSED: u32 = 2;
/// The file is complete; the log continues in the next one.
pub const STATE_ROLLED: u32 = 3;

#[repr(C)]
pub(crate) struct FileHeader {
    pub(crate) magic: AtomicU64,
    pub(crate) version: AtomicU32,
    pub(crate) byte_order: AtomicU32,
    pub(crate) header_size: AtomicU32,
    pub(crate) mtu: AtomicU32,
    pub(crate) region_size: AtomicU64,
    pub(crate) file_size: AtomicU64,
    pub(crate) file_seq: AtomicU64,
    pub(crate) first_index: AtomicU64,
    pub(crate) created_ns: AtomicU64,
    pub(crate) writer_epoch: AtomicU64,
    pub(crate) writer_pid: AtomicU32,
    pub(crate) writer_state: AtomicU32,
    pub(crate) write_pos: AtomicU64,
    pub(crate) flags: AtomicU32,
    _pad32: u32,
    pub(crate) log_id: AtomicU64,
    _pad: [u64; 3],
    pub(crate) readers_waiting: AtomicU32,
    pub(crate) wake_seq: AtomicU32,
}

const _: () = {
    assert!(std::mem::offset_of!(FileHeader, write_pos) == 0x50);
    assert!(std::mem::offset_of!(FileHeader, flags) == 0x58);
    assert!(std::mem::offset_of!(FileHeader, log_id) == 0x60);
    assert!(std::mem::offset_of!(FileHeader, readers_waiting) == 0x80);
    assert!(std::mem::size_of::<FileHeader>() <= HEADER_SIZE as usize);
};

/// The geometry every file of a log shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) region_size: u64,
    pub(crate) file_size: u64,
    pub(crate) mtu: u32,
    /// Records carry a CRC32C.
    pub(crate) checksums: bool,
}

impl Geometry {
    /// Bytes of a record header.
    #[inline]
    pub(crate) fn header_len(&self) -> u64 {
        if self.checksums {
            CHECKED_RECORD_HEADER
        } else {
            RECORD_HEADER
        }
    }

    /// Offset of `msg_type` in a record.
    #[inline]
    pub(crate) fn type_offset(&self) -> u64 {
        if self.checksums {
            8
        } else {
            4
        }
    }

    /// Offset of `timestamp` in a record.
    #[inline]
    pub(crate) fn timestamp_offset(&self) -> u64 {
        if self.checksums {
            16
        } else {
            8
        }
    }

    /// Bytes of a record with `payload` bytes of payload.
    #[inline]
    pub(crate) fn record_len(&self, payload: u64) -> u64 {
        frame::aligned(self.header_len() + payload)
    }

    /// Bytes kept at the end of each file for the roll record.
    pub(crate) fn roll_reserve(&self) -> u64 {
        self.header_len() + 8
    }

    /// Where the roll record goes when the records end at `pos`: there, or
    /// at the start of the next region when it does not fit in this one
    /// (after padding). Records leave the roll reserve free at the end of
    /// the last region, so it always fits there.
    pub(crate) fn roll_at(&self, pos: u64) -> u64 {
        let end = self.region_end(pos);
        if pos + self.roll_reserve() > end && end < self.file_size {
            end
        } else {
            pos
        }
    }

    /// Bytes of the largest record.
    pub(crate) fn max_record(&self) -> u64 {
        self.record_len(self.mtu as u64)
    }

    /// The end of the region `pos` is in (a mask for the usual power-of-two
    /// region sizes, no division).
    #[inline]
    pub(crate) fn region_end(&self, pos: u64) -> u64 {
        let end = if self.region_size.is_power_of_two() {
            (pos | (self.region_size - 1)) + 1
        } else {
            (pos / self.region_size + 1) * self.region_size
        };
        end.min(self.file_size)
    }

    /// Where the record space of a region ends for a record starting at `pos`.
    pub(crate) fn limit(&self, pos: u64) -> u64 {
        self.region_end(pos)
            .min(self.file_size - self.roll_reserve())
    }
}

/// The seed of the checksum of a record at file offset `pos` whose commit
/// word is `commit`.
#[inline]
pub(crate) fn crc_seed(pos: u64, commit: u32) -> u32 {
    commit ^ pos as u32 ^ (pos >> 32) as u32
}

/// CRC32C of `bytes` continuing `crc` (what `crc32c::crc32c_append`
/// returns). A record's checksum covers its payload and 16 header bytes,
/// mostly a few dozen bytes; for those the crate's general code (set up for
/// its three-way path, which it takes from 768 bytes) costs twice the
/// plain serial loop it ends up running (about 14 ns against 7 for a 64-byte
/// payload, measured), paid on every append and every read. Below that
/// size, where the CPU has the instruction, this runs the loop itself.
#[inline]
pub(crate) fn crc32c(crc: u32, bytes: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if bytes.len() < 768 && std::is_x86_feature_detected!("sse4.2") {
        // SAFETY: the CPU has SSE 4.2, checked just above.
        return unsafe { crc32c_serial_sse42(crc, bytes) };
    }
    crc32c::crc32c_append(crc, bytes)
}

/// CRC32C of `bytes` continuing `crc`, 8 bytes per `crc32` instruction.
///
/// # Safety
///
/// The CPU must have SSE 4.2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
unsafe fn crc32c_serial_sse42(crc: u32, bytes: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};
    let mut c = u64::from(!crc);
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        // SAFETY: the caller vouches for SSE 4.2 (newer compilers see
        // that from the target feature and need no `unsafe` here).
        #[allow(unused_unsafe)]
        let next = unsafe { _mm_crc32_u64(c, w) };
        c = next;
    }
    let mut c = c as u32;
    for &b in words.remainder() {
        // SAFETY: as above.
        #[allow(unused_unsafe)]
        let next = unsafe { _mm_crc32_u8(c, b) };
        c = next;
    }
    !c
}

/// Offset in a checked record of the first byte the checksum covers.
pub(crate) const CRC_FROM: u64 = 8;
