//! `ringmpsc probe`: the machine's floor for moving a cache line between
//! two CPUs, as a bare atomic ping-pong between two pinned threads (one
//! word each way, spin-polled). Every latency figure of a ring between the
//! same two CPUs is this plus the ring's own work, so benchmarks print it
//! beside their figures: the same machine has measured 110 and 490 ns
//! within an hour.

use crate::args::{Global, ProbeArgs};
use crate::CliError;
use serde::Serialize;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// What `probe --json` prints.
#[derive(Debug, Serialize)]
pub struct ProbeOutput {
    /// The two CPUs.
    pub cpus: [usize; 2],
    /// Round trips timed (after a tenth as many of warm-up).
    pub round_trips: usize,
    /// Median round trip, nanoseconds.
    pub p50_ns: u64,
    /// 99th percentile, nanoseconds.
    pub p99_ns: u64,
    /// Slowest, nanoseconds.
    pub max_ns: u64,
}

/// One word on a line pair of its own (the adjacent-line prefetcher pulls
/// lines in pairs).
#[repr(align(128))]
struct Line(AtomicU64);

/// Sorted round trips, in nanoseconds, of `n` ping-pongs between `a` and `b`.
fn ping_pong(a: usize, b: usize, n: usize) -> Result<Vec<u64>, CliError> {
    let ping = Arc::new(Line(AtomicU64::new(0)));
    let pong = Arc::new(Line(AtomicU64::new(0)));
    let total = (n + n / 10) as u64;
    let (p2, q2) = (ping.clone(), pong.clone());
    let echo = std::thread::spawn(move || -> Result<(), ringcore::Error> {
        let pinned = ringcore::numa::bind_to_cpu(b);
        for i in 1..=total {
            while p2.0.load(Ordering::Acquire) != i {
                std::hint::spin_loop();
            }
            // Answered even when the pin failed, so the other side ends.
            q2.0.store(i, Ordering::Release);
        }
        pinned
    });
    let pinned = std::thread::scope(|s| {
        s.spawn(|| {
            let pinned = ringcore::numa::bind_to_cpu(a);
            let mut ns = Vec::with_capacity(n);
            for i in 1..=total {
                let t = Instant::now();
                ping.0.store(i, Ordering::Release);
                while pong.0.load(Ordering::Acquire) != i {
                    std::hint::spin_loop();
                }
                if i > total - n as u64 {
                    ns.push(t.elapsed().as_nanos() as u64);
                }
            }
            pinned.map(|()| ns)
        })
        .join()
    });
    let echoed = echo.join();
    let ns = match (pinned, echoed) {
        (Ok(Ok(ns)), Ok(Ok(()))) => ns,
        (Ok(Err(e)), _) | (_, Ok(Err(e))) => {
            return Err(CliError::usage(format!(
                "cannot pin to CPUs {a} and {b}: {e}"
            )))
        }
        _ => {
            return Err(CliError::new(
                crate::exit::FAILED,
                "the probe's thread panicked",
            ))
        }
    };
    let mut ns = ns;
    ns.sort_unstable();
    Ok(ns)
}

/// Runs `probe`.
pub fn run(g: &Global, a: &ProbeArgs, w: &mut dyn Write) -> Result<i32, CliError> {
    let &[x, y] = a.cpus.as_slice() else {
        return Err(CliError::usage("--cpus takes two CPUs: A,B"));
    };
    if x == y {
        return Err(CliError::usage("--cpus needs two different CPUs"));
    }
    if a.round_trips == 0 {
        return Err(CliError::usage("--round-trips must be at least 1"));
    }
    let ns = ping_pong(x, y, a.round_trips)?;
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q) as usize];
    let out = ProbeOutput {
        cpus: [x, y],
        round_trips: ns.len(),
        p50_ns: at(0.5),
        p99_ns: at(0.99),
        max_ns: at(1.0),
    };
    if g.json {
        serde_json::to_writer(&mut *w, &out)?;
        writeln!(w)?;
    } else {
        writeln!(
            w,
            "core-to-core probe (bare atomic ping-pong p50 / p99): {} / {} ns, CPUs {x} and {y}, {} round trips, max {} ns",
            out.p50_ns, out.p99_ns, out.round_trips, out.max_ns
        )?;
    }
    Ok(crate::exit::OK)
}
