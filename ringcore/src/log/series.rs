//! A log's files: `NAME`, `NAME.1`, `NAME.2`, ..., their paths and which exist.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The path of file `seq` of the log at `base`.
pub fn file_path(base: &Path, seq: u64) -> PathBuf {
    if seq == 0 {
        base.to_path_buf()
    } else {
        let mut s = base.as_os_str().to_os_string();
        s.push(format!(".{seq}"));
        PathBuf::from(s)
    }
}

/// Sequence numbers of the files of the log at `base` that exist, sorted.
pub fn list_files(base: &Path) -> Result<Vec<u64>> {
    let dir = match base.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = base
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::InvalidArgument(format!("bad log path {}", base.display())))?;
    let mut seqs = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let Some(f) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if f == name {
            seqs.push(0);
        } else if let Some(n) = f.strip_prefix(name).and_then(|r| r.strip_prefix('.')) {
            // Only the names this library gives (`NAME.7`, not `NAME.07`
            // or `NAME.+7`): another would name a file that is not there.
            match n.parse::<u64>() {
                Ok(seq) if seq > 0 && seq.to_string() == n => seqs.push(seq),
                _ => {}
            }
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}
