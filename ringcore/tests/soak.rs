//! The soak (`make soak SECONDS=N`; ignored by `cargo test`): for
//! `SOAK_SECONDS` (default 60), at once, in real processes (this binary
//! re-executes itself as the children):
//!
//! - a message ring whose producer process is killed with SIGKILL at random
//!   points and restarted: every committed message is read once, in order,
//!   whole;
//! - message rings under a hostile process writing random and plausible
//!   values (commit words of the right length but not the live lap, heads,
//!   tails, close flags, futex words) over their headers, indices and
//!   records: no call takes over 1 s, no stale or duplicate message is
//!   delivered (a forged one fails its checksum), and a forger that writes
//!   commit words of the live lap at the reader's head gets at most one
//!   record per forgery;
//! - a slot ring and a pool under the same scribbler: every call returns
//!   within 1 s, with a value or an error;
//! - a persistent log whose writer process is killed and restarted: a
//!   reader tailing it gets every acknowledged record once, in order;
//! - the transport: client processes and the server process killed and
//!   restarted, a hostile client scribbling the live control segment; the test's
//!   own client reconnects, carrying what the dead server had not taken and
//!   sending again what it took but did not answer (at least once): every
//!   request is answered, none that was never sent.
//!
//! It prints its counts and fails on any broken promise.

use ringcore::log::{From, Reader, WriterBuilder};
use ringcore::msg::transport::{Client, ClientOptions, SendPolicy, Server, ServerOptions};
use ringcore::msg::{MessageRing, Priority};
use ringcore::shm::{self, SharedRing};
use ringcore::{BufferPool, Error, WaitStrategy};
use std::collections::BTreeSet;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[path = "support/shared.rs"]
mod shared;
#[path = "support/watchdog.rs"]
mod watchdog;
use shared::{shared_counter, xorshift};

/// FNV-1a: every test message carries it (as its type, or its last bytes).
fn checksum(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

/// Message `seq`: the sequence number, then 0..=300 bytes derived from it.
fn message(seq: u64) -> Vec<u8> {
    let len = ((seq.wrapping_mul(2_654_435_761) >> 7) % 301) as usize;
    let mut m = seq.to_le_bytes().to_vec();
    m.extend((0..len).map(|i| (i as u64 ^ seq) as u8));
    m
}

fn seq_of(m: &[u8]) -> u64 {
    u64::from_le_bytes(m[..8].try_into().expect("8 bytes"))
}

fn child(role: &str, target: &str, extra: &[(&str, String)]) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("SOAK_CHILD", role)
        .env("SOAK_TARGET", target)
        .envs([watchdog::parent_env()])
        .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
        .spawn()
        .unwrap()
}

fn kill9(c: &mut Child) {
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(c.id() as i32, libc::SIGKILL) };
    c.wait().unwrap();
}

/// The slowest library call seen, which must stay under a second.
#[derive(Default)]
struct Slowest(Duration);

impl Slowest {
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let r = f();
        self.0 = self.0.max(t.elapsed());
        r
    }
}

/// The child side; a no-op when run as a normal test.
#[test]
fn child_entry() {
    let (Ok(role), Ok(target)) = (std::env::var("SOAK_CHILD"), std::env::var("SOAK_TARGET")) else {
        return;
    };
    watchdog::die_with_parent();
    let var = |k: &str| std::env::var(k).unwrap();
    match role.as_str() {
        // Sends messages from SOAK_START on, until killed.
        "msg-producer" => {
            let ring = MessageRing::attach(&target, Duration::from_secs(5)).unwrap();
            let mut tx = ring.sender().unwrap();
            for seq in var("SOAK_START").parse::<u64>().unwrap().. {
                let m = message(seq);
                tx.send_blocking(checksum(&m), &m, WaitStrategy::Blocking)
                    .unwrap();
            }
        }
        // Writes random and plausible values over a segment file, until
        // killed. SOAK_MODE "scribble": words anywhere (commit words never
        // of a live lap); "forge": commit words of the live lap at the
        // reader's head, counted in SOAK_COUNTER.
        "scribbler" => {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&target)
                .unwrap();
            let len = file.metadata().unwrap().len();
            let forged = (var("SOAK_MODE") == "forge")
                .then(|| shared_counter(Path::new(&var("SOAK_COUNTER"))));
            let mut next = xorshift(std::process::id() as u64 | 1);
            let mut word = [0u8; 8];
            loop {
                let r = next();
                if let Some(forged) = forged {
                    // The receiver's head (0x100) and its lap (4 KiB ring).
                    file.read_at(&mut word, 0x100).unwrap();
                    let head = u64::from_ne_bytes(word);
                    let commit = (head & !4095) as u32 | (((r % 200) as u32 & !7) + 1);
                    file.write_at(&commit.to_ne_bytes(), 512 + head % 4096)
                        .unwrap();
                    forged.fetch_add(1, Ordering::Relaxed);
                } else {
                    let at = (0x80 + (r >> 16) % (len - 0x88)) & !7;
                    let value = match r % 4 {
                        // A commit word of a plausible length, of no live lap.
                        0 => {
                            file.read_at(&mut word, 0x80).unwrap();
                            let lap = (u64::from_ne_bytes(word) >> 12) + 2 + (r >> 60);
                            ((lap << 12) as u32 | ((r >> 8) % 300) as u32) as u64 + 1
                        }
                        // A position near the live ones.
                        1 => {
                            file.read_at(&mut word, 0x80).unwrap();
                            u64::from_ne_bytes(word).wrapping_add((r >> 40) % 8192)
                        }
                        2 => (r >> 32) % 3,
                        _ => next(),
                    };
                    file.write_at(&value.to_ne_bytes(), at).unwrap();
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        // Appends from where the log ends, until killed; counts commits.
        "log-writer" => {
            let done = shared_counter(Path::new(&var("SOAK_COUNTER")));
            let mut w = WriterBuilder::new(&target)
                .region_size(16 << 10)
                .file_roll_size(256 << 10)
                .retention(256)
                .build()
                .unwrap();
            loop {
                let seq = w.next_index();
                let m = message(seq);
                w.append_at(checksum(&m), &m, seq).unwrap();
                done.store(seq + 1, Ordering::Release);
                // About 200 000 records a second at most: retention keeps
                // far more than a tailing reader falls behind by.
                if seq % 200 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        // Serves and echoes every request to its sender, until killed.
        "server" => {
            let mut s = Server::create(&target, ServerOptions::default()).unwrap();
            loop {
                let mut replies = Vec::new();
                s.serve(256, |r| replies.push((r.client, r.payload().to_vec())))
                    .unwrap();
                for (c, m) in replies {
                    let policy = SendPolicy::Block(Some(Duration::from_millis(100)));
                    let _ = s.send_with(c, Priority::High, &m, policy);
                }
                let _ = s.wait(Some(Duration::from_millis(50)));
            }
        }
        // A client that sends until killed; with SOAK_MODE "hostile" it
        // scribbles the live control segment (the server's line and the
        // doorbell every client rings) between its sends.
        "client" => {
            let mut c = loop {
                match Client::connect(&target, ClientOptions::default()) {
                    Ok(c) => break c,
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            };
            let control = live_control();
            let mut next = xorshift(std::process::id() as u64 | 1);
            for seq in 0u64.. {
                let policy = SendPolicy::Block(Some(Duration::from_millis(100)));
                if c.send_with(Priority::Low, &message(seq), policy).is_err() {
                    return;
                }
                let _ = c.recv_batch(64, |_, _| {});
                if var("SOAK_MODE") == "hostile" && seq % 16 == 0 {
                    let r = next();
                    let at = ((0x80 + (r >> 20) % 0x400) & !7) as usize;
                    // SAFETY: inside this process's shared mapping of the
                    // segment (at least 0x1000 bytes): the test's vandalism.
                    unsafe { control.add(at).cast::<u64>().write_volatile(next()) };
                }
            }
        }
        other => panic!("unknown role {other}"),
    }
}

/// Reads every message of `rx` that is there now, checking each is next.
fn drain_in_order(rx: &mut ringcore::msg::MessageReceiver, next: &mut u64) -> u64 {
    let mut n = 0;
    loop {
        match rx.try_recv() {
            Ok(m) => {
                let p = m.payload();
                assert_eq!(checksum(p), m.msg_type(), "torn message {next}");
                assert_eq!(seq_of(p), *next, "lost, duplicated or reordered");
                *next += 1;
                n += 1;
            }
            Err(Error::Empty) => return n,
            Err(e) => panic!("{e}"),
        }
    }
}

/// A producer process killed at random points and restarted.
fn killed_producers(until: Instant, rand: &mut impl FnMut() -> u64) -> String {
    let name = format!("rmpsc-soak-kill-{}", std::process::id());
    let ring = MessageRing::create(Some(&name), 16).unwrap();
    ring.unlink_on_drop(true);
    let mut rx = ring.receiver().unwrap();
    let (mut next, mut kills) = (0u64, 0u64);
    while Instant::now() < until {
        let mut p = child("msg-producer", &name, &[("SOAK_START", next.to_string())]);
        let run = Instant::now() + Duration::from_millis(20 + rand() % 200);
        while Instant::now() < run {
            drain_in_order(&mut rx, &mut next);
            let _ = rx.wait(WaitStrategy::TimedBlocking {
                timeout: Duration::from_millis(5),
            });
        }
        kill9(&mut p);
        kills += 1;
        drain_in_order(&mut rx, &mut next);
    }
    format!("killed producers: {kills} kills, {next} messages read once, in order, whole")
}

/// A message ring, its sender and receiver in this process, and a hostile
/// process writing over it; `forge` picks the forger. Rounds of fresh
/// rings: a scribbled close flag ends a ring for good.
fn hostile_message_rings(until: Instant, forge: bool, slowest: &mut Slowest) -> String {
    let tag = if forge { "forge" } else { "scribble" };
    let counter_path =
        std::env::temp_dir().join(format!("rmpsc-soak-{tag}-{}", std::process::id()));
    let forged = shared_counter(&counter_path);
    let (mut rounds, mut delivered, mut rejected, mut corrupt, mut stale) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    while Instant::now() < until {
        let name = format!("rmpsc-soak-{tag}-{}-{rounds}", std::process::id());
        let ring = MessageRing::create(Some(&name), 12).unwrap();
        ring.unlink_on_drop(true);
        let (mut tx, mut rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
        let path = shm::resolve_name(&name).unwrap();
        let mut vandal = child(
            "scribbler",
            path.to_str().unwrap(),
            &[
                ("SOAK_MODE", tag.to_string()),
                ("SOAK_COUNTER", counter_path.display().to_string()),
            ],
        );
        let (mut sent, mut last) = (0u64, None::<u64>);
        let round_end = Instant::now() + Duration::from_millis(500);
        let mut dead = false;
        while Instant::now() < round_end.min(until) && !dead {
            let m = message(sent);
            match slowest.time(|| tx.send(checksum(&m), &m)) {
                Ok(()) => sent += 1,
                Err(Error::Full) | Err(Error::Closed) | Err(Error::Corrupt(_)) => {}
                Err(e) => panic!("send: {e}"),
            }
            let wait = WaitStrategy::TimedBlocking {
                timeout: Duration::from_millis(2),
            };
            match slowest.time(|| {
                rx.recv_blocking(wait)
                    .map(|m| (m.msg_type(), m.payload().to_vec()))
            }) {
                Ok((t, p)) if p.len() >= 8 && checksum(&p) == t => {
                    let seq = seq_of(&p);
                    if last.is_some_and(|l| seq <= l) || seq >= sent {
                        stale += 1;
                    }
                    last = Some(seq);
                    delivered += 1;
                }
                Ok(_) => rejected += 1,
                Err(Error::Corrupt(_)) => {
                    corrupt += 1;
                    dead = true;
                }
                Err(Error::Closed) => dead = true,
                Err(Error::TimedOut) | Err(Error::Empty) => {}
                Err(e) => panic!("recv: {e}"),
            }
        }
        kill9(&mut vandal);
        rounds += 1;
    }
    let forged = forged.load(Ordering::Relaxed);
    let _ = std::fs::remove_file(&counter_path);
    if forge {
        assert!(
            stale <= forged,
            "{stale} stale deliveries from {forged} forged words"
        );
    } else {
        assert_eq!(stale, 0, "a stale or duplicate message was delivered");
    }
    format!(
        "{tag}: {rounds} rings, {delivered} checked messages, {rejected} forged ones rejected \
         by checksum, {corrupt} corruptions reported, {stale} stale{}",
        if forge {
            format!(" (at most one per forged word: {forged} forged)")
        } else {
            String::new()
        }
    )
}

/// A slot ring and a pool under the scribbler: every call returns.
fn hostile_slots_and_pool(until: Instant, slowest: &mut Slowest) -> String {
    let (mut rounds, mut calls, mut corrupt) = (0u64, 0u64, 0u64);
    while Instant::now() < until {
        let name = format!("rmpsc-soak-slots-{}-{rounds}", std::process::id());
        let pool_name = format!("{name}-pool");
        let ring = SharedRing::create_slots(Some(&name), 6, 8).unwrap();
        let pool = BufferPool::create_shared(Some(&pool_name), 64, 16).unwrap();
        ring.unlink_on_drop(true);
        pool.segment().unwrap().set_unlink_on_drop(true);
        let (mut tx, mut rx) = (
            ring.producer::<u64>().unwrap(),
            ring.consumer::<u64>().unwrap(),
        );
        let mut vandals: Vec<Child> = [&name, &pool_name]
            .iter()
            .map(|n| {
                let p = shm::resolve_name(n).unwrap();
                child(
                    "scribbler",
                    p.to_str().unwrap(),
                    &[("SOAK_MODE", "scribble".into())],
                )
            })
            .collect();
        let brief = WaitStrategy::TimedBlocking {
            timeout: Duration::from_millis(2),
        };
        let round_end = Instant::now() + Duration::from_millis(500);
        let mut held = Vec::new();
        while Instant::now() < round_end.min(until) {
            let results = [
                slowest.time(|| tx.send_one_blocking(calls, brief).err().map(|e| e.reason)),
                slowest.time(|| rx.recv_blocking(brief).err()),
                slowest.time(|| pool.try_alloc().map(|h| held.extend(h)).err()),
            ];
            for e in results.into_iter().flatten() {
                corrupt += u64::from(matches!(e, Error::Corrupt(_)));
            }
            if held.len() > 4 {
                for h in held.drain(..) {
                    let _ = slowest.time(|| pool.write(h, &[7u8; 64]));
                    let mut out = [0u8; 64];
                    if let Ok(n) = slowest.time(|| pool.read_into(h, &mut out)) {
                        assert!(n <= 64);
                    }
                    let _ = slowest.time(|| pool.free(h));
                }
            }
            calls += 3;
        }
        vandals.iter_mut().for_each(kill9);
        rounds += 1;
    }
    format!("slot rings and pools scribbled: {rounds} rounds, {calls} calls returned, {corrupt} corruptions reported")
}

/// A log writer process killed and restarted while this process tails it.
fn killed_log_writers(until: Instant, rand: &mut impl FnMut() -> u64) -> String {
    let dir = std::env::temp_dir().join(format!("rmpsc-soak-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log");
    let counter_path = dir.join("acked");
    let acked = shared_counter(&counter_path);
    let (mut kills, mut read) = (0u64, 0u64);
    let mut reader: Option<Reader> = None;
    let read_all = |reader: &mut Option<Reader>, read: &mut u64| {
        let r = match reader {
            Some(r) => r,
            None => match Reader::open(&log, From::Start) {
                Ok(r) => reader.insert(r),
                Err(_) => return,
            },
        };
        loop {
            match r.try_read() {
                Ok(Some(m)) => {
                    assert_eq!(m.index, *read, "a record was lost or read twice");
                    assert_eq!(m.timestamp, *read);
                    assert_eq!(checksum(m.payload), m.msg_type, "torn record");
                    assert_eq!(seq_of(m.payload), *read);
                    *read += 1;
                }
                Ok(None) => return,
                Err(e) => panic!("log read: {e}"),
            }
        }
    };
    while Instant::now() < until {
        let mut w = child(
            "log-writer",
            log.to_str().unwrap(),
            &[("SOAK_COUNTER", counter_path.display().to_string())],
        );
        let run = Instant::now() + Duration::from_millis(50 + rand() % 300);
        while Instant::now() < run {
            read_all(&mut reader, &mut read);
            std::thread::sleep(Duration::from_millis(1));
        }
        kill9(&mut w);
        kills += 1;
        read_all(&mut reader, &mut read);
        let acked = acked.load(Ordering::Acquire);
        assert!(read >= acked, "{acked} acknowledged, {read} read");
    }
    let _ = std::fs::remove_dir_all(&dir);
    format!("killed log writers: {kills} kills, {read} records read once, in order, none acknowledged lost")
}

/// The transport under killed servers and clients and a hostile client.
fn transport(until: Instant, rand: &mut impl FnMut() -> u64) -> String {
    let name = format!("rmpsc-soak-transport-{}", std::process::id());
    let mut server = child("server", &name, &[]);
    let mut others = [
        child("client", &name, &[("SOAK_MODE", "plain".into())]),
        child("client", &name, &[("SOAK_MODE", "hostile".into())]),
    ];
    let options = ClientOptions {
        connect_timeout: Duration::from_secs(5),
        policy: SendPolicy::Block(Some(Duration::from_millis(200))),
        ..ClientOptions::default()
    };
    let mut c = loop {
        match Client::connect(&name, options) {
            Ok(c) => break c,
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let (mut next, mut server_kills, mut client_kills, mut carried, mut resent) =
        (0u64, 0, 0, 0, 0);
    let mut unanswered = BTreeSet::new();
    let mut answered = 0u64;
    // Takes the answers there are: each must be one of our requests, sent.
    let take = |c: &mut Client, unanswered: &mut BTreeSet<u64>, answered: &mut u64, next: u64| {
        let _ = c.recv_batch(usize::MAX, |_, m| {
            let seq = seq_of(m);
            assert!(
                seq < next && message(seq) == m,
                "an answer to no request sent"
            );
            if unanswered.remove(&seq) {
                *answered += 1;
            }
        });
    };
    let mut next_kill = Instant::now() + Duration::from_millis(200 + rand() % 800);
    let finish = until;
    loop {
        let now = Instant::now();
        if now >= finish && unanswered.is_empty() {
            break;
        }
        assert!(
            now < finish + Duration::from_secs(20),
            "{} requests never answered",
            unanswered.len()
        );
        if now < finish {
            match c.send(Priority::High, &message(next)) {
                Ok(_) => {
                    unanswered.insert(next);
                    next += 1;
                }
                Err(Error::Disconnected) => {}
                Err(Error::TimedOut) | Err(Error::Full) => {}
                Err(e) => panic!("send: {e}"),
            }
        }
        take(&mut c, &mut unanswered, &mut answered, next);
        if now >= next_kill && now < finish {
            next_kill = now + Duration::from_millis(200 + rand() % 800);
            if rand() % 3 == 0 {
                // Stopped first, so that requests pile up untaken.
                // SAFETY: plain kill(2) on our own child.
                unsafe { libc::kill(server.id() as i32, libc::SIGSTOP) };
                let pile = Instant::now() + Duration::from_millis(rand() % 50);
                while Instant::now() < pile {
                    if c.send_with(Priority::High, &message(next), SendPolicy::Fail)
                        .is_ok()
                    {
                        unanswered.insert(next);
                        next += 1;
                    }
                }
                kill9(&mut server);
                server_kills += 1;
                server = child("server", &name, &[]);
            } else {
                let k = (rand() % others.len() as u64) as usize;
                kill9(&mut others[k]);
                client_kills += 1;
                let mode = if k == 1 { "hostile" } else { "plain" };
                others[k] = child("client", &name, &[("SOAK_MODE", mode.into())]);
            }
        }
        if !c.is_server_alive(Duration::from_secs(60)) {
            // Answers already written are still readable; then reconnect
            // and send again what the dead server took but did not answer:
            // what was carried is the newest `n` of the unanswered.
            take(&mut c, &mut unanswered, &mut answered, next);
            let n = loop {
                match c.reconnect() {
                    Ok(n) => break n,
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            };
            carried += n;
            let again: Vec<u64> = unanswered.iter().rev().skip(n).copied().collect();
            for seq in again.into_iter().rev() {
                while c.send(Priority::High, &message(seq)).is_err() {
                    take(&mut c, &mut unanswered, &mut answered, next);
                }
                resent += 1;
            }
        }
    }
    kill9(&mut server);
    others.iter_mut().for_each(kill9);
    let _ = shm::unlink(&shm::resolve_name(&name).unwrap());
    format!(
        "transport: {next} requests all answered ({answered} answers counted once), {server_kills} \
         server kills ({carried} requests carried to the next server, {resent} taken but \
         unanswered sent again), {client_kills} client kills, a hostile client"
    )
}

#[test]
#[ignore = "a long soak: make soak SECONDS=N"]
fn soak() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let _watchdog = watchdog::watchdog(seconds + 120);
    let until = Instant::now() + Duration::from_secs(seconds);
    // One random source per scenario, each seeded differently per run.
    let seed = 0x005e_ed0f_50a6 ^ std::process::id() as u64;
    let rand = move |k: u64| xorshift(seed.wrapping_mul(k) | 1);
    let bounded = |r: String, slowest: Slowest| {
        assert!(
            slowest.0 < Duration::from_secs(1),
            "a call took {:?}",
            slowest.0
        );
        format!("{r}; slowest call {:?}", slowest.0)
    };
    let mut scenarios: Vec<std::thread::JoinHandle<String>> = Vec::new();
    scenarios.push(std::thread::spawn(move || {
        killed_producers(until, &mut rand(3))
    }));
    for forge in [false, true] {
        scenarios.push(std::thread::spawn(move || {
            let mut slowest = Slowest::default();
            bounded(hostile_message_rings(until, forge, &mut slowest), slowest)
        }));
    }
    scenarios.push(std::thread::spawn(move || {
        let mut slowest = Slowest::default();
        bounded(hostile_slots_and_pool(until, &mut slowest), slowest)
    }));
    scenarios.push(std::thread::spawn(move || {
        killed_log_writers(until, &mut rand(5))
    }));
    scenarios.push(std::thread::spawn(move || transport(until, &mut rand(7))));
    println!("soak of {seconds} s:");
    let mut failed = false;
    for s in scenarios {
        match s.join() {
            Ok(line) => println!("  {line}"),
            Err(_) => failed = true,
        }
    }
    assert!(!failed, "a scenario failed (see above)");
}

/// This process's mapping of the transport's live control segment: the
/// shared memfd mapping whose segment header says kind 5.
fn live_control() -> *mut u8 {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .filter(|l| {
            l.contains("memfd:ringmpsc")
                && l.split_whitespace()
                    .nth(1)
                    .is_some_and(|p| p.starts_with("rw-s"))
        })
        .map(|l| usize::from_str_radix(l.split('-').next().unwrap(), 16).unwrap() as *mut u8)
        // SAFETY: the start of a live shared mapping, at least a page long.
        .find(|&p| unsafe { p.add(0x0c).cast::<u32>().read_volatile() } == 5)
        .expect("the live control segment is mapped")
}
