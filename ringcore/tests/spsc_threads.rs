//! Two-thread tests of the SPSC ring: sequence-numbered stress, sparse
//! traffic through futex sleeps (with a watchdog), and wake-ups on close.

use ringcore::{Config, Error, Ring, SlotRing, WaitStrategy};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

#[path = "support/watchdog.rs"]
mod watchdog;

/// Items in the stress test: 10 million outside Miri.
const STRESS_ITEMS: u64 = if cfg!(miri) { 2_000 } else { 10_000_000 };

#[test]
fn ten_million_sequence_numbers_arrive_in_order() {
    let _watchdog = watchdog::watchdog(120);
    let (mut tx, mut rx) = Ring::<u64>::new(Config::with_ring_bits(10)).unwrap();
    let producer = thread::spawn(move || {
        let mut next = 0u64;
        let mut batch = [0u64; 64];
        while next < STRESS_ITEMS {
            // Alternate the three write paths so each is exercised under load.
            match next % 3 {
                0 => {
                    let n = (STRESS_ITEMS - next).min(64) as usize;
                    for (i, slot) in batch[..n].iter_mut().enumerate() {
                        *slot = next + i as u64;
                    }
                    next += tx.send(&batch[..n]) as u64;
                }
                1 => {
                    if let Ok(mut r) = tx.reserve(((STRESS_ITEMS - next) as usize).min(32)) {
                        let k = r.len() as u64;
                        for (i, slot) in r.as_mut_slice().iter_mut().enumerate() {
                            *slot = next + i as u64;
                        }
                        r.commit_n(k as usize);
                        next += k;
                    }
                }
                _ => {
                    if tx.send_one(next).is_ok() {
                        next += 1;
                    }
                }
            }
        }
    });
    let mut expected = 0u64;
    let mut buf = [0u64; 128];
    while expected < STRESS_ITEMS {
        // Alternate the read paths the same way.
        match expected % 3 {
            0 => {
                rx.consume_batch(|&x| {
                    assert_eq!(x, expected, "lost, duplicated or reordered");
                    expected += 1;
                });
            }
            1 => {
                let n = rx.recv(&mut buf);
                for &x in &buf[..n] {
                    assert_eq!(x, expected);
                    expected += 1;
                }
            }
            _ => {
                if let Some(s) = rx.readable() {
                    let k = s.len();
                    for &x in s {
                        assert_eq!(x, expected);
                        expected += 1;
                    }
                    rx.advance(k);
                }
            }
        }
    }
    producer.join().unwrap();
    assert!(rx.is_empty());
}

/// A producer that sleeps between items forces the consumer through the
/// futex path every time. A lost wake-up would hang the consumer: the
/// watchdog turns that into a failure instead of a hung test.
#[test]
fn sparse_traffic_never_loses_a_wake_up() {
    let _watchdog = watchdog::watchdog(120);
    let rounds: u64 = if cfg!(miri) { 20 } else { 2_000 };
    let (mut tx, mut rx) = Ring::<u64>::new(Config::with_ring_bits(2)).unwrap();
    let progress = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let watchdog = {
        let (progress, done) = (progress.clone(), done.clone());
        thread::spawn(move || {
            let mut last = (0, Instant::now());
            while done.load(Ordering::Acquire) == 0 {
                thread::sleep(Duration::from_millis(20));
                let p = progress.load(Ordering::Acquire);
                if p != last.0 {
                    last = (p, Instant::now());
                } else if last.1.elapsed() > Duration::from_secs(10) {
                    eprintln!("consumer stalled at item {p}: lost wake-up");
                    std::process::abort();
                }
            }
        })
    };
    let producer = thread::spawn(move || {
        for i in 0..rounds {
            // Vary the gap so the producer hits every phase of the consumer's
            // wait: spinning, yielding, registering, asleep.
            match i % 4 {
                0 => {}
                1 => thread::yield_now(),
                2 => thread::sleep(Duration::from_micros(50)),
                _ => thread::sleep(Duration::from_micros(500)),
            }
            tx.send_one_blocking(i, WaitStrategy::Blocking).unwrap();
        }
    });
    for i in 0..rounds {
        let x = rx.recv_blocking(WaitStrategy::Blocking).unwrap();
        assert_eq!(x, i);
        progress.store(i + 1, Ordering::Release);
    }
    producer.join().unwrap();
    done.store(1, Ordering::Release);
    watchdog.join().unwrap();
}

/// The mirror: a slow consumer makes the producer sleep on a full ring.
#[test]
fn a_producer_blocked_on_a_full_ring_is_woken() {
    let _watchdog = watchdog::watchdog(120);
    let rounds: u64 = if cfg!(miri) { 20 } else { 1_000 };
    let (mut tx, mut rx) = Ring::<u64>::new(Config::with_ring_bits(0)).unwrap();
    let consumer = thread::spawn(move || {
        for i in 0..rounds {
            if i % 3 == 0 {
                thread::sleep(Duration::from_micros(200));
            }
            assert_eq!(rx.recv_blocking(WaitStrategy::Blocking).unwrap(), i);
        }
    });
    for i in 0..rounds {
        tx.send_one_blocking(i, WaitStrategy::Blocking).unwrap();
    }
    consumer.join().unwrap();
}

#[test]
fn close_wakes_every_sleeper() {
    let _watchdog = watchdog::watchdog(120);
    // A consumer asleep on an empty ring.
    let (tx, mut rx) = Ring::<u64>::new(Config::with_ring_bits(2)).unwrap();
    let sleeper = thread::spawn(move || rx.recv_blocking(WaitStrategy::Blocking));
    thread::sleep(Duration::from_millis(50));
    tx.close();
    assert!(matches!(sleeper.join().unwrap(), Err(Error::Closed)));

    // A producer asleep on a full ring.
    let (mut tx, rx) = Ring::<u64>::new(Config::with_ring_bits(0)).unwrap();
    tx.send_one(1).unwrap();
    let sleeper = thread::spawn(move || {
        tx.send_one_blocking(2, WaitStrategy::Blocking)
            .map_err(|e| (e.reason, e.item))
    });
    thread::sleep(Duration::from_millis(50));
    rx.close();
    let (reason, item) = sleeper.join().unwrap().unwrap_err();
    assert!(matches!(reason, Error::Closed));
    assert_eq!(item, 2, "the unsent item comes back");
}

#[test]
fn byte_slots_cross_threads_in_order() {
    let _watchdog = watchdog::watchdog(120);
    let items: u64 = if cfg!(miri) { 500 } else { 200_000 };
    let (mut tx, mut rx) = SlotRing::new(Config::with_ring_bits(6), 16).unwrap();
    let producer = thread::spawn(move || {
        let mut chunk = Vec::new();
        for i in 0..items {
            chunk.extend_from_slice(&i.to_le_bytes());
            chunk.extend_from_slice(&(!i).to_le_bytes());
            if chunk.len() == 16 * 8 || i + 1 == items {
                tx.send_blocking(&chunk, WaitStrategy::Blocking).unwrap();
                chunk.clear();
            }
        }
    });
    let mut buf = vec![0u8; 16 * 32];
    let mut expected = 0u64;
    while expected < items {
        let n = rx.recv_blocking(&mut buf, WaitStrategy::Blocking).unwrap();
        for slot in buf[..n * 16].chunks_exact(16) {
            let a = u64::from_le_bytes(slot[..8].try_into().unwrap());
            let b = u64::from_le_bytes(slot[8..].try_into().unwrap());
            assert_eq!((a, b), (expected, !expected), "torn or reordered slot");
            expected += 1;
        }
    }
    producer.join().unwrap();
}
