// The checks shared by the C++ tests: the C tests' own (CHECK records a
// failure and goes on, the watchdog, the verdict), CHECK_THROWS, which
// wants one exception type (and its code), and `run`, under which every
// test body goes so an unexpected exception fails instead of aborting.
#ifndef RINGMPSC_TEST_CHECK_HPP
#define RINGMPSC_TEST_CHECK_HPP

#include <cstdio>
#include <exception>
#include <string>

#include "../c/check.h" // failures, CHECK, start_watchdog, finish
#include "ringmpsc.hpp"

// `expr` throws `Exc` whose code() is `want`.
#define CHECK_THROWS(Exc, want, expr)                                                        \
    do {                                                                                     \
        try {                                                                                \
            (void)(expr);                                                                    \
            std::fprintf(stderr, "%s:%d: %s did not throw\n", __FILE__, __LINE__, #expr);    \
            failures++;                                                                      \
        } catch (const Exc &e_) {                                                            \
            if (e_.code() != (want)) {                                                       \
                std::fprintf(stderr, "%s:%d: %s threw code %d, not %d (%s)\n", __FILE__,     \
                             __LINE__, #expr, e_.code(), (want), e_.what());                 \
                failures++;                                                                  \
            }                                                                                \
        } catch (const std::exception &e_) {                                                 \
            std::fprintf(stderr, "%s:%d: %s threw another exception: %s\n", __FILE__,        \
                         __LINE__, #expr, e_.what());                                        \
            failures++;                                                                      \
        }                                                                                    \
    } while (0)

// A name no other test run uses: the pid and a tag.
inline std::string unique_name(const char *tag) {
    return std::string("rmpsc-cpptest-") + tag + "-" + std::to_string(static_cast<long>(::getpid()));
}

// Runs one group of checks; an exception nobody expected is a failure.
template <typename F> void run(const char *what, F f) {
    try {
        f();
    } catch (const ringmpsc::Error &e) {
        std::fprintf(stderr, "%s: unexpected ringmpsc::Error %d: %s\n", what, e.code(), e.what());
        failures++;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "%s: unexpected exception: %s\n", what, e.what());
        failures++;
    }
}

#endif
