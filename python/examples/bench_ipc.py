"""A Python consumer of 64-byte messages from another Python process, four
ways, measured in the same run: ringmpsc (MessageRing with batch receive,
and SharedRing of 64-byte slots received into a numpy buffer), against
multiprocessing.Queue and a pure-Python ring over
multiprocessing.shared_memory. The consumer checks the sequence number of
every message, each way with the same struct unpack.

    python bench_ipc.py [messages]
"""

import multiprocessing as mp
import os
import struct
import sys
import time
from multiprocessing import shared_memory

import numpy as np

import ringmpsc

SIZE = 64
BATCH = 256
SEQ = struct.Struct("<Q")
MESSAGE = struct.Struct(f"<Q{SIZE - 8}x")  # the sequence number, then zeros
payload = MESSAGE.pack


def seq_of(data) -> int:
    return SEQ.unpack_from(data)[0]


# ---- ringmpsc MessageRing ---------------------------------------------------


def msg_producer(name: str, count: int) -> None:
    ring = ringmpsc.MessageRing.attach(name, timeout=10)
    with ring.sender() as tx:
        for start in range(0, count, BATCH):
            tx.send_many(list(map(payload, range(start, min(start + BATCH, count)))))


def bench_message_ring(count: int, typed: bool) -> float:
    """recv_batch ((type, bytes) pairs) when `typed`, else recv_many (bytes)."""
    name = f"rmpsc-bench-msg-{os.getpid()}"
    ring = ringmpsc.MessageRing.create(name, capacity=1 << 22)
    rx = ring.receiver()
    p = mp.Process(target=msg_producer, args=(name, count))
    p.start()
    seq = 0
    start = time.perf_counter()
    try:
        while seq < count:
            if typed:
                seqs = [seq_of(data) for _type, data in rx.recv_batch(4096)]
            else:
                seqs = [seq_of(data) for data in rx.recv_many(4096)]
            if seqs != list(range(seq, seq + len(seqs))):
                raise AssertionError(f"messages after {seq} out of order")
            seq += len(seqs)
    finally:
        ring.unlink()
    elapsed = time.perf_counter() - start
    p.join()
    return count / elapsed


# ---- ringmpsc SharedRing of 64-byte slots -------------------------------------


def slot_producer(name: str, count: int) -> None:
    ring = ringmpsc.SharedRing.attach(name, slot_size=SIZE, timeout=10)
    block = np.zeros((BATCH, SIZE // 8), dtype=np.uint64)
    with ring.producer() as tx:
        for start in range(0, count, BATCH):
            n = min(BATCH, count - start)
            block[:n, 0] = np.arange(start, start + n, dtype=np.uint64)
            tx.send_many(block[:n])


def bench_shared_ring(count: int) -> float:
    name = f"rmpsc-bench-slots-{os.getpid()}"
    shared = ringmpsc.SharedRing.create(name, capacity=1 << 14, slot_size=SIZE)
    rx = shared.consumer()
    p = mp.Process(target=slot_producer, args=(name, count))
    p.start()
    buf = np.zeros((4096, SIZE // 8), dtype=np.uint64)
    seq = 0
    start = time.perf_counter()
    try:
        while seq < count:
            n = rx.recv_into(buf)
            if not np.array_equal(buf[:n, 0], np.arange(seq, seq + n, dtype=np.uint64)):
                raise AssertionError(f"messages after {seq} out of order")
            seq += n
    finally:
        shared.unlink()
    elapsed = time.perf_counter() - start
    p.join()
    return count / elapsed


# ---- multiprocessing.Queue ----------------------------------------------------


def queue_producer(q, count: int) -> None:
    for seq in range(count):
        q.put(payload(seq))


def bench_queue(count: int) -> float:
    q = mp.Queue(maxsize=1 << 14)
    p = mp.Process(target=queue_producer, args=(q, count))
    p.start()
    start = time.perf_counter()
    for seq in range(count):
        if seq_of(q.get()) != seq:
            raise AssertionError(f"message {seq} out of order")
    elapsed = time.perf_counter() - start
    p.join()
    return count / elapsed


# ---- a pure-Python ring over multiprocessing.shared_memory ----------------------
# Header: tail at 0, head at 64 (u64 each); slots of 64 bytes after 128.

SLOTS = 1 << 14
HDR = 128


def py_ring_producer(name: str, count: int) -> None:
    shm = shared_memory.SharedMemory(name=name)
    buf = shm.buf
    tail = 0
    seq = 0
    while seq < count:
        (head,) = struct.unpack_from("<Q", buf, 64)
        free = SLOTS - (tail - head)
        n = min(free, BATCH, count - seq)
        for _ in range(n):
            at = HDR + (tail % SLOTS) * SIZE
            MESSAGE.pack_into(buf, at, seq)
            tail += 1
            seq += 1
        struct.pack_into("<Q", buf, 0, tail)
    del buf
    shm.close()


def bench_py_ring(count: int) -> float:
    shm = shared_memory.SharedMemory(create=True, size=HDR + SLOTS * SIZE)
    buf = shm.buf
    p = mp.Process(target=py_ring_producer, args=(shm.name, count))
    p.start()
    head = seq = 0
    start = time.perf_counter()
    while seq < count:
        (tail,) = struct.unpack_from("<Q", buf, 0)
        while head < tail:
            at = HDR + (head % SLOTS) * SIZE
            if SEQ.unpack_from(buf, at)[0] != seq:
                raise AssertionError(f"message {seq} out of order")
            head += 1
            seq += 1
        struct.pack_into("<Q", buf, 64, head)
    elapsed = time.perf_counter() - start
    p.join()
    del buf
    shm.close()
    shm.unlink()
    return count / elapsed


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
    mp.set_start_method("fork")
    small = max(count // 10, 10_000)
    rows = [
        ("ringmpsc MessageRing, recv_batch", bench_message_ring(count, typed=True)),
        ("ringmpsc MessageRing, recv_many", bench_message_ring(count, typed=False)),
        ("ringmpsc SharedRing 64 B slots, recv_into numpy", bench_shared_ring(count)),
        ("pure-Python ring over multiprocessing.shared_memory", bench_py_ring(small)),
        ("multiprocessing.Queue", bench_queue(small)),
    ]
    queue = rows[-1][1]
    pyring = rows[-2][1]
    print(f"Python consumer, 64-byte messages from another Python process ({count} messages)\n")
    print("| consumer | messages/s | vs multiprocessing.Queue | vs pure-Python shm ring |")
    print("|---|---|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate / 1e6:.2f} M/s | {rate / queue:.1f}x | {rate / pyring:.1f}x |")


if __name__ == "__main__":
    main()
