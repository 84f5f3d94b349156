"""The server/client transport from Python: priorities, replies, policies,
backpressure, slots, liveness, shutdown, and a client process killed."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import ringmpsc
from ringmpsc import Priority


def unique(tag):
    return f"rmpsc-pytest-{tag}-{os.getpid()}-{time.monotonic_ns()}"


def small(name, **kw):
    kw.setdefault("max_clients", 2)
    return ringmpsc.Server(name, request_capacity=64 << 10, response_capacity=64 << 10, **kw)


def test_priorities_replies_and_ids():
    name = unique("prio")
    with small(name) as server, ringmpsc.Client(name) as a, ringmpsc.Client(name) as b:
        assert a.id != b.id
        a.send(Priority.LOW, b"low-1")
        b.send(Priority.HIGH, b"high")
        a.send(Priority.LOW, b"low-2")
        a.send(Priority.CRITICAL, memoryview(b"critical"))
        got = server.recv_batch(16, timeout=5)
        assert [(p, d) for _, p, d in got] == [
            (Priority.CRITICAL, b"critical"),
            (Priority.HIGH, b"high"),
            (Priority.LOW, b"low-1"),
            (Priority.LOW, b"low-2"),
        ]
        assert got[0][0] == a.id and got[1][0] == b.id
        assert server.send(b.id, Priority.HIGH, b"for b")
        assert b.recv(timeout=5) == (Priority.HIGH, b"for b")
        assert a.try_recv() is None
        with pytest.raises(ringmpsc.Timeout):
            a.recv(timeout=0.01)
        with pytest.raises(ValueError):
            a.send(7, b"x")
        clients = server.clients()
        assert sorted(c[0] for c in clients) == sorted([a.id, b.id])
        assert all(c[1] == os.getpid() for c in clients)


def test_batches_of_none_are_answered_at_once_and_sends_hold_their_messages():
    name = unique("none")
    with small(name) as server, ringmpsc.Client(name) as c:
        big = [os.urandom(8_000) for _ in range(2)]
        assert c.send_many(Priority.LOW, (bytes(m) for m in big)) == 2
        # With requests waiting, a batch of none spun for ever.
        assert server.recv_batch(0) == []
        assert [d for _, _, d in server.recv_batch(4, timeout=5)] == big
        assert server.send(c.id, Priority.LOW, b"reply")
        assert c.recv_batch(0) == []
        assert c.recv_batch(4, timeout=5) == [(Priority.LOW, b"reply")]


class Stop(Exception):
    """What a handler of the suite's own raises."""


def raise_stop(signum, frame):
    raise Stop()


def raise_closed(signum, frame):
    raise ringmpsc.Closed("the program's own, of the library's class")


@pytest.mark.parametrize(
    "handler, raised",
    [
        (signal.default_int_handler, KeyboardInterrupt),
        (raise_stop, Stop),
        (raise_closed, ringmpsc.Closed),
    ],
)
def test_send_many_to_a_server_that_takes_nothing_answers_ctrl_c(handler, raised):
    previous = signal.signal(signal.SIGINT, handler)
    name = unique("stuck")
    try:
        with small(name) as server, ringmpsc.Client(name) as c:
            msg = bytes(1000)
            timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT))
            timer.start()
            start = time.monotonic()
            with pytest.raises(raised) as interrupted:
                c.send_many(Priority.HIGH, [msg] * 1000)  # the ring holds 32
            assert time.monotonic() - start < 2
            timer.join()
            # What was queued before the interrupt stays queued, in order,
            # and the exception says how many.
            got = server.recv_batch(1000, timeout=5)
            assert 0 < len(got) < 1000
            assert len(got) == interrupted.value.queued
            assert all(d == msg for _, _, d in got)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_ends_a_connect_that_the_server_never_answers():
    # A listener on the channel's socket that takes connections and says
    # nothing: Client(name, timeout=None) would wait for ever.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    name = unique("mute")
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(f"\0ringmpsc-transport:/dev/shm/{name}")
    mute.listen(8)
    try:
        timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            ringmpsc.Client(name, timeout=None)
        assert time.monotonic() - start < 2
        timer.join()
    finally:
        signal.signal(signal.SIGINT, previous)
        mute.close()


def test_send_many_keeps_order_across_waits():
    name = unique("many")
    with small(name) as server, ringmpsc.Client(name) as c:
        msgs = [i.to_bytes(4, "little") * 10 for i in range(3000)]
        got = []

        def drain():
            while len(got) < len(msgs):
                got.extend(d for _, _, d in server.recv_batch(256, timeout=5))

        t = threading.Thread(target=drain)
        t.start()
        assert c.send_many(Priority.HIGH, msgs) == len(msgs)
        t.join()
        assert got == msgs


def test_a_blocked_receive_is_woken_by_a_reply_from_another_thread():
    name = unique("wake")
    with small(name) as server, ringmpsc.Client(name) as c:
        c.send(Priority.HIGH, b"ping")
        cid, _, _ = server.recv(timeout=5)

        def reply():
            time.sleep(0.05)
            server.send(cid, Priority.LOW, b"pong")

        t = threading.Thread(target=reply)
        t.start()
        assert c.recv(timeout=5) == (Priority.LOW, b"pong")
        t.join()


def test_policies_backpressure_and_errors():
    name = unique("policy")
    with small(name) as server, ringmpsc.Client(name, policy="fail") as c:
        assert c.backpressure == 0.0
        with pytest.raises(ringmpsc.Full):
            while True:
                c.send(Priority.LOW, b"x" * 1000)
        assert c.backpressure > 0.9
        assert server.backpressure(c.id) > 0.9
        assert c.send(Priority.LOW, b"x" * 1000, policy="drop_low") is False
        assert c.dropped == 1
        with pytest.raises(ringmpsc.Timeout):
            c.send(Priority.LOW, b"x" * 1000, policy="block", policy_timeout=0.02)
        assert c.send(Priority.HIGH, b"own ring")
        with pytest.raises(ringmpsc.TooLarge):
            c.send(Priority.HIGH, bytes(1 << 20))
        with pytest.raises(ValueError):
            c.send(Priority.LOW, b"x", policy="sometimes")
    with pytest.raises(ringmpsc.Disconnected):
        ringmpsc.Client(name)
    with pytest.raises(ValueError):
        ringmpsc.Server(unique("bad"), split=(50, 50, 50))


def test_slots_liveness_and_shutdown():
    name = unique("slots")
    server = small(name)
    with pytest.raises(ringmpsc.Busy):
        ringmpsc.Server(name)
    a = ringmpsc.Client(name)
    b = ringmpsc.Client(name)
    with pytest.raises(ringmpsc.Full):
        ringmpsc.Client(name)
    assert server.is_client_alive(a.id)
    assert a.is_server_alive()
    gone = b.id
    b.close()
    deadline = time.monotonic() + 5
    while len(server.clients()) != 1:
        assert time.monotonic() < deadline
        server.try_recv_batch(16)
        time.sleep(0.01)
    with pytest.raises(ringmpsc.Disconnected):
        server.send(gone, Priority.HIGH, b"x")
    c = ringmpsc.Client(name)
    assert c.id[0] == gone[0] and c.id[1] != gone[1]
    server.shutdown()
    with pytest.raises(ringmpsc.Disconnected):
        a.send(Priority.HIGH, b"late")
    with pytest.raises(ringmpsc.Disconnected):
        c.recv(timeout=5)
    assert not a.is_server_alive()
    # The name can be served again.
    with small(name) as again, ringmpsc.Client(name) as d:
        d.send(Priority.CRITICAL, b"again")
        assert again.recv(timeout=5)[2] == b"again"


def test_a_killed_client_process_is_reaped():
    name = unique("kill")
    code = (
        "import ringmpsc, sys\n"
        f"c = ringmpsc.Client({name!r})\n"
        "c.send(1, b'last words')\n"
        "print('sent', flush=True)\n"
        "sys.stdin.read()\n"
    )
    with small(name) as server:
        p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "sent"
        assert len(server.clients()) == 1
        p.kill()
        p.wait()
        assert server.recv(timeout=5)[2] == b"last words"
        deadline = time.monotonic() + 5
        while server.clients():
            assert time.monotonic() < deadline
            server.try_recv_batch(16)
        time.sleep(0.01)


def test_requests_a_gone_server_never_took_go_to_the_next_one():
    name = unique("carry")
    server = small(name)
    with ringmpsc.Client(name) as c:
        for i in range(10):
            c.send(Priority.HIGH, b"req-%d" % i)
        got = server.recv_batch(4, timeout=5)
        assert [d for _, _, d in got] == [b"req-%d" % i for i in range(4)]
        with pytest.raises(ValueError):
            c.reconnect()  # the server is still there
        server.shutdown()
        with pytest.raises(ringmpsc.Disconnected):
            c.send(Priority.HIGH, b"too late")
        with small(name) as nxt:
            assert c.reconnect() == 6
            assert c.backlog == 0
            c.send(Priority.HIGH, b"new")
            got = []
            while len(got) < 7:
                got += [d for _, _, d in nxt.recv_batch(16, timeout=5)]
            assert got == [b"req-%d" % i for i in range(4, 10)] + [b"new"]
