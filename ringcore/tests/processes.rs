//! Real processes on one segment: this test binary re-executes itself as
//! the child (`RINGCORE_CHILD` names the role), so producer and consumer are
//! separate processes, and the producer is killed with SIGKILL mid-stream.

use ringcore::msg::MessageRing;
use ringcore::shm::{self, SharedRing};
use ringcore::{Error, WaitStrategy};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

#[path = "support/watchdog.rs"]
mod watchdog;

/// FNV-1a: the checksum every test message carries.
fn checksum(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

/// Message `seq`: a sequence number, a length from a fixed pseudo-random
/// pattern (0..=2000 bytes), bytes derived from both, and the checksum as type.
fn message(seq: u64) -> Vec<u8> {
    let len = ((seq.wrapping_mul(2_654_435_761) >> 7) % 2001) as usize;
    let mut m = seq.to_le_bytes().to_vec();
    m.extend((0..len).map(|i| (i as u64 ^ seq) as u8));
    m
}

fn spawn(role: &str, name: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("RINGCORE_CHILD", role)
        .envs([watchdog::parent_env()])
        .env("RINGCORE_SEGMENT", name)
        .spawn()
        .unwrap()
}

/// The child side; a no-op when run as a normal test.
#[test]
fn child_entry() {
    let (Ok(role), Ok(name)) = (
        std::env::var("RINGCORE_CHILD"),
        std::env::var("RINGCORE_SEGMENT"),
    ) else {
        return;
    };
    watchdog::die_with_parent();
    match role.as_str() {
        // Sends messages forever (until killed), starting where the ring's
        // previous producer stopped.
        "msg-producer" => {
            let ring = MessageRing::attach(&name, Duration::from_secs(5)).unwrap();
            let mut tx = ring.sender().unwrap();
            let start: u64 = std::env::var("RINGCORE_START").map_or(0, |s| s.parse().unwrap());
            for seq in start.. {
                let m = message(seq);
                tx.send_blocking(checksum(&m), &m, WaitStrategy::Blocking)
                    .unwrap();
            }
        }
        "slot-producer" => {
            let ring = SharedRing::attach::<[u64; 4]>(&name).unwrap();
            let mut tx = ring.producer::<[u64; 4]>().unwrap();
            for seq in 0u64.. {
                let item = [seq, !seq, seq.rotate_left(17), seq ^ 0xdead_beef];
                tx.send_one_blocking(item, WaitStrategy::Blocking).unwrap();
            }
        }
        // Takes the consumer side and never reads (until killed).
        "slot-idle-consumer" => {
            let ring = SharedRing::attach::<[u64; 4]>(&name).unwrap();
            let _rx = ring.consumer::<[u64; 4]>().unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        // Sends two messages, then dies as if killed between storing the
        // second one's commit word and the tail: the tail is put back.
        "msg-commit-then-die" => {
            let ring = MessageRing::attach(&name, Duration::from_secs(5)).unwrap();
            let mut tx = ring.sender().unwrap();
            tx.send(1, b"first").unwrap();
            tx.send(2, b"second").unwrap();
            // The producer's tail is the first word of the line at 0x80.
            poke(&name, 0x80, &16u64.to_ne_bytes());
            // No destructors: the sender neither closes the ring nor lets go.
            std::process::exit(0);
        }
        other => panic!("unknown child role {other}"),
    }
}

/// Writes `bytes` at `offset` of the named segment, as a peer can.
fn poke(name: &str, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    std::fs::OpenOptions::new()
        .write(true)
        .open(shm::resolve_name(name).unwrap())
        .unwrap()
        .write_at(bytes, offset)
        .unwrap();
}

struct Cleanup(String);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = shm::unlink(&shm::resolve_name(&self.0).unwrap());
    }
}

fn kill9(child: &mut Child) {
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
}

/// Reads every message left after the producer died; checks each one whole.
fn drain_and_check(rx: &mut ringcore::msg::MessageReceiver, next: &mut u64) {
    loop {
        match rx.try_recv() {
            Ok(m) => {
                let p = m.payload();
                assert_eq!(checksum(p), m.msg_type(), "torn message {}", *next);
                assert_eq!(p, &message(*next)[..], "message {} out of order", *next);
                *next += 1;
            }
            Err(Error::Empty) => return,
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn killing_the_producer_mid_stream_leaves_only_whole_messages() {
    let _watchdog = watchdog::watchdog(120);
    let name = format!("ringcore-kill-msg-{}", std::process::id());
    let _c = Cleanup(name.clone());
    let ring = MessageRing::create(Some(&name), 14).unwrap();
    let mut rx = ring.receiver().unwrap();
    let mut next = 0u64;
    let mut seed = 0x9e37_79b9u64;
    for round in 0..5 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
            .env("RINGCORE_CHILD", "msg-producer")
            .env("RINGCORE_SEGMENT", &name)
            .env("RINGCORE_START", next.to_string())
            .spawn()
            .unwrap();
        // Consume for a pseudo-random while, then kill the producer wherever it is.
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let run_for = Duration::from_millis(30 + (seed >> 33) % 120);
        let started = Instant::now();
        while started.elapsed() < run_for {
            match rx.recv_blocking(WaitStrategy::TimedBlocking {
                timeout: Duration::from_millis(20),
            }) {
                Ok(m) => {
                    let p = m.payload();
                    assert_eq!(checksum(p), m.msg_type(), "torn message {next}");
                    assert_eq!(p, &message(next)[..], "message {next} out of order");
                    next += 1;
                }
                Err(Error::TimedOut) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert!(
            ring.is_producer_alive(Duration::from_millis(500)),
            "round {round}"
        );
        kill9(&mut child);
        // Death is seen at once (the pid is gone), whatever the heartbeat says.
        let seen = Instant::now();
        while ring.is_producer_alive(Duration::from_millis(200)) {
            assert!(
                seen.elapsed() < Duration::from_secs(1),
                "death not detected"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        drain_and_check(&mut rx, &mut next);
        assert!(!ring.is_closed(), "a killed producer closes nothing");
    }
    assert!(next > 0);
}

/// A side held by a process that was killed but not yet reaped (a zombie)
/// is taken over at once, not after the heartbeat goes stale.
#[test]
fn a_killed_unreaped_holder_is_dead_at_once() {
    let _watchdog = watchdog::watchdog(120);
    let name = format!("ringcore-zombie-{}", std::process::id());
    let _c = Cleanup(name.clone());
    let ring = SharedRing::create::<[u64; 4]>(&name, 8).unwrap();
    let mut child = spawn("slot-producer", &name);
    while ring.producer_pid() != child.id() {
        std::thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: plain kill(2) on our own child, which we do not reap yet.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let killed = Instant::now();
    // Waits until the child has exited, leaving it unreaped (WNOWAIT).
    // SAFETY: waitid on our own child, writing only into `info`.
    let waited = unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::waitid(
            libc::P_PID,
            child.id(),
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        )
    };
    assert_eq!(waited, 0, "{}", std::io::Error::last_os_error());
    // Its heartbeat would keep it alive for a second: the takeover must not
    // wait for that, but see at once that the holder is gone.
    let taken = ring.producer::<[u64; 4]>();
    assert!(
        taken.is_ok(),
        "{:?} {:?} after the kill",
        taken.err(),
        killed.elapsed()
    );
    assert!(!shm::pid_exists(child.id()));
    drop(taken);
    child.wait().unwrap();
}

/// A message ring whose sender (a child process) committed two messages
/// and died before storing the tail of the second, both read by `rx`.
fn after_a_sender_died_between_commit_and_tail(
    tag: &str,
) -> (Cleanup, MessageRing, ringcore::msg::MessageReceiver) {
    let name = format!("ringcore-{tag}-{}", std::process::id());
    let cleanup = Cleanup(name.clone());
    let ring = MessageRing::create(Some(&name), 12).unwrap();
    let mut rx = ring.receiver().unwrap();
    assert!(spawn("msg-commit-then-die", &name)
        .wait()
        .unwrap()
        .success());
    // The second message is committed though the tail never counted it.
    for want in [&b"first"[..], b"second"] {
        assert_eq!(rx.try_recv().unwrap().payload(), want);
    }
    (cleanup, ring, rx)
}

#[test]
fn a_sender_dead_between_commit_and_tail_loses_nothing_and_is_replaced() {
    let _watchdog = watchdog::watchdog(120);
    let (_c, ring, mut rx) = after_a_sender_died_between_commit_and_tail("commit-die");
    assert!(matches!(rx.try_recv(), Err(Error::Empty)));
    assert_eq!((rx.pending_bytes(), ring.len()), (0, 0));
    // Waiting sleeps (no busy loop, no Corrupt) until its timeout.
    let t = Instant::now();
    let wait = WaitStrategy::TimedBlocking {
        timeout: Duration::from_millis(30),
    };
    assert!(matches!(rx.recv_blocking(wait), Err(Error::TimedOut)));
    assert!(t.elapsed() >= Duration::from_millis(30));
    // A new sender moves the tail over the committed record and goes on.
    let mut tx = ring.sender().unwrap();
    assert_eq!(ring.len(), 0);
    tx.send(3, b"third").unwrap();
    let m = rx.try_recv().unwrap();
    assert_eq!((m.msg_type(), m.payload()), (3, &b"third"[..]));
    drop(m);
    assert_eq!(ring.len(), 0);
}

#[test]
fn a_receiver_ahead_of_a_dead_senders_tail_can_be_replaced() {
    let _watchdog = watchdog::watchdog(120);
    let (c, ring, rx) = after_a_sender_died_between_commit_and_tail("commit-die-rx");
    // The receiver goes as if its process died (no close, its head ahead
    // of the tail); its pid word (0x110) is cleared as a dead holder's is
    // taken over, since this process is still alive.
    std::mem::forget(rx);
    poke(&c.0, 0x110, &0u32.to_ne_bytes());
    let mut rx = ring.receiver().expect("a head ahead of the tail is valid");
    assert!(matches!(rx.try_recv(), Err(Error::Empty)));
}

#[test]
fn killing_a_slot_producer_leaves_whole_items_and_lets_a_new_one_take_over() {
    let _watchdog = watchdog::watchdog(120);
    let name = format!("ringcore-kill-slot-{}", std::process::id());
    let _c = Cleanup(name.clone());
    let ring = SharedRing::create::<[u64; 4]>(&name, 8).unwrap();
    let mut rx = ring.consumer::<[u64; 4]>().unwrap();
    let mut child = spawn("slot-producer", &name);
    let mut next = 0u64;
    let started = Instant::now();
    while next < 100_000 && started.elapsed() < Duration::from_secs(20) {
        rx.consume_batch(|item| {
            let s = next;
            assert_eq!(
                *item,
                [s, !s, s.rotate_left(17), s ^ 0xdead_beef],
                "torn item"
            );
            next += 1;
        });
    }
    kill9(&mut child);
    rx.consume_batch(|item| {
        let s = next;
        assert_eq!(
            *item,
            [s, !s, s.rotate_left(17), s ^ 0xdead_beef],
            "torn item"
        );
        next += 1;
    });
    assert!(!ring.is_producer_alive(Duration::from_secs(1)));
    // The dead producer's side is taken over.
    let mut tx = ring.producer::<[u64; 4]>().unwrap();
    let s = next;
    tx.send_one([s, !s, s.rotate_left(17), s ^ 0xdead_beef])
        .unwrap();
    assert_eq!(rx.try_recv().unwrap()[0], s);
}

/// A blocking wait on a shared ring whose other side was killed (a killed
/// process never closes its ring) ends with `Disconnected` once the side's
/// heartbeat is silent, instead of lasting for ever; what the dead sender
/// committed is read first.
#[test]
fn a_wait_for_a_killed_peer_ends_disconnected() {
    let _watchdog = watchdog::watchdog(120);
    let name = format!("ringcore-deadpeer-msg-{}", std::process::id());
    let _c = Cleanup(name.clone());
    let ring = MessageRing::create(Some(&name), 16).unwrap();
    let mut rx = ring.receiver().unwrap();
    let mut child = spawn("msg-producer", &name);
    let mut next = 0;
    let first = rx.recv_blocking(WaitStrategy::Blocking).unwrap();
    assert_eq!(first.payload(), message(0));
    drop(first);
    next += 1;
    kill9(&mut child);
    drain_and_check(&mut rx, &mut next);
    let t = Instant::now();
    match rx.recv_blocking(WaitStrategy::Blocking) {
        Err(Error::Disconnected) => {}
        other => panic!(
            "expected Disconnected, got {:?}",
            other.map(|m| m.payload().len())
        ),
    }
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());

    // A sender waiting for room on a ring whose receiver was killed.
    let name = format!("ringcore-deadpeer-slot-{}", std::process::id());
    let _c = Cleanup(name.clone());
    let ring = SharedRing::create::<[u64; 4]>(&name, 4).unwrap();
    let mut child = spawn("slot-idle-consumer", &name);
    while ring.consumer_pid() != child.id() {
        std::thread::sleep(Duration::from_millis(1));
    }
    kill9(&mut child);
    let mut tx = ring.producer::<[u64; 4]>().unwrap();
    let t = Instant::now();
    let err = loop {
        if let Err(e) = tx.send_one_blocking([1; 4], WaitStrategy::Blocking) {
            break e.reason;
        }
    };
    assert!(matches!(err, Error::Disconnected), "{err}");
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
}
