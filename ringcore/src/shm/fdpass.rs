//! Passing descriptors between processes over Unix sockets (SCM_RIGHTS),
//! the way to share an anonymous memfd segment.

use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Sends `fd` over the connected Unix socket `sock` (with one data byte).
pub fn send_fd(sock: &UnixStream, fd: BorrowedFd<'_>) -> Result<()> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: an all-zero msghdr is valid; we fill the fields we use.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg points at a control buffer of CMSG_SPACE(int) bytes, so
    // CMSG_FIRSTHDR is non-NULL and has room for one int of data.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), fd.as_raw_fd());
    }
    // SAFETY: sock is a connected socket; msg and its buffers outlive the call.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    if n != 1 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

/// Receives one descriptor sent with [`send_fd`] on `sock`.
pub fn recv_fd(sock: &UnixStream) -> Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: an all-zero msghdr is valid; we fill the fields we use.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: sock is a connected socket; the buffers outlive the call.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    if n == 0 {
        return Err(Error::Disconnected);
    }
    // SAFETY: the kernel filled msg; CMSG_FIRSTHDR/CMSG_DATA stay within
    // `control`, and we check type and length before reading the int.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
            || ((*cmsg).cmsg_len as usize)
                < libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as usize
        {
            return Err(Error::InvalidArgument(
                "the message carried no descriptor".into(),
            ));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Connects to the Unix socket at `path`.
pub fn connect_unix(path: impl AsRef<Path>) -> Result<UnixStream> {
    Ok(UnixStream::connect(path)?)
}

/// A Unix socket that hands out descriptors; its file is removed on drop.
///
/// ```no_run
/// use ringcore::shm::{FdServer, SharedRing, send_fd};
/// let ring = SharedRing::create_slots(None, 12, 8)?; // anonymous memfd
/// let server = FdServer::listen("/tmp/ring.sock")?;
/// let conn = server.accept()?;
/// send_fd(&conn, ring.fd())?;
/// # Ok::<(), ringcore::Error>(())
/// ```
pub struct FdServer {
    listener: UnixListener,
    path: PathBuf,
}

impl FdServer {
    /// Binds and listens at `path` (which must not exist).
    pub fn listen(path: impl AsRef<Path>) -> Result<FdServer> {
        let path = path.as_ref().to_path_buf();
        Ok(FdServer {
            listener: UnixListener::bind(&path)?,
            path,
        })
    }

    /// Accepts one connection.
    pub fn accept(&self) -> Result<UnixStream> {
        Ok(self.listener.accept()?.0)
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FdServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
