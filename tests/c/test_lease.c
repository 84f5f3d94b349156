/*
 * Checks of the leased fast path (ringmpsc_lease.h): every error path
 * returns its code and leaves the ring usable, the side goes back to the
 * rmpsc_ring_* calls where the lease left it, impossible positions from a
 * scribbling peer are reported and never used, and sleepers on either side
 * are woken. Threads move sequence-numbered items; nothing is lost or torn.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static void test_taking_and_ending(void) {
    rmpsc_ring_t *ring;
    CHECK(rmpsc_ring_new(4, 8, &ring) == RMPSC_OK);
    rmpsc_lease_t p, c;
    memset(&p, 0x5a, sizeof p);
    CHECK(rmpsc_ring_lease(ring, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT + 1, &p) == RMPSC_EINVAL);
    CHECK(strstr(rmpsc_error_message(), "layout") != NULL);
    CHECK(rmpsc_ring_lease(ring, 7, RMPSC_LEASE_LAYOUT, &p) == RMPSC_EINVAL);
    CHECK(rmpsc_ring_lease(ring, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, NULL) == RMPSC_EINVAL);
    CHECK(rmpsc_ring_lease(NULL, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, &p) == RMPSC_EINVAL);
    CHECK(p.ring != ring); /* untouched on failure */
    rmpsc_lease_t never = {0}; /* a lease rmpsc_ring_lease did not fill */
    uint64_t one = 1;
    CHECK(rmpsc_lease_try_send(&never, &one) == RMPSC_EINVAL);
    CHECK(rmpsc_lease_commit(&never, 0) == RMPSC_EINVAL);

    uint64_t v = 1;
    CHECK(rmpsc_ring_try_send(ring, &v) == RMPSC_OK);
    CHECK(rmpsc_ring_lease(ring, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, &p) == RMPSC_OK);
    CHECK(rmpsc_ring_lease(ring, RMPSC_SIDE_CONSUMER, RMPSC_LEASE_LAYOUT, &c) == RMPSC_OK);
    CHECK(p.position == 1 && c.position == 0 && p.slot_size == 8 && p.mask == 3);

    /* While lent, the side's calls are refused; the thread-safe ones work. */
    rmpsc_lease_t again;
    CHECK(rmpsc_ring_lease(ring, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, &again) == RMPSC_EBUSY);
    CHECK(rmpsc_ring_try_send(ring, &v) == RMPSC_EBUSY);
    CHECK(rmpsc_ring_try_recv(ring, &v) == RMPSC_EBUSY);
    CHECK(rmpsc_ring_reset(ring) == RMPSC_EBUSY);
    CHECK(rmpsc_ring_len(ring) == 1);

    /* Full, empty, batches across the end of the slot array. */
    uint64_t items[6] = {2, 3, 4, 5, 6, 7};
    size_t n = 99;
    CHECK(rmpsc_lease_send(&p, items, 6, &n) == RMPSC_OK && n == 3);
    CHECK(rmpsc_lease_try_send(&p, &items[3]) == RMPSC_EFULL);
    uint64_t got[8] = {0};
    CHECK(rmpsc_lease_recv(&c, got, 2, &n) == RMPSC_OK && n == 2);
    CHECK(got[0] == 1 && got[1] == 2);
    CHECK(rmpsc_lease_send(&p, &items[3], 3, &n) == RMPSC_OK && n == 2);
    CHECK(rmpsc_lease_recv(&c, got, 8, &n) == RMPSC_OK && n == 4);
    CHECK(got[0] == 3 && got[1] == 4 && got[2] == 5 && got[3] == 6);
    CHECK(rmpsc_lease_try_recv(&c, got) == RMPSC_EEMPTY);
    CHECK(rmpsc_lease_recv(&c, got, 8, &n) == RMPSC_OK && n == 0);

    /* Reserve and commit, peek and advance, and their argument checks. */
    void *slots;
    const void *rslots;
    size_t count = 77;
    CHECK(rmpsc_lease_reserve(&p, 0, &slots, &count) == RMPSC_EINVAL);
    CHECK(rmpsc_lease_peek(&c, &rslots, &count) == RMPSC_EEMPTY && count == 77);
    CHECK(rmpsc_lease_reserve(&p, 4, &slots, &count) == RMPSC_OK);
    CHECK(count == 2); /* up to the end of the slot array */
    ((uint64_t *)slots)[0] = 8;
    ((uint64_t *)slots)[1] = 9;
    CHECK(rmpsc_lease_commit(&p, 3) == RMPSC_EINVAL);
    CHECK(rmpsc_lease_commit(&p, 2) == RMPSC_OK);
    CHECK(rmpsc_lease_commit(&p, 1) == RMPSC_EINVAL); /* nothing reserved */
    CHECK(rmpsc_lease_peek(&c, &rslots, &count) == RMPSC_OK && count == 2);
    CHECK(((const uint64_t *)rslots)[0] == 8 && ((const uint64_t *)rslots)[1] == 9);
    CHECK(rmpsc_lease_advance(&c, 3) == RMPSC_EINVAL);
    CHECK(rmpsc_lease_advance(&c, 2) == RMPSC_OK);
    CHECK(rmpsc_ring_len(ring) == 0);

    /* Each side's functions refuse the other side's lease. */
    CHECK(rmpsc_lease_try_recv(&p, got) == RMPSC_EINVAL);
    CHECK(rmpsc_lease_peek(&p, &rslots, &count) == RMPSC_EINVAL);
    CHECK(rmpsc_lease_recv(&p, got, 1, &n) == RMPSC_EINVAL);
    CHECK(rmpsc_lease_advance(&p, 0) == RMPSC_EINVAL);
    CHECK(rmpsc_lease_try_send(&c, &v) == RMPSC_EINVAL);
    CHECK(rmpsc_lease_send(&c, items, 1, &n) == RMPSC_EINVAL);
    CHECK(rmpsc_lease_reserve(&c, 1, &slots, &count) == RMPSC_EINVAL);
    CHECK(rmpsc_lease_commit(&c, 0) == RMPSC_EINVAL);
    CHECK(rmpsc_ring_len(ring) == 0);

    /* Waits that time out: nothing to read, then no room. */
    CHECK(rmpsc_lease_wait(&c, 1000000) == RMPSC_ETIMEDOUT);
    for (int i = 0; i < 4; i++) CHECK(rmpsc_lease_try_send(&p, &v) == RMPSC_OK);
    CHECK(rmpsc_lease_wait(&p, 1000000) == RMPSC_ETIMEDOUT);
    CHECK(rmpsc_lease_recv(&c, got, 4, &n) == RMPSC_OK && n == 4);
    CHECK(rmpsc_lease_wait(&p, 0) == RMPSC_OK);

    /* A lease that does not hold the published position is not taken back. */
    p.position += 1;
    CHECK(rmpsc_lease_end(&p) == RMPSC_ECORRUPT);
    CHECK(strstr(rmpsc_error_message(), "lease position") != NULL);
    CHECK(rmpsc_ring_try_send(ring, &v) == RMPSC_EBUSY);
    p.position -= 1;

    /* Ended, the sides go on from where the leases left them. */
    v = 10;
    CHECK(rmpsc_lease_try_send(&p, &v) == RMPSC_OK);
    CHECK(rmpsc_lease_end(&p) == RMPSC_OK && p.ring == NULL);
    /* An ended lease does nothing more. */
    CHECK(rmpsc_lease_end(&p) == RMPSC_EINVAL);
    CHECK(rmpsc_lease_try_send(&p, &v) == RMPSC_EINVAL);
    CHECK(rmpsc_lease_commit(&p, 0) == RMPSC_EINVAL);
    CHECK(rmpsc_lease_wait(&p, 0) == RMPSC_EINVAL);
    CHECK(rmpsc_lease_try_recv(&c, got) == RMPSC_OK && got[0] == 10);
    CHECK(rmpsc_lease_end(&c) == RMPSC_OK);
    v = 11;
    CHECK(rmpsc_ring_try_send(ring, &v) == RMPSC_OK);
    CHECK(rmpsc_ring_try_recv(ring, got) == RMPSC_OK && got[0] == 11);
    CHECK(rmpsc_ring_try_recv(ring, got) == RMPSC_EEMPTY);

    /* Closed: sends refused, what is left drained, then closed. */
    CHECK(rmpsc_ring_lease(ring, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, &p) == RMPSC_OK);
    CHECK(rmpsc_ring_lease(ring, RMPSC_SIDE_CONSUMER, RMPSC_LEASE_LAYOUT, &c) == RMPSC_OK);
    v = 12;
    CHECK(rmpsc_lease_try_send(&p, &v) == RMPSC_OK);
    CHECK(rmpsc_ring_close(ring) == RMPSC_OK);
    CHECK(rmpsc_lease_try_send(&p, &v) == RMPSC_ECLOSED);
    CHECK(rmpsc_lease_reserve(&p, 1, &slots, &count) == RMPSC_ECLOSED);
    CHECK(rmpsc_lease_wait(&p, 0) == RMPSC_ECLOSED);
    CHECK(rmpsc_lease_try_recv(&c, got) == RMPSC_OK && got[0] == 12);
    CHECK(rmpsc_lease_try_recv(&c, got) == RMPSC_ECLOSED);
    CHECK(rmpsc_lease_recv(&c, got, 1, &n) == RMPSC_ECLOSED);
    CHECK(rmpsc_lease_peek(&c, &rslots, &count) == RMPSC_ECLOSED);
    CHECK(rmpsc_lease_wait(&c, 0) == RMPSC_ECLOSED);
    CHECK(rmpsc_lease_end(&p) == RMPSC_OK && rmpsc_lease_end(&c) == RMPSC_OK);
    rmpsc_ring_free(ring);
}

/* What a lease is refused for, and an SPMC producer, which is lent. */
static void test_channel_sides(void) {
    rmpsc_mpsc_t *ch;
    rmpsc_ring_t *producer;
    rmpsc_lease_t l;
    CHECK(rmpsc_mpsc_new(4, 8, 0, &ch) == RMPSC_OK);
    CHECK(rmpsc_mpsc_new_producer(ch, &producer) == RMPSC_OK);
    /* Lent: its publications look at the channel's wake-up word. */
    CHECK(rmpsc_ring_lease(producer, RMPSC_SIDE_CONSUMER, RMPSC_LEASE_LAYOUT, &l) == RMPSC_EINVAL);
    CHECK(rmpsc_ring_lease(producer, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, &l) == RMPSC_OK);
    uint64_t v = 1;
    CHECK(rmpsc_lease_try_send(&l, &v) == RMPSC_OK);
    CHECK(rmpsc_lease_end(&l) == RMPSC_OK);
    CHECK(rmpsc_ring_try_send(producer, &v) == RMPSC_OK);
    size_t got_n = 0;
    CHECK(rmpsc_mpsc_consume(ch, NULL, NULL, 8, &got_n) == RMPSC_OK && got_n == 2);
    rmpsc_ring_free(producer);
    rmpsc_mpsc_free(ch);

    /* So is an MPMC channel's (test_channel_producers wakes its consumers). */
    rmpsc_mpmc_t *mpmc;
    CHECK(rmpsc_mpmc_new(4, 8, 2, 2, 0, &mpmc) == RMPSC_OK);
    CHECK(rmpsc_mpmc_new_producer(mpmc, &producer) == RMPSC_OK);
    CHECK(rmpsc_ring_lease(producer, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, &l) == RMPSC_OK);
    CHECK(rmpsc_lease_end(&l) == RMPSC_OK);
    rmpsc_ring_free(producer);
    rmpsc_mpmc_free(mpmc);

    rmpsc_spmc_t *spmc;
    rmpsc_consumer_t *consumer;
    CHECK(rmpsc_spmc_new(4, 8, 2, 0, &spmc) == RMPSC_OK);
    CHECK(rmpsc_spmc_new_producer(spmc, &producer) == RMPSC_OK);
    CHECK(rmpsc_spmc_new_consumer(spmc, &consumer) == RMPSC_OK);
    CHECK(rmpsc_ring_lease(producer, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, &l) == RMPSC_OK);
    uint64_t items[3] = {7, 8, 9}, got[4] = {0};
    size_t n = 0;
    CHECK(rmpsc_lease_send(&l, items, 3, &n) == RMPSC_OK && n == 3);
    CHECK(rmpsc_consumer_recv(consumer, got, 4, &n) == RMPSC_OK && n == 3);
    CHECK(got[0] == 7 && got[2] == 9);
    CHECK(rmpsc_lease_end(&l) == RMPSC_OK);
    rmpsc_consumer_free(consumer);
    rmpsc_ring_free(producer);
    rmpsc_spmc_free(spmc);
}

/* A peer that writes an impossible position: reported with its reason,
 * never used, and forgotten once undone. */
static void test_scribbled_positions(void) {
    rmpsc_shared_ring_t *s;
    rmpsc_ring_t *tx, *rx;
    CHECK(rmpsc_shared_ring_create(NULL, 4, 8, &s) == RMPSC_OK);
    CHECK(rmpsc_shared_ring_take_producer(s, &tx) == RMPSC_OK);
    CHECK(rmpsc_shared_ring_take_consumer(s, &rx) == RMPSC_OK);
    rmpsc_lease_t p, c;
    CHECK(rmpsc_ring_lease(tx, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, &p) == RMPSC_OK);
    CHECK(rmpsc_ring_lease(rx, RMPSC_SIDE_CONSUMER, RMPSC_LEASE_LAYOUT, &c) == RMPSC_OK);
    /* A side that goes to sleep makes up for the publications' compiler
     * fence (it settles, in a ring shared between processes). */
    CHECK(p.full_fence == 0 && c.full_fence == 0);
    uint64_t v = 1, got = 0;
    size_t n;
    for (int i = 0; i < 4; i++) CHECK(rmpsc_lease_try_send(&p, &v) == RMPSC_OK);

    uint64_t *head = (uint64_t *)p.peer; /* the consumer's word, as a peer sees it */
    uint64_t saved = *head;
    *head = p.position - 1000;
    uint64_t at = p.position;
    CHECK(rmpsc_lease_try_send(&p, &v) == RMPSC_ECORRUPT);
    CHECK(strstr(rmpsc_error_message(), "capacity apart") != NULL);
    CHECK(rmpsc_lease_send(&p, &v, 1, &n) == RMPSC_ECORRUPT);
    CHECK(p.position == at && *p.own == at); /* nothing was published */
    *head = saved;
    CHECK(rmpsc_lease_try_send(&p, &v) == RMPSC_EFULL);

    for (int i = 0; i < 4; i++) CHECK(rmpsc_lease_try_recv(&c, &got) == RMPSC_OK);
    uint64_t *tail = (uint64_t *)c.peer;
    saved = *tail;
    *tail = c.position + 1000;
    CHECK(rmpsc_lease_try_recv(&c, &got) == RMPSC_ECORRUPT);
    CHECK(rmpsc_lease_advance(&c, 1) == RMPSC_ECORRUPT);
    CHECK(c.cached == c.position); /* the impossible tail was not kept */
    *tail = saved;
    CHECK(rmpsc_lease_try_recv(&c, &got) == RMPSC_EEMPTY);

    CHECK(rmpsc_lease_end(&p) == RMPSC_OK && rmpsc_lease_end(&c) == RMPSC_OK);
    rmpsc_ring_free(tx);
    rmpsc_ring_free(rx);
    rmpsc_shared_ring_free(s);
}

#define ITEMS 20000

struct pair {
    rmpsc_ring_t *ring;
    int lease_producer, lease_consumer;
    uint64_t producer_errors, consumer_errors; /* one writer each */
    /* For the report of a hang: items moved, and which side waits. */
    uint64_t sent, received;
    int producer_waits, consumer_waits;
};

/* The wall-clock time `seconds` from now, for pthread_timedjoin_np. */
static struct timespec seconds_from_now(int seconds) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += seconds;
    return t;
}

/* Marks a side as waiting (1) or not (0), for the report of a hang. */
static void waits(int *flag, int now) { __atomic_store_n(flag, now, __ATOMIC_RELAXED); }

/* Sends 0..ITEMS-1 through a lease (waiting in rmpsc_lease_wait when full)
 * or through the blocking call, then closes. */
static void *produce(void *arg) {
    struct pair *t = arg;
    if (t->lease_producer) {
        rmpsc_lease_t l;
        if (rmpsc_ring_lease(t->ring, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, &l) != RMPSC_OK) {
            t->producer_errors++;
            rmpsc_ring_close(t->ring); /* the consumer stops too */
            return NULL;
        }
        for (uint64_t i = 0; i < ITEMS;) {
            int rc = rmpsc_lease_try_send(&l, &i);
            if (rc == RMPSC_OK) {
                __atomic_store_n(&t->sent, ++i, __ATOMIC_RELAXED);
                continue;
            }
            waits(&t->producer_waits, 1);
            if (rc == RMPSC_EFULL) rc = rmpsc_lease_wait(&l, -1);
            waits(&t->producer_waits, 0);
            if (rc != RMPSC_OK) {
                t->producer_errors++;
                break;
            }
        }
        if (rmpsc_lease_end(&l) != RMPSC_OK) t->producer_errors++;
    } else {
        for (uint64_t i = 0; i < ITEMS; i++) {
            size_t sent;
            waits(&t->producer_waits, 1);
            int rc = rmpsc_ring_send_blocking(t->ring, &i, 1, -1, &sent);
            waits(&t->producer_waits, 0);
            if (rc != RMPSC_OK) {
                t->producer_errors++;
                break;
            }
            __atomic_store_n(&t->sent, i + 1, __ATOMIC_RELAXED);
        }
    }
    rmpsc_ring_close(t->ring);
    return NULL;
}

/* Receives until closed and drained; every item is the next number. */
static void *consume(void *arg) {
    struct pair *t = arg;
    uint64_t next = 0, buf[16];
    rmpsc_lease_t l;
    if (t->lease_consumer &&
        rmpsc_ring_lease(t->ring, RMPSC_SIDE_CONSUMER, RMPSC_LEASE_LAYOUT, &l) != RMPSC_OK) {
        t->consumer_errors++;
        rmpsc_ring_close(t->ring); /* the producer stops too */
        return NULL;
    }
    for (;;) {
        size_t n = 0;
        int rc;
        waits(&t->consumer_waits, 1);
        if (t->lease_consumer) {
            rc = rmpsc_lease_recv(&l, buf, 16, &n);
            if (rc == RMPSC_OK && n == 0) rc = rmpsc_lease_wait(&l, -1);
        } else {
            rc = rmpsc_ring_recv_blocking(t->ring, buf, 16, -1, &n);
        }
        waits(&t->consumer_waits, 0);
        if (rc == RMPSC_ECLOSED) break;
        if (rc != RMPSC_OK) {
            t->consumer_errors++;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            if (buf[i] != next++) t->consumer_errors++;
        }
        __atomic_store_n(&t->received, next, __ATOMIC_RELAXED);
    }
    rmpsc_ring_close(t->ring); /* after an error, the producer stops too */
    if (next != ITEMS) t->consumer_errors++;
    if (t->lease_consumer && rmpsc_lease_end(&l) != RMPSC_OK) t->consumer_errors++;
    return NULL;
}

/* Seconds each pairing of test_threads runs rounds for. */
#define THREAD_SECONDS 2

/* A small ring, so both sides sleep often: a lease's publication must wake
 * the sleeping other side, leased or not, and a lease's wait be woken.
 * Rounds of ITEMS items for THREAD_SECONDS: a barrier pair that loses a
 * wake-up (the cross-process membarrier command once did) left both sides
 * asleep within a few hundred rounds. */
static void test_threads(int lease_producer, int lease_consumer) {
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int round = 0;; round++) {
        struct pair t = {NULL, lease_producer, lease_consumer, 0, 0, 0, 0, 0, 0};
        CHECK(rmpsc_ring_new(8, 8, &t.ring) == RMPSC_OK);
        pthread_t a, b;
        pthread_create(&b, NULL, consume, &t);
        pthread_create(&a, NULL, produce, &t);
        struct timespec until = seconds_from_now(30);
        if (pthread_timedjoin_np(a, NULL, &until) != 0 ||
            pthread_timedjoin_np(b, NULL, &until) != 0) {
            /* Which side sleeps, after how many items, with what in the ring. */
            fprintf(stderr,
                    "test_threads(%d, %d) hung in round %d: %llu sent, %llu received, "
                    "%zu in the ring, producer %s, consumer %s\n",
                    lease_producer, lease_consumer, round,
                    (unsigned long long)__atomic_load_n(&t.sent, __ATOMIC_RELAXED),
                    (unsigned long long)__atomic_load_n(&t.received, __ATOMIC_RELAXED),
                    rmpsc_ring_len(t.ring),
                    __atomic_load_n(&t.producer_waits, __ATOMIC_RELAXED) ? "waiting" : "running",
                    __atomic_load_n(&t.consumer_waits, __ATOMIC_RELAXED) ? "waiting" : "running");
            _exit(1);
        }
        CHECK(t.producer_errors == 0 && t.consumer_errors == 0);
        rmpsc_ring_free(t.ring);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double elapsed = (double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
        if (elapsed >= THREAD_SECONDS) return;
    }
}

/* The thread id of the helper thread that is about to block. */
static int sleeper = 0;

/* A helper thread says it is about to block. */
static void about_to_block(void) {
    __atomic_store_n(&sleeper, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
}

/* A helper's result for a call that moved one item `v`: v, else -1. */
static void *one_item(int rc, size_t n, uint64_t v) {
    return (void *)(intptr_t)(rc == RMPSC_OK && n == 1 ? (int)v : -1);
}

static void *recv_one(void *arg) {
    about_to_block();
    uint64_t v = 0;
    size_t n = 0;
    int rc = rmpsc_ring_recv_blocking(arg, &v, 1, -1, &n);
    return one_item(rc, n, v);
}

static void *send_one(void *arg) {
    about_to_block();
    uint64_t v = 42;
    size_t n = 0;
    int rc = rmpsc_ring_send_blocking(arg, &v, 1, -1, &n);
    return one_item(rc, n, 42);
}

static void *wait_in_lease(void *arg) {
    rmpsc_lease_t l;
    if (rmpsc_ring_lease(arg, RMPSC_SIDE_CONSUMER, RMPSC_LEASE_LAYOUT, &l) != RMPSC_OK) return (void *)-1;
    about_to_block();
    uint64_t v = 0;
    int rc = rmpsc_lease_wait(&l, -1);
    if (rc == RMPSC_OK) rc = rmpsc_lease_try_recv(&l, &v);
    if (rmpsc_lease_end(&l) != RMPSC_OK) rc = -1;
    return (void *)(intptr_t)(rc == RMPSC_OK ? (int)v : -1);
}

/* Starts `body` and returns once its thread sleeps in a futex wait (its
 * wait channel in /proc), where it has done its last check and only a
 * wake-up lets it go on. A thread that is not asleep within 10 s (it
 * returned, or spins) fails the check. */
static pthread_t start_sleeper(void *(*body)(void *), void *arg) {
    pthread_t t;
    __atomic_store_n(&sleeper, 0, __ATOMIC_RELEASE);
    pthread_create(&t, NULL, body, arg);
    char path[64], chan[128] = "";
    for (int tries = 0; tries < 100000; tries++) {
        int tid = __atomic_load_n(&sleeper, __ATOMIC_ACQUIRE);
        if (tid != 0) {
            snprintf(path, sizeof path, "/proc/self/task/%d/wchan", tid);
            FILE *f = fopen(path, "r");
            size_t n = f ? fread(chan, 1, sizeof chan - 1, f) : 0;
            if (f) fclose(f);
            chan[n] = 0;
            if (strstr(chan, "futex")) return t;
        }
        usleep(100);
    }
    fprintf(stderr, "the helper thread never slept (wait channel \"%s\")\n", chan);
    CHECK(0);
    return t;
}

/* What the thread returned, failing the check if it is still blocked
 * after 10 s (its wake-up was lost). */
static intptr_t joined(pthread_t t) {
    struct timespec until = seconds_from_now(10);
    void *rc = (void *)-1;
    int e = pthread_timedjoin_np(t, &rc, &until);
    CHECK(e == 0);
    return e == 0 ? (intptr_t)rc : -1;
}

/* One publication of a lease wakes the other side asleep in a call with no
 * timeout, in both directions; and a lease asleep in rmpsc_lease_wait is
 * woken by the other side's call. */
static void test_wakes(void) {
    rmpsc_ring_t *ring;
    rmpsc_lease_t l;
    CHECK(rmpsc_ring_new(2, 8, &ring) == RMPSC_OK);
    CHECK(rmpsc_ring_lease(ring, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, &l) == RMPSC_OK);
    pthread_t t = start_sleeper(recv_one, ring);
    uint64_t v = 7;
    CHECK(rmpsc_lease_try_send(&l, &v) == RMPSC_OK);
    CHECK(joined(t) == 7);
    for (int i = 0; i < 2; i++) CHECK(rmpsc_lease_try_send(&l, &v) == RMPSC_OK);
    CHECK(rmpsc_lease_end(&l) == RMPSC_OK);

    CHECK(rmpsc_ring_lease(ring, RMPSC_SIDE_CONSUMER, RMPSC_LEASE_LAYOUT, &l) == RMPSC_OK);
    t = start_sleeper(send_one, ring); /* the ring is full */
    CHECK(rmpsc_lease_try_recv(&l, &v) == RMPSC_OK && v == 7);
    CHECK(joined(t) == 42);
    CHECK(rmpsc_lease_recv(&l, &v, 1, &(size_t){0}) == RMPSC_OK);
    CHECK(rmpsc_lease_try_recv(&l, &v) == RMPSC_OK && v == 42);
    CHECK(rmpsc_lease_end(&l) == RMPSC_OK);

    t = start_sleeper(wait_in_lease, ring); /* the ring is empty */
    v = 9;
    CHECK(rmpsc_ring_try_send(ring, &v) == RMPSC_OK);
    CHECK(joined(t) == 9);
    rmpsc_ring_free(ring);
}

/* A loop that works on a copy of its lease in a local variable (whose
 * address goes to the inline functions only, so it stays in registers):
 * the wake slow path works through it, the original goes stale while the
 * copy publishes (ending it then is refused, the side stays lent), and
 * the copy copied back ends the lease where it left the side. */
static void test_a_copy_in_a_local(void) {
    rmpsc_ring_t *ring;
    rmpsc_lease_t taken;
    CHECK(rmpsc_ring_new(2, 8, &ring) == RMPSC_OK);
    CHECK(rmpsc_ring_lease(ring, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, &taken) == RMPSC_OK);
    rmpsc_lease_t tx = taken;
    pthread_t t = start_sleeper(recv_one, ring);
    uint64_t v = 7;
    CHECK(rmpsc_lease_try_send(&tx, &v) == RMPSC_OK);
    CHECK(joined(t) == 7);
    for (int i = 0; i < 2; i++) CHECK(rmpsc_lease_try_send(&tx, &v) == RMPSC_OK);
    CHECK(rmpsc_lease_try_send(&tx, &v) == RMPSC_EFULL);

    CHECK(rmpsc_lease_end(&taken) == RMPSC_ECORRUPT);
    CHECK(rmpsc_ring_try_send(ring, &v) == RMPSC_EBUSY); /* still lent */
    taken = tx;
    CHECK(rmpsc_lease_wait(&taken, 1000000) == RMPSC_ETIMEDOUT);
    tx = taken;
    CHECK(rmpsc_lease_end(&taken) == RMPSC_OK);
    CHECK(rmpsc_ring_len(ring) == 2 && rmpsc_ring_try_recv(ring, &v) == RMPSC_OK && v == 7);
    CHECK(rmpsc_ring_try_send(ring, &v) == RMPSC_OK);
    rmpsc_ring_free(ring);
}

/* Keeps the one item an MPSC consumer hands it (8 bytes). */
static void keep_item(void *ctx, const void *item) {
    memcpy(ctx, item, 8);
}

static void *recv_one_claimed(void *arg) {
    about_to_block();
    uint64_t v = 0;
    size_t n = 0;
    int rc = rmpsc_consumer_recv_blocking(arg, &v, 1, -1, &n);
    return one_item(rc, n, v);
}

static void *consume_one(void *arg) {
    about_to_block();
    uint64_t v = 0;
    size_t n = 0;
    int rc = rmpsc_mpsc_consume_blocking(arg, keep_item, &v, -1, &n);
    return one_item(rc, n, v);
}

#define MPSC_PRODUCERS 3
#define MPSC_ITEMS 30000

struct leased_producer {
    rmpsc_ring_t *ring;
    uint64_t id;
    int failed; /* which step failed; 0: none */
};

/* Sends (id << 32 | 0, 1, ..) through a lease kept in a local copy,
 * waiting in rmpsc_lease_wait whenever its ring is full. */
static void *produce_leased(void *arg) {
    struct leased_producer *p = arg;
    rmpsc_lease_t lease;
    if (rmpsc_ring_lease(p->ring, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, &lease) != RMPSC_OK) {
        p->failed = 1;
        return NULL;
    }
    rmpsc_lease_t tx = lease;
    for (uint64_t i = 0; i < MPSC_ITEMS && !p->failed;) {
        uint64_t v = p->id << 32 | i;
        int rc = rmpsc_lease_try_send(&tx, &v);
        if (rc == RMPSC_OK) {
            i++;
        } else if (rc != RMPSC_EFULL) {
            p->failed = 2;
        } else {
            lease = tx;
            if (rmpsc_lease_wait(&lease, 10000000000LL) != RMPSC_OK) p->failed = 3;
            tx = lease;
        }
    }
    lease = tx;
    if (rmpsc_lease_end(&lease) != RMPSC_OK) p->failed = 4;
    return NULL;
}

struct sequences {
    uint64_t next[MPSC_PRODUCERS], wrong, total;
};

static void check_sequence(void *ctx, const void *item) {
    struct sequences *s = ctx;
    uint64_t v;
    memcpy(&v, item, 8);
    uint64_t id = v >> 32;
    if (id < MPSC_PRODUCERS && (v & 0xffffffffu) == s->next[id]) {
        s->next[id]++;
    } else {
        s->wrong++;
    }
    s->total++;
}

/* Producers of channels on leases: one publication wakes a consumer of
 * the channel asleep with no timeout (MPMC, MPSC), and signals a notifier
 * attached to the channel; producer threads on small rings and a consumer
 * that sleeps whenever they are empty move every item, in order per
 * producer. The wake-ups are exact where the sleeper's membarrier works;
 * without it a lost one would cost the sleeper 1 to 50 ms, which these
 * checks do not tell from none. */
static void test_channel_producers(void) {
    rmpsc_mpmc_t *mpmc;
    rmpsc_consumer_t *mc;
    rmpsc_ring_t *ring;
    rmpsc_lease_t lease;
    CHECK(rmpsc_mpmc_new(4, 8, 2, 2, 0, &mpmc) == RMPSC_OK);
    CHECK(rmpsc_mpmc_new_producer(mpmc, &ring) == RMPSC_OK);
    CHECK(rmpsc_mpmc_new_consumer(mpmc, &mc) == RMPSC_OK);
    CHECK(rmpsc_ring_lease(ring, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, &lease) == RMPSC_OK);
    pthread_t t = start_sleeper(recv_one_claimed, mc);
    uint64_t v = 6;
    CHECK(rmpsc_lease_try_send(&lease, &v) == RMPSC_OK);
    intptr_t woken = joined(t);
    CHECK(woken == 6);
    if (woken != 6) return; /* the consumer may still be inside the channel */
    CHECK(rmpsc_lease_end(&lease) == RMPSC_OK);
    rmpsc_consumer_free(mc);
    rmpsc_ring_free(ring);
    rmpsc_mpmc_free(mpmc);

    rmpsc_mpsc_t *ch;
    CHECK(rmpsc_mpsc_new(16, 8, 0, &ch) == RMPSC_OK);
    CHECK(rmpsc_mpsc_new_producer(ch, &ring) == RMPSC_OK);
    CHECK(rmpsc_ring_lease(ring, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, &lease) == RMPSC_OK);
    rmpsc_lease_t tx = lease;
    t = start_sleeper(consume_one, ch);
    v = 5;
    CHECK(rmpsc_lease_try_send(&tx, &v) == RMPSC_OK);
    woken = joined(t);
    CHECK(woken == 5);
    if (woken != 5) return;

    rmpsc_notifier_t *n;
    uint64_t signals = 0;
    CHECK(rmpsc_notifier_new(&n) == RMPSC_OK);
    /* While lent, the producer takes no notifier of its own (the inline
     * path would not signal it); the channel's is signalled. */
    CHECK(rmpsc_ring_set_notifier(ring, n) == RMPSC_EBUSY);
    CHECK(rmpsc_mpsc_set_notifier(ch, n) == RMPSC_OK);
    CHECK(rmpsc_lease_try_send(&tx, &v) == RMPSC_OK);
    CHECK(rmpsc_notifier_consume(n, &signals) == RMPSC_OK && signals == 1);
    CHECK(rmpsc_mpsc_set_notifier(ch, NULL) == RMPSC_OK);
    CHECK(rmpsc_lease_try_send(&tx, &v) == RMPSC_OK);
    CHECK(rmpsc_notifier_consume(n, &signals) == RMPSC_OK && signals == 0);
    rmpsc_notifier_free(n);
    lease = tx;
    CHECK(rmpsc_lease_end(&lease) == RMPSC_OK);
    size_t got = 0;
    CHECK(rmpsc_mpsc_consume(ch, NULL, NULL, 8, &got) == RMPSC_OK && got == 2);
    rmpsc_ring_free(ring);

    struct leased_producer p[MPSC_PRODUCERS];
    pthread_t threads[MPSC_PRODUCERS];
    for (uint64_t i = 0; i < MPSC_PRODUCERS; i++) {
        p[i] = (struct leased_producer){.id = i};
        CHECK(rmpsc_mpsc_new_producer(ch, &p[i].ring) == RMPSC_OK);
        pthread_create(&threads[i], NULL, produce_leased, &p[i]);
    }
    struct sequences s = {{0}, 0, 0};
    while (s.total < MPSC_PRODUCERS * MPSC_ITEMS) {
        size_t k = 0;
        int rc = rmpsc_mpsc_consume_blocking(ch, check_sequence, &s, 10000000000LL, &k);
        if (rc != RMPSC_OK) {
            CHECK(rc == RMPSC_OK);
            break;
        }
    }
    for (int i = 0; i < MPSC_PRODUCERS; i++) {
        CHECK(joined(threads[i]) == 0);
        CHECK(p[i].failed == 0);
        CHECK(s.next[i] == MPSC_ITEMS);
        rmpsc_ring_free(p[i].ring);
    }
    CHECK(s.wrong == 0);
    rmpsc_mpsc_free(ch);
}

#define SHARED_ITEMS 20000

/* The consumer process: attaches by name, leases its side and receives
 * until closed and drained; exits 0 when every item came in order. */
static int consume_shared(const char *name) {
    start_watchdog(60); /* a forked child has no alarm of its parent's */
    watchdog_step = "consume_shared (the forked consumer)";
    rmpsc_shared_ring_t *s;
    rmpsc_ring_t *rx;
    rmpsc_lease_t l;
    if (rmpsc_shared_ring_attach(name, 8, 10000000000LL, &s) != RMPSC_OK ||
        rmpsc_shared_ring_take_consumer(s, &rx) != RMPSC_OK ||
        rmpsc_ring_lease(rx, RMPSC_SIDE_CONSUMER, RMPSC_LEASE_LAYOUT, &l) != RMPSC_OK) {
        return 2;
    }
    uint64_t next = 0, v;
    int rc;
    for (;;) {
        rc = rmpsc_lease_try_recv(&l, &v);
        if (rc == RMPSC_EEMPTY) rc = rmpsc_lease_wait(&l, 10000000000LL);
        else if (rc == RMPSC_OK && v != next++) return 3;
        if (rc != RMPSC_OK) break;
    }
    return rc == RMPSC_ECLOSED && next == SHARED_ITEMS && rmpsc_lease_end(&l) == RMPSC_OK ? 0 : 4;
}

/* Two processes, each with a lease of its side of a small shared ring:
 * every item in order across the process boundary, both sides waiting in
 * rmpsc_lease_wait whenever the ring is full or empty. Forked before this
 * process starts any thread. */
static void test_processes(void) {
    char name[64];
    snprintf(name, sizeof name, "rmpsc-ctest-lease-%d", (int)getpid());
    pid_t child = fork();
    if (child == 0) _exit(consume_shared(name));
    /* Zeroed: after a failed call the next ones fail too (EINVAL), and the
     * producer stops at once. */
    rmpsc_shared_ring_t *s = NULL;
    rmpsc_ring_t *tx = NULL;
    rmpsc_lease_t l = {0};
    CHECK(rmpsc_shared_ring_create(name, 8, 8, &s) == RMPSC_OK);
    CHECK(rmpsc_shared_ring_take_producer(s, &tx) == RMPSC_OK);
    CHECK(rmpsc_ring_lease(tx, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, &l) == RMPSC_OK);
    for (uint64_t i = 0; i < SHARED_ITEMS;) {
        int rc = rmpsc_lease_try_send(&l, &i);
        if (rc == RMPSC_EFULL) rc = rmpsc_lease_wait(&l, 10000000000LL);
        else if (rc == RMPSC_OK) i++;
        if (rc != RMPSC_OK) {
            CHECK(rc == RMPSC_OK);
            break;
        }
    }
    CHECK(rmpsc_lease_end(&l) == RMPSC_OK);
    CHECK(rmpsc_ring_close(tx) == RMPSC_OK);
    int status = -1;
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    rmpsc_ring_free(tx);
    CHECK(rmpsc_shared_ring_unlink(s) == RMPSC_OK);
    rmpsc_shared_ring_free(s);
}

int main(void) {
    start_watchdog(120); /* a hang fails the run instead of stalling it */
    STEP(test_processes());
    STEP(test_taking_and_ending());
    STEP(test_channel_sides());
    STEP(test_scribbled_positions());
    STEP(test_wakes());
    STEP(test_a_copy_in_a_local());
    STEP(test_channel_producers());
    STEP(test_threads(1, 0));
    STEP(test_threads(0, 1));
    STEP(test_threads(1, 1));
    return finish("test_lease");
}
