//! One end of a persistent log shared across processes and languages.
//!
//! `log_peer write PATH COUNT` appends records 0..COUNT and closes the log;
//! `log_peer read PATH COUNT` replays it from the start (tailing it while a
//! writer appends) and checks every record; `log_peer live PATH COUNT`
//! joins at the end and checks what follows up to record COUNT-1. Same
//! record format and geometry as examples-c/log_peer.c and
//! python/examples/log_peer.py.

use ringcore::log::{From, Reader, WriterBuilder, WriterStatus};
use ringcore::Error;
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

fn write(path: &str, count: u64) -> ringcore::Result<()> {
    let mut w = WriterBuilder::new(path)
        .region_size(64 << 10)
        .file_roll_size(1 << 20)
        .build()?;
    let mut m = Vec::with_capacity(1008);
    for seq in 0..count {
        message(seq, &mut m);
        w.append_at(crc32(&m) & 0x7fff_ffff, &m, seq)?;
    }
    w.close()
}

fn read(path: &str, count: u64, live: bool) -> ringcore::Result<()> {
    let started = Instant::now();
    let from = if live { From::Live } else { From::Start };
    let mut r = loop {
        match Reader::open(path, from) {
            Err(Error::Io(_)) if started.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(5))
            }
            other => break other?,
        }
    };
    if live {
        println!("joined at {}", r.next_index());
    }
    let (mut first, mut seq, mut bytes) = (None, 0u64, 0usize);
    let mut expect = Vec::with_capacity(1008);
    loop {
        let m = match r.read(Some(Duration::from_secs(30))) {
            Ok(m) => m,
            Err(Error::Closed) => break,
            Err(e) => return Err(e),
        };
        let f = *first.get_or_insert(m.index);
        if seq == 0 {
            seq = f;
        }
        message(seq, &mut expect);
        if m.index != seq
            || m.timestamp != seq
            || m.payload != &expect[..]
            || m.msg_type != crc32(m.payload) & 0x7fff_ffff
        {
            return Err(Error::Corrupt(format!("record {seq} is wrong")));
        }
        bytes += m.payload.len();
        seq += 1;
    }
    let first = first.unwrap_or(0);
    if seq != count || (!live && first != 0) || r.writer_status() != WriterStatus::Closed {
        return Err(Error::Corrupt(format!(
            "read records {first}..{seq} of {count}"
        )));
    }
    println!(
        "Rust reader: records {first}..{seq}, {:.1} MB, all in order and intact",
        bytes as f64 / 1e6
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: log_peer write|read|live PATH COUNT");
        std::process::exit(2);
    }
    let count: u64 = args[3].parse().expect("COUNT");
    let result = match args[1].as_str() {
        "write" => write(&args[2], count),
        "read" => read(&args[2], count, false),
        "live" => read(&args[2], count, true),
        _ => {
            eprintln!("usage: log_peer write|read|live PATH COUNT");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("log_peer: {e}");
        std::process::exit(1);
    }
}
