//! The ringmpsc files in directories: every segment and log, and every
//! other file reported for what it is, so that a damaged or foreign file
//! is one entry with an error and the scan goes on.

use crate::log::inspect::LogInfo;
use crate::shm::inspect::{FileMeta, SegmentInfo, SegmentKind, SegmentView};
use crate::shm::view::View;
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where named segments live unless told otherwise.
pub const DEFAULT_DIR: &str = "/dev/shm";

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum EntryKind {
    /// A slot ring segment.
    SlotRing,
    /// A message ring segment.
    MessageRing,
    /// A buffer pool segment.
    Pool,
    /// A transport's client channel segment.
    Channel,
    /// A transport's control segment.
    Transport,
    /// A ringmpsc segment whose header does not say which kind it is.
    Segment,
    /// A log (its files `NAME`, `NAME.1`, ... as one entry).
    Log,
    /// Not a ringmpsc segment or log.
    Foreign,
    /// A file that cannot be read (permission, vanished).
    Unreadable,
}

impl EntryKind {
    fn of(k: SegmentKind) -> EntryKind {
        match k {
            SegmentKind::SlotRing => EntryKind::SlotRing,
            SegmentKind::MessageRing => EntryKind::MessageRing,
            SegmentKind::Pool => EntryKind::Pool,
            SegmentKind::Channel => EntryKind::Channel,
            SegmentKind::Transport => EntryKind::Transport,
        }
    }

    /// The name used in output: `slot_ring`, `message_ring`, `pool`,
    /// `channel`, `transport`, `segment`, `log`, `foreign`, `unreadable`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::SlotRing => "slot_ring",
            EntryKind::MessageRing => "message_ring",
            EntryKind::Pool => "pool",
            EntryKind::Channel => "channel",
            EntryKind::Transport => "transport",
            EntryKind::Segment => "segment",
            EntryKind::Log => "log",
            EntryKind::Foreign => "foreign",
            EntryKind::Unreadable => "unreadable",
        }
    }
}

/// One file (or one log) found by a scan.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Entry {
    /// Its path (a log's: its first file's name).
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::inspect::lossy_path")
    )]
    pub path: PathBuf,
    /// Its file name.
    pub name: String,
    /// What it is.
    pub kind: EntryKind,
    /// Size, owner and mode, where `lstat` could tell.
    pub file: Option<FileMeta>,
    /// A segment's snapshot.
    pub segment: Option<SegmentInfo>,
    /// A log's snapshot.
    pub log: Option<LogInfo>,
    /// What is wrong with it: corrupt, foreign, unreadable.
    pub error: Option<String>,
}

impl Entry {
    fn new(path: &Path, kind: EntryKind, file: Option<FileMeta>) -> Entry {
        Entry {
            path: path.to_path_buf(),
            name: path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            kind,
            file,
            segment: None,
            log: None,
            error: None,
        }
    }

    fn failed(mut self, error: impl ToString) -> Entry {
        self.error = Some(error.to_string());
        self
    }

    /// A ringmpsc segment or log (possibly damaged), not a foreign or
    /// unreadable file.
    pub fn is_ringmpsc(&self) -> bool {
        !matches!(self.kind, EntryKind::Foreign | EntryKind::Unreadable)
    }
}

/// The log a file with a log header belongs to: its own path for file 0,
/// `NAME` for `NAME.n`.
pub(crate) fn log_base(path: &Path, view: &View) -> PathBuf {
    let seq = view
        .at::<AtomicU64>(0x28)
        .map_or(0, |w| w.load(Ordering::Relaxed));
    if seq == 0 {
        return path.to_path_buf();
    }
    let s = path.as_os_str().to_string_lossy();
    match s.strip_suffix(&format!(".{seq}")) {
        Some(base) => PathBuf::from(base),
        None => path.to_path_buf(),
    }
}

/// The names of one directory, read once and sorted: what a scan asks of
/// it (which files a log has) without reading it again for every file,
/// which a directory of many files would make quadratic.
struct Listing {
    dir: PathBuf,
    names: Vec<OsString>,
}

impl Listing {
    fn read(dir: &Path) -> std::io::Result<Listing> {
        let mut names: Vec<OsString> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        Ok(Listing {
            dir: dir.to_path_buf(),
            names,
        })
    }

    /// The file numbers of the log at `base` (in this directory), sorted,
    /// as [`list_files`](crate::log::list_files) would read them.
    fn log_files(&self, base: &Path) -> Vec<u64> {
        let Some(name) = base.file_name().and_then(|n| n.to_str()) else {
            return Vec::new();
        };
        // `NAME` and `NAME.n` sort together, from `NAME` on.
        let from = self
            .names
            .partition_point(|n| n.as_bytes() < name.as_bytes());
        let mut seqs: Vec<u64> = self.names[from..]
            .iter()
            .take_while(|n| n.as_bytes().starts_with(name.as_bytes()))
            .filter_map(|n| crate::log::seq_of(n.to_str()?, name))
            .collect();
        seqs.sort_unstable();
        seqs
    }
}

fn log_entry(base: &Path, listing: Option<&Listing>) -> Entry {
    let file = FileMeta::lstat(base).ok();
    let e = Entry::new(base, EntryKind::Log, file);
    let info = match listing {
        Some(l) if base.parent() == Some(l.dir.as_path()) => {
            crate::log::inspect::inspect_files(base, l.log_files(base))
        }
        _ => crate::log::inspect::inspect(base),
    };
    match info {
        Ok(info) => Entry {
            file: e.file.or_else(|| info.files.first().map(|f| f.file)),
            log: Some(info),
            ..e
        },
        Err(err) => e.failed(err),
    }
}

fn segment_entry(path: &Path, view: View, file: FileMeta) -> Entry {
    let kind_word = view
        .at::<AtomicU32>(0x0c)
        .map(|w| w.load(Ordering::Relaxed));
    let e = Entry::new(path, EntryKind::Segment, Some(file));
    match SegmentView::over(view) {
        Ok(sv) => {
            let e = Entry {
                kind: EntryKind::of(sv.kind()),
                ..e
            };
            match sv.info() {
                Ok(info) => Entry {
                    segment: Some(info),
                    ..e
                },
                Err(err) => e.failed(err),
            }
        }
        Err(err) => {
            let kind = match kind_word {
                Some(1) => EntryKind::SlotRing,
                Some(2) => EntryKind::MessageRing,
                Some(3) => EntryKind::Pool,
                Some(4) => EntryKind::Channel,
                Some(5) => EntryKind::Transport,
                _ => EntryKind::Segment,
            };
            Entry { kind, ..e }.failed(err)
        }
    }
}

/// What the file (or log) at `path` is, with its snapshot. Never fails:
/// whatever is wrong is the entry's error. A path with no file that names
/// a log whose first files retention deleted is that log.
pub fn classify(path: &Path) -> Entry {
    classify_in(path, None)
}

/// [`classify`], with the listing of the file's directory when the caller
/// has it.
fn classify_in(path: &Path, listing: Option<&Listing>) -> Entry {
    let st = match crate::sys::fs::lstat(path) {
        Ok(st) => st,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if crate::log::list_files(path).is_ok_and(|f| !f.is_empty()) {
                return log_entry(path, None);
            }
            return Entry::new(path, EntryKind::Unreadable, None)
                .failed(format!("{}: no such file", path.display()));
        }
        Err(e) => return Entry::new(path, EntryKind::Unreadable, None).failed(e),
    };
    let file = FileMeta::of(&st);
    let foreign = |why: String| {
        Entry::new(path, EntryKind::Foreign, Some(file))
            .failed(format!("{}: {why}", path.display()))
    };
    match st.file_type {
        libc::S_IFREG => {}
        libc::S_IFLNK => return foreign("a symbolic link (not followed)".into()),
        libc::S_IFDIR => return foreign("a directory".into()),
        _ => return foreign("not a regular file".into()),
    }
    if st.len == 0 {
        return foreign("an empty file, not a ringmpsc segment or log".into());
    }
    let view = match View::open(path, false) {
        Ok(v) => v,
        Err(e) => return Entry::new(path, EntryKind::Unreadable, Some(file)).failed(e),
    };
    let magic = view.at::<AtomicU64>(0).map(|w| w.load(Ordering::Relaxed));
    if magic == Some(crate::shm::layout::MAGIC) {
        return segment_entry(path, view, file);
    }
    if magic == Some(crate::log::format::MAGIC) {
        let base = log_base(path, &view);
        return log_entry(&base, listing);
    }
    let head: Vec<u8> = view.copy(0, view.len().min(8)).unwrap_or_default();
    foreign(format!(
        "not a ringmpsc segment or log ({} bytes starting with {})",
        view.len(),
        head.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// The entries of every directory in `dirs` (not recursing) and every
/// path in `paths` (a directory is scanned, a file or log classified),
/// sorted by path within each directory. The files of one log are one
/// entry; a log's `NAME.lock` is part of it. A directory that cannot be
/// read is one `unreadable` entry.
pub fn scan(dirs: &[PathBuf], paths: &[PathBuf]) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut logs_seen = BTreeSet::new();
    let scan_dir = |dir: &Path, out: &mut Vec<Entry>, logs_seen: &mut BTreeSet<PathBuf>| {
        let listing = match Listing::read(dir) {
            Ok(l) => l,
            Err(e) => {
                out.push(
                    Entry::new(dir, EntryKind::Unreadable, None)
                        .failed(format!("cannot read directory {}: {e}", dir.display())),
                );
                return;
            }
        };
        for name in &listing.names {
            let p = dir.join(name);
            let name = name.to_str().unwrap_or_default();
            // Directories are not recursed into; lock files go with their
            // log; the other files of a log already looked at are in it.
            if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir())
                || is_log_lock(&p, &listing)
                || of_seen_log(name, dir, logs_seen)
            {
                continue;
            }
            let e = classify_in(&p, Some(&listing));
            if e.kind == EntryKind::Log && !logs_seen.insert(e.path.clone()) {
                continue;
            }
            out.push(e);
        }
    };
    for d in dirs {
        scan_dir(d, &mut out, &mut logs_seen);
    }
    for p in paths {
        if p.is_dir() {
            scan_dir(p, &mut out, &mut logs_seen);
        } else {
            let e = classify(p);
            if e.kind == EntryKind::Log && !logs_seen.insert(e.path.clone()) {
                continue;
            }
            out.push(e);
        }
    }
    out
}

/// Whether `name` (in `dir`) is file n of a log already listed: named
/// `NAME.n` after it, and a log file whose header says it is of that log
/// (a segment or another log named so is listed on its own).
fn of_seen_log(name: &str, dir: &Path, logs_seen: &BTreeSet<PathBuf>) -> bool {
    let Some((base_name, _)) = name.rsplit_once('.') else {
        return false;
    };
    let base = dir.join(base_name);
    if crate::log::seq_of(name, base_name).is_none() || !logs_seen.contains(&base) {
        return false;
    }
    let path = dir.join(name);
    View::open(&path, false).is_ok_and(|view| {
        view.at::<AtomicU64>(0)
            .is_some_and(|w| w.load(Ordering::Relaxed) == crate::log::format::MAGIC)
            && log_base(&path, &view) == base
    })
}

/// `NAME.lock` beside a log `NAME`: the writer's lock file.
fn is_log_lock(p: &Path, listing: &Listing) -> bool {
    let s = p.as_os_str().to_string_lossy();
    s.strip_suffix(".lock")
        .is_some_and(|base| !listing.log_files(Path::new(base)).is_empty())
}
