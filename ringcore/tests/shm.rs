//! Shared segments in one process (several mappings of the same memory):
//! creation, attach and its refusals, descriptor passing, the message ring,
//! the shared pool, and a hostile peer scribbling over the memory.

use ringcore::msg::MessageRing;
use ringcore::shm::{self, recv_fd, send_fd, SharedRing};
use ringcore::{BufferPool, Error, WaitStrategy};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

#[path = "support/watchdog.rs"]
mod watchdog;

#[path = "support/mutant.rs"]
mod mutant;

#[path = "support/shared.rs"]
mod shared;
use shared::xorshift;

fn name(tag: &str) -> String {
    format!("ringcore-test-{tag}-{}", std::process::id())
}

/// Removes the named segment when dropped, even if the test fails.
struct Cleanup(String);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = shm::unlink(&shm::resolve_name(&self.0).unwrap());
    }
}

#[test]
fn a_named_ring_carries_typed_items_between_two_mappings() {
    let _watchdog = watchdog::watchdog(120);
    let n = name("typed");
    let _c = Cleanup(n.clone());
    let a = SharedRing::create::<u64>(&n, 4).unwrap();
    let b = SharedRing::attach::<u64>(&n).unwrap();
    let mut tx = a.producer::<u64>().unwrap();
    let mut rx = b.consumer::<u64>().unwrap();
    assert_eq!(a.producer_pid(), std::process::id());
    assert!(b.is_producer_alive(Duration::from_secs(1)));
    assert!(a.is_consumer_alive(Duration::from_secs(1)));
    for round in 0..10u64 {
        let items: Vec<u64> = (0..16).map(|i| round * 100 + i).collect();
        assert_eq!(tx.send(&items), 16);
        let mut out = [0u64; 16];
        assert_eq!(rx.recv(&mut out), 16);
        assert_eq!(&out[..], &items[..]);
    }
    // One process, one holder per side.
    assert!(matches!(a.producer::<u64>(), Err(Error::Busy(_))));
    assert!(matches!(b.consumer::<u64>(), Err(Error::Busy(_))));
    // A wrongly sized type is refused.
    assert!(matches!(
        b.producer::<u32>(),
        Err(Error::InvalidArgument(_))
    ));
    drop(tx); // dropping the producer closes the ring and frees the side
    assert!(b.is_closed());
    assert_eq!(a.producer_pid(), 0);
    assert!(matches!(rx.try_recv(), Err(Error::Closed)));
}

#[test]
fn named_segments_are_private_exclusive_and_cleaned_up() {
    let _watchdog = watchdog::watchdog(120);
    use std::os::unix::fs::PermissionsExt;
    let n = name("excl");
    let _c = Cleanup(n.clone());
    let ring = SharedRing::create_slots(Some(&n), 3, 24).unwrap();
    let path = shm::resolve_name(&n).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = SharedRing::create_slots(Some(&n), 3, 24);
    assert!(matches!(again, Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::AlreadyExists));
    assert!(!ring.is_stale(), "its creator (us) is alive");
    assert!(!shm::remove_if_stale(&n).unwrap());
    ring.unlink().unwrap();
    assert!(!path.exists());
    assert_eq!(ring.slot_size(), 24);
}

/// A named segment gets the mode and group asked for (0600 and the
/// creator's group by default), whatever the umask.
#[test]
fn named_segments_take_the_mode_and_group_asked_for() {
    let _watchdog = watchdog::watchdog(120);
    use ringcore::shm::Permissions;
    use std::os::unix::fs::MetadataExt;
    // SAFETY: getegid cannot fail.
    let group = unsafe { libc::getegid() };
    let n = name("perm");
    let _c = Cleanup(n.clone());
    let perm = Permissions {
        mode: 0o640,
        group: Some(group),
    };
    let _ring = MessageRing::create_with(Some(&n), 12, perm).unwrap();
    let meta = std::fs::metadata(shm::resolve_name(&n).unwrap()).unwrap();
    assert_eq!((meta.mode() & 0o7777, meta.gid()), (0o640, group));
    let n2 = name("perm-default");
    let _c2 = Cleanup(n2.clone());
    let _pool = BufferPool::create_shared(Some(&n2), 64, 4).unwrap();
    let meta = std::fs::metadata(shm::resolve_name(&n2).unwrap()).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o600);
    let bad = Permissions {
        mode: 0o4755,
        group: None,
    };
    let e = SharedRing::create_slots_with(Some(&name("perm-bad")), 4, 8, bad)
        .err()
        .unwrap();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
}

#[test]
fn a_creator_asking_for_it_removes_the_name_with_its_last_handle() {
    let _watchdog = watchdog::watchdog(120);
    let n = name("autounlink");
    let _c = Cleanup(n.clone());
    let path = shm::resolve_name(&n).unwrap();
    let ring = SharedRing::create::<u64>(&n, 4).unwrap();
    let peer = SharedRing::attach::<u64>(&n).unwrap(); // another mapping
    ring.unlink_on_drop(true);
    let mut tx = ring.producer::<u64>().unwrap();
    drop(ring);
    assert!(
        path.exists(),
        "the producer taken from it still holds the mapping"
    );
    tx.send_one(5).unwrap();
    drop(tx);
    assert!(!path.exists(), "gone with the creator's last handle");
    // The other mapping keeps working on the unlinked memory.
    assert_eq!(peer.consumer::<u64>().unwrap().try_recv().unwrap(), 5);

    // Asked and then withdrawn: the name stays.
    let msgs = MessageRing::create(Some(&n), 12).unwrap();
    msgs.unlink_on_drop(true);
    msgs.unlink_on_drop(false);
    drop(msgs);
    assert!(path.exists());
    shm::unlink(&path).unwrap();

    let pool = BufferPool::create_shared(Some(&n), 256, 4).unwrap();
    pool.segment().unwrap().set_unlink_on_drop(true);
    drop(pool);
    assert!(!path.exists());

    // A segment made anew under the name since is not removed.
    let old = SharedRing::create::<u64>(&n, 4).unwrap();
    old.unlink_on_drop(true);
    old.unlink().unwrap();
    let new = SharedRing::create::<u64>(&n, 4).unwrap();
    drop(old);
    assert!(path.exists(), "the new segment keeps its name");
    new.unlink().unwrap();
}

#[test]
fn attach_refuses_what_is_not_a_matching_segment() {
    let _watchdog = watchdog::watchdog(120);
    let dir = std::env::temp_dir();
    let attach = |p: &std::path::Path, slot: Option<usize>| {
        SharedRing::attach_slots(p.to_str().unwrap(), slot, Duration::from_millis(50))
    };
    let n = name("bad");
    let _c = Cleanup(n.clone());
    let ring = SharedRing::create_slots(Some(&n), 4, 16).unwrap();
    let good = shm::resolve_name(&n).unwrap();
    let bytes = std::fs::read(&good).unwrap();

    // Mismatched slot size.
    let e = SharedRing::attach_slots(&n, Some(8), Duration::ZERO)
        .err()
        .unwrap();
    assert!(
        matches!(&e, Error::InvalidHeader(m) if m.contains("16-byte slots")),
        "{e}"
    );
    // One no header can hold (it was cut to 2^32 - 1, and could match).
    let e = SharedRing::attach_slots(&n, Some(1 << 32), Duration::ZERO)
        .err()
        .unwrap();
    assert!(matches!(&e, Error::InvalidArgument(_)), "{e}");

    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: [(&str, Damage, &str); 5] = [
        (
            "magic",
            Box::new(|b| b[0] ^= 0xff),
            "not a ringmpsc segment",
        ),
        ("version", Box::new(|b| b[8] = 99), "version 99"),
        ("kind", Box::new(|b| b[12] = 2), "message ring"),
        (
            "truncated",
            Box::new(|b| b.truncate(600)),
            "file is 600 bytes",
        ),
        (
            "ring_bits",
            Box::new(|b| b[0x14] = 40),
            "inconsistent layout",
        ),
    ];
    for (tag, damage, expect) in cases {
        let p = dir.join(format!("ringcore-bad-{tag}-{}", std::process::id()));
        let mut b = bytes.clone();
        damage(&mut b);
        std::fs::write(&p, &b).unwrap();
        let e = attach(&p, None).expect_err(tag);
        std::fs::remove_file(&p).unwrap();
        assert!(matches!(e, Error::InvalidHeader(_)), "{tag}: {e}");
        assert!(e.to_string().contains(expect), "{tag}: {e}");
    }
    // A file of zeros was never a finished segment.
    let p = dir.join(format!("ringcore-bad-zeros-{}", std::process::id()));
    std::fs::write(&p, vec![0u8; 4096]).unwrap();
    let e = attach(&p, None).err().unwrap();
    std::fs::remove_file(&p).unwrap();
    assert!(e.to_string().contains("not marked ready"), "{e}");
    // A file shorter than a header, and something that is not a file.
    let p = dir.join(format!("ringcore-bad-short-{}", std::process::id()));
    std::fs::write(&p, b"short").unwrap();
    let e = attach(&p, None).err().unwrap();
    std::fs::remove_file(&p).unwrap();
    assert!(
        e.to_string().contains("smaller than a segment header"),
        "{e}"
    );
    let e = attach(std::path::Path::new("/dev/null"), None)
        .err()
        .unwrap();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    let e = attach(&dir.join("ringcore-does-not-exist"), None)
        .err()
        .unwrap();
    assert!(matches!(e, Error::Io(_)), "{e}");
    drop(ring);

    // A pool whose slab count disagrees with its data area, and one whose
    // data size overflows when added to the header's.
    let pool = BufferPool::create_shared(None, 64, 4).unwrap();
    let good = segment_bytes(pool.segment().unwrap().fd());
    let p = dir.join(format!("ringcore-bad-pool-{}", std::process::id()));
    let cases: [(std::ops::Range<usize>, &[u8], &str); 2] = [
        (0x3c..0x40, &5u32.to_ne_bytes(), "inconsistent pool layout"),
        (0x28..0x30, &u64::MAX.to_ne_bytes(), "its header says"),
    ];
    for (at, bytes, expect) in cases {
        let mut b = good.clone();
        b[at].copy_from_slice(bytes);
        std::fs::write(&p, &b).unwrap();
        let e = BufferPool::attach_shared(p.to_str().unwrap(), Duration::ZERO)
            .err()
            .unwrap();
        std::fs::remove_file(&p).unwrap();
        assert!(
            matches!(&e, Error::InvalidHeader(m) if m.contains(expect)),
            "{e}"
        );
    }
}

/// Segments appear whole (made unnamed, named once finished), so an
/// attacher never waits on garbage: an empty, all-zero, random or
/// half-made file under the name fails every kind of attach at once,
/// whatever the timeout.
#[test]
fn attach_to_garbage_fails_at_once() {
    let _watchdog = watchdog::watchdog(120);
    use ringcore::msg::transport::{Client, ClientOptions};
    let n = name("garbage");
    let _c = Cleanup(n.clone());
    let path = shm::resolve_name(&n).unwrap();
    let half_made = {
        let ring = SharedRing::create_slots(None, 4, 16).unwrap();
        let mut b = segment_bytes(ring.fd());
        b[0x1c..0x20].fill(0); // the state word: not ready
        b
    };
    let mut next = xorshift(0xfeed_5eed);
    let random: Vec<u8> = (0..8192).map(|_| next() as u8).collect();
    let long = Duration::from_secs(5);
    for (what, bytes) in [
        ("empty", vec![]),
        ("zeros", vec![0u8; 8192]),
        ("random", random),
        ("half-made", half_made),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        let t = std::time::Instant::now();
        let results = [
            SharedRing::attach_slots(&n, None, long).err(),
            MessageRing::attach(&n, long).err(),
            BufferPool::attach_shared(&n, long).err(),
        ];
        for e in results {
            let e = e.unwrap_or_else(|| panic!("{what}: attached"));
            assert!(matches!(e, Error::InvalidHeader(_)), "{what}: {e}");
        }
        // A client asks the name's socket, not the file: nobody holds it.
        let client = Client::connect(
            &n,
            ClientOptions {
                connect_timeout: long,
                ..ClientOptions::default()
            },
        );
        assert!(
            matches!(client.err(), Some(Error::Disconnected)),
            "{what}: client"
        );
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "{what}: waited {:?}",
            t.elapsed()
        );
        std::fs::remove_file(&path).unwrap();
    }
}

/// While one thread makes and removes a named segment again and again, an
/// attacher finds no segment or a whole one, never a half-made one.
#[test]
fn an_attacher_sees_no_segment_or_a_whole_one() {
    let _watchdog = watchdog::watchdog(120);
    use std::sync::atomic::{AtomicBool, Ordering};
    let n = name("appear");
    let _c = Cleanup(n.clone());
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let maker = {
        let (n, stop) = (n.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut made = 0;
            while !stop.load(Ordering::Relaxed) || made == 0 {
                let ring = MessageRing::create(Some(&n), 16).unwrap();
                ring.unlink().unwrap();
                made += 1;
            }
            made
        })
    };
    let (mut whole, mut none) = (0, 0);
    let t = std::time::Instant::now();
    while t.elapsed() < Duration::from_millis(300) {
        match MessageRing::attach(&n, Duration::ZERO) {
            Ok(r) => {
                assert_eq!(r.capacity(), 1 << 16);
                whole += 1;
            }
            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => none += 1,
            Err(e) => panic!("attached to a segment being made: {e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    assert!(maker.join().unwrap() > 0);
    assert!(whole + none > 0);
}

#[test]
fn an_anonymous_memfd_ring_travels_by_descriptor() {
    let _watchdog = watchdog::watchdog(120);
    let ring = SharedRing::create_slots(None, 6, 8).unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    send_fd(&a, ring.fd()).unwrap();
    let fd = recv_fd(&b).unwrap();
    let other = SharedRing::from_fd(fd, Some(8)).unwrap();
    let mut tx = ring.slot_producer(Duration::from_secs(1)).unwrap();
    let mut rx = other.slot_consumer(Duration::from_secs(1)).unwrap();
    tx.send(&42u64.to_le_bytes()).unwrap();
    let mut out = [0u8; 8];
    rx.try_recv(&mut out).unwrap();
    assert_eq!(u64::from_le_bytes(out), 42);
    // The memfd is sealed: it cannot be shrunk under the mapping.
    use std::os::fd::AsRawFd;
    // SAFETY: ftruncate on a descriptor we hold; expected to fail.
    let rc = unsafe { libc::ftruncate(ring.fd().as_raw_fd(), 100) };
    assert_eq!(rc, -1);
    // A message without a descriptor is refused.
    use std::io::Write;
    (&a).write_all(b"x").unwrap();
    assert!(recv_fd(&b).is_err());
}

/// A descriptor of a file whose size is not sealed (a named segment, an
/// unsealed memfd) is refused: its sender could shrink it under the
/// mapping, and the next touch of a lost page would kill this process.
#[test]
fn descriptors_of_unsealed_files_are_refused() {
    let _watchdog = watchdog::watchdog(120);
    let n = name("unsealed");
    let _c = Cleanup(n.clone());
    let ring = SharedRing::create_slots(Some(&n), 6, 8).unwrap();
    drop(ring);
    let path = shm::resolve_name(&n).unwrap();
    let open = || std::os::fd::OwnedFd::from(std::fs::File::open(&path).unwrap());
    let refused = |e: Error| matches!(&e, Error::InvalidHeader(m) if m.contains("not sealed"));
    assert!(refused(SharedRing::from_fd(open(), Some(8)).err().unwrap()));
    assert!(refused(MessageRing::from_fd(open()).err().unwrap()));
    assert!(refused(BufferPool::from_fd(open()).err().unwrap()));
}

#[test]
fn blocking_waits_work_across_mappings() {
    let _watchdog = watchdog::watchdog(120);
    let ring = SharedRing::create_slots(None, 2, 8).unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    send_fd(&a, ring.fd()).unwrap();
    let other = SharedRing::from_fd(recv_fd(&b).unwrap(), Some(8)).unwrap();
    let mut rx = other.consumer::<u64>().unwrap();
    let t = std::thread::spawn(move || {
        let mut got = Vec::new();
        loop {
            match rx.recv_blocking(WaitStrategy::Blocking) {
                Ok(v) => got.push(v),
                Err(Error::Closed) => return got,
                Err(e) => panic!("{e}"),
            }
        }
    });
    let mut tx = ring.producer::<u64>().unwrap();
    for i in 0..1000 {
        if i % 100 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
        tx.send_one_blocking(i, WaitStrategy::Blocking).unwrap();
    }
    drop(tx);
    assert_eq!(t.join().unwrap(), (0..1000).collect::<Vec<u64>>());
}

#[test]
fn message_ring_wraps_with_padding_and_checks_sizes() {
    let _watchdog = watchdog::watchdog(120);
    let ring = MessageRing::create(None, 12).unwrap(); // 4096 bytes
    let mut tx = ring.sender().unwrap();
    let mut rx = ring.receiver().unwrap();
    assert_eq!(ring.max_message(), 4080);
    assert!(matches!(
        tx.try_claim(4089),
        Err(Error::TooLarge {
            len: 4089,
            max: 4080
        })
    ));
    // Sizes that do not divide the ring force padding records at the wrap.
    let mut expected = std::collections::VecDeque::new();
    let mut seq = 0u32;
    for round in 0..2000usize {
        let len = (round * 37) % 700;
        let payload: Vec<u8> = (0..len).map(|i| (i as u32 ^ seq) as u8).collect();
        match tx.send(seq, &payload) {
            Ok(()) => {
                expected.push_back((seq, payload));
                seq += 1;
            }
            Err(Error::Full) => {
                // Drain a few and retry later.
                for _ in 0..3 {
                    match rx.try_recv() {
                        Ok(m) => {
                            let (t, p) = expected.pop_front().unwrap();
                            assert_eq!((m.msg_type(), m.payload()), (t, &p[..]));
                        }
                        Err(Error::Empty) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            Err(e) => panic!("{e}"),
        }
    }
    let n = rx
        .recv_batch(usize::MAX, |t, p| {
            let (et, ep) = expected.pop_front().unwrap();
            assert_eq!((t, p), (et, &ep[..]));
        })
        .unwrap();
    assert!(n > 0);
    assert!(expected.is_empty());
    // A batch published with one tail update, across the wrap.
    let batch: Vec<(u32, Vec<u8>)> = (0..40u32)
        .map(|i| (i, vec![i as u8; (i as usize * 53) % 300]))
        .collect();
    let mut at = 0;
    while at < batch.len() {
        let n = tx
            .send_many(batch[at..].iter().map(|(t, p)| (*t, &p[..])))
            .unwrap();
        let mut seen = 0;
        rx.recv_batch(usize::MAX, |t, p| {
            assert_eq!((t, p), (batch[at + seen].0, &batch[at + seen].1[..]));
            seen += 1;
        })
        .unwrap();
        assert_eq!(seen, n);
        at += n;
    }
    assert!(matches!(
        tx.send_many([(1, &[0u8; 5000][..])]),
        Err(Error::TooLarge { .. })
    ));

    // Zero-copy claim, partial commit, abort.
    let buf = tx.try_claim(100).unwrap();
    buf[..5].copy_from_slice(b"hello");
    tx.commit_len(1, 5).unwrap();
    tx.try_claim(10).unwrap();
    tx.abort();
    assert!(tx.commit(1).is_err(), "nothing claimed");
    assert!(tx.try_claim(1).is_ok());
    assert!(matches!(
        tx.commit(u32::MAX),
        Err(Error::InvalidArgument(_))
    ));
    tx.abort();
    let m = rx.try_recv().unwrap();
    assert_eq!((m.msg_type(), m.payload()), (1, &b"hello"[..]));
    drop(m);
    assert!(matches!(rx.try_recv(), Err(Error::Empty)));
    drop(tx);
    assert!(matches!(rx.try_recv(), Err(Error::Closed)));
}

#[test]
fn a_declined_message_stays_for_the_next_receive() {
    let _watchdog = watchdog::watchdog(120);
    let ring = MessageRing::create(None, 12).unwrap(); // 4096 bytes
    let (mut tx, mut rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
    // Enough 100-byte messages that the ring wraps (a padding record) in
    // the middle of the later batches.
    let mut next_out = 0u32;
    let mut next_in = 0u32;
    for round in 0..30 {
        while tx.send(next_out, &[next_out as u8; 100]).is_ok() {
            next_out += 1;
        }
        // Decline one message in three batches, the first in one of them.
        let take = [0, 2, usize::MAX][round % 3];
        let mut seen = 0;
        let n = rx
            .recv_batch_while(usize::MAX, |t, p| {
                if seen == take {
                    return false;
                }
                assert_eq!((t, p), (next_in + seen as u32, &[t as u8; 100][..]));
                seen += 1;
                true
            })
            .unwrap();
        assert_eq!(n, seen);
        next_in += n as u32;
        // What was declined comes next.
        if next_in < next_out {
            let m = rx.try_recv().unwrap();
            assert_eq!(m.msg_type(), next_in);
            drop(m);
            next_in += 1;
        }
    }
    assert!(next_out > 300, "the ring wrapped several times");
}

#[test]
fn message_ring_refuses_scribbled_records() {
    let _watchdog = watchdog::watchdog(120);
    let ring = MessageRing::create(None, 12).unwrap();
    let mut tx = ring.sender().unwrap();
    let mut rx = ring.receiver().unwrap();
    tx.send(5, &[1u8; 40]).unwrap();
    // A hostile peer rewrites the record's length to point past the ring.
    let path = format!("/proc/self/fd/{}", {
        use std::os::fd::AsRawFd;
        ring.fd().as_raw_fd()
    });
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    use std::os::unix::fs::FileExt;
    file.write_at(&100_000u32.to_ne_bytes(), 512).unwrap();
    let e = rx.try_recv().err().unwrap();
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    let e = rx
        .recv_batch(10, |_, _| panic!("must not deliver"))
        .err()
        .unwrap();
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    // Put it back (the commit word is length + 1): the ring recovers.
    file.write_at(&41u32.to_ne_bytes(), 512).unwrap();
    assert_eq!(rx.try_recv().unwrap().payload(), &[1u8; 40]);

    // Padding before a scribbled record: the failed receive frees neither.
    for i in 0..4 {
        while tx.send(i, &[i as u8; 1000]).is_err() {
            drop(rx.try_recv().unwrap());
        }
    }
    while rx.try_recv().is_ok() {}
    tx.send(9, &[9u8; 100]).unwrap(); // after padding, at index 0
    let pending = rx.pending_bytes();
    let mut word = [0u8; 4];
    let reader = std::fs::File::open(&path).unwrap();
    reader.read_at(&mut word, 512).unwrap();
    file.write_at(&100_000u32.to_ne_bytes(), 512).unwrap();
    assert!(matches!(rx.try_recv(), Err(Error::Corrupt(_))));
    assert!(matches!(
        rx.recv_batch(10, |_, _| panic!("must not deliver")),
        Err(Error::Corrupt(_))
    ));
    assert_eq!(rx.pending_bytes(), pending, "the padding is still there");
    file.write_at(&word, 512).unwrap();
    assert_eq!(rx.try_recv().unwrap().payload(), &[9u8; 100]);
    assert_eq!(rx.pending_bytes(), 0);
}

/// A refused call changes nothing: a send with the reserved type claims
/// nothing (a stray commit after it has nothing to publish), and a refused
/// commit leaves the claim as it was.
#[test]
fn a_refused_send_or_commit_changes_nothing() {
    let _watchdog = watchdog::watchdog(120);
    let ring = MessageRing::create(None, 12).unwrap();
    let mut tx = ring.sender().unwrap();
    let mut rx = ring.receiver().unwrap();
    assert!(matches!(
        tx.send(u32::MAX, b"ABCD"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        tx.commit_len(1, 4),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        tx.send_many([(u32::MAX, &b"ABCD"[..])]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(rx.try_recv(), Err(Error::Empty)));
    assert_eq!(ring.len(), 0);
    tx.try_claim(4).unwrap().copy_from_slice(b"WXYZ");
    assert!(matches!(
        tx.commit(u32::MAX),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        tx.commit_len(1, 5),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(rx.try_recv(), Err(Error::Empty)));
    tx.commit(2).unwrap();
    let m = rx.try_recv().unwrap();
    assert_eq!((m.msg_type(), m.payload()), (2, &b"WXYZ"[..]));
}

/// The issue's case: after 200 messages of 56 bytes through a 4 KiB ring,
/// one plausible commit word at the receiver's head made it replay the
/// earlier laps without end. Now a word without this lap's tag is
/// `Corrupt`, and one forged with it yields that one record and then
/// `Corrupt`: the receiver never takes a record of an earlier lap and
/// never runs more than a ring past the tail.
#[test]
fn a_forged_commit_word_never_replays_earlier_laps() {
    let _watchdog = watchdog::watchdog(120);
    use std::os::unix::fs::FileExt;
    for forged_lap in [false, true] {
        let ring = MessageRing::create(None, 12).unwrap();
        let (file, _) = peer_file(ring.fd());
        let mut tx = ring.sender().unwrap();
        let mut rx = ring.receiver().unwrap();
        for id in 0..200u32 {
            let mut msg = [0u8; 56];
            msg[..4].copy_from_slice(&id.to_ne_bytes());
            tx.send(1, &msg).unwrap();
            let m = rx.try_recv().unwrap();
            assert_eq!(m.payload()[..4], id.to_ne_bytes());
        }
        let head = 200 * 64u64;
        let lap = if forged_lap { (head & !4095) as u32 } else { 0 };
        file.write_at(&(lap | 57).to_ne_bytes(), 512 + head % 4096)
            .unwrap();
        let mut taken = 0;
        let e = loop {
            match rx.try_recv() {
                Ok(_) => taken += 1,
                Err(e) => break e,
            }
            assert!(taken <= 1, "a stale record was delivered again");
        };
        assert!(matches!(e, Error::Corrupt(_)), "{e}");
        assert_eq!(taken, usize::from(forged_lap));
        for _ in 0..3 {
            assert!(matches!(rx.try_recv(), Err(Error::Corrupt(_))));
            let n = rx.recv_batch(usize::MAX, |_, _| panic!("must not deliver"));
            assert!(matches!(n, Err(Error::Corrupt(_))), "{n:?}");
        }
        let observed = ring.observer();
        assert!(observed.len() <= 4096);
    }
}

/// A scribbler forging plausible commit words (with the right lap tag) at
/// the receiver's head while a sender streams numbered messages: the
/// receiver takes no more messages than were sent plus one per forgery.
/// A forged word over an earlier lap's bytes can show an old message again
/// (a forger may write any bytes, an old message's among them): that is
/// the forgery's one message, never more.
#[test]
fn a_live_forger_gets_at_most_one_message_per_forgery() {
    let _watchdog = watchdog::watchdog(120);
    use std::os::unix::fs::FileExt;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let ring = MessageRing::create(None, 12).unwrap();
    let (file, _) = peer_file(ring.fd());
    let mut tx = ring.sender().unwrap();
    let mut rx = ring.receiver().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let forged = Arc::new(AtomicU64::new(0));
    let forger = {
        let (stop, forged) = (stop.clone(), forged.clone());
        std::thread::spawn(move || {
            let mut next = xorshift(0x5eed_f0f0_1234_4321);
            let mut head = [0u8; 8];
            while !stop.load(Ordering::Relaxed) {
                // The receiver's head (offset 0x100), and a word of its lap.
                file.read_at(&mut head, 0x100).unwrap();
                let head = u64::from_ne_bytes(head);
                let len = (next() % 64) as u32 & !7;
                let word = (head & !4095) as u32 | (len + 1);
                file.write_at(&word.to_ne_bytes(), 512 + head % 4096)
                    .unwrap();
                forged.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(50));
            }
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_millis(500);
    let (mut sent, mut taken, mut replays, mut last_id) = (0u64, 0u64, 0u64, None::<u64>);
    while std::time::Instant::now() < deadline {
        let mut msg = [0u8; 56];
        msg[..8].copy_from_slice(&sent.to_ne_bytes());
        msg[8..].fill(0xA5);
        match tx.send(1, &msg) {
            Ok(()) => sent += 1,
            Err(Error::Full) | Err(Error::Corrupt(_)) => {}
            Err(e) => panic!("{e}"),
        }
        match rx.try_recv() {
            Ok(m) => {
                taken += 1;
                let p = m.payload();
                if m.msg_type() == 1 && p.len() == 56 && p[8..].iter().all(|&b| b == 0xA5) {
                    let id = u64::from_ne_bytes(p[..8].try_into().unwrap());
                    assert!(id < sent, "message {id} was never sent");
                    if last_id.is_some_and(|l| id <= l) {
                        replays += 1;
                    } else {
                        last_id = Some(id);
                    }
                }
            }
            Err(Error::Empty) | Err(Error::Corrupt(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    forger.join().unwrap();
    let forged = forged.load(Ordering::Relaxed);
    assert!(
        taken <= sent + forged,
        "took {taken} with {sent} sent and {forged} forged"
    );
    assert!(replays <= forged, "{replays} replays, {forged} forgeries");
}

#[test]
fn a_tail_with_no_record_behind_it_is_corrupt_not_a_spin() {
    let _watchdog = watchdog::watchdog(120);
    use std::os::unix::fs::FileExt;
    let ring = MessageRing::create(None, 12).unwrap();
    let mut rx = ring.receiver().unwrap();
    let (file, _) = peer_file(ring.fd());
    // The producer's tail (offset 0x80) claims 64 bytes; no commit word says so.
    file.write_at(&64u64.to_ne_bytes(), 0x80).unwrap();
    assert!(matches!(rx.try_recv(), Err(Error::Empty)));
    let wait = WaitStrategy::TimedBlocking {
        timeout: Duration::from_secs(5),
    };
    let t = std::time::Instant::now();
    assert!(matches!(rx.recv_blocking(wait), Err(Error::Corrupt(_))));
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "reported, not waited out"
    );
    ring.close();
    assert!(matches!(rx.try_recv(), Err(Error::Corrupt(_))));
}

/// Taking a side of a ring whose positions are impossible fails before
/// the claim writes the side's words (heartbeat, pid namespace, pid).
#[test]
fn a_side_of_a_corrupt_ring_is_refused_untouched() {
    let _watchdog = watchdog::watchdog(120);
    use std::os::unix::fs::FileExt;
    let ring = SharedRing::create_slots(None, 4, 8).unwrap();
    let (file, _) = peer_file(ring.fd());
    file.write_at(&1u64.to_ne_bytes(), 0x100).unwrap(); // head past the tail
    let words = |at: u64| {
        let mut b = [0u8; 32];
        file.read_exact_at(&mut b, at).unwrap();
        b
    };
    let (producer, consumer) = (words(0x88), words(0x108));
    let stale = Duration::from_secs(5);
    assert!(matches!(ring.slot_producer(stale), Err(Error::Corrupt(_))));
    assert!(matches!(ring.slot_consumer(stale), Err(Error::Corrupt(_))));
    assert!(matches!(ring.producer::<u64>(), Err(Error::Corrupt(_))));
    assert_eq!((words(0x88), words(0x108)), (producer, consumer));
}

/// A reset of a shared ring whose tail a peer wrote fails before it
/// changes anything: it drained to the peer's tail, then failed.
#[test]
fn a_reset_under_a_scribbled_tail_changes_nothing() {
    let _watchdog = watchdog::watchdog(120);
    use ringcore::SlotRing;
    use std::os::unix::fs::FileExt;
    let ring = SharedRing::create_slots(None, 4, 8).unwrap();
    let stale = Duration::from_secs(5);
    let (mut tx, mut rx) = (
        ring.slot_producer(stale).unwrap(),
        ring.slot_consumer(stale).unwrap(),
    );
    assert_eq!(tx.send(&[7; 16]).unwrap(), 2);
    let (file, _) = peer_file(ring.fd());
    let word = |at| word_at(&file, at);
    file.write_at(&5u64.to_ne_bytes(), 0x80).unwrap();
    assert!(matches!(
        SlotRing::reset(&mut tx, &mut rx),
        Err(Error::Corrupt(_))
    ));
    assert_eq!((word(0x80), word(0x100)), (5, 0), "nothing moved");
    file.write_at(&2u64.to_ne_bytes(), 0x80).unwrap();
    SlotRing::reset(&mut tx, &mut rx).unwrap();
    assert_eq!((word(0x80), word(0x100)), (2, 2));
    assert_eq!(tx.send(&[8; 8]).unwrap(), 1);
    let mut out = [0u8; 8];
    rx.try_recv(&mut out).unwrap();
    assert_eq!(out, [8; 8]);
}

/// Padding with nothing after it, then a peer that closes the ring and
/// stores an impossible tail: the receive that finds it fails `Corrupt`
/// and frees nothing, the padding either, whichever way it reads.
#[test]
fn a_receive_that_fails_after_padding_frees_nothing() {
    let _watchdog = watchdog::watchdog(120);
    use std::os::unix::fs::FileExt;
    let ring = MessageRing::create(None, 12).unwrap(); // 4096 bytes
    let mut tx = ring.sender().unwrap();
    let mut rx = ring.receiver().unwrap();
    let (file, _) = peer_file(ring.fd());
    let head = || word_at(&file, 0x100);
    // A record to 2992, read; then a claim that does not fit before the
    // end: its padding is published, the claim itself not yet.
    tx.send(1, &[1; 2984]).unwrap();
    assert_eq!(rx.try_recv().unwrap().payload(), &[1; 2984][..]);
    let at = head();
    let _claim = tx.try_claim(1984).unwrap();
    file.write_at(&1u32.to_ne_bytes(), 0x180).unwrap();
    file.write_at(&(at + 3 * 4096).to_ne_bytes(), 0x80).unwrap();
    assert!(matches!(rx.try_recv(), Err(Error::Corrupt(_))));
    assert_eq!(head(), at);
    assert!(matches!(
        rx.recv_batch(16, |_, _| {}),
        Err(Error::Corrupt(_))
    ));
    assert_eq!(head(), at);
    // The tail put back: the padding goes, and the ring reads as closed.
    file.write_at(&4096u64.to_ne_bytes(), 0x80).unwrap();
    assert!(matches!(rx.try_recv(), Err(Error::Closed)));
    assert_eq!(head(), 4096);
}

#[test]
fn a_hostile_peer_scribbling_in_a_loop_never_crashes_the_reader() {
    let _watchdog = watchdog::watchdog(120);
    use std::os::unix::fs::FileExt;
    let ring = MessageRing::create(None, 12).unwrap();
    let (file, _) = peer_file(ring.fd());
    let mut rx = ring.receiver().unwrap();
    let slots = SharedRing::create_slots(None, 4, 8).unwrap();
    let (sfile, _) = peer_file(slots.fd());
    let mut srx = slots.consumer::<u64>().unwrap();
    let mut next = xorshift(0x1234_5678_9abc_def0u64);
    let rounds = 20_000;
    let mut corrupt = 0;
    for _ in 0..rounds {
        // Random bytes at random places of the indices and the data.
        for _ in 0..4 {
            let at = 0x80 + next() % (512 + 4096 - 8 - 0x80);
            file.write_at(&next().to_ne_bytes(), at).unwrap();
            let at = 0x80 + next() % (512 + 128 - 8 - 0x80);
            sfile.write_at(&next().to_ne_bytes(), at).unwrap();
        }
        match rx.try_recv() {
            Ok(m) => assert!(m.payload().len() <= 4080),
            Err(Error::Corrupt(_)) => corrupt += 1,
            Err(_) => {}
        }
        let _ = rx.recv_batch(8, |_, p| assert!(p.len() <= 4080));
        match srx.try_recv() {
            Ok(_) | Err(Error::Empty) | Err(Error::Closed) => {}
            Err(Error::Corrupt(_)) => corrupt += 1,
            Err(e) => panic!("{e}"),
        }
        let _ = srx.consume_batch(|_| {});
    }
    assert!(corrupt > 0, "scribbling must be noticed");
}

/// A writable handle on a segment's memory, as a hostile peer has, and
/// its length.
fn peer_file(fd: std::os::fd::BorrowedFd<'_>) -> (std::fs::File, u64) {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .unwrap();
    let len = file.metadata().unwrap().len();
    (file, len)
}

/// The native-endian `u64` at offset `at` of `file`.
fn word_at(file: &std::fs::File, at: u64) -> u64 {
    use std::os::unix::fs::FileExt;
    let mut b = [0u8; 8];
    file.read_exact_at(&mut b, at).unwrap();
    u64::from_ne_bytes(b)
}

#[test]
fn hostile_scribbling_never_crashes_producers_blocking_calls_or_the_pool() {
    let _watchdog = watchdog::watchdog(120);
    use std::os::unix::fs::FileExt;
    use std::time::Instant;
    let mut next = xorshift(0x0bad_5eed_dead_beefu64);
    let brief = WaitStrategy::TimedBlocking {
        timeout: Duration::from_millis(1),
    };
    let (mut corrupt, mut waited) = (0, 0);
    // Fresh segments every 50 rounds: a scribbled close flag ends a ring for good.
    for _ in 0..100 {
        let msgs = MessageRing::create(None, 12).unwrap();
        let slots = SharedRing::create_slots(None, 4, 8).unwrap();
        let pool = BufferPool::create_shared(None, 64, 16).unwrap();
        let targets = [
            peer_file(msgs.fd()),
            peer_file(slots.fd()),
            peer_file(pool.segment().unwrap().fd()),
        ];
        let mut tx = msgs.sender().unwrap();
        let mut rx = msgs.receiver().unwrap();
        let mut stx = slots.producer::<u64>().unwrap();
        let mut srx = slots.consumer::<u64>().unwrap();
        let mut held = Vec::new();
        for round in 0..50 {
            // Random words past the identification line: indices, wake
            // words, record headers, free-list links, lengths, generations.
            for (file, len) in &targets {
                let at = 0x80 + next() % (len - 8 - 0x80);
                file.write_at(&next().to_ne_bytes(), at).unwrap();
            }
            let started = Instant::now();
            let results = [
                tx.send(7, &[1u8; 100]).err(),
                tx.send_blocking(7, &[2u8; 300], brief).err(),
                tx.try_claim(64).map(|b| b.fill(3)).err(),
                rx.recv_blocking(brief)
                    .map(|m| assert!(m.payload().len() <= 4080))
                    .err(),
                stx.send_one_blocking(round, brief).err().map(|e| e.reason),
                srx.recv_blocking(brief).err(),
                pool.try_alloc().map(|h| held.extend(h)).err(),
            ];
            // Each call returns: a wait is bounded by its timeout even when
            // the indices it waits on are garbage (a generous bound, not a
            // speed test).
            assert!(started.elapsed() < Duration::from_secs(10));
            for e in results.into_iter().flatten() {
                match e {
                    Error::Corrupt(_) => corrupt += 1,
                    Error::TimedOut => waited += 1,
                    Error::Full | Error::Empty | Error::Closed => {}
                    Error::Busy(_) | Error::InvalidArgument(_) => {}
                    // Scribbled liveness words: a holder that looks dead.
                    Error::Disconnected => {}
                    e => panic!("unexpected error under scribbling: {e}"),
                }
            }
            tx.abort();
            // Handles from a scribbled pool: reads and writes stay in their
            // slab or fail; frees may be refused.
            if held.len() > 4 {
                for h in held.drain(..) {
                    let _ = pool.write(h, &[9u8; 64]);
                    let mut out = [0u8; 64];
                    if let Ok(n) = pool.read_into(h, &mut out) {
                        assert!(n <= 64);
                    }
                    let _ = pool.free(h);
                }
            }
            let _ = pool.available_count();
        }
    }
    assert!(corrupt > 0, "scribbling must be noticed");
    assert!(waited > 0, "blocking calls waited on scribbled rings");
}

#[test]
fn a_shared_pool_is_seen_by_every_mapping() {
    let _watchdog = watchdog::watchdog(120);
    let n = name("pool");
    let _c = Cleanup(n.clone());
    let a = BufferPool::create_shared(Some(&n), 4096, 8).unwrap();
    let b = BufferPool::attach_shared(&n, Duration::from_secs(1)).unwrap();
    assert_eq!((b.capacity(), b.slab_size()), (8, 4096));
    let h = a.alloc().unwrap();
    a.write(h, &[7u8; 3000]).unwrap();
    let mut out = vec![0u8; 4096];
    assert_eq!(b.read_into(h, &mut out).unwrap(), 3000);
    assert!(out[..3000].iter().all(|&x| x == 7));
    b.free(h).unwrap();
    assert!(a.free(h).is_err());
    assert_eq!(a.available_count(), 8);
    assert!(
        SharedRing::attach_slots(&n, None, Duration::ZERO).is_err(),
        "a pool is not a ring"
    );
}

/// The bytes of a segment, as a peer could copy and alter them.
fn segment_bytes(fd: std::os::fd::BorrowedFd<'_>) -> Vec<u8> {
    use std::os::fd::AsRawFd;
    std::fs::read(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap()
}

/// Valid segments with content (message ring, slot ring, pool, in
/// `mutant::exercise`'s kind order) and a live pool handle in the last.
fn valid_segments() -> ([Vec<u8>; 3], u32) {
    let msgs = MessageRing::create(None, 12).unwrap();
    {
        let mut tx = msgs.sender().unwrap();
        let mut rx = msgs.receiver().unwrap();
        // Wrap twice, so padding and older laps are in the data; the last
        // five messages stay unread.
        for i in 0..60u32 {
            tx.send(i, &vec![i as u8; (i as usize * 37) % 300]).unwrap();
            if i < 55 {
                drop(rx.try_recv().unwrap());
            }
        }
    }
    let slots = SharedRing::create_slots(None, 4, 8).unwrap();
    {
        let mut tx = slots.producer::<u64>().unwrap();
        for i in 0..10 {
            tx.send_one(i).unwrap();
        }
    }
    let pool = BufferPool::create_shared(None, 256, 8).unwrap();
    let h = pool.alloc().unwrap();
    pool.write(h, &[9u8; 100]).unwrap();
    let segments = [
        segment_bytes(msgs.fd()),
        segment_bytes(slots.fd()),
        segment_bytes(pool.segment().unwrap().fd()),
    ];
    (segments, h.raw())
}

/// Seeds for the fuzz target (`make fuzz` runs it): the valid segments in
/// its input format, under `$RINGCORE_FUZZ_SEEDS`.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let _watchdog = watchdog::watchdog(120);
    let dir = std::env::var("RINGCORE_FUZZ_SEEDS").expect("RINGCORE_FUZZ_SEEDS");
    std::fs::create_dir_all(&dir).unwrap();
    let (segments, handle) = valid_segments();
    for (kind, bytes) in segments.iter().enumerate() {
        let mut input = vec![kind as u8];
        input.extend(handle.to_le_bytes());
        input.extend(bytes);
        std::fs::write(format!("{dir}/valid-{kind}"), input).unwrap();
    }
}

/// Attach and record parsing over thousands of corrupted copies of valid
/// segments (random bytes in the header and the data, truncations): every
/// call returns, with a value or an error; nothing crashes or loops.
#[test]
fn attach_and_reads_survive_thousands_of_corrupted_segments() {
    let _watchdog = watchdog::watchdog(120);
    let (seeds, handle) = valid_segments();
    let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
    let open_fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    let fds_before = open_fds();
    let (mut attached, mut refused, mut delivered) = (0, 0, 0);
    for round in 0..3000 {
        let kind = round % 3;
        let mut bytes = seeds[kind].clone();
        for _ in 0..1 + next() % 8 {
            // Mostly the header and the index lines, sometimes the data.
            let at = if next() % 4 == 0 {
                next() as usize % bytes.len()
            } else {
                next() as usize % 512
            };
            bytes[at] = next() as u8;
        }
        if next() % 10 == 0 {
            bytes.truncate(next() as usize % bytes.len());
        }
        let probe = if next() % 2 == 0 {
            handle
        } else {
            next() as u32
        };
        let out = mutant::exercise(kind as u8, mutant::segment_file(&bytes), probe);
        if out.attached {
            attached += 1;
        } else {
            refused += 1;
        }
        delivered += out.delivered;
    }
    // Both outcomes happen: the mutations are neither all fatal nor all harmless.
    assert!(
        attached > 100 && refused > 100 && delivered > 100,
        "{attached} attached, {refused} refused, {delivered} messages read"
    );
    // Every mapping and descriptor went away with its handles (other tests
    // of this binary may hold a few meanwhile).
    assert!(open_fds() < fds_before + 20, "descriptors leak");
}

/// Run by the test below inside its own user and mount namespaces, where a
/// 64 KiB tmpfs is mounted at `RINGCORE_SMALL_FS`; a no-op as a normal test.
#[test]
fn small_file_system_entry() {
    let Ok(dir) = std::env::var("RINGCORE_SMALL_FS") else {
        return;
    };
    watchdog::die_with_parent();
    let path = std::path::Path::new(&dir).join("ring");
    // 1 MiB of ring on a 64 KiB file system: refused when it is made,
    // where a sparse file would have been made and its writer killed by
    // SIGBUS at the first page past 64 KiB.
    match MessageRing::create(Some(path.to_str().unwrap()), 20) {
        Err(e @ Error::Io(_)) => assert_eq!(e.os_error(), Some(libc::ENOSPC), "{e}"),
        Err(e) => panic!("expected a full file system, got {e}"),
        Ok(_) => panic!("a 1 MiB ring was made on a 64 KiB file system"),
    }
    assert!(
        std::fs::read_dir(&dir).unwrap().next().is_none(),
        "the refused create left a file behind"
    );
    // What fits is made whole.
    let small = path.with_file_name("small");
    let ring = MessageRing::create(Some(small.to_str().unwrap()), 12).unwrap();
    let (mut tx, mut rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
    tx.send(1, b"fits").unwrap();
    assert_eq!(rx.try_recv().unwrap().payload(), b"fits");

    // A segment whose storage was taken away (a hole punched in its last
    // page), on a file system that is now full: refused when attached,
    // where its writer would have died of SIGBUS at that page.
    {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&small)
            .unwrap();
        // The page holding the file's last byte, freed whole.
        let last_page = (file.metadata().unwrap().len() as libc::off_t - 1) / 4096 * 4096;
        // SAFETY: fallocate on a descriptor we hold; no memory is passed.
        let rc = unsafe {
            libc::fallocate(
                file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                last_page,
                4096,
            )
        };
        assert_eq!(
            rc,
            0,
            "punching a hole: {}",
            std::io::Error::last_os_error()
        );
        // Bounded: 64 KiB is full within 16 pages; a directory that takes
        // 32 is not the small file system, and is not filled further.
        let mut filler = std::fs::File::create(path.with_file_name("filler")).unwrap();
        let full = (0..32).any(|_| filler.write_all(&[0u8; 4096]).is_err());
        assert!(full, "{dir} took 128 KiB more: not the 64 KiB file system");
    }
    match MessageRing::attach(small.to_str().unwrap(), Duration::from_secs(1)) {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}"),
        Err(e) => panic!("expected a full file system, got {e}"),
        Ok(_) => panic!("a ring with a hole was attached on a full file system"),
    }
}

#[test]
fn a_full_file_system_is_an_error_at_create_and_attach_never_a_sigbus() {
    let _w = watchdog::watchdog(30);
    let dir = std::env::temp_dir().join(format!("ringcore-small-fs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // In its own user and mount namespaces, an unprivileged process mounts
    // a 64 KiB tmpfs on `dir` (seen only there) and runs the entry above.
    let in_namespace = |then: &str| {
        std::process::Command::new("unshare")
            .args(["--user", "--map-root-user", "--mount", "sh", "-c"])
            .arg(format!(
                r#"mount -t tmpfs -o size=64k tmpfs "$RINGCORE_SMALL_FS" && {then}"#
            ))
            .arg(std::env::current_exe().unwrap())
            .env("RINGCORE_SMALL_FS", &dir)
            .envs([watchdog::parent_env()])
            .output()
    };
    // Where the kernel or the machine's policy forbids that, say so and stop.
    if !in_namespace("true").is_ok_and(|o| o.status.success()) {
        let _ = std::fs::remove_dir(&dir);
        eprintln!("skipped: no unprivileged user and mount namespaces with tmpfs here");
        return;
    }
    let out =
        in_namespace(r#"exec "$0" --exact small_file_system_entry --nocapture --test-threads=1"#)
            .unwrap();
    let _ = std::fs::remove_dir(&dir);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "the child on the small file system ({}):\n{text}",
        out.status
    );
}

/// The named segment `n`'s file, open for reading and writing, as a peer
/// can open it.
fn segment_file(n: &str) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(shm::resolve_name(n).unwrap())
        .unwrap()
}

/// A side whose holder recorded another pid namespace (a container that
/// shares the segment) is alive while its heartbeat is, whatever its pid
/// says here: it is not taken over. The same holder with no namespace
/// recorded is looked up by pid here, and taken over at once when gone.
#[test]
fn a_holder_of_another_pid_namespace_is_judged_by_its_heartbeat() {
    use std::os::unix::fs::{FileExt, MetadataExt};
    let _watchdog = watchdog::watchdog(120);
    let n = name("pidns");
    let _c = Cleanup(n.clone());
    let ring = SharedRing::create::<u64>(&n, 4).unwrap();
    let file = segment_file(&n);
    let ours = std::fs::metadata("/proc/self/ns/pid").unwrap().ino();
    // The producer line: heartbeat at 0x88, pid at 0x90, pidns at 0x98.
    let hold = |pidns: u64| {
        file.write_at(&shm::monotonic_ns().to_ne_bytes(), 0x88)
            .unwrap();
        file.write_at(&0x7fff_fff0u32.to_ne_bytes(), 0x90).unwrap();
        file.write_at(&pidns.to_ne_bytes(), 0x98).unwrap();
    };
    hold(ours + 1);
    assert!(matches!(ring.producer::<u64>(), Err(Error::Busy(_))));
    hold(0);
    let taken = ring.producer::<u64>().unwrap();
    drop(taken);
    drop(ring);
    // A creator of another namespace (pid at 0x38, namespace at 0x48) keeps
    // its segment from being judged stale; one of this namespace whose pid
    // is gone does not.
    file.write_at(&0x7fff_fff0u32.to_ne_bytes(), 0x38).unwrap();
    file.write_at(&(ours + 1).to_ne_bytes(), 0x48).unwrap();
    assert!(!shm::remove_if_stale(&n).unwrap());
    file.write_at(&0u64.to_ne_bytes(), 0x48).unwrap();
    assert!(shm::remove_if_stale(&n).unwrap());
}

/// A claimer that loses the race for a side may store "being claimed" in
/// its namespace word after the winner recorded its own there; the
/// winner's heartbeat puts its namespace back, so that its death is again
/// seen by pid at once, not after the stale time.
#[test]
fn a_side_marked_as_being_claimed_gets_its_holders_namespace_back() {
    use std::os::unix::fs::{FileExt, MetadataExt};
    let _watchdog = watchdog::watchdog(60);
    let n = name("claiming");
    let _c = Cleanup(n.clone());
    let ring = SharedRing::create::<u64>(&n, 4).unwrap();
    let file = segment_file(&n);
    let ours = std::fs::metadata("/proc/self/ns/pid").unwrap().ino();
    let namespace = || word_at(&file, 0x98);
    let _tx = ring.producer::<u64>().unwrap();
    assert_eq!(namespace(), ours);
    // What a losing claimer stores (the producer line's namespace at 0x98).
    file.write_at(&u64::MAX.to_ne_bytes(), 0x98).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while namespace() != ours {
        assert!(Instant::now() < deadline, "the marker stayed");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A holder whose side another process took (it was judged stale while
/// stopped) stops stamping the side's heartbeat: its beats would keep the
/// side looking held after the new holder died.
#[test]
fn a_holder_that_lost_its_side_stops_stamping_it() {
    use std::os::unix::fs::FileExt;
    let _watchdog = watchdog::watchdog(60);
    let n = name("lost");
    let _c = Cleanup(n.clone());
    let ring = SharedRing::create::<u64>(&n, 4).unwrap();
    let file = segment_file(&n);
    let beat = || word_at(&file, 0x88);
    let _tx = ring.producer::<u64>().unwrap();
    let first = beat();
    let deadline = Instant::now() + Duration::from_secs(5);
    while beat() == first {
        assert!(Instant::now() < deadline, "the holder does not stamp");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Another process takes the side (the producer line's pid at 0x90).
    file.write_at(&0x7fff_fff0u32.to_ne_bytes(), 0x90).unwrap();
    std::thread::sleep(shm::HEARTBEAT_PERIOD * 3);
    let after = beat();
    std::thread::sleep(shm::HEARTBEAT_PERIOD * 5);
    assert_eq!(beat(), after, "stamped a side another process holds");
}

/// Run by the test below in a user namespace of its own; a no-op as a
/// normal test. Reads its pid namespace (by making a segment), moves its
/// children to a new pid namespace, forks, and has the child (no `exec`)
/// take a side: the side must record the child's namespace, not the one
/// its parent read before the fork.
#[test]
fn pid_namespace_fork_entry() {
    use std::os::unix::fs::MetadataExt;
    let Ok(n) = std::env::var("RINGCORE_PIDNS_FORK") else {
        return;
    };
    watchdog::die_with_parent();
    let ring = SharedRing::create::<u64>(&n, 4).unwrap();
    // SAFETY: unshare with one flag; only children made from now on move.
    let moved = unsafe { libc::unshare(libc::CLONE_NEWPID) };
    assert_eq!(moved, 0, "unshare: {}", std::io::Error::last_os_error());
    let parents = std::fs::metadata("/proc/self/ns/pid").unwrap().ino();
    // SAFETY: the child only takes a side, reads a file and exits.
    let child = unsafe { libc::fork() };
    if child == 0 {
        // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        let code = match ring.producer::<u64>() {
            Ok(_tx) => {
                let file = std::fs::File::open(shm::resolve_name(&n).unwrap()).unwrap();
                // The producer line's namespace word.
                let recorded = word_at(&file, 0x98);
                // Forked from the calling thread, the child's only thread
                // is in the namespace that thread made.
                let ns = std::fs::metadata("/proc/self/ns/pid").unwrap().ino();
                match recorded {
                    _ if ns == parents => 5,
                    recorded if recorded == ns => 0,
                    _ => 3,
                }
            }
            Err(_) => 4,
        };
        // SAFETY: ends the forked child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
    assert!(
        libc::WIFEXITED(status) && ![4, 5].contains(&libc::WEXITSTATUS(status)),
        "the child could not take the side, or is in its parent's namespace ({status:#x})"
    );
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "the child recorded its parent's pid namespace"
    );
}

#[test]
fn a_child_forked_into_another_pid_namespace_records_its_own() {
    let _w = watchdog::watchdog(30);
    let n = name("pidns-fork");
    let _c = Cleanup(n.clone());
    let unshare = || {
        let mut c = std::process::Command::new("unshare");
        c.args(["--user", "--map-root-user"]);
        c
    };
    // Where the kernel or the machine's policy forbids that, say so and stop.
    if !unshare().arg("true").status().is_ok_and(|s| s.success()) {
        eprintln!("skipped: no unprivileged user namespaces here");
        return;
    }
    let out = unshare()
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "pid_namespace_fork_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RINGCORE_PIDNS_FORK", &n)
        .envs([watchdog::parent_env()])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "the child in its user namespace ({}):\n{text}",
        out.status
    );
}

fn is_truncation(e: &Error) -> bool {
    matches!(e, Error::Corrupt(m) if m.contains("truncated"))
}

/// A process with write access to a named segment shrinks its file while
/// both sides map it (and the heartbeat thread stamps their words every 20
/// ms): each side's next call reports the truncation, a consumer asleep in
/// a receive gets it within its liveness slice, and nothing dies of
/// `SIGBUS`.
#[test]
fn a_named_ring_truncated_under_its_sides_is_reported_never_a_sigbus() {
    let _watchdog = watchdog::watchdog(60);
    let n = name("trunc-slots");
    let _c = Cleanup(n.clone());
    let a = SharedRing::create::<u64>(&n, 6).unwrap();
    let b = SharedRing::attach::<u64>(&n).unwrap();
    let mut tx = a.producer::<u64>().unwrap();
    let mut rx = b.consumer::<u64>().unwrap();
    for i in 0..10 {
        tx.send_one(i).unwrap();
        assert_eq!(rx.try_recv().unwrap(), i);
    }
    let asleep = std::thread::spawn(move || rx.recv_blocking(WaitStrategy::Blocking));
    std::thread::sleep(Duration::from_millis(30));
    segment_file(&n).set_len(0).unwrap();
    let e = asleep.join().unwrap().unwrap_err();
    assert!(is_truncation(&e), "the consumer: {e}");
    let e = tx.send_one(10).unwrap_err().reason;
    assert!(is_truncation(&e), "the producer: {e}");
    assert!(a.is_closed() && b.is_closed());
    std::thread::sleep(Duration::from_millis(60));
    drop((tx, a, b));

    // Shrunk to its first page: the header is still shared, with the
    // slots that share its page. The producer's write into a lost slot
    // closes the ring for every mapping, and the next send says why.
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let kept = (page - 512) / 8;
    let n = name("trunc-half");
    let _c = Cleanup(n.clone());
    let a = SharedRing::create::<u64>(&n, 14).unwrap(); // past a 64 KiB page
    let b = SharedRing::attach::<u64>(&n).unwrap();
    let mut tx = a.producer::<u64>().unwrap();
    let mut rx = b.consumer::<u64>().unwrap();
    segment_file(&n).set_len(page as u64).unwrap();
    let sent = (0..1 << 14).take_while(|&i| tx.send_one(i).is_ok()).count();
    assert_eq!(sent, kept + 1, "the send into the lost page went");
    let e = tx.send_one(0).unwrap_err().reason;
    assert!(is_truncation(&e), "the producer: {e}");
    assert!(b.is_closed(), "closed in the shared header");
    // The consumer drains what the kept page holds; the slot published
    // from the lost page reads as zeros (as if a peer had scribbled it),
    // and then the ring is closed.
    let got: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert_eq!(got[..kept], (0..kept as u64).collect::<Vec<u64>>()[..]);
    assert_eq!(got[kept..], [0]);
    let e = rx.try_recv().unwrap_err();
    assert!(
        is_truncation(&e),
        "the consumer, once it read a lost page: {e}"
    );
    drop((tx, rx, a, b));

    // Both sides in one mapping: a reset does not reopen the ring over the
    // zeros (its sends would go where no peer looks).
    let n = name("trunc-reset");
    let _c = Cleanup(n.clone());
    let a = SharedRing::create::<u64>(&n, 14).unwrap();
    let (mut tx, mut rx) = (a.producer::<u64>().unwrap(), a.consumer::<u64>().unwrap());
    segment_file(&n).set_len(page as u64).unwrap();
    while tx.send_one(1).is_ok() {}
    let e = ringcore::Ring::reset(&mut tx, &mut rx).unwrap_err();
    assert!(is_truncation(&e), "the reset: {e}");
    assert!(a.is_closed());
    drop((tx, rx, a));

    // A message ring, both sides.
    let n = name("trunc-msg");
    let _c = Cleanup(n.clone());
    let a = MessageRing::create(Some(&n), 12).unwrap();
    let b = MessageRing::attach(&n, Duration::from_secs(1)).unwrap();
    let mut tx = a.sender().unwrap();
    let mut rx = b.receiver().unwrap();
    tx.send(1, b"before").unwrap();
    assert_eq!(rx.try_recv().unwrap().payload(), b"before");
    segment_file(&n).set_len(0).unwrap();
    let e = tx.send(2, b"after").unwrap_err();
    assert!(is_truncation(&e), "the sender: {e}");
    let e = rx.try_recv().map(|_| ()).unwrap_err();
    assert!(is_truncation(&e), "the receiver: {e}");
    drop((tx, rx, a, b));

    // A shared pool: every call on it says so.
    let n = name("trunc-pool");
    let _c = Cleanup(n.clone());
    let pool = BufferPool::create_shared(Some(&n), 4096, 8).unwrap();
    let h = pool.alloc().unwrap();
    segment_file(&n).set_len(0).unwrap();
    let e = pool.write(h, &[7u8; 100]).unwrap_err();
    assert!(is_truncation(&e), "write: {e}");
    let e = pool.free(h).unwrap_err();
    assert!(is_truncation(&e), "free: {e}");
    let e = pool.try_alloc().unwrap_err();
    assert!(is_truncation(&e), "alloc: {e}");
    // The heartbeat thread writes the held sides' words every 20 ms.
    std::thread::sleep(Duration::from_millis(60));
}
