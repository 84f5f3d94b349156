//! loom models of the index protocol, of the sleep/wake handshake and of the
//! message ring's commit words.
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

// The message ring's commit-word protocol (`msg::record`), modelled over
// the real cursors: one slot stands for one 8-byte word of the byte ring
// and its contents are mirrored in loom atomics. A header word holds the
// record's length in words (the commit), with `PAD_BIT` for padding and
// the record's lap above `LAP_SHIFT`; the payload words hold the message's
// sequence number, so a stale payload word taken for a commit (the zero
// written ahead missing) shows up, and so does a header of an earlier lap.
const PAD_BIT: u64 = 1 << 32;
const LAP_SHIFT: u32 = 40;

/// The lap tag of position `pos` (truncated, as in the real commit word).
fn lap(raw: &RawRing, pos: u64) -> u64 {
    (pos >> raw.capacity().trailing_zeros()) & 0xff_ffff
}

/// The commit word of a record of `rec` words at position `pos`.
fn commit_at(p: &ProducerCursor, pos: u64, rec: u64) -> u64 {
    lap(p, pos) << LAP_SHIFT | rec
}

fn publish_records(p: &mut ProducerCursor, words: &Payload, first: usize, commit: u64, n: usize) {
    let (next, _) = p.contiguous(p.tail().wrapping_add(n as u64));
    words.0[next].store(0, Ordering::Relaxed);
    words.0[first].store(commit, Ordering::Release);
    p.publish(n);
}

/// `MessageSender::send`: `len` payload words carrying `seq`.
fn send_record(p: &mut ProducerCursor, words: &Payload, len: usize, seq: u64) {
    let rec = 1 + len;
    loop {
        let (index, to_end) = p.contiguous(p.tail());
        // One word beyond the records stays free for the zero written ahead.
        if rec > to_end {
            if p.free(to_end + 1).unwrap() > to_end {
                let commit = commit_at(p, p.tail(), PAD_BIT | to_end as u64);
                publish_records(p, words, index, commit, to_end);
                continue;
            }
        } else if p.free(rec + 1).unwrap() > rec {
            for k in 1..rec {
                words.0[index + k].store(seq, Ordering::Relaxed);
            }
            let commit = commit_at(p, p.tail(), rec as u64);
            publish_records(p, words, index, commit, rec);
            return;
        }
        thread::yield_now();
    }
}

/// `MessageSender::send_many` (no padding: the batch fits before the end):
/// every record complete except the first one's commit word, stored last.
fn send_batch(p: &mut ProducerCursor, words: &Payload, batch: &[(usize, u64)]) {
    let total: usize = batch.iter().map(|(len, _)| 1 + len).sum();
    while p.free(total + 1).unwrap() <= total {
        thread::yield_now();
    }
    let (first, to_end) = p.contiguous(p.tail());
    assert!(total <= to_end, "the model's batch must not wrap");
    let mut at = first;
    for (i, &(len, seq)) in batch.iter().enumerate() {
        for k in 1..=len {
            words.0[at + k].store(seq, Ordering::Relaxed);
        }
        if i > 0 {
            let pos = p.tail() + (at - first) as u64;
            words.0[at].store(commit_at(p, pos, 1 + len as u64), Ordering::Relaxed);
        }
        at += 1 + len;
    }
    let commit = commit_at(p, p.tail(), 1 + batch[0].0 as u64);
    publish_records(p, words, first, commit, total);
}

/// `MessageReceiver::try_recv`: (payload words, sequence number).
fn recv_record(c: &mut ConsumerCursor, words: &Payload) -> Option<(usize, u64)> {
    loop {
        let (index, _) = c.contiguous(c.head());
        let commit = words.0[index].load(Ordering::Acquire);
        if commit == 0 {
            // The tail may lag behind what was read: never `Corrupt`.
            c.available(1).unwrap();
            return None;
        }
        assert_eq!(
            commit >> LAP_SHIFT,
            lap(c, c.head()),
            "a header of another lap"
        );
        let rec = (commit & (PAD_BIT - 1)) as usize;
        // Never more than a ring ahead of the tail.
        if rec > c.lead_room() {
            assert!(
                rec <= c.reload_lead_room(),
                "more than a ring ahead of the tail"
            );
        }
        if commit & PAD_BIT != 0 {
            c.release(rec);
            continue;
        }
        let seq = words.0[index + 1].load(Ordering::Relaxed);
        for k in 2..rec {
            assert_eq!(
                words.0[index + k].load(Ordering::Relaxed),
                seq,
                "torn record"
            );
        }
        c.release(rec);
        return Some((rec - 1, seq));
    }
}

/// A message-ring model over `2^bits` words: `produce` on a second thread,
/// `consume` here with a receiver that leads the tail.
fn message_model(
    bits: u8,
    produce: impl FnOnce(&mut ProducerCursor, &Payload) + Send + 'static,
    consume: impl FnOnce(&mut ConsumerCursor, &Payload),
) {
    let (keep, raw) = ring(bits);
    let (mut p, mut c) = cursors(raw);
    c.leads = true;
    let words = Payload::new(1 << bits);
    let producer = {
        let (keep, words) = (keep.clone(), words.clone());
        thread::spawn(move || {
            let _keep = keep;
            produce(&mut p, &words);
        })
    };
    consume(&mut c, &words);
    producer.join().unwrap();
    drop(keep);
}

/// Polls (yielding) until `n` records arrived; `check` sees each as it comes.
fn recv_records(
    c: &mut ConsumerCursor,
    words: &Payload,
    n: usize,
    mut check: impl FnMut((usize, u64)),
) -> Vec<(usize, u64)> {
    let mut got = Vec::new();
    while got.len() < n {
        match recv_record(c, words) {
            Some(r) => {
                check(r);
                got.push(r);
            }
            None => thread::yield_now(),
        }
    }
    got
}

/// Records of 2, 1 and 2 words through a 4-word ring (padding at the end,
/// stale payload where later headers land, positions crossing u64::MAX):
/// each arrives whole, once, in order.
#[test]
fn loom_message_records_arrive_whole_and_in_order() {
    loom::model(|| {
        message_model(
            2,
            |p, words| {
                for (seq, len) in [(1, 2), (2, 1), (3, 2)] {
                    send_record(p, words, len, seq);
                }
            },
            |c, words| {
                let got = recv_records(c, words, 3, |_| {});
                assert_eq!(got, [(2, 1), (1, 2), (2, 3)]);
            },
        );
    });
}

/// A receiver that read ahead of the stored tail and then sleeps is woken
/// by the next record: leading does not lose a wake-up nor spin.
#[test]
fn loom_message_receiver_wake_up_is_never_lost() {
    loom::model(|| {
        message_model(
            3,
            |p, words| {
                send_record(p, words, 1, 1);
                send_record(p, words, 1, 2);
            },
            |c, words| {
                for want in 1..=2 {
                    let got = loop {
                        if let Some((_, seq)) = recv_record(c, words) {
                            break seq;
                        }
                        c.park(None);
                    };
                    assert_eq!(got, want);
                }
            },
        );
    });
}

/// A record, a batch (`send_many`) then a record: the batch shows whole, its
/// later records never before the first, and the record after it in order.
#[test]
fn loom_message_batches_show_at_once() {
    loom::model(|| {
        message_model(
            3,
            |p, words| {
                // The ring starts at index 6: one record brings it to 0.
                send_record(p, words, 1, 9);
                send_batch(p, words, &[(1, 1), (2, 2)]);
                send_record(p, words, 1, 3);
            },
            |c, words| {
                let got = recv_records(c, words, 4, |(_, seq)| {
                    if seq == 1 {
                        // The batch's second record is already committed.
                        assert_eq!(words.0[2].load(Ordering::Relaxed), 3);
                    }
                });
                assert_eq!(got, [(1, 9), (1, 1), (2, 2), (1, 3)]);
            },
        );
    });
}
