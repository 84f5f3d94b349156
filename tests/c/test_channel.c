/*
 * The C MPSC channel: producer threads registered through the API each
 * send sequence-numbered items; the consumer checks per-producer order and
 * that nothing is lost. Also the eventfd notifier with poll().
 */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ringmpsc.h"

#define PRODUCERS 4
#define PER 200000

static int failures = 0;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK(%s) failed (last error: %s)\n",      \
                    __FILE__, __LINE__, #cond, rmpsc_last_error());            \
            failures++;                                                        \
        }                                                                      \
    } while (0)

typedef struct {
    uint32_t producer;
    uint32_t pad;
    uint64_t seq;
} item_t;

static rmpsc_mpsc_t *ch;

static void *produce(void *arg) {
    uint32_t id = (uint32_t)(uintptr_t)arg;
    rmpsc_ring_t *tx;
    if (rmpsc_mpsc_register(ch, &tx) != RMPSC_OK) {
        failures++;
        return NULL;
    }
    for (uint64_t s = 0; s < PER; s++) {
        item_t it = {id, 0, s};
        if (rmpsc_ring_send_blocking(tx, &it, 1, -1, NULL) != RMPSC_OK) {
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
    CHECK(rmpsc_mpsc_new(1024, sizeof(item_t), &ch) == RMPSC_OK);
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
    CHECK(rmpsc_mpsc_consume(ch, NULL, NULL, 1, NULL) == RMPSC_EINVAL);
    CHECK(rmpsc_mpsc_close(ch) == RMPSC_OK);
    CHECK(rmpsc_mpsc_is_drained(ch));
    rmpsc_ring_t *late;
    CHECK(rmpsc_mpsc_register(ch, &late) == RMPSC_ECLOSED);
    item_t out[4];
    size_t got;
    CHECK(rmpsc_mpsc_recv(ch, out, 4, &got) == RMPSC_ECLOSED);
    rmpsc_mpsc_free(ch);
}

static void test_notifier(void) {
    rmpsc_notifier_t *n;
    CHECK(rmpsc_notifier_new(&n) == RMPSC_OK);
    rmpsc_mpsc_t *c;
    CHECK(rmpsc_mpsc_new(16, 8, &c) == RMPSC_OK);
    CHECK(rmpsc_mpsc_set_notifier(c, n) == RMPSC_OK);
    rmpsc_ring_t *tx;
    CHECK(rmpsc_mpsc_register(c, &tx) == RMPSC_OK);
    struct pollfd p = {rmpsc_notifier_fd(n), POLLIN, 0};
    CHECK(poll(&p, 1, 0) == 0); /* nothing yet */
    uint64_t v = 42;
    size_t sent;
    CHECK(rmpsc_ring_send(tx, &v, 1, &sent) == RMPSC_OK && sent == 1);
    CHECK(poll(&p, 1, 1000) == 1 && (p.revents & POLLIN));
    CHECK(rmpsc_notifier_consume(n) == 1);
    uint64_t out;
    size_t got;
    CHECK(rmpsc_mpsc_recv(c, &out, 1, &got) == RMPSC_OK && got == 1 && out == 42);
    rmpsc_ring_free(tx);
    rmpsc_mpsc_free(c);
    rmpsc_notifier_free(n);
}

int main(void) {
    test_channel();
    test_notifier();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_channel: all checks passed\n");
    return 0;
}
