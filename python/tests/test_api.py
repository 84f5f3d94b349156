"""The Python API as one surface: the timeout rule, context managers,
reprs, docstrings, stubs and error messages, the same on every class."""

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import ringmpsc
from ringmpsc import Priority, Timeout, _ringmpsc

STUBS = Path(_ringmpsc.__file__).with_name("_ringmpsc.pyi")
ALLOWLIST = Path(__file__).resolve().parents[1] / "stubtest-allowlist.txt"


def unique(tag):
    return f"rmpsc-api-{tag}-{os.getpid()}-{time.monotonic_ns()}"


def small_log(path, **kw):
    return ringmpsc.LogWriter(path, region_size=os.sysconf("SC_PAGE_SIZE"), file_size=1 << 20, **kw)


# ---- 1. one timeout rule --------------------------------------------------


def test_timeout_is_a_builtin_timeout_error():
    assert issubclass(ringmpsc.Timeout, TimeoutError)
    assert issubclass(ringmpsc.Timeout, ringmpsc.Error)
    assert issubclass(ringmpsc.errors.Timeout, OSError)


def expect_timeout(call):
    """`call` raises Timeout, after a bounded wait (a correctness bound, not a speed test)."""
    t0 = time.monotonic()
    with pytest.raises(Timeout):
        call()
    assert time.monotonic() - t0 < 10


def test_every_receive_of_a_ring_raises_timeout_and_try_returns_empty():
    ring = ringmpsc.Ring(8, item_size=4)
    buf = bytearray(16)
    for timeout in (0, 0.02):
        expect_timeout(lambda: ring.recv(timeout=timeout))
        expect_timeout(lambda: ring.recv_many(4, timeout=timeout))
        expect_timeout(lambda: ring.recv_into(buf, timeout=timeout))
    assert ring.try_recv() is None
    assert ring.try_recv_many(4) == []
    assert ring.try_recv_into(buf) == 0
    # A full ring: the sends raise Timeout, their try_ forms say False / 0.
    assert ring.send_many([b"abcd"] * 8) == 8
    expect_timeout(lambda: ring.send(b"abcd", timeout=0))
    expect_timeout(lambda: ring.send_many([b"abcd"], timeout=0.02))
    assert ring.try_send(b"abcd") is False
    assert ring.try_send_many([b"abcd"]) == 0
    # Part of the work done: the part comes back, no Timeout.
    assert ring.recv_many(3, timeout=0) == [b"abcd"] * 3
    assert ring.send_many([b"wxyz"] * 5, timeout=0.02) == 3
    # Nothing asked, nothing to wait for.
    assert ring.send_many([], timeout=0) == 0
    assert ring.recv_many(0, timeout=0) == []


def test_a_waiting_batch_receive_returns_what_comes_before_the_timeout():
    ring = ringmpsc.Ring(8, item_size=1)
    threading.Timer(0.05, ring.send_many, args=([b"a", b"b"],)).start()
    got = ring.recv_many(8, timeout=5)
    got += ring.try_recv_many(8)
    assert b"".join(got) == b"ab"


def test_message_rings_follow_the_rule():
    ring = ringmpsc.MessageRing.create(None, capacity=4096)
    tx, rx = ring.sender(), ring.receiver()
    expect_timeout(lambda: rx.recv(timeout=0))
    expect_timeout(lambda: rx.recv_batch(8, timeout=0))
    expect_timeout(lambda: rx.recv_many(8, timeout=0.02))
    expect_timeout(lambda: rx.recv_view(timeout=0))
    assert rx.try_recv() is None and rx.try_recv_batch(8) == [] and rx.try_recv_many(8) == []
    # A send_many that times out half way returns how many it sent.
    n = tx.send_many([bytes(1000)] * 10, timeout=0.02)
    assert 0 < n < 10
    expect_timeout(lambda: tx.send_many([bytes(1000)], timeout=0))
    assert tx.try_send_many([bytes(1000)]) == 0
    assert len(rx.recv_many(100, timeout=0)) == n
    assert tx.try_send_many([b"x", (5, b"yy")]) == 2
    assert rx.try_recv_batch() == [(0, b"x"), (5, b"yy")]
    tx.close()
    with pytest.raises(ringmpsc.Closed):
        rx.try_recv_batch()


def test_channels_follow_the_rule():
    mpsc = ringmpsc.MpscChannel(8, item_size=4)
    expect_timeout(lambda: mpsc.recv_many(timeout=0))
    expect_timeout(lambda: mpsc.recv_into(bytearray(8), timeout=0.02))
    assert mpsc.try_recv() is None and mpsc.try_recv_many() == [] and mpsc.try_recv_into(bytearray(8)) == 0
    mpsc.register().send(b"abcd")
    assert mpsc.try_recv_many() == [b"abcd"]

    for ch in (ringmpsc.SpmcChannel(8, item_size=4), ringmpsc.MpmcChannel(8, item_size=4)):
        c = ch.register_consumer()
        expect_timeout(lambda: c.recv_many(timeout=0))
        expect_timeout(lambda: c.recv_into(bytearray(8), timeout=0.02))
        assert c.try_recv() is None and c.try_recv_many() == [] and c.try_recv_into(bytearray(8)) == 0
        tx = ch.producer() if isinstance(ch, ringmpsc.SpmcChannel) else ch.register_producer()
        tx.send_many([b"abcd", b"efgh"])
        assert c.try_recv_many() == [b"abcd", b"efgh"]


def test_the_transport_follows_the_rule():
    name = unique("tp")
    with ringmpsc.Server(name, max_clients=2, request_capacity=1 << 16, response_capacity=1 << 16) as server:
        with ringmpsc.Client(name, timeout=None) as client:
            expect_timeout(lambda: server.recv(timeout=0))
            expect_timeout(lambda: server.recv_batch(16, timeout=0.02))
            expect_timeout(lambda: client.recv(timeout=0))
            expect_timeout(lambda: client.recv_batch(16, timeout=0))
            assert server.try_recv() is None and server.try_recv_batch(16) == []
            assert client.try_recv() is None and client.try_recv_batch(16) == []
            client.send(Priority.HIGH, b"ping")
            got = server.recv_batch(16, timeout=5)
            assert [d for _, _, d in got] == [b"ping"]
            server.send(got[0][0], Priority.LOW, b"pong")
            assert client.recv_batch(16, timeout=5) == [(Priority.LOW, b"pong")]


def test_log_readers_follow_the_rule(tmp_path):
    path = tmp_path / "log"
    w = small_log(path)
    r = ringmpsc.LogReader(path)
    expect_timeout(lambda: r.read(timeout=0))
    expect_timeout(lambda: r.read_batch(timeout=0))
    expect_timeout(lambda: r.read_batch(8, timeout=0.02))
    assert r.try_read() is None and r.try_read_batch() == []
    # read_batch waits by default (it used to return [] at once).
    threading.Timer(0.05, w.append, args=(b"late",)).start()
    assert [m.tobytes() for m in r.read_batch()] == [b"late"]
    w.append(b"now")
    assert [m.tobytes() for m in r.try_read_batch()] == [b"now"]
    w.close()
    # The end of a closed log: read_batch says so, try_read_batch is quiet.
    with pytest.raises(ringmpsc.Closed):
        r.read_batch(timeout=0)
    assert r.try_read_batch() == []


# ---- 2. context managers ----------------------------------------------------


def closables(tmp_path):
    """One of every closable class, with what says it is closed."""
    log = tmp_path / "log"
    mpsc = ringmpsc.MpscChannel(8)
    spmc = ringmpsc.SpmcChannel(8)
    mpmc = ringmpsc.MpmcChannel(8)
    writer = small_log(log)
    name = unique("cm")
    server = ringmpsc.Server(name, max_clients=2, request_capacity=1 << 16, response_capacity=1 << 16)
    return [
        ringmpsc.Ring(8),
        ringmpsc.SharedRing.create(None, capacity=8),
        ringmpsc.MessageRing.create(None, capacity=4096),
        ringmpsc.MessageRing.create(None, capacity=4096).sender(),
        ringmpsc.MessageRing.create(None, capacity=4096).receiver(),
        ringmpsc.BufferPool(64, 4),
        mpsc,
        spmc,
        mpmc,
        spmc.register_consumer(),
        mpmc.register_consumer(),
        ringmpsc.EventNotifier(),
        writer,
        ringmpsc.LogReader(log),
        ringmpsc.Client(name),
        server,
    ]


def test_every_closable_class_is_a_context_manager(tmp_path):
    for obj in closables(tmp_path):
        kind = type(obj).__name__
        with obj as entered:
            assert entered is obj, kind
            assert obj.closed is False, kind
        assert obj.closed is True, kind
        assert "closed" in repr(obj), (kind, repr(obj))
        # __exit__ returns False: an exception inside the block goes on.
        with pytest.raises(KeyError):
            with obj:
                raise KeyError(kind)


def test_a_pool_write_may_come_from_its_own_slab():
    pool = ringmpsc.BufferPool(64, 1)
    h = pool.alloc()
    pool.write(h, bytes(range(64)))
    view = memoryview(pool.view(h))
    pool.write(h, view[1:])  # overlapping source and destination
    assert bytes(view[:63]) == bytes(range(1, 64)) and pool.len_of(h) == 63
    view.release()
    pool.free(h)


def test_closed_pools_consumers_and_notifiers_refuse_calls():
    pool = ringmpsc.BufferPool(64, 2)
    h = pool.alloc()
    view = pool.view(h)
    held = memoryview(view)
    with pytest.raises(BufferError):
        pool.close()  # a view is in use: nothing done
    assert not pool.closed and pool.alloc() is not None
    held.release()
    pool.close()
    pool.close()  # idempotent
    with pytest.raises(ValueError, match="BufferPool is closed"):
        pool.alloc()
    with pytest.raises(ValueError):
        memoryview(view)  # its view ended with it
    ch = ringmpsc.SpmcChannel(8, max_consumers=1)
    with ch.register_consumer() as c:
        with pytest.raises(ringmpsc.TooMany):
            ch.register_consumer()
    with pytest.raises(ValueError, match="Consumer is closed"):
        c.try_recv()
    ch.register_consumer()  # its room is free again
    n = ringmpsc.EventNotifier()
    ring = ringmpsc.Ring(8)
    ring.set_notifier(n)
    n.close()
    with pytest.raises(ValueError, match="EventNotifier is closed"):
        n.fileno()
    with pytest.raises(ValueError):
        ring.set_notifier(n)
    ring.send(bytes(8))  # the ring still signals the eventfd it holds


# ---- 3. repr ---------------------------------------------------------------


REPR = re.compile(r"^<[A-Z][A-Za-z]+( [^<>]+)?>$")


def test_every_repr_shows_kind_and_state(tmp_path):
    objs = closables(tmp_path)
    for obj in objs:
        r = repr(obj)
        assert REPR.match(r) and r.startswith(f"<{type(obj).__name__}"), r
        assert " open" in r, r
        assert "object at 0x" not in r, r
    name = unique("repr")
    named = ringmpsc.MessageRing.create(name, capacity=1 << 16)
    try:
        rx = named.receiver()
        tx = named.sender()
        tx.send(bytes(120))
        assert repr(named) == f"<MessageRing name='{name}' capacity=65536 used=128 open sender alive receiver alive>"
        assert repr(rx).startswith("<MessageReceiver capacity=65536 used=128 open")
        with rx.recv_view() as m:
            assert repr(m) == "<Message msg_type=0 len=120>"
            assert repr(m.payload) == "<View len=120 readonly>"
        assert repr(m) == "<Message msg_type=0 len=120 released>"
    finally:
        named.unlink()
    ch = ringmpsc.MpscChannel(16, item_size=4)
    tx = ch.register()
    tx.send(b"abcd")
    assert repr(ch) == "<MpscChannel capacity=16 item_size=4 used=1 open>"
    assert repr(tx) == "<Ring capacity=16 item_size=4 used=1 open producer of MpscChannel>"
    assert repr(ringmpsc.BufferPool(64, 4)) == "<BufferPool capacity=4 slab_size=64 heap open>"
    loop = ch.run(lambda item: None)
    assert "consumer in an EventLoop" in repr(ch) and repr(loop).startswith("<EventLoop processed=")
    loop.stop()
    assert repr(loop) == "<EventLoop stopped>"
    w = small_log(tmp_path / "repr")
    w.append(b"x")
    assert repr(w).startswith(f"<LogWriter path='{tmp_path / 'repr'}' next_index=1 ")
    m = ringmpsc.LogReader(tmp_path / "repr").read(timeout=0)
    assert repr(m).startswith("<LogMessage index=0 msg_type=0 len=1 ")
    assert repr(ringmpsc.LogReader(tmp_path / "repr").follow(timeout=1.5)) == "<LogFollow timeout=1.5>"
    w.close()
    assert repr(w) == f"<LogWriter path='{tmp_path / 'repr'}' closed>"
    pool = ringmpsc.BufferPool(64, 4)
    assert repr(pool.view(pool.alloc())) == "<View len=64 writable>"
    shared = ringmpsc.SharedRing.create(None, capacity=8, slot_size=4)
    side = shared.consumer()
    assert repr(shared) == "<SharedRing capacity=8 slot_size=4 used=0 open consumer alive>"
    assert repr(side) == "<Ring capacity=8 item_size=4 used=0 open consumer of SharedRing>"


# ---- 4. docstrings and 5. stubs --------------------------------------------


def public_classes():
    return [getattr(_ringmpsc, n) for n in _ringmpsc.__all__ if isinstance(getattr(_ringmpsc, n), type)]


def test_every_public_class_and_method_has_a_docstring():
    missing = []
    for cls in public_classes():
        if cls.__name__.startswith("_"):
            continue
        if not (cls.__doc__ or "").strip():
            missing.append(cls.__name__)
        for name, attr in vars(cls).items():
            # Slots (__len__, __iter__, __repr__, ...) get CPython's docs.
            if name.startswith("_") and name not in ("__enter__", "__exit__"):
                continue
            if not (getattr(attr, "__doc__", None) or "").strip():
                missing.append(f"{cls.__name__}.{name}")
    for name in _ringmpsc.__all__:
        f = getattr(_ringmpsc, name)
        if callable(f) and not isinstance(f, type) and not (f.__doc__ or "").strip():
            missing.append(name)
    assert missing == []


def test_the_stubs_match_the_module(tmp_path):
    pytest.importorskip("mypy")
    pytest.importorskip("typing_extensions")
    # From a directory without a ringmpsc of its own: the installed module.
    out = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "ringmpsc._ringmpsc", "--allowlist", str(ALLOWLIST)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_stub_names_set_len_s_argument_as_the_module_does():
    pool = ringmpsc.BufferPool(64, 1)
    h = pool.alloc()
    pool.set_len(h, length=5)
    assert pool.len_of(h) == 5
    assert "def set_len(self, handle: int, length: int)" in STUBS.read_text()


# ---- 6. errors name the object ----------------------------------------------


def test_the_end_of_a_log_is_named_as_such(tmp_path):
    path = tmp_path / "log"
    with small_log(path) as w:
        w.append(b"only")
    r = ringmpsc.LogReader(path)
    r.read(timeout=0)
    with pytest.raises(ringmpsc.Closed) as e:
        r.read(timeout=5)
    msg = str(e.value)
    assert "ring" not in msg
    assert f"the log at {path} was closed by its writer and is read to the end" == msg
    assert list(r.follow(timeout=5)) == []  # the iterator just ends


def test_a_dead_log_writer_is_named(tmp_path):
    path = tmp_path / "log"
    code = f"import os, ringmpsc; w = ringmpsc.LogWriter({str(path)!r}); w.append(b'x'); os._exit(0)"
    subprocess.run([sys.executable, "-c", code], check=True)
    r = ringmpsc.LogReader(path)
    r.read(timeout=0)
    with pytest.raises(ringmpsc.Disconnected, match=f"the writer of the log at {re.escape(str(path))} died"):
        r.read(timeout=5)


def test_misusing_a_side_names_what_the_ring_is():
    ch = ringmpsc.MpscChannel(8)
    with pytest.raises(ValueError) as e:
        ch.register().recv(timeout=0)
    assert str(e.value) == (
        "this Ring is a producer of an MpscChannel: it has no consumer side (receive from the MpscChannel itself)"
    )
    assert "shared ring" not in str(e.value)
    with pytest.raises(ValueError, match="the producer of an SpmcChannel: it has no consumer side"):
        ringmpsc.SpmcChannel(8).producer().try_recv()
    with pytest.raises(ValueError, match="a producer of an MpmcChannel: it has no consumer side"):
        ringmpsc.MpmcChannel(8).register_producer().recv_many(timeout=0)
    shared = ringmpsc.SharedRing.create(None, capacity=8)
    with pytest.raises(ValueError, match=r"the consumer side of a SharedRing: it has no producer side \(take it"):
        shared.consumer().send(bytes(8))
    with pytest.raises(ValueError, match="the producer side of a SharedRing: it has no consumer side"):
        shared.producer().reset()


def test_a_log_held_by_another_process_names_the_log(tmp_path):
    path = tmp_path / "log"
    code = f"import sys, ringmpsc; w = ringmpsc.LogWriter({str(path)!r}); print('ready', flush=True); sys.stdin.read()"
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "ready\n"
        with pytest.raises(ringmpsc.Busy) as e:
            ringmpsc.LogWriter(path)
        assert str(e.value) == (
            f"the log at {path} already has a writer: another LogWriter, "
            f"in this or another process, holds its lock {path}.lock"
        )
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


# ---- 7. a reader that starts before its writer -------------------------------


@pytest.mark.parametrize("start", ["start", "live"])
def test_a_reader_started_first_waits_for_the_log(tmp_path, start):
    path = tmp_path / "sub" / "log"

    def write_later():
        time.sleep(0.3)
        path.parent.mkdir()
        with small_log(path) as w:
            w.append(b"first", msg_type=3)
            w.append(b"second")

    t = threading.Thread(target=write_later)
    t.start()
    t0 = time.monotonic()
    with ringmpsc.LogReader(path, start, wait=10) as r:
        assert time.monotonic() - t0 >= 0.25
        m = r.read(timeout=10)
        assert (m.index, m.msg_type, m.tobytes()) == (0, 3, b"first")
    t.join()


def test_a_wait_for_a_log_that_never_comes_raises_file_not_found(tmp_path):
    path = tmp_path / "never"
    t0 = time.monotonic()
    with pytest.raises(FileNotFoundError, match="waited 0.2 s"):
        ringmpsc.LogReader(path, wait=0.2)
    assert 0.2 <= time.monotonic() - t0 < 10
    t0 = time.monotonic()
    with pytest.raises(FileNotFoundError):
        ringmpsc.LogReader(path)  # the default: no wait
    assert time.monotonic() - t0 < 5
    with pytest.raises(ValueError):
        ringmpsc.LogReader(path, wait=-1)


def test_a_waiting_reader_answers_ctrl_c(tmp_path):
    code = (
        "import os, signal, threading, ringmpsc\n"
        "threading.Timer(0.3, os.kill, args=(os.getpid(), signal.SIGINT)).start()\n"
        "try:\n"
        f"    ringmpsc.LogReader({str(tmp_path / 'never')!r}, wait=None)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout == "interrupted\n", out.stderr
