/*
 * Checks of the C shared-memory API in one process: attach refusals,
 * sides as ring handles, busy sides, message rings, pools and descriptor
 * passing over a socketpair.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static char name[64];

static void test_shared_ring(void) {
    snprintf(name, sizeof name, "rmpsc-ctest-%d", (int)getpid());
    rmpsc_shared_ring_t *a = NULL, *b = NULL;
    CHECK(rmpsc_shared_ring_create(name, 3, 8, &a) == RMPSC_EINVAL); /* capacity */
    CHECK(rmpsc_shared_ring_create(name, 8, 8, &a) == RMPSC_OK);
    errno = 0;
    CHECK(rmpsc_shared_ring_create(name, 8, 8, &b) == RMPSC_EIO && errno == EEXIST); /* exclusive */
    CHECK(rmpsc_shared_ring_attach(name, 16, 0, &b) == RMPSC_EHEADER); /* slot size */
    CHECK(strstr(rmpsc_error_message(), "8-byte slots") != NULL);
    CHECK(rmpsc_shared_ring_attach("rmpsc-ctest-missing", 8, 0, &b) == RMPSC_EIO && errno == ENOENT);
    CHECK(rmpsc_shared_ring_attach(name, 0, 0, &b) == RMPSC_OK);
    CHECK(rmpsc_shared_ring_capacity(b) == 8 && rmpsc_shared_ring_slot_size(b) == 8);

    rmpsc_ring_t *tx, *rx, *again;
    CHECK(rmpsc_shared_ring_take_producer(a, &tx) == RMPSC_OK);
    CHECK(rmpsc_shared_ring_take_producer(b, &again) == RMPSC_EBUSY); /* one holder per side */
    CHECK(rmpsc_shared_ring_take_consumer(b, &rx) == RMPSC_OK);
    CHECK(rmpsc_shared_ring_is_producer_alive(b, 1000000000LL));
    uint64_t v = 7, out = 0;
    size_t n;
    CHECK(rmpsc_ring_send(tx, &v, 1, &n) == RMPSC_OK && n == 1);
    CHECK(rmpsc_ring_try_recv(tx, &out) == RMPSC_EINVAL); /* producer-only handle */
    CHECK(rmpsc_ring_try_recv(rx, &out) == RMPSC_OK && out == 7);
    CHECK(rmpsc_ring_send(rx, &v, 1, &n) == RMPSC_EINVAL); /* consumer-only handle */
    rmpsc_ring_free(tx); /* closes the ring */
    CHECK(rmpsc_shared_ring_is_closed(b));
    CHECK(rmpsc_ring_try_recv(rx, &out) == RMPSC_ECLOSED);
    rmpsc_ring_free(rx);
    CHECK(rmpsc_shared_ring_unlink(a) == RMPSC_OK);
    rmpsc_shared_ring_free(a);
    rmpsc_shared_ring_free(b);
}

static void test_bad_files(void) {
    char path[128];
    snprintf(path, sizeof path, "/tmp/rmpsc-ctest-bad-%d", (int)getpid());
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    char junk[1024];
    memset(junk, 'x', sizeof junk);
    CHECK(write(fd, junk, sizeof junk) == (ssize_t)sizeof junk);
    close(fd);
    rmpsc_shared_ring_t *s;
    CHECK(rmpsc_shared_ring_attach(path, 0, 1000000, &s) == RMPSC_EHEADER); /* not a segment */
    unlink(path);
    CHECK(rmpsc_shared_ring_attach("/dev/null", 0, 0, &s) == RMPSC_EHEADER);
}

/* One thread waits inside a side; another thread entering it gets EBUSY. */
static void *wait_to_receive(void *rx) {
    uint32_t type;
    const void *data;
    size_t len;
    return (void *)(intptr_t)rmpsc_msg_receiver_recv_blocking(rx, 2000000000LL, &type, &data, &len);
}

static void *wait_to_send(void *tx) {
    return (void *)(intptr_t)rmpsc_msg_sender_send_blocking(tx, 1, "late", 4, 2000000000LL);
}

static void test_message_sides_are_one_thread_at_a_time(void) {
    rmpsc_msg_ring_t *ring;
    rmpsc_msg_sender_t *tx;
    rmpsc_msg_receiver_t *rx;
    CHECK(rmpsc_msg_ring_create(NULL, 4096, &ring) == RMPSC_OK);
    CHECK(rmpsc_msg_sender_new(ring, &tx) == RMPSC_OK);
    CHECK(rmpsc_msg_receiver_new(ring, &rx) == RMPSC_OK);
    uint32_t type;
    const void *data;
    size_t len;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, wait_to_receive, rx) == 0);
    usleep(100000); /* it now waits inside the receiving side */
    CHECK(rmpsc_msg_receiver_recv(rx, &type, &data, &len) == RMPSC_EBUSY);
    CHECK(rmpsc_msg_receiver_release(rx) == RMPSC_EBUSY);
    CHECK(rmpsc_msg_sender_send(tx, 7, "hi", 2) == RMPSC_OK);
    void *rc;
    pthread_join(t, &rc);
    CHECK((intptr_t)rc == RMPSC_OK);
    CHECK(rmpsc_msg_receiver_release(rx) == RMPSC_OK);
    char fill[1000] = {0};
    while (rmpsc_msg_sender_send(tx, 1, fill, sizeof fill) == RMPSC_OK) {
    }
    CHECK(pthread_create(&t, NULL, wait_to_send, tx) == 0);
    usleep(100000); /* it now waits inside the sending side */
    CHECK(rmpsc_msg_sender_send(tx, 1, "x", 1) == RMPSC_EBUSY);
    void *buf;
    CHECK(rmpsc_msg_sender_claim(tx, 1, &buf) == RMPSC_EBUSY);
    while (rmpsc_msg_receiver_recv(rx, &type, &data, &len) == RMPSC_OK) {
        rmpsc_msg_receiver_release(rx);
    }
    pthread_join(t, &rc);
    CHECK((intptr_t)rc == RMPSC_OK);
    rmpsc_msg_sender_free(tx);
    rmpsc_msg_receiver_free(rx);
    rmpsc_msg_ring_free(ring);
}

static void test_permissions(void) {
    char n[64];
    snprintf(n, sizeof n, "rmpsc-ctest-perm-%d", (int)getpid());
    rmpsc_permissions_t perm = {0};
    perm.mode = 0640;
    perm.set_group = true;
    perm.group = (uint32_t)getegid();
    rmpsc_msg_ring_t *ring;
    CHECK(rmpsc_msg_ring_create_with(n, 4096, &perm, &ring) == RMPSC_OK);
    char path[128];
    snprintf(path, sizeof path, "/dev/shm/%s", n);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0640 && st.st_gid == getegid());
    rmpsc_msg_ring_unlink(ring);
    rmpsc_msg_ring_free(ring);
    perm.mode = 04777; /* beyond 0777 */
    rmpsc_pool_t *pool;
    CHECK(rmpsc_pool_create_with(n, 64, 4, &perm, &pool) == RMPSC_EINVAL);
    rmpsc_shared_ring_t *shared;
    CHECK(rmpsc_shared_ring_create_with(n, 16, 8, NULL, &shared) == RMPSC_OK); /* NULL: 0600 */
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
    rmpsc_shared_ring_unlink(shared);
    rmpsc_shared_ring_free(shared);
}

static void test_message_ring_and_fd_passing(void) {
    rmpsc_msg_ring_t *ring, *other;
    CHECK(rmpsc_msg_ring_create(NULL, 4096, &ring) == RMPSC_OK); /* anonymous memfd */
    CHECK(rmpsc_msg_ring_max_message(ring) == 4080);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(rmpsc_fd_send(sv[0], rmpsc_msg_ring_fd(ring)) == RMPSC_OK);
    int fd = -1;
    CHECK(rmpsc_fd_recv(sv[1], &fd) == RMPSC_OK && fd >= 0);
    CHECK(rmpsc_msg_ring_attach_fd(fd, &other) == RMPSC_OK);
    close(fd);

    rmpsc_msg_sender_t *tx;
    rmpsc_msg_receiver_t *rx;
    CHECK(rmpsc_msg_sender_new(ring, &tx) == RMPSC_OK);
    CHECK(rmpsc_msg_receiver_new(other, &rx) == RMPSC_OK);
    CHECK(rmpsc_msg_sender_send(tx, 1, "hello", 5) == RMPSC_OK);
    CHECK(rmpsc_msg_sender_send(tx, 2, NULL, 0) == RMPSC_OK); /* empty message */
    char big[5000] = {0};
    CHECK(rmpsc_msg_sender_send(tx, 3, big, sizeof big) == RMPSC_ETOOLARGE);
    void *buf;
    CHECK(rmpsc_msg_sender_claim(tx, 3, &buf) == RMPSC_OK);
    memcpy(buf, "abc", 3);
    CHECK(rmpsc_msg_sender_commit(tx, 0xffffffffu, 3) == RMPSC_EINVAL); /* reserved type */
    CHECK(rmpsc_msg_sender_commit(tx, 4, 4) == RMPSC_EINVAL);           /* more than claimed */
    CHECK(rmpsc_msg_sender_commit(tx, 4, 2) == RMPSC_OK);

    uint32_t type;
    const void *data;
    size_t len;
    CHECK(rmpsc_msg_receiver_recv(rx, &type, &data, &len) == RMPSC_OK);
    CHECK(type == 1 && len == 5 && memcmp(data, "hello", 5) == 0);
    CHECK(rmpsc_msg_receiver_recv(rx, &type, &data, &len) == RMPSC_EINVAL); /* not released */
    CHECK(rmpsc_msg_receiver_release(rx) == RMPSC_OK);
    CHECK(rmpsc_msg_receiver_recv(rx, &type, &data, &len) == RMPSC_OK && type == 2 && len == 0);
    rmpsc_msg_receiver_release(rx);
    CHECK(rmpsc_msg_receiver_recv(rx, &type, &data, &len) == RMPSC_OK && type == 4 && len == 2);
    rmpsc_msg_receiver_release(rx);
    CHECK(rmpsc_msg_receiver_recv(rx, &type, &data, &len) == RMPSC_EEMPTY);
    CHECK(rmpsc_msg_receiver_recv_blocking(rx, 1000000, &type, &data, &len) == RMPSC_ETIMEDOUT);
    rmpsc_msg_sender_free(tx);
    CHECK(rmpsc_msg_receiver_recv(rx, &type, &data, &len) == RMPSC_ECLOSED);
    rmpsc_msg_receiver_free(rx);
    rmpsc_msg_ring_free(other);
    rmpsc_msg_ring_free(ring);
    close(sv[0]);
    close(sv[1]);
}

static void test_pool(void) {
    rmpsc_pool_t *pool;
    CHECK(rmpsc_pool_new(256, 2, &pool) == RMPSC_OK);
    uint32_t h1, h2, h3;
    CHECK(rmpsc_pool_alloc(pool, &h1) == RMPSC_OK);
    CHECK(rmpsc_pool_alloc(pool, &h2) == RMPSC_OK);
    CHECK(rmpsc_pool_alloc(pool, &h3) == RMPSC_EFULL);
    void *w;
    size_t cap;
    CHECK(rmpsc_pool_get_writable(pool, h1, &w, &cap) == RMPSC_OK && cap == 256);
    memcpy(w, "slab", 4);
    CHECK(rmpsc_pool_set_len(pool, h1, 300) == RMPSC_ETOOLARGE);
    CHECK(rmpsc_pool_set_len(pool, h1, 4) == RMPSC_OK);
    const void *r;
    size_t len;
    CHECK(rmpsc_pool_get(pool, h1, &r, &len) == RMPSC_OK && len == 4 && memcmp(r, "slab", 4) == 0);
    CHECK(rmpsc_pool_release(pool, h1) == RMPSC_OK);
    CHECK(rmpsc_pool_release(pool, h1) == RMPSC_EINVAL); /* double free */
    CHECK(rmpsc_pool_get(pool, h1, &r, &len) == RMPSC_EINVAL); /* use after free */
    CHECK(rmpsc_pool_release(pool, 0x00ffffff) == RMPSC_EINVAL); /* foreign */
    CHECK(rmpsc_pool_available(pool) == 1);
    CHECK(rmpsc_pool_fd(pool) == -1); /* heap pool */
    rmpsc_pool_release(pool, h2);
    rmpsc_pool_free(pool);
}

/* Asked for, the name goes with this process's last handle on the segment. */
static void test_unlink_on_drop(void) {
    char path[96];
    snprintf(name, sizeof name, "rmpsc-ctest-auto-%d", (int)getpid());
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    rmpsc_shared_ring_t *s;
    rmpsc_ring_t *tx;
    CHECK(rmpsc_shared_ring_create(name, 8, 8, &s) == RMPSC_OK);
    CHECK(rmpsc_shared_ring_unlink_on_drop(s, true) == RMPSC_OK);
    CHECK(rmpsc_shared_ring_take_producer(s, &tx) == RMPSC_OK);
    rmpsc_shared_ring_free(s);
    CHECK(access(path, F_OK) == 0); /* the producer still maps it */
    rmpsc_ring_free(tx);
    CHECK(access(path, F_OK) != 0);
    CHECK(rmpsc_shared_ring_unlink_on_drop(NULL, true) == RMPSC_EINVAL);

    rmpsc_msg_ring_t *m;
    CHECK(rmpsc_msg_ring_create(name, 4096, &m) == RMPSC_OK);
    CHECK(rmpsc_msg_ring_unlink_on_drop(m, true) == RMPSC_OK);
    rmpsc_msg_ring_free(m);
    CHECK(access(path, F_OK) != 0);

    rmpsc_pool_t *p;
    CHECK(rmpsc_pool_create(name, 256, 4, &p) == RMPSC_OK);
    CHECK(rmpsc_pool_unlink_on_drop(p, true) == RMPSC_OK);
    CHECK(rmpsc_pool_unlink_on_drop(p, false) == RMPSC_OK); /* withdrawn */
    rmpsc_pool_free(p);
    CHECK(access(path, F_OK) == 0);
    unlink(path);
    CHECK(rmpsc_pool_new(256, 2, &p) == RMPSC_OK);
    CHECK(rmpsc_pool_unlink_on_drop(p, true) == RMPSC_EINVAL); /* a heap pool has no name */
    rmpsc_pool_free(p);
}

/* A peer with write access shrinks a named segment's file under both
 * sides, leased: the inline paths see the ring closed or report the
 * truncation, the leases end, and the sides' calls report it (no SIGBUS). */
static void test_truncated_under_the_sides(void) {
    snprintf(name, sizeof name, "rmpsc-ctest-trunc-%d", (int)getpid());
    rmpsc_shared_ring_t *a = NULL, *b = NULL;
    CHECK(rmpsc_shared_ring_create(name, 64, 8, &a) == RMPSC_OK);
    CHECK(rmpsc_shared_ring_attach(name, 8, 0, &b) == RMPSC_OK);
    rmpsc_ring_t *tx, *rx;
    CHECK(rmpsc_shared_ring_take_producer(a, &tx) == RMPSC_OK);
    CHECK(rmpsc_shared_ring_take_consumer(b, &rx) == RMPSC_OK);
    rmpsc_lease_t lease, rlease;
    CHECK(rmpsc_ring_lease(tx, RMPSC_SIDE_PRODUCER, RMPSC_LEASE_LAYOUT, &lease) == RMPSC_OK);
    CHECK(rmpsc_ring_lease(rx, RMPSC_SIDE_CONSUMER, RMPSC_LEASE_LAYOUT, &rlease) == RMPSC_OK);
    uint64_t v = 7, out = 0;
    CHECK(rmpsc_lease_try_send(&lease, &v) == RMPSC_OK);
    CHECK(rmpsc_lease_try_recv(&rlease, &out) == RMPSC_OK && out == 7);

    char path[96];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0 && ftruncate(fd, 0) == 0);
    close(fd);

    CHECK(rmpsc_lease_try_send(&lease, &v) == RMPSC_ECLOSED);
    CHECK(rmpsc_lease_end(&lease) == RMPSC_OK);
    /* The consumer's lease loads a tail of zeros: the report says why. */
    CHECK(rmpsc_lease_try_recv(&rlease, &out) == RMPSC_ECORRUPT);
    CHECK(strstr(rmpsc_error_message(), "truncated") != NULL);
    CHECK(rmpsc_lease_end(&rlease) == RMPSC_OK);
    size_t n;
    CHECK(rmpsc_ring_send(tx, &v, 1, &n) == RMPSC_ECORRUPT);
    CHECK(strstr(rmpsc_error_message(), "truncated") != NULL);
    /* Its positions read as zeros: impossible, whatever the message. */
    CHECK(rmpsc_ring_try_recv(rx, &out) == RMPSC_ECORRUPT);
    rmpsc_ring_free(tx);
    rmpsc_ring_free(rx);
    CHECK(rmpsc_shared_ring_unlink(a) == RMPSC_OK);
    rmpsc_shared_ring_free(a);
    rmpsc_shared_ring_free(b);

    /* A SIGBUS another process sends still ends this one, as it would have
     * without the library's handler (installed by the segments above). */
    pid_t child = fork();
    if (child == 0) {
        int quiet = open("/dev/null", O_WRONLY); /* a sanitizer's report of it */
        if (quiet >= 0) {
            dup2(quiet, STDERR_FILENO);
        }
        raise(SIGBUS);
        _exit(0);
    }
    int status = 0;
    CHECK(child > 0 && waitpid(child, &status, 0) == child);
    CHECK(!(WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

/* `--no-truncation` leaves out test_truncated_under_the_sides, for
 * valgrind, which does not hand a SIGBUS's address to the program. */
int main(int argc, char **argv) {
    start_watchdog(120); /* a hang fails the run instead of stalling it */
    test_shared_ring();
    test_unlink_on_drop();
    test_bad_files();
    test_message_ring_and_fd_passing();
    test_message_sides_are_one_thread_at_a_time();
    test_permissions();
    test_pool();
    if (argc < 2 || strcmp(argv[1], "--no-truncation") != 0) {
        test_truncated_under_the_sides();
    }
    return finish("test_shm");
}
