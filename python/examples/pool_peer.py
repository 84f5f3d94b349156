"""Zero-copy large payloads between processes through a shared BufferPool.

    python pool_peer.py recv NAME COUNT   creates NAME.pool and NAME.ring, checks COUNT payloads in place
    python pool_peer.py send NAME COUNT   attaches to both and writes COUNT payloads

Payloads are written into pool slabs; only 4-byte handles travel through the
shared ring. The receiver reads each slab as a numpy array over shared memory
(no copy). Same format as examples-c/pool_peer.c.
"""

import sys
import time

import numpy as np

import ringmpsc

SLAB = 64 * 1024
BASE = np.arange(SLAB, dtype=np.uint64)


def payload_len(seq: int) -> int:
    return 8 + 1024 + (seq * 7919) % 60000


def expected(seq: int, length: int) -> np.ndarray:
    return ((BASE[8:length] + seq) & 0xFF).astype(np.uint8)


def send(name: str, count: int) -> int:
    pool = ringmpsc.BufferPool.attach(f"{name}.pool", timeout=10)
    shared = ringmpsc.SharedRing.attach(f"{name}.ring", slot_size=4, timeout=10)
    with shared.producer() as ring:  # leaving the block closes the ring
        for seq in range(count):
            handle = pool.alloc()
            while handle is None:  # every slab in flight: wait for the consumer
                time.sleep(0.0001)
                handle = pool.alloc()
            length = payload_len(seq)
            slab = np.frombuffer(memoryview(pool.view(handle)), dtype=np.uint8)  # writable, in place
            slab[:8] = np.frombuffer(seq.to_bytes(8, "little"), dtype=np.uint8)
            slab[8:length] = expected(seq, length)
            pool.set_len(handle, length)
            ring.send(handle.to_bytes(4, "little"))
    return 0


def recv(name: str, count: int) -> int:
    pool = ringmpsc.BufferPool.create_shared(f"{name}.pool", SLAB, 64)
    shared = ringmpsc.SharedRing.create(f"{name}.ring", capacity=64, slot_size=4)
    ring = shared.consumer()
    seq = total = 0
    try:
        for item in ring:  # until the sender closes the ring
            handle = int.from_bytes(item, "little")
            data = np.frombuffer(memoryview(pool.payload(handle)), dtype=np.uint8)  # in place
            length = payload_len(seq)
            ok = (
                len(data) == length
                and int.from_bytes(data[:8].tobytes(), "little") == seq
                and np.array_equal(data[8:], expected(seq, length))
            )
            if not ok:
                print(f"payload {seq} is wrong", file=sys.stderr)
                return 1
            del data
            total += length
            pool.free(handle)
            seq += 1
    finally:
        pool.unlink()
        shared.unlink()
    if seq != count:
        print(f"received {seq} of {count}", file=sys.stderr)
        return 1
    print(f"Python pool receiver: {seq} payloads, {total / 1e6:.1f} MB read in place, all intact")
    return 0


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[1] not in ("send", "recv"):
        print("usage: pool_peer.py send|recv NAME COUNT", file=sys.stderr)
        return 2
    fn = send if sys.argv[1] == "send" else recv
    return fn(sys.argv[2], int(sys.argv[3]))


if __name__ == "__main__":
    sys.exit(main())
