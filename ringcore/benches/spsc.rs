//! SPSC benchmark: ringcore against rtrb, crossbeam's ArrayQueue and the
//! disruptor crate (single-producer sequencer, event poller) in the same
//! run, the consumer reading every item.
//!
//! `cargo bench -p ringcore --bench spsc -- [items] [round_trips]`
//!
//! Workloads: single-item throughput, batch-of-256 throughput, and a
//! two-thread ping-pong round trip (p50/p99) against a bare atomic ping-pong
//! between the same two threads (the floor). Threads are pinned to CPUs 0 and 1.

#[allow(dead_code)]
#[path = "support/common.rs"]
mod common;
#[allow(dead_code)]
#[path = "support/pairs.rs"]
mod pairs;

use common::median;
use crossbeam_queue::ArrayQueue;
use pairs::{atomic_rtt, median_rtt, ping_pong, single, two_threads, Rtt, RUNS};
use ringcore::{Config, Ring};
use std::sync::Arc;
use std::thread;

const CAPACITY_BITS: u8 = 12;
const CAPACITY: usize = 1 << CAPACITY_BITS;
const BATCH: usize = 256;

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

/// The disruptor's single-producer sequencer with an event poller, so that
/// the consumer runs on the harness's pinned thread like every other peer:
/// one `try_publish` per item, one `take(1)` per item.
fn disruptor_single(items: u64) -> f64 {
    use disruptor::{build_single_producer, BusySpin, Producer};
    let (mut rx, builder) = build_single_producer(CAPACITY, || 0u64, BusySpin).new_event_poller();
    let mut tx = builder.build();
    single(
        items,
        move |i| tx.try_publish(|e| *e = i).is_ok(),
        move || rx.take(1).ok().and_then(|mut g| (&mut g).next().copied()),
    )
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

/// The disruptor's batch publication (waits for the whole batch to be free)
/// and batch poll of up to BATCH events.
fn disruptor_batch(items: u64) -> f64 {
    use disruptor::{build_single_producer, BusySpin, Producer};
    let (mut rx, builder) = build_single_producer(CAPACITY, || 0u64, BusySpin).new_event_poller();
    let mut tx = builder.build();
    two_threads(
        items,
        move || {
            let mut next = 0u64;
            while next < items {
                let want = (items - next).min(BATCH as u64) as usize;
                tx.batch_publish(want, |slots| {
                    for (i, e) in slots.enumerate() {
                        *e = next + i as u64;
                    }
                });
                next += want as u64;
            }
        },
        move || {
            let (mut sum, mut n) = (0u64, 0u64);
            while n < items {
                match rx.take(BATCH as u64) {
                    Ok(mut g) => {
                        for &v in &mut g {
                            sum += v;
                            n += 1;
                        }
                    }
                    Err(_) => std::hint::spin_loop(),
                }
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
    println!("| workload | ringcore | rtrb | ArrayQueue | disruptor | ringcore/rtrb | ringcore/ArrayQueue | ringcore/disruptor |");
    println!("|---|---|---|---|---|---|---|---|");
    let m = |x: f64| format!("{:.1} M/s", x / 1e6);
    let (a, b, c, d) = (
        median(RUNS, || ringcore_single(items)),
        median(RUNS, || rtrb_single(items)),
        median(RUNS, || arrayqueue_single(items)),
        median(RUNS, || disruptor_single(items)),
    );
    println!(
        "| single item | {} | {} | {} | {} | {:.2}x | {:.2}x | {:.2}x |",
        m(a),
        m(b),
        m(c),
        m(d),
        a / b,
        a / c,
        a / d
    );
    let (a, b, c, d) = (
        median(RUNS, || ringcore_batch(items)),
        median(RUNS, || rtrb_batch(items)),
        median(RUNS, || arrayqueue_batch(items)),
        median(RUNS, || disruptor_batch(items)),
    );
    println!(
        "| batch of {BATCH} | {} | {} (chunk API) | {} (item by item) | {} (batch publish) | {:.2}x | {:.2}x | {:.2}x |",
        m(a),
        m(b),
        m(c),
        m(d),
        a / b,
        a / c,
        a / d
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
