//! SPSC throughput: ringcore against rtrb, crossbeam's ArrayQueue and the
//! disruptor crate (single-producer sequencer, event poller), the consumer
//! reading every item, as criterion benches in elements per second. Group
//! `spsc_single` sends and receives item by item; `spsc_single_work` too,
//! with the consumer spending 4, 16 or 64 steps of an empty loop on each
//! item (the case), so that it is the slower side and the ring fills up.
//! Both groups also run a consumer that takes all that is readable at each
//! look and hands the slots back once per batch (`ringcore consume_batch`,
//! `rtrb read_chunk`), the producer still sending item by item;
//! `spsc_batch256` moves batches of up to 256 through each
//! queue's own batch API (ArrayQueue, which has none, item by item),
//! beside a bare ring that only moves the items (`bare ring`). The
//! producer runs on CPU 0 and the consumer, which times the run, on CPU 1.
//! The round-trip latencies are in the `latency` bench.
//!
//! `cargo bench -p ringcore --bench spsc [-- FILTER]`; add
//! `-- --save-baseline NAME` to keep a run and `-- --baseline NAME` to
//! compare with it. Results: target/criterion/<group>/<function>/. With
//! `RINGMPSC_BENCH_ROUNDS=N`, N paired rounds instead (support/groups.rs).

#[allow(dead_code)]
#[path = "support/common.rs"]
mod common;
#[allow(dead_code)]
#[path = "support/groups.rs"]
mod groups;
#[path = "support/pairs.rs"]
mod pairs;
#[path = "support/pingpong.rs"]
mod pingpong;

use crossbeam_queue::ArrayQueue;
use groups::Group;
use pairs::{batches, ring_batch, ring_single, single, two_threads, BATCH, CAPACITY_BITS};
use ringcore::{Config, Ring};
use std::sync::Arc;
use std::time::Duration;

const CAPACITY: usize = 1 << CAPACITY_BITS;
/// The consumer's work per item in group `spsc_single_work`, in steps of
/// an empty loop (`pairs::work`).
const WORK: [usize; 3] = [4, 16, 64];

fn rtrb_single(work: u32, items: u64) -> Duration {
    let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAPACITY);
    single(
        items,
        work,
        move |i| tx.push(i).is_ok(),
        move || rx.pop().ok(),
    )
}

/// `Ring<u64>` sent item by item (`send_one`), the consumer taking all
/// that is readable at each look (`consume_batch`, handing the slots back
/// once per batch) and doing `work` steps on each item.
fn ring_consume_batch(work: u32, items: u64) -> Duration {
    let (mut tx, mut rx) = Ring::<u64>::new(Config::with_ring_bits(CAPACITY_BITS)).unwrap();
    pairs::single_in(
        items,
        move |i| tx.send_one(i).is_ok(),
        move |sum| {
            rx.consume_batch(|&v| {
                *sum += v;
                pairs::work(work);
            })
        },
    )
}

/// rtrb sent item by item (`push`), the consumer taking all that is
/// readable at each look (`read_chunk`, handing the slots back once per
/// chunk) and doing `work` steps on each item.
fn rtrb_read_chunk(work: u32, items: u64) -> Duration {
    let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAPACITY);
    pairs::single_in(
        items,
        move |i| tx.push(i).is_ok(),
        move |sum| {
            let Ok(chunk) = rx.read_chunk(rx.slots()) else {
                return 0;
            };
            let k = chunk.len();
            for v in chunk {
                *sum += v;
                pairs::work(work);
            }
            k
        },
    )
}

fn arrayqueue_single(work: u32, items: u64) -> Duration {
    let q = Arc::new(ArrayQueue::<u64>::new(CAPACITY));
    let q2 = q.clone();
    single(items, work, move |i| q.push(i).is_ok(), move || q2.pop())
}

/// The disruptor's single-producer sequencer with an event poller, so that
/// the consumer runs on the harness's pinned thread like every other peer:
/// one `try_publish` per item, one `take(1)` per item.
fn disruptor_single(work: u32, items: u64) -> Duration {
    use disruptor::{build_single_producer, BusySpin, Producer};
    let (mut rx, builder) = build_single_producer(CAPACITY, || 0u64, BusySpin).new_event_poller();
    let mut tx = builder.build();
    single(
        items,
        work,
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

/// A bare ring of `u64` with none of a queue's work (no checks, no
/// wake-ups, no closing), in batches of up to [`BATCH`]: each side keeps
/// the other's index cached, reads it again only when its cache leaves no
/// room for the whole batch (the producer) or nothing to read (the
/// consumer), moves the items as the two contiguous runs before and after
/// the wrap (loops the compiler vectorizes), and publishes its own index
/// once per batch that moved items. Each index has a line pair of its own.
/// What moving the items between the two CPUs costs, with nothing else.
fn bare_batch(items: u64) -> Duration {
    use std::cell::UnsafeCell;
    use std::sync::atomic::{AtomicU64, Ordering};
    #[repr(align(128))]
    struct Index(AtomicU64);
    struct Bare {
        slots: Box<[UnsafeCell<u64>]>,
        tail: Index,
        head: Index,
    }
    impl Bare {
        /// The runs of `k` slots from position `at`: up to the end of the
        /// array, then from its start.
        fn runs(&self, at: u64, k: u64) -> [(*mut u64, usize); 2] {
            let index = (at % CAPACITY as u64) as usize;
            let first = (k as usize).min(CAPACITY - index);
            let base = UnsafeCell::raw_get(self.slots.as_ptr());
            // SAFETY: `index < CAPACITY`, so the pointer is within the array.
            let from = unsafe { base.add(index) };
            [(from, first), (base, k as usize - first)]
        }
    }
    // SAFETY: a slot is written by the producer only while it is free and
    // read by the consumer only once published, the indices ordering the
    // two (Release stores, Acquire loads).
    unsafe impl Sync for Bare {}
    let ring = Arc::new(Bare {
        slots: (0..CAPACITY).map(|_| UnsafeCell::new(0)).collect(),
        tail: Index(AtomicU64::new(0)),
        head: Index(AtomicU64::new(0)),
    });
    let rx = ring.clone();
    let (mut tail, mut head_seen) = (0u64, 0u64);
    let (mut head, mut tail_seen) = (0u64, 0u64);
    batches(
        items,
        move |next, want| {
            let want = want as u64;
            if tail + want - head_seen > CAPACITY as u64 {
                head_seen = ring.head.0.load(Ordering::Acquire);
            }
            let k = want.min(CAPACITY as u64 - (tail - head_seen));
            let mut value = next;
            for (at, len) in ring.runs(tail, k) {
                // SAFETY: the run is within the array (`runs`), its slots
                // are free (above), and only this thread writes them.
                let run = unsafe { std::slice::from_raw_parts_mut(at, len) };
                for s in run {
                    *s = value;
                    value += 1;
                }
            }
            if k > 0 {
                tail += k;
                ring.tail.0.store(tail, Ordering::Release);
            }
            k as usize
        },
        move |sum| {
            if head == tail_seen {
                tail_seen = rx.tail.0.load(Ordering::Acquire);
            }
            let k = (tail_seen - head).min(BATCH as u64);
            for (at, len) in rx.runs(head, k) {
                // SAFETY: the run is within the array (`runs`), published
                // (above), and not written again until the head moves past.
                *sum += unsafe { std::slice::from_raw_parts(at, len) }
                    .iter()
                    .sum::<u64>();
            }
            head += k;
            if k > 0 {
                rx.head.0.store(head, Ordering::Release);
            }
            k as usize
        },
    )
}

fn main() {
    let single = |f: fn(u64) -> Duration| move |_, items| f(items);
    // The single-item peers with the consumer's work per item as the case.
    let working = |name: &str, items| {
        let working = |f: fn(u32, u64) -> Duration| move |work, items| f(work as u32, items);
        Group::new(name, "ringcore", items)
            .peer("ringcore", working(ring_single))
            .peer("ringcore consume_batch", working(ring_consume_batch))
            .peer("rtrb", working(rtrb_single))
            .peer("rtrb read_chunk", working(rtrb_read_chunk))
            .peer("ArrayQueue", working(arrayqueue_single))
            .peer("disruptor", working(disruptor_single))
    };
    groups::main(vec![
        working("spsc_single", 8 << 20),
        working("spsc_single_work", 4 << 20).cases(&WORK),
        Group::new(format!("spsc_batch{BATCH}"), "ringcore", 32 << 20)
            .peer("ringcore", single(ring_batch))
            .peer("rtrb", single(rtrb_batch))
            .peer("ArrayQueue", single(arrayqueue_batch))
            .peer("disruptor", single(disruptor_batch))
            .peer("bare ring", single(bare_batch)),
    ]);
}
