/*
 * Checks of the C ring API: every error path returns its code and leaves
 * the ring usable; nothing is lost or torn.
 */
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static void test_arguments(void) {
    rmpsc_ring_t *ring = NULL;
    CHECK(rmpsc_ring_new(3, 8, &ring) == RMPSC_EINVAL);
    CHECK(strstr(rmpsc_error_message(), "power of two") != NULL);
    CHECK(rmpsc_ring_new(4, 0, &ring) == RMPSC_EINVAL);
    CHECK(rmpsc_ring_new(4, 8, NULL) == RMPSC_EINVAL);
    CHECK(ring == NULL); /* out-params are written only on success */
    CHECK(rmpsc_ring_commit(NULL, 1) == RMPSC_EINVAL);
    CHECK(rmpsc_ring_len(NULL) == 0);
    rmpsc_ring_free(NULL);
    CHECK(strcmp(rmpsc_error_describe(RMPSC_EFULL), "full") == 0);
}

static void test_full_empty_closed(void) {
    rmpsc_ring_t *ring;
    CHECK(rmpsc_ring_new(4, sizeof(uint32_t), &ring) == RMPSC_OK);
    CHECK(rmpsc_ring_capacity(ring) == 4);
    uint32_t out = 0;
    CHECK(rmpsc_ring_try_recv(ring, &out) == RMPSC_EEMPTY);

    uint32_t items[6] = {1, 2, 3, 4, 5, 6};
    size_t sent = 99;
    CHECK(rmpsc_ring_send(ring, items, 6, &sent) == RMPSC_OK);
    CHECK(sent == 4);
    CHECK(rmpsc_ring_len(ring) == 4);
    CHECK(rmpsc_ring_try_send(ring, &items[4]) == RMPSC_EFULL);
    CHECK(rmpsc_ring_try_send(ring, NULL) == RMPSC_EINVAL);
    CHECK(rmpsc_ring_try_send(NULL, &items[4]) == RMPSC_EINVAL);
    void *slots;
    size_t count = 77;
    CHECK(rmpsc_ring_reserve(ring, 1, &slots, &count) == RMPSC_EFULL);
    CHECK(count == 77);
    CHECK(rmpsc_ring_send_blocking(ring, items, 1, 1000000, &sent) == RMPSC_ETIMEDOUT);
    CHECK(sent == 4); /* untouched on failure */
    CHECK(rmpsc_ring_send_blocking(ring, items, 0, 0, &sent) == RMPSC_EINVAL);

    CHECK(rmpsc_ring_try_recv(ring, &out) == RMPSC_OK && out == 1);
    const void *readable;
    CHECK(rmpsc_ring_peek(ring, &readable, &count) == RMPSC_OK);
    CHECK(count == 3 && ((const uint32_t *)readable)[0] == 2);
    CHECK(rmpsc_ring_advance(ring, 4) == RMPSC_EINVAL); /* more than readable */
    CHECK(rmpsc_ring_advance(ring, 1) == RMPSC_OK);

    /* Reserve at the wrap: tail is at index 0 again, head at 2. */
    CHECK(rmpsc_ring_reserve(ring, 4, &slots, &count) == RMPSC_OK);
    CHECK(count == 2);
    ((uint32_t *)slots)[0] = 7;
    ((uint32_t *)slots)[1] = 8;
    CHECK(rmpsc_ring_commit(ring, 3) == RMPSC_EINVAL); /* more than reserved */
    CHECK(rmpsc_ring_commit(ring, 2) == RMPSC_OK);

    uint32_t buf[8];
    size_t got;
    CHECK(rmpsc_ring_recv(ring, buf, 8, &got) == RMPSC_OK);
    CHECK(got == 4 && buf[0] == 3 && buf[1] == 4 && buf[2] == 7 && buf[3] == 8);
    CHECK(rmpsc_ring_recv_blocking(ring, buf, 8, 1000000, &got) == RMPSC_ETIMEDOUT);

    CHECK(rmpsc_ring_try_send(ring, &items[0]) == RMPSC_OK);
    CHECK(rmpsc_ring_close(ring) == RMPSC_OK);
    CHECK(rmpsc_ring_is_closed(ring));
    CHECK(rmpsc_ring_send(ring, items, 1, &sent) == RMPSC_ECLOSED);
    CHECK(rmpsc_ring_try_send(ring, &items[0]) == RMPSC_ECLOSED);
    CHECK(rmpsc_ring_try_recv(ring, &out) == RMPSC_OK && out == 1); /* drained first */
    CHECK(rmpsc_ring_try_recv(ring, &out) == RMPSC_ECLOSED);
    CHECK(rmpsc_ring_peek(ring, &readable, &count) == RMPSC_ECLOSED);
    CHECK(rmpsc_ring_recv_blocking(ring, buf, 1, -1, &got) == RMPSC_ECLOSED);

    /* Reset: what is left goes, the ring reopens and takes a full lap. */
    CHECK(rmpsc_ring_reset(NULL) == RMPSC_EINVAL);
    CHECK(rmpsc_ring_reset(ring) == RMPSC_OK);
    CHECK(!rmpsc_ring_is_closed(ring) && rmpsc_ring_len(ring) == 0);
    CHECK(rmpsc_ring_send(ring, items, 6, &sent) == RMPSC_OK && sent == 4);
    CHECK(rmpsc_ring_reserve(ring, 1, &slots, &count) == RMPSC_EFULL);
    CHECK(rmpsc_ring_reset(ring) == RMPSC_OK);
    CHECK(rmpsc_ring_len(ring) == 0);
    CHECK(rmpsc_ring_send(ring, items + 4, 2, &sent) == RMPSC_OK && sent == 2);
    CHECK(rmpsc_ring_recv(ring, buf, 8, &got) == RMPSC_OK);
    CHECK(got == 2 && buf[0] == 5 && buf[1] == 6);
    rmpsc_ring_free(ring);
}

static void *blocked_reader(void *arg) {
    uint64_t v;
    size_t got;
    int rc = rmpsc_ring_recv_blocking(arg, &v, 1, 2000000000, &got);
    return (void *)(intptr_t)rc;
}

static void test_busy_side_and_close_wakes(void) {
    rmpsc_ring_t *ring;
    CHECK(rmpsc_ring_new(8, sizeof(uint64_t), &ring) == RMPSC_OK);
    pthread_t t;
    pthread_create(&t, NULL, blocked_reader, ring);
    usleep(50000); /* the reader is now asleep inside the consumer side */
    uint64_t v;
    CHECK(rmpsc_ring_try_recv(ring, &v) == RMPSC_EBUSY);
    CHECK(strstr(rmpsc_error_message(), "consumer") != NULL);
    CHECK(rmpsc_ring_reset(ring) == RMPSC_EBUSY); /* needs both sides */
    /* The producer side is free and a close wakes the sleeper. */
    CHECK(rmpsc_ring_close(ring) == RMPSC_OK);
    void *rc;
    pthread_join(t, &rc);
    CHECK((intptr_t)rc == RMPSC_ECLOSED);
    rmpsc_ring_free(ring);
}

int main(void) {
    start_watchdog(120); /* a hang fails the run instead of stalling it */
    test_arguments();
    test_full_empty_closed();
    test_busy_side_and_close_wakes();
    return finish("test_ring");
}
