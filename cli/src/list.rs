//! `ringmpsc list`: every segment in the segment directories and every log
//! under the given paths, one line each.

use crate::args::{Global, ListArgs};
use crate::format;
use crate::CliError;
use ringcore::inspect::{scan, Entry, EntryKind};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// What `list --json` prints.
#[derive(Debug, Serialize)]
pub struct ListOutput {
    /// The segment directories scanned.
    pub dirs: Vec<PathBuf>,
    /// Every entry: segments, logs, and files that are neither.
    pub entries: Vec<Entry>,
}

/// Scans `dirs` and `paths`.
pub fn collect(dirs: Vec<PathBuf>, paths: &[PathBuf]) -> ListOutput {
    let entries = scan(&dirs, paths);
    ListOutput { dirs, entries }
}

/// The cells of one entry: kind, name, size, mode, owner, version, creator,
/// producer (or server, or writer), consumer (or clients), state.
fn row(e: &Entry, dirs: &[PathBuf]) -> Vec<String> {
    let in_dir = e.path.parent().is_some_and(|p| dirs.iter().any(|d| d == p));
    let name = if in_dir {
        format::text(&e.name)
    } else {
        format::name(&e.path)
    };
    let (size, mode, owner) = match &e.file {
        Some(f) => (
            format::bytes(f.size),
            format!("{:04o}", f.mode),
            format!("{}:{}", f.uid, f.gid),
        ),
        None => ("-".into(), "-".into(), "-".into()),
    };
    let mut cells = vec![e.kind.as_str().to_string(), name, size, mode, owner];
    if let Some(s) = &e.segment {
        cells.push(s.version.to_string());
        cells.push(format::process(&s.creator));
        match &s.transport {
            Some(t) => {
                cells.push(format!(
                    "server {}",
                    format::side(&ringcore::shm::inspect::Side {
                        pid: t.server.pid,
                        alive: t.server.alive,
                        heartbeat_age_s: t.server.heartbeat_age_s,
                    })
                ));
                cells.push(format!("{} clients", t.clients.len()));
            }
            None => {
                cells.push(format::side(&s.producer));
                cells.push(format::side(&s.consumer));
            }
        }
        let mut state = if s.stale { "stale" } else { "live" }.to_string();
        if let Some(r) = &s.ring {
            state.push_str(&format!(", fill {:.0}%", r.fill_ratio * 100.0));
        }
        if let Some(p) = &s.pool {
            state.push_str(&format!(", {}/{} slabs in use", p.allocated, p.slabs));
        }
        cells.push(state);
    } else if let Some(l) = &e.log {
        cells.push(l.version.to_string());
        cells.push("-".into());
        cells.push(format!("writer {}", format::process(&l.writer.process)));
        cells.push("-".into());
        cells.push(format!(
            "{}, {} records, {} files",
            l.writer.status,
            l.records,
            l.files.len()
        ));
    } else {
        cells.extend(["-", "-", "-", "-"].map(String::from));
        cells.push("error".into());
    }
    cells
}

/// Prints `o` as a table, then the entries' errors.
pub fn render(o: &ListOutput, all: bool, w: &mut dyn Write) -> Result<(), CliError> {
    let shown: Vec<&Entry> = o
        .entries
        .iter()
        .filter(|e| all || e.is_ringmpsc())
        .collect();
    let hidden = o.entries.len() - shown.len();
    if shown.is_empty() {
        writeln!(
            w,
            "no ringmpsc segments or logs in {}",
            o.dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    } else {
        let mut rows = vec![[
            "KIND", "NAME", "SIZE", "MODE", "OWNER", "VER", "CREATOR", "PRODUCER", "CONSUMER",
            "STATE",
        ]
        .map(String::from)
        .to_vec()];
        rows.extend(shown.iter().map(|e| row(e, &o.dirs)));
        format::table(w, &rows)?;
    }
    let errors: Vec<&&Entry> = shown.iter().filter(|e| e.error.is_some()).collect();
    for e in errors {
        writeln!(
            w,
            "{}: {}",
            e.kind.as_str(),
            format::text(e.error.as_deref().unwrap_or(""))
        )?;
    }
    if hidden > 0 {
        writeln!(
            w,
            "({hidden} other {}: `list --all` shows {})",
            if hidden == 1 {
                "file is not a ringmpsc segment or log"
            } else {
                "files are not ringmpsc segments or logs"
            },
            if hidden == 1 { "it" } else { "them" }
        )?;
    }
    Ok(())
}

/// Runs `list`.
pub fn run(g: &Global, a: &ListArgs, w: &mut dyn Write) -> Result<i32, CliError> {
    let o = collect(g.dirs(), &a.paths);
    if g.json {
        format::json_pretty(w, &o)?;
    } else {
        render(&o, a.all, w)?;
    }
    // A path named on the command line that is not there is an error.
    let missing = o
        .entries
        .iter()
        .find(|e| e.kind == EntryKind::Unreadable && a.paths.contains(&e.path));
    // Not there at all is "not found"; there but unreadable (a directory
    // this user may not read) is a failure.
    let absent = |p: &std::path::Path| {
        std::fs::symlink_metadata(p).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
    };
    Ok(match missing {
        Some(e) if absent(&e.path) => crate::exit::NOT_FOUND,
        Some(_) => crate::exit::FAILED,
        None => crate::exit::OK,
    })
}
