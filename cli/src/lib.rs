//! The `ringmpsc` command: see, follow, measure and clean every ring, log
//! and channel on a machine, reading only.
//!
//! Each command is a module with a function that gathers plain data from
//! [`ringcore::inspect`] (which does all the reading, read-only) and one
//! that renders it as text or JSON. [`run`] is the whole tool: the
//! `ringmpsc` binary and the Python package's `ringmpsc` console script
//! both call it.
//!
//! Exit codes ([`exit`]): 0 done; 1 what was named cannot be read or is
//! damaged, or the command failed; 2 usage error; 3 nothing by that name;
//! 4 `clean` could not remove a stale segment.

mod args;
mod clean;
mod dump;
mod error;
mod export;
mod format;
mod hz;
mod list;
mod probe;
mod stat;

pub use args::Cli;
pub use error::CliError;

use clap::Parser;
use std::ffi::OsString;
use std::io::Write;

/// The exit codes of the tool.
pub mod exit {
    /// Done.
    pub const OK: i32 = 0;
    /// What was named cannot be read or is damaged, or the command failed.
    pub const FAILED: i32 = 1;
    /// A usage error (unknown option, bad value).
    pub const USAGE: i32 = 2;
    /// No segment or log by that name.
    pub const NOT_FOUND: i32 = 3;
    /// `clean` found a stale segment it could not remove.
    pub const CLEAN_FAILED: i32 = 4;
}

/// Runs the tool with `args` (the program name first, as `std::env::args`
/// gives them), writing to stdout and stderr; returns the exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let r = dispatch(cli, &mut out).and_then(|code| {
        out.flush()?;
        Ok(code)
    });
    match r {
        Ok(code) => code,
        // The reader went away (`ringmpsc list | head`): not an error.
        Err(e) if e.is_broken_pipe() => exit::OK,
        Err(e) => {
            let _ = out.flush();
            eprintln!("ringmpsc: {}", format::text(&e.to_string()));
            e.code()
        }
    }
}

fn dispatch(cli: Cli, out: &mut dyn Write) -> Result<i32, CliError> {
    use args::Command;
    let g = &cli.global;
    match &cli.command {
        Command::List(a) => list::run(g, a, out),
        Command::Stat(a) => stat::run(g, a, out),
        Command::Dump(a) => dump::run(g, a, out),
        Command::Hz(a) => hz::run(g, a, out),
        Command::Clean(a) => clean::run(g, a, out),
        Command::Export(a) => export::run(g, a, out),
        Command::Probe(a) => probe::run(g, a, out),
    }
}
