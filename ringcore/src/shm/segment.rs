//! Shared-memory segments: a named file (under `/dev/shm` or any path) or an
//! anonymous memfd, mapped `MAP_SHARED`.

use crate::error::{Error, Result};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A mapped shared-memory segment. Unmapped (and, when asked, unlinked)
/// when dropped.
pub struct Segment {
    base: NonNull<u8>,
    len: usize,
    fd: OwnedFd,
    path: Option<PathBuf>,
    /// The temporary name of a file made for `path` where the file system
    /// has no `O_TMPFILE`, until it is published.
    staging: std::sync::Mutex<Option<PathBuf>>,
    unlink_on_drop: AtomicBool,
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

fn cpath(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::InvalidArgument(format!("path {} contains NUL", path.display())))
}

fn last_os_error(what: &str, path: Option<&Path>) -> Error {
    let e = std::io::Error::last_os_error();
    let msg = match path {
        Some(p) => format!("{what} {}: {e}", p.display()),
        None => format!("{what}: {e}"),
    };
    Error::Io(std::io::Error::new(e.kind(), msg))
}

fn map(fd: &OwnedFd, len: usize) -> Result<NonNull<u8>> {
    // SAFETY: a fresh shared mapping of a file we hold open; the kernel
    // picks the address. Errors are reported by MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(last_os_error("mmap", None));
    }
    Ok(NonNull::new(p.cast()).expect("mmap never returns NULL on success"))
}

fn file_size(fd: &OwnedFd) -> Result<(usize, bool)> {
    // SAFETY: an all-zero stat is a valid out-buffer for fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open; st is writable.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(last_os_error("fstat", None));
    }
    let regular = st.st_mode & libc::S_IFMT == libc::S_IFREG;
    Ok((st.st_size.max(0) as usize, regular))
}

/// A new file with no name yet in the directory of `path` (`O_TMPFILE`,
/// named later through `/proc/self/fd`), or, where the file system or the
/// missing `/proc` cannot do that, a new file under a temporary name beside
/// `path`, returned too (a crash before it is published leaves that name).
fn open_unnamed(path: &Path) -> Result<(OwnedFd, Option<PathBuf>)> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let flags = libc::O_RDWR | libc::O_CLOEXEC;
    if Path::new("/proc/self/fd").is_dir() {
        let c = cpath(dir)?;
        // SAFETY: c is a valid C string; O_TMPFILE makes an unnamed file.
        let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_TMPFILE, 0o600 as libc::c_uint) };
        if fd >= 0 {
            // SAFETY: open returned a new descriptor that we now own.
            return Ok((unsafe { OwnedFd::from_raw_fd(fd) }, None));
        }
        let unsupported = matches!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EOPNOTSUPP) | Some(libc::EISDIR) | Some(libc::EINVAL)
        );
        if !unsupported {
            return Err(last_os_error("cannot create a segment in", Some(dir)));
        }
    }
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = PathBuf::from(tmp);
    let c = cpath(&tmp)?;
    // SAFETY: c is a valid C string; the flags make a new file or fail.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            flags | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
            0o600 as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(last_os_error("cannot create", Some(&tmp)));
    }
    // SAFETY: open returned a new descriptor that we now own.
    Ok((unsafe { OwnedFd::from_raw_fd(fd) }, Some(tmp)))
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

impl Segment {
    /// Creates a segment file of `len` zero bytes for the name `path` and
    /// maps it, without naming it yet: an attacher sees nothing until
    /// [`publish`](Self::publish), then the whole segment. The file is made
    /// unnamed (`O_TMPFILE`) in the directory of `path`, or, where the file
    /// system cannot, under a temporary name beside it.
    pub fn create_named(path: &Path, len: usize, perm: Permissions) -> Result<Segment> {
        if perm.mode & !0o777 != 0 {
            return Err(Error::InvalidArgument(format!(
                "segment mode {:#o} has bits beyond 0o777",
                perm.mode
            )));
        }
        let (fd, staging) = open_unnamed(path)?;
        let mut seg = Self::size_and_map(fd, len, Some(path.to_path_buf()));
        if let Ok(s) = &mut seg {
            *s.staging.get_mut().unwrap_or_else(|e| e.into_inner()) = staging.clone();
            if let Err(e) = s.set_permissions(perm) {
                seg = Err(e);
            }
        } else if let Some(t) = &staging {
            let _ = unlink(t);
        }
        seg
    }

    fn set_permissions(&self, perm: Permissions) -> Result<()> {
        let fd = self.fd.as_raw_fd();
        // SAFETY: fchmod on our own descriptor.
        if unsafe { libc::fchmod(fd, perm.mode as libc::mode_t) } != 0 {
            return Err(last_os_error("fchmod", self.path.as_deref()));
        }
        if let Some(gid) = perm.group {
            // SAFETY: fchown on our own descriptor; uid -1 leaves the owner.
            if unsafe { libc::fchown(fd, u32::MAX, gid) } != 0 {
                return Err(last_os_error(
                    &format!("cannot give group {gid} to"),
                    self.path.as_deref(),
                ));
            }
        }
        Ok(())
    }

    /// Gives a segment made by [`create_named`](Self::create_named) its
    /// name, once its contents are whole. `AlreadyExists` when the name is
    /// taken (never replaced). Nothing to do for other segments.
    pub fn publish(&self) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let c = cpath(path)?;
        let mut staging = self
            .staging
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let from = match staging.as_ref() {
            Some(tmp) => cpath(tmp)?,
            None => CString::new(format!("/proc/self/fd/{}", self.fd.as_raw_fd())).expect("no NUL"),
        };
        // SAFETY: two valid C strings; linkat fails when `path` exists (a
        // name is never replaced), and follows /proc's link to our file.
        let linked = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                c.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if linked != 0 {
            return Err(last_os_error("cannot create", Some(path)));
        }
        if let Some(tmp) = staging.take() {
            let _ = unlink(&tmp);
        }
        Ok(())
    }

    /// Creates an anonymous memfd of `len` bytes, sealed against shrinking
    /// and growing, and maps it. Share it by passing [`fd`](Self::fd).
    pub fn create_memfd(debug_name: &str, len: usize) -> Result<Segment> {
        let c = CString::new(debug_name)
            .map_err(|_| Error::InvalidArgument("memfd name contains NUL".into()))?;
        // SAFETY: c is a valid C string.
        let fd =
            unsafe { libc::memfd_create(c.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
        if fd < 0 {
            return Err(last_os_error("memfd_create", None));
        }
        // SAFETY: memfd_create returned a new descriptor that we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let seg = Self::size_and_map(fd, len, None)?;
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        // SAFETY: fcntl on our own descriptor.
        if unsafe { libc::fcntl(seg.fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return Err(last_os_error("sealing the memfd", None));
        }
        Ok(seg)
    }

    fn size_and_map(fd: OwnedFd, len: usize, path: Option<PathBuf>) -> Result<Segment> {
        if len == 0 || len > isize::MAX as usize {
            return Err(Error::InvalidArgument(format!("segment size {len}")));
        }
        // SAFETY: fd is open for writing.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } != 0 {
            return Err(last_os_error("ftruncate", path.as_deref()));
        }
        let base = map(&fd, len)?;
        Ok(Segment {
            base,
            len,
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
        let c = cpath(path)?;
        let deadline = Instant::now() + timeout;
        let fd = loop {
            // SAFETY: c is a valid C string.
            let fd = unsafe {
                libc::open(
                    c.as_ptr(),
                    libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                )
            };
            if fd >= 0 {
                // SAFETY: a new descriptor that we now own.
                break unsafe { OwnedFd::from_raw_fd(fd) };
            }
            let err = last_os_error("cannot open", Some(path));
            let missing = std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOENT);
            if !missing || Instant::now() >= deadline {
                return Err(err);
            }
            std::thread::sleep(Duration::from_millis(1));
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
        let (len, regular) = file_size(&fd)?;
        if !regular {
            return Err(Error::InvalidHeader(format!(
                "{} is not a regular file",
                what()
            )));
        }
        // Segments appear whole: a short file is not one being made.
        if len < min_len {
            return Err(Error::InvalidHeader(format!(
                "{} is {len} bytes, smaller than a segment header ({min_len})",
                what()
            )));
        }
        let base = map(&fd, len)?;
        Ok(Segment {
            base,
            len,
            fd,
            path,
            staging: std::sync::Mutex::new(None),
            unlink_on_drop: AtomicBool::new(false),
        })
    }

    /// Base address of the mapping.
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// Mapped length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: a segment has at least its header.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file path of a named segment.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The descriptor, to pass to another process ([`send_fd`](super::send_fd)).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Current size of the underlying file (a peer may have truncated it).
    pub fn file_len(&self) -> Result<usize> {
        Ok(file_size(&self.fd)?.0)
    }

    /// Whether the name still leads to this mapping's file (same device
    /// and inode), and not to one made since under the same name.
    fn name_is_ours(&self) -> bool {
        let Some(path) = &self.path else {
            return false;
        };
        let Ok(c) = cpath(path) else {
            return false;
        };
        // SAFETY: all-zero stats are valid out-buffers.
        let (mut ours, mut named): (libc::stat, libc::stat) =
            unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
        // SAFETY: fd is open, c is a valid C string, both buffers writable;
        // lstat does not follow a link put in the segment's place.
        let ok = unsafe {
            libc::fstat(self.fd.as_raw_fd(), &mut ours) == 0
                && libc::lstat(c.as_ptr(), &mut named) == 0
        };
        ok && (ours.st_dev, ours.st_ino) == (named.st_dev, named.st_ino)
    }

    /// Removes the name of a named segment (mappings stay valid).
    pub fn unlink(&self) -> Result<()> {
        match &self.path {
            Some(p) => unlink(p),
            None => Ok(()),
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
    let c = cpath(path)?;
    // SAFETY: c is a valid C string.
    if unsafe { libc::unlink(c.as_ptr()) } != 0 {
        return Err(last_os_error("cannot unlink", Some(path)));
    }
    Ok(())
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: base/len describe our own mapping, unmapped once.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
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
