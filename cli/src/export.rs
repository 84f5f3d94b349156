//! `ringmpsc export`: the figures of `list` and `stat` in the Prometheus
//! (OpenMetrics) text format, encoded by the Prometheus project's Rust
//! client, served on `GET /metrics` or printed once.
//!
//! The registry is built anew for every scrape from a fresh scan (the
//! values are read, not accumulated here): positions that only grow are
//! counters (`_total`), levels are gauges; sizes are in `_bytes`, ages in
//! `_seconds`. A ring's depth (`ringmpsc_ring_depth_bytes`,
//! `ringmpsc_ring_depth_messages`) is its consumer's lag, as
//! `kafka_consumergroup_lag` and `jetstream_consumer_num_pending` are.
//!
//! The listener is `std::net::TcpListener` with a small handler: a scrape
//! is one short GET, served one at a time with read and write timeouts, so
//! no HTTP crate or async runtime is needed.

use crate::args::{ExportArgs, Global};
use crate::CliError;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use ringcore::inspect::{scan, Entry};
use ringcore::shm::inspect::{RingState, Side};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

type Labels = Vec<(String, String)>;
type IntGauge = Family<Labels, Gauge>;
type FloatGauge = Family<Labels, Gauge<f64, AtomicU64>>;
type Total = Family<Labels, Counter>;

/// The metric families of one scrape.
struct Metrics {
    registry: Registry,
    entries: IntGauge,
    entry_errors: IntGauge,
    segment_size: IntGauge,
    segment_stale: IntGauge,
    process_up: IntGauge,
    heartbeat_age: FloatGauge,
    ring_capacity: IntGauge,
    ring_depth: IntGauge,
    ring_depth_messages: IntGauge,
    ring_fill: FloatGauge,
    ring_written: Total,
    ring_read: Total,
    pool_slabs: IntGauge,
    pool_allocated: IntGauge,
    transport_clients: IntGauge,
    transport_client_up: IntGauge,
    transport_depth: IntGauge,
    transport_depth_messages: IntGauge,
    transport_written: Total,
    transport_backpressure: FloatGauge,
    transport_dropped: Total,
    log_records: Total,
    log_first_index: IntGauge,
    log_files: IntGauge,
    log_size: IntGauge,
    log_writer_up: IntGauge,
}

/// Label pairs, the values with control characters escaped: names come
/// from other users' files, and the text format escapes only `\`, `"`
/// and newlines, so an escape sequence in a name would reach a terminal
/// that shows `--once`.
fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), crate::format::text(v)))
        .collect()
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("ringmpsc");
        let messages = || Unit::Other("messages".into());
        macro_rules! reg {
            ($name:expr, $help:expr) => {{
                let f = Default::default();
                registry.register($name, $help, Clone::clone(&f));
                f
            }};
            ($name:expr, $help:expr, $unit:expr) => {{
                let f = Default::default();
                registry.register_with_unit($name, $help, $unit, Clone::clone(&f));
                f
            }};
        }
        Metrics {
            entries: reg!(
                "entries",
                "Files found in the scanned directories and paths, by kind"
            ),
            entry_errors: reg!(
                "entry_errors",
                "ringmpsc segments and logs that are damaged or unreadable"
            ),
            segment_size: reg!("segment_size", "Size of a segment file", Unit::Bytes),
            segment_stale: reg!(
                "segment_stale",
                "1 when the creator and every side of a segment are gone"
            ),
            process_up: reg!(
                "process_up",
                "1 when the process recorded in a segment for a role is alive"
            ),
            heartbeat_age: reg!(
                "heartbeat_age",
                "Time since a side's last heartbeat",
                Unit::Seconds
            ),
            ring_capacity: reg!("ring_capacity", "Capacity of a ring", Unit::Bytes),
            ring_depth: reg!(
                "ring_depth",
                "Bytes waiting in a ring: the consumer's lag",
                Unit::Bytes
            ),
            ring_depth_messages: reg!(
                "ring_depth",
                "Messages waiting in a ring: the consumer's lag",
                messages()
            ),
            ring_fill: reg!("ring_fill_ratio", "Fill of a ring, 0 to 1"),
            ring_written: reg!(
                "ring_written",
                "Bytes the producer has written since the ring was made",
                Unit::Bytes
            ),
            ring_read: reg!(
                "ring_read",
                "Bytes the consumer has freed since the ring was made",
                Unit::Bytes
            ),
            pool_slabs: reg!("pool_slabs", "Slabs of a buffer pool"),
            pool_allocated: reg!("pool_allocated_slabs", "Slabs of a buffer pool in use"),
            transport_clients: reg!(
                "transport_clients",
                "Clients connected to a transport server"
            ),
            transport_client_up: reg!("transport_client_up", "1 when a transport client is alive"),
            transport_depth: reg!(
                "transport_ring_depth",
                "Bytes waiting in a client's ring",
                Unit::Bytes
            ),
            transport_depth_messages: reg!(
                "transport_ring_depth",
                "Messages waiting in a client's ring",
                messages()
            ),
            transport_written: reg!(
                "transport_ring_written",
                "Bytes written to a client's ring since it connected",
                Unit::Bytes
            ),
            transport_backpressure: reg!(
                "transport_backpressure_ratio",
                "Fill of a client's fullest request ring, 0 to 1"
            ),
            transport_dropped: reg!(
                "transport_dropped",
                "Messages a client dropped (Low under DropLow)",
                messages()
            ),
            log_records: reg!(
                "log_records",
                "Records written to a log since it began (its next index)"
            ),
            log_first_index: reg!(
                "log_first_index",
                "Index of the oldest record of a log still on disk"
            ),
            log_files: reg!("log_files", "Files of a log on disk"),
            log_size: reg!("log_size", "Bytes of a log's files on disk", Unit::Bytes),
            log_writer_up: reg!("log_writer_up", "1 when a writer holds the log"),
            registry,
        }
    }

    fn ring(
        &self,
        base: &[(&str, &str)],
        r: &RingState,
        written: &Total,
        depth: &IntGauge,
        depth_m: &IntGauge,
    ) {
        let l = labels(base);
        let bytes = r.slot_size as u64;
        depth.get_or_create(&l).set(as_i64(r.fill * bytes));
        if let Some(n) = r.pending_messages {
            depth_m.get_or_create(&l).set(as_i64(n));
        }
        written.get_or_create(&l).inc_by(r.tail.wrapping_mul(bytes));
    }

    fn side(&self, name: &str, kind: &str, role: &str, s: &Side) {
        if s.pid == 0 {
            return;
        }
        let l = labels(&[("name", name), ("kind", kind), ("role", role)]);
        self.process_up.get_or_create(&l).set(i64::from(s.alive));
        if let Some(a) = s.heartbeat_age_s {
            self.heartbeat_age.get_or_create(&l).set(a);
        }
    }

    fn add(&self, e: &Entry) {
        let name = e.name.as_str();
        let kind = e.kind.as_str();
        if let Some(s) = &e.segment {
            let base = [("name", name), ("kind", kind)];
            let l = labels(&base);
            if let Some(f) = &e.file {
                self.segment_size.get_or_create(&l).set(as_i64(f.size));
            }
            self.segment_stale.get_or_create(&l).set(i64::from(s.stale));
            let creator = labels(&[("name", name), ("kind", kind), ("role", "creator")]);
            self.process_up
                .get_or_create(&creator)
                .set(i64::from(s.creator.alive));
            self.side(name, kind, "producer", &s.producer);
            self.side(name, kind, "consumer", &s.consumer);
            if let Some(r) = &s.ring {
                self.ring_capacity
                    .get_or_create(&l)
                    .set(as_i64(r.capacity * r.slot_size as u64));
                self.ring_fill.get_or_create(&l).set(r.fill_ratio);
                self.ring_read
                    .get_or_create(&l)
                    .inc_by(r.head.wrapping_mul(r.slot_size as u64));
                self.ring(
                    &base,
                    r,
                    &self.ring_written,
                    &self.ring_depth,
                    &self.ring_depth_messages,
                );
            }
            if let Some(p) = &s.pool {
                self.pool_slabs.get_or_create(&l).set(i64::from(p.slabs));
                self.pool_allocated
                    .get_or_create(&l)
                    .set(i64::from(p.allocated));
            }
            if let Some(t) = &s.transport {
                let server = Side {
                    pid: t.server.pid,
                    alive: t.server.alive,
                    heartbeat_age_s: t.server.heartbeat_age_s,
                };
                self.side(name, kind, "server", &server);
                self.transport_clients
                    .get_or_create(&labels(&[("name", name)]))
                    .set(t.clients.len() as i64);
                for c in &t.clients {
                    let client = format!("{}.{}", c.slot, c.generation);
                    let cl = labels(&[("name", name), ("client", &client)]);
                    self.transport_client_up
                        .get_or_create(&cl)
                        .set(i64::from(c.alive));
                    let Some(ch) = &c.channel else { continue };
                    self.transport_backpressure
                        .get_or_create(&cl)
                        .set(ch.backpressure);
                    self.transport_dropped.get_or_create(&cl).inc_by(ch.dropped);
                    for (dir, rings) in [("requests", &ch.requests), ("responses", &ch.responses)] {
                        for p in rings {
                            let base = [
                                ("name", name),
                                ("client", client.as_str()),
                                ("direction", dir),
                                ("priority", p.priority.as_str()),
                            ];
                            self.ring(
                                &base,
                                &p.ring,
                                &self.transport_written,
                                &self.transport_depth,
                                &self.transport_depth_messages,
                            );
                        }
                    }
                }
            }
        }
        if let Some(log) = &e.log {
            let path = log.path.display().to_string();
            let l = labels(&[("log", &path)]);
            self.log_records.get_or_create(&l).inc_by(log.next_index);
            self.log_first_index
                .get_or_create(&l)
                .set(as_i64(log.first_index));
            self.log_files.get_or_create(&l).set(log.files.len() as i64);
            self.log_size
                .get_or_create(&l)
                .set(as_i64(log.files.iter().map(|f| f.file.size).sum()));
            self.log_writer_up
                .get_or_create(&l)
                .set(i64::from(log.writer.status == "active"));
        }
    }
}

/// The exposition of one fresh scan of `dirs` and `paths`.
pub fn exposition(dirs: &[PathBuf], paths: &[PathBuf]) -> String {
    let entries = scan(dirs, paths);
    let m = Metrics::new();
    let mut kinds: BTreeMap<&str, i64> = BTreeMap::new();
    let mut errors = 0;
    for e in &entries {
        *kinds.entry(e.kind.as_str()).or_default() += 1;
        if e.is_ringmpsc() && e.error.is_some() {
            errors += 1;
        }
        m.add(e);
    }
    for (k, n) in kinds {
        m.entries.get_or_create(&labels(&[("kind", k)])).set(n);
    }
    m.entry_errors.get_or_create(&Labels::new()).set(errors);
    let mut out = String::new();
    encode(&mut out, &m.registry).expect("writing to a String cannot fail");
    out
}

/// The content type of the exposition.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Longest request head read.
const MAX_REQUEST: usize = 8192;
/// Longest a scrape's request may take to come in, and its answer to go out.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(5);

fn respond(
    stream: &mut std::net::TcpStream,
    dirs: &[PathBuf],
    paths: &[PathBuf],
) -> std::io::Result<()> {
    // The request, and then the answer, each within its deadline: a client
    // that trickles its request (or reads the answer a byte at a time)
    // holds up the next scrape by this much at most, not by a timeout for
    // every byte.
    let left = |deadline: std::time::Instant| {
        deadline
            .checked_duration_since(std::time::Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::TimedOut))
    };
    let read_by = std::time::Instant::now() + EXCHANGE_LIMIT;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
        stream.set_read_timeout(Some(left(read_by)?))?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET", "/metrics") => ("200 OK", CONTENT_TYPE, exposition(dirs, paths)),
        ("GET", "/") => (
            "200 OK",
            "text/html; charset=utf-8",
            "<html><body><a href=\"/metrics\">/metrics</a></body></html>\n".into(),
        ),
        ("GET", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found\n".into(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "GET only\n".into(),
        ),
    };
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let write_by = std::time::Instant::now() + EXCHANGE_LIMIT;
    let mut sent = 0;
    while sent < answer.len() {
        stream.set_write_timeout(Some(left(write_by)?))?;
        match stream.write(&answer.as_bytes()[sent..])? {
            0 => return Err(std::io::ErrorKind::WriteZero.into()),
            n => sent += n,
        }
    }
    stream.flush()
}

/// Runs `export`.
pub fn run(g: &Global, a: &ExportArgs, w: &mut dyn Write) -> Result<i32, CliError> {
    let dirs = g.dirs();
    if a.once {
        w.write_all(exposition(&dirs, &a.paths).as_bytes())?;
        return Ok(crate::exit::OK);
    }
    let addr = a.listen.expect("clap requires --listen without --once");
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| CliError::new(crate::exit::FAILED, format!("cannot listen on {addr}: {e}")))?;
    eprintln!(
        "ringmpsc: serving metrics on http://{}/metrics",
        listener.local_addr()?
    );
    for stream in listener.incoming() {
        match stream {
            Ok(mut s) => {
                if let Err(e) = respond(&mut s, &dirs, &a.paths) {
                    eprintln!("ringmpsc: a scrape failed: {e}");
                }
            }
            Err(e) => eprintln!("ringmpsc: accept: {e}"),
        }
    }
    Ok(crate::exit::OK)
}
