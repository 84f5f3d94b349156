// The NUMA helpers through the C++ wrapper: topology, pinning, placement
// and node-placed memory (on a single-node machine they answer for node 0).
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "check.hpp"

namespace numa = ringmpsc::numa;

namespace {

void test_topology_and_pinning() {
    const std::size_t nodes = numa::node_count();
    CHECK(nodes >= 1);
    CHECK(numa::is_numa() == (nodes > 1));
    const std::size_t id = numa::node_id(0);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, numa::node_id(nodes));
    std::vector<std::size_t> cpus = numa::node_cpus(id);
    CHECK(!cpus.empty());
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, numa::node_cpus(9999));
    for (std::size_t c : cpus) CHECK(numa::node_of_cpu(c) == id);
    CHECK(numa::nearest_node(id) < 9999);

    // Pinning on a thread of its own, so the test's other threads keep their mask.
    std::thread pinned([&] {
        try {
            const std::size_t cpu = numa::current_cpu();
            numa::bind_to_cpu(cpu);
            CHECK(numa::current_cpu() == cpu);
            CHECK(numa::node_of_cpu(cpu) == numa::current_node());
            numa::bind_to_node(id);
            CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, numa::bind_to_node(9999));
            CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, numa::bind_to_cpu(1u << 20));
        } catch (const std::exception &e) {
            std::fprintf(stderr, "pinning: %s\n", e.what());
            failures++;
        }
    });
    pinned.join();
}

void test_memory() {
    const std::size_t id = numa::node_id(0);
    static char page[8192];
    try {
        numa::bind_memory(page, sizeof page, id);
    } catch (const ringmpsc::IoError &) {
        // a kernel may refuse: placement is an optimisation
    }
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, numa::bind_memory(nullptr, 1, id));

    numa::Memory mem(100000, id);
    CHECK(mem && mem.size() == 100000 && mem.bytes().size() == 100000);
    CHECK((reinterpret_cast<std::uintptr_t>(mem.data()) & 4095) == 0); // page-aligned
    ringmpsc::ByteSpan b = mem.bytes();
    CHECK(b[0] == 0 && b[99999] == 0); // zeroed
    std::memset(b.data(), 0xab, b.size());
    numa::Memory moved = std::move(mem);
    CHECK(!mem && moved && moved.bytes()[4242] == 0xab && mem.bytes().empty());
    moved = numa::Memory(4096, id); // the old mapping goes
    CHECK(moved.size() == 4096 && moved.bytes()[0] == 0);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, numa::Memory(64, 9999));
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, numa::Memory(static_cast<std::size_t>(-1), id));
}

} // namespace

int main() {
    start_watchdog(120); // a hang fails the run instead of stalling it
    run("topology and pinning", test_topology_and_pinning);
    run("memory", test_memory);
    return finish("test_numa");
}
