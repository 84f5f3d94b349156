//! SPSC benchmark: ringcore against rtrb and crossbeam's ArrayQueue in the
//! same run, the consumer reading every item.
//!
//! `cargo bench -p ringcore --bench spsc -- [items] [round_trips]`
//!
//! Workloads: single-item throughput, batch-of-256 throughput, and a
//! two-thread ping-pong round trip (p50/p99) against a bare atomic ping-pong
//! between the same two threads (the floor). Threads are pinned to CPUs 0 and 1.

#[allow(dead_code)]
#[path = "support/common.rs"]
mod common;

use common::{median, pin};
use crossbeam_queue::ArrayQueue;
use ringcore::{Config, Ring};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

const CAPACITY_BITS: u8 = 12;
const CAPACITY: usize = 1 << CAPACITY_BITS;
const BATCH: usize = 256;
const RUNS: usize = 5;

/// Runs `producer` and `consumer` on two pinned threads; returns items/s.
/// The consumer returns the sum of what it read, which must be 0+1+..+items-1.
fn two_threads(
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
fn single<P, C>(items: u64, mut push: P, mut pop: C) -> f64
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

fn ringcore_single(items: u64) -> f64 {
    let (mut tx, mut rx) = Ring::<u64>::new(Config::with_ring_bits(CAPACITY_BITS)).unwrap();
    single(
        items,
        move |i| tx.send_one(i).is_ok(),
        move || rx.try_recv().ok(),
    )
}

fn rtrb_single(items: u64) -> f64 {
    let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAPACITY);
    single(items, move |i| tx.push(i).is_ok(), move || rx.pop().ok())
}

fn arrayqueue_single(items: u64) -> f64 {
    let q = Arc::new(ArrayQueue::<u64>::new(CAPACITY));
    let q2 = q.clone();
    single(items, move |i| q.push(i).is_ok(), move || q2.pop())
}

fn ringcore_batch(items: u64) -> f64 {
    let (mut tx, mut rx) = Ring::<u64>::new(Config::with_ring_bits(CAPACITY_BITS)).unwrap();
    two_threads(
        items,
        move || {
            let mut next = 0u64;
            while next < items {
                let want = (items - next).min(BATCH as u64) as usize;
                match tx.reserve(want) {
                    Ok(mut r) => {
                        let slots = r.as_mut_slice();
                        for (i, s) in slots.iter_mut().enumerate() {
                            *s = next + i as u64;
                        }
                        let k = slots.len();
                        next += k as u64;
                        r.commit_n(k);
                    }
                    Err(_) => std::hint::spin_loop(),
                }
            }
        },
        move || {
            let (mut sum, mut n) = (0u64, 0u64);
            while n < items {
                let got = rx.consume_up_to(BATCH, |&v| sum += v);
                if got == 0 {
                    std::hint::spin_loop();
                }
                n += got as u64;
            }
            sum
        },
    )
}

fn rtrb_batch(items: u64) -> f64 {
    let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAPACITY);
    two_threads(
        items,
        move || {
            let mut next = 0u64;
            while next < items {
                // The chunk API wants the whole request free: ask for what is.
                let want = ((items - next) as usize).min(BATCH).min(tx.slots());
                if want == 0 {
                    std::hint::spin_loop();
                    continue;
                }
                let chunk = tx.write_chunk_uninit(want).unwrap();
                next += chunk.fill_from_iter(next..) as u64;
            }
        },
        move || {
            let (mut sum, mut n) = (0u64, 0u64);
            while n < items {
                let k = rx.slots().min(BATCH);
                if k == 0 {
                    std::hint::spin_loop();
                    continue;
                }
                let chunk = rx.read_chunk(k).unwrap();
                let (a, b) = chunk.as_slices();
                for &v in a.iter().chain(b) {
                    sum += v;
                }
                chunk.commit_all();
                n += k as u64;
            }
            sum
        },
    )
}

/// ArrayQueue has no batch API: up to BATCH pushes, then up to BATCH pops.
fn arrayqueue_batch(items: u64) -> f64 {
    let q = Arc::new(ArrayQueue::<u64>::new(CAPACITY));
    let q2 = q.clone();
    two_threads(
        items,
        move || {
            let mut next = 0u64;
            while next < items {
                let end = (next + BATCH as u64).min(items);
                while next < end && q.push(next).is_ok() {
                    next += 1;
                }
                if next < end {
                    std::hint::spin_loop();
                }
            }
        },
        move || {
            let (mut sum, mut n) = (0u64, 0u64);
            while n < items {
                let mut got = 0;
                while got < BATCH {
                    match q2.pop() {
                        Some(v) => {
                            sum += v;
                            got += 1;
                        }
                        None => break,
                    }
                }
                if got == 0 {
                    std::hint::spin_loop();
                }
                n += got as u64;
            }
            sum
        },
    )
}

/// Round-trip percentiles in nanoseconds.
#[derive(Clone, Copy)]
struct Rtt {
    p50: f64,
    p99: f64,
}

/// Ping-pong: thread A pushes i and spins for its echo; thread B echoes.
fn ping_pong<P, C>(rtts: usize, make: impl Fn() -> (P, C)) -> Rtt
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

fn median_rtt(f: impl Fn() -> Rtt) -> Rtt {
    let mut runs: Vec<Rtt> = (0..RUNS).map(|_| f()).collect();
    runs.sort_by(|a, b| a.p50.partial_cmp(&b.p50).unwrap());
    runs[RUNS / 2]
}

fn ringcore_rtt(rtts: usize) -> Rtt {
    ping_pong(rtts, || {
        let (mut tx, mut rx) = Ring::<u64>::new(Config::with_ring_bits(CAPACITY_BITS)).unwrap();
        (move |i| tx.send_one(i).is_ok(), move || rx.try_recv().ok())
    })
}

fn rtrb_rtt(rtts: usize) -> Rtt {
    ping_pong(rtts, || {
        let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAPACITY);
        (move |i| tx.push(i).is_ok(), move || rx.pop().ok())
    })
}

fn arrayqueue_rtt(rtts: usize) -> Rtt {
    ping_pong(rtts, || {
        let q = Arc::new(ArrayQueue::<u64>::new(CAPACITY));
        let q2 = q.clone();
        (move |i| q.push(i).is_ok(), move || q2.pop())
    })
}

/// The floor: one atomic word per direction, each on its own line pair.
fn atomic_rtt(rtts: usize) -> Rtt {
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

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<u64>().ok());
    let items = args.next().unwrap_or(20_000_000);
    let rtts = args.next().unwrap_or(200_000) as usize;
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "SPSC: {items} u64 items per run, median of {RUNS} runs, capacity {CAPACITY}, {cpus} CPUs\n"
    );
    println!("| workload | ringcore | rtrb | ArrayQueue | ringcore/rtrb | ringcore/ArrayQueue |");
    println!("|---|---|---|---|---|---|");
    let m = |x: f64| format!("{:.1} M/s", x / 1e6);
    let (a, b, c) = (
        median(RUNS, || ringcore_single(items)),
        median(RUNS, || rtrb_single(items)),
        median(RUNS, || arrayqueue_single(items)),
    );
    println!(
        "| single item | {} | {} | {} | {:.2}x | {:.2}x |",
        m(a),
        m(b),
        m(c),
        a / b,
        a / c
    );
    let (a, b, c) = (
        median(RUNS, || ringcore_batch(items)),
        median(RUNS, || rtrb_batch(items)),
        median(RUNS, || arrayqueue_batch(items)),
    );
    println!(
        "| batch of {BATCH} | {} | {} (chunk API) | {} (item by item) | {:.2}x | {:.2}x |",
        m(a),
        m(b),
        m(c),
        a / b,
        a / c
    );
    println!("\n| ping-pong round trip | p50 | p99 | p50 / floor |");
    println!("|---|---|---|---|");
    let floor = median_rtt(|| atomic_rtt(rtts));
    for (name, r) in [
        ("ringcore", median_rtt(|| ringcore_rtt(rtts))),
        ("rtrb", median_rtt(|| rtrb_rtt(rtts))),
        ("ArrayQueue", median_rtt(|| arrayqueue_rtt(rtts))),
        ("bare atomic (floor)", floor),
    ] {
        println!(
            "| {name} | {:.0} ns | {:.0} ns | {:.2}x |",
            r.p50,
            r.p99,
            r.p50 / floor.p50
        );
    }
}
