"""asyncio across processes: one event loop receives a stream of messages
from another process and serves that process's requests at the same time,
with no thread per waiter and no polling (see ringmpsc.aio).

    python asyncio_ipc.py [messages]

The parent creates a message ring and a transport server and starts a child
process (this script with --child): the child sends sequence-numbered
messages on the ring and, from a second thread, requests over the
transport. The parent's loop checks every message and echoes every request.
"""

import asyncio
import os
import struct
import subprocess
import sys
import threading

import ringmpsc
from ringmpsc import aio

REQUESTS = 1000


def child(ring_name: str, rpc_name: str, count: int) -> int:
    """Sends `count` messages and REQUESTS requests (plain blocking calls)."""
    client = ringmpsc.Client(rpc_name, timeout=10)

    def ask() -> None:
        for i in range(REQUESTS):
            client.send(ringmpsc.Priority.HIGH, struct.pack("<Q", i))
            _, reply = client.recv(timeout=10)
            assert struct.unpack("<Q", reply)[0] == i, "wrong reply"

    asker = threading.Thread(target=ask)
    asker.start()
    with ringmpsc.MessageRing.attach(ring_name, timeout=10) as ring:
        tx = ring.sender()
        for seq in range(count):
            tx.send(struct.pack("<Q", seq), msg_type=1)
        tx.close()
    asker.join()
    client.close()
    return 0


async def receive(rx: aio.MessageReceiver) -> int:
    seq = 0
    async for _, payload in rx:  # ends once the child closed the ring and all is read
        assert struct.unpack("<Q", payload)[0] == seq, "out of order"
        seq += 1
    return seq


async def serve(server: aio.Server) -> int:
    for served in range(REQUESTS):
        client, priority, data = await server.recv()
        server.send(client, priority, data)
    return REQUESTS


async def main(count: int) -> int:
    ring_name = f"rmpsc-aio-ring-{os.getpid()}"
    rpc_name = f"rmpsc-aio-rpc-{os.getpid()}"
    with ringmpsc.MessageRing.create(ring_name, 1 << 16) as ring, ringmpsc.Server(rpc_name) as server:
        ring.unlink_on_drop()
        proc = await asyncio.create_subprocess_exec(sys.executable, __file__, "--child", ring_name, rpc_name, str(count))
        received, served = await asyncio.gather(receive(aio.MessageReceiver(ring.receiver())), serve(aio.Server(server)))
        code = await proc.wait()
    assert code == 0, f"child exited with {code}"
    print(f"ok: {received} messages received and {served} requests served on one event loop")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)))
