"""Tests of MpscChannel and EventNotifier."""

import asyncio
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import ringmpsc
from ringmpsc import Closed, EventNotifier, MpscChannel


def test_many_producer_threads_one_consumer_in_order():
    ch = MpscChannel(256, item_size=8)
    per, producers = 20_000, 4

    def produce(ring, p):
        with ring:
            for s in range(per):
                ring.send(struct.pack("<II", p, s))

    threads = [threading.Thread(target=produce, args=(ch.register(), p)) for p in range(producers)]
    for t in threads:
        t.start()
    nxt = [0] * producers
    seen = 0
    buf = bytearray(8 * 512)
    while seen < per * producers:
        if seen % 2:
            items = ch.recv_many(512, timeout=5)
        else:
            n = ch.recv_into(buf, timeout=5)
            items = [bytes(buf[8 * i : 8 * i + 8]) for i in range(n)]
        for item in items:
            p, s = struct.unpack("<II", item)
            assert s == nxt[p]
            nxt[p] += 1
            seen += 1
    for t in threads:
        t.join()
    assert ch.pending == 0
    ch.close()
    assert ch.closed
    with pytest.raises(Closed):
        ch.register()
    with pytest.raises(Closed):
        ch.recv_many()


def test_recv_times_out_and_checks_arguments():
    ch = MpscChannel(16, item_size=4)
    with pytest.raises(ringmpsc.Timeout):
        ch.recv_many(timeout=0.01)
    with pytest.raises(TimeoutError):
        ch.recv_into(bytearray(8), timeout=0)
    assert ch.try_recv_many() == []
    assert ch.try_recv_into(bytearray(8)) == 0
    with pytest.raises(ValueError):
        ch.recv_into(bytearray(2))
    with pytest.raises(ValueError):
        MpscChannel(3)


def test_notifier_makes_the_channel_selectable():
    ch = MpscChannel(16, item_size=4)
    n = EventNotifier()
    ch.set_notifier(n)
    tx = ch.register()
    assert select.select([n.fileno()], [], [], 0)[0] == []
    tx.send(b"abcd")
    assert select.select([n.fileno()], [], [], 1)[0] == [n.fileno()]
    assert n.consume() == 1
    assert ch.recv_many() == [b"abcd"]
    ring = ringmpsc.Ring(8, item_size=1)
    ring.set_notifier(n)
    assert ring.available_capacity == 8
    ring.send(b"x")
    assert ring.available_capacity == 7
    assert n.consume() == 1
    n.signal()
    n.signal()
    assert n.consume() == 2 and n.consume() == 0


def test_notifier_in_epoll_and_signal_if_waiting():
    import array

    n = EventNotifier()
    ep = select.epoll()
    try:
        n.register_epoll(ep.fileno())
        with pytest.raises(OSError):
            n.register_epoll(ep.fileno())  # already registered
        assert ep.poll(0) == []
        waiters = array.array("I", [0])
        n.signal_if_waiting(waiters)  # nobody waits: no signal
        assert ep.poll(0) == [] and n.consume() == 0
        waiters[0] = 1
        n.signal_if_waiting(waiters)
        assert ep.poll(1) == [(n.fileno(), select.EPOLLIN)]
        assert n.consume() == 1
        with pytest.raises(ValueError):
            n.signal_if_waiting(bytearray(2))
        with pytest.raises(TypeError):
            n.signal_if_waiting(b"\0\0\0\0")  # read-only
        n.unregister_epoll(ep.fileno())
        with pytest.raises(OSError):
            n.unregister_epoll(ep.fileno())
        n.signal()
        assert ep.poll(0) == []  # no longer watched
    finally:
        ep.close()


def test_asyncio_example_runs():
    example = Path(__file__).resolve().parents[1] / "examples" / "asyncio_consumer.py"
    out = subprocess.run([sys.executable, str(example), "20000"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ok: 60000 items" in out.stdout


def test_asyncio_consumer_in_process():
    async def run():
        ch = MpscChannel(64, item_size=1)
        n = EventNotifier()
        ch.set_notifier(n)
        tx = ch.register()
        loop = asyncio.get_running_loop()
        got = asyncio.Event()
        loop.add_reader(n.fileno(), got.set)
        loop.call_later(0.05, tx.send, b"!")
        await asyncio.wait_for(got.wait(), 5)
        loop.remove_reader(n.fileno())
        return ch.try_recv_many()

    assert asyncio.run(run()) == [b"!"]


def test_spmc_consumers_share_the_items_exactly_once():
    import ringmpsc

    ch = ringmpsc.SpmcChannel(64, item_size=8, max_consumers=3)
    tx = ch.producer()
    with pytest.raises(ValueError):
        ch.producer()
    consumers = [ch.register_consumer() for _ in range(3)]
    with pytest.raises(ringmpsc.TooMany):
        ch.register_consumer()
    seen = [[] for _ in consumers]

    def consume(k):
        buf = bytearray(8 * 16)
        while True:
            try:
                if k == 0:
                    n = consumers[k].recv_into(buf, timeout=5)
                    items = [bytes(buf[i * 8 : i * 8 + 8]) for i in range(n)]
                else:
                    items = consumers[k].recv_many(16, timeout=5)
            except ringmpsc.Closed:
                return
            seen[k].extend(int.from_bytes(x, "little") for x in items)

    threads = [threading.Thread(target=consume, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    total = 20_000
    for i in range(total):
        tx.send(i.to_bytes(8, "little"))
    tx.close()
    for t in threads:
        t.join()
    everything = sorted(x for s in seen for x in s)
    assert everything == list(range(total))
    assert all(s == sorted(s) for s in seen), "each consumer sees the producer's order"


def test_mpmc_producers_and_consumers():
    import ringmpsc

    ch = ringmpsc.MpmcChannel(32, item_size=4, max_producers=2, max_consumers=2, metrics=True)
    producers = [ch.register_producer() for _ in range(2)]
    with pytest.raises(ringmpsc.TooMany):
        ch.register_producer()
    rx = [ch.register_consumer() for _ in range(2)]
    for p, tag in zip(producers, (b"a", b"b")):
        p.send_many([tag * 4] * 10)
    assert len(ch) == 20
    got = rx[0].try_recv_many(100) + rx[1].try_recv_many(100)
    got += rx[0].try_recv_many(100) + rx[1].try_recv_many(100)
    assert sorted(got) == [b"aaaa"] * 10 + [b"bbbb"] * 10
    m = ch.metrics()
    assert (m["messages_sent"], m["messages_received"]) == (20, 20)
    assert ringmpsc.SpmcChannel(8).metrics() is None
    assert rx[0].try_recv_many(10) == []
    with pytest.raises(ringmpsc.Timeout):
        rx[0].recv_many(10, timeout=0.01)
    with pytest.raises(ValueError):
        rx[0].recv_into(bytearray(2))
    ch.close()
    with pytest.raises(ringmpsc.Closed):
        rx[1].recv_many(10, timeout=1)
    with pytest.raises(ringmpsc.Closed):
        ch.register_producer()


def test_claiming_consumers_receive_in_place_up_to_a_count():
    """recv_many claims items in place (no buffer of max_items items is
    made), takes at most max_items, and waits past items others claimed."""
    spmc = ringmpsc.SpmcChannel(64, item_size=3, max_consumers=2)
    mpmc = ringmpsc.MpmcChannel(64, item_size=3)
    for ch, tx in ((spmc, spmc.producer()), (mpmc, mpmc.register_producer())):
        a, b = ch.register_consumer(), ch.register_consumer()
        tx.send_many([b"%03d" % i for i in range(10)])
        assert a.recv_many(4) == [b"000", b"001", b"002", b"003"]
        assert b.recv_many(1 << 60, timeout=0) == [b"%03d" % i for i in range(4, 10)]
        assert a.try_recv_many(1 << 60) == []
        threading.Timer(0.05, tx.send, (b"new",)).start()
        assert a.recv_many(1 << 60, timeout=5) == [b"new"]
        assert a.try_recv() is None
        ch.close()
        with pytest.raises(ringmpsc.Closed):
            b.recv_many(timeout=0)


def recorder_failing_at(n, seen, exc):
    """A handler that appends each item to `seen` and raises `exc` once
    `seen` holds `n` items."""

    def handler(item):
        seen.append(item)
        if len(seen) == n:
            raise exc

    return handler


def test_consumer_try_recv_and_consume():
    ch = ringmpsc.SpmcChannel(16, item_size=2, max_consumers=2)
    tx = ch.producer()
    a, b = ch.register_consumer(), ch.register_consumer()
    assert a.try_recv() is None
    tx.send_many([bytes([i, i]) for i in range(6)])
    assert a.try_recv() == b"\0\0"
    seen = []
    with pytest.raises(KeyError):
        b.consume(recorder_failing_at(2, seen, KeyError("handler failed")))
    assert seen == [b"\1\1", b"\2\2"] and len(ch) == 3  # the rest stays for anyone
    assert a.consume(seen.append, max_items=1) == 1
    assert b.consume(seen.append) == 2
    assert seen[2:] == [b"\3\3", b"\4\4", b"\5\5"]
    assert a.consume(seen.append) == 0
    tx.send(b"zz")
    ch.close()
    assert b.consume(seen.append) == 1
    with pytest.raises(Closed):
        a.try_recv()
    with pytest.raises(Closed):
        a.consume(seen.append)


def test_mpsc_consumer_toolbox_and_metrics():
    ch = MpscChannel(64, item_size=8, metrics=True)
    a, b = ch.register(), ch.register()
    a.send_many([i.to_bytes(8, "little") for i in (1, 2, 3)])
    b.send((10).to_bytes(8, "little"))
    assert ch.hottest_ring() == 0
    assert (ch.ring_len(0), ch.ring_len(1)) == (3, 1)
    with pytest.raises(ValueError):
        ch.ring_len(5)
    first = ch.try_recv()
    ch.reset_adaptive_skip()
    rest = ch.drain_all()
    assert sorted(int.from_bytes(x, "little") for x in [first, *rest]) == [1, 2, 3, 10]
    assert ch.try_recv() is None
    stats = ch.stats()
    assert (stats["rings"], stats["pending"], stats["closed"]) == (2, 0, False)
    assert stats["metrics"]["messages_sent"] == 4 and stats["metrics"]["messages_received"] == 4
    assert "metrics" not in MpscChannel(16).stats()

    # consume(handler): in place over all producers; a raising handler
    # leaves the item it raised on, and the rest, in the channel.
    a.send_many([i.to_bytes(8, "little") for i in range(5)])
    assert len(ch) == 5 and ch.pending == 5
    seen = []
    assert ch.consume(seen.append, max_items=2) == 2
    with pytest.raises(RuntimeError):
        ch.consume(recorder_failing_at(3, seen, RuntimeError("handler failed")))
    assert len(ch) == 3
    assert ch.consume(seen.append) == 3
    assert [int.from_bytes(x, "little") for x in seen] == [0, 1, 2, 2, 3, 4]
    assert ch.consume(seen.append) == 0
    assert not ch.closed and not ch.drained
    b.send((7).to_bytes(8, "little"))
    ch.close()
    assert ch.closed and not ch.drained
    assert ch.consume(seen.append) == 1
    assert ch.drained
    with pytest.raises(Closed):
        ch.consume(seen.append)


def test_mpsc_event_loop_handles_everything_before_it_stops():
    ch = MpscChannel(64, item_size=8)
    producers = [ch.register() for _ in range(3)]
    seen = []
    lp = ch.run(lambda item: seen.append(int.from_bytes(item, "little")))
    with pytest.raises(ValueError):
        ch.try_recv()  # the loop owns the consumer side now

    def produce(p, base):
        for i in range(2000):
            p.send((base + i).to_bytes(8, "little"))

    threads = [threading.Thread(target=produce, args=(p, k * 10_000)) for k, p in enumerate(producers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert lp.stop() == 6000
    assert lp.stop() == 0  # idempotent
    assert sorted(seen) == sorted(k * 10_000 + i for k in range(3) for i in range(2000))
    with pytest.raises(Closed):
        producers[0].send(b"\0" * 8)


def test_an_event_loop_reports_a_raising_handler_and_goes_on(monkeypatch):
    ch = MpscChannel(64, item_size=8)
    p = ch.register()
    seen, reported = [], []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: reported.append(u.exc_value))

    def handler(item):
        i = int.from_bytes(item, "little")
        if i == 1:
            raise RuntimeError("handler failed")
        seen.append(i)

    lp = ch.run(handler)
    for i in range(3):
        p.send(i.to_bytes(8, "little"))
    assert lp.stop() == 3
    assert seen == [0, 2]
    assert [str(e) for e in reported] == ["handler failed"]


def test_a_loop_stopped_from_its_own_handler_stops():
    ch = MpscChannel(64, item_size=8)
    p = ch.register()
    box = {}

    def handler(item):
        if int.from_bytes(item, "little") == 2:
            box["stopped"] = box["loop"].stop()  # cannot wait for itself

    box["loop"] = lp = ch.run(handler)
    for i in range(3):
        p.send(i.to_bytes(8, "little"))
    deadline = time.monotonic() + 10
    while "stopped" not in box and time.monotonic() < deadline:
        time.sleep(0.01)
    # It returned (the count handled so far, at most the three sent), and
    # the loop closed the channel once the handler was done.
    assert 0 <= box.get("stopped", -1) <= 3
    while time.monotonic() < deadline:
        try:
            p.try_send(bytes(8))
        except Closed:
            break
        time.sleep(0.01)
    with pytest.raises(Closed):
        p.try_send(bytes(8))
    assert lp.stop() == 0  # already stopped


def test_ctrl_c_ends_the_wait_of_a_stop_not_the_stop():
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        ch = MpscChannel(64, item_size=8)
        p = ch.register()
        for i in range(20):
            p.send(i.to_bytes(8, "little"))
        seen = []
        lp = ch.run(lambda item: (time.sleep(0.05), seen.append(item)))
        timer = threading.Timer(0.1, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            lp.stop()
        # The drain takes a second: the interrupt did not wait for it.
        assert time.monotonic() - start < 0.9
        timer.join()
        assert lp.stop() == 20 and len(seen) == 20
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize(("wait", "pause"), [("blocking", None), ("spin", None), ("yield", None), ("paced", 1e-6)])
def test_mpsc_event_loop_waits_and_stops_while_idle(wait, pause):
    ch = MpscChannel(64, item_size=8)
    p = ch.register()
    seen = []
    lp = ch.run(lambda item: seen.append(int.from_bytes(item, "little")), wait=wait, pause=pause)
    for i in range(100):
        p.send(i.to_bytes(8, "little"))
    deadline = time.monotonic() + 10
    while lp.processed < 100 and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(0.02)  # idle, deep in its wait
    assert lp.stop() == 100
    assert seen == list(range(100))


@pytest.mark.parametrize(
    ("wait", "pause"),
    [("paced", None), ("paced", 0.0), ("paced", 0.002), ("paced", float("nan")), ("spin", 1e-6), ("busy", None)],
)
def test_mpsc_event_loop_refuses_a_wait_it_does_not_take(wait, pause):
    ch = MpscChannel(64, item_size=8)
    p = ch.register()
    with pytest.raises(ValueError):
        ch.run(lambda item: None, wait=wait, pause=pause)
    p.send(b"\x01" + b"\0" * 7)
    assert ch.try_recv() == b"\x01" + b"\0" * 7  # the consumer side stayed here


def test_numa_topology_and_pinning():
    from ringmpsc import numa

    nodes = numa.nodes()
    assert nodes and all({"id", "cpus", "memory_bytes", "distances"} <= set(n) for n in nodes)
    cpu = numa.current_cpu()
    assert cpu is not None
    assert numa.node_of_cpu(cpu) in [n["id"] for n in nodes]
    assert numa.nearest_node(nodes[0]["id"]) in [n["id"] for n in nodes]
    assert numa.is_numa() == (len(nodes) > 1)
    done = []

    def pinned():
        numa.bind_to_cpu(cpu)
        done.append(numa.current_cpu())
        numa.bind_to_node(nodes[0]["id"])

    t = threading.Thread(target=pinned)
    t.start()
    t.join()
    assert done == [cpu]
    with pytest.raises(ValueError):
        numa.bind_to_node(9999)


def test_numa_memory_placement():
    import mmap

    from ringmpsc import numa

    node = numa.nodes()[0]["id"]
    buf = mmap.mmap(-1, 1 << 16)
    try:
        numa.bind_memory(buf, node)
    except OSError:
        pass  # a kernel without NUMA support may refuse: placement is best effort
    buf[:4] = b"abcd"
    assert buf[:4] == b"abcd"
    with pytest.raises(TypeError):
        numa.bind_memory(b"read-only", node)
    with pytest.raises(ValueError):
        numa.bind_memory(bytearray(8), 9999)
    buf.close()


def test_a_loop_that_cannot_start_leaves_the_consumer_side():
    # In a fresh interpreter, so that no ended thread left a stack to reuse:
    # with no address space for the loop thread's stack, run() raises
    # OSError and the channel still receives what was sent.
    code = """
import resource, ringmpsc
ch = ringmpsc.MpscChannel(16, item_size=8)
tx = ch.register()
tx.send(b"12345678")
size = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize:"))
was = resource.getrlimit(resource.RLIMIT_AS)
resource.setrlimit(resource.RLIMIT_AS, (size * 1024 + (1 << 20), was[1]))
try:
    ch.run(lambda item: None)
    failed = None
except OSError as e:
    failed = e
resource.setrlimit(resource.RLIMIT_AS, was)
assert failed is not None, "the loop started under the limit"
assert ch.try_recv() == b"12345678"
ch.run(lambda item: None).stop()
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout == "ok\n", out.stderr
