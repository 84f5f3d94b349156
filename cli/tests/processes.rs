//! The tool against segments, logs and channels that other processes made
//! and use (Rust children, and the C and Python peers where built): what
//! `list`, `stat`, `dump`, `hz`, `clean` and `export` say, as JSON.

mod support;

use ringcore::log::WriterBuilder;
use ringcore::msg::transport::{Client, ClientOptions, SendPolicy, Server, ServerOptions};
use ringcore::msg::{MessageRing, Priority};
use ringcore::shm::SharedRing;
use ringcore::BufferPool;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use support::*;

/// Payload of test message `i`.
fn payload(i: u64) -> Vec<u8> {
    format!("message {i}").into_bytes()
}

/// The child side; a no-op when run as a normal test.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var("RINGMPSC_CHILD") else {
        return;
    };
    die_with_parent();
    let path = env("RINGMPSC_PATH");
    let ready = PathBuf::from(env("RINGMPSC_READY"));
    let go = PathBuf::from(env("RINGMPSC_GO"));
    let count: u64 = env("RINGMPSC_COUNT").parse().unwrap();
    match role.as_str() {
        // Makes a message ring with no consumer, sends COUNT messages, then
        // MORE after the go-ahead, and leaves (the name stays behind).
        "msg-ring" => {
            let ring = MessageRing::create(Some(&path), 16).unwrap();
            let mut tx = ring.sender().unwrap();
            for i in 0..count {
                tx.send(i as u32 + 1, &payload(i)).unwrap();
            }
            std::fs::write(&ready, b"").unwrap();
            await_file(&go);
            let more: u64 = env("RINGMPSC_MORE").parse().unwrap();
            for i in count..count + more {
                tx.send(i as u32 + 1, &payload(i)).unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Attaches to a ring a peer made and sends shm_peer's messages:
        // COUNT, then the rest after the go-ahead, then closes the ring.
        "shm-send" => {
            let total: u64 = env("RINGMPSC_TOTAL").parse().unwrap();
            let ring = MessageRing::attach(&path, Duration::from_secs(10)).unwrap();
            let mut tx = ring.sender().unwrap();
            for seq in 0..total {
                if seq == count {
                    std::fs::write(&ready, b"").unwrap();
                    await_file(&go);
                }
                let m = shm_peer_message(seq);
                tx.send_blocking(
                    crc32(&m) & 0x7fff_ffff,
                    &m,
                    ringcore::WaitStrategy::Blocking,
                )
                .unwrap();
            }
            ring.close();
        }
        // Sends COUNT slots of 16 bytes as python/examples/shm_peer.py
        // send-slots does, in two halves around the go-ahead.
        "slots-send" => {
            let ring = SharedRing::attach_slots(&path, Some(16), Duration::from_secs(10)).unwrap();
            let mut tx = ring.producer::<[u64; 2]>().unwrap();
            for seq in 0..count {
                if seq == count / 2 {
                    std::fs::write(&ready, b"").unwrap();
                    await_file(&go);
                }
                let slot = [seq, seq.wrapping_mul(SLOT_MIX)];
                tx.send_blocking(&[slot], ringcore::WaitStrategy::Blocking)
                    .unwrap();
            }
            // Dropping the producer closes the ring: the consumer ends.
        }
        // Makes a ring and a pool and holds a consumer and three slabs
        // until the go-ahead.
        "holder" => {
            let ring = MessageRing::create(Some(&path), 12).unwrap();
            let _rx = ring.receiver().unwrap();
            let pool = BufferPool::create_shared(Some(&format!("{path}.pool")), 256, 8).unwrap();
            let _held: Vec<_> = (0..3).map(|_| pool.alloc().unwrap()).collect();
            std::fs::write(&ready, b"").unwrap();
            await_file(&go);
        }
        // Makes a ring and a pool and leaves at once: both go stale.
        "leaver" => {
            let ring = MessageRing::create(Some(&path), 12).unwrap();
            drop(ring.sender().unwrap());
            let _pool = BufferPool::create_shared(Some(&format!("{path}.pool")), 256, 8).unwrap();
            std::fs::write(&ready, b"").unwrap();
        }
        // Writes COUNT records with small files (several rolls), then
        // closes the log after the go-ahead.
        "log" => {
            let mut w = WriterBuilder::new(&path)
                .region_size(64 << 10)
                .file_roll_size(256 << 10)
                .build()
                .unwrap();
            for i in 0..count {
                w.append_at(7, &[i as u8; 300], 1000 + i).unwrap();
            }
            w.flush().unwrap();
            std::fs::write(&ready, b"").unwrap();
            await_file(&go);
            w.close().unwrap();
        }
        // A transport server that takes no request until the go-ahead,
        // then echoes every request for 3 s.
        "server" => {
            let mut s = Server::create(
                &path,
                ServerOptions {
                    max_clients: 4,
                    request_capacity: 64 << 10,
                    response_capacity: 64 << 10,
                    ..ServerOptions::default()
                },
            )
            .unwrap();
            std::fs::write(&ready, b"").unwrap();
            while !go.exists() {
                let _ = s.clients();
                std::thread::sleep(Duration::from_millis(5));
            }
            let end = std::time::Instant::now() + Duration::from_secs(3);
            while std::time::Instant::now() < end {
                let mut echoes = Vec::new();
                s.serve(256, |r| {
                    echoes.push((r.client, r.priority, r.payload().to_vec()))
                })
                .unwrap();
                for (c, p, m) in echoes {
                    let _ = s.send(c, p, &m);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // A client whose Low sends are dropped when its ring is full: it
        // fills the Low ring until COUNT drops, then holds until the go-ahead.
        "dropper" => {
            let mut c = Client::connect(
                &path,
                ClientOptions {
                    policy: SendPolicy::DropLow(Some(Duration::from_secs(1))),
                    ..ClientOptions::default()
                },
            )
            .unwrap();
            let mut drops = 0;
            while drops < count {
                if !c.send(Priority::Low, &[0xab; 1000]).unwrap() {
                    drops += 1;
                }
            }
            std::fs::write(&ready, b"").unwrap();
            await_file(&go);
        }
        other => panic!("unknown role {other}"),
    }
}

/// python/examples/shm_peer.py's second word of slot `seq` is `seq * SLOT_MIX`.
const SLOT_MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// examples-c/shm_peer.c's message `seq`.
fn shm_peer_message(seq: u64) -> Vec<u8> {
    let len = ((seq.wrapping_mul(2_654_435_761) >> 7) % 1001) as usize;
    let off = (seq % 251) as usize;
    let mut m = seq.to_le_bytes().to_vec();
    m.extend((off..off + len).map(|i| (i & 0xff) as u8));
    m
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn envs(
    dir: &TempDir,
    path: &std::path::Path,
    count: u64,
    tag: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("RINGMPSC_PATH", path.display().to_string()),
        (
            "RINGMPSC_READY",
            dir.join(&format!("{tag}.ready")).display().to_string(),
        ),
        (
            "RINGMPSC_GO",
            dir.join(&format!("{tag}.go")).display().to_string(),
        ),
        ("RINGMPSC_COUNT", count.to_string()),
    ]
}

fn go(dir: &TempDir, tag: &str) {
    std::fs::write(dir.join(&format!("{tag}.go")), b"").unwrap();
}

fn ready(dir: &TempDir, tag: &str) {
    wait_for(&dir.join(&format!("{tag}.ready")));
}

fn list(dir: &TempDir) -> Value {
    tool_json(&["list", "--json", "--dir", &dir.s()])
}

fn stat(path: &std::path::Path) -> Value {
    tool_json(&[
        "stat",
        "--json",
        "--interval",
        "0.2",
        &path.display().to_string(),
    ])
}

#[test]
fn message_ring_from_another_process_listed_stated_dumped_and_followed() {
    let dir = TempDir::new("msg");
    let path = dir.join("ring");
    let mut e = envs(&dir, &path, 5, "p");
    e.push(("RINGMPSC_MORE", "3".into()));
    let mut producer = child("msg-ring", &e);
    ready(&dir, "p");

    let l = list(&dir);
    let ent = entry(&l, &path);
    assert_eq!(ent["kind"], "message_ring");
    assert_eq!(ent["error"], Value::Null);
    assert_eq!(ent["file"]["mode"], "0600");
    assert_eq!(ent["file"]["size"], (512 + 65536) as u64);
    let seg = &ent["segment"];
    assert_eq!(seg["version"], 3);
    assert_eq!(seg["creator"]["pid"], producer.id());
    assert_eq!(seg["creator"]["alive"], true);
    assert_eq!(seg["producer"]["pid"], producer.id());
    assert_eq!(seg["producer"]["alive"], true);
    assert_eq!(seg["consumer"]["pid"], 0);
    assert_eq!(seg["stale"], false);

    let s = stat(&path);
    assert_eq!(s["kind"], "message_ring");
    let ring = &s["segment"]["ring"];
    assert_eq!(ring["unit"], "bytes");
    assert_eq!(ring["capacity"], 65536);
    assert_eq!(ring["head"], 0);
    assert_eq!(ring["pending_messages"], 5);
    assert_eq!(ring["fill"], ring["tail"]);
    assert!(
        s["segment"]["producer"]["heartbeat_age_s"]
            .as_f64()
            .unwrap()
            < 1.0
    );
    assert_eq!(s["rates"]["messages_per_s"], 0.0);
    assert!(s["interval_s"].as_f64().unwrap() >= 0.2);

    // A look at what waits, consuming nothing: twice the same.
    for _ in 0..2 {
        let out = tool(&["dump", "--format", "json", &path.display().to_string()]);
        assert_eq!(out.status.code(), Some(0));
        let recs: Vec<Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(recs.len(), 5);
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(r["source"], "ring");
            assert_eq!(r["type"], i as u64 + 1);
            let p = payload(i as u64);
            assert_eq!(r["length"], p.len());
            assert_eq!(
                r["payload_hex"],
                p.iter().map(|b| format!("{b:02x}")).collect::<String>()
            );
        }
    }
    let text = tool(&["dump", &path.display().to_string(), "-n", "2"]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(
        text.lines()
            .next()
            .unwrap()
            .ends_with("type 1 len 9 \"message 0\""),
        "{text}"
    );

    // Following: the 5 waiting, the 3 sent later, then the producer leaves.
    let mut follow = std::process::Command::new(env!("CARGO_BIN_EXE_ringmpsc"))
        .args(["dump", "--follow", "--json", &path.display().to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    go(&dir, "p");
    assert!(producer.wait().unwrap().success());
    let st = wait_limited(&mut follow, Duration::from_secs(20)).expect("dump --follow ended");
    assert!(st.success());
    let mut out = String::new();
    std::io::Read::read_to_string(follow.stdout.as_mut().unwrap(), &mut out).unwrap();
    let types: Vec<u64> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["type"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(types, (1..=8).collect::<Vec<_>>());
    let mut err = String::new();
    std::io::Read::read_to_string(follow.stderr.as_mut().unwrap(), &mut err).unwrap();
    // A sender that leaves closes the ring.
    assert!(err.contains("the ring was closed"), "{err}");

    // The creator left without removing it: stale now.
    let l = list(&dir);
    assert_eq!(entry(&l, &path)["segment"]["stale"], true);
}

#[test]
fn clean_removes_only_what_is_stale() {
    let dir = TempDir::new("clean");
    let live = dir.join("live");
    let dead = dir.join("dead");
    let mut holder = child("holder", &envs(&dir, &live, 0, "h"));
    let mut leaver = child("leaver", &envs(&dir, &dead, 0, "l"));
    ready(&dir, "h");
    ready(&dir, "l");
    assert!(leaver.wait().unwrap().success());
    std::fs::write(dir.join("foreign"), b"not ours").unwrap();

    let s = stat(&PathBuf::from(format!("{}.pool", live.display())));
    assert_eq!(s["kind"], "pool");
    assert_eq!(s["segment"]["pool"]["slabs"], 8);
    assert_eq!(s["segment"]["pool"]["slab_size"], 256);
    assert_eq!(s["segment"]["pool"]["allocated"], 3);
    assert_eq!(s["rates"], Value::Null);

    let action = |v: &Value, p: &std::path::Path| -> String {
        v["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["path"].as_str() == Some(&p.display().to_string()))
            .unwrap_or_else(|| panic!("{} not in {v:#}", p.display()))["action"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let pool = |p: &std::path::Path| PathBuf::from(format!("{}.pool", p.display()));
    let dry = tool_json(&["clean", "--dry-run", "--json", "--dir", &dir.s()]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(action(&dry, &dead), "would_remove");
    assert_eq!(action(&dry, &pool(&dead)), "would_remove");
    assert_eq!(action(&dry, &live), "kept");
    assert_eq!(action(&dry, &pool(&live)), "kept");
    assert_eq!(dry["segments"].as_array().unwrap().len(), 4, "{dry:#}");
    assert!(dead.exists() && pool(&dead).exists());

    let done = tool_json(&["clean", "--json", "--dir", &dir.s()]);
    assert_eq!(action(&done, &dead), "removed");
    assert_eq!(action(&done, &pool(&dead)), "removed");
    assert_eq!(action(&done, &live), "kept");
    assert!(!dead.exists() && !pool(&dead).exists());
    assert!(live.exists() && pool(&live).exists());
    assert!(dir.join("foreign").exists());

    // Killed: its segments are stale once its last heartbeat is a second
    // old, and go.
    kill(&mut holder);
    let done = tool_json(&["clean", "--json", "--dir", &dir.s()]);
    assert_eq!(
        action(&done, &pool(&live)),
        "removed",
        "a pool has no heartbeat"
    );
    wait_until(10, "the killed holder's ring to be removed", || {
        let done = tool_json(&["clean", "--json", "--dir", &dir.s()]);
        done["segments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["action"] == "removed")
    });
    assert!(!live.exists());
    assert!(dir.join("foreign").exists());
}

#[test]
fn log_with_rolled_files_stated_and_dumped_from_an_index() {
    let dir = TempDir::new("log");
    let path = dir.join("ticks");
    let mut w = child("log", &envs(&dir, &path, 3000, "w"));
    ready(&dir, "w");
    let s = stat(&path);
    assert_eq!(s["kind"], "log");
    let log = &s["log"];
    assert_eq!(log["records"], 3000);
    assert_eq!(log["first_index"], 0);
    assert_eq!(log["next_index"], 3000);
    assert_eq!(log["writer"]["status"], "active");
    assert_eq!(log["writer"]["process"]["pid"], w.id());
    assert!(log["files"].as_array().unwrap().len() >= 3, "{log:#}");
    assert_eq!(log["checksums"], true);

    let out = tool(&[
        "dump",
        "--json",
        "--from",
        "2500",
        "-n",
        "3",
        &path.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let recs: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 3);
    for (k, r) in recs.iter().enumerate() {
        let i = 2500 + k as u64;
        assert_eq!(r["source"], "log");
        assert_eq!(r["index"], i);
        assert_eq!(r["type"], 7);
        assert_eq!(r["timestamp"], 1000 + i);
        assert_eq!(r["length"], 300);
        assert_eq!(r["payload_hex"], format!("{:02x}", i as u8).repeat(300));
    }
    // An index not written yet, and one file of the log named directly.
    let out = tool(&["dump", "--from", "3001", &path.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not written yet"));
    let s1 = stat(&PathBuf::from(format!("{}.1", path.display())));
    assert_eq!(s1["path"], path.display().to_string());

    // The list shows the log once (its files and lock are one entry).
    let l = tool_json(&["list", "--json", "--dir", &dir.s()]);
    let logs: Vec<&Value> = l["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "log")
        .collect();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["log"]["records"], 3000);

    go(&dir, "w");
    assert!(w.wait().unwrap().success());
    assert_eq!(stat(&path)["log"]["writer"]["status"], "closed");
}

#[test]
fn transport_client_table_fill_backpressure_and_drops() {
    let dir = TempDir::new("transport");
    let path = dir.join("chan");
    let mut server = child("server", &envs(&dir, &path, 0, "s"));
    ready(&dir, "s");
    let mut dropper = child("dropper", &envs(&dir, &path, 3, "d"));
    ready(&dir, "d");
    // C and Python clients making one round trip each, waiting for the
    // server meanwhile.
    let mut peers = Vec::new();
    let p = path.display().to_string();
    if let Some(c) = c_peer("transport_peer") {
        peers.push(
            std::process::Command::new(c)
                .args(["echo", &p, "1"])
                .spawn()
                .unwrap(),
        );
    }
    if let Some(py) = python() {
        let script = repo().join("python/examples/transport_peer.py");
        peers.push(
            std::process::Command::new(py)
                .args([
                    script.display().to_string(),
                    "echo".into(),
                    p.clone(),
                    "1".into(),
                ])
                .spawn()
                .unwrap(),
        );
    }
    let want = 1 + peers.len();
    let mut s = stat(&path);
    wait_until(20, "every client connected and sent", || {
        s = stat(&path);
        let clients = s["segment"]["transport"]["clients"].as_array().unwrap();
        clients.len() == want
            && clients.iter().all(|c| {
                c["channel"]["requests"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|p| p["ring"]["fill"].as_u64() > Some(0)))
            })
    });
    let t = &s["segment"]["transport"];
    assert_eq!(s["kind"], "transport");
    assert_eq!(t["server"]["pid"], server.id());
    assert_eq!(t["server"]["alive"], true);
    assert_eq!(t["server"]["state"], "running");
    assert_eq!(t["server"]["max_clients"], 4);
    let clients = t["clients"].as_array().unwrap();
    let pids: Vec<u64> = clients.iter().map(|c| c["pid"].as_u64().unwrap()).collect();
    assert!(pids.contains(&(dropper.id() as u64)));
    for peer in &peers {
        assert!(pids.contains(&(peer.id() as u64)), "{pids:?}");
    }
    for c in clients {
        assert_eq!(c["alive"], true);
        assert_eq!(c["channel_error"], Value::Null);
        let ch = &c["channel"];
        let prios: Vec<&str> = ch["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["priority"].as_str().unwrap())
            .collect();
        assert_eq!(prios, ["critical", "high", "low"]);
        if c["pid"] == dropper.id() {
            let low = &ch["requests"][2]["ring"];
            assert!(low["fill_ratio"].as_f64().unwrap() > 0.9, "{low:#}");
            assert!(ch["backpressure"].as_f64().unwrap() > 0.9);
            assert_eq!(ch["dropped"], 3);
        } else {
            // One High request waits for the server.
            assert_eq!(ch["requests"][1]["ring"]["pending_messages"], 1);
        }
    }
    // The waiting requests, without taking them.
    let out = tool(&["dump", "--json", "-n", "2", &p]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first: Value = serde_json::from_str(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert!(
        first["ring"].as_str().unwrap().starts_with("client "),
        "{first:#}"
    );

    let metrics = String::from_utf8(tool(&["export", "--once", "--dir", &dir.s()]).stdout).unwrap();
    assert!(
        metrics.contains("# TYPE ringmpsc_transport_dropped_messages counter"),
        "{metrics}"
    );
    assert!(metrics.contains("ringmpsc_transport_dropped_messages_total{name=\"chan\",client="));
    assert!(metrics.contains("ringmpsc_transport_ring_depth_bytes{name=\"chan\""));
    assert!(metrics.contains("ringmpsc_transport_backpressure_ratio{"));
    assert!(metrics.ends_with("# EOF\n"));

    go(&dir, "s");
    for mut peer in peers {
        let st = wait_limited(&mut peer, Duration::from_secs(20)).expect("peer finished");
        assert!(st.success(), "a peer's round trip failed");
    }
    go(&dir, "d");
    assert!(dropper.wait().unwrap().success());
    assert!(server.wait().unwrap().success());
}

#[test]
fn c_creator_and_consumer_with_a_rust_producer() {
    let Some(peer) = c_peer("shm_peer") else {
        return;
    };
    let dir = TempDir::new("c-ring");
    let path = dir.join("ring");
    let mut c = std::process::Command::new(peer)
        .args(["recv", &path.display().to_string(), "400"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&path);
    let mut e = envs(&dir, &path, 150, "p");
    e.push(("RINGMPSC_TOTAL", "400".into()));
    let mut producer = child("shm-send", &e);
    ready(&dir, "p");
    let s = stat(&path);
    let seg = &s["segment"];
    assert_eq!(seg["creator"]["pid"], c.id());
    assert_eq!(seg["consumer"]["pid"], c.id());
    assert_eq!(seg["consumer"]["alive"], true);
    assert_eq!(seg["producer"]["pid"], producer.id());
    assert_eq!(seg["producer"]["alive"], true);
    assert_eq!(seg["ring"]["capacity"], 1 << 20);
    assert!(seg["ring"]["tail"].as_u64().unwrap() > 150 * 8);
    // The C consumer took all 150: head reaches tail.
    wait_until(10, "the C consumer to catch up", || {
        let r = &stat(&path)["segment"]["ring"];
        r["head"] == r["tail"]
    });
    go(&dir, "p");
    assert!(producer.wait().unwrap().success());
    let st = wait_limited(&mut c, Duration::from_secs(30)).expect("C consumer finished");
    assert!(st.success(), "the C consumer saw a wrong message");
    // It removed its ring on the way out.
    let out = tool(&["stat", &path.display().to_string()]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn python_slot_ring_and_c_pool() {
    let dir = TempDir::new("py-c");
    if let Some(py) = python() {
        let path = dir.join("slots");
        let script = repo().join("python/examples/shm_peer.py");
        let mut rx = std::process::Command::new(py)
            .args([
                script.display().to_string(),
                "recv-slots".into(),
                path.display().to_string(),
                "200".into(),
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_for(&path);
        let mut tx = child("slots-send", &envs(&dir, &path, 200, "s"));
        ready(&dir, "s");
        let s = stat(&path);
        assert_eq!(s["kind"], "slot_ring");
        let seg = &s["segment"];
        assert_eq!(seg["creator"]["pid"], rx.id());
        assert_eq!(seg["consumer"]["pid"], rx.id());
        assert_eq!(seg["producer"]["pid"], tx.id());
        assert_eq!(seg["ring"]["unit"], "slots");
        assert_eq!(seg["ring"]["slot_size"], 16);
        assert_eq!(seg["ring"]["capacity"], 4096);
        assert_eq!(seg["ring"]["tail"], 100);
        go(&dir, "s");
        assert!(tx.wait().unwrap().success());
        let st = wait_limited(&mut rx, Duration::from_secs(30)).expect("Python consumer finished");
        assert!(st.success(), "the Python consumer saw a wrong slot");
    }
    if let Some(peer) = c_peer("pool_peer") {
        let name = dir.join("pp").display().to_string();
        let mut rx = std::process::Command::new(peer)
            .args(["recv", &name, "0"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pool = PathBuf::from(format!("{name}.pool"));
        let ring = PathBuf::from(format!("{name}.ring"));
        wait_for(&pool);
        wait_for(&ring);
        wait_until(10, "the C consumer to take its side", || {
            stat(&ring)["segment"]["consumer"]["alive"] == true
        });
        let l = list(&dir);
        assert_eq!(entry(&l, &pool)["kind"], "pool");
        assert_eq!(entry(&l, &pool)["segment"]["pool"]["slabs"], 64);
        assert_eq!(entry(&l, &pool)["segment"]["pool"]["allocated"], 0);
        assert_eq!(entry(&l, &pool)["segment"]["creator"]["pid"], rx.id());
        assert_eq!(entry(&l, &ring)["kind"], "slot_ring");
        assert_eq!(entry(&l, &ring)["segment"]["ring"]["slot_size"], 4);
        kill(&mut rx);
        let l = list(&dir);
        assert_eq!(entry(&l, &pool)["segment"]["stale"], true);
        assert_eq!(entry(&l, &ring)["segment"]["stale"], true);
    }
}

#[test]
fn hz_and_export_of_a_busy_ring() {
    let dir = TempDir::new("hz");
    let path = dir.join("ring");
    let mut e = envs(&dir, &path, 1, "p");
    e.push(("RINGMPSC_MORE", "60".into()));
    let mut producer = child("msg-ring", &e);
    ready(&dir, "p");
    go(&dir, "p");
    // 60 messages, one every 20 ms: about 50 msg/s for 1.2 s.
    let h = tool_json(&[
        "hz",
        "--json",
        "--window",
        "0.6",
        "--sample",
        "0.1",
        &path.display().to_string(),
    ]);
    assert!(h["samples"].as_u64().unwrap() >= 5, "{h:#}");
    assert_eq!(h["exact"], true);
    let r = &h["rate"];
    let (min, mean, max) = (
        r["min"].as_f64().unwrap(),
        r["mean"].as_f64().unwrap(),
        r["max"].as_f64().unwrap(),
    );
    assert!(min <= mean && mean <= max, "{h:#}");
    assert!(h["messages"].as_u64().unwrap() > 0, "{h:#}");
    assert!(h["bytes"].as_u64().unwrap() >= h["messages"].as_u64().unwrap() * 16);

    // The exporter over HTTP.
    let mut exp = std::process::Command::new(env!("CARGO_BIN_EXE_ringmpsc"))
        .args(["export", "--listen", "127.0.0.1:0", "--dir", &dir.s()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(exp.stderr.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap()
        .trim_end_matches("/metrics")
        .to_string();
    let get = |path: &str| -> String {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        std::io::Write::write_all(
            &mut s,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let mut r = String::new();
        std::io::Read::read_to_string(&mut s, &mut r).unwrap();
        r
    };
    let m = get("/metrics");
    assert!(m.starts_with("HTTP/1.1 200 OK\r\n"), "{m}");
    assert!(m.contains("Content-Type: application/openmetrics-text"));
    assert!(m.contains("# TYPE ringmpsc_ring_written_bytes counter"));
    assert!(m.contains("ringmpsc_ring_written_bytes_total{name=\"ring\",kind=\"message_ring\"}"));
    assert!(m.contains("# UNIT ringmpsc_ring_depth_bytes bytes"));
    assert!(m.contains("ringmpsc_ring_depth_messages{name=\"ring\",kind=\"message_ring\"}"));
    assert!(
        m.contains("ringmpsc_process_up{name=\"ring\",kind=\"message_ring\",role=\"producer\"} 1")
    );
    assert!(m.contains("ringmpsc_heartbeat_age_seconds{"));
    assert!(m.trim_end().ends_with("# EOF"));
    assert!(get("/nothing").starts_with("HTTP/1.1 404"));
    // A client that trickles its request a byte every second holds the
    // exporter (one connection at a time) for its request deadline at
    // most: the next scrape is answered within `get`'s 10 s.
    let trickler = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            for _ in 0..20 {
                if std::io::Write::write_all(&mut s, b"G").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    assert!(get("/metrics").starts_with("HTTP/1.1 200 OK\r\n"));
    kill(&mut exp);
    trickler.join().unwrap();
    assert!(producer.wait().unwrap().success());
}

#[test]
fn probe_times_two_cpus_and_refuses_bad_ones() {
    for bad in [
        &["probe", "--cpus", "1,1"][..],
        &["probe", "--cpus", "0"],
        &["probe", "-n", "0"],
        &["probe", "--cpus", "0,100000"],
    ] {
        let out = tool(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(!out.stderr.is_empty(), "{bad:?} said nothing");
    }
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        return; // No two CPUs to pin to.
    }
    let p = tool_json(&["probe", "--json", "-n", "2000"]);
    assert_eq!(p["cpus"], serde_json::json!([0, 1]));
    assert_eq!(p["round_trips"], 2000);
    let ns = |k: &str| p[k].as_u64().unwrap();
    assert!(
        0 < ns("p50_ns") && ns("p50_ns") <= ns("p99_ns") && ns("p99_ns") <= ns("max_ns"),
        "{p:#}"
    );
    let text = tool(&["probe", "-n", "1000"]);
    assert_eq!(text.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&text.stdout).starts_with("core-to-core probe"));
}
