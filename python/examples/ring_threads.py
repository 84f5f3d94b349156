"""Two Python threads through a ringmpsc ring, checking every sequence number.

The producer packs batches of u64 sequence numbers and sends them with
send_many; the consumer receives straight into a preallocated buffer with
recv_into (one copy, no per-item objects) until the ring is closed and
drained. Prints the rate.

    python ring_threads.py [count]
"""

import sys
import threading
import time
from array import array

import ringmpsc

BATCH = 1024


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
    ring = ringmpsc.Ring(1 << 14, item_size=8)

    def produce() -> None:
        for start in range(0, count, BATCH):
            batch = array("Q", range(start, min(start + BATCH, count)))
            ring.send_many(batch)  # waits (GIL released) while the ring is full
        ring.close()

    began = time.perf_counter()
    producer = threading.Thread(target=produce)
    producer.start()
    buf = array("Q", bytes(8 * BATCH))
    expected = 0
    while True:
        try:
            n = ring.recv_into(buf)
        except ringmpsc.Closed:
            break
        if buf[:n] != array("Q", range(expected, expected + n)):
            print(f"lost, duplicated or reordered items after {expected}", file=sys.stderr)
            return 1
        expected += n
    producer.join()
    elapsed = time.perf_counter() - began
    if expected != count:
        print(f"received {expected} of {count}", file=sys.stderr)
        return 1
    print(f"ok: {count} items in order (Python threads), {count / elapsed / 1e6:.2f} M items/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
