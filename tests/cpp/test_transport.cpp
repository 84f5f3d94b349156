// The transport through the C++ wrapper: options, the three priorities,
// serving with a callable, zero-copy claim/commit both ways, copying
// receives, full as false under Fail, DropLow, backpressure, slots,
// disconnection, shutdown and reconnection, and a request/response stream
// between a server thread and a client thread.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"

using namespace std::chrono_literals;
using ringmpsc::Client;
using ringmpsc::ClientId;
using ringmpsc::ClientOptions;
using ringmpsc::Priority;
using ringmpsc::Request;
using ringmpsc::SendPolicy;
using ringmpsc::Server;
using ringmpsc::ServerOptions;

namespace {

struct Got {
    std::vector<Priority> prio;
    std::vector<std::string> text;
    std::vector<ClientId> from;
    void operator()(const Request &r) {
        prio.push_back(r.priority);
        text.emplace_back(r.view());
        from.push_back(r.client);
    }
    void clear() { *this = Got(); }
};

void test_server_and_clients() {
    const std::string name = unique_name("transport");
    ServerOptions so;
    so.max_clients = 2;
    so.request_capacity = 64 << 10;
    so.response_capacity = 64 << 10;
    so.split = {50, 50, 50};
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, Server(name, so)); // over 100%
    so.split = {0, 0, 0};
    so.policy = static_cast<SendPolicy>(9);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, Server(name, so));
    so.policy = SendPolicy::Fail;
    CHECK_THROWS(ringmpsc::Disconnected, RMPSC_EDISCONNECTED, Client(name)); // no server yet
    Server server(name, so);
    CHECK_THROWS(ringmpsc::Busy, RMPSC_EBUSY, Server(name, so)); // one live server per name

    ClientOptions fail;
    fail.policy = SendPolicy::Fail;
    Client a(name, fail);
    auto b = std::make_unique<Client>(name);
    CHECK_THROWS(ringmpsc::Full, RMPSC_EFULL, Client(name)); // two slots
    const ClientId ida = a.id(), idb = b->id();
    CHECK(ida != idb && ida.slot != idb.slot);

    // Priorities: Critical before High before Low, FIFO within.
    CHECK(a.send(Priority::Low, "low1") && a.send(Priority::Low, "low2"));
    CHECK(b->send(Priority::High, "high"));
    unsigned char *buf = a.claim(Priority::Critical, 4); // zero copy
    CHECK(buf != nullptr);
    std::memcpy(buf, "crit", 4);
    a.commit(4);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, a.send(static_cast<Priority>(7), "x"));
    server.wait(5s);
    Got g;
    CHECK(server.serve(g) == 4 && g.text.size() == 4);
    if (g.text.size() == 4) {
        CHECK(g.text[0] == "crit" && g.prio[0] == Priority::Critical && g.from[0] == ida);
        CHECK(g.text[1] == "high" && g.prio[1] == Priority::High && g.from[1] == idb);
        CHECK(g.text[2] == "low1" && g.text[3] == "low2" && g.prio[3] == Priority::Low);
    }
    CHECK(server.serve(g) == 0);

    // A callable that throws: every request of the call is handed over, then it comes out.
    CHECK(a.send(Priority::High, "r1") && a.send(Priority::High, "r2"));
    int calls = 0, threw = 0;
    for (int i = 0; i < 100 && calls < 2; i++) { // a pass may skip an idle client: serve again
        try {
            server.serve([&](const Request &) {
                calls++;
                throw std::runtime_error("handler");
            });
        } catch (const std::runtime_error &) {
            threw++;
        }
    }
    CHECK(calls == 2 && threw == 1); // both in one call, one exception
    CHECK(server.serve(g, 16) == 0);

    // Copying receives, and a reply by claim/commit.
    unsigned char in[64];
    CHECK(!server.try_recv(ringmpsc::ByteSpan(in, sizeof in))); // empty: a value
    CHECK_THROWS(ringmpsc::Timeout, RMPSC_ETIMEDOUT, server.recv_blocking(ringmpsc::ByteSpan(in, sizeof in), 1ms));
    CHECK_THROWS(ringmpsc::Timeout, RMPSC_ETIMEDOUT, server.wait(1ms));
    CHECK(b->send(Priority::High, "a longer request"));
    CHECK_THROWS(ringmpsc::TooLarge, RMPSC_ETOOLARGE, server.try_recv(ringmpsc::ByteSpan(in, 4)));
    try {
        (void)server.try_recv(ringmpsc::ByteSpan(in, 4));
        CHECK(false);
    } catch (const ringmpsc::RequestTooLarge &e) { // names the sender
        CHECK(e.client() == idb && e.priority() == Priority::High && e.len() == 16);
    }
    Request r = server.recv_blocking(ringmpsc::ByteSpan(in, sizeof in)); // still queued
    CHECK(r.view() == "a longer request" && r.client == idb && r.priority == Priority::High);
    buf = server.claim(r.client, Priority::Low, 5);
    CHECK(buf != nullptr);
    std::memcpy(buf, "reply", 5);
    server.commit(5);
    CHECK(server.send(r.client, Priority::Critical, "first"));
    b->wait(1s);
    ringmpsc::Response resp = b->recv_blocking(ringmpsc::ByteSpan(in, sizeof in), 1s);
    CHECK(resp.priority == Priority::Critical && resp.view() == "first");
    std::vector<std::string> batch;
    CHECK(b->recv_batch([&](const ringmpsc::Response &x) { batch.emplace_back(x.view()); }) == 1);
    CHECK(batch.size() == 1 && batch[0] == "reply");
    CHECK(!b->try_recv(ringmpsc::ByteSpan(in, sizeof in)));
    CHECK_THROWS(ringmpsc::Timeout, RMPSC_ETIMEDOUT, b->recv_blocking(ringmpsc::ByteSpan(in, sizeof in), 0ns));
    CHECK_THROWS(ringmpsc::Timeout, RMPSC_ETIMEDOUT, b->wait(1ms));

    // Many at once: one publication.
    std::vector<std::string> many = {"one", "two", "three"};
    CHECK(a.send_many(Priority::High, many) == 3);
    std::vector<std::string_view> none;
    CHECK(a.send_many(Priority::High, none) == 0);
    g.clear();
    for (int i = 0; i < 100 && g.text.size() < 3; i++) server.serve(g, 16);
    CHECK(g.text.size() == 3 && g.text[0] == "one" && g.text[2] == "three");

    // Full under Fail: false, not an exception; backpressure shows it.
    CHECK(a.backpressure() == 0.0f);
    const std::string big(2000, 'b');
    int sent = 0;
    while (a.send(Priority::Low, big)) sent++;
    CHECK(sent > 3);
    CHECK(a.claim(Priority::Low, 2000) == nullptr);
    CHECK_THROWS(ringmpsc::Full, RMPSC_EFULL, a.send_many(Priority::Low, std::vector<std::string>{big}));
    CHECK(a.backpressure() > 0.8f && server.backpressure(ida) > 0.8f);
    std::vector<ringmpsc::ClientInfo> infos = server.clients();
    CHECK(infos.size() == 2);
    for (const auto &i : infos) CHECK(i.pid == static_cast<std::uint32_t>(::getpid()));
    CHECK(server.is_client_alive(ida, 1s) && server.is_client_alive(ida));
    CHECK(a.is_server_alive(1s));
    a.signal();
    server.signal(ida);

    // A client leaves: its slot comes back with a new generation.
    b.reset();
    std::unique_ptr<Client> c;
    for (int i = 0; i < 200 && !c; i++) {
        try {
            c = std::make_unique<Client>(name);
        } catch (const ringmpsc::Full &) {
            server.serve([](const Request &) {}, 64);
            std::this_thread::sleep_for(5ms);
        }
    }
    CHECK(c != nullptr);
    if (!c) return;
    CHECK_THROWS(ringmpsc::Disconnected, RMPSC_EDISCONNECTED, server.send(idb, Priority::High, "x"));
    const ClientId idc = c->id();
    CHECK(idc.slot == idb.slot && idc.generation != idb.generation);
    server.disconnect(idc);
    CHECK_THROWS(ringmpsc::Disconnected, RMPSC_EDISCONNECTED, c->wait(2s));

    // Shutdown: clients get Disconnected; the next server gets what the old one never took.
    while (server.serve([](const Request &) {}, 1024) > 0) {
    }
    for (int i = 0; i < 3; i++) CHECK(a.send(Priority::Low, big));
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, a.reconnect()); // the server is still there
    {
        Server gone = std::move(server);
        CHECK(!server && gone);
        CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, server.wait(0ns));
    }
    CHECK_THROWS(ringmpsc::Disconnected, RMPSC_EDISCONNECTED, a.send(Priority::High, "late"));
    CHECK(!a.is_server_alive(1s));
    Server next(name, so);
    CHECK(a.reconnect() == 3 && a.backlog() == 0);
    std::size_t took = 0;
    for (int i = 0; i < 100 && took < 3; i++) {
        try {
            next.wait(100ms);
        } catch (const ringmpsc::Timeout &) {
        }
        next.serve([&](const Request &q) { took += q.data.size() == 2000 && q.priority == Priority::Low; });
    }
    CHECK(took == 3);
    Client moved = std::move(a);
    CHECK(!a && moved && moved.id() == ida);
    CHECK_THROWS(ringmpsc::InvalidArgument, RMPSC_EINVAL, a.id());
}

// DropLow: a Low request that finds no room is dropped (false) and counted.
void test_drop_low() {
    const std::string name = unique_name("transport-drop");
    ServerOptions so;
    so.request_capacity = 16 << 10;
    so.response_capacity = 16 << 10;
    Server server(name, so);
    ClientOptions co;
    co.policy = SendPolicy::DropLow;
    co.policy_timeout = 1ms;
    Client c(name, co);
    const std::string big(1000, 'd');
    int queued = 0;
    for (int i = 0; i < 200; i++) queued += c.send(Priority::Low, big);
    CHECK(queued > 0 && queued < 200);
    CHECK(c.dropped() == static_cast<std::uint64_t>(200 - queued));
    CHECK(c.send_many(Priority::Low, std::vector<std::string>{big, big}) == 0); // the rest dropped
    std::size_t served = 0;
    for (int i = 0; i < 1000 && served < static_cast<std::size_t>(queued); i++) {
        served += server.serve([](const Request &) {});
    }
    CHECK(served == static_cast<std::size_t>(queued));
    CHECK(server.serve([](const Request &) {}) == 0);
}

// A server thread answers every request at its priority; the client checks
// that each answer comes once, in order within its priority.
void test_request_response_threads() {
    const std::string name = unique_name("transport-echo");
    const std::uint64_t count = 30000;
    ServerOptions so;
    so.max_clients = 4;
    Server server(name, so);
    std::atomic<bool> done{false};
    std::thread serving([&] {
        struct Pending {
            ClientId client;
            Priority priority;
            std::vector<unsigned char> body;
        };
        std::vector<Pending> replies;
        try {
            while (!done.load()) {
                try {
                    server.wait(50ms);
                } catch (const ringmpsc::Timeout &) {
                    continue;
                }
                // The handler runs inside the server's side: replies go after it.
                replies.clear();
                server.serve([&](const Request &r) {
                    replies.push_back(Pending{r.client, r.priority, {r.data.begin(), r.data.end()}});
                });
                for (const Pending &p : replies) {
                    // The client keeps few requests in flight, so there is room.
                    if (!server.send(p.client, p.priority, p.body.data(), p.body.size())) failures++;
                }
            }
        } catch (const std::exception &e) {
            std::fprintf(stderr, "server: %s\n", e.what());
            failures++;
        }
    });
    struct Join { // the server thread is joined on every way out
        std::atomic<bool> &done;
        std::thread &t;
        ~Join() {
            done.store(true);
            t.join();
        }
    } join{done, serving};
    std::vector<std::uint64_t> next(3, 0), sent_per(3, 0);
    bool ok = true;
    std::uint64_t answered = 0;
    {
        Client c(name);
        auto on_response = [&](const ringmpsc::Response &resp) {
            std::uint64_t seq = 0;
            if (resp.data.size() != 16) {
                ok = false;
                return;
            }
            std::memcpy(&seq, resp.data.data(), 8);
            const int p = static_cast<int>(resp.priority);
            if (p < 0 || p > 2 || seq % 3 != static_cast<std::uint64_t>(p) || seq / 3 != next[p]) ok = false;
            else next[p]++;
            answered++;
        };
        for (std::uint64_t seq = 0; seq < count; seq++) {
            unsigned char msg[16];
            std::memcpy(msg, &seq, 8);
            std::memset(msg + 8, 0x5a, 8);
            const Priority p = static_cast<Priority>(seq % 3);
            if (seq % 2) {
                CHECK(c.send(p, msg, sizeof msg));
            } else {
                unsigned char *buf = c.claim(p, sizeof msg);
                if (!buf) {
                    failures++;
                    break;
                }
                std::memcpy(buf, msg, sizeof msg);
                c.commit(sizeof msg);
            }
            sent_per[seq % 3]++;
            while (seq + 1 - answered > 64) { // keep at most 64 in flight
                c.wait(5s);
                c.recv_batch(on_response);
            }
        }
        while (answered < count) {
            c.wait(5s);
            c.recv_batch(on_response);
        }
    }
    CHECK(ok && answered == count);
    CHECK(next[0] == sent_per[0] && next[1] == sent_per[1] && next[2] == sent_per[2]);
}

} // namespace

int main() {
    start_watchdog(120); // a hang fails the run instead of stalling it
    run("server and clients", test_server_and_clients);
    run("drop low", test_drop_low);
    run("request/response", test_request_response_threads);
    return finish("test_transport");
}
