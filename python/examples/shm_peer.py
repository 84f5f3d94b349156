"""One end of a cross-process, cross-language message stream.

    python shm_peer.py recv NAME COUNT   creates the ring, receives and checks COUNT messages
    python shm_peer.py send NAME COUNT   attaches to the ring, sends COUNT messages

Same message format as examples-c/shm_peer.c and ringcore/examples/shm_peer.rs:
an 8-byte little-endian sequence number, then a slice of a fixed pattern
(length 0..1000 and offset from the number); the type is the CRC-32 of the
message masked to 31 bits. The receiver prints messages, bytes and rate.
"""

import sys
import time
import zlib

import ringmpsc

PATTERN = bytes(range(256)) * 16


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


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[1] not in ("send", "recv"):
        print("usage: shm_peer.py send|recv NAME COUNT", file=sys.stderr)
        return 2
    fn = send if sys.argv[1] == "send" else recv
    return fn(sys.argv[2], int(sys.argv[3]))


if __name__ == "__main__":
    sys.exit(main())
