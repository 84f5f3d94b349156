//! Read-only inspection of a log: its files, first and last index, the
//! writer's status and write position ([`LogInfo`]), and a cursor that
//! copies records out from any index and follows the writer
//! ([`LogCursor`]).
//!
//! Unlike a [`Reader`](super::Reader), which maps the header page
//! read-write to sleep on the writer's wake-ups, an inspector opens every
//! file `O_RDONLY`, maps it `PROT_READ` (guarded against truncation) and
//! polls: it cannot change a byte of the log. Records are read and checked
//! by the same code as a reader's (`step`: lengths against
//! the region, the MTU and the mapping, and the CRC32C where the log has
//! checksums), so a damaged file is an error naming the file and offset.

use super::cursor::Cursor;
use super::file::{Access, LogFile};
use super::format::{HEADER_SIZE, STATE_ACTIVE, STATE_CLOSED, STATE_ROLLED};
use super::series::{file_path, list_files};
use super::{scan, step, Step, Verify, WriterStatus};
use crate::error::{Error, Result};
use crate::shm::inspect::{FileMeta, Process};
use crate::sync::Ordering;
use std::path::{Path, PathBuf};

/// One file of a log.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LogFileInfo {
    /// Sequence number: 0 for `NAME`, n for `NAME.n`.
    pub seq: u64,
    /// Its path.
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::inspect::lossy_path")
    )]
    pub path: PathBuf,
    /// Size, owner and mode.
    pub file: FileMeta,
    /// Index of its first record.
    pub first_index: u64,
    /// CLOCK_REALTIME at creation, nanoseconds since the epoch.
    pub created_unix_ns: u64,
    /// `active`, `closed`, `rolled` (complete, continued in the next
    /// file) or `unknown`.
    pub writer_state: String,
}

/// The writer of a log.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LogWriterInfo {
    /// The last writer's pid and whether that process still exists.
    pub process: Process,
    /// `active` (a writer holds the log's lock), `closed` (closed cleanly)
    /// or `dead` (it stopped without closing: its lock is free).
    pub status: String,
    /// Bumped by each writer that opened the log.
    pub epoch: u64,
}

/// A snapshot of a log.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LogInfo {
    /// The log's path (its first file's name).
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::inspect::lossy_path")
    )]
    pub path: PathBuf,
    /// Format version of its newest file.
    pub version: u32,
    /// Records carry a CRC32C.
    pub checksums: bool,
    /// Largest payload, bytes.
    pub mtu: u32,
    /// Bytes of a region (records never cross one).
    pub region_size: u64,
    /// Bytes of each file.
    pub file_size: u64,
    /// Its files, oldest first (retention deletes the oldest).
    pub files: Vec<LogFileInfo>,
    /// Index of the oldest record still on disk.
    pub first_index: u64,
    /// Index the next record will get (the last one is `next_index - 1`).
    pub next_index: u64,
    /// Records on disk: `next_index - first_index`.
    pub records: u64,
    /// The writer.
    pub writer: LogWriterInfo,
    /// Where the next record goes: the newest file's sequence number...
    pub write_file: u64,
    /// ...and the byte offset in it (after the last committed record).
    pub write_offset: u64,
    /// A damaged record found while counting (the count stops there).
    pub error: Option<String>,
}

fn state_name(state: u32) -> &'static str {
    match state {
        STATE_ACTIVE => "active",
        STATE_CLOSED => "closed",
        STATE_ROLLED => "rolled",
        _ => "unknown",
    }
}

fn open_file(base: &Path, seq: u64) -> Result<LogFile> {
    LogFile::open(&file_path(base, seq), seq, Access::Inspect)
}

fn status_name(s: WriterStatus) -> &'static str {
    match s {
        WriterStatus::Active => "active",
        WriterStatus::Closed => "closed",
        WriterStatus::Dead => "dead",
    }
}

/// `Io` (`NotFound`): no file of a log at `base`.
fn no_log(base: &Path) -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("no log at {}", base.display()),
    ))
}

/// The files of the log at `base`; `Io` (`NotFound`) when it has none.
fn files_of(base: &Path) -> Result<Vec<u64>> {
    let seqs = list_files(base)?;
    if seqs.is_empty() {
        return Err(no_log(base));
    }
    Ok(seqs)
}

/// Looks at the log at `base` (its first file's path): every file's
/// header, and the records of the newest file, counted and checked.
///
/// Errors: `Io` (no such log, a file that cannot be opened), and
/// `InvalidHeader` (a file that is not a log, or another format version),
/// naming the file. A damaged record is not an error of the call: the
/// count stops there and [`LogInfo::error`] says where.
pub fn inspect(base: &Path) -> Result<LogInfo> {
    inspect_files(base, files_of(base)?)
}

/// [`inspect`] of the files `seqs` (sorted, as [`list_files`] gives them)
/// of the log at `base`: for a caller that has read the directory already.
pub(crate) fn inspect_files(base: &Path, seqs: Vec<u64>) -> Result<LogInfo> {
    if seqs.is_empty() {
        return Err(no_log(base));
    }
    let mut files = Vec::with_capacity(seqs.len());
    let mut newest = None;
    for &seq in &seqs {
        let f = open_file(base, seq)?;
        let h = f.header();
        files.push(LogFileInfo {
            seq,
            path: f.path.clone(),
            file: FileMeta::lstat(&f.path)?,
            first_index: h.first_index.load(Ordering::Relaxed),
            created_unix_ns: h.created_ns.load(Ordering::Relaxed),
            writer_state: state_name(h.writer_state.load(Ordering::Acquire)).into(),
        });
        newest = Some(f);
    }
    let newest = newest.expect("a log has a file");
    let first_index = files[0].first_index;
    let newest_first = files.last().expect("a log has a file").first_index;
    let (records, end, error) = match scan(&newest, HEADER_SIZE, newest_first, u64::MAX) {
        Ok(s) => (s.records, s.end, None),
        Err(e) => {
            // Count up to the damage.
            let (mut pos, mut n) = (HEADER_SIZE, 0u64);
            loop {
                match step(&newest, pos, newest_first.wrapping_add(n), Verify::Checksum) {
                    Ok(Step::Message { next, .. }) => {
                        n += 1;
                        pos = next;
                    }
                    Ok(Step::Skip(next)) => pos = next,
                    _ => break,
                }
            }
            (n, pos, Some(e.to_string()))
        }
    };
    if newest.truncated() {
        return Err(newest.truncated_error());
    }
    let h = newest.header();
    let next_index = newest_first.wrapping_add(records);
    let g = newest.geometry;
    Ok(LogInfo {
        path: base.to_path_buf(),
        version: h.version.load(Ordering::Relaxed),
        checksums: g.checksums,
        mtu: g.mtu,
        region_size: g.region_size,
        file_size: g.file_size,
        first_index,
        next_index,
        records: next_index.wrapping_sub(first_index),
        writer: LogWriterInfo {
            process: Process::of(h.writer_pid.load(Ordering::Relaxed)),
            status: status_name(newest.writer_status(base)).into(),
            epoch: h.writer_epoch.load(Ordering::Relaxed),
        },
        write_file: newest.seq,
        write_offset: end,
        files,
        error,
    })
}

/// A record copied out of a log by a [`LogCursor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Its index (0 for the first record ever written).
    pub index: u64,
    /// The writer's message type.
    pub msg_type: u32,
    /// The writer's timestamp or user field.
    pub timestamp: u64,
    /// The file it is in.
    pub file: u64,
    /// Its byte offset in that file.
    pub offset: u64,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Reads a log's records in order without writing a byte of it, from any
/// index, following file rolls; [`try_next`](Self::try_next) never blocks (poll
/// it to follow a live writer).
pub struct LogCursor {
    cur: Cursor,
}

impl std::fmt::Debug for LogCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogCursor")
            .field("base", &self.cur.base)
            .field("file", &self.cur.file.seq)
            .field("pos", &self.cur.pos)
            .field("index", &self.cur.index)
            .finish()
    }
}

impl LogCursor {
    /// A cursor at the record `index` of the log at `base` (`None`: the
    /// oldest record on disk).
    ///
    /// Errors: `Io` (no such log), `InvalidHeader`, `Corrupt`, `FellBehind`
    /// (the index is older than the oldest file), `InvalidArgument` (the
    /// index is not written yet).
    pub fn open(base: &Path, index: Option<u64>) -> Result<LogCursor> {
        let seqs = files_of(base)?;
        Ok(LogCursor {
            cur: match index {
                None => Cursor::at_file_start(base, seqs[0], Access::Inspect)?,
                Some(n) => Cursor::at_index(base, &seqs, n, Access::Inspect)?,
            },
        })
    }

    /// A cursor after the last committed record of the log at `base`.
    pub fn open_live(base: &Path) -> Result<LogCursor> {
        let seqs = files_of(base)?;
        let newest = *seqs.last().expect("a log has a file");
        let mut cur = Cursor::at_file_start(base, newest, Access::Inspect)?;
        cur.skip(u64::MAX)?;
        Ok(LogCursor { cur })
    }

    /// The next committed record, copied; `None` when there is none yet. A
    /// failed call moves nothing.
    pub fn try_next(&mut self) -> Result<Option<LogRecord>> {
        self.cur.or_back(|c| {
            // A record cut by a shrink reads as damage: name the cause.
            let at = c.settle().map_err(|e| {
                if c.file.truncated() {
                    c.file.truncated_error()
                } else {
                    e
                }
            })?;
            let Step::Message {
                msg_type,
                timestamp,
                len,
                next,
            } = at
            else {
                if c.file.truncated() {
                    return Err(c.file.truncated_error());
                }
                return Ok(None);
            };
            let payload = c.file.payload(c.pos, len).to_vec();
            if c.file.faulted() {
                return Err(c.file.truncated_error());
            }
            let r = LogRecord {
                index: c.index,
                msg_type,
                timestamp,
                file: c.file.seq,
                offset: c.pos,
                payload,
            };
            c.pos = next;
            c.index = c.index.wrapping_add(1);
            Ok(Some(r))
        })
    }

    /// The log's path (its first file's name).
    pub fn base(&self) -> &Path {
        &self.cur.base
    }

    /// Index of the next record.
    pub fn next_index(&self) -> u64 {
        self.cur.index
    }

    /// Whether the writer is active, closed the log, or died.
    pub fn writer_status(&self) -> WriterStatus {
        self.cur.file.writer_status(&self.cur.base)
    }

    /// Moves over the records committed since the last call, at most
    /// `limit`, without copying them; returns how many, and their bytes
    /// (record headers and padding to 8 bytes included). A count for rates:
    /// each record's bounds are checked, not its checksum.
    pub fn advance(&mut self, limit: u64) -> Result<(u64, u64)> {
        self.cur.or_back(|c| {
            let (mut n, mut bytes) = (0, 0);
            while n < limit {
                let moved = c.step(Verify::Skip).and_then(|step| match step {
                    Step::Pending => Ok(false),
                    Step::Skip(next) => {
                        c.pos = next;
                        Ok(true)
                    }
                    Step::Roll(seq) => c.follow(seq).map(|()| true),
                    Step::Message { next, .. } => {
                        bytes += next - c.pos;
                        c.pos = next;
                        c.index = c.index.wrapping_add(1);
                        n += 1;
                        Ok(true)
                    }
                });
                match moved {
                    Ok(true) => {}
                    Ok(false) => break,
                    // The records passed are counted; the next call reports it.
                    Err(_) if n > 0 => break,
                    Err(e) => return Err(e),
                }
            }
            Ok((n, bytes))
        })
    }
}
