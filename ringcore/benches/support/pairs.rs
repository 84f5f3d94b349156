//! Two pinned threads driving a queue (throughput, ping-pong), shared by
//! the benches that compare queues in the same run.

use super::common::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

/// Runs of each measurement; the median is reported.
pub const RUNS: usize = 5;

/// Runs `producer` and `consumer` on two pinned threads; returns items/s.
/// The consumer returns the sum of what it read, which must be 0+1+..+items-1.
pub fn two_threads(
    items: u64,
    producer: impl FnOnce() + Send + 'static,
    consumer: impl FnOnce() -> u64 + Send + 'static,
) -> f64 {
    let start = Arc::new(Barrier::new(2));
    let s = start.clone();
    let p = thread::spawn(move || {
        pin(0);
        s.wait();
        producer();
    });
    let c = thread::spawn(move || {
        pin(1);
        start.wait();
        let t = Instant::now();
        let sum = consumer();
        (t.elapsed(), sum)
    });
    p.join().unwrap();
    let (elapsed, sum) = c.join().unwrap();
    assert_eq!(sum, items * (items - 1) / 2, "consumer missed items");
    items as f64 / elapsed.as_secs_f64()
}

/// Single-item throughput through any queue given as push/pop closures.
pub fn single<P, C>(items: u64, mut push: P, mut pop: C) -> f64
where
    P: FnMut(u64) -> bool + Send + 'static,
    C: FnMut() -> Option<u64> + Send + 'static,
{
    two_threads(
        items,
        move || {
            for i in 0..items {
                while !push(i) {
                    std::hint::spin_loop();
                }
            }
        },
        move || {
            let (mut sum, mut n) = (0u64, 0u64);
            while n < items {
                match pop() {
                    Some(v) => {
                        sum += v;
                        n += 1;
                    }
                    None => std::hint::spin_loop(),
                }
            }
            sum
        },
    )
}

/// Round-trip percentiles in nanoseconds.
#[derive(Clone, Copy)]
pub struct Rtt {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Ping-pong: thread A pushes i and spins for its echo; thread B echoes.
pub fn ping_pong<P, C>(rtts: usize, make: impl Fn() -> (P, C)) -> Rtt
where
    P: FnMut(u64) -> bool + Send + 'static,
    C: FnMut() -> Option<u64> + Send + 'static,
{
    let warmup = rtts / 10;
    let total = (rtts + warmup) as u64;
    let (mut a_push, mut b_pop) = make();
    let (mut b_push, mut a_pop) = make();
    let echo = thread::spawn(move || {
        pin(1);
        for _ in 0..total {
            let v = loop {
                if let Some(v) = b_pop() {
                    break v;
                }
                std::hint::spin_loop();
            };
            while !b_push(v) {}
        }
    });
    let ping = thread::spawn(move || {
        pin(0);
        let mut samples = Vec::with_capacity(rtts);
        for i in 0..total {
            let t = Instant::now();
            while !a_push(i) {}
            let v = loop {
                if let Some(v) = a_pop() {
                    break v;
                }
                std::hint::spin_loop();
            };
            assert_eq!(v, i);
            if i >= warmup as u64 {
                samples.push(t.elapsed().as_nanos() as u64);
            }
        }
        samples
    });
    let mut ns = ping.join().unwrap();
    echo.join().unwrap();
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q) as usize] as f64;
    Rtt {
        p50: at(0.50),
        p99: at(0.99),
    }
}

pub fn median_rtt(f: impl Fn() -> Rtt) -> Rtt {
    let mut runs: Vec<Rtt> = (0..RUNS).map(|_| f()).collect();
    runs.sort_by(|a, b| a.p50.partial_cmp(&b.p50).unwrap());
    runs[RUNS / 2]
}

/// The floor: one atomic word per direction, each on its own line pair.
pub fn atomic_rtt(rtts: usize) -> Rtt {
    #[repr(align(128))]
    struct Line(AtomicU64);
    ping_pong(rtts, || {
        let line = Arc::new(Line(AtomicU64::new(u64::MAX)));
        let l2 = line.clone();
        let mut last = u64::MAX;
        (
            move |i| {
                line.0.store(i, Ordering::Release);
                true
            },
            move || {
                let v = l2.0.load(Ordering::Acquire);
                (v != last).then(|| {
                    last = v;
                    v
                })
            },
        )
    })
}
