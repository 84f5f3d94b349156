//! Cross-process benchmark: two real processes (fork), the consumer reading
//! every byte (but in the floor table). Ping-pong round trip (p50, p99, p99.9) and one-way throughput
//! for 64 B, 256 B, 1 KiB and 4 KiB messages, for ringmpsc's message ring
//! against Unix domain sockets and pipes measured in the same run, and a bare
//! atomic ping-pong between the same two processes (the floor), beside
//! empty messages and a slot ring's 64-byte slots (what the data costs), and
//! a message ring whose sides wait in `recv_blocking` without spinning or
//! yielding first, as the sockets' and pipes' readers go to sleep; with
//! `--features bench-iceoryx2`, iceoryx2 in the same run too. And a 64 B
//! one-way floor: a minimal hand-written shared ring (fixed 64-byte slots,
//! the producer publishing its index once per 64 messages, the consumer
//! only copying each slot and checking its sequence number), with the
//! message ring and the slot ring (`SharedRing`) on the same work (copy each
//! 64-byte message, check its sequence number) given as fractions of it.
//!
//! `cargo bench -p ringcore --bench ipc [--features bench-iceoryx2] -- [messages] [round_trips]`

#[allow(dead_code)]
#[path = "support/common.rs"]
mod common;
#[cfg(feature = "bench-iceoryx2")]
#[path = "support/iceoryx2.rs"]
mod iceoryx2_peer;

use common::{
    emit, in_rounds, latency_rounds, over_rounds, pin, touch, Child, Latencies, Percentiles,
};
use ringcore::msg::{MessageReceiver, MessageRing};
use ringcore::shm::SharedRing;
use ringcore::WaitStrategy;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const SIZES: [usize; 4] = [64, 256, 1024, 4096];
/// Rounds of the shared-memory round trips.
const RTT_ROUNDS: usize = 5;
/// Rounds of the floor rows (one-way 64 B against the minimal rings).
const FLOOR_ROUNDS: usize = 5;
/// Rounds of the one-way throughput rows against sockets and pipes.
const THROUGHPUT_ROUNDS: usize = 3;

/// Runs `child` in a forked process pinned to CPU 1 (the parent runs on
/// CPU 0); `collect` on the result waits for it.
fn fork(child: impl FnOnce()) -> Child {
    common::fork(|| {
        pin(1);
        child();
        Vec::new()
    })
}

/// A round-trip latency distribution.
type Rtt = Percentiles;

/// Times `n` round trips of `one()`, after n/10 of warm-up.
fn time_round_trips(n: usize, mut one: impl FnMut()) -> Rtt {
    for _ in 0..n / 10 {
        one();
    }
    let mut ns = Latencies::default();
    for _ in 0..n {
        let t = Instant::now();
        one();
        ns.record(t.elapsed().as_nanos() as u64);
    }
    ns.quantiles()
}

/// How the sides of a message ring ping-pong wait for the next message.
#[derive(Clone, Copy)]
enum Wait {
    /// Polling `try_recv` again at once.
    Spin,
    /// `recv_blocking` with no spins or yields first, as a socket's reader
    /// goes to sleep: a side that finds nothing sleeps in the kernel unless
    /// the message lands within its settling spin (about 2 us between
    /// processes: `ringcore::sync`).
    Sleep,
}

/// Receives one message from `rx`, waiting as `wait` says;
/// hands its type and payload to `f`.
fn ring_recv(rx: &mut MessageReceiver, wait: Wait, f: impl FnOnce(u32, &[u8])) {
    let m = match wait {
        Wait::Spin => loop {
            match rx.try_recv() {
                Ok(m) => break m,
                Err(_) => std::hint::spin_loop(),
            }
        },
        Wait::Sleep => rx
            .recv_blocking(WaitStrategy::PhasedBackoff {
                spin_iterations: 0,
                yield_iterations: 0,
            })
            .unwrap(),
    };
    f(m.msg_type(), m.payload());
}

/// Message ring ping-pong with `size`-byte messages.
fn ring_rtt(n: usize, size: usize, wait: Wait) -> Rtt {
    let there = MessageRing::create(None, 16).unwrap();
    let back = MessageRing::create(None, 16).unwrap();
    let total = n + n / 10;
    let child = fork(|| {
        let mut rx = there.receiver().unwrap();
        let mut tx = back.sender().unwrap();
        for _ in 0..total {
            ring_recv(
                &mut rx,
                wait,
                |t, payload| {
                    while tx.send(t, payload).is_err() {}
                },
            );
        }
    });
    let mut tx = there.sender().unwrap();
    let mut rx = back.receiver().unwrap();
    let msg = vec![7u8; size];
    let r = time_round_trips(n, || {
        while tx.send(1, &msg).is_err() {}
        ring_recv(&mut rx, wait, |_, payload| assert_eq!(payload.len(), size));
    });
    child.collect();
    r
}

/// Slot ring (`SharedRing`) ping-pong with 64-byte slots: the data of a
/// 64 B message without a record header.
fn slot_rtt(n: usize) -> Rtt {
    let there = SharedRing::create_slots(None, 10, 64).unwrap();
    let back = SharedRing::create_slots(None, 10, 64).unwrap();
    let total = n + n / 10;
    let child = fork(|| {
        let mut rx = there.consumer::<Slot>().unwrap();
        let mut tx = back.producer::<Slot>().unwrap();
        for _ in 0..total {
            let m = loop {
                match rx.try_recv() {
                    Ok(m) => break m,
                    Err(_) => std::hint::spin_loop(),
                }
            };
            while tx.send_one(m).is_err() {}
        }
    });
    let mut tx = there.producer::<Slot>().unwrap();
    let mut rx = back.consumer::<Slot>().unwrap();
    let r = time_round_trips(n, || {
        while tx.send_one([7; 8]).is_err() {}
        loop {
            if let Ok(m) = rx.try_recv() {
                assert_eq!(m, [7; 8]);
                break;
            }
            std::hint::spin_loop();
        }
    });
    child.collect();
    r
}

/// The floor: one atomic word per direction in a shared page, spin-polled.
fn atomic_rtt(n: usize) -> Rtt {
    // SAFETY: an anonymous shared mapping inherited by the child.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(page, libc::MAP_FAILED);
    // SAFETY: the page is zeroed, aligned and outlives both users.
    let (ping, pong) = unsafe {
        (
            &*(page as *const AtomicU64),
            &*((page as *const u8).add(128) as *const AtomicU64),
        )
    };
    let total = (n + n / 10) as u64;
    let child = fork(|| {
        for i in 1..=total {
            while ping.load(Ordering::Acquire) != i {
                std::hint::spin_loop();
            }
            pong.store(i, Ordering::Release);
        }
    });
    let mut i = 0u64;
    let r = time_round_trips(n, || {
        i += 1;
        ping.store(i, Ordering::Release);
        while pong.load(Ordering::Acquire) != i {
            std::hint::spin_loop();
        }
    });
    child.collect();
    r
}

fn stream_rtt(n: usize, mut a: impl Read + Write, mut b: impl Read + Write + Send) -> Rtt {
    let total = n + n / 10;
    let child = fork(move || {
        let mut buf = [0u8; 64];
        for _ in 0..total {
            b.read_exact(&mut buf).unwrap();
            b.write_all(&buf).unwrap();
        }
    });
    let msg = [7u8; 64];
    let mut buf = [0u8; 64];
    let r = time_round_trips(n, || {
        a.write_all(&msg).unwrap();
        a.read_exact(&mut buf).unwrap();
    });
    child.collect();
    r
}

fn uds_rtt(n: usize) -> Rtt {
    let (a, b) = UnixStream::pair().unwrap();
    stream_rtt(n, a, b)
}

/// A pair of pipes as one bidirectional stream.
struct PipePair(std::fs::File, std::fs::File);
impl Read for PipePair {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(b)
    }
}
impl Write for PipePair {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.1.write(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn pipes() -> (PipePair, PipePair) {
    use std::os::fd::FromRawFd;
    let mut one = [0; 2];
    let mut two = [0; 2];
    // SAFETY: pipe(2) fills the arrays with fresh descriptors we then own.
    unsafe {
        assert_eq!(libc::pipe(one.as_mut_ptr()), 0);
        assert_eq!(libc::pipe(two.as_mut_ptr()), 0);
        (
            PipePair(
                std::fs::File::from_raw_fd(two[0]),
                std::fs::File::from_raw_fd(one[1]),
            ),
            PipePair(
                std::fs::File::from_raw_fd(one[0]),
                std::fs::File::from_raw_fd(two[1]),
            ),
        )
    }
}

fn pipe_rtt(n: usize) -> Rtt {
    let (a, b) = pipes();
    stream_rtt(n, a, b)
}

/// One-way: the child sends `count` messages of `size` bytes (batched
/// publication), the parent receives and touches every byte. Messages/s.
fn ring_throughput(count: usize, size: usize) -> f64 {
    let ring = MessageRing::create(None, 22).unwrap(); // 4 MiB
    let child = fork(|| {
        let mut tx = ring.sender().unwrap();
        let msg = vec![3u8; size];
        let mut sent = 0;
        while sent < count {
            let want = (count - sent).min(256);
            let n = tx
                .send_many(std::iter::repeat_n((1, &msg[..]), want))
                .unwrap();
            if n == 0 {
                std::hint::spin_loop();
            }
            sent += n;
        }
    });
    let mut rx = ring.receiver().unwrap();
    let (mut got, mut sum) = (0usize, 0u64);
    let t = Instant::now();
    while got < count {
        got += rx
            .recv_batch(usize::MAX, |_, p| sum = sum.wrapping_add(touch(p)))
            .unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(sum, touch(&vec![3u8; size]).wrapping_mul(count as u64));
    child.collect();
    count as f64 / secs
}

/// Slots in the 64 B one-way runs: 4 MiB, as the message ring's.
const FLOOR_BITS: u8 = 16;
/// A 64-byte message whose first word is its sequence number.
type Slot = [u64; 8];

/// The floor for 64 B one way: a minimal SPSC ring in an anonymous shared
/// mapping. Layout: the producer's tail at byte 0, the consumer's head at
/// byte 128 (each on its own pair of lines), then 2^FLOOR_BITS 64-byte
/// slots from byte 256. The producer publishes its tail once per `every`
/// messages (and at the end); the consumer copies each slot, checks its
/// sequence number and publishes its head once per batch it read.
///
/// Measured on a 2-CPU machine: with `every` = 64 the consumer reads right
/// behind the producer (within the page it is writing) and the pair runs at
/// 55-100 M msg/s, near or below ringmpsc's rings; with 256, 230-400 M msg/s.
/// Both are printed and the faster is the floor.
fn floor_throughput(count: usize, every: u64) -> f64 {
    const N: u64 = 1 << FLOOR_BITS;
    let bytes = 256 + (N as usize) * 64;
    // SAFETY: an anonymous shared mapping inherited by the child.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED);
    let base = base as *mut u8;
    // SAFETY: the mapping is zeroed, page-aligned and outlives both users;
    // the indices sit at bytes 0 and 128, the slots from byte 256.
    let (tail, head, slots) = unsafe {
        (
            &*(base as *const AtomicU64),
            &*(base.add(128) as *const AtomicU64),
            base.add(256) as *mut Slot,
        )
    };
    let slots = slots as usize; // a plain address, to move into the child
    let count = count as u64;
    let child = fork(move || {
        let slots = slots as *mut Slot;
        let mut cached_head = 0u64;
        for seq in 0..count {
            while seq - cached_head >= N {
                cached_head = head.load(Ordering::Acquire);
                std::hint::spin_loop();
            }
            let mut m = [3u64; 8];
            m[0] = seq;
            // SAFETY: slot seq % N is free (seq - head < N) and ours until
            // the tail passes it.
            unsafe { slots.add((seq & (N - 1)) as usize).write(m) };
            if seq % every == every - 1 {
                tail.store(seq + 1, Ordering::Release);
            }
        }
        tail.store(count, Ordering::Release);
    });
    let slots = slots as *const Slot;
    let (mut next, mut ok) = (0u64, true);
    let t = Instant::now();
    while next < count {
        let published = tail.load(Ordering::Acquire);
        if published == next {
            std::hint::spin_loop();
            continue;
        }
        while next < published {
            // SAFETY: slots below the published tail are written and stay
            // so until the head passes them.
            let m = unsafe { slots.add((next & (N - 1)) as usize).read() };
            ok &= m[0] == next;
            std::hint::black_box(m);
            next += 1;
        }
        head.store(next, Ordering::Release);
    }
    let secs = t.elapsed().as_secs_f64();
    assert!(ok, "floor ring: a sequence number was wrong");
    child.collect();
    // SAFETY: the child has exited; nothing else uses the mapping.
    unsafe { libc::munmap(base as *mut libc::c_void, bytes) };
    count as f64 / secs
}

/// The message ring on the floor's workload: 64-byte messages whose first
/// word is the sequence number, sent in batches of up to 256 (`send_many`),
/// the receiver copying each and checking its sequence number.
fn message_ring_floor_throughput(count: usize) -> f64 {
    let ring = MessageRing::create(None, 22).unwrap(); // 4 MiB, as the floor's slots
    let count = count as u64;
    let child = fork(|| {
        let mut tx = ring.sender().unwrap();
        let mut batch = [[3u8; 64]; 256];
        let mut next = 0u64;
        while next < count {
            let want = (count - next).min(256) as usize;
            for (i, m) in batch[..want].iter_mut().enumerate() {
                m[..8].copy_from_slice(&(next + i as u64).to_le_bytes());
            }
            let n = tx
                .send_many(batch[..want].iter().map(|m| (1, &m[..])))
                .unwrap();
            if n == 0 {
                std::hint::spin_loop();
            }
            next += n as u64;
        }
    });
    let mut rx = ring.receiver().unwrap();
    let (mut next, mut ok) = (0u64, true);
    let t = Instant::now();
    while next < count {
        rx.recv_batch(usize::MAX, |_, p| {
            let m: [u8; 64] = p.try_into().unwrap();
            ok &= m[..8] == next.to_le_bytes();
            std::hint::black_box(m);
            next += 1;
        })
        .unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    assert!(ok, "message ring: a sequence number was wrong");
    child.collect();
    count as f64 / secs
}

/// The slot ring (`SharedRing`) on the floor's workload: 64-byte slots in
/// batches of up to 256, the consumer copying each and checking its
/// sequence number.
fn slot_ring_throughput(count: usize) -> f64 {
    let ring = SharedRing::create_slots(None, FLOOR_BITS, 64).unwrap();
    let count = count as u64;
    let child = fork(|| {
        let mut tx = ring.producer::<Slot>().unwrap();
        let mut next = 0u64;
        while next < count {
            let Ok(mut r) = tx.reserve((count - next).min(256) as usize) else {
                std::hint::spin_loop();
                continue;
            };
            let slots = r.as_mut_slice();
            for (i, s) in slots.iter_mut().enumerate() {
                *s = [3u64; 8];
                s[0] = next + i as u64;
            }
            let k = slots.len();
            next += k as u64;
            r.commit_n(k);
        }
    });
    let mut rx = ring.consumer::<Slot>().unwrap();
    let (mut next, mut ok) = (0u64, true);
    let t = Instant::now();
    while next < count {
        let got = rx.consume_up_to(usize::MAX, |s| {
            let m = *s;
            ok &= m[0] == next;
            std::hint::black_box(m);
            next += 1;
        });
        if got == 0 {
            std::hint::spin_loop();
        }
    }
    let secs = t.elapsed().as_secs_f64();
    assert!(ok, "slot ring: a sequence number was wrong");
    child.collect();
    count as f64 / secs
}

/// One-way over a byte stream: one write per message, the reader reads
/// what is there and touches every byte.
fn stream_throughput(
    count: usize,
    size: usize,
    mut rx: impl Read,
    mut tx: impl Write + Send,
) -> f64 {
    let child = fork(move || {
        let msg = vec![3u8; size];
        for _ in 0..count {
            tx.write_all(&msg).unwrap();
        }
    });
    let total = count * size;
    let mut buf = vec![0u8; 1 << 16];
    let (mut got, mut sum) = (0usize, 0u64);
    let t = Instant::now();
    while got < total {
        let n = rx.read(&mut buf).unwrap();
        sum = sum.wrapping_add(touch(&buf[..n]));
        got += n;
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(sum, 3 * total as u64);
    child.collect();
    count as f64 / secs
}

fn uds_throughput(count: usize, size: usize) -> f64 {
    let (a, b) = UnixStream::pair().unwrap();
    stream_throughput(count, size, a, b)
}

fn pipe_throughput(count: usize, size: usize) -> f64 {
    let (a, b) = pipes();
    stream_throughput(count, size, a.0, b.1)
}

/// A one-way throughput run: (messages, size) -> messages/s.
type Throughput = fn(usize, usize) -> f64;

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<usize>().ok());
    let messages = args.next().unwrap_or(2_000_000);
    let rtts = args.next().unwrap_or(100_000);
    pin(0);
    println!("Cross-process (fork), 2 CPUs: {rtts} round trips, {messages} messages per throughput run\n");
    println!(
        "Round trips: every row once in each of {RTT_ROUNDS} rounds, in turn; each figure the \
         median over the rounds, p50 / floor the median of its ratios within a round.\n"
    );
    println!("| 64 B ping-pong round trip | p50 | p99 | p99.9 | p50 / floor |");
    println!("|---|---|---|---|---|");
    type Row<'a> = (&'a str, Box<dyn Fn() -> Percentiles>);
    #[allow(unused_mut)]
    let mut rtt_rows: Vec<Row> = vec![
        (
            "ringmpsc message ring",
            Box::new(move || ring_rtt(rtts, 64, Wait::Spin)),
        ),
        // What the 64 bytes cost, apart from the ring's protocol.
        (
            "ringmpsc message ring, empty messages",
            Box::new(move || ring_rtt(rtts, 0, Wait::Spin)),
        ),
        // Waiting to sleep at once, as the sockets' readers do.
        (
            "ringmpsc message ring, blocking receives",
            Box::new(move || ring_rtt(rtts, 64, Wait::Sleep)),
        ),
        (
            "ringmpsc slot ring, 64-byte slots",
            Box::new(move || slot_rtt(rtts)),
        ),
        ("Unix domain socket", Box::new(move || uds_rtt(rtts))),
        ("pipe", Box::new(move || pipe_rtt(rtts))),
    ];
    #[cfg(feature = "bench-iceoryx2")]
    rtt_rows.push((
        "iceoryx2 publish-subscribe",
        Box::new(move || iceoryx2_peer::rtt(rtts)),
    ));
    // The floor last, as `latency_rounds` takes it.
    rtt_rows.push(("bare atomic (floor)", Box::new(move || atomic_rtt(rtts))));
    let fns: Vec<&dyn Fn() -> Percentiles> = rtt_rows.iter().map(|r| &*r.1).collect();
    for ((name, _), (r, to_floor)) in rtt_rows.iter().zip(latency_rounds(&fns, RTT_ROUNDS)) {
        let us = |q| r.at(q) as f64 / 1e3;
        println!(
            "| {name} | {:.2} us | {:.2} us | {:.2} us | {to_floor:.2}x |",
            us(0.5),
            us(0.99),
            us(0.999),
        );
        r.emit("ipc-rtt", name);
    }
    #[allow(unused_mut)]
    let mut peers: Vec<(&str, Throughput)> =
        vec![("Unix socket", uds_throughput), ("pipe", pipe_throughput)];
    #[cfg(feature = "bench-iceoryx2")]
    peers.push(("iceoryx2", iceoryx2_peer::throughput));
    let names: Vec<&str> = peers.iter().map(|p| p.0).collect();
    println!(
        "\nOne-way throughput: every row once in each of {THROUGHPUT_ROUNDS} rounds, in turn; each \
         rate the median over the rounds, each ratio the median of its ratios within a round.\n"
    );
    println!(
        "| one-way throughput | ringmpsc | {} | {} |",
        names.join(" | "),
        names
            .iter()
            .map(|n| format!("ringmpsc / {n}"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|---|{}", "---|---|".repeat(names.len()));
    for size in SIZES {
        let count = (messages * 64 / size).max(10_000);
        let ring = move || ring_throughput(count, size);
        // The peers are slower: a quarter of the messages keeps runs short.
        let peer_runs: Vec<_> = peers
            .iter()
            .map(|&(_, f)| move || f(count / 4, size))
            .collect();
        let mut fns: Vec<&dyn Fn() -> f64> = vec![&ring];
        fns.extend(peer_runs.iter().map(|f| f as &dyn Fn() -> f64));
        let runs = in_rounds(&fns, THROUGHPUT_ROUNDS);
        let rate = |i: usize| over_rounds(&runs, |round| round[i]);
        let r = rate(0);
        emit("ipc-throughput", "ringmpsc message ring", size as f64, r);
        for (i, name) in names.iter().enumerate() {
            emit("ipc-throughput", name, size as f64, rate(i + 1));
        }
        println!(
            "| {size} B | {:.2} M msg/s | {} | {} |",
            r / 1e6,
            (1..fns.len())
                .map(|i| format!("{:.2} M msg/s", rate(i) / 1e6))
                .collect::<Vec<_>>()
                .join(" | "),
            (1..fns.len())
                .map(|i| format!("{:.0}x", over_rounds(&runs, |round| round[0] / round[i])))
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    // The floor rows, in rounds with the minimal rings: a fraction of the
    // floor is taken within a round, against the faster minimal ring.
    let rows: [(&str, &dyn Fn() -> f64); 4] = [
        ("minimal shared ring, index per 64 messages", &|| {
            floor_throughput(messages, 64)
        }),
        ("minimal shared ring, index per 256 messages", &|| {
            floor_throughput(messages, 256)
        }),
        (
            "ringmpsc message ring (copies, checks the sequence)",
            &|| message_ring_floor_throughput(messages),
        ),
        ("ringmpsc slot ring (copies, checks the sequence)", &|| {
            slot_ring_throughput(messages)
        }),
    ];
    let runs = in_rounds(&rows.map(|r| r.1), FLOOR_ROUNDS);
    println!(
        "\n| 64 B one way, {FLOOR_ROUNDS} rounds, every row once a round in turn | M msg/s (median) | \
         fraction of the floor, the faster minimal ring (median of the fractions within a round) |"
    );
    println!("|---|---|---|");
    for (i, (name, _)) in rows.iter().enumerate() {
        let rate = over_rounds(&runs, |round| round[i]);
        let fraction = over_rounds(&runs, |round| round[i] / round[0].max(round[1]));
        println!(
            "| {name} | {:.2} M msg/s | {:.0}% |",
            rate / 1e6,
            100.0 * fraction
        );
        emit("ipc-floor", name, 64.0, rate);
    }
}
