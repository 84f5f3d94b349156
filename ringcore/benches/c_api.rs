//! The C API against the Rust API: the SPSC throughput workloads of the
//! `spsc` bench through `Ring<u64>` (function `rust`), through
//! `libringmpsc.so`'s `rmpsc_ring_*` functions (function `c`), loaded with
//! `dlopen` so that every C call is what a C program makes: an indirect
//! call into the shared library, and through a lease (function `c_lease`):
//! the inline functions of `ringmpsc_lease.h` in loops compiled as C
//! (`support/lease_loops.c`). Throughput in elements per second:
//! groups `c_api_single` (item by item) and `c_api_batch256` (reserve /
//! commit and peek / advance of up to 256). The producer runs on CPU 0 and
//! the consumer, which times the run, on CPU 1. Group `c_api_mpsc` has 1,
//! 2 and 4 producers send item by item into an MPSC channel
//! (`mpsc::Channel<u64>`; `rmpsc_mpsc_*` through `rmpsc_ring_try_send`;
//! the same through a lease), read by one consumer in copies of up to 4096
//! (`recv`, `rmpsc_mpsc_recv`) that waits by `WaitStrategy::Paced` (about
//! 1 us) after a read that found nothing; its threads are placed as in the
//! mpsc bench (`support/fan_in.rs`). The round trips of the
//! calls are in the `latency` bench.
//!
//! `make bench-c` (builds the library first), or
//! `cargo bench -p ringcore --bench c_api [-- FILTER]` after `make lib`
//! (`RINGMPSC_BENCH_LIB` names another library, with `liblease_loops.so`
//! beside it); add `-- --save-baseline NAME` to keep a run and
//! `-- --baseline NAME` to compare with it. Results:
//! target/criterion/<group>/<function>/. With `RINGMPSC_BENCH_ROUNDS=N`,
//! N paired rounds instead (support/groups.rs).

#[path = "support/c_ring.rs"]
mod c_ring;
#[allow(dead_code)]
#[path = "support/common.rs"]
mod common;
#[allow(dead_code)]
#[path = "support/fan_in.rs"]
mod fan_in;
#[allow(dead_code)]
#[path = "support/groups.rs"]
mod groups;
#[path = "support/pairs.rs"]
mod pairs;
#[path = "support/pingpong.rs"]
mod pingpong;

use c_ring::{CApi, OK};
use fan_in::{fan_in, idle};
use groups::Group;
use pairs::{batches, ring_batch, ring_single, single, two_threads, BATCH, CAPACITY_BITS};
use ringcore::channel::mpsc;
use ringcore::{Config, WaitStrategy, Waiter};
use std::ffi::c_void;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn c_single(api: &CApi, items: u64) -> Duration {
    let ring = Arc::new(api.ring(CAPACITY_BITS));
    let r2 = ring.clone();
    single(items, 0, move |i| ring.send_one(i), move || r2.try_recv())
}

/// A workload through a lease as a C program runs it: `produce` and
/// `consume` are its two loops from `lease_loops.c`.
fn c_lease(
    api: &CApi,
    items: u64,
    produce: extern "C" fn(*mut c_void, u64),
    consume: extern "C" fn(*mut c_void, u64) -> u64,
) -> Duration {
    let ring = Arc::new(api.ring(CAPACITY_BITS));
    let (r1, r2) = (ring.clone(), ring);
    two_threads(
        items,
        move || produce(r1.ring, items),
        move || consume(r2.ring, items),
    )
}

/// The C batch workload as `examples-c/bench_ring.c` writes it.
fn c_batch(api: &CApi, items: u64) -> Duration {
    let ring = Arc::new(api.ring(CAPACITY_BITS));
    let r2 = ring.clone();
    batches(
        items,
        move |next, want| {
            let (mut slots, mut n) = (std::ptr::null_mut(), 0usize);
            if (ring.api.reserve)(ring.ring, want, &mut slots, &mut n) != OK {
                return 0;
            }
            // SAFETY: the library handed out `n` writable u64 slots.
            let s = unsafe { std::slice::from_raw_parts_mut(slots.cast::<u64>(), n) };
            for (i, v) in s.iter_mut().enumerate() {
                *v = next + i as u64;
            }
            assert_eq!((ring.api.commit)(ring.ring, n), OK);
            n
        },
        move |sum| {
            let (mut slots, mut k) = (std::ptr::null(), 0usize);
            if (r2.api.peek)(r2.ring, &mut slots, &mut k) != OK {
                return 0;
            }
            let k = k.min(BATCH);
            // SAFETY: the library handed out at least `k` readable u64 slots.
            let s = unsafe { std::slice::from_raw_parts(slots.cast::<u64>(), k) };
            *sum += s.iter().sum::<u64>();
            assert_eq!((r2.api.advance)(r2.ring, k), OK);
            k
        },
    )
}

/// Producer counts of group `c_api_mpsc`.
const PRODUCERS: [usize; 3] = [1, 2, 4];

/// Reads `items` by `recv` (copies into a buffer, returning the count),
/// waiting by `WaitStrategy::Paced` after a read that found nothing; their
/// sum.
fn paced_reads(items: u64, mut recv: impl FnMut(&mut [u64]) -> usize) -> u64 {
    let mut buf = vec![0u64; 4096];
    let (mut n, mut sum) = (0u64, 0u64);
    let mut waiter = Waiter::new(WaitStrategy::Paced {
        pause: Duration::from_micros(1),
    });
    while n < items {
        match recv(&mut buf) {
            0 => idle(&mut waiter),
            k => {
                sum += buf[..k].iter().sum::<u64>();
                n += k as u64;
                waiter.reset();
            }
        }
    }
    sum
}

fn rust_mpsc(producers: usize, items: u64) -> Duration {
    let mut ch = mpsc::Channel::<u64>::new(Config::with_ring_bits(CAPACITY_BITS)).unwrap();
    let regs = Mutex::new(
        (0..producers)
            .map(|_| Some(ch.register().unwrap()))
            .collect::<Vec<_>>(),
    );
    fan_in(
        producers,
        items,
        |p, share| {
            let mut tx = regs.lock().unwrap()[p as usize].take().unwrap();
            move || {
                for i in 0..share {
                    while tx.send_one(i).is_err() {
                        std::hint::spin_loop();
                    }
                }
            }
        },
        |total| paced_reads(total, |buf| ch.recv(buf)),
    )
}

/// Producers of a C MPSC channel, each running `produce(ring, share)` on
/// its ring handle.
fn c_mpsc(
    api: &CApi,
    producers: usize,
    items: u64,
    produce: impl Fn(&c_ring::CRing, u64) + Copy + Send + 'static,
) -> Duration {
    let ch = api.mpsc(CAPACITY_BITS);
    let rings = Mutex::new(
        (0..producers)
            .map(|_| Some(ch.producer()))
            .collect::<Vec<_>>(),
    );
    fan_in(
        producers,
        items,
        |p, share| {
            let ring = rings.lock().unwrap()[p as usize].take().unwrap();
            move || produce(&ring, share)
        },
        |total| paced_reads(total, |buf| ch.recv(buf)),
    )
}

fn main() {
    // Loaded once for the whole run, by every peer.
    let api: &'static CApi = Box::leak(Box::new(CApi::load()));
    let mut single = Group::new("c_api_single", "c_lease", 8 << 20)
        .peer("rust", |_, items| ring_single(0, items))
        .peer("c", |_, items| c_single(api, items));
    let mut batch = Group::new(format!("c_api_batch{BATCH}"), "c_lease", 32 << 20)
        .peer("rust", |_, items| ring_batch(items))
        .peer("c", |_, items| c_batch(api, items));
    let mut channel = Group::new("c_api_mpsc", "c_lease", 8 << 20)
        .cases(&PRODUCERS)
        .peer("rust", rust_mpsc)
        .peer("c", |producers, items| {
            c_mpsc(api, producers, items, |ring, share| {
                for i in 0..share {
                    while !ring.send_one(i) {
                        std::hint::spin_loop();
                    }
                }
            })
        });
    if let Some(l) = api.lease {
        single = single.peer("c_lease", move |_, items| {
            c_lease(api, items, l.single_produce, l.single_consume)
        });
        batch = batch.peer("c_lease", move |_, items| {
            c_lease(api, items, l.batch_produce, l.batch_consume)
        });
        channel = channel.peer("c_lease", move |producers, items| {
            c_mpsc(api, producers, items, move |ring, share| {
                (l.single_produce)(ring.ring, share)
            })
        });
    }
    groups::main(vec![single, batch, channel]);
}
