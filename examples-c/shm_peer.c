/*
 * One end of a cross-process, cross-language message stream over a named
 * ringmpsc message ring.
 *
 *   shm_peer recv NAME COUNT   creates the ring, receives COUNT messages, checks each
 *   shm_peer send NAME COUNT   attaches to the ring, sends COUNT messages
 *
 * Message `seq` is its 8-byte little-endian sequence number followed by a
 * slice of a fixed byte pattern whose length (0..1000) and offset follow
 * from `seq`; its type is the CRC-32 of the whole message masked to 31 bits.
 * The Python (python/examples/shm_peer.py) and Rust
 * (ringcore/examples/shm_peer.rs) peers speak the same format, so any two
 * can be paired. The receiver prints messages, bytes and rate.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringmpsc.h"

static uint8_t pattern[4096];
static uint32_t crc_table[256];

static void init_tables(void) {
    for (int i = 0; i < 4096; i++) pattern[i] = (uint8_t)(i & 0xff);
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/* Builds message `seq` into buf (room for 1008 bytes); returns its length. */
static size_t message(uint64_t seq, uint8_t *buf) {
    size_t len = (size_t)(((seq * 2654435761ull) >> 7) % 1001);
    size_t off = (size_t)(seq % 251);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(seq >> (8 * i));
    memcpy(buf + 8, pattern + off, len);
    return 8 + len;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int fail(const char *what, int rc) {
    fprintf(stderr, "shm_peer: %s: %s (%s)\n", what, rmpsc_error_describe(rc), rmpsc_error_message());
    return 1;
}

static int do_send(const char *name, uint64_t count) {
    rmpsc_msg_ring_t *ring;
    int rc = rmpsc_msg_ring_attach(name, 10000000000LL, &ring);
    if (rc != RMPSC_OK) return fail("attach", rc);
    rmpsc_msg_sender_t *tx;
    rc = rmpsc_msg_sender_new(ring, &tx);
    if (rc != RMPSC_OK) return fail("sender", rc);
    uint8_t *buf;
    for (uint64_t seq = 0; seq < count; seq++) {
        /* Zero copy: build the message straight into the ring. */
        size_t len = (size_t)(((seq * 2654435761ull) >> 7) % 1001) + 8;
        for (;;) {
            rc = rmpsc_msg_sender_claim(tx, len, (void **)&buf);
            if (rc != RMPSC_EFULL) break;
            /* Full: wait (on the ring's futex) by sending this one blocking. */
            uint8_t tmp[1008];
            size_t n = message(seq, tmp);
            rc = rmpsc_msg_sender_send_blocking(tx, crc32(tmp, n) & 0x7fffffffu, tmp, n, -1);
            if (rc != RMPSC_OK) return fail("send_blocking", rc);
            buf = NULL;
            break;
        }
        if (buf == NULL) continue;
        if (rc != RMPSC_OK) return fail("claim", rc);
        size_t n = message(seq, buf);
        rc = rmpsc_msg_sender_commit(tx, crc32(buf, n) & 0x7fffffffu, n);
        if (rc != RMPSC_OK) return fail("commit", rc);
    }
    rmpsc_msg_sender_free(tx); /* closes the ring: the receiver sees the end */
    rmpsc_msg_ring_free(ring);
    return 0;
}

static int do_recv(const char *name, uint64_t count) {
    rmpsc_msg_ring_t *ring;
    int rc = rmpsc_msg_ring_create(name, 1 << 20, &ring);
    if (rc != RMPSC_OK) return fail("create", rc);
    rmpsc_msg_receiver_t *rx;
    rc = rmpsc_msg_receiver_new(ring, &rx);
    if (rc != RMPSC_OK) return fail("receiver", rc);
    uint8_t expect[1008];
    uint64_t seq = 0, bytes = 0;
    double t0 = 0;
    for (;;) {
        uint32_t type;
        const void *data;
        size_t len;
        rc = rmpsc_msg_receiver_recv_blocking(rx, 30000000000LL, &type, &data, &len);
        if (rc == RMPSC_ECLOSED) break;
        if (rc != RMPSC_OK) return fail("recv", rc);
        if (seq == 0) t0 = now();
        size_t n = message(seq, expect);
        if (len != n || memcmp(data, expect, n) != 0 || type != (crc32(data, len) & 0x7fffffffu)) {
            fprintf(stderr, "shm_peer: message %" PRIu64 " is wrong (len %zu, expected %zu)\n", seq, len, n);
            return 1;
        }
        bytes += len;
        seq++;
        rc = rmpsc_msg_receiver_release(rx);
        if (rc != RMPSC_OK) return fail("release", rc);
    }
    double secs = now() - t0;
    rmpsc_msg_ring_unlink(ring);
    rmpsc_msg_receiver_free(rx);
    rmpsc_msg_ring_free(ring);
    if (seq != count) {
        fprintf(stderr, "shm_peer: received %" PRIu64 " of %" PRIu64 " messages\n", seq, count);
        return 1;
    }
    printf("C receiver: %" PRIu64 " messages, %.1f MB, all in order and intact, %.2f M msg/s, %.0f MB/s\n",
           seq, (double)bytes / 1e6, (double)seq / secs / 1e6, (double)bytes / secs / 1e6);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[1], "send") != 0 && strcmp(argv[1], "recv") != 0)) {
        fprintf(stderr, "usage: shm_peer send|recv NAME COUNT\n");
        return 2;
    }
    init_tables();
    uint64_t count = strtoull(argv[3], NULL, 10);
    return strcmp(argv[1], "send") == 0 ? do_send(argv[2], count) : do_recv(argv[2], count);
}
