//! Read-only inspection of a transport: the server line and client table
//! of the control segment, and each connected client's channel segment
//! with its six rings.
//!
//! Channel segments are anonymous memfds, reachable only through a process
//! that holds one: the inspector opens them read-only through the server's
//! `/proc/PID/fd` links (or, failing that, each client's), which the kernel
//! allows to the same user in the same pid namespace. A channel that cannot
//! be reached is reported as such; the control segment's figures stand
//! without it.

use super::{
    Channel, ClientEntry, ClientLine, Control, ServerLine, CHANNEL_DATA, CHANNEL_RINGS,
    CONTROL_TABLE, INDICES, MAX_CLIENTS, PROTOCOL, STATE_RUNNING, STATE_SHUT_DOWN,
};
use crate::error::{Error, Result};
use crate::msg::peek::PeekedRecord;
use crate::msg::Priority;
use crate::shm::inspect::{
    heartbeat_age, peek_ring_each, ring_over, ring_state, Process, RingPeek, RingState,
    SegmentKind, SegmentView,
};
use crate::shm::layout::HEADER_SIZE;
use crate::shm::view::Plain;
use crate::shm::{pid_exists, DEFAULT_STALE_AFTER};
use crate::sync::Ordering;
use std::collections::HashMap;
use std::ops::ControlFlow;

// SAFETY: the server line is made of atomics.
unsafe impl Plain for ServerLine {}
// SAFETY: a table entry is made of atomics and a padding array of u64.
unsafe impl Plain for ClientEntry {}
// SAFETY: the client line is made of atomics.
unsafe impl Plain for ClientLine {}

/// The server of a transport, from its line in the control segment.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ServerState {
    /// The server's pid (0 when none holds the channel).
    pub pid: u32,
    /// The process exists and stamped its heartbeat within the last second.
    pub alive: bool,
    /// Seconds since its last heartbeat; `None` when never stamped.
    pub heartbeat_age_s: Option<f64>,
    /// `running`, `shut_down`, or `unknown`.
    pub state: String,
    /// Transport protocol version.
    pub protocol: u32,
    /// Client slots.
    pub max_clients: u32,
    /// CLOCK_REALTIME when the server started, nanoseconds since the epoch.
    pub started_unix_ns: u64,
}

/// One priority's ring of a client's channel.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PriorityRing {
    /// `critical`, `high` or `low`.
    pub priority: String,
    /// Its positions and fill (bytes).
    pub ring: RingState,
}

/// A connected client's channel segment.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ChannelState {
    /// Seconds since the client's last heartbeat; `None` when never stamped.
    pub heartbeat_age_s: Option<f64>,
    /// The fill of its fullest request ring, 0.0 to 1.0 (what the server
    /// and the client see as backpressure).
    pub backpressure: f64,
    /// Messages the client dropped: Low requests under `DropLow` when the
    /// ring was full, and requests carried over a reconnect that no longer
    /// fit (0 from clients of versions that do not count them here).
    pub dropped: u64,
    /// Client to server, Critical, High, Low.
    pub requests: Vec<PriorityRing>,
    /// Server to client, Critical, High, Low.
    pub responses: Vec<PriorityRing>,
}

/// A row of the client table.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ClientState {
    /// The client's slot.
    pub slot: u32,
    /// The slot's connection count when this client connected.
    pub generation: u32,
    /// The client's pid (from the socket's peer credentials).
    pub pid: u32,
    /// The process exists and (where its channel was reached) stamped its
    /// heartbeat within the last second.
    pub alive: bool,
    /// CLOCK_REALTIME when it connected, nanoseconds since the epoch.
    pub connected_unix_ns: u64,
    /// Its channel segment; `None` when it could not be reached
    /// (`channel_error` says why).
    pub channel: Option<ChannelState>,
    /// Why the channel could not be reached.
    pub channel_error: Option<String>,
}

/// A transport's control segment.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TransportState {
    /// The server.
    pub server: ServerState,
    /// The connected clients, by slot.
    pub clients: Vec<ClientState>,
}

/// One connected client's channel segment, mapped read-only: its six
/// rings (requests and responses, three priorities each) to look into.
#[derive(Debug, Clone)]
pub struct ClientChannel {
    /// The client's slot.
    pub slot: u32,
    /// The slot's generation.
    pub generation: u32,
    /// The client's pid.
    pub pid: u32,
    view: ChannelView,
}

impl ClientChannel {
    /// The records waiting in the request (`requests`) or response ring
    /// of `priority`, copied without consuming them (at most `limit`) and
    /// handed to `f` one by one, as [`SegmentView::peek_each`] does: the
    /// look's `records` stay empty, and `Break` ends it early.
    pub fn peek_each(
        &self,
        requests: bool,
        priority: Priority,
        limit: usize,
        f: impl FnMut(PeekedRecord) -> ControlFlow<()>,
    ) -> RingPeek {
        let ring = if requests { 0 } else { 3 } + priority.index();
        peek_ring_each(&self.view.ring(ring), true, limit, f)
    }
}

/// A client of the table: slot, generation, pid, connected_ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TableRow {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
    pub(crate) pid: u32,
    pub(crate) connected_ns: u64,
}

fn server_line(seg: &SegmentView) -> Result<(&ServerLine, u32)> {
    let bad = |m: String| Error::InvalidHeader(format!("{}: {m}", seg.path().display()));
    let s = seg
        .view()
        .at::<ServerLine>(HEADER_SIZE)
        .ok_or_else(|| bad("no room for the server line".into()))?;
    let protocol = s.protocol.load(Ordering::Relaxed);
    if protocol != PROTOCOL {
        return Err(bad(format!(
            "transport protocol {protocol}, this tool reads {PROTOCOL}"
        )));
    }
    let max = s.max_clients.load(Ordering::Relaxed);
    if max == 0
        || max as usize > MAX_CLIENTS
        || Control::geometry(max as usize).data_size != seg.data_size()
    {
        return Err(bad(format!(
            "control segment of {} data bytes does not hold {max} clients",
            seg.data_size()
        )));
    }
    Ok((s, max))
}

/// The pid recorded in the server line.
pub(crate) fn server_pid(seg: &SegmentView) -> Result<u32> {
    Ok(server_line(seg)?.0.pid.load(Ordering::Acquire))
}

/// The connected clients of the table.
pub(crate) fn table(seg: &SegmentView) -> Result<Vec<TableRow>> {
    let (_, max) = server_line(seg)?;
    let mut rows = Vec::new();
    for slot in 0..max {
        let Some(e) = seg
            .view()
            .at::<ClientEntry>(CONTROL_TABLE + 64 * slot as usize)
        else {
            break;
        };
        // Acquire pairs with the server's Release store of `state` when
        // it fills the entry.
        if e.state.load(Ordering::Acquire) != 1 {
            continue;
        }
        rows.push(TableRow {
            slot,
            generation: e.generation.load(Ordering::Relaxed),
            pid: e.pid.load(Ordering::Relaxed),
            connected_ns: e.connected_ns.load(Ordering::Relaxed),
        });
    }
    Ok(rows)
}

/// A client's channel segment, mapped read-only.
#[derive(Debug, Clone)]
pub(crate) struct ChannelView {
    seg: SegmentView,
    pub(crate) slot: u32,
    pub(crate) generation: u32,
    bits: [u32; 6],
}

impl ChannelView {
    /// Checks a segment as a channel: kind, ring sizes against its size.
    fn checked(seg: SegmentView) -> Option<ChannelView> {
        if seg.kind() != SegmentKind::Channel {
            return None;
        }
        let line = seg.view().at::<ClientLine>(HEADER_SIZE)?;
        let bits: [u32; 6] = std::array::from_fn(|i| line.ring_bits[i].load(Ordering::Relaxed));
        if bits
            .iter()
            .any(|b| !(12..=crate::msg::MAX_RING_BITS).contains(b))
            || Channel::data_size(&bits) != seg.data_size()
        {
            return None;
        }
        Some(ChannelView {
            slot: line.slot.load(Ordering::Relaxed),
            generation: line.generation.load(Ordering::Relaxed),
            seg,
            bits,
        })
    }

    fn line(&self) -> &ClientLine {
        self.seg
            .view()
            .at::<ClientLine>(HEADER_SIZE)
            .expect("checked in `checked`")
    }

    /// Ring `i`: 0..3 requests, 3..6 responses, Critical first.
    pub(crate) fn ring(&self, i: usize) -> crate::ring::raw::RawRing {
        let data = CHANNEL_DATA + self.bits[..i].iter().map(|b| 1usize << b).sum::<usize>();
        ring_over(
            self.seg.view(),
            CHANNEL_RINGS + i * INDICES,
            data,
            self.bits[i],
            1,
        )
        .expect("the ring sizes were checked against the segment")
    }

    /// Whether the file was shrunk under the view (memfds are sealed
    /// against it; checked all the same).
    pub(crate) fn truncated(&self) -> bool {
        self.seg.truncated()
    }

    fn state(&self) -> ChannelState {
        let rings = |first: usize| -> Vec<PriorityRing> {
            Priority::ALL
                .iter()
                .map(|&p| PriorityRing {
                    priority: priority_name(p).into(),
                    ring: ring_state(&self.ring(first + p.index()), true),
                })
                .collect()
        };
        let requests = rings(0);
        let backpressure = requests
            .iter()
            .map(|r| r.ring.fill_ratio)
            .fold(0.0, f64::max)
            .min(1.0);
        let line = self.line();
        ChannelState {
            // Acquire pairs with the client's Release heartbeat stamps.
            heartbeat_age_s: heartbeat_age(line.heartbeat_ns.load(Ordering::Acquire)),
            backpressure,
            dropped: line.dropped.load(Ordering::Relaxed),
            requests,
            responses: rings(3),
        }
    }
}

/// `critical`, `high` or `low`.
pub fn priority_name(p: Priority) -> &'static str {
    match p {
        Priority::Critical => "critical",
        Priority::High => "high",
        Priority::Low => "low",
    }
}

/// The channel segments of `rows`, found through the descriptors of the
/// server (`server_pid`) and then of each client not found yet; the error
/// for the clients none was found for.
pub(crate) fn channels(
    server_pid: u32,
    rows: &[TableRow],
) -> (HashMap<(u32, u32), ChannelView>, Option<String>) {
    let mut found: HashMap<(u32, u32), ChannelView> = HashMap::new();
    let wanted = |found: &HashMap<(u32, u32), ChannelView>| {
        rows.iter()
            .filter(|r| !found.contains_key(&(r.slot, r.generation)))
            .count()
    };
    let mut refused = Vec::new();
    // Each process once, the server first: a table (scribbled, or of many
    // clients in one process) may name one many times.
    let mut seen = std::collections::HashSet::new();
    let pids = std::iter::once(server_pid)
        .chain(rows.iter().map(|r| r.pid))
        .filter(|&pid| seen.insert(pid));
    for pid in pids {
        if wanted(&found) == 0 {
            break;
        }
        if pid == 0 {
            continue;
        }
        let fds = match crate::sys::process::descriptors(pid) {
            Ok(fds) => fds,
            Err(e) => {
                refused.push(format!("pid {pid}: {e}"));
                continue;
            }
        };
        for (fd, target) in fds {
            if !target.to_string_lossy().starts_with("/memfd:ringmpsc") {
                continue;
            }
            let path = crate::sys::process::descriptor_path(pid, fd);
            let Ok(seg) = SegmentView::open_following(&path) else {
                continue;
            };
            let Some(ch) = ChannelView::checked(seg) else {
                continue;
            };
            let key = (ch.slot, ch.generation);
            if rows.iter().any(|r| (r.slot, r.generation) == key) {
                found.entry(key).or_insert(ch);
            }
        }
    }
    let error = (wanted(&found) > 0).then(|| {
        if refused.is_empty() {
            "its channel segment was not found among the descriptors of the server or the client"
                .to_string()
        } else {
            format!(
                "the descriptors of the processes that hold it cannot be read ({}): another user, or another pid namespace",
                refused.join("; ")
            )
        }
    });
    (found, error)
}

/// The server line and client table of a control segment, with each
/// client's channel where it can be reached.
pub(crate) fn state(seg: &SegmentView) -> Result<TransportState> {
    let (s, max) = server_line(seg)?;
    let pid = s.pid.load(Ordering::Acquire);
    // Acquire pairs with the server's Release heartbeat stamps.
    let beat = s.heartbeat_ns.load(Ordering::Acquire);
    let fresh = crate::sys::process::stamped_within(beat, DEFAULT_STALE_AFTER);
    let server = ServerState {
        pid,
        alive: pid != 0 && pid_exists(pid) && fresh,
        heartbeat_age_s: heartbeat_age(beat),
        state: match s.state.load(Ordering::Acquire) {
            STATE_RUNNING => "running",
            STATE_SHUT_DOWN => "shut_down",
            _ => "unknown",
        }
        .into(),
        protocol: PROTOCOL,
        max_clients: max,
        started_unix_ns: s.started_ns.load(Ordering::Relaxed),
    };
    let rows = table(seg)?;
    let (found, error) = if rows.is_empty() {
        (HashMap::new(), None)
    } else {
        channels(pid, &rows)
    };
    let clients = rows
        .iter()
        .map(|r| {
            let channel = found.get(&(r.slot, r.generation)).map(ChannelView::state);
            let beating = channel.as_ref().is_none_or(|c| {
                c.heartbeat_age_s
                    .is_some_and(|a| a <= DEFAULT_STALE_AFTER.as_secs_f64())
            });
            ClientState {
                slot: r.slot,
                generation: r.generation,
                pid: r.pid,
                alive: Process::of(r.pid).alive && beating,
                connected_unix_ns: r.connected_ns,
                channel_error: if channel.is_none() {
                    error.clone()
                } else {
                    None
                },
                channel,
            }
        })
        .collect();
    Ok(TransportState { server, clients })
}

/// The records waiting in every reachable client's six rings.
pub(crate) fn client_channels(seg: &SegmentView) -> Result<Vec<ClientChannel>> {
    let (s, _) = server_line(seg)?;
    let rows = table(seg)?;
    let (mut found, error) = channels(s.pid.load(Ordering::Acquire), &rows);
    if found.is_empty() {
        if let Some(e) = error {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{}: no client channel can be read: {e}",
                    seg.path().display()
                ),
            )));
        }
    }
    Ok(rows
        .iter()
        .filter_map(|r| {
            found
                .remove(&(r.slot, r.generation))
                .map(|view| ClientChannel {
                    slot: r.slot,
                    generation: r.generation,
                    pid: r.pid,
                    view,
                })
        })
        .collect())
}
