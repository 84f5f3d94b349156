/*
 * The C MPSC channel: producer threads registered through the API each
 * send sequence-numbered items; the consumer checks per-producer order and
 * that nothing is lost. Also the eventfd notifier with poll().
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

#define PRODUCERS 4
#define PER 200000

/* The notifier's count since the last call. */
static uint64_t consumed(rmpsc_notifier_t *n) {
    uint64_t count = 0;
    CHECK(rmpsc_notifier_consume(n, &count) == RMPSC_OK);
    return count;
}

typedef struct {
    uint32_t producer;
    uint32_t pad;
    uint64_t seq;
} item_t;

static rmpsc_mpsc_t *ch;

static void *produce(void *arg) {
    uint32_t id = (uint32_t)(uintptr_t)arg;
    rmpsc_ring_t *tx;
    if (rmpsc_mpsc_new_producer(ch, &tx) != RMPSC_OK) {
        failures++;
        return NULL;
    }
    for (uint64_t s = 0; s < PER; s++) {
        item_t it = {id, 0, s};
        if (rmpsc_ring_send_blocking(tx, &it, 1, -1, &(size_t){0}) != RMPSC_OK) {
            failures++;
            break;
        }
    }
    rmpsc_ring_free(tx); /* deregisters; its items still arrive */
    return NULL;
}

static uint64_t next_seq[PRODUCERS];
static uint64_t total;

static void check_item(void *ctx, const void *p) {
    (void)ctx;
    item_t it;
    memcpy(&it, p, sizeof it);
    if (it.producer >= PRODUCERS || it.seq != next_seq[it.producer]) {
        failures++;
        return;
    }
    next_seq[it.producer]++;
    total++;
}

static void test_channel(void) {
    CHECK(rmpsc_mpsc_new(1024, sizeof(item_t), 0, &ch) == RMPSC_OK);
    pthread_t t[PRODUCERS];
    for (uintptr_t i = 0; i < PRODUCERS; i++) pthread_create(&t[i], NULL, produce, (void *)i);
    while (total < (uint64_t)PRODUCERS * PER) {
        size_t n;
        int rc = rmpsc_mpsc_consume_blocking(ch, check_item, NULL, 2000000000LL, &n);
        CHECK(rc == RMPSC_OK);
        if (rc != RMPSC_OK) break;
    }
    for (int i = 0; i < PRODUCERS; i++) pthread_join(t[i], NULL);
    CHECK(total == (uint64_t)PRODUCERS * PER);
    CHECK(rmpsc_mpsc_len(ch) == 0);
    CHECK(!rmpsc_mpsc_is_closed(ch));
    CHECK(rmpsc_mpsc_close(ch) == RMPSC_OK);
    CHECK(rmpsc_mpsc_is_closed(ch) && !rmpsc_mpsc_is_closed(NULL));
    CHECK(rmpsc_mpsc_is_drained(ch));
    rmpsc_ring_t *late;
    CHECK(rmpsc_mpsc_new_producer(ch, &late) == RMPSC_ECLOSED);
    item_t out[4];
    size_t got;
    CHECK(rmpsc_mpsc_recv(ch, out, 4, &got) == RMPSC_ECLOSED);
    rmpsc_mpsc_free(ch);
}

static void test_notifier(void) {
    rmpsc_notifier_t *n;
    CHECK(rmpsc_notifier_new(&n) == RMPSC_OK);
    rmpsc_mpsc_t *c;
    CHECK(rmpsc_mpsc_new(16, 8, 0, &c) == RMPSC_OK);
    CHECK(rmpsc_mpsc_set_notifier(c, n) == RMPSC_OK);
    rmpsc_ring_t *tx;
    CHECK(rmpsc_mpsc_new_producer(c, &tx) == RMPSC_OK);
    struct pollfd p = {rmpsc_notifier_fd(n), POLLIN, 0};
    CHECK(poll(&p, 1, 0) == 0); /* nothing yet */
    uint64_t v = 42;
    size_t sent;
    CHECK(rmpsc_ring_available_capacity(tx) == 16);
    CHECK(rmpsc_ring_send(tx, &v, 1, &sent) == RMPSC_OK && sent == 1);
    CHECK(rmpsc_ring_available_capacity(tx) == 15);
    CHECK(poll(&p, 1, 1000) == 1 && (p.revents & POLLIN));
    CHECK(consumed(n) == 1);
    uint64_t out;
    size_t got;
    CHECK(rmpsc_mpsc_recv(c, &out, 1, &got) == RMPSC_OK && got == 1 && out == 42);
    rmpsc_ring_free(tx);
    rmpsc_mpsc_free(c);

    /* A producer's own notifier is signalled beside the channel's wake-up,
     * which stays. While it is attached the producer is not lent (the
     * inline path would skip it); detached again, it is, and its
     * publications look at the channel's wake-up. */
    CHECK(rmpsc_mpsc_new(16, 8, 0, &c) == RMPSC_OK);
    CHECK(rmpsc_mpsc_new_producer(c, &tx) == RMPSC_OK);
    CHECK(rmpsc_ring_set_notifier(tx, n) == RMPSC_OK);
    CHECK(rmpsc_ring_send(tx, &v, 1, &sent) == RMPSC_OK && sent == 1);
    CHECK(consumed(n) == 1);
    rmpsc_lease_t lease;
    CHECK(rmpsc_ring_lease(tx, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, &lease) == RMPSC_EINVAL);
    CHECK(rmpsc_ring_set_notifier(tx, NULL) == RMPSC_OK);
    CHECK(rmpsc_ring_lease(tx, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, &lease) == RMPSC_OK);
    CHECK(rmpsc_lease_try_send(&lease, &v) == RMPSC_OK);
    CHECK(rmpsc_lease_end(&lease) == RMPSC_OK);
    CHECK(rmpsc_mpsc_len(c) == 2);
    rmpsc_ring_free(tx);
    rmpsc_mpsc_free(c);
    /* Rings no producer could get (2^32 slots of 2^31 bytes): refused at once. */
    CHECK(rmpsc_mpsc_new((size_t)1 << 32, (size_t)1 << 31, 0, &c) == RMPSC_EINVAL);

    /* epoll, edge-triggered: one event per burst of signals until consumed. */
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev;
    CHECK(rmpsc_notifier_register_epoll(n, ep) == RMPSC_OK);
    CHECK(rmpsc_notifier_register_epoll(n, ep) == RMPSC_EIO && errno == EEXIST); /* already there */
    CHECK(epoll_wait(ep, &ev, 1, 0) == 0);
    CHECK(rmpsc_notifier_signal(n) == RMPSC_OK && rmpsc_notifier_signal(n) == RMPSC_OK);
    CHECK(epoll_wait(ep, &ev, 1, 1000) == 1 && ev.data.fd == rmpsc_notifier_fd(n));
    CHECK(consumed(n) == 2 && consumed(n) == 0);

    /* signal_if_waiting: a system call only while the waiter count is non-zero. */
    uint32_t waiters = 0;
    CHECK(rmpsc_notifier_signal_if_waiting(n, &waiters) == RMPSC_OK);
    CHECK(epoll_wait(ep, &ev, 1, 0) == 0 && consumed(n) == 0);
    __atomic_store_n(&waiters, 1, __ATOMIC_RELEASE);
    CHECK(rmpsc_notifier_signal_if_waiting(n, &waiters) == RMPSC_OK);
    CHECK(epoll_wait(ep, &ev, 1, 1000) == 1 && consumed(n) == 1);
    CHECK(rmpsc_notifier_signal_if_waiting(n, NULL) == RMPSC_EINVAL);
    CHECK(rmpsc_notifier_signal_if_waiting(n, (const uint32_t *)((char *)&waiters + 1)) == RMPSC_EINVAL);

    CHECK(rmpsc_notifier_unregister_epoll(n, ep) == RMPSC_OK);
    CHECK(rmpsc_notifier_unregister_epoll(n, ep) == RMPSC_EIO && errno == ENOENT);
    CHECK(rmpsc_notifier_signal(n) == RMPSC_OK);
    CHECK(epoll_wait(ep, &ev, 1, 0) == 0); /* no longer watched */
    CHECK(consumed(n) == 1);
    close(ep);

    /* A plain SPSC ring signals it too; NULL detaches. */
    rmpsc_ring_t *r;
    CHECK(rmpsc_ring_new(8, 8, &r) == RMPSC_OK);
    CHECK(rmpsc_ring_set_notifier(r, n) == RMPSC_OK);
    CHECK(rmpsc_ring_send(r, &v, 1, &sent) == RMPSC_OK);
    CHECK(consumed(n) == 1);
    CHECK(rmpsc_ring_set_notifier(r, NULL) == RMPSC_OK);
    CHECK(rmpsc_ring_send(r, &v, 1, &sent) == RMPSC_OK);
    CHECK(consumed(n) == 0);
    rmpsc_ring_free(r);
    rmpsc_notifier_free(n);
}

/* ---- SPMC and MPMC: every item to exactly one consumer ---- */

#define WS_PRODUCERS 2
#define WS_CONSUMERS 2
#define WS_PER 50000

static rmpsc_mpmc_t *mp;
static uint8_t ws_seen[WS_PRODUCERS][WS_PER];
static pthread_mutex_t ws_lock = PTHREAD_MUTEX_INITIALIZER;

static void *ws_produce(void *arg) {
    uint32_t id = (uint32_t)(uintptr_t)arg;
    rmpsc_ring_t *tx;
    if (rmpsc_mpmc_new_producer(mp, &tx) != RMPSC_OK) {
        failures++;
        return NULL;
    }
    for (uint64_t s = 0; s < WS_PER; s++) {
        item_t it = {id, 0, s};
        if (rmpsc_ring_send_blocking(tx, &it, 1, -1, &(size_t){0}) != RMPSC_OK) {
            failures++;
            break;
        }
    }
    rmpsc_ring_free(tx);
    return NULL;
}

/* Steals until closed and drained; per producer, items arrive in order. */
static void *ws_consume(void *arg) {
    rmpsc_consumer_t *rx = arg;
    uint64_t last[WS_PRODUCERS];
    memset(last, 0xff, sizeof last);
    item_t buf[64];
    for (;;) {
        size_t n;
        int rc = rmpsc_consumer_recv_blocking(rx, buf, 64, 5000000000LL, &n);
        if (rc == RMPSC_ECLOSED) break;
        if (rc != RMPSC_OK) {
            failures++;
            break;
        }
        pthread_mutex_lock(&ws_lock);
        for (size_t i = 0; i < n; i++) {
            item_t it = buf[i];
            if (it.producer >= WS_PRODUCERS || it.seq >= WS_PER || ws_seen[it.producer][it.seq] ||
                (last[it.producer] != UINT64_MAX && it.seq <= last[it.producer])) {
                failures++;
                continue;
            }
            ws_seen[it.producer][it.seq] = 1;
            last[it.producer] = it.seq;
        }
        pthread_mutex_unlock(&ws_lock);
    }
    return NULL;
}

/* A consumer thread: one blocking receive without a timeout; its code. */
static void *recv_until_closed(void *c) {
    uint64_t got[4];
    size_t n;
    return (void *)(intptr_t)rmpsc_consumer_recv_blocking(c, got, 4, -1, &n);
}

static void count_item(void *ctx, const void *p) {
    (void)p;
    (*(size_t *)ctx)++;
}

static void test_work_stealing(void) {
    rmpsc_mpmc_t *bad;
    CHECK(rmpsc_mpmc_new(1000, 16, 2, 2, 0, &bad) == RMPSC_EINVAL); /* not a power of two */
    CHECK(rmpsc_mpmc_new(1024, 16, 0, 2, 0, &bad) == RMPSC_EINVAL);
    CHECK(rmpsc_mpmc_new((size_t)1 << 32, (size_t)1 << 31, 2, 2, 0, &bad) == RMPSC_EINVAL);
    CHECK(rmpsc_mpmc_new(256, sizeof(item_t), WS_PRODUCERS, WS_CONSUMERS, RMPSC_CHANNEL_METRICS, &mp) == RMPSC_OK);
    rmpsc_consumer_t *rx[WS_CONSUMERS], *extra;
    for (int i = 0; i < WS_CONSUMERS; i++) CHECK(rmpsc_mpmc_new_consumer(mp, &rx[i]) == RMPSC_OK);
    CHECK(rmpsc_mpmc_new_consumer(mp, &extra) == RMPSC_ETOOMANY);
    pthread_t p[WS_PRODUCERS], c[WS_CONSUMERS];
    for (uintptr_t i = 0; i < WS_PRODUCERS; i++) pthread_create(&p[i], NULL, ws_produce, (void *)i);
    for (int i = 0; i < WS_CONSUMERS; i++) pthread_create(&c[i], NULL, ws_consume, rx[i]);
    for (int i = 0; i < WS_PRODUCERS; i++) pthread_join(p[i], NULL);
    CHECK(!rmpsc_mpmc_is_closed(mp));
    CHECK(rmpsc_mpmc_close(mp) == RMPSC_OK && rmpsc_mpmc_is_closed(mp));
    for (int i = 0; i < WS_CONSUMERS; i++) pthread_join(c[i], NULL);
    for (int i = 0; i < WS_PRODUCERS; i++)
        for (int s = 0; s < WS_PER; s++) CHECK(ws_seen[i][s] == 1);
    rmpsc_ring_t *late;
    CHECK(rmpsc_mpmc_new_producer(mp, &late) == RMPSC_ECLOSED);
    rmpsc_metrics_t m;
    CHECK(rmpsc_mpmc_metrics(mp, &m) == RMPSC_OK);
    CHECK(m.messages_sent == WS_PRODUCERS * WS_PER && m.messages_received == WS_PRODUCERS * WS_PER);
    CHECK(rmpsc_mpmc_len(mp) == 0);
    CHECK(rmpsc_metrics_avg_batch_size(&m) >= 1.0);
    CHECK(rmpsc_metrics_throughput(&m, 2.0) == m.messages_received / 2.0);
    CHECK(rmpsc_metrics_throughput(&m, -1.0) == 0.0);
    for (int i = 0; i < WS_CONSUMERS; i++) rmpsc_consumer_free(rx[i]);
    rmpsc_mpmc_free(mp);

    /* SPMC: the producer is a ring handle; consumers share its ring. */
    rmpsc_spmc_t *sp;
    rmpsc_ring_t *tx;
    CHECK(rmpsc_spmc_new(64, 8, 2, 0, &sp) == RMPSC_OK);
    CHECK(rmpsc_spmc_new_producer(sp, &tx) == RMPSC_OK);
    rmpsc_ring_t *second;
    CHECK(rmpsc_spmc_new_producer(sp, &second) == RMPSC_ETOOMANY); /* one producer */
    rmpsc_metrics_t none;
    CHECK(rmpsc_spmc_metrics(sp, &none) == RMPSC_EINVAL); /* made without metrics */
    rmpsc_consumer_t *a, *b, *d;
    CHECK(rmpsc_spmc_new_consumer(sp, &a) == RMPSC_OK && rmpsc_spmc_new_consumer(sp, &b) == RMPSC_OK);
    CHECK(rmpsc_spmc_new_consumer(sp, &d) == RMPSC_ETOOMANY);
    uint64_t v[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, got[10];
    size_t n;
    CHECK(rmpsc_ring_send(tx, v, 10, &n) == RMPSC_OK && n == 10);
    CHECK(rmpsc_spmc_len(sp) == 10);
    rmpsc_mpmc_t *one;
    rmpsc_ring_t *one_tx;
    rmpsc_consumer_t *one_rx;
    CHECK(rmpsc_mpmc_new(16, 8, 1, 1, 0, &one) == RMPSC_OK);
    CHECK(rmpsc_mpmc_new_producer(one, &one_tx) == RMPSC_OK && rmpsc_mpmc_new_consumer(one, &one_rx) == RMPSC_OK);
    CHECK(rmpsc_ring_send(one_tx, v, 5, &n) == RMPSC_OK && rmpsc_mpmc_len(one) == 5);
    CHECK(rmpsc_consumer_recv(one_rx, got, 2, &n) == RMPSC_OK && n == 2 && rmpsc_mpmc_len(one) == 3);
    rmpsc_consumer_free(one_rx);
    rmpsc_ring_free(one_tx);
    rmpsc_mpmc_free(one);
    CHECK(rmpsc_consumer_recv(a, got, 4, &n) == RMPSC_OK && n == 4 && got[0] == 1 && got[3] == 4);
    size_t seen = 0;
    CHECK(rmpsc_consumer_consume(b, count_item, &seen, &n) == RMPSC_OK && n == 6 && seen == 6);
    CHECK(rmpsc_consumer_recv(a, got, 4, &n) == RMPSC_OK && n == 0);
    CHECK(rmpsc_consumer_recv_blocking(a, got, 4, 1000000, &n) == RMPSC_ETIMEDOUT);
    CHECK(rmpsc_ring_send(tx, v, 3, &n) == RMPSC_OK && n == 3);
    CHECK(rmpsc_consumer_consume(a, NULL, NULL, &n) == RMPSC_OK && n == 3); /* counts only */
    CHECK(!rmpsc_spmc_is_closed(sp));
    CHECK(rmpsc_spmc_close(sp) == RMPSC_OK && rmpsc_spmc_is_closed(sp));
    CHECK(rmpsc_consumer_recv_blocking(a, got, 4, -1, &n) == RMPSC_ECLOSED);
    rmpsc_consumer_free(a);
    rmpsc_consumer_free(b);
    rmpsc_ring_free(tx);
    rmpsc_spmc_free(sp);

    /* A consumer asleep without a timeout wakes with ECLOSED when the
       producer's ring handle is closed (not the channel): the alarm fails a
       lost wake-up. */
    CHECK(rmpsc_spmc_new(64, 8, 1, 0, &sp) == RMPSC_OK);
    CHECK(rmpsc_spmc_new_producer(sp, &tx) == RMPSC_OK && rmpsc_spmc_new_consumer(sp, &a) == RMPSC_OK);
    pthread_t sleeper;
    pthread_create(&sleeper, NULL, recv_until_closed, a);
    usleep(50000);
    CHECK(!rmpsc_spmc_is_closed(sp));
    CHECK(rmpsc_ring_close(tx) == RMPSC_OK);
    void *rc;
    pthread_join(sleeper, &rc);
    CHECK((intptr_t)rc == RMPSC_ECLOSED && rmpsc_spmc_is_closed(sp));
    rmpsc_consumer_free(a);
    rmpsc_ring_free(tx);
    rmpsc_spmc_free(sp);

    /* SPMC with consumer threads: one producer thread, every item once, in order per consumer. */
    memset(ws_seen, 0, sizeof ws_seen);
    CHECK(rmpsc_spmc_new(256, sizeof(item_t), WS_CONSUMERS, 0, &sp) == RMPSC_OK);
    CHECK(rmpsc_spmc_new_producer(sp, &tx) == RMPSC_OK);
    for (int i = 0; i < WS_CONSUMERS; i++) CHECK(rmpsc_spmc_new_consumer(sp, &rx[i]) == RMPSC_OK);
    for (int i = 0; i < WS_CONSUMERS; i++) pthread_create(&c[i], NULL, ws_consume, rx[i]);
    for (uint64_t s = 0; s < WS_PER; s++) {
        item_t it = {0, 0, s};
        CHECK(rmpsc_ring_send_blocking(tx, &it, 1, -1, &(size_t){0}) == RMPSC_OK);
    }
    CHECK(rmpsc_spmc_close(sp) == RMPSC_OK);
    for (int i = 0; i < WS_CONSUMERS; i++) pthread_join(c[i], NULL);
    for (int s = 0; s < WS_PER; s++) CHECK(ws_seen[0][s] == 1);
    for (int i = 0; i < WS_CONSUMERS; i++) rmpsc_consumer_free(rx[i]);
    rmpsc_ring_free(tx);
    rmpsc_spmc_free(sp);
}

/* ---- the consumer's toolbox: stats, single items, rings, event loop ---- */

static void sum_item(void *ctx, const void *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    *(uint64_t *)ctx += v;
}

static void test_consumer_api(void) {
    rmpsc_mpsc_t *c;
    CHECK(rmpsc_mpsc_new(64, 8, 0x80, &c) == RMPSC_EINVAL); /* unknown flag */
    CHECK(rmpsc_mpsc_new(64, 8, RMPSC_CHANNEL_METRICS, &c) == RMPSC_OK);
    rmpsc_ring_t *a, *b;
    CHECK(rmpsc_mpsc_new_producer(c, &a) == RMPSC_OK && rmpsc_mpsc_new_producer(c, &b) == RMPSC_OK);
    uint64_t v[3] = {1, 2, 3}, w = 10, got = 0;
    size_t n;
    CHECK(rmpsc_ring_send(a, v, 3, &n) == RMPSC_OK && n == 3);
    CHECK(rmpsc_ring_send(b, &w, 1, &n) == RMPSC_OK && n == 1);
    size_t ring;
    CHECK(rmpsc_mpsc_hottest_ring(c, &ring) == RMPSC_OK && ring == 0);
    CHECK(rmpsc_mpsc_ring_len(c, 0, &n) == RMPSC_OK && n == 3);
    CHECK(rmpsc_mpsc_ring_len(c, 1, &n) == RMPSC_OK && n == 1);
    CHECK(rmpsc_mpsc_ring_len(c, 7, &n) == RMPSC_EINVAL);
    CHECK(rmpsc_mpsc_try_recv(c, &got) == RMPSC_OK && (got == 1 || got == 10));
    uint64_t sum = got;
    CHECK(rmpsc_mpsc_reset_adaptive_skip(c) == RMPSC_OK);
    CHECK(rmpsc_mpsc_drain(c, sum_item, &sum, &n) == RMPSC_OK && n == 3 && sum == 16);
    CHECK(rmpsc_mpsc_try_recv(c, &got) == RMPSC_EEMPTY);
    rmpsc_mpsc_snapshot_t st;
    CHECK(rmpsc_mpsc_snapshot(c, &st) == RMPSC_OK);
    CHECK(st.rings == 2 && st.len == 0 && !st.closed && st.has_metrics);
    CHECK(st.metrics.messages_sent == 4 && st.metrics.messages_received == 4);
    CHECK(st.metrics.latency_count > 0 && rmpsc_metrics_avg_latency_ns(&st.metrics) > 0.0);
    CHECK(rmpsc_metrics_avg_latency_ns(NULL) == 0.0);
    rmpsc_metrics_t total;
    memset(&total, 0, sizeof total);
    CHECK(rmpsc_metrics_merge(&total, &st.metrics) == RMPSC_OK);
    CHECK(rmpsc_metrics_merge(&total, &st.metrics) == RMPSC_OK);
    CHECK(total.messages_received == 8 && total.latency_count == 2 * st.metrics.latency_count);
    CHECK(total.latency_min_ns == st.metrics.latency_min_ns && total.latency_max_ns == st.metrics.latency_max_ns);
    CHECK(rmpsc_metrics_merge(NULL, &st.metrics) == RMPSC_EINVAL);

    /* A NULL handler consumes and counts. */
    CHECK(rmpsc_ring_send(a, v, 3, &n) == RMPSC_OK && rmpsc_ring_send(b, v, 2, &n) == RMPSC_OK);
    CHECK(rmpsc_mpsc_len(c) == 5);
    CHECK(rmpsc_mpsc_consume(c, NULL, NULL, 4, &n) == RMPSC_OK && n == 4);
    CHECK(rmpsc_mpsc_drain(c, NULL, NULL, &n) == RMPSC_OK && n == 1);

    /* An event loop takes over the consumer side and drains on stop. */
    sum = 0;
    rmpsc_event_loop_t *lp;
    CHECK(rmpsc_event_loop_new(c, NULL, NULL, &lp) == RMPSC_EINVAL);
    CHECK(rmpsc_event_loop_new(c, sum_item, &sum, &lp) == RMPSC_OK);
    CHECK(rmpsc_mpsc_try_recv(c, &got) == RMPSC_EBUSY);
    for (uint64_t i = 1; i <= 1000; i++) CHECK(rmpsc_ring_send_blocking(i % 2 ? a : b, &i, 1, -1, &(size_t){0}) == RMPSC_OK);
    for (int spins = 0; rmpsc_event_loop_processed(lp) < 1000 && spins < 5000; spins++) usleep(1000);
    CHECK(rmpsc_event_loop_processed(lp) == 1000 && rmpsc_event_loop_processed(NULL) == 0);
    uint64_t processed = 0;
    CHECK(rmpsc_event_loop_stop(lp, &processed) == RMPSC_OK);
    CHECK(processed == 1000 && sum == 500500);
    CHECK(rmpsc_event_loop_processed(lp) == 1000); /* stopped, still answers */
    rmpsc_event_loop_free(lp);
    CHECK(rmpsc_ring_send(a, v, 1, &n) == RMPSC_ECLOSED); /* the loop closed the channel */
    rmpsc_ring_free(a);
    rmpsc_ring_free(b);
    rmpsc_mpsc_free(c);
}

/* Every wait of a loop handles what comes and sees a stop while idle; a
   wait or pause it does not take fails and leaves the consumer side as it
   was. */
static void test_event_loop_waits(void) {
    const struct {
        int wait;
        int64_t pause_ns;
    } waits[] = {{RMPSC_WAIT_BLOCKING, 0}, {RMPSC_WAIT_SPIN, 0}, {RMPSC_WAIT_YIELD, 0}, {RMPSC_WAIT_PACED, 1000}};
    for (size_t w = 0; w < sizeof waits / sizeof waits[0]; w++) {
        rmpsc_mpsc_t *c;
        rmpsc_ring_t *a;
        CHECK(rmpsc_mpsc_new(64, 8, 0, &c) == RMPSC_OK && rmpsc_mpsc_new_producer(c, &a) == RMPSC_OK);
        uint64_t sum = 0;
        rmpsc_event_loop_t *lp;
        CHECK(rmpsc_event_loop_new_with(c, sum_item, &sum, waits[w].wait, waits[w].pause_ns, &lp) == RMPSC_OK);
        for (uint64_t i = 1; i <= 100; i++) CHECK(rmpsc_ring_send_blocking(a, &i, 1, -1, &(size_t){0}) == RMPSC_OK);
        for (int spins = 0; rmpsc_event_loop_processed(lp) < 100 && spins < 5000; spins++) usleep(1000);
        usleep(20000); /* idle, deep in its wait */
        uint64_t processed = 0;
        CHECK(rmpsc_event_loop_stop(lp, &processed) == RMPSC_OK);
        CHECK(processed == 100 && sum == 5050);
        rmpsc_event_loop_free(lp);
        rmpsc_ring_free(a);
        rmpsc_mpsc_free(c);
    }

    rmpsc_mpsc_t *c;
    rmpsc_ring_t *a;
    CHECK(rmpsc_mpsc_new(64, 8, 0, &c) == RMPSC_OK && rmpsc_mpsc_new_producer(c, &a) == RMPSC_OK);
    const struct {
        int wait;
        int64_t pause_ns;
    } bad[] = {{4, 0}, {-1, 0}, {RMPSC_WAIT_PACED, 0}, {RMPSC_WAIT_PACED, 1000001}, {RMPSC_WAIT_PACED, -5},
               {RMPSC_WAIT_SPIN, 1000}, {RMPSC_WAIT_BLOCKING, -1}};
    uint64_t sum = 0, one = 1, got = 0;
    rmpsc_event_loop_t *lp = NULL;
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        CHECK(rmpsc_event_loop_new_with(c, sum_item, &sum, bad[b].wait, bad[b].pause_ns, &lp) == RMPSC_EINVAL);
        CHECK(lp == NULL);
    }
    size_t n;
    CHECK(rmpsc_ring_send(a, &one, 1, &n) == RMPSC_OK && n == 1);
    CHECK(rmpsc_mpsc_try_recv(c, &got) == RMPSC_OK && got == 1 && sum == 0);
    rmpsc_ring_free(a);
    rmpsc_mpsc_free(c);
}

/* A handler that asks the loop it runs in: a stop from it is refused (it
   would wait for itself), and its count answers while another thread is
   stopping the loop, which waits for this very handler. */
typedef struct {
    rmpsc_event_loop_t *lp;
    volatile int entered, stopping;
    int stop_rc;
    uint64_t seen;
} reentry_t;

static void reentrant_item(void *ctx, const void *item) {
    reentry_t *r = ctx;
    (void)item;
    r->stop_rc = rmpsc_event_loop_stop(r->lp, NULL);
    __atomic_store_n(&r->entered, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&r->stopping, __ATOMIC_SEQ_CST)) usleep(100);
    usleep(20000); /* the stopper is in its stop by now */
    r->seen = rmpsc_event_loop_processed(r->lp) + 1;
}

static void test_event_loop_reentry(void) {
    rmpsc_mpsc_t *c;
    rmpsc_ring_t *a;
    CHECK(rmpsc_mpsc_new(64, 8, 0, &c) == RMPSC_OK && rmpsc_mpsc_new_producer(c, &a) == RMPSC_OK);
    reentry_t r = {0};
    CHECK(rmpsc_event_loop_new(c, reentrant_item, &r, &r.lp) == RMPSC_OK);
    uint64_t one = 1;
    size_t n;
    CHECK(rmpsc_ring_send(a, &one, 1, &n) == RMPSC_OK && n == 1);
    while (!__atomic_load_n(&r.entered, __ATOMIC_SEQ_CST)) usleep(100);
    __atomic_store_n(&r.stopping, 1, __ATOMIC_SEQ_CST);
    uint64_t processed = 0;
    CHECK(rmpsc_event_loop_stop(r.lp, &processed) == RMPSC_OK && processed == 1);
    CHECK(r.stop_rc == RMPSC_EINVAL && r.seen == 1);
    rmpsc_event_loop_free(r.lp);
    rmpsc_ring_free(a);
    rmpsc_mpsc_free(c);
}

#if !defined(__SANITIZE_ADDRESS__) /* ASan aborts on a failed mapping itself */
/* Address space left to this process: its size now plus `slack` bytes. */
static rlim_t address_space_plus(size_t slack) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %llu kB", &kib) == 1) break;
    if (f) fclose(f);
    CHECK(kib > 0);
    return (rlim_t)kib * 1024 + slack;
}

static void ignore_item(void *ctx, const void *item) {
    (void)ctx;
    (void)item;
}

/* A loop whose thread cannot start (no address space for its stack) fails
   with EIO and leaves the channel's consumer side usable: nothing is lost.
   Run before any other thread: the C library keeps the stacks of ended
   threads for new ones, which would need no new mapping. */
static void test_event_loop_spawn_failure(void) {
    rmpsc_mpsc_t *c;
    rmpsc_ring_t *a;
    CHECK(rmpsc_mpsc_new(64, 8, 0, &c) == RMPSC_OK && rmpsc_mpsc_new_producer(c, &a) == RMPSC_OK);
    uint64_t one = 1, got = 0;
    size_t n;
    CHECK(rmpsc_ring_send(a, &one, 1, &n) == RMPSC_OK && n == 1);
    struct rlimit was;
    CHECK(getrlimit(RLIMIT_AS, &was) == 0);
    struct rlimit tight = {address_space_plus(256 << 10), was.rlim_max};
    CHECK(setrlimit(RLIMIT_AS, &tight) == 0);
    rmpsc_event_loop_t *lp = NULL;
    errno = 0;
    int rc = rmpsc_event_loop_new(c, ignore_item, NULL, &lp);
    int err = errno;
    CHECK(setrlimit(RLIMIT_AS, &was) == 0);
    CHECK(rc == RMPSC_EIO && (err == EAGAIN || err == ENOMEM));
    CHECK(rmpsc_mpsc_try_recv(c, &got) == RMPSC_OK && got == 1);
    /* And a loop can start once the limit is lifted. */
    if (rc == RMPSC_OK) rmpsc_event_loop_free(lp);
    CHECK(rmpsc_event_loop_new(c, ignore_item, NULL, &lp) == RMPSC_OK);
    rmpsc_event_loop_free(lp);
    rmpsc_ring_free(a);
    rmpsc_mpsc_free(c);
}
#endif

static void test_numa(void) {
    size_t nodes = rmpsc_numa_node_count(), id, cpu, count, cpus[256];
    CHECK(nodes >= 1);
    CHECK(rmpsc_numa_is_numa() == (nodes > 1));
    CHECK(rmpsc_numa_node_id(0, &id) == RMPSC_OK);
    CHECK(rmpsc_numa_node_id(nodes, &id) == RMPSC_EINVAL);
    CHECK(rmpsc_numa_node_cpus(id, cpus, 256, &count) == RMPSC_OK && count >= 1);
    CHECK(rmpsc_numa_node_cpus(9999, cpus, 256, &count) == RMPSC_EINVAL);
    CHECK(rmpsc_numa_current_cpu(&cpu) == RMPSC_OK);
    CHECK(rmpsc_numa_bind_to_cpu(cpu) == RMPSC_OK);
    size_t now;
    CHECK(rmpsc_numa_current_cpu(&now) == RMPSC_OK && now == cpu);
    CHECK(rmpsc_numa_node_of_cpu(cpu) == rmpsc_numa_current_node());
    CHECK(rmpsc_numa_bind_to_node(id) == RMPSC_OK);
    CHECK(rmpsc_numa_bind_to_node(9999) == RMPSC_EINVAL);
    CHECK(rmpsc_numa_nearest_node(id) < 9999);
    static char page[8192];
    int rc = rmpsc_numa_bind_memory(page, sizeof page, id); /* may be refused: placement is best effort */
    CHECK(rc == RMPSC_OK || rc == RMPSC_EIO);
    CHECK(rmpsc_numa_bind_memory(NULL, 1, id) == RMPSC_EINVAL);
    CHECK(rmpsc_numa_bind_memory(page, SIZE_MAX, id) == RMPSC_EINVAL); /* past the address space */

    /* Node-placed memory: zeroed, page-aligned, writable. */
    void *mem;
    CHECK(rmpsc_numa_alloc(100000, id, &mem) == RMPSC_OK);
    CHECK(((uintptr_t)mem & 4095) == 0);
    unsigned char *bytes = mem;
    CHECK(bytes[0] == 0 && bytes[99999] == 0);
    memset(mem, 0xab, 100000);
    rmpsc_numa_free(mem, 100000);
    CHECK(rmpsc_numa_alloc(64, 9999, &mem) == RMPSC_EINVAL);
    CHECK(rmpsc_numa_alloc((size_t)-1, id, &mem) == RMPSC_EINVAL);
    CHECK(rmpsc_numa_alloc(64, id, NULL) == RMPSC_EINVAL);
    rmpsc_numa_free(NULL, 64);
}

int main(void) {
    start_watchdog(120); /* a hang fails the run instead of stalling it */
#if !defined(__SANITIZE_ADDRESS__)
    test_event_loop_spawn_failure();
#endif
    test_numa();
    test_channel();
    test_notifier();
    test_work_stealing();
    test_consumer_api();
    test_event_loop_reentry();
    test_event_loop_waits();
    return finish("test_channel");
}
