//! A reader's place in a log, and the moves every reader makes over it:
//! across committed records and into the next file after a roll. The
//! replaying [`Reader`](super::Reader) and the inspection
//! [`LogCursor`](super::inspect::LogCursor) both move through it.

use super::file::{Access, LogFile};
use super::format::HEADER_SIZE;
use super::series::{file_path, list_files};
use super::{scan, step, Scan, Step, Verify};
use crate::error::{Error, Result};
use crate::sync::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file of the log at `base`, the offset of its next record and that
/// record's index.
#[derive(Clone)]
pub(crate) struct Cursor {
    pub(crate) base: PathBuf,
    pub(crate) file: Arc<LogFile>,
    pub(crate) pos: u64,
    pub(crate) index: u64,
    access: Access,
}

impl Cursor {
    /// At the first record of `file`, a file of the log at `base`.
    pub(crate) fn at_start_of(base: &Path, file: LogFile, access: Access) -> Cursor {
        Cursor {
            base: base.to_path_buf(),
            index: file.header().first_index.load(Ordering::Relaxed),
            file: Arc::new(file),
            pos: HEADER_SIZE,
            access,
        }
    }

    /// At the first record of file `seq` of the log at `base`.
    pub(crate) fn at_file_start(base: &Path, seq: u64, access: Access) -> Result<Cursor> {
        Ok(Self::at_start_of(base, open(base, seq, access)?, access))
    }

    /// At record `n` of the log at `base` whose files are `files` (oldest
    /// first): in the last file that starts at or before it.
    ///
    /// Errors: `FellBehind` (older than the oldest file), `InvalidArgument`
    /// (not written yet), and those of opening and scanning the files.
    pub(crate) fn at_index(base: &Path, files: &[u64], n: u64, access: Access) -> Result<Cursor> {
        let mut oldest = None;
        for &seq in files.iter().rev() {
            let mut c = Self::at_file_start(base, seq, access)?;
            // The first index is read once, into `c.index`: a writer that
            // changes it meanwhile cannot make `n - c.index` wrap.
            let Some(ahead) = n.checked_sub(c.index) else {
                oldest = Some(c.index);
                continue;
            };
            c.skip(ahead)?;
            if c.index != n {
                return Err(Error::InvalidArgument(format!(
                    "record {n} of {} is not written yet (the next is {})",
                    base.display(),
                    c.index
                )));
            }
            return Ok(c);
        }
        Err(Error::FellBehind(format!(
            "record {n} of {} is gone (the oldest on disk is {})",
            base.display(),
            oldest.map_or("none".into(), |i| i.to_string())
        )))
    }

    /// The record at the cursor, read and checked ([`step`]); moves nothing.
    #[inline]
    pub(crate) fn step(&self, verify: Verify) -> Result<Step> {
        let step = step(&self.file, self.pos, self.index, verify);
        // A file shrunk under the mapping reads as zeros: neither the end
        // of the log nor a record.
        if self.file.faulted() {
            return Err(self.file.truncated_error());
        }
        step
    }

    /// Moves past padding and rolls to the next record: `Message` when one
    /// is committed there, else `Pending` (never `Skip` or `Roll`). May
    /// move and then fail: see [`or_back`](Self::or_back).
    pub(crate) fn settle(&mut self) -> Result<Step> {
        loop {
            match self.step(Verify::Checksum)? {
                Step::Skip(next) => self.pos = next,
                Step::Roll(seq) => self.follow(seq)?,
                at => return Ok(at),
            }
        }
    }

    /// Runs `walk`; when it fails, puts the cursor back where it was (past
    /// no padding or roll either), so that a failed call moves nothing.
    pub(crate) fn or_back<T>(&mut self, walk: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let (file, pos, index) = (self.file.clone(), self.pos, self.index);
        let result = walk(self);
        if result.is_err() {
            (self.file, self.pos, self.index) = (file, pos, index);
        }
        result
    }

    /// The committed records from the cursor, at most `max` messages
    /// ([`scan`]); moves nothing.
    pub(crate) fn scan(&self, max: u64) -> Result<Scan> {
        let s = scan(&self.file, self.pos, self.index, max)?;
        // As in `step`: a shrunk file reads as zeros.
        if self.file.faulted() {
            return Err(self.file.truncated_error());
        }
        Ok(s)
    }

    /// Moves over `n` committed messages (or fewer, if the log ends first),
    /// following rolls.
    pub(crate) fn skip(&mut self, mut n: u64) -> Result<()> {
        while n > 0 {
            let s = self.scan(n)?;
            self.pos = s.end;
            self.index = self.index.wrapping_add(s.records);
            n -= s.records;
            match s.rolled_to {
                Some(seq) => self.follow(seq)?,
                None => break,
            }
        }
        Ok(())
    }

    /// Continues in file `seq` after a roll record; the file must continue
    /// this one (same geometry, first index where this one ended).
    pub(crate) fn follow(&mut self, seq: u64) -> Result<()> {
        let file = open(&self.base, seq, self.access)?;
        if file.geometry != self.file.geometry {
            return Err(Error::Corrupt(format!(
                "{}: geometry differs from file {}",
                file.path.display(),
                self.file.seq
            )));
        }
        let first = file.header().first_index.load(Ordering::Relaxed);
        if first != self.index {
            return Err(Error::Corrupt(format!(
                "{}: starts at record {first}, the previous file ended at {}",
                file.path.display(),
                self.index
            )));
        }
        if !same_log(&file, &self.file) {
            return Err(Error::Corrupt(format!(
                "{}: a file of another log (id {:#x}, file {} has {:#x})",
                file.path.display(),
                file.log_id(),
                self.file.seq,
                self.file.log_id()
            )));
        }
        self.file = Arc::new(file);
        self.pos = HEADER_SIZE;
        Ok(())
    }
}

/// Whether two files may belong to one log: their ids agree, or one of
/// them has none (a file of a log made before ids).
pub(crate) fn same_log(a: &LogFile, b: &LogFile) -> bool {
    a.log_id() == b.log_id() || a.log_id() == 0 || b.log_id() == 0
}

/// File `seq` of the log at `base`; one that is not there is named as
/// missing or as gone to retention ([`missing`]).
pub(crate) fn open(base: &Path, seq: u64, access: Access) -> Result<LogFile> {
    match LogFile::open(&file_path(base, seq), seq, access) {
        Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Err(missing(base, seq)),
        other => other,
    }
}

/// The error for file `seq` of the log at `base`, which is not there:
/// retention deletes the oldest files first, so a file is gone to retention
/// only when no older one is left; a file missing while an older one is
/// there was removed by something else, and is named.
fn missing(base: &Path, seq: u64) -> Error {
    let older_left = list_files(base).is_ok_and(|files| files.first().is_some_and(|&f| f < seq));
    if older_left {
        let path = file_path(base, seq);
        return Error::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "log file {} is missing (an older file of the log is still there)",
                path.display()
            ),
        ));
    }
    fell_behind(base, seq)
}

/// The error for file `seq` of the log at `base`, deleted by retention.
pub(crate) fn fell_behind(base: &Path, seq: u64) -> Error {
    Error::FellBehind(format!(
        "file {seq} of {} is gone (deleted by retention)",
        base.display()
    ))
}
