//! Message and byte counts of a segment or log over time: sampled again
//! and again, two samples give rates.
//!
//! - A slot ring counts its producer's position: one slot, one message.
//! - A message ring's position counts bytes; messages are counted by
//!   walking the records written since the last sample, read-only. Records
//!   are overwritten only once the producer has written a whole ring's
//!   worth past them, so between samples closer than that the count is
//!   exact; a walk that finds a record gone estimates the rest from the
//!   average record size seen so far and says so ([`Totals::exact`]).
//! - A transport sums its clients' six rings (requests and responses),
//!   finding new clients' channels as they connect.
//! - A log counts the records its writer committed since the meter began.

use super::Target;
use crate::error::{Error, Result};
use crate::log::inspect::LogCursor;
use crate::msg::peek::{self, Stop};
use crate::msg::transport::inspect::{channels, server_pid, table, ChannelView};
use crate::ring::raw::RawRing;
use crate::shm::inspect::{SegmentKind, SegmentView};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Messages and bytes since a meter began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Totals {
    /// Messages written.
    pub messages: u64,
    /// Bytes written: slots times the slot size, or the bytes of framed
    /// records (headers and padding included).
    pub bytes: u64,
    /// False when some messages were estimated (records overwritten
    /// before they could be counted, or a log file gone to retention).
    pub exact: bool,
}

impl Totals {
    fn add(&mut self, o: Totals) {
        self.messages = self.messages.saturating_add(o.messages);
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.exact &= o.exact;
    }
}

/// One transport client's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ClientTotals {
    /// The client's slot.
    pub slot: u32,
    /// The slot's generation.
    pub generation: u32,
    /// Client to server, all priorities.
    pub requests: Totals,
    /// Server to client, all priorities.
    pub responses: Totals,
}

/// Counts the records a ring's producer writes.
#[derive(Debug)]
struct RingCounter {
    raw: RawRing,
    message: bool,
    pos: u64,
    totals: Totals,
    /// Messages and bytes actually walked (for estimates).
    walked: (u64, u64),
}

/// Most records walked per sample: bounds one sample's time.
const WALK_LIMIT: u64 = 1 << 24;

impl RingCounter {
    fn new(raw: RawRing, message: bool) -> RingCounter {
        RingCounter {
            pos: peek::tail(&raw),
            raw,
            message,
            totals: Totals {
                exact: true,
                ..Totals::default()
            },
            walked: (0, 0),
        }
    }

    fn sample(&mut self) {
        let raw = self.raw;
        let tail = peek::tail(&raw);
        let delta = tail.wrapping_sub(self.pos);
        if delta > u64::MAX / 2 {
            // Went backwards: a scribbled or reset position.
            self.totals.exact = false;
            self.pos = tail;
            return;
        }
        // Saturating: a scribbled tail can jump by up to 2^63 (the totals
        // only grow, so rates taken from them stay at or above zero).
        if !self.message {
            self.totals.messages = self.totals.messages.saturating_add(delta);
            self.totals.bytes = self
                .totals
                .bytes
                .saturating_add(delta.saturating_mul(raw.slot_size() as u64));
            self.pos = tail;
            return;
        }
        self.totals.bytes = self.totals.bytes.saturating_add(delta);
        // Bytes whose records are gone before they were counted.
        let mut unseen = 0u64;
        let mut from = self.pos;
        // The consumer's head is a record boundary, and the records from
        // it to the tail are intact: resume there when the ones before it
        // may be overwritten.
        let resume = |at: u64, unseen: &mut u64| -> Option<u64> {
            let head = peek::head(&raw);
            let ahead = head.wrapping_sub(at);
            (ahead > 0 && ahead <= tail.wrapping_sub(at)).then(|| {
                *unseen = unseen.saturating_add(ahead);
                head
            })
        };
        if delta > raw.capacity() as u64 {
            match resume(from, &mut unseen) {
                Some(h) => from = h,
                None => {
                    unseen = unseen.saturating_add(delta);
                    from = tail;
                }
            }
        }
        let walk_from = |from: u64, c: &mut Self| -> peek::Walk {
            let w = peek::walk(&raw, from, tail, WALK_LIMIT, |_, _| {
                std::ops::ControlFlow::Continue(())
            });
            c.totals.messages = c.totals.messages.saturating_add(w.messages);
            c.walked.0 = c.walked.0.saturating_add(w.messages);
            c.walked.1 = c.walked.1.saturating_add(w.pos.wrapping_sub(from));
            w
        };
        let mut w = walk_from(from, self);
        if matches!(w.stop, Stop::Broken(_)) {
            if let Some(h) = resume(w.pos, &mut unseen) {
                w = walk_from(h, self);
            }
        }
        unseen = unseen.saturating_add(tail.wrapping_sub(w.pos));
        if unseen > 0 {
            self.totals.exact = false;
            if self.walked.1 > 0 {
                let estimate = unseen as u128 * self.walked.0 as u128 / self.walked.1 as u128;
                self.totals.messages = self
                    .totals
                    .messages
                    .saturating_add(u64::try_from(estimate).unwrap_or(u64::MAX));
            }
        }
        self.pos = tail;
    }
}

#[derive(Debug)]
struct ChannelMeter {
    /// Keeps the rings' memory mapped.
    channel: ChannelView,
    rings: Vec<RingCounter>,
}

impl ChannelMeter {
    fn totals(&self, requests: bool) -> Totals {
        let mut t = Totals {
            exact: true,
            ..Totals::default()
        };
        let range = if requests { 0..3 } else { 3..6 };
        for r in &self.rings[range] {
            t.add(r.totals);
        }
        t
    }
}

#[derive(Debug)]
enum Kind {
    Ring(SegmentView, RingCounter),
    Transport {
        seg: SegmentView,
        channels: HashMap<(u32, u32), ChannelMeter>,
        /// Counts of clients that left.
        retired: Totals,
    },
    Log(Box<LogCursor>, Totals),
}

/// Counts a target's messages and bytes from the moment it is made.
#[derive(Debug)]
pub struct Meter {
    kind: Kind,
}

// SAFETY: the rings' memory is the views the meter holds; it is only
// loaded from.
unsafe impl Send for Meter {}

impl Meter {
    /// A meter of `target`, counting from now. `InvalidArgument` for a
    /// pool (it has no positions to count).
    pub fn new(target: &Target) -> Result<Meter> {
        let kind = match target {
            Target::Log(base) => Kind::Log(
                Box::new(LogCursor::open_live(base)?),
                Totals {
                    exact: true,
                    ..Totals::default()
                },
            ),
            Target::Segment(seg) => match seg.kind() {
                SegmentKind::SlotRing | SegmentKind::MessageRing => {
                    let raw = seg.ring().expect("a ring segment has a ring");
                    Kind::Ring(
                        seg.clone(),
                        RingCounter::new(raw, seg.kind() == SegmentKind::MessageRing),
                    )
                }
                SegmentKind::Transport => {
                    let mut k = Kind::Transport {
                        seg: seg.clone(),
                        channels: HashMap::new(),
                        retired: Totals {
                            exact: true,
                            ..Totals::default()
                        },
                    };
                    refresh(&mut k)?;
                    k
                }
                SegmentKind::Pool | SegmentKind::Channel => {
                    return Err(Error::InvalidArgument(format!(
                        "{} is a {}: it has no message positions to count",
                        seg.path().display(),
                        if seg.kind() == SegmentKind::Pool {
                            "buffer pool"
                        } else {
                            "channel segment"
                        }
                    )))
                }
            },
        };
        Ok(Meter { kind })
    }

    /// Counts since the meter was made.
    pub fn sample(&mut self) -> Result<Totals> {
        match &mut self.kind {
            Kind::Ring(seg, c) => {
                c.sample();
                if seg.truncated() {
                    return Err(Error::Corrupt(format!(
                        "{} was truncated while being read",
                        seg.path().display()
                    )));
                }
                Ok(c.totals)
            }
            Kind::Log(cursor, totals) => {
                match cursor.advance(WALK_LIMIT) {
                    Ok((n, bytes)) => {
                        totals.messages += n;
                        totals.bytes += bytes;
                    }
                    // Retention deleted the file the cursor goes to next.
                    Err(Error::FellBehind(_)) => {
                        totals.exact = false;
                        let base = cursor.base().to_path_buf();
                        **cursor = LogCursor::open_live(&base)?;
                    }
                    Err(e) => return Err(e),
                }
                Ok(*totals)
            }
            Kind::Transport { .. } => {
                refresh(&mut self.kind)?;
                let Kind::Transport {
                    channels, retired, ..
                } = &mut self.kind
                else {
                    unreachable!("matched above")
                };
                let mut t = *retired;
                for ch in channels.values_mut() {
                    for r in &mut ch.rings {
                        r.sample();
                    }
                    if ch.channel.truncated() {
                        return Err(Error::Corrupt(format!(
                            "the channel segment of client {}.{} was truncated while being read",
                            ch.channel.slot, ch.channel.generation
                        )));
                    }
                    t.add(ch.totals(true));
                    t.add(ch.totals(false));
                }
                Ok(t)
            }
        }
    }

    /// How often [`sample_for`](Self::sample_for) looks at a message
    /// ring: often enough that a 1 MiB ring written at 500 MB/s is counted
    /// exactly (its records live about 2 ms before they can be reused).
    pub const STEP: Duration = Duration::from_millis(1);

    /// Waits `d`, sampling every [`STEP`](Self::STEP) where counting
    /// messages needs it (message rings, transports), and returns the
    /// counts at the end. A slot ring or a log is sampled once, at the end.
    pub fn sample_for(&mut self, d: Duration) -> Result<Totals> {
        let end = Instant::now() + d;
        let fine = match &self.kind {
            Kind::Ring(_, c) => c.message,
            Kind::Transport { .. } => true,
            Kind::Log(..) => false,
        };
        if fine {
            // Client tables change rarely: look for new channels every
            // 100 steps only.
            let mut n = 0u32;
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                std::thread::sleep(Self::STEP.min(end - now));
                if n % 100 == 99 {
                    self.sample()?;
                } else {
                    self.sample_rings()?;
                }
                n += 1;
            }
        } else {
            std::thread::sleep(d);
        }
        self.sample()
    }

    /// Samples the rings known already (no look for new clients).
    fn sample_rings(&mut self) -> Result<()> {
        match &mut self.kind {
            Kind::Ring(_, c) => c.sample(),
            Kind::Transport { channels, .. } => {
                for ch in channels.values_mut() {
                    for r in &mut ch.rings {
                        r.sample();
                    }
                }
            }
            Kind::Log(..) => {}
        }
        Ok(())
    }

    /// A transport's counts per connected client (empty for other kinds),
    /// as of the last [`sample`](Self::sample).
    pub fn clients(&self) -> Vec<ClientTotals> {
        let Kind::Transport { channels, .. } = &self.kind else {
            return Vec::new();
        };
        let mut v: Vec<ClientTotals> = channels
            .iter()
            .map(|(&(slot, generation), ch)| ClientTotals {
                slot,
                generation,
                requests: ch.totals(true),
                responses: ch.totals(false),
            })
            .collect();
        v.sort_by_key(|c| (c.slot, c.generation));
        v
    }
}

/// Follows a transport's client table: meters for new clients (from
/// their current positions), the counts of departed ones retired.
fn refresh(kind: &mut Kind) -> Result<()> {
    let Kind::Transport {
        seg,
        channels: meters,
        retired,
    } = kind
    else {
        return Ok(());
    };
    let rows = table(seg)?;
    meters.retain(|key, ch| {
        let keep = rows.iter().any(|r| (r.slot, r.generation) == *key);
        if !keep {
            retired.add(ch.totals(true));
            retired.add(ch.totals(false));
        }
        keep
    });
    let missing: Vec<_> = rows
        .iter()
        .filter(|r| !meters.contains_key(&(r.slot, r.generation)))
        .copied()
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let server_pid = server_pid(seg)?;
    let (found, _) = channels(server_pid, &missing);
    for (key, ch) in found {
        let rings = (0..6).map(|i| RingCounter::new(ch.ring(i), true)).collect();
        meters.insert(key, ChannelMeter { channel: ch, rings });
    }
    Ok(())
}
