//! SPSC throughput: ringcore against rtrb, crossbeam's ArrayQueue and the
//! disruptor crate (single-producer sequencer, event poller), the consumer
//! reading every item, as criterion benches in elements per second. Group
//! `spsc_single` sends and receives item by item; `spsc_batch256` moves
//! batches of up to 256 through each queue's own batch API (ArrayQueue,
//! which has none, item by item). The producer runs on CPU 0 and the
//! consumer, which times the run, on CPU 1. The round-trip latencies are
//! in the `latency` bench.
//!
//! `cargo bench -p ringcore --bench spsc [-- FILTER]`; add
//! `-- --save-baseline NAME` to keep a run and `-- --baseline NAME` to
//! compare with it. Results: target/criterion/<group>/<function>/.

// criterion_group! makes an undocumented `pub fn`.
#![allow(missing_docs)]

#[allow(dead_code)]
#[path = "support/common.rs"]
mod common;
#[path = "support/pairs.rs"]
mod pairs;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use pairs::{batches, ring_batch, ring_single, single, two_threads, BATCH, CAPACITY_BITS};
use std::sync::Arc;
use std::time::Duration;

const CAPACITY: usize = 1 << CAPACITY_BITS;

fn rtrb_single(items: u64) -> Duration {
    let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAPACITY);
    single(items, move |i| tx.push(i).is_ok(), move || rx.pop().ok())
}

fn arrayqueue_single(items: u64) -> Duration {
    let q = Arc::new(ArrayQueue::<u64>::new(CAPACITY));
    let q2 = q.clone();
    single(items, move |i| q.push(i).is_ok(), move || q2.pop())
}

/// The disruptor's single-producer sequencer with an event poller, so that
/// the consumer runs on the harness's pinned thread like every other peer:
/// one `try_publish` per item, one `take(1)` per item.
fn disruptor_single(items: u64) -> Duration {
    use disruptor::{build_single_producer, BusySpin, Producer};
    let (mut rx, builder) = build_single_producer(CAPACITY, || 0u64, BusySpin).new_event_poller();
    let mut tx = builder.build();
    single(
        items,
        move |i| tx.try_publish(|e| *e = i).is_ok(),
        move || rx.take(1).ok().and_then(|mut g| (&mut g).next().copied()),
    )
}

fn rtrb_batch(items: u64) -> Duration {
    let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAPACITY);
    batches(
        items,
        move |next, want| {
            // The chunk API wants the whole request free: ask for what is.
            match want.min(tx.slots()) {
                0 => 0,
                want => tx.write_chunk_uninit(want).unwrap().fill_from_iter(next..),
            }
        },
        move |sum| {
            let k = rx.slots().min(BATCH);
            if k == 0 {
                return 0;
            }
            let chunk = rx.read_chunk(k).unwrap();
            let (a, b) = chunk.as_slices();
            for &v in a.iter().chain(b) {
                *sum += v;
            }
            chunk.commit_all();
            k
        },
    )
}

/// The disruptor's batch publication (waits for the whole batch to be free)
/// and batch poll of up to BATCH events.
fn disruptor_batch(items: u64) -> Duration {
    use disruptor::{build_single_producer, BusySpin, Producer};
    let (mut rx, builder) = build_single_producer(CAPACITY, || 0u64, BusySpin).new_event_poller();
    let mut tx = builder.build();
    batches(
        items,
        move |next, want| {
            tx.batch_publish(want, |slots| {
                for (i, e) in slots.enumerate() {
                    *e = next + i as u64;
                }
            });
            want
        },
        move |sum| match rx.take(BATCH as u64) {
            Ok(mut g) => {
                let mut k = 0;
                for &v in &mut g {
                    *sum += v;
                    k += 1;
                }
                k
            }
            Err(_) => 0,
        },
    )
}

/// ArrayQueue has no batch API: up to BATCH pushes, then up to BATCH pops.
fn arrayqueue_batch(items: u64) -> Duration {
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

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("spsc_single");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ringcore", |b| b.iter_custom(ring_single));
    g.bench_function("rtrb", |b| b.iter_custom(rtrb_single));
    g.bench_function("ArrayQueue", |b| b.iter_custom(arrayqueue_single));
    g.bench_function("disruptor", |b| b.iter_custom(disruptor_single));
    g.finish();
    let mut g = c.benchmark_group(format!("spsc_batch{BATCH}"));
    g.throughput(Throughput::Elements(1));
    g.bench_function("ringcore", |b| b.iter_custom(ring_batch));
    g.bench_function("rtrb", |b| b.iter_custom(rtrb_batch));
    g.bench_function("ArrayQueue", |b| b.iter_custom(arrayqueue_batch));
    g.bench_function("disruptor", |b| b.iter_custom(disruptor_batch));
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion_config();
    targets = bench
}
criterion_main!(benches);
