//! A persistent, memory-mapped append-only log: one [`Writer`], any number
//! of [`Reader`]s in any process, replay from the start or a live tail.
//!
//! The log is a series of files `NAME`, `NAME.1`, `NAME.2`, ... divided
//! into regions; the byte-level format is drawn in the [`format`](mod@format) module.
//! A record is published by one Release store of its length, written last,
//! so a reader that sees the length sees the whole record, and a writer
//! killed mid-record leaves nothing a reader could take for a message.
//!
//! - Writing: [`WriterBuilder`] (region size, file roll size, MTU,
//!   retention, [`Durability`]), then zero-copy [`Writer::try_reserve`] +
//!   [`Writer::commit`], or [`Writer::append`]. One writer per log, guarded
//!   by an advisory lock beside it (`NAME.lock`) and one on the file it
//!   writes (so a removed `NAME.lock` lets no second writer in).
//!   Reopening a log after a crash resumes after its last committed
//!   record, and clears whatever a torn record, or a page written back out
//!   of order, left after it. A
//!   machine crash without durability can keep a roll record and lose the
//!   next file's name: the next writer makes that file again, empty (its
//!   records were not on storage either), unless it has a durability
//!   setting, under which such a file can only have been removed.
//! - Reading: [`Reader::open`] at a [`From`] point; [`Reader::try_read`],
//!   [`Reader::try_read_batch`], blocking [`Reader::read`] (a futex in the
//!   file header, woken only when a reader sleeps), [`Reader::position`] and
//!   [`Reader::seek`]. Readers follow region and file rolls and tell a
//!   writer that closed the log, one that died, and one that is only idle
//!   apart ([`WriterStatus`]).
//!
//! Everything read from a file is bounded by its mapping: a corrupt,
//! truncated or hostile file gives [`Error::Corrupt`] or
//! [`Error::InvalidHeader`] naming the file and offset, never a crash. A
//! file shrunk while a [`Reader`], a [`Writer`] or the inspection
//! ([`inspect`], `ringmpsc dump`) maps it would raise `SIGBUS` at the next
//! touch of a page past its new end; those mappings are guarded instead
//! (the page reads as zeros, and the next call reports the file as
//! truncated, `Corrupt`). A payload already handed out in place can still
//! change under its reader: keep the files writable by the writer's user
//! only.

mod cursor;
mod file;
pub mod format;
pub mod inspect;
mod prefault;
mod reader;
mod series;
mod validate;
mod writer;

pub use reader::{Batch, From, Message, OwnedMessage, Reader, WriterStatus};
pub(crate) use series::seq_of;
pub use series::{file_path, list_files};
pub use writer::{Durability, Writer, WriterBuilder};

use crate::error::{Error, Result};
use file::LogFile;

/// The system page size, as file offsets count.
pub fn page_size() -> u64 {
    crate::numa::page_size() as u64
}
use format::{FLAG_PADDING, FLAG_ROLL, HEADER_SIZE};

/// The mapping of one log file, kept alive by whoever holds a clone (the
/// Python binding ties payload views to it, so a view outlives a roll).
#[derive(Clone)]
pub struct MappedFile(std::sync::Arc<LogFile>);

impl std::fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFile")
            .field("path", &self.0.path)
            .field("seq", &self.seq())
            .finish_non_exhaustive()
    }
}

impl MappedFile {
    /// Sequence number of the file.
    pub fn seq(&self) -> u64 {
        self.0.seq
    }
}

/// A place in a log: a file's sequence number and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogPosition {
    /// File sequence number: 0 for `NAME`, n for `NAME.n`.
    pub file: u64,
    /// Byte offset of a record in that file.
    pub offset: u64,
}

/// What the record at a position is, read and checked but not borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step {
    /// Nothing is committed there yet.
    Pending,
    /// A message of `len` payload bytes; the next record starts at `next`.
    Message {
        msg_type: u32,
        timestamp: u64,
        len: u64,
        next: u64,
    },
    /// Padding or a region remainder: go on at `next`.
    Skip(u64),
    /// The log goes on in file `seq`.
    Roll(u64),
}

/// Whether [`step`] checks a record's checksum (in a log with checksums).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// Check it.
    Checksum,
    /// Checked already (the records of a batch, checked when it was taken).
    Skip,
}

/// Reads and checks the record at `pos` of `file`, the record numbered
/// `index` if it is a message (for error messages). Every length taken from
/// the file is bounded by the region, the MTU and the mapping; in a log
/// with checksums the record's CRC32C must match.
#[inline(always)]
pub(crate) fn step(file: &LogFile, pos: u64, index: u64, verify: Verify) -> Result<Step> {
    let g = &file.geometry;
    let corrupt = |what: std::fmt::Arguments<'_>| corrupt_record(file, pos, what);
    let header = g.header_len();
    if pos % 8 != 0 || pos < HEADER_SIZE || pos + header > g.file_size {
        return Err(corrupt(format_args!("not a record position")));
    }
    let region_end = g.region_end(pos);
    if region_end - pos < header {
        // Too little room left in the region for any record: the writer
        // moved on to the next region without writing here.
        if region_end == g.file_size {
            return Err(corrupt(format_args!("no room for the roll record")));
        }
        return Ok(Step::Skip(region_end));
    }
    let (commit, msg_type, timestamp) = file.record_header(pos);
    if commit == 0 {
        return Ok(Step::Pending);
    }
    let Some((flags, len)) = format::parse_commit(commit) else {
        return Err(corrupt(format_args!("bad commit word {commit:#x}")));
    };
    let next = pos + g.record_len(len);
    let step = match flags {
        0 => {
            if len > g.mtu as u64 {
                return Err(corrupt(format_args!(
                    "length {len} exceeds the MTU {}",
                    g.mtu
                )));
            }
            if next > region_end.min(g.file_size - g.roll_reserve()) {
                return Err(corrupt(format_args!(
                    "a record of {len} bytes overruns its region"
                )));
            }
            Step::Message {
                msg_type,
                timestamp,
                len,
                next,
            }
        }
        FLAG_PADDING if next == region_end && region_end < g.file_size => Step::Skip(next),
        FLAG_ROLL if len == 8 && next <= region_end => {
            let seq = u64::from_ne_bytes(file.payload(pos, 8).try_into().expect("8 bytes"));
            Step::Roll(seq)
        }
        _ => {
            return Err(corrupt(format_args!(
                "bad record (kind {flags}, length {len})"
            )))
        }
    };
    if g.checksums && verify == Verify::Checksum {
        let covered = if flags == FLAG_PADDING { 0 } else { len };
        if !file.checksum_matches(pos, commit, covered) {
            let what = match step {
                Step::Message { .. } => format!("record {index}"),
                Step::Roll(_) => "the roll record".into(),
                _ => "a padding record".into(),
            };
            return Err(corrupt(format_args!("{what}: checksum mismatch")));
        }
    }
    if let Step::Roll(seq) = step {
        if file.seq.checked_add(1) != Some(seq) {
            return Err(corrupt(format_args!(
                "roll record to file {seq} from file {}",
                file.seq
            )));
        }
    }
    Ok(step)
}

/// The error for a bad record at `pos` of `file`, out of line
/// ([`corrupt`](crate::error::corrupt)).
#[cold]
#[inline(never)]
fn corrupt_record(file: &LogFile, pos: u64, what: std::fmt::Arguments<'_>) -> Error {
    crate::error::corrupt(format_args!(
        "{} at offset {pos:#x}: {what}",
        file.path.display()
    ))
}

/// The result of walking the committed records of one file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scan {
    /// Where the walk stopped: after the last committed record, at a roll
    /// record, or after `max_records` messages.
    pub(crate) end: u64,
    /// Messages walked over (padding and roll records not counted).
    pub(crate) records: u64,
    /// The file a roll record at `end` points to.
    pub(crate) rolled_to: Option<u64>,
}

impl Scan {
    /// The scan of a file with no records.
    pub(crate) fn empty() -> Scan {
        Scan {
            end: HEADER_SIZE,
            records: 0,
            rolled_to: None,
        }
    }
}

/// Walks the committed records of `file` from `from` (where the message
/// numbered `index` is next), checking each, and stops at the first
/// uncommitted one, at a roll record, or after `max_records` messages.
pub(crate) fn scan(file: &LogFile, from: u64, index: u64, max_records: u64) -> Result<Scan> {
    let mut s = Scan {
        end: from,
        records: 0,
        rolled_to: None,
    };
    while s.records < max_records {
        match step(file, s.end, index.wrapping_add(s.records), Verify::Checksum)? {
            Step::Pending => break,
            Step::Message { next, .. } => {
                s.records += 1;
                s.end = next;
            }
            Step::Skip(next) => s.end = next,
            Step::Roll(seq) => {
                s.rolled_to = Some(seq);
                break;
            }
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests;
