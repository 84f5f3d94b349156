//! Read-only inspection of a segment: what an operator's tool shows of a
//! slot ring, a message ring, a pool or a transport's control segment that
//! other processes own, without taking a side or writing a byte.
//!
//! [`SegmentView::open`] maps the file read-only (`view`);
//! every call then reads the header and positions afresh and returns plain
//! values ([`SegmentInfo`]). The header is validated as an attach validates
//! it, and every position and length is bounded before use: a corrupt or
//! foreign file is an error naming the file, never a crash or a hang.
//!
//! The stale rule is the one [`remove_if_stale`](super::remove_if_stale)
//! applies: the creator is gone and no live process holds a side (for a
//! transport: the server is gone and no client is alive).

use super::layout::{Header, Kind, HEADER_SIZE, VERSION};
use super::liveness::{pid_exists, SideWords};
use super::view::View;
use super::DEFAULT_STALE_AFTER;
use crate::error::{Error, Result};
use crate::msg::peek::{self, PeekedRecord, Stop};
use crate::ring::raw::{RawRing, RingIndices};
use crate::sync::Ordering;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

/// What a segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum SegmentKind {
    /// Fixed-size slots ([`SharedRing`](super::SharedRing)).
    SlotRing,
    /// Byte messages ([`MessageRing`](crate::msg::MessageRing)).
    MessageRing,
    /// A slab pool ([`BufferPool`](crate::BufferPool)).
    Pool,
    /// One client's rings of a transport (an anonymous memfd).
    Channel,
    /// The control segment of a transport [`Server`](crate::msg::transport::Server).
    Transport,
}

impl SegmentKind {
    fn of(kind: u32) -> Option<(SegmentKind, Kind)> {
        Some(match kind {
            1 => (SegmentKind::SlotRing, Kind::SlotRing),
            2 => (SegmentKind::MessageRing, Kind::MessageRing),
            3 => (SegmentKind::Pool, Kind::Pool),
            4 => (SegmentKind::Channel, Kind::Channel),
            5 => (SegmentKind::Transport, Kind::Control),
            _ => return None,
        })
    }

    /// The name used in output: `slot_ring`, `message_ring`, `pool`,
    /// `channel`, `transport`.
    pub fn as_str(self) -> &'static str {
        match self {
            SegmentKind::SlotRing => "slot_ring",
            SegmentKind::MessageRing => "message_ring",
            SegmentKind::Pool => "pool",
            SegmentKind::Channel => "channel",
            SegmentKind::Transport => "transport",
        }
    }
}

/// Size, owner and permissions of a file, from `fstat`/`lstat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FileMeta {
    /// Bytes.
    pub size: u64,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Permission bits (`st_mode & 0o7777`), written in octal (`"0600"`).
    #[cfg_attr(feature = "serde", serde(serialize_with = "octal"))]
    pub mode: u32,
}

#[cfg(feature = "serde")]
fn octal<S: serde::Serializer>(mode: &u32, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{mode:04o}"))
}

impl FileMeta {
    pub(crate) fn of(st: &crate::sys::fs::FileStat) -> FileMeta {
        FileMeta {
            size: st.len as u64,
            uid: st.uid,
            gid: st.gid,
            mode: st.mode,
        }
    }

    /// What `lstat` says of `path` (a link itself, not where it leads).
    pub fn lstat(path: &Path) -> Result<FileMeta> {
        Ok(FileMeta::of(&crate::sys::fs::lstat(path)?))
    }
}

/// A process recorded in a segment.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Process {
    /// Its pid; 0 when none is recorded.
    pub pid: u32,
    /// Whether it exists and has not exited (a creator of another pid
    /// namespace, whose pid cannot be looked up here, counts as alive).
    pub alive: bool,
}

impl Process {
    pub(crate) fn of(pid: u32) -> Process {
        Process {
            pid,
            alive: pid_exists(pid),
        }
    }
}

/// A side of a segment (producer, consumer, transport server or client).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Side {
    /// The holder's pid; 0 when nobody holds the side.
    pub pid: u32,
    /// Alive: the process exists (or belongs to another pid namespace) and
    /// stamped its heartbeat within the last second (the library's stale
    /// limit; heartbeats come every 20 ms).
    pub alive: bool,
    /// Seconds since the holder's last heartbeat; `None` when none was
    /// ever stamped.
    pub heartbeat_age_s: Option<f64>,
}

impl Side {
    pub(crate) fn of(words: SideWords) -> Side {
        let pid = words.holder();
        let beat = words.last_beat();
        Side {
            pid,
            alive: pid != 0 && words.is_alive(DEFAULT_STALE_AFTER),
            heartbeat_age_s: heartbeat_age(beat),
        }
    }
}

/// Seconds since a CLOCK_MONOTONIC stamp; `None` for 0 (never stamped).
pub(crate) fn heartbeat_age(beat_ns: u64) -> Option<f64> {
    crate::sys::process::stamp_age(beat_ns).map(|age| age.as_secs_f64())
}

/// What a ring's positions count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum Unit {
    /// Fixed-size slots (a slot ring): one message each.
    Slots,
    /// Bytes of framed records (a message ring).
    Bytes,
}

/// The positions and fill of a ring.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RingState {
    /// What positions, capacity and fill count.
    pub unit: Unit,
    /// Slots, or bytes.
    pub capacity: u64,
    /// Bytes per slot (1 for a message ring).
    pub slot_size: u32,
    /// The consumer's position (free-running).
    pub head: u64,
    /// The producer's position (free-running).
    pub tail: u64,
    /// `tail - head`: slots or bytes waiting, which is the consumer's lag.
    pub fill: u64,
    /// `fill / capacity`, 0.0 to 1.0.
    pub fill_ratio: f64,
    /// Messages waiting: the fill of a slot ring; for a message ring, the
    /// records between head and tail, counted without consuming them
    /// (`None` when the consumer moved while they were counted).
    pub pending_messages: Option<u64>,
    /// Whether either side closed the ring.
    pub closed: bool,
    /// Positions that cannot be right, or a damaged record.
    pub error: Option<String>,
}

/// Most records counted for [`RingState::pending_messages`]: bounds the
/// time a look at a huge ring of tiny records takes.
const COUNT_LIMIT: u64 = 1 << 22;

/// The state of `raw`; `message` for a byte ring of framed records.
pub(crate) fn ring_state(raw: &RawRing, message: bool) -> RingState {
    let cap = raw.capacity() as u64;
    let head = peek::head(raw);
    let tail = peek::tail(raw);
    let mut error = None;
    let fill = match tail.wrapping_sub(head) {
        used if used <= cap => used,
        // A message receiver reads ahead of a tail not stored yet.
        _ if message && head.wrapping_sub(tail) <= cap => 0,
        _ => {
            error = Some(format!(
                "positions head={head} tail={tail} are more than the capacity apart"
            ));
            0
        }
    };
    let pending_messages = if !message {
        Some(fill)
    } else if error.is_some() || fill == 0 {
        Some(0)
    } else {
        let w = peek::walk(raw, head, tail, COUNT_LIMIT, |_, _| {
            ControlFlow::Continue(())
        });
        match w.stop {
            Stop::End | Stop::Limit => Some(w.messages),
            Stop::Pending | Stop::Broken(_) if peek::head(raw) != head => None,
            Stop::Pending => Some(w.messages),
            Stop::Broken(e) => {
                error = Some(e.to_string());
                None
            }
        }
    };
    RingState {
        unit: if message { Unit::Bytes } else { Unit::Slots },
        capacity: cap,
        slot_size: raw.slot_size() as u32,
        head,
        tail,
        fill,
        fill_ratio: fill as f64 / cap as f64,
        pending_messages,
        closed: raw.is_closed(),
        error,
    }
}

/// Slabs of a pool and how many are allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PoolState {
    /// Number of slabs.
    pub slabs: u32,
    /// Bytes per slab.
    pub slab_size: u32,
    /// Slabs marked allocated now.
    pub allocated: u32,
}

/// A snapshot of a segment.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SegmentInfo {
    /// What it holds.
    pub kind: SegmentKind,
    /// Header format version.
    pub version: u32,
    /// CLOCK_REALTIME at creation, nanoseconds since the Unix epoch.
    pub created_unix_ns: u64,
    /// The process that made it.
    pub creator: Process,
    /// The producer side (unused by pools and transports: pid 0).
    pub producer: Side,
    /// The consumer side (unused by pools and transports: pid 0).
    pub consumer: Side,
    /// Stale: the creator is gone and no live process holds a side, so
    /// [`clean`](crate::inspect::clean) may remove it.
    pub stale: bool,
    /// Slot and message rings: positions and fill.
    pub ring: Option<RingState>,
    /// Pools: slabs.
    pub pool: Option<PoolState>,
    /// Transports: the server and its client table.
    pub transport: Option<crate::msg::transport::inspect::TransportState>,
}

impl SegmentInfo {
    /// Pids of the live processes that keep it from being stale.
    pub fn live_pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        if self.creator.alive {
            pids.push(self.creator.pid);
        }
        for s in [&self.producer, &self.consumer] {
            if s.alive {
                pids.push(s.pid);
            }
        }
        if let Some(t) = &self.transport {
            if t.server.alive {
                pids.push(t.server.pid);
            }
            pids.extend(t.clients.iter().filter(|c| c.alive).map(|c| c.pid));
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }
}

/// A segment file mapped read-only, to look at as often as wanted.
#[derive(Debug, Clone)]
pub struct SegmentView {
    view: Arc<View>,
    kind: SegmentKind,
    ring_bits: u32,
    slot_size: u32,
    slab_count: u32,
    data_size: u64,
}

impl SegmentView {
    /// Maps the segment file at `path` read-only and validates its header
    /// (magic, version, kind, sizes against the file).
    ///
    /// Errors: `Io` (it cannot be opened: missing, permission), and
    /// `InvalidHeader` (not a ringmpsc segment, another format version, a
    /// layout that does not match the file), each naming the file.
    pub fn open(path: &Path) -> Result<SegmentView> {
        Self::over(View::open(path, false)?)
    }

    /// [`open`](Self::open) through a `/proc/PID/fd/N` link (a memfd).
    pub(crate) fn open_following(path: &Path) -> Result<SegmentView> {
        Self::over(View::open(path, true)?)
    }

    /// Validates the header of a file already mapped.
    pub(crate) fn over(view: View) -> Result<SegmentView> {
        let path = view.path.clone();
        let named = |e: Error| match e {
            Error::InvalidHeader(m) => Error::InvalidHeader(format!("{}: {m}", path.display())),
            other => other,
        };
        let Some(h) = view.at::<Header>(0) else {
            return Err(Error::InvalidHeader(format!(
                "{}: {} bytes, smaller than a segment header ({HEADER_SIZE})",
                view.path.display(),
                view.len()
            )));
        };
        let magic = h.ident.magic.load(Ordering::Relaxed);
        if magic != super::layout::MAGIC {
            return Err(named(Error::InvalidHeader(format!(
                "not a ringmpsc segment (magic {magic:#018x})"
            ))));
        }
        let version = h.ident.version.load(Ordering::Relaxed);
        if version != VERSION {
            return Err(named(Error::InvalidHeader(format!(
                "segment format version {version}, this tool reads version {VERSION}"
            ))));
        }
        if !h.is_ready() {
            return Err(named(Error::InvalidHeader(
                "header not marked ready (a segment never finished)".into(),
            )));
        }
        let k = h.ident.kind.load(Ordering::Relaxed);
        let Some((kind, layout_kind)) = SegmentKind::of(k) else {
            return Err(named(Error::InvalidHeader(format!(
                "unknown segment kind {k}"
            ))));
        };
        let g = h.validate(view.len(), layout_kind, None).map_err(named)?;
        let sv = SegmentView {
            kind,
            ring_bits: g.ring_bits,
            slot_size: g.slot_size,
            slab_count: g.slab_count,
            data_size: g.data_size,
            view: Arc::new(view),
        };
        match kind {
            SegmentKind::SlotRing if sv.ring_bits > 32 => {
                return Err(named(Error::InvalidHeader(format!(
                    "slot ring of 2^{} slots",
                    sv.ring_bits
                ))))
            }
            SegmentKind::MessageRing
                if !(crate::msg::record::MIN_RING_BITS..=crate::msg::MAX_RING_BITS)
                    .contains(&sv.ring_bits) =>
            {
                return Err(named(Error::InvalidHeader(format!(
                    "message ring of 2^{} bytes, outside 2^{}..=2^{}",
                    sv.ring_bits,
                    crate::msg::record::MIN_RING_BITS,
                    crate::msg::MAX_RING_BITS
                ))))
            }
            _ => {}
        }
        Ok(sv)
    }

    /// What the segment holds.
    pub fn kind(&self) -> SegmentKind {
        self.kind
    }

    /// The path it was opened by.
    pub fn path(&self) -> &Path {
        &self.view.path
    }

    /// Size, owner and mode of the file when it was mapped.
    pub fn file(&self) -> FileMeta {
        FileMeta::of(&self.view.stat)
    }

    /// Bytes of the data area after the header.
    pub(crate) fn data_size(&self) -> u64 {
        self.data_size
    }

    /// The file's device and inode when it was mapped.
    pub(crate) fn file_id(&self) -> (u64, u64) {
        self.view.stat.id
    }

    pub(crate) fn view(&self) -> &Arc<View> {
        &self.view
    }

    fn header(&self) -> &Header {
        self.view
            .at::<Header>(0)
            .expect("checked when the view was opened")
    }

    /// The ring of a slot or message ring segment.
    pub(crate) fn ring(&self) -> Option<RawRing> {
        match self.kind {
            SegmentKind::SlotRing | SegmentKind::MessageRing => ring_over(
                &self.view,
                0x80,
                HEADER_SIZE,
                self.ring_bits,
                self.slot_size,
            ),
            _ => None,
        }
    }

    /// A fresh snapshot: sides and their liveness, stale or not, fill and
    /// positions, and the kind's own details.
    ///
    /// Errors: `Corrupt` when the file was truncated while it was read, and
    /// for a transport, an `InvalidHeader` of its control area.
    pub fn info(&self) -> Result<SegmentInfo> {
        let h = self.header();
        let creator = Process {
            pid: h.ident.creator_pid.load(Ordering::Relaxed),
            alive: h.ident.creator_alive(),
        };
        let producer = Side::of(SideWords::of_ring(h.indices.producer.holder()));
        let consumer = Side::of(SideWords::of_ring(h.indices.consumer.holder()));
        let mut info = SegmentInfo {
            kind: self.kind,
            version: h.ident.version.load(Ordering::Relaxed),
            created_unix_ns: h.ident.created_ns.load(Ordering::Relaxed),
            creator,
            producer,
            consumer,
            stale: false,
            ring: None,
            pool: None,
            transport: None,
        };
        match self.kind {
            SegmentKind::SlotRing | SegmentKind::MessageRing => {
                let raw = self.ring().expect("the geometry was validated");
                info.ring = Some(ring_state(&raw, self.kind == SegmentKind::MessageRing));
            }
            SegmentKind::Pool => {
                let area = self
                    .view
                    .ptr(HEADER_SIZE, self.data_size as usize)
                    .expect("the geometry was validated");
                // SAFETY: the area is the validated data area of the view,
                // which `self` keeps mapped.
                let allocated = unsafe {
                    crate::pool::allocated_slabs(
                        area,
                        self.data_size,
                        self.slab_count,
                        self.slot_size,
                    )
                }
                .ok_or_else(|| {
                    Error::InvalidHeader(format!(
                        "{}: inconsistent pool layout: {} slabs of {} bytes in {} bytes",
                        self.path().display(),
                        self.slab_count,
                        self.slot_size,
                        self.data_size
                    ))
                })?;
                info.pool = Some(PoolState {
                    slabs: self.slab_count,
                    slab_size: self.slot_size,
                    allocated,
                });
            }
            SegmentKind::Transport => {
                let t = crate::msg::transport::inspect::state(self)?;
                // The server repairs the header now and then (which
                // restamps its creation time): its start time is the one.
                info.created_unix_ns = t.server.started_unix_ns;
                info.transport = Some(t);
            }
            SegmentKind::Channel => {}
        }
        if self.view.truncated() {
            return Err(self.view.truncated_error());
        }
        let transport_alive = info
            .transport
            .as_ref()
            .is_some_and(|t| t.server.alive || t.clients.iter().any(|c| c.alive));
        info.stale =
            !info.creator.alive && !info.producer.alive && !info.consumer.alive && !transport_alive;
        Ok(info)
    }

    /// The records waiting in a slot or message ring, copied without
    /// consuming them (at most `limit`). `InvalidArgument` for a kind that
    /// holds no records in order (a pool), or whose records are elsewhere
    /// (a transport's are in its channel segments: see
    /// [`client_channels`](Self::client_channels)).
    pub fn peek(&self, limit: usize) -> Result<RingPeek> {
        let mut records = Vec::new();
        let look = self.peek_each(limit, |r| {
            records.push(r);
            ControlFlow::Continue(())
        })?;
        Ok(RingPeek { records, ..look })
    }

    /// [`peek`](Self::peek), handing each record to `f` as it is copied
    /// instead of collecting them (the look's `records` stay empty): a
    /// ring of billions of slots is shown without holding them all. `f`
    /// ends the look early with `Break` (its `stopped` then stays `None`).
    pub fn peek_each(
        &self,
        limit: usize,
        f: impl FnMut(PeekedRecord) -> ControlFlow<()>,
    ) -> Result<RingPeek> {
        let raw = self.ring().ok_or_else(|| self.no_records())?;
        let out = peek_ring_each(&raw, self.kind == SegmentKind::MessageRing, limit, f);
        if self.view.truncated() {
            return Err(self.view.truncated_error());
        }
        Ok(out)
    }

    /// For a transport: each connected client's channel segment, found
    /// through the descriptors of the server (or the clients), to look
    /// into its six rings one record at a time.
    pub fn client_channels(&self) -> Result<Vec<crate::msg::transport::inspect::ClientChannel>> {
        if self.kind != SegmentKind::Transport {
            return Err(self.no_records());
        }
        crate::msg::transport::inspect::client_channels(self)
    }

    /// A cursor that follows a slot or message ring's producer from the
    /// consumer's position, without consuming.
    pub fn follow(&self) -> Result<RingFollower> {
        let raw = self.ring().ok_or_else(|| self.no_records())?;
        let mut f = RingFollower {
            message: self.kind == SegmentKind::MessageRing,
            pos: peek::head(&raw),
            raw,
            seg: self.clone(),
            seen_producer: false,
        };
        f.seen_producer = f.producer().alive;
        Ok(f)
    }

    fn no_records(&self) -> Error {
        Error::InvalidArgument(match self.kind {
            SegmentKind::Pool => format!(
                "{} is a buffer pool: its slabs are not records in order, there is nothing to dump",
                self.path().display()
            ),
            SegmentKind::Transport => format!(
                "{} is a transport control segment: its records are in the clients' channel segments",
                self.path().display()
            ),
            _ => format!("{} holds no ring", self.path().display()),
        })
    }

    /// Whether the file was shrunk while mapped.
    pub fn truncated(&self) -> bool {
        self.view.truncated()
    }
}

/// A ring over the memory of a view: indices at `indices`, `slot_size <<
/// ring_bits` bytes of slots at `data`; `None` when they do not lie inside.
pub(crate) fn ring_over(
    view: &Arc<View>,
    indices: usize,
    data: usize,
    ring_bits: u32,
    slot_size: u32,
) -> Option<RawRing> {
    if ring_bits > 32 || slot_size == 0 {
        return None;
    }
    let idx = view.at::<RingIndices>(indices)?;
    let len = (slot_size as u64).checked_mul(1u64 << ring_bits)?;
    let slots = view.ptr(data, usize::try_from(len).ok()?)?;
    // SAFETY: the indices and the slots lie inside the view (checked
    // above), which the caller keeps mapped as long as it uses the ring; the
    // ring is only loaded from (a read-only mapping: stores would fault).
    Some(unsafe {
        RawRing::new(
            NonNull::from(idx),
            slots,
            ring_bits as u8,
            slot_size as usize,
            true,
        )
    })
}

/// Records waiting in a ring, as a look copied them.
#[derive(Debug, Clone, PartialEq)]
pub struct RingPeek {
    /// The ring's state when the look began.
    pub state: RingState,
    /// The records, oldest first (slots of a slot ring, with type 0).
    pub records: Vec<PeekedRecord>,
    /// Why the look stopped before the tail, if it did: the limit, records
    /// the consumer freed meanwhile, or damage.
    pub stopped: Option<String>,
    /// It stopped at damage (positions that cannot be right, a broken
    /// record).
    pub damaged: bool,
}

/// Copies up to `limit` records between head and tail of `raw`, handing
/// each to `f`.
pub(crate) fn peek_ring_each(
    raw: &RawRing,
    message: bool,
    limit: usize,
    mut f: impl FnMut(PeekedRecord) -> ControlFlow<()>,
) -> RingPeek {
    let state = ring_state(raw, message);
    let mut stopped = None;
    let mut damaged = false;
    // `f` said stop.
    let mut cut = false;
    if let Some(e) = &state.error {
        stopped = Some(e.clone());
        damaged = true;
    } else if state.fill == 0 {
        // Nothing waits (a message receiver may even lead the stored tail).
    } else if message {
        let mut freed = false;
        let w = peek::walk(
            raw,
            state.head,
            state.tail,
            limit as u64,
            |pos, r| match peek::copy(raw, pos, r) {
                Some(rec) => {
                    let flow = f(rec);
                    cut = flow.is_break();
                    flow
                }
                None => {
                    freed = true;
                    ControlFlow::Break(())
                }
            },
        );
        stopped = match w.stop {
            _ if freed => Some("the consumer freed the rest while they were read".into()),
            _ if cut => None,
            Stop::End | Stop::Pending => None,
            Stop::Limit => Some(format!("stopped after {limit} records")),
            Stop::Broken(_) if peek::head(raw) != state.head => {
                Some("the consumer freed the rest while they were read".into())
            }
            Stop::Broken(e) => {
                damaged = true;
                Some(e.to_string())
            }
        };
    } else {
        let n = state.fill.min(limit as u64);
        for i in 0..n {
            let pos = state.head.wrapping_add(i);
            match copy_slot(raw, pos) {
                Some(r) => {
                    if f(r).is_break() {
                        cut = true;
                        break;
                    }
                }
                None => {
                    stopped = Some("the consumer freed the rest while they were read".into());
                    break;
                }
            }
        }
        if stopped.is_none() && !cut && n < state.fill {
            stopped = Some(format!("stopped after {limit} records"));
        }
    }
    RingPeek {
        state,
        records: Vec::new(),
        stopped,
        damaged,
    }
}

/// A copy of the slot at `pos`, unless the consumer freed it meanwhile.
fn copy_slot(raw: &RawRing, pos: u64) -> Option<PeekedRecord> {
    let (index, _) = raw.contiguous(pos);
    let p = NonNull::new(raw.slot_ptr(index))?;
    // SAFETY: slot `index` lies in the ring's slot array, inside a mapping
    // the caller keeps alive.
    let payload = unsafe { super::view::copy_shared(p, raw.slot_size()) };
    let freed = peek::head(raw).wrapping_sub(pos) as i64 > 0;
    (!freed).then_some(PeekedRecord {
        position: pos,
        msg_type: 0,
        payload,
    })
}

/// What a [`RingFollower`] saw in one poll.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowBatch {
    /// New records, oldest first.
    pub records: Vec<PeekedRecord>,
    /// Slots or bytes the consumer freed (and the producer may have
    /// reused) before the follower could read them: skipped.
    pub skipped: u64,
    /// The ring is closed, or its producer is gone with nothing left to read.
    pub ended: bool,
    /// Why, when it ended.
    pub end_reason: Option<String>,
}

/// Follows a ring's producer without consuming: each
/// [`poll`](Self::poll) returns the records committed since the last one.
/// It starts at the consumer's position (what waits is shown first).
#[derive(Debug)]
pub struct RingFollower {
    seg: SegmentView,
    raw: RawRing,
    message: bool,
    pos: u64,
    /// A producer was seen holding the ring.
    seen_producer: bool,
}

// SAFETY: the ring's memory is the view the follower holds (through `seg`,
// an Arc); it is only loaded from.
unsafe impl Send for RingFollower {}

impl RingFollower {
    fn producer(&self) -> Side {
        let h = self.seg.header();
        Side::of(SideWords::of_ring(h.indices.producer.holder()))
    }

    /// Records committed since the last poll, at most `limit`. Errors:
    /// `Corrupt` for impossible positions, a damaged record the consumer
    /// has not passed (after the records before it are returned), or a file
    /// truncated under the view; a failed poll moves nothing.
    pub fn poll(&mut self, limit: usize) -> Result<FollowBatch> {
        let raw = self.raw;
        let cap = raw.capacity() as u64;
        let mut out = FollowBatch {
            records: Vec::new(),
            skipped: 0,
            ended: false,
            end_reason: None,
        };
        let corrupt = |m: String| Error::Corrupt(format!("{}: {m}", self.seg.path().display()));
        // Moved only once nothing can fail: a failed poll moves nothing.
        let mut pos = self.pos;
        let head = peek::head(&raw);
        // Behind the consumer: what it freed may be overwritten already.
        if head.wrapping_sub(pos) as i64 > 0 {
            out.skipped += head.wrapping_sub(pos).min(cap);
            pos = head;
        }
        let tail = peek::tail(&raw);
        let ahead = pos.wrapping_sub(tail);
        if tail.wrapping_sub(pos) > cap {
            // A message receiver reads ahead of a tail not stored yet.
            if !(self.message && ahead <= cap) {
                return Err(corrupt(format!(
                    "positions head={head} tail={tail} are more than the capacity apart"
                )));
            }
        } else if self.message {
            let mut freed = false;
            let mut resume = pos;
            let w = peek::walk(&raw, pos, tail, limit as u64, |at, r| {
                match peek::copy(&raw, at, r) {
                    Some(rec) => {
                        out.records.push(rec);
                        resume = at.wrapping_add(r.span as u64);
                        ControlFlow::Continue(())
                    }
                    None => {
                        freed = true;
                        ControlFlow::Break(())
                    }
                }
            });
            let now = peek::head(&raw);
            match w.stop {
                _ if freed => {
                    out.skipped += now.wrapping_sub(resume).min(cap);
                    pos = now;
                }
                // Overwritten after the consumer freed it: resume there.
                Stop::Broken(_) if now.wrapping_sub(w.pos) as i64 > 0 => {
                    out.skipped += now.wrapping_sub(w.pos).min(cap);
                    pos = now;
                }
                // The records before the damage; the next poll reports it.
                Stop::Broken(_) if !out.records.is_empty() => pos = w.pos,
                Stop::Broken(e) => return Err(corrupt(e.to_string())),
                Stop::End | Stop::Pending | Stop::Limit => pos = w.pos,
            }
        } else {
            let n = tail.wrapping_sub(pos).min(limit as u64);
            for _ in 0..n {
                match copy_slot(&raw, pos) {
                    Some(r) => {
                        out.records.push(r);
                        pos = pos.wrapping_add(1);
                    }
                    None => break,
                }
            }
        }
        if self.seg.truncated() {
            return Err(self.seg.view.truncated_error());
        }
        self.pos = pos;
        let producer = self.producer();
        self.seen_producer |= producer.alive;
        // At the tail, or ahead of a tail not stored yet.
        let drained = self.pos.wrapping_sub(peek::tail(&raw)) <= cap;
        if out.records.is_empty() && drained {
            if raw.is_closed() {
                out.ended = true;
                out.end_reason = Some("the ring was closed".into());
            } else if self.seen_producer && !producer.alive {
                out.ended = true;
                out.end_reason = Some(if producer.pid == 0 {
                    "the producer left".into()
                } else {
                    format!("the producer (pid {}) is gone", producer.pid)
                });
            }
        }
        Ok(out)
    }

    /// The position the next poll reads from.
    pub fn position(&self) -> u64 {
        self.pos
    }
}

/// The path of a bare segment name in `dir` (a name with a `/` is a path
/// already).
pub fn segment_path(dir: &Path, name: &str) -> PathBuf {
    if name.contains('/') {
        PathBuf::from(name)
    } else {
        dir.join(name)
    }
}
