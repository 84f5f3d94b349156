/*
 * ringmpsc_lease.h: the inline fast path of a ring side (included by
 * ringmpsc.h with GCC or Clang, whose __atomic builtins it uses).
 *
 * rmpsc_ring_lease lends one side of a ring (rmpsc_ring_t: in-process,
 * shared, or an SPMC producer) to the functions below, which run the ring's
 * index protocol in the caller's code, so an item costs no call into the
 * library. They follow the rmpsc_ring_* functions of the same name and the
 * header's rules, with these differences:
 *  - the lease is used by one thread at a time, unchecked: it is itself
 *    the side's guard (the side's rmpsc_ring_* calls fail with RMPSC_EBUSY
 *    until rmpsc_lease_end). One copy of it is in use at a time: a loop
 *    may work on a copy while the original rests, and copies it back
 *    before the original goes to rmpsc_lease_wait or rmpsc_lease_end
 *    (which refuses a position the ring has moved past: RMPSC_ECORRUPT);
 *  - for the fastest loop, keep the lease in a local variable whose
 *    address goes to these functions only: they hand the library copies,
 *    never its address, so its fields stay in registers. Memory whose
 *    address went to the library is read again after every publication's
 *    barrier, which slowed a loop of single items some twentyfold (README,
 *    Performance);
 *  - pointers are not checked for NULL, and only RMPSC_ECORRUPT records a
 *    message for rmpsc_error_message();
 *  - a function of the other side, or any on the lease rmpsc_lease_end
 *    ended, fails with RMPSC_EINVAL; copies of it are not ended with it
 *    (discard them);
 *  - the slow paths are calls: rmpsc_lease_wake when the other side
 *    sleeps, rmpsc_lease_report when a position read is impossible, and
 *    rmpsc_lease_wait to block.
 *
 * The protocol (ringcore's ring::raw and ring::lease): the other side's
 * position is loaded (acquire) only when the cached one shows fewer free
 * or readable slots than the call wants, and checked: a tail more than a
 * capacity ahead of the head comes from a crashed or hostile peer, is
 * reported and never used. Slots are
 * written or read, then this side's position is stored (release); then a
 * barrier and a look at the other side's sleepers.
 *
 * Names starting rmpsc__ are the functions' own helpers, not API.
 */
#ifndef RINGMPSC_LEASE_H
#define RINGMPSC_LEASE_H

#include <string.h>

#include "ringmpsc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Counts are size_t and ptrdiff_t up to a capacity of 2^32: 64-bit only. */
typedef char rmpsc__lease_needs_64_bits[sizeof(size_t) == 8 ? 1 : -1];

/* The slot of the lease's position and the slots from there to the end
 * of the slot array. */
static inline uint8_t *rmpsc__lease_slot(const rmpsc_lease_t *lease, size_t *to_end) {
    size_t index = (size_t)(lease->position & lease->mask);
    *to_end = (size_t)lease->mask + 1 - index;
    return lease->slots + index * lease->slot_size;
}

/* Copies one slot: 8 bytes as one word, where a memcpy of a size known
 * only at run time would be a call. */
static inline void rmpsc__lease_copy(void *dst, const void *src, size_t size) {
    if (size == 8) {
        uint64_t v;
        memcpy(&v, src, 8);
        memcpy(dst, &v, 8);
    } else {
        memcpy(dst, src, size);
    }
}

/* Copies `n` slots from `items` into the ring at the lease's position, in
 * two runs where the slots wrap. */
static inline void rmpsc__lease_copy_in(rmpsc_lease_t *lease, const void *items, size_t n) {
    size_t to_end, size = lease->slot_size;
    uint8_t *ring = rmpsc__lease_slot(lease, &to_end);
    size_t first = n < to_end ? n : to_end;
    memcpy(ring, items, first * size);
    memcpy(lease->slots, (const uint8_t *)items + first * size, (n - first) * size);
}

/* Copies `n` slots out of the ring at the lease's position into `buf`. */
static inline void rmpsc__lease_copy_out(rmpsc_lease_t *lease, void *buf, size_t n) {
    size_t to_end, size = lease->slot_size;
    const uint8_t *ring = rmpsc__lease_slot(lease, &to_end);
    size_t first = n < to_end ? n : to_end;
    memcpy(buf, ring, first * size);
    memcpy((uint8_t *)buf + first * size, lease->slots, (n - first) * size);
}

/* The slow paths are handed a copy of the lease, never its address: a
 * lease kept in a local variable whose address goes nowhere else then
 * stays in registers through a loop (memory whose address went to the
 * library is read again after every publication's barrier). */
static inline int rmpsc__lease_wake(const rmpsc_lease_t *lease) {
    rmpsc_lease_t copy = *lease;
    return rmpsc_lease_wake(&copy);
}

static inline int rmpsc__lease_report(const rmpsc_lease_t *lease, uint64_t peer) {
    rmpsc_lease_t copy = *lease;
    return rmpsc_lease_report(&copy, peer);
}

/* Moves the side's position on by `n` and stores it (release: the slots
 * written or read before it are done), then wakes the other side if it
 * sleeps. The barrier orders the store before the load of the sleepers; a
 * compiler fence is enough where the side going to sleep makes up for it
 * (`full_fence` 0: see the field). */
static inline void rmpsc__lease_publish(rmpsc_lease_t *lease, size_t n) {
    lease->position += n;
    __atomic_store_n(lease->own, lease->position, __ATOMIC_RELEASE);
    if (lease->full_fence) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    } else {
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
    }
    if (__builtin_expect(__atomic_load_n(lease->peer_waiters, __ATOMIC_RELAXED) != 0, 0)) {
        (void)rmpsc__lease_wake(lease);
    }
}

/* Producer: free slots, loading the consumer's head only when the cached
 * one shows fewer than `want`; -1 when the head is impossible (reported). */
static inline ptrdiff_t rmpsc__lease_space(rmpsc_lease_t *lease, size_t want) {
    uint64_t capacity = lease->mask + 1;
    uint64_t free_slots = capacity - (lease->position - lease->cached);
    if (free_slots >= want) {
        return (ptrdiff_t)free_slots;
    }
    uint64_t head = __atomic_load_n(lease->peer, __ATOMIC_ACQUIRE);
    if (__builtin_expect(lease->position - head > capacity, 0)) {
        (void)rmpsc__lease_report(lease, head);
        return -1;
    }
    lease->cached = head;
    return (ptrdiff_t)(capacity - (lease->position - head));
}

/* Consumer: readable items, loading the producer's tail only when the
 * cached one shows fewer than `want`; -1 when the tail is impossible
 * (reported). */
static inline ptrdiff_t rmpsc__lease_ready(rmpsc_lease_t *lease, size_t want) {
    uint64_t ready = lease->cached - lease->position;
    if (ready >= want) {
        return (ptrdiff_t)ready;
    }
    uint64_t tail = __atomic_load_n(lease->peer, __ATOMIC_ACQUIRE);
    if (__builtin_expect(tail - lease->position > lease->mask + 1, 0)) {
        (void)rmpsc__lease_report(lease, tail);
        return -1;
    }
    lease->cached = tail;
    return (ptrdiff_t)(tail - lease->position);
}

/* Consumer, nothing readable: RMPSC_ECLOSED once the ring is closed and
 * drained (looking again after seeing the flag: the producer may have
 * committed just before closing), else RMPSC_EEMPTY. */
static inline int rmpsc__lease_empty(rmpsc_lease_t *lease) {
    if (!__atomic_load_n(lease->closed, __ATOMIC_ACQUIRE)) {
        return RMPSC_EEMPTY;
    }
    ptrdiff_t ready = rmpsc__lease_ready(lease, 1);
    return ready < 0 ? RMPSC_ECORRUPT : ready == 0 ? RMPSC_ECLOSED : RMPSC_EEMPTY;
}

/* Whether the lease holds `side` (false for the other side's lease, an
 * ended one, and a zeroed struct that rmpsc_ring_lease never filled). */
static inline bool rmpsc__lease_is(const rmpsc_lease_t *lease, int side) {
    return __builtin_expect(lease->side == side && lease->ring != NULL, 1);
}

/* Producer side. Copies one item (slot_size bytes at `item`) into the ring.
 * Errors: RMPSC_EFULL, RMPSC_ECLOSED, RMPSC_ECORRUPT, RMPSC_EINVAL. */
static inline int rmpsc_lease_try_send(rmpsc_lease_t *lease, const void *item) {
    if (!rmpsc__lease_is(lease, RMPSC_SIDE_PRODUCER)) {
        return RMPSC_EINVAL;
    }
    if (__atomic_load_n(lease->closed, __ATOMIC_ACQUIRE)) {
        return RMPSC_ECLOSED;
    }
    lease->reserved = 0;
    ptrdiff_t space = rmpsc__lease_space(lease, 1);
    if (space <= 0) {
        return space < 0 ? RMPSC_ECORRUPT : RMPSC_EFULL;
    }
    size_t to_end;
    rmpsc__lease_copy(rmpsc__lease_slot(lease, &to_end), item, lease->slot_size);
    rmpsc__lease_publish(lease, 1);
    return RMPSC_OK;
}

/* Producer side. Copies up to `n` items from `items` into the ring with one
 * publication; `*out_sent` receives how many fit (0 when full).
 * Errors: RMPSC_ECLOSED, RMPSC_ECORRUPT, RMPSC_EINVAL. */
static inline int rmpsc_lease_send(rmpsc_lease_t *lease, const void *items, size_t n,
                                   size_t *out_sent) {
    if (!rmpsc__lease_is(lease, RMPSC_SIDE_PRODUCER)) {
        return RMPSC_EINVAL;
    }
    if (__atomic_load_n(lease->closed, __ATOMIC_ACQUIRE)) {
        return RMPSC_ECLOSED;
    }
    lease->reserved = 0;
    ptrdiff_t space = rmpsc__lease_space(lease, n);
    if (space < 0) {
        return RMPSC_ECORRUPT;
    }
    size_t k = n < (size_t)space ? n : (size_t)space;
    if (k > 0) {
        rmpsc__lease_copy_in(lease, items, k);
        rmpsc__lease_publish(lease, k);
    }
    *out_sent = k;
    return RMPSC_OK;
}

/* Producer side. Reserves up to `n` contiguous free slots for writing in
 * place: `*out_slots` points at the first, `*out_count` (>= 1) says how
 * many. Publish them with rmpsc_lease_commit.
 * Errors: RMPSC_EFULL, RMPSC_ECLOSED, RMPSC_EINVAL (n == 0), RMPSC_ECORRUPT. */
static inline int rmpsc_lease_reserve(rmpsc_lease_t *lease, size_t n, void **out_slots,
                                      size_t *out_count) {
    if (!rmpsc__lease_is(lease, RMPSC_SIDE_PRODUCER) || n == 0) {
        return RMPSC_EINVAL;
    }
    if (__atomic_load_n(lease->closed, __ATOMIC_ACQUIRE)) {
        return RMPSC_ECLOSED;
    }
    ptrdiff_t space = rmpsc__lease_space(lease, n);
    if (space <= 0) {
        return space < 0 ? RMPSC_ECORRUPT : RMPSC_EFULL;
    }
    size_t to_end;
    uint8_t *first = rmpsc__lease_slot(lease, &to_end);
    size_t k = n < (size_t)space ? n : (size_t)space;
    k = k < to_end ? k : to_end;
    lease->reserved = k;
    *out_slots = first;
    *out_count = k;
    return RMPSC_OK;
}

/* Producer side. Publishes the first `n` slots of the last reservation.
 * Errors: RMPSC_EINVAL (`n` above the reserved count). */
static inline int rmpsc_lease_commit(rmpsc_lease_t *lease, size_t n) {
    if (!rmpsc__lease_is(lease, RMPSC_SIDE_PRODUCER) || n > lease->reserved) {
        return RMPSC_EINVAL;
    }
    lease->reserved = 0;
    if (n > 0) {
        rmpsc__lease_publish(lease, n);
    }
    return RMPSC_OK;
}

/* Consumer side. Copies one item into `buf` (room for slot_size bytes).
 * Errors: RMPSC_EEMPTY, RMPSC_ECLOSED (closed and drained), RMPSC_ECORRUPT,
 * RMPSC_EINVAL. */
static inline int rmpsc_lease_try_recv(rmpsc_lease_t *lease, void *buf) {
    if (!rmpsc__lease_is(lease, RMPSC_SIDE_CONSUMER)) {
        return RMPSC_EINVAL;
    }
    ptrdiff_t ready = rmpsc__lease_ready(lease, 1);
    if (ready <= 0) {
        return ready < 0 ? RMPSC_ECORRUPT : rmpsc__lease_empty(lease);
    }
    size_t to_end;
    rmpsc__lease_copy(buf, rmpsc__lease_slot(lease, &to_end), lease->slot_size);
    rmpsc__lease_publish(lease, 1);
    return RMPSC_OK;
}

/* Consumer side. Copies up to `max` items into `buf` with one publication;
 * `*out_received` gets the count (0 when empty).
 * Errors: RMPSC_ECLOSED (closed and drained), RMPSC_ECORRUPT, RMPSC_EINVAL. */
static inline int rmpsc_lease_recv(rmpsc_lease_t *lease, void *buf, size_t max,
                                   size_t *out_received) {
    if (!rmpsc__lease_is(lease, RMPSC_SIDE_CONSUMER)) {
        return RMPSC_EINVAL;
    }
    ptrdiff_t ready = rmpsc__lease_ready(lease, max);
    if (ready < 0) {
        return RMPSC_ECORRUPT;
    }
    size_t k = max < (size_t)ready ? max : (size_t)ready;
    if (k == 0 && max > 0) {
        int rc = rmpsc__lease_empty(lease);
        if (rc != RMPSC_EEMPTY) {
            return rc;
        }
    }
    if (k > 0) {
        rmpsc__lease_copy_out(lease, buf, k);
        rmpsc__lease_publish(lease, k);
    }
    *out_received = k;
    return RMPSC_OK;
}

/* Consumer side. Points `*out_slots` at the readable items at the head and
 * stores their count in `*out_count` (contiguous: at the end of the slot
 * array the rest follows on the next call). Free them with
 * rmpsc_lease_advance.
 * Errors: RMPSC_EEMPTY, RMPSC_ECLOSED (closed and drained), RMPSC_ECORRUPT,
 * RMPSC_EINVAL. */
static inline int rmpsc_lease_peek(rmpsc_lease_t *lease, const void **out_slots,
                                   size_t *out_count) {
    if (!rmpsc__lease_is(lease, RMPSC_SIDE_CONSUMER)) {
        return RMPSC_EINVAL;
    }
    ptrdiff_t ready = rmpsc__lease_ready(lease, (size_t)lease->mask + 1);
    if (ready <= 0) {
        return ready < 0 ? RMPSC_ECORRUPT : rmpsc__lease_empty(lease);
    }
    size_t to_end;
    *out_slots = rmpsc__lease_slot(lease, &to_end);
    *out_count = (size_t)ready < to_end ? (size_t)ready : to_end;
    return RMPSC_OK;
}

/* Consumer side. Frees `n` items read through rmpsc_lease_peek.
 * Errors: RMPSC_EINVAL (more than readable), RMPSC_ECORRUPT. */
static inline int rmpsc_lease_advance(rmpsc_lease_t *lease, size_t n) {
    if (!rmpsc__lease_is(lease, RMPSC_SIDE_CONSUMER)) {
        return RMPSC_EINVAL;
    }
    ptrdiff_t ready = rmpsc__lease_ready(lease, n);
    if (ready < 0) {
        return RMPSC_ECORRUPT;
    }
    if (n > (size_t)ready) {
        return RMPSC_EINVAL;
    }
    if (n > 0) {
        rmpsc__lease_publish(lease, n);
    }
    return RMPSC_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* RINGMPSC_LEASE_H */
