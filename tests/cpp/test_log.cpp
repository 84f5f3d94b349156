// The persistent log through the C++ wrapper: options, reserve/commit and
// append, replay by range-for across rolls, live readers, positions and
// seeks, batches, blocking reads that end in Closed (writer closed) or
// Disconnected (writer died), the single-writer guard, retention (Behind),
// corrupt files, a writer thread and a reader thread, and moves.
#include <fcntl.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"

using namespace std::chrono_literals;
using ringmpsc::LogOptions;
using ringmpsc::LogReader;
using ringmpsc::LogRecord;
using ringmpsc::LogWriter;
using ringmpsc::WriterStatus;

namespace {

std::string dir, path;

LogOptions small() {
    LogOptions o;
    const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    o.region_size = page;   // a page per region,
    o.file_size = 2 * page; // two regions per file
    return o;
}

std::size_t payload(std::uint64_t i, unsigned char *buf) {
    const std::size_t len = static_cast<std::size_t>(i * 37 % 300);
    for (std::size_t k = 0; k < len; k++) buf[k] = static_cast<unsigned char>(i + k);
    return len;
}

bool same(const LogRecord &r, std::uint64_t i) {
    unsigned char tmp[512];
    const std::size_t n = payload(i, tmp);
    return r.index == i && r.type == static_cast<std::uint32_t>(i) && r.timestamp == i && r.data.size() == n &&
           (n == 0 || std::memcmp(r.data.data(), tmp, n) == 0);
}

void test_write_and_replay() {
    LogOptions o = small();
    o.region_size = 1000; // not a page multiple
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, LogWriter(path, o));
    o = small();
    o.durability = static_cast<ringmpsc::Durability>(9);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, LogWriter(path, o));
    CHECK_THROWS(ringmpsc::IoError, RMPSC_EIO, LogReader(path)); // no log yet
    o = small();
    o.prefault = true; // a thread faults pages in ahead of the writer
    auto w = std::make_unique<LogWriter>(path, o);
    CHECK_THROWS(ringmpsc::Busy, RMPSC_EBUSY, LogWriter(path, o)); // one writer
    const std::size_t mtu = w->mtu();
    CHECK(mtu > 0);
    CHECK_THROWS(ringmpsc::TooLarge, RMPSC_ETOOLARGE, w->reserve(mtu + 1));
    unsigned char tmp[512];
    bool indexed = true;
    for (std::uint64_t i = 0; i < 1000; i++) {
        const std::size_t n = payload(i, tmp);
        std::uint64_t index = 0;
        if (i % 2) {
            index = w->append(static_cast<std::uint32_t>(i), tmp, n, i);
        } else {
            ringmpsc::ByteSpan buf = w->reserve(n);
            if (buf.size() != n) indexed = false;
            if (n) std::memcpy(buf.data(), tmp, n);
            index = w->commit(static_cast<std::uint32_t>(i), n, i);
        }
        if (index != i) indexed = false;
    }
    CHECK(indexed);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, w->commit(0, 1)); // no reservation
    w->reserve(10);
    w->abort(); // nothing published
    CHECK(w->next_index() == 1000);
    CHECK(w->position().file > 5);

    LogReader r(path);
    std::uint64_t i = 0;
    bool ok = true;
    for (const LogRecord &rec : r) { // what is committed now, then the loop ends
        if (!same(rec, i)) ok = false;
        i++;
    }
    CHECK(ok && i == 1000);
    CHECK(!r.try_read()); // nothing new: a value
    CHECK_THROWS(ringmpsc::Timeout, RMPSC_ETIMEDOUT, r.read_blocking(10ms));
    CHECK(r.writer_status() == WriterStatus::Active);
    CHECK(w->append(1, "end", 7) == 1000);
    LogRecord end = r.read_blocking();
    CHECK(end.view() == "end" && end.timestamp == 7 && end.index == 1000);
    w.reset(); // closes the log cleanly
    CHECK_THROWS(ringmpsc::Closed, RMPSC_ECLOSED, r.read_blocking());
    CHECK(r.writer_status() == WriterStatus::Closed);
    CHECK(!r.try_read());
    int more = 0;
    for (const LogRecord &rec : r) {
        (void)rec;
        more++;
    }
    CHECK(more == 0);
}

void test_positions_batches_and_live() {
    LogReader at = LogReader::at_index(path, 500);
    auto m = at.try_read();
    CHECK(m && m->index == 500);
    const ringmpsc::LogPosition p = m->position;
    LogReader r = LogReader::at(path, p);
    CHECK(r.position() == p);
    m = r.try_read();
    CHECK(m && m->index == 500 && m->position == p);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, r.seek(ringmpsc::LogPosition(p.file, p.offset + 8)));
    r.seek(ringmpsc::LogPosition(0, 256));
    CHECK(r.next_index() == 0);
    std::vector<LogRecord> batch;
    std::uint64_t seen = 0;
    bool ok = true;
    while (r.read_batch(batch, 64) > 0) {
        for (const LogRecord &rec : batch)
            if (rec.index != seen++) ok = false;
    }
    CHECK(ok && seen == 1001 && batch.empty());
    CHECK(r.read_batch(batch, 0) == 0);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, LogReader::at_index(path, 5000)); // not written

    // A new writer reopens the log; a live reader sees only what follows.
    LogWriter w(path); // the log's own geometry
    LogReader live(path, true);
    CHECK(!live.try_read());
    CHECK(w.append(2, "live") == 1001);
    m = live.try_read();
    CHECK(m && m->index == 1001 && m->view() == "live");
    w.roll();
    w.flush();
    CHECK(w.append(3, "after roll") == 1002);
    m = live.read_blocking(1s);
    CHECK(m->view() == "after roll" && m->position.file > p.file);

    LogReader moved = std::move(live);
    CHECK(!live && moved && moved.next_index() == 1003);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, live.try_read());
    LogWriter w2 = std::move(w);
    CHECK(!w && w2.next_index() == 1003 && w.mtu() == 0);
}

// A writer process that dies without closing the log: readers see it.
void test_dead_writer() {
    const std::string p = dir + "/dead";
    pid_t child = ::fork();
    if (child == 0) {
        try {
            LogWriter w(p, small());
            w.append(1, "before the crash");
            ::_exit(0); // dies holding the log: the writer never closes it
        } catch (...) {
            ::_exit(1);
        }
    }
    int status = 0;
    CHECK(::waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    LogReader r(p);
    CHECK(r.read_blocking(1s).view() == "before the crash");
    CHECK(r.writer_status() == WriterStatus::Dead);
    CHECK_THROWS(ringmpsc::Disconnected, RMPSC_EDISCONNECTED, r.read_blocking(1s));
    CHECK(!r.try_read());
    LogWriter again(p); // a new writer resumes after the last record
    CHECK(again.next_index() == 1);
}

void test_retention_and_corruption() {
    const std::string kept = dir + "/kept";
    LogOptions o = small();
    o.retention_files = 2;
    {
        LogWriter w(kept, o);
        LogReader slow(kept);
        unsigned char tmp[512];
        for (std::uint64_t i = 0; i < 2000; i++) w.append(0, ringmpsc::ConstByteSpan(tmp, payload(i, tmp)), i);
        try {
            while (slow.try_read()) {
            }
            CHECK(false);
        } catch (const ringmpsc::Behind &e) {
            CHECK(e.code() == RMPSC_EBEHIND);
        }
        CHECK_THROWS(ringmpsc::Behind, RMPSC_EBEHIND, LogReader::at_index(kept, 0));
    }

    // A record length pointing past its region: Corrupt, with its offset.
    {
        ringmpsc::UniqueFd fd(::open(path.c_str(), O_RDWR));
        CHECK(fd);
        const std::uint32_t huge = 0xffffffffu;
        CHECK(::pwrite(fd.get(), &huge, 4, 256) == 4);
        LogReader r(path);
        try {
            r.try_read();
            CHECK(false);
        } catch (const ringmpsc::Corrupt &e) {
            CHECK(std::string(e.what()).find("0x100") != std::string::npos);
        }
        CHECK(::ftruncate(fd.get(), 1000) == 0); // a truncated file
        try {
            LogReader t(path);
            CHECK(false);
        } catch (const ringmpsc::HeaderMismatch &e) {
            CHECK(std::string(e.what()).find("truncated") != std::string::npos);
        }
    }
    // A flipped payload byte: the record's checksum catches it.
    const std::string crc = dir + "/crc";
    {
        LogWriter w(crc);
        w.append(1, "checked");
    }
    {
        ringmpsc::UniqueFd fd(::open(crc.c_str(), O_RDWR));
        CHECK(fd && ::pwrite(fd.get(), "X", 1, 256 + 24) == 1);
    }
    LogReader r(crc);
    CHECK_THROWS(ringmpsc::Corrupt, RMPSC_ECORRUPT, r.try_read());
    LogOptions no_crc;
    no_crc.no_checksums = true;
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, LogWriter(crc, no_crc)); // the log has them
}

// A writer thread and a reader thread blocked on it: every record once, in
// order, then Closed when the writer closes the log.
void test_threads() {
    const std::string p = dir + "/threads";
    const std::uint64_t count = 50000;
    LogOptions o;
    o.durability = ringmpsc::Durability::Records;
    o.durability_arg = 10000;
    auto w = std::make_unique<LogWriter>(p, o);
    LogReader r(p, true);
    std::thread writer([&] {
        try {
            for (std::uint64_t i = 0; i < count; i++) {
                if (i % 2) {
                    w->append(static_cast<std::uint32_t>(i % 7), &i, sizeof i, i);
                } else {
                    ringmpsc::ByteSpan b = w->reserve(sizeof i);
                    std::memcpy(b.data(), &i, sizeof i);
                    w->commit(static_cast<std::uint32_t>(i % 7), sizeof i, i);
                }
            }
        } catch (const std::exception &e) {
            std::fprintf(stderr, "writer: %s\n", e.what());
            failures++;
        }
        w.reset();
    });
    std::uint64_t next = 0;
    bool ok = true;
    for (;;) {
        try {
            LogRecord rec = r.read_blocking(10s);
            std::uint64_t v = 0;
            std::memcpy(&v, rec.data.data(), sizeof v);
            if (v != next || rec.index != next || rec.timestamp != next || rec.type != next % 7) ok = false;
            next++;
        } catch (const ringmpsc::Closed &) {
            break;
        }
    }
    writer.join();
    CHECK(ok && next == count);
}

} // namespace

int main() {
    start_watchdog(120); // a hang fails the run instead of stalling it
    dir = "/tmp/" + unique_name("log");
    path = dir + "/log";
    if (std::system(("rm -rf " + dir + " && mkdir -p " + dir).c_str()) != 0) return 1;
    run("dead writer", test_dead_writer); // forks: before any thread starts
    run("write and replay", test_write_and_replay);
    run("positions, batches, live", test_positions_batches_and_live);
    run("retention and corruption", test_retention_and_corruption);
    run("threads", test_threads);
    if (std::system(("rm -rf " + dir).c_str()) != 0) return 1;
    return finish("test_log");
}
