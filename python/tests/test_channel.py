"""Tests of MpscChannel and EventNotifier."""

import asyncio
import select
import struct
import subprocess
import sys
import threading
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
    assert ch.recv_many(timeout=0.01) == []
    assert ch.recv_into(bytearray(8), timeout=0) == 0
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
    ring.send(b"x")
    assert n.consume() == 1


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
        return ch.recv_many(timeout=0)

    assert asyncio.run(run()) == [b"!"]
