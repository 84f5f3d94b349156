//! The transport in one process: priorities, replies, slots, policies,
//! shutdown and takeover, hostile scribbles.

use super::*;
use crate::msg::Priority::{Critical, High, Low};
use std::time::Duration;

fn name(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "rmpsc-transport-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

const T: Option<Duration> = Some(Duration::from_secs(5));

fn small() -> ServerOptions {
    ServerOptions {
        max_clients: 4,
        request_capacity: 64 << 10,
        response_capacity: 64 << 10,
        ..ServerOptions::default()
    }
}

fn drain(server: &mut Server) -> Vec<(ClientId, Priority, Vec<u8>)> {
    let mut got = Vec::new();
    while server
        .serve(usize::MAX, |r| {
            got.push((r.client, r.priority, r.payload().to_vec()))
        })
        .unwrap()
        > 0
    {}
    got
}

#[test]
fn priorities_are_served_highest_first_and_fifo_within() {
    let n = name("prio");
    let mut server = Server::create(&n, small()).unwrap();
    let mut a = Client::connect(&n, ClientOptions::default()).unwrap();
    let mut b = Client::connect(&n, ClientOptions::default()).unwrap();
    assert_ne!(a.id(), b.id());
    for i in 0..10u8 {
        a.send(Low, &[b'l', i]).unwrap();
        b.send(High, &[b'h', i]).unwrap();
        a.send(Critical, &[b'c', i]).unwrap();
    }
    b.send(Critical, b"b-critical").unwrap();
    server.wait(T).unwrap();
    let got = drain(&mut server);
    assert_eq!(got.len(), 31);
    let order: Vec<Priority> = got.iter().map(|g| g.1).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "Critical, then High, then Low");
    for (p, tag) in [(Critical, b'c'), (High, b'h'), (Low, b'l')] {
        let seq: Vec<u8> = got
            .iter()
            .filter(|g| g.1 == p && g.2[0] == tag)
            .map(|g| g.2[1])
            .collect();
        assert_eq!(seq, (0..10).collect::<Vec<u8>>(), "FIFO within {p:?}");
    }
    assert!(got.iter().any(|g| g.0 == b.id() && g.2 == b"b-critical"));
}

/// A client scribbling the control segment every client maps (its header
/// and the server line) does not stop others from connecting: a client
/// maps it by its sealed size, and takes the protocol from the welcome.
#[test]
fn a_scribbled_control_segment_does_not_stop_a_connect() {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    let n = name("scribble");
    let mut server = Server::create(&n, small()).unwrap();
    let hostile = Client::connect(&n, ClientOptions::default()).unwrap();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let scribbler = {
        // The hostile client's mapping of the control segment.
        let base = hostile.link.control.mapped.segment.base().as_ptr() as usize;
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Relaxed) {
                // Magic, then the server line's max_clients and protocol.
                for (at, v) in [
                    (0usize, 0u32),
                    (4, 0),
                    (HEADER_SIZE + 16, 0),
                    (HEADER_SIZE + 20, 99),
                ] {
                    // SAFETY: inside the mapped control segment, which
                    // `hostile` keeps mapped until the thread is joined.
                    unsafe {
                        (*((base + at) as *const std::sync::atomic::AtomicU32)).store(v, Relaxed)
                    };
                }
            }
        })
    };
    for i in 0..5u8 {
        let mut c = Client::connect(&n, ClientOptions::default()).unwrap();
        c.send(Low, &[i]).unwrap();
        server.wait(T).unwrap();
        let got = drain(&mut server);
        assert_eq!(got.len(), 1);
        drop(c);
    }
    stop.store(true, Relaxed);
    scribbler.join().unwrap();
    drop(hostile);
}

/// A client with more requests waiting than a `serve` call takes cannot
/// keep another of the same priority waiting: every pass began at the
/// lowest slot, and its client took the whole budget each time.
#[test]
fn serve_takes_clients_in_turn() {
    let n = name("turns");
    let mut server = Server::create(&n, small()).unwrap();
    let mut a = Client::connect(&n, ClientOptions::default()).unwrap();
    let mut b = Client::connect(&n, ClientOptions::default()).unwrap();
    let (busy, quiet) = if a.id().slot < b.id().slot {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    for i in 0..100u8 {
        busy.send(Critical, &[i]).unwrap();
    }
    quiet.send(Critical, b"quiet").unwrap();
    server.wait(T).unwrap();
    let quiet_id = quiet.id();
    let mut calls = 0;
    let mut served = false;
    while !served {
        calls += 1;
        assert!(calls <= 2, "the quiet client waited behind the busy one");
        server
            .serve(10, |r| served |= r.client == quiet_id)
            .unwrap();
    }
}

#[test]
fn replies_reach_the_client_they_answer() {
    let n = name("reply");
    let mut server = Server::create(&n, small()).unwrap();
    let mut clients: Vec<Client> = (0..3)
        .map(|_| Client::connect(&n, ClientOptions::default()).unwrap())
        .collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(High, format!("ping {i}").as_bytes()).unwrap();
    }
    let mut seen = 0;
    while seen < 3 {
        server.wait(T).unwrap();
        while let Some((from, text)) = server
            .try_recv()
            .unwrap()
            .map(|req| (req.client, req.payload().to_vec()))
        {
            let mut reply = b"pong:".to_vec();
            reply.extend_from_slice(&text);
            server.send(from, Low, &reply).unwrap();
            seen += 1;
        }
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let r = c.recv(T).unwrap();
        assert_eq!(r.priority, Low);
        assert_eq!(r.payload(), format!("pong:ping {i}").as_bytes());
    }
    // Zero copy both ways.
    let buf = clients[0].claim(Critical, 5).unwrap();
    buf.copy_from_slice(b"hello");
    clients[0].commit(5).unwrap();
    server.wait(T).unwrap();
    let req = server.try_recv().unwrap().unwrap();
    assert_eq!((req.priority, req.payload()), (Critical, &b"hello"[..]));
    let id = req.client;
    drop(req);
    server.claim(id, High, 3).unwrap().copy_from_slice(b"abc");
    // A refused commit keeps the claim.
    assert!(matches!(server.commit(4), Err(Error::InvalidArgument(_))));
    server.commit(3).unwrap();
    assert_eq!(clients[0].recv(T).unwrap().payload(), b"abc");
    assert!(matches!(server.commit(3), Err(Error::InvalidArgument(_))));
}

#[test]
fn slots_run_out_and_come_back() {
    let n = name("slots");
    let mut server = Server::create(&n, small()).unwrap();
    let mut clients: Vec<Client> = (0..4)
        .map(|_| Client::connect(&n, ClientOptions::default()).unwrap())
        .collect();
    assert!(matches!(
        Client::connect(&n, ClientOptions::default()),
        Err(Error::Full)
    ));
    let gone = clients.remove(1);
    let gone_id = gone.id();
    gone.close();
    // The server reaps the slot once it sees the socket close.
    let start = std::time::Instant::now();
    loop {
        let _ = server.serve(16, |_| {});
        if server.clients().len() == 3 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "departure not seen"
        );
        let _ = server.wait(Some(Duration::from_millis(20)));
    }
    assert!(matches!(
        server.send(gone_id, High, b"x"),
        Err(Error::Disconnected)
    ));
    let again = Client::connect(&n, ClientOptions::default()).unwrap();
    assert_eq!(again.id().slot, gone_id.slot);
    assert_ne!(again.id().generation, gone_id.generation);
    assert!(server.is_client_alive(clients[0].id(), Duration::from_secs(1)));
}

#[test]
fn policies_and_backpressure() {
    let n = name("policy");
    let _server = Server::create(&n, small()).unwrap();
    let mut c = Client::connect(&n, ClientOptions::default()).unwrap();
    assert_eq!(c.backpressure(), 0.0);
    let msg = [7u8; 1000];
    let mut sent = 0;
    while c.send_with(Low, &msg, SendPolicy::Fail).is_ok() {
        sent += 1;
    }
    assert!(sent > 5);
    assert!(c.backpressure() > 0.9, "{}", c.backpressure());
    assert!(matches!(
        c.send_with(Low, &msg, SendPolicy::Fail),
        Err(Error::Full)
    ));
    assert!(!c.send_with(Low, &msg, SendPolicy::DropLow(None)).unwrap());
    assert_eq!(c.dropped(), 1);
    // High has its own ring: not affected by Low's backlog.
    assert!(c.send_with(High, &msg, SendPolicy::DropLow(None)).unwrap());
    assert!(matches!(
        c.send_with(
            Low,
            &msg,
            SendPolicy::Block(Some(Duration::from_millis(30)))
        ),
        Err(Error::TimedOut)
    ));
    assert!(matches!(
        c.send(Low, &vec![0u8; 1 << 20]),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn a_shut_down_server_disconnects_clients_and_a_new_one_takes_the_name() {
    let n = name("shutdown");
    let server = Server::create(&n, small()).unwrap();
    assert!(matches!(Server::create(&n, small()), Err(Error::Busy(_))));
    let mut c = Client::connect(&n, ClientOptions::default()).unwrap();
    assert!(c.is_server_alive(Duration::from_secs(1)));
    let waiter = std::thread::spawn(move || {
        let r = c.recv(None).map(|_| ());
        (r, c)
    });
    std::thread::sleep(Duration::from_millis(50));
    server.shutdown();
    let (r, mut c) = waiter.join().unwrap();
    assert!(matches!(r, Err(Error::Disconnected)));
    assert!(matches!(c.send(High, b"x"), Err(Error::Disconnected)));
    assert!(!c.is_server_alive(Duration::from_secs(1)));
    assert!(matches!(
        Client::connect(&n, ClientOptions::default()),
        Err(Error::Disconnected)
    ));
    let mut again = Server::create(&n, small()).unwrap();
    let mut c = Client::connect(&n, ClientOptions::default()).unwrap();
    c.send(High, b"hi").unwrap();
    again.wait(T).unwrap();
    assert_eq!(drain(&mut again).len(), 1);
}

/// Connects to a server that answers the hello with `words` and `fds`.
fn connect_to_fake(n: &str, words: &[u32], fds: Vec<std::os::fd::OwnedFd>) -> Result<Client> {
    use std::os::fd::AsFd;
    let listener = std::os::unix::net::UnixListener::bind_addr(&socket_addr(n).unwrap()).unwrap();
    let answer = encode(words);
    let fake = std::thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        let mut hello = [0u8; 8];
        std::io::Read::read_exact(&mut &sock, &mut hello).unwrap();
        let fds: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
        crate::sys::socket::send_with_fds(&sock, &answer, &fds).unwrap();
        sock
    });
    let client = Client::connect(n, ClientOptions::default());
    drop(fake.join().unwrap());
    client
}

/// A hostile server's welcome: segments the client could be made to fault
/// on, or the wrong number of them, are refused before they are read.
#[test]
fn a_welcome_with_unsealed_or_missing_segments_is_refused() {
    let welcome = [WELCOME_OK, 0, 1, PROTOCOL];
    let unsealed = || {
        let fd = crate::sys::fs::memfd("test").unwrap();
        crate::sys::fs::set_len(std::os::fd::AsFd::as_fd(&fd), 1 << 16).unwrap();
        fd
    };
    match connect_to_fake(&name("unsealed"), &welcome, vec![unsealed(), unsealed()]) {
        Err(Error::InvalidHeader(m)) => assert!(m.contains("not sealed"), "{m}"),
        other => panic!("expected InvalidHeader, got {:?}", other.map(|c| c.id())),
    }
    match connect_to_fake(&name("onefd"), &welcome, vec![unsealed()]) {
        Err(Error::InvalidHeader(m)) => assert!(m.contains("1 descriptor(s)"), "{m}"),
        other => panic!("expected InvalidHeader, got {:?}", other.map(|c| c.id())),
    }
}

#[test]
fn bad_options_and_a_foreign_server_are_refused() {
    let n = name("bad");
    let bad = ServerOptions {
        max_clients: 0,
        ..small()
    };
    assert!(matches!(
        Server::create(&n, bad),
        Err(Error::InvalidArgument(_))
    ));
    let bad = ServerOptions {
        split: crate::msg::Split {
            critical: 50,
            high: 50,
            low: 50,
        },
        ..small()
    };
    assert!(matches!(
        Server::create(&n, bad),
        Err(Error::InvalidArgument(_))
    ));
    // A server of another protocol version.
    match connect_to_fake(
        &n,
        &[WELCOME_PROTOCOL, u32::MAX, 0, PROTOCOL + 1],
        Vec::new(),
    ) {
        Err(Error::InvalidHeader(m)) => assert!(m.contains("protocol"), "{m}"),
        other => panic!("expected a protocol error, got {:?}", other.map(|c| c.id())),
    }
    // Not a server at all: a message ring under the name, and nobody
    // holding its socket.
    let other = name("notaserver");
    let _ring = crate::msg::MessageRing::create(Some(&other), 12).unwrap();
    assert!(matches!(
        Client::connect(&other, ClientOptions::default()),
        Err(Error::Disconnected)
    ));
    let _ = crate::shm::unlink(&crate::shm::resolve_name(&other).unwrap());
}

#[test]
fn segments_shorter_than_their_fixed_part_are_refused_not_read() {
    let short = |kind| Geometry {
        kind,
        ring_bits: 0,
        slot_size: 1,
        slab_count: 0,
        data_size: 64,
    };
    // A control segment, as a hostile server could pass one.
    let control = Mapped::create_with(None, short(Kind::Control), Default::default(), |_| ());
    match Control::checked(control.unwrap()) {
        Err(Error::InvalidHeader(m)) => assert!(m.contains("shorter"), "{m}"),
        other => panic!("expected InvalidHeader, got {:?}", other.is_ok()),
    }
    // A channel segment, as a hostile server could pass one.
    let channel = Mapped::create_with(None, short(Kind::Channel), Default::default(), |_| ());
    assert!(matches!(
        Channel::checked(channel.unwrap()),
        Err(Error::InvalidHeader(_))
    ));
}

#[test]
fn a_client_that_scribbles_its_rings_is_cut_off_and_the_others_go_on() {
    let n = name("hostile");
    let mut server = Server::create(&n, small()).unwrap();
    let mut good = Client::connect(&n, ClientOptions::default()).unwrap();
    let mut bad = Client::connect(&n, ClientOptions::default()).unwrap();
    bad.send(High, b"before").unwrap();
    // The hostile client overwrites its High request ring's tail and the
    // record it published, and the control segment's doorbell.
    let seg = &bad.link.channel.mapped.segment;
    // SAFETY: test scribbles inside the client's own mapping.
    unsafe {
        let base = seg.base().as_ptr();
        let indices = base.add(CHANNEL_RINGS + INDICES);
        indices.cast::<u64>().write_volatile(u64::MAX - 5); // tail
        let data = base.add(CHANNEL_DATA + (1 << bad.link.channel.bits[0]));
        data.cast::<u32>().write_volatile(0x7fff_ffff); // record length
    }
    bad.link
        .control
        .doorbell()
        .state
        .store(u32::MAX, Ordering::Relaxed);
    good.send(High, b"fine").unwrap();
    let mut got = Vec::new();
    for _ in 0..50 {
        let _ = server.serve(64, |r| got.push((r.client, r.payload().to_vec())));
        if server.clients().len() == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(got.iter().any(|g| g.0 == good.id() && g.1 == b"fine"));
    assert_eq!(
        server.clients().len(),
        1,
        "the hostile client was disconnected"
    );
    assert!(matches!(bad.recv(T), Err(Error::Disconnected)));
    good.send(Critical, b"still").unwrap();
    server.wait(T).unwrap();
    assert_eq!(drain(&mut server)[0].2, b"still");
}

#[test]
fn a_batch_that_meets_a_scribbled_priority_counts_what_it_delivered() {
    let n = name("batchcount");
    let mut server = Server::create(&n, small()).unwrap();
    let mut c = Client::connect(&n, ClientOptions::default()).unwrap();
    c.send(High, b"hi").unwrap();
    server.wait(T).unwrap();
    let id = drain(&mut server)[0].0;
    server.send(id, Critical, b"first").unwrap();
    server.send(id, Low, b"scribbled").unwrap();
    // A hostile server rewrites the Low reply's length.
    let bits = c.link.channel.bits;
    let low = CHANNEL_DATA + bits[..5].iter().map(|b| 1usize << b).sum::<usize>();
    // SAFETY: test scribbles inside the client's own mapping.
    unsafe {
        let base = c.link.channel.mapped.segment.base().as_ptr();
        base.add(low).cast::<u32>().write_volatile(0x7fff_ffff);
    }
    let mut got = Vec::new();
    let n = c.recv_batch(10, |p, m| got.push((p, m.to_vec()))).unwrap();
    assert_eq!((n, got), (1, vec![(Critical, b"first".to_vec())]));
    assert!(matches!(
        c.recv_batch(10, |_, _| panic!("nothing more")),
        Err(Error::Corrupt(_))
    ));
}

#[test]
fn batches_are_sent_in_order_and_wait_for_room() {
    let n = name("batch");
    let mut server = Server::create(&n, small()).unwrap();
    let mut c = Client::connect(&n, ClientOptions::default()).unwrap();
    let msgs: Vec<Vec<u8>> = (0..2000u32).map(|i| i.to_le_bytes().repeat(8)).collect();
    let to_send = msgs.clone();
    // 2000 x 40 bytes do not fit the 32 KiB High ring: the rest waits for room.
    let t = std::thread::spawn(move || {
        let refs: Vec<&[u8]> = to_send.iter().map(|m| &m[..]).collect();
        (c.send_many(High, &refs).unwrap(), c)
    });
    let mut got = Vec::new();
    while got.len() < 2000 {
        server
            .serve(64, |r| got.push(r.payload().to_vec()))
            .unwrap();
    }
    let (sent, _c) = t.join().unwrap();
    assert_eq!(sent, 2000);
    assert_eq!(got, msgs);
}

#[test]
fn a_batch_stopped_by_an_error_counts_what_it_queued() {
    let n = name("batch-error");
    let mut server = Server::create(&n, small()).unwrap();
    let options = ClientOptions {
        policy: SendPolicy::Fail,
        ..ClientOptions::default()
    };
    let mut c = Client::connect(&n, options).unwrap();
    // A message too large after two that fit: the two are counted, the
    // error comes with the next call.
    let big = vec![0u8; 1 << 20];
    let batch: [&[u8]; 3] = [b"a", b"b", &big];
    assert_eq!(c.send_many(High, &batch).unwrap(), 2);
    assert!(matches!(
        c.send_many(High, &batch[2..]),
        Err(Error::TooLarge { .. })
    ));
    assert_eq!(drain(&mut server).len(), 2);
    // More than the ring holds under `Fail`: what fits is counted.
    let msg = [7u8; 1000];
    let many = vec![&msg[..]; 100];
    let queued = c.send_many(High, &many).unwrap();
    assert!(queued > 0 && queued < 100, "{queued}");
    assert!(matches!(c.send_many(High, &many), Err(Error::Full)));
    assert_eq!(drain(&mut server).len(), queued);
}

#[test]
fn serve_never_reports_nothing_while_an_idle_client_has_requests() {
    let n = name("idle");
    let mut server = Server::create(&n, small()).unwrap();
    let mut c = Client::connect(&n, ClientOptions::default()).unwrap();
    // Empty passes make the server skip the client for up to 64 passes:
    // a request must still be served by the first call after it is sent,
    // whatever is left of the skip.
    for round in 0..200 {
        for _ in 0..round % 70 {
            assert_eq!(server.serve(16, |_| {}).unwrap(), 0);
        }
        c.send(High, b"x").unwrap();
        assert_eq!(server.serve(16, |_| {}).unwrap(), 1, "round {round}");
    }
}

#[test]
fn padding_alone_does_not_end_a_wait() {
    let n = name("padding");
    let mut server = Server::create(&n, small()).unwrap();
    let mut c = Client::connect(&n, ClientOptions::default()).unwrap();
    // 1000-byte replies fill the 32 KiB High ring up to its last 512 bytes;
    // the next one publishes a padding record there, then finds no room.
    let msg = [1u8; 1000];
    let mut sent = 0;
    while server.send(c.id(), High, &msg).unwrap_or(false) {
        sent += 1;
    }
    assert_eq!(sent, 32);
    for _ in 0..sent {
        assert_eq!(c.recv(T).unwrap().payload().len(), 1000);
    }
    // Only the padding is left: a wait ends at its deadline, not at once.
    let t = std::time::Instant::now();
    assert!(matches!(
        c.recv(Some(Duration::from_millis(100))),
        Err(Error::TimedOut)
    ));
    assert!(
        t.elapsed() >= Duration::from_millis(90),
        "{:?}",
        t.elapsed()
    );
    server.send(c.id(), Low, b"after").unwrap();
    assert_eq!(c.recv(T).unwrap().payload(), b"after");
}

/// Idle connections (any local process can open them) neither block nor
/// starve a client: 100 of them are held open while a client connects, at
/// once rather than after their handshakes time out one by one.
#[test]
fn idle_connections_do_not_hold_up_a_client() {
    let n = name("idle");
    let _server = Server::create(&n, small()).unwrap();
    let addr = socket_addr(&n).unwrap();
    let idle: Vec<_> = (0..100)
        .map(|_| std::os::unix::net::UnixStream::connect_addr(&addr).unwrap())
        .collect();
    let t = std::time::Instant::now();
    let client = Client::connect(&n, ClientOptions::default()).unwrap();
    let took = t.elapsed();
    eprintln!(
        "connected in {took:?} beside {} idle connections",
        idle.len()
    );
    // Before, each idle connection held the acceptor for its 1 s read: the
    // client waits for none of them (a generous bound, not a speed test).
    assert!(took < acceptor::HANDSHAKE_TIMEOUT, "{took:?}");
    drop(client);
    // Idle connections are dropped at their handshake deadline.
    std::thread::sleep(acceptor::HANDSHAKE_TIMEOUT + Duration::from_millis(300));
    let mut b = [0u8; 1];
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        assert_eq!(std::io::Read::read(&mut s, &mut b).unwrap(), 0);
    }
}

/// A server that takes the connection but never answers: the client's
/// connect ends with the library's `TimedOut` at its deadline.
#[test]
fn a_connect_without_an_answer_times_out() {
    let n = name("mute");
    let _listener = std::os::unix::net::UnixListener::bind_addr(&socket_addr(&n).unwrap()).unwrap();
    connect_times_out(&n);
}

/// A connect to `n` with a 200 ms timeout ends with `TimedOut`, after most
/// of it and well before seconds.
fn connect_times_out(n: &str) {
    let options = ClientOptions {
        connect_timeout: Duration::from_millis(200),
        ..ClientOptions::default()
    };
    let t = std::time::Instant::now();
    let e = Client::connect(n, options).err().unwrap();
    assert!(matches!(e, Error::TimedOut), "{e}");
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

/// A server that shuts down with requests it never took: the client's
/// reconnect carries them to the next server, in order, before new ones.
#[test]
fn reconnect_carries_what_a_shut_down_server_never_took() {
    let n = name("carry");
    let mut server = Server::create(&n, small()).unwrap();
    let mut c = Client::connect(&n, ClientOptions::default()).unwrap();
    for i in 0..10u8 {
        c.send(High, &[i]).unwrap();
    }
    server.wait(T).unwrap();
    assert_eq!(server.serve(4, |_| {}).unwrap(), 4);
    assert!(matches!(c.reconnect(), Err(Error::InvalidArgument(_))));
    server.shutdown();
    assert!(matches!(c.send(High, b"late"), Err(Error::Disconnected)));
    let mut next = Server::create(&n, small()).unwrap();
    assert_eq!(c.reconnect().unwrap(), 6);
    c.send(High, b"new").unwrap();
    next.wait(T).unwrap();
    let got: Vec<Vec<u8>> = drain(&mut next).into_iter().map(|g| g.2).collect();
    let mut want: Vec<Vec<u8>> = (4..10u8).map(|i| vec![i]).collect();
    want.push(b"new".to_vec());
    assert_eq!(got, want);
}

/// A dead server that left a request ring's head outside what the client
/// wrote and had not seen read: the reconnect carries nothing from that
/// ring, neither copies of requests past the client's tail nor requests
/// again from a head moved back.
#[test]
fn reconnect_carries_nothing_from_a_head_outside_what_the_client_wrote() {
    let n = name("forged");
    let mut server = Server::create(&n, small()).unwrap();
    let mut c = Client::connect(&n, ClientOptions::default()).unwrap();
    // Low: the server takes three requests; the client's next one does not
    // fit before the end of its ring, so it reads the server's head.
    for k in 1..=3u8 {
        c.send(Low, &[k; 4096]).unwrap();
    }
    server.wait(T).unwrap();
    assert_eq!(server.serve(3, |_| {}).unwrap(), 3);
    let low = c.link.channel.raw(Low.index());
    let taken_to = low.indices().consumer.head.load(Ordering::Acquire);
    c.send(Low, &[4; 4096]).unwrap();
    assert_eq!(c.link.requests.unread_span(Low.index()).0, taken_to);
    // High: three requests the server never takes.
    for i in 1..=3u8 {
        c.send(High, &[i]).unwrap();
    }
    let high = c.link.channel.raw(High.index());
    let (seen, tail) = c.link.requests.unread_span(High.index());
    let written = tail.wrapping_sub(seen) as usize;
    // The dying server copies the three High records past the tail (the
    // same lap, so their commit words hold there) and moves the head to
    // them, and moves the Low head back onto the third it took.
    let (from, _) = high.contiguous(seen);
    let (to, to_end) = high.contiguous(tail);
    assert!(written <= to_end && from + written <= to);
    // SAFETY: both ranges lie inside the ring's bytes (checked above), in
    // the client's own mapping; the server is not reading them.
    unsafe { std::ptr::copy_nonoverlapping(high.slot_ptr(from), high.slot_ptr(to), written) };
    high.indices().consumer.head.store(tail, Ordering::Release);
    let third = crate::msg::record::record_len(4096) as u64;
    low.indices()
        .consumer
        .head
        .store(taken_to.wrapping_sub(third), Ordering::Release);
    server.shutdown();
    let mut next = Server::create(&n, small()).unwrap();
    assert_eq!(c.reconnect().unwrap(), 0);
    c.send(High, b"new").unwrap();
    next.wait(T).unwrap();
    let got: Vec<Vec<u8>> = drain(&mut next).into_iter().map(|g| g.2).collect();
    assert_eq!(got, [b"new".to_vec()]);
}

/// A second server that goes before taking what the first one's reconnect
/// carried: the next reconnect keeps the order, what its rings held (the
/// older) before what still waited in the client.
#[test]
fn reconnect_keeps_the_order_across_two_gone_servers() {
    let n = name("carry2");
    let payload = |i: u32| [i.to_le_bytes().as_slice(), &[0u8; 96]].concat();
    let mut first = Server::create(&n, small()).unwrap();
    let mut c = Client::connect(&n, ClientOptions::default()).unwrap();
    for i in 0..200 {
        c.send(High, &payload(i)).unwrap();
    }
    first.wait(T).unwrap();
    first.shutdown();
    // Rings of 4 KiB: most of the 200 wait in the client.
    let tiny = ServerOptions {
        request_capacity: 12 << 10,
        ..small()
    };
    let second = Server::create(&n, tiny).unwrap();
    assert_eq!(c.reconnect().unwrap(), 200);
    let waiting = c.backlog();
    assert!(waiting > 0 && waiting < 200, "{waiting}");
    second.shutdown();
    let mut third = Server::create(&n, small()).unwrap();
    assert_eq!(c.reconnect().unwrap(), 200 - waiting);
    c.send(High, &payload(200)).unwrap();
    third.wait(T).unwrap();
    let got: Vec<Vec<u8>> = drain(&mut third).into_iter().map(|g| g.2).collect();
    let want: Vec<Vec<u8>> = (0..=200).map(payload).collect();
    assert_eq!(got, want);
}

/// A request larger than the server's buffer is named by `too_large`. A
/// retry with a buffer that holds it takes it first; one with the same
/// small buffer goes on to the other client. Its sender, gone already with
/// another such request queued, is disconnected all the same.
#[test]
fn a_request_too_large_for_recv_into_is_named_and_its_sender_can_be_cut_off() {
    let n = name("toolarge");
    let mut server = Server::create(&n, small()).unwrap();
    let mut big = Client::connect(&n, ClientOptions::default()).unwrap();
    let mut other = Client::connect(&n, ClientOptions::default()).unwrap();
    assert_eq!((big.id().slot, other.id().slot), (0, 1));
    let big_id = big.id();
    for _ in 0..2 {
        big.send(High, &[7u8; 2000]).unwrap();
    }
    for i in 0..2u8 {
        other.send(High, &[i]).unwrap();
    }
    server.wait(T).unwrap();
    let (mut small_buf, mut large_buf) = ([0u8; 64], [0u8; 4096]);
    let too_large = |server: &mut Server, buf: &mut [u8]| {
        assert!(matches!(
            server.recv_into(buf),
            Err(Error::TooLarge { len: 2000, max: 64 })
        ));
        assert_eq!(server.too_large(), Some((big_id, High, 2000)));
    };
    too_large(&mut server, &mut small_buf);
    // The turn is the other client's, but the named request comes first.
    let from_big = Some((big_id, High, 2000));
    assert_eq!(server.recv_into(&mut large_buf).unwrap(), from_big);
    let from_other = Some((other.id(), High, 1));
    assert_eq!(server.recv_into(&mut small_buf).unwrap(), from_other);
    assert_eq!((small_buf[0], server.too_large()), (0, None));
    too_large(&mut server, &mut small_buf);
    // The same small buffer again: the turn went on.
    assert_eq!(server.recv_into(&mut small_buf).unwrap(), from_other);
    assert_eq!(small_buf[0], 1);
    // It leaves; its request stays, and only a disconnect drops it.
    drop(big);
    let wait = crate::wait::Deadline::after(T);
    while server.clients().iter().any(|c| c.id == big_id) {
        assert!(wait.left() != Some(Duration::ZERO), "departure not seen");
        std::thread::sleep(Duration::from_millis(1));
    }
    too_large(&mut server, &mut small_buf);
    server.disconnect(big_id).unwrap();
    assert_eq!(server.too_large(), None);
    assert_eq!(server.recv_into(&mut large_buf).unwrap(), None);
    assert!(matches!(
        server.disconnect(big_id),
        Err(Error::Disconnected)
    ));
}

/// A client that closes its socket but writes on (alive, hostile): the
/// server delivers what it had sent, at most a ring's worth more, then
/// frees its slot, under every way of taking requests.
#[test]
fn a_departed_client_that_writes_on_is_cut_off() {
    for how in ["serve", "try_recv", "recv_into"] {
        let n = name("writeson");
        let mut server = Server::create(&n, small()).unwrap();
        let mut c = Client::connect(&n, ClientOptions::default()).unwrap();
        c.send(High, b"before").unwrap();
        c.link.socket.shutdown(std::net::Shutdown::Both).unwrap();
        let mut buf = [0u8; 64];
        let mut took = 0u64;
        let mut cut_off = false;
        for _ in 0..200_000 {
            // Around the library's own checks, straight into its rings.
            match c.link.requests.send(High, b"more") {
                Ok(()) | Err(Error::Full) => {}
                Err(_) => {
                    cut_off = true;
                    break;
                }
            }
            took += match how {
                "serve" => server.serve(64, |_| {}).unwrap() as u64,
                "try_recv" => u64::from(server.try_recv().unwrap().is_some()),
                _ => u64::from(server.recv_into(&mut buf).unwrap().is_some()),
            };
        }
        assert!(cut_off, "{how}: still served after {took} requests");
        assert!(server.clients().is_empty(), "{how}");
    }
}

/// A server whose listen queue is full (stopped, or out of descriptors):
/// the connect ends with `TimedOut` at its deadline, not blocked for ever.
#[test]
fn a_connect_to_a_full_listen_queue_times_out() {
    use std::os::fd::{FromRawFd, OwnedFd};
    let n = name("backlog");
    let key = socket_name(&n).unwrap();
    // SAFETY: plain socket calls on a descriptor this test owns; the
    // address is a zeroed sockaddr_un with the abstract name copied in.
    let listener = unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let owned = OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, &b) in addr.sun_path[1..].iter_mut().zip(&key) {
            *d = b as libc::c_char;
        }
        let len = (std::mem::size_of::<libc::sa_family_t>() + 1 + key.len()) as libc::socklen_t;
        assert_eq!(
            libc::bind(fd, (&addr as *const libc::sockaddr_un).cast(), len),
            0
        );
        assert_eq!(libc::listen(fd, 0), 0);
        owned
    };
    // Fill the queue with connections nobody accepts.
    let deadline = crate::wait::Deadline::after(Some(Duration::from_millis(100)));
    let mut queued = Vec::new();
    while let Ok(s) = crate::sys::socket::connect_abstract(&key, &deadline) {
        queued.push(s);
        assert!(queued.len() < 64, "the queue never filled");
    }
    connect_times_out(&n);
    drop(listener);
}

/// Many more silent connections than handshakes may be open at once, made
/// before a client connects: the acceptor takes a bounded number a turn
/// and drops the oldest silent ones, so the client, which says hello at
/// once, is admitted well within its timeout (waiting for the silent ones
/// to time out would take seconds).
#[test]
fn a_flood_of_silent_connections_does_not_keep_a_client_out() {
    let n = name("flood");
    let _server = Server::create(&n, small()).unwrap();
    let key = socket_name(&n).unwrap();
    let deadline = crate::wait::Deadline::after(Some(Duration::from_secs(5)));
    let silent: Vec<_> = (0..4 * acceptor::MAX_PENDING)
        .map(|_| crate::sys::socket::connect_abstract(&key, &deadline).unwrap())
        .collect();
    let options = ClientOptions {
        connect_timeout: 2 * acceptor::HANDSHAKE_TIMEOUT,
        ..ClientOptions::default()
    };
    Client::connect(&n, options).unwrap();
    drop(silent);
}

/// A client that left with requests queued, drained by `try_recv` while
/// another keeps the server busy: its slot is free for the next client as
/// soon as they are delivered, not only when the server runs dry.
#[test]
fn a_drained_departed_client_frees_its_slot_under_load() {
    let n = name("busyreap");
    let two = ServerOptions {
        max_clients: 2,
        ..small()
    };
    let mut server = Server::create(&n, two).unwrap();
    let mut a = Client::connect(&n, ClientOptions::default()).unwrap();
    let mut b = Client::connect(&n, ClientOptions::default()).unwrap();
    for i in 0..3u8 {
        a.send(High, &[i]).unwrap();
    }
    drop(a);
    // The acceptor sees the socket close.
    std::thread::sleep(Duration::from_millis(100));
    b.send(High, b"b").unwrap();
    let mut from_a = 0;
    for _ in 0..100 {
        // Two in, one out: the server never runs dry.
        b.send(High, b"b").unwrap();
        b.send(High, b"b").unwrap();
        let r = server.try_recv().unwrap().expect("b keeps it busy");
        from_a += usize::from(r.payload() != b"b");
    }
    assert_eq!(from_a, 3);
    assert!(server.try_recv().unwrap().is_some());
    let c = Client::connect(&n, ClientOptions::default());
    assert!(c.is_ok(), "{:?}", c.err());
}

/// A request that waits for room may find, on a retry, room enough to pad
/// to the end of its ring but not for itself: the padding is published and
/// the attempt is `Full`. The server, asleep on its doorbell, must be rung
/// for it, or the room the request waits for never comes.
#[test]
fn a_waiting_request_rings_the_doorbell_for_the_padding_it_publishes() {
    use crate::msg::record::{RECORD_HEADER, SLACK};
    let n = name("padding");
    let mut server = Server::create(&n, small()).unwrap();
    let mut client = Client::connect(&n, ClientOptions::default()).unwrap();
    let capacity = client.max_message(High) + RECORD_HEADER + SLACK;
    // Leave the ring empty with its head and tail half way round.
    client
        .send(High, &vec![1; capacity / 2 - RECORD_HEADER])
        .unwrap();
    assert_eq!(drain(&mut server).len(), 1);
    // The server goes to sleep on its doorbell.
    // SAFETY: the doorbell lives in the client's mapping, which outlives it.
    let asleep = unsafe { crate::sync::Registration::on_doorbell(client.link.control.doorbell()) };
    // Three quarters of the ring: it pads to the end, then cannot fit.
    let sent = client.link.requests.send_waiting(
        High,
        &vec![2; capacity * 3 / 4],
        Duration::from_millis(20),
    );
    assert!(matches!(sent, Err(Error::TimedOut)), "{sent:?}");
    // Only a publication's ring disarms it (the acceptor's late ring of a
    // connect bumps the word but leaves it armed).
    assert!(
        !client.link.control.doorbell().armed(),
        "the padding was published without a ring"
    );
    drop(asleep);
    // Woken, the server takes the padding, and the request then fits.
    server.serve(64, |_| {}).unwrap();
    client.send(High, &vec![3; capacity * 3 / 4]).unwrap();
    assert_eq!(drain(&mut server)[0].2.len(), capacity * 3 / 4);
}
