//! Round trips between two threads pinned to CPUs 0 and 1, and the
//! core-to-core probe made of them: a bare atomic word per direction.

use crate::common::{pin, Latencies, Percentiles};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

/// Ping-pong: thread A pushes i and spins for its echo; thread B echoes.
/// `make` gives one direction's (push, pop); the first tenth is warm-up.
pub fn ping_pong<P, C>(rtts: usize, make: impl Fn() -> (P, C)) -> Percentiles
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
        let mut ns = Latencies::default();
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
                ns.record(t.elapsed().as_nanos() as u64);
            }
        }
        ns.quantiles()
    });
    let r = ping.join().unwrap();
    echo.join().unwrap();
    r
}

/// The floor: one atomic word per direction, each on its own line pair.
pub fn atomic_rtt(rtts: usize) -> Percentiles {
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
