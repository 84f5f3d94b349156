//! `rmpsc_fd_*`: passing segment descriptors over Unix sockets (SCM_RIGHTS).

use crate::shared::{dup_fd, name, put};
use crate::{call, call_infallible, non_null};
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
        non_null(out, "out")?;
        let server = FdServer::listen(name(path)?)?;
        put(out, rmpsc_fd_server_t { server });
        Ok(())
    })
}

/// Accepts one connection; `*conn` is a socket the caller owns and closes.
/// Blocks. One thread at a time per server.
#[no_mangle]
pub extern "C" fn rmpsc_fd_server_accept(
    server: *mut rmpsc_fd_server_t,
    conn: *mut c_int,
) -> c_int {
    call(|| {
        non_null(server, "server")?;
        non_null(conn, "conn")?;
        // SAFETY: non-NULL; a live handle by contract.
        let s = unsafe { &(*server).server }.accept()?;
        // SAFETY: non-NULL, writable by contract.
        unsafe { *conn = s.into_raw_fd() };
        Ok(())
    })
}

/// Closes the server and removes its socket file. NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_fd_server_free(server: *mut rmpsc_fd_server_t) {
    if !server.is_null() {
        // SAFETY: from Box::into_raw in rmpsc_fd_server_listen; freed once.
        call_infallible((), || drop(unsafe { Box::from_raw(server) }));
    }
}

/// Connects to the Unix socket at `path`; `*conn` is a socket the caller
/// owns and closes. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_fd_connect(path: *const c_char, conn: *mut c_int) -> c_int {
    call(|| {
        non_null(conn, "conn")?;
        let s = shm::connect_unix(name(path)?)?;
        // SAFETY: non-NULL, writable by contract.
        unsafe { *conn = s.into_raw_fd() };
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

/// Receives a descriptor sent with rmpsc_fd_send; `*fd` is the caller's to close.
/// Errors: RMPSC_EDISCONNECTED (peer closed), RMPSC_EINVAL (no descriptor).
#[no_mangle]
pub extern "C" fn rmpsc_fd_recv(sock: c_int, fd: *mut c_int) -> c_int {
    call(|| {
        non_null(fd, "fd")?;
        let got = with_socket(sock, shm::recv_fd)??;
        // SAFETY: non-NULL, writable by contract; ownership passes to the caller.
        unsafe { *fd = got.into_raw_fd() };
        Ok(())
    })
}
