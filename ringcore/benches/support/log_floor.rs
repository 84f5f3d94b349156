//! The floor of the log benchmark: a bare mapped-file append, what any log
//! that writes through a shared mapping pays the kernel and nothing more.
//!
//! Files `PATH.0`, `PATH.1`, ... of [`FILE`] bytes, readied as ringmpsc's
//! writer readies its own (`fallocate`, then `MADV_POPULATE_WRITE`, the
//! fastest of the ways measured, [`STEP`] bytes at a time). A record is
//! ringmpsc's without checksums: an 8-byte commit word (length + 1, stored
//! last with Release), an 8-byte timestamp, the payload, padding to 8
//! bytes. No regions, no checks, no wake-ups: a reader spins on the next
//! commit word, and [`ROLL`] there sends it to the next file.

use memmap2::{Advice, MmapOptions, MmapRaw};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{open_retry, FILE};

/// Bytes readied at a time, as ringmpsc's writer does.
const STEP: u64 = 256 << 10;
/// Bytes before the payload.
const HEADER: u64 = 16;
/// The commit word of the last record of a file.
const ROLL: u64 = u64::MAX;

fn file_path(path: &Path, seq: u64) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{seq}"));
    name.into()
}

fn record_len(payload: u64) -> u64 {
    (HEADER + payload).next_multiple_of(8)
}

/// The 8-byte word at `pos` of a mapping of [`FILE`] bytes.
fn word(map: &MmapRaw, pos: u64) -> &AtomicU64 {
    assert!(pos % 8 == 0 && pos + 8 <= map.len() as u64);
    // SAFETY: 8-aligned (the mapping is page-aligned) and inside the
    // mapping, checked above; shared words are only used atomically.
    unsafe { &*map.as_mut_ptr().add(pos as usize).cast::<AtomicU64>() }
}

/// Appends records to the files of a floor log.
pub struct Writer {
    path: PathBuf,
    seq: u64,
    file: File,
    map: MmapRaw,
    pos: u64,
    ready: u64,
}

impl Writer {
    /// Starts the log at `path` (file 0).
    pub fn create(path: &Path) -> Writer {
        Self::create_file(path, 0)
    }

    fn create_file(path: &Path, seq: u64) -> Writer {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(file_path(path, seq))
            .unwrap();
        file.set_len(FILE).unwrap();
        let map = MmapOptions::new().map_raw(&file).unwrap();
        Writer {
            path: path.to_path_buf(),
            seq,
            file,
            map,
            pos: 0,
            ready: 0,
        }
    }

    /// Room for a `len`-byte payload, rolling to the next file as needed.
    #[inline]
    pub fn reserve(&mut self, len: usize) -> &mut [u8] {
        let rec = record_len(len as u64);
        assert!(
            rec + 8 <= FILE,
            "a record of {len} bytes does not fit a file"
        );
        if self.pos + rec + 8 > FILE {
            let next = Self::create_file(&self.path, self.seq + 1);
            word(&self.map, self.pos).store(ROLL, Ordering::Release);
            *self = next;
        }
        while self.pos + rec > self.ready {
            let end = (self.ready + STEP).min(FILE);
            self.prepare(end);
            self.ready = end;
        }
        let at = (self.pos + HEADER) as usize;
        assert!(at + len <= self.map.len());
        // SAFETY: inside the mapping (checked above), past the last commit:
        // no reader reads these bytes yet.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(at), len) }
    }

    /// Readies the file from `self.ready` to `end` as ringmpsc's writer
    /// does: a file system without `fallocate` goes without, and a kernel
    /// without `MADV_POPULATE_WRITE` (before Linux 5.14) leaves the pages to
    /// page faults.
    fn prepare(&self, end: u64) {
        let len = end - self.ready;
        loop {
            // SAFETY: fallocate on our own descriptor; no memory is passed.
            let rc = unsafe {
                libc::fallocate(
                    self.file.as_raw_fd(),
                    libc::FALLOC_FL_KEEP_SIZE,
                    self.ready as libc::off_t,
                    len as libc::off_t,
                )
            };
            if rc == 0 {
                break;
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EOPNOTSUPP | libc::ENOSYS) => break,
                _ => panic!("fallocate: {e}"),
            }
        }
        let _ = self
            .map
            .advise_range(Advice::PopulateWrite, self.ready as usize, len as usize);
    }

    /// Publishes the reserved `len` bytes with `timestamp`.
    #[inline]
    pub fn commit(&mut self, len: usize, timestamp: u64) {
        word(&self.map, self.pos + 8).store(timestamp, Ordering::Relaxed);
        word(&self.map, self.pos).store(len as u64 + 1, Ordering::Release);
        self.pos += record_len(len as u64);
    }
}

/// Reads the records of a floor log from its first file.
pub struct Reader {
    path: PathBuf,
    seq: u64,
    map: MmapRaw,
    pos: u64,
}

impl Reader {
    /// Opens file 0 of the log at `path`, waiting for its writer.
    pub fn open(path: &Path) -> Reader {
        Reader {
            path: path.to_path_buf(),
            seq: 0,
            map: Self::map(path, 0),
            pos: 0,
        }
    }

    /// File `seq`, once its writer has sized it.
    fn map(path: &Path, seq: u64) -> MmapRaw {
        let file = open_retry(|| {
            let f = File::open(file_path(path, seq))?;
            match f.metadata()?.len() {
                FILE => Ok(f),
                _ => Err(std::io::Error::other("not sized yet")),
            }
        });
        MmapOptions::new().map_raw_read_only(&file).unwrap()
    }

    /// The next record's payload, if it is committed.
    #[inline]
    pub fn try_read(&mut self) -> Option<&[u8]> {
        let mut commit = word(&self.map, self.pos).load(Ordering::Acquire);
        if commit == ROLL {
            self.seq += 1;
            self.map = Self::map(&self.path, self.seq);
            self.pos = 0;
            commit = word(&self.map, 0).load(Ordering::Acquire);
        }
        let len = commit.checked_sub(1)?;
        let at = self.pos + HEADER;
        let fits = at
            .checked_add(len)
            .and_then(|end| end.checked_add(8))
            .is_some_and(|end| end <= FILE);
        assert!(fits, "floor log: bad commit word {commit}");
        self.pos += record_len(len);
        // SAFETY: inside the mapping (checked above); committed bytes,
        // which the writer no longer changes.
        Some(unsafe {
            std::slice::from_raw_parts(self.map.as_ptr().add(at as usize), len as usize)
        })
    }
}
