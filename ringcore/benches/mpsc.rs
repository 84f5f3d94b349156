//! MPSC throughput against crossbeam-channel, crossbeam's ArrayQueue,
//! std::sync::mpsc and the disruptor crate's multi-producer sequencer, the
//! consumer reading every item, as criterion benches in elements per second
//! for 1, 2, 4 and 8 producers (the items split evenly between them):
//! groups `mpsc_single` (item by item) and `mpsc_batch256` (ringmpsc's
//! reserve/commit and the disruptor's batch publication of up to 256);
//! and group `pool`, the buffer pool's alloc + free round trip on one
//! thread. Every queue is driven the same way: non-blocking sends and
//! receives with the same spin-then-yield backoff when full or empty (this
//! measures the data structures, not the scheduler). The single-item
//! groups run ringmpsc twice: `ringmpsc` receives item by item
//! (`try_recv`) as the peers do, `ringmpsc consume_all` every readable
//! item in one call. Group
//! `mpsc_single_paced` is `mpsc_single` with every consumer waiting by
//! `WaitStrategy::Paced`: finding nothing, it spins about a microsecond
//! before it polls again, so that items build up rather than each poll
//! taking the lines the producer is writing. The consumer, which times the
//! run, is pinned to CPU 0 and the producers to CPUs 1, 2, ... in
//! turn (all on CPU 1 of a 2-CPU machine); `RINGMPSC_BENCH_UNPINNED=1`
//! leaves every thread where the scheduler puts it (the same groups,
//! named with `_unpinned`).
//!
//! `cargo bench -p ringcore --bench mpsc [-- FILTER]`, e.g.
//! `-- mpsc_single/ringmpsc`; add `-- --save-baseline NAME` to keep a run
//! and `-- --baseline NAME` to compare with it. Results:
//! target/criterion/<group>/<function>/<producers>/. With
//! `RINGMPSC_BENCH_ROUNDS=N`, N paired rounds instead (support/groups.rs).

#[allow(dead_code)]
#[path = "support/common.rs"]
mod common;
#[path = "support/fan_in.rs"]
mod fan_in;
#[path = "support/groups.rs"]
mod groups;
#[path = "support/pingpong.rs"]
mod pingpong;

use crossbeam_queue::ArrayQueue;
use fan_in::{fan_in, idle, PINNED};
use groups::Group;
use ringcore::channel::mpsc;
use ringcore::{Backoff, BufferPool, Config, WaitStrategy, Waiter};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CAPACITY: usize = 4096;
const BATCH: usize = 256;
const PRODUCERS: [usize; 4] = [1, 2, 4, 8];

/// Registered producers, each taken by its thread.
type Producers = std::sync::Mutex<Vec<Option<mpsc::Registered<ringcore::Producer<u64>>>>>;

/// A ringmpsc channel with `producers` registered producers.
fn channel(producers: usize) -> (mpsc::Channel<u64>, Producers) {
    let ch = mpsc::Channel::<u64>::new(Config::with_ring_bits(12)).unwrap();
    let regs = (0..producers)
        .map(|_| Some(ch.register().unwrap()))
        .collect();
    (ch, std::sync::Mutex::new(regs))
}

/// The consumers' wait when a poll finds nothing in most groups: the
/// spin-then-yield backoff, so a consumer that keeps up polls again within
/// nanoseconds.
const SNOOZE: WaitStrategy = WaitStrategy::Yielding;
/// The consumers' wait in group `mpsc_single_paced`.
const PACED: WaitStrategy = WaitStrategy::Paced {
    pause: Duration::from_micros(1),
};

/// The ringmpsc consumer: reads `total` items in batches; their sum.
fn drain(ch: &mut mpsc::Channel<u64>, total: u64, strategy: WaitStrategy) -> u64 {
    let (mut n, mut sum) = (0, 0u64);
    let mut wait = Waiter::new(strategy);
    while n < total {
        match ch.consume_all(|&x| sum += x) {
            0 => idle(&mut wait),
            k => {
                n += k as u64;
                wait.reset();
            }
        }
    }
    sum
}

/// ringmpsc item by item: `send_one`, and the consumer's `try_recv` as
/// the peers' (`batched`: `consume_all`, every item readable in one call).
fn ringmpsc_single(
    producers: usize,
    items: u64,
    strategy: WaitStrategy,
    batched: bool,
) -> Duration {
    let (mut ch, regs) = channel(producers);
    fan_in(
        producers,
        items,
        |p, per| {
            let mut tx = regs.lock().unwrap()[p as usize].take().unwrap();
            move || send_each(per, |i| tx.send_one(i).is_ok())
        },
        |total| {
            if batched {
                drain(&mut ch, total, strategy)
            } else {
                poll_sum(total, strategy, || ch.try_recv().ok())
            }
        },
    )
}

fn ringmpsc_batch(producers: usize, items: u64) -> Duration {
    let (mut ch, regs) = channel(producers);
    fan_in(
        producers,
        items,
        |p, per| {
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
        |total| drain(&mut ch, total, SNOOZE),
    )
}

fn crossbeam_channel(producers: usize, items: u64, strategy: WaitStrategy) -> Duration {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(CAPACITY);
    fan_in(
        producers,
        items,
        |_, per| {
            let tx = tx.clone();
            move || send_each(per, |i| tx.try_send(i).is_ok())
        },
        |total| poll_sum(total, strategy, || rx.try_recv().ok()),
    )
}

/// The single-item producer loop shared by the peers: sends 0..per, each
/// by `send` (false: full), with the same backoff while full.
fn send_each(per: u64, mut send: impl FnMut(u64) -> bool) {
    for i in 0..per {
        let backoff = Backoff::new();
        while !send(i) {
            backoff.snooze();
        }
    }
}

/// The consumer loop shared by the peers: poll, wait by `strategy` when
/// empty, sum.
fn poll_sum(total: u64, strategy: WaitStrategy, mut poll: impl FnMut() -> Option<u64>) -> u64 {
    let (mut n, mut sum, mut wait) = (0, 0u64, Waiter::new(strategy));
    while n < total {
        match poll() {
            Some(x) => {
                sum += x;
                n += 1;
                wait.reset();
            }
            None => idle(&mut wait),
        }
    }
    sum
}

fn array_queue(producers: usize, items: u64, strategy: WaitStrategy) -> Duration {
    let q = Arc::new(ArrayQueue::<u64>::new(CAPACITY));
    fan_in(
        producers,
        items,
        |_, per| {
            let q = q.clone();
            move || send_each(per, |i| q.push(i).is_ok())
        },
        |total| poll_sum(total, strategy, || q.pop()),
    )
}

/// The disruptor's multi-producer sequencer with an event poller on the
/// consumer thread: one `try_publish` per item (`batch` 1) or
/// `try_batch_publish` of up to `batch` items (yielding when there is not
/// room for all, as the ringmpsc batch producer does), the poller reading
/// all that is published.
fn disruptor_mpsc(producers: usize, items: u64, batch: usize, strategy: WaitStrategy) -> Duration {
    use disruptor::{build_multi_producer, BusySpin, Producer};
    let (mut rx, builder) = build_multi_producer(CAPACITY, || 0u64, BusySpin).new_event_poller();
    let tx = builder.build();
    fan_in(
        producers,
        items,
        |_, per| {
            let mut tx = tx.clone();
            move || {
                if batch == 1 {
                    send_each(per, |i| tx.try_publish(|e| *e = i).is_ok());
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
            let (mut n, mut sum, mut wait) = (0, 0u64, Waiter::new(strategy));
            while n < total {
                match rx.poll() {
                    Ok(mut g) => {
                        for &x in &mut g {
                            sum += x;
                            n += 1;
                        }
                        wait.reset();
                    }
                    Err(_) => idle(&mut wait),
                }
            }
            sum
        },
    )
}

fn std_mpsc(producers: usize, items: u64, strategy: WaitStrategy) -> Duration {
    let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(CAPACITY);
    fan_in(
        producers,
        items,
        |_, per| {
            let tx = tx.clone();
            move || send_each(per, |i| tx.try_send(i).is_ok())
        },
        |total| poll_sum(total, strategy, || rx.try_recv().ok()),
    )
}

/// A group's name, marked when the run is unpinned so that both kinds of
/// run keep their own results.
fn group_name(name: &str) -> String {
    if *PINNED {
        name.to_string()
    } else {
        format!("{name}_unpinned")
    }
}

/// The single-item group whose consumers wait by `strategy`.
fn single_group(name: &str, strategy: WaitStrategy) -> Group {
    Group::new(group_name(name), "ringmpsc", 8 << 20)
        .cases(&PRODUCERS)
        .peer("ringmpsc", move |p, n| {
            ringmpsc_single(p, n, strategy, false)
        })
        .peer("ringmpsc consume_all", move |p, n| {
            ringmpsc_single(p, n, strategy, true)
        })
        .peer("crossbeam-channel", move |p, n| {
            crossbeam_channel(p, n, strategy)
        })
        .peer("ArrayQueue", move |p, n| array_queue(p, n, strategy))
        .peer("std-mpsc", move |p, n| std_mpsc(p, n, strategy))
        .peer("disruptor", move |p, n| disruptor_mpsc(p, n, 1, strategy))
}

fn main() {
    let pool = BufferPool::new(4096, 256).unwrap();
    groups::main(vec![
        single_group("mpsc_single", SNOOZE),
        single_group("mpsc_single_paced", PACED),
        Group::new(
            group_name(&format!("mpsc_batch{BATCH}")),
            "ringmpsc",
            32 << 20,
        )
        .cases(&PRODUCERS)
        .peer("ringmpsc", ringmpsc_batch)
        .peer("disruptor", |p, n| disruptor_mpsc(p, n, BATCH, SNOOZE)),
        // An alloc + free round trip on one thread.
        Group::new("pool", "alloc_free", 32 << 20).peer("alloc_free", move |_, items| {
            let t = Instant::now();
            for _ in 0..items {
                let h = pool.alloc().unwrap();
                pool.free(black_box(h)).unwrap();
            }
            t.elapsed()
        }),
    ]);
}
