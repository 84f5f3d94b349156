"""asyncio: many coroutines on one loop, woken by the kernel, across
processes, with cancellation that loses nothing."""

import asyncio
import os
import struct
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

import ringmpsc
from ringmpsc import aio


def run(coro, timeout=30.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def threads_now() -> int:
    return len(os.listdir("/proc/self/task"))


def test_many_coroutines_on_one_loop_and_one_waiting_thread():
    rings = [ringmpsc.Ring(8, item_size=8) for _ in range(64)]
    per_ring = 300

    async def consume(ring):
        return [struct.unpack("<Q", x)[0] async for x in aio.Ring(ring)]

    async def main():
        before = threads_now()
        tasks = [asyncio.create_task(consume(r)) for r in rings]
        await asyncio.sleep(0.05)  # every consumer is waiting now
        waiting_threads = threads_now() - before

        def produce():
            for i in range(per_ring):
                for r in rings:
                    r.send(struct.pack("<Q", i))
            for r in rings:
                r.close()

        t = threading.Thread(target=produce)
        t.start()
        results = await asyncio.gather(*tasks)
        await asyncio.to_thread(t.join)
        return waiting_threads, results

    waiting_threads, results = run(main())
    # 64 waiters, at most one helper thread (none when an earlier test started it).
    assert waiting_threads <= 1
    assert all(r == list(range(per_ring)) for r in results)


def test_a_cancelled_receive_leaves_the_message_for_the_next():
    ring = ringmpsc.Ring(8, item_size=8)
    a = aio.Ring(ring)

    async def main():
        for i in range(200):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(a.recv(), 0.001)
            ring.send(struct.pack("<Q", i))
            # Cancel right as the item arrives: it must still be there.
            task = asyncio.create_task(a.recv())
            if i % 2:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert struct.unpack("<Q", await a.recv())[0] == i
            else:
                assert struct.unpack("<Q", await task)[0] == i
        assert ring.try_recv() is None

    run(main())


def test_send_waits_for_room():
    ring = ringmpsc.Ring(4, item_size=8)
    a = aio.Ring(ring)
    n = 2000

    async def main():
        got = []

        def drain():
            while len(got) < n:
                got.append(struct.unpack("<Q", ring.recv(timeout=10))[0])

        t = threading.Thread(target=drain)
        t.start()
        for i in range(n):
            await a.send(struct.pack("<Q", i))
        await asyncio.to_thread(t.join)
        return got

    assert run(main()) == list(range(n))


SENDER = """
import struct, sys, ringmpsc
ring = ringmpsc.MessageRing.attach(sys.argv[1], timeout=10)
tx = ring.sender()
for i in range(int(sys.argv[2])):
    tx.send(struct.pack("<Q", i) * (1 + i % 7), msg_type=i % 5)
tx.close()
"""


def test_message_ring_across_processes():
    name = f"rmpsc-aio-{uuid.uuid4().hex[:12]}"
    n = 20000
    ring = ringmpsc.MessageRing.create(name, 1 << 14)
    try:
        rx = aio.MessageReceiver(ring.receiver())
        p = subprocess.Popen([sys.executable, "-c", SENDER, name, str(n)])

        async def main():
            i = 0
            async for msg_type, payload in rx:
                assert msg_type == i % 5
                assert payload == struct.pack("<Q", i) * (1 + i % 7)
                i += 1
            return i

        assert run(main()) == n
        assert p.wait(timeout=30) == 0
    finally:
        ring.unlink()


def test_transport_server_and_clients_on_one_loop():
    name = f"rmpsc-aio-t-{uuid.uuid4().hex[:12]}"
    server = aio.Server(ringmpsc.Server(name, request_capacity=1 << 14, response_capacity=1 << 14))
    n, clients = 500, 4

    async def serve():
        served = 0
        async for client, priority, data in server:
            server.send(client, priority, data[::-1])
            served += 1
            if served == n * clients:
                return served

    async def talk(k):
        client = aio.Client(ringmpsc.Client(name))
        for i in range(n):
            await client.send(ringmpsc.Priority.HIGH, f"{k}:{i}".encode())
        replies = [(await client.recv())[1] for _ in range(n)]
        client.close()
        return replies

    async def main():
        s = asyncio.create_task(serve())
        replies = await asyncio.gather(*(talk(k) for k in range(clients)))
        assert await s == n * clients
        return replies

    try:
        replies = run(main())
        for k, r in enumerate(replies):
            assert r == [f"{k}:{i}".encode()[::-1] for i in range(n)]
    finally:
        server.shutdown()


def test_log_follow_ends_when_the_writer_closes(tmp_path: Path):
    path = tmp_path / "log"
    writer = ringmpsc.LogWriter(path)
    writer.append(b"first")
    reader = aio.LogReader(ringmpsc.LogReader(path))
    n = 3000

    def write():
        for i in range(n):
            writer.append(struct.pack("<Q", i), msg_type=1)
        writer.close()

    async def main():
        t = threading.Thread(target=write)
        seen = []
        t.start()
        async for record in reader.follow():
            seen.append(bytes(record.payload))
        await asyncio.to_thread(t.join)
        return seen

    seen = run(main())
    assert seen[0] == b"first"
    assert seen[1:] == [struct.pack("<Q", i) for i in range(n)]


def test_the_example_runs():
    example = Path(__file__).resolve().parents[1] / "examples" / "asyncio_ipc.py"
    out = subprocess.run([sys.executable, str(example), "20000"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ok:" in out.stdout
