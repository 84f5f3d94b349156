/*
 * One process of a server/client transport channel, in C.
 *
 *   transport_peer server NAME CLIENTS COUNT   serves until CLIENTS clients each delivered
 *                                              COUNT requests, checking every one, and echoes
 *                                              each request to its sender
 *   transport_peer client NAME COUNT           sends COUNT requests at pseudo-random priorities
 *   transport_peer echo NAME COUNT             COUNT round trips: a High request, then its echo
 *
 * Request `seq` of a priority (numbered per priority): the 8-byte sequence
 * number, the priority byte, 0..300 bytes derived from `seq`, and the FNV-1a
 * hash of all that (4 bytes, little-endian). The Python
 * (python/examples/transport_peer.py) and Rust
 * (ringcore/examples/transport_peer.rs) peers speak the same, so any of
 * them can serve the others.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ringmpsc.h"

#define MAX_MSG 320
#define MAX_CLIENTS 64

static uint32_t fnv1a(const uint8_t *p, size_t n) {
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x01000193u;
    return h;
}

/* Builds request `seq` of priority `prio` into buf; returns its length. */
static size_t message(uint64_t seq, int prio, uint8_t *buf) {
    size_t len = (size_t)(((seq * 2654435761ull) >> 9) % 301);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(seq >> (8 * i));
    buf[8] = (uint8_t)prio;
    for (size_t i = 0; i < len; i++) buf[9 + i] = (uint8_t)(i ^ seq);
    uint32_t h = fnv1a(buf, 9 + len);
    memcpy(buf + 9 + len, &h, 4);
    return 13 + len;
}

static int fail(const char *what, int rc) {
    fprintf(stderr, "transport_peer: %s: %s (%s)\n", what, rmpsc_error_describe(rc), rmpsc_error_message());
    return 1;
}

/* ---- server ---- */

struct seen {
    rmpsc_client_id_t id;
    uint64_t next[3];
    uint64_t total;
};

struct server_state {
    rmpsc_server_t *server;
    struct seen clients[MAX_CLIENTS];
    int nclients;
    int errors;
    /* Echoes are sent after serve returns (a callback must not re-enter the server). */
    uint8_t echo[256][MAX_MSG];
    size_t echo_len[256];
    rmpsc_client_id_t echo_to[256];
    int echo_prio[256];
    size_t echoes;
};

static void on_request(void *ctx, const rmpsc_request_t *r) {
    struct server_state *st = ctx;
    struct seen *c = NULL;
    for (int i = 0; i < st->nclients; i++)
        if (st->clients[i].id.slot == r->client.slot && st->clients[i].id.generation == r->client.generation)
            c = &st->clients[i];
    if (c == NULL) {
        if (st->nclients == MAX_CLIENTS) {
            st->errors++;
            return;
        }
        c = &st->clients[st->nclients++];
        memset(c, 0, sizeof *c);
        c->id = r->client;
    }
    uint8_t want[MAX_MSG];
    uint64_t seq = c->next[r->priority]++;
    size_t n = message(seq, r->priority, want);
    if (r->len != n || memcmp(r->data, want, n) != 0) {
        fprintf(stderr, "transport_peer: request %" PRIu64 " (priority %d) of client %u.%u is wrong\n", seq,
                r->priority, r->client.slot, r->client.generation);
        st->errors++;
    }
    c->total++;
    if (st->echoes < 256) {
        memcpy(st->echo[st->echoes], r->data, r->len);
        st->echo_len[st->echoes] = r->len;
        st->echo_to[st->echoes] = r->client;
        st->echo_prio[st->echoes] = r->priority;
        st->echoes++;
    }
}

static int do_server(const char *name, int clients, uint64_t count) {
    static struct server_state st;
    rmpsc_server_options_t opts = {0};
    opts.max_clients = (uint32_t)clients;
    int rc = rmpsc_server_create(name, &opts, &st.server);
    if (rc != RMPSC_OK) return fail("server_create", rc);
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        int done = st.nclients == clients;
        for (int i = 0; i < st.nclients; i++) done &= st.clients[i].total == count;
        if (done || st.errors) break;
        size_t n = 0;
        st.echoes = 0;
        rc = rmpsc_server_serve(st.server, 256, on_request, &st, &n);
        if (rc != RMPSC_OK) return fail("serve", rc);
        for (size_t i = 0; i < st.echoes; i++) {
            /* A client that does not read its echoes fills its ring: skip those. */
            rmpsc_server_send(st.server, st.echo_to[i], st.echo_prio[i], st.echo[i], st.echo_len[i], NULL);
        }
        if (n == 0) {
            rc = rmpsc_server_wait(st.server, 30000000000LL);
            if (rc != RMPSC_OK) return fail("wait", rc);
        }
    }
    /* Let the echo clients read their last replies before the shutdown. */
    usleep(100000);
    rmpsc_server_free(st.server);
    if (st.errors) return 1;
    printf("C server: %d clients x %" PRIu64 " requests, all in order and intact\n", clients, count);
    return 0;
}

/* ---- clients ---- */

static rmpsc_client_t *connect_retry(const char *name) {
    rmpsc_client_t *c = NULL;
    for (int tries = 0; tries < 2000; tries++) {
        int rc = rmpsc_client_connect(name, NULL, &c);
        if (rc == RMPSC_OK) return c;
        if (rc != RMPSC_EDISCONNECTED) {
            fail("connect", rc);
            return NULL;
        }
        usleep(5000);
    }
    fail("connect", RMPSC_EDISCONNECTED);
    return NULL;
}

static int do_client(const char *name, uint64_t count) {
    rmpsc_client_t *c = connect_retry(name);
    if (c == NULL) return 1;
    uint64_t seed = (uint64_t)getpid() | 1, next[3] = {0, 0, 0};
    uint8_t buf[MAX_MSG];
    for (uint64_t i = 0; i < count; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        int prio = (int)(seed % 3);
        size_t n = message(next[prio]++, prio, buf);
        int rc = rmpsc_client_send(c, prio, buf, n, NULL);
        if (rc != RMPSC_OK) return fail("send", rc);
    }
    rmpsc_client_free(c);
    printf("C client: %" PRIu64 " requests sent\n", count);
    return 0;
}

static int do_echo(const char *name, uint64_t count) {
    rmpsc_client_t *c = connect_retry(name);
    if (c == NULL) return 1;
    uint8_t buf[MAX_MSG], back[MAX_MSG];
    for (uint64_t seq = 0; seq < count; seq++) {
        size_t n = message(seq, RMPSC_PRIORITY_HIGH, buf);
        int rc = rmpsc_client_send(c, RMPSC_PRIORITY_HIGH, buf, n, NULL);
        if (rc != RMPSC_OK) return fail("send", rc);
        int prio;
        size_t len;
        rc = rmpsc_client_recv(c, back, sizeof back, 10000000000LL, &prio, &len);
        if (rc != RMPSC_OK) return fail("recv", rc);
        if (prio != RMPSC_PRIORITY_HIGH || len != n || memcmp(back, buf, n) != 0) {
            fprintf(stderr, "transport_peer: echo %" PRIu64 " is wrong\n", seq);
            return 1;
        }
    }
    rmpsc_client_free(c);
    printf("C client: %" PRIu64 " round trips, all echoed intact\n", count);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "server") == 0)
        return do_server(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 10));
    if (argc == 4 && strcmp(argv[1], "client") == 0) return do_client(argv[2], strtoull(argv[3], NULL, 10));
    if (argc == 4 && strcmp(argv[1], "echo") == 0) return do_echo(argv[2], strtoull(argv[3], NULL, 10));
    fprintf(stderr, "usage: transport_peer server NAME CLIENTS COUNT | client NAME COUNT | echo NAME COUNT\n");
    return 2;
}
