"""One process of a server/client transport channel, in Python.

    python transport_peer.py server NAME CLIENTS COUNT   serve until CLIENTS clients each
                                                         delivered COUNT requests (checked),
                                                         echoing each to its sender
    python transport_peer.py client NAME COUNT           send COUNT requests at random priorities
    python transport_peer.py echo NAME COUNT             COUNT round trips (High request, echo)

Same request format as examples-c/transport_peer.c: the 8-byte sequence
number (counted per priority), the priority byte, 0..300 bytes derived from
the number, and the FNV-1a hash of all that (4 bytes, little-endian).
"""

import os
import random
import struct
import sys
import time

import ringmpsc


def fnv1a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


PATTERN = bytes(range(256)) * 2
# XOR_BY[k] maps byte b to b ^ k: (i ^ seq) & 0xff == (i & 0xff) ^ (seq & 0xff).
XOR_BY = [bytes(b ^ k for b in range(256)) for k in range(256)]


def message(seq: int, priority: int) -> bytes:
    length = (((seq * 2654435761) & 0xFFFFFFFFFFFFFFFF) >> 9) % 301
    body = struct.pack("<QB", seq, priority) + PATTERN[:length].translate(XOR_BY[seq & 0xFF])
    return body + struct.pack("<I", fnv1a(body))


def connect(name: str) -> ringmpsc.Client:
    deadline = time.monotonic() + 10
    while True:
        try:
            return ringmpsc.Client(name)
        except ringmpsc.Disconnected:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def server(name: str, clients: int, count: int) -> int:
    expected: dict[tuple[tuple[int, int], int], int] = {}  # (client, priority) -> next sequence number
    totals: dict[tuple[int, int], int] = {}
    with ringmpsc.Server(name, max_clients=clients) as s:
        print("ready", flush=True)
        while len(totals) < clients or any(t < count for t in totals.values()):
            try:
                batch = s.recv_batch(1024, timeout=30)
            except ringmpsc.Timeout:
                print("no request for 30 s", file=sys.stderr)
                return 1
            for client, priority, data in batch:
                seq = expected.get((client, priority), 0)
                if data != message(seq, priority):
                    print(f"request {seq} (priority {priority}) of {client} is wrong", file=sys.stderr)
                    return 1
                expected[(client, priority)] = seq + 1
                totals[client] = totals.get(client, 0) + 1
                try:
                    s.send(client, priority, data)
                except (ringmpsc.Full, ringmpsc.Disconnected):
                    pass  # a client that does not read its echoes
        time.sleep(0.1)  # let echo clients read their last replies
    print(f"Python server: {clients} clients x {count} requests, all in order and intact")
    return 0


def client(name: str, count: int) -> int:
    rng = random.Random(os.getpid())
    nxt = [0, 0, 0]
    with connect(name) as c:
        for _ in range(count):
            p = rng.randrange(3)
            c.send(p, message(nxt[p], p))
            nxt[p] += 1
    print(f"Python client: {count} requests sent")
    return 0


def echo(name: str, count: int) -> int:
    with connect(name) as c:
        for seq in range(count):
            m = message(seq, ringmpsc.Priority.HIGH)
            c.send(ringmpsc.Priority.HIGH, m)
            priority, back = c.recv(timeout=10)
            if priority != ringmpsc.Priority.HIGH or back != m:
                print(f"echo {seq} is wrong", file=sys.stderr)
                return 1
    print(f"Python client: {count} round trips, all echoed intact")
    return 0


def main() -> int:
    args = sys.argv[1:]
    if len(args) == 4 and args[0] == "server":
        return server(args[1], int(args[2]), int(args[3]))
    if len(args) == 3 and args[0] in ("client", "echo"):
        return (client if args[0] == "client" else echo)(args[1], int(args[2]))
    print("usage: transport_peer.py server NAME CLIENTS COUNT | client NAME COUNT | echo NAME COUNT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
