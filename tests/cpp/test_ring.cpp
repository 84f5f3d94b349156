// Ring<T> through the C++ wrapper: the error model (exceptions with codes,
// full and empty as values, Closed on every receive once closed and
// drained), reserve/commit and peek/advance, a sequence through two
// threads, send_all's one deadline, busy sides and moves.
#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

#include "check.hpp"

using namespace std::chrono_literals;
using ringmpsc::Ring;

namespace {

struct Tick {
    std::uint64_t seq;
    std::uint64_t check;
};
constexpr std::uint64_t kMix = 0x9E3779B97F4A7C15ull;

void test_errors_and_version() {
    try {
        Ring<std::uint32_t> bad(3);
        CHECK(false);
    } catch (const ringmpsc::InvalidArgument &e) {
        CHECK(e.code() == RMPSC_EINVAL);
        CHECK(std::string(e.what()).find("power of two") != std::string::npos);
        CHECK(std::string(e.what()).find("rmpsc_ring_new") != std::string::npos);
    }
    // Every subclass is an Error with its code.
    try {
        Ring<std::uint32_t> bad(0);
        CHECK(false);
    } catch (const ringmpsc::Error &e) {
        CHECK(e.code() == RMPSC_EINVAL);
    }
    CHECK(std::string(ringmpsc::describe(RMPSC_EFULL)) == "full");
    std::string v = ringmpsc::library_version();
    std::string want = std::to_string(RMPSC_VERSION_MAJOR) + "." + std::to_string(RMPSC_VERSION_MINOR) + ".";
    CHECK(v.compare(0, want.size(), want) == 0);
    static_assert(std::is_base_of<ringmpsc::Error, ringmpsc::Closed>::value, "Closed is an Error");
    static_assert(std::is_base_of<ringmpsc::Error, ringmpsc::Timeout>::value, "Timeout is an Error");
    static_assert(std::is_base_of<ringmpsc::Error, ringmpsc::Busy>::value, "Busy is an Error");
    static_assert(std::is_base_of<ringmpsc::Error, ringmpsc::Disconnected>::value, "Disconnected is an Error");
    static_assert(!std::is_copy_constructible<Ring<int>>::value, "rings are move-only");
    static_assert(std::is_nothrow_move_constructible<Ring<int>>::value, "rings move without throwing");
}

void test_full_empty_closed() {
    Ring<std::uint32_t> ring(4);
    CHECK(ring.capacity() == 4 && ring.size() == 0 && ring.available_capacity() == 4);
    CHECK(!ring.try_recv());                        // empty: a value, not an exception
    std::uint32_t buf[8];
    CHECK(ring.recv(buf, 8) == 0);
    CHECK(ring.peek().empty());

    const std::uint32_t items[6] = {1, 2, 3, 4, 5, 6};
    CHECK(ring.send(items, 6) == 4);                // as many as fit
    CHECK(ring.size() == 4 && ring.available_capacity() == 0);
    CHECK(!ring.try_send(9));                       // full: false
    CHECK(ring.send(items, 1) == 0);
    CHECK(ring.reserve(1).empty());
    CHECK_THROWS(ringmpsc::Timeout, RMPSC_ETIMEDOUT, ring.send_blocking(9, 1ms));
    CHECK(ring.send_all(items, 3, 2ms) == 0);      // the deadline passed with nothing sent
    CHECK(ring.send_all(items, 0) == 0);

    CHECK(ring.try_recv() == 1u);
    auto readable = ring.peek();
    CHECK(readable.size() == 3 && readable[0] == 2);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, ring.advance(4)); // more than readable
    ring.advance(1);

    // Reserve at the wrap: the tail is at slot 0 again.
    auto span = ring.reserve(4);
    CHECK(span.size() == 2);
    span[0] = 7;
    span[1] = 8;
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, ring.commit(3)); // more than reserved
    ring.commit(2);
    ringmpsc::Span<std::uint32_t> out(buf, 8);
    CHECK(ring.recv(out) == 4 && buf[0] == 3 && buf[1] == 4 && buf[2] == 7 && buf[3] == 8);
    CHECK_THROWS(ringmpsc::Timeout, RMPSC_ETIMEDOUT, ring.recv_blocking(1ms));
    CHECK_THROWS(ringmpsc::Timeout, RMPSC_ETIMEDOUT, ring.recv_blocking(buf, 8, 0ns));
    CHECK_THROWS(ringmpsc::Timeout, RMPSC_ETIMEDOUT, ring.recv_blocking(buf, 8, -5ms)); // negative: no wait

    // Closed: sends throw at once, receives drain first and then all throw Closed.
    ring.send(items, 2);
    ring.close();
    CHECK(ring.is_closed());
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, ring.try_send(1));
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, ring.send(items, 1));
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, ring.send_blocking(1));
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, ring.send_all(items, 2));
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, ring.reserve(1));
    CHECK(ring.try_recv() == 1u);
    CHECK(ring.recv_blocking(1s) == 2u);
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, ring.try_recv());
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, ring.recv(buf, 8));
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, ring.recv_blocking());
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, ring.recv_blocking(buf, 8, 1s));
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, ring.peek());
    int seen = 0;
    for (std::uint32_t v : ring) { // ends at once, without an exception
        (void)v;
        seen++;
    }
    CHECK(seen == 0);

    // Reset: drops what is left, reopens, takes a full lap.
    ring.reset();
    CHECK(!ring.is_closed() && ring.size() == 0);
    CHECK(ring.send(ringmpsc::Span<const std::uint32_t>(items, 6)) == 4);
    ring.reset();
    CHECK(ring.send(items + 4, 2) == 2 && ring.recv(buf, 8) == 2 && buf[0] == 5 && buf[1] == 6);
}

void test_iteration_stops_where_asked() {
    Ring<int> ring(8);
    for (int i = 1; i <= 5; i++) CHECK(ring.try_send(i));
    ring.close();
    int last = 0;
    for (int v : ring) {
        CHECK(v == last + 1);
        last = v;
        if (v == 3) break;
    }
    CHECK(last == 3);
    CHECK(ring.try_recv() == 4); // the loop took nothing beyond what it handed out
    std::vector<int> rest(ring.begin(), ring.end());
    CHECK(rest.size() == 1 && rest[0] == 5);
    auto it = ring.begin();
    CHECK(it == ring.end());
}

// One producer thread, one consumer: every sequence number once, in order.
void test_two_threads() {
    const std::uint64_t count = 300000;
    Ring<Tick> ring(1024);
    std::thread producer([&] {
        std::uint64_t next = 0;
        std::vector<Tick> chunk;
        while (next < count) {
            if (next % 3 == 0) { // zero copy
                auto span = ring.reserve(64);
                if (span.empty()) {
                    ring.send_blocking(Tick{next, next * kMix});
                    next++;
                    continue;
                }
                std::size_t n = 0;
                for (Tick &t : span) {
                    if (next + n == count) break;
                    t = Tick{next + n, (next + n) * kMix};
                    n++;
                }
                ring.commit(n);
                next += n;
            } else { // a batch sent whole, waiting as needed
                chunk.clear();
                for (std::uint64_t i = 0; i < 100 && next + i < count; i++) chunk.push_back(Tick{next + i, (next + i) * kMix});
                std::size_t sent = ring.send_all(ringmpsc::Span<const Tick>(chunk.data(), chunk.size()));
                if (sent != chunk.size()) failures++;
                next += sent;
            }
        }
        ring.close();
    });
    std::uint64_t expected = 0;
    bool ordered = true;
    for (const Tick &t : ring) {
        if (t.seq != expected || t.check != expected * kMix) ordered = false;
        expected++;
    }
    producer.join();
    CHECK(ordered);
    CHECK(expected == count);
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, ring.try_recv());

    // Batches received in place with peek/advance, and by recv_blocking.
    ring.reset();
    std::thread producer2([&] {
        for (std::uint64_t s = 0; s < count; s++) ring.send_blocking(Tick{s, s * kMix});
        ring.close();
    });
    expected = 0;
    ordered = true;
    std::vector<Tick> batch(200);
    for (;;) {
        try {
            if (expected % 2 == 0) {
                auto items = ring.peek();
                if (items.empty()) {
                    std::size_t n = ring.recv_blocking(batch.data(), batch.size(), 5s);
                    for (std::size_t i = 0; i < n; i++, expected++) {
                        if (batch[i].seq != expected) ordered = false;
                    }
                    continue;
                }
                for (const Tick &t : items) {
                    if (t.seq != expected++) ordered = false;
                }
                ring.advance(items.size());
            } else {
                std::size_t n = ring.recv_blocking(ringmpsc::Span<Tick>(batch.data(), batch.size()), 5s);
                for (std::size_t i = 0; i < n; i++, expected++) {
                    if (batch[i].seq != expected) ordered = false;
                }
            }
        } catch (const ringmpsc::Closed &) {
            break;
        }
    }
    producer2.join();
    CHECK(ordered && expected == count);
}

// send_all waits for room as often as needed within one deadline.
void test_send_all_deadline() {
    Ring<std::uint64_t> ring(4);
    std::vector<std::uint64_t> items(10);
    for (std::size_t i = 0; i < items.size(); i++) items[i] = i;
    auto start = std::chrono::steady_clock::now();
    CHECK(ring.send_all(items.data(), items.size(), 30ms) == 4); // nobody reads: 4 fit, then time runs out
    auto waited = std::chrono::steady_clock::now() - start;
    CHECK(waited >= 30ms && waited < 5s);
    ring.reset();

    // With a reader, everything goes within the deadline.
    std::vector<std::uint64_t> got;
    std::thread reader([&] {
        try {
            for (std::uint64_t v : ring) got.push_back(v);
        } catch (...) {
            failures++;
        }
    });
    std::vector<std::uint64_t> many(20000);
    for (std::size_t i = 0; i < many.size(); i++) many[i] = i;
    CHECK(ring.send_all(many.data(), many.size(), 30s) == many.size());
    ring.close();
    reader.join();
    CHECK(got == many);
}

void test_busy_side_and_close_wakes() {
    Ring<std::uint64_t> ring(8);
    int outcome = 0;
    std::thread reader([&] {
        for (;;) {
            try {
                ring.recv_blocking(10s);
                outcome = 1;
            } catch (const ringmpsc::Busy &) {
                continue; // the main thread was inside for a moment: enter again
            } catch (const ringmpsc::Closed &) {
                outcome = 2;
            } catch (...) {
                outcome = 3;
            }
            return;
        }
    });
    // Until the reader sleeps inside the consumer side, a receive finds the ring empty.
    bool busy = false;
    for (int i = 0; i < 2000 && !busy; i++) {
        try {
            CHECK(!ring.try_recv());
            std::this_thread::sleep_for(1ms);
        } catch (const ringmpsc::Busy &e) {
            busy = e.code() == RMPSC_EBUSY;
        }
    }
    CHECK(busy);
    CHECK_THROWS(ringmpsc::Busy, RMPSC_EBUSY, ring.reset()); // needs both sides
    ring.close();                                           // wakes the sleeper
    reader.join();
    CHECK(outcome == 2);
}

void test_moves() {
    Ring<int> a(8);
    CHECK(a.try_send(41));
    Ring<int> b = std::move(a);
    CHECK(!a && b);
    CHECK(a.size() == 0 && a.capacity() == 0 && !a.is_closed()); // queries of a moved-from ring answer 0
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, a.try_send(1));
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, a.try_recv());
    CHECK(b.try_recv() == 41);
    Ring<int> c(16);
    c = std::move(b); // frees c's ring, takes b's
    CHECK(c.capacity() == 8 && !b);
    CHECK(c.try_send(42) && c.try_recv() == 42);
    std::vector<Ring<int>> rings;
    for (int i = 0; i < 4; i++) rings.emplace_back(4);
    rings.erase(rings.begin());
    CHECK(rings.size() == 3 && rings[0].capacity() == 4);
}

void test_notifier() {
    ringmpsc::Notifier n;
    CHECK(n.fd() >= 0);
    Ring<std::uint64_t> ring(8);
    ring.set_notifier(n);
    CHECK(ring.try_send(1));
    CHECK(n.consume() == 1);
    ring.clear_notifier();
    CHECK(ring.try_send(2));
    CHECK(n.consume() == 0);
    ringmpsc::Notifier moved = std::move(n);
    CHECK(!n && moved.fd() >= 0);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, n.signal());
}

// The inline fast path: the Ring's error model on both leases, the side
// busy while lent and back where the lease left it, a sequence through two
// threads that wait in the lease, and moves that end the lease once.
void test_leases() {
    Ring<Tick> ring(8);
    {
        auto p = ring.lease_producer();
        auto c = ring.lease_consumer();
        CHECK_THROWS(ringmpsc::Busy, RMPSC_EBUSY, ring.lease_producer());
        CHECK_THROWS(ringmpsc::Busy, RMPSC_EBUSY, ring.try_send(Tick{0, 0}));
        CHECK(!c.try_recv());
        for (std::uint64_t i = 0; i < 8; i++) CHECK(p.try_send(Tick{i, i * kMix}));
        CHECK(!p.try_send(Tick{8, 0}));
        CHECK(p.reserve(1).size() == 0);
        auto got = c.peek();
        CHECK(got.size() == 8 && got[7].seq == 7);
        c.advance(3);
        CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, c.advance(6));
        auto slots = p.reserve(5);
        CHECK(slots.size() == 3); // the free slots
        slots[0] = Tick{8, 8 * kMix};
        p.commit(1);
        CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, p.commit(1));
        Tick out[16];
        CHECK(c.recv(out, 16) == 6 && out[4].seq == 7 && out[5].check == 8 * kMix);
        CHECK(!c.try_recv());
        ringmpsc::ProducerLease<Tick> moved = std::move(p);
        CHECK(!p && moved);
        CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, p.try_send(Tick{9, 0}));
        CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, p.wait(0ns));
        CHECK(moved.try_send(Tick{9, 9 * kMix}));
    } // both leases end here
    CHECK(ring.try_recv()->seq == 9);
    CHECK(ring.try_send(Tick{10, 10 * kMix}));
    CHECK(ring.try_recv()->seq == 10);

    std::thread producer([&] {
        auto p = ring.lease_producer();
        for (std::uint64_t i = 0; i < 100000;) {
            if (p.try_send(Tick{i, i * kMix})) {
                i++;
            } else {
                p.wait();
            }
        }
        p.end();
        ring.close();
    });
    auto c = ring.lease_consumer();
    std::uint64_t next = 0;
    bool torn = false;
    try {
        for (;;) {
            if (auto t = c.try_recv()) {
                torn |= t->seq != next || t->check != next * kMix;
                next++;
            } else {
                c.wait();
            }
        }
    } catch (const ringmpsc::Closed &) {
    }
    producer.join();
    CHECK(next == 100000 && !torn);
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, c.try_recv());
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, c.wait(0ns));
    c.end();
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, ring.try_send(Tick{0, 0}));
}

// with_local: the calls on a copy in a local variable, the copy back when
// the body returns or throws (else the lease's end finds a position the
// ring has moved past and throws Corrupt), a wait inside, and a stream
// through two threads that ends with Closed thrown out of the body.
void test_leases_with_local() {
    Ring<Tick> ring(8);
    {
        auto p = ring.lease_producer();
        auto sent = p.with_local([](ringmpsc::LocalProducer<Tick> &tx) {
            std::size_t n = 0;
            while (tx.try_send(Tick{n, n * kMix})) n++;
            return n;
        });
        CHECK(sent == 8 && !p.try_send(Tick{8, 0}));
        auto c = ring.lease_consumer();
        CHECK(c.with_local([](ringmpsc::LocalConsumer<Tick> &rx) { return rx.try_recv()->seq; }) == 0);
        CHECK(c.try_recv()->seq == 1); // the copy came back
        bool thrown = false;
        try {
            p.with_local([](ringmpsc::LocalProducer<Tick> &tx) {
                CHECK(tx.try_send(Tick{8, 8 * kMix}));
                tx.wait(0ns); // a free slot: returns at once
                throw std::runtime_error("body failed");
            });
        } catch (const std::runtime_error &) {
            thrown = true;
        }
        CHECK(thrown && p.try_send(Tick{9, 9 * kMix}));
        Tick out[8];
        CHECK(c.recv(out, 8) == 8 && out[0].seq == 2 && out[7].seq == 9);
        p.end(); // Corrupt had the throw left the copy's position behind
        c.end();
    }
    CHECK(ring.try_send(Tick{10, 10 * kMix}) && ring.try_recv()->seq == 10);

    std::thread producer([&] {
        auto p = ring.lease_producer();
        p.with_local([](ringmpsc::LocalProducer<Tick> &tx) {
            for (std::uint64_t i = 0; i < 100000;) {
                if (tx.try_send(Tick{i, i * kMix})) {
                    i++;
                } else {
                    tx.wait();
                }
            }
        });
        p.end();
        ring.close();
    });
    auto c = ring.lease_consumer();
    std::uint64_t next = 0;
    bool torn = false;
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, c.with_local([&](ringmpsc::LocalConsumer<Tick> &rx) {
        for (;;) {
            if (auto t = rx.try_recv()) {
                torn |= t->seq != next || t->check != next * kMix;
                next++;
            } else {
                rx.wait();
            }
        }
    }));
    producer.join();
    CHECK(next == 100000 && !torn);
    c.end();
}

} // namespace

int main() {
    start_watchdog(120); // a hang fails the run instead of stalling it
    run("errors", test_errors_and_version);
    run("full/empty/closed", test_full_empty_closed);
    run("iteration", test_iteration_stops_where_asked);
    run("two threads", test_two_threads);
    run("send_all", test_send_all_deadline);
    run("busy", test_busy_side_and_close_wakes);
    run("moves", test_moves);
    run("notifier", test_notifier);
    run("leases", test_leases);
    run("leases with_local", test_leases_with_local);
    return finish("test_ring");
}
