"""One end of a persistent log shared across processes and languages.

    python log_peer.py write PATH COUNT   appends records 0..COUNT, then closes the log
    python log_peer.py read PATH COUNT    replays the log from the start (tailing it while
                                          a writer appends) and checks COUNT records
    python log_peer.py live PATH COUNT    joins at the end and checks what follows, up to
                                          record COUNT-1

Same record format and geometry as examples-c/log_peer.c and
ringcore/examples/log_peer.rs: the shm_peer message for `seq`, its CRC-32
(31 bits) as the type and `seq` as the timestamp; 64 KiB regions, 1 MiB files.
"""

import sys
import zlib

import ringmpsc

PATTERN = bytes(range(256)) * 16


def message(seq: int) -> bytes:
    length = (((seq * 2654435761) & 0xFFFFFFFFFFFFFFFF) >> 7) % 1001
    off = seq % 251
    return seq.to_bytes(8, "little") + PATTERN[off : off + length]


def write(path: str, count: int) -> int:
    with ringmpsc.LogWriter(path, region_size=64 << 10, file_size=1 << 20) as w:
        for seq in range(count):
            m = message(seq)
            if seq % 2:
                w.append(m, msg_type=zlib.crc32(m) & 0x7FFFFFFF, timestamp=seq)
            else:  # zero copy: fill the reservation in place
                w.reserve(len(m))[:] = m
                w.commit(zlib.crc32(m) & 0x7FFFFFFF, timestamp=seq)
    return 0


def read(path: str, count: int, live: bool) -> int:
    # The writer may not have started yet: wait up to 10 s for the log.
    reader = ringmpsc.LogReader(path, "live" if live else "start", wait=10)
    if live:
        print(f"joined at {reader.next_index}", flush=True)
    first = seq = None
    total = 0
    with reader:
        for m in reader.follow(timeout=30):
            if first is None:
                first = seq = m.index
            data = m.payload
            if m.index != seq or m.timestamp != seq or data != message(seq):
                print(f"record {seq} is wrong", file=sys.stderr)
                return 1
            if m.msg_type != zlib.crc32(data) & 0x7FFFFFFF:
                print(f"record {seq} fails its checksum", file=sys.stderr)
                return 1
            total += len(data)
            seq += 1
        status = reader.writer_status
    first = first or 0
    if seq != count or (not live and first != 0) or status != "closed":
        print(f"read records {first}..{seq} of {count} (writer {status})", file=sys.stderr)
        return 1
    print(f"Python reader: records {first}..{seq}, {total / 1e6:.1f} MB, all in order and intact")
    return 0


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[1] not in ("write", "read", "live"):
        print("usage: log_peer.py write|read|live PATH COUNT", file=sys.stderr)
        return 2
    path, count = sys.argv[2], int(sys.argv[3])
    if sys.argv[1] == "write":
        return write(path, count)
    return read(path, count, sys.argv[1] == "live")


if __name__ == "__main__":
    sys.exit(main())
