"""The persistent log from Python: writing, replay, live tail, zero-copy
views, rolling, retention, blocking reads, a writer's death, corrupt files."""

import gc
import os
import subprocess
import sys
import threading
import time

import pytest

import ringmpsc

PAGE = os.sysconf("SC_PAGE_SIZE")


def small(path, **kw):
    # One page per region, two regions per file: rolls come quickly.
    return ringmpsc.LogWriter(path, region_size=PAGE, file_size=2 * PAGE, **kw)


def payload(i):
    return bytes((i + k) & 0xFF for k in range(i * 37 % 300))


def test_append_replay_and_message_fields(tmp_path):
    path = tmp_path / "log"
    with small(path, prefault=True) as w:
        for i in range(500):
            assert w.append(payload(i), msg_type=i, timestamp=i * 10) == i
        assert w.next_index == 500
        assert w.position[0] > 3  # several files
    with ringmpsc.LogReader(path) as r:
        msgs = list(r)
        assert [m.index for m in msgs] == list(range(500))
        assert all(m.msg_type == m.index and m.timestamp == m.index * 10 for m in msgs)
        assert all(m.tobytes() == payload(m.index) and len(m) == len(payload(m.index)) for m in msgs)
        assert isinstance(msgs[7].payload, memoryview) and msgs[7].payload.readonly
        assert r.writer_status == "closed"
    # Views outlive the reader and every roll it made.
    assert bytes(msgs[3].payload) == payload(3)


def test_zero_copy_reserve_commit_abort_and_numpy(tmp_path):
    np = pytest.importorskip("numpy")
    path = tmp_path / "log"
    with small(path) as w:
        buf = w.reserve(64)
        np.frombuffer(buf, dtype=np.uint64)[:] = np.arange(8, dtype=np.uint64)
        assert w.commit(msg_type=5, timestamp=1) == 0
        w.reserve(16)[:] = b"x" * 16
        w.abort()
        w.reserve(16)[:3] = b"abc"
        assert w.commit(length=3) == 1
        with pytest.raises(ValueError):
            w.commit()  # nothing reserved
    msgs = list(ringmpsc.LogReader(path))
    assert len(msgs) == 2
    assert np.frombuffer(msgs[0].payload, dtype=np.uint64).tolist() == list(range(8))
    assert msgs[1].tobytes() == b"abc"
    assert abs(msgs[1].timestamp - time.time_ns()) < 60 * 10**9  # defaults to now


def test_errors_are_clear(tmp_path):
    path = tmp_path / "log"
    w = small(path, mtu=256)
    with pytest.raises(ringmpsc.TooLarge):
        w.append(b"x" * 257)
    with pytest.raises(ringmpsc.Busy):
        small(path)
    with pytest.raises(ValueError):
        ringmpsc.LogWriter(tmp_path / "other", region_size=1000)
    with pytest.raises(ValueError):
        ringmpsc.LogWriter(tmp_path / "other", durability="sometimes")
    with pytest.raises(FileNotFoundError):
        ringmpsc.LogReader(tmp_path / "missing")
    with pytest.raises(ValueError):
        ringmpsc.LogReader(path, "middle")
    w.close()
    w.close()
    with pytest.raises(ValueError):
        w.append(b"after close")


def test_live_index_position_and_seek(tmp_path):
    path = tmp_path / "log"
    w = small(path)
    for i in range(300):
        w.append(payload(i), timestamp=i)
    live = ringmpsc.LogReader(path, "live")
    assert live.next_index == 300 and live.try_read() is None
    r = ringmpsc.LogReader(path, index=123)
    m = r.try_read()
    assert (m.index, m.timestamp) == (123, 123)
    r2 = ringmpsc.LogReader(path, position=m.position)
    assert r2.try_read().index == 123
    r2.seek((0, 256))
    assert r2.try_read().index == 0
    with pytest.raises(ValueError):
        r2.seek((m.position[0], m.position[1] + 8))
    w.append(b"new")
    assert live.try_read().tobytes() == b"new"
    assert [m.index for m in live.try_read_batch(10)] == []
    with pytest.raises(ringmpsc.Timeout):
        live.read_batch(10, timeout=0)
    w.close()


def test_a_payload_keeps_the_mapping_it_points_into_across_seeks(tmp_path):
    # A seek maps a file afresh: a payload read after seeking away and back
    # must keep the new mapping alive, not the first one of the same file.
    path = tmp_path / "log"
    with small(path) as w:
        for i in range(300):
            w.append(bytes([i % 256]) * 100)
    r = ringmpsc.LogReader(path)
    first = r.try_read()
    later = ringmpsc.LogReader(path, index=299).try_read()
    assert later.position[0] != first.position[0]
    r.seek(later.position)
    r.seek(first.position)
    m = r.try_read()
    r.close()
    del first, later
    gc.collect()
    assert m.index == 0 and m.tobytes() == bytes(100)


def test_blocking_reads_follow_and_writer_close(tmp_path):
    path = tmp_path / "log"
    w = small(path)
    r = ringmpsc.LogReader(path)
    with pytest.raises(ringmpsc.Timeout):
        r.read(timeout=0.02)
    assert list(r.follow(timeout=0.02)) == []

    def produce():
        for i in range(1000):
            if i % 100 == 0:
                time.sleep(0.002)
            w.append(payload(i), timestamp=i)
        w.close()

    t = threading.Thread(target=produce)
    t.start()
    seen = [m.index for m in r.follow(timeout=10)]
    t.join()
    assert seen == list(range(1000))
    assert r.writer_status == "closed"
    with pytest.raises(ringmpsc.Closed):
        r.read(timeout=1)


def test_batches(tmp_path):
    path = tmp_path / "log"
    with small(path) as w:
        for i in range(400):
            w.append(payload(i))
    r = ringmpsc.LogReader(path)
    got = []
    while True:
        batch = r.try_read_batch(1000)
        if not batch:
            break
        assert len({m.position[0] for m in batch}) == 1  # a batch stays in one file
        got += [m.tobytes() for m in batch]
    assert got == [payload(i) for i in range(400)]


def test_retention_and_a_reader_that_fell_behind(tmp_path):
    path = tmp_path / "log"
    w = small(path, retention=2)
    slow = ringmpsc.LogReader(path)
    for i in range(2000):
        w.append(payload(i))
    with pytest.raises(ringmpsc.FellBehind):
        for _ in slow:
            pass
    with pytest.raises(ringmpsc.FellBehind):
        ringmpsc.LogReader(path, index=0)
    assert ringmpsc.LogReader(path).next_index > 0
    w.close()


def test_a_writer_killed_with_sigkill_is_dead_not_idle(tmp_path):
    path = tmp_path / "log"
    code = (
        "import ringmpsc, sys, os\n"
        f"w = ringmpsc.LogWriter({str(path)!r}, region_size={PAGE}, file_size={2 * PAGE})\n"
        "for i in range(100): w.append(b'x' * i, timestamp=i)\n"
        "w.reserve(50)[:] = b'y' * 50\n"  # a torn record: reserved, never committed
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    r = ringmpsc.LogReader(path)
    assert len(list(r)) == 100
    assert r.writer_status == "active"
    p.kill()
    p.wait()
    assert r.writer_status == "dead"
    with pytest.raises(ringmpsc.Disconnected):
        r.read(timeout=5)
    # A new writer takes over and appends after the last committed record.
    with small(path) as w:
        assert w.next_index == 100
        w.append(b"resumed")
    assert r.read(timeout=5).tobytes() == b"resumed"


def test_a_forked_worker_neither_writes_through_nor_keeps_a_dead_writers_log(tmp_path):
    path = tmp_path / "log"
    code = (
        "import multiprocessing, ringmpsc, sys, time\n"
        f"w = ringmpsc.LogWriter({str(path)!r}, region_size={PAGE}, file_size={2 * PAGE})\n"
        "w.append(b'before')\n"
        "def work(q):\n"
        "    try:\n"
        "        w.append(b'from the worker')\n"
        "        q.put('wrote')\n"
        "    except ValueError:\n"
        "        q.put('refused')\n"
        "    time.sleep(30)\n"
        "ctx = multiprocessing.get_context('fork')\n"
        "q = ctx.Queue()\n"
        "p = ctx.Process(target=work, args=(q,))\n"
        "p.start()\n"
        "print(q.get(timeout=10), p.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    worker = None
    try:
        answer, pid = p.stdout.readline().split()
        worker = int(pid)
        assert answer == "refused"
        p.kill()
        p.wait()
        # The writer is dead, its forked worker alive: a new writer takes over.
        assert ringmpsc.LogReader(path).writer_status == "dead"
        with small(path) as w:
            w.append(b"resumed")
        assert [m.tobytes() for m in ringmpsc.LogReader(path)] == [b"before", b"resumed"]
    finally:
        p.kill()
        p.wait()
        if worker is not None:
            os.kill(worker, 9)


def test_corrupt_and_foreign_files(tmp_path):
    path = tmp_path / "log"
    with small(path) as w:
        for i in range(20):
            w.append(payload(i))
    good = path.read_bytes()
    path.write_bytes(bytes(len(good)))
    with pytest.raises(ringmpsc.InvalidHeader):
        ringmpsc.LogReader(path)
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ringmpsc.InvalidHeader, match="truncated"):
        ringmpsc.LogReader(path)
    bad = bytearray(good)
    bad[256:260] = (0xFFFFFFFF).to_bytes(4, "little")
    path.write_bytes(bytes(bad))
    with pytest.raises(ringmpsc.Corrupt, match="0x100"):
        list(ringmpsc.LogReader(path))
    bad = bytearray(good)
    bad[8] = 7  # another format version
    path.write_bytes(bytes(bad))
    with pytest.raises(ringmpsc.InvalidHeader, match="version"):
        ringmpsc.LogReader(path)


def test_checksums_catch_a_flipped_byte(tmp_path):
    path = tmp_path / "log"
    with small(path) as w:
        for i in range(5):
            w.append(b"record %d" % i)
    good = path.read_bytes()
    at = good.index(b"record 3")
    bad = bytearray(good)
    bad[at + 7] ^= 1  # "record 2" in place of "record 3"
    path.write_bytes(bytes(bad))
    with ringmpsc.LogReader(path) as r:
        assert [m.tobytes() for m in (r.read(), r.read(), r.read())] == [b"record 0", b"record 1", b"record 2"]
        with pytest.raises(ringmpsc.Corrupt, match="record 3: checksum"):
            r.read()
    # Without checksums a log is smaller, and a flip goes unseen.
    plain = tmp_path / "plain"
    with small(plain, checksums=False) as w:
        for i in range(5):
            w.append(b"record %d" % i)
    assert len(plain.read_bytes()) == len(good)
    with ringmpsc.LogReader(plain) as r:
        first, second = r.read(), r.read()
        assert second.position[1] - first.position[1] == 16 + 8


def test_a_reservation_view_ends_at_commit(tmp_path):
    with small(tmp_path / "log") as w:
        buf = w.reserve(8)
        buf[:] = b"12345678"
        held = memoryview(buf)
        with pytest.raises(BufferError):
            w.commit()
        held.release()
        assert w.commit() == 0
        with pytest.raises(ValueError):
            buf[:1] = b"x"  # the record is committed
        r = w.reserve(4)
        with pytest.raises(ValueError):
            w.commit(length=99)  # more than reserved: the reservation stays
        with pytest.raises(ValueError):
            w.append(b"other")  # would take the reservation's place: refused
        with pytest.raises(ringmpsc.TooLarge):
            w.reserve(1 << 30)  # refused before the pending one is dropped
        r[:2] = b"ok"
        w.abort()
    assert [m.tobytes() for m in ringmpsc.LogReader(tmp_path / "log")] == [b"12345678"]
