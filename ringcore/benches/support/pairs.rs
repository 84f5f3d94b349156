//! Two pinned threads driving a queue for throughput, shared by the
//! criterion benches that compare SPSC queues (spsc, c_api).

use super::common::pin;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

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

/// Single-item throughput through any queue given as push/pop closures.
pub fn single<P, C>(items: u64, mut push: P, mut pop: C) -> Duration
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
