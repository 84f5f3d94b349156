//! One end of a cross-process, cross-language message stream.
//!
//! `shm_peer recv NAME COUNT` creates the ring, receives and checks COUNT
//! messages; `shm_peer send NAME COUNT` attaches and sends them. Same
//! format as examples-c/shm_peer.c and python/examples/shm_peer.py.

use ringcore::msg::MessageRing;
use ringcore::{Error, WaitStrategy};
use std::time::{Duration, Instant};

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

fn message(seq: u64, out: &mut Vec<u8>) {
    let len = ((seq.wrapping_mul(2_654_435_761) >> 7) % 1001) as usize;
    let off = (seq % 251) as usize;
    out.clear();
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend((off..off + len).map(|i| (i & 0xff) as u8));
}

fn send(name: &str, count: u64) -> ringcore::Result<()> {
    let ring = MessageRing::attach(name, Duration::from_secs(10))?;
    let mut tx = ring.sender()?;
    let mut m = Vec::with_capacity(1008);
    for seq in 0..count {
        message(seq, &mut m);
        tx.send_blocking(crc32(&m) & 0x7fff_ffff, &m, WaitStrategy::Blocking)?;
    }
    Ok(()) // dropping the sender closes the ring
}

fn recv(name: &str, count: u64) -> ringcore::Result<()> {
    let ring = MessageRing::create(Some(name), 20)?;
    let mut rx = ring.receiver()?;
    let (mut seq, mut bytes) = (0u64, 0usize);
    let mut expect = Vec::with_capacity(1008);
    let mut started = None;
    let result = loop {
        match rx.wait(WaitStrategy::TimedBlocking {
            timeout: Duration::from_secs(30),
        }) {
            Ok(()) => {}
            Err(Error::Closed) => break Ok(()),
            Err(e) => break Err(e),
        }
        started.get_or_insert_with(Instant::now);
        let mut bad = None;
        rx.recv_batch(usize::MAX, |t, p| {
            message(seq, &mut expect);
            if p != &expect[..] || t != crc32(p) & 0x7fff_ffff {
                bad.get_or_insert(seq);
            }
            bytes += p.len();
            seq += 1;
        })?;
        if let Some(s) = bad {
            break Err(Error::Corrupt(format!("message {s} is wrong")));
        }
    };
    ring.unlink()?;
    result?;
    let secs = started.map_or(0.0, |t| t.elapsed().as_secs_f64());
    if seq != count {
        return Err(Error::Corrupt(format!(
            "received {seq} of {count} messages"
        )));
    }
    println!(
        "Rust receiver: {seq} messages, {:.1} MB, all in order and intact, {:.2} M msg/s, {:.0} MB/s",
        bytes as f64 / 1e6,
        seq as f64 / secs / 1e6,
        bytes as f64 / secs / 1e6
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mode, name, count) = match &args[..] {
        [_, m, n, c] if m == "send" || m == "recv" => (m, n, c.parse::<u64>().expect("COUNT")),
        _ => {
            eprintln!("usage: shm_peer send|recv NAME COUNT");
            std::process::exit(2);
        }
    };
    let r = if mode == "send" {
        send(name, count)
    } else {
        recv(name, count)
    };
    if let Err(e) = r {
        eprintln!("shm_peer: {e}");
        std::process::exit(1);
    }
}
