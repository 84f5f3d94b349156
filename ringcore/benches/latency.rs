//! In-process round-trip latency: two threads pinned to CPUs 0 and 1 play
//! ping-pong through a pair of queues (thread A sends i and spins for its
//! echo), for ringcore's `Ring`, rtrb, crossbeam's ArrayQueue and a bare
//! atomic word per direction (the floor, and the core-to-core probe), and
//! the C API's ring (`rmpsc_ring_*` from `libringmpsc.so`, as the c_api
//! bench loads it). Each round runs every one of them once, in turn, so
//! that all see the same machine state; each round trip is recorded in an
//! HDR histogram, and each figure is the median of 5 rounds. A
//! distribution is not a throughput, so this is a
//! plain harness rather than criterion; it prints a markdown table and
//! writes each distribution as plot data (`RINGMPSC_BENCH_DATA`).
//!
//! `cargo bench -p ringcore --bench latency -- [round_trips]` after
//! `make lib` (`RINGMPSC_BENCH_LIB` names another library). The probe
//! alone is `ringmpsc probe`.

#[allow(dead_code)]
#[path = "support/c_ring.rs"]
mod c_ring;
#[allow(dead_code)]
#[path = "support/common.rs"]
mod common;
#[path = "support/pingpong.rs"]
mod pingpong;

use c_ring::CApi;
use common::{latency_rounds, Percentiles};
use crossbeam_queue::ArrayQueue;
use pingpong::{atomic_rtt, ping_pong};
use ringcore::{Config, Ring};
use std::sync::Arc;

const CAPACITY_BITS: u8 = 12;
const CAPACITY: usize = 1 << CAPACITY_BITS;
/// Rounds of each measurement; each quantile's median is reported.
const RUNS: usize = 5;

fn ringcore_rtt(rtts: usize) -> Percentiles {
    ping_pong(rtts, || {
        let (mut tx, mut rx) = Ring::<u64>::new(Config::with_ring_bits(CAPACITY_BITS)).unwrap();
        (move |i| tx.send_one(i).is_ok(), move || rx.try_recv().ok())
    })
}

fn rtrb_rtt(rtts: usize) -> Percentiles {
    ping_pong(rtts, || {
        let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAPACITY);
        (move |i| tx.push(i).is_ok(), move || rx.pop().ok())
    })
}

fn arrayqueue_rtt(rtts: usize) -> Percentiles {
    ping_pong(rtts, || {
        let q = Arc::new(ArrayQueue::<u64>::new(CAPACITY));
        let q2 = q.clone();
        (move |i| q.push(i).is_ok(), move || q2.pop())
    })
}

fn c_rtt(api: &CApi, rtts: usize) -> Percentiles {
    ping_pong(rtts, || {
        let ring = Arc::new(api.ring(CAPACITY_BITS));
        let r2 = ring.clone();
        (move |i| ring.send_one(i), move || r2.try_recv())
    })
}

fn main() {
    let rtts = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(200_000);
    let api = CApi::load();
    println!(
        "In-process ping-pong, 2 threads pinned to CPUs 0 and 1: {rtts} round trips per run, \
         every row once in each of {RUNS} rounds (in an order turned by one each round and \
         reversed every other round); each figure is the median over the rounds, p50 / floor \
         the median of its ratios within a round\n"
    );
    let rows: [(&str, &dyn Fn() -> Percentiles); 5] = [
        ("ringcore Ring<u64>", &|| ringcore_rtt(rtts)),
        ("rtrb", &|| rtrb_rtt(rtts)),
        ("ArrayQueue", &|| arrayqueue_rtt(rtts)),
        ("C rmpsc_ring_* calls", &|| c_rtt(&api, rtts)),
        ("bare atomic (floor)", &|| atomic_rtt(rtts)),
    ];
    let measured = latency_rounds(&rows.map(|r| r.1), RUNS);
    println!("| round trip | p50 | p99 | p99.9 | p50 / floor |");
    println!("|---|---|---|---|---|");
    for ((name, _), (r, to_floor)) in rows.iter().zip(&measured) {
        println!(
            "| {name} | {} ns | {} ns | {} ns | {to_floor:.2}x |",
            r.at(0.5),
            r.at(0.99),
            r.at(0.999),
        );
        r.emit("inproc-rtt", name);
    }
    let floor = measured[rows.len() - 1].0;
    println!(
        "\ncore-to-core probe (bare atomic ping-pong p50 / p99): {} / {} ns",
        floor.at(0.5),
        floor.at(0.99)
    );
}
