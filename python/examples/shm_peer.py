"""One end of a cross-process, cross-language stream over shared memory.

    python shm_peer.py recv NAME COUNT         creates a message ring, receives and checks COUNT messages
    python shm_peer.py send NAME COUNT         attaches to it, sends COUNT messages
    python shm_peer.py recv-slots NAME COUNT   creates a ring of 16-byte slots, receives and checks COUNT
    python shm_peer.py send-slots NAME COUNT   attaches to it, sends COUNT slots

Same message format as examples-c/shm_peer.c and ringcore/examples/shm_peer.rs:
an 8-byte little-endian sequence number, then a slice of a fixed pattern
(length 0..1000 and offset from the number); the type is the CRC-32 of the
message masked to 31 bits. A slot is {seq, seq * 0x9E3779B97F4A7C15 mod 2**64}
as two little-endian u64s (as in examples-c/shm_peer.cpp). The receiver
prints the count and rate.
"""

import sys
import time
import zlib
from array import array

import ringmpsc

PATTERN = bytes(range(256)) * 16
SLOT_MIX = 0x9E3779B97F4A7C15
MASK64 = (1 << 64) - 1


def message(seq: int) -> bytes:
    length = ((seq * 2654435761) & 0xFFFFFFFFFFFFFFFF) >> 7
    length %= 1001
    off = seq % 251
    return seq.to_bytes(8, "little") + PATTERN[off : off + length]


def send(name: str, count: int) -> int:
    ring = ringmpsc.MessageRing.attach(name, timeout=10)
    with ring.sender() as tx:  # leaving the block closes the ring
        batch = []
        for seq in range(count):
            m = message(seq)
            batch.append((zlib.crc32(m) & 0x7FFFFFFF, m))
            if len(batch) == 256:
                tx.send_many(batch)
                batch.clear()
        tx.send_many(batch)
    return 0


def recv(name: str, count: int) -> int:
    ring = ringmpsc.MessageRing.create(name, capacity=1 << 20)
    rx = ring.receiver()
    seq = total = 0
    start = None
    try:
        while True:
            try:
                batch = rx.recv_batch(1024, timeout=30)
            except ringmpsc.Closed:
                break
            except ringmpsc.Timeout:
                print(f"no message for 30 s after {seq}", file=sys.stderr)
                return 1
            if start is None:
                start = time.perf_counter()
            for msg_type, data in batch:
                if data != message(seq) or msg_type != zlib.crc32(data) & 0x7FFFFFFF:
                    print(f"message {seq} is wrong", file=sys.stderr)
                    return 1
                total += len(data)
                seq += 1
    finally:
        ring.unlink()
    elapsed = time.perf_counter() - (start or time.perf_counter())
    if seq != count:
        print(f"received {seq} of {count} messages", file=sys.stderr)
        return 1
    rate = seq / elapsed / 1e6 if elapsed > 0 else float("inf")
    print(
        f"Python receiver: {seq} messages, {total / 1e6:.1f} MB, all in order and intact, "
        f"{rate:.2f} M msg/s, {total / elapsed / 1e6:.0f} MB/s"
    )
    return 0


def slots(first: int, n: int) -> list[int]:
    """Slots first .. first + n - 1 as one flat list of u64s."""
    out: list[int] = []
    for seq in range(first, first + n):
        out += (seq, (seq * SLOT_MIX) & MASK64)
    return out


def send_slots(name: str, count: int) -> int:
    ring = ringmpsc.SharedRing.attach(name, slot_size=16, timeout=10)
    with ring.producer() as tx:  # leaving the block closes the ring
        for first in range(0, count, 1024):
            n = min(1024, count - first)
            if tx.send_many(array("Q", slots(first, n)), timeout=30) != n:
                print("the receiver stopped taking slots", file=sys.stderr)
                return 1
    return 0


def recv_slots(name: str, count: int) -> int:
    ring = ringmpsc.SharedRing.create(name, capacity=4096, slot_size=16)
    ring.unlink_on_drop()
    rx = ring.consumer()
    buf = array("Q", bytes(16 * 1024))
    seq = 0
    start = time.perf_counter()
    while True:
        try:
            n = rx.recv_into(buf, timeout=30)
        except ringmpsc.Closed:
            break
        except ringmpsc.Timeout:
            print(f"no slot for 30 s after {seq}", file=sys.stderr)
            return 1
        if buf[: 2 * n].tolist() != slots(seq, n):
            print(f"a slot from {seq} on is wrong", file=sys.stderr)
            return 1
        seq += n
    elapsed = time.perf_counter() - start
    if seq != count:
        print(f"received {seq} of {count} slots", file=sys.stderr)
        return 1
    print(f"Python receiver: {seq} slots, all in order and intact, {seq / elapsed / 1e6:.2f} M slots/s")
    return 0


MODES = {"send": send, "recv": recv, "send-slots": send_slots, "recv-slots": recv_slots}


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[1] not in MODES:
        print("usage: shm_peer.py send|recv|send-slots|recv-slots NAME COUNT", file=sys.stderr)
        return 2
    return MODES[sys.argv[1]](sys.argv[2], int(sys.argv[3]))


if __name__ == "__main__":
    sys.exit(main())
