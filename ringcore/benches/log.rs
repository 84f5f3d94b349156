//! Log benchmark: ringmpsc's persistent log against the xchannel crate, in
//! the same run, on the same file systems (tmpfs `/dev/shm` and a disk
//! directory), with the same geometry (1 MiB regions, 64 MiB files).
//!
//! - append throughput for 64 B, 1 KiB and 4 KiB payloads, with record
//!   checksums (the default) and without, while a reader
//!   in another process tails the log and reads every byte;
//! - replay throughput: a fresh reader reading the whole log from the start;
//! - writer-to-reader latency (p50, p99, p99.9) at a paced rate: the writer
//!   stamps CLOCK_MONOTONIC into each 64 B record every 10 us, a reader in
//!   another process polls and takes the difference on arrival.
//!
//! Each library is driven through its own best path: zero-copy reserve and
//! commit for writes, batch reads for throughput, single-record polling
//! for latency. Writer on CPU 0, reader on CPU 1.
//!
//! The floor row is a bare mapped-file append ([`floor`]): the kernel's
//! part of any such log (new file pages allocated, zeroed and mapped) with
//! nothing of a log's own; each row says what fraction of it it reaches.
//!
//! `cargo bench -p ringcore --bench log -- [megabytes per run] [latency records] [disk dir]`

#[allow(dead_code)]
#[path = "support/common.rs"]
mod common;

#[path = "support/log_floor.rs"]
mod floor;

use common::{
    emit, fork, in_rounds, online_cpus, over_rounds, pin, row_percentiles, touch, Latencies,
    Percentiles,
};
use ringcore::log::{From, Reader, WriterBuilder};
use ringcore::shm::monotonic_ns;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SIZES: [usize; 3] = [64, 1024, 4096];
const REGION: u64 = 1 << 20;
const FILE: u64 = 64 << 20;
/// Gap between records of the latency run.
const GAP_NS: u64 = 10_000;
/// Rounds per measurement (every row once a round, in turn; medians reported).
const ROUNDS: usize = 3;

/// Retries `open` until the writer has created the log.
fn open_retry<T, E: std::fmt::Debug>(mut open: impl FnMut() -> Result<T, E>) -> T {
    let start = Instant::now();
    loop {
        match open() {
            Ok(r) => return r,
            Err(e) if start.elapsed() > Duration::from_secs(10) => panic!("open: {e:?}"),
            Err(_) => std::thread::sleep(Duration::from_micros(200)),
        }
    }
}

/// The libraries behind one interface. Writers run on CPU 0; a writer's
/// helper thread, where it has one, on CPU 1 (beside the reader).
#[derive(Clone, Copy, PartialEq)]
enum Lib {
    /// ringmpsc as built by default (record checksums, no helper thread).
    Ringmpsc,
    /// ringmpsc without record checksums.
    RingmpscNoChecksums,
    /// ringmpsc with its prefault thread (`prefault_cpu(1)`).
    RingmpscPrefault,
    /// xchannel as built by default (no helper thread).
    Xchannel,
    /// xchannel with its writer's helper thread (`Helper::on_core(1)`).
    XchannelHelper,
    /// The bare mapped-file append ([`floor`]).
    Floor,
}

impl Lib {
    fn name(self) -> &'static str {
        match self {
            Lib::Ringmpsc => "ringmpsc",
            Lib::RingmpscNoChecksums => "ringmpsc-no-crc",
            Lib::RingmpscPrefault => "ringmpsc-prefault",
            Lib::Xchannel => "xchannel",
            Lib::XchannelHelper => "xchannel-helper",
            Lib::Floor => "floor",
        }
    }

    /// The peer a ringmpsc variant is compared with.
    fn peer(self) -> Option<usize> {
        match self {
            Lib::Ringmpsc | Lib::RingmpscNoChecksums => Some(1),
            Lib::RingmpscPrefault => Some(4),
            Lib::Xchannel | Lib::XchannelHelper | Lib::Floor => None,
        }
    }

    /// Appends `n` records of `size` bytes; `stamp` writes the monotonic
    /// clock into the first 8 bytes and paces the records `GAP_NS` apart.
    /// Returns the seconds the appends took.
    fn write(self, path: &Path, size: usize, n: u64, stamp: bool) -> f64 {
        let payload = vec![0x5au8; size];
        let pace = |i: u64, start: u64| {
            if stamp {
                let due = start + i * GAP_NS;
                while monotonic_ns() < due {
                    std::hint::spin_loop();
                }
            }
        };
        match self {
            Lib::Ringmpsc | Lib::RingmpscNoChecksums | Lib::RingmpscPrefault => {
                let mut b = WriterBuilder::new(path)
                    .region_size(REGION)
                    .file_roll_size(FILE)
                    .checksums(self != Lib::RingmpscNoChecksums);
                if self == Lib::RingmpscPrefault {
                    b = b.prefault_cpu(1 % online_cpus());
                }
                let mut w = b.build().unwrap();
                let t = Instant::now();
                let start = monotonic_ns();
                for i in 0..n {
                    pace(i, start);
                    let buf = w.try_reserve(size).unwrap();
                    buf.copy_from_slice(&payload);
                    if stamp {
                        buf[..8].copy_from_slice(&monotonic_ns().to_ne_bytes());
                    }
                    w.commit(1, size, i).unwrap();
                }
                let secs = t.elapsed().as_secs_f64();
                w.close().unwrap();
                secs
            }
            Lib::Xchannel | Lib::XchannelHelper => {
                let mut b = xchannel::WriterBuilder::new(path)
                    .region_size(REGION as usize)
                    .file_roll_size(FILE);
                if self == Lib::XchannelHelper {
                    b = b.helper(xchannel::Helper::on_core(1 % online_cpus()));
                }
                let mut w = b.build().unwrap();
                let t = Instant::now();
                let start = monotonic_ns();
                for i in 0..n {
                    pace(i, start);
                    let buf = w.try_reserve(size).unwrap();
                    buf.copy_from_slice(&payload);
                    if stamp {
                        buf[..8].copy_from_slice(&monotonic_ns().to_ne_bytes());
                    }
                    w.commit(1, size as u32, i).unwrap();
                }
                t.elapsed().as_secs_f64()
            }
            Lib::Floor => {
                let mut w = floor::Writer::create(path);
                let t = Instant::now();
                let start = monotonic_ns();
                for i in 0..n {
                    pace(i, start);
                    let buf = w.reserve(size);
                    buf.copy_from_slice(&payload);
                    if stamp {
                        buf[..8].copy_from_slice(&monotonic_ns().to_ne_bytes());
                    }
                    w.commit(size, i);
                }
                t.elapsed().as_secs_f64()
            }
        }
    }

    /// Reads `n` records from the start in batches, reading every byte.
    fn read_all(self, path: &Path, n: u64) -> u64 {
        let mut got = 0;
        let mut sum = 0;
        match self {
            Lib::Ringmpsc | Lib::RingmpscNoChecksums | Lib::RingmpscPrefault => {
                let mut r = open_retry(|| Reader::open(path, From::Start));
                while got < n {
                    for m in r.try_read_batch(1024).unwrap() {
                        sum += touch(m.payload);
                        got += 1;
                    }
                }
            }
            Lib::Xchannel | Lib::XchannelHelper => {
                let mut r = open_retry(|| xchannel::ReaderBuilder::new(path).late_join().build());
                while got < n {
                    if let Some(batch) = r.try_read_batch(Some(1024)).unwrap() {
                        for m in batch.iter() {
                            sum += touch(m.payload());
                            got += 1;
                        }
                    }
                }
            }
            Lib::Floor => {
                let mut r = floor::Reader::open(path);
                while got < n {
                    if let Some(p) = r.try_read() {
                        sum += touch(p);
                        got += 1;
                    }
                }
            }
        }
        sum
    }

    /// Polls for `n` stamped records one at a time; returns the latency
    /// distribution of all but the first tenth (the warm-up).
    fn read_latencies(self, path: &Path, n: u64) -> Percentiles {
        let mut lat = Latencies::default();
        let mut got = 0;
        let stamp = |p: &[u8]| u64::from_ne_bytes(p[..8].try_into().unwrap());
        match self {
            Lib::Ringmpsc | Lib::RingmpscNoChecksums | Lib::RingmpscPrefault => {
                let mut r = open_retry(|| Reader::open(path, From::Start));
                while got < n {
                    if let Some(m) = r.try_read().unwrap() {
                        let now = monotonic_ns();
                        if got >= n / 10 {
                            lat.record(now - stamp(m.payload));
                        }
                        got += 1;
                    }
                }
            }
            Lib::Xchannel | Lib::XchannelHelper => {
                let mut r = open_retry(|| xchannel::ReaderBuilder::new(path).late_join().build());
                while got < n {
                    if let Some(m) = r.try_read().unwrap() {
                        let now = monotonic_ns();
                        if got >= n / 10 {
                            lat.record(now - stamp(m.payload()));
                        }
                        got += 1;
                    }
                }
            }
            Lib::Floor => {
                let mut r = floor::Reader::open(path);
                while got < n {
                    if let Some(p) = r.try_read() {
                        let now = monotonic_ns();
                        if got >= n / 10 {
                            lat.record(now - stamp(p));
                        }
                        got += 1;
                    }
                }
            }
        }
        lat.quantiles()
    }
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(dir: &Path, tag: &str) -> Scratch {
        let d = dir.join(format!("rmpsc-logbench-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Append throughput with a live reader in another process, then replay.
/// Returns [append msg/s, replay msg/s].
fn throughput(lib: Lib, dir: &Path, size: usize, n: u64) -> [f64; 2] {
    let s = Scratch::new(dir, lib.name());
    let path = s.0.join("log");
    let reader = fork(|| {
        pin(1);
        lib.read_all(&path, n);
        Vec::new()
    });
    let secs = lib.write(&path, size, n, false);
    reader.collect();
    pin(1);
    let t = Instant::now();
    std::hint::black_box(lib.read_all(&path, n));
    let replay = t.elapsed().as_secs_f64();
    pin(0);
    [n as f64 / secs, n as f64 / replay]
}

/// The writer-to-reader latency distribution, in nanoseconds.
fn latency(lib: Lib, dir: &Path, n: u64) -> Percentiles {
    let s = Scratch::new(dir, lib.name());
    let path = s.0.join("log");
    let reader = fork(|| {
        pin(1);
        lib.read_latencies(&path, n).to_vec()
    });
    lib.write(&path, 64, n, true);
    Percentiles::from_slice(&reader.collect())
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mb: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(128);
    let lat_n: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let disk = args
        .get(2)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    let fss = [("tmpfs", PathBuf::from("/dev/shm")), ("disk", disk)];
    pin(0);
    println!("log benchmark: {mb} MiB of payload per throughput run, {lat_n} paced records per latency run");
    // Compared: ringmpsc with and without checksums against xchannel's
    // default, then both with a helper thread on CPU 1 (indices: `peer`);
    // every row against the floor (the last).
    const LIBS: [Lib; 6] = [
        Lib::Ringmpsc,
        Lib::Xchannel,
        Lib::RingmpscNoChecksums,
        Lib::RingmpscPrefault,
        Lib::XchannelHelper,
        Lib::Floor,
    ];
    let floor = LIBS.len() - 1;
    // The workspace's own directories are shown relative to it.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is in a workspace");
    for (fs, dir) in &fss {
        let shown = dir.strip_prefix(workspace).unwrap_or(dir);
        println!("\n== {fs} ({}) ==", shown.display());
        println!(
            "append with a live reader in another process, then replay by a fresh reader (every row once in each of {ROUNDS} \
             rounds, in turn: rates the medians over the rounds, fractions and ratios the medians of those within a round; the floor is a bare mapped-file append on the same files, readied the same way, with records of ringmpsc's size without checksums):"
        );
        for size in SIZES {
            let n = (mb << 20) / size as u64;
            // Every row once a round, in turn: the machine's noise is
            // larger than some of the differences, so each ratio is taken
            // within a round.
            let rows: Vec<_> = LIBS
                .iter()
                .map(|&l| move || throughput(l, dir, size, n))
                .collect();
            let fns: Vec<&dyn Fn() -> [f64; 2]> = rows.iter().map(|r| r as _).collect();
            let rounds = in_rounds(&fns, ROUNDS);
            let over = |f: &dyn Fn(&[[f64; 2]]) -> f64| over_rounds(&rounds, f);
            for (i, l) in LIBS.iter().enumerate() {
                // Of append (0) or replay (1): the rate, the fraction of the
                // floor, and the ratio to the peer.
                let rate = |k: usize| over(&|r| r[i][k]);
                let of_floor = |k: usize| 100.0 * over(&|r| r[i][k] / r[floor][k]);
                let vs = |k: usize| {
                    l.peer().map_or(String::new(), |p| {
                        format!("({:.2}x {})", over(&|r| r[i][k] / r[p][k]), LIBS[p].name())
                    })
                };
                emit(&format!("log-append-{fs}"), l.name(), size as f64, rate(0));
                println!(
                    "  {size:>4} B  {:<17} append {:>6.2} M/s {:>5.0} MB/s {:>4.0}% of floor {:<24}  replay {:>6.2} M/s {:>4.0}% {}",
                    l.name(),
                    rate(0) / 1e6,
                    rate(0) * size as f64 / 1e6,
                    of_floor(0),
                    vs(0),
                    rate(1) / 1e6,
                    of_floor(1),
                    vs(1)
                );
            }
        }
        println!(
            "64 B every {} us, writer-to-reader latency p50 / p99 / p99.9 (every row once in each of {ROUNDS} rounds, in \
             turn: the medians over the rounds):",
            GAP_NS / 1000
        );
        let rows: Vec<_> = LIBS
            .iter()
            .map(|&l| move || latency(l, dir, lat_n))
            .collect();
        let fns: Vec<&dyn Fn() -> Percentiles> = rows.iter().map(|r| r as _).collect();
        let runs = in_rounds(&fns, ROUNDS);
        for (i, l) in LIBS.iter().enumerate() {
            let m = row_percentiles(&runs, i);
            println!(
                "  {:<17} {} / {} / {} ns",
                l.name(),
                m.at(0.5),
                m.at(0.99),
                m.at(0.999)
            );
            m.emit(&format!("log-latency-{fs}"), l.name());
        }
    }
}
