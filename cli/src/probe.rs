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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
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
    let (ping, pong) = (Line(AtomicU64::new(0)), Line(AtomicU64::new(0)));
    let total = (n + n / 10) as u64;
    // Both threads pin, then meet: a CPU that cannot be had is reported
    // before anything is timed. `Ok(false)`: the other thread's pin failed.
    let (start, failed) = (Barrier::new(2), AtomicBool::new(false));
    let pin = |cpu| {
        let pinned = ringcore::numa::bind_to_cpu(cpu);
        if pinned.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        start.wait();
        pinned.map(|()| !failed.load(Ordering::Relaxed))
    };
    let (timed, echoed) = std::thread::scope(|s| {
        let echo = s.spawn(|| -> Result<(), ringcore::Error> {
            if pin(b)? {
                for i in 1..=total {
                    while ping.0.load(Ordering::Acquire) != i {
                        std::hint::spin_loop();
                    }
                    pong.0.store(i, Ordering::Release);
                }
            }
            Ok(())
        });
        let timed = s
            .spawn(|| -> Result<Vec<u64>, ringcore::Error> {
                let mut ns = Vec::with_capacity(n);
                if pin(a)? {
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
                }
                Ok(ns)
            })
            .join();
        (timed, echo.join())
    });
    match (timed, echoed) {
        (Ok(Ok(mut ns)), Ok(Ok(()))) => {
            ns.sort_unstable();
            Ok(ns)
        }
        (Ok(Err(e)), _) | (_, Ok(Err(e))) => Err(CliError::usage(format!(
            "cannot pin to CPUs {a} and {b}: {e}"
        ))),
        _ => Err(CliError::new(
            crate::exit::FAILED,
            "the probe's thread panicked",
        )),
    }
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
