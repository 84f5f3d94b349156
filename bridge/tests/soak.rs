//! The long runs of the bridge, for `make soak-bridge` (release build,
//! `--ignored`): a million records through five kills of the pusher, five
//! of the puller and five server restarts; and a three-node JetStream
//! cluster holding the stream three times, one node killed mid-stream.

mod support;

use async_nats::jetstream;
use std::time::{Duration, Instant};
use support::run::{chaos, Fault};
use support::*;

/// The writer child (see `support::writer_cmd`); a no-op as a test.
#[test]
fn child_entry() {
    child_main();
}

#[test]
#[ignore = "soak: make soak-bridge"]
fn a_million_records_through_five_of_each_fault() {
    use Fault::*;
    let mut faults = Vec::new();
    for _ in 0..5 {
        faults.extend([KillPusher, KillPuller, RestartServer]);
    }
    faults.extend([KillWriter, KillWriter]);
    chaos(
        1_000_000,
        40_000,
        512,
        &faults,
        Duration::from_secs(24),
        Duration::from_secs(600),
    );
}

/// The name of the server leading stream `name`, asked of `url`.
fn leader(url: &str, name: &str) -> Option<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = async_nats::connect(url).await.ok()?;
        let js = jetstream::new(client);
        let mut s = js.get_stream(name).await.ok()?;
        let info = s.info().await.ok()?;
        info.cluster.as_ref()?.leader.clone()
    })
}

#[test]
#[ignore = "soak: make soak-bridge"]
fn a_three_node_cluster_loses_the_stream_leader_mid_stream() {
    let n = 200_000;
    let limit = Duration::from_secs(300);
    let _w = watchdog(limit + Duration::from_secs(30));
    let dir = TempDir::new("cluster");
    let mut nodes = Server::cluster(&dir, 3);
    let urls: Vec<String> = nodes.iter().map(Server::url).collect();
    let all = urls.join(",");
    let (source, mirror) = (dir.path("source"), dir.path("mirror"));
    let stream = "R3";
    let (plog, qlog, wlog) = (
        dir.path("push.log"),
        dir.path("pull.log"),
        dir.path("writer.log"),
    );
    let writer = Proc::spawn("writer", writer_cmd(&source, n, 20_000, 512), &wlog);
    let mut pusher = Proc::spawn(
        "push",
        push_cmd(&source, &all, stream, &["--replicas", "3"]),
        &plog,
    );
    let mut puller = Proc::spawn("pull", pull_cmd(stream, &mirror, &all, &[]), &qlog);
    let live = tail_live(mirror.clone(), n, limit);

    // Mid-stream: a third of the records in the mirror, then the node
    // leading the stream goes (kill -9) and stays down.
    let t0 = Instant::now();
    let (killed, at) = loop {
        assert!(t0.elapsed() < limit, "the mirror does not grow");
        let have = ringcore::log::Reader::open(&mirror, ringcore::log::From::Live)
            .map(|r| r.next_index())
            .unwrap_or(0);
        if have >= n / 3 {
            if let Some(name) = leader(&urls[0], stream) {
                let i = nodes.iter().position(|s| s.name == name).unwrap();
                nodes[i].kill();
                eprintln!(
                    "{:>6} ms: killed {name}, the stream's leader, at record {have}",
                    t0.elapsed().as_millis()
                );
                break (i, have);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    while !live.is_finished() {
        for p in [&mut pusher, &mut puller] {
            if let Some(s) = p.exited() {
                panic!("{} exited ({s})", p.name);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = live.join().unwrap();
    let outputs = format!(
        "--- push ---\n{}\n--- pull ---\n{}",
        tail(&plog, 3000),
        tail(&qlog, 3000)
    );
    assert_eq!(
        got, n,
        "the mirror's live reader got {got} of {n}\n{outputs}"
    );
    eprintln!(
        "{n} records mirrored in {:?} with {} of 3 nodes up after record {at}",
        t0.elapsed(),
        nodes.iter().filter(|s| s.is_up()).count(),
    );
    let status = writer.wait(limit);
    assert!(status.success());
    drop(pusher);
    drop(puller);
    assert_same_log(&source, &mirror, n);
    let survivor = &urls[(killed + 1) % 3];
    assert_stream_exact(survivor, stream, n);
    eprintln!("{outputs}");
}
