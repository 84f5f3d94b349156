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
    let dir = crate::sys::fs::dir_of(base);
    let name = base
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::InvalidArgument(format!("bad log path {}", base.display())))?;
    let mut seqs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(seq) = entry.file_name().to_str().and_then(|f| seq_of(f, name)) {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// Which file of the log named `name` the file named `file` is: 0 for
/// `name`, n for `name.n`. Only the names this library gives (`NAME.7`,
/// not `NAME.07` or `NAME.+7`): another would name a file that is not
/// there.
pub(crate) fn seq_of(file: &str, name: &str) -> Option<u64> {
    if file == name {
        return Some(0);
    }
    let n = file.strip_prefix(name)?.strip_prefix('.')?;
    // Digits only, no leading zero (so not 0 either).
    if n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}
