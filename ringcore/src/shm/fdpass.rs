//! Passing descriptors between processes over Unix sockets (SCM_RIGHTS),
//! the way to share an anonymous memfd segment.

use crate::error::{Error, Result};
use crate::sys::socket;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Sends `data` (at least one byte) and `fds` as one message over the
/// connected Unix socket `sock`; `Disconnected` when the peer took less.
pub(crate) fn send_with_fds(sock: &UnixStream, data: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
    if socket::send_with_fds(sock, data, fds)? != data.len() {
        return Err(Error::Disconnected);
    }
    Ok(())
}

/// Receives one message sent with [`send_with_fds`] into `buf`: the bytes
/// read (0: the peer closed) and the descriptors it carried.
pub(crate) fn recv_with_fds(sock: &UnixStream, buf: &mut [u8]) -> Result<(usize, Vec<OwnedFd>)> {
    Ok(socket::recv_with_fds(sock, buf)?)
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
#[derive(Debug)]
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
