//! Readers of a log: replay from any point, live tail, blocking reads.

use super::cursor::{self, Cursor};
use super::file::{Access, LogFile};
use super::format::{HEADER_SIZE, STATE_CLOSED, STATE_ROLLED};
use super::series::list_files;
use super::{step, LogPosition, MappedFile, Step, Verify};
use crate::error::{Error, Result};
use crate::sync::{park, Ordering};
use crate::wait::{Backoff, Deadline, LIVENESS_SLICE};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Where a [`Reader`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    /// The oldest record still on disk (late join: replay the history).
    Start,
    /// The end of the committed records: only what is appended from now on.
    Live,
    /// A position returned by [`Reader::position`] or
    /// [`Writer::position`](super::Writer::position).
    Position(LogPosition),
    /// The record with this index (the first record of a log is 0).
    Index(u64),
}

/// What a reader knows of the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterStatus {
    /// A writer holds the log (it may be idle).
    Active,
    /// The last writer closed the log cleanly; a new one may reopen it.
    Closed,
    /// The last writer died without closing the log (its lock is free).
    Dead,
}

/// A record read in place from the log's mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// The writer's message type.
    pub msg_type: u32,
    /// The writer's timestamp or user field.
    pub timestamp: u64,
    /// Index of the record in the log (0 for the first record ever written).
    pub index: u64,
    /// Where the record is.
    pub position: LogPosition,
    /// The payload, in place in the mapping.
    pub payload: &'a [u8],
}

impl Message<'_> {
    /// A copy that does not borrow the reader.
    pub fn to_owned(&self) -> OwnedMessage {
        OwnedMessage {
            msg_type: self.msg_type,
            timestamp: self.timestamp,
            index: self.index,
            position: self.position,
            payload: self.payload.to_vec(),
        }
    }
}

/// A record copied out of the log (what [`Reader::iter`] yields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedMessage {
    /// The writer's message type.
    pub msg_type: u32,
    /// The writer's timestamp or user field.
    pub timestamp: u64,
    /// Index of the record in the log.
    pub index: u64,
    /// Where the record is.
    pub position: LogPosition,
    /// The payload.
    pub payload: Vec<u8>,
}

/// A reader of a log. Any number of readers, in any processes, read the
/// same log independently; a reader never slows the writer down (there is
/// no backpressure: retention decides how long records stay).
///
/// ```
/// use ringcore::log::{From, Reader, WriterBuilder, WriterStatus};
/// let dir = std::env::temp_dir().join(format!("doc-reader-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("ticks");
/// let mut w = WriterBuilder::new(&path).region_size(64 << 10).file_roll_size(1 << 20).build()?;
/// let mut live = Reader::open(&path, From::Live)?;
/// for i in 0..100u64 {
///     w.append_at(1, &i.to_le_bytes(), i)?;
/// }
/// let batch = live.try_read_batch(64)?;
/// assert_eq!(batch.len(), 64);
/// assert!(batch.enumerate().all(|(i, m)| m.index == i as u64));
/// assert_eq!(live.read(None)?.index, 64);     // blocking read
/// assert_eq!(live.writer_status(), WriterStatus::Active);
/// w.close()?;
/// assert_eq!(live.iter().count(), 35);         // the rest, copied out
/// assert!(matches!(live.read(None), Err(ringcore::Error::Closed)));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), ringcore::Error>(())
/// ```
pub struct Reader {
    cur: Cursor,
    /// What a batch, moved past when taken, found when its records
    /// changed before it handed them all out: the next read reports it.
    batch_broken: Option<Error>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("log::Reader")
            .field("base", &self.cur.base)
            .field("position", &self.position())
            .field("next_index", &self.cur.index)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// Opens the log at `path` for reading from `from`.
    ///
    /// Errors: `Io` (no such log), `InvalidHeader` (not a log, another
    /// format version, truncated), `Corrupt`, `FellBehind` (the position or
    /// index is in a file that retention deleted), `InvalidArgument` (a
    /// position that is not a record boundary, an index not written yet).
    pub fn open(path: impl AsRef<Path>, from: From) -> Result<Reader> {
        crate::sync::init_barriers();
        let base = path.as_ref().to_path_buf();
        let files = list_files(&base)?;
        let (Some(&oldest), Some(&newest)) = (files.first(), files.last()) else {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no log at {}", base.display()),
            )));
        };
        let r = match from {
            From::Start => Reader::at_file_start(&base, oldest)?,
            From::Live => {
                let mut r = Reader::at_file_start(&base, newest)?;
                r.cur.skip(u64::MAX)?;
                r
            }
            From::Position(p) => {
                if p.file < oldest {
                    return Err(cursor::fell_behind(&base, p.file));
                }
                let mut r = Reader::at_file_start(&base, p.file)?;
                r.seek(p)?;
                r
            }
            From::Index(n) => Reader {
                cur: Cursor::at_index(&base, &files, n, Access::Read)?,
                batch_broken: None,
            },
        };
        Ok(r)
    }

    /// [`open`](Self::open), waiting up to `timeout` for a log that does not
    /// exist yet (looked for every few milliseconds; a log's files appear
    /// whole), so a reader may start before the writer. A log that appears
    /// during the wait is read from its first record, also with
    /// [`From::Live`]: all of it was appended after the call began.
    ///
    /// Errors: as `open`; `Io` (`NotFound`) when no log appeared in time.
    pub fn open_wait(path: impl AsRef<Path>, from: From, timeout: Duration) -> Result<Reader> {
        let path = path.as_ref();
        let deadline = Deadline::after(Some(timeout));
        let mut from = from;
        let mut pause = Duration::from_millis(1);
        loop {
            match Reader::open(path, from) {
                Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    let Some(left) = deadline.slice(pause) else {
                        return Err(Error::Io(e));
                    };
                    if from == From::Live {
                        from = From::Start;
                    }
                    std::thread::sleep(left);
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    fn at_file_start(base: &Path, seq: u64) -> Result<Reader> {
        Ok(Reader {
            cur: Cursor::at_file_start(base, seq, Access::Read)?,
            batch_broken: None,
        })
    }

    /// Moves past padding and rolls to the next record: `Message` when one
    /// is committed there, else `Pending`. A failure moves nothing: a
    /// damaged record after padding or a roll leaves the reader before them.
    #[inline]
    fn settle(&mut self) -> Result<Step> {
        self.report_broken_batch()?;
        match self.cur.step(Verify::Checksum)? {
            Step::Skip(_) | Step::Roll(_) => self.cur.or_back(Cursor::settle),
            at => Ok(at),
        }
    }

    /// The error a broken batch left for this read (see [`Batch`]).
    fn report_broken_batch(&mut self) -> Result<()> {
        self.batch_broken.take().map_or(Ok(()), Err)
    }

    /// Whether a message is committed at the next record, past padding and
    /// rolls.
    fn has_message(&mut self) -> Result<bool> {
        Ok(matches!(self.settle()?, Step::Message { .. }))
    }

    /// The next message, if one is committed. Never blocks; a failed call
    /// moves nothing (past no padding or roll either).
    #[inline]
    pub fn try_read(&mut self) -> Result<Option<Message<'_>>> {
        let Step::Message {
            msg_type,
            timestamp,
            len,
            next,
        } = self.settle()?
        else {
            return Ok(None);
        };
        let pos = self.cur.pos;
        self.cur.pos = next;
        self.cur.index = self.cur.index.wrapping_add(1);
        Ok(Some(Message {
            msg_type,
            timestamp,
            index: self.cur.index.wrapping_sub(1),
            position: LogPosition {
                file: self.cur.file.seq,
                offset: pos,
            },
            payload: self.cur.file.payload(pos, len),
        }))
    }

    /// Up to `limit` committed messages, in place. A batch never crosses a
    /// file roll (it ends there; the next call continues in the next file).
    /// A failed call moves nothing. The reader moves past the batch's
    /// messages when it is taken; should another process change them
    /// before they are all handed out, the batch ends early and the next
    /// read reports it (`Corrupt`).
    #[inline]
    pub fn try_read_batch(&mut self, limit: usize) -> Result<Batch<'_>> {
        self.report_broken_batch()?;
        // The messages from the cursor's record on (one is committed
        // there), moved past; their count, and where they start.
        let take = |c: &mut Cursor| -> Result<(usize, u64)> {
            let (from, s) = (c.pos, c.scan(limit as u64)?);
            c.pos = s.end;
            c.index = c.index.wrapping_add(s.records);
            Ok((s.records as usize, from))
        };
        let at = if limit == 0 {
            Step::Pending
        } else {
            self.cur.step(Verify::Checksum)?
        };
        let (count, from) = match at {
            Step::Pending => (0, self.cur.pos),
            // Nothing moved before the scan: a failure changes nothing.
            Step::Message { .. } => take(&mut self.cur)?,
            Step::Skip(_) | Step::Roll(_) => self.cur.or_back(|c| match c.settle()? {
                Step::Message { .. } => take(c),
                _ => Ok((0, c.pos)),
            })?,
        };
        Ok(Batch {
            file: &self.cur.file,
            pos: from,
            end: self.cur.pos,
            remaining: count,
            index: self.cur.index.wrapping_sub(count as u64),
            broken: &mut self.batch_broken,
        })
    }

    /// Waits for the next message, at most `timeout` (`None`: no limit).
    ///
    /// The sleep is a futex on the file header that the writer wakes only
    /// when a reader sleeps. Errors once everything committed is read:
    /// `TimedOut`; `Closed` when the writer closed the log; `Disconnected`
    /// when the writer died (its lock was released without a close).
    pub fn read(&mut self, timeout: Option<Duration>) -> Result<Message<'_>> {
        self.wait(timeout)?;
        // Only a peer that zeroed a committed record gets here empty.
        self.try_read()?
            .ok_or_else(|| Error::Corrupt("a committed record was taken back".into()))
    }

    /// A registration that the writer's next commit (or its close) wakes,
    /// for a [`WaitSet`](crate::wait_set::WaitSet): arm, read again, and
    /// wait only if nothing came.
    pub fn arm(&self) -> crate::wait_set::Armed {
        let h = self.cur.file.header();
        let owner: crate::ring::typed::Owner = self.cur.file.clone();
        // SAFETY: the words lie in the file's mapping, which `owner` keeps
        // valid for the registration's life.
        unsafe {
            crate::wait_set::Armed::new(
                crate::sync::Registration::counted(&h.wake_seq, &h.readers_waiting, true),
                owner,
            )
        }
    }

    /// Waits until a message is ready to read (see [`read`](Self::read)).
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<()> {
        let deadline = Deadline::after(timeout);
        // Spin and yield a little first: a message that is microseconds
        // away costs no system call.
        let backoff = Backoff::new();
        loop {
            if self.has_message()? {
                return Ok(());
            }
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            let status = self.writer_status();
            if status != WriterStatus::Active {
                // The writer may have committed more before it stopped.
                if self.has_message()? {
                    return Ok(());
                }
                return Err(match status {
                    WriterStatus::Closed => Error::Closed,
                    _ => Error::Disconnected,
                });
            }
            let mut slice = deadline.slice(LIVENESS_SLICE).ok_or(Error::TimedOut)?;
            // A file shrunk while nobody touched the lost pages: `fstat`
            // tells, once a slice.
            if self.cur.file.truncated() {
                return Err(self.cur.file.truncated_error());
            }
            // Acquire pairs with the writer's Release stores of
            // `writer_state` (`Writer::close`, the roll, after the roll
            // record): a rolled file with nothing more to read lost its
            // roll record.
            let seen = self.cur.file.header().writer_state.load(Ordering::Acquire);
            if seen == STATE_ROLLED {
                let at = (self.cur.file.seq, self.cur.pos);
                if self.has_message()? {
                    return Ok(());
                }
                if (self.cur.file.seq, self.cur.pos) == at {
                    return Err(Error::Corrupt(format!(
                        "{}: the file says it rolled, but has no record at offset {:#x}",
                        self.cur.file.path.display(),
                        self.cur.pos
                    )));
                }
                // On in the next file: wait there.
                continue;
            }
            if seen == STATE_CLOSED {
                // Closed since the status was read (its wake-up may have
                // come already): look again within a millisecond.
                slice = slice.min(Duration::from_millis(1));
            }
            let file = &self.cur.file;
            let pos = self.cur.pos;
            let h = file.header();
            park(
                &h.wake_seq,
                &h.readers_waiting,
                || {
                    // Acquire pairs with the commit word's Release store in
                    // `LogFile::publish`. Only a change of the state ends
                    // the sleep early: one that stays odd (a hostile
                    // writer's) must not make this a busy loop.
                    file.word(pos).load(Ordering::Acquire) != 0
                        || h.writer_state.load(Ordering::Acquire) != seen
                },
                Some(slice),
                true,
            );
        }
    }

    /// Copies of the messages committed so far, then the iterator ends
    /// (call again later for more). A read error is yielded once, then the
    /// iterator ends.
    pub fn iter(&mut self) -> impl Iterator<Item = Result<OwnedMessage>> + '_ {
        let mut failed = false;
        std::iter::from_fn(move || {
            if failed {
                return None;
            }
            match self.try_read() {
                Ok(m) => m.map(|m| Ok(m.to_owned())),
                Err(e) => {
                    failed = true;
                    Some(Err(e))
                }
            }
        })
    }

    /// Where the next read starts.
    pub fn position(&self) -> LogPosition {
        LogPosition {
            file: self.cur.file.seq,
            offset: self.cur.pos,
        }
    }

    /// Index of the next record to read.
    pub fn next_index(&self) -> u64 {
        self.cur.index
    }

    /// The log's identity, as recorded in the file being read: random and
    /// non-zero, the same in every file of a log; 0 for a log made before
    /// format version 3, which has none. A copy made with
    /// [`WriterBuilder::log_id`](super::WriterBuilder::log_id) has its
    /// source's.
    pub fn log_id(&self) -> u64 {
        self.cur.file.log_id()
    }

    /// Moves to `p`, which must be a record boundary (a position from
    /// [`position`](Self::position) or a [`Message`]); checked by walking
    /// the records of its region, so a wrong offset is an `InvalidArgument`,
    /// never a misread.
    pub fn seek(&mut self, p: LogPosition) -> Result<()> {
        // Walked on a copy: a seek that fails leaves the reader where it was.
        let mut cur = if p.file != self.cur.file.seq {
            Reader::at_file_start(&self.cur.base, p.file)?.cur
        } else {
            self.cur.clone()
        };
        let g = cur.file.geometry;
        let bad = || {
            Error::InvalidArgument(format!(
                "offset {:#x} of file {} is not a record boundary",
                p.offset, p.file
            ))
        };
        if p.offset < HEADER_SIZE || p.offset > g.file_size || p.offset % 8 != 0 {
            return Err(bad());
        }
        // Walk from the file start to count indices, checking each record.
        cur.pos = HEADER_SIZE;
        cur.index = cur.file.header().first_index.load(Ordering::Relaxed);
        while cur.pos < p.offset {
            match cur.step(Verify::Checksum)? {
                Step::Message { next, .. } => {
                    cur.pos = next;
                    cur.index = cur.index.wrapping_add(1);
                }
                Step::Skip(next) => cur.pos = next,
                Step::Pending | Step::Roll(_) => break,
            }
        }
        if cur.pos != p.offset {
            return Err(bad());
        }
        self.cur = cur;
        Ok(())
    }

    /// Whether the writer is active, closed the log, or died.
    pub fn writer_status(&self) -> WriterStatus {
        self.cur.file.writer_status(&self.cur.base)
    }

    /// The mapping of the file being read, for keeping payloads alive.
    pub fn mapped_file(&self) -> MappedFile {
        MappedFile(Arc::clone(&self.cur.file))
    }

    /// Whether `m` holds the mapping this reader reads now: not only the
    /// same file, the same mapping (a seek maps a file afresh).
    pub fn maps(&self, m: &MappedFile) -> bool {
        Arc::ptr_eq(&self.cur.file, &m.0)
    }
}

/// Messages from [`Reader::try_read_batch`], in place, in log order.
pub struct Batch<'a> {
    file: &'a LogFile,
    pos: u64,
    /// Where the scan that took the batch ended: no record of the batch
    /// reaches past it.
    end: u64,
    remaining: usize,
    index: u64,
    broken: &'a mut Option<Error>,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("log::Batch")
            .field("remaining", &self.remaining)
            .field("next_index", &self.index)
            .finish_non_exhaustive()
    }
}

impl<'a> Iterator for Batch<'a> {
    type Item = Message<'a>;

    #[inline(always)]
    fn next(&mut self) -> Option<Message<'a>> {
        while self.remaining > 0 {
            // These records were checked when the batch was taken, their
            // checksums too. Only the writer changes a committed record, and
            // a writer that does could as well write well-formed ones: the
            // bounds are checked again, the checksum is not. One no longer
            // there (or reaching past the batch) ends the batch, for the
            // reader's next call to report.
            match step(self.file, self.pos, self.index, Verify::Skip) {
                Ok(Step::Message {
                    msg_type,
                    timestamp,
                    len,
                    next,
                }) if next <= self.end => {
                    let pos = self.pos;
                    self.pos = next;
                    self.remaining -= 1;
                    self.index = self.index.wrapping_add(1);
                    return Some(Message {
                        msg_type,
                        timestamp,
                        index: self.index.wrapping_sub(1),
                        position: LogPosition {
                            file: self.file.seq,
                            offset: pos,
                        },
                        payload: self.file.payload(pos, len),
                    });
                }
                Ok(Step::Skip(next)) if next <= self.end => self.pos = next,
                _ => {
                    *self.broken = Some(Error::Corrupt(format!(
                        "{}: the records of a batch changed after it was taken, at offset \
                         {:#x}; {} of them were not handed out",
                        self.file.path.display(),
                        self.pos,
                        self.remaining
                    )));
                    self.remaining = 0;
                    return None;
                }
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Batch<'_> {}
