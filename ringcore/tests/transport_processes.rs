//! The transport across real processes: this binary re-executes itself as
//! the child (`TRANSPORT_CHILD` names the role). Many client processes at
//! once, a client and a server killed with SIGKILL, a hostile client.

use ringcore::msg::transport::{
    Admission, Client, ClientId, ClientOptions, SendPolicy, Server, ServerOptions,
};
use ringcore::msg::Priority;
use ringcore::shm::Permissions;
use ringcore::Error;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/watchdog.rs"]
mod watchdog;

/// FNV-1a of the body: the last 4 bytes of every message.
fn checksum(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

/// Message `seq` of a priority: the sequence number, the priority, 0..=300
/// bytes derived from both, and the checksum of all that.
fn message(seq: u64, p: Priority) -> Vec<u8> {
    let len = ((seq.wrapping_mul(2_654_435_761) >> 9) % 301) as usize;
    let mut m = seq.to_le_bytes().to_vec();
    m.push(p as u8);
    m.extend((0..len).map(|i| (i as u64 ^ seq) as u8));
    let c = checksum(&m);
    m.extend_from_slice(&c.to_le_bytes());
    m
}

/// Checks a message and returns its sequence number.
fn check(m: &[u8], p: Priority) -> u64 {
    let (body, sum) = m.split_at(m.len() - 4);
    assert_eq!(checksum(body).to_le_bytes(), sum, "torn message");
    assert_eq!(body[8], p as u8, "delivered at the wrong priority");
    u64::from_le_bytes(body[..8].try_into().unwrap())
}

fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn spawn_command(role: &str, name: &str, count: u64) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("TRANSPORT_CHILD", role)
        .envs([watchdog::parent_env()])
        .env("TRANSPORT_NAME", name)
        .env("TRANSPORT_COUNT", count.to_string())
        .stdout(Stdio::null());
    c
}

fn spawn(role: &str, name: &str, count: u64) -> Child {
    spawn_command(role, name, count).spawn().unwrap()
}

fn kill9(child: &mut Child) {
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
}

/// The child side; a no-op when run as a normal test.
#[test]
fn child_entry() {
    let (Ok(role), Ok(name)) = (
        std::env::var("TRANSPORT_CHILD"),
        std::env::var("TRANSPORT_NAME"),
    ) else {
        return;
    };
    watchdog::die_with_parent();
    let count: u64 = std::env::var("TRANSPORT_COUNT").unwrap().parse().unwrap();
    match role.as_str() {
        // Sends `count` messages at pseudo-random priorities (0: forever),
        // numbered per priority.
        "client" => {
            // A slot whose client left is free once the serving thread next
            // looks: until then the server may answer Full.
            let started = Instant::now();
            let mut c = loop {
                match Client::connect(&name, ClientOptions::default()) {
                    Err(Error::Full) if started.elapsed() < Duration::from_secs(5) => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    other => break other.unwrap(),
                }
            };
            let mut seed = std::process::id() as u64 | 1;
            let mut next = [0u64; 3];
            let mut sent = 0;
            while count == 0 || sent < count {
                let p = Priority::ALL[(xorshift(&mut seed) % 3) as usize];
                let m = message(next[p.index()], p);
                assert!(c.send(p, &m).unwrap());
                next[p.index()] += 1;
                sent += 1;
            }
        }
        // Serves and echoes forever (until killed); admits root's clients
        // too, when it runs as another user.
        "server" => {
            let options = ServerOptions {
                admission: Admission {
                    users: vec![0],
                    groups: Vec::new(),
                },
                ..ServerOptions::default()
            };
            let mut s = Server::create(&name, options).unwrap();
            loop {
                let mut replies = Vec::new();
                s.serve(256, |r| {
                    replies.push((r.client, r.priority, r.payload().to_vec()))
                })
                .unwrap();
                for (c, p, m) in replies {
                    let _ = s.send_with(c, p, &m, SendPolicy::Block(Some(Duration::from_secs(1))));
                }
                let _ = s.wait(Some(Duration::from_millis(100)));
            }
        }
        // Sends a little, then scribbles over its own rings and the
        // control segment, then keeps sending garbage.
        "hostile" => {
            let mut c = Client::connect(&name, ClientOptions::default()).unwrap();
            c.send(Priority::High, &message(0, Priority::High)).unwrap();
            scribble(&name);
            for _ in 0..1000 {
                let _ = c.send_with(Priority::Low, b"garbage", SendPolicy::Fail);
            }
            std::thread::sleep(Duration::from_secs(2));
        }
        // Takes `count` requests, says so with a file beside the segment,
        // then stays alive without taking more (until killed).
        "server-take" => {
            let mut s = Server::create(&name, ServerOptions::default()).unwrap();
            let mut taken = 0;
            while taken < count {
                let _ = s.wait(Some(Duration::from_millis(100)));
                taken += s.serve((count - taken) as usize, |_| {}).unwrap() as u64;
            }
            std::fs::write(format!("/dev/shm/{name}.took"), b"").unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        // Connects once: exit 0 admitted, 3 refused, 4 anything else.
        "connect" => {
            let code = match Client::connect(&name, ClientOptions::default()) {
                Ok(_) => 0,
                Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::PermissionDenied => 3,
                Err(e) => {
                    eprintln!("connect: {e}");
                    4
                }
            };
            std::process::exit(code);
        }
        other => panic!("unknown role {other}"),
    }
}

/// Overwrites every byte of every shared mapping this process has of the
/// channel (its memfd and the control segment) with pseudo-random bytes.
fn scribble(name: &str) {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mut seed = 0x1234_5678_9abc_def1u64;
    for line in maps.lines() {
        let shared = line
            .split_whitespace()
            .nth(1)
            .is_some_and(|p| p.starts_with("rw-s"));
        if !shared || !(line.contains("memfd:ringmpsc") || line.contains(name)) {
            continue;
        }
        let range = line.split_whitespace().next().unwrap();
        let (a, b) = range.split_once('-').unwrap();
        let (a, b) = (
            usize::from_str_radix(a, 16).unwrap(),
            usize::from_str_radix(b, 16).unwrap(),
        );
        for addr in (a..b).step_by(8) {
            // SAFETY: inside a writable shared mapping of this process
            // (the test's deliberate vandalism of its own segments).
            unsafe { (addr as *mut u64).write_volatile(xorshift(&mut seed)) };
        }
    }
}

/// Serves until `done(received)` holds, checking per-client per-priority
/// order; returns what each client delivered per priority.
fn serve_checked(
    server: &mut Server,
    deadline: Duration,
    mut done: impl FnMut(&HashMap<(ClientId, Priority), u64>) -> bool,
) -> HashMap<(ClientId, Priority), u64> {
    let mut next: HashMap<(ClientId, Priority), u64> = HashMap::new();
    let start = Instant::now();
    while !done(&next) {
        assert!(start.elapsed() < deadline, "timed out: {next:?}");
        let n = server
            .serve(1024, |r| {
                let seq = check(r.payload(), r.priority);
                let e = next.entry((r.client, r.priority)).or_insert(0);
                assert_eq!(
                    seq, *e,
                    "{} {:?}: lost, duplicated or reordered",
                    r.client, r.priority
                );
                *e += 1;
            })
            .unwrap();
        if n == 0 {
            let _ = server.wait(Some(Duration::from_millis(50)));
        }
    }
    next
}

#[test]
fn eight_client_processes_each_deliver_everything_in_order() {
    let _watchdog = watchdog::watchdog(120);
    const PER_CLIENT: u64 = 100_000;
    let name = format!("rmpsc-tp-many-{}", std::process::id());
    let mut server = Server::create(
        &name,
        ServerOptions {
            request_capacity: 256 << 10,
            ..ServerOptions::default()
        },
    )
    .unwrap();
    let mut children: Vec<Child> = (0..8).map(|_| spawn("client", &name, PER_CLIENT)).collect();
    let got = serve_checked(&mut server, Duration::from_secs(120), |next| {
        let mut per_client: HashMap<ClientId, u64> = HashMap::new();
        for ((c, _), n) in next {
            *per_client.entry(*c).or_insert(0) += n;
        }
        per_client.len() == 8 && per_client.values().all(|&n| n == PER_CLIENT)
    });
    for c in &mut children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(got.values().sum::<u64>(), 8 * PER_CLIENT);
    // Every client used every priority.
    assert_eq!(got.len(), 8 * 3);
}

#[test]
fn a_client_killed_mid_send_leaves_whole_messages_and_its_slot_is_reclaimed() {
    let _watchdog = watchdog::watchdog(120);
    let name = format!("rmpsc-tp-kill-client-{}", std::process::id());
    let mut server = Server::create(
        &name,
        ServerOptions {
            max_clients: 2,
            ..ServerOptions::default()
        },
    )
    .unwrap();
    for round in 0..3 {
        let mut child = spawn("client", &name, 0);
        let got = serve_checked(&mut server, Duration::from_secs(30), |next| {
            next.values().sum::<u64>() > 20_000
        });
        kill9(&mut child);
        // Everything it committed arrives, in order, whole; then it is gone.
        let start = Instant::now();
        let mut next = got;
        loop {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "round {round}: death not seen"
            );
            let n = server
                .serve(1024, |r| {
                    let e = next.entry((r.client, r.priority)).or_insert(0);
                    assert_eq!(check(r.payload(), r.priority), *e);
                    *e += 1;
                })
                .unwrap();
            if n == 0 && server.clients().is_empty() {
                break;
            }
            let _ = server.wait(Some(Duration::from_millis(20)));
        }
        // The slot is free again: two clients fit.
        let a = Client::connect(&name, ClientOptions::default()).unwrap();
        let b = Client::connect(&name, ClientOptions::default()).unwrap();
        drop((a, b));
    }
}

#[test]
fn a_server_killed_mid_serve_is_detected_and_replaced() {
    let _watchdog = watchdog::watchdog(120);
    let name = format!("rmpsc-tp-kill-server-{}", std::process::id());
    let mut server = spawn("server", &name, 0);
    let start = Instant::now();
    let mut c = loop {
        match Client::connect(&name, ClientOptions::default()) {
            Ok(c) => break c,
            Err(_) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("{e}"),
        }
    };
    for seq in 0..1000 {
        let m = message(seq, Priority::High);
        c.send(Priority::High, &m).unwrap();
        let r = c.recv(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(r.payload(), &m[..]);
    }
    assert!(c.is_server_alive(Duration::from_secs(1)));
    kill9(&mut server);
    // A blocked call notices within its liveness slice.
    let t = Instant::now();
    assert!(matches!(c.recv(None), Err(Error::Disconnected)));
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t.elapsed()
    );
    assert!(!c.is_server_alive(Duration::from_secs(10)));
    // A fill-up waits for room no longer than the slice either.
    let t = Instant::now();
    let err = loop {
        if let Err(e) = c.send(Priority::Low, &[0u8; 1000]) {
            break e;
        }
    };
    assert!(matches!(err, Error::Disconnected), "{err}");
    assert!(t.elapsed() < Duration::from_secs(2));
    // The name is stale: a new server takes it over.
    let mut again = Server::create(&name, ServerOptions::default()).unwrap();
    let mut c = Client::connect(&name, ClientOptions::default()).unwrap();
    c.send(Priority::Critical, b"hello again").unwrap();
    again.wait(Some(Duration::from_secs(5))).unwrap();
    let r = again.try_recv().unwrap().unwrap();
    assert_eq!(r.payload(), b"hello again");
}

#[test]
fn a_hostile_client_cannot_crash_the_server_or_disturb_the_others() {
    let _watchdog = watchdog::watchdog(120);
    let name = format!("rmpsc-tp-hostile-{}", std::process::id());
    let mut server = Server::create(&name, ServerOptions::default()).unwrap();
    let mut good = Client::connect(&name, ClientOptions::default()).unwrap();
    let mut hostile = spawn("hostile", &name, 0);
    let mut next = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        let m = message(next, Priority::High);
        good.send(Priority::High, &m).unwrap();
        let mut ok = 0;
        server
            .serve(1024, |r| {
                if r.client == good.id() {
                    assert_eq!(check(r.payload(), r.priority), next);
                    ok += 1;
                }
            })
            .unwrap();
        next += ok;
        if ok == 0 {
            let _ = server.wait(Some(Duration::from_millis(5)));
        }
    }
    assert!(next > 100, "the good client was served ({next})");
    let _ = hostile.wait();
    for info in server.clients() {
        assert!(info.backpressure >= 0.0 && info.backpressure <= 1.0);
    }
}

/// Two services of different users share a channel: the server admits the
/// users and groups it names, and refuses every other user at once. Needs
/// root, to start the clients as other users.
#[test]
fn a_server_admits_the_users_and_groups_it_names_and_no_other() {
    let _watchdog = watchdog::watchdog(120);
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: starting clients as other users needs root");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let name = format!("rmpsc-tp-users-{}", std::process::id());
    let options = ServerOptions {
        permissions: Permissions {
            mode: 0o660,
            group: Some(4242),
        },
        admission: Admission {
            users: vec![65534],
            groups: vec![4343],
        },
        ..ServerOptions::default()
    };
    let _server = Server::create(&name, options).unwrap();
    let connect_as = |uid: u32, gid: u32, groups: &[u32]| {
        let mut c = spawn_command("connect", &name, 0);
        let groups = groups.to_vec();
        // SAFETY: only async-signal-safe system calls between fork and exec.
        unsafe {
            c.pre_exec(move || {
                if libc::setgroups(groups.len(), groups.as_ptr()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        };
        c.status().unwrap().code()
    };
    // An allowed user in the segment's group, a member of an allowed group,
    // and a user of the segment's group the server does not name.
    assert_eq!(connect_as(65534, 65534, &[4242]), Some(0), "allowed user");
    assert_eq!(
        connect_as(5001, 5001, &[4242, 4343]),
        Some(0),
        "allowed group"
    );
    assert_eq!(connect_as(5002, 5002, &[4242]), Some(3), "other user");
    // The named segment is for inspectors: an allowed user outside its
    // group connects all the same, and no client may write it.
    assert_eq!(connect_as(65534, 65534, &[]), Some(0), "outside the group");
    let mode = std::fs::metadata(format!("/dev/shm/{name}"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
}

/// A client trusts a server of its own user, of root, or of the user it
/// names, and no other: a process of another user that holds the name is
/// refused before the client reads anything from it. Needs root, to start
/// the server as another user.
#[test]
fn a_client_refuses_a_server_of_a_user_it_does_not_trust() {
    let _watchdog = watchdog::watchdog(120);
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: starting a server as another user needs root");
        return;
    }
    use std::os::unix::process::CommandExt;
    let name = format!("rmpsc-tp-trust-{}", std::process::id());
    let mut c = spawn_command("server", &name, 0);
    // SAFETY: only async-signal-safe system calls between fork and exec.
    unsafe {
        c.pre_exec(|| {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(65534) != 0
                || libc::setuid(65534) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    let mut server = c.spawn().unwrap();
    let trusting = ClientOptions {
        server_user: Some(65534),
        ..ClientOptions::default()
    };
    let t = Instant::now();
    let client = loop {
        match Client::connect(&name, trusting) {
            Ok(c) => break c,
            Err(Error::Disconnected) if t.elapsed() < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("connect: {e}"),
        }
    };
    assert_eq!(client.server_pid(), server.id());
    match Client::connect(&name, ClientOptions::default()) {
        Err(Error::Io(e)) => assert!(e.to_string().contains("does not trust"), "{e}"),
        other => panic!("expected a refusal, got {:?}", other.map(|c| c.id())),
    }
    kill9(&mut server);
    let _ = std::fs::remove_file(format!("/dev/shm/{name}"));
}

/// A server killed with requests it never took: the client's sends fail
/// once it knows, and on reconnecting it carries every request the dead
/// server had not taken to the next server, in order, before new ones.
#[test]
fn requests_a_dead_server_never_took_go_to_the_next_one() {
    let _watchdog = watchdog::watchdog(120);
    let name = format!("rmpsc-tp-carry-{}", std::process::id());
    let took = format!("/dev/shm/{name}.took");
    let _ = std::fs::remove_file(&took);
    const TAKEN: u64 = 300;
    let mut server = spawn("server-take", &name, TAKEN);
    let mut client = loop {
        match Client::connect(&name, ClientOptions::default()) {
            Ok(c) => break c,
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let p = Priority::High;
    let mut sent = 0u64;
    while sent < 1000 {
        assert!(client.send(p, &message(sent, p)).unwrap());
        sent += 1;
    }
    while std::fs::metadata(&took).is_err() {
        std::thread::sleep(Duration::from_millis(2));
    }
    std::fs::remove_file(&took).unwrap();
    kill9(&mut server);
    // Sends go on into the dead server's ring until the client looks at
    // the socket (at least every 1024 sends); after that they fail at once.
    let mut after = 0;
    loop {
        match client.send(p, &message(sent, p)) {
            Ok(_) => {
                sent += 1;
                after += 1;
            }
            Err(Error::Disconnected) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(after <= 1024, "{after} sends after the server died");
    assert!(matches!(
        client.send(p, &message(sent, p)),
        Err(Error::Disconnected)
    ));
    let mut next = Server::create(&name, ServerOptions::default()).unwrap();
    assert_eq!(client.reconnect().unwrap() as u64, sent - TAKEN);
    assert!(client.send(p, &message(sent, p)).unwrap());
    sent += 1;
    let mut want = TAKEN;
    while want < sent {
        next.wait(Some(Duration::from_secs(5))).unwrap();
        next.serve(usize::MAX, |r| {
            assert_eq!(check(r.payload(), p), want, "carried out of order");
            want += 1;
        })
        .unwrap();
    }
    assert_eq!(client.backlog(), 0);
}
