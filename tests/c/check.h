/*
 * What every C test uses: CHECK, which reports a failed condition with the
 * library's last error and counts it, a watchdog that fails a hung test
 * instead of stalling the run, and the verdict.
 */
#ifndef RINGMPSC_TEST_CHECK_H
#define RINGMPSC_TEST_CHECK_H

#include <signal.h>
#include <stdio.h>
#include <string.h>
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

/* The step running now, which the watchdog names when it fires. */
static const char *volatile watchdog_step = "set-up";

/* Runs one step of a test (a call), naming it for the watchdog. */
#define STEP(call) (watchdog_step = #call, call)

/* The watchdog's alarm: names the hung step, then dies of the alarm. */
static inline void watchdog_fired(int sig) {
    static const char prefix[] = "watchdog: hung in ";
    const char *step = watchdog_step;
    (void)!write(2, prefix, sizeof prefix - 1);
    (void)!write(2, step, strlen(step));
    (void)!write(2, "\n", 1);
    raise(sig); /* the handler was reset: the default action now */
}

/* Kills the test after `seconds`, whatever the starting shell left: the
 * alarm handled (then its default action), and the signal unblocked. */
static inline void start_watchdog(unsigned seconds) {
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = watchdog_fired;
    act.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigemptyset(&act.sa_mask);
    sigaction(SIGALRM, &act, NULL);
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
