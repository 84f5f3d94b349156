//! Unit tests of the ring: index arithmetic, wrap-around, reservations,
//! drop accounting, corruption detection. Small enough for Miri.

use super::raw::RawRing;
use crate::config::Config;
use crate::error::Error;
use crate::ring::{Ring, SlotRing};
use crate::sync::Ordering;
use crate::wait::WaitStrategy;
use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

fn cfg(bits: u8) -> Config {
    Config::with_ring_bits(bits)
}

/// xorshift64*: deterministic pseudo-random numbers without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn send_and_receive_in_order() {
    let (mut tx, mut rx) = Ring::<u32>::new(cfg(2)).unwrap();
    assert_eq!(tx.capacity(), 4);
    assert!(rx.is_empty());
    for i in 0..4 {
        tx.send_one(i).unwrap();
    }
    assert!(tx.is_full());
    let e = tx.send_one(9).unwrap_err();
    assert!(matches!(e.reason, Error::Full));
    assert_eq!(e.into_inner(), 9);
    assert_eq!(rx.len(), 4);
    assert_eq!(rx.try_recv().unwrap(), 0);
    assert_eq!(*rx.peek().unwrap(), 1);
    let mut out = [0; 8];
    assert_eq!(rx.recv(&mut out), 3);
    assert_eq!(&out[..3], &[1, 2, 3]);
    assert!(matches!(rx.try_recv(), Err(Error::Empty)));
}

#[test]
fn reservation_is_cut_at_the_wrap() {
    let (mut tx, mut rx) = Ring::<u64>::new(cfg(3)).unwrap();
    assert_eq!(tx.send(&[0, 1, 2, 3, 4, 5]), 6);
    assert_eq!(rx.skip(6), 6);
    // tail is at index 6: only slots 6 and 7 are contiguous.
    let mut r = tx.reserve(4).unwrap();
    assert_eq!(r.len(), 2);
    r.as_mut_slice().copy_from_slice(&[60, 70]);
    assert_eq!(r.commit_n(2), 2);
    let mut r = tx.reserve(4).unwrap();
    assert_eq!(r.len(), 4);
    assert_eq!(r.copy_from_slice(&[80, 90]), 2);
    assert_eq!(r.commit(), 2);
    assert_eq!(rx.readable().unwrap(), &[60, 70]);
    rx.advance(2);
    assert_eq!(rx.readable().unwrap(), &[80, 90]);
    rx.advance(5); // clamped to what is readable
    assert!(rx.readable().is_none());
}

#[test]
fn dropped_reservation_publishes_nothing() {
    let (mut tx, mut rx) = Ring::<u8>::new(cfg(2)).unwrap();
    {
        let mut r = tx.reserve(3).unwrap();
        r.push(1).unwrap();
    }
    assert!(rx.readable().is_none());
    assert!(matches!(tx.reserve(0), Err(Error::InvalidArgument(_))));
    let mut r = tx.reserve(2).unwrap();
    assert_eq!(r.fill_from_iter(10..), 2);
    assert_eq!(r.push(99), Err(99));
    r.commit();
    assert_eq!(rx.drain().collect::<Vec<_>>(), [10, 11]);
}

#[test]
fn batch_apis_update_once_and_respect_limits() {
    let (mut tx, mut rx) = Ring::<u32>::new(cfg(4)).unwrap();
    assert_eq!(tx.send(&(0..10).collect::<Vec<_>>()), 10);
    let mut seen = Vec::new();
    assert_eq!(rx.consume_up_to(3, |&x| seen.push(x)), 3);
    assert_eq!(rx.peek_many(2).unwrap(), &[3, 4]);
    {
        let mut it = rx.iter();
        assert_eq!(it.next(), Some(3));
        assert_eq!(it.next(), Some(4));
    } // no finish: nothing consumed
    assert_eq!(rx.len(), 7);
    let mut it = rx.iter();
    it.next();
    assert_eq!(it.finish(), 1);
    assert_eq!(rx.consume_batch(|&x| seen.push(x)), 6);
    assert_eq!(seen, [0, 1, 2, 4, 5, 6, 7, 8, 9]);
    assert_eq!(tx.send(&[1, 2, 3]), 3);
    assert_eq!(rx.consume_batch_count(), 3);
    assert!(rx.is_empty());
}

#[test]
fn random_operations_match_a_model_across_u64_wrap() {
    for start in [0, u64::MAX - 3, u64::MAX - 100, u64::MAX / 2] {
        for bits in [0u8, 1, 3] {
            let (mut tx, mut rx) = Ring::<u64>::with_start(cfg(bits), start).unwrap();
            let cap = 1usize << bits;
            let mut model = VecDeque::new();
            let mut rng = Rng(start ^ 0x9e37_79b9 ^ bits as u64);
            let mut next = 0u64;
            let rounds = if cfg!(miri) { 60 } else { 3000 };
            for _ in 0..rounds {
                match rng.below(6) {
                    0 => {
                        let n = rng.below(cap as u64 + 2) as usize;
                        let items: Vec<u64> = (next..next + n as u64).collect();
                        let sent = tx.send(&items);
                        assert_eq!(sent, n.min(cap - model.len()));
                        model.extend(&items[..sent]);
                        next += sent as u64;
                    }
                    1 => match tx.reserve(rng.below(cap as u64 + 1) as usize + 1) {
                        Ok(mut r) => {
                            let k = rng.below(r.len() as u64 + 1) as usize;
                            for i in 0..k as u64 {
                                r.push(next + i).unwrap();
                            }
                            r.commit();
                            model.extend(next..next + k as u64);
                            next += k as u64;
                        }
                        Err(Error::Full) => assert_eq!(model.len(), cap),
                        Err(e) => panic!("{e}"),
                    },
                    2 => {
                        let mut out = vec![0; rng.below(cap as u64 + 2) as usize];
                        let got = rx.recv(&mut out);
                        let want: Vec<u64> = model.drain(..got.min(model.len())).collect();
                        assert_eq!(&out[..got], &want[..]);
                    }
                    3 => {
                        let max = rng.below(cap as u64 + 1) as usize;
                        let mut got = Vec::new();
                        rx.consume_up_to(max, |&x| got.push(x));
                        let want: Vec<u64> = model.drain(..got.len()).collect();
                        assert_eq!(got, want);
                        assert!(got.len() == max.min(got.len() + model.len()));
                    }
                    4 => match rx.try_recv() {
                        Ok(x) => assert_eq!(Some(x), model.pop_front()),
                        Err(Error::Empty) => assert!(model.is_empty()),
                        Err(e) => panic!("{e}"),
                    },
                    _ => {
                        if let Some(s) = rx.readable() {
                            let k = s.len();
                            assert!(s.iter().zip(&model).all(|(a, b)| a == b));
                            rx.advance(k);
                            model.drain(..k);
                        } else {
                            assert!(model.is_empty());
                        }
                    }
                }
                assert_eq!(rx.len(), model.len());
                assert_eq!(tx.available_capacity(), cap - model.len());
            }
        }
    }
}

/// Counts drops so tests can prove "exactly once".
struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn every_item_is_dropped_exactly_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let item = || Counted(drops.clone());
    let (mut tx, mut rx) = Ring::<Counted>::new(cfg(3)).unwrap();
    for _ in 0..6 {
        assert!(tx.send_one(item()).is_ok());
    }
    {
        let mut r = tx.reserve(2).unwrap();
        assert!(r.push(item()).is_ok());
    } // reservation dropped: its one item dropped, nothing published
    assert_eq!(drops.load(Ordering::Relaxed), 1);
    let first = rx.try_recv().unwrap();
    drop(first);
    assert_eq!(drops.load(Ordering::Relaxed), 2);
    assert_eq!(rx.consume_up_to(2, |_| {}), 2);
    assert_eq!(drops.load(Ordering::Relaxed), 4);
    let mut d = rx.drain();
    drop(d.next());
    drop(d); // the other two stay in the ring
    assert_eq!(drops.load(Ordering::Relaxed), 5);
    assert_eq!(rx.len(), 2);
    drop(tx);
    drop(rx); // the ring goes away with two items in it
    assert_eq!(drops.load(Ordering::Relaxed), 7);
}

#[test]
fn a_panicking_handler_loses_and_duplicates_nothing() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut tx, mut rx) = Ring::<Counted>::new(cfg(3)).unwrap();
    for _ in 0..5 {
        assert!(tx.send_one(Counted(drops.clone())).is_ok());
    }
    let mut calls = 0;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rx.consume_batch(|_| {
            calls += 1;
            if calls == 3 {
                panic!("handler failed");
            }
        })
    }));
    assert!(r.is_err());
    // Two handled and dropped; the third (whose handler panicked) is still there.
    assert_eq!(drops.load(Ordering::Relaxed), 2);
    assert_eq!(rx.len(), 3);
    drop((tx, rx));
    assert_eq!(drops.load(Ordering::Relaxed), 5);
}

#[test]
fn zero_sized_items_are_counted() {
    let (mut tx, mut rx) = Ring::<()>::new(cfg(2)).unwrap();
    assert_eq!(tx.send(&[(), (), ()]), 3);
    assert_eq!(rx.len(), 3);
    assert_eq!(rx.drain().count(), 3);
}

#[test]
fn close_stops_sends_and_drains_reads() {
    let (mut tx, mut rx) = Ring::<u8>::new(cfg(2)).unwrap();
    tx.send_one(1).unwrap();
    rx.close();
    assert!(tx.is_closed());
    assert!(matches!(tx.send_one(2).unwrap_err().reason, Error::Closed));
    assert_eq!(tx.send(&[3]), 0);
    assert!(matches!(tx.reserve(1), Err(Error::Closed)));
    assert_eq!(rx.try_recv().unwrap(), 1);
    assert!(matches!(rx.try_recv(), Err(Error::Closed)));
    assert!(matches!(
        rx.recv_blocking(WaitStrategy::Blocking),
        Err(Error::Closed)
    ));
}

#[test]
fn dropping_the_producer_closes_the_ring() {
    let (mut tx, mut rx) = Ring::<u8>::new(cfg(2)).unwrap();
    tx.send_one(5).unwrap();
    drop(tx);
    assert!(rx.is_closed());
    assert_eq!(rx.recv_blocking(WaitStrategy::Blocking).unwrap(), 5);
    assert!(matches!(
        rx.consume_batch_blocking(|_| {}, WaitStrategy::Blocking),
        Err(Error::Closed)
    ));
}

#[test]
fn timed_waits_time_out() {
    let (mut tx, mut rx) = Ring::<u8>::new(cfg(0)).unwrap();
    let t = WaitStrategy::TimedBlocking {
        timeout: Duration::from_millis(20),
    };
    assert!(matches!(rx.recv_blocking(t), Err(Error::TimedOut)));
    tx.send_one(1).unwrap();
    let e = tx.send_one_blocking(2, t).unwrap_err();
    assert!(matches!(e.reason, Error::TimedOut));
    assert!(matches!(tx.reserve_blocking(1, t), Err(Error::TimedOut)));
    for s in [
        WaitStrategy::BusySpin,
        WaitStrategy::Yielding,
        WaitStrategy::Sleeping {
            sleep: Duration::from_micros(10),
        },
        WaitStrategy::PhasedBackoff {
            spin_iterations: 4,
            yield_iterations: 4,
        },
        WaitStrategy::Blocking,
        WaitStrategy::Paced {
            pause: Duration::from_micros(1),
        },
    ] {
        assert_eq!(rx.recv_blocking(s).unwrap(), 1);
        tx.send_one_blocking(1, s).unwrap();
    }
}

#[test]
fn metrics_count_when_enabled_only() {
    let (mut tx, mut rx) = Ring::<u32>::new(cfg(3)).unwrap();
    assert!(tx.metrics().is_none());
    tx.send_one(1).unwrap();
    rx.consume_batch(|_| {});

    let config = Config {
        enable_metrics: true,
        track_contention: true,
        ..cfg(2)
    };
    let (mut tx, mut rx) = Ring::<u32>::new(config).unwrap();
    assert_eq!(tx.send(&[1, 2, 3]), 3);
    tx.send_one(4).unwrap();
    assert!(tx.send_one(5).is_err());
    assert!(tx.reserve_with_backoff(1).is_err());
    assert_eq!(rx.consume_batch(|_| {}), 4);
    let m = rx.metrics().unwrap();
    assert_eq!(m.messages_sent, 4);
    assert_eq!(m.batches_sent, 2);
    assert_eq!(m.messages_received, 4);
    assert_eq!(m.batches_received, 1);
    assert_eq!(m.max_batch_size, 4);
    assert_eq!(m.latency_count, 1);
    assert!(m.reserve_spins > 0);
    assert_eq!(m.reserve_failures, 2);
    assert_eq!(m.avg_batch_size(), 4.0);
}

#[test]
fn config_is_validated() {
    assert!(Ring::<u8>::new(cfg(33)).is_err());
    assert!(Ring::<u8>::with_capacity(3).is_err());
    assert_eq!(Ring::<u8>::with_capacity(8).unwrap().0.capacity(), 8);
    assert!(Ring::<u8>::new(Config {
        max_producers: 0,
        ..Config::DEFAULT
    })
    .is_err());
    assert_eq!(Ring::<u64>::buffer_memory(&cfg(10)), 8192);
    assert_eq!(Config::HIGH_THROUGHPUT.capacity(), 1 << 18);
    assert_eq!(Config::ULTRA_LOW_LATENCY.capacity(), 1 << 10);
}

#[test]
fn slot_ring_moves_bytes_and_checks_arguments() {
    let (mut tx, mut rx) = SlotRing::new(cfg(2), 3).unwrap();
    assert!(SlotRing::new(cfg(2), 0).is_err());
    assert!(matches!(tx.send(&[1, 2]), Err(Error::InvalidArgument(_))));
    assert_eq!(tx.send(&[1, 2, 3, 4, 5, 6]).unwrap(), 2);
    let buf = tx.reserve(5).unwrap();
    assert_eq!(buf.len(), 6); // two contiguous slots left
    buf.copy_from_slice(&[7, 8, 9, 10, 11, 12]);
    assert!(matches!(tx.commit(3), Err(Error::InvalidArgument(_))));
    tx.commit(2).unwrap();
    assert!(matches!(tx.reserve(1), Err(Error::Full)));
    assert_eq!(rx.readable().unwrap().len(), 12);
    assert!(matches!(
        SlotRing::new(cfg(1), 4).unwrap().1.readable(),
        Err(Error::Empty)
    ));
    assert!(matches!(rx.advance(5), Err(Error::InvalidArgument(_))));
    rx.advance(1).unwrap();
    let mut out = [0u8; 3];
    rx.try_recv(&mut out).unwrap();
    assert_eq!(out, [4, 5, 6]);
    assert!(matches!(
        rx.try_recv(&mut [0u8; 2]),
        Err(Error::InvalidArgument(_))
    ));
    let mut big = [0u8; 7];
    assert_eq!(rx.recv(&mut big).unwrap(), 2);
    assert_eq!(rx.recv(&mut big).unwrap(), 0);
    assert_eq!(&big[..6], &[7, 8, 9, 10, 11, 12]);
    tx.close();
    assert!(matches!(rx.try_recv(&mut out), Err(Error::Closed)));
    assert!(matches!(rx.recv(&mut big), Err(Error::Closed)));
    assert!(matches!(rx.readable(), Err(Error::Closed)));
    assert!(matches!(tx.send(&[0; 3]), Err(Error::Closed)));
}

#[test]
fn slots_past_a_lent_head_are_read_in_two_runs_and_waited_for() {
    let (mut tx, mut rx) = SlotRing::new(cfg(2), 2).unwrap(); // 4 slots
    assert_eq!(tx.send(&[0, 0, 1, 1, 2, 2]).unwrap(), 3);
    rx.advance(2).unwrap(); // the head at slot 2
    assert_eq!(tx.send(&[3, 3, 4, 4, 5, 5]).unwrap(), 3); // slots 3, 0, 1
    let (a, b) = rx.readable_past(0).unwrap();
    assert_eq!((a, b), (&[2, 2, 3, 3][..], &[4, 4, 5, 5][..]));
    let (a, b) = rx.readable_past(2).unwrap(); // slots 2 and 3 lent out
    assert_eq!((a, b), (&[4, 4, 5, 5][..], &[][..]));
    assert!(matches!(rx.readable_past(4), Err(Error::Empty)));
    let no_wait = WaitStrategy::TimedBlocking {
        timeout: Duration::ZERO,
    };
    rx.wait_for_data_past(3, no_wait).unwrap();
    assert!(matches!(
        rx.wait_for_data_past(4, no_wait),
        Err(Error::TimedOut)
    ));
    tx.close();
    assert!(matches!(rx.readable_past(4), Err(Error::Closed)));
    assert!(matches!(
        rx.wait_for_data_past(4, no_wait),
        Err(Error::Closed)
    ));
    assert_eq!(rx.readable_past(3).unwrap().0, &[5, 5]); // what is left past them
}

#[test]
fn slot_copies_keep_every_byte_for_every_small_size() {
    // Slot sizes on both sides of the inline copy's size classes, sent one
    // and several at a time so that copies also split at the wrap.
    for size in 1..=33usize {
        let (mut tx, mut rx) = SlotRing::new(cfg(3), size).unwrap();
        let mut next = 0u8;
        for round in 0..20usize {
            let count = 1 + round % 5;
            let data: Vec<u8> = (0..count * size)
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect();
            assert_eq!(tx.send(&data).unwrap(), count);
            let mut out = vec![0xAAu8; (count + 1) * size];
            assert_eq!(rx.recv(&mut out).unwrap(), count, "size {size}");
            assert_eq!(&out[..data.len()], &data[..], "size {size} round {round}");
            assert!(
                out[data.len()..].iter().all(|&b| b == 0xAA),
                "wrote past {size}"
            );
        }
    }
}

/// A consumer parked for more than `skip` items sleeps while fewer are
/// there: a tail short of its lent slots (moved back by a peer) made it
/// spin, its park taking any tail but `head + skip` for data.
#[test]
#[cfg_attr(miri, ignore = "timed futex sleeps")]
fn a_park_past_lent_slots_sleeps_while_fewer_are_readable() {
    use std::time::Instant;
    let (mut tx, rx) = Ring::<u64>::new(cfg(3)).unwrap();
    assert_eq!(tx.send(&[1, 2]), 2);
    let raw: RawRing = rx.raw_for_tests();
    let park = |skip, ms| {
        let t = Instant::now();
        raw.park_consumer(0, skip, false, Some(Duration::from_millis(ms)));
        t.elapsed()
    };
    // Two readable, four lent: nothing to wake for until the timeout (one
    // below the cap of a settled sleep, where `membarrier` is missing).
    assert!(park(4, 40) >= Duration::from_millis(35));
    // One lent: the second is there, so no sleep (a bound for a hang).
    assert!(park(1, 20_000) < Duration::from_secs(10));
    // An impossible tail wakes it, for the caller's next look to report.
    raw.indices().producer.tail.store(1000, Ordering::Release);
    assert!(park(4, 20_000) < Duration::from_secs(10));
}

#[test]
fn impossible_positions_are_reported_not_followed() {
    let (mut tx, mut rx) = Ring::<u64>::new(cfg(2)).unwrap();
    tx.send_one(1).unwrap();
    // A hostile peer moves the tail far beyond the capacity.
    let raw: RawRing = rx.raw_for_tests();
    raw.indices().producer.tail.store(1000, Ordering::Release);
    assert!(rx.readable().is_none());
    assert_eq!(rx.consume_batch(|_| panic!("must not read")), 0);
    assert!(matches!(rx.try_recv(), Err(Error::Corrupt(_))));
    assert!(matches!(rx.check(), Err(Error::Corrupt(_))));
    assert!(matches!(
        rx.recv_blocking(WaitStrategy::Blocking),
        Err(Error::Corrupt(_))
    ));
    assert!(rx.len() <= rx.capacity());
    // The producer keeps its own position, so a scribbled tail cannot move it.
    raw.indices().producer.tail.store(1, Ordering::Release);
    assert_eq!(rx.try_recv().unwrap(), 1);

    // A hostile consumer moves the head past the tail. The producer looks at
    // the head when its cached view runs short.
    assert_eq!(tx.send(&[3; 4]), 4);
    raw.indices().consumer.head.store(500, Ordering::Release);
    assert_eq!(tx.send(&[3]), 0);
    assert!(matches!(
        tx.send_one(2).unwrap_err().reason,
        Error::Corrupt(_)
    ));
    assert!(matches!(tx.check(), Err(Error::Corrupt(_))));
    assert!(matches!(
        tx.send_one_blocking(4, WaitStrategy::Blocking)
            .unwrap_err()
            .reason,
        Error::Corrupt(_)
    ));
    raw.indices().consumer.head.store(1, Ordering::Release);
    assert!(tx.check().is_ok());
    // A batch larger than the room the producer's view shows looks at the
    // head, which a blocking send reports rather than waits on for ever
    // (its wait looks only at the view, which shows room).
    assert_eq!(rx.consume_batch(|_| {}), 4);
    // The producer's view: the head it read for this send, one slot
    // taken, three free.
    tx.send_one(7).unwrap();
    assert_eq!(rx.try_recv().unwrap(), 7);
    raw.indices().consumer.head.store(500, Ordering::Release);
    let strategy = WaitStrategy::TimedBlocking {
        timeout: Duration::from_secs(20),
    };
    // On a thread of its own, so that a send that spins fails the test.
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(tx.send_blocking(&[5; 6], strategy)));
    let (sent, e) = result
        .recv_timeout(Duration::from_secs(10))
        .expect("the blocking send returns")
        .unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    assert!(sent < 6);
}

#[test]
fn reset_drops_what_is_left_reopens_and_zeroes_the_metrics() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut config = cfg(2);
    config.enable_metrics = true;
    let (mut tx, mut rx) = Ring::<Counted>::new(config).unwrap();
    // Wrap once, so what is left straddles the end of the slot array.
    for round in 0..2 {
        for _ in 0..3 {
            assert!(tx.send_one(Counted(drops.clone())).is_ok());
        }
        if round == 0 {
            assert_eq!(rx.skip(3), 3);
        }
    }
    rx.close();
    assert_eq!(drops.load(Ordering::Relaxed), 3);
    Ring::reset(&mut tx, &mut rx).unwrap();
    assert_eq!(
        drops.load(Ordering::Relaxed),
        6,
        "each left item dropped once"
    );
    assert!(rx.is_empty() && !rx.is_closed() && !tx.is_closed());
    let m = rx.metrics().unwrap();
    assert_eq!((m.messages_sent, m.messages_received), (0, 0));
    // A full lap works as on a new ring.
    for _ in 0..4 {
        assert!(tx.send_one(Counted(drops.clone())).is_ok());
    }
    assert!(
        tx.send_one(Counted(drops.clone())).is_err(),
        "full at capacity"
    );
    assert_eq!(rx.skip(4), 4);
    assert_eq!(rx.metrics().unwrap().messages_received, 4);

    // Handles of two different rings are refused, and nothing is touched.
    let (_tx2, mut rx2) = Ring::<Counted>::new(cfg(2)).unwrap();
    assert!(tx.send_one(Counted(drops.clone())).is_ok());
    assert!(matches!(
        Ring::reset(&mut tx, &mut rx2),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(rx.len(), 1);

    // The byte-slot ring, with a reservation pending.
    let (mut stx, mut srx) = SlotRing::new(cfg(2), 4).unwrap();
    stx.send(&[1u8; 12]).unwrap();
    stx.reserve(1).unwrap();
    srx.close();
    SlotRing::reset(&mut stx, &mut srx).unwrap();
    assert!(srx.is_empty() && !srx.is_closed());
    assert!(
        stx.commit(1).is_err(),
        "the reservation went with the reset"
    );
    assert_eq!(stx.send(&[2u8; 16]).unwrap(), 4);
    let mut out = [0u8; 16];
    assert_eq!(srx.recv(&mut out).unwrap(), 4);
    assert_eq!(out, [2u8; 16]);
}

#[test]
fn handles_show_their_ring_state_in_debug() {
    let (mut tx, rx) = Ring::<u64>::new(Config::with_ring_bits(3)).unwrap();
    tx.send_one(1).unwrap();
    let shown = format!("{tx:?} {rx:?}");
    assert!(shown.contains("capacity: 8"), "{shown}");
    assert!(shown.contains("len: 1"), "{shown}");
    assert!(
        shown.contains("tail: 1") && shown.contains("head: 0"),
        "{shown}"
    );
}

#[test]
fn consume_while_frees_what_was_accepted_and_leaves_the_declined_item() {
    let (mut tx, mut rx) = Ring::<u64>::new(Config::with_ring_bits(3)).unwrap();
    for i in 0..5 {
        tx.send_one(i).unwrap();
    }
    let mut seen = Vec::new();
    let n = rx.consume_while(usize::MAX, |&x| {
        seen.push(x);
        x < 2
    });
    assert_eq!((n, seen.as_slice()), (2, [0, 1, 2].as_slice()));
    assert_eq!(rx.len(), 3, "the declined item and those after it stay");
    assert_eq!(rx.try_recv().unwrap(), 2);

    let (mut stx, mut srx) = SlotRing::new(Config::with_ring_bits(3), 2).unwrap();
    stx.send(&[1, 1, 2, 2, 3, 3]).unwrap();
    let n = srx.consume_while(usize::MAX, |s| s[0] != 2);
    assert_eq!((n, srx.len()), (1, 2));
    let mut out = [0u8; 2];
    srx.try_recv(&mut out).unwrap();
    assert_eq!(out, [2, 2]);
}

/// A lease driven as the C header drives it: slots written through the
/// lease's pointers, positions published through its words; the handles
/// take the sides back at the published positions and go on from there.
#[test]
fn lease_hands_sides_out_and_back() {
    let (mut tx, mut rx) = SlotRing::new(cfg(2), 8).unwrap();
    tx.send(&1u64.to_ne_bytes()).unwrap();
    let p = tx.lease().unwrap();
    let c = rx.lease().unwrap();
    assert_eq!((p.position, p.slot_size, p.mask), (1, 8, 3));
    assert_eq!(c.position, 0);
    // SAFETY: the lease's pointers are valid while the handles live; slot
    // 1 is free (one item in a ring of four).
    unsafe {
        p.slots.add(8).cast::<u64>().write_unaligned(2);
        (*p.own).store(2, Ordering::Release);
        assert_eq!((*c.peer).load(Ordering::Acquire), 2);
        assert_eq!(c.slots.cast::<u64>().read_unaligned(), 1);
        (*c.own).store(1, Ordering::Release);
    }
    // A position the lease did not publish is refused, and nothing changes.
    assert!(matches!(tx.resume(3), Err(Error::Corrupt(_))));
    assert!(matches!(rx.resume(0), Err(Error::Corrupt(_))));
    tx.resume(2).unwrap();
    rx.resume(1).unwrap();
    let mut out = [0u8; 8];
    rx.try_recv(&mut out).unwrap();
    assert_eq!(u64::from_ne_bytes(out), 2);
    assert_eq!(tx.send(&3u64.to_ne_bytes()).unwrap(), 1);
    rx.try_recv(&mut out).unwrap();
    assert_eq!(u64::from_ne_bytes(out), 3);
}

/// A side whose metrics a lease holder would skip is not lent.
#[test]
fn lease_refused_with_metrics() {
    let config = Config {
        enable_metrics: true,
        ..cfg(2)
    };
    let (mut tx, mut rx) = SlotRing::new(config, 8).unwrap();
    assert!(matches!(tx.lease(), Err(Error::InvalidArgument(_))));
    assert!(matches!(rx.lease(), Err(Error::InvalidArgument(_))));
}

/// A side is not taken back while the peer's position is impossible, even
/// at the position the lease published.
#[test]
fn lease_resume_checks_the_peer() {
    let (mut tx, _rx) = SlotRing::new(cfg(2), 8).unwrap();
    let p = tx.lease().unwrap();
    // SAFETY: the lease's words are valid while the handles live.
    let head = unsafe { &*p.peer };
    head.store(100, Ordering::Release);
    assert!(matches!(tx.resume(p.position), Err(Error::Corrupt(_))));
    head.store(0, Ordering::Release);
    tx.resume(p.position).unwrap();
}

/// A producer of a channel is lent with the channel's gate as the word
/// its holder looks at after a publication: not zero while a notifier is
/// attached to the channel, which `wake_consumer` then signals; and a
/// consumer parked on the channel is woken by it (within 10 s, or the test
/// fails: the consumer waits without a limit). A producer with a notifier
/// of its user's is not lent. So for an MPMC channel's producer.
#[test]
#[cfg_attr(miri, ignore = "a futex sleep without a limit, an eventfd")]
fn lease_of_a_channel_producer_looks_at_the_channel() {
    use crate::channel::{mpmc, mpsc};
    use crate::EventNotifier;
    let mut ch = mpsc::SlotChannel::with_slots(cfg(2), 8).unwrap();
    let mut tx = ch.register().unwrap().into_end();
    let p = tx.lease().unwrap();
    // SAFETY: the lease's pointers are valid while the handles live.
    let gate = unsafe { &*p.peer_waiters };
    assert_eq!(gate.load(Ordering::Relaxed), 0);
    let n = Arc::new(EventNotifier::new().unwrap());
    ch.set_notifier(Some(n.clone()));
    assert_ne!(gate.load(Ordering::Relaxed), 0);
    tx.wake_consumer();
    assert_eq!(n.consume(), 1);
    ch.set_notifier(None);
    assert_eq!(gate.load(Ordering::Relaxed), 0);

    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut got = Vec::new();
        let n = ch.consume_all_blocking(|item| got.extend_from_slice(item), WaitStrategy::Blocking);
        let _ = done.send((n.ok(), got));
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while gate.load(Ordering::Relaxed) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the consumer never parked"
        );
        std::thread::yield_now();
    }
    // SAFETY: as above; the ring of four is empty, so slot 0 is free.
    unsafe {
        p.slots.cast::<u64>().write_unaligned(7);
        (*p.own).store(1, Ordering::Release);
    }
    tx.wake_consumer();
    let woken = result.recv_timeout(Duration::from_secs(10));
    assert_eq!(woken, Ok((Some(1), 7u64.to_ne_bytes().to_vec())));
    tx.resume(1).unwrap();
    tx.set_notifier(Some(n));
    assert!(matches!(tx.lease(), Err(Error::InvalidArgument(_))));

    let config = mpmc::MpmcConfig {
        ring: cfg(2),
        ..Default::default()
    };
    let mpmc = mpmc::slot_channel(config, 8).unwrap();
    let mut mtx = mpmc.register_producer().unwrap();
    let p = mtx.lease().unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { &*p.peer_waiters }.load(Ordering::Relaxed), 0);
    mtx.resume(p.position).unwrap();
}

#[test]
fn a_short_buffer_takes_nothing_from_a_slot_ring() {
    let (mut tx, mut rx) = SlotRing::new(cfg(2), 4).unwrap();
    let mut short = [0u8; 3];
    assert!(matches!(
        rx.try_recv(&mut short),
        Err(Error::InvalidArgument(_))
    ));
    assert!(tx.send_one(&[7; 4]).unwrap());
    assert!(matches!(
        rx.try_recv(&mut short),
        Err(Error::InvalidArgument(_))
    ));
    let mut out = [0u8; 4];
    rx.try_recv(&mut out).unwrap();
    assert_eq!(out, [7; 4]);
    assert!(matches!(rx.try_recv(&mut out), Err(Error::Empty)));
}
