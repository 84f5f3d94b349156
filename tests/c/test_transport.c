/*
 * Checks of the C transport API in one process: options, priorities,
 * zero-copy claim/commit both ways, copying receives, backpressure and
 * policies, slots, disconnection and shutdown.
 */
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

struct got {
    int n;
    int prio[16];
    char text[16][16];
    rmpsc_client_id_t from[16];
};

static void collect(void *ctx, const rmpsc_request_t *r) {
    struct got *g = ctx;
    if (g->n < 16 && r->len < 16) {
        g->prio[g->n] = r->priority;
        memcpy(g->text[g->n], r->data, r->len);
        g->text[g->n][r->len] = 0;
        g->from[g->n] = r->client;
        g->n++;
    }
}

static void count_big_requests(void *ctx, const rmpsc_request_t *r) {
    if (r->len == 2000 && r->priority == RMPSC_PRIORITY_LOW) {
        (*(size_t *)ctx)++;
    }
}

static void count_responses(void *ctx, int prio, const void *data, size_t len) {
    (void)prio, (void)data, (void)len;
    (*(int *)ctx)++;
}

int main(void) {
    start_watchdog(120); /* a hang fails the run instead of stalling it */
    char name[64];
    snprintf(name, sizeof name, "rmpsc-ctest-transport-%d", (int)getpid());
    rmpsc_server_options_t so = {0};
    so.max_clients = 2;
    so.request_capacity = 64 << 10;
    so.response_capacity = 64 << 10;
    rmpsc_server_t *s = NULL, *s2 = NULL;
    so.split[0] = 50, so.split[1] = 50, so.split[2] = 50;
    CHECK(rmpsc_server_create(name, &so, &s) == RMPSC_EINVAL); /* split over 100% */
    so.split[0] = 0, so.split[1] = 0, so.split[2] = 0;
    so.policy = 9;
    CHECK(rmpsc_server_create(name, &so, &s) == RMPSC_EINVAL);
    so.policy = RMPSC_POLICY_FAIL;
    CHECK(rmpsc_server_create(NULL, &so, &s) == RMPSC_EINVAL);
    CHECK(rmpsc_client_connect(name, NULL, &(rmpsc_client_t *){0}) == RMPSC_EDISCONNECTED); /* no server yet */
    CHECK(rmpsc_server_create(name, &so, &s) == RMPSC_OK);
    CHECK(rmpsc_server_create(name, &so, &s2) == RMPSC_EBUSY); /* one live server per name */

    rmpsc_client_t *a = NULL, *b = NULL, *c = NULL;
    rmpsc_client_options_t co = {0};
    co.policy = RMPSC_POLICY_FAIL;
    CHECK(rmpsc_client_connect(name, &co, &a) == RMPSC_OK);
    CHECK(rmpsc_client_connect(name, NULL, &b) == RMPSC_OK);
    CHECK(rmpsc_client_connect(name, NULL, &c) == RMPSC_EFULL); /* two slots */
    rmpsc_client_id_t ida, idb;
    CHECK(rmpsc_client_id(a, &ida) == RMPSC_OK && rmpsc_client_id(b, &idb) == RMPSC_OK);
    CHECK(ida.slot != idb.slot);

    /* Priorities: Critical before High before Low, FIFO within. */
    CHECK(rmpsc_client_send(a, RMPSC_PRIORITY_LOW, "low1", 4, NULL) == RMPSC_OK);
    CHECK(rmpsc_client_send(a, RMPSC_PRIORITY_LOW, "low2", 4, NULL) == RMPSC_OK);
    CHECK(rmpsc_client_send(b, RMPSC_PRIORITY_HIGH, "high", 4, NULL) == RMPSC_OK);
    void *buf;
    CHECK(rmpsc_client_claim(a, RMPSC_PRIORITY_CRITICAL, 4, &buf) == RMPSC_OK); /* zero copy */
    memcpy(buf, "crit", 4);
    CHECK(rmpsc_client_commit(a, 4) == RMPSC_OK);
    CHECK(rmpsc_client_send(a, 7, "x", 1, NULL) == RMPSC_EINVAL); /* no such priority */
    CHECK(rmpsc_server_wait(s, 5000000000LL) == RMPSC_OK);
    struct got g = {0};
    size_t n = 0;
    CHECK(rmpsc_server_serve(s, 16, collect, &g, &n) == RMPSC_OK && n == 4 && g.n == 4);
    CHECK(strcmp(g.text[0], "crit") == 0 && g.prio[0] == RMPSC_PRIORITY_CRITICAL);
    CHECK(strcmp(g.text[1], "high") == 0 && g.from[1].slot == idb.slot);
    CHECK(strcmp(g.text[2], "low1") == 0 && strcmp(g.text[3], "low2") == 0);
    CHECK(rmpsc_server_serve(s, 16, NULL, NULL, &n) == RMPSC_EINVAL);

    /* Copying receive, and a reply by claim/commit. */
    char in[64];
    rmpsc_client_id_t from;
    int prio;
    size_t len;
    CHECK(rmpsc_server_recv(s, in, sizeof in, 0, &from, &prio, &len) == RMPSC_EEMPTY);
    CHECK(rmpsc_server_recv(s, in, sizeof in, 1000000, &from, &prio, &len) == RMPSC_ETIMEDOUT);
    CHECK(rmpsc_client_send(b, RMPSC_PRIORITY_HIGH, "a longer request", 16, NULL) == RMPSC_OK);
    from.slot = 99, prio = -1, len = 0;
    CHECK(rmpsc_server_recv(s, in, 4, -1, &from, &prio, &len) == RMPSC_ETOOLARGE);
    /* named, to retry with a buffer that large or disconnect the sender */
    CHECK(from.slot == idb.slot && prio == RMPSC_PRIORITY_HIGH && len == 16);
    CHECK(rmpsc_server_recv(s, in, sizeof in, -1, &from, &prio, &len) == RMPSC_OK && len == 16); /* still queued */
    CHECK(len == 16 && memcmp(in, "a longer request", 16) == 0 && from.slot == idb.slot);
    CHECK(rmpsc_server_claim(s, from, RMPSC_PRIORITY_LOW, 5, &buf) == RMPSC_OK);
    memcpy(buf, "reply", 5);
    CHECK(rmpsc_server_commit(s, 5) == RMPSC_OK);
    CHECK(rmpsc_server_send(s, from, RMPSC_PRIORITY_CRITICAL, "first", 5, NULL) == RMPSC_OK);
    CHECK(rmpsc_client_recv(b, in, sizeof in, -1, &prio, &len) == RMPSC_OK);
    CHECK(prio == RMPSC_PRIORITY_CRITICAL && len == 5 && memcmp(in, "first", 5) == 0);
    int responses = 0;
    CHECK(rmpsc_client_recv_batch(b, 16, count_responses, &responses, &n) == RMPSC_OK && n == 1);
    CHECK(rmpsc_client_recv(b, in, sizeof in, 0, &prio, &len) == RMPSC_EEMPTY);

    /* Many at once: one publication. */
    const void *datas[3] = {"one", "two", "three"};
    size_t lens[3] = {3, 3, 5};
    size_t sent = 0;
    CHECK(rmpsc_client_send_many(a, RMPSC_PRIORITY_HIGH, datas, lens, 3, &sent) == RMPSC_OK && sent == 3);
    CHECK(rmpsc_client_send_many(a, RMPSC_PRIORITY_HIGH, NULL, lens, 3, &sent) == RMPSC_EINVAL);
    g.n = 0;
    CHECK(rmpsc_server_serve(s, 16, collect, &g, &n) == RMPSC_OK && n == 3);
    CHECK(strcmp(g.text[0], "one") == 0 && strcmp(g.text[2], "three") == 0);

    /* Backpressure and policies. */
    float level = -1;
    CHECK(rmpsc_client_backpressure(a, &level) == RMPSC_OK && level == 0.0f);
    static char big[2000];
    int rc;
    while ((rc = rmpsc_client_send(a, RMPSC_PRIORITY_LOW, big, sizeof big, NULL)) == RMPSC_OK) {
    }
    CHECK(rc == RMPSC_EFULL);
    CHECK(rmpsc_client_backpressure(a, &level) == RMPSC_OK && level > 0.8f);
    level = 0;
    CHECK(rmpsc_server_backpressure(s, ida, &level) == RMPSC_OK && level > 0.8f);
    rmpsc_client_info_t infos[4];
    CHECK(rmpsc_server_clients(s, infos, 4, &n) == RMPSC_OK && n == 2);
    CHECK(infos[0].pid == (uint32_t)getpid());
    CHECK(rmpsc_server_is_client_alive(s, ida, 1000000000LL));
    CHECK(rmpsc_client_is_server_alive(a, 1000000000LL));

    /* A client leaves: its slot comes back. */
    rmpsc_client_free(b);
    for (int i = 0; i < 200 && rmpsc_client_connect(name, NULL, &c) != RMPSC_OK; i++) {
        rmpsc_server_serve(s, 64, collect, &g, &n);
        usleep(5000);
    }
    CHECK(c != NULL);
    CHECK(rmpsc_server_send(s, idb, RMPSC_PRIORITY_HIGH, "x", 1, NULL) == RMPSC_EDISCONNECTED);
    rmpsc_client_id_t idc;
    CHECK(rmpsc_client_id(c, &idc) == RMPSC_OK && idc.slot == idb.slot && idc.generation != idb.generation);
    CHECK(rmpsc_server_disconnect(s, idc) == RMPSC_OK);
    CHECK(rmpsc_client_wait(c, 2000000000LL) == RMPSC_EDISCONNECTED);

    /* Shutdown: clients get RMPSC_EDISCONNECTED. */
    for (int i = 0; i < 3; i++) { /* requests the server will never take */
        CHECK(rmpsc_client_send(a, RMPSC_PRIORITY_LOW, big, sizeof big, NULL) == RMPSC_OK);
    }
    CHECK(rmpsc_client_reconnect(a, NULL) == RMPSC_EINVAL); /* the server is still there */
    rmpsc_server_free(s);
    CHECK(rmpsc_client_send(a, RMPSC_PRIORITY_HIGH, "late", 4, NULL) == RMPSC_EDISCONNECTED);
    CHECK(!rmpsc_client_is_server_alive(a, 1000000000LL));

    /* The next server gets the requests the gone one never took. */
    CHECK(rmpsc_server_create(name, &so, &s) == RMPSC_OK);
    size_t carried = 0, took = 0;
    CHECK(rmpsc_client_reconnect(a, &carried) == RMPSC_OK && carried == 3);
    CHECK(rmpsc_client_backlog(a) == 0);
    for (int i = 0; i < 100 && took < carried; i++) {
        rmpsc_server_wait(s, 100000000LL);
        CHECK(rmpsc_server_serve(s, 64, count_big_requests, &took, &n) == RMPSC_OK);
    }
    CHECK(took == carried);
    rmpsc_server_free(s);
    rmpsc_client_free(a);
    rmpsc_client_free(c);
    rmpsc_client_free(NULL);
    rmpsc_server_free(NULL);
    return finish("test_transport");
}
