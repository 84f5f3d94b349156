/*
 * The c_api bench's workloads through a lease (include/ringmpsc_lease.h),
 * as a C program runs them: each function is one thread's whole loop, the
 * loops of pairs::single and pairs::batches written in C, so the inline
 * functions inline. Each loop works on its lease in a local variable whose
 * address goes to the inline functions only, so the lease's fields stay in
 * registers. `make lib` builds it into liblease_loops.so; the bench loads
 * it after libringmpsc.so (RTLD_GLOBAL), which resolves its calls.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ringmpsc.h"

#define BATCH 256

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Stops the bench on a result other than RMPSC_OK and `polled` (the full
 * or empty answer a loop polls past). */
static void expect(int rc, int polled, const char *call) {
    if (rc != RMPSC_OK && rc != polled) {
        fprintf(stderr, "%s: %s (%s)\n", call, rmpsc_error_describe(rc), rmpsc_error_message());
        abort();
    }
}

/* The lease of `side`, returned by value: the loop keeps it in a local
 * variable whose address goes nowhere, so its fields stay in registers. */
static rmpsc_lease_t take(rmpsc_ring_t *ring, int side) {
    rmpsc_lease_t lease;
    expect(rmpsc_ring_lease(ring, side, RMPSC_LEASE_LAYOUT, &lease), RMPSC_OK, "rmpsc_ring_lease");
    return lease;
}

/* Ends the lease the loop's local variable holds. */
static void give_back(rmpsc_lease_t lease) {
    expect(rmpsc_lease_end(&lease), RMPSC_OK, "rmpsc_lease_end");
}

/* Sends 0, 1, .., items - 1 one by one. */
void lease_single_produce(rmpsc_ring_t *ring, uint64_t items) {
    rmpsc_lease_t l = take(ring, RMPSC_SIDE_PRODUCER);
    for (uint64_t i = 0; i < items; i++) {
        int rc;
        while ((rc = rmpsc_lease_try_send(&l, &i)) != RMPSC_OK) {
            expect(rc, RMPSC_EFULL, "rmpsc_lease_try_send");
            relax();
        }
    }
    give_back(l);
}

/* Receives `items` one by one; their sum. */
uint64_t lease_single_consume(rmpsc_ring_t *ring, uint64_t items) {
    rmpsc_lease_t l = take(ring, RMPSC_SIDE_CONSUMER);
    uint64_t sum = 0, v;
    for (uint64_t n = 0; n < items;) {
        int rc = rmpsc_lease_try_recv(&l, &v);
        if (rc == RMPSC_OK) {
            sum += v;
            n++;
        } else {
            expect(rc, RMPSC_EEMPTY, "rmpsc_lease_try_recv");
            relax();
        }
    }
    give_back(l);
    return sum;
}

/* Sends 0, 1, .., items - 1 in reservations of up to BATCH written in place. */
void lease_batch_produce(rmpsc_ring_t *ring, uint64_t items) {
    rmpsc_lease_t l = take(ring, RMPSC_SIDE_PRODUCER);
    for (uint64_t next = 0; next < items;) {
        size_t want = items - next < BATCH ? (size_t)(items - next) : BATCH, k;
        void *slots;
        int rc = rmpsc_lease_reserve(&l, want, &slots, &k);
        if (rc != RMPSC_OK) {
            expect(rc, RMPSC_EFULL, "rmpsc_lease_reserve");
            relax();
            continue;
        }
        for (size_t i = 0; i < k; i++) ((uint64_t *)slots)[i] = next + i;
        expect(rmpsc_lease_commit(&l, k), RMPSC_OK, "rmpsc_lease_commit");
        next += k;
    }
    give_back(l);
}

/* Receives `items` by peeking up to BATCH in place; their sum. */
uint64_t lease_batch_consume(rmpsc_ring_t *ring, uint64_t items) {
    rmpsc_lease_t l = take(ring, RMPSC_SIDE_CONSUMER);
    uint64_t sum = 0;
    for (uint64_t n = 0; n < items;) {
        const void *slots;
        size_t k;
        int rc = rmpsc_lease_peek(&l, &slots, &k);
        if (rc != RMPSC_OK) {
            expect(rc, RMPSC_EEMPTY, "rmpsc_lease_peek");
            relax();
            continue;
        }
        k = k < BATCH ? k : BATCH;
        for (size_t i = 0; i < k; i++) sum += ((const uint64_t *)slots)[i];
        expect(rmpsc_lease_advance(&l, k), RMPSC_OK, "rmpsc_lease_advance");
        n += k;
    }
    give_back(l);
    return sum;
}
