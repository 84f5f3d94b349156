//! `ringmpsc dump NAME`: a log's records from any index, or the records
//! waiting in a ring, copied without consuming them; `--follow` keeps
//! printing new ones until the writer closes or dies.

use crate::args::{DumpArgs, DumpFormat, Global};
use crate::format;
use crate::CliError;
use ringcore::inspect::Target;
use ringcore::log::inspect::{LogCursor, LogRecord};
use ringcore::log::WriterStatus;
use ringcore::msg::{PeekedRecord, Priority};
use ringcore::shm::SegmentKind;
use serde::Serialize;
use std::io::Write;
use std::ops::ControlFlow;
use std::time::Duration;

/// One record as `dump --format json` prints it (one object a line).
#[derive(Debug, Serialize)]
pub struct RecordOut<'a> {
    /// `log` or `ring`.
    pub source: &'static str,
    /// Which ring of a transport (`client 0.1 requests high`); `null` otherwise.
    pub ring: Option<String>,
    /// A log record's index; `null` for a ring.
    pub index: Option<u64>,
    /// A log record's file; `null` for a ring.
    pub file: Option<u64>,
    /// Byte offset in the log file, or the ring position.
    pub position: u64,
    /// The message type (0 for a slot ring).
    #[serde(rename = "type")]
    pub msg_type: u32,
    /// A log record's timestamp field; `null` for a ring.
    pub timestamp: Option<u64>,
    /// Payload bytes.
    pub length: usize,
    /// The payload in hex.
    pub payload_hex: String,
    #[serde(skip)]
    payload: &'a [u8],
}

impl<'a> RecordOut<'a> {
    fn log(r: &'a LogRecord) -> RecordOut<'a> {
        RecordOut {
            source: "log",
            ring: None,
            index: Some(r.index),
            file: Some(r.file),
            position: r.offset,
            msg_type: r.msg_type,
            timestamp: Some(r.timestamp),
            length: r.payload.len(),
            payload_hex: format::hex(&r.payload),
            payload: &r.payload,
        }
    }

    fn ring(r: &'a PeekedRecord, ring: Option<String>) -> RecordOut<'a> {
        RecordOut {
            source: "ring",
            ring,
            index: None,
            file: None,
            position: r.position,
            msg_type: r.msg_type,
            timestamp: None,
            length: r.payload.len(),
            payload_hex: format::hex(&r.payload),
            payload: &r.payload,
        }
    }
}

struct Printer<'w> {
    w: &'w mut dyn Write,
    format: DumpFormat,
    max_payload: usize,
    printed: u64,
    limit: u64,
}

impl Printer<'_> {
    fn print(&mut self, r: &RecordOut<'_>) -> Result<(), CliError> {
        match self.format {
            DumpFormat::Json => format::json_line(self.w, r)?,
            DumpFormat::Text | DumpFormat::Hex => {
                let mut head = String::new();
                if let Some(ring) = &r.ring {
                    head.push_str(&format!("[{ring}] "));
                }
                match r.index {
                    Some(i) => head.push_str(&format!(
                        "#{i} file {} offset {}",
                        r.file.unwrap_or(0),
                        r.position
                    )),
                    None => head.push_str(&format!("@{}", r.position)),
                }
                head.push_str(&format!(" type {}", r.msg_type));
                if let Some(t) = r.timestamp {
                    head.push_str(&format!(" ts {t}"));
                }
                head.push_str(&format!(" len {}", r.length));
                if self.format == DumpFormat::Text {
                    writeln!(
                        self.w,
                        "{head} {}",
                        format::escaped(r.payload, self.max_payload)
                    )?;
                } else {
                    writeln!(self.w, "{head}")?;
                    format::hexdump(self.w, r.payload)?;
                }
            }
        }
        self.printed += 1;
        Ok(())
    }

    fn full(&self) -> bool {
        self.printed >= self.limit
    }
}

fn dump_log(base: &std::path::Path, a: &DumpArgs, p: &mut Printer<'_>) -> Result<i32, CliError> {
    let mut c = LogCursor::open(base, a.from)?;
    let poll = Duration::from_millis(a.poll_ms.max(1));
    loop {
        while !p.full() {
            match c.try_next()? {
                Some(r) => p.print(&RecordOut::log(&r))?,
                None => break,
            }
        }
        if p.full() || !a.follow {
            return Ok(crate::exit::OK);
        }
        p.w.flush()?;
        match c.writer_status() {
            WriterStatus::Active => std::thread::sleep(poll),
            // It may have committed more before it stopped.
            status => {
                while !p.full() {
                    match c.try_next()? {
                        Some(r) => p.print(&RecordOut::log(&r))?,
                        None => break,
                    }
                }
                p.w.flush()?;
                eprintln!(
                    "ringmpsc: {}: the writer {} (next index {})",
                    format::name(base),
                    if status == WriterStatus::Closed {
                        "closed the log"
                    } else {
                        "died"
                    },
                    c.next_index()
                );
                return Ok(crate::exit::OK);
            }
        }
    }
}

fn dump_ring(
    seg: &ringcore::shm::SegmentView,
    a: &DumpArgs,
    p: &mut Printer<'_>,
) -> Result<i32, CliError> {
    if a.from.is_some() {
        return Err(CliError::usage(format!(
            "{}: a ring has no record indices (--from is for logs); dump shows what waits between its head and tail",
            seg.path().display()
        )));
    }
    match seg.kind() {
        SegmentKind::Transport => {
            if a.follow {
                return Err(CliError::usage(format!(
                    "{}: --follow is not supported for a transport (its records are in each client's channel); \
                     dump without --follow shows what waits now, `ringmpsc stat --watch` follows its rates",
                    seg.path().display()
                )));
            }
            let mut damaged = false;
            // Printed as they are copied, ring by ring.
            for ch in seg.client_channels()? {
                for requests in [true, false] {
                    for prio in Priority::ALL {
                        if p.full() {
                            return Ok(crate::exit::OK);
                        }
                        let label = format!(
                            "client {}.{} {} {}",
                            ch.slot,
                            ch.generation,
                            if requests { "requests" } else { "responses" },
                            ringcore::msg::transport::inspect::priority_name(prio)
                        );
                        let left = usize::try_from(p.limit - p.printed).unwrap_or(usize::MAX);
                        let mut failed = None;
                        let look = ch.peek_each(requests, prio, left, |r| {
                            match p.print(&RecordOut::ring(&r, Some(label.clone()))) {
                                Ok(()) => ControlFlow::Continue(()),
                                Err(e) => {
                                    failed = Some(e);
                                    ControlFlow::Break(())
                                }
                            }
                        });
                        if let Some(e) = failed {
                            return Err(e);
                        }
                        // Reaching the limit is no news here.
                        if let Some(why) = look.stopped.as_ref().filter(|_| !p.full()) {
                            eprintln!("ringmpsc: {label}: {}", format::text(why));
                        }
                        damaged |= look.damaged;
                    }
                }
            }
            Ok(if damaged {
                crate::exit::FAILED
            } else {
                crate::exit::OK
            })
        }
        SegmentKind::SlotRing | SegmentKind::MessageRing if a.follow => {
            let mut f = seg.follow()?;
            let poll = Duration::from_millis(a.poll_ms.max(1));
            while !p.full() {
                let want = usize::try_from(p.limit - p.printed).unwrap_or(usize::MAX);
                let batch = f.poll(want.min(1 << 16))?;
                if batch.skipped > 0 {
                    eprintln!(
                        "ringmpsc: skipped {} {} the consumer freed before they were read",
                        batch.skipped,
                        if seg.kind() == SegmentKind::SlotRing {
                            "slots"
                        } else {
                            "bytes"
                        }
                    );
                }
                for r in &batch.records {
                    p.print(&RecordOut::ring(r, None))?;
                }
                if batch.ended {
                    p.w.flush()?;
                    eprintln!(
                        "ringmpsc: {}: {}",
                        format::name(seg.path()),
                        format::text(batch.end_reason.as_deref().unwrap_or("ended"))
                    );
                    break;
                }
                p.w.flush()?;
                if batch.records.is_empty() {
                    std::thread::sleep(poll);
                }
            }
            Ok(crate::exit::OK)
        }
        _ => {
            let limit = usize::try_from(p.limit).unwrap_or(usize::MAX);
            // Printed as they are copied: a ring of billions of slots is
            // never held whole.
            let mut failed = None;
            let look = seg.peek_each(limit, |r| match p.print(&RecordOut::ring(&r, None)) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    failed = Some(e);
                    ControlFlow::Break(())
                }
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
            if let Some(why) = &look.stopped {
                eprintln!(
                    "ringmpsc: {}: {}",
                    format::name(seg.path()),
                    format::text(why)
                );
            }
            // The records before damage are printed; the damage fails the
            // command.
            Ok(if look.damaged {
                crate::exit::FAILED
            } else {
                crate::exit::OK
            })
        }
    }
}

/// Runs `dump`.
pub fn run(g: &Global, a: &DumpArgs, w: &mut dyn Write) -> Result<i32, CliError> {
    let format = if g.json { DumpFormat::Json } else { a.format };
    let target = Target::open(&g.dir(), &a.name)?;
    let mut p = Printer {
        w,
        format,
        max_payload: a.max_payload,
        printed: 0,
        limit: a.limit.unwrap_or(u64::MAX),
    };
    match &target {
        Target::Log(base) => dump_log(base, a, &mut p),
        Target::Segment(seg) => dump_ring(seg, a, &mut p),
    }
}
