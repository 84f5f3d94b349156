//! `rmpsc_fd_*`: passing segment descriptors over Unix sockets (SCM_RIGHTS).

use crate::args::{dup_fd, free_handle, handle, name, Out};
use crate::call;
use ringcore::shm::{self, FdServer};
use std::ffi::{c_char, c_int};
use std::os::fd::{BorrowedFd, FromRawFd, IntoRawFd};
use std::os::unix::net::UnixStream;

/// A listening Unix socket that hands out descriptors (opaque); its socket
/// file is removed when freed.
pub struct rmpsc_fd_server_t {
    server: FdServer,
}

/// Binds and listens on the Unix socket at `path` (which must not exist). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_fd_server_listen(
    path: *const c_char,
    out: *mut *mut rmpsc_fd_server_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let server = FdServer::listen(name(path)?)?;
        out.put(rmpsc_fd_server_t { server });
        Ok(())
    })
}

/// Accepts one connection; `*out_conn` is a socket the caller owns and
/// closes. Blocks. One thread at a time per server.
#[no_mangle]
pub extern "C" fn rmpsc_fd_server_accept(
    server: *mut rmpsc_fd_server_t,
    out_conn: *mut c_int,
) -> c_int {
    call(|| {
        let out_conn = Out::new(out_conn, "out_conn")?;
        let s = handle(server, "server")?.server.accept()?;
        out_conn.set(s.into_raw_fd());
        Ok(())
    })
}

/// Closes the server and removes its socket file. NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_fd_server_free(server: *mut rmpsc_fd_server_t) {
    free_handle(server)
}

/// Connects to the Unix socket at `path`; `*out_conn` is a socket the
/// caller owns and closes. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_fd_connect(path: *const c_char, out_conn: *mut c_int) -> c_int {
    call(|| {
        let out_conn = Out::new(out_conn, "out_conn")?;
        let s = shm::connect_unix(name(path)?)?;
        out_conn.set(s.into_raw_fd());
        Ok(())
    })
}

/// Runs `f` on the caller's connected socket without taking ownership of it.
fn with_socket<R>(sock: c_int, f: impl FnOnce(&UnixStream) -> R) -> Result<R, ringcore::Error> {
    let owned = dup_fd(sock)?;
    // SAFETY: a fresh duplicate we own; dropping it closes only the duplicate.
    let stream = unsafe { UnixStream::from_raw_fd(owned.into_raw_fd()) };
    Ok(f(&stream))
}

/// Sends descriptor `fd` over the connected Unix socket `sock`. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_fd_send(sock: c_int, fd: c_int) -> c_int {
    call(|| {
        if fd < 0 {
            return Err(ringcore::Error::InvalidArgument(format!(
                "bad descriptor {fd}"
            )));
        }
        // SAFETY: the caller owns fd for the duration of the call.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        with_socket(sock, |s| shm::send_fd(s, fd))?
    })
}

/// Receives a descriptor sent with rmpsc_fd_send; `*out_fd` is the
/// caller's to close. Errors: RMPSC_EDISCONNECTED (peer closed),
/// RMPSC_EINVAL (no descriptor).
#[no_mangle]
pub extern "C" fn rmpsc_fd_recv(sock: c_int, out_fd: *mut c_int) -> c_int {
    call(|| {
        let out_fd = Out::new(out_fd, "out_fd")?;
        let got = with_socket(sock, shm::recv_fd)??;
        out_fd.set(got.into_raw_fd());
        Ok(())
    })
}
