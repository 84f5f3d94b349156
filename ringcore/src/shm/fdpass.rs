//! Passing descriptors between processes over Unix sockets (SCM_RIGHTS),
//! the way to share an anonymous memfd segment.

use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Most descriptors [`recv_with_fds`] takes from one message.
pub(crate) const MAX_FDS: usize = 4;

/// Sends `data` (at least one byte) and `fds` as one message over the
/// connected Unix socket `sock`.
pub(crate) fn send_with_fds(sock: &UnixStream, data: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
    assert!(!data.is_empty() && fds.len() <= MAX_FDS);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let fd_bytes = std::mem::size_of_val(fds) as u32;
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(fd_bytes) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: an all-zero msghdr is valid; we fill the fields we use.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: msg points at a control buffer of CMSG_SPACE(fd_bytes)
        // bytes, so CMSG_FIRSTHDR is non-NULL and has room for the ints.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes) as _;
            let out = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
            for (i, fd) in fds.iter().enumerate() {
                std::ptr::write_unaligned(out.add(i), fd.as_raw_fd());
            }
        }
    }
    // SAFETY: sock is a connected socket; msg and its buffers outlive the call.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    if n < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    if n as usize != data.len() {
        return Err(Error::Disconnected);
    }
    Ok(())
}

/// Receives one message sent with [`send_with_fds`] into `buf`: the bytes
/// read (0: the peer closed) and the descriptors it carried (at most
/// [`MAX_FDS`]; any beyond are closed by the kernel).
pub(crate) fn recv_with_fds(sock: &UnixStream, buf: &mut [u8]) -> Result<(usize, Vec<OwnedFd>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let fd_bytes = (MAX_FDS * std::mem::size_of::<libc::c_int>()) as u32;
    // SAFETY: pure size computation.
    let space = unsafe { libc::CMSG_SPACE(fd_bytes) } as usize;
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
    let mut fds = Vec::new();
    // SAFETY: the kernel filled msg; CMSG_FIRSTHDR/CMSG_NXTHDR/CMSG_DATA
    // stay within `control`, and each header's length bounds the ints read.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data_len = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let p = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                for i in 0..data_len / std::mem::size_of::<libc::c_int>() {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(p.add(i))));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n as usize, fds))
}

/// Sends `fd` over the connected Unix socket `sock` (with one data byte).
pub fn send_fd(sock: &UnixStream, fd: BorrowedFd<'_>) -> Result<()> {
    send_with_fds(sock, &[0], &[fd])
}

/// Receives one descriptor sent with [`send_fd`] on `sock`.
pub fn recv_fd(sock: &UnixStream) -> Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let (n, mut fds) = recv_with_fds(sock, &mut byte)?;
    if n == 0 {
        return Err(Error::Disconnected);
    }
    if fds.len() != 1 {
        return Err(Error::InvalidArgument(format!(
            "the message carried {} descriptors, expected one",
            fds.len()
        )));
    }
    Ok(fds.remove(0))
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
