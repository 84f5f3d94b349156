//! One process of a server/client transport channel, in Rust.
//!
//! `transport_peer server NAME CLIENTS COUNT` serves until CLIENTS clients
//! each delivered COUNT requests (checked) and echoes each to its sender;
//! `transport_peer client NAME COUNT` sends COUNT requests at pseudo-random
//! priorities; `transport_peer echo NAME COUNT` makes COUNT round trips.
//! Same request format as examples-c/transport_peer.c and
//! python/examples/transport_peer.py.

use ringcore::msg::transport::{Client, ClientId, ClientOptions, Server, ServerOptions};
use ringcore::msg::Priority;
use ringcore::Error;
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn fnv1a(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

fn message(seq: u64, p: Priority) -> Vec<u8> {
    let len = ((seq.wrapping_mul(2_654_435_761) >> 9) % 301) as usize;
    let mut m = seq.to_le_bytes().to_vec();
    m.push(p as u8);
    m.extend((0..len).map(|i| (i as u64 ^ seq) as u8));
    let h = fnv1a(&m);
    m.extend_from_slice(&h.to_le_bytes());
    m
}

fn server(name: &str, clients: usize, count: u64) -> ringcore::Result<()> {
    let mut s = Server::create(
        name,
        ServerOptions {
            max_clients: clients,
            ..ServerOptions::default()
        },
    )?;
    println!("ready");
    let mut next: HashMap<(ClientId, Priority), u64> = HashMap::new();
    let mut totals: HashMap<ClientId, u64> = HashMap::new();
    let mut bad = None;
    while totals.len() < clients || totals.values().any(|&t| t < count) {
        let mut echoes = Vec::new();
        let n = s.serve(1024, |r| {
            let e = next.entry((r.client, r.priority)).or_insert(0);
            if r.payload() != message(*e, r.priority) && bad.is_none() {
                bad = Some(format!(
                    "request {} ({:?}) of {} is wrong",
                    e, r.priority, r.client
                ));
            }
            *e += 1;
            *totals.entry(r.client).or_insert(0) += 1;
            echoes.push((r.client, r.priority, r.payload().to_vec()));
        })?;
        if let Some(b) = bad {
            return Err(Error::Corrupt(b));
        }
        for (c, p, m) in echoes {
            // A client that does not read its echoes fills its ring: skip those.
            let _ = s.send(c, p, &m);
        }
        if n == 0 {
            s.wait(Some(Duration::from_secs(30)))?;
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    println!("Rust server: {clients} clients x {count} requests, all in order and intact");
    Ok(())
}

fn connect(name: &str) -> ringcore::Result<Client> {
    let start = Instant::now();
    loop {
        match Client::connect(name, ClientOptions::default()) {
            Err(Error::Disconnected) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(5))
            }
            other => return other,
        }
    }
}

fn client(name: &str, count: u64) -> ringcore::Result<()> {
    let mut c = connect(name)?;
    let mut seed = std::process::id() as u64 | 1;
    let mut next = [0u64; 3];
    for _ in 0..count {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let p = Priority::ALL[(seed % 3) as usize];
        c.send(p, &message(next[p.index()], p))?;
        next[p.index()] += 1;
    }
    println!("Rust client: {count} requests sent");
    Ok(())
}

fn echo(name: &str, count: u64) -> ringcore::Result<()> {
    let mut c = connect(name)?;
    for seq in 0..count {
        let m = message(seq, Priority::High);
        c.send(Priority::High, &m)?;
        let r = c.recv(Some(Duration::from_secs(10)))?;
        if r.priority != Priority::High || r.payload() != &m[..] {
            return Err(Error::Corrupt(format!("echo {seq} is wrong")));
        }
    }
    println!("Rust client: {count} round trips, all echoed intact");
    Ok(())
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let r = match (a.first().map(String::as_str), a.len()) {
        (Some("server"), 4) => server(&a[1], a[2].parse().unwrap(), a[3].parse().unwrap()),
        (Some("client"), 3) => client(&a[1], a[2].parse().unwrap()),
        (Some("echo"), 3) => echo(&a[1], a[2].parse().unwrap()),
        _ => {
            eprintln!("usage: transport_peer server NAME CLIENTS COUNT | client NAME COUNT | echo NAME COUNT");
            std::process::exit(2);
        }
    };
    if let Err(e) = r {
        eprintln!("transport_peer: {e}");
        std::process::exit(1);
    }
}
