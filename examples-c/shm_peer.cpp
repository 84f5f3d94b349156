// One end of a cross-process, cross-language stream over shared memory,
// written with the C++ wrapper (bindings/cpp/ringmpsc.hpp).
//
//   shm_peer_cpp recv NAME COUNT         creates a message ring, receives and checks COUNT messages
//   shm_peer_cpp send NAME COUNT         attaches to it, sends COUNT messages
//   shm_peer_cpp recv-slots NAME COUNT   creates a ring of 16-byte slots, receives and checks COUNT
//   shm_peer_cpp send-slots NAME COUNT   attaches to it, sends COUNT slots
//
// Messages are those of examples-c/shm_peer.c (sequence number, then a
// slice of a fixed pattern; the type is the CRC-32 masked to 31 bits), so
// any peer can be paired with this one. A slot is {seq, seq * 0x9E3779B97F4A7C15}
// as two little-endian u64s (python/examples/shm_peer.py speaks it too).
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ringmpsc.hpp"

namespace {

struct Slot {
    std::uint64_t seq;
    std::uint64_t check;
};
constexpr std::uint64_t kSlotMix = 0x9E3779B97F4A7C15ull;

unsigned char pattern[4096];
std::uint32_t crc_table[256];

void init_tables() {
    for (int i = 0; i < 4096; i++) pattern[i] = static_cast<unsigned char>(i & 0xff);
    for (std::uint32_t i = 0; i < 256; i++) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

std::uint32_t crc31(const unsigned char *p, std::size_t n) {
    std::uint32_t c = 0xffffffffu;
    for (std::size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return (c ^ 0xffffffffu) & 0x7fffffffu;
}

std::size_t message_len(std::uint64_t seq) { return 8 + static_cast<std::size_t>(((seq * 2654435761ull) >> 7) % 1001); }

// Builds message `seq` into buf (room for message_len(seq) bytes).
void message(std::uint64_t seq, unsigned char *buf) {
    for (int i = 0; i < 8; i++) buf[i] = static_cast<unsigned char>(seq >> (8 * i));
    std::memcpy(buf + 8, pattern + seq % 251, message_len(seq) - 8);
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Millions per second (0 when nothing was timed).
double rate(std::uint64_t n, double secs) { return secs > 0 ? static_cast<double>(n) / secs / 1e6 : 0.0; }

int send_messages(const std::string &name, std::uint64_t count) {
    auto ring = ringmpsc::MessageRing::attach(name, std::chrono::seconds(10));
    auto tx = ring.sender();
    unsigned char tmp[1008];
    for (std::uint64_t seq = 0; seq < count; seq++) {
        std::size_t len = message_len(seq);
        if (unsigned char *buf = tx.claim(len)) {  // zero copy: built in the ring
            message(seq, buf);
            tx.commit(crc31(buf, len), len);
        } else {  // full: wait for room on the ring's futex
            message(seq, tmp);
            tx.send_blocking(crc31(tmp, len), tmp, len);
        }
    }
    return 0;  // the sender's destructor closes the ring: the receiver sees the end
}

int recv_messages(const std::string &name, std::uint64_t count) {
    auto ring = ringmpsc::MessageRing::create(name, 1 << 20);
    ring.unlink_on_drop();
    auto rx = ring.receiver();
    unsigned char expect[1008];
    std::uint64_t seq = 0, bytes = 0;
    auto start = std::chrono::steady_clock::now();
    for (;;) {
        ringmpsc::Message m{};
        try {
            m = rx.recv_blocking(std::chrono::seconds(30));
        } catch (const ringmpsc::Closed &) {
            break;  // the sender closed the ring and everything is read
        }
        if (seq == 0) start = std::chrono::steady_clock::now();
        message(seq, expect);
        if (m.size != message_len(seq) || std::memcmp(m.data, expect, m.size) != 0 ||
            m.type != crc31(m.data, m.size)) {
            std::fprintf(stderr, "shm_peer_cpp: message %" PRIu64 " is wrong\n", seq);
            return 1;
        }
        bytes += m.size;
        seq++;
        rx.release();
    }
    double secs = seconds_since(start);
    if (seq != count) {
        std::fprintf(stderr, "shm_peer_cpp: received %" PRIu64 " of %" PRIu64 " messages\n", seq, count);
        return 1;
    }
    std::printf("C++ receiver: %" PRIu64 " messages, %.1f MB, all in order and intact, %.2f M msg/s\n", seq,
                static_cast<double>(bytes) / 1e6, rate(seq, secs));
    return 0;
}

int send_slots(const std::string &name, std::uint64_t count) {
    auto ring = ringmpsc::SharedRing<Slot>::attach(name, std::chrono::seconds(10));
    auto tx = ring.producer();
    std::uint64_t seq = 0;
    while (seq < count) {
        auto span = tx.reserve(static_cast<std::size_t>(count - seq));
        if (span.empty()) {  // full: wait for room
            tx.send_blocking(Slot{seq, seq * kSlotMix});
            seq++;
            continue;
        }
        for (Slot &s : span) {
            s = Slot{seq, seq * kSlotMix};
            seq++;
        }
        tx.commit(span.size());
    }
    return 0;  // destroying the producer closes the ring
}

int recv_slots(const std::string &name, std::uint64_t count) {
    auto ring = ringmpsc::SharedRing<Slot>::create(name, 4096);
    ring.unlink_on_drop();
    auto rx = ring.consumer();
    std::vector<Slot> batch(1024);
    std::uint64_t seq = 0;
    auto start = std::chrono::steady_clock::now();
    for (;;) {
        std::size_t n = 0;
        try {
            n = rx.recv_blocking(batch.data(), batch.size(), std::chrono::seconds(30));
        } catch (const ringmpsc::Closed &) {
            break;  // the producer closed the ring and everything is read
        }
        if (seq == 0) start = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < n; i++, seq++) {
            if (batch[i].seq != seq || batch[i].check != seq * kSlotMix) {
                std::fprintf(stderr, "shm_peer_cpp: slot %" PRIu64 " is wrong\n", seq);
                return 1;
            }
        }
    }
    double secs = seconds_since(start);
    if (seq != count) {
        std::fprintf(stderr, "shm_peer_cpp: received %" PRIu64 " of %" PRIu64 " slots\n", seq, count);
        return 1;
    }
    std::printf("C++ receiver: %" PRIu64 " slots, all in order and intact, %.1f M slots/s\n", seq,
                rate(seq, secs));
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: shm_peer_cpp send|recv|send-slots|recv-slots NAME COUNT\n");
        return 2;
    }
    init_tables();
    std::string mode = argv[1], name = argv[2];
    std::uint64_t count = std::strtoull(argv[3], nullptr, 10);
    try {
        if (mode == "send") return send_messages(name, count);
        if (mode == "recv") return recv_messages(name, count);
        if (mode == "send-slots") return send_slots(name, count);
        if (mode == "recv-slots") return recv_slots(name, count);
    } catch (const ringmpsc::Error &e) {
        std::fprintf(stderr, "shm_peer_cpp: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "shm_peer_cpp: unknown mode %s\n", mode.c_str());
    return 2;
}
