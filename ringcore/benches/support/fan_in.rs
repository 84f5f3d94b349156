//! Many producers and one consumer on threads placed as the MPSC benches
//! place them: the consumer, which times the run, on CPU 0 and producer `p`
//! on CPU 1 + p (shared once the CPUs run out), or wherever the scheduler
//! puts them with `RINGMPSC_BENCH_UNPINNED=1`; and the consumer's wait when
//! a poll found nothing. Shared by the mpsc and c_api benches.

use super::common::{online_cpus, pin};
use ringcore::Waiter;
use std::sync::{Arc, Barrier, LazyLock};
use std::thread;
use std::time::{Duration, Instant};

/// Whether threads are pinned: yes unless `RINGMPSC_BENCH_UNPINNED=1`
/// (an environment variable, as criterion owns the command line).
pub static PINNED: LazyLock<bool> =
    LazyLock::new(|| std::env::var("RINGMPSC_BENCH_UNPINNED").as_deref() != Ok("1"));

/// Pins the calling thread to `cpu` unless the run is unpinned.
fn place(cpu: usize) {
    if *PINNED {
        pin(cpu);
    }
}

/// The CPU of producer `p`: its own one after the consumer's while there
/// are enough, else shared.
fn producer_cpu(p: u64) -> usize {
    1 + p as usize % (online_cpus() - 1).max(1)
}

/// Runs one consumer and `producers` producers, producer `p` sending
/// 0, 1, .. for its even share of `items`; returns the time the consumer
/// took to read them all, after checking the sum of what it read.
pub fn fan_in<P, C>(
    producers: usize,
    items: u64,
    make_producer: impl Fn(u64, u64) -> P,
    consumer: C,
) -> Duration
where
    P: FnOnce() + Send + 'static,
    C: FnOnce(u64) -> u64,
{
    let n = producers as u64;
    let share = |p: u64| items / n + u64::from(p < items % n);
    let start = Arc::new(Barrier::new(producers + 1));
    let handles: Vec<_> = (0..n)
        .map(|p| {
            let f = make_producer(p, share(p));
            let s = start.clone();
            thread::spawn(move || {
                place(producer_cpu(p));
                s.wait();
                f();
            })
        })
        .collect();
    place(0);
    start.wait();
    let t = Instant::now();
    let sum = consumer(items);
    let elapsed = t.elapsed();
    for h in handles {
        h.join().unwrap();
    }
    let expected: u64 = (0..n)
        .map(|p| share(p) * share(p).saturating_sub(1) / 2)
        .sum();
    assert_eq!(sum, expected, "consumer missed items");
    elapsed
}

/// A consumer's wait after a poll that found nothing: the strategy's next
/// step, yielding where it would block (the peers have nothing to block on).
pub fn idle(waiter: &mut Waiter) {
    waiter
        .wait_with(|_| thread::yield_now())
        .expect("a strategy without a deadline");
}
