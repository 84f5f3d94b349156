//! The bridge against a real `nats-server`, every part a process of its
//! own: a log writer, `ringmpsc-bridge push`, `ringmpsc-bridge pull` and
//! the server, killed with SIGKILL at random points while a reader tails
//! the mirror live. The soak version (1M records, more kills, a
//! three-node cluster) is `tests/soak.rs`, run by `make soak-bridge`.

mod support;

use std::time::Duration;
use support::run::{chaos, Fault};
use support::*;

/// The writer child (see `support::writer_cmd`); a no-op as a test.
#[test]
fn child_entry() {
    child_main();
}

#[test]
fn push_and_pull_survive_kills_and_a_server_restart() {
    use Fault::*;
    chaos(
        60_000,
        12_000,
        2000,
        &[
            KillPusher,
            KillPusher,
            KillPusher,
            KillPuller,
            KillPuller,
            KillPuller,
            RestartServer,
            KillWriter,
        ],
        Duration::from_secs(4),
        Duration::from_secs(90),
    );
}

/// A mirror that is lost is rebuilt from the stream (the durable consumer
/// starts over); one left behind gets the consumer moved back to it; a
/// mirror or a stream of another log is refused.
#[test]
fn mirrors_are_rebuilt_and_other_logs_refused() {
    let _w = watchdog(Duration::from_secs(90));
    let dir = TempDir::new("rebuild");
    let server = Server::standalone(&dir, "nats", &[]);
    let url = server.url();
    let (source, mirror, out) = (dir.path("source"), dir.path("mirror"), dir.path("out.log"));
    let n = 3000;
    let mut w = source_builder(&source).build().unwrap();
    for i in 0..n {
        let p = payload(i, 500);
        w.append(checksum(&p) as u32, &p).unwrap();
    }
    w.close().unwrap();
    let run = |c: std::process::Command| {
        let s = Proc::spawn("bridge", c, &out).wait(Duration::from_secs(30));
        assert!(s.success(), "{}", tail(&out, 3000));
    };
    let last = (n - 1).to_string();
    run(push_cmd(&source, &url, "RB", &["--exit-when-closed"]));
    run(pull_cmd("RB", &mirror, &url, &["--until-index", &last]));
    assert_same_log(&source, &mirror, n);

    // Lost: rebuilt from the first record.
    for f in ringcore::log::list_files(&mirror).unwrap() {
        std::fs::remove_file(ringcore::log::file_path(&mirror, f)).unwrap();
    }
    run(pull_cmd("RB", &mirror, &url, &["--until-index", &last]));
    assert_same_log(&source, &mirror, n);

    // Behind (a copy of the mirror from when it had 1000 records): the
    // consumer acknowledged everything, and is moved back to record 1000.
    let behind = dir.path("behind");
    let mut b = ringcore::log::WriterBuilder::new(&behind)
        .log_id(
            ringcore::log::Reader::open(&source, ringcore::log::From::Start)
                .unwrap()
                .log_id(),
        )
        .build()
        .unwrap();
    let mut r = ringcore::log::Reader::open(&source, ringcore::log::From::Start).unwrap();
    for _ in 0..1000 {
        let m = r.try_read().unwrap().unwrap();
        b.append_at(m.msg_type, m.payload, m.timestamp).unwrap();
    }
    drop(b);
    run(pull_cmd("RB", &behind, &url, &["--until-index", &last]));
    assert_same_log(&source, &behind, n);
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .contains("consumer moved 1 times"),
        "{}",
        tail(&out, 2000)
    );

    // Another log: neither its pusher nor a mirror of it may mix with these.
    let other = dir.path("other");
    let mut o = source_builder(&other).build().unwrap();
    o.append(0, b"another log").unwrap();
    o.close().unwrap();
    for (c, what) in [
        (
            push_cmd(&other, &url, "RB", &["--exit-when-closed"]),
            "stream RB holds the log",
        ),
        (push_cmd(&other, &url, "RB2", &["--exit-when-closed"]), ""),
    ] {
        let s = Proc::spawn("bridge", c, &out).wait(Duration::from_secs(30));
        assert_eq!(s.success(), what.is_empty(), "{}", tail(&out, 2000));
        assert!(tail(&out, 400).contains(what), "{}", tail(&out, 2000));
    }
    let s = Proc::spawn("bridge", pull_cmd("RB2", &mirror, &url, &[]), &out)
        .wait(Duration::from_secs(30));
    assert!(!s.success());
    assert!(
        tail(&out, 400).contains("the mirror"),
        "{}",
        tail(&out, 2000)
    );
    assert_same_log(&source, &mirror, n);
    assert_stream_exact(&url, "RB", n);
}

/// A message another publisher put on the stream's subject, numbered
/// u64::MAX with this log's id: the pusher resuming after it refuses the
/// stream (no log goes past that index) rather than overflow or start
/// the log over.
#[test]
fn a_last_record_numbered_at_the_end_of_u64_is_refused() {
    let _w = watchdog(Duration::from_secs(90));
    let dir = TempDir::new("maxindex");
    let server = Server::standalone(&dir, "nats", &[]);
    let url = server.url();
    let (source, out) = (dir.path("source"), dir.path("out.log"));
    let mut w = source_builder(&source).build().unwrap();
    w.append(0, b"one").unwrap();
    w.close().unwrap();
    let log_id = ringcore::log::Reader::open(&source, ringcore::log::From::Start)
        .unwrap()
        .log_id();
    let push = || push_cmd(&source, &url, "MX", &["--exit-when-closed"]);
    let s = Proc::spawn("bridge", push(), &out).wait(Duration::from_secs(30));
    assert!(s.success(), "{}", tail(&out, 3000));
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(url.as_str()).await.unwrap());
        let mut h = async_nats::HeaderMap::new();
        h.insert(
            "Nats-Msg-Id",
            format!("{log_id:016x}-{}", u64::MAX).as_str(),
        );
        h.insert("Rmpsc-Index", u64::MAX.to_string().as_str());
        h.insert("Rmpsc-Type", "0");
        h.insert("Rmpsc-Time", "0");
        js.publish_with_headers("rmpsc.MX", h, "forged".into())
            .await
            .unwrap()
            .await
            .unwrap();
    });
    let s = Proc::spawn("bridge", push(), &out).wait(Duration::from_secs(30));
    assert!(!s.success());
    assert!(
        tail(&out, 600).contains("no log goes past it"),
        "{}",
        tail(&out, 2000)
    );
}
