//! The command line: global options and one subcommand.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// See, follow, measure and clean the rings, logs and channels of this
/// machine. Reads only: segments and logs are mapped read-only; `clean`
/// removes the names of stale segments and nothing else.
#[derive(Debug, Parser)]
#[command(name = "ringmpsc", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 done; 1 what was named cannot be read or is damaged, \
or the command failed; 2 usage error; 3 nothing by that name; 4 clean could not remove a stale segment."
)]
pub struct Cli {
    /// Options of every command.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options of every command.
#[derive(Debug, Args)]
pub struct Global {
    /// Directory of named segments (repeatable); bare names are looked up
    /// in the first.
    #[arg(long = "dir", global = true, value_name = "DIR", env = "RINGMPSC_DIR")]
    pub dirs: Vec<PathBuf>,
    /// Print JSON (one document, or one per line for streams).
    #[arg(long, global = true)]
    pub json: bool,
}

impl Global {
    /// The segment directories: `--dir` values, or `/dev/shm`.
    pub fn dirs(&self) -> Vec<PathBuf> {
        if self.dirs.is_empty() {
            vec![PathBuf::from(ringcore::inspect::DEFAULT_DIR)]
        } else {
            self.dirs.clone()
        }
    }

    /// Where bare names are looked up.
    pub fn dir(&self) -> PathBuf {
        self.dirs().swap_remove(0)
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every segment in the segment directories and every log under PATHs:
    /// kind, size, version, owner and mode, pids and liveness, stale or not.
    List(ListArgs),
    /// One segment or log: capacity, fill, positions, pids, heartbeats,
    /// rates; a transport's client table; a log's files and indices.
    Stat(StatArgs),
    /// The records of a log, or those waiting in a ring (without consuming them).
    Dump(DumpArgs),
    /// The message rate of a ring, transport or log: mean, min, max, spread.
    Hz(HzArgs),
    /// Remove the segments whose creator and every side are dead.
    Clean(CleanArgs),
    /// The same figures for Prometheus, over HTTP or once on stdout.
    Export(ExportArgs),
    /// The core-to-core floor: a bare atomic ping-pong between two pinned
    /// threads (print it beside any latency measured on this machine).
    Probe(ProbeArgs),
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Logs, segment files or more directories to look at.
    pub paths: Vec<PathBuf>,
    /// Also show files that are not ringmpsc segments or logs.
    #[arg(long)]
    pub all: bool,
}

/// `stat`.
#[derive(Debug, Args)]
pub struct StatArgs {
    /// A segment name (under the segment directory), or a path to a
    /// segment or log.
    pub name: String,
    /// Redraw every interval, like `top` (Ctrl-C ends it).
    #[arg(long, short)]
    pub watch: bool,
    /// Seconds between the samples rates are computed over (0: no rates).
    #[arg(long, short, default_value_t = 1.0, value_name = "SECS")]
    pub interval: f64,
    /// With --watch, stop after this many frames.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
}

/// How `dump` prints records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DumpFormat {
    /// One line a record, the payload as escaped text.
    Text,
    /// A header line a record, then the payload as a hex dump.
    Hex,
    /// One JSON object a line.
    Json,
}

/// `dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// A log's path, or a ring's name or path.
    pub name: String,
    /// Start at this record index (logs).
    #[arg(long, value_name = "INDEX")]
    pub from: Option<u64>,
    /// Keep printing new records until the writer closes or dies.
    #[arg(long, short)]
    pub follow: bool,
    /// Output format (--json is --format json).
    #[arg(long, value_enum, default_value_t = DumpFormat::Text)]
    pub format: DumpFormat,
    /// Stop after this many records.
    #[arg(long, short = 'n', value_name = "N")]
    pub limit: Option<u64>,
    /// Payload bytes shown a record in text format (0: all).
    #[arg(long, default_value_t = 64, value_name = "BYTES")]
    pub max_payload: usize,
    /// Milliseconds between polls with --follow.
    #[arg(long, default_value_t = 10, value_name = "MS")]
    pub poll_ms: u64,
}

/// `hz`.
#[derive(Debug, Args)]
pub struct HzArgs {
    /// A ring's or transport's name or path, or a log's path.
    pub name: String,
    /// Seconds to measure over.
    #[arg(long, short, default_value_t = 5.0, value_name = "SECS")]
    pub window: f64,
    /// Seconds between samples (each gives one rate).
    #[arg(long, short, default_value_t = 0.1, value_name = "SECS")]
    pub sample: f64,
}

/// `probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The two CPUs to pin the threads to.
    #[arg(long, value_delimiter = ',', default_values_t = [0, 1], value_name = "A,B")]
    pub cpus: Vec<usize>,
    /// Round trips to time.
    #[arg(long, short = 'n', default_value_t = 100_000)]
    pub round_trips: usize,
}

/// `clean`.
#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Only say what would be removed.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
}

/// `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Serve GET /metrics on this address (e.g. 127.0.0.1:9187; port 0
    /// picks one, printed on stderr).
    #[arg(long, value_name = "ADDR", required_unless_present = "once")]
    pub listen: Option<std::net::SocketAddr>,
    /// Print the metrics once on stdout and exit (for a textfile collector).
    #[arg(long, conflicts_with = "listen")]
    pub once: bool,
    /// Logs (or more directories) to export too.
    pub paths: Vec<PathBuf>,
}
