"""Passing segment descriptors between processes over Unix sockets.

Thin helpers over :func:`socket.send_fds` / :func:`socket.recv_fds`, wire
compatible with ``rmpsc_fd_send`` / ``rmpsc_fd_recv`` (C) and
``ringcore::shm::send_fd`` / ``recv_fd`` (Rust): one data byte carrying one
descriptor as SCM_RIGHTS.
"""

import socket

__all__ = ["send_fd", "recv_fd", "listen", "connect"]


def send_fd(sock: socket.socket, fd: int) -> None:
    """Sends descriptor ``fd`` over the connected Unix socket ``sock``."""
    socket.send_fds(sock, [b"\0"], [fd])


def recv_fd(sock: socket.socket) -> int:
    """Receives one descriptor; the caller owns (and closes) it."""
    msg, fds, _flags, _addr = socket.recv_fds(sock, 1, 1)
    if not msg:
        raise ConnectionError("peer closed the socket")
    if not fds:
        raise ValueError("the message carried no descriptor")
    return fds[0]


def listen(path: str) -> socket.socket:
    """A listening Unix socket at ``path``."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen()
    return s


def connect(path: str) -> socket.socket:
    """A socket connected to the Unix socket at ``path``."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s
