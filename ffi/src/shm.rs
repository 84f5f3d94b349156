//! `rmpsc_shm_*` and the segment format: what every shared segment (slot
//! ring, message ring, buffer pool) has in common: the header, who may
//! open it, and removing stale ones.

use crate::args::{name, read_in, OptOut};
use crate::call;
use ringcore::shm::{self, Permissions};
use std::ffi::{c_char, c_int};

/// The segment magic, "RMPSCSEG" read as a native-endian 64-bit integer.
pub const RMPSC_SEG_MAGIC: u64 = 0x4745_5343_5350_4d52;
/// The segment format version this library writes and reads.
pub const RMPSC_SEG_VERSION: u32 = 3;
/// Size of the segment header; the data area starts at this offset.
pub const RMPSC_SEG_HEADER_SIZE: usize = 512;

/// Who may open a named segment; zero-initialise it for the defaults (mode
/// 0600, the creator's group).
///
/// Every segment (slot ring, message ring, buffer pool) starts with this
/// 512-byte header; integers are native-endian, lines are 128 bytes apart:
///
///   offset size field             meaning
///   0x000  8    magic             "RMPSCSEG" (RMPSC_SEG_MAGIC)
///   0x008  4    version           RMPSC_SEG_VERSION
///   0x00c  4    kind              1 slot ring, 2 message ring, 3 buffer pool
///   0x010  4    header_size       512
///   0x014  4    ring_bits         capacity = 2^ring_bits slots (bytes for kind 2)
///   0x018  4    slot_size         bytes per slot; 1 for kind 2; slab size for kind 3
///   0x01c  4    state             1 once the creator has published the header
///   0x020  8    data_offset       512
///   0x028  8    data_size         bytes after the header
///   0x030  8    total_size        512 + data_size = the file size
///   0x038  4    creator_pid
///   0x03c  4    slab_count        kind 3
///   0x040  8    created_ns        CLOCK_REALTIME
///   0x048  8    creator_pidns     the creator's pid namespace (0: none)
///   0x080  8    tail              producer line: next position written (release)
///   0x088  8    heartbeat_ns      producer liveness, CLOCK_MONOTONIC
///   0x090  4    pid               producer process, 0 when none
///   0x098  8    pidns             its pid namespace (inode of /proc/PID/ns/pid; 0: none)
///   0x100  8    head              consumer line: next position read (release)
///   0x108  8    heartbeat_ns      consumer liveness, CLOCK_MONOTONIC
///   0x110  4    pid               consumer process, 0 when none
///   0x118  8    pidns             its pid namespace (0: none)
///   0x180  4    closed            wake line: non-zero once closed
///   0x184  4    consumer_waiters
///   0x188  4    producer_waiters
///   0x18c  4    data_seq          futex word consumers sleep on (shared futex)
///   0x190  4    space_seq         futex word producers sleep on (shared futex)
///   0x200       data              slots at (position & (capacity-1)) * slot_size
///
/// A message ring's data is a byte ring of 8-byte-aligned records
/// [u32 commit | u32 type | payload | zero padding], never split across the
/// end; type 0xffffffff is a padding record that fills the end of the ring.
/// `commit` is stored last (release); 0 means not written yet. For a ring
/// of 2^ring_bits bytes (12 to 28) its low ring_bits bits hold the payload
/// length + 1 and the bits above them the low bits of the record's lap
/// (position >> ring_bits): commit = (position - index + length + 1) mod
/// 2^32. A word whose lap is not the reader's is corrupt (bytes of an
/// earlier lap). The sender zeroes the next record's commit word before
/// storing this one's (so it keeps 8 bytes free: the largest payload is
/// capacity - 16), then stores the tail; the receiver polls the commit word
/// at its head and never runs more than a ring ahead of the tail.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct rmpsc_permissions_t {
    /// Permission bits, at most 0777 (0: 0600, the creating user only).
    pub mode: u32,
    /// Give the segment the group `group` (the creator must belong to it).
    pub set_group: bool,
    /// The group id, with `set_group`.
    pub group: u32,
}

/// The permissions at `p` (NULL: the defaults).
pub(crate) fn permissions(p: *const rmpsc_permissions_t) -> Permissions {
    let Some(p) = read_in(p) else {
        return Permissions::default();
    };
    Permissions {
        mode: if p.mode == 0 { 0o600 } else { p.mode },
        group: p.set_group.then_some(p.group),
    }
}

/// Removes the named segment (of any kind) if its creator is dead and no
/// live process holds a side; `*out_removed` (may be NULL) tells whether it
/// was. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_shm_remove_if_stale(name: *const c_char, out_removed: *mut bool) -> c_int {
    call(|| {
        let removed = shm::remove_if_stale(self::name(name)?)?;
        OptOut::new(out_removed).set(removed);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_constants_match_the_core() {
        assert_eq!(RMPSC_SEG_MAGIC, ringcore::shm::layout::MAGIC);
        assert_eq!(RMPSC_SEG_VERSION, ringcore::shm::layout::VERSION);
        assert_eq!(RMPSC_SEG_HEADER_SIZE, ringcore::shm::layout::HEADER_SIZE);
    }

    /// The rows `offset [size] field` of a header drawing in a source file.
    fn drawing(source: &str) -> Vec<(u32, Option<u32>, String)> {
        source
            .lines()
            .filter_map(|line| {
                let line = line.trim_start().trim_start_matches(['/', '!']);
                let mut words = line.split_whitespace();
                let offset = u32::from_str_radix(words.next()?.strip_prefix("0x")?, 16).ok()?;
                let next = words.next()?;
                Some(match next.parse() {
                    Ok(size) => (offset, Some(size), words.next()?.to_owned()),
                    Err(_) => (offset, None, next.to_owned()),
                })
            })
            .collect()
    }

    /// The drawing in the C header (from this file) is the core's, whose
    /// fields are pinned to their structs by compile-time offset checks.
    #[test]
    fn header_drawing_matches_the_core() {
        let ours = drawing(include_str!("shm.rs"));
        let core = drawing(include_str!("../../ringcore/src/shm/layout.rs"));
        assert_eq!(ours.len(), 28, "{ours:?}");
        assert_eq!(ours, core);
    }
}
