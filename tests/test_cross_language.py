"""Cross-process, cross-language tests: C, Python and Rust processes on one
named segment, each stream a million sequence-numbered, checksummed
messages of mixed sizes; zero-copy payloads through a shared buffer pool;
and a sender killed with SIGKILL mid-stream.

Run by `make test` (after `make c python`), from the repository root.
"""

import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

import ringmpsc

ROOT = Path(__file__).resolve().parent.parent
PEERS = {
    "c": [str(ROOT / "build" / "shm_peer")],
    "rust": [str(ROOT / "target" / "release" / "examples" / "shm_peer")],
    "python": [sys.executable, str(ROOT / "python" / "examples" / "shm_peer.py")],
}
POOL_PEERS = {
    "c": [str(ROOT / "build" / "pool_peer")],
    "python": [sys.executable, str(ROOT / "python" / "examples" / "pool_peer.py")],
}
MESSAGES = 1_000_000


def run_pair(peers, sender, receiver, name, count, timeout=120):
    recv = subprocess.Popen(peers[receiver] + ["recv", name, str(count)], stdout=subprocess.PIPE, text=True)
    try:
        send = subprocess.run(peers[sender] + ["send", name, str(count)], timeout=timeout)
        out, _ = recv.communicate(timeout=timeout)
    finally:
        if recv.poll() is None:
            recv.kill()
    assert send.returncode == 0, f"{sender} sender failed"
    assert recv.returncode == 0, f"{receiver} receiver failed"
    print(out.strip())
    assert "all in order and intact" in out or "all intact" in out


@pytest.mark.parametrize(
    "sender,receiver",
    [("c", "python"), ("python", "c"), ("rust", "python"), ("python", "rust"), ("c", "rust")],
)
def test_a_million_messages_between_languages(sender, receiver):
    name = f"rmpsc-xlang-{sender}-{receiver}-{os.getpid()}"
    run_pair(PEERS, sender, receiver, name, MESSAGES)


@pytest.mark.parametrize("sender,receiver", [("c", "python"), ("python", "c")])
def test_pool_payloads_are_read_in_place_across_languages(sender, receiver):
    name = f"rmpsc-pool-{sender}-{receiver}-{os.getpid()}"
    run_pair(POOL_PEERS, sender, receiver, name, 5_000)


def message(seq):
    length = (((seq * 2654435761) & 0xFFFFFFFFFFFFFFFF) >> 7) % 1001
    off = seq % 251
    return seq.to_bytes(8, "little") + (bytes(range(256)) * 16)[off : off + length]


def test_a_c_sender_killed_mid_stream_leaves_only_whole_messages():
    name = f"rmpsc-kill-{os.getpid()}"
    ring = ringmpsc.MessageRing.create(name, capacity=1 << 16)
    rx = ring.receiver()
    try:
        sender = subprocess.Popen(PEERS["c"] + ["send", name, str(10**9)])
        seq = 0
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            for msg_type, data in rx.recv_batch(256, timeout=0.05):
                assert data == message(seq) and msg_type == zlib.crc32(data) & 0x7FFFFFFF
                seq += 1
        assert ring.is_sender_alive(0.5)
        sender.send_signal(signal.SIGKILL)
        sender.wait()
        start = time.monotonic()
        while ring.is_sender_alive(0.2):
            assert time.monotonic() - start < 1, "a killed sender must be seen dead"
            time.sleep(0.005)
        for msg_type, data in rx.recv_batch(10**6, timeout=0):
            assert data == message(seq) and msg_type == zlib.crc32(data) & 0x7FFFFFFF
            seq += 1
        assert seq > 0
        assert not ring.closed, "SIGKILL closes nothing; the ring stays usable"
    finally:
        ring.unlink()


LOG_PEERS = {
    "c": [str(ROOT / "build" / "log_peer")],
    "rust": [str(ROOT / "target" / "release" / "examples" / "log_peer")],
    "python": [sys.executable, str(ROOT / "python" / "examples" / "log_peer.py")],
}
LOG_RECORDS = 100_000


@pytest.mark.parametrize(
    "writer,reader,replayer",
    [("c", "python", "rust"), ("c", "rust", "python"), ("python", "c", "rust"), ("rust", "python", "c")],
)
def test_a_log_tailed_live_and_replayed_across_languages(tmp_path, writer, reader, replayer):
    """A reader tails the log while the writer appends (across many region
    and file rolls); after the writer closed it, a third language replays it."""
    path = str(tmp_path / "log")
    count = str(LOG_RECORDS)
    tail = subprocess.Popen(LOG_PEERS[reader] + ["read", path, count], stdout=subprocess.PIPE, text=True)
    try:
        assert subprocess.run(LOG_PEERS[writer] + ["write", path, count], timeout=120).returncode == 0
        out, _ = tail.communicate(timeout=120)
    finally:
        if tail.poll() is None:
            tail.kill()
    assert tail.returncode == 0, f"{reader} reader failed"
    assert "all in order and intact" in out
    replay = subprocess.run(
        LOG_PEERS[replayer] + ["read", path, count], capture_output=True, text=True, timeout=120
    )
    assert replay.returncode == 0, replay.stderr
    assert f"records 0..{LOG_RECORDS}" in replay.stdout
    assert len(list(tmp_path.iterdir())) > 20  # many files: the log rolled


@pytest.mark.parametrize("reader", ["c", "rust"])
def test_a_live_reader_joins_a_python_log_mid_stream(tmp_path, reader):
    path = tmp_path / "log"
    w = ringmpsc.LogWriter(path, region_size=64 << 10, file_size=1 << 20)

    def append(seq):
        m = message(seq)
        w.append(m, msg_type=zlib.crc32(m) & 0x7FFFFFFF, timestamp=seq)

    for seq in range(20_000):
        append(seq)
    live = subprocess.Popen(LOG_PEERS[reader] + ["live", str(path), "50000"], stdout=subprocess.PIPE, text=True)
    try:
        assert live.stdout.readline().strip() == "joined at 20000"
        for seq in range(20_000, 50_000):
            append(seq)
        w.close()
        out, _ = live.communicate(timeout=60)
    finally:
        if live.poll() is None:
            live.kill()
    assert live.returncode == 0
    assert "records 20000..50000" in out
