"""ringmpsc: lock-free, zero-copy message passing with a Rust core.

- :class:`Ring`: a bounded ring of fixed-size byte items between two threads,
  or of items of a numpy dtype (``dtype=``; ``recv_array`` returns arrays).
- :class:`SharedRing`: the same ring in shared memory, between processes in
  any language (C, C++, Rust, Python); ``producer()`` / ``consumer()`` give
  a :class:`Ring` object for one side.
- :class:`MessageRing`: variable-size byte messages in shared memory.
- :class:`BufferPool`: slabs for zero-copy large payloads, in process or shared.
- :class:`MpscChannel`: many producer threads, one consumer (a ring per producer).
- :class:`SpmcChannel` / :class:`MpmcChannel`: one or many producers, many
  consumers that claim items (each item goes to exactly one :class:`Consumer`).
- :class:`EventNotifier`: an eventfd rings and channels signal, for asyncio/select.
- :class:`LogWriter` / :class:`LogReader`: a persistent append-only log in
  memory-mapped files; readers replay it or tail it live, in any process.
- :class:`Server` / :class:`Client`: a server and any number of client
  processes (any language), each client on rings of its own, three
  :class:`Priority` levels, backpressure, liveness and crash recovery.
- :class:`View`: a buffer-protocol window onto shared memory (``memoryview``,
  ``numpy.frombuffer``).
- :mod:`ringmpsc.fdpass`: descriptor passing over Unix sockets.
- :mod:`ringmpsc.numa`: NUMA topology and thread pinning.

Timeouts follow one rule on every class: methods named ``try_*`` never
wait and return an empty value (None, [], 0, False) when there is nothing;
every other call that takes ``timeout`` waits (None: without limit; a
number: at most that many seconds; 0: do not wait) and raises
:class:`Timeout` (also a built-in ``TimeoutError``) when the time passes
with nothing done, whether it returns one item, a list or a count; a call
that did part of its work returns that part. Opening calls (``attach``,
``Client(name, timeout=)``, ``LogReader(path, wait=)``) wait for the thing
to appear and raise ``FileNotFoundError`` (``Disconnected`` for a client)
when it did not; ``is_*_alive(timeout)`` takes a heartbeat age and never
waits; ``LogReader.follow(timeout)`` is an iterator that ends at its
timeout.

Every closable class is a context manager whose ``__exit__`` closes it,
and every ``repr()`` shows kind, name, capacity, fill and state.

Errors are in :mod:`ringmpsc.errors` and re-exported here.
"""

import enum

from . import aio, errors, fdpass, numa
from ._ringmpsc import (
    BufferPool,
    Client,
    Consumer,
    EventLoop,
    EventNotifier,
    LogMessage,
    LogReader,
    LogWriter,
    MpmcChannel,
    MpscChannel,
    Message,
    MessageReceiver,
    MessageRing,
    MessageSender,
    Ring,
    Server,
    SharedRing,
    SpmcChannel,
    View,
    __version__,
    remove_if_stale,
)
from .errors import (
    Busy,
    Closed,
    Corrupt,
    Disconnected,
    Empty,
    Error,
    FellBehind,
    Full,
    InvalidHeader,
    Timeout,
    TooLarge,
    TooMany,
)
from .fdpass import recv_fd, send_fd


class Priority(enum.IntEnum):
    """Message priority of the transport: a read returns CRITICAL before
    HIGH before LOW; within a priority, messages keep their order."""

    CRITICAL = 0
    HIGH = 1
    LOW = 2


__all__ = [
    "Ring",
    "MpscChannel",
    "SpmcChannel",
    "MpmcChannel",
    "Consumer",
    "EventNotifier",
    "EventLoop",
    "SharedRing",
    "MessageRing",
    "MessageSender",
    "MessageReceiver",
    "Message",
    "BufferPool",
    "LogWriter",
    "LogReader",
    "LogMessage",
    "Server",
    "Client",
    "Priority",
    "View",
    "remove_if_stale",
    "send_fd",
    "recv_fd",
    "__version__",
    "errors",
    "fdpass",
    "numa",
    "Error",
    "Full",
    "Empty",
    "Closed",
    "Timeout",
    "TooLarge",
    "Corrupt",
    "InvalidHeader",
    "Busy",
    "TooMany",
    "Disconnected",
    "FellBehind",
]
