//! `ringmpsc-bridge`: replicates a ringmpsc log through NATS JetStream.
//!
//! ```text
//! ringmpsc-bridge push LOG --server URL --stream NAME     # on the host that writes LOG
//! ringmpsc-bridge pull --stream NAME --to LOG --server URL  # on each host that mirrors it
//! ```
//!
//! Both run until SIGINT or SIGTERM (then let what is in flight land and
//! exit 0), wait out server restarts, and exit 1 with one line on stderr
//! for what waiting cannot fix. Secrets are best given through the
//! environment (`NATS_PASSWORD`, `NATS_TOKEN`) or files (`--nkey`,
//! `--creds`): a command line is visible to every user of the machine.

use clap::{Args, Parser, Subcommand};
use ringmpsc_bridge::pull::{pull, PullConfig, PullStats};
use ringmpsc_bridge::push::{push, PushConfig, PushStats};
use ringmpsc_bridge::stream::{default_subject, StreamSpec};
use ringmpsc_bridge::ConnectConfig;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "ringmpsc-bridge",
    version,
    about = "Replicates a ringmpsc log through NATS JetStream and rebuilds it elsewhere"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Follow LOG from where its stream ends and publish every record.
    Push(PushArgs),
    /// Rebuild the log of a stream in a mirror log, through a durable consumer.
    Pull(PullArgs),
}

/// Servers, credentials and TLS.
#[derive(Args)]
struct Connection {
    /// Server URL(s), comma-separated or repeated (nats://, tls://).
    #[arg(
        long = "server",
        short = 's',
        env = "NATS_URL",
        value_delimiter = ',',
        default_value = "nats://127.0.0.1:4222"
    )]
    servers: Vec<String>,
    /// User name (with a password).
    #[arg(long, env = "NATS_USER")]
    user: Option<String>,
    /// Password (better: the NATS_PASSWORD environment variable).
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Authentication token (better: the NATS_TOKEN environment variable).
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// File holding an NKey seed.
    #[arg(long, value_name = "FILE")]
    nkey: Option<PathBuf>,
    /// Credentials file (user JWT and NKey seed).
    #[arg(long, value_name = "FILE")]
    creds: Option<PathBuf>,
    /// PEM file of the CAs that sign the server's certificate (requires TLS).
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// PEM client certificate, with --tls-key (requires TLS).
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM key of --tls-cert.
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Refuse a connection without TLS.
    #[arg(long)]
    tls_required: bool,
}

impl Connection {
    fn config(self, name: &str) -> ConnectConfig {
        ConnectConfig {
            servers: self.servers,
            user: self.user,
            password: self.password,
            token: self.token,
            nkey_file: self.nkey,
            creds_file: self.creds,
            tls_ca: self.tls_ca,
            tls_cert: self.tls_cert,
            tls_key: self.tls_key,
            tls_required: self.tls_required,
            name: name.into(),
        }
    }
}

#[derive(Args)]
struct PushArgs {
    /// The log to publish.
    log: PathBuf,
    /// Stream name (made if missing: one stream per log).
    #[arg(long)]
    stream: String,
    /// The stream's subject (default rmpsc.STREAM).
    #[arg(long)]
    subject: Option<String>,
    /// Replicas of a stream made here (3 in a three-node cluster).
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Seconds the stream remembers a message id to drop a replay.
    #[arg(long, default_value_t = 120)]
    duplicate_window: u64,
    /// Publishes awaiting acknowledgement at most.
    #[arg(long, default_value_t = 4096)]
    max_in_flight: usize,
    /// Identity (16 hex digits) for a log made before format version 3.
    #[arg(long, value_parser = parse_hex)]
    log_id: Option<u64>,
    /// Exit once the log's writer closed it and all of it is in the stream.
    #[arg(long)]
    exit_when_closed: bool,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Args)]
struct PullArgs {
    /// Stream name.
    #[arg(long)]
    stream: String,
    /// The mirror log (made if missing).
    #[arg(long = "to", value_name = "LOG")]
    to: PathBuf,
    /// Durable consumer name: one per mirror.
    #[arg(long, default_value = "ringmpsc-mirror")]
    durable: String,
    /// The stream's subject (default: its one subject).
    #[arg(long)]
    subject: Option<String>,
    /// Records appended, flushed and acknowledged together at most.
    #[arg(long, default_value_t = 1024)]
    batch: usize,
    /// Exit once the mirror holds this index.
    #[arg(long)]
    until_index: Option<u64>,
    /// Region size of a new mirror, bytes.
    #[arg(long)]
    region_size: Option<u64>,
    /// File size of a new mirror, bytes.
    #[arg(long)]
    file_size: Option<u64>,
    /// Largest payload of a new mirror, bytes (at least the source's).
    #[arg(long)]
    mtu: Option<u32>,
    /// Keep only this many files of the mirror.
    #[arg(long)]
    retention: Option<u64>,
    #[command(flatten)]
    connection: Connection,
}

fn parse_hex(s: &str) -> Result<u64, String> {
    match u64::from_str_radix(s.trim_start_matches("0x"), 16) {
        Ok(0) => Err("0 means no identity".into()),
        Ok(id) => Ok(id),
        Err(e) => Err(format!("{s:?} is not a hexadecimal identity: {e}")),
    }
}

/// Completes at the first SIGINT or SIGTERM.
async fn signalled() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn run_push(a: PushArgs) -> Result<PushStats, ringmpsc_bridge::Error> {
    let subject = a.subject.unwrap_or_else(|| default_subject(&a.stream));
    let connection = a.connection.config("ringmpsc-bridge push");
    eprintln!(
        "push: {} -> stream {} ({subject}) on {}",
        a.log.display(),
        a.stream,
        connection.describe()
    );
    let client = connection.connect("push").await?;
    let cfg = PushConfig {
        log: a.log,
        stream: StreamSpec {
            name: a.stream,
            subject,
            replicas: a.replicas,
            duplicate_window: Duration::from_secs(a.duplicate_window),
        },
        max_in_flight: a.max_in_flight.max(1),
        log_id: a.log_id,
        stop_when_closed: a.exit_when_closed,
    };
    let stats = push(client.clone(), &cfg, signalled()).await;
    let _ = client.flush().await;
    stats
}

async fn run_pull(a: PullArgs) -> Result<PullStats, ringmpsc_bridge::Error> {
    let connection = a.connection.config("ringmpsc-bridge pull");
    eprintln!(
        "pull: stream {} -> {} (consumer {}) on {}",
        a.stream,
        a.to.display(),
        a.durable,
        connection.describe()
    );
    let client = connection.connect("pull").await?;
    let cfg = PullConfig {
        stream: a.stream,
        subject: a.subject,
        durable: a.durable,
        mirror: a.to,
        region_size: a.region_size,
        file_size: a.file_size,
        mtu: a.mtu,
        retention: a.retention,
        batch: a.batch.max(1),
        until_index: a.until_index,
    };
    let stats = pull(client.clone(), &cfg, signalled()).await;
    let _ = client.flush().await;
    stats
}

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Push(a) => run_push(a).await.map(|s| {
            format!(
                "push: {} records stored, {} already there, {} restarts from the stream's end; next index {}",
                s.published, s.duplicates, s.resyncs, s.next_index
            )
        }),
        Command::Pull(a) => run_pull(a).await.map(|s| {
            format!(
                "pull: {} records appended, {} already there, consumer moved {} times; next index {}",
                s.appended, s.skipped, s.repositioned, s.next_index
            )
        }),
    };
    match outcome {
        Ok(summary) => {
            eprintln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ringmpsc-bridge: error: {e}");
            ExitCode::FAILURE
        }
    }
}
