//! The log across real processes: this binary re-executes itself as the
//! child (`LOG_CHILD` names the role). Writers are killed with SIGKILL at
//! pseudo-random points and the log is reopened after each; several reader
//! processes replay and tail the same log at once.

use ringcore::log::{From, Reader, WriterBuilder};
use ringcore::Error;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[path = "support/shared.rs"]
mod shared;
#[path = "support/watchdog.rs"]
mod watchdog;

/// FNV-1a: the checksum every record carries as its type.
fn checksum(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

/// Record `seq`: the sequence number, then 0..=1500 bytes derived from it.
fn message(seq: u64) -> Vec<u8> {
    let len = ((seq.wrapping_mul(2_654_435_761) >> 7) % 1501) as usize;
    let mut m = seq.to_le_bytes().to_vec();
    m.extend((0..len).map(|i| (i as u64 ^ seq) as u8));
    m
}

fn builder(path: &Path) -> WriterBuilder {
    // Small regions and files: every run crosses many of both.
    WriterBuilder::new(path)
        .region_size(16 << 10)
        .file_roll_size(128 << 10)
}

fn child(role: &str, path: &Path, extra: &[(&str, String)]) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("LOG_CHILD", role)
        .envs([watchdog::parent_env()])
        .env("LOG_PATH", path);
    for (k, v) in extra {
        c.env(k, v);
    }
    c
}

/// The child side; a no-op when run as a normal test.
#[test]
fn child_entry() {
    let (Ok(role), Ok(path)) = (std::env::var("LOG_CHILD"), std::env::var("LOG_PATH")) else {
        return;
    };
    watchdog::die_with_parent();
    let path = PathBuf::from(path);
    match role.as_str() {
        // Appends forever (until killed) from where the log ends, half the
        // records through append, half written in place.
        "writer" => {
            let counter = shared::shared_counter(Path::new(&std::env::var("LOG_COUNTER").unwrap()));
            let mut w = builder(&path).build().unwrap();
            loop {
                let seq = w.next_index();
                let m = message(seq);
                if seq % 2 == 0 {
                    w.append_at(checksum(&m), &m, seq).unwrap();
                } else {
                    w.try_reserve(m.len()).unwrap().copy_from_slice(&m);
                    w.commit(checksum(&m), m.len(), seq).unwrap();
                }
                counter.store(seq + 1, Ordering::Release);
            }
        }
        // Appends COUNT records and exits cleanly.
        "writer-n" => {
            let n: u64 = std::env::var("LOG_COUNT").unwrap().parse().unwrap();
            let mut w = builder(&path).build().unwrap();
            for seq in 0..n {
                let m = message(seq);
                w.append_at(checksum(&m), &m, seq).unwrap();
            }
            w.close().unwrap();
        }
        // Reads until the writer closes the log; prints what it saw.
        "reader" => {
            let from = match std::env::var("LOG_FROM").unwrap().as_str() {
                "start" => From::Start,
                _ => From::Live,
            };
            let mut r = Reader::open(&path, from).unwrap();
            println!("READY");
            let (mut first, mut count, mut hash) = (None, 0u64, 0u64);
            loop {
                match r.read(Some(Duration::from_secs(30))) {
                    Ok(m) => {
                        assert_eq!(m.index, m.timestamp);
                        assert_eq!(m.payload, &message(m.index)[..], "record {}", m.index);
                        assert_eq!(checksum(m.payload), m.msg_type);
                        let f = *first.get_or_insert(m.index);
                        assert_eq!(m.index, f + count, "records in order, none missing");
                        count += 1;
                        hash = hash.rotate_left(5) ^ m.msg_type as u64;
                    }
                    Err(Error::Closed) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            println!("SEEN {} {count} {hash}", first.unwrap_or(0));
        }
        // Appends; forks a child that tries to append through its copy of
        // the writer and drops it; appends again; forks a child that keeps
        // its copy (as one that never runs its parent's destructors does)
        // for 30 s at most; then waits to be killed.
        "writer-forks" => {
            // A log that exists, so that the writer opens its newest file
            // (and locks it then), with the prefault thread, rolled once
            // (the next file made and locked by the writer).
            let mut first = builder(&path).build().unwrap();
            first.append(0, b"made").unwrap();
            first.close().unwrap();
            let mut w = builder(&path).prefault(true).build().unwrap();
            w.append(1, b"before the fork").unwrap();
            w.roll().unwrap();
            // SAFETY: the child only calls its copy of the writer and ends
            // without running exit handlers.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // SAFETY: alarm takes a count of seconds: a hung child ends.
                unsafe { libc::alarm(10) };
                let refused = matches!(
                    w.append(2, b"from the child"),
                    Err(Error::InvalidArgument(_))
                );
                drop(w);
                // SAFETY: ends the forked child.
                unsafe { libc::_exit(if refused { 0 } else { 3 }) };
            }
            let mut status = 0;
            // SAFETY: waits for our own child.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            let refused = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
            println!("CHILD {}", if refused { "refused" } else { "wrote" });
            w.append(3, b"after the fork").unwrap();
            // SAFETY: the child only sleeps and ends.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                std::thread::sleep(Duration::from_secs(30));
                // SAFETY: ends the forked child.
                unsafe { libc::_exit(0) };
            }
            println!("FORKED {pid}");
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        // A thread rolls a writer on and on (opening and closing its files)
        // while this one forks children that look for the log among their
        // descriptors and mappings; prints how many found it.
        "forks-while-rolling" => {
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let rolling = {
                let (stop, path) = (stop.clone(), path.clone());
                std::thread::spawn(move || {
                    let mut w = builder(&path).retention(2).build().unwrap();
                    while !stop.load(Ordering::Relaxed) {
                        w.append(1, b"x").unwrap();
                        w.roll().unwrap();
                    }
                })
            };
            let found: u32 = (0..300).map(|_| u32::from(child_finds(&path))).sum();
            stop.store(true, Ordering::Relaxed);
            rolling.join().unwrap();
            println!("FOUND {found}");
        }
        // Writers of 200 logs at once, each holding two registered files
        // (its lock and its data file), then a forked child that looks for
        // them; prints whether it found any.
        "many-writers-fork" => {
            let dir = path.parent().unwrap();
            let writers: Vec<_> = (0..200)
                .map(|i| builder(&dir.join(format!("log-{i}"))).build().unwrap())
                .collect();
            let found = child_finds(&path);
            drop(writers);
            println!("FOUND {}", u32::from(found));
        }
        other => panic!("unknown child role {other}"),
    }
}

/// Forks a child that looks for the files of the directory of `path` among
/// its descriptors and mappings (a listing of the directory itself holds
/// no lock); whether it found one.
fn child_finds(path: &Path) -> bool {
    let inside = format!("{}/", path.parent().unwrap().display());
    // SAFETY: the child only reads /proc and ends without running exit
    // handlers.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: alarm takes a count of seconds: a hung child ends.
        unsafe { libc::alarm(10) };
        let fds = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .any(|l| l.to_string_lossy().contains(&inside));
        let maps = std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .contains(&inside);
        // SAFETY: ends the forked child.
        unsafe { libc::_exit(i32::from(fds || maps)) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "a child died ({status:#x})");
    libc::WEXITSTATUS(status) != 0
}

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("rmpsc-logp-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn kill9(child: &mut Child) {
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
}

/// Checks every record of the log; returns how many there are.
fn verify(path: &Path) -> u64 {
    let mut r = Reader::open(path, From::Start).unwrap();
    let mut n = 0u64;
    while let Some(m) = r.try_read().unwrap() {
        assert_eq!(m.index, n);
        assert_eq!(checksum(m.payload), m.msg_type, "torn record {n}");
        assert_eq!(m.payload, &message(n)[..], "record {n}");
        n += 1;
    }
    n
}

#[test]
fn a_writer_killed_anywhere_loses_nothing_it_committed() {
    let _watchdog = watchdog::watchdog(120);
    let d = TempDir::new("kill");
    let path = d.0.join("log");
    let counter_path = d.0.join("counter");
    let counter = shared::shared_counter(&counter_path);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut total = 0;
    for round in 0..8 {
        let mut c = child(
            "writer",
            &path,
            &[("LOG_COUNTER", counter_path.display().to_string())],
        )
        .spawn()
        .unwrap();
        let before = counter.load(Ordering::Acquire);
        let started = Instant::now();
        // Let it write (at least one record), then kill it at a random moment.
        while counter.load(Ordering::Acquire) == before {
            assert!(started.elapsed() < Duration::from_secs(20), "writer stuck");
            std::thread::sleep(Duration::from_millis(1));
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(seed % 40_000));
        kill9(&mut c);
        let committed = counter.load(Ordering::Acquire);
        let n = verify(&path);
        // Every committed record is there; at most the one being committed
        // when the kill came (after its commit, before the counter) is extra.
        assert!(
            n == committed || n == committed + 1,
            "round {round}: {n} records, {committed} committed"
        );
        assert!(
            n > total,
            "round {round}: the writer resumed after the last record"
        );
        total = n;
    }
    // A clean writer reopens it once more and appends after everything.
    let mut w = builder(&path).build().unwrap();
    assert_eq!(w.next_index(), total);
    let m = message(total);
    w.append_at(checksum(&m), &m, total).unwrap();
    w.close().unwrap();
    assert_eq!(verify(&path), total + 1);
}

#[test]
fn four_reader_processes_see_the_same_order_from_start_and_live() {
    let _watchdog = watchdog::watchdog(120);
    let d = TempDir::new("readers");
    let path = d.0.join("log");
    let mut w = builder(&path).build().unwrap();
    let append = |w: &mut ringcore::log::Writer, seq: u64| {
        let m = message(seq);
        w.append_at(checksum(&m), &m, seq).unwrap();
    };
    for seq in 0..2000 {
        append(&mut w, seq);
    }
    let spawn_reader = |from: &str| {
        let mut c = child("reader", &path, &[("LOG_FROM", from.to_string())])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for READY so a live reader has joined before we go on.
        use std::io::BufRead;
        let mut out = std::io::BufReader::new(c.stdout.take().unwrap());
        let mut line = String::new();
        // (libtest may have printed "test child_entry ... " on the same line.)
        while !line.trim_end().ends_with("READY") {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "reader exited early");
        }
        (c, out)
    };
    let mut readers = vec![spawn_reader("start"), spawn_reader("start")];
    for seq in 2000..20_000 {
        append(&mut w, seq);
        if seq == 5000 || seq == 12_000 {
            readers.push(spawn_reader("live"));
        }
    }
    let total = 20_000u64;
    w.close().unwrap();
    let mut seen = Vec::new();
    for (mut c, mut out) in readers {
        use std::io::Read;
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        assert!(c.wait().unwrap().success(), "reader failed: {s}");
        let line = &s[s.find("SEEN ").expect("the reader's summary")..];
        let f: Vec<u64> = line
            .lines()
            .next()
            .unwrap()
            .split(' ')
            .skip(1)
            .map(|x| x.parse().unwrap())
            .collect();
        seen.push((f[0], f[1], f[2]));
    }
    // Replaying readers saw everything; live readers a suffix starting at
    // (or after) the point they joined, and all end at the same record.
    for &(first, count, _) in &seen {
        assert_eq!(first + count, total);
    }
    assert_eq!(seen[0], (0, total, seen[0].2));
    assert_eq!(seen[0], seen[1]);
    assert!(seen[2].0 >= 5000 && seen[2].0 <= 5001, "{:?}", seen[2]);
    assert!(seen[3].0 >= 12_000 && seen[3].0 <= 12_001, "{:?}", seen[3]);
}

#[test]
fn a_log_is_replayed_after_its_writer_exited() {
    let _watchdog = watchdog::watchdog(120);
    let d = TempDir::new("replay");
    let path = d.0.join("log");
    let status = child("writer-n", &path, &[("LOG_COUNT", "5000".into())])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(verify(&path), 5000);
    assert!(ringcore::log::list_files(&path).unwrap().len() > 3);
}

/// A log writer's process forks children (no `exec`): one could not write
/// through its copy of the writer, and dropping that copy did not close the
/// log; the writer is killed while another lives on with its copy, and a
/// new writer takes over at once (the child holds none of the locks).
#[test]
fn a_forked_child_neither_writes_through_nor_keeps_its_parents_writer() {
    use std::io::BufRead;
    let _watchdog = watchdog::watchdog(60);
    let d = TempDir::new("fork");
    let path = d.0.join("log");
    let mut c = child("writer-forks", &path, &[])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(c.stdout.take().unwrap()).lines();
    let (mut forked, mut refused) = (None, None);
    while forked.is_none() || refused.is_none() {
        // The test harness's own words may start a line.
        let line = lines.next().expect("the writer's output").unwrap();
        if let Some((_, pid)) = line.split_once("FORKED ") {
            forked = Some(pid.parse::<i32>().unwrap());
        } else if let Some((_, what)) = line.split_once("CHILD ") {
            refused = Some(what == "refused");
        }
    }
    struct KillOnDrop(i32);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            // SAFETY: plain kill(2) of the forked child (reaped by init
            // once its parent is gone).
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
    let _forked = KillOnDrop(forked.unwrap());

    assert_eq!(
        refused,
        Some(true),
        "the child wrote through its parent's writer"
    );
    let r = Reader::open(&path, From::Start).unwrap();
    assert_eq!(
        r.writer_status(),
        ringcore::log::WriterStatus::Active,
        "the child's drop of its copy closed the log"
    );
    kill9(&mut c);
    assert_eq!(r.writer_status(), ringcore::log::WriterStatus::Dead);
    let mut w = builder(&path)
        .build()
        .expect("a new writer while the dead writer's child lives");
    w.append(4, b"new writer").unwrap();
    drop(r);
    let mut r = Reader::open(&path, From::Start).unwrap();
    let mut seen = Vec::new();
    while let Some(m) = r.try_read().unwrap() {
        seen.push(m.payload.to_vec());
    }
    assert_eq!(
        seen,
        [
            &b"made"[..],
            b"before the fork",
            b"after the fork",
            b"new writer"
        ],
        "the records of the log"
    );
}

/// Children forked at any moment while a writer opens, rolls and closes its
/// files (from another thread) never hold one of them: the writer's
/// opening and registering of a file, and its releasing and closing, keep
/// forks out.
#[test]
fn a_child_forked_while_the_writer_rolls_holds_none_of_its_files() {
    let text = forking_role_output("forks-while-rolling");
    assert!(
        text.contains("FOUND 0\n"),
        "children held the writer's files: {text}"
    );
}

/// The output of a role that forks children to look for log files, run in
/// a directory of its own; it must succeed.
fn forking_role_output(role: &str) -> String {
    let _watchdog = watchdog::watchdog(120);
    let d = TempDir::new(role);
    let out = child(role, &d.0.join("log"), &[]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// A child forked beside the writers of many logs holds none of their
/// files: more than a registry of 256 files would have kept from it.
#[test]
fn a_child_forked_beside_the_writers_of_many_logs_holds_none_of_their_files() {
    let text = forking_role_output("many-writers-fork");
    assert!(
        text.contains("FOUND 0\n"),
        "the child held the writers' files: {text}"
    );
}
