//! The bridge against a plain async-nats publisher and consumer of the
//! same records, in the same run, on one loopback `nats-server`
//! (`make bench-bridge`):
//!
//! - push: a closed log of N records published by `push` (headers, ids,
//!   the sequence chain) against the same payloads published by plain
//!   JetStream publishes with the same number in flight;
//! - pull: the stream rebuilt into a mirror by `pull` (append, msync,
//!   acknowledge each batch) against a plain pull consumer acknowledging
//!   the same batches and keeping nothing;
//! - latency: records appended at a steady rate, the time from the
//!   source's append (the record's timestamp) to a live reader of the
//!   mirror, against plain publish-to-consumer for the same rate;
//! - scaling: two logs through two streams at once, and a three-node
//!   cluster with the stream held three times.
//!
//! Rounds alternate between the two sides; the best round of each is
//! reported (these machines are shared and noisy).

#[path = "../tests/support/mod.rs"]
mod support;

use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::{self, consumer, stream::Config as StreamConfig, Context};
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use hdrhistogram::Histogram;
use ringcore::log::{From, Reader, WriterBuilder};
use ringmpsc_bridge::pull::{pull, PullConfig};
use ringmpsc_bridge::push::{push, PushConfig};
use ringmpsc_bridge::record::Meta;
use ringmpsc_bridge::stream::StreamSpec;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{Server, TempDir};

const IN_FLIGHT: usize = 4096;
const BATCH: usize = 1024;
const ROUNDS: usize = 3;
/// Records of the latency runs left out at the start, in seconds.
const WARM_UP: u64 = 1;

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn spec(name: &str, replicas: usize) -> StreamSpec {
    StreamSpec {
        name: name.into(),
        subject: format!("bench.{name}"),
        replicas,
        duplicate_window: Duration::from_secs(120),
    }
}

/// A closed log of `n` records of `size` bytes; returns the payloads too.
fn make_log(path: &Path, n: u64, size: usize) -> Vec<Bytes> {
    let mut w = WriterBuilder::new(path)
        .region_size(4 << 20)
        .file_roll_size(256 << 20)
        .build()
        .unwrap();
    let mut payloads = Vec::with_capacity(n as usize);
    for i in 0..n {
        let p: Vec<u8> = (0..size).map(|k| (i as usize ^ k) as u8).collect();
        w.append(7, &p).unwrap();
        payloads.push(Bytes::from(p));
    }
    w.close().unwrap();
    payloads
}

async fn make_stream(js: &Context, name: &str, replicas: usize) -> jetstream::stream::Stream {
    let _ = js.delete_stream(name).await;
    js.create_stream(StreamConfig {
        name: name.into(),
        subjects: vec![format!("bench.{name}")],
        num_replicas: replicas,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .unwrap()
}

/// Plain pipelined JetStream publishes of `payloads`, acknowledgements
/// awaited in order with at most `IN_FLIGHT` outstanding; with `headers`,
/// each carries the bridge's headers and message id for that log id.
async fn plain_publish(
    js: &Context,
    subject: &str,
    payloads: &[Bytes],
    headers: Option<u64>,
) -> Duration {
    let subject = async_nats::Subject::from(subject);
    let t0 = Instant::now();
    let mut q: VecDeque<PublishAckFuture> = VecDeque::with_capacity(IN_FLIGHT);
    for (i, p) in payloads.iter().enumerate() {
        if q.len() >= IN_FLIGHT {
            q.pop_front().unwrap().await.unwrap();
        }
        let ack = match headers {
            None => js.publish(subject.clone(), p.clone()).await,
            // The bridge's headers and message id, without the chain.
            Some(log_id) => {
                let meta = Meta {
                    log_id,
                    index: i as u64,
                    msg_type: 7,
                    timestamp: now_ns(),
                };
                js.publish_with_headers(subject.clone(), meta.headers(None), p.clone())
                    .await
            }
        };
        q.push_back(ack.unwrap());
    }
    while let Some(f) = q.pop_front() {
        f.await.unwrap();
    }
    t0.elapsed()
}

/// A plain pull consumer reading `n` messages in batches, acknowledging the
/// last of each, keeping nothing.
async fn plain_pull(stream: &jetstream::stream::Stream, n: u64) -> Duration {
    let t0 = Instant::now();
    let c = stream
        .create_consumer(consumer::pull::Config {
            ack_policy: consumer::AckPolicy::All,
            max_ack_pending: (4 * BATCH) as i64,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = c
        .stream()
        .max_messages_per_batch(BATCH)
        .messages()
        .await
        .unwrap();
    let mut got = 0u64;
    while got < n {
        let mut last = messages.next().await.unwrap().unwrap();
        got += 1;
        while got < n {
            match messages.next().now_or_never() {
                Some(Some(Ok(m))) => {
                    last = m;
                    got += 1;
                }
                _ => break,
            }
        }
        last.ack().await.unwrap();
    }
    t0.elapsed()
}

/// Pushes the closed log at `log` into stream `s` with the bridge.
async fn bridge_push(client: &async_nats::Client, log: &Path, s: StreamSpec) -> Duration {
    let cfg = PushConfig {
        log: log.to_path_buf(),
        stream: s,
        max_in_flight: IN_FLIGHT,
        log_id: None,
        stop_when_closed: true,
    };
    let t0 = Instant::now();
    let stats = push(client.clone(), &cfg, std::future::pending())
        .await
        .unwrap();
    let d = t0.elapsed();
    assert_eq!(stats.resyncs, 0);
    d
}

fn pull_config(stream: &str, mirror: &Path, until: Option<u64>) -> PullConfig {
    PullConfig {
        stream: stream.into(),
        subject: None,
        durable: "bench".into(),
        mirror: mirror.to_path_buf(),
        region_size: Some(4 << 20),
        file_size: Some(256 << 20),
        mtu: None,
        retention: None,
        batch: BATCH,
        until_index: until,
    }
}

/// A throughput line: messages a second and payload megabytes a second.
fn rate(n: u64, size: usize, d: Duration) -> (f64, f64) {
    let s = d.as_secs_f64();
    (n as f64 / s, n as f64 * size as f64 / s / 1e6)
}

fn row(what: &str, size: usize, n: u64, ours: Duration, plain: Duration) {
    let (m1, b1) = rate(n, size, ours);
    let (m0, b0) = rate(n, size, plain);
    println!(
        "| {what} | {size} B | {:.0} msg/s, {b1:.1} MB/s | {:.0} msg/s, {b0:.1} MB/s | {:.2} |",
        m1,
        m0,
        m1 / m0
    );
}

/// Push and pull throughput at `size` bytes, best of `ROUNDS` alternating
/// rounds.
async fn throughput(client: &async_nats::Client, dir: &TempDir, size: usize, n: u64) {
    let js = jetstream::new(client.clone());
    let mut best = [Duration::MAX; 5];
    for round in 0..ROUNDS {
        let log = dir.path(&format!("src-{size}-{round}"));
        let payloads = make_log(&log, n, size);
        let (plain_name, ours_name) = (format!("P{size}x{round}"), format!("B{size}x{round}"));
        let headed_name = format!("H{size}x{round}");
        let plain = make_stream(&js, &plain_name, 1).await;
        make_stream(&js, &headed_name, 1).await;
        let _ = js.delete_stream(&ours_name).await;
        let d_plain = plain_publish(&js, &format!("bench.{plain_name}"), &payloads, None).await;
        let d_headed = plain_publish(
            &js,
            &format!("bench.{headed_name}"),
            &payloads,
            Some(0x5eed),
        )
        .await;
        let d_ours = bridge_push(client, &log, spec(&ours_name, 1)).await;
        let d_plain_pull = plain_pull(&plain, n).await;
        let mirror = dir.path(&format!("mirror-{size}-{round}"));
        let t0 = Instant::now();
        let stats = pull(
            client.clone(),
            &pull_config(&ours_name, &mirror, Some(n - 1)),
            std::future::pending(),
        )
        .await
        .unwrap();
        let d_pull = t0.elapsed();
        assert_eq!(stats.appended, n);
        for (b, d) in best
            .iter_mut()
            .zip([d_ours, d_plain, d_pull, d_plain_pull, d_headed])
        {
            *b = (*b).min(d);
        }
        let _ = js.delete_stream(&plain_name).await;
        let _ = js.delete_stream(&headed_name).await;
        let _ = js.delete_stream(&ours_name).await;
        for p in [&log, &mirror] {
            remove_log(p);
        }
    }
    row("push", size, n, best[0], best[1]);
    row(
        "push against plain with the same headers",
        size,
        n,
        best[0],
        best[4],
    );
    row("pull", size, n, best[2], best[3]);
}

fn remove_log(p: &Path) {
    for f in ringcore::log::list_files(p).unwrap_or_default() {
        let _ = std::fs::remove_file(ringcore::log::file_path(p, f));
    }
}

/// Appends `rate` records a second of `size` bytes for `secs` seconds to
/// the log at `path` (each stamped with the time of its append).
fn paced_writer(path: PathBuf, size: usize, rate: u64, secs: u64) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut w = WriterBuilder::new(&path)
            .region_size(4 << 20)
            .file_roll_size(256 << 20)
            .build()
            .unwrap();
        let n = rate * secs;
        let payload = vec![0x5a; size];
        let t0 = Instant::now();
        for i in 0..n {
            let due = Duration::from_secs_f64(i as f64 / rate as f64);
            if let Some(ahead) = due.checked_sub(t0.elapsed()) {
                std::thread::sleep(ahead);
            }
            w.append(1, &payload).unwrap();
        }
        w.close().unwrap();
        n
    })
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap()
}

fn quantiles(h: &Histogram<u64>) -> String {
    format!(
        "p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    )
}

/// Append-to-mirror latency at a steady rate, against plain
/// publish-to-consumer latency of records made at the same rate; the
/// first `WARM_UP` seconds of each are left out (start-up: the consumer,
/// the mirror's first file).
async fn latency(client: &async_nats::Client, dir: &TempDir, size: usize, rate: u64, secs: u64) {
    let js = jetstream::new(client.clone());
    let name = format!("LAT{size}");
    let (src, mirror) = (
        dir.path(&format!("lat-src-{size}")),
        dir.path(&format!("lat-mirror-{size}")),
    );
    // The stream exists before the first record: no start-up in the figures.
    make_stream(&js, &name, 1).await;
    let writer = paced_writer(src.clone(), size, rate, secs);
    let push_cfg = PushConfig {
        log: src.clone(),
        stream: spec(&name, 1),
        max_in_flight: IN_FLIGHT,
        log_id: None,
        stop_when_closed: true,
    };
    let pusher = tokio::spawn({
        let c = client.clone();
        async move { push(c, &push_cfg, std::future::pending()).await }
    });
    let n = rate * secs;
    let puller = tokio::spawn({
        let c = client.clone();
        let cfg = pull_config(&name, &mirror, Some(n - 1));
        async move { pull(c, &cfg, std::future::pending()).await }
    });
    let reader = std::thread::spawn(move || {
        let mut h = histogram();
        let mut r = Reader::open_wait(&mirror, From::Start, Duration::from_secs(30)).unwrap();
        let mut got = 0;
        while got < n {
            match r.read(Some(Duration::from_secs(10))) {
                Ok(m) => {
                    let us = now_ns().saturating_sub(m.timestamp) / 1000;
                    if m.index >= WARM_UP * rate {
                        h.record(us.max(1)).unwrap();
                    }
                    got += 1;
                }
                Err(ringcore::Error::Disconnected | ringcore::Error::Closed) => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("mirror reader: {e}"),
            }
        }
        h
    });
    writer.join().unwrap();
    pusher.await.unwrap().unwrap();
    puller.await.unwrap().unwrap();
    let ours = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();

    // Plain: records made at the same rate, stamped, published, consumed.
    let plain_name = format!("PLAT{size}");
    let stream = make_stream(&js, &plain_name, 1).await;
    let c = stream
        .create_consumer(consumer::pull::Config {
            ack_policy: consumer::AckPolicy::All,
            max_ack_pending: (4 * BATCH) as i64,
            ..Default::default()
        })
        .await
        .unwrap();
    let consumer_task = tokio::spawn(async move {
        let mut h = histogram();
        let mut messages = c
            .stream()
            .max_messages_per_batch(BATCH)
            .messages()
            .await
            .unwrap();
        let mut got = 0;
        while got < n {
            let m = messages.next().await.unwrap().unwrap();
            let sent = u64::from_le_bytes(m.payload[..8].try_into().unwrap());
            if got >= WARM_UP * rate {
                h.record((now_ns().saturating_sub(sent) / 1000).max(1))
                    .unwrap();
            }
            got += 1;
            if got.is_multiple_of(256) || got == n {
                m.ack().await.unwrap();
            }
        }
        h
    });
    let subject = async_nats::Subject::from(format!("bench.{plain_name}"));
    let t0 = Instant::now();
    let mut q: VecDeque<PublishAckFuture> = VecDeque::new();
    for i in 0..n {
        let due = Duration::from_secs_f64(i as f64 / rate as f64);
        if let Some(ahead) = due.checked_sub(t0.elapsed()) {
            tokio::time::sleep(ahead).await;
        }
        let mut p = vec![0x5a; size.max(8)];
        p[..8].copy_from_slice(&now_ns().to_le_bytes());
        if q.len() >= IN_FLIGHT {
            q.pop_front().unwrap().await.unwrap();
        }
        q.push_back(js.publish(subject.clone(), p.into()).await.unwrap());
    }
    while let Some(f) = q.pop_front() {
        f.await.unwrap();
    }
    let plain = consumer_task.await.unwrap();
    let _ = js.delete_stream(&plain_name).await;
    let _ = js.delete_stream(&name).await;
    println!(
        "| {size} B at {rate} msg/s | {} | {} | {:.2} / {:.2} |",
        quantiles(&ours),
        quantiles(&plain),
        ours.value_at_quantile(0.5) as f64 / plain.value_at_quantile(0.5) as f64,
        ours.value_at_quantile(0.99) as f64 / plain.value_at_quantile(0.99) as f64,
    );
}

/// Two logs through two streams at once, against one.
async fn two_streams(client: &async_nats::Client, dir: &TempDir, size: usize, n: u64) {
    let js = jetstream::new(client.clone());
    let mut one = Duration::MAX;
    let mut two = Duration::MAX;
    for round in 0..ROUNDS {
        let logs: Vec<PathBuf> = (0..2)
            .map(|k| dir.path(&format!("two-{round}-{k}")))
            .collect();
        for l in &logs {
            make_log(l, n, size);
        }
        let names: Vec<String> = (0..3).map(|k| format!("S{round}x{k}")).collect();
        for name in &names {
            let _ = js.delete_stream(name).await;
        }
        one = one.min(bridge_push(client, &logs[0], spec(&names[0], 1)).await);
        let t0 = Instant::now();
        let a = bridge_push(client, &logs[0], spec(&names[1], 1));
        let b = bridge_push(client, &logs[1], spec(&names[2], 1));
        tokio::join!(a, b);
        two = two.min(t0.elapsed());
        for name in &names {
            let _ = js.delete_stream(name).await;
        }
        for l in &logs {
            remove_log(l);
        }
    }
    let (m1, b1) = rate(n, size, one);
    let (m2, b2) = rate(2 * n, size, two);
    println!(
        "| push, 1 stream / 2 streams at once | {size} B | {m1:.0} msg/s, {b1:.1} MB/s | {m2:.0} msg/s, {b2:.1} MB/s in all | {:.2} |",
        m2 / m1
    );
}

/// A three-node cluster, the stream held three times: push against plain.
async fn cluster(dir: &TempDir, size: usize, n: u64) {
    let nodes = Server::cluster(dir, 3);
    let urls: Vec<String> = nodes.iter().map(Server::url).collect();
    let client = async_nats::connect(urls.as_slice()).await.unwrap();
    let js = jetstream::new(client.clone());
    // Wait for the cluster to elect its meta leader.
    let t0 = Instant::now();
    while js.query_account().await.is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no JetStream cluster"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut best = [Duration::MAX; 2];
    for round in 0..ROUNDS {
        let log = dir.path(&format!("r3-{round}"));
        let payloads = make_log(&log, n, size);
        let (plain_name, ours_name) = (format!("PR3x{round}"), format!("BR3x{round}"));
        make_stream(&js, &plain_name, 3).await;
        let d_plain = plain_publish(&js, &format!("bench.{plain_name}"), &payloads, None).await;
        let d_ours = bridge_push(&client, &log, spec(&ours_name, 3)).await;
        best[0] = best[0].min(d_ours);
        best[1] = best[1].min(d_plain);
        let _ = js.delete_stream(&plain_name).await;
        let _ = js.delete_stream(&ours_name).await;
        remove_log(&log);
    }
    row("push, 3-node cluster, R3", size, n, best[0], best[1]);
    drop(nodes);
}

fn main() {
    // `cargo bench` passes --bench; nothing else is taken.
    let quick = std::env::args().any(|a| a == "--quick");
    let dir = TempDir::new("bench");
    let server = Server::standalone(&dir, "nats", &[]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let version = std::process::Command::new(support::nats_server())
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let scale = if quick { 10 } else { 1 };
    rt.block_on(async {
        let client = async_nats::connect(server.url()).await.unwrap();
        println!("{version}, loopback, {} CPUs; best of {ROUNDS} alternating rounds", num_cpus());
        println!();
        println!("| path | payload | ringmpsc-bridge | plain async-nats | ratio |");
        println!("| --- | --- | --- | --- | --- |");
        throughput(&client, &dir, 64, 200_000 / scale).await;
        throughput(&client, &dir, 1024, 100_000 / scale).await;
        two_streams(&client, &dir, 64, 200_000 / scale).await;
        cluster(&dir, 64, 100_000 / scale).await;
        println!();
        println!("| latency, first second left out | ringmpsc-bridge (source append -> mirror reader) | plain (publish -> consumer) | ratio p50 / p99 |");
        println!("| --- | --- | --- | --- |");
        latency(&client, &dir, 64, 10_000, 4).await;
        latency(&client, &dir, 1024, 10_000, 4).await;
    });
    drop(server);
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
