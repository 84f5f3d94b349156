/*
 * Two threads through an in-process ringmpsc ring, via the C API.
 *
 * The producer writes sequence numbers with zero-copy reserve/commit; the
 * consumer reads them in place with readable/advance and checks that every
 * number arrives once and in order. Prints the rate.
 *
 *   ring_threads [count]
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringmpsc.h"

static uint64_t count = 10 * 1000 * 1000;

static void die(const char *what, int rc) {
    fprintf(stderr, "%s: %s (%s)\n", what, rmpsc_error_describe(rc), rmpsc_error_message());
    exit(1);
}

static void *producer(void *arg) {
    rmpsc_ring_t *ring = arg;
    uint64_t next = 0;
    while (next < count) {
        void *slots;
        size_t n;
        size_t want = count - next < 256 ? (size_t)(count - next) : 256;
        int rc = rmpsc_ring_reserve(ring, want, &slots, &n);
        if (rc == RMPSC_EFULL) {
            /* Wait for room without burning the core: a blocking send of the
             * next item does that and keeps the sequence. */
            rc = rmpsc_ring_send_blocking(ring, &next, 1, -1, &(size_t){0});
            if (rc != RMPSC_OK) die("send_blocking", rc);
            next++;
            continue;
        }
        if (rc != RMPSC_OK) die("reserve", rc);
        uint64_t *items = slots;
        for (size_t i = 0; i < n; i++) items[i] = next + i;
        rc = rmpsc_ring_commit(ring, n);
        if (rc != RMPSC_OK) die("commit", rc);
        next += n;
    }
    rmpsc_ring_close(ring);
    return NULL;
}

/* The library loaded at run time must be the one this program was built
 * for: the same major version (and minor, while the major is 0). */
static int library_matches(void) {
    unsigned major = 0, minor = 0;
    if (sscanf(rmpsc_library_version(), "%u.%u", &major, &minor) != 2) return 0;
    return major == RMPSC_VERSION_MAJOR && (major != 0 || minor == RMPSC_VERSION_MINOR);
}

int main(int argc, char **argv) {
    if (argc > 1) count = strtoull(argv[1], NULL, 10);
    if (!library_matches()) {
        fprintf(stderr, "built for ringmpsc %d.%d, loaded %s\n", RMPSC_VERSION_MAJOR,
                RMPSC_VERSION_MINOR, rmpsc_library_version());
        return 1;
    }
    printf("ringmpsc %s: %" PRIu64 " items through a 4096-slot ring\n", rmpsc_library_version(), count);

    rmpsc_ring_t *ring;
    int rc = rmpsc_ring_new(4096, sizeof(uint64_t), &ring);
    if (rc != RMPSC_OK) die("ring_new", rc);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t tid;
    if (pthread_create(&tid, NULL, producer, ring) != 0) {
        perror("pthread_create");
        return 1;
    }

    uint64_t expected = 0;
    for (;;) {
        const void *slots;
        size_t n;
        rc = rmpsc_ring_peek(ring, &slots, &n);
        if (rc == RMPSC_EEMPTY) {
            /* Sleep on the ring's futex until the producer commits. */
            uint64_t one;
            size_t got;
            rc = rmpsc_ring_recv_blocking(ring, &one, 1, -1, &got);
            if (rc == RMPSC_ECLOSED) break;
            if (rc != RMPSC_OK) die("recv_blocking", rc);
            if (one != expected) {
                fprintf(stderr, "expected %" PRIu64 ", got %" PRIu64 "\n", expected, one);
                return 1;
            }
            expected++;
            continue;
        }
        if (rc == RMPSC_ECLOSED) break;
        if (rc != RMPSC_OK) die("readable", rc);
        const uint64_t *items = slots;
        for (size_t i = 0; i < n; i++) {
            if (items[i] != expected) {
                fprintf(stderr, "expected %" PRIu64 ", got %" PRIu64 "\n", expected, items[i]);
                return 1;
            }
            expected++;
        }
        rc = rmpsc_ring_advance(ring, n);
        if (rc != RMPSC_OK) die("advance", rc);
    }
    pthread_join(tid, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (expected != count) {
        fprintf(stderr, "received %" PRIu64 " of %" PRIu64 "\n", expected, count);
        return 1;
    }
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("ok: %" PRIu64 " items in order, %.1f M items/s\n", count, (double)count / secs / 1e6);
    rmpsc_ring_free(ring);
    return 0;
}
