/*
 * ringmpsc_lease.h: the inline fast path of a ring side (included by
 * ringmpsc.h; needs GCC or Clang for the __atomic builtins).
 *
 * rmpsc_ring_lease lends one side of a ring (rmpsc_ring_t: in-process,
 * shared, or an SPMC producer) to the functions below, which run the ring's
 * index protocol in the caller's code, so an item costs no call into the
 * library. They mirror the rmpsc_ring_* functions of the same name and
 * keep the header's rules, with these differences:
 *  - the lease is used by one thread at a time, unchecked: it is itself
 *    the side's guard (the side's rmpsc_ring_* calls fail with RMPSC_EBUSY
 *    until rmpsc_lease_end);
 *  - pointers are not checked for NULL, and only RMPSC_ECORRUPT records a
 *    message for rmpsc_error_message();
 *  - the slow paths are calls: rmpsc_lease_wake when the other side
 *    sleeps, rmpsc_lease_check when a position read is impossible, and
 *    rmpsc_lease_wait to block.
 *
 * The protocol (ringcore's ring::raw and ring::lease): the other side's
 * position is loaded (acquire) only when the cached one shows full or
 * empty, and checked: a tail more than a capacity ahead of the head comes
 * from a crashed or hostile peer and is never used. Slots are written or
 * read, then this side's position is stored (release); then a barrier and
 * a look at the other side's sleepers.
 */
#ifndef RINGMPSC_LEASE_H
#define RINGMPSC_LEASE_H

#include <string.h>

#include "ringmpsc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Copies one slot: 8 bytes as one word, where a memcpy of a size known
 * only at run time would be a call. */
static inline void rmpsc_lease_copy_slot(void *dst, const void *src, size_t size) {
    if (size == 8) {
        uint64_t v;
        memcpy(&v, src, 8);
        memcpy(dst, &v, 8);
    } else {
        memcpy(dst, src, size);
    }
}

/* Copies `n` slots between `buf` and the ring from the lease's position
 * (into the ring when `into_ring`), in two runs where the slots wrap. */
static inline void rmpsc_lease_copy_slots(rmpsc_lease_t *lease, void *buf, size_t n,
                                          bool into_ring) {
    size_t size = lease->slot_size;
    size_t index = (size_t)(lease->position & lease->mask);
    size_t to_end = (size_t)lease->mask + 1 - index;
    size_t first = n < to_end ? n : to_end;
    uint8_t *ring = lease->slots + index * size;
    uint8_t *mine = (uint8_t *)buf;
    if (into_ring) {
        memcpy(ring, mine, first * size);
        memcpy(lease->slots, mine + first * size, (n - first) * size);
    } else {
        memcpy(mine, ring, first * size);
        memcpy(mine + first * size, lease->slots, (n - first) * size);
    }
}

/* Moves the side's position on by `n` and stores it (release: the slots
 * written or read before it are done), then wakes the other side if it
 * sleeps. The barrier orders the store before the load of the sleepers; a
 * compiler fence is enough where the sleeper issues the hardware one. */
static inline void rmpsc_lease_publish(rmpsc_lease_t *lease, size_t n) {
    lease->position += n;
    __atomic_store_n(lease->own, lease->position, __ATOMIC_RELEASE);
    if (lease->full_fence) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    } else {
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
    }
    if (__builtin_expect(__atomic_load_n(lease->peer_waiters, __ATOMIC_RELAXED) != 0, 0)) {
        (void)rmpsc_lease_wake(lease);
    }
}

/* Producer: free slots, loading the consumer's head only when the cached
 * one shows fewer than `want`; RMPSC_ECORRUPT when the head is impossible. */
static inline ptrdiff_t rmpsc_lease_available_space(rmpsc_lease_t *lease, size_t want) {
    uint64_t capacity = lease->mask + 1;
    uint64_t free_slots = capacity - (lease->position - lease->cached);
    if (free_slots >= want) {
        return (ptrdiff_t)free_slots;
    }
    uint64_t head = __atomic_load_n(lease->peer, __ATOMIC_ACQUIRE);
    if (__builtin_expect(lease->position - head > capacity, 0)) {
        return rmpsc_lease_check(lease) == RMPSC_OK ? 0 : RMPSC_ECORRUPT;
    }
    lease->cached = head;
    return (ptrdiff_t)(capacity - (lease->position - head));
}

/* Consumer: readable items, loading the producer's tail only when the
 * cached one shows fewer than `want`; RMPSC_ECORRUPT when the tail is
 * impossible. */
static inline ptrdiff_t rmpsc_lease_available_items(rmpsc_lease_t *lease, size_t want) {
    uint64_t ready = lease->cached - lease->position;
    if (ready >= want) {
        return (ptrdiff_t)ready;
    }
    uint64_t tail = __atomic_load_n(lease->peer, __ATOMIC_ACQUIRE);
    if (__builtin_expect(tail - lease->position > lease->mask + 1, 0)) {
        return rmpsc_lease_check(lease) == RMPSC_OK ? 0 : RMPSC_ECORRUPT;
    }
    lease->cached = tail;
    return (ptrdiff_t)(tail - lease->position);
}

/* Consumer, nothing readable: RMPSC_ECLOSED once the ring is closed and
 * drained (looking again after seeing the flag: the producer may have
 * committed just before closing), else RMPSC_EEMPTY. */
static inline int rmpsc_lease_check_empty(rmpsc_lease_t *lease) {
    if (!__atomic_load_n(lease->closed, __ATOMIC_ACQUIRE)) {
        return RMPSC_EEMPTY;
    }
    ptrdiff_t ready = rmpsc_lease_available_items(lease, 1);
    return ready < 0 ? RMPSC_ECORRUPT : ready == 0 ? RMPSC_ECLOSED : RMPSC_EEMPTY;
}

/* Producer side. Copies one item (slot_size bytes at `item`) into the ring.
 * Errors: RMPSC_EFULL, RMPSC_ECLOSED, RMPSC_ECORRUPT. */
static inline int rmpsc_lease_try_send(rmpsc_lease_t *lease, const void *item) {
    if (__atomic_load_n(lease->closed, __ATOMIC_ACQUIRE)) {
        return RMPSC_ECLOSED;
    }
    ptrdiff_t space = rmpsc_lease_available_space(lease, 1);
    if (space <= 0) {
        return space < 0 ? RMPSC_ECORRUPT : RMPSC_EFULL;
    }
    lease->reserved = 0;
    size_t index = (size_t)(lease->position & lease->mask);
    rmpsc_lease_copy_slot(lease->slots + index * lease->slot_size, item, lease->slot_size);
    rmpsc_lease_publish(lease, 1);
    return RMPSC_OK;
}

/* Producer side. Copies up to `n` items from `items` into the ring with one
 * publication; `*out_sent` receives how many fit (0 when full).
 * Errors: RMPSC_ECLOSED, RMPSC_ECORRUPT. */
static inline int rmpsc_lease_send(rmpsc_lease_t *lease, const void *items, size_t n,
                                   size_t *out_sent) {
    if (__atomic_load_n(lease->closed, __ATOMIC_ACQUIRE)) {
        return RMPSC_ECLOSED;
    }
    ptrdiff_t space = rmpsc_lease_available_space(lease, n);
    if (space < 0) {
        return RMPSC_ECORRUPT;
    }
    size_t k = n < (size_t)space ? n : (size_t)space;
    lease->reserved = 0;
    if (k > 0) {
        rmpsc_lease_copy_slots(lease, (void *)items, k, true);
        rmpsc_lease_publish(lease, k);
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
    if (n == 0) {
        return RMPSC_EINVAL;
    }
    if (__atomic_load_n(lease->closed, __ATOMIC_ACQUIRE)) {
        return RMPSC_ECLOSED;
    }
    ptrdiff_t space = rmpsc_lease_available_space(lease, n);
    if (space <= 0) {
        return space < 0 ? RMPSC_ECORRUPT : RMPSC_EFULL;
    }
    size_t index = (size_t)(lease->position & lease->mask);
    size_t to_end = (size_t)lease->mask + 1 - index;
    size_t k = n < (size_t)space ? n : (size_t)space;
    k = k < to_end ? k : to_end;
    lease->reserved = k;
    *out_slots = lease->slots + index * lease->slot_size;
    *out_count = k;
    return RMPSC_OK;
}

/* Producer side. Publishes the first `n` slots of the last reservation.
 * Errors: RMPSC_EINVAL (`n` above the reserved count). */
static inline int rmpsc_lease_commit(rmpsc_lease_t *lease, size_t n) {
    if (n > lease->reserved) {
        return RMPSC_EINVAL;
    }
    lease->reserved = 0;
    if (n > 0) {
        rmpsc_lease_publish(lease, n);
    }
    return RMPSC_OK;
}

/* Consumer side. Copies one item into `buf` (room for slot_size bytes).
 * Errors: RMPSC_EEMPTY, RMPSC_ECLOSED (closed and drained), RMPSC_ECORRUPT. */
static inline int rmpsc_lease_try_recv(rmpsc_lease_t *lease, void *buf) {
    ptrdiff_t ready = rmpsc_lease_available_items(lease, 1);
    if (ready <= 0) {
        return ready < 0 ? RMPSC_ECORRUPT : rmpsc_lease_check_empty(lease);
    }
    size_t index = (size_t)(lease->position & lease->mask);
    rmpsc_lease_copy_slot(buf, lease->slots + index * lease->slot_size, lease->slot_size);
    rmpsc_lease_publish(lease, 1);
    return RMPSC_OK;
}

/* Consumer side. Copies up to `max` items into `buf` with one publication;
 * `*out_received` gets the count (0 when empty).
 * Errors: RMPSC_ECLOSED (closed and drained), RMPSC_ECORRUPT. */
static inline int rmpsc_lease_recv(rmpsc_lease_t *lease, void *buf, size_t max,
                                   size_t *out_received) {
    ptrdiff_t ready = rmpsc_lease_available_items(lease, max);
    if (ready < 0) {
        return RMPSC_ECORRUPT;
    }
    size_t k = max < (size_t)ready ? max : (size_t)ready;
    if (k == 0 && max > 0) {
        int rc = rmpsc_lease_check_empty(lease);
        if (rc != RMPSC_EEMPTY) {
            return rc;
        }
    }
    if (k > 0) {
        rmpsc_lease_copy_slots(lease, buf, k, false);
        rmpsc_lease_publish(lease, k);
    }
    *out_received = k;
    return RMPSC_OK;
}

/* Consumer side. Points `*out_slots` at the readable items at the head and
 * stores their count in `*out_count` (contiguous: at the end of the slot
 * array the rest follows on the next call). Free them with
 * rmpsc_lease_advance.
 * Errors: RMPSC_EEMPTY, RMPSC_ECLOSED (closed and drained), RMPSC_ECORRUPT. */
static inline int rmpsc_lease_peek(rmpsc_lease_t *lease, const void **out_slots,
                                   size_t *out_count) {
    ptrdiff_t ready = rmpsc_lease_available_items(lease, (size_t)lease->mask + 1);
    if (ready <= 0) {
        return ready < 0 ? RMPSC_ECORRUPT : rmpsc_lease_check_empty(lease);
    }
    size_t index = (size_t)(lease->position & lease->mask);
    size_t to_end = (size_t)lease->mask + 1 - index;
    *out_slots = lease->slots + index * lease->slot_size;
    *out_count = (size_t)ready < to_end ? (size_t)ready : to_end;
    return RMPSC_OK;
}

/* Consumer side. Frees `n` items read through rmpsc_lease_peek.
 * Errors: RMPSC_EINVAL (more than readable), RMPSC_ECORRUPT. */
static inline int rmpsc_lease_advance(rmpsc_lease_t *lease, size_t n) {
    ptrdiff_t ready = rmpsc_lease_available_items(lease, n);
    if (ready < 0) {
        return RMPSC_ECORRUPT;
    }
    if (n > (size_t)ready) {
        return RMPSC_EINVAL;
    }
    if (n > 0) {
        rmpsc_lease_publish(lease, n);
    }
    return RMPSC_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* RINGMPSC_LEASE_H */
