//! One mapped log file, its writer lock, and checked access to records.

use super::format::{
    crc32c, crc_seed, FileHeader, Geometry, CRC_FROM, FLAG_CHECKSUMS, FLAG_PADDING, HEADER_SIZE,
};
use crate::error::{with_context, Error, Result};
use crate::sync::{AtomicU32, AtomicU64};
use crate::sys::fork::{NoFork, ReleasedInChildren};
use crate::sys::fs;
use crate::sys::map::Mapping;
use std::fs::{File, OpenOptions};
use std::mem::ManuallyDrop;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

/// The writer readies its file ([`LogFile::prepare`]) this many bytes at a
/// time (a multiple of any page size).
pub(crate) const PREPARE_STEP: u64 = 256 << 10;

/// How a log file is mapped.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// The whole file read-write.
    Write,
    /// The records read-only, the header page read-write (readers write
    /// only the wake line): a reader can never change a record.
    Read,
    /// Everything read-only, opened `O_RDONLY` and guarded against the file
    /// being shrunk (an inspector: it never sleeps on the wake line).
    Inspect,
}

/// A log file mapped whole (`MAP_SHARED`).
pub(crate) struct LogFile {
    /// Set for a file opened for the writer: forked children let go of the
    /// file and the mapping (and so of the writer's lock on it). Released
    /// before they go ([`Drop`]).
    released: Option<ReleasedInChildren>,
    map: ManuallyDrop<Mapping>,
    base: NonNull<u8>,
    len: u64,
    /// A read-write mapping of the header page, for a read-only `map`.
    header_page: Option<Mapping>,
    file: ManuallyDrop<File>,
    pub(crate) path: PathBuf,
    pub(crate) seq: u64,
    pub(crate) geometry: Geometry,
}

// SAFETY: the mapping is shared memory reached through atomics and checked
// slices; the struct owns the mapping and the descriptor.
unsafe impl Send for LogFile {}
// SAFETY: as above.
unsafe impl Sync for LogFile {}

impl Drop for LogFile {
    fn drop(&mut self) {
        // Registered: no fork between the release and the closing, or a
        // child would keep a copy outside the registry.
        let _no_fork = self.released.is_some().then(NoFork::enter);
        self.released = None;
        // SAFETY: dropped once, here; the struct is not used after.
        unsafe {
            ManuallyDrop::drop(&mut self.map);
            ManuallyDrop::drop(&mut self.file);
        }
    }
}

/// `Err` naming `path` for a failed mapping.
fn map_error(e: std::io::Error, path: &Path) -> Error {
    Error::Io(with_context(e, format_args!("mmap {}", path.display())))
}

impl LogFile {
    /// Opens and validates an existing log file.
    pub(crate) fn open(path: &Path, seq: u64, access: Access) -> Result<LogFile> {
        // A writer's file is registered before any fork can copy it.
        let _no_fork = (access == Access::Write).then(NoFork::enter);
        let opened = match access {
            Access::Inspect => fs::open_read_only(path, false),
            Access::Write | Access::Read => fs::open_existing(path),
        };
        let file = File::from(opened.map_err(|e| {
            Error::Io(with_context(
                e,
                format_args!("cannot open log file {}", path.display()),
            ))
        })?);
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(Error::InvalidHeader(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        let len = meta.len();
        if len < HEADER_SIZE {
            return Err(Error::InvalidHeader(format!(
                "{}: {len} bytes is shorter than a log header (truncated?)",
                path.display()
            )));
        }
        let (map, header_page) = match access {
            Access::Write => (
                Mapping::shared(file.as_fd(), len as usize)
                    .map_err(|e| map_error(e, path))?
                    .guarded(true),
                None,
            ),
            Access::Read => (
                Mapping::shared_read_only(file.as_fd(), len as usize)
                    .map_err(|e| map_error(e, path))?
                    .guarded(false),
                Some(
                    Mapping::shared(file.as_fd(), HEADER_SIZE as usize)
                        .map_err(|e| map_error(e, path))?
                        .guarded(true),
                ),
            ),
            Access::Inspect => (
                Mapping::inspect(file.as_fd(), len as usize).map_err(|e| map_error(e, path))?,
                None,
            ),
        };
        let mut lf = LogFile {
            released: None,
            base: map.base(),
            map: ManuallyDrop::new(map),
            len,
            header_page,
            file: ManuallyDrop::new(file),
            path: path.to_path_buf(),
            seq,
            geometry: Geometry {
                region_size: 0,
                file_size: 0,
                mtu: 0,
                checksums: false,
            },
        };
        if access == Access::Write {
            lf.released_in_children();
        }
        lf.geometry = lf.header().validate(len, path)?;
        let recorded = lf.header().file_seq.load(crate::sync::Ordering::Relaxed);
        if recorded != seq {
            return Err(Error::InvalidHeader(format!(
                "{}: header says file {recorded}, the name says {seq}",
                path.display()
            )));
        }
        Ok(lf)
    }

    /// Creates `path` as file `seq` of a log and maps it: made without a
    /// name and named once its header is whole (as a segment is), so nobody
    /// maps it half made.
    pub(crate) fn create(
        path: &Path,
        seq: u64,
        first_index: u64,
        g: Geometry,
        epoch: u64,
        log_id: u64,
    ) -> Result<LogFile> {
        use crate::sync::Ordering::{Relaxed, Release};
        let _no_fork = NoFork::enter();
        let (fd, staging) = fs::open_unnamed(path)?;
        let file = File::from(fd);
        let made = (|| {
            hold_for_writer(&file)?;
            file.set_len(g.file_size)?;
            // The header's pages, and the first records', have their storage
            // now: a full file system fails the creation, not a write. The
            // writer allocates the rest as it goes (`prepare`).
            fs::allocate(file.as_fd(), 0, g.file_size.min(PREPARE_STEP)).map_err(|e| {
                Error::Io(with_context(e, format_args!("log file {}", path.display())))
            })?;
            Ok(Mapping::shared(file.as_fd(), g.file_size as usize)
                .map_err(|e| map_error(e, path))?
                .guarded(true))
        })();
        let map = match made {
            Ok(map) => map,
            Err(e) => {
                if let Some(tmp) = &staging {
                    let _ = std::fs::remove_file(tmp);
                }
                return Err(e);
            }
        };
        let mut lf = LogFile {
            released: None,
            base: map.base(),
            map: ManuallyDrop::new(map),
            len: g.file_size,
            header_page: None,
            file: ManuallyDrop::new(file),
            path: path.to_path_buf(),
            seq,
            geometry: g,
        };
        // Locked above, before it was mapped.
        lf.released_in_children();
        let h = lf.header();
        h.version.store(super::format::VERSION, Relaxed);
        h.byte_order.store(super::format::BYTE_ORDER, Relaxed);
        h.header_size.store(HEADER_SIZE as u32, Relaxed);
        h.mtu.store(g.mtu, Relaxed);
        h.region_size.store(g.region_size, Relaxed);
        h.file_size.store(g.file_size, Relaxed);
        h.file_seq.store(seq, Relaxed);
        h.first_index.store(first_index, Relaxed);
        h.created_ns
            .store(crate::shm::layout::realtime_ns(), Relaxed);
        h.writer_epoch.store(epoch, Relaxed);
        h.writer_pid.store(std::process::id(), Relaxed);
        h.writer_state.store(super::format::STATE_ACTIVE, Relaxed);
        h.write_pos.store(HEADER_SIZE, Relaxed);
        h.flags
            .store(if g.checksums { FLAG_CHECKSUMS } else { 0 }, Relaxed);
        h.log_id.store(log_id, Relaxed);
        // The magic last: a header without it is not a log yet.
        // Release pairs with the Acquire load of `magic` in
        // `FileHeader::validate`: the fields stored above come with it.
        h.magic.store(super::format::MAGIC, Release);
        // Named only now, never over an existing file: nobody maps it half made.
        let named = fs::name_file(lf.file.as_fd(), staging.as_deref(), path);
        if let Some(tmp) = &staging {
            let _ = std::fs::remove_file(tmp);
        }
        named.map_err(|e| match e.kind() {
            // Made meanwhile by a writer that holds it: one that took a new
            // `NAME.lock` after a script removed the old one.
            std::io::ErrorKind::AlreadyExists if locked_at(path) => {
                Error::Busy("log writer lock on a file of the log")
            }
            std::io::ErrorKind::AlreadyExists => Error::Io(std::io::Error::new(
                e.kind(),
                format!("log file {} already exists", path.display()),
            )),
            _ => e.into(),
        })?;
        Ok(lf)
    }

    /// Takes the writer's lock on this file ([`hold_for_writer`]); forked
    /// children let go of it (the file was opened for the writer).
    pub(crate) fn hold_for_writer(&self) -> Result<()> {
        debug_assert!(self.released.is_some(), "opened for the writer");
        hold_for_writer(&self.file)
    }

    /// Registers the file and its mapping, under the [`NoFork`] its caller
    /// took before opening it.
    fn released_in_children(&mut self) {
        debug_assert!(self.header_page.is_none(), "a writer's file is mapped once");
        let map = (self.base.as_ptr().cast_const(), self.map.len());
        self.released = Some(ReleasedInChildren::new(self.file.as_fd(), Some(map)));
    }

    /// Whether an access went past the end of the file (which was shrunk
    /// under the mapping: reads saw zeros, writes went nowhere): a cheap
    /// check, no system call.
    #[inline]
    pub(crate) fn faulted(&self) -> bool {
        self.map.faulted() || self.header_page.as_ref().is_some_and(Mapping::faulted)
    }

    /// Whether the file is shorter now than when it was mapped (an access
    /// went past its end, or `fstat` says so).
    pub(crate) fn truncated(&self) -> bool {
        self.faulted() || fs::stat(self.file.as_fd()).map_or(true, |st| (st.len as u64) < self.len)
    }

    /// `Corrupt` naming the file, for one shrunk under its mapping.
    pub(crate) fn truncated_error(&self) -> Error {
        Error::Corrupt(format!(
            "{} was truncated under its mapping",
            self.path.display()
        ))
    }

    #[inline]
    pub(crate) fn header(&self) -> &FileHeader {
        // SAFETY: the mapping holds at least HEADER_SIZE bytes (checked at
        // open / sized at create); the header is made of atomics.
        unsafe {
            self.header_page
                .as_ref()
                .map_or(self.base, Mapping::base)
                .cast::<FileHeader>()
                .as_ref()
        }
    }

    /// The identity of the log this file belongs to: 0 (none) in a file
    /// of format version 1 or 2, whose header has no such field.
    pub(crate) fn log_id(&self) -> u64 {
        use crate::sync::Ordering::Relaxed;
        let h = self.header();
        if h.version.load(Relaxed) < 3 {
            return 0;
        }
        h.log_id.load(Relaxed)
    }

    /// The 4-byte word at `pos` (4-aligned, inside the mapping).
    #[inline]
    pub(crate) fn word(&self, pos: u64) -> &AtomicU32 {
        debug_assert!(pos % 4 == 0 && pos + 4 <= self.len);
        // SAFETY: checked by callers against the geometry (which was checked
        // against the mapping length); the mapping is page-aligned.
        unsafe { &*self.base.as_ptr().add(pos as usize).cast::<AtomicU32>() }
    }

    /// The 8-byte word at `pos` (8-aligned, inside the mapping).
    #[inline]
    fn word64(&self, pos: u64) -> &AtomicU64 {
        debug_assert!(pos % 8 == 0 && pos + 8 <= self.len);
        // SAFETY: as for `word`; records are 8-aligned.
        unsafe { &*self.base.as_ptr().add(pos as usize).cast::<AtomicU64>() }
    }

    /// The record header fields at `pos`: commit word, type, timestamp.
    #[inline]
    pub(crate) fn record_header(&self, pos: u64) -> (u32, u32, u64) {
        use crate::sync::Ordering::{Acquire, Relaxed};
        let g = &self.geometry;
        // Acquire pairs with the writer's Release store of `commit` in `publish`.
        let commit = self.word(pos).load(Acquire);
        (
            commit,
            self.word(pos + g.type_offset()).load(Relaxed),
            self.word64(pos + g.timestamp_offset()).load(Relaxed),
        )
    }

    /// Whether the checksum stored in the record at `pos` (a log with
    /// checksums), committed with `commit`, matches its `covered` payload
    /// bytes and the rest of its header.
    #[inline]
    pub(crate) fn checksum_matches(&self, pos: u64, commit: u32, covered: u64) -> bool {
        let stored = self.word(pos + 4).load(crate::sync::Ordering::Relaxed);
        stored == self.checksum(pos, commit, covered)
    }

    /// The checksum of the record at `pos` with commit word `commit` over
    /// its header and `covered` payload bytes.
    #[inline]
    fn checksum(&self, pos: u64, commit: u32, covered: u64) -> u32 {
        let from = pos + CRC_FROM;
        let len = self.geometry.header_len() - CRC_FROM + covered;
        debug_assert!(from + len <= self.len);
        // SAFETY: a checked record's header and payload lie in the mapping.
        let bytes = unsafe {
            std::slice::from_raw_parts(self.base.as_ptr().add(from as usize), len as usize)
        };
        crc32c(crc_seed(pos, commit), bytes)
    }

    /// Writes a record header (and, in a log with checksums, the checksum
    /// over `payload_len` payload bytes already written) and publishes the
    /// record with the Release store of its commit word, written last
    /// (writer only).
    #[inline]
    pub(crate) fn publish(
        &self,
        pos: u64,
        flags: u32,
        len: u64,
        msg_type: u32,
        timestamp: u64,
        payload_len: u64,
    ) {
        use crate::sync::Ordering::{Relaxed, Release};
        let g = &self.geometry;
        let commit = super::format::commit_word(flags, len);
        if g.checksums {
            // `msg_type` and the zero word after it in one store: the
            // checksum reads them back as one 8-byte word, which a CPU
            // forwards from one store but not from two.
            let mut pair = [0; 8];
            pair[..4].copy_from_slice(&msg_type.to_ne_bytes());
            self.word64(pos + g.type_offset())
                .store(u64::from_ne_bytes(pair), Relaxed);
        } else {
            self.word(pos + g.type_offset()).store(msg_type, Relaxed);
        }
        self.word64(pos + g.timestamp_offset())
            .store(timestamp, Relaxed);
        if g.checksums {
            let crc = self.checksum(pos, commit, payload_len);
            self.word(pos + 4).store(crc, Relaxed);
        }
        // Release pairs with the readers' Acquire load of the commit word:
        // the header and payload written before it are visible with it.
        self.word(pos).store(commit, Release);
    }

    /// `len` bytes of payload of the record at `pos`.
    #[inline]
    pub(crate) fn payload(&self, pos: u64, len: u64) -> &[u8] {
        let at = pos + self.geometry.header_len();
        debug_assert!(at + len <= self.len);
        // SAFETY: bounds checked by callers against the geometry and mapping.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(at as usize), len as usize) }
    }

    /// Writable payload space of the record at `pos` (writer only).
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub(crate) fn payload_mut(&self, pos: u64, len: u64) -> &mut [u8] {
        let at = pos + self.geometry.header_len();
        debug_assert!(at + len <= self.len);
        // SAFETY: bounds as above; only the writer (one per log, by the lock)
        // writes record bytes, and only for records it has not committed.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(at as usize), len as usize) }
    }

    /// Fills `[pos, end)`, the rest of a region, with a padding record, or
    /// with nothing when less than a record header is left: readers skip
    /// it (writer only).
    pub(crate) fn pad(&self, pos: u64, end: u64) {
        let header = self.geometry.header_len();
        if end - pos >= header {
            self.publish(pos, FLAG_PADDING, end - pos - header, 0, 0, 0);
        }
    }

    /// Zeroes `[from, to)` (writer only).
    #[inline]
    pub(crate) fn zero(&self, from: u64, to: u64) {
        let to = to.min(self.len);
        if from < to {
            // SAFETY: inside the mapping; writer only, bytes no reader reads
            // (beyond the last commit).
            unsafe {
                std::ptr::write_bytes(
                    self.base.as_ptr().add(from as usize),
                    0,
                    (to - from) as usize,
                )
            };
        }
    }

    /// Readies the pages from the one holding `from` to at least `to` (or
    /// the end of the file) for the writer (its thread or its prefault
    /// thread), in whole steps of [`PREPARE_STEP`] bytes: their storage
    /// allocated, so a full file system is this call's `Err` instead of a
    /// `SIGBUS` in a later write, and the pages faulted in for writing, in
    /// two system calls rather than one page fault a page (where the kernel
    /// cannot populate, before Linux 5.14, the writer takes ordinary page
    /// faults). Returns how far the file is ready.
    pub(crate) fn prepare(&self, from: u64, to: u64) -> Result<u64> {
        let page = super::page_size();
        let start = from / page * page;
        let end = to
            .div_ceil(PREPARE_STEP)
            .saturating_mul(PREPARE_STEP)
            .min(self.len);
        if start >= end {
            return Ok(end);
        }
        fs::allocate(self.file.as_fd(), start, end - start).map_err(|e| {
            Error::Io(with_context(
                e,
                format_args!("log file {}", self.path.display()),
            ))
        })?;
        self.map
            .populate_write(start as usize, (end - start) as usize);
        Ok(end)
    }

    /// Whether the writer of the log at `base`, whose file this is, is
    /// active, closed the log, or died.
    pub(crate) fn writer_status(&self, base: &Path) -> super::WriterStatus {
        use super::WriterStatus;
        // Acquire pairs with the Release stores of `writer_state` (open,
        // roll, close): what the writer did before them is seen.
        let state = self
            .header()
            .writer_state
            .load(crate::sync::Ordering::Acquire);
        // Active (or rolled: a roll record follows at once) while the
        // writer holds its locks: on the file it writes (this one, or the
        // next after a roll) or on `NAME.lock` (which a script may have
        // removed); a writer that died released them. `NAME.lock` speaks
        // for this file only while the file has a name: a writer that
        // started after this one was removed writes a file of its own.
        let next_held = || {
            self.seq
                .checked_add(1)
                .is_some_and(|next| locked_at(&super::series::file_path(base, next)))
        };
        let named = || fs::stat(self.file.as_fd()).is_ok_and(|st| st.links > 0);
        match state {
            super::format::STATE_CLOSED => WriterStatus::Closed,
            _ if fs::is_locked(self.file.as_fd()) => WriterStatus::Active,
            _ if writer_lock_held(base) && named() => WriterStatus::Active,
            super::format::STATE_ROLLED if next_held() => WriterStatus::Active,
            _ => WriterStatus::Dead,
        }
    }

    /// Clears what a torn record may have left after `pos`, the last
    /// commit (up to one largest record, within the header's file size),
    /// its storage readied first: a full file system is this call's `Err`,
    /// not a `SIGBUS`. Then every later page that is not all zeros is
    /// cleared too: bytes a crash wrote back out of order, or another
    /// process left, would pass for records once the writer's commits reach
    /// them. Returns how far the file is ready.
    pub(crate) fn clear_tail(&self, pos: u64) -> Result<u64> {
        let end = (pos + self.geometry.max_record()).min(self.geometry.file_size);
        let ready = self.prepare(pos, end)?;
        self.zero(pos, end);
        let page = super::page_size();
        let limit = self.geometry.file_size.min(self.len);
        let from = end.div_ceil(page) * page;
        self.zero(end, from.min(limit));
        for (start, stop) in fs::data_ranges(self.file.as_fd(), from, limit) {
            let mut at = start / page * page;
            while at < stop {
                let to = (at + page).min(limit);
                // SAFETY: inside the mapping (`to` <= its length); pages
                // that hold data, so reading them allocates nothing.
                let bytes = unsafe {
                    std::slice::from_raw_parts(
                        self.base.as_ptr().add(at as usize),
                        (to - at) as usize,
                    )
                };
                if bytes.iter().any(|&b| b != 0) {
                    self.zero(at, to);
                }
                at = to;
            }
        }
        Ok(ready)
    }

    /// msync of the pages covering `[from, to)`.
    pub(crate) fn sync(&self, from: u64, to: u64) -> Result<()> {
        let to = to.min(self.len);
        if from >= to {
            return Ok(());
        }
        Ok(self.map.sync(from as usize, (to - from) as usize)?)
    }
}

/// The path of the writer lock of the log at `base`.
pub(crate) fn lock_path(base: &Path) -> PathBuf {
    let mut s = base.as_os_str().to_os_string();
    s.push(".lock");
    PathBuf::from(s)
}

/// The single-writer lock of a log, held as long as this lives; forked
/// children let go of it.
#[derive(Debug)]
pub(crate) struct WriterLock {
    released: Option<ReleasedInChildren>,
    file: ManuallyDrop<File>,
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // No fork between the release and the closing (see `LogFile`).
        let _no_fork = NoFork::enter();
        self.released = None;
        // SAFETY: dropped once, here; the struct is not used after.
        unsafe { ManuallyDrop::drop(&mut self.file) };
    }
}

/// Takes the single-writer lock of the log at `base`.
pub(crate) fn take_writer_lock(base: &Path) -> Result<WriterLock> {
    let path = lock_path(base);
    for _ in 0..100 {
        // Registered before any fork can copy it.
        let _no_fork = NoFork::enter();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)?;
        let held = fs::stat(file.as_fd())?;
        if !held.regular {
            return Err(Error::InvalidHeader(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        if !fs::try_lock_exclusive(file.as_fd())? {
            return Err(Error::Busy("log writer lock"));
        }
        // The lock belongs to the file, not the name: if the name was
        // removed and made again between the open and the lock, another
        // writer may hold the new one. Keep only a lock the name leads to.
        if fs::lstat(&path).is_ok_and(|st| st.id == held.id) {
            return Ok(WriterLock {
                released: Some(ReleasedInChildren::new(file.as_fd(), None)),
                file: ManuallyDrop::new(file),
            });
        }
    }
    Err(Error::Busy(
        "log writer lock (its file keeps being replaced)",
    ))
}

/// Takes an exclusive lock on a log file for its writer (an open file
/// description's, as on `NAME.lock`), held as long as the file is open: the
/// writer holds the file it writes, so a second writer that got past a
/// removed `NAME.lock` still finds that file held. `Busy` when another
/// holds it.
fn hold_for_writer(file: &File) -> Result<()> {
    if fs::try_lock_exclusive(file.as_fd())? {
        Ok(())
    } else {
        Err(Error::Busy("log writer lock on its newest file"))
    }
}

/// Whether some process holds the writer lock of the log at `base`. Never
/// waits: a FIFO or other file put in the lock's place is no lock.
pub(crate) fn writer_lock_held(base: &Path) -> bool {
    locked_at(&lock_path(base))
}

/// Whether some process holds a lock on the regular file at `path`. Never
/// waits: a FIFO or other file put in its place is no lock.
fn locked_at(path: &Path) -> bool {
    let Ok(fd) = fs::open_read_only(path, false) else {
        return false;
    };
    fs::stat(fd.as_fd()).is_ok_and(|st| st.regular) && fs::is_locked(fd.as_fd())
}
