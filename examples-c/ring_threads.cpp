// Two threads through a ringmpsc ring with the C++ wrapper: a struct
// message, zero-copy reserve/commit on the producer, batch receive on the
// consumer, and a check that every sequence number arrives in order.
//
//   ring_threads_cpp [count]
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "ringmpsc.hpp"

struct Tick {
    std::uint64_t seq;
    double price;
};

int main(int argc, char **argv) {
    const std::uint64_t count = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 5000000;
    ringmpsc::Ring<Tick> ring(1024);
    auto start = std::chrono::steady_clock::now();

    std::thread producer([&] {
        std::uint64_t next = 0;
        while (next < count) {
            auto span = ring.reserve(64);
            if (span.empty()) {
                ring.send_blocking(Tick{next, 100.0 + static_cast<double>(next % 7)}); // sleeps while full
                ++next;
                continue;
            }
            std::size_t n = 0;
            for (Tick &t : span) {
                if (next + n == count) break;
                t = Tick{next + n, 100.0 + static_cast<double>((next + n) % 7)};
                ++n;
            }
            ring.commit(n);
            next += n;
        }
        ring.close();
    });

    std::vector<Tick> batch(256);
    std::uint64_t expected = 0;
    for (;;) {
        std::size_t n = 0;
        try {
            n = ring.recv_blocking(batch.data(), batch.size());
        } catch (const ringmpsc::Closed &) {
            break; // closed and drained
        }
        for (std::size_t i = 0; i < n; ++i) {
            const Tick &t = batch[i];
            if (t.seq != expected || t.price != 100.0 + static_cast<double>(expected % 7)) {
                std::fprintf(stderr, "expected %llu, got %llu\n",
                             static_cast<unsigned long long>(expected),
                             static_cast<unsigned long long>(t.seq));
                return 1;
            }
            ++expected;
        }
    }
    producer.join();
    if (expected != count) {
        std::fprintf(stderr, "received %llu of %llu\n", static_cast<unsigned long long>(expected),
                     static_cast<unsigned long long>(count));
        return 1;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("ok: %llu ticks in order (C++ wrapper), %.1f M/s\n",
                static_cast<unsigned long long>(count), static_cast<double>(count) / secs / 1e6);

    // Errors surface as exceptions carrying the code.
    try {
        ringmpsc::Ring<Tick> bad(1000);
        return 1;
    } catch (const ringmpsc::Error &e) {
        if (e.code() != RMPSC_EINVAL) return 1;
    }
    ringmpsc::Ring<Tick> moved = std::move(ring); // move-only
    if (!moved.is_closed()) return 1;
    moved.reset(); // drained, reopened: ready for another run
    return moved.is_closed() || moved.size() != 0 ? 1 : 0;
}
