// SharedRing<T> through the C++ wrapper: attach refusals, sides as Ring<T>
// handles, a sequence through two threads on two mappings, closed and
// drained, unlink on drop, permissions, stale segments, and descriptor
// passing (socketpair, FdServer/connect_unix) into attach_fd.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "check.hpp"

using namespace std::chrono_literals;
using ringmpsc::SharedRing;

namespace {

struct Slot {
    std::uint64_t seq;
    std::uint64_t check;
};
constexpr std::uint64_t kMix = 0x9E3779B97F4A7C15ull;

bool exists(const std::string &path) { return ::access(path.c_str(), F_OK) == 0; }

void test_attach_and_sides() {
    const std::string name = unique_name("shm");
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, SharedRing<std::uint64_t>::create(name, 3));
    auto a = SharedRing<std::uint64_t>::create(name, 8);
    a.unlink_on_drop();
    CHECK_THROWS(ringmpsc::IoError, RMPSC_EIO, SharedRing<std::uint64_t>::create(name, 8)); // exclusive
    try {
        SharedRing<Slot>::attach(name, 0ns); // 16-byte slots asked, 8 there
        CHECK(false);
    } catch (const ringmpsc::HeaderMismatch &e) {
        CHECK(std::string(e.what()).find("8-byte slots") != std::string::npos);
    }
    CHECK_THROWS(ringmpsc::IoError, RMPSC_EIO, SharedRing<std::uint64_t>::attach(unique_name("missing"), 0ns));
    CHECK_THROWS(ringmpsc::HeaderMismatch, RMPSC_EHEADER, SharedRing<std::uint64_t>::attach("/dev/null", 0ns));
    auto b = SharedRing<std::uint64_t>::attach(name, 1s);
    CHECK(b.capacity() == 8 && b.slot_size() == 8 && b.size() == 0 && b.fd() >= 0);
    CHECK(!b.is_producer_alive() && !b.is_consumer_alive());

    auto rx = b.consumer();
    {
        auto tx = a.producer();
        CHECK_THROWS(ringmpsc::Busy, RMPSC_EBUSY, b.producer()); // one holder per side
        CHECK(b.is_producer_alive(1s) && a.is_consumer_alive());
        CHECK(tx.try_send(7) && tx.try_send(8));
        CHECK(b.size() == 2);
        CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, tx.try_recv()); // a producer-only handle
        CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, rx.try_send(1)); // a consumer-only handle
        CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, tx.reset());     // needs both sides
        CHECK(rx.try_recv() == 7u);
    } // destroying the producer closes the ring
    CHECK(a.is_closed() && b.is_closed());
    CHECK(rx.recv_blocking(1s) == 8u); // what was sent still arrives
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, rx.try_recv());
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, rx.recv_blocking(1s));
    const std::string path = "/dev/shm/" + name;
    CHECK(exists(path));
}

// A producer thread on one mapping, the consumer on another.
void test_two_threads() {
    const std::string name = unique_name("shm-threads");
    const std::uint64_t count = 200000;
    auto ring = SharedRing<Slot>::create(name, 1024);
    ring.unlink_on_drop();
    auto rx = ring.consumer();
    std::thread producer([&] {
        try {
            auto mapping = SharedRing<Slot>::attach(name, 1s);
            auto tx = mapping.producer();
            std::uint64_t seq = 0;
            while (seq < count) {
                auto span = tx.reserve(static_cast<std::size_t>(count - seq));
                if (span.empty()) {
                    tx.send_blocking(Slot{seq, seq * kMix}, 5s);
                    seq++;
                    continue;
                }
                for (Slot &s : span) {
                    s = Slot{seq, seq * kMix};
                    seq++;
                }
                tx.commit(span.size());
            }
        } catch (const std::exception &e) {
            std::fprintf(stderr, "producer: %s\n", e.what());
            failures++;
        }
    }); // its producer side goes with the thread: the ring closes
    std::vector<Slot> batch(256);
    std::uint64_t seq = 0;
    bool ok = true;
    for (;;) {
        std::size_t n = 0;
        try {
            n = rx.recv_blocking(batch.data(), batch.size(), 10s);
        } catch (const ringmpsc::Closed &) {
            break;
        }
        for (std::size_t i = 0; i < n; i++, seq++) {
            if (batch[i].seq != seq || batch[i].check != seq * kMix) ok = false;
        }
    }
    producer.join();
    CHECK(ok && seq == count);
}

void test_unlink_on_drop_and_moves() {
    const std::string name = unique_name("shm-auto");
    const std::string path = "/dev/shm/" + name;
    ringmpsc::Ring<std::uint64_t> tx = [&] {
        auto s = SharedRing<std::uint64_t>::create(name, 8);
        s.unlink_on_drop();
        auto moved = std::move(s);
        CHECK(!s && moved);
        CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, s.producer());
        return moved.producer();
    }();
    CHECK(exists(path)); // the producer still maps it
    tx = ringmpsc::Ring<std::uint64_t>(4); // frees the producer: the last handle
    CHECK(!exists(path));

    auto s = SharedRing<std::uint64_t>::create(name, 8);
    s.unlink_on_drop(true);
    s.unlink_on_drop(false); // withdrawn
    s = SharedRing<std::uint64_t>::create(unique_name("shm-auto2"), 8);
    CHECK(exists(path));
    s.unlink(); // the second one's name
    CHECK(ringmpsc::shm::remove_if_stale(name) == false); // its creator (this process) lives
    ::unlink(path.c_str());
}

void test_permissions() {
    const std::string name = unique_name("shm-perm");
    const std::string path = "/dev/shm/" + name;
    ringmpsc::Permissions perm;
    perm.mode = 0640;
    perm.set_group = true;
    perm.group = static_cast<std::uint32_t>(::getegid());
    {
        auto r = SharedRing<std::uint64_t>::create(name, 16, perm);
        struct stat st {};
        CHECK(::stat(path.c_str(), &st) == 0 && (st.st_mode & 07777) == 0640 && st.st_gid == ::getegid());
        r.unlink();
    }
    {
        auto r = SharedRing<std::uint64_t>::create(name, 16); // the default: 0600
        struct stat st {};
        CHECK(::stat(path.c_str(), &st) == 0 && (st.st_mode & 07777) == 0600);
        r.unlink();
    }
    perm.mode = 04777; // beyond 0777
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, SharedRing<std::uint64_t>::create(name, 16, perm));
    CHECK(!exists(path));
}

// A segment whose creator died and that no live process holds is stale.
void test_stale_segment() {
    const std::string name = unique_name("shm-stale");
    pid_t child = ::fork();
    if (child == 0) {
        try {
            auto r = SharedRing<std::uint64_t>::create(name, 8);
            (void)r.fd();
        } catch (...) {
            ::_exit(1);
        }
        ::_exit(0); // the ring's destructor never runs: the name stays
    }
    int status = 0;
    CHECK(::waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(exists("/dev/shm/" + name));
    CHECK(ringmpsc::shm::remove_if_stale(name));
    CHECK(!exists("/dev/shm/" + name));
}

void test_fd_passing() {
    // An anonymous ring travels over a socketpair.
    auto ring = SharedRing<std::uint64_t>::create("", 16);
    int sv[2];
    CHECK(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    ringmpsc::UniqueFd left(sv[0]), right(sv[1]);
    ringmpsc::send_fd(left.get(), ring.fd());
    ringmpsc::UniqueFd got = ringmpsc::recv_fd(right.get());
    CHECK(got && got.get() != ring.fd());
    auto other = SharedRing<std::uint64_t>::attach_fd(got.get());
    got.reset(); // the mapping keeps its own descriptor
    auto tx = ring.producer();
    auto rx = other.consumer();
    CHECK(tx.try_send(99) && rx.try_recv() == 99u);
    left.reset(); // the peer is gone
    CHECK_THROWS(ringmpsc::Disconnected, RMPSC_EDISCONNECTED, ringmpsc::recv_fd(right.get()));

    // A listening socket hands the descriptor to whoever connects.
    const std::string path = "/tmp/" + unique_name("fdserver") + ".sock";
    {
        ringmpsc::FdServer server(path);
        CHECK(exists(path));
        CHECK_THROWS(ringmpsc::IoError, RMPSC_EIO, ringmpsc::FdServer(path)); // the path exists
        std::thread serving([&] {
            try {
                ringmpsc::UniqueFd conn = server.accept();
                ringmpsc::send_fd(conn.get(), ring.fd());
            } catch (const std::exception &e) {
                std::fprintf(stderr, "fd server: %s\n", e.what());
                failures++;
            }
        });
        ringmpsc::UniqueFd conn = ringmpsc::connect_unix(path);
        ringmpsc::UniqueFd fd = ringmpsc::recv_fd(conn.get());
        serving.join();
        auto third = SharedRing<std::uint64_t>::attach_fd(fd.get());
        CHECK(third.capacity() == 16);
        CHECK(tx.try_send(5) && third.size() == 1 && rx.try_recv() == 5u);
        ringmpsc::UniqueFd moved = std::move(fd);
        CHECK(!fd && moved);
    } // the server removes its socket file
    CHECK(!exists(path));
    CHECK_THROWS(ringmpsc::IoError, RMPSC_EIO, ringmpsc::connect_unix(path));
}

} // namespace

int main() {
    start_watchdog(120); // a hang fails the run instead of stalling it
    run("stale segment", test_stale_segment); // forks: before any thread starts
    run("attach and sides", test_attach_and_sides);
    run("two threads", test_two_threads);
    run("unlink on drop", test_unlink_on_drop_and_moves);
    run("permissions", test_permissions);
    run("fd passing", test_fd_passing);
    return finish("test_shm");
}
