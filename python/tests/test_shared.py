"""Tests of the shared-memory classes in one process (several mappings of
the same segment). Cross-process and cross-language tests are in tests/."""

import errno
import os
import socket

import pytest

import ringmpsc
from ringmpsc import (
    BufferPool,
    Busy,
    Closed,
    Corrupt,
    InvalidHeader,
    MessageRing,
    Ring,
    SharedRing,
    Timeout,
    TooLarge,
)


def name(tag):
    return f"rmpsc-pytest-{tag}-{os.getpid()}"


def test_shared_ring_sides_and_numpy_views():
    np = pytest.importorskip("numpy")
    n = name("ring")
    a = SharedRing.create(n, capacity=64, slot_size=8)
    try:
        b = SharedRing.attach(n, slot_size=8)
        assert (b.capacity, b.slot_size) == (64, 8)
        tx, rx = a.producer(), b.consumer()
        with pytest.raises(Busy):
            b.producer()  # one holder per side
        assert a.producer_pid == os.getpid() and b.is_producer_alive(1.0)
        assert tx.send_many(np.arange(40, dtype=np.uint64)) == 40
        view = rx.readable(dtype=np.uint64)  # in place, no copy
        assert list(view[:3]) == [0, 1, 2] and len(view) == 40
        with pytest.raises(ValueError):
            view[0] = 5  # the view is read-only
        with pytest.raises(BufferError):
            rx.advance(40)  # the array still shows the slots
        del view
        rx.advance(40)
        assert len(rx.readable()) == 0
        with pytest.raises(ValueError, match="consumer side"):
            rx.send(bytes(8))
        with pytest.raises(ValueError, match="producer side"):
            tx.recv()
        tx.close()
        with pytest.raises(Closed):
            rx.recv()
    finally:
        a.unlink()


def test_attach_refusals_are_invalid_header_errors():
    n = name("bad")
    a = SharedRing.create(n, capacity=8, slot_size=16)
    try:
        with pytest.raises(InvalidHeader, match="16-byte slots"):
            SharedRing.attach(n, slot_size=8)
        with pytest.raises(ValueError):  # InvalidHeader is a ValueError too
            MessageRing.attach(n, timeout=0)
        with pytest.raises(FileExistsError) as exists:
            SharedRing.create(n, capacity=8, slot_size=16)  # exclusive
        assert exists.value.errno == errno.EEXIST
    finally:
        a.unlink()
    with pytest.raises(FileNotFoundError) as missing:
        SharedRing.attach(name("missing"), timeout=0)
    assert missing.value.errno == errno.ENOENT and "missing" in str(missing.value)


def test_anonymous_segments_travel_over_unix_sockets():
    ring = MessageRing.create(None, capacity=4096)
    left, right = socket.socketpair()
    ringmpsc.send_fd(left, ring.fileno())
    fd = ringmpsc.recv_fd(right)
    other = MessageRing.from_fd(fd)
    os.close(fd)
    tx, rx = ring.sender(), other.receiver()
    tx.send(b"over a descriptor", msg_type=5)
    assert rx.recv(timeout=1) == (5, b"over a descriptor")
    left.close()
    right.close()


def test_send_many_holds_the_messages_a_generator_made():
    # Each message is freed by the generator's next step (200 kB: its
    # memory goes back to the system); the send must still hold them all.
    ring = MessageRing.create(None, capacity=1 << 20)
    tx, rx = ring.sender(), ring.receiver()
    sent = [os.urandom(200_000) for _ in range(4)]
    assert tx.send_many(bytes(m) for m in sent) == 4
    assert tx.send_many((7, bytes(m)) for m in sent[:1]) == 1
    assert rx.recv_many(10, timeout=0) == sent + sent[:1]


def test_message_ring_copies_views_batches_and_limits():
    ring = MessageRing.create(None, capacity=4096)
    tx, rx = ring.sender(), ring.receiver()
    assert ring.max_message == 4080
    with pytest.raises(TooLarge):
        tx.send(bytes(5000))
    assert tx.send_many([b"a", (7, b"bb"), memoryview(b"ccc")]) == 3
    assert rx.recv_batch(10) == [(0, b"a"), (7, b"bb"), (0, b"ccc")]
    assert tx.send_many([b"d", (3, b"ee"), b"f"]) == 3
    assert rx.recv_many(2) == [b"d", b"ee"]
    assert rx.recv_many(10, timeout=0) == [b"f"]
    assert rx.try_recv_many(10) == [] and rx.try_recv_batch(10) == []
    with pytest.raises(Timeout):
        rx.recv_many(10, timeout=0)
    with pytest.raises(Timeout):
        rx.recv_batch(10, timeout=0.01)
    view = tx.claim(5)
    memoryview(view)[:] = b"zero!"
    tx.commit(msg_type=9)
    with rx.recv_view() as msg:
        assert msg.msg_type == 9 and bytes(memoryview(msg.payload)) == b"zero!"
        assert msg.tobytes() == b"zero!"
    assert rx.try_recv() is None
    with pytest.raises(Timeout):
        rx.recv(timeout=0.02)
    # Fill it, then a bounded send times out.
    while tx.try_send(bytes(1000)):
        pass
    with pytest.raises(TimeoutError):
        tx.send(bytes(1000), timeout=0.02)
    received = 0
    while rx.try_recv() is not None:
        received += 1
    assert received >= 3
    tx.close()
    assert list(rx) == []
    with pytest.raises(Closed):
        rx.recv()


def test_pools_hand_out_slabs_in_place():
    np = pytest.importorskip("numpy")
    heap = BufferPool(128, 2)
    h = heap.alloc()
    heap.write(h, b"abc")
    assert bytes(memoryview(heap.payload(h))) == b"abc"
    slab = memoryview(heap.view(h))  # the whole slab, writable, in place
    assert len(slab) == 128 and not slab.readonly
    slab[:3] = b"xyz"
    assert bytes(memoryview(heap.payload(h))) == b"xyz"
    with pytest.raises(BufferError):
        heap.free(h)  # the slab is still in use
    slab.release()
    heap.free(h)
    with pytest.raises(ValueError):
        heap.free(h)  # double free
    with pytest.raises(ValueError):
        heap.payload(h)  # use after free
    assert heap.fileno() == -1

    n = name("pool")
    shared = BufferPool.create_shared(n, 4096, 4)
    try:
        other = BufferPool.attach(n)
        h = shared.alloc()
        slab = np.frombuffer(shared.view(h), dtype=np.uint8)  # writable, in place
        slab[:4] = [1, 2, 3, 4]
        shared.set_len(h, 4)
        assert list(np.frombuffer(other.payload(h), dtype=np.uint8)) == [1, 2, 3, 4]
        other.free(h)
        assert shared.available() == 4
        assert [shared.alloc() for _ in range(5)][-1] is None
    finally:
        shared.unlink()


def test_a_named_ring_truncated_under_it_raises_corrupt_not_sigbus():
    n = name("trunc")
    a = SharedRing.create(n, capacity=64, slot_size=8)
    try:
        b = SharedRing.attach(n, slot_size=8)
        tx, rx = a.producer(), b.consumer()
        tx.send(bytes(8))
        assert rx.recv() == bytes(8)
        os.truncate(f"/dev/shm/{n}", 0)  # a peer with write access
        with pytest.raises(Corrupt, match="truncated"):
            tx.send(bytes(8))
        with pytest.raises(Corrupt, match="truncated"):
            rx.recv()
    finally:
        a.unlink()


def test_a_stale_segment_is_detected_and_removed():
    import subprocess
    import sys

    # A segment whose creator is alive (us) is not stale.
    n = name("live")
    ring = SharedRing.create(n, capacity=8, slot_size=8)
    try:
        assert not ring.stale
        assert not ringmpsc.remove_if_stale(n)
    finally:
        ring.unlink()
    # One whose creator exited without cleaning up is.
    n = name("stale")
    code = f"import ringmpsc; ringmpsc.SharedRing.create({n!r}, capacity=8, slot_size=8)"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert SharedRing.attach(n).stale
    assert ringmpsc.remove_if_stale(n)
    with pytest.raises(OSError):
        SharedRing.attach(n, timeout=0)


def test_unlink_on_drop_removes_the_name_with_the_last_handle():
    import gc

    n = name("auto")
    path = f"/dev/shm/{n}"
    ring = SharedRing.create(n, capacity=8, slot_size=8)
    ring.unlink_on_drop()
    tx = ring.producer()
    del ring
    gc.collect()
    assert os.path.exists(path)  # the producer still maps it
    del tx
    gc.collect()
    assert not os.path.exists(path)

    msgs = MessageRing.create(n, capacity=4096)
    msgs.unlink_on_drop()
    del msgs
    gc.collect()
    assert not os.path.exists(path)

    pool = BufferPool.create_shared(n, 256, 2)
    pool.unlink_on_drop(True)
    pool.unlink_on_drop(False)  # withdrawn
    del pool
    gc.collect()
    assert os.path.exists(path)
    os.unlink(path)
    with pytest.raises(ValueError):
        BufferPool(64, 2).unlink_on_drop()  # a heap pool has no name


def test_a_message_dropped_unreleased_frees_its_record():
    ring = MessageRing.create(None, capacity=4096)
    tx, rx = ring.sender(), ring.receiver()
    for b in (b"1", b"2", b"3"):
        tx.send(b)
    rx.recv_view(timeout=0)  # dropped at once, never released
    assert rx.recv(timeout=0) == (0, b"2")
    # A payload buffer still in use keeps the record: nothing is reused
    # under it, and the receiver says why it cannot go on; once the buffer
    # is gone, the next receive frees the record and goes on (it stayed
    # stuck on the message it could no longer release).
    m = rx.recv_view(timeout=0)
    held = memoryview(m.payload)
    del m
    tx.send(b"4")
    with pytest.raises(BufferError):
        rx.recv(timeout=0)
    assert bytes(held) == b"3"
    held.release()
    assert rx.recv(timeout=0) == (0, b"4")


def test_a_batch_send_counts_what_it_sent_before_an_error():
    ring = MessageRing.create(None, capacity=4096)
    tx, rx = ring.sender(), ring.receiver()
    assert tx.send_many([b"a", b"x" * 5000]) == 1
    with pytest.raises(TooLarge):
        tx.send_many([b"x" * 5000])
    assert rx.recv(timeout=0) == (0, b"a")


def test_views_end_with_their_item():
    """A view whose memory can be reused ends with its item: giving the
    item back raises BufferError while a buffer of the view is in use, and
    the view raises afterwards, so nothing shows memory reused since."""
    ring = MessageRing.create(None, capacity=4096)
    tx, rx = ring.sender(), ring.receiver()
    tx.send(b"A" * 64)
    msg = rx.recv_view()
    mv = memoryview(msg.payload)
    with pytest.raises(BufferError):
        msg.release()
    assert bytes(mv) == b"A" * 64  # still there: nothing was released
    mv.release()
    payload = msg.payload
    msg.release()
    with pytest.raises(ValueError):
        msg.payload
    with pytest.raises(ValueError):
        memoryview(payload)
    with pytest.raises(ValueError):
        payload.tobytes()
    tx.send(b"I" * 64)  # may reuse the released bytes
    with rx.recv_view() as m:
        assert m.tobytes() == b"I" * 64
    # A claimed message: its view ends at commit (or abort).
    claim = tx.claim(4)
    claim[:] = b"WXYZ"
    held = memoryview(claim)
    with pytest.raises(BufferError):
        tx.commit(msg_type=1)
    held.release()
    tx.commit(msg_type=1)
    with pytest.raises(ValueError):
        claim[:] = b"late"
    assert rx.recv() == (1, b"WXYZ")
    claim = tx.claim(4)
    claim[:] = b"keep"
    with pytest.raises(ValueError):
        tx.commit(msg_type=0xFFFFFFFF)  # a reserved type: the claim stays
    with pytest.raises(ValueError):
        tx.commit(length=5)  # more than claimed: the claim stays
    with pytest.raises(ValueError):
        tx.send(b"other")  # would take the claim's place: refused
    claim[:2] = b"KE"  # the view still works
    tx.commit(msg_type=2)
    assert rx.recv() == (2, b"KEep")

    # Readable slots: a receive that frees nothing leaves their view alone.
    ring = Ring(8, item_size=8)
    ring.send(bytes(8))
    view = ring.readable()
    held = memoryview(view)
    with pytest.raises(BufferError):
        ring.try_recv()
    held.release()
    assert ring.try_recv() == bytes(8)
    with pytest.raises(ValueError):
        memoryview(view)
    view = ring.readable()
    assert ring.try_recv() is None  # nothing freed: the view lives on
    assert len(memoryview(view)) == 0


def test_named_segments_take_a_mode_and_group():
    n = name("perm")
    ring = MessageRing.create(n, capacity=4096, mode=0o640, group=os.getegid())
    try:
        st = os.stat("/dev/shm/" + n)
        assert (st.st_mode & 0o777, st.st_gid) == (0o640, os.getegid())
    finally:
        ring.unlink()
    with pytest.raises(ValueError):
        SharedRing.create(name("perm-bad"), mode=0o4777)
