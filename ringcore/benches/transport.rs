//! Transport benchmark: the server/client channel against Unix domain
//! sockets, in the same run, every party a separate process (fork).
//!
//! - request/response round trip of 64 B (p50, p99, recorded in an HDR
//!   histogram) with 1, 2 and 4
//!   clients, each client making round trips one after another; the server
//!   echoes every request to its sender;
//! - aggregate throughput of 64 B requests from 1, 2 and 4 clients to one
//!   server that reads every byte: one `send` (one `write`) per request,
//!   then 64 per `send_many` (per `write`).
//!
//! Both sides wait the way each transport waits best: ringmpsc spins and
//! yields briefly, then sleeps on its futex doorbell; the sockets block in
//! the kernel. Every row also runs a paced ringmpsc server: after a pass
//! that found nothing it waits by `WaitStrategy::Paced` (about a
//! microsecond) before it looks again, sleeping in `Server::wait` once
//! that gives up. The server reads the sockets with one `poll` over all of
//! them and one `read` per ready socket (many requests per read).
//!
//! `cargo bench -p ringcore --bench transport -- [round_trips] [messages]`

#[allow(dead_code)]
#[path = "support/common.rs"]
mod common;

use common::{
    emit, fork, in_rounds, over_rounds, row_percentiles, touch, Child, Latencies, Percentiles,
};
use ringcore::msg::transport::{Client, ClientOptions, Server, ServerOptions};
use ringcore::msg::Priority;
use ringcore::{WaitStrategy, Waiter};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

const MSG: usize = 64;
const CLIENTS: [usize; 3] = [1, 2, 4];
/// Rounds per measurement; each figure is the median (this machine is noisy).
const ROUNDS: usize = 3;
/// Requests per call in the batched throughput runs.
const BATCH: usize = 64;

fn connect(name: &str) -> Client {
    let start = Instant::now();
    loop {
        match Client::connect(name, ClientOptions::default()) {
            Ok(c) => return c,
            Err(_) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// How long a paced server spins before it looks again.
const PACE: Duration = Duration::from_micros(1);

/// The ringmpsc server: echoes (`echo`) or counts every request until
/// `total` arrived; returns the seconds from the first to the last. After
/// a pass that found nothing it waits in `Server::wait`, or, `paced`, by
/// `WaitStrategy::Paced` first.
fn ring_server(name: &str, clients: usize, total: u64, echo: bool, paced: bool) -> Vec<u64> {
    let mut s = Server::create(
        name,
        ServerOptions {
            max_clients: clients,
            ..ServerOptions::default()
        },
    )
    .unwrap();
    let (mut got, mut sum, mut first) = (0u64, 0u64, None);
    let mut echoes = Vec::new();
    let mut waiter = Waiter::new(WaitStrategy::Paced { pause: PACE });
    while got < total {
        let n = s
            .serve(4096, |r| {
                sum += touch(r.payload());
                if echo {
                    echoes.push((r.client, r.payload().to_vec()));
                }
            })
            .unwrap();
        if n > 0 && first.is_none() {
            first = Some(Instant::now());
        }
        got += n as u64;
        for (c, m) in echoes.drain(..) {
            s.send(c, Priority::High, &m).unwrap();
        }
        let mut sleep = || {
            let _ = s.wait(Some(Duration::from_millis(100)));
        };
        match (n, paced) {
            (0, true) => waiter.wait_with(|_| sleep()).expect("no deadline"),
            (0, false) => sleep(),
            _ => waiter.reset(),
        }
    }
    std::hint::black_box(sum);
    let secs = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    // Let the clients read the last echoes before the channel goes.
    std::thread::sleep(Duration::from_millis(50));
    vec![(secs * 1e9) as u64]
}

fn ring_rtt(clients: usize, n: usize, paced: bool) -> Percentiles {
    let name = format!("rmpsc-bench-rtt-{}-{clients}", std::process::id());
    let warm = n / 10;
    let server = fork(|| ring_server(&name, clients, (clients * (n + warm)) as u64, true, paced));
    let kids: Vec<Child> = (0..clients)
        .map(|_| {
            fork(|| {
                let mut c = connect(&name);
                let msg = [7u8; MSG];
                let mut ns = Latencies::default();
                for i in 0..n + warm {
                    let t = Instant::now();
                    c.send(Priority::High, &msg).unwrap();
                    let r = c.recv(None).unwrap();
                    assert_eq!(r.payload().len(), MSG);
                    if i >= warm {
                        ns.record(t.elapsed().as_nanos() as u64);
                    }
                }
                ns.quantiles().to_vec()
            })
        })
        .collect();
    let results: Vec<Vec<u64>> = kids.into_iter().map(Child::collect).collect();
    server.collect();
    merge(results)
}

/// The clients' distributions as one: the mean p50 and, above it, the
/// worst of each quantile.
fn merge(results: Vec<Vec<u64>>) -> Percentiles {
    let each: Vec<Percentiles> = results.iter().map(|r| Percentiles::from_slice(r)).collect();
    let mut m = Percentiles(std::array::from_fn(|i| {
        each.iter().map(|p| p.0[i]).max().unwrap()
    }));
    m.0[0] = each.iter().map(|p| p.0[0]).sum::<u64>() / each.len() as u64;
    m
}

/// The socket server: one connection per client, echoes or counts.
fn uds_server(path: &std::path::Path, clients: usize, total: u64, echo: bool) -> Vec<u64> {
    let listener = UnixListener::bind(path).unwrap();
    let mut socks: Vec<UnixStream> = (0..clients).map(|_| listener.accept().unwrap().0).collect();
    let mut buf = vec![0u8; 64 << 10];
    let (mut got, mut sum, mut first) = (0u64, 0u64, None);
    let mut partial = vec![0usize; clients];
    while got < total {
        let mut fds: Vec<libc::pollfd> = socks
            .iter()
            .map(|s| libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: a valid pollfd array for the call.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 1000) };
        for (i, fd) in fds.iter().enumerate() {
            if fd.revents == 0 {
                continue;
            }
            let k = socks[i].read(&mut buf).unwrap();
            if first.is_none() {
                first = Some(Instant::now());
            }
            sum += touch(&buf[..k]);
            let whole = (partial[i] + k) / MSG;
            partial[i] = (partial[i] + k) % MSG;
            got += whole as u64;
            if echo {
                socks[i].write_all(&buf[..k]).unwrap();
            }
        }
    }
    std::hint::black_box(sum);
    let secs = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    vec![(secs * 1e9) as u64]
}

fn uds_connect(path: &std::path::Path) -> UnixStream {
    let start = Instant::now();
    loop {
        match UnixStream::connect(path) {
            Ok(s) => return s,
            Err(_) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("{e}"),
        }
    }
}

fn uds_rtt(clients: usize, n: usize) -> Percentiles {
    let path =
        std::env::temp_dir().join(format!("rmpsc-bench-uds-{}-{clients}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let warm = n / 10;
    let server = fork(|| uds_server(&path, clients, (clients * (n + warm)) as u64, true));
    let kids: Vec<Child> = (0..clients)
        .map(|_| {
            fork(|| {
                let mut s = uds_connect(&path);
                let msg = [7u8; MSG];
                let mut back = [0u8; MSG];
                let mut ns = Latencies::default();
                for i in 0..n + warm {
                    let t = Instant::now();
                    s.write_all(&msg).unwrap();
                    s.read_exact(&mut back).unwrap();
                    if i >= warm {
                        ns.record(t.elapsed().as_nanos() as u64);
                    }
                }
                ns.quantiles().to_vec()
            })
        })
        .collect();
    let results: Vec<Vec<u64>> = kids.into_iter().map(Child::collect).collect();
    server.collect();
    let _ = std::fs::remove_file(&path);
    merge(results)
}

/// Aggregate requests per second from `clients` clients sending `n` each,
/// `batch` at a time (`send_many`; 1: one `send` per request), to a
/// server `paced` or not.
fn ring_throughput(clients: usize, n: u64, batch: usize, paced: bool) -> f64 {
    let name = format!("rmpsc-bench-tput-{}-{clients}", std::process::id());
    let server = fork(|| ring_server(&name, clients, clients as u64 * n, false, paced));
    let kids: Vec<Child> = (0..clients)
        .map(|_| {
            fork(|| {
                let mut c = connect(&name);
                let msg = [7u8; MSG];
                let many = vec![&msg[..]; batch];
                let mut sent = 0;
                while sent < n {
                    if batch == 1 {
                        c.send(Priority::High, &msg).unwrap();
                        sent += 1;
                    } else {
                        let k = (n - sent).min(batch as u64) as usize;
                        sent += c.send_many(Priority::High, &many[..k]).unwrap() as u64;
                    }
                }
                vec![]
            })
        })
        .collect();
    for k in kids {
        k.collect();
    }
    let ns = server.collect()[0];
    (clients as u64 * n) as f64 / (ns as f64 / 1e9)
}

/// The same over Unix sockets, `batch` requests per `write`.
fn uds_throughput(clients: usize, n: u64, batch: usize) -> f64 {
    let path =
        std::env::temp_dir().join(format!("rmpsc-bench-udst-{}-{clients}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let server = fork(|| uds_server(&path, clients, clients as u64 * n, false));
    let kids: Vec<Child> = (0..clients)
        .map(|_| {
            fork(|| {
                let mut s = uds_connect(&path);
                let many = vec![7u8; MSG * batch];
                let mut sent = 0;
                while sent < n {
                    let k = (n - sent).min(batch as u64);
                    s.write_all(&many[..k as usize * MSG]).unwrap();
                    sent += k;
                }
                vec![]
            })
        })
        .collect();
    for k in kids {
        k.collect();
    }
    let ns = server.collect()[0];
    let _ = std::fs::remove_file(&path);
    (clients as u64 * n) as f64 / (ns as f64 / 1e9)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let rtts: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let msgs: u64 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    println!("transport benchmark: {MSG} B messages, {rtts} round trips per client, {msgs} messages per client");
    println!(
        "\nround trip, p50 / p99 (mean p50 and worst p99 over the clients; every server and the \
         sockets once in each of {ROUNDS} rounds, in turn: medians over the rounds, ratios the \
         medians of those within a round):"
    );
    for clients in CLIENTS {
        let runs = in_rounds::<Percentiles>(
            &[
                &|| ring_rtt(clients, rtts, false),
                &|| ring_rtt(clients, rtts, true),
                &|| uds_rtt(clients, rtts),
            ],
            ROUNDS,
        );
        let lower = |i: usize, q| over_rounds(&runs, |x| x[2].at(q) as f64 / x[i].at(q) as f64);
        let row = |i| row_percentiles(&runs, i);
        let (r, p, u) = (row(0), row(1), row(2));
        let us = |p: &Percentiles, q| p.at(q) as f64 / 1e3;
        println!(
            "  {clients} client(s): ringmpsc {:.2} / {:.2} us, paced server {:.2} / {:.2} us, \
             Unix socket {:.2} / {:.2} us  ({:.1}x / {:.1}x lower; paced {:.1}x / {:.1}x)",
            us(&r, 0.5),
            us(&r, 0.99),
            us(&p, 0.5),
            us(&p, 0.99),
            us(&u, 0.5),
            us(&u, 0.99),
            lower(0, 0.5),
            lower(0, 0.99),
            lower(1, 0.5),
            lower(1, 0.99)
        );
        r.emit("transport-rtt", &format!("ringmpsc, {clients} client(s)"));
        p.emit(
            "transport-rtt",
            &format!("ringmpsc paced server, {clients} client(s)"),
        );
        u.emit(
            "transport-rtt",
            &format!("Unix socket, {clients} client(s)"),
        );
    }
    for batch in [1, BATCH] {
        println!(
            "\naggregate throughput of {MSG} B requests, {} (each once in each of {ROUNDS} rounds, \
             in turn: medians over the rounds, ratios the medians of those within a round):",
            if batch == 1 {
                "one send / write per request".to_string()
            } else {
                format!("{batch} per send_many / write")
            }
        );
        for clients in CLIENTS {
            let runs = in_rounds::<f64>(
                &[
                    &|| ring_throughput(clients, msgs, batch, false),
                    &|| ring_throughput(clients, msgs, batch, true),
                    &|| uds_throughput(clients, msgs / 10, batch),
                ],
                ROUNDS,
            );
            let rate = |i| over_rounds(&runs, |x| x[i]);
            let to_uds = |i| over_rounds(&runs, |x| x[i] / x[2]);
            let plot = format!("transport-throughput-batch{batch}");
            emit(&plot, "ringmpsc", clients as f64, rate(0));
            emit(&plot, "ringmpsc paced server", clients as f64, rate(1));
            emit(&plot, "Unix socket", clients as f64, rate(2));
            println!(
                "  {clients} client(s): ringmpsc {:.2} M msg/s, paced server {:.2} M msg/s, \
                 Unix socket {:.2} M msg/s  ({:.1}x, paced {:.1}x)",
                rate(0) / 1e6,
                rate(1) / 1e6,
                rate(2) / 1e6,
                to_uds(0),
                to_uds(1)
            );
        }
    }
}
