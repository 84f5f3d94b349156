// BufferPool through the C++ wrapper: slabs as spans, full as nullopt,
// bad handles, a shared pool on two mappings whose slab handles travel
// through a ring between two threads, descriptor passing and unlinking.
#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>
#include <type_traits>

#include "check.hpp"

using namespace std::chrono_literals;
using ringmpsc::BufferPool;

namespace {

#if defined(__cpp_lib_span) && __cpp_lib_span >= 202002L
static_assert(std::is_same<ringmpsc::ByteSpan, std::span<unsigned char>>::value, "std::span where there is one");
#endif
static_assert(std::is_convertible<ringmpsc::ByteSpan, ringmpsc::ConstByteSpan>::value, "writable to read-only");

void test_heap_pool() {
    BufferPool pool(256, 2);
    CHECK(pool.capacity() == 2 && pool.slab_size() == 256 && pool.available() == 2 && pool.fd() == -1);
    auto h1 = pool.alloc();
    auto h2 = pool.alloc();
    CHECK(h1 && h2 && *h1 != *h2);
    CHECK(!pool.alloc()); // every slab in use: a value
    ringmpsc::ByteSpan w = pool.writable(*h1);
    CHECK(w.size() == 256);
    std::memcpy(w.data(), "slab", 4);
    w[255] = 0xee;
    CHECK_THROWS(ringmpsc::TooLarge, RMPSC_ETOOLARGE, pool.set_len(*h1, 300));
    pool.set_len(*h1, 4);
    ringmpsc::ConstByteSpan r = pool.get(*h1);
    CHECK(r.size() == 4 && ringmpsc::to_string_view(r) == "slab");
    pool.set_len(*h1, 0);
    CHECK(pool.get(*h1).empty());
    pool.release(*h1);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, pool.release(*h1)); // freed twice
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, pool.get(*h1));     // used after free
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, pool.writable(*h1));
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, pool.release(0x00ffffff)); // foreign
    CHECK(pool.available() == 1);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, pool.unlink()); // a heap pool has no name
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, pool.unlink_on_drop());
    pool.release(*h2);
    CHECK(pool.available() == 2);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, BufferPool(0, 4));

    BufferPool moved = std::move(pool);
    CHECK(!pool && moved && moved.capacity() == 2 && pool.capacity() == 0);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, pool.alloc());
}

// Slabs filled from one mapping, read through another: only the 4-byte
// handles go through the ring.
void test_shared_pool_between_threads() {
    const std::string name = unique_name("pool");
    const std::uint32_t count = 20000;
    auto pool = BufferPool::create(name, 512, 64);
    pool.unlink_on_drop();
    auto mapping = BufferPool::attach(name, 1s);
    CHECK(mapping.capacity() == 64 && mapping.slab_size() == 512 && mapping.fd() >= 0);
    ringmpsc::Ring<std::uint32_t> handles(128);
    std::thread producer([&] {
        try {
            for (std::uint32_t seq = 0; seq < count; seq++) {
                std::optional<std::uint32_t> slab;
                while (!(slab = pool.alloc())) std::this_thread::yield(); // all lent out: wait for one back
                ringmpsc::ByteSpan w = pool.writable(*slab);
                const std::size_t len = 4 + seq % 500;
                std::memcpy(w.data(), &seq, 4);
                for (std::size_t i = 4; i < len; i++) w[i] = static_cast<unsigned char>(seq * 7 + i);
                pool.set_len(*slab, len);
                handles.send_blocking(*slab, 10s);
            }
        } catch (const std::exception &e) {
            std::fprintf(stderr, "producer: %s\n", e.what());
            failures++;
        }
        handles.close();
    });
    std::uint32_t seq = 0;
    bool ok = true;
    for (std::uint32_t slab : handles) {
        ringmpsc::ConstByteSpan r = mapping.get(slab);
        std::uint32_t got = 0;
        std::memcpy(&got, r.data(), 4);
        if (got != seq || r.size() != 4 + seq % 500) ok = false;
        for (std::size_t i = 4; i < r.size(); i++) {
            if (r[i] != static_cast<unsigned char>(seq * 7 + i)) ok = false;
        }
        mapping.release(slab); // back to the pool, through the other mapping
        seq++;
    }
    producer.join();
    CHECK(ok && seq == count);
    CHECK(pool.available() == 64 && mapping.available() == 64);
}

void test_anonymous_and_unlink() {
    auto pool = BufferPool::create("", 128, 8);
    auto other = BufferPool::attach_fd(pool.fd());
    auto slab = pool.alloc();
    CHECK(slab.has_value());
    std::memcpy(pool.writable(*slab).data(), "via fd", 6);
    pool.set_len(*slab, 6);
    CHECK(ringmpsc::to_string_view(other.get(*slab)) == "via fd");
    other.release(*slab);
    CHECK(pool.available() == 8);

    const std::string name = unique_name("pool-named");
    const std::string path = "/dev/shm/" + name;
    CHECK_THROWS(ringmpsc::IoError, RMPSC_EIO, BufferPool::attach(name, 0ns));
    {
        ringmpsc::Permissions perm;
        perm.mode = 0660;
        auto named = BufferPool::create(name, 256, 4, perm);
        named.unlink_on_drop(true);
        named.unlink_on_drop(false); // withdrawn
    }
    CHECK(::access(path.c_str(), F_OK) == 0);
    {
        auto again = BufferPool::attach(name, 1s);
        again.unlink();
    }
    CHECK(::access(path.c_str(), F_OK) != 0);
    {
        auto named = BufferPool::create(name, 256, 4);
        named.unlink_on_drop();
    }
    CHECK(::access(path.c_str(), F_OK) != 0);
}

} // namespace

int main() {
    start_watchdog(120); // a hang fails the run instead of stalling it
    run("heap pool", test_heap_pool);
    run("shared pool", test_shared_pool_between_threads);
    run("anonymous and unlink", test_anonymous_and_unlink);
    return finish("test_pool");
}
