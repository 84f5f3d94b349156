//! MPSC channel: sequence-numbered stress from many producers (per-producer
//! order, nothing lost or duplicated), registration racing a live consumer,
//! producers leaving mid-stream, blocking consumers and the event loop.

use ringcore::channel::{mpsc, EventLoop};
use ringcore::{Config, Error, EventNotifier, WaitStrategy};
use std::collections::HashMap;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

#[path = "support/watchdog.rs"]
mod watchdog;

const PER_PRODUCER: u64 = if cfg!(miri) { 100 } else { 1_000_000 };
const PER_RACER: u64 = if cfg!(miri) { 20 } else { 5_000 };
const LOOP_ITEMS: u64 = if cfg!(miri) { 50 } else { 10_000 };

fn item(producer: u64, seq: u64) -> u64 {
    producer << 40 | seq
}

/// Checks per-producer order and returns how many items each producer sent.
struct Checker(HashMap<u64, u64>);
impl Checker {
    fn see(&mut self, x: u64) {
        let (p, s) = (x >> 40, x & ((1 << 40) - 1));
        let next = self.0.entry(p).or_insert(0);
        assert_eq!(s, *next, "producer {p}: lost, duplicated or reordered");
        *next += 1;
    }
}

#[test]
fn eight_producers_a_million_each_arrive_whole_and_in_order() {
    let _watchdog = watchdog::watchdog(120);
    let mut ch = mpsc::Channel::<u64>::new(Config::with_ring_bits(10)).unwrap();
    let producers: Vec<_> = (0..8u64)
        .map(|p| {
            let mut tx = ch.register().unwrap();
            thread::spawn(move || {
                let mut buf = Vec::with_capacity(64);
                let mut seq = 0;
                while seq < PER_PRODUCER {
                    if p % 2 == 0 {
                        tx.send_one_blocking(item(p, seq), WaitStrategy::Yielding)
                            .unwrap();
                        seq += 1;
                    } else {
                        buf.clear();
                        buf.extend((seq..(seq + 64).min(PER_PRODUCER)).map(|s| item(p, s)));
                        seq += tx.send_blocking(&buf, WaitStrategy::Yielding).unwrap() as u64;
                    }
                }
            })
        })
        .collect();
    let mut check = Checker(HashMap::new());
    let total = 8 * PER_PRODUCER;
    let mut seen = 0;
    let mut buf = [0u64; 256];
    while seen < total {
        if seen % 3 == 0 {
            let n = ch.recv(&mut buf);
            buf[..n].iter().for_each(|&x| check.see(x));
            seen += n as u64;
        } else {
            seen += ch.consume_all(|&x| check.see(x)) as u64;
        }
    }
    for p in producers {
        p.join().unwrap();
    }
    assert!(check.0.values().all(|&n| n == PER_PRODUCER));
    ch.close();
    assert!(ch.is_fully_drained());
}

#[test]
fn registration_races_a_live_consumer_and_producers_leave_mid_stream() {
    let _watchdog = watchdog::watchdog(120);
    let paced = WaitStrategy::Paced {
        pause: Duration::from_micros(1),
    };
    for strategy in [WaitStrategy::Blocking, paced] {
        registration_race(strategy);
    }
}

/// Producers register, send and leave while a consumer waits by `strategy`.
fn registration_race(strategy: WaitStrategy) {
    let racers = if cfg!(miri) { 4 } else { 16u64 };
    let ch = mpsc::Channel::<u64>::new(Config::with_ring_bits(6)).unwrap();
    let registrar = ch.registrar();
    let consumer = thread::spawn(move || {
        let mut ch = ch;
        let mut check = Checker(HashMap::new());
        let mut seen = 0u64;
        loop {
            match ch.consume_all_blocking(|&x| check.see(x), strategy) {
                Ok(n) => seen += n as u64,
                Err(Error::Closed) => break,
                Err(e) => panic!("{e}"),
            }
            if seen == racers * PER_RACER {
                ch.close();
            }
        }
        (seen, check.0)
    });
    // Producers register while the consumer runs, send, and leave at once:
    // their rings close and their items must still arrive.
    let producers: Vec<_> = (0..racers)
        .map(|p| {
            let registrar = registrar.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_micros(100 * p));
                let mut tx = registrar.register().unwrap();
                for s in 0..PER_RACER {
                    tx.send_one_blocking(item(p, s), WaitStrategy::Blocking)
                        .unwrap();
                }
                tx.deregister();
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let (seen, per) = consumer.join().unwrap();
    assert_eq!(seen, racers * PER_RACER);
    assert!(per.values().all(|&n| n == PER_RACER));
    assert!(matches!(registrar.register(), Err(Error::Closed)));
}

#[test]
fn status_and_adaptive_skip() {
    let _watchdog = watchdog::watchdog(120);
    let config = Config {
        enable_metrics: true,
        ..Config::with_ring_bits(4)
    };
    let mut ch = mpsc::Channel::<u32>::new(config).unwrap();
    let mut a = ch.register().unwrap();
    let mut b = ch.register().unwrap();
    assert_eq!((a.id(), b.id()), (0, 1));
    assert_eq!(a.send(&[1, 2, 3]), 3);
    assert_eq!(b.send(&[4]), 1);
    assert_eq!(ch.total_pending(), 4);
    assert_eq!(ch.hottest_ring(), Some(0));
    assert_eq!(ch.get_ring(1).unwrap().len(), 1);
    assert_eq!(ch.try_recv().unwrap(), 1);
    let mut out = Vec::new();
    assert_eq!(ch.drain(&mut out), 3);
    assert_eq!(out, [2, 3, 4]);
    // Idle rings are skipped for a growing number of passes...
    for _ in 0..10 {
        assert_eq!(ch.consume_all(|_| {}), 0);
    }
    // ...while another ring is busy, a skipped ring waits its turn...
    b.send_one(9).unwrap();
    a.send_one(8).unwrap();
    let mut got = 0;
    for _ in 0..70 {
        got += ch.consume_all(|_| {});
        let _ = a.send_one(8);
    }
    assert!(got >= 70, "the busy ring is served every pass");
    assert_eq!(
        ch.total_pending(),
        1,
        "the skipped ring was polled within 64 passes"
    );
    ch.drain(&mut Vec::new());
    // ...but a pass never reports nothing while a skipped ring holds data
    // (a consumer woken by a notifier would otherwise wait forever).
    // Whatever point of its countdown the ring is at.
    for idle in 0..=130 {
        for _ in 0..idle {
            assert_eq!(ch.consume_all(|_| {}), 0);
        }
        b.send_one(9).unwrap();
        assert_eq!(ch.consume_all(|_| {}), 1, "after {idle} idle passes");
    }
    // ...and resetting polls them at once.
    b.send_one(10).unwrap();
    ch.reset_adaptive_skip();
    assert_eq!(ch.consume_all(|_| {}), 1);
    let stats = ch.snapshot();
    assert_eq!((stats.rings, stats.pending, stats.closed), (2, 0, false));
    assert!(stats.metrics.unwrap().messages_received >= 77);
    assert!(matches!(ch.try_recv(), Err(Error::Empty)));
    drop(a);
    ch.close();
    assert!(matches!(b.send_one(1).unwrap_err().reason, Error::Closed));
    assert!(matches!(ch.try_recv(), Err(Error::Closed)));
    assert!(matches!(
        ch.recv_blocking(WaitStrategy::Blocking),
        Err(Error::Closed)
    ));
}

#[test]
fn a_blocking_consumer_sleeps_until_any_producer_sends() {
    let _watchdog = watchdog::watchdog(120);
    let mut ch = mpsc::Channel::<u64>::new(Config::with_ring_bits(4)).unwrap();
    let regs: Vec<_> = (0..3).map(|_| ch.register().unwrap()).collect();
    let t = thread::spawn(move || {
        for (i, mut tx) in regs.into_iter().enumerate() {
            thread::sleep(Duration::from_millis(20));
            tx.send_one(i as u64).unwrap();
        }
    });
    let mut got = Vec::new();
    while got.len() < 3 {
        got.push(ch.recv_blocking(WaitStrategy::Blocking).unwrap());
    }
    t.join().unwrap();
    got.sort();
    assert_eq!(got, [0, 1, 2]);
    let t = WaitStrategy::TimedBlocking {
        timeout: Duration::from_millis(20),
    };
    assert!(matches!(ch.recv_blocking(t), Err(Error::TimedOut)));
}

#[test]
fn the_event_loop_drains_everything_on_stop() {
    let _watchdog = watchdog::watchdog(120);
    let ch = mpsc::Channel::<u64>::new(Config::with_ring_bits(6)).unwrap();
    let registrar = ch.registrar();
    let sum = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let s = sum.clone();
    let lp = EventLoop::spawn(
        ch,
        move |x: &u64| {
            s.fetch_add(*x, std::sync::atomic::Ordering::Relaxed);
        },
        WaitStrategy::Blocking,
    );
    let producers: Vec<_> = (0..4u64)
        .map(|_| {
            let mut tx = registrar.register().unwrap();
            thread::spawn(move || {
                for i in 1..=LOOP_ITEMS {
                    tx.send_one_blocking(i, WaitStrategy::Blocking).unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(lp.stop(), 4 * LOOP_ITEMS);
    assert_eq!(
        sum.load(std::sync::atomic::Ordering::Relaxed),
        4 * LOOP_ITEMS * (LOOP_ITEMS + 1) / 2
    );
}

#[test]
fn an_idle_event_loop_stops_whatever_its_strategy() {
    let _watchdog = watchdog::watchdog(60);
    let strategies = [
        WaitStrategy::BusySpin,
        WaitStrategy::Yielding,
        WaitStrategy::Sleeping {
            sleep: Duration::from_millis(1),
        },
        WaitStrategy::Blocking,
        WaitStrategy::TimedBlocking {
            timeout: Duration::from_millis(5),
        },
        WaitStrategy::PhasedBackoff {
            spin_iterations: 10,
            yield_iterations: 10,
        },
        WaitStrategy::Paced {
            pause: Duration::from_micros(1),
        },
        // Steps longer than the loop's look at its stop flag are cut short.
        WaitStrategy::Sleeping {
            sleep: Duration::from_secs(3600),
        },
        WaitStrategy::Paced {
            pause: Duration::from_secs(3600),
        },
    ];
    for strategy in strategies {
        let ch = mpsc::Channel::<u64>::new(Config::with_ring_bits(6)).unwrap();
        let mut tx = ch.register().unwrap();
        let lp = EventLoop::spawn(ch, |_: &u64| {}, strategy);
        tx.send_one(1).unwrap();
        while lp.processed() < 1 {
            thread::yield_now();
        }
        // Idle, deep in its wait: nothing to read will wake it, the stop
        // must.
        thread::sleep(Duration::from_millis(20));
        assert_eq!(lp.stop(), 1, "{strategy:?}");
        let refused = tx.send_one(3).unwrap_err();
        assert!(matches!(refused.reason, Error::Closed), "{strategy:?}");
    }
}

#[test]
fn a_batched_event_loop_wraps_whole_batches() {
    let _watchdog = watchdog::watchdog(120);
    let ch = mpsc::Channel::<u64>::new(Config::with_ring_bits(10)).unwrap();
    let mut tx = ch.register().unwrap();
    for i in 0..1000 {
        tx.send_one(i).unwrap();
    }
    // `inside` is set only while `around` runs its batch: every handler
    // call must see it, and 1000 items sent before the start take a few
    // batches, not one each.
    let inside = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let batches = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (i1, i2, b) = (inside.clone(), inside.clone(), batches.clone());
    let lp = EventLoop::try_spawn_batched(
        ch,
        move |_: &u64| assert!(i1.load(std::sync::atomic::Ordering::Relaxed)),
        WaitStrategy::Blocking,
        move |batch: &mut dyn FnMut()| {
            b.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            i2.store(true, std::sync::atomic::Ordering::Relaxed);
            batch();
            i2.store(false, std::sync::atomic::Ordering::Relaxed);
        },
    )
    .map_err(|(_, e)| e)
    .expect("spawning the loop");
    while lp.processed() < 1000 {
        thread::yield_now();
    }
    assert_eq!(lp.stop(), 1000);
    // The batches that held items, and the final drain.
    assert!(batches.load(std::sync::atomic::Ordering::Relaxed) <= 3);
}

#[test]
fn an_attached_event_notifier_fires_on_commits() {
    let _watchdog = watchdog::watchdog(120);
    let mut ch = mpsc::Channel::<u8>::new(Config::with_ring_bits(4)).unwrap();
    let n = Arc::new(EventNotifier::new().unwrap());
    ch.set_notifier(Some(n.clone()));
    let mut tx = ch.register().unwrap();
    tx.send_one(1).unwrap();
    tx.send_one(2).unwrap();
    assert_eq!(n.consume(), 2);
    ch.set_notifier(None);
    tx.send_one(3).unwrap();
    assert_eq!(n.consume(), 0);
    assert_eq!(ch.consume_all(|_| {}), 3);
}

/// A notifier a channel's producer attaches (or detaches) itself is
/// called beside the channel's wake-up, not instead: the sleeping consumer
/// still wakes on that producer's commits.
#[test]
fn a_producers_own_notifier_leaves_the_channels_wake_up_alone() {
    let _watchdog = watchdog::watchdog(120);
    let mut ch = mpsc::Channel::<u64>::new(Config::with_ring_bits(4)).unwrap();
    let n = Arc::new(EventNotifier::new().unwrap());
    let mut with = ch.register().unwrap();
    with.set_notifier(Some(n.clone()));
    let mut without = ch.register().unwrap();
    without.set_notifier(None);
    let t = thread::spawn(move || {
        for (i, tx) in [&mut with, &mut without].into_iter().enumerate() {
            thread::sleep(Duration::from_millis(20));
            tx.send_one(i as u64).unwrap();
        }
        (with, without)
    });
    // A consumer nobody wakes sleeps out its 20 s (then finds the item):
    // a bound for a hang, far above the 40 ms of the sends.
    let wait = WaitStrategy::TimedBlocking {
        timeout: Duration::from_secs(20),
    };
    let started = std::time::Instant::now();
    let got: Vec<u64> = (0..2).map(|_| ch.recv_blocking(wait).unwrap()).collect();
    assert!(started.elapsed() < Duration::from_secs(10), "woken");
    assert_eq!(got, [0, 1]);
    let (mut with, _) = t.join().unwrap();
    assert_eq!(n.consume(), 1, "the producer's own notifier fired");
    with.set_notifier(None);
    with.send_one(2).unwrap();
    assert_eq!(n.consume(), 0);
    assert_eq!(ch.try_recv().unwrap(), 2);
}

#[test]
fn byte_slot_channels_carry_items_of_any_size() {
    let _watchdog = watchdog::watchdog(120);
    let mut ch = mpsc::SlotChannel::with_slots(Config::with_ring_bits(4), 24).unwrap();
    let mut a = ch.register().unwrap();
    let mut b = ch.register().unwrap();
    a.send(&[1u8; 48]).unwrap();
    b.send(&[2u8; 24]).unwrap();
    let mut seen = Vec::new();
    ch.consume_all(|s: &[u8]| seen.push(s[0]));
    assert_eq!(seen, [1, 1, 2]);
    b.send(&[3u8; 24]).unwrap();
    let mut out = [0u8; 100];
    assert_eq!(ch.recv(&mut out), 1);
    assert_eq!(out[0], 3);
    assert!(mpsc::SlotChannel::with_slots(Config::DEFAULT, 0).is_err());
}

#[test]
fn byte_slot_try_recv_takes_the_rings_in_turn_and_refuses_a_short_buffer() {
    let _watchdog = watchdog::watchdog(60);
    let mut ch = mpsc::SlotChannel::with_slots(Config::with_ring_bits(4), 8).unwrap();
    let mut out = [0u8; 8];
    assert!(matches!(ch.try_recv(&mut out), Err(Error::Empty)));
    let mut a = ch.register().unwrap();
    let mut b = ch.register().unwrap();
    a.send(&[[1u8; 8], [2; 8], [3; 8]].concat()).unwrap();
    b.send(&[[10u8; 8], [11; 8]].concat()).unwrap();
    // Refused, and nothing is taken.
    assert!(matches!(
        ch.try_recv(&mut [0u8; 7]),
        Err(Error::InvalidArgument(_))
    ));
    let mut next = |ch: &mut mpsc::SlotChannel| ch.try_recv(&mut out).map(|()| out[0]);
    assert_eq!(next(&mut ch).unwrap(), 1);
    // Sent after the consumer looked at ring a: it waits for ring b's turn.
    a.send(&[4u8; 8]).unwrap();
    let rest: Vec<u8> = std::iter::from_fn(|| next(&mut ch).ok()).collect();
    assert_eq!(rest, [2, 3, 10, 11, 4]);
    assert!(matches!(next(&mut ch), Err(Error::Empty)));
    drop((a, b));
    ch.close();
    assert!(matches!(next(&mut ch), Err(Error::Closed)));
}

/// With a user notifier attached (an event loop waits on it), a receive
/// that finds items leaves none in a ring it polls less often: the loop
/// would wait for a signal that no later commit sends.
#[test]
fn a_notified_consumer_is_left_nothing_in_skipped_rings() {
    let _watchdog = watchdog::watchdog(120);
    let mut ch = mpsc::Channel::<u32>::new(Config::with_ring_bits(4)).unwrap();
    ch.set_notifier(Some(Arc::new(EventNotifier::new().unwrap())));
    let mut a = ch.register().unwrap();
    let mut b = ch.register().unwrap();
    for idle in 0..=130 {
        for _ in 0..idle {
            a.send_one(1).unwrap();
            assert_eq!(ch.consume_all(|_| {}), 1);
        }
        a.send_one(1).unwrap();
        b.send_one(2).unwrap();
        assert_eq!(ch.consume_all(|_| {}), 2, "after {idle} passes");
    }
}

/// A typed channel of 16-slot rings with two registered producers.
fn two_producers() -> (
    mpsc::Channel<u32>,
    mpsc::ChannelProducer<u32>,
    mpsc::ChannelProducer<u32>,
) {
    let ch = mpsc::Channel::<u32>::new(Config::with_ring_bits(4)).unwrap();
    let a = ch.register().unwrap();
    let b = ch.register().unwrap();
    (ch, a, b)
}

#[test]
fn try_recv_takes_what_a_ring_showed_then_turns_to_the_next() {
    let _watchdog = watchdog::watchdog(60);
    let (mut ch, mut a, mut b) = two_producers();
    assert_eq!(a.send(&[1, 2, 3]), 3);
    assert_eq!(b.send(&[10, 11]), 2);
    assert_eq!(ch.try_recv().unwrap(), 1);
    // Sent after the consumer looked at ring a: it waits for ring b's turn.
    a.send_one(4).unwrap();
    let rest: Vec<u32> = std::iter::from_fn(|| ch.try_recv().ok()).collect();
    assert_eq!(rest, [2, 3, 10, 11, 4]);
    assert!(matches!(ch.try_recv(), Err(Error::Empty)));
}

#[test]
fn try_recv_keeps_a_later_rings_turn_and_survives_retired_rings() {
    let _watchdog = watchdog::watchdog(60);
    let (mut ch, mut a, mut b) = two_producers();
    // Ring a is empty: ring b's turn lasts for the two items it showed.
    assert_eq!(b.send(&[10, 11]), 2);
    assert_eq!(ch.try_recv().unwrap(), 10);
    a.send_one(1).unwrap();
    assert_eq!(ch.try_recv().unwrap(), 11);
    assert_eq!(ch.try_recv().unwrap(), 1);
    // A ring before the one whose turn it is retires (its producer gone,
    // nothing left in it): the turn stays with its ring.
    let mut c = ch.register().unwrap();
    assert_eq!(b.send(&[12, 13]), 2);
    assert_eq!(ch.try_recv().unwrap(), 12);
    c.send_one(30).unwrap();
    drop(a);
    assert_eq!(ch.consume_all_while(usize::MAX, |_| false), 0);
    assert_eq!(ch.snapshot().rings, 2);
    assert_eq!(ch.try_recv().unwrap(), 13);
    assert_eq!(ch.try_recv().unwrap(), 30);
    // The turn passes to ring c, the last, and ring b before it retires:
    // the one ring left is still read.
    b.send_one(14).unwrap();
    assert_eq!(ch.try_recv().unwrap(), 14);
    drop(b);
    assert_eq!(ch.consume_all(|_| {}), 0);
    assert_eq!(ch.snapshot().rings, 1);
    c.send_one(31).unwrap();
    assert_eq!(ch.try_recv().unwrap(), 31);
}

#[test]
fn batch_recv_starts_at_the_next_ring_on_each_call() {
    let _watchdog = watchdog::watchdog(60);
    let (mut ch, mut a, mut b) = two_producers();
    let mut c = ch.register().unwrap();
    assert_eq!(a.send(&[1, 2]), 2);
    assert_eq!(b.send(&[10, 11]), 2);
    assert_eq!(c.send(&[20, 21]), 2);
    let mut out = [0u32; 3];
    // Each call starts one ring later and fills from the rings after it.
    assert_eq!(ch.recv(&mut out), 3);
    assert_eq!(out, [1, 2, 10]);
    assert_eq!(ch.recv(&mut out[..2]), 2);
    assert_eq!(out[..2], [11, 20]);
    a.send_one(3).unwrap();
    assert_eq!(ch.recv(&mut out[..1]), 1);
    assert_eq!(out[0], 21, "the third call starts at the third ring");
    assert_eq!(ch.recv(&mut out[..1]), 1);
    assert_eq!(out[0], 3, "the fourth starts at the first again");
}

#[test]
fn dropping_the_channel_closes_it_for_every_producer() {
    let _watchdog = watchdog::watchdog(60);
    let ch = mpsc::Channel::<u32>::new(Config::with_ring_bits(2)).unwrap();
    let registrar = ch.registrar();
    let mut adopted = ch.register().unwrap();
    // Registered after the consumer's last look: its ring is still queued.
    let mut queued = registrar.register().unwrap();
    let blocked = {
        let mut p = registrar.register().unwrap();
        thread::spawn(move || loop {
            if let Err(e) = p.send_one_blocking(7, WaitStrategy::Blocking) {
                return e.reason;
            }
        })
    };
    thread::sleep(Duration::from_millis(50)); // the ring fills, the send sleeps
    drop(ch);
    assert!(matches!(
        adopted.send_one(1).unwrap_err().reason,
        Error::Closed
    ));
    assert!(matches!(
        queued.send_one(1).unwrap_err().reason,
        Error::Closed
    ));
    assert!(matches!(blocked.join().unwrap(), Error::Closed));
    assert!(matches!(registrar.register(), Err(Error::Closed)));
}
