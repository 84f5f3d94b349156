"""Benchmark of the Python API on the SPSC benchmark's workloads.

Single-item throughput (try_send / try_recv), batches of 256 (send_many of a
packed buffer / recv_into), each with the consumer checking the sum of every
item, and a two-thread ping-pong round trip. Median of 3 runs.

    python bench_ring.py [items] [round_trips]
"""

import statistics
import sys
import threading
import time
from array import array

import ringmpsc

BATCH = 256


def single(items: int) -> float:
    ring = ringmpsc.Ring(4096, item_size=8)
    payloads = [i.to_bytes(8, "little") for i in range(items)]

    def produce() -> None:
        try_send = ring.try_send
        for p in payloads:
            while not try_send(p):
                pass

    t = threading.Thread(target=produce)
    start = time.perf_counter()
    t.start()
    total = n = 0
    try_recv = ring.try_recv
    while n < items:
        item = try_recv()
        if item is not None:
            total += int.from_bytes(item, "little")
            n += 1
    elapsed = time.perf_counter() - start
    t.join()
    assert total == items * (items - 1) // 2
    return items / elapsed


def batched(items: int) -> float:
    ring = ringmpsc.Ring(4096, item_size=8)
    batches = [array("Q", range(s, min(s + BATCH, items))) for s in range(0, items, BATCH)]

    def produce() -> None:
        for b in batches:
            ring.send_many(b)

    t = threading.Thread(target=produce)
    buf = array("Q", bytes(8 * BATCH))
    start = time.perf_counter()
    t.start()
    total = n = 0
    while n < items:
        k = ring.recv_into(buf)
        total += sum(buf[:k])
        n += k
    elapsed = time.perf_counter() - start
    t.join()
    assert total == items * (items - 1) // 2
    return items / elapsed


def round_trip(count: int) -> tuple[float, float]:
    there, back = ringmpsc.Ring(64, 8), ringmpsc.Ring(64, 8)

    def echo() -> None:
        for _ in range(count):
            back.send(there.recv())

    t = threading.Thread(target=echo)
    t.start()
    samples = []
    msg = bytes(8)
    for _ in range(count):
        t0 = time.perf_counter_ns()
        there.send(msg)
        back.recv()
        samples.append(time.perf_counter_ns() - t0)
    t.join()
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.99)]


def main() -> None:
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rtts = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    print(f"Python API: {items} u64 items per run, median of 3 runs\n")
    print("| workload (Python API) | result |\n|---|---|")
    print(f"| single item | {statistics.median(single(items) for _ in range(3)) / 1e6:.2f} M/s |")
    print(f"| batch of {BATCH} | {statistics.median(batched(items) for _ in range(3)) / 1e6:.2f} M/s |")
    p50, p99 = round_trip(rtts)
    print(f"| ping-pong round trip (blocking recv) | p50 {p50 / 1e3:.1f} us, p99 {p99 / 1e3:.1f} us |")


if __name__ == "__main__":
    main()
