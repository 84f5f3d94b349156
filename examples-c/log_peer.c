/*
 * One end of a persistent log shared across processes and languages.
 *
 *   log_peer write PATH COUNT   appends records 0..COUNT to the log at PATH, then closes it
 *   log_peer read  PATH COUNT   replays the log from its start (tailing it live while a
 *                               writer is still appending) and checks COUNT records
 *   log_peer live  PATH COUNT   joins at the end of what is committed now and checks
 *                               that what follows is in order up to record COUNT-1
 *
 * Record `seq` has the message format of shm_peer.c (an 8-byte sequence
 * number, then 0..1000 bytes of a pattern); its type is the CRC-32 of the
 * payload masked to 31 bits and its timestamp field is `seq`. Small regions
 * (64 KiB) and files (1 MiB) make every run cross many of both. The Python
 * (python/examples/log_peer.py) and Rust (ringcore/examples/log_peer.rs)
 * peers do the same, so any two can be paired.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static size_t message_len(uint64_t seq) { return (size_t)(((seq * 2654435761ull) >> 7) % 1001) + 8; }

/* Builds record `seq` into buf (room for 1008 bytes); returns its length. */
static size_t message(uint64_t seq, uint8_t *buf) {
    size_t len = message_len(seq) - 8;
    size_t off = (size_t)(seq % 251);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(seq >> (8 * i));
    memcpy(buf + 8, pattern + off, len);
    return 8 + len;
}

static int fail(const char *what, int rc) {
    fprintf(stderr, "log_peer: %s: %s (%s)\n", what, rmpsc_error_describe(rc), rmpsc_error_message());
    return 1;
}

static int do_write(const char *path, uint64_t count) {
    rmpsc_log_options_t opts = {0};
    opts.region_size = 64 << 10;
    opts.file_size = 1 << 20;
    rmpsc_log_writer_t *w;
    int rc = rmpsc_log_writer_open(path, &opts, &w);
    if (rc != RMPSC_OK) return fail("open", rc);
    for (uint64_t seq = 0; seq < count; seq++) {
        uint8_t *buf;
        /* Zero copy for even records, a copy for odd ones. */
        if (seq % 2 == 0) {
            rc = rmpsc_log_writer_reserve(w, message_len(seq), (void **)&buf);
            if (rc != RMPSC_OK) return fail("reserve", rc);
            size_t n = message(seq, buf);
            rc = rmpsc_log_writer_commit(w, crc32(buf, n) & 0x7fffffffu, n, seq, NULL);
        } else {
            uint8_t tmp[1008];
            size_t n = message(seq, tmp);
            rc = rmpsc_log_writer_append(w, crc32(tmp, n) & 0x7fffffffu, tmp, n, seq, NULL);
        }
        if (rc != RMPSC_OK) return fail("append", rc);
    }
    rmpsc_log_writer_free(w); /* closes the log: readers see the end */
    return 0;
}

static int check(const rmpsc_log_message_t *m, uint64_t seq) {
    uint8_t expect[1008];
    size_t n = message(seq, expect);
    if (m->index != seq || m->timestamp != seq || m->len != n || memcmp(m->data, expect, n) != 0 ||
        m->msg_type != (crc32(m->data, m->len) & 0x7fffffffu)) {
        fprintf(stderr, "log_peer: record %" PRIu64 " is wrong (index %" PRIu64 ", len %zu)\n", seq, m->index,
                m->len);
        return 1;
    }
    return 0;
}

static int do_read(const char *path, uint64_t count, int live) {
    rmpsc_log_reader_t *r;
    int rc;
    /* The writer may not have created the log yet. */
    for (int tries = 0;; tries++) {
        rc = rmpsc_log_reader_open(path, live, &r);
        if (rc == RMPSC_OK) break;
        if (rc != RMPSC_EIO || tries > 2000) return fail("open", rc);
        usleep(5000);
    }
    if (live) {
        uint64_t at;
        rmpsc_log_reader_next_index(r, &at);
        printf("joined at %" PRIu64 "\n", at);
        fflush(stdout);
    }
    uint64_t seq = 0, first = 0, bytes = 0;
    int started = 0;
    rmpsc_log_message_t batch[256];
    for (;;) {
        size_t n;
        rc = rmpsc_log_reader_read_batch(r, batch, 256, &n);
        if (rc != RMPSC_OK) return fail("read_batch", rc);
        if (n == 0) {
            /* Nothing new: wait for the next record (or the writer's close). */
            rc = rmpsc_log_reader_read_blocking(r, 30000000000LL, batch);
            if (rc == RMPSC_ECLOSED) break;
            if (rc != RMPSC_OK) return fail("read_blocking", rc);
            n = 1;
        }
        for (size_t i = 0; i < n; i++) {
            if (!started) {
                started = 1;
                first = seq = batch[i].index;
            }
            if (check(&batch[i], seq)) return 1;
            bytes += batch[i].len;
            seq++;
        }
    }
    int status = 0;
    rc = rmpsc_log_reader_writer_status(r, &status);
    rmpsc_log_reader_free(r);
    if (rc != RMPSC_OK || status != RMPSC_LOG_WRITER_CLOSED) {
        fprintf(stderr, "log_peer: writer status %d after the end\n", status);
        return 1;
    }
    if (seq != count || (!live && first != 0)) {
        fprintf(stderr, "log_peer: read records %" PRIu64 "..%" PRIu64 " of %" PRIu64 "\n", first, seq, count);
        return 1;
    }
    printf("C reader: records %" PRIu64 "..%" PRIu64 ", %.1f MB, all in order and intact\n", first, seq,
           (double)bytes / 1e6);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: log_peer write|read|live PATH COUNT\n");
        return 2;
    }
    init_tables();
    uint64_t count = strtoull(argv[3], NULL, 10);
    if (strcmp(argv[1], "write") == 0) return do_write(argv[2], count);
    if (strcmp(argv[1], "read") == 0) return do_read(argv[2], count, 0);
    if (strcmp(argv[1], "live") == 0) return do_read(argv[2], count, 1);
    fprintf(stderr, "usage: log_peer write|read|live PATH COUNT\n");
    return 2;
}
