/*
 * Zero-copy large messages between processes: payloads are written once
 * into slabs of a shared buffer pool and only 4-byte handles travel through
 * a shared ring.
 *
 *   pool_peer recv NAME COUNT   creates NAME.pool and NAME.ring, reads COUNT payloads in place
 *   pool_peer send NAME COUNT   attaches to both, writes COUNT payloads
 *
 * Payload `seq` is 8 bytes of sequence number followed by (seq*7919 % 60000)
 * + 1024 bytes of (i + seq) & 0xff; its slab length says how long it is.
 * The Python peer (python/examples/pool_peer.py) speaks the same format.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringmpsc.h"

#define SLAB (64 * 1024)

static size_t payload_len(uint64_t seq) { return 8 + 1024 + (size_t)((seq * 7919) % 60000); }

static int fail(const char *what, int rc) {
    fprintf(stderr, "pool_peer: %s: %s (%s)\n", what, rmpsc_error_describe(rc), rmpsc_error_message());
    return 1;
}

static int do_send(const char *pool_name, const char *ring_name, uint64_t count) {
    rmpsc_pool_t *pool;
    rmpsc_shared_ring_t *shared;
    rmpsc_ring_t *ring;
    int rc = rmpsc_pool_attach(pool_name, 10000000000LL, &pool);
    if (rc != RMPSC_OK) return fail("pool attach", rc);
    rc = rmpsc_shared_ring_attach(ring_name, sizeof(uint32_t), 10000000000LL, &shared);
    if (rc != RMPSC_OK) return fail("ring attach", rc);
    rc = rmpsc_shared_ring_take_producer(shared, &ring);
    if (rc != RMPSC_OK) return fail("producer", rc);
    for (uint64_t seq = 0; seq < count; seq++) {
        uint32_t h;
        while ((rc = rmpsc_pool_alloc(pool, &h)) == RMPSC_EFULL) {
            /* Every slab is in flight: wait for the consumer to free one. */
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        }
        if (rc != RMPSC_OK) return fail("alloc", rc);
        void *slab;
        size_t cap;
        rc = rmpsc_pool_get_writable(pool, h, &slab, &cap);
        if (rc != RMPSC_OK) return fail("get_writable", rc);
        size_t len = payload_len(seq);
        uint8_t *p = slab;
        for (int i = 0; i < 8; i++) p[i] = (uint8_t)(seq >> (8 * i));
        for (size_t i = 8; i < len; i++) p[i] = (uint8_t)(i + seq);
        rc = rmpsc_pool_set_len(pool, h, len);
        if (rc != RMPSC_OK) return fail("set_len", rc);
        rc = rmpsc_ring_send_blocking(ring, &h, 1, -1, &(size_t){0});
        if (rc != RMPSC_OK) return fail("send", rc);
    }
    rmpsc_ring_free(ring); /* closes the ring */
    rmpsc_shared_ring_free(shared);
    rmpsc_pool_free(pool);
    return 0;
}

static int do_recv(const char *pool_name, const char *ring_name, uint64_t count) {
    rmpsc_pool_t *pool;
    rmpsc_shared_ring_t *shared;
    rmpsc_ring_t *ring;
    int rc = rmpsc_pool_create(pool_name, SLAB, 64, &pool);
    if (rc != RMPSC_OK) return fail("pool create", rc);
    rc = rmpsc_shared_ring_create(ring_name, 64, sizeof(uint32_t), &shared);
    if (rc != RMPSC_OK) return fail("ring create", rc);
    rc = rmpsc_shared_ring_take_consumer(shared, &ring);
    if (rc != RMPSC_OK) return fail("consumer", rc);
    uint64_t seq = 0, bytes = 0;
    for (;;) {
        uint32_t h;
        size_t got;
        rc = rmpsc_ring_recv_blocking(ring, &h, 1, 30000000000LL, &got);
        if (rc == RMPSC_ECLOSED) break;
        if (rc != RMPSC_OK) return fail("recv", rc);
        const void *data;
        size_t len;
        rc = rmpsc_pool_get(pool, h, &data, &len);
        if (rc != RMPSC_OK) return fail("get", rc);
        const uint8_t *p = data;
        uint64_t s = 0;
        for (int i = 0; i < 8; i++) s |= (uint64_t)p[i] << (8 * i);
        int ok = s == seq && len == payload_len(seq);
        for (size_t i = 8; ok && i < len; i++) ok = p[i] == (uint8_t)(i + seq);
        if (!ok) {
            fprintf(stderr, "pool_peer: payload %" PRIu64 " is wrong\n", seq);
            return 1;
        }
        bytes += len;
        rc = rmpsc_pool_release(pool, h);
        if (rc != RMPSC_OK) return fail("release", rc);
        seq++;
    }
    rmpsc_pool_unlink(pool);
    rmpsc_shared_ring_unlink(shared);
    rmpsc_ring_free(ring);
    rmpsc_shared_ring_free(shared);
    rmpsc_pool_free(pool);
    if (seq != count) {
        fprintf(stderr, "pool_peer: received %" PRIu64 " of %" PRIu64 "\n", seq, count);
        return 1;
    }
    printf("C pool receiver: %" PRIu64 " payloads, %.1f MB read in place, all intact\n", seq,
           (double)bytes / 1e6);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[1], "send") != 0 && strcmp(argv[1], "recv") != 0)) {
        fprintf(stderr, "usage: pool_peer send|recv NAME COUNT\n");
        return 2;
    }
    char pool_name[256], ring_name[256];
    snprintf(pool_name, sizeof pool_name, "%s.pool", argv[2]);
    snprintf(ring_name, sizeof ring_name, "%s.ring", argv[2]);
    uint64_t count = strtoull(argv[3], NULL, 10);
    return strcmp(argv[1], "send") == 0 ? do_send(pool_name, ring_name, count)
                                        : do_recv(pool_name, ring_name, count);
}
