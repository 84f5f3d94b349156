"""An asyncio consumer of a ringmpsc channel: the event loop waits on the
channel's EventNotifier (an eventfd) with loop.add_reader, so the consumer
costs no CPU while idle and shares its thread with other coroutines.
Producer threads send sequence-numbered items; the consumer checks them.

    python asyncio_consumer.py [items_per_producer]
"""

import asyncio
import struct
import sys
import threading

import ringmpsc

PRODUCERS = 3


def produce(ring: ringmpsc.Ring, producer: int, count: int) -> None:
    with ring:  # closing the ring deregisters the producer
        for seq in range(count):
            ring.send(struct.pack("<II", producer, seq))


async def consume(channel: ringmpsc.MpscChannel, notifier: ringmpsc.EventNotifier, total: int) -> int:
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    loop.add_reader(notifier.fileno(), ready.set)
    next_seq = [0] * PRODUCERS
    seen = 0
    try:
        while seen < total:
            await ready.wait()
            ready.clear()
            notifier.consume()
            for item in channel.try_recv_many(4096):
                producer, seq = struct.unpack("<II", item)
                assert seq == next_seq[producer], "out of order"
                next_seq[producer] += 1
                seen += 1
    finally:
        loop.remove_reader(notifier.fileno())
    return seen


async def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    channel = ringmpsc.MpscChannel(1024, item_size=8)
    notifier = ringmpsc.EventNotifier()
    channel.set_notifier(notifier)
    threads = [
        threading.Thread(target=produce, args=(channel.register(), p, count)) for p in range(PRODUCERS)
    ]
    for t in threads:
        t.start()
    seen = await consume(channel, notifier, PRODUCERS * count)
    for t in threads:
        t.join()
    print(f"ok: {seen} items from {PRODUCERS} producer threads, consumed in asyncio")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
