//! Two pinned threads driving a queue for throughput, shared by the
//! criterion benches that compare SPSC queues (spsc, c_api).

use super::common::pin;
use ringcore::{Config, Ring};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// Ring capacity of the SPSC throughput benches: 4096 slots.
pub const CAPACITY_BITS: u8 = 12;
/// Items per batch in the batch workloads.
pub const BATCH: usize = 256;

/// Runs `producer` and `consumer` on two pinned threads; returns the time
/// the consumer took to read all `items` (what criterion's `iter_custom`
/// wants). The consumer returns the sum of what it read, which must be
/// 0+1+..+items-1.
pub fn two_threads(
    items: u64,
    producer: impl FnOnce() + Send + 'static,
    consumer: impl FnOnce() -> u64 + Send + 'static,
) -> Duration {
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
    elapsed
}

/// Single-item throughput through any queue given as push/pop closures,
/// the consumer doing `work` steps of [`work`] on each item it takes (0:
/// none, polling again at once).
pub fn single<P, C>(items: u64, work: u32, push: P, mut pop: C) -> Duration
where
    P: FnMut(u64) -> bool + Send + 'static,
    C: FnMut() -> Option<u64> + Send + 'static,
{
    single_in(items, push, move |sum: &mut u64| match pop() {
        Some(v) => {
            *sum += v;
            self::work(work);
            1
        }
        None => 0,
    })
}

/// Items sent one by one by `push` (false: full, spin and retry), read by
/// `read`, which adds what it takes to the sum it is given and returns how
/// many it took (0: empty, spin and poll again).
pub fn single_in<P, R>(items: u64, mut push: P, mut read: R) -> Duration
where
    P: FnMut(u64) -> bool + Send + 'static,
    R: FnMut(&mut u64) -> usize + Send + 'static,
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
                match read(&mut sum) {
                    0 => std::hint::spin_loop(),
                    k => n += k as u64,
                }
            }
            sum
        },
    )
}

/// Steps of an empty loop the compiler keeps: a consumer's work on an
/// item in the groups that give it some.
#[inline(always)]
pub fn work(steps: u32) {
    for step in 0..steps {
        std::hint::black_box(step);
    }
}

/// `Ring<u64>` item by item (`send_one` / `try_recv`), the consumer doing
/// `work` steps on each item.
pub fn ring_single(work: u32, items: u64) -> Duration {
    let (mut tx, mut rx) = Ring::<u64>::new(Config::with_ring_bits(CAPACITY_BITS)).unwrap();
    single(
        items,
        work,
        move |i| tx.send_one(i).is_ok(),
        move || rx.try_recv().ok(),
    )
}

/// Batch throughput through any queue: the producer writes 0, 1, .. in
/// batches of up to [`BATCH`] by `write(next, want)`, which returns how
/// many it wrote from `next` (0: full); the consumer adds what it reads to
/// the sum it is given by `read`, which returns how many (0: empty).
pub fn batches<W, R>(items: u64, mut write: W, mut read: R) -> Duration
where
    W: FnMut(u64, usize) -> usize + Send + 'static,
    R: FnMut(&mut u64) -> usize + Send + 'static,
{
    two_threads(
        items,
        move || {
            let mut next = 0u64;
            while next < items {
                let want = (items - next).min(BATCH as u64) as usize;
                match write(next, want) {
                    0 => std::hint::spin_loop(),
                    k => next += k as u64,
                }
            }
        },
        move || {
            let (mut sum, mut n) = (0u64, 0u64);
            while n < items {
                match read(&mut sum) {
                    0 => std::hint::spin_loop(),
                    k => n += k as u64,
                }
            }
            sum
        },
    )
}

/// `Ring<u64>` in batches of up to [`BATCH`] (`reserve` / `commit_n`,
/// `consume_up_to`).
pub fn ring_batch(items: u64) -> Duration {
    let (mut tx, mut rx) = Ring::<u64>::new(Config::with_ring_bits(CAPACITY_BITS)).unwrap();
    batches(
        items,
        move |next, want| match tx.reserve(want) {
            Ok(mut r) => {
                let slots = r.as_mut_slice();
                for (i, s) in slots.iter_mut().enumerate() {
                    *s = next + i as u64;
                }
                let k = slots.len();
                r.commit_n(k);
                k
            }
            Err(_) => 0,
        },
        move |sum| rx.consume_up_to(BATCH, |&v| *sum += v),
    )
}
