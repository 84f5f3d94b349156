//! The read-only inspection (`ringcore::inspect`, `shm::inspect`,
//! `log::inspect`) against live rings: a look never misreads a record
//! while a consumer frees and a producer reuses the ring under it, the
//! meter counts every message, the follower sees every record in order.

use ringcore::inspect::{classify, EntryKind, Meter, Target};
use ringcore::msg::MessageRing;
use ringcore::shm::SegmentView;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[path = "support/watchdog.rs"]
mod watchdog;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("ringcore-inspect-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    /// A message ring of `2^bits` bytes in a file `ring` of this directory.
    fn ring(&self, bits: u8) -> (PathBuf, MessageRing) {
        let path = self.0.join("ring");
        let ring = MessageRing::create(Some(&path.display().to_string()), bits).unwrap();
        (path, ring)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Message `seq`: its number, then bytes derived from it (0..300 of them).
fn message(seq: u64) -> Vec<u8> {
    let mut m = seq.to_le_bytes().to_vec();
    m.extend((0..(seq * 7919 % 300)).map(|i| (i ^ seq) as u8));
    m
}

fn seq_of(payload: &[u8]) -> u64 {
    u64::from_le_bytes(payload[..8].try_into().unwrap())
}

#[test]
fn a_look_at_a_busy_ring_never_misreads() {
    let _w = watchdog::watchdog(60);
    let dir = Dir::new("busy");
    let (path, ring) = dir.ring(12);
    let mut tx = ring.sender().unwrap();
    let mut rx = ring.receiver().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let producer = std::thread::spawn(move || {
        let mut seq = 0u64;
        while !s.load(Ordering::Relaxed) {
            match tx.send(1, &message(seq)) {
                Ok(()) => seq += 1,
                Err(ringcore::Error::Full) => std::thread::yield_now(),
                // The consumer stopped first and closed the ring.
                Err(ringcore::Error::Closed) => break,
                Err(e) => panic!("{e}"),
            }
        }
        seq
    });
    let s = stop.clone();
    let consumer = std::thread::spawn(move || {
        let mut n = 0u64;
        while !s.load(Ordering::Relaxed) {
            if let Ok(m) = rx.try_recv() {
                assert_eq!(m.payload(), &message(n)[..]);
                n += 1;
            }
        }
        n
    });
    let view = SegmentView::open(&path).unwrap();
    let mut seen = 0;
    let start = std::time::Instant::now();
    // Until the look caught records many times over, and for a while.
    while seen < 10_000 || start.elapsed() < Duration::from_millis(300) {
        let look = view.peek(1 << 20).unwrap();
        // Whatever the look kept is exactly what was sent, in order.
        let mut last = None;
        for r in &look.records {
            let seq = seq_of(&r.payload);
            assert_eq!(r.payload, message(seq), "a misread record");
            if let Some(prev) = last {
                assert_eq!(seq, prev + 1);
            }
            last = Some(seq);
            seen += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let sent = producer.join().unwrap();
    consumer.join().unwrap();
    assert!(sent > 0);
    assert!(seen > 0, "the look never caught a waiting record");
}

#[test]
fn the_meter_counts_every_message_and_the_follower_sees_each_in_order() {
    let _w = watchdog::watchdog(60);
    let dir = Dir::new("meter");
    let (path, ring) = dir.ring(18);
    let mut tx = ring.sender().unwrap();
    let target = match Target::open(&dir.0, "ring").unwrap() {
        t @ Target::Segment(_) => t,
        Target::Log(_) => panic!("a ring opened as a log"),
    };
    let Target::Segment(view) = &target else {
        unreachable!()
    };
    let mut meter = Meter::new(&target).unwrap();
    let mut follower = view.follow().unwrap();
    let mut followed = Vec::new();
    let mut bytes = 0u64;
    // No consumer: nothing is freed, so everything is there to count.
    for seq in 0..400u64 {
        let m = message(seq);
        bytes += (8 + m.len() as u64).div_ceil(8) * 8;
        tx.send(seq as u32, &m).unwrap();
        if seq % 50 == 49 {
            let t = meter.sample().unwrap();
            assert_eq!(t.messages, seq + 1);
            assert!(t.exact);
            followed.extend(follower.poll(1000).unwrap().records);
        }
    }
    let t = meter.sample_for(Duration::from_millis(5)).unwrap();
    assert_eq!((t.messages, t.exact), (400, true));
    // Padding at the end of the ring counts as bytes, not messages.
    assert!(t.bytes >= bytes, "{} < {bytes}", t.bytes);
    let seqs: Vec<u64> = followed.iter().map(|r| seq_of(&r.payload)).collect();
    assert_eq!(seqs, (0..400).collect::<Vec<_>>());
    assert!(followed
        .iter()
        .all(|r| r.payload == message(seq_of(&r.payload))));
    drop(tx);
    let end = follower.poll(10).unwrap();
    assert!(end.ended && end.records.is_empty());
    let e = classify(&path);
    assert_eq!(e.kind, EntryKind::MessageRing);
    assert_eq!(e.segment.unwrap().ring.unwrap().pending_messages, Some(400));
}

/// Overwrites 4 bytes of the file at `path` at `offset`; returns what was there.
fn scribble(path: &std::path::Path, offset: u64, with: [u8; 4]) -> [u8; 4] {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut was = [0u8; 4];
    file.read_at(&mut was, offset).unwrap();
    file.write_at(&with, offset).unwrap();
    was
}

#[test]
fn a_damaged_record_comes_after_the_records_before_it_and_a_failed_call_moves_nothing() {
    let _w = watchdog::watchdog(60);
    let dir = Dir::new("damaged");
    // A ring follower: three 40-byte messages (48-byte records at 512 on).
    let (path, ring) = dir.ring(12);
    let mut tx = ring.sender().unwrap();
    for seq in 0..3u8 {
        tx.send(seq as u32, &[seq; 40]).unwrap();
    }
    let view = SegmentView::open(&path).unwrap();
    let mut follower = view.follow().unwrap();
    let was = scribble(&path, 512 + 2 * 48, 0x7fff_ffffu32.to_ne_bytes());
    assert_eq!(follower.poll(10).unwrap().records.len(), 2);
    for _ in 0..2 {
        assert!(matches!(
            follower.poll(10),
            Err(ringcore::Error::Corrupt(_))
        ));
    }
    scribble(&path, 512 + 2 * 48, was);
    let last = follower.poll(10).unwrap().records;
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].payload, [2u8; 40]);

    // Log cursors: the third record's commit word damaged.
    use ringcore::log::inspect::LogCursor;
    let base = dir.0.join("log");
    let mut w = ringcore::log::WriterBuilder::new(&base).build().unwrap();
    let mut third = 0;
    for i in 0..3u64 {
        third = w.position().offset;
        w.append_at(1, &[i as u8; 40], i).unwrap();
    }
    drop(w);
    let mut walker = LogCursor::open(&base, Some(0)).unwrap();
    let mut reader = LogCursor::open(&base, Some(0)).unwrap();
    let was = scribble(&base, third, 0x3fff_0000u32.to_ne_bytes());
    assert_eq!(walker.advance(10).unwrap().0, 2);
    for _ in 0..2 {
        assert!(reader.try_next().unwrap().is_some());
    }
    for _ in 0..2 {
        assert!(walker.advance(10).is_err());
        assert!(reader.try_next().is_err());
        assert_eq!((walker.next_index(), reader.next_index()), (2, 2));
    }
    scribble(&base, third, was);
    assert_eq!(walker.advance(10).unwrap().0, 1);
    assert_eq!(reader.try_next().unwrap().unwrap().payload, [2u8; 40]);
}

#[test]
fn a_receiver_ahead_of_the_stored_tail_is_no_damage() {
    let _w = watchdog::watchdog(60);
    let dir = Dir::new("lead");
    let (path, ring) = dir.ring(12);
    let (mut tx, mut rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
    tx.send(1, &[1; 40]).unwrap();
    drop(rx.try_recv().unwrap());
    // The sender stores its tail (at 0x80) after the commit word: a
    // receiver can take the record in between.
    scribble(&path, 0x80, [0; 4]);
    let look = SegmentView::open(&path).unwrap().peek(10).unwrap();
    assert_eq!(look.state.error, None);
    assert_eq!((look.records.len(), look.stopped), (0, None));
}

/// A look whose caller says stop copies no further record, in a message
/// ring and in a slot ring, and does not call it damage or a limit.
#[test]
fn a_look_stops_when_its_caller_says() {
    let _w = watchdog::watchdog(60);
    let dir = Dir::new("cut");
    let (path, ring) = dir.ring(12);
    let mut tx = ring.sender().unwrap();
    for i in 0..10u8 {
        tx.send(1, &[i; 24]).unwrap();
    }
    let slots = dir.0.join("slots");
    let slot_ring =
        ringcore::shm::SharedRing::create_slots(Some(&slots.display().to_string()), 6, 8).unwrap();
    let mut p = slot_ring.producer::<u64>().unwrap();
    for i in 0..10u64 {
        p.send_one(i).unwrap();
    }
    for path in [path, slots] {
        let mut seen = Vec::new();
        let look = SegmentView::open(&path)
            .unwrap()
            .peek_each(100, |r| {
                seen.push(r.payload[0]);
                if seen.len() == 3 {
                    std::ops::ControlFlow::Break(())
                } else {
                    std::ops::ControlFlow::Continue(())
                }
            })
            .unwrap();
        assert_eq!(seen, [0, 1, 2], "{}", path.display());
        assert_eq!((look.stopped, look.damaged), (None, false));
    }
}
