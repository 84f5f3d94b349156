/*
 * Producer threads into one consumer through an MPSC channel, via the C
 * API: each producer leases its ring's producer side and sends on the
 * inline fast path (ringmpsc_lease.h), item by item; the consumer sleeps in
 * rmpsc_mpsc_consume_blocking whenever every ring is empty. Items carry
 * their producer and a sequence number; the consumer checks that each
 * producer's arrive once and in order. Prints the rate.
 *
 *   mpsc_threads [items per producer] [producers]
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringmpsc.h"

#define MAX_PRODUCERS 64

static uint64_t count = 2 * 1000 * 1000;

static void die(const char *what, int rc) {
    fprintf(stderr, "%s: %s (%s)\n", what, rmpsc_error_describe(rc), rmpsc_error_message());
    exit(1);
}

struct producer {
    rmpsc_ring_t *ring;
    uint64_t id;
};

static void *produce(void *arg) {
    struct producer *p = arg;
    rmpsc_lease_t lease;
    int rc = rmpsc_ring_lease(p->ring, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, &lease);
    if (rc != RMPSC_OK) die("ring_lease", rc);
    /* The loop's copy: its address goes to the inline functions only, so
     * its fields stay in registers; the library's calls take the original. */
    rmpsc_lease_t tx = lease;
    for (uint64_t seq = 0; seq < count;) {
        uint64_t item = p->id << 40 | seq;
        rc = rmpsc_lease_try_send(&tx, &item);
        if (rc == RMPSC_OK) {
            seq++;
        } else if (rc == RMPSC_EFULL) {
            lease = tx;
            rc = rmpsc_lease_wait(&lease, -1); /* until the consumer frees a slot */
            tx = lease;
            if (rc != RMPSC_OK) die("lease_wait", rc);
        } else {
            die("lease_try_send", rc);
        }
    }
    lease = tx;
    rc = rmpsc_lease_end(&lease);
    if (rc != RMPSC_OK) die("lease_end", rc);
    rmpsc_ring_free(p->ring); /* deregisters; what it sent is still delivered */
    return NULL;
}

struct progress {
    uint64_t next[MAX_PRODUCERS];
    uint64_t received, wrong;
};

static void check(void *ctx, const void *item) {
    struct progress *g = ctx;
    uint64_t v;
    memcpy(&v, item, sizeof v);
    uint64_t id = v >> 40, seq = v & ((UINT64_C(1) << 40) - 1);
    if (id < MAX_PRODUCERS && seq == g->next[id]) {
        g->next[id]++;
    } else {
        g->wrong++;
    }
    g->received++;
}

int main(int argc, char **argv) {
    if (argc > 1) count = strtoull(argv[1], NULL, 10);
    int producers = argc > 2 ? atoi(argv[2]) : 3;
    if (producers < 1 || producers > MAX_PRODUCERS || count >= UINT64_C(1) << 40) {
        fprintf(stderr, "usage: mpsc_threads [items per producer] [producers, 1-%d]\n", MAX_PRODUCERS);
        return 2;
    }
    printf("ringmpsc %s: %d producers x %" PRIu64 " items through 1024-slot rings\n",
           rmpsc_library_version(), producers, count);

    rmpsc_mpsc_t *ch;
    int rc = rmpsc_mpsc_new(1024, sizeof(uint64_t), 0, &ch);
    if (rc != RMPSC_OK) die("mpsc_new", rc);
    struct producer p[MAX_PRODUCERS];
    pthread_t tid[MAX_PRODUCERS];
    for (int i = 0; i < producers; i++) {
        p[i].id = (uint64_t)i;
        rc = rmpsc_mpsc_new_producer(ch, &p[i].ring);
        if (rc != RMPSC_OK) die("mpsc_new_producer", rc);
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < producers; i++) {
        if (pthread_create(&tid[i], NULL, produce, &p[i]) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    struct progress g = {{0}, 0, 0};
    uint64_t total = count * (uint64_t)producers;
    while (g.received < total) {
        /* Sleeps on the channel's futex while every ring is empty; a
         * producer's lease wakes it. */
        rc = rmpsc_mpsc_consume_blocking(ch, check, &g, 10000000000LL, NULL);
        if (rc != RMPSC_OK) die("mpsc_consume_blocking", rc);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (int i = 0; i < producers; i++) pthread_join(tid[i], NULL);
    rmpsc_mpsc_free(ch);

    for (int i = 0; i < producers; i++) {
        if (g.next[i] != count) g.wrong++;
    }
    if (g.wrong != 0) {
        fprintf(stderr, "FAIL: %" PRIu64 " items out of order or missing\n", g.wrong);
        return 1;
    }
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("ok: %" PRIu64 " items, each producer's in order, %.1f M items/s\n", total, (double)total / s / 1e6);
    return 0;
}
