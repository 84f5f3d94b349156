//! A read-only view of a whole file that another process owns: a segment
//! under `/dev/shm`, a channel segment reached through `/proc`, or any
//! file met while scanning a directory.
//!
//! The file is opened `O_RDONLY` and mapped `PROT_READ`, so nothing this
//! process does can change it; the mapping is guarded against the file
//! being shrunk under it ([`Mapping::inspect`]). Every access is bounded by
//! the mapping: an offset or length read from the file gives `None`, never
//! a read outside it.

use crate::error::{with_context, Error, Result};
use crate::sys::fs::{self, FileStat};
use crate::sys::map::Mapping;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

/// Types made of atomics only, read through a shared reference into a
/// view: any bits are a valid value and a load never writes.
///
/// # Safety
/// The type must consist of atomic integers (and padding arrays of them or
/// of plain integers) with no invariant between its fields.
pub(crate) unsafe trait Plain {}

// SAFETY: atomic integers.
unsafe impl Plain for crate::sync::AtomicU32 {}
// SAFETY: atomic integers.
unsafe impl Plain for crate::sync::AtomicU64 {}
// SAFETY: the segment header is made of atomics (`layout`).
unsafe impl Plain for super::layout::Header {}
// SAFETY: three lines of atomics (`ring::raw`).
unsafe impl Plain for crate::ring::raw::RingIndices {}

/// A file mapped read-only, whole.
pub(crate) struct View {
    map: Mapping,
    fd: OwnedFd,
    /// What `fstat` said when it was mapped.
    pub(crate) stat: FileStat,
    /// The path it was opened by (for messages).
    pub(crate) path: PathBuf,
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("path", &self.path)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

// SAFETY: the mapping is read-only shared memory reached through atomics and
// bounded copies; the struct owns the mapping and the descriptor.
unsafe impl Send for View {}
// SAFETY: as above.
unsafe impl Sync for View {}

impl View {
    /// Opens the file at `path` read-only (through a symbolic link only when
    /// `follow`) and maps it whole. Errors: `Io` (cannot open, naming the
    /// file), `InvalidHeader` (not a regular file, empty).
    pub(crate) fn open(path: &Path, follow: bool) -> Result<View> {
        let fd = fs::open_read_only(path, follow)?;
        Self::map(fd, path.to_path_buf())
    }

    fn map(fd: OwnedFd, path: PathBuf) -> Result<View> {
        let stat = fs::stat(fd.as_fd())?;
        if !stat.regular {
            return Err(Error::InvalidHeader(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        if stat.len == 0 {
            return Err(Error::InvalidHeader(format!("{} is empty", path.display())));
        }
        let map = Mapping::inspect(fd.as_fd(), stat.len)
            .map_err(|e| Error::Io(with_context(e, format_args!("mmap {}", path.display()))))?;
        Ok(View {
            map,
            fd,
            stat,
            path,
        })
    }

    /// Mapped bytes (the file's size when it was mapped).
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// A `T` at `offset`, when it lies inside the mapping and is aligned.
    pub(crate) fn at<T: Plain>(&self, offset: usize) -> Option<&T> {
        let size = std::mem::size_of::<T>();
        if offset.checked_add(size)? > self.len() || offset % std::mem::align_of::<T>() != 0 {
            return None;
        }
        // SAFETY: inside the mapping (checked above) and aligned (the
        // mapping is page-aligned); T is made of atomics (`Plain`), valid for
        // any bits, and only loaded through the shared reference.
        Some(unsafe { &*self.map.base().as_ptr().add(offset).cast::<T>() })
    }

    /// The address of `len` bytes at `offset`, when they lie inside the mapping.
    pub(crate) fn ptr(&self, offset: usize, len: usize) -> Option<NonNull<u8>> {
        if offset.checked_add(len)? > self.len() {
            return None;
        }
        // SAFETY: offset + len is within the mapping (checked above).
        Some(unsafe { self.map.base().add(offset) })
    }

    /// A copy of `len` bytes at `offset`, when they lie inside the mapping.
    /// Another process may be writing them: the caller checks the copy
    /// (positions, commit words) afterwards.
    pub(crate) fn copy(&self, offset: usize, len: usize) -> Option<Vec<u8>> {
        let p = self.ptr(offset, len)?;
        // SAFETY: [p, p + len) lies inside this view's mapping (checked by `ptr`).
        Some(unsafe { copy_shared(p, len) })
    }

    /// Whether the file was shrunk below what is mapped: a read hit past
    /// its end (and saw zeros), or its size is smaller now.
    pub(crate) fn truncated(&self) -> bool {
        self.map.faulted() || fs::stat(self.fd.as_fd()).map_or(true, |s| s.len < self.len())
    }

    /// The error for a view whose file was shrunk while it was read.
    pub(crate) fn truncated_error(&self) -> Error {
        Error::Corrupt(format!(
            "{} was truncated while being read (it was {} bytes)",
            self.path.display(),
            self.len()
        ))
    }
}

/// Copies `len` bytes of shared memory at `p` that another process may be
/// writing at the same time; every load of the copy is done before any
/// load after the call (a fence), so a position or commit word read
/// afterwards vouches for it.
///
/// # Safety
/// `[p, p + len)` lies inside a mapping that stays mapped during the call.
pub(crate) unsafe fn copy_shared(p: NonNull<u8>, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    // SAFETY: [p, p + len) is mapped (the contract above); the bytes may
    // change while copied (another process), which the caller detects by
    // re-checking positions or commit words, never by trusting the copy.
    unsafe { std::ptr::copy_nonoverlapping(p.as_ptr(), out.as_mut_ptr(), len) };
    // The caller's re-check comes after this: an Acquire load alone would
    // let the copy's loads move past it (on a weakly ordered CPU, or by the
    // compiler), and a copy taken after the re-check proves nothing.
    std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
    out
}
