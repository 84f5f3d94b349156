//! What the tool's tests share: temporary directories, running the
//! `ringmpsc` binary with a time limit, child processes (the test binary
//! re-executed in a role), waiting for files, and the C and Python peers
//! built by `make c` and `make python`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory named after `tag` under the system's temp dir.
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "ringmpsc-cli-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    /// A path inside it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Its path as a string.
    pub fn s(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits for `child` at most `limit`, killing it past that; `None` when killed.
pub fn wait_limited(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `ringmpsc ARGS`, at most 30 s (a hang fails the test).
pub fn tool(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringmpsc"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain the pipes on threads so a large output cannot block the tool.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let o = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).unwrap();
        v
    });
    let e = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut v).unwrap();
        v
    });
    let status = wait_limited(&mut child, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("ringmpsc {args:?} ran past 30 s"));
    Output {
        status,
        stdout: o.join().unwrap(),
        stderr: e.join().unwrap(),
    }
}

/// Runs `ringmpsc ARGS` expecting exit code 0 and JSON on stdout.
pub fn tool_json(args: &[&str]) -> serde_json::Value {
    let out = tool(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "ringmpsc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "ringmpsc {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Starts this test binary again as a child in `role`, with `envs`; it is
/// killed when the test process dies.
pub fn child(role: &str, envs: &[(&str, String)]) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("RINGMPSC_CHILD", role)
        .env("RINGMPSC_TEST_PARENT", std::process::id().to_string())
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// In a child: dies with the test process that started it.
pub fn die_with_parent() {
    let parent: i32 = std::env::var("RINGMPSC_TEST_PARENT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number; getppid cannot fail.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if parent != 0 && libc::getppid() != parent {
            libc::_exit(1);
        }
    }
}

/// An environment variable of a child's role.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

/// Waits until `cond` holds, at most `secs` seconds.
pub fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for the file `p` to exist.
pub fn wait_for(p: &Path) {
    wait_until(20, &p.display().to_string(), || p.exists());
}

/// In a child: waits for the file `p` (the parent's go-ahead).
pub fn await_file(p: &Path) {
    let end = Instant::now() + Duration::from_secs(60);
    while !p.exists() {
        assert!(Instant::now() < end, "no go-ahead {}", p.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn required() -> bool {
    std::env::var_os("RINGMPSC_REQUIRE_PEERS").is_some()
}

/// A C program built by `make c` (build/NAME); `None`, with a note, when
/// it is not built (with RINGMPSC_REQUIRE_PEERS set, `make test-cli`
/// fails instead).
pub fn c_peer(name: &str) -> Option<PathBuf> {
    let p = repo().join("build").join(name);
    if p.exists() {
        return Some(p);
    }
    assert!(!required(), "{} is not built (make c)", p.display());
    eprintln!(
        "note: {} is not built (make c): this part is skipped",
        p.display()
    );
    None
}

/// The Python of `make python`'s environment, with ringmpsc installed;
/// `None`, with a note, when there is none.
pub fn python() -> Option<PathBuf> {
    let p = repo().join("build/venv/bin/python");
    let ok = p.exists()
        && Command::new(&p)
            .args(["-c", "import ringmpsc"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if ok {
        return Some(p);
    }
    assert!(
        !required(),
        "{} with ringmpsc is missing (make python)",
        p.display()
    );
    eprintln!("note: no build/venv with ringmpsc (make python): this part is skipped");
    None
}

/// The JSON entry of `list --json` for `path`.
pub fn entry<'a>(list: &'a serde_json::Value, path: &Path) -> &'a serde_json::Value {
    list["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"].as_str() == Some(&path.display().to_string()))
        .unwrap_or_else(|| panic!("no entry for {} in {list:#}", path.display()))
}

/// Kills and reaps `c`.
pub fn kill(c: &mut Child) {
    let _ = c.kill();
    let _ = c.wait();
}
