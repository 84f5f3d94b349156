//! The tool in a real terminal (tmux on a private socket, every tmux call
//! under a hard time limit): `stat --watch` redraws one frame in place and
//! stops on Ctrl-C; `dump --follow` prints records as a live writer
//! commits them and stops when it closes the log.

mod support;

use ringcore::log::WriterBuilder;
use ringcore::msg::MessageRing;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use support::*;

/// The child side; a no-op when run as a normal test.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var("RINGMPSC_CHILD") else {
        return;
    };
    die_with_parent();
    let path = env("RINGMPSC_PATH");
    let ready = PathBuf::from(env("RINGMPSC_READY"));
    let go = PathBuf::from(env("RINGMPSC_GO"));
    match role.as_str() {
        // A message every 5 ms until the go-ahead.
        "ticker" => {
            let ring = MessageRing::create(Some(&path), 16).unwrap();
            let mut tx = ring.sender().unwrap();
            std::fs::write(&ready, b"").unwrap();
            let mut i = 0u64;
            while !go.exists() {
                let _ = tx.send(1, &i.to_le_bytes());
                i += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        // Makes a log, then after the go-ahead writes 20 records 100 ms
        // apart and closes it.
        "slow-log" => {
            let mut w = WriterBuilder::new(&path).build().unwrap();
            std::fs::write(&ready, b"").unwrap();
            await_file(&go);
            for i in 0..20u64 {
                w.append_at(5, format!("tick {i}").as_bytes(), i).unwrap();
                std::thread::sleep(Duration::from_millis(100));
            }
            w.close().unwrap();
        }
        other => panic!("unknown role {other}"),
    }
}

/// A tmux server of this test alone; killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// `None`, with a note, where tmux is not installed.
    fn start(tag: &str, cmd: &str) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            assert!(
                std::env::var_os("RINGMPSC_REQUIRE_PEERS").is_none(),
                "tmux is not installed"
            );
            eprintln!("note: tmux is not installed: the terminal test is skipped");
            return None;
        }
        let t = Tmux {
            socket: format!("ringmpsc-test-{tag}-{}", std::process::id()),
        };
        // The command's exit code stays on screen after it ends; the shell
        // outlives a Ctrl-C (its trap is reset to the default in the
        // command, which a Ctrl-C ends).
        let shell = format!("trap : INT; {cmd}; echo EXIT:$?; sleep 60");
        t.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "160",
            "-y",
            "50",
            &shell,
        ]);
        Some(t)
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("timeout")
            .args(["10", "tmux", "-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    /// Waits until the screen satisfies `cond` (at most 20 s); returns it.
    fn wait(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let mut s = String::new();
        wait_until(20, what, || {
            s = self.screen();
            cond(&s)
        });
        s
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("timeout")
            .args(["10", "tmux", "-L", &self.socket, "kill-server"])
            .output();
    }
}

fn envs(dir: &TempDir, path: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("RINGMPSC_PATH", path.display().to_string()),
        ("RINGMPSC_READY", dir.join("ready").display().to_string()),
        ("RINGMPSC_GO", dir.join("go").display().to_string()),
    ]
}

/// The tail shown on a `stat` screen.
fn tail_on(screen: &str) -> u64 {
    let line = screen
        .lines()
        .find(|l| l.trim_start().starts_with("positions"))
        .unwrap();
    line.split("tail ")
        .nth(1)
        .unwrap()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn stat_watch_redraws_in_place_until_interrupted() {
    let dir = TempDir::new("watch");
    let path = dir.join("ring");
    let mut ticker = child("ticker", &envs(&dir, &path));
    wait_for(&dir.join("ready"));
    let cmd = format!(
        "{} stat --watch --interval 0.2 {}",
        env!("CARGO_BIN_EXE_ringmpsc"),
        path.display()
    );
    let Some(t) = Tmux::start("watch", &cmd) else {
        kill(&mut ticker);
        return;
    };
    let first = t.wait("a first frame", |s| s.contains("positions"));
    let later = t.wait("a later frame", |s| {
        s.contains("positions") && tail_on(s) > tail_on(&first)
    });
    for s in [&first, &later] {
        // One frame on screen, redrawn in place: never two.
        assert_eq!(s.matches("message_ring ").count(), 1, "{s}");
        assert!(
            s.contains("producer") && s.contains("msg/s") && s.contains("Ctrl-C"),
            "{s}"
        );
    }
    t.run(&["send-keys", "-t", "t", "C-c"]);
    let end = t.wait("the exit after Ctrl-C", |s| s.contains("EXIT:"));
    assert!(end.contains("EXIT:130"), "{end}");
    std::fs::write(dir.join("go"), b"").unwrap();
    assert!(ticker.wait().unwrap().success());
}

#[test]
fn dump_follow_tails_a_live_log_until_it_is_closed() {
    let dir = TempDir::new("follow");
    let path = dir.join("log");
    let mut writer = child("slow-log", &envs(&dir, &path));
    wait_for(&dir.join("ready"));
    let cmd = format!(
        "{} dump --follow {}",
        env!("CARGO_BIN_EXE_ringmpsc"),
        path.display()
    );
    let Some(t) = Tmux::start("follow", &cmd) else {
        kill(&mut writer);
        return;
    };
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(dir.join("go"), b"").unwrap();
    let early = t.wait("the first records", |s| s.contains("#0 "));
    let records = |s: &str| s.lines().filter(|l| l.starts_with('#')).count();
    assert!(
        records(&early) < 20,
        "the records came all at once: {early}"
    );
    assert!(!early.contains("EXIT:"), "{early}");
    let end = t.wait("the end of the log", |s| s.contains("EXIT:"));
    assert_eq!(records(&end), 20, "{end}");
    assert!(
        end.contains("#19 file 0") && end.contains("\"tick 19\""),
        "{end}"
    );
    assert!(end.contains("the writer closed the log"), "{end}");
    assert!(end.contains("EXIT:0"), "{end}");
    assert!(writer.wait().unwrap().success());
}
