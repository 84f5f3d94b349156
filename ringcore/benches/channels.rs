//! MPSC benchmark against crossbeam-channel, crossbeam's ArrayQueue,
//! std::sync::mpsc and the disruptor crate's multi-producer sequencer in the
//! same run, the consumer reading every item, for
//! the producer counts given as arguments; and the buffer pool's
//! alloc + free round trip. Every queue is driven the same way: non-blocking
//! sends and receives with the same spin-then-yield backoff when full or
//! empty (this measures the data
//! structures, not the scheduler). The consumer runs on CPU 0 and the
//! producers on CPUs 1, 2, ... in turn (all on CPU 1 of a 2-CPU machine).
//!
//! `cargo bench -p ringcore --bench channels -- [items_per_producer] [producers...]`

#[allow(dead_code)]
#[path = "support/common.rs"]
mod common;

use common::{median, online_cpus, pin};
use crossbeam_queue::ArrayQueue;
use ringcore::channel::mpsc;
use ringcore::{Backoff, BufferPool, Config};
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

const CAPACITY: usize = 4096;
const BATCH: usize = 256;
const RUNS: usize = 5;

/// The CPU of producer `p`: its own one after the consumer's while there
/// are enough, else shared.
fn producer_cpu(p: u64) -> usize {
    1 + p as usize % (online_cpus() - 1).max(1)
}

/// Runs `producers` producer closures and one consumer; returns items/s
/// measured by the consumer, after checking the sum of what it read.
fn run<P, C>(producers: usize, per: u64, make_producer: impl Fn(u64) -> P, consumer: C) -> f64
where
    P: FnOnce() + Send + 'static,
    C: FnOnce(u64) -> u64,
{
    let start = Arc::new(Barrier::new(producers + 1));
    let handles: Vec<_> = (0..producers as u64)
        .map(|p| {
            let f = make_producer(p);
            let s = start.clone();
            thread::spawn(move || {
                pin(producer_cpu(p));
                s.wait();
                f();
            })
        })
        .collect();
    pin(0);
    start.wait();
    let t = Instant::now();
    let total = per * producers as u64;
    let sum = consumer(total);
    let secs = t.elapsed().as_secs_f64();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(
        sum,
        producers as u64 * per * (per - 1) / 2,
        "consumer missed items"
    );
    total as f64 / secs
}

fn ringmpsc_single(producers: usize, per: u64) -> f64 {
    let mut ch = mpsc::Channel::<u64>::new(Config::with_ring_bits(12)).unwrap();
    let regs: Vec<_> = (0..producers)
        .map(|_| Some(ch.register().unwrap()))
        .collect();
    let regs = std::sync::Mutex::new(regs);
    run(
        producers,
        per,
        |p| {
            let mut tx = regs.lock().unwrap()[p as usize].take().unwrap();
            move || {
                for i in 0..per {
                    let backoff = Backoff::new();
                    while tx.send_one(i).is_err() {
                        backoff.snooze();
                    }
                }
            }
        },
        |total| {
            let (mut n, mut sum) = (0, 0u64);
            let backoff = Backoff::new();
            while n < total {
                match ch.consume_all(|&x| sum += x) {
                    0 => backoff.snooze(),
                    k => {
                        n += k as u64;
                        backoff.reset();
                    }
                }
            }
            sum
        },
    )
}

fn ringmpsc_batch(producers: usize, per: u64) -> f64 {
    let mut ch = mpsc::Channel::<u64>::new(Config::with_ring_bits(12)).unwrap();
    let regs: Vec<_> = (0..producers)
        .map(|_| Some(ch.register().unwrap()))
        .collect();
    let regs = std::sync::Mutex::new(regs);
    run(
        producers,
        per,
        |p| {
            let mut tx = regs.lock().unwrap()[p as usize].take().unwrap();
            move || {
                let mut next = 0u64;
                while next < per {
                    let Ok(mut r) = tx.reserve(((per - next) as usize).min(BATCH)) else {
                        std::thread::yield_now();
                        continue;
                    };
                    let slots = r.as_mut_slice();
                    for (k, s) in slots.iter_mut().enumerate() {
                        *s = next + k as u64;
                    }
                    let k = slots.len();
                    next += k as u64;
                    r.commit_n(k);
                }
            }
        },
        |total| {
            let (mut n, mut sum) = (0, 0u64);
            let backoff = Backoff::new();
            while n < total {
                match ch.consume_all(|&x| sum += x) {
                    0 => backoff.snooze(),
                    k => {
                        n += k as u64;
                        backoff.reset();
                    }
                }
            }
            sum
        },
    )
}

fn crossbeam_channel(producers: usize, per: u64) -> f64 {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(CAPACITY);
    run(
        producers,
        per,
        |_| {
            let tx = tx.clone();
            move || {
                for i in 0..per {
                    let backoff = Backoff::new();
                    while tx.try_send(i).is_err() {
                        backoff.snooze();
                    }
                }
            }
        },
        |total| spin_sum(total, || rx.try_recv().ok()),
    )
}

/// The consumer loop shared by the peers: poll, back off when empty, sum.
fn spin_sum(total: u64, mut poll: impl FnMut() -> Option<u64>) -> u64 {
    let (mut n, mut sum, backoff) = (0, 0u64, Backoff::new());
    while n < total {
        match poll() {
            Some(x) => {
                sum += x;
                n += 1;
                backoff.reset();
            }
            None => backoff.snooze(),
        }
    }
    sum
}

fn array_queue(producers: usize, per: u64) -> f64 {
    let q = Arc::new(ArrayQueue::<u64>::new(CAPACITY));
    run(
        producers,
        per,
        |_| {
            let q = q.clone();
            move || {
                for i in 0..per {
                    let backoff = Backoff::new();
                    while q.push(i).is_err() {
                        backoff.snooze();
                    }
                }
            }
        },
        |total| spin_sum(total, || q.pop()),
    )
}

/// The disruptor's multi-producer sequencer with an event poller on the
/// consumer thread: one `try_publish` per item (`batch` 1) or
/// `try_batch_publish` of up to `batch` items (yielding when there is not
/// room for all, as the ringmpsc batch producer does), the poller reading
/// all that is published.
fn disruptor_mpsc(producers: usize, per: u64, batch: usize) -> f64 {
    use disruptor::{build_multi_producer, BusySpin, Producer};
    let (mut rx, builder) = build_multi_producer(CAPACITY, || 0u64, BusySpin).new_event_poller();
    let tx = builder.build();
    run(
        producers,
        per,
        |_| {
            let mut tx = tx.clone();
            move || {
                if batch == 1 {
                    for i in 0..per {
                        let backoff = Backoff::new();
                        while tx.try_publish(|e| *e = i).is_err() {
                            backoff.snooze();
                        }
                    }
                    return;
                }
                let mut next = 0u64;
                while next < per {
                    let want = ((per - next) as usize).min(batch);
                    let published = tx.try_batch_publish(want, |slots| {
                        for (k, e) in slots.enumerate() {
                            *e = next + k as u64;
                        }
                    });
                    if published.is_err() {
                        std::thread::yield_now();
                        continue;
                    }
                    next += want as u64;
                }
            }
        },
        |total| {
            let (mut n, mut sum, backoff) = (0, 0u64, Backoff::new());
            while n < total {
                match rx.poll() {
                    Ok(mut g) => {
                        for &x in &mut g {
                            sum += x;
                            n += 1;
                        }
                        backoff.reset();
                    }
                    Err(_) => backoff.snooze(),
                }
            }
            sum
        },
    )
}

fn std_mpsc(producers: usize, per: u64) -> f64 {
    let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(CAPACITY);
    run(
        producers,
        per,
        |_| {
            let tx = tx.clone();
            move || {
                for i in 0..per {
                    let backoff = Backoff::new();
                    while tx.try_send(i).is_err() {
                        backoff.snooze();
                    }
                }
            }
        },
        |total| spin_sum(total, || rx.try_recv().ok()),
    )
}

/// Nanoseconds per alloc + free on one thread.
fn pool_round_trip() -> f64 {
    let pool = BufferPool::new(4096, 256).unwrap();
    let n = 10_000_000u64;
    let t = Instant::now();
    for _ in 0..n {
        let h = pool.alloc().unwrap();
        pool.free(black_box(h)).unwrap();
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let per = args.first().copied().unwrap_or(2_000_000);
    let counts: Vec<usize> = if args.len() > 1 {
        args[1..].iter().map(|&c| c as usize).collect()
    } else {
        vec![1, 2, 4]
    };
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    println!("MPSC: {per} u64 items per producer, median of {RUNS} runs, {cpus} CPUs (producers + consumer may exceed them)\n");
    println!("| producers | ringmpsc single | ringmpsc batch {BATCH} | crossbeam-channel | ArrayQueue | std mpsc | disruptor single | disruptor batch {BATCH} | single / crossbeam | batch / crossbeam | single / disruptor single | batch / disruptor batch |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let m = |x: f64| format!("{:.1} M/s", x / 1e6);
    for p in counts {
        let (a, b, c, d, e, f, g) = (
            median(RUNS, || ringmpsc_single(p, per)),
            median(RUNS, || ringmpsc_batch(p, per)),
            median(RUNS, || crossbeam_channel(p, per)),
            median(RUNS, || array_queue(p, per)),
            median(RUNS, || std_mpsc(p, per)),
            median(RUNS, || disruptor_mpsc(p, per, 1)),
            median(RUNS, || disruptor_mpsc(p, per, BATCH)),
        );
        println!(
            "| {p} | {} | {} | {} | {} | {} | {} | {} | {:.1}x | {:.1}x | {:.2}x | {:.2}x |",
            m(a),
            m(b),
            m(c),
            m(d),
            m(e),
            m(f),
            m(g),
            a / c,
            b / c,
            a / f,
            b / g
        );
    }
    println!(
        "\nBuffer pool alloc + free round trip: {:.1} ns",
        pool_round_trip()
    );
}
