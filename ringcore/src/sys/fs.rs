//! Files: memfds and their seals, files made without a name and named once
//! whole, permissions, sizes, and open-file-description locks.

use super::last_error;
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `path` as a C string; `InvalidInput` when it holds a NUL.
pub(crate) fn cpath(path: &Path) -> std::io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("path {} contains NUL", path.display()),
        )
    })
}

/// The directory `path` is in (`.` for a bare name).
pub(crate) fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Opens the existing file at `path` read-write, never through a symbolic
/// link (`NotFound` when there is none).
pub(crate) fn open_existing(path: &Path) -> std::io::Result<OwnedFd> {
    open(path, libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC)
}

/// `open(2)` of an existing `path` with `flags`, the error naming it.
fn open(path: &Path, flags: libc::c_int) -> std::io::Result<OwnedFd> {
    let c = cpath(path)?;
    // SAFETY: c is a valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), flags) };
    if fd < 0 {
        return Err(last_error("cannot open", Some(path)));
    }
    // SAFETY: a new descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the existing file at `path` for reading only, without waiting
/// (`O_NONBLOCK`: a FIFO put in a segment's place cannot block the open),
/// never as a controlling terminal (`O_NOCTTY`: a terminal swapped in for
/// a descriptor under `/proc/PID/fd` cannot become the caller's), and
/// never through a symbolic link unless `follow` (which the links of
/// `/proc/PID/fd` need).
pub(crate) fn open_read_only(path: &Path, follow: bool) -> std::io::Result<OwnedFd> {
    let nofollow = if follow { 0 } else { libc::O_NOFOLLOW };
    open(
        path,
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC | nofollow,
    )
}

/// A new file with no name yet in the directory of `path` (`O_TMPFILE`,
/// named later through `/proc/self/fd`), or, where the file system or a
/// missing `/proc` cannot do that, a new file under a temporary name beside
/// `path`, returned too (a crash before it is named leaves that name).
pub(crate) fn open_unnamed(path: &Path) -> std::io::Result<(OwnedFd, Option<PathBuf>)> {
    let dir = dir_of(path);
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
            return Err(last_error("cannot create a segment in", Some(dir)));
        }
    }
    let tmp = beside(path, "tmp");
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
        return Err(last_error("cannot create", Some(&tmp)));
    }
    // SAFETY: open returned a new descriptor that we now own.
    Ok((unsafe { OwnedFd::from_raw_fd(fd) }, Some(tmp)))
}

/// A name beside `path` that no other call gives: `path.TAG-PID-N`, with
/// this process's pid and a count.
fn beside(path: &Path, tag: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(
        ".{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    PathBuf::from(name)
}

/// Names a file from [`open_unnamed`] `path` (its temporary name
/// `staging`, or its descriptor `fd` through `/proc`); `AlreadyExists` when
/// `path` exists, which is never replaced.
pub(crate) fn name_file(
    fd: BorrowedFd<'_>,
    staging: Option<&Path>,
    path: &Path,
) -> std::io::Result<()> {
    let to = cpath(path)?;
    let from = match staging {
        Some(tmp) => cpath(tmp)?,
        None => CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("no NUL"),
    };
    // SAFETY: two valid C strings; linkat fails when `path` exists, and
    // follows /proc's link to the file.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc != 0 {
        return Err(last_error("cannot create", Some(path)));
    }
    Ok(())
}

/// Renames `from` to `to` unless `to` exists (`RENAME_NOREPLACE`); the
/// error as the system call gave it.
fn rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    let (f, t) = (cpath(from)?, cpath(to)?);
    // SAFETY: two valid C strings; the flag makes the call fail rather
    // than replace `to`.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Removes the name `path` only if it leads to the file `id` (device and
/// inode) and `still()` says so once the name is aside; whether it did.
/// The name is first moved aside, to a name beside it that no file has,
/// and the file there is checked: a file made anew under `path` meanwhile,
/// or one `still()` now refuses (judged again while no process can open
/// it by name), is moved back, never removed (it stays aside only if yet
/// another file took `path` in that instant, and the error says where).
/// Where the file system cannot rename without replacing, it checks,
/// then removes.
pub(crate) fn remove_if_same(
    path: &Path,
    id: (u64, u64),
    still: impl Fn() -> bool,
) -> std::io::Result<bool> {
    let aside = beside(path, "clean");
    if let Err(e) = rename_no_replace(path, &aside) {
        match e.raw_os_error() {
            // Gone meanwhile: nothing of it to remove.
            Some(libc::ENOENT) => return Ok(false),
            Some(libc::EINVAL | libc::ENOSYS) => {}
            _ => {
                return Err(crate::error::with_context(
                    e,
                    format_args!("cannot move {} aside", path.display()),
                ))
            }
        }
        if !lstat(path).is_ok_and(|st| st.id == id) || !still() {
            return Ok(false);
        }
        std::fs::remove_file(path)?;
        return Ok(true);
    }
    let removal = (lstat(&aside).is_ok_and(|st| st.id == id) && still())
        .then(|| std::fs::remove_file(&aside));
    if let Some(Ok(())) = removal {
        return Ok(true);
    }
    rename_no_replace(&aside, path).map_err(|e| {
        crate::error::with_context(
            e,
            format_args!("{} is now at {}", path.display(), aside.display()),
        )
    })?;
    match removal {
        Some(Err(e)) => Err(crate::error::with_context(
            e,
            format_args!("cannot remove {}", path.display()),
        )),
        _ => Ok(false),
    }
}

/// Sets the mode of the file (whatever the umask) and, when given, its group.
pub(crate) fn set_permissions(
    fd: BorrowedFd<'_>,
    mode: u32,
    group: Option<u32>,
) -> std::io::Result<()> {
    // SAFETY: fchmod on a descriptor we hold.
    if unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) } != 0 {
        return Err(last_error("fchmod", None));
    }
    if let Some(gid) = group {
        // SAFETY: fchown on a descriptor we hold; uid -1 leaves the owner.
        if unsafe { libc::fchown(fd.as_raw_fd(), u32::MAX, gid) } != 0 {
            return Err(last_error(
                &format!("cannot give group {gid} to the file"),
                None,
            ));
        }
    }
    Ok(())
}

/// A new anonymous memfd that can be sealed.
pub(crate) fn memfd(debug_name: &str) -> std::io::Result<OwnedFd> {
    let c = CString::new(debug_name).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "memfd name contains NUL")
    })?;
    // SAFETY: c is a valid C string.
    let fd = unsafe { libc::memfd_create(c.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(last_error("memfd_create", None));
    }
    // SAFETY: memfd_create returned a new descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Seals a memfd's size: it can neither shrink nor grow, nor be unsealed.
pub(crate) fn seal_size(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
    // SAFETY: fcntl on a descriptor we hold.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(last_error("sealing the memfd", None));
    }
    Ok(())
}

/// The ranges of `fd` at or after `from` that hold data, as the file
/// system tells (`SEEK_DATA` / `SEEK_HOLE`): what is not in them reads as
/// zeros. Where the file system cannot tell, the whole rest of the file.
pub(crate) fn data_ranges(fd: BorrowedFd<'_>, from: u64, len: u64) -> Vec<(u64, u64)> {
    let mut ranges = Vec::new();
    let mut at = from;
    while at < len {
        // SAFETY: lseek on a descriptor we hold.
        let data = unsafe { libc::lseek(fd.as_raw_fd(), at as libc::off_t, libc::SEEK_DATA) };
        if data < 0 {
            // ENXIO: no data after `at`; anything else: cannot tell.
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::ENXIO) {
                ranges.push((at, len));
            }
            break;
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd.as_raw_fd(), data, libc::SEEK_HOLE) };
        let end = if hole < 0 {
            len
        } else {
            (hole as u64).min(len)
        };
        if data as u64 >= end {
            break;
        }
        ranges.push((data as u64, end));
        at = end;
    }
    ranges
}

/// Makes the names in the directory of `path` durable (`fsync` of the
/// directory): a file just named survives a crash with its name.
pub(crate) fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = dir_of(path);
    let fd = open(dir, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)?;
    // SAFETY: fsync on a descriptor we hold.
    if unsafe { libc::fsync(fd.as_raw_fd()) } != 0 {
        return Err(last_error("fsync", Some(dir)));
    }
    Ok(())
}

/// Whether the file's size is sealed (a memfd sealed by [`seal_size`]):
/// nobody can shrink it under a mapping, so reading it cannot fault.
pub(crate) fn size_sealed(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: fcntl on a descriptor we hold.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    let both = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;
    seals >= 0 && seals & both == both
}

/// Sets the file's size to `len` bytes (new bytes read as zero).
pub(crate) fn set_len(fd: BorrowedFd<'_>, len: usize) -> std::io::Result<()> {
    // SAFETY: ftruncate on a descriptor we hold, open for writing.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } != 0 {
        return Err(last_error("ftruncate", None));
    }
    Ok(())
}

/// Allocates storage for `len` bytes of the file from `offset`
/// (`fallocate`; nothing already there changes), so later writes through a
/// mapping there cannot fail for lack of space (`SIGBUS`): a full file
/// system is this call's `Err` instead. The size stays as it is
/// (`FALLOC_FL_KEEP_SIZE`): a file another process shrank is not grown
/// back with zeros where its mapper would look for its bytes. Where the
/// file system cannot allocate ahead, nothing happens (`Ok`).
pub(crate) fn allocate(fd: BorrowedFd<'_>, offset: u64, len: u64) -> std::io::Result<()> {
    loop {
        // SAFETY: fallocate on a descriptor we hold; no memory is passed.
        let rc = unsafe {
            libc::fallocate(
                fd.as_raw_fd(),
                libc::FALLOC_FL_KEEP_SIZE,
                offset as libc::off_t,
                len as libc::off_t,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EOPNOTSUPP | libc::ENOSYS) => return Ok(()),
            _ => return Err(super::last_error("fallocate", None)),
        }
    }
}

/// The file's size, whether it is a regular file, its device and inode,
/// its owner and its permission bits.
pub(crate) struct FileStat {
    pub(crate) len: usize,
    pub(crate) regular: bool,
    pub(crate) id: (u64, u64),
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// Permission bits with setuid, setgid and sticky (`st_mode & 0o7777`).
    pub(crate) mode: u32,
    /// `st_mode & S_IFMT`: what kind of file it is.
    pub(crate) file_type: u32,
    /// Names the file has (0: removed, open only through descriptors).
    pub(crate) links: libc::nlink_t,
}

fn stat_of(st: &libc::stat) -> FileStat {
    FileStat {
        len: st.st_size.max(0) as usize,
        regular: st.st_mode & libc::S_IFMT == libc::S_IFREG,
        id: (st.st_dev, st.st_ino),
        uid: st.st_uid,
        gid: st.st_gid,
        mode: st.st_mode & 0o7777,
        file_type: st.st_mode & libc::S_IFMT,
        links: st.st_nlink,
    }
}

/// What `fstat` says of `fd`.
pub(crate) fn stat(fd: BorrowedFd<'_>) -> std::io::Result<FileStat> {
    // SAFETY: an all-zero stat is a valid out-buffer for fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open; st is writable.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(last_error("fstat", None));
    }
    Ok(stat_of(&st))
}

/// What `lstat` says of `path` (a symbolic link itself, not where it leads).
pub(crate) fn lstat(path: &Path) -> std::io::Result<FileStat> {
    let c = cpath(path)?;
    // SAFETY: an all-zero stat is a valid out-buffer for lstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid C string; st is writable.
    if unsafe { libc::lstat(c.as_ptr(), &mut st) } != 0 {
        return Err(last_error("lstat", Some(path)));
    }
    Ok(stat_of(&st))
}

/// Open-file-description lock commands (Linux): not released by closing
/// another descriptor of the same file, unlike process-wide POSIX locks.
const F_OFD_GETLK: libc::c_int = 36;
const F_OFD_SETLK: libc::c_int = 37;

fn whole_file_lock(kind: libc::c_int) -> libc::flock {
    // SAFETY: an all-zero flock is valid; we set the fields we use.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl
}

/// Takes an exclusive lock on the whole file for this open file
/// description; false when another one holds it.
pub(crate) fn try_lock_exclusive(fd: BorrowedFd<'_>) -> std::io::Result<bool> {
    let mut fl = whole_file_lock(libc::F_WRLCK);
    // SAFETY: fcntl on a descriptor we hold with a valid flock.
    if unsafe { libc::fcntl(fd.as_raw_fd(), F_OFD_SETLK, &mut fl) } == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(false),
        _ => Err(e),
    }
}

/// Whether some open file description holds a lock on the file.
pub(crate) fn is_locked(fd: BorrowedFd<'_>) -> bool {
    let mut fl = whole_file_lock(libc::F_WRLCK);
    // SAFETY: fcntl on a descriptor we hold with a valid flock; GETLK only reports.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), F_OFD_GETLK, &mut fl) };
    rc == 0 && fl.l_type != libc::F_UNLCK as libc::c_short
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name is removed only while it leads to the file judged; a file
    /// made anew under it keeps it, and nothing is left aside either way.
    #[test]
    fn remove_if_same_removes_only_the_file_it_was_given() {
        let dir = std::env::temp_dir().join(format!("rmpsc-fs-remove-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("seg");
        std::fs::write(&path, b"judged").unwrap();
        let judged = lstat(&path).unwrap().id;
        // Made anew under the name after the judging (while the judged one
        // still existed, so that it cannot have the judged one's inode).
        let other = dir.join("other");
        std::fs::write(&other, b"new").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert!(!remove_if_same(&path, judged, || true).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let new = lstat(&path).unwrap().id;
        // Judged again once aside, and kept: moved back.
        assert!(!remove_if_same(&path, new, || false).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert!(remove_if_same(&path, new, || true).unwrap());
        assert!(!path.exists());
        // Gone meanwhile (another clean removed it): nothing to remove.
        assert!(!remove_if_same(&path, new, || true).unwrap());
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
