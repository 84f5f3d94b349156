"""asyncio for ringmpsc: await a ring, a transport or a log without a thread per waiter.

Wrap an object to await it::

    rx = ringmpsc.aio.MessageReceiver(ring.receiver())
    async for msg_type, payload in rx:  # ends once closed and drained
        ...
    client = ringmpsc.aio.Client(ringmpsc.Client("orders"))
    await client.send(ringmpsc.Priority.HIGH, b"buy")
    priority, reply = await client.recv()

Each wrapper has the wrapped object's other methods and properties too.

How it waits: a coroutine that finds nothing registers on the wake-up word
the peer's commit bumps (a futex word in the shared memory), looks once more,
and then awaits a future. One thread per process sleeps on every registered
word at once (``futex_waitv``) and reports the woken ones to each event loop
through one eventfd the loop watches (``loop.add_reader``): no busy polling
and no thread per waiter. A waiter with nothing new is woken every 50 ms
anyway to look at its peer's liveness, as a blocking call does.

Cancelling a wait loses nothing: an item is taken only by the non-blocking
call that returns it, never while the coroutine is suspended, so a cancelled
``recv`` leaves the message for the next receive.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any, Optional, TypeVar

from . import _ringmpsc
from .errors import Closed, Full, Timeout

__all__ = ["Ring", "MessageReceiver", "MessageSender", "Client", "Server", "LogReader"]

T = TypeVar("T")


class _Waiters:
    """One event loop's registrations and the futures waiting on them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._set = _ringmpsc._WaitSet()
        self._futures: dict[int, asyncio.Future[None]] = {}
        loop.add_reader(self._set.fileno(), self._woken)

    def _woken(self) -> None:
        for token in self._set.take_woken():
            future = self._futures.pop(token, None)
            if future is not None and not future.done():
                future.set_result(None)

    async def wait(self, armed: Any) -> None:
        future: asyncio.Future[None] = self._loop.create_future()
        token = self._set.add(armed)
        self._futures[token] = future
        try:
            await future
        finally:
            # Cancelled (or failed) before the wake-up: unregister.
            if self._futures.pop(token, None) is not None:
                self._set.remove(token)


_loops: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Waiters]" = weakref.WeakKeyDictionary()


def _waiters() -> _Waiters:
    loop = asyncio.get_running_loop()
    waiters = _loops.get(loop)
    if waiters is None:
        waiters = _loops[loop] = _Waiters(loop)
    return waiters


async def _until(arm: Callable[[], Any], attempt: Callable[[], Optional[T]]) -> T:
    """Returns what ``attempt()`` returns once it is not None, registering
    with ``arm()`` and waiting whenever it is."""
    result = attempt()
    while result is None:
        # Register, then look again: a commit after the registration wakes it.
        armed = arm()
        result = attempt()
        if result is not None:
            break
        await _waiters().wait(armed)
        result = attempt()
    return result


def _polled(call: Callable[[], Any]) -> Any:
    """What a call that must not wait returns, None for nothing (an empty
    result, a timeout or a full ring)."""
    try:
        return call() or None
    except (Timeout, Full):
        return None


class _Wrapper:
    """The wrapped object's other attributes, and its context manager."""

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def __getattr__(self, name: str) -> Any:
        return getattr(self._obj, name)

    def __repr__(self) -> str:
        return f"<aio {self._obj!r}>"

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: Any) -> bool:
        return bool(self._obj.__exit__(*exc))


class Ring(_Wrapper):
    """An awaitable :class:`ringmpsc.Ring` (in-process, or a side of a
    :class:`ringmpsc.SharedRing`)."""

    async def send(self, item: Any) -> None:
        """Sends one item, waiting for room."""
        await _until(self._obj._arm_send, lambda: True if self._obj.try_send(item) else None)

    async def recv(self) -> Any:
        """The next item, waiting for one. Raises Closed once closed and drained."""
        return await _until(self._obj._arm_recv, self._obj.try_recv)

    async def recv_many(self, max_items: int = 1024) -> list[Any]:
        """Up to ``max_items`` items (at least one), waiting for the first."""
        return await _until(self._obj._arm_recv, lambda: self._obj.try_recv_many(max_items) or None)

    def __aiter__(self) -> "Ring":
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.recv()
        except Closed:
            raise StopAsyncIteration from None


class MessageReceiver(_Wrapper):
    """An awaitable :class:`ringmpsc.MessageReceiver`."""

    async def recv(self) -> tuple[int, bytes]:
        """The next ``(type, bytes)``, waiting for one. Raises Closed once closed and drained."""
        return await _until(self._obj._arm_recv, self._obj.try_recv)

    async def recv_batch(self, max_messages: int = 1024) -> list[tuple[int, bytes]]:
        """Up to ``max_messages`` messages (at least one), waiting for the first."""
        return await _until(self._obj._arm_recv, lambda: self._obj.try_recv_batch(max_messages) or None)

    def __aiter__(self) -> "MessageReceiver":
        return self

    async def __anext__(self) -> tuple[int, bytes]:
        try:
            return await self.recv()
        except Closed:
            raise StopAsyncIteration from None




class MessageSender(_Wrapper):
    """An awaitable :class:`ringmpsc.MessageSender`."""

    async def send(self, data: Any, msg_type: int = 0) -> None:
        """Sends one message, waiting for room."""
        await _until(
            self._obj._arm_send, lambda: True if self._obj.try_send(data, msg_type) else None
        )


class Client(_Wrapper):
    """An awaitable :class:`ringmpsc.Client`."""

    async def send(self, priority: int, data: Any) -> None:
        """Sends one request at ``priority``, waiting for room."""
        await _until(
            lambda: self._obj._arm_send(priority),
            lambda: _polled(lambda: self._obj.send(priority, data, policy="fail")),
        )

    async def recv(self) -> tuple[int, bytes]:
        """The next ``(priority, bytes)`` response, waiting for one.
        Raises Disconnected once the server is gone and nothing is left."""
        return await _until(self._obj._arm_recv, self._obj.try_recv)

    def __aiter__(self) -> "Client":
        return self

    async def __anext__(self) -> tuple[int, bytes]:
        return await self.recv()


class Server(_Wrapper):
    """An awaitable :class:`ringmpsc.Server`: ``async for client, priority,
    data in server`` serves requests as they come (replies are the wrapped
    server's ``send``)."""

    async def recv(self) -> tuple[tuple[int, int], int, bytes]:
        """The next ``(client, priority, bytes)`` request, waiting for one."""
        return await _until(self._obj._arm_recv, self._obj.try_recv)

    def __aiter__(self) -> "Server":
        return self

    async def __anext__(self) -> tuple[tuple[int, int], int, bytes]:
        return await self.recv()


class LogReader(_Wrapper):
    """An awaitable :class:`ringmpsc.LogReader`."""

    def _attempt(self) -> Any:
        record = self._obj.try_read()
        if record is None and self._obj.writer_status != "active":
            # The writer closed or died: what it committed last, or the
            # end (Closed), or Disconnected.
            return _polled(lambda: self._obj.read(0))
        return record

    async def read(self) -> Any:
        """The next record, waiting for the writer to commit one. Raises
        Closed once the writer closed the log and every record was read,
        Disconnected when the writer died."""
        return await _until(self._obj._arm_recv, self._attempt)

    async def follow(self) -> AsyncIterator[Any]:
        """Every record from here on as it is committed, until the writer
        closes the log (Disconnected when it dies)."""
        while True:
            try:
                record = await self.read()
            except Closed:
                return
            yield record
