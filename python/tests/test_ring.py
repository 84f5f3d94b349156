"""Tests of ringmpsc.Ring against the installed module."""

import os
import signal
import struct
import threading
import time

import pytest

import ringmpsc
from ringmpsc import Busy, Closed, Error, Ring, Timeout


def u64(i: int) -> bytes:
    return struct.pack("<Q", i)


def test_huge_timeouts_wait_and_batches_of_none_return_at_once():
    ring = Ring(8, item_size=8)
    assert ring.recv_many(0) == []  # waited for an item it would not take
    assert ring.try_send(u64(5))
    assert ring.recv(timeout=1e20) == u64(5)  # beyond a Duration: no limit
    assert ring.recv_many(0, timeout=1e300) == []


def test_send_and_receive_in_order():
    ring = Ring(8, item_size=8)
    assert ring.capacity == 8 and ring.item_size == 8 and len(ring) == 0
    for i in range(8):
        assert ring.try_send(u64(i))
    assert not ring.try_send(u64(99))  # full
    assert len(ring) == 8
    assert ring.try_recv() == u64(0)
    assert ring.recv(timeout=0) == u64(1)
    assert ring.recv_many(3) == [u64(2), u64(3), u64(4)]
    buf = bytearray(8 * 10)
    assert ring.recv_into(buf, timeout=0) == 3
    assert [struct.unpack_from("<Q", buf, 8 * k)[0] for k in range(3)] == [5, 6, 7]
    assert ring.try_recv() is None
    assert ring.try_recv_many(4) == []
    assert ring.try_recv_into(buf) == 0
    with pytest.raises(Timeout):
        ring.recv_many(4, timeout=0)
    with pytest.raises(Timeout):
        ring.recv_into(buf, timeout=0)
    assert repr(ring) == "<Ring capacity=8 item_size=8 used=0 open>"


def test_send_many_takes_lists_and_packed_buffers():
    ring = Ring(16, item_size=4)
    assert ring.send_many([b"aaaa", b"bbbb", bytearray(b"cccc")]) == 3
    assert ring.send_many(memoryview(b"ddddeeee")) == 2
    assert ring.recv_many(10) == [b"aaaa", b"bbbb", b"cccc", b"dddd", b"eeee"]
    assert ring.send_many(b"x" * 4 * 20, timeout=0) == 16  # only what fits
    with pytest.raises(Timeout):
        ring.send_many([b"full"], timeout=0)  # not one fits
    assert ring.try_send_many([b"full"]) == 0
    with pytest.raises(ValueError):
        ring.send_many(b"xyz")


def test_a_batch_closed_while_it_waits_counts_what_it_sent():
    ring = Ring(4, item_size=8)
    closer = threading.Timer(0.05, ring.close)
    closer.start()
    assert ring.send_many([bytes(8)] * 6) == 4
    closer.join()
    with pytest.raises(Closed):
        ring.send_many([bytes(8)])


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="power of two"):
        Ring(3)
    with pytest.raises(ValueError):
        Ring(4, item_size=0)
    ring = Ring(4, item_size=8)
    with pytest.raises(ValueError, match="8 bytes"):
        ring.send(b"short")
    with pytest.raises(ValueError):
        ring.recv(timeout=-1)
    with pytest.raises(TypeError):
        ring.send(12345)
    with pytest.raises(TypeError):
        ring.recv_into(b"immutable bytes")
    with pytest.raises(ValueError):
        ring.recv_into(bytearray(4))


def test_timeouts_raise_timeout_which_is_a_timeout_error():
    ring = Ring(2, item_size=1)
    start = time.monotonic()
    with pytest.raises(Timeout):
        ring.recv(timeout=0.05)
    assert time.monotonic() - start >= 0.04
    ring.send(b"a")
    ring.send(b"b")
    with pytest.raises(TimeoutError):
        ring.send(b"c", timeout=0.02)
    assert issubclass(Timeout, Error)


def test_close_drains_then_raises_closed():
    ring = Ring(4, item_size=1)
    ring.send(b"x")
    ring.close()
    assert ring.closed
    with pytest.raises(Closed):
        ring.send(b"y")
    with pytest.raises(Closed):
        ring.try_send(b"y")
    assert ring.recv() == b"x"  # what was sent before the close is delivered
    with pytest.raises(Closed):
        ring.recv()
    with pytest.raises(Closed):
        ring.try_recv()
    with pytest.raises(Closed):
        ring.recv_many()


def test_reset_empties_and_reopens():
    ring = Ring(4, item_size=1)
    ring.send_many([b"a", b"b", b"c"])
    ring.close()
    ring.reset()
    assert len(ring) == 0 and not ring.closed
    assert ring.send_many([b"1", b"2", b"3", b"4"]) == 4  # a full lap
    assert not ring.try_send(b"5")
    assert ring.recv_many() == [b"1", b"2", b"3", b"4"]


def test_context_manager_and_iteration():
    with Ring(8, item_size=2) as ring:
        ring.send_many([b"ab", b"cd"])
    assert ring.closed
    assert list(ring) == [b"ab", b"cd"]


def test_numpy_buffers_in_and_out():
    np = pytest.importorskip("numpy")
    ring = Ring(1024, item_size=8)
    data = np.arange(100, dtype=np.uint64)
    assert ring.send_many(data) == 100
    out = np.zeros(128, dtype=np.uint64)
    assert ring.recv_into(out) == 100
    assert (out[:100] == data).all()


def test_two_threads_deliver_every_sequence_number_once_in_order():
    count = 200_000
    ring = Ring(1024, item_size=8)

    def produce():
        batch = []
        for i in range(count):
            batch.append(u64(i))
            if len(batch) == 64:
                assert ring.send_many(batch) == 64
                batch.clear()
        ring.send_many(batch)
        ring.close()

    t = threading.Thread(target=produce)
    t.start()
    expected = 0
    buf = bytearray(8 * 512)
    while True:
        try:
            n = ring.recv_into(buf)
        except Closed:
            break
        for (value,) in struct.iter_unpack("<Q", memoryview(buf)[: 8 * n]):
            assert value == expected
            expected += 1
    t.join()
    assert expected == count


def test_a_second_thread_on_a_busy_side_gets_busy():
    ring = Ring(4, item_size=1)
    started = threading.Event()
    result = []

    def blocked_reader():
        started.set()
        try:
            result.append(ring.recv(timeout=2))
        except Closed:
            result.append("closed")

    t = threading.Thread(target=blocked_reader)
    t.start()
    started.wait()
    time.sleep(0.1)  # the reader now waits inside the consumer side
    with pytest.raises(Busy):
        ring.try_recv()
    with pytest.raises(Busy):
        ring.reset()  # needs both sides
    ring.send(b"z")  # the producer side is free
    t.join()
    assert result == [b"z"]


def test_blocking_receive_answers_ctrl_c():
    # Python's own handler, whatever the suite inherited (a background job
    # starts with SIGINT ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        ring = Ring(4, item_size=1)
        timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            ring.recv(timeout=10)
        assert time.monotonic() - start < 2
        timer.join()
    finally:
        signal.signal(signal.SIGINT, previous)


def raise_timeout_error(signum, frame):
    raise TimeoutError("the program's own")


@pytest.mark.parametrize(
    "handler, raised",
    [(signal.default_int_handler, KeyboardInterrupt), (raise_timeout_error, TimeoutError)],
)
def test_a_batch_send_into_a_full_ring_answers_ctrl_c_and_says_what_was_queued(handler, raised):
    # A handler's TimeoutError is the program's, not the send's Timeout.
    previous = signal.signal(signal.SIGINT, handler)
    try:
        ring = Ring(4, item_size=1)
        messages = ringmpsc.MessageRing.create(None, capacity=4096)
        tx = messages.sender()
        for send_many, batch, drain in (
            (ring.send_many, [b"x"] * 10, lambda: ring.try_recv_many(100)),
            (tx.send_many, [bytes(100)] * 100, lambda: messages.receiver().try_recv_many(1000)),
        ):
            timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT))
            timer.start()
            with pytest.raises(raised) as interrupted:
                send_many(batch)
            timer.join()
            assert not isinstance(interrupted.value, ringmpsc.Error)
            queued = drain()
            assert 0 < len(queued) < len(batch)
            assert interrupted.value.queued == len(queued)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_attach_to_a_name_not_there_yet_answers_ctrl_c():
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        for attach in (
            ringmpsc.MessageRing.attach,
            ringmpsc.SharedRing.attach,
            ringmpsc.BufferPool.attach,
        ):
            timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT))
            timer.start()
            start = time.monotonic()
            with pytest.raises(KeyboardInterrupt):
                attach(f"rmpsc-nobody-{os.getpid()}", timeout=None)
            assert time.monotonic() - start < 2
            timer.join()
    finally:
        signal.signal(signal.SIGINT, previous)


def test_version_and_exports():
    assert ringmpsc.__version__ == "0.2.0"
    assert issubclass(ringmpsc.Disconnected, ConnectionError)


def test_type_stubs_match_the_native_module():
    """Every public class, method and function of the native module is in
    _ringmpsc.pyi, and the stubs name nothing the module lacks."""
    import ast
    from pathlib import Path

    from ringmpsc import _ringmpsc

    tree = ast.parse((Path(ringmpsc.__file__).parent / "_ringmpsc.pyi").read_text())
    def members(cls_node):
        for item in cls_node.body:
            if isinstance(item, ast.FunctionDef):
                yield item.name
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                yield item.target.id

    stub_classes = {
        node.name: {m for m in members(node) if not m.startswith("_")}
        for node in tree.body
        if isinstance(node, ast.ClassDef)
    }
    stub_functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    native_classes = {
        name: obj for name, obj in vars(_ringmpsc).items() if isinstance(obj, type) and not name.startswith("_")
    }
    native_functions = {
        name for name, obj in vars(_ringmpsc).items() if callable(obj) and not isinstance(obj, type)
    }
    assert native_functions == stub_functions
    for name, cls in native_classes.items():
        if issubclass(cls, BaseException):
            continue
        public = {m for m in vars(cls) if not m.startswith("_")}
        assert name in stub_classes, f"class {name} has no stub"
        assert public == stub_classes[name], f"{name}: {public ^ stub_classes[name]}"
