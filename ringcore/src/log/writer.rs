//! The single writer of a log.

use super::cursor::same_log;
use super::file::{take_writer_lock, Access, LogFile, WriterLock};
use super::format::{Geometry, FLAG_ROLL, HEADER_SIZE, STATE_ACTIVE, STATE_CLOSED, STATE_ROLLED};
use super::page_size;
use super::prefault::{self, Prefaulter};
use super::series::{file_path, list_files};
use super::{scan, LogPosition, Scan};
use crate::error::{Error, Result};
use crate::sync::{wake, wake_if_waiting, Ordering};
use crate::sys::{fork, fs, process};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When committed records are forced to storage (`msync`). Whatever the
/// policy, a committed record is visible to readers at once and survives
/// a crash of the writer process; the policy only matters for a crash of
/// the machine. With any policy but `None`, a new file's name is made
/// durable too (`fsync` of the directory), and a roll forces its roll
/// record to storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Leave it to the kernel's writeback.
    #[default]
    None,
    /// After every `n` records.
    EveryRecords(u64),
    /// At the first commit at least this long after the last flush.
    EveryInterval(Duration),
    /// After every record (slow: one `msync` per commit).
    EveryCommit,
}

/// Default size of each file: 64 MiB.
const DEFAULT_FILE_SIZE: u64 = 64 << 20;

/// Builds a [`Writer`].
///
/// ```
/// use ringcore::log::{From, Reader, WriterBuilder};
/// let dir = std::env::temp_dir().join(format!("doc-log-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("events");
/// let mut w = WriterBuilder::new(&path).region_size(64 << 10).file_roll_size(1 << 20).build()?;
/// w.append(1, b"hello")?;
/// let buf = w.try_reserve(5)?;            // zero copy
/// buf.copy_from_slice(b"world");
/// w.commit(2, 5, 42)?;
/// drop(w);
/// let mut r = Reader::open(&path, From::Start)?;
/// let m = r.try_read()?.unwrap();
/// assert_eq!((m.msg_type, m.payload), (1, &b"hello"[..]));
/// let m = r.try_read()?.unwrap();
/// assert_eq!((m.msg_type, m.timestamp, m.payload), (2, 42, &b"world"[..]));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), ringcore::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct WriterBuilder {
    path: PathBuf,
    region_size: Option<u64>,
    file_size: Option<u64>,
    mtu: Option<u32>,
    checksums: Option<bool>,
    retention: Option<u64>,
    durability: Durability,
    /// Whether to start the prefault thread, and the CPU to pin it to.
    prefault: (bool, Option<usize>),
    /// Index of the first record of a new log.
    first_index: u64,
    /// Identity of a new log, or the one an existing log must have.
    log_id: Option<u64>,
}

impl WriterBuilder {
    /// A log at `path` (its files are `path`, `path.1`, `path.2`, ...).
    pub fn new(path: impl AsRef<Path>) -> Self {
        WriterBuilder {
            path: path.as_ref().to_path_buf(),
            region_size: None,
            file_size: None,
            mtu: None,
            checksums: None,
            retention: None,
            durability: Durability::None,
            prefault: (false, None),
            first_index: 0,
            log_id: None,
        }
    }

    /// Index of the first record of a new log (default 0), for a copy of a
    /// log that keeps its source's indices from a record other than the
    /// first (the source's oldest file went to retention). Used only when
    /// the log is created: an existing log goes on from its last record
    /// ([`Writer::next_index`]).
    pub fn first_index(mut self, index: u64) -> Self {
        self.first_index = index;
        self
    }

    /// The identity of a new log (default: a random one), for a copy that
    /// keeps its source's ([`Reader::log_id`](super::Reader::log_id)). An
    /// existing log must already have this identity (`InvalidArgument`
    /// otherwise), so records of one log are never appended to another.
    /// 0 (no identity) is refused.
    pub fn log_id(mut self, id: u64) -> Self {
        self.log_id = Some(id);
        self
    }

    /// Whether every record carries a CRC32C, checked by every reader and
    /// by recovery (default on; 8 more bytes a record). Chosen when the log
    /// is created: an existing log keeps its choice.
    pub fn checksums(mut self, on: bool) -> Self {
        self.checksums = Some(on);
        self
    }

    /// Region size in bytes, a multiple of the page size (default 1 MiB).
    pub fn region_size(mut self, bytes: u64) -> Self {
        self.region_size = Some(bytes);
        self
    }

    /// Size of each file in bytes, a multiple of the region size (default 64 MiB).
    pub fn file_roll_size(mut self, bytes: u64) -> Self {
        self.file_size = Some(bytes);
        self
    }

    /// Largest payload in bytes (default: the most a region can hold).
    pub fn mtu(mut self, bytes: u32) -> Self {
        self.mtu = Some(bytes);
        self
    }

    /// Keep only the newest `files` files, deleting older ones at each roll.
    pub fn retention(mut self, files: u64) -> Self {
        self.retention = Some(files.max(1));
        self
    }

    /// When to force records to storage.
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    /// Whether a thread of the writer's readies the pages ahead of it, so
    /// appends do not stop to allocate and fault them in (default: off,
    /// the writer readies them itself, 256 KiB at a time). The thread
    /// shares the CPU mask of the thread that builds the writer; see
    /// [`prefault_cpu`](Self::prefault_cpu) to put it elsewhere.
    pub fn prefault(mut self, on: bool) -> Self {
        self.prefault.0 = on;
        self
    }

    /// Pins the prefault thread to `cpu` (by default it shares the CPU mask
    /// of the thread that builds the writer: pin it elsewhere when that
    /// thread is pinned to one core). `build` fails if it cannot be pinned.
    pub fn prefault_cpu(mut self, cpu: usize) -> Self {
        self.prefault = (true, Some(cpu));
        self
    }

    /// Takes the writer lock and opens the log: a new one, or an existing
    /// one reopened after its last committed record (a torn record left by
    /// a crash is discarded). An existing log keeps its geometry: sizes
    /// left unset are taken from it, sizes set must match it. `Busy` while
    /// another writer holds the log.
    pub fn build(self) -> Result<Writer> {
        let lock = take_writer_lock(&self.path)?;
        crate::sync::init_barriers();
        let files = list_files(&self.path)?;
        let newest = match files.last() {
            Some(&seq) => Some(LogFile::open(
                &file_path(&self.path, seq),
                seq,
                Access::Write,
            )?),
            None => None,
        };
        if let Some(f) = &newest {
            // `NAME.lock` may have been removed under a live writer, which
            // still holds the file it writes; and a file newer than the one
            // held means a writer rolled on meanwhile.
            f.hold_for_writer()?;
            if list_files(&self.path)?.last() != Some(&f.seq) {
                return Err(Error::Busy("log writer lock on its newest file"));
            }
        }
        let g = match &newest {
            Some(f) => {
                let g = f.geometry;
                let differs = self.region_size.is_some_and(|r| r != g.region_size)
                    || self.file_size.is_some_and(|s| s != g.file_size)
                    || self.mtu.is_some_and(|m| m != g.mtu)
                    || self.checksums.is_some_and(|c| c != g.checksums);
                if differs {
                    return Err(Error::InvalidArgument(format!(
                        "{} was written with region size {}, file size {}, MTU {}, checksums {}",
                        self.path.display(),
                        g.region_size,
                        g.file_size,
                        g.mtu,
                        if g.checksums { "on" } else { "off" }
                    )));
                }
                g.check()?;
                g
            }
            None => self.geometry()?,
        };
        let log_id = match (&newest, self.log_id) {
            (_, Some(0)) => {
                return Err(Error::InvalidArgument(
                    "0 is not a log identity (it means none)".into(),
                ))
            }
            (Some(f), Some(id)) if f.log_id() != id => {
                return Err(Error::InvalidArgument(format!(
                    "{} is the log {:016x}, not {id:016x}",
                    self.path.display(),
                    f.log_id()
                )))
            }
            (Some(f), _) => f.log_id(),
            (None, id) => id.unwrap_or_else(new_log_id),
        };
        Writer::open(
            self.path,
            g,
            newest,
            lock,
            (self.first_index, log_id),
            self.retention,
            self.durability,
            self.prefault,
        )
    }

    /// The geometry of a new log from the options and the defaults.
    fn geometry(&self) -> Result<Geometry> {
        let region_size = self.region_size.unwrap_or((1 << 20).max(page_size()));
        let file_size = self.file_size.unwrap_or(DEFAULT_FILE_SIZE.max(region_size));
        let probe = Geometry {
            region_size,
            file_size,
            mtu: 0,
            checksums: self.checksums.unwrap_or(true),
        };
        let mtu = match self.mtu {
            Some(m) => m,
            // The largest payload any region can take, 8-aligned.
            None => {
                let header = probe.header_len();
                let reserve = probe.roll_reserve();
                let mut room = region_size.saturating_sub(HEADER_SIZE.max(reserve));
                if file_size == region_size {
                    room = room.saturating_sub(HEADER_SIZE.min(reserve));
                }
                (room.saturating_sub(header) & !7).min(u32::MAX as u64 / 2) as u32
            }
        };
        let g = Geometry { mtu, ..probe };
        g.check()?;
        Ok(g)
    }
}

/// The writer of a log: appends records, rolls files, recovers after a
/// crash. One per log at a time (an advisory lock beside the log), `Send`.
pub struct Writer {
    base: PathBuf,
    file: Arc<LogFile>,
    geometry: Geometry,
    pos: u64,
    /// How far a record at `pos` may reach without a detour through
    /// `make_room`: the end of its region (or the roll reserve in the last
    /// region) or of the prefaulted pages, whichever is nearer; 0 forces
    /// the next reservation to recompute it.
    limit: u64,
    /// Where the writer next reports its position to the prefault thread.
    checkpoint: u64,
    /// How far the current file is ready for writing: its storage
    /// allocated, its pages faulted in ([`LogFile::prepare`]).
    ready: u64,
    prefault: Option<Prefaulter>,
    next_index: u64,
    /// Payload bytes reserved by `try_reserve`, not committed yet.
    reserved: Option<u64>,
    retention: Option<u64>,
    durability: Durability,
    unsynced_from: u64,
    unsynced_records: u64,
    last_sync: Instant,
    epoch: u64,
    /// The log's identity, written into each file it creates.
    log_id: u64,
    /// The fork count of the process that opened the writer: a child
    /// forked from it has another, and may not write through its copy.
    forks: u64,
    _lock: WriterLock,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("log::Writer")
            .field("base", &self.base)
            .field("position", &self.position())
            .field("next_index", &self.next_index)
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// `new_log`: the first index and the identity of the log (the identity
    /// is taken from `newest` when the log exists).
    #[allow(clippy::too_many_arguments)]
    fn open(
        base: PathBuf,
        g: Geometry,
        newest: Option<LogFile>,
        lock: WriterLock,
        (first_index, log_id): (u64, u64),
        retention: Option<u64>,
        durability: Durability,
        prefault: (bool, Option<usize>),
    ) -> Result<Writer> {
        remove_temporaries(&base)?;
        // What can fail comes before anything is written.
        let prefault = match prefault {
            (true, cpu) => Some(Prefaulter::start(cpu)?),
            (false, _) => None,
        };
        // `ready`: how far the file is readied for the writer.
        let (file, scanned, epoch, ready, next_index) = match newest {
            None => (
                create_file(
                    &base,
                    0,
                    first_index,
                    g,
                    (1, log_id),
                    durability != Durability::None,
                )?,
                Scan::empty(),
                1,
                0,
                first_index,
            ),
            Some(file) => {
                let first = file.header().first_index.load(Ordering::Relaxed);
                let s = scan(&file, HEADER_SIZE, first, u64::MAX)?;
                let next_index = first.checked_add(s.records).ok_or_else(|| {
                    Error::Corrupt(format!(
                        "{}: first record index {first} leaves no room for more",
                        file.path.display()
                    ))
                })?;
                let epoch = file
                    .header()
                    .writer_epoch
                    .load(Ordering::Relaxed)
                    .wrapping_add(1);
                if let Some(next) = s.rolled_to {
                    if durability != Durability::None {
                        // A durable roll makes the next file's name durable
                        // before its record: that file was removed, not lost.
                        return Err(Error::Corrupt(format!(
                            "{} ends with a roll record but file {next} is missing",
                            file.path.display(),
                        )));
                    }
                    let made = remake_next(&base, &file, next, next_index, epoch)?;
                    (made, Scan::empty(), epoch, 0, next_index)
                } else {
                    // The writer stores `write_pos` after each commit (Release,
                    // paired with this Acquire): a log that ends before it lost
                    // a committed record's commit word (or, past the file's
                    // end, its header was damaged).
                    let stored = file.header().write_pos.load(Ordering::Acquire);
                    if stored > s.end {
                        return Err(Error::Corrupt(format!(
                            "{}: the records end at offset {:#x}, but records were \
                             committed up to {stored:#x}",
                            file.path.display(),
                            s.end
                        )));
                    }
                    repair_roll(&base, &file)?;
                    // Anything past the last commit is a torn, uncommitted record:
                    // clear what it may have written so no reader mistakes it
                    // (its storage allocated first: a full file system is an
                    // error here, not a SIGBUS).
                    let ready = file.clear_tail(s.end)?;
                    (file, s, epoch, ready, next_index)
                }
            }
        };
        let h = file.header();
        h.writer_epoch.store(epoch, Ordering::Relaxed);
        h.writer_pid.store(std::process::id(), Ordering::Relaxed);
        // Release pairs with the readers' Acquire loads of `writer_state`
        // and, for `write_pos`, with the Acquire load of a later writer's
        // recovery scan.
        h.writer_state.store(STATE_ACTIVE, Ordering::Release);
        h.write_pos.store(scanned.end, Ordering::Release);
        Ok(Writer {
            base,
            pos: scanned.end,
            limit: 0,
            checkpoint: 0,
            ready,
            prefault,
            next_index,
            geometry: g,
            file: Arc::new(file),
            reserved: None,
            retention,
            durability,
            unsynced_from: scanned.end,
            unsynced_records: 0,
            last_sync: Instant::now(),
            epoch,
            log_id,
            forks: fork::generation(),
            _lock: lock,
        })
    }

    /// The log's identity: random and non-zero, chosen when the log was
    /// made (or given by [`WriterBuilder::log_id`]), the same in all its
    /// files; 0 for a log made before format version 3, which has none.
    pub fn log_id(&self) -> u64 {
        self.log_id
    }

    /// Largest payload in bytes.
    pub fn mtu(&self) -> usize {
        self.geometry.mtu as usize
    }

    /// Index the next record will get.
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// Where the next record will be written (when it fits the current
    /// region; otherwise at the start of the next region or file).
    pub fn position(&self) -> LogPosition {
        LogPosition {
            file: self.file.seq,
            offset: self.pos,
        }
    }

    /// Reserves room for a `len`-byte payload and returns it to be written
    /// in place; publish it with [`commit`](Self::commit). Pads to the next
    /// region or rolls to the next file as needed. `TooLarge` above the MTU
    /// (checked before anything moves, so an oversized message never rolls).
    /// A reservation not committed is given up first, whatever the outcome.
    #[inline]
    pub fn try_reserve(&mut self, len: usize) -> Result<&mut [u8]> {
        self.owned_here()?;
        if len > self.geometry.mtu as usize {
            return Err(Error::TooLarge {
                len,
                max: self.geometry.mtu as usize,
            });
        }
        self.abort();
        let rec = self.geometry.record_len(len as u64);
        if self.pos + rec > self.limit {
            self.make_room(rec)?;
        }
        self.reserved = Some(len as u64);
        Ok(self.file.payload_mut(self.pos, len as u64))
    }

    /// Pads to the next region or rolls to the next file until a record of
    /// `rec` bytes fits (the MTU fits any region, so this ends), readies
    /// the file ahead of it, and has the pages after those faulted in.
    #[cold]
    fn make_room(&mut self, rec: u64) -> Result<()> {
        loop {
            let region_limit = self.geometry.limit(self.pos);
            let fits = self.pos + rec <= region_limit;
            let last_region = self.geometry.region_end(self.pos) == self.geometry.file_size;
            // Ready where this record lands (after a padding record, which
            // then cannot be the last thing a failed call wrote), or where
            // a roll record does, before anything is written.
            let at = if fits || last_region {
                self.pos
            } else {
                region_limit
            };
            self.ready_to(at + rec.max(self.geometry.roll_reserve()))?;
            if !fits {
                if last_region {
                    self.roll()?;
                } else {
                    self.pad_to(region_limit);
                }
                continue;
            }
            if self.pos + rec > self.checkpoint {
                match &self.prefault {
                    Some(p) => {
                        p.report(&self.file, self.pos);
                        self.checkpoint = self.pos + prefault::STEP;
                    }
                    None => self.checkpoint = u64::MAX,
                }
            }
            self.limit = region_limit.min(self.checkpoint).min(self.ready);
            return Ok(());
        }
    }

    /// Readies the current file up to `to` (at most its end) for writing,
    /// [`PREPARE_STEP`](super::file::PREPARE_STEP) bytes at a time: a full
    /// file system is this call's error, never a `SIGBUS` in a write.
    fn ready_to(&mut self, to: u64) -> Result<()> {
        let to = to.min(self.geometry.file_size);
        if to <= self.ready {
            return Ok(());
        }
        if let Some(p) = &self.prefault {
            // Readied already by the prefault thread, unless it fell behind.
            self.ready = self.ready.max(p.ready(&self.file));
            if to <= self.ready {
                return Ok(());
            }
        }
        self.ready = self.file.prepare(self.ready.max(self.pos), to)?;
        Ok(())
    }

    /// Publishes the first `len` bytes of the reservation as a record of
    /// type `msg_type` with `timestamp` (any 64-bit value); returns its index.
    /// `InvalidArgument` (no reservation, `len` above it) changes nothing.
    /// An `Io` error comes from the flush the durability setting asks for,
    /// after the record is published: it is in the log, `next_index()` is
    /// past it, but it may not be on storage yet ([`flush`](Self::flush)
    /// tries again). `Corrupt` when another process shrank the file under
    /// the writer: the record did not reach the file, and the log cannot go
    /// on in it.
    #[inline]
    pub fn commit(&mut self, msg_type: u32, len: usize, timestamp: u64) -> Result<u64> {
        self.owned_here()?;
        let Some(reserved) = self.reserved.take() else {
            return Err(Error::InvalidArgument(
                "commit without a reservation".into(),
            ));
        };
        if len as u64 > reserved {
            self.reserved = Some(reserved);
            return Err(crate::error::overlong_commit(len as u64, reserved));
        }
        // Bytes reserved but not committed must not stay behind: a reader
        // polls the word right after this record.
        let g = &self.geometry;
        let end = self.pos + g.record_len(len as u64);
        self.file.zero(
            self.pos + g.header_len() + len as u64,
            self.pos + g.record_len(reserved),
        );
        self.publish(msg_type, 0, len as u64, timestamp, len as u64);
        debug_assert_eq!(self.pos, end);
        // A file shrunk under the mapping took the record with it (its
        // bytes went to a page of no file).
        if self.file.faulted() {
            return Err(self.file.truncated_error());
        }
        let index = self.next_index;
        self.next_index = self.next_index.wrapping_add(1);
        self.after_commit()?;
        Ok(index)
    }

    /// Drops the reservation; nothing is published.
    #[inline]
    pub fn abort(&mut self) {
        if let Some(reserved) = self.reserved.take().filter(|_| self.owned_here().is_ok()) {
            let g = &self.geometry;
            self.file
                .zero(self.pos + g.header_len(), self.pos + g.record_len(reserved));
        }
    }

    /// Appends one record (copy) stamped with CLOCK_REALTIME nanoseconds.
    #[inline]
    pub fn append(&mut self, msg_type: u32, payload: &[u8]) -> Result<u64> {
        self.append_at(msg_type, payload, crate::shm::layout::realtime_ns())
    }

    /// Appends one record with the given timestamp / user field.
    /// `InvalidArgument` while a reservation is pending (the record would
    /// take its place). An `Io` error is either a file that could not be
    /// readied (nothing published) or, as for [`commit`](Self::commit), a
    /// flush that failed after publishing: `next_index()` tells which.
    #[inline]
    pub fn append_at(&mut self, msg_type: u32, payload: &[u8], timestamp: u64) -> Result<u64> {
        if self.reserved.is_some() {
            return Err(Error::InvalidArgument(
                "a reservation is pending: commit or abort it first".into(),
            ));
        }
        self.try_reserve(payload.len())?.copy_from_slice(payload);
        self.commit(msg_type, payload.len(), timestamp)
    }

    /// Writes the record header at the current position (the checksum
    /// covering `payload_len` bytes), commits it with the Release store of
    /// its length, and moves on.
    #[inline]
    fn publish(&mut self, msg_type: u32, flags: u32, len: u64, timestamp: u64, payload_len: u64) {
        let pos = self.pos;
        self.file
            .publish(pos, flags, len, msg_type, timestamp, payload_len);
        self.moved_to(pos + self.geometry.record_len(len));
    }

    /// Fills the rest of the region with padding ([`LogFile::pad`]).
    fn pad_to(&mut self, limit: u64) {
        self.file.pad(self.pos, limit);
        self.moved_to(limit);
    }

    /// Records that the committed records end at `pos`, and wakes readers
    /// that sleep.
    #[inline]
    fn moved_to(&mut self, pos: u64) {
        self.pos = pos;
        let h = self.file.header();
        // Release pairs with the Acquire load of `write_pos` in the recovery
        // scan: the commit before it is seen with it.
        h.write_pos.store(pos, Ordering::Release);
        wake_if_waiting(&h.readers_waiting, &h.wake_seq, true);
    }

    #[inline]
    fn after_commit(&mut self) -> Result<()> {
        self.unsynced_records += 1;
        let due = match self.durability {
            Durability::None => false,
            Durability::EveryCommit => true,
            Durability::EveryRecords(n) => self.unsynced_records >= n.max(1),
            Durability::EveryInterval(t) => self.last_sync.elapsed() >= t,
        };
        if due {
            self.flush()?;
        }
        Ok(())
    }

    /// Forces the records written since the last flush to storage (`msync`).
    pub fn flush(&mut self) -> Result<()> {
        self.owned_here()?;
        self.file.sync(self.unsynced_from.min(self.pos), self.pos)?;
        self.file.sync(0, HEADER_SIZE)?;
        self.unsynced_from = self.pos;
        self.unsynced_records = 0;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Ends the current file and continues in the next one: the next file is
    /// created (and renamed into place) before the roll record that points
    /// readers to it is committed. Older files beyond the retention are
    /// deleted. A reservation not committed is given up. A roll that fails
    /// changes nothing, except when only the last flush of the old file
    /// (the durability setting's) fails: the writer is in the next file
    /// then, and the `Io` error says the roll record may not be on storage.
    pub fn roll(&mut self) -> Result<()> {
        self.owned_here()?;
        self.abort();
        let from = self.pos;
        // The roll record, like any record, stays inside its region.
        let at = self.geometry.roll_at(self.pos);
        let end = at + self.geometry.roll_reserve();
        // What can fail comes first (storage for what is written here, the
        // flush, the next file and its name on storage), so a failed roll
        // commits nothing and leaves no file behind.
        self.ready_to(end)?;
        let next_seq = self.file.seq.checked_add(1).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{} has no file number after this one",
                self.base.display()
            ))
        })?;
        let durable = self.durability != Durability::None;
        if durable {
            self.flush()?;
        }
        let next = create_file(
            &file_path(&self.base, next_seq),
            next_seq,
            self.next_index,
            self.geometry,
            (self.epoch, self.log_id),
            durable,
        )?;
        if at > self.pos {
            self.pad_to(at);
        }
        self.file
            .payload_mut(self.pos, 8)
            .copy_from_slice(&next_seq.to_ne_bytes());
        self.publish(0, FLAG_ROLL, 8, 0, 8);
        let old = std::mem::replace(&mut self.file, Arc::new(next));
        // Release pairs with the readers' Acquire loads of `writer_state`
        // and a later writer's in `repair_roll`: the next file exists.
        old.header()
            .writer_state
            .store(STATE_ROLLED, Ordering::Release);
        wake(&old.header().wake_seq, true);
        self.pos = HEADER_SIZE;
        self.limit = 0;
        self.checkpoint = 0;
        self.ready = 0;
        self.unsynced_from = HEADER_SIZE;
        if let Some(keep) = self.retention {
            for seq in list_files(&self.base)? {
                if seq.saturating_add(keep) <= next_seq {
                    let _ = std::fs::remove_file(file_path(&self.base, seq));
                }
            }
        }
        // The roll record and the state to storage as well, or a restart
        // could find the records of the next file with no way to them.
        if durable {
            old.sync(from, end)?;
            old.sync(0, HEADER_SIZE)?;
        }
        Ok(())
    }

    /// Closes the log cleanly: readers see it as closed, not dead.
    /// `InvalidArgument` in a child forked from the writer's process, whose
    /// copy leaves the log to the writer.
    pub fn close(mut self) -> Result<()> {
        self.owned_here()?;
        self.finish()
    }

    /// `InvalidArgument` in a child forked from the process that opened
    /// the writer, whose mapping of the log it lost at the fork: its
    /// records would land beside its parent's.
    #[inline]
    fn owned_here(&self) -> Result<()> {
        if fork::current() == self.forks {
            return Ok(());
        }
        Err(forked_child())
    }

    /// Closes the log; only in the writer's own process (its callers,
    /// `close` and `drop`, check that).
    fn finish(&mut self) -> Result<()> {
        self.abort();
        if self.durability != Durability::None {
            self.flush()?;
        }
        let h = self.file.header();
        // Release pairs with the readers' Acquire loads of `writer_state`:
        // a reader that sees "closed" sees every record committed before.
        h.writer_state.store(STATE_CLOSED, Ordering::Release);
        wake(&h.wake_seq, true);
        Ok(())
    }
}

#[cfg(test)]
impl Writer {
    /// Ends the writer the way a killed process does: the mapping and the
    /// lock go, nothing is closed or cleaned up.
    pub(crate) fn simulate_crash(self) {
        let mut w = std::mem::ManuallyDrop::new(self);
        // SAFETY: `w` is never used or dropped again; each field that owns
        // a resource is dropped exactly once, the rest own nothing.
        unsafe {
            std::ptr::drop_in_place(&mut w.file);
            std::ptr::drop_in_place(&mut w._lock);
            std::ptr::drop_in_place(&mut w.base);
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.owned_here().is_err() {
            // The prefault thread is the parent's: a child has none to stop.
            std::mem::forget(self.prefault.take());
            return;
        }
        let _ = self.finish();
    }
}

/// What a forked child's copy of a writer answers.
#[cold]
fn forked_child() -> Error {
    Error::InvalidArgument(
        "this log writer belongs to the process that opened it, not to a child forked from it"
            .into(),
    )
}

/// A fresh log identity: 64 random bits from the standard library's
/// randomly keyed hasher (seeded from the OS once per process, its keys
/// moved on for each new `RandomState`), mixed with the clock and the
/// process id so two logs made at once in two processes differ. Never 0.
fn new_log_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(crate::shm::layout::realtime_ns());
    h.write_u32(std::process::id());
    h.finish().max(1)
}

/// [`LogFile::create`] of file `seq` at `path` (`(epoch, log_id)` in its
/// header), its name made durable too where `durable`; a name that cannot
/// be is removed again, so a failed call leaves no file.
fn create_file(
    path: &Path,
    seq: u64,
    first_index: u64,
    g: Geometry,
    (epoch, log_id): (u64, u64),
    durable: bool,
) -> Result<LogFile> {
    let file = LogFile::create(path, seq, first_index, g, epoch, log_id)?;
    if durable {
        if let Err(e) = fs::sync_dir(path) {
            let _ = std::fs::remove_file(path);
            return Err(e.into());
        }
    }
    Ok(file)
}

/// Makes file `next` again, empty, for `file`, whose last record rolls to
/// it but which is the newest file: the roll record proves the writer made
/// `next` starting at `next_index`, and a machine crash without durability
/// can keep that record and lose the new file's name (the records written
/// there were not on storage either). The log goes on there: the lost
/// records' indices are written again, as after any lost unsynced tail.
/// (A writer with a durability setting refuses the log instead.)
fn remake_next(
    base: &Path,
    file: &LogFile,
    next: u64,
    next_index: u64,
    epoch: u64,
) -> Result<LogFile> {
    let path = file_path(base, next);
    let made = LogFile::create(&path, next, next_index, file.geometry, epoch, file.log_id())?;
    // Release pairs with the readers' Acquire loads of `writer_state`: the
    // file they are sent to exists.
    file.header()
        .writer_state
        .store(STATE_ROLLED, Ordering::Release);
    wake(&file.header().wake_seq, true);
    Ok(made)
}

/// Removes files left half made (`NAME.n.tmp-PID-N`, where a file system
/// cannot make unnamed files) by a writer that died while creating them;
/// only the lock holder calls this. A file whose maker is alive stays: a
/// writer let in beside this one (after a script removed `NAME.lock`) may
/// be making it, and finds itself `Busy` when it names it.
fn remove_temporaries(base: &Path) -> Result<()> {
    let dir = fs::dir_of(base);
    let Some(name) = base.file_name().and_then(|n| n.to_str()) else {
        return Ok(());
    };
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(f) = entry.file_name().to_str() {
            let rest = f.strip_prefix(name).and_then(|r| r.strip_prefix('.'));
            let temporary = rest.filter(|r| r.contains(".tmp") || r.starts_with("tmp"));
            if temporary.is_some_and(|r| !temporary_maker(r).is_some_and(process::pid_exists)) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// The process that made the half-made file whose name ends in `rest`,
/// where the name says (`...tmp-PID-N`).
fn temporary_maker(rest: &str) -> Option<u32> {
    let (_, after) = rest.split_once("tmp-")?;
    after.split('-').next()?.parse().ok()
}

/// Whether `file` says it rolled, and ends with a whole roll record to
/// file `seq` where its `write_pos` says its records end.
fn rolls_to(file: &LogFile, seq: u64) -> bool {
    let h = file.header();
    // Acquire pairs with the Release stores of STATE_ROLLED, made after the
    // roll record and its `write_pos`.
    if h.writer_state.load(Ordering::Acquire) != STATE_ROLLED {
        return false;
    }
    let Some(at) = h
        .write_pos
        .load(Ordering::Relaxed)
        .checked_sub(file.geometry.record_len(8))
    else {
        return false;
    };
    at >= HEADER_SIZE
        && matches!(
            super::step(file, at, 0, super::Verify::Checksum),
            Ok(super::Step::Roll(to)) if to == seq
        )
}

/// If the file before `next` does not end with a roll record to it (the
/// writer crashed between creating `next` and committing the roll), appends
/// that roll record, after padding as [`Writer::roll`] does. A file that
/// `next` does not continue (another geometry, or records that end at
/// another index than `next` starts at) is refused: readers would reject
/// the roll.
fn repair_roll(base: &Path, next: &LogFile) -> Result<()> {
    let Some(seq) = next.seq.checked_sub(1) else {
        return Ok(());
    };
    let path = file_path(base, seq);
    if !path.exists() {
        return Ok(());
    }
    let file = LogFile::open(&path, seq, Access::Write)?;
    let refuse = |why: String| {
        Error::Corrupt(format!(
            "{} does not end with its roll record to file {}, and cannot: {why}",
            path.display(),
            next.seq
        ))
    };
    let g = file.geometry;
    if g != next.geometry {
        return Err(refuse("the two files' geometries differ".into()));
    }
    if !same_log(&file, next) {
        return Err(refuse("the two files belong to different logs".into()));
    }
    // A roll record where the state and `write_pos` say it ends the file
    // is trusted as it was written; anything else is scanned (a crash can
    // keep the state of a roll and lose its record).
    if rolls_to(&file, next.seq) {
        return Ok(());
    }
    let first = file.header().first_index.load(Ordering::Relaxed);
    let s = scan(&file, HEADER_SIZE, first, u64::MAX)?;
    let next_first = next.header().first_index.load(Ordering::Relaxed);
    if first.checked_add(s.records) != Some(next_first) {
        return Err(refuse(format!(
            "its records end before index {}, the next file starts at {next_first}",
            first.wrapping_add(s.records)
        )));
    }
    // A roll record found by the scan leads to `next` (`step` accepts no
    // other); without one, it is written.
    if s.rolled_to.is_none() {
        let at = g.roll_at(s.end);
        // Storage first, and the torn bytes after the last commit cleared.
        file.clear_tail(s.end)?;
        file.prepare(at, at + g.roll_reserve())?;
        file.pad(s.end, at);
        file.payload_mut(at, 8)
            .copy_from_slice(&next.seq.to_ne_bytes());
        file.publish(at, FLAG_ROLL, 8, 0, 0, 8);
    }
    // Release pairs with the Acquire loads of `writer_state` (readers,
    // and the check above in a later writer).
    file.header()
        .writer_state
        .store(STATE_ROLLED, Ordering::Release);
    wake(&file.header().wake_seq, true);
    Ok(())
}
