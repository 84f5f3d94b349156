/*
 * Benchmark of the C API on the workloads of the Rust SPSC benchmark
 * (ringcore/benches/spsc.rs): single-item throughput, batch-of-256
 * throughput (reserve/commit, readable/advance) and ping-pong round trip.
 * The consumer reads every item and checks the sum. Threads are pinned to
 * CPUs 0 and 1; each figure is the median of 5 runs.
 *
 *   bench_ring [items] [round_trips]
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringmpsc.h"

#define CAPACITY 4096
#define BATCH 256
#define RUNS 5

static uint64_t items = 20000000;
static size_t round_trips = 200000;

/* What a spinning thread does between polls (as the Rust benchmark does). */
static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % 2, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void check(int rc, const char *what) {
    if (rc != RMPSC_OK) {
        fprintf(stderr, "%s: %s\n", what, rmpsc_error_message());
        exit(1);
    }
}

/* One item, spinning while the ring is full. */
static void send_one(rmpsc_ring_t *ring, uint64_t v) {
    int rc;
    while ((rc = rmpsc_ring_try_send(ring, &v)) == RMPSC_EFULL) relax();
    check(rc, "try_send");
}

typedef struct {
    rmpsc_ring_t *ring;
    int batch;
} job;

static void *produce(void *arg) {
    job *j = arg;
    pin(0);
    uint64_t next = 0;
    if (!j->batch) {
        for (uint64_t i = 0; i < items; i++) send_one(j->ring, i);
        return NULL;
    }
    while (next < items) {
        void *slots;
        size_t n;
        size_t want = items - next < BATCH ? (size_t)(items - next) : BATCH;
        if (rmpsc_ring_reserve(j->ring, want, &slots, &n) != RMPSC_OK) {
            relax();
            continue;
        }
        uint64_t *s = slots;
        for (size_t i = 0; i < n; i++) s[i] = next + i;
        check(rmpsc_ring_commit(j->ring, n), "commit");
        next += n;
    }
    return NULL;
}

/* Items per second for one run. */
static double run(int batch) {
    rmpsc_ring_t *ring;
    check(rmpsc_ring_new(CAPACITY, sizeof(uint64_t), &ring), "ring_new");
    job j = {ring, batch};
    pthread_t p;
    pthread_create(&p, NULL, produce, &j);
    pin(1);
    double t0 = now();
    uint64_t sum = 0, n = 0;
    if (!batch) {
        while (n < items) {
            uint64_t v;
            if (rmpsc_ring_try_recv(ring, &v) == RMPSC_OK) {
                sum += v;
                n++;
            } else {
                relax();
            }
        }
    } else {
        while (n < items) {
            const void *slots;
            size_t k;
            if (rmpsc_ring_peek(ring, &slots, &k) != RMPSC_OK) {
                relax();
                continue;
            }
            if (k > BATCH) k = BATCH;
            const uint64_t *s = slots;
            for (size_t i = 0; i < k; i++) sum += s[i];
            check(rmpsc_ring_advance(ring, k), "advance");
            n += k;
        }
    }
    double secs = now() - t0;
    pthread_join(p, NULL);
    rmpsc_ring_free(ring);
    if (sum != items * (items - 1) / 2) {
        fprintf(stderr, "consumer missed items\n");
        exit(1);
    }
    return (double)items / secs;
}

static double median_run(int batch) {
    double r[RUNS];
    for (int i = 0; i < RUNS; i++) r[i] = run(batch);
    qsort(r, RUNS, sizeof(double), cmp_double);
    return r[RUNS / 2];
}

typedef struct {
    rmpsc_ring_t *in, *out;
    size_t total;
} echo_job;

static void *echo(void *arg) {
    echo_job *e = arg;
    pin(1);
    for (size_t i = 0; i < e->total; i++) {
        uint64_t v;
        while (rmpsc_ring_try_recv(e->in, &v) != RMPSC_OK) relax();
        send_one(e->out, v);
    }
    return NULL;
}

static void rtt(double *p50, double *p99) {
    size_t warm = round_trips / 10, total = round_trips + warm;
    rmpsc_ring_t *a, *b;
    check(rmpsc_ring_new(CAPACITY, sizeof(uint64_t), &a), "ring_new");
    check(rmpsc_ring_new(CAPACITY, sizeof(uint64_t), &b), "ring_new");
    echo_job e = {a, b, total};
    pthread_t t;
    pthread_create(&t, NULL, echo, &e);
    pin(0);
    double *ns = malloc(round_trips * sizeof(double));
    for (size_t i = 0; i < total; i++) {
        uint64_t v = i, back;
        double t0 = now();
        send_one(a, v);
        while (rmpsc_ring_try_recv(b, &back) != RMPSC_OK) relax();
        double dt = now() - t0;
        if (back != v) {
            fprintf(stderr, "echo mismatch\n");
            exit(1);
        }
        if (i >= warm) ns[i - warm] = dt * 1e9;
    }
    pthread_join(t, NULL);
    qsort(ns, round_trips, sizeof(double), cmp_double);
    *p50 = ns[round_trips / 2];
    *p99 = ns[(size_t)((double)(round_trips - 1) * 0.99)];
    free(ns);
    rmpsc_ring_free(a);
    rmpsc_ring_free(b);
}

int main(int argc, char **argv) {
    if (argc > 1) items = strtoull(argv[1], NULL, 10);
    if (argc > 2) round_trips = strtoull(argv[2], NULL, 10);
    printf("C API: %" PRIu64 " u64 items per run, median of %d runs, capacity %d\n\n", items,
           RUNS, CAPACITY);
    printf("| workload (C API) | result |\n|---|---|\n");
    printf("| single item | %.1f M/s |\n", median_run(0) / 1e6);
    printf("| batch of %d | %.1f M/s |\n", BATCH, median_run(1) / 1e6);
    double p50s[RUNS], p99s[RUNS];
    for (int i = 0; i < RUNS; i++) rtt(&p50s[i], &p99s[i]);
    qsort(p50s, RUNS, sizeof(double), cmp_double);
    qsort(p99s, RUNS, sizeof(double), cmp_double);
    printf("| ping-pong round trip | p50 %.0f ns, p99 %.0f ns |\n", p50s[RUNS / 2], p99s[RUNS / 2]);
    return 0;
}
