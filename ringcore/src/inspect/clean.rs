//! Removing what crashed processes left behind: the segments the stale
//! rule says are dead, and never a live one.
//!
//! A segment is stale when its creator is gone and no live process holds
//! a side (for a transport: the server is gone and no client is alive),
//! and no side stamped a heartbeat within the last second (a holder in
//! another pid namespace, whose pid means nothing here, still beats). Each
//! candidate is looked at again just before it is removed, and removed
//! only if its name still leads to the file that was looked at (the name
//! is moved aside, then checked): a segment made anew under the same name
//! in the meantime is left alone. Logs are never removed: they are data,
//! kept by design.

use super::catalog::scan;
use crate::shm::inspect::{SegmentInfo, SegmentView};
use std::path::{Path, PathBuf};

/// What `clean` did with a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum CleanAction {
    /// It was stale and its name was removed.
    Removed,
    /// It is stale and would be removed (a dry run).
    WouldRemove,
    /// It is live (or could not be judged): left alone.
    Kept,
    /// It was stale but removing it failed.
    Failed,
}

/// One segment `clean` looked at.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CleanOutcome {
    /// The segment file.
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::inspect::lossy_path")
    )]
    pub path: PathBuf,
    /// Its kind (`slot_ring`, ..., or `segment` when unreadable).
    pub kind: String,
    /// What was done.
    pub action: CleanAction,
    /// Why: the live pids that keep it, the error that stopped judging it,
    /// or why removing it failed.
    pub reason: String,
}

/// Whether `clean` may remove the segment: stale, and no side beating.
fn removable(info: &SegmentInfo) -> bool {
    info.stale && !beating(info)
}

/// A fresh heartbeat (pid recorded, stamped within the stale limit).
fn beating(info: &SegmentInfo) -> bool {
    let limit = crate::shm::DEFAULT_STALE_AFTER.as_secs_f64();
    let fresh = |pid: u32, age: Option<f64>| pid != 0 && age.is_some_and(|a| a <= limit);
    fresh(info.producer.pid, info.producer.heartbeat_age_s)
        || fresh(info.consumer.pid, info.consumer.heartbeat_age_s)
        || info.transport.as_ref().is_some_and(|t| {
            fresh(t.server.pid, t.server.heartbeat_age_s)
                || t.clients
                    .iter()
                    .any(|c| fresh(c.pid, c.channel.as_ref().and_then(|ch| ch.heartbeat_age_s)))
        })
}

fn judge(path: &Path) -> Result<(SegmentView, SegmentInfo), String> {
    let seg = SegmentView::open(path).map_err(|e| e.to_string())?;
    let info = seg.info().map_err(|e| e.to_string())?;
    Ok((seg, info))
}

fn live_reason(info: &SegmentInfo) -> String {
    let pids = info.live_pids();
    if pids.is_empty() {
        "a side stamped its heartbeat within the last second".into()
    } else {
        format!(
            "live: pid {}",
            pids.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Looks at every segment in `dirs` and removes the stale ones (with
/// `dry_run`, only says which it would remove). Foreign files and logs are
/// not touched and not listed.
pub fn clean(dirs: &[PathBuf], dry_run: bool) -> Vec<CleanOutcome> {
    let mut out = Vec::new();
    for e in scan(dirs, &[]) {
        if !e.is_ringmpsc() || e.kind == super::EntryKind::Log {
            continue;
        }
        let mut o = CleanOutcome {
            path: e.path.clone(),
            kind: e.kind.as_str().into(),
            action: CleanAction::Kept,
            reason: String::new(),
        };
        // Judged afresh: the scan's snapshot may be old already.
        let (seg, info) = match judge(&e.path) {
            Ok(x) => x,
            Err(err) => {
                o.reason = format!("cannot judge it: {err}");
                out.push(o);
                continue;
            }
        };
        if !removable(&info) {
            o.reason = live_reason(&info);
            out.push(o);
            continue;
        }
        o.reason = format!(
            "stale: creator pid {} and every side are gone",
            info.creator.pid
        );
        if dry_run {
            o.action = CleanAction::WouldRemove;
            out.push(o);
            continue;
        }
        // Only the file that was judged: not one made since under its name,
        // nor one a process took a side of while it was judged (judged again
        // once its name is aside, where no process can open it).
        let taken = std::cell::Cell::new(false);
        let still_stale = || {
            let stale = seg.info().is_ok_and(|i| removable(&i));
            taken.set(!stale);
            stale
        };
        match crate::sys::fs::remove_if_same(&e.path, seg.file_id(), still_stale) {
            Ok(true) => o.action = CleanAction::Removed,
            Ok(false) if taken.get() => {
                o.reason = "a process took it while it was judged".into();
            }
            Ok(false) => o.reason = "replaced by another file while it was judged".into(),
            Err(err) => {
                o.action = CleanAction::Failed;
                o.reason = format!("cannot remove {}: {err}", e.path.display());
            }
        }
        out.push(o);
    }
    out
}
