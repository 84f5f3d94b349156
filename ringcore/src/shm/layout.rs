//! The segment header: a fixed, documented `#[repr(C)]` layout that C,
//! Python and Rust processes read alike.
//!
//! ```text
//! offset  size  field            meaning
//! ------  ----  ---------------  ---------------------------------------------
//!                identification line (0x000, 128 bytes), written by the creator
//! 0x000   8     magic            b"RMPSCSEG"
//! 0x008   4     version          format version, 3
//! 0x00c   4     kind             1 slot ring, 2 message ring, 3 buffer pool,
//!                                  4 client channel, 5 server control (msg::transport)
//! 0x010   4     header_size      512
//! 0x014   4     ring_bits        ring capacity is 2^ring_bits slots (bytes for kind 2)
//! 0x018   4     slot_size        bytes per slot (kind 1), 1 (kind 2), slab size (kind 3)
//! 0x01c   4     state            0 while being made, 1 once ready (stored last, Release)
//! 0x020   8     data_offset      512: where the slot array / byte ring / pool starts
//! 0x028   8     data_size        bytes of the data area
//! 0x030   8     total_size       data_offset + data_size: the file size
//! 0x038   4     creator_pid      process that made the segment
//! 0x03c   4     slab_count       kind 3: number of slabs
//! 0x040   8     created_ns       CLOCK_REALTIME at creation
//! 0x048   8     creator_pidns    the creator's pid namespace (inode of /proc/PID/ns/pid; 0: not recorded)
//!                producer line (0x080, 128 bytes)
//! 0x080   8     tail             next position the producer writes (Release)
//! 0x088   8     heartbeat_ns     producer liveness, CLOCK_MONOTONIC
//! 0x090   4     pid              producer process, 0 when none
//! 0x098   8     pidns            its pid namespace (inode of /proc/PID/ns/pid; 0: not recorded)
//!                consumer line (0x100, 128 bytes)
//! 0x100   8     head             next position the consumer reads (Release)
//! 0x108   8     heartbeat_ns     consumer liveness, CLOCK_MONOTONIC
//! 0x110   4     pid              consumer process, 0 when none
//! 0x118   8     pidns            its pid namespace (0: not recorded)
//!                wake line (0x180, 128 bytes)
//! 0x180   4     closed           non-zero once closed
//! 0x184   4     consumer_waiters consumers about to sleep on data_seq
//! 0x188   4     producer_waiters producers about to sleep on space_seq
//! 0x18c   4     data_seq         futex word consumers sleep on (shared futex)
//! 0x190   4     space_seq        futex word producers sleep on (shared futex)
//! 0x200         data             slot array, byte ring, or pool
//! ```
//!
//! All integers are native-endian (the processes share one machine). Every
//! field is read with a bounds check before use: a peer may scribble anything.

use crate::ring::raw::RingIndices;
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// `b"RMPSCSEG"` as a native-endian u64.
pub const MAGIC: u64 = u64::from_ne_bytes(*b"RMPSCSEG");
/// Format version of the segment header.
pub const VERSION: u32 = 3;
/// Size of the header; the data area starts here.
pub const HEADER_SIZE: usize = 512;

/// What a segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    /// Fixed-size slots ([`SharedRing`](super::SharedRing)).
    SlotRing = 1,
    /// Variable-size byte messages ([`MessageRing`](crate::msg::MessageRing)).
    MessageRing = 2,
    /// A slab pool ([`BufferPool::create_shared`](crate::pool::BufferPool::create_shared)).
    Pool = 3,
    /// One client's rings of a [`transport`](crate::msg::transport) channel.
    Channel = 4,
    /// The control segment of a [`transport`](crate::msg::transport) server.
    Control = 5,
}

impl Kind {
    /// What kind `v` is, for messages (any number).
    pub(crate) fn name(v: u32) -> &'static str {
        match v {
            1 => "slot ring",
            2 => "message ring",
            3 => "buffer pool",
            4 => "client channel",
            5 => "server control segment",
            _ => "unknown kind",
        }
    }
}

/// The identification line.
#[repr(C, align(128))]
pub(crate) struct Ident {
    pub(crate) magic: AtomicU64,
    pub(crate) version: AtomicU32,
    pub(crate) kind: AtomicU32,
    pub(crate) header_size: AtomicU32,
    pub(crate) ring_bits: AtomicU32,
    pub(crate) slot_size: AtomicU32,
    pub(crate) state: AtomicU32,
    pub(crate) data_offset: AtomicU64,
    pub(crate) data_size: AtomicU64,
    pub(crate) total_size: AtomicU64,
    pub(crate) creator_pid: AtomicU32,
    pub(crate) slab_count: AtomicU32,
    pub(crate) created_ns: AtomicU64,
    pub(crate) creator_pidns: AtomicU64,
}

impl Ident {
    /// Whether the creator may still run: its pid exists here, or it
    /// recorded another pid namespace, where its pid cannot be looked up.
    pub(crate) fn creator_alive(&self) -> bool {
        crate::sys::process::foreign_namespace(self.creator_pidns.load(Ordering::Relaxed))
            || crate::sys::process::pid_exists(self.creator_pid.load(Ordering::Relaxed))
    }
}

/// Where a segment's ring has its closed flag (`indices.wake.closed`): set
/// in a process whose mapping the file was shrunk under.
pub(crate) const CLOSED_AT: usize = 0x180;

/// The whole 512-byte header.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) ident: Ident,
    pub(crate) indices: RingIndices,
}

// Every field where the drawing above puts it (the indices' own fields
// are checked in `ring::raw`).
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<Header>() == HEADER_SIZE);
    assert!(offset_of!(Header, indices) == 0x80);
    assert!(
        offset_of!(Header, indices)
            + offset_of!(RingIndices, wake)
            + offset_of!(crate::ring::raw::WakeLine, closed)
            == CLOSED_AT
    );
    assert!(offset_of!(Ident, magic) == 0x00);
    assert!(offset_of!(Ident, version) == 0x08);
    assert!(offset_of!(Ident, kind) == 0x0c);
    assert!(offset_of!(Ident, header_size) == 0x10);
    assert!(offset_of!(Ident, ring_bits) == 0x14);
    assert!(offset_of!(Ident, slot_size) == 0x18);
    assert!(offset_of!(Ident, state) == 0x1c);
    assert!(offset_of!(Ident, data_offset) == 0x20);
    assert!(offset_of!(Ident, data_size) == 0x28);
    assert!(offset_of!(Ident, total_size) == 0x30);
    assert!(offset_of!(Ident, creator_pid) == 0x38);
    assert!(offset_of!(Ident, slab_count) == 0x3c);
    assert!(offset_of!(Ident, created_ns) == 0x40);
    assert!(offset_of!(Ident, creator_pidns) == 0x48);
};

/// The geometry a segment must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) kind: Kind,
    pub(crate) ring_bits: u32,
    pub(crate) slot_size: u32,
    pub(crate) slab_count: u32,
    pub(crate) data_size: u64,
}

impl Geometry {
    pub(crate) fn total_size(&self) -> usize {
        HEADER_SIZE + self.data_size as usize
    }
}

pub(crate) const STATE_READY: u32 = 1;

/// CLOCK_REALTIME in nanoseconds.
pub(crate) fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Header {
    /// Fills a zeroed header of a new segment and publishes it (state last).
    pub(crate) fn init(&self, g: &Geometry) {
        let i = &self.ident;
        i.magic.store(MAGIC, Ordering::Relaxed);
        i.version.store(VERSION, Ordering::Relaxed);
        i.kind.store(g.kind as u32, Ordering::Relaxed);
        i.header_size.store(HEADER_SIZE as u32, Ordering::Relaxed);
        i.ring_bits.store(g.ring_bits, Ordering::Relaxed);
        i.slot_size.store(g.slot_size, Ordering::Relaxed);
        i.data_offset.store(HEADER_SIZE as u64, Ordering::Relaxed);
        i.data_size.store(g.data_size, Ordering::Relaxed);
        i.total_size.store(g.total_size() as u64, Ordering::Relaxed);
        i.creator_pid.store(std::process::id(), Ordering::Relaxed);
        i.slab_count.store(g.slab_count, Ordering::Relaxed);
        i.created_ns.store(realtime_ns(), Ordering::Relaxed);
        i.creator_pidns
            .store(crate::sys::process::pid_namespace(), Ordering::Relaxed);
        // Release pairs with the Acquire in `validate`: an attacher that sees
        // READY sees every field above (and the zeroed indices).
        i.state.store(STATE_READY, Ordering::Release);
    }

    /// Whether the creator has published the header.
    pub(crate) fn is_ready(&self) -> bool {
        self.ident.state.load(Ordering::Acquire) == STATE_READY
    }

    /// Checks identification and layout against the file size and, where
    /// given, the expected kind and slot size; returns the geometry.
    pub(crate) fn validate(
        &self,
        file_len: usize,
        kind: Kind,
        slot_size: Option<u32>,
    ) -> crate::error::Result<Geometry> {
        let bad = |m: String| crate::error::Error::InvalidHeader(m);
        let i = &self.ident;
        let magic = i.magic.load(Ordering::Relaxed);
        if magic != MAGIC {
            return Err(bad(format!("not a ringmpsc segment (magic {magic:#018x})")));
        }
        let version = i.version.load(Ordering::Relaxed);
        if version != VERSION {
            return Err(bad(format!(
                "segment format version {version}, this library reads version {VERSION}"
            )));
        }
        let k = i.kind.load(Ordering::Relaxed);
        if k != kind as u32 {
            return Err(bad(format!(
                "segment holds a {} ({k}), expected a {}",
                Kind::name(k),
                Kind::name(kind as u32)
            )));
        }
        let header_size = i.header_size.load(Ordering::Relaxed);
        let data_offset = i.data_offset.load(Ordering::Relaxed);
        if header_size as usize != HEADER_SIZE || data_offset != HEADER_SIZE as u64 {
            return Err(bad(format!(
                "header size {header_size} / data offset {data_offset}, expected {HEADER_SIZE}"
            )));
        }
        let ring_bits = i.ring_bits.load(Ordering::Relaxed);
        let slot = i.slot_size.load(Ordering::Relaxed);
        let slabs = i.slab_count.load(Ordering::Relaxed);
        if let Some(want) = slot_size {
            if slot != want {
                return Err(bad(format!(
                    "segment has {slot}-byte slots, expected {want}-byte slots"
                )));
            }
        }
        let data_size = i.data_size.load(Ordering::Relaxed);
        let expected_data = match kind {
            Kind::SlotRing | Kind::MessageRing if ring_bits <= 32 && slot > 0 => {
                (slot as u64).checked_mul(1u64 << ring_bits)
            }
            // Their own modules check the layout of their data area.
            Kind::Pool | Kind::Channel | Kind::Control => Some(data_size),
            _ => None,
        };
        if expected_data != Some(data_size) {
            return Err(bad(format!(
                "inconsistent layout: ring_bits {ring_bits}, slot size {slot}, slabs {slabs}, data size {data_size}"
            )));
        }
        let total = i.total_size.load(Ordering::Relaxed);
        if Some(total) != data_size.checked_add(HEADER_SIZE as u64) || total != file_len as u64 {
            return Err(bad(format!(
                "segment file is {file_len} bytes, its header says {total}"
            )));
        }
        Ok(Geometry {
            kind,
            ring_bits,
            slot_size: slot,
            slab_count: slabs,
            data_size,
        })
    }
}
