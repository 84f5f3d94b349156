//! In-process round-trip latency: two threads pinned to CPUs 0 and 1 play
//! ping-pong through a pair of queues (thread A sends i and spins for its
//! echo), for ringcore's `Ring`, rtrb, crossbeam's ArrayQueue and a bare
//! atomic word per direction (the floor, and the core-to-core probe); then
//! `Ring<u64>` against the C API's ring (`rmpsc_ring_*` from
//! `libringmpsc.so`, as the c_api bench loads it) in alternating rounds.
//! Each round trip is recorded in an HDR histogram; each figure is the
//! median of 5 rounds. A distribution is not a throughput, so this is a
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
use common::Percentiles;
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

/// Each quantile's median over `RUNS` rounds of `f`.
fn median(mut f: impl FnMut() -> Percentiles) -> Percentiles {
    let runs: Vec<Percentiles> = std::iter::repeat_with(&mut f).take(RUNS).collect();
    Percentiles::median_of(&runs)
}

fn main() {
    let rtts = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(200_000);
    let api = CApi::load();
    println!(
        "In-process ping-pong, 2 threads pinned to CPUs 0 and 1: {rtts} round trips per round, median of {RUNS} rounds\n"
    );
    let floor = median(|| atomic_rtt(rtts));
    let mut rows = vec![
        ("ringcore", median(|| ringcore_rtt(rtts))),
        ("rtrb", median(|| rtrb_rtt(rtts))),
        ("ArrayQueue", median(|| arrayqueue_rtt(rtts))),
        ("bare atomic (floor)", floor),
    ];
    // Rust and C in alternating rounds, so that both see the same machine.
    let (rust, c): (Vec<_>, Vec<_>) = (0..RUNS)
        .map(|_| (ringcore_rtt(rtts), c_rtt(&api, rtts)))
        .unzip();
    rows.push((
        "Rust Ring<u64>, alternating with C",
        Percentiles::median_of(&rust),
    ));
    rows.push((
        "C rmpsc_ring_*, alternating with Rust",
        Percentiles::median_of(&c),
    ));
    println!("| round trip | p50 | p99 | p99.9 | p50 / floor |");
    println!("|---|---|---|---|---|");
    for (name, r) in rows {
        println!(
            "| {name} | {} ns | {} ns | {} ns | {:.2}x |",
            r.at(0.5),
            r.at(0.99),
            r.at(0.999),
            r.at(0.5) as f64 / floor.at(0.5) as f64
        );
        r.emit("inproc-rtt", name);
    }
    println!(
        "\ncore-to-core probe (bare atomic ping-pong p50 / p99): {} / {} ns",
        floor.at(0.5),
        floor.at(0.99)
    );
}
