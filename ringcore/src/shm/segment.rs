//! Shared-memory segments: a named file (under `/dev/shm` or any path) or an
//! anonymous memfd, mapped `MAP_SHARED`.

use crate::error::{with_context, Error, Result};
use crate::sys::fs;
use crate::sys::map::Mapping;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A mapped shared-memory segment. Unmapped (and, when asked, unlinked)
/// when dropped.
pub struct Segment {
    map: Mapping,
    fd: OwnedFd,
    path: Option<PathBuf>,
    /// The temporary name of a file made for `path` where the file system
    /// has no `O_TMPFILE`, until it is published.
    staging: std::sync::Mutex<Option<PathBuf>>,
    unlink_on_drop: AtomicBool,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("path", &self.path)
            .field("len", &self.map.len())
            .finish_non_exhaustive()
    }
}

// SAFETY: the mapping is shared memory accessed through atomics and the
// role handles; the struct only owns the mapping and the descriptor.
unsafe impl Send for Segment {}
// SAFETY: as above; `&Segment` gives out only the base address and length.
unsafe impl Sync for Segment {}

/// Where a segment name lives: a bare name goes under `/dev/shm`, anything
/// with a `/` is a path used as given.
pub fn resolve_name(name: &str) -> Result<PathBuf> {
    if name.is_empty() || name.contains('\0') {
        return Err(Error::InvalidArgument(format!("bad segment name {name:?}")));
    }
    if name.contains('/') {
        Ok(PathBuf::from(name))
    } else {
        Ok(Path::new("/dev/shm").join(name))
    }
}

/// Who may open a named segment: the file's mode and group, set on the
/// file before it gets its name (whatever the umask).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    /// Permission bits (at most 0o777); default 0o600, the creating user only.
    pub mode: u32,
    /// Group owner; `None` keeps the creating process's group. The creating
    /// user must belong to it.
    pub group: Option<u32>,
}

impl Default for Permissions {
    fn default() -> Self {
        Permissions {
            mode: 0o600,
            group: None,
        }
    }
}

/// Storage for the first `len` bytes of a segment, now, where the file
/// system allocates ahead (tmpfs, ext4, xfs): a full file system (a full
/// `/dev/shm`) is this call's error, never a `SIGBUS` in a later write.
/// Nothing already there changes. In steps, so that a signal interrupting
/// one (tmpfs then undoes the step) costs that step only.
fn allocate_whole(fd: BorrowedFd<'_>, len: usize, path: Option<&Path>) -> Result<()> {
    const STEP: u64 = 64 << 20;
    let len = len as u64;
    (0..len).step_by(STEP as usize).try_for_each(|from| {
        fs::allocate(fd, from, STEP.min(len - from)).map_err(|e| {
            let what = path.map_or("a memfd segment".into(), |p| p.display().to_string());
            Error::Io(with_context(e, what))
        })
    })
}

impl Segment {
    /// Creates a segment file of `len` zero bytes for the name `path` and
    /// maps it, without naming it yet: an attacher sees nothing until
    /// [`publish`](Self::publish), then the whole segment. The file is made
    /// unnamed (`O_TMPFILE`) in the directory of `path`, or, where that
    /// cannot be, under a temporary name beside it.
    pub fn create_named(path: &Path, len: usize, perm: Permissions) -> Result<Segment> {
        if perm.mode & !0o777 != 0 {
            return Err(Error::InvalidArgument(format!(
                "segment mode {:#o} has bits beyond 0o777",
                perm.mode
            )));
        }
        let (fd, staging) = fs::open_unnamed(path)?;
        let made = fs::set_permissions(fd.as_fd(), perm.mode, perm.group)
            .map_err(|e| Error::Io(with_context(e, path.display())))
            .and_then(|()| Self::size_and_map(fd, len, Some(path.to_path_buf())));
        match made {
            Ok(seg) => {
                *seg.staging.lock().unwrap_or_else(|e| e.into_inner()) = staging;
                Ok(seg)
            }
            Err(e) => {
                if let Some(t) = &staging {
                    let _ = unlink(t);
                }
                Err(e)
            }
        }
    }

    /// Gives a segment made by [`create_named`](Self::create_named) its
    /// name, once its contents are whole. `AlreadyExists` when the name is
    /// taken (never replaced). Nothing to do for other segments.
    pub fn publish(&self) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut staging = self
            .staging
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        fs::name_file(self.fd.as_fd(), staging.as_deref(), path)?;
        if let Some(tmp) = staging.take() {
            let _ = unlink(&tmp);
        }
        Ok(())
    }

    /// Creates an anonymous memfd of `len` bytes, sealed against shrinking
    /// and growing, and maps it. Share it by passing [`fd`](Self::fd).
    pub fn create_memfd(debug_name: &str, len: usize) -> Result<Segment> {
        Self::size_and_map(fs::memfd(debug_name)?, len, None)
    }

    fn size_and_map(fd: OwnedFd, len: usize, path: Option<PathBuf>) -> Result<Segment> {
        if len == 0 || len > isize::MAX as usize {
            return Err(Error::InvalidArgument(format!("segment size {len}")));
        }
        fs::set_len(fd.as_fd(), len)?;
        allocate_whole(fd.as_fd(), len, path.as_deref())?;
        let sealed = path.is_none();
        if sealed {
            fs::seal_size(fd.as_fd())?;
        }
        let seg = Self::mapped(fd, len, path, sealed)?;
        // The creator's pages mapped now, so that its first lap over the
        // ring takes no page faults (where the kernel cannot, it faults as
        // it goes).
        seg.map.populate_write(0, len);
        Ok(seg)
    }

    /// Maps `len` bytes of `fd`. Unless its size was `sealed` before `len`
    /// was read (another process could shrink the file: a named one, or a
    /// descriptor whose size is not sealed), an access past its new end
    /// reads zeros (and writes go nowhere) instead of killing the process
    /// with `SIGBUS` ([`truncated`](Self::truncated)).
    fn mapped(fd: OwnedFd, len: usize, path: Option<PathBuf>, sealed: bool) -> Result<Segment> {
        let mut map = Mapping::shared(fd.as_fd(), len)?;
        if !sealed {
            map = map.guarded_past_end(fd.as_fd())?;
        }
        Ok(Segment {
            map,
            fd,
            path,
            staging: std::sync::Mutex::new(None),
            unlink_on_drop: AtomicBool::new(false),
        })
    }

    /// Opens an existing segment file (`O_NOFOLLOW`), waiting up to
    /// `timeout` for its name to appear, and maps it whole; a file shorter
    /// than `min_len` is refused at once (segments appear whole). The
    /// caller validates the header.
    pub fn open_named(path: &Path, min_len: usize, timeout: Duration) -> Result<Segment> {
        let deadline = crate::wait::Deadline::after(Some(timeout));
        let fd = loop {
            match fs::open_existing(path) {
                Ok(fd) => break fd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !deadline.passed() => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => return Err(e.into()),
            }
        };
        Self::map_whole(fd, Some(path.to_path_buf()), min_len)
    }

    /// Maps a segment received as a descriptor (for example over a Unix socket).
    pub fn from_fd(fd: OwnedFd, min_len: usize) -> Result<Segment> {
        Self::map_whole(fd, None, min_len)
    }

    fn map_whole(fd: OwnedFd, path: Option<PathBuf>, min_len: usize) -> Result<Segment> {
        let what = || {
            path.as_deref()
                .map_or("the segment".into(), |p| p.display().to_string())
        };
        // The seals before the size: a peer that shrinks the file after the
        // size is read and seals it then must not get an unguarded mapping
        // longer than the file.
        let sealed = fs::size_sealed(fd.as_fd());
        let st = fs::stat(fd.as_fd())?;
        if !st.regular {
            return Err(Error::InvalidHeader(format!(
                "{} is not a regular file",
                what()
            )));
        }
        // Segments appear whole: a short file is not one being made.
        if st.len < min_len {
            return Err(Error::InvalidHeader(format!(
                "{} is {} bytes, smaller than a segment header ({min_len})",
                what(),
                st.len
            )));
        }
        Self::mapped(fd, st.len, path, sealed)
    }

    /// Allocates what the first `len` bytes lack (see [`allocate_whole`]):
    /// an attacher's storage for holes in a segment made by another
    /// program, or punched since.
    pub(crate) fn allocate(&self, len: usize) -> Result<()> {
        allocate_whole(self.fd.as_fd(), len, self.path.as_deref())
    }

    /// Base address of the mapping.
    pub fn base(&self) -> NonNull<u8> {
        self.map.base()
    }

    /// Mapped length in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Never true: a segment has at least its header.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// The file path of a named segment.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The descriptor, to pass to another process ([`send_fd`](super::send_fd)).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Whether an access past the end of the file, shrunk under this
    /// mapping, was repaired with zeros (never for a sealed memfd).
    pub fn truncated(&self) -> bool {
        self.map.faulted()
    }

    /// Sets the `u32` at `offset` (4-aligned, in the first page) to 1 when
    /// a truncation is repaired: a ring's closed flag.
    pub(crate) fn mark_on_truncation(&self, offset: usize) {
        self.map.mark_on_truncation(offset);
    }

    /// Current size of the underlying file (a peer may have truncated it).
    pub fn file_len(&self) -> Result<usize> {
        Ok(fs::stat(self.fd.as_fd())?.len)
    }

    /// Whether the name still leads to this mapping's file (same device
    /// and inode), and not to one made since under the same name.
    fn name_is_ours(&self) -> bool {
        let Some(path) = &self.path else {
            return false;
        };
        // lstat: a link put in the segment's place is not the segment.
        match (fs::stat(self.fd.as_fd()), fs::lstat(path)) {
            (Ok(ours), Ok(named)) => ours.id == named.id,
            _ => false,
        }
    }

    /// Removes the name of a named segment (mappings stay valid).
    pub fn unlink(&self) -> Result<()> {
        match &self.path {
            Some(p) => unlink(p),
            None => Ok(()),
        }
    }

    /// Removes the name of a named segment if it still leads to this
    /// mapping's file (not one made since under the same name); whether it
    /// did.
    pub(crate) fn unlink_if_ours(&self) -> Result<bool> {
        match &self.path {
            Some(p) if self.name_is_ours() => unlink(p).map(|()| true),
            _ => Ok(false),
        }
    }

    /// Removes the name (of a named segment; anonymous ones have none) when
    /// this mapping is dropped: for a ring or pool, when that handle and
    /// every side taken from it are gone. Only if the name still leads to
    /// this segment's file: a segment made anew under the same name is
    /// left alone. Other mappings stay valid.
    pub fn set_unlink_on_drop(&self, unlink: bool) {
        self.unlink_on_drop.store(unlink, Ordering::Relaxed);
    }
}

/// Removes a segment file by path.
pub fn unlink(path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(|e| {
        Error::Io(with_context(
            e,
            format_args!("cannot unlink {}", path.display()),
        ))
    })
}

impl Drop for Segment {
    fn drop(&mut self) {
        let staging = self.staging.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(tmp) = staging.take() {
            // Never published.
            let _ = unlink(&tmp);
        }
        if *self.unlink_on_drop.get_mut() && self.name_is_ours() {
            let _ = self.unlink();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_segment_that_can_shrink_is_guarded() {
        let memfd = Segment::create_memfd("guard-test", 4096).unwrap();
        assert!(
            fs::set_len(memfd.fd(), 0).is_err(),
            "sealed before it is mapped"
        );
        let path = std::env::temp_dir().join(format!("ringcore-guard-{}", std::process::id()));
        let named = Segment::create_named(&path, 4096, Permissions::default()).unwrap();
        named.publish().unwrap();
        let _ = std::fs::remove_file(&path);
        // A raw segment gets no mark: its bytes are its user's.
        fs::set_len(named.fd(), 0).unwrap();
        // SAFETY: the mapping is 4096 bytes; the page past the end is
        // repaired (a SIGBUS here fails the test).
        let word = unsafe { named.base().as_ptr().add(0x180).read_volatile() };
        assert_eq!(word, 0);
        assert!(named.truncated());
    }
}
