/*
 * What every C test uses: CHECK, which reports a failed condition with the
 * library's last error and counts it, a watchdog that fails a hung test
 * instead of stalling the run, and the verdict.
 */
#ifndef RINGMPSC_TEST_CHECK_H
#define RINGMPSC_TEST_CHECK_H

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "ringmpsc.h"

static int failures = 0;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK(%s) failed (last error: %s)\n",      \
                    __FILE__, __LINE__, #cond, rmpsc_error_message());         \
            failures++;                                                        \
        }                                                                      \
    } while (0)

/* Kills the test after `seconds`, whatever the starting shell left: the
 * alarm's default action, and the signal unblocked. */
static inline void start_watchdog(unsigned seconds) {
    signal(SIGALRM, SIG_DFL);
    sigset_t alrm;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    sigprocmask(SIG_UNBLOCK, &alrm, NULL);
    alarm(seconds);
}

/* The exit status of test `name`, after printing its verdict. */
static inline int finish(const char *name) {
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

#endif
