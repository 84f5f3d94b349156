/*
 * Checks of the C log API in one process: options, zero-copy reserve and
 * commit, replay across rolls, live readers, positions and seeks, batches,
 * blocking reads, the single-writer guard, retention, and corrupt files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static char dir[64], path[128];

static rmpsc_log_options_t small(void) {
    rmpsc_log_options_t o = {0};
    long page = sysconf(_SC_PAGESIZE);
    o.region_size = (uint64_t)page;     /* a page per region, */
    o.file_size = 2 * (uint64_t)page;   /* two regions per file */
    return o;
}

static size_t payload(uint64_t i, uint8_t *buf) {
    size_t len = (size_t)(i * 37 % 300);
    for (size_t k = 0; k < len; k++) buf[k] = (uint8_t)(i + k);
    return len;
}

static void test_write_and_replay(void) {
    rmpsc_log_options_t o = small();
    rmpsc_log_writer_t *w = NULL, *w2 = NULL;
    CHECK(rmpsc_log_writer_open(NULL, &o, &w) == RMPSC_EINVAL);
    o.region_size = 1000;
    CHECK(rmpsc_log_writer_open(path, &o, &w) == RMPSC_EINVAL); /* not a page multiple */
    o = small();
    o.durability = 9;
    CHECK(rmpsc_log_writer_open(path, &o, &w) == RMPSC_EINVAL);
    o = small();
    o.prefault = true; /* a thread faults pages in ahead of the writer */
    CHECK(rmpsc_log_writer_open(path, &o, &w) == RMPSC_OK);
    CHECK(rmpsc_log_writer_open(path, &o, &w2) == RMPSC_EBUSY); /* one writer */
    size_t mtu = rmpsc_log_writer_mtu(w);
    void *buf;
    CHECK(rmpsc_log_writer_reserve(w, mtu + 1, &buf) == RMPSC_ETOOLARGE);
    uint8_t tmp[512];
    for (uint64_t i = 0; i < 1000; i++) {
        uint64_t index = 99;
        size_t n = payload(i, tmp);
        if (i % 2) {
            CHECK(rmpsc_log_writer_append(w, (uint32_t)i, tmp, n, i, &index) == RMPSC_OK);
        } else {
            CHECK(rmpsc_log_writer_reserve(w, n, &buf) == RMPSC_OK);
            memcpy(buf, tmp, n);
            CHECK(rmpsc_log_writer_commit(w, (uint32_t)i, n, i, &index) == RMPSC_OK);
        }
        CHECK(index == i);
    }
    CHECK(rmpsc_log_writer_commit(w, 0, 1, 0, NULL) == RMPSC_EINVAL); /* no reservation */
    CHECK(rmpsc_log_writer_abort(w) == RMPSC_OK);
    uint64_t next;
    rmpsc_log_position_t wpos;
    CHECK(rmpsc_log_writer_next_index(w, &next) == RMPSC_OK && next == 1000);
    CHECK(rmpsc_log_writer_position(w, &wpos) == RMPSC_OK && wpos.file > 5);

    rmpsc_log_reader_t *r;
    /* No such log: errno says so, not some older call's error. */
    errno = 0;
    CHECK(rmpsc_log_reader_open("/nonexistent-ringmpsc-log", false, &r) == RMPSC_EIO && errno == ENOENT);
    CHECK(rmpsc_log_reader_open(path, false, &r) == RMPSC_OK);
    rmpsc_log_message_t m;
    for (uint64_t i = 0; i < 1000; i++) {
        CHECK(rmpsc_log_reader_read(r, &m) == RMPSC_OK);
        size_t n = payload(i, tmp);
        CHECK(m.index == i && m.msg_type == (uint32_t)i && m.timestamp == i);
        CHECK(m.len == n && (n == 0 || memcmp(m.data, tmp, n) == 0));
    }
    CHECK(rmpsc_log_reader_read(r, &m) == RMPSC_EEMPTY);
    CHECK(rmpsc_log_reader_read_blocking(r, 10000000, &m) == RMPSC_ETIMEDOUT);
    int status = 0;
    CHECK(rmpsc_log_reader_writer_status(r, &status) == RMPSC_OK && status == RMPSC_LOG_WRITER_ACTIVE);
    CHECK(rmpsc_log_writer_append(w, 1, "end", 3, 7, NULL) == RMPSC_OK);
    CHECK(rmpsc_log_reader_read_blocking(r, -1, &m) == RMPSC_OK && m.len == 3);
    rmpsc_log_writer_free(w);
    CHECK(rmpsc_log_reader_read_blocking(r, -1, &m) == RMPSC_ECLOSED);
    CHECK(rmpsc_log_reader_writer_status(r, &status) == RMPSC_OK && status == RMPSC_LOG_WRITER_CLOSED);
    rmpsc_log_reader_free(r);
    rmpsc_log_writer_free(NULL);
    rmpsc_log_reader_free(NULL);
    CHECK(rmpsc_log_reader_writer_status(NULL, &status) == RMPSC_EINVAL);
}

static void test_positions_batches_and_live(void) {
    rmpsc_log_reader_t *r, *at, *live;
    rmpsc_log_message_t m;
    CHECK(rmpsc_log_reader_open_at_index(path, 500, &at) == RMPSC_OK);
    CHECK(rmpsc_log_reader_read(at, &m) == RMPSC_OK && m.index == 500);
    rmpsc_log_position_t p = m.position;
    rmpsc_log_reader_free(at);
    CHECK(rmpsc_log_reader_open_at(path, &p, &r) == RMPSC_OK);
    CHECK(rmpsc_log_reader_read(r, &m) == RMPSC_OK && m.index == 500);
    p.offset += 8;
    CHECK(rmpsc_log_reader_seek(r, &p) == RMPSC_EINVAL); /* not a boundary */
    p.file = 0;
    p.offset = 256;
    CHECK(rmpsc_log_reader_seek(r, &p) == RMPSC_OK);
    uint64_t next;
    CHECK(rmpsc_log_reader_next_index(r, &next) == RMPSC_OK && next == 0);
    rmpsc_log_message_t batch[64];
    uint64_t seen = 0;
    size_t n;
    for (;;) {
        CHECK(rmpsc_log_reader_read_batch(r, batch, 64, &n) == RMPSC_OK);
        if (n == 0) break;
        for (size_t i = 0; i < n; i++) CHECK(batch[i].index == seen++);
    }
    CHECK(seen == 1001);
    CHECK(rmpsc_log_reader_read_batch(r, NULL, 64, &n) == RMPSC_EINVAL);
    CHECK(rmpsc_log_reader_open_at_index(path, 5000, &at) == RMPSC_EINVAL); /* not written */
    rmpsc_log_reader_free(r);

    /* A new writer reopens the log; a live reader sees only what follows. */
    rmpsc_log_writer_t *w;
    CHECK(rmpsc_log_writer_open(path, NULL, &w) == RMPSC_OK); /* the log's own geometry */
    CHECK(rmpsc_log_reader_open(path, true, &live) == RMPSC_OK);
    CHECK(rmpsc_log_reader_read(live, &m) == RMPSC_EEMPTY);
    uint64_t index;
    CHECK(rmpsc_log_writer_append(w, 2, "live", 4, 0, &index) == RMPSC_OK && index == 1001);
    CHECK(rmpsc_log_reader_read(live, &m) == RMPSC_OK && m.index == 1001 && memcmp(m.data, "live", 4) == 0);
    CHECK(rmpsc_log_writer_roll(w) == RMPSC_OK);
    CHECK(rmpsc_log_writer_flush(w) == RMPSC_OK);
    rmpsc_log_writer_free(w);
    rmpsc_log_reader_free(live);
}

static void test_retention_and_corruption(void) {
    char p2[160];
    snprintf(p2, sizeof p2, "%s/kept", dir);
    rmpsc_log_options_t o = small();
    o.retention_files = 2;
    rmpsc_log_writer_t *w;
    CHECK(rmpsc_log_writer_open(p2, &o, &w) == RMPSC_OK);
    rmpsc_log_reader_t *slow, *r;
    CHECK(rmpsc_log_reader_open(p2, false, &slow) == RMPSC_OK);
    uint8_t tmp[512];
    for (uint64_t i = 0; i < 2000; i++) {
        size_t n = payload(i, tmp);
        CHECK(rmpsc_log_writer_append(w, 0, tmp, n, i, NULL) == RMPSC_OK);
    }
    rmpsc_log_message_t m;
    int rc;
    while ((rc = rmpsc_log_reader_read(slow, &m)) == RMPSC_OK) {
    }
    CHECK(rc == RMPSC_EBEHIND);
    CHECK(rmpsc_log_reader_open_at_index(p2, 0, &r) == RMPSC_EBEHIND);
    rmpsc_log_reader_free(slow);
    rmpsc_log_writer_free(w);

    /* A record length pointing past its region: an error with its offset. */
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    uint32_t huge = 0xffffffffu;
    CHECK(pwrite(fd, &huge, 4, 256) == 4);
    CHECK(rmpsc_log_reader_open(path, false, &r) == RMPSC_OK);
    CHECK(rmpsc_log_reader_read(r, &m) == RMPSC_ECORRUPT);
    CHECK(strstr(rmpsc_error_message(), "0x100") != NULL);
    rmpsc_log_reader_free(r);
    /* A flipped payload byte: the record's checksum catches it. */
    char p3[300];
    snprintf(p3, sizeof p3, "%s/crc", dir);
    rmpsc_log_options_t co = {0};
    CHECK(rmpsc_log_writer_open(p3, &co, &w) == RMPSC_OK);
    CHECK(rmpsc_log_writer_append(w, 1, "checked", 7, 0, NULL) == RMPSC_OK);
    rmpsc_log_writer_free(w);
    int cfd = open(p3, O_RDWR);
    CHECK(cfd >= 0 && pwrite(cfd, "X", 1, 256 + 24) == 1);
    close(cfd);
    CHECK(rmpsc_log_reader_open(p3, false, &r) == RMPSC_OK);
    CHECK(rmpsc_log_reader_read(r, &m) == RMPSC_ECORRUPT);
    CHECK(strstr(rmpsc_error_message(), "checksum") != NULL);
    rmpsc_log_reader_free(r);
    co.no_checksums = true;
    CHECK(rmpsc_log_writer_open(p3, &co, &w) == RMPSC_EINVAL); /* the log has them */
    /* A truncated file, then a file of zeros. */
    CHECK(ftruncate(fd, 1000) == 0);
    CHECK(rmpsc_log_reader_open(path, false, &r) == RMPSC_EHEADER);
    CHECK(strstr(rmpsc_error_message(), "truncated") != NULL);
    CHECK(ftruncate(fd, 0) == 0 && ftruncate(fd, 8192) == 0);
    CHECK(rmpsc_log_reader_open(path, false, &r) == RMPSC_EHEADER);
    close(fd);
}

int main(void) {
    start_watchdog(120); /* a hang fails the run instead of stalling it */
    snprintf(dir, sizeof dir, "/tmp/rmpsc-ctest-log-%d", (int)getpid());
    snprintf(path, sizeof path, "%s/log", dir);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    if (system(cmd) != 0) return 1;
    test_write_and_replay();
    test_positions_batches_and_live();
    test_retention_and_corruption();
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    return finish("test_log");
}
