//! The chaos run shared by the test in `make test` and the soak: a
//! writer, a pusher, a puller and a server as processes, faults inflicted
//! at random moments, then the mirror and the stream checked.

use super::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// What the chaos run does to which process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// kill -9 the pusher, start a new one.
    KillPusher,
    /// kill -9 the puller, start a new one.
    KillPuller,
    /// kill -9 the server, start it again on the same port and store.
    RestartServer,
    /// kill -9 the log's writer, start a new one (it goes on from the
    /// log's last record).
    KillWriter,
}

/// Runs the writer, pusher and puller, inflicting `faults` at random
/// moments over `spread`, and checks the mirror and the stream.
pub fn chaos(n: u64, rate: u64, max_len: u64, faults: &[Fault], spread: Duration, limit: Duration) {
    let _w = watchdog(limit + Duration::from_secs(30));
    let mut rng = Rng::from_time();
    let dir = TempDir::new("chaos");
    let (source, mirror) = (dir.path("source"), dir.path("mirror"));
    let mut server = Server::standalone(&dir, "nats", &[]);
    let url = server.url();
    let stream = "CHAOS";
    let push = || push_cmd(&source, &url, stream, &[]);
    let pull = || pull_cmd(stream, &mirror, &url, &["--batch", "500"]);
    let (plog, qlog, wlog) = (
        dir.path("push.log"),
        dir.path("pull.log"),
        dir.path("writer.log"),
    );
    let mut writer = Some(Proc::spawn(
        "writer",
        writer_cmd(&source, n, rate, max_len),
        &wlog,
    ));
    let mut pusher = Some(Proc::spawn("push", push(), &plog));
    let mut puller = Some(Proc::spawn("pull", pull(), &qlog));
    let live = tail_live(mirror.clone(), n, limit);

    let mut plan: Vec<(Duration, Fault)> = faults
        .iter()
        .map(|&f| (spread.mul_f64(rng.below(1000) as f64 / 1000.0), f))
        .collect();
    plan.sort_by_key(|p| p.0);
    let t0 = Instant::now();
    let mut counts = [0u32; 4];
    for (at, fault) in plan {
        while t0.elapsed() < at {
            check_alive(&mut pusher, &mut puller, &plog, &qlog);
            std::thread::sleep(Duration::from_millis(20));
        }
        let down = Duration::from_millis(50 + rng.below(300));
        match fault {
            Fault::KillPusher => {
                pusher.take().unwrap().kill();
                std::thread::sleep(down);
                pusher = Some(Proc::spawn("push", push(), &plog));
            }
            Fault::KillPuller => {
                puller.take().unwrap().kill();
                std::thread::sleep(down);
                puller = Some(Proc::spawn("pull", pull(), &qlog));
            }
            Fault::RestartServer => {
                server.kill();
                std::thread::sleep(down * 2);
                server.up();
            }
            Fault::KillWriter => {
                let mut w = writer.take().unwrap();
                if w.exited().is_none() {
                    w.kill();
                    std::thread::sleep(down);
                    writer = Some(Proc::spawn(
                        "writer",
                        writer_cmd(&source, n, rate, max_len),
                        &wlog,
                    ));
                } else {
                    writer = Some(w);
                }
            }
        }
        counts[fault as usize] += 1;
        eprintln!("{:>6} ms: {fault:?}", t0.elapsed().as_millis());
    }
    while !live.is_finished() {
        check_alive(&mut pusher, &mut puller, &plog, &qlog);
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = writer.take().unwrap().wait(limit);
    assert!(status.success(), "writer: {status}: {}", tail(&wlog, 2000));
    let got = live.join().unwrap();
    let elapsed = t0.elapsed();
    let outputs = format!(
        "--- push ---\n{}\n--- pull ---\n{}",
        tail(&plog, 3000),
        tail(&qlog, 3000)
    );
    assert_eq!(
        got, n,
        "the live reader of the mirror got {got} of {n} records\n{outputs}"
    );
    eprintln!(
        "{n} records mirrored in {elapsed:?} through faults {counts:?} \
         (pusher, puller, server, writer kills)"
    );
    drop(pusher);
    drop(puller);
    assert_same_log(&source, &mirror, n);
    assert_stream_exact(&url, stream, n);
    let whole = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let (pushed, pulled) = (whole(&plog), whole(&qlog));
    eprintln!(
        "the pusher started over from the stream's end {} times, the puller {} times \
         (restarts of their own not counted)",
        pushed.matches("starting over").count(),
        pulled.matches("starting over").count()
    );
    eprintln!("{outputs}");
}

/// Fails the test at once if the pusher or the puller exited: they run
/// until killed.
fn check_alive(pusher: &mut Option<Proc>, puller: &mut Option<Proc>, plog: &Path, qlog: &Path) {
    for (p, log) in [(pusher, plog), (puller, qlog)] {
        let p = p.as_mut().expect("running");
        if let Some(s) = p.exited() {
            panic!("{} exited ({s}):\n{}", p.name, tail(log, 3000));
        }
    }
}
