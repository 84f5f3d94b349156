//! `ringmpsc clean [--dry-run]`: remove the segments the stale rule says
//! are dead (creator and every side gone), never a live one.

use crate::args::{CleanArgs, Global};
use crate::format;
use crate::CliError;
use ringcore::inspect::{clean, CleanAction, CleanOutcome};
use serde::Serialize;
use std::io::Write;

/// What `clean --json` prints.
#[derive(Debug, Serialize)]
pub struct CleanOutput {
    /// Only said what would be removed.
    pub dry_run: bool,
    /// Every segment looked at, with what was done.
    pub segments: Vec<CleanOutcome>,
}

/// Runs `clean`.
pub fn run(g: &Global, a: &CleanArgs, w: &mut dyn Write) -> Result<i32, CliError> {
    let o = CleanOutput {
        dry_run: a.dry_run,
        segments: clean(&g.dirs(), a.dry_run),
    };
    if g.json {
        format::json_pretty(w, &o)?;
    } else if o.segments.is_empty() {
        writeln!(w, "no ringmpsc segments")?;
    } else {
        let mut rows = vec![["ACTION", "KIND", "SEGMENT", "WHY"]
            .map(String::from)
            .to_vec()];
        for s in &o.segments {
            let action = match s.action {
                CleanAction::Removed => "removed",
                CleanAction::WouldRemove => "would remove",
                CleanAction::Kept => "kept",
                CleanAction::Failed => "FAILED",
            };
            rows.push(vec![
                action.into(),
                s.kind.clone(),
                format::name(&s.path),
                format::text(&s.reason),
            ]);
        }
        format::table(w, &rows)?;
    }
    let failed = o.segments.iter().any(|s| s.action == CleanAction::Failed);
    Ok(if failed {
        crate::exit::CLEAN_FAILED
    } else {
        crate::exit::OK
    })
}
