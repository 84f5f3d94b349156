//! `ringmpsc stat NAME [--watch]`: one segment or log in detail, with rates
//! over an interval; `--watch` redraws it in place every interval.

use crate::args::{Global, StatArgs};
use crate::format;
use crate::CliError;
use ringcore::inspect::{ClientTotals, Meter, Target, Totals};
use ringcore::log::inspect::LogInfo;
use ringcore::shm::inspect::{FileMeta, SegmentInfo, Side, Unit};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Rates over an interval.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rates {
    /// Messages per second.
    pub messages_per_s: f64,
    /// Bytes per second (slots times slot size, or framed record bytes).
    pub bytes_per_s: f64,
    /// False when some messages were estimated (see `ringmpsc hz`).
    pub exact: bool,
}

impl Rates {
    fn between(a: &Totals, b: &Totals, secs: f64) -> Rates {
        Rates {
            messages_per_s: b.messages.saturating_sub(a.messages) as f64 / secs,
            bytes_per_s: b.bytes.saturating_sub(a.bytes) as f64 / secs,
            exact: b.exact,
        }
    }
}

/// One transport client's rates.
#[derive(Debug, Clone, Serialize)]
pub struct ClientRates {
    /// The client's slot.
    pub slot: u32,
    /// The slot's generation.
    pub generation: u32,
    /// Client to server.
    pub requests: Rates,
    /// Server to client.
    pub responses: Rates,
}

/// What `stat --json` prints (one line a frame with `--watch`).
#[derive(Debug, Serialize)]
pub struct StatOutput {
    /// The name as given.
    pub name: String,
    /// The file (a log's first file).
    #[serde(serialize_with = "ringcore::inspect::lossy_path")]
    pub path: PathBuf,
    /// `slot_ring`, `message_ring`, `pool`, `transport`, `channel` or `log`.
    pub kind: String,
    /// Size, owner and mode.
    pub file: Option<FileMeta>,
    /// Seconds the rates are over; `null` without rates.
    pub interval_s: Option<f64>,
    /// A segment's snapshot.
    pub segment: Option<SegmentInfo>,
    /// A log's snapshot.
    pub log: Option<LogInfo>,
    /// Rates over the interval; `null` for a pool or without an interval.
    pub rates: Option<Rates>,
    /// A transport's rates per client.
    pub client_rates: Vec<ClientRates>,
}

/// Takes snapshots of a target and the rates between them.
pub struct Sampler {
    name: String,
    target: Target,
    meter: Option<Meter>,
    last: Option<(Instant, Totals, Vec<ClientTotals>)>,
}

impl Sampler {
    /// A sampler of `name` (looked up in `dir`), counting from now when
    /// `rates`.
    pub fn new(dir: &std::path::Path, name: &str, rates: bool) -> Result<Sampler, CliError> {
        let target = Target::open(dir, name)?;
        let meter = match (&target, rates) {
            (Target::Segment(s), true)
                if !matches!(
                    s.kind(),
                    ringcore::shm::SegmentKind::Pool | ringcore::shm::SegmentKind::Channel
                ) =>
            {
                Some(Meter::new(&target)?)
            }
            (Target::Log(_), true) => Some(Meter::new(&target)?),
            _ => None,
        };
        let mut s = Sampler {
            name: name.into(),
            target,
            meter,
            last: None,
        };
        if let Some(m) = &mut s.meter {
            s.last = Some((Instant::now(), m.sample()?, m.clients()));
        }
        Ok(s)
    }

    /// Waits `d`, counting as it goes (a message ring's records are
    /// counted every millisecond, before they can be reused).
    pub fn wait(&mut self, d: Duration) -> Result<(), CliError> {
        match &mut self.meter {
            Some(m) => {
                m.sample_for(d)?;
            }
            None => std::thread::sleep(d),
        }
        Ok(())
    }

    /// A snapshot now, with the rates since the previous one.
    pub fn snapshot(&mut self) -> Result<StatOutput, CliError> {
        let mut rates = None;
        let mut client_rates = Vec::new();
        let mut interval_s = None;
        if let Some(m) = &mut self.meter {
            let totals = m.sample()?;
            let clients = m.clients();
            let now = Instant::now();
            if let Some((then, before, before_clients)) = &self.last {
                let secs = now.duration_since(*then).as_secs_f64().max(1e-9);
                interval_s = Some(secs);
                rates = Some(Rates::between(before, &totals, secs));
                for c in &clients {
                    let prev = before_clients
                        .iter()
                        .find(|p| (p.slot, p.generation) == (c.slot, c.generation));
                    let zero = Totals {
                        exact: true,
                        ..Totals::default()
                    };
                    let (pr, ps) = prev.map_or((zero, zero), |p| (p.requests, p.responses));
                    client_rates.push(ClientRates {
                        slot: c.slot,
                        generation: c.generation,
                        requests: Rates::between(&pr, &c.requests, secs),
                        responses: Rates::between(&ps, &c.responses, secs),
                    });
                }
            }
            self.last = Some((now, totals, clients));
        }
        let (kind, file, segment, log) = match &self.target {
            Target::Segment(s) => {
                let info = s.info()?;
                (
                    s.kind().as_str().to_string(),
                    Some(s.file()),
                    Some(info),
                    None,
                )
            }
            Target::Log(base) => {
                let info = ringcore::log::inspect::inspect(base)?;
                let file = info.files.first().map(|f| f.file);
                ("log".to_string(), file, None, Some(info))
            }
        };
        Ok(StatOutput {
            name: self.name.clone(),
            path: self.target.path().to_path_buf(),
            kind,
            file,
            interval_s,
            segment,
            log,
            rates,
            client_rates,
        })
    }
}

fn ring_line(r: &ringcore::shm::inspect::RingState) -> String {
    let unit = match r.unit {
        Unit::Slots => "slots",
        Unit::Bytes => "bytes",
    };
    let pending = match r.pending_messages {
        Some(n) => format!("{n} messages waiting"),
        None => "messages waiting: changing".into(),
    };
    format!(
        "{} of {} {unit} ({:.1}%), {pending}",
        r.fill,
        r.capacity,
        r.fill_ratio * 100.0
    )
}

fn rates_text(r: &Rates) -> String {
    format!(
        "{}{} msg/s, {}/s",
        if r.exact { "" } else { "~" },
        format::rate(r.messages_per_s),
        format::bytes(r.bytes_per_s as u64)
    )
}

/// Prints a snapshot as text.
pub fn render(o: &StatOutput, w: &mut dyn Write) -> Result<(), CliError> {
    writeln!(w, "{} {}", o.kind, format::name(&o.path))?;
    if let Some(f) = &o.file {
        writeln!(
            w,
            "  file       {}, mode {:04o}, owner {}:{}",
            format::bytes(f.size),
            f.mode,
            f.uid,
            f.gid
        )?;
    }
    if let Some(s) = &o.segment {
        writeln!(
            w,
            "  format     version {}, created {} ago",
            s.version,
            format::age(format::since_unix_ns(s.created_unix_ns))
        )?;
        writeln!(w, "  creator    {}", format::process(&s.creator))?;
        if s.transport.is_none() && s.pool.is_none() {
            writeln!(w, "  producer   {}", format::side_long(&s.producer))?;
            writeln!(w, "  consumer   {}", format::side_long(&s.consumer))?;
        }
        writeln!(
            w,
            "  stale      {}",
            if s.stale {
                "yes: the creator and every side are gone (ringmpsc clean removes it)"
            } else {
                "no"
            }
        )?;
        if let Some(r) = &s.ring {
            writeln!(w, "  fill       {}", ring_line(r))?;
            writeln!(
                w,
                "  positions  head {}, tail {} (consumer lag {} {})",
                r.head,
                r.tail,
                r.fill,
                if r.unit == Unit::Slots {
                    "slots"
                } else {
                    "bytes"
                }
            )?;
            if r.closed {
                writeln!(w, "  closed     yes")?;
            }
            if let Some(e) = &r.error {
                writeln!(w, "  damaged    {e}")?;
            }
        }
        if let Some(p) = &s.pool {
            writeln!(
                w,
                "  slabs      {} in use of {} ({} each)",
                p.allocated,
                p.slabs,
                format::bytes(p.slab_size as u64)
            )?;
        }
        if let Some(t) = &s.transport {
            let server = Side {
                pid: t.server.pid,
                alive: t.server.alive,
                heartbeat_age_s: t.server.heartbeat_age_s,
            };
            writeln!(
                w,
                "  server     {}, {}, protocol {}",
                format::side_long(&server),
                t.server.state,
                t.server.protocol
            )?;
            writeln!(
                w,
                "  clients    {} of {}",
                t.clients.len(),
                t.server.max_clients
            )?;
            if !t.clients.is_empty() {
                let mut rows = vec![[
                    "SLOT",
                    "PID",
                    "HEARTBEAT",
                    "BACKPRESSURE",
                    "DROPPED",
                    "REQ C/H/L",
                    "RESP C/H/L",
                    "REQ RATE",
                    "RESP RATE",
                ]
                .map(String::from)
                .to_vec()];
                for c in &t.clients {
                    let fills = |v: &[ringcore::msg::transport::inspect::PriorityRing]| {
                        v.iter()
                            .map(|p| format!("{:.0}%", p.ring.fill_ratio * 100.0))
                            .collect::<Vec<_>>()
                            .join("/")
                    };
                    let rate = o
                        .client_rates
                        .iter()
                        .find(|r| (r.slot, r.generation) == (c.slot, c.generation));
                    let mut row = vec![
                        format!("{}.{}", c.slot, c.generation),
                        format!("{} {}", c.pid, if c.alive { "alive" } else { "dead" }),
                    ];
                    match &c.channel {
                        Some(ch) => {
                            row.push(
                                ch.heartbeat_age_s
                                    .map_or("-".into(), |a| format!("{} ago", format::age(a))),
                            );
                            row.push(format!("{:.0}%", ch.backpressure * 100.0));
                            row.push(ch.dropped.to_string());
                            row.push(fills(&ch.requests));
                            row.push(fills(&ch.responses));
                        }
                        None => row.extend(["-", "-", "-", "-", "-"].map(String::from)),
                    }
                    match rate {
                        Some(r) => {
                            row.push(format!("{} msg/s", format::rate(r.requests.messages_per_s)));
                            row.push(format!(
                                "{} msg/s",
                                format::rate(r.responses.messages_per_s)
                            ));
                        }
                        None => row.extend(["-", "-"].map(String::from)),
                    }
                    rows.push(row);
                }
                // Indent the table under the block.
                let mut buf = Vec::new();
                format::table(&mut buf, &rows)?;
                for line in String::from_utf8_lossy(&buf).lines() {
                    writeln!(w, "  {line}")?;
                }
                for c in &t.clients {
                    if let Some(e) = &c.channel_error {
                        writeln!(
                            w,
                            "  client {}.{}: channel not reachable: {e}",
                            c.slot, c.generation
                        )?;
                    }
                }
            }
        }
    }
    if let Some(l) = &o.log {
        writeln!(
            w,
            "  format     version {}, {}, mtu {}, regions of {}, files of {}",
            l.version,
            if l.checksums {
                "CRC32C checksums"
            } else {
                "no checksums"
            },
            format::bytes(l.mtu as u64),
            format::bytes(l.region_size),
            format::bytes(l.file_size)
        )?;
        writeln!(
            w,
            "  writer     {}, {} (epoch {})",
            format::process(&l.writer.process),
            l.writer.status,
            l.writer.epoch
        )?;
        let last = if l.records == 0 {
            "none".to_string()
        } else {
            l.next_index.wrapping_sub(1).to_string()
        };
        writeln!(
            w,
            "  records    {} (first index {}, last {last})",
            l.records, l.first_index
        )?;
        writeln!(
            w,
            "  write at   file {}, offset {}",
            l.write_file, l.write_offset
        )?;
        writeln!(w, "  files      {}", l.files.len())?;
        // The oldest three and the newest two of a long series.
        let long = l.files.len() > 6;
        for (i, f) in l.files.iter().enumerate() {
            if long && i == 3 {
                writeln!(w, "    ... {} more", l.files.len() - 5)?;
            }
            if long && (3..l.files.len() - 2).contains(&i) {
                continue;
            }
            writeln!(
                w,
                "    {}  {}  first index {}  {}",
                format::name(&f.path),
                format::bytes(f.file.size),
                f.first_index,
                f.writer_state
            )?;
        }
        if let Some(e) = &l.error {
            writeln!(w, "  damaged    {e}")?;
        }
    }
    match (&o.rates, o.interval_s) {
        (Some(r), Some(secs)) => writeln!(w, "  rate       {} (over {secs:.2} s)", rates_text(r))?,
        _ if o.segment.as_ref().is_some_and(|s| s.pool.is_some()) => {}
        _ => writeln!(w, "  rate       - (needs an interval)")?,
    }
    Ok(())
}

fn interval(a: &StatArgs) -> Result<Duration, CliError> {
    if !a.interval.is_finite() || a.interval < 0.0 || a.interval > 86_400.0 {
        return Err(CliError::usage(format!(
            "--interval {} is not a number of seconds from 0 to 86400",
            a.interval
        )));
    }
    Ok(Duration::from_secs_f64(a.interval))
}

impl StatOutput {
    /// Whether the snapshot found damage: positions that cannot be right or
    /// a damaged record, in the ring, a transport client's rings or the log.
    fn damaged(&self) -> bool {
        let ring = |r: &ringcore::shm::inspect::RingState| r.error.is_some();
        let segment = self.segment.as_ref().is_some_and(|s| {
            s.ring.as_ref().is_some_and(ring)
                || s.transport.as_ref().is_some_and(|t| {
                    t.clients
                        .iter()
                        .filter_map(|c| c.channel.as_ref())
                        .any(|ch| {
                            ch.requests
                                .iter()
                                .chain(&ch.responses)
                                .any(|p| ring(&p.ring))
                        })
                })
        });
        segment || self.log.as_ref().is_some_and(|l| l.error.is_some())
    }
}

/// Runs `stat`.
pub fn run(g: &Global, a: &StatArgs, w: &mut dyn Write) -> Result<i32, CliError> {
    let every = interval(a)?;
    let mut s = Sampler::new(&g.dir(), &a.name, !every.is_zero())?;
    if !a.watch {
        s.wait(every)?;
        let o = s.snapshot()?;
        if g.json {
            format::json_pretty(w, &o)?;
        } else {
            render(&o, w)?;
        }
        // Damage is in the output, and in the exit code as the README says.
        return Ok(if o.damaged() {
            crate::exit::FAILED
        } else {
            crate::exit::OK
        });
    }
    if every.is_zero() {
        return Err(CliError::usage("--watch needs an --interval above 0"));
    }
    let tty = std::io::stdout().is_terminal();
    let mut frame = 0u64;
    loop {
        // Every frame has rates over a whole interval.
        s.wait(every)?;
        let o = s.snapshot()?;
        if g.json {
            format::json_line(w, &o)?;
        } else {
            if tty {
                // Home and clear, as `top` redraws.
                write!(w, "\x1b[H\x1b[2J")?;
            } else if frame > 0 {
                writeln!(w)?;
            }
            render(&o, w)?;
            writeln!(w, "(every {:.1} s; Ctrl-C to stop)", every.as_secs_f64())?;
        }
        w.flush()?;
        frame += 1;
        if a.count.is_some_and(|n| frame >= n) {
            return Ok(crate::exit::OK);
        }
    }
}
