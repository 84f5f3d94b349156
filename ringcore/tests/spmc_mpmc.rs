//! SPMC and MPMC: every item is delivered exactly once, each consumer sees
//! each producer's items in order, and the limits and closing behave.

use ringcore::channel::{mpmc, spmc};
use ringcore::{Config, Error, WaitStrategy};
use std::thread;

#[path = "support/watchdog.rs"]
mod watchdog;

const ITEMS: u64 = if cfg!(miri) { 500 } else { 400_000 };

/// Checks exactly-once delivery from per-consumer logs: each log must be
/// increasing per producer, and all logs together must hold each item once.
fn check_exactly_once(logs: Vec<Vec<u64>>, producers: u64, per_producer: u64) {
    check_counts(logs, &vec![per_producer; producers as usize]);
}

/// [`check_exactly_once`] where producer `p` sent `sent[p]` items.
fn check_counts(logs: Vec<Vec<u64>>, sent: &[u64]) {
    let mut seen: Vec<Vec<u8>> = sent.iter().map(|&n| vec![0; n as usize]).collect();
    for log in logs {
        let mut last = vec![None::<u64>; sent.len()];
        for x in log {
            let (p, s) = ((x >> 40) as usize, x & ((1 << 40) - 1));
            if let Some(prev) = last[p] {
                assert!(s > prev, "a consumer saw producer {p} out of order");
            }
            last[p] = Some(s);
            let slot = &mut seen[p][s as usize];
            assert_eq!(*slot, 0, "item {p}/{s} delivered twice");
            *slot = 1;
        }
    }
    for (p, items) in seen.iter().enumerate() {
        assert!(
            items.iter().all(|&b| b == 1),
            "an item of producer {p} was lost"
        );
    }
}

#[test]
fn spmc_one_producer_four_consumers_exactly_once() {
    let _watchdog = watchdog::watchdog(120);
    let config = spmc::SpmcConfig {
        ring: Config::with_ring_bits(10),
        max_consumers: 4,
    };
    let (mut tx, ch) = spmc::channel::<u64>(config).unwrap();
    let consumers: Vec<_> = (0..4)
        .map(|k| {
            let mut rx = ch.register_consumer().unwrap();
            thread::spawn(move || {
                let mut log = Vec::new();
                let mut buf = [0u64; 32];
                loop {
                    let step = match k % 3 {
                        0 => rx
                            .steal_blocking(&mut buf, WaitStrategy::Blocking)
                            .map(|n| {
                                log.extend_from_slice(&buf[..n]);
                            }),
                        1 => rx
                            .recv_blocking(WaitStrategy::Blocking)
                            .map(|x| log.push(x)),
                        _ => {
                            if rx.consume_batch(|&x| log.push(x)) == 0 {
                                rx.recv_blocking(WaitStrategy::Blocking)
                                    .map(|x| log.push(x))
                            } else {
                                Ok(())
                            }
                        }
                    };
                    match step {
                        Ok(()) => {}
                        Err(Error::Closed) => return log,
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    assert!(matches!(
        ch.register_consumer(),
        Err(Error::TooManyConsumers)
    ));
    for s in 0..ITEMS {
        tx.send_one_blocking(s, WaitStrategy::Blocking).unwrap();
    }
    drop(tx); // closes the channel
    let logs = consumers.into_iter().map(|c| c.join().unwrap()).collect();
    check_exactly_once(logs, 1, ITEMS);
    assert!(matches!(ch.register_consumer(), Err(Error::Closed)));
}

#[test]
fn mpmc_six_producers_three_consumers_exactly_once() {
    let _watchdog = watchdog::watchdog(120);
    let config = mpmc::MpmcConfig {
        ring: Config::with_ring_bits(8),
        max_producers: 6,
        max_consumers: 3,
        rings_per_shard: 2,
    };
    let ch = mpmc::channel::<u64>(config).unwrap();
    let per = ITEMS / 4;
    let producers: Vec<_> = (0..6u64)
        .map(|p| {
            let mut tx = ch.register_producer().unwrap();
            thread::spawn(move || {
                for s in 0..per {
                    tx.send_one_blocking(p << 40 | s, WaitStrategy::Blocking)
                        .unwrap();
                }
            })
        })
        .collect();
    assert!(matches!(
        ch.register_producer(),
        Err(Error::TooManyProducers)
    ));
    let consumers: Vec<_> = (0..3)
        .map(|k| {
            let mut rx = ch.register_consumer().unwrap();
            thread::spawn(move || {
                let mut log = Vec::new();
                let mut buf = [0u64; 64];
                loop {
                    let r = if k == 0 {
                        match rx.consume_batch(|&x| log.push(x)) {
                            0 => rx
                                .steal_blocking(&mut buf, WaitStrategy::Blocking)
                                .map(|n| {
                                    log.extend_from_slice(&buf[..n]);
                                }),
                            _ => Ok(()),
                        }
                    } else {
                        rx.steal_blocking(&mut buf, WaitStrategy::Blocking)
                            .map(|n| log.extend_from_slice(&buf[..n]))
                    };
                    match r {
                        Ok(()) => {}
                        Err(Error::Closed) => return log,
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    assert!(matches!(
        ch.register_consumer(),
        Err(Error::TooManyConsumers)
    ));
    for p in producers {
        p.join().unwrap();
    }
    ch.close();
    let logs = consumers.into_iter().map(|c| c.join().unwrap()).collect();
    check_exactly_once(logs, 6, per);
    assert!(matches!(ch.register_producer(), Err(Error::Closed)));
}

#[test]
fn mpmc_producers_join_and_leave_while_consumers_steal() {
    let _watchdog = watchdog::watchdog(120);
    // Consumers run before any producer exists; producers register one by
    // one while they steal, and some leave mid-stream while others send.
    let config = mpmc::MpmcConfig {
        ring: Config::with_ring_bits(6),
        max_producers: 6,
        max_consumers: 3,
        rings_per_shard: 1,
    };
    let ch = mpmc::channel::<u64>(config).unwrap();
    let per = ITEMS / 8;
    let sent = [per, per / 3, per, per / 7, per, 1];
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let mut rx = ch.register_consumer().unwrap();
            thread::spawn(move || {
                let mut log = Vec::new();
                let mut buf = [0u64; 16];
                loop {
                    match rx.steal_blocking(&mut buf, WaitStrategy::Blocking) {
                        Ok(n) => log.extend_from_slice(&buf[..n]),
                        Err(Error::Closed) => return log,
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..6u64)
        .map(|p| {
            let ch = ch.clone();
            let count = sent[p as usize];
            thread::spawn(move || {
                thread::sleep(std::time::Duration::from_millis(2 * p));
                let mut tx = ch.register_producer().unwrap();
                for s in 0..count {
                    tx.send_one_blocking(p << 40 | s, WaitStrategy::Blocking)
                        .unwrap();
                }
                // Dropping closes this producer's ring; what it sent still
                // goes out, and the consumers keep going for the others.
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    ch.close();
    let logs = consumers.into_iter().map(|c| c.join().unwrap()).collect();
    check_counts(logs, &sent);
}

#[test]
fn claimed_items_with_destructors_are_dropped_once() {
    let _watchdog = watchdog::watchdog(120);
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut tx, ch) = spmc::channel::<Counted>(spmc::SpmcConfig::default()).unwrap();
    let mut rx = ch.register_consumer().unwrap();
    for _ in 0..10 {
        assert!(tx.send_one(Counted(drops.clone())).is_ok());
    }
    assert_eq!(rx.consume_batch(|_| {}), 10);
    assert_eq!(drops.load(Ordering::Relaxed), 10);
    for _ in 0..5 {
        assert!(tx.send_one(Counted(drops.clone())).is_ok());
    }
    drop(rx.steal_one().unwrap());
    assert_eq!(drops.load(Ordering::Relaxed), 11);
    drop((tx, rx, ch)); // four left in the ring
    assert_eq!(drops.load(Ordering::Relaxed), 15);
}

#[test]
fn timeouts_and_empty_channels() {
    let _watchdog = watchdog::watchdog(120);
    let (_tx, ch) = spmc::channel::<u8>(spmc::SpmcConfig::default()).unwrap();
    let mut rx = ch.register_consumer().unwrap();
    assert!(matches!(rx.steal_one(), Err(Error::Empty)));
    let t = WaitStrategy::TimedBlocking {
        timeout: std::time::Duration::from_millis(10),
    };
    assert!(matches!(rx.recv_blocking(t), Err(Error::TimedOut)));
    let ch = mpmc::channel::<u8>(mpmc::MpmcConfig::default()).unwrap();
    let mut c = ch.register_consumer().unwrap();
    assert_eq!(c.steal(&mut [0u8; 4]), 0);
    assert!(matches!(
        c.steal_blocking(&mut [0u8; 4], t),
        Err(Error::TimedOut)
    ));
    assert!(mpmc::channel::<u8>(mpmc::MpmcConfig {
        max_consumers: 0,
        ..Default::default()
    })
    .is_err());
}

/// Consumers that stall inside their handlers now and then (a yield, a
/// short sleep) make the others complete runs behind them, which hand their
/// slots over instead of waiting: every item still arrives exactly once and
/// in order per consumer, and the producer gets every slot back.
#[test]
fn consumers_that_stall_in_handlers_lose_nothing() {
    let _watchdog = watchdog::watchdog(120);
    let items: u64 = if cfg!(miri) { 300 } else { 100_000 };
    let config = spmc::SpmcConfig {
        ring: Config::with_ring_bits(6),
        max_consumers: 3,
    };
    let (mut tx, ch) = spmc::channel::<u64>(config).unwrap();
    let consumers: Vec<_> = (0..3u64)
        .map(|k| {
            let mut rx = ch.register_consumer().unwrap();
            thread::spawn(move || {
                let mut log = Vec::new();
                loop {
                    let n = rx.consume_up_to(1 + k as usize * 3, |&x| {
                        match (x + k) % 97 {
                            0 => thread::sleep(std::time::Duration::from_micros(200)),
                            1..=8 => thread::yield_now(),
                            _ => {}
                        }
                        log.push(x);
                    });
                    if n == 0 {
                        match rx.wait_for_data(WaitStrategy::Blocking) {
                            Ok(()) => {}
                            Err(Error::Closed) => return log,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for s in 0..items {
        tx.send_one_blocking(s, WaitStrategy::Blocking).unwrap();
    }
    let observer = tx.observer();
    drop(tx);
    let logs = consumers.into_iter().map(|c| c.join().unwrap()).collect();
    check_exactly_once(logs, 1, items);
    assert_eq!(observer.len(), 0, "every slot went back to the producer");
}

/// A consumer whose handler takes from its own lane completes its run
/// after the nested one: the nested completion must not wait for it (it
/// would wait forever, inside the handler).
#[test]
fn a_handler_may_take_from_its_own_channel() {
    let _watchdog = watchdog::watchdog(20);
    let config = spmc::SpmcConfig {
        ring: Config::with_ring_bits(2),
        max_consumers: 2,
    };
    let (mut tx, ch) = spmc::channel::<u64>(config).unwrap();
    for v in 1..=4 {
        tx.send_one(v).unwrap();
    }
    let (mut outer, mut inner) = (
        ch.register_consumer().unwrap(),
        ch.register_consumer().unwrap(),
    );
    let mut nested = Vec::new();
    let n = outer.consume_up_to(1, |&v| {
        nested.push(v);
        nested.push(inner.steal_one().unwrap());
    });
    assert_eq!((n, nested), (1, vec![1, 2]));
    // Both runs went back to the producer, the later one first.
    assert!(tx.send_one(5).is_ok() && tx.send_one(6).is_ok());
    assert!(tx.send_one(7).is_err(), "the ring holds 3, 4, 5, 6");
    let mut rest = [0u64; 4];
    assert_eq!(inner.steal(&mut rest), 4);
    assert_eq!(rest, [3, 4, 5, 6]);
}

/// A consumer stalled inside its handler holds back the producer's space,
/// never another consumer: one that claims the next item gets it and
/// returns while the first still holds its own, and the producer gets
/// both slots back once the first is done.
#[test]
fn a_stalled_consumer_holds_back_no_other_consumer() {
    let _watchdog = watchdog::watchdog(30);
    let config = mpmc::MpmcConfig {
        ring: Config::with_ring_bits(1),
        ..Default::default()
    };
    let ch = mpmc::channel::<u64>(config).unwrap();
    let mut tx = ch.register_producer().unwrap();
    tx.send_one(1).unwrap();
    tx.send_one(2).unwrap();
    let mut stalled = ch.register_consumer().unwrap();
    let mut other = ch.register_consumer().unwrap();
    let (entered, enter) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holder = thread::spawn(move || {
        let mut got = None;
        stalled.consume_up_to(1, |&v| {
            got = Some(v);
            entered.send(()).unwrap();
            let on_time = released.recv_timeout(std::time::Duration::from_secs(10));
            assert!(on_time.is_ok(), "the other consumer waited for this one");
        });
        got
    });
    enter.recv().unwrap();
    let t = WaitStrategy::TimedBlocking {
        timeout: std::time::Duration::from_secs(5),
    };
    assert_eq!(other.recv_blocking(t).unwrap(), 2);
    assert!(tx.send_one(3).is_err(), "the first slot is still held");
    release.send(()).unwrap();
    assert_eq!(holder.join().unwrap(), Some(1));
    assert!(tx.send_one(3).is_ok() && tx.send_one(4).is_ok());
}

/// A consumer asleep on an empty SPMC channel wakes with `Closed` however
/// its producer ends (dropped, closed, dropped while an observer lives) and
/// wakes for an item with a user notifier attached; an MPMC channel stays
/// open while producers come and go, until it is closed. Waits without a
/// timeout, so a lost wake-up fails by the watchdog.
#[test]
fn sleeping_consumers_wake_when_the_channel_ends() {
    let _watchdog = watchdog::watchdog(60);
    let pause = std::time::Duration::from_millis(50);
    for how in ["dropped", "closed", "dropped, its observer kept"] {
        let (tx, ch) = spmc::channel::<u64>(spmc::SpmcConfig::default()).unwrap();
        let mut rx = ch.register_consumer().unwrap();
        let sleeper = thread::spawn(move || rx.recv_blocking(WaitStrategy::Blocking));
        thread::sleep(pause);
        assert!(!ch.is_closed(), "{how}");
        // What stays alive until the end of the round.
        let (mut producer, mut observer) = (None, None);
        match how {
            "dropped" => drop(tx),
            "closed" => {
                tx.close();
                producer = Some(tx);
            }
            _ => {
                observer = Some(tx.observer());
                drop(tx);
            }
        }
        assert!(
            matches!(sleeper.join().unwrap(), Err(Error::Closed)),
            "{how}"
        );
        assert!(ch.is_closed(), "{how}");
        assert!(
            matches!(ch.register_consumer(), Err(Error::Closed)),
            "{how}"
        );
        drop((producer, observer));
    }
    let (mut tx, ch) = spmc::channel::<u64>(spmc::SpmcConfig::default()).unwrap();
    let user = std::sync::Arc::new(ringcore::EventNotifier::new().unwrap());
    tx.set_notifier(Some(user.clone()));
    let mut rx = ch.register_consumer().unwrap();
    let sleeper = thread::spawn(move || rx.recv_blocking(WaitStrategy::Blocking));
    thread::sleep(pause);
    tx.send_one(9).unwrap();
    assert_eq!(sleeper.join().unwrap().unwrap(), 9);
    assert!(user.consume() > 0);

    let ch = mpmc::slot_channel(mpmc::MpmcConfig::default(), 8).unwrap();
    let mut rx = ch.register_consumer().unwrap();
    drop(ch.register_producer().unwrap());
    let sleeper = thread::spawn(move || {
        rx.wait_for_data(WaitStrategy::Blocking).unwrap();
        let mut out = [0u8; 8];
        let n = rx.steal_blocking(&mut out, WaitStrategy::Blocking).unwrap();
        (n, out, rx.steal_blocking(&mut out, WaitStrategy::Blocking))
    });
    thread::sleep(pause);
    assert!(!ch.is_closed() && !sleeper.is_finished());
    let mut second = ch.register_producer().unwrap();
    second.send(&[7; 8]).unwrap();
    drop(second);
    thread::sleep(pause);
    ch.close();
    let (n, out, last) = sleeper.join().unwrap();
    assert_eq!((n, out), (1, [7; 8]));
    assert!(matches!(last, Err(Error::Closed)));
}

/// The handles cross threads as documented: channels are `Send + Sync`,
/// consumers `Send` when their items are.
#[test]
fn handles_are_send_and_sync_as_documented() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send_sync::<spmc::Channel<String>>();
    send_sync::<mpmc::SlotChannel>();
    send::<spmc::Consumer<String>>();
    send::<mpmc::SlotConsumer>();
}

/// Items of the byte-slot channels: producer (high byte) and sequence in 8
/// bytes, then 4 bytes repeating the sequence's low byte.
fn slot_item(p: u64, s: u64) -> [u8; 12] {
    let mut b = [(s as u8); 12];
    b[..8].copy_from_slice(&(p << 40 | s).to_le_bytes());
    b
}

fn parse_slot(item: &[u8]) -> u64 {
    assert_eq!(item.len(), 12);
    let x = u64::from_le_bytes(item[..8].try_into().unwrap());
    assert!(item[8..].iter().all(|&b| b == x as u8), "torn item");
    x
}

const SLOT_ITEMS: u64 = if cfg!(miri) { 200 } else { 100_000 };

#[test]
fn spmc_byte_slots_exactly_once() {
    let _watchdog = watchdog::watchdog(120);
    let config = spmc::SpmcConfig {
        ring: Config::with_ring_bits(8),
        max_consumers: 3,
    };
    let (mut tx, ch) = spmc::slot_channel(config, 12).unwrap();
    assert_eq!(ch.slot_size(), 12);
    let consumers: Vec<_> = (0..3)
        .map(|k| {
            let mut rx = ch.register_consumer().unwrap();
            thread::spawn(move || {
                let mut log = Vec::new();
                let mut buf = [0u8; 12 * 16];
                loop {
                    if k == 0 {
                        match rx.steal_blocking(&mut buf, WaitStrategy::Blocking) {
                            Ok(n) => log.extend(buf.chunks(12).take(n).map(parse_slot)),
                            Err(Error::Closed) => break,
                            Err(e) => panic!("{e}"),
                        }
                    } else if rx.consume_batch(|item| log.push(parse_slot(item))) == 0 {
                        if rx.is_closed() && rx.steal(&mut buf) == 0 {
                            break;
                        }
                        thread::yield_now();
                    }
                }
                log
            })
        })
        .collect();
    for s in 0..SLOT_ITEMS {
        tx.send_blocking(&slot_item(0, s), WaitStrategy::Blocking)
            .unwrap();
    }
    drop(tx);
    let logs = consumers.into_iter().map(|c| c.join().unwrap()).collect();
    check_exactly_once(logs, 1, SLOT_ITEMS);
    assert!(matches!(
        spmc::slot_channel(spmc::SpmcConfig::default(), 0),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn mpmc_byte_slots_exactly_once() {
    let _watchdog = watchdog::watchdog(120);
    let config = mpmc::MpmcConfig {
        ring: Config::with_ring_bits(8),
        max_producers: 3,
        max_consumers: 2,
        rings_per_shard: 1,
    };
    let ch = mpmc::slot_channel(config, 12).unwrap();
    let producers: Vec<_> = (0..3u64)
        .map(|p| {
            let mut tx = ch.register_producer().unwrap();
            thread::spawn(move || {
                for s in 0..SLOT_ITEMS {
                    tx.send_blocking(&slot_item(p, s), WaitStrategy::Blocking)
                        .unwrap();
                }
            })
        })
        .collect();
    assert!(matches!(
        ch.register_producer(),
        Err(Error::TooManyProducers)
    ));
    let consumers: Vec<_> = (0..2)
        .map(|k| {
            let mut rx = ch.register_consumer().unwrap();
            thread::spawn(move || {
                let mut log = Vec::new();
                let mut buf = [0u8; 12 * 32];
                loop {
                    let n = if k == 0 {
                        match rx.steal_blocking(&mut buf, WaitStrategy::Blocking) {
                            Ok(n) => {
                                log.extend(buf.chunks(12).take(n).map(parse_slot));
                                n
                            }
                            Err(Error::Closed) => break,
                            Err(e) => panic!("{e}"),
                        }
                    } else {
                        rx.consume_batch(|item| log.push(parse_slot(item)))
                    };
                    if n == 0 {
                        match rx.steal_blocking(&mut buf, WaitStrategy::Blocking) {
                            Ok(n) => log.extend(buf.chunks(12).take(n).map(parse_slot)),
                            Err(Error::Closed) => break,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                log
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    ch.close();
    let logs = consumers.into_iter().map(|c| c.join().unwrap()).collect();
    check_exactly_once(logs, 3, SLOT_ITEMS);
}

/// Two consumers (as the bindings hold them) that wait, then claim at most
/// 5 items in place; every item arrives exactly once.
fn claim_in_place_up_to_a_count(consumers: Vec<mpmc::SlotConsumer>, send: impl FnOnce()) {
    let none = WaitStrategy::TimedBlocking {
        timeout: std::time::Duration::ZERO,
    };
    let threads: Vec<_> = consumers
        .into_iter()
        .map(|mut rx| {
            thread::spawn(move || {
                let mut log = Vec::new();
                loop {
                    let n = rx.consume_up_to(5, |item| log.push(parse_slot(item)));
                    assert!(n <= 5);
                    if n == 0 {
                        match rx.wait_for_data(WaitStrategy::Blocking) {
                            Ok(()) => {}
                            Err(Error::Closed) => break,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                assert!(matches!(rx.wait_for_data(none), Err(Error::Closed)));
                log
            })
        })
        .collect();
    send();
    let logs = threads.into_iter().map(|c| c.join().unwrap()).collect();
    check_exactly_once(logs, 1, SLOT_ITEMS);
}

#[test]
fn claims_in_place_take_at_most_a_count_and_wait_without_claiming() {
    let _watchdog = watchdog::watchdog(120);
    let ring = Config::with_ring_bits(6);
    let (mut tx, ch) = spmc::slot_channel(
        spmc::SpmcConfig {
            ring,
            max_consumers: 2,
        },
        12,
    )
    .unwrap();
    let mut idle = ch.register_consumer().unwrap();
    let t = WaitStrategy::TimedBlocking {
        timeout: std::time::Duration::from_millis(10),
    };
    assert!(matches!(idle.wait_for_data(t), Err(Error::TimedOut)));
    assert_eq!(idle.consume_up_to(5, |_| unreachable!()), 0);
    drop(idle);
    let rx: Vec<mpmc::SlotConsumer> = (0..2).map(|_| ch.register_consumer().unwrap()).collect();
    claim_in_place_up_to_a_count(rx, move || {
        for s in 0..SLOT_ITEMS {
            tx.send_blocking(&slot_item(0, s), WaitStrategy::Blocking)
                .unwrap();
        }
    });

    let ch = mpmc::slot_channel(
        mpmc::MpmcConfig {
            ring,
            max_producers: 1,
            max_consumers: 2,
            rings_per_shard: 1,
        },
        12,
    )
    .unwrap();
    let mut tx = ch.register_producer().unwrap();
    let rx: Vec<mpmc::SlotConsumer> = (0..2).map(|_| ch.register_consumer().unwrap()).collect();
    claim_in_place_up_to_a_count(rx, move || {
        for s in 0..SLOT_ITEMS {
            tx.send_blocking(&slot_item(0, s), WaitStrategy::Blocking)
                .unwrap();
        }
        ch.close();
    });
}

#[test]
fn metrics_count_both_sides_with_many_consumers() {
    let _watchdog = watchdog::watchdog(120);
    let ring = Config {
        enable_metrics: true,
        ..Config::with_ring_bits(6)
    };
    let (mut tx, ch) = spmc::channel::<u64>(spmc::SpmcConfig {
        ring,
        max_consumers: 2,
    })
    .unwrap();
    assert!(spmc::channel::<u64>(spmc::SpmcConfig::default())
        .unwrap()
        .1
        .metrics()
        .is_none());
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let mut rx = ch.register_consumer().unwrap();
            thread::spawn(move || {
                let mut n = 0u64;
                while rx.recv_blocking(WaitStrategy::Blocking).is_ok() {
                    n += 1;
                }
                n
            })
        })
        .collect();
    for i in 0..SLOT_ITEMS {
        tx.send_one_blocking(i, WaitStrategy::Blocking).unwrap();
    }
    drop(tx);
    let got: u64 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(got, SLOT_ITEMS);
    let m = ch.metrics().unwrap();
    assert_eq!(
        (m.messages_sent, m.messages_received),
        (SLOT_ITEMS, SLOT_ITEMS)
    );
    assert!(m.batches_received > 0 && m.max_batch_size >= 1);

    let ch = mpmc::slot_channel(
        mpmc::MpmcConfig {
            ring,
            ..mpmc::MpmcConfig::default()
        },
        8,
    )
    .unwrap();
    let (mut a, mut b) = (
        ch.register_producer().unwrap(),
        ch.register_producer().unwrap(),
    );
    let mut c = ch.register_consumer().unwrap();
    a.send(&[1u8; 8 * 5]).unwrap();
    b.send(&[2u8; 8 * 3]).unwrap();
    while c.consume_batch(|_| {}) > 0 {}
    let m = ch.metrics().unwrap();
    assert_eq!((m.messages_sent, m.messages_received), (8, 8));
}

/// A channel whose rings could never be allocated (2^32 slots of 2^31
/// bytes) is refused when it is made, not at each producer's registration.
#[test]
fn channels_whose_rings_overflow_memory_are_refused_when_made() {
    use ringcore::channel::mpsc;
    let huge = Config::with_ring_bits(32);
    let refused = |r: Result<(), Error>| matches!(r, Err(Error::InvalidArgument(_)));
    assert!(refused(mpsc::Channel::<[u8; 1 << 31]>::new(huge).map(drop)));
    assert!(refused(
        mpsc::SlotChannel::with_slots(huge, 1 << 31).map(drop)
    ));
    assert!(refused(mpsc::SlotChannel::with_slots(huge, 0).map(drop)));
    let config = mpmc::MpmcConfig {
        ring: huge,
        ..Default::default()
    };
    assert!(refused(mpmc::slot_channel(config, 1 << 31).map(drop)));
    assert!(refused(mpmc::channel::<[u8; 1 << 31]>(config).map(drop)));
    // Just inside: made, and a producer gets its ring.
    let ch = mpsc::SlotChannel::with_slots(Config::with_ring_bits(4), 1 << 10).unwrap();
    ch.register().unwrap();
}
