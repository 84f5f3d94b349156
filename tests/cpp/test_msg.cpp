// MessageRing, MessageSender and MessageReceiver through the C++ wrapper:
// claim/commit/abort, copies, full and empty as values, the receive that
// releases the previous message, Closed once closed and drained, busy
// sides, a stream of variable-size messages through two threads, moves.
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"

using namespace std::chrono_literals;
using ringmpsc::Message;
using ringmpsc::MessageRing;

namespace {

std::size_t message_len(std::uint64_t seq) { return 8 + static_cast<std::size_t>((seq * 2654435761ull >> 7) % 700); }

void message(std::uint64_t seq, unsigned char *buf) {
    std::memcpy(buf, &seq, 8);
    for (std::size_t i = 8; i < message_len(seq); i++) buf[i] = static_cast<unsigned char>(seq + i);
}

void test_messages() {
    auto ring = MessageRing::create("", 4096); // anonymous: shared by descriptor
    CHECK(ring.max_message() == 4080 && ring.fd() >= 0);
    int sv[2];
    CHECK(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    ringmpsc::UniqueFd left(sv[0]), right(sv[1]);
    ringmpsc::send_fd(left.get(), ring.fd());
    auto other = MessageRing::attach_fd(ringmpsc::recv_fd(right.get()).get());

    auto tx = ring.sender();
    auto rx = other.receiver();
    CHECK_THROWS(ringmpsc::Busy, RMPSC_EBUSY, other.sender()); // one sender per ring
    CHECK(ring.is_sender_alive(1s) && ring.is_receiver_alive(1s));
    CHECK(!rx.try_recv()); // empty: a value
    CHECK(tx.try_send(1, "hello"));
    CHECK(tx.try_send(2, std::string_view())); // an empty message
    std::vector<unsigned char> big(5000);
    CHECK_THROWS(ringmpsc::TooLarge, RMPSC_ETOOLARGE, tx.try_send(3, big.data(), big.size()));
    unsigned char *buf = tx.claim(3);
    CHECK(buf != nullptr);
    std::memcpy(buf, "abc", 3);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, tx.commit(0xffffffffu, 3)); // reserved type
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, tx.commit(4, 4));           // more than claimed
    tx.commit(4, 2);
    buf = tx.claim(10);
    CHECK(buf != nullptr);
    tx.abort(); // nothing published

    auto m = rx.try_recv();
    CHECK(m && m->type == 1 && m->view() == "hello" && m->bytes().size() == 5);
    m = rx.try_recv(); // releases "hello" first
    CHECK(m && m->type == 2 && m->size == 0 && m->bytes().empty());
    rx.release();
    Message last = rx.recv_blocking(1s);
    CHECK(last.type == 4 && last.view() == "ab");
    CHECK(!rx.try_recv());
    CHECK_THROWS(ringmpsc::Timeout, RMPSC_ETIMEDOUT, rx.recv_blocking(1ms));

    // Full: false and nullptr, a blocking send times out.
    std::string fill(1000, 'x');
    int sent = 0;
    while (tx.try_send(9, fill)) sent++;
    CHECK(sent >= 3);
    CHECK(tx.claim(1000) == nullptr);
    CHECK_THROWS(ringmpsc::Timeout, RMPSC_ETIMEDOUT, tx.send_blocking(9, fill, 1ms));
    int got = 0;
    while (auto f = rx.try_recv()) got += f->size == 1000;
    CHECK(got == sent);

    // Closed: the sender goes, the receiver drains, then every receive throws Closed.
    CHECK(tx.try_send(5, "last"));
    { auto gone = std::move(tx); }
    CHECK(ring.is_closed() && other.is_closed());
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, tx.try_send(1, "moved from"));
    CHECK(rx.try_recv()->view() == "last");
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, rx.try_recv());
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, rx.recv_blocking());
    int seen = 0;
    for (const Message &msg : rx) {
        (void)msg;
        seen++;
    }
    CHECK(seen == 0);
}

void test_busy_sides() {
    auto ring = MessageRing::create("", 4096);
    auto tx = ring.sender();
    auto rx = ring.receiver();
    std::string got;
    std::thread waiter([&] {
        for (;;) {
            try {
                got = std::string(rx.recv_blocking(10s).view());
            } catch (const ringmpsc::Busy &) {
                continue; // the main thread was inside for a moment: enter again
            } catch (const std::exception &e) {
                got = e.what();
            }
            return;
        }
    });
    // Until the waiter sleeps inside the receiving side, a receive finds nothing.
    bool busy = false;
    for (int i = 0; i < 2000 && !busy; i++) {
        try {
            CHECK(!rx.try_recv());
            std::this_thread::sleep_for(1ms);
        } catch (const ringmpsc::Busy &) {
            busy = true;
        }
    }
    CHECK(busy);
    CHECK(tx.try_send(7, "hi"));
    waiter.join();
    CHECK(got == "hi");
    rx.release();

    std::string fill(1000, 'y');
    while (tx.try_send(1, fill)) {
    }
    int outcome = 0;
    std::thread sender([&] {
        for (;;) {
            try {
                tx.send_blocking(1, "late", 10s);
                outcome = 1;
            } catch (const ringmpsc::Busy &) {
                continue;
            } catch (...) {
                outcome = 2;
            }
            return;
        }
    });
    // Until the sender sleeps inside the sending side, a send finds the ring full.
    busy = false;
    for (int i = 0; i < 2000 && !busy; i++) {
        try {
            CHECK(!tx.try_send(1, "x"));
            std::this_thread::sleep_for(1ms);
        } catch (const ringmpsc::Busy &) {
            busy = true;
        }
    }
    CHECK(busy);
    CHECK_THROWS(ringmpsc::Busy, RMPSC_EBUSY, tx.claim(1));
    std::string last;
    while (auto m = rx.try_recv()) last = std::string(m->view());
    sender.join();
    CHECK(outcome == 1);
    if (auto m = rx.try_recv()) last = std::string(m->view());
    CHECK(last == "late");
}

// A sender thread on its own mapping of a named ring; the receiver checks
// every message, in order, until the sender's side closes the ring.
void test_stream_through_threads() {
    const std::string name = unique_name("msg");
    const std::uint64_t count = 30000;
    CHECK_THROWS(ringmpsc::IoError, RMPSC_EIO, MessageRing::attach(name, 0ns)); // not there yet
    auto ring = MessageRing::create(name, 1 << 16);
    ring.unlink_on_drop();
    CHECK_THROWS(ringmpsc::HeaderMismatch, RMPSC_EHEADER, ringmpsc::SharedRing<std::uint64_t>::attach(name, 0ns));
    auto rx = ring.receiver();
    std::thread sender([&] {
        try {
            auto mapping = MessageRing::attach(name, 1s);
            auto tx = mapping.sender();
            unsigned char tmp[1024];
            for (std::uint64_t seq = 0; seq < count; seq++) {
                const std::size_t len = message_len(seq);
                if (unsigned char *buf = tx.claim(len)) { // zero copy
                    message(seq, buf);
                    tx.commit(static_cast<std::uint32_t>(seq % 1000), len);
                } else {
                    message(seq, tmp);
                    tx.send_blocking(static_cast<std::uint32_t>(seq % 1000), tmp, len, 10s);
                }
            }
        } catch (const std::exception &e) {
            std::fprintf(stderr, "sender: %s\n", e.what());
            failures++;
        }
    });
    std::uint64_t seq = 0;
    bool ok = true;
    unsigned char expect[1024];
    for (const Message &m : rx) {
        message(seq, expect);
        if (m.type != seq % 1000 || m.size != message_len(seq) || std::memcmp(m.data, expect, m.size) != 0) ok = false;
        seq++;
    }
    sender.join();
    CHECK(ok && seq == count);
    CHECK(!ring.is_sender_alive());
}

void test_moves() {
    auto a = MessageRing::create("", 4096);
    MessageRing b = std::move(a);
    CHECK(!a && b && b.max_message() == 4080 && a.max_message() == 0);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, a.sender());
    auto tx = b.sender();
    auto rx = b.receiver();
    CHECK(tx.try_send(3, "one") && tx.try_send(3, "two"));
    CHECK(rx.try_recv()->view() == "one");
    ringmpsc::MessageReceiver moved = std::move(rx); // the held message moves with it
    CHECK(!rx && moved);
    CHECK(moved.try_recv()->view() == "two");
    b.close();
    CHECK(b.is_closed());
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, tx.try_send(3, "three"));
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, moved.try_recv());
}

} // namespace

int main() {
    start_watchdog(120); // a hang fails the run instead of stalling it
    run("messages", test_messages);
    run("busy sides", test_busy_sides);
    run("stream", test_stream_through_threads);
    run("moves", test_moves);
    return finish("test_msg");
}
