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
    "cpp": [str(ROOT / "build" / "shm_peer_cpp")],
    "rust": [str(ROOT / "target" / "release" / "examples" / "shm_peer")],
    "python": [sys.executable, str(ROOT / "python" / "examples" / "shm_peer.py")],
}
POOL_PEERS = {
    "c": [str(ROOT / "build" / "pool_peer")],
    "python": [sys.executable, str(ROOT / "python" / "examples" / "pool_peer.py")],
}
MESSAGES = 1_000_000


def run_pair(peers, sender, receiver, name, count, timeout=120, mode=None):
    suffix = f"-{mode}" if mode else ""
    recv = subprocess.Popen(
        peers[receiver] + ["recv" + suffix, name, str(count)], stdout=subprocess.PIPE, text=True
    )
    try:
        send = subprocess.run(peers[sender] + ["send" + suffix, name, str(count)], timeout=timeout)
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
    [
        ("c", "python"),
        ("python", "c"),
        ("rust", "python"),
        ("python", "rust"),
        ("c", "rust"),
        ("cpp", "python"),
        ("rust", "cpp"),
    ],
)
def test_a_million_messages_between_languages(sender, receiver):
    name = f"rmpsc-xlang-{sender}-{receiver}-{os.getpid()}"
    run_pair(PEERS, sender, receiver, name, MESSAGES)


@pytest.mark.parametrize("sender,receiver", [("cpp", "python"), ("python", "cpp")])
def test_fixed_slots_between_cpp_and_python(sender, receiver):
    name = f"rmpsc-slots-{sender}-{receiver}-{os.getpid()}"
    run_pair(PEERS, sender, receiver, name, MESSAGES, mode="slots")


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
            try:
                batch = rx.recv_batch(256, timeout=0.05)
            except ringmpsc.Timeout:
                continue
            for msg_type, data in batch:
                assert data == message(seq) and msg_type == zlib.crc32(data) & 0x7FFFFFFF
                seq += 1
        assert ring.is_sender_alive(0.5)
        sender.send_signal(signal.SIGKILL)
        sender.wait()
        start = time.monotonic()
        while ring.is_sender_alive(0.2):
            assert time.monotonic() - start < 1, "a killed sender must be seen dead"
            time.sleep(0.005)
        for msg_type, data in rx.try_recv_batch(10**6):
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


TRANSPORT_PEERS = {
    "c": [str(ROOT / "build" / "transport_peer")],
    "rust": [str(ROOT / "target" / "release" / "examples" / "transport_peer")],
    "python": [sys.executable, str(ROOT / "python" / "examples" / "transport_peer.py")],
}
sys.path.insert(0, str(ROOT / "python" / "examples"))
import transport_peer  # noqa: E402  (the request format, shared with the peers)


def start_server(lang, name, clients, count):
    server = subprocess.Popen(
        TRANSPORT_PEERS[lang] + ["server", name, str(clients), str(count)], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout.readline().strip() == "ready"
    return server


def run_clients(server, clients, timeout=300):
    try:
        for c in clients:
            assert c.wait(timeout=timeout) == 0, "a client failed"
        out, _ = server.communicate(timeout=timeout)
    finally:
        for p in [server, *clients]:
            if p.poll() is None:
                p.kill()
    assert server.returncode == 0, "the server failed"
    assert "all in order and intact" in out
    return out


def test_eight_client_processes_in_three_languages_on_a_rust_server():
    name = f"rmpsc-tp-mixed-{os.getpid()}"
    langs = ["c", "c", "c", "python", "python", "python", "rust", "rust"]
    server = start_server("rust", name, len(langs), 100_000)
    clients = [subprocess.Popen(TRANSPORT_PEERS[lang] + ["client", name, "100000"]) for lang in langs]
    print(run_clients(server, clients))


def test_c_clients_on_a_python_server():
    name = f"rmpsc-tp-pyserver-{os.getpid()}"
    server = start_server("python", name, 4, 25_000)
    clients = [subprocess.Popen(TRANSPORT_PEERS["c"] + ["client", name, "25000"]) for _ in range(4)]
    print(run_clients(server, clients))


@pytest.mark.parametrize(
    "server_lang,client_lang", [("rust", "c"), ("rust", "python"), ("python", "c"), ("c", "python")]
)
def test_request_response_round_trips(server_lang, client_lang):
    name = f"rmpsc-tp-echo-{server_lang}-{client_lang}-{os.getpid()}"
    server = start_server(server_lang, name, 1, 5_000)
    client = subprocess.Popen(TRANSPORT_PEERS[client_lang] + ["echo", name, "5000"], stdout=subprocess.PIPE, text=True)
    print(run_clients(server, [client]))


def test_a_c_client_killed_mid_send_leaves_whole_requests_and_frees_its_slot():
    name = f"rmpsc-tp-kill-{os.getpid()}"
    expected = {}
    with ringmpsc.Server(name, max_clients=1) as server:
        client = subprocess.Popen(TRANSPORT_PEERS["c"] + ["client", name, str(10**9)])
        try:
            deadline = time.monotonic() + 30
            while sum(expected.values()) < 20_000:
                assert time.monotonic() < deadline
                try:
                    batch = server.recv_batch(1024, timeout=1)
                except ringmpsc.Timeout:
                    continue
                for _, priority, data in batch:
                    assert data == transport_peer.message(expected.get(priority, 0), priority)
                    expected[priority] = expected.get(priority, 0) + 1
        finally:
            client.send_signal(signal.SIGKILL)
            client.wait()
        # What it committed before dying arrives whole and in order; then its slot is free.
        deadline = time.monotonic() + 5
        while True:
            try:
                batch = server.recv_batch(1024, timeout=0.05)
            except ringmpsc.Timeout:
                batch = []
            for _, priority, data in batch:
                assert data == transport_peer.message(expected.get(priority, 0), priority)
                expected[priority] = expected.get(priority, 0) + 1
            if not batch and not server.clients():
                break
            assert time.monotonic() < deadline, "the dead client was not reaped"
        with ringmpsc.Client(name) as again:
            assert again.id[0] == 0
