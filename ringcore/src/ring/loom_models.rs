//! loom models of the index protocol and of the sleep/wake handshake.
//!
//! Run with `make loom` (`RUSTFLAGS="--cfg loom" cargo test -p ringcore --release --lib loom`).
//! Under loom the barrier pair is `fence(SeqCst)` on both sides and a futex
//! is a mutex + condvar, so loom explores every interleaving and every
//! permitted reordering of the atomics; a lost wake-up shows up as a deadlock.

use super::heap::HeapRing;
use super::raw::{ConsumerCursor, ProducerCursor, RawRing};
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;
use std::time::Duration;

fn ring(bits: u8) -> (Arc<HeapRingBox>, RawRing) {
    let heap = HeapRing::allocate(bits, 8, 8, u64::MAX - 1, |_| {}).unwrap();
    let raw = heap.raw();
    (Arc::new(HeapRingBox(heap)), raw)
}

/// Keeps the heap ring alive across loom threads.
struct HeapRingBox(#[allow(dead_code)] std::sync::Arc<HeapRing>);

// The payload of slot i is mirrored in a loom atomic written Relaxed before
// `publish` and read Relaxed after `available`: loom then checks that the
// Release/Acquire pair on the indices is what makes the payload visible.
struct Payload(Vec<AtomicU64>);

impl Payload {
    fn new(n: usize) -> Arc<Self> {
        Arc::new(Payload((0..n).map(|_| AtomicU64::new(0)).collect()))
    }
}

fn push(p: &mut ProducerCursor, payload: &Payload, value: u64) {
    loop {
        if p.free(1).unwrap() > 0 {
            let (index, _) = p.contiguous(p.tail());
            payload.0[index].store(value, Ordering::Relaxed);
            p.publish(1);
            return;
        }
        thread::yield_now();
    }
}

fn pop(c: &mut ConsumerCursor, payload: &Payload) -> Option<u64> {
    if c.available(1).unwrap() == 0 {
        return None;
    }
    let (index, _) = c.contiguous(c.head());
    let v = payload.0[index].load(Ordering::Relaxed);
    c.release(1);
    Some(v)
}

fn cursors(raw: RawRing) -> (ProducerCursor, ConsumerCursor) {
    (
        ProducerCursor::new(raw).unwrap(),
        ConsumerCursor::new(raw).unwrap(),
    )
}

/// Three items through a two-slot ring whose positions cross u64::MAX:
/// every item arrives once, in order, with its payload.
#[test]
fn loom_index_protocol_delivers_in_order() {
    loom::model(|| {
        let (keep, raw) = ring(1);
        let (mut p, mut c) = cursors(raw);
        let payload = Payload::new(2);
        let producer = {
            let (keep, payload) = (keep.clone(), payload.clone());
            thread::spawn(move || {
                let _keep = keep;
                for v in 1..=3 {
                    push(&mut p, &payload, v);
                }
            })
        };
        let mut got = Vec::new();
        while got.len() < 3 {
            match pop(&mut c, &payload) {
                Some(v) => got.push(v),
                None => thread::yield_now(),
            }
        }
        producer.join().unwrap();
        assert_eq!(got, [1, 2, 3]);
        drop(keep);
    });
}

/// A consumer that goes to sleep on an empty ring is always woken by a
/// commit: the handshake cannot lose the wake-up.
#[test]
fn loom_consumer_wake_up_is_never_lost() {
    loom::model(|| {
        let (keep, raw) = ring(1);
        let (mut p, mut c) = cursors(raw);
        let payload = Payload::new(2);
        let producer = {
            let (keep, payload) = (keep.clone(), payload.clone());
            thread::spawn(move || {
                let _keep = keep;
                push(&mut p, &payload, 7);
            })
        };
        let v = loop {
            if let Some(v) = pop(&mut c, &payload) {
                break v;
            }
            c.park(None);
        };
        assert_eq!(v, 7);
        producer.join().unwrap();
        drop(keep);
    });
}

/// The mirror: a producer asleep on a full ring is woken by the consumer.
#[test]
fn loom_producer_wake_up_is_never_lost() {
    loom::model(|| {
        let (keep, raw) = ring(0);
        let (mut p, mut c) = cursors(raw);
        let payload = Payload::new(1);
        push(&mut p, &payload, 1);
        let consumer = {
            let (keep, payload) = (keep.clone(), payload.clone());
            thread::spawn(move || {
                let _keep = keep;
                loop {
                    if let Some(v) = pop(&mut c, &payload) {
                        return v;
                    }
                    thread::yield_now();
                }
            })
        };
        while p.free(1).unwrap() == 0 {
            p.park(1, None);
        }
        assert_eq!(consumer.join().unwrap(), 1);
        drop(keep);
    });
}

/// Closing wakes a sleeping consumer.
#[test]
fn loom_close_wakes_a_sleeper() {
    loom::model(|| {
        let (keep, raw) = ring(1);
        let closer = {
            let keep = keep.clone();
            thread::spawn(move || {
                let _keep = keep;
                raw.close();
            })
        };
        let c = ConsumerCursor::new(raw).unwrap();
        while !c.is_closed() {
            c.park(Some(Duration::from_secs(3600)));
        }
        closer.join().unwrap();
        drop(keep);
    });
}
