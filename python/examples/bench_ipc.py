"""A Python consumer of 64-byte messages from another Python process, measured
in the same run: ringmpsc (MessageRing with batch receive; SharedRing of
64-byte slots received as bytes, into a numpy buffer, and as numpy arrays of
a structured dtype), against multiprocessing.Queue and a pure-Python ring
over multiprocessing.shared_memory. The consumer checks the sequence number
of every message, each way with the same struct unpack (numpy compares whole
arrays). Then the in-process rings and channels (Ring, MpscChannel,
SpmcChannel, MpmcChannel), their producer a thread of the same process, and
a 64-byte ping-pong between two processes pinned to two CPUs: ringmpsc's
blocking recv against the pure-Python ring's busy polling. Every figure is
from rounds of one run that run every row once, in an order turned each
round (the median rate of 3 rounds, each ratio the median of those within
a round; the round trips of 5 rounds pooled).

    python bench_ipc.py [messages]
"""

import multiprocessing as mp
import os
import statistics
import struct
import subprocess
import sys
import threading
import time
from multiprocessing import shared_memory

# numpy's BLAS threads spin for a while after start-up and would take CPU
# from the processes measured (2 CPUs here); no row uses BLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

import ringmpsc

SIZE = 64
BATCH = 256
SEQ = struct.Struct("<Q")
MESSAGE = struct.Struct(f"<Q{SIZE - 8}x")  # the sequence number, then zeros
payload = MESSAGE.pack


def seq_of(data: bytes) -> int:
    return int(SEQ.unpack_from(data)[0])


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
    into = buf.data  # its memory as a memoryview (a Buffer to type checkers)
    seq = 0
    start = time.perf_counter()
    try:
        while seq < count:
            n = rx.recv_into(into)
            if not np.array_equal(buf[:n, 0], np.arange(seq, seq + n, dtype=np.uint64)):
                raise AssertionError(f"messages after {seq} out of order")
            seq += n
    finally:
        shared.unlink()
    elapsed = time.perf_counter() - start
    p.join()
    return count / elapsed


def bench_shared_ring_bytes(count: int) -> float:
    """SharedRing.recv_many: a list of bytes, one per message."""
    name = f"rmpsc-bench-slotb-{os.getpid()}"
    shared = ringmpsc.SharedRing.create(name, capacity=1 << 14, slot_size=SIZE)
    rx = shared.consumer()
    p = mp.Process(target=slot_producer, args=(name, count))
    p.start()
    seq = 0
    start = time.perf_counter()
    try:
        while seq < count:
            seqs = [seq_of(data) for data in rx.recv_many(4096, timeout=10)]
            if seqs != list(range(seq, seq + len(seqs))):
                raise AssertionError(f"messages after {seq} out of order")
            seq += len(seqs)
    finally:
        shared.unlink()
    elapsed = time.perf_counter() - start
    p.join()
    return count / elapsed


# ---- ringmpsc SharedRing of a numpy dtype ---------------------------------------

TICK = np.dtype([("seq", "<u8"), ("body", "V56")])  # 64 bytes


def dtype_producer(name: str, count: int) -> None:
    ring = ringmpsc.SharedRing.attach(name, dtype=TICK, timeout=10)
    block = np.zeros(BATCH, TICK)
    with ring.producer() as tx:
        for start in range(0, count, BATCH):
            n = min(BATCH, count - start)
            block["seq"][:n] = np.arange(start, start + n, dtype=np.uint64)
            tx.send_many(block[:n])


def bench_dtype_ring(count: int) -> float:
    """SharedRing(dtype=...).recv_array: arrays in place (a copy at the wrap)."""
    name = f"rmpsc-bench-dtype-{os.getpid()}"
    shared = ringmpsc.SharedRing.create(name, capacity=1 << 14, dtype=TICK)
    rx = shared.consumer()
    p = mp.Process(target=dtype_producer, args=(name, count))
    p.start()
    seq = 0
    start = time.perf_counter()
    try:
        while seq < count:
            arr = rx.recv_array(4096, timeout=10)
            n = len(arr)
            if not np.array_equal(arr["seq"], np.arange(seq, seq + n, dtype=np.uint64)):
                raise AssertionError(f"messages after {seq} out of order")
            seq += n
    finally:
        shared.unlink()
    elapsed = time.perf_counter() - start
    p.join()
    return count / elapsed


# ---- in-process rings and channels, the producer a thread ------------------------


def in_process(kind: str):
    """(producer, consumer) of a `kind` ring or channel of 64-byte items."""
    if kind == "Ring":
        ring = ringmpsc.Ring(1 << 14, item_size=SIZE)
        return ring, ring
    if kind == "MpscChannel":
        ch = ringmpsc.MpscChannel(1 << 14, item_size=SIZE)
        return ch.register(), ch
    if kind == "SpmcChannel":
        ch = ringmpsc.SpmcChannel(1 << 14, item_size=SIZE, max_consumers=1)
        return ch.producer(), ch.register_consumer()
    ch = ringmpsc.MpmcChannel(1 << 14, item_size=SIZE, max_producers=1, max_consumers=1)
    return ch.register_producer(), ch.register_consumer()


def bench_in_process(count: int, kind: str, handler: bool = False) -> float:
    """recv_many (or, with `handler`, MpscChannel.consume) of a `kind`."""
    tx, rx = in_process(kind)

    def produce() -> None:
        block = np.zeros((BATCH, SIZE // 8), dtype=np.uint64)
        for start in range(0, count, BATCH):
            n = min(BATCH, count - start)
            block[:n, 0] = np.arange(start, start + n, dtype=np.uint64)
            tx.send_many(block[:n], timeout=10)

    seqs: list = []
    t = threading.Thread(target=produce)
    t.start()
    start = time.perf_counter()
    if handler:
        check = seqs.append
        while len(seqs) < count:
            if rx.consume(lambda data: check(seq_of(data))) == 0:
                time.sleep(0)
        ok = seqs == list(range(count))
    else:
        seq = 0
        ok = True
        while seq < count:
            got = [seq_of(data) for data in rx.recv_many(4096, timeout=10)]
            ok &= got == list(range(seq, seq + len(got)))
            seq += len(got)
    elapsed = time.perf_counter() - start
    t.join()
    if not ok:
        raise AssertionError(f"{kind}: messages out of order")
    return count / elapsed


# ---- multiprocessing.Queue ----------------------------------------------------


def queue_producer(q: "mp.Queue[bytes]", count: int) -> None:
    for seq in range(count):
        q.put(payload(seq))


def bench_queue(count: int) -> float:
    q: "mp.Queue[bytes]" = mp.Queue(maxsize=1 << 14)
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
    assert buf is not None
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
    assert buf is not None
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


# ---- 64-byte ping-pong round trip between two processes ----------------------------

WARM = 1000
STOP = (1 << 64) - 1
CPUS = sorted(os.sched_getaffinity(0))


def pin(k: int) -> None:
    """Pins this process to the k-th allowed CPU (the two sides of a round
    trip on two CPUs, as `make bench` does: where the scheduler puts them
    otherwise changes from run to run)."""
    if len(CPUS) > 1:
        os.sched_setaffinity(0, {CPUS[k]})


def rt_ringmpsc_peer(ping: str, pong: str) -> None:
    pin(1)
    rx = ringmpsc.SharedRing.attach(ping, slot_size=SIZE, timeout=10).consumer()
    tx = ringmpsc.SharedRing.attach(pong, slot_size=SIZE, timeout=10).producer()
    try:
        while True:
            tx.send(rx.recv())  # blocking: GIL released, spin, then futex
    except ringmpsc.Closed:
        pass


def round_trip_ringmpsc(n: int) -> list:
    """Nanoseconds per send + blocking recv, through two SharedRings."""
    names = [f"rmpsc-bench-{side}-{os.getpid()}" for side in ("ping", "pong")]
    ping, pong = (ringmpsc.SharedRing.create(m, capacity=64, slot_size=SIZE) for m in names)
    tx, rx = ping.producer(), pong.consumer()
    p = mp.Process(target=rt_ringmpsc_peer, args=names)
    p.start()
    msg, samples = payload(0), []
    try:
        for i in range(WARM + n):
            t0 = time.perf_counter_ns()
            tx.send(msg)
            rx.recv()
            if i >= WARM:
                samples.append(time.perf_counter_ns() - t0)
    finally:
        tx.close()
        p.join()
        ping.unlink()
        pong.unlink()
    return samples


class PyMailbox:
    """One direction of the pure-Python ping-pong: the ring above (tail at
    0, head at 64, slots after 128) with one message in flight at most,
    polled without sleeping."""

    SLOTS = 64

    def __init__(self, buf) -> None:
        self.buf, self.pos = buf, 0

    def put(self, data: bytes) -> None:
        at = HDR + (self.pos % self.SLOTS) * SIZE
        self.buf[at : at + SIZE] = data
        self.pos += 1
        struct.pack_into("<Q", self.buf, 0, self.pos)

    def get(self) -> bytes:
        while struct.unpack_from("<Q", self.buf, 0)[0] == self.pos:
            pass  # busy polling
        at = HDR + (self.pos % self.SLOTS) * SIZE
        data = bytes(self.buf[at : at + SIZE])
        self.pos += 1
        struct.pack_into("<Q", self.buf, 64, self.pos)
        return data


MAILBOX = HDR + PyMailbox.SLOTS * SIZE


def rt_py_peer(name: str) -> None:
    pin(1)
    shm = shared_memory.SharedMemory(name=name)
    ping, pong = PyMailbox(shm.buf[:MAILBOX]), PyMailbox(shm.buf[MAILBOX:])
    while True:
        data = ping.get()
        if seq_of(data) == STOP:
            break
        pong.put(data)
    del ping, pong
    shm.close()


def round_trip_py(n: int) -> list:
    """Nanoseconds per put + busy-polled get, pure Python over shared_memory."""
    shm = shared_memory.SharedMemory(create=True, size=2 * MAILBOX)
    ping, pong = PyMailbox(shm.buf[:MAILBOX]), PyMailbox(shm.buf[MAILBOX:])
    p = mp.Process(target=rt_py_peer, args=(shm.name,))
    p.start()
    msg, samples = payload(0), []
    for i in range(WARM + n):
        t0 = time.perf_counter_ns()
        ping.put(msg)
        pong.get()
        if i >= WARM:
            samples.append(time.perf_counter_ns() - t0)
    ping.put(MESSAGE.pack(STOP))
    p.join()
    del ping, pong
    shm.close()
    shm.unlink()
    return samples


def order(rows: int, round_: int) -> list:
    """The order in which round `round_` runs `rows` rows: turned by one each
    round and reversed every other round, as the Rust benches do."""
    turned = [(k + round_) % rows for k in range(rows)]
    return turned[::-1] if round_ % 2 == 1 else turned


def percentile(samples: list, q: float) -> float:
    return sorted(samples)[min(len(samples) - 1, int(q * len(samples)))] / 1000


def probe() -> str:
    """The core-to-core probe (``ringmpsc probe``: a bare atomic ping-pong
    between two pinned threads), printed beside each table: this machine's
    cross-CPU speed moves by several times within an hour."""
    cmd = [sys.executable, "-m", "ringmpsc._cli", "probe", "-n", "20000"]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return out.stdout.strip()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
    mp.set_start_method("fork")
    small = max(count // 10, 10_000)
    benches = [
        ("ringmpsc MessageRing, recv_batch", lambda: bench_message_ring(count, typed=True)),
        ("ringmpsc MessageRing, recv_many", lambda: bench_message_ring(count, typed=False)),
        ("ringmpsc SharedRing 64 B slots, recv_many (bytes)", lambda: bench_shared_ring_bytes(count)),
        ("ringmpsc SharedRing 64 B slots, recv_into numpy", lambda: bench_shared_ring(count)),
        ("ringmpsc SharedRing dtype=64 B record, recv_array", lambda: bench_dtype_ring(count)),
        ("ringmpsc Ring, recv_many (producer thread)", lambda: bench_in_process(count, "Ring")),
        (
            "ringmpsc MpscChannel, recv_many (producer thread)",
            lambda: bench_in_process(count, "MpscChannel"),
        ),
        (
            "ringmpsc MpscChannel, consume(handler) (producer thread)",
            lambda: bench_in_process(count, "MpscChannel", handler=True),
        ),
        (
            "ringmpsc SpmcChannel, recv_many (producer thread)",
            lambda: bench_in_process(count, "SpmcChannel"),
        ),
        (
            "ringmpsc MpmcChannel, recv_many (producer thread)",
            lambda: bench_in_process(count, "MpmcChannel"),
        ),
        ("pure-Python ring over multiprocessing.shared_memory", lambda: bench_py_ring(count)),
        ("multiprocessing.Queue", lambda: bench_queue(small)),
    ]
    # Every row once in each of 3 rounds, in an order turned each round (the
    # machine's load changes from second to second, so no row gets a quiet
    # moment alone); each ratio is the median of those within a round.
    n = len(benches)
    runs = [[0.0] * n for _ in range(3)]
    before = probe()
    for r, got in enumerate(runs):
        for i in order(n, r):
            got[i] = benches[i][1]()
    queue, pyring = n - 1, n - 2
    print(
        f"Python consumer, 64-byte messages ({count} per run, every row once in each of 3 rounds, "
        "in turn: rates the medians over the rounds, ratios the medians of those within a round)\n"
    )
    print(f"Before: {before}\nAfter: {probe()}\n")
    print("| consumer | messages/s | vs multiprocessing.Queue | vs pure-Python shm ring |")
    print("|---|---|---|---|")
    for i, (name, _) in enumerate(benches):
        rate = statistics.median(got[i] for got in runs)
        vs_queue = statistics.median(got[i] / got[queue] for got in runs)
        vs_pyring = statistics.median(got[i] / got[pyring] for got in runs)
        print(f"| {name} | {rate / 1e6:.2f} M/s | {vs_queue:.1f}x | {vs_pyring:.1f}x |")

    # Alternating rounds, each side first in turn, so that both see the same
    # machine (its load changes by the second).
    trips, rounds = max(count // 100, 10_000), 5
    rt = [("ringmpsc SharedRing, send + blocking recv", []), ("pure-Python ring, busy polling", [])]
    before = probe()
    pin(0)
    trip_runs = [round_trip_ringmpsc, round_trip_py]
    for r in range(rounds):
        for i in order(2, r):
            rt[i][1].extend(trip_runs[i](trips // rounds))
    os.sched_setaffinity(0, CPUS)
    base50, base99 = percentile(rt[-1][1], 0.5), percentile(rt[-1][1], 0.99)
    print(f"\n64-byte ping-pong round trip between two Python processes ({trips} trips, {rounds} rounds)\n")
    print(f"Before: {before}\nAfter: {probe()}\n")
    print("| round trip | p50 | p99 | p50 vs pure-Python | p99 vs pure-Python |")
    print("|---|---|---|---|---|")
    for name, samples in rt:
        p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
        print(f"| {name} | {p50:.2f} us | {p99:.2f} us | {p50 / base50:.2f}x | {p99 / base99:.2f}x |")


if __name__ == "__main__":
    main()
