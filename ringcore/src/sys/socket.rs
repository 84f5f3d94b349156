//! Unix sockets: descriptors passed with SCM_RIGHTS, the peer's
//! credentials, and whether the peer closed its end.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// Most descriptors [`recv_with_fds`] takes from one message.
pub(crate) const MAX_FDS: usize = 4;

/// Sends `data` (at least one byte) and `fds` as one message over the
/// connected Unix socket `sock`; the bytes sent.
pub(crate) fn send_with_fds(
    sock: &UnixStream,
    data: &[u8],
    fds: &[BorrowedFd<'_>],
) -> std::io::Result<usize> {
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
        return Err(std::io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Receives one message sent with [`send_with_fds`] into `buf`: the bytes
/// read (0: the peer closed) and the descriptors it carried (at most
/// [`MAX_FDS`]; any beyond are closed by the kernel).
pub(crate) fn recv_with_fds(
    sock: &UnixStream,
    buf: &mut [u8],
) -> std::io::Result<(usize, Vec<OwnedFd>)> {
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
        return Err(std::io::Error::last_os_error());
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

/// Who is at the other end of a socket, as the kernel says.
pub(crate) struct Peer {
    pub(crate) pid: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// The credentials of the process at the other end of `sock` (`SO_PEERCRED`).
pub(crate) fn peer(sock: &UnixStream) -> std::io::Result<Peer> {
    // SAFETY: an all-zero ucred is valid.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Peer {
        pid: cred.pid as u32,
        uid: cred.uid,
        gid: cred.gid,
    })
}

/// The supplementary groups of the process at the other end of `sock`
/// (`SO_PEERGROUPS`, Linux 4.13); empty when the kernel cannot tell.
pub(crate) fn peer_groups(sock: &UnixStream) -> Vec<u32> {
    let mut groups = vec![0 as libc::gid_t; 64];
    loop {
        let mut len = std::mem::size_of_val(groups.as_slice()) as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `groups`.
        let rc = unsafe {
            libc::getsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let n = len as usize / std::mem::size_of::<libc::gid_t>();
        if rc == 0 {
            groups.truncate(n);
            return groups;
        }
        // ERANGE: `len` says how much room the list needs.
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::ERANGE) || n <= groups.len()
        {
            return Vec::new();
        }
        groups.resize(n, 0);
    }
}

/// Whether the peer closed `sock` (EOF or an error), without waiting, on a
/// socket the peer has nothing more to say on: bytes waiting are read and
/// dropped (up to 64 a call; a peek would stop at the first for ever and
/// never see the EOF behind it).
pub(crate) fn peer_closed(sock: &UnixStream) -> bool {
    let mut buf = [0u8; 64];
    // SAFETY: a non-blocking read of at most 64 bytes into a local buffer.
    let n = unsafe {
        libc::recv(
            sock.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    n == 0 || (n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::WouldBlock)
}

/// Connects a stream socket to the abstract Unix address `name`, trying
/// again while the listener's backlog is full (`EAGAIN`) until `deadline`
/// (then `TimedOut`): a stopped or overwhelmed server cannot hold the
/// caller past it, as a blocking connect would.
pub(crate) fn connect_abstract(
    name: &[u8],
    deadline: &crate::wait::Deadline,
) -> std::io::Result<UnixStream> {
    // SAFETY: an all-zero sockaddr_un is valid.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if name.len() + 1 > addr.sun_path.len() {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    // The leading NUL of sun_path makes the address abstract.
    for (d, &s) in addr.sun_path[1..].iter_mut().zip(name) {
        *d = s as libc::c_char;
    }
    let len = (std::mem::size_of::<libc::sa_family_t>() + 1 + name.len()) as libc::socklen_t;
    // SAFETY: socket has no memory arguments.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a descriptor just made, owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    loop {
        // SAFETY: `addr` is a valid sockaddr_un of which `len` bytes are used.
        let rc = unsafe {
            libc::connect(
                sock.as_raw_fd(),
                (&addr as *const libc::sockaddr_un).cast(),
                len,
            )
        };
        if rc == 0 {
            return Ok(UnixStream::from(sock));
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) if !deadline.passed() => {
                std::thread::sleep(std::time::Duration::from_millis(1))
            }
            Some(libc::EAGAIN) => return Err(std::io::ErrorKind::TimedOut.into()),
            _ => return Err(e),
        }
    }
}

#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;

    /// A peer that wrote bytes before it closed: the EOF behind them is
    /// seen (a peek at the first byte saw that byte for ever).
    #[test]
    fn a_close_behind_unread_bytes_is_seen() {
        let (a, b) = UnixStream::pair().unwrap();
        assert!(!peer_closed(&b), "open, nothing sent");
        std::io::Write::write_all(&mut &a, &[7; 100]).unwrap();
        drop(a);
        let looks = (0..4).take_while(|_| !peer_closed(&b)).count();
        assert!(looks < 4, "100 bytes take two reads of 64, then the EOF");
    }
}
