"""Rings of numpy dtypes: Ring(capacity, dtype=...) and SharedRing with
dtype=..., in one process and across two."""

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import ringmpsc
from ringmpsc import Ring, SharedRing, Timeout

np = pytest.importorskip("numpy")

TICK = np.dtype([("seq", "<u8"), ("price", "<f8"), ("qty", "<i4"), ("side", "u1"), ("pad", "V3")])


def ticks(start, n):
    a = np.zeros(n, TICK)
    a["seq"] = np.arange(start, start + n)
    a["price"] = a["seq"] * 0.5
    a["qty"] = -a["seq"].astype(np.int32)
    a["side"] = a["seq"] % 2
    return a


def in_place(arr):
    """Whether `arr` shows ring slots (a View) rather than a copy."""
    return isinstance(getattr(arr.base, "obj", None), ringmpsc.View)


def test_a_structured_dtype_round_trips_in_one_process():
    ring = Ring(16, dtype=TICK)
    assert ring.item_size == TICK.itemsize == 24 and ring.dtype == TICK
    a = ticks(0, 6)
    assert ring.send_many(a) == 6  # one array, one copy
    ring.send(a[0])  # a record
    ring.send(np.array(a[1]))  # a 0-d array
    ring.send(a[2:3])  # an array of one item
    ring.send(a[3].tobytes())  # bytes of the item size
    first = ring.recv()
    assert isinstance(first, np.void) and first.dtype == TICK and first == a[0]
    got = ring.recv_array(max_items=3)
    assert got.dtype == TICK and not got.flags.writeable
    assert np.array_equal(got, a[1:4])
    rest = ring.recv_array()  # goes on after the items still lent to `got`
    assert np.array_equal(rest, np.concatenate([a[4:], a[:4]]))
    del got, rest
    assert ring.try_recv() is None  # frees the slots of the arrays
    assert len(ring) == 0 and ring.available_capacity == 16
    plain = Ring(8, dtype="<u8")
    plain.send(np.uint64(7))
    plain.send_many(np.arange(3, dtype="<u8"))
    assert repr(plain.recv()) == "np.uint64(7)"
    assert plain.recv_array().tolist() == [0, 1, 2]


def test_contiguous_items_come_in_place_wrapped_ones_as_one_copy():
    ring = Ring(8, dtype=TICK)
    ring.send_many(ticks(0, 6))
    arr = ring.recv_array()
    assert in_place(arr) and arr["seq"].tolist() == list(range(6))
    # The slots stay taken while the array lives, and a further receive
    # goes on after them.
    assert ring.available_capacity == 2
    ring.send_many(ticks(6, 2))
    assert ring.try_send(ticks(8, 1)) is False
    more = ring.recv_array()
    assert in_place(more) and more["seq"].tolist() == [6, 7]
    assert ring.try_recv_array().size == 0  # nothing past them
    with pytest.raises(Timeout):
        ring.recv_array(timeout=0.01)
    # A view of the array keeps it alive, and with it the slots.
    seqs = arr["seq"]
    del arr, more
    assert ring.try_recv_array().size == 0 and ring.available_capacity == 0
    del seqs
    assert ring.try_recv_array().size == 0 and ring.available_capacity == 8

    # The head is at slot 0 again: fill 6, take them, then 4 wrap around.
    ring.send_many(ticks(8, 6))
    ring.recv_array()
    ring.send_many(ticks(14, 4))  # slots 6, 7, 0, 1
    wrapped = ring.recv_array()
    assert not in_place(wrapped) and wrapped["seq"].tolist() == [14, 15, 16, 17]
    assert not wrapped.flags.writeable
    assert ring.available_capacity == 8  # a copy: freed at once
    assert np.array_equal(wrapped, ticks(14, 4))
    # Asked for fewer than the run holds: in place again.
    ring.send_many(ticks(18, 3))
    two = ring.recv_array(max_items=2)
    assert in_place(two) and two["seq"].tolist() == [18, 19]


def test_recv_into_refuses_an_array_of_another_dtype_and_takes_nothing():
    ring = Ring(8, dtype="<f8")
    ring.send(np.float64(1.5))
    with pytest.raises(ValueError, match="dtype"):
        ring.recv_into(np.zeros(2, dtype=np.int32))
    out = np.zeros(1, dtype="<f8")
    assert ring.recv_into(out) == 1 and out[0] == 1.5
    # Plain buffers carry no dtype and take the bytes.
    ring.send(np.float64(2.5))
    raw = bytearray(8)
    assert ring.recv_into(raw) == 1
    assert np.frombuffer(raw, dtype="<f8")[0] == 2.5


def test_lent_slots_make_the_other_receives_wait_for_the_arrays():
    ring = Ring(8, dtype="<u4")
    ring.send_many(np.arange(4, dtype="<u4"))
    arr = ring.recv_array(max_items=2)
    for call in (ring.recv, ring.try_recv, ring.recv_many, ring.readable):
        with pytest.raises(BufferError):
            call()
    with pytest.raises(BufferError):
        ring.advance(1)
    with pytest.raises(BufferError):
        ring.recv_into(bytearray(16))
    assert arr.tolist() == [0, 1]  # nothing was taken or freed
    del arr
    assert ring.recv() == np.uint32(2)
    assert ring.recv_many() == [np.uint32(3).tobytes()]


def test_arrays_dropped_in_another_thread_free_their_slots():
    ring = Ring(4, dtype="<u8")
    ring.send_many(np.arange(4, dtype="<u8"))
    held = [ring.recv_array()]  # every slot lent out
    got = []
    waiter = threading.Thread(target=lambda: got.append(ring.recv_array(timeout=10)))
    waiter.start()
    time.sleep(0.05)  # it waits, holding the consumer side
    held.clear()  # the array is gone: the waiting receive frees its slots
    ring.send(np.uint64(9), timeout=5)
    waiter.join(10)
    assert got[0].tolist() == [9]


def test_a_wrong_item_or_dtype_is_a_clean_error_that_changes_nothing():
    ring = Ring(8, dtype=TICK)
    ring.send(ticks(0, 1)[0])
    bad = [
        (ring.send, np.float64(1.0), ValueError),  # another dtype
        (ring.send, b"x" * 8, ValueError),  # bytes of another size
        (ring.send, 12345, TypeError),  # not an item at all
        (ring.send_many, np.zeros(3, "<f8"), ValueError),
        # The same size, other fields.
        (ring.send_many, ticks(0, 2).view([("seq", "<u8"), ("rest", "V16")]), ValueError),
        (ring.send_many, b"x" * 25, ValueError),
        (ring.try_send, np.zeros((), "<u8"), ValueError),
    ]
    for call, arg, error in bad:
        with pytest.raises(error):
            call(arg)
        assert len(ring) == 1
    assert ring.recv() == ticks(0, 1)[0]
    with pytest.raises(ValueError):
        Ring(8, item_size=16, dtype=TICK)  # conflicting sizes
    with pytest.raises(ValueError):
        Ring(8, dtype=object)  # pointers do not travel
    with pytest.raises(ValueError, match="dtype"):
        Ring(8).recv_array()  # a ring of bytes has no arrays
    assert Ring(8, item_size=24, dtype=TICK).item_size == 24


def test_shared_ring_sides_take_the_dtype_and_check_its_size():
    name = f"rmpsc-pytest-np-{os.getpid()}"
    ring = SharedRing.create(name, capacity=16, dtype=TICK)
    try:
        assert ring.slot_size == 24 and ring.dtype == TICK
        with pytest.raises(ValueError):
            SharedRing.attach(name, slot_size=8, dtype=TICK)
        with pytest.raises(ringmpsc.InvalidHeader):
            SharedRing.attach(name, dtype="<u8")  # 8-byte items: refused
        peer = SharedRing.attach(name, dtype=TICK)
        tx, rx = ring.producer(), peer.consumer()
        assert tx.dtype == TICK and rx.dtype == TICK
        tx.send_many(ticks(0, 5))
        assert np.array_equal(rx.recv_array(), ticks(0, 5))
        raw = SharedRing.attach(name)  # bytes of the same slots
        assert raw.dtype is None
    finally:
        ring.unlink()
    with pytest.raises(ValueError):
        SharedRing.create(None, capacity=16, slot_size=8, dtype=TICK)


PRODUCER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import ringmpsc
    name, count = sys.argv[1], int(sys.argv[2])
    tick = np.dtype({tick!r})
    ring = ringmpsc.SharedRing.attach(name, dtype=tick, timeout=10)
    with ring.producer() as tx:
        for start in range(0, count, 100):
            a = np.zeros(min(100, count - start), tick)
            a["seq"] = np.arange(start, start + len(a))
            a["price"] = a["seq"] * 0.5
            if start % 300 == 0:
                for item in a:
                    tx.send(item, timeout=10)  # one record at a time
            else:
                tx.send_many(a, timeout=10)
    """
)


def test_a_structured_dtype_crosses_processes():
    name = f"rmpsc-pytest-npx-{os.getpid()}"
    count = 5000
    ring = SharedRing.create(name, capacity=64, dtype=TICK)
    code = PRODUCER.format(tick=TICK.descr)
    peer = subprocess.Popen([sys.executable, "-c", code, name, str(count)])
    try:
        rx = ring.consumer()
        seq = 0
        copies = views = 0
        while True:
            try:
                arr = rx.recv_array(max_items=48, timeout=20)
            except ringmpsc.Closed:
                break
            assert arr["seq"].tolist() == list(range(seq, seq + len(arr)))
            assert np.array_equal(arr["price"], arr["seq"] * 0.5)
            seq += len(arr)
            views += in_place(arr)
            copies += not in_place(arr)
        assert seq == count and views > 0
        assert peer.wait(timeout=30) == 0
    finally:
        peer.kill()
        ring.unlink()


def test_the_module_imports_without_numpy():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["numpy"] = None  # as if numpy were not installed
        import ringmpsc
        r = ringmpsc.Ring(8)
        r.send(bytes(8))
        assert r.recv() == bytes(8) and r.dtype is None
        try:
            ringmpsc.Ring(8, dtype="<u8")
        except ImportError:
            print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr
