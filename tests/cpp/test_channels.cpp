// The channels through the C++ wrapper: MPSC with producer threads and a
// consuming callable, the consumer's toolbox (snapshot, metrics, rings,
// drain), Closed once closed and drained on every receive, a throwing
// callable, the event loop, the notifier (poll, epoll, signal_if_waiting),
// SPMC and MPMC with consumer threads where every item arrives once.
#include <poll.h>
#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "check.hpp"

using namespace std::chrono_literals;
using ringmpsc::ChannelFlags;
using ringmpsc::Consumer;
using ringmpsc::MpmcChannel;
using ringmpsc::MpscChannel;
using ringmpsc::SpmcChannel;

namespace {

struct Item {
    std::uint32_t producer;
    std::uint32_t pad;
    std::uint64_t seq;
};

constexpr std::uint32_t kProducers = 4;
constexpr std::uint64_t kPer = 100000;

void test_mpsc_threads() {
    MpscChannel<Item> ch(1024);
    std::vector<std::thread> producers;
    for (std::uint32_t id = 0; id < kProducers; id++) {
        producers.emplace_back([&ch, id] {
            try {
                auto tx = ch.new_producer();
                Item batch[16];
                for (std::uint64_t s = 0; s < kPer;) {
                    if (id % 2 == 0) {
                        tx.send_blocking(Item{id, 0, s}, 10s);
                        s++;
                    } else { // batches sent whole
                        std::size_t n = 0;
                        for (; n < 16 && s + n < kPer; n++) batch[n] = Item{id, 0, s + n};
                        if (tx.send_all(batch, n, 10s) != n) failures++;
                        s += n;
                    }
                }
            } catch (const std::exception &e) {
                std::fprintf(stderr, "producer %u: %s\n", id, e.what());
                failures++;
            } // deregisters: what it sent still arrives
        });
    }
    std::vector<std::uint64_t> next(kProducers, 0);
    std::uint64_t total = 0;
    bool ordered = true;
    auto check_item = [&](const Item &it) {
        if (it.producer >= kProducers || it.seq != next[it.producer]) ordered = false;
        else next[it.producer]++;
        total++;
    };
    while (total < kProducers * kPer) {
        try {
            ch.consume_blocking(check_item, 5s);
        } catch (const std::exception &e) {
            std::fprintf(stderr, "consume_blocking: %s\n", e.what());
            failures++;
            break;
        }
    }
    for (auto &t : producers) t.join();
    CHECK(ordered && total == kProducers * kPer);
    CHECK(ch.size() == 0 && !ch.is_closed() && !ch.is_drained());
    CHECK(ch.consume(check_item) == 0); // empty: 0, not an exception
    CHECK(!ch.try_recv());

    // Closed and drained: every receive throws Closed.
    ch.close();
    CHECK(ch.is_closed() && ch.is_drained());
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, ch.new_producer());
    Item out[4];
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, ch.try_recv());
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, ch.recv(out, 4));
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, ch.consume(check_item));
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, ch.consume_blocking(check_item, 1s));
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, ch.drain(check_item));
}

void test_mpsc_closed_after_items() {
    MpscChannel<std::uint64_t> ch(16);
    auto tx = ch.new_producer();
    const std::uint64_t v[3] = {1, 2, 3};
    CHECK(tx.send(v, 3) == 3);
    ch.close();
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, tx.try_send(4)); // sends fail at once
    CHECK(!ch.is_drained());
    CHECK(ch.try_recv() == 1u); // what was sent is still delivered
    std::uint64_t sum = 0;
    CHECK(ch.consume([&](std::uint64_t x) { sum += x; }) == 2 && sum == 5);
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, ch.consume([&](std::uint64_t x) { sum += x; }));
}

// A producer of the channel on the inline fast path: its sends arrive, its
// Ring calls are refused while it is lent, and go on where it left off.
void test_mpsc_leased_producer() {
    MpscChannel<std::uint64_t> ch(4);
    auto tx = ch.new_producer();
    {
        auto lease = tx.lease_producer();
        CHECK(lease.try_send(1) && lease.try_send(2));
        CHECK_THROWS(ringmpsc::Busy, RMPSC_EBUSY, tx.try_send(9));
        CHECK(ch.try_recv() == 1u);
    }
    CHECK(tx.try_send(3));
    std::uint64_t sum = 0;
    CHECK(ch.consume([&](std::uint64_t x) { sum += x; }) == 2 && sum == 5);
}

void test_mpsc_consumer_api() {
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, MpscChannel<std::uint64_t>(64, static_cast<ChannelFlags>(0x80)));
    MpscChannel<std::uint64_t> ch(64, ChannelFlags::Metrics);
    CHECK(!ch.hottest_ring()); // no ring yet
    auto a = ch.new_producer();
    auto b = ch.new_producer();
    const std::uint64_t v[3] = {1, 2, 3};
    CHECK(a.send(v, 3) == 3 && b.try_send(10));
    CHECK(ch.hottest_ring() == std::size_t(0));
    CHECK(ch.ring_len(0) == 3 && ch.ring_len(1) == 1);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, ch.ring_len(7));
    CHECK(ch.size() == 4);
    auto first = ch.try_recv();
    CHECK(first && (*first == 1 || *first == 10));
    std::uint64_t sum = *first;
    ch.reset_adaptive_skip();
    CHECK(ch.drain([&](const std::uint64_t &x) { sum += x; }) == 3 && sum == 16);
    CHECK(ch.drain([&](const std::uint64_t &x) { sum += x; }) == 0);
    ringmpsc::MpscSnapshot s = ch.snapshot();
    CHECK(s.rings == 2 && s.len == 0 && !s.closed && s.has_metrics);
    CHECK(s.metrics.messages_sent == 4 && s.metrics.messages_received == 4);
    ringmpsc::Metrics m = ch.metrics();
    CHECK(m.messages_received == 4 && m.latency_count > 0 && m.avg_latency_ns() > 0.0);
    ringmpsc::Metrics total;
    total += m;
    total.merge(ringmpsc::Metrics(s.metrics));
    CHECK(total.messages_received == 8 && total.latency_count == m.latency_count + s.metrics.latency_count);
    CHECK(total.latency_max_ns >= m.latency_max_ns);

    // Up to max at a time, and recv into a span.
    CHECK(a.send(v, 3) == 3 && b.send(v, 2) == 2);
    std::size_t calls = 0;
    CHECK(ch.consume([&](std::uint64_t) { calls++; }, 4) == 4 && calls == 4);
    std::uint64_t out[8];
    CHECK(ch.recv(ringmpsc::Span<std::uint64_t>(out, 8)) == 1);
    CHECK(ch.recv(out, 8) == 0);

    // A callable that throws: the C call hands over the rest, then the exception comes out.
    CHECK(a.send(v, 3) == 3);
    calls = 0;
    try {
        ch.consume([&](std::uint64_t x) {
            calls++;
            if (x == 2) throw std::runtime_error("item 2");
        });
        CHECK(false);
    } catch (const std::runtime_error &e) {
        CHECK(std::string(e.what()) == "item 2");
    }
    CHECK(calls == 3 && ch.size() == 0);

    MpscChannel<std::uint64_t> moved = std::move(ch);
    CHECK(!ch && moved && ch.size() == 0);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, ch.new_producer());
    CHECK(a.try_send(5) && moved.try_recv() == 5u);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, MpscChannel<std::uint64_t>(64).metrics()); // made without
}

void test_event_loop() {
    MpscChannel<std::uint64_t> ch(64);
    auto a = ch.new_producer();
    auto b = ch.new_producer();
    std::uint64_t sum = 0; // touched by the loop's thread only until stop()
    ringmpsc::EventLoop loop = ch.run([&sum](const std::uint64_t &x) { sum += x; });
    CHECK_THROWS(ringmpsc::Busy, RMPSC_EBUSY, ch.try_recv()); // the loop has the consumer side
    CHECK_THROWS(ringmpsc::Busy, RMPSC_EBUSY, ch.run([](std::uint64_t) {}));
    for (std::uint64_t i = 1; i <= 1000; i++) (i % 2 ? a : b).send_blocking(i, 10s);
    for (int spins = 0; loop.processed() < 1000 && spins < 5000; spins++) std::this_thread::sleep_for(1ms);
    CHECK(loop.processed() == 1000);
    ringmpsc::EventLoop moved = std::move(loop); // the running loop moves
    CHECK(!loop && moved && loop.processed() == 0);
    CHECK(moved.stop() == 1000 && sum == 500500);
    CHECK(moved.processed() == 1000 && moved.stop() == 1000); // stopped: still answers
    CHECK(ch.is_closed());
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, a.try_send(1)); // the loop closed the channel

    // A callable that throws: the loop goes on, stop() rethrows the first exception.
    MpscChannel<std::uint64_t> ch2(64);
    auto tx = ch2.new_producer();
    std::uint64_t handled = 0;
    auto loop2 = ch2.run([&handled](std::uint64_t x) {
        handled++;
        if (x == 5 || x == 7) throw std::runtime_error("bad item " + std::to_string(x));
    });
    for (std::uint64_t i = 1; i <= 10; i++) tx.send_blocking(i, 10s);
    try {
        loop2.stop();
        CHECK(false);
    } catch (const std::runtime_error &e) {
        CHECK(std::string(e.what()) == "bad item 5");
    }
    CHECK(handled == 10 && loop2.processed() == 10);

    // Destroying a running loop stops it and nothing is lost.
    MpscChannel<std::uint64_t> ch3(64);
    auto tx3 = ch3.new_producer();
    std::atomic<std::uint64_t> count{0};
    {
        auto loop3 = ch3.run([&count](std::uint64_t) { count++; });
        for (std::uint64_t i = 0; i < 500; i++) tx3.send_blocking(i, 10s);
    }
    CHECK(count == 500 && ch3.is_closed());

    // A paced loop: handles everything, stops while idle; a pause out of
    // range throws and the consumer side stays here.
    MpscChannel<std::uint64_t> ch4(64);
    auto tx4 = ch4.new_producer();
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, ch4.run([](std::uint64_t) {}, ringmpsc::Wait::Paced));
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL,
                 ch4.run([](std::uint64_t) {}, ringmpsc::Wait::Spin, 1us));
    CHECK(tx4.try_send(1) && ch4.try_recv() == 1u);
    std::uint64_t sum4 = 0;
    auto loop4 = ch4.run([&sum4](std::uint64_t x) { sum4 += x; }, ringmpsc::Wait::Paced, 1us);
    for (std::uint64_t i = 1; i <= 100; i++) tx4.send_blocking(i, 10s);
    for (int spins = 0; loop4.processed() < 100 && spins < 5000; spins++) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(20ms); // idle, deep in its wait
    CHECK(loop4.stop() == 100 && sum4 == 5050);
}

std::uint64_t consumed(ringmpsc::Notifier &n) { return n.consume(); }

void test_notifier() {
    ringmpsc::Notifier n;
    MpscChannel<std::uint64_t> ch(16);
    ch.set_notifier(n);
    auto tx = ch.new_producer();
    pollfd p{n.fd(), POLLIN, 0};
    CHECK(::poll(&p, 1, 0) == 0); // nothing yet
    CHECK(tx.available_capacity() == 16 && tx.try_send(42) && tx.available_capacity() == 15);
    CHECK(::poll(&p, 1, 1000) == 1 && (p.revents & POLLIN));
    CHECK(consumed(n) == 1);
    CHECK(ch.try_recv() == 42u);
    ch.clear_notifier();

    // epoll, edge-triggered: one event per burst until consumed.
    ringmpsc::UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
    epoll_event ev{};
    n.register_epoll(ep.get());
    CHECK_THROWS(ringmpsc::IoError, RMPSC_EIO, n.register_epoll(ep.get())); // already there
    CHECK(::epoll_wait(ep.get(), &ev, 1, 0) == 0);
    n.signal();
    n.signal();
    CHECK(::epoll_wait(ep.get(), &ev, 1, 1000) == 1 && ev.data.fd == n.fd());
    CHECK(consumed(n) == 2 && consumed(n) == 0);

    // signal_if_waiting: a system call only while the waiter count is non-zero.
    std::atomic<std::uint32_t> waiters{0};
    n.signal_if_waiting(waiters);
    CHECK(::epoll_wait(ep.get(), &ev, 1, 0) == 0 && consumed(n) == 0);
    waiters.store(1);
    n.signal_if_waiting(waiters);
    CHECK(::epoll_wait(ep.get(), &ev, 1, 1000) == 1 && consumed(n) == 1);
    std::uint32_t plain = 1;
    n.signal_if_waiting(&plain);
    CHECK(consumed(n) == 1);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, n.signal_if_waiting(nullptr));

    n.unregister_epoll(ep.get());
    CHECK_THROWS(ringmpsc::IoError, RMPSC_EIO, n.unregister_epoll(ep.get()));
    n.signal();
    CHECK(::epoll_wait(ep.get(), &ev, 1, 0) == 0); // no longer watched
    CHECK(consumed(n) == 1);
}

// ---- SPMC and MPMC: every item to exactly one consumer ----

constexpr std::uint32_t kWsProducers = 2;
constexpr std::uint32_t kWsConsumers = 3;
constexpr std::uint64_t kWsPer = 60000;

struct Seen {
    std::mutex lock;
    std::vector<std::vector<std::uint8_t>> once;
    bool ok = true;
    Seen() : once(kWsProducers, std::vector<std::uint8_t>(kWsPer, 0)) {}
    // Items of one producer reach one consumer in order.
    void take(const Item *items, std::size_t n, std::vector<std::uint64_t> &last) {
        std::lock_guard<std::mutex> g(lock);
        for (std::size_t i = 0; i < n; i++) {
            const Item &it = items[i];
            if (it.producer >= kWsProducers || it.seq >= kWsPer || once[it.producer][it.seq] ||
                (last[it.producer] != UINT64_MAX && it.seq <= last[it.producer])) {
                ok = false;
                continue;
            }
            once[it.producer][it.seq] = 1;
            last[it.producer] = it.seq;
        }
    }
    bool all(std::uint32_t producers) {
        for (std::uint32_t p = 0; p < producers; p++)
            for (std::uint8_t s : once[p])
                if (s != 1) return false;
        return ok;
    }
};

void test_spmc() {
    SpmcChannel<std::uint64_t> sp(64, 2);
    auto tx = sp.new_producer();
    CHECK_THROWS(ringmpsc::TooMany, RMPSC_ETOOMANY, sp.new_producer()); // one producer
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, sp.metrics());  // made without
    Consumer<std::uint64_t> a = sp.new_consumer();
    Consumer<std::uint64_t> b = sp.new_consumer();
    CHECK_THROWS(ringmpsc::TooMany, RMPSC_ETOOMANY, sp.new_consumer());
    const std::uint64_t v[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    std::uint64_t got[10];
    CHECK(tx.send(v, 10) == 10 && sp.size() == 10);
    CHECK(a.recv(got, 4) == 4 && got[0] == 1 && got[3] == 4);
    std::uint64_t sum = 0;
    CHECK(b.consume([&](const std::uint64_t &x) { sum += x; }) == 6 && sum == 45);
    CHECK(a.recv(got, 4) == 0 && !a.try_recv()); // nothing unclaimed: values
    CHECK(a.consume([&](std::uint64_t) {}) == 0);
    CHECK_THROWS(ringmpsc::Timeout, RMPSC_ETIMEDOUT, a.recv_blocking(1ms));
    CHECK(tx.send(v, 3) == 3);
    CHECK(a.try_recv() == 1u && a.recv_blocking(1s) == 2u);
    CHECK(a.recv_blocking(ringmpsc::Span<std::uint64_t>(got, 4), 1s) == 1 && got[0] == 3);
    CHECK(!sp.is_closed());
    CHECK(tx.send(v, 2) == 2);
    sp.close();
    CHECK(sp.is_closed());
    CHECK(a.recv(got, 1) == 1 && got[0] == 1); // drained first
    CHECK(b.try_recv() == 2u);
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, a.recv(got, 4));
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, a.try_recv());
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, a.recv_blocking());
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, b.consume([&](std::uint64_t) {}));
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, sp.new_consumer());
    int seen = 0;
    for (std::uint64_t x : b) {
        (void)x;
        seen++;
    }
    CHECK(seen == 0);
    Consumer<std::uint64_t> moved = std::move(a);
    CHECK(!a && moved);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, a.try_recv());

    // Consumer threads, range-for until closed and drained.
    SpmcChannel<Item> ch(256, kWsConsumers, ChannelFlags::Metrics);
    auto producer = ch.new_producer();
    Seen seen_items;
    std::vector<std::thread> consumers;
    for (std::uint32_t i = 0; i < kWsConsumers; i++) {
        consumers.emplace_back([&seen_items, c = ch.new_consumer()]() mutable {
            std::vector<std::uint64_t> last(kWsProducers, UINT64_MAX);
            try {
                for (const Item &it : c) seen_items.take(&it, 1, last);
            } catch (const std::exception &e) {
                std::fprintf(stderr, "spmc consumer: %s\n", e.what());
                failures++;
            }
        });
    }
    for (std::uint64_t s = 0; s < kWsPer; s++) producer.send_blocking(Item{0, 0, s}, 10s);
    ch.close();
    for (auto &t : consumers) t.join();
    CHECK(seen_items.all(1));
    ringmpsc::Metrics m = ch.metrics();
    CHECK(m.messages_sent == kWsPer && m.messages_received == kWsPer);
}

void test_mpmc() {
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, MpmcChannel<Item>(1000, 2, 2)); // not a power of two
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, MpmcChannel<Item>(1024, 0, 2));
    MpmcChannel<Item> mp(256, kWsProducers, kWsConsumers, ChannelFlags::Metrics | ChannelFlags::TrackContention);
    std::vector<Consumer<Item>> rx;
    for (std::uint32_t i = 0; i < kWsConsumers; i++) rx.push_back(mp.new_consumer());
    CHECK_THROWS(ringmpsc::TooMany, RMPSC_ETOOMANY, mp.new_consumer());
    Seen seen;
    std::vector<std::thread> threads;
    for (std::uint32_t id = 0; id < kWsProducers; id++) {
        threads.emplace_back([&mp, id] {
            try {
                auto tx = mp.new_producer();
                for (std::uint64_t s = 0; s < kWsPer; s++) tx.send_blocking(Item{id, 0, s}, 10s);
            } catch (const std::exception &e) {
                std::fprintf(stderr, "mpmc producer: %s\n", e.what());
                failures++;
            }
        });
    }
    std::vector<std::thread> consumers;
    for (auto &c : rx) {
        consumers.emplace_back([&seen, &c] {
            std::vector<std::uint64_t> last(kWsProducers, UINT64_MAX);
            Item buf[64];
            for (;;) {
                try {
                    std::size_t n = c.recv_blocking(buf, 64, 10s);
                    seen.take(buf, n, last);
                } catch (const ringmpsc::Closed &) {
                    break;
                } catch (const std::exception &e) {
                    std::fprintf(stderr, "mpmc consumer: %s\n", e.what());
                    failures++;
                    break;
                }
            }
        });
    }
    for (auto &t : threads) t.join();
    CHECK(!mp.is_closed());
    CHECK_THROWS(ringmpsc::TooMany, RMPSC_ETOOMANY, mp.new_producer());
    mp.close();
    CHECK(mp.is_closed());
    for (auto &t : consumers) t.join();
    CHECK(seen.all(kWsProducers));
    ringmpsc::Metrics m = mp.metrics();
    CHECK(m.messages_sent == kWsProducers * kWsPer && m.messages_received == kWsProducers * kWsPer);
    CHECK(mp.size() == 0);
    CHECK(m.avg_batch_size() >= 1.0);
    CHECK(m.throughput(2s) == static_cast<double>(m.messages_received) / 2.0);
    CHECK(m.throughput(std::chrono::duration<double>(-1.0)) == 0.0);

    MpmcChannel<std::uint64_t> one(16, 1, 1);
    auto tx = one.new_producer();
    auto c = one.new_consumer();
    const std::uint64_t v[5] = {1, 2, 3, 4, 5};
    std::uint64_t got[4];
    CHECK(tx.send(v, 5) == 5 && one.size() == 5);
    CHECK(c.recv(got, 2) == 2 && one.size() == 3);
    one.close();
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, one.new_consumer());
    std::vector<std::uint64_t> rest(c.begin(), c.end());
    CHECK(rest.size() == 3 && rest[0] == 3 && rest[2] == 5);
}

} // namespace

int main() {
    start_watchdog(120); // a hang fails the run instead of stalling it
    run("mpsc threads", test_mpsc_threads);
    run("mpsc closed", test_mpsc_closed_after_items);
    run("mpsc leased producer", test_mpsc_leased_producer);
    run("mpsc consumer api", test_mpsc_consumer_api);
    run("event loop", test_event_loop);
    run("notifier", test_notifier);
    run("spmc", test_spmc);
    run("mpmc", test_mpmc);
    return finish("test_channels");
}
