// DNS over TCP (RFC 7766) against loopback: the server runs its poll loop on
// a thread of its own (the control thread's role), clients are plain
// blocking sockets with timeouts.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dns/tcp_server.hpp"
#include "dns/zone.hpp"
#include "dns_message.hpp"

namespace svcgw::dns {
namespace {

using namespace test;  // NOLINT: the message helpers
using namespace std::chrono_literals;

constexpr Ipv4 kLoopback{0x7f000001};

std::unique_ptr<const Zone> zone_with_pods(int pods, const char* name = "big") {
    ServiceConfig s;
    s.name = name;
    s.headless = true;
    s.ports.push_back({"web", 80, 8080, "", Protocol::tcp});
    for (int i = 0; i < pods; ++i) {
        EndpointConfig ep;
        ep.ip = Ipv4{(10u << 24) | (244u << 16) | static_cast<uint32_t>(i + 1)};
        s.endpoints.push_back(ep);
    }
    DnsConfig dns;
    auto zone = build_zone({s}, dns, *Ipv4Prefix::parse("10.96.0.0/16"), 1);
    EXPECT_TRUE(zone.has_value());
    return std::move(*zone);
}

// The server on its own thread; stats are read after stop().
class Running {
public:
    explicit Running(std::function<const Zone*()> zone, TcpOptions options = {}) {
        auto s = DnsTcpServer::listen(kLoopback, 0, std::move(zone), options);
        EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().str());
        _server = std::move(*s);
        _thread = std::thread([this] {
            pollfd p{_server->fd(), POLLIN, 0};
            while (!_stop.load(std::memory_order_acquire)) {
                if (::poll(&p, 1, 10) > 0) {
                    _server->poll();
                }
            }
        });
    }
    ~Running() { stop(); }
    void stop() {
        if (_thread.joinable()) {
            _stop.store(true, std::memory_order_release);
            _thread.join();
        }
    }
    uint16_t port() const { return _server->port(); }
    DnsTcpServer& server() { return *_server; }

private:
    std::unique_ptr<DnsTcpServer> _server;
    std::atomic<bool> _stop{false};
    std::thread _thread;
};

int connect_to(uint16_t port, int receive_buffer = 0) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (receive_buffer > 0) {  // before connect: fixes the window, no autotuning
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    timeval tv{5, 0};  // generous: the machine may be busy
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(kLoopback.value);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    return fd;
}

Bytes framed(const Bytes& message) {
    Bytes out{static_cast<uint8_t>(message.size() >> 8), static_cast<uint8_t>(message.size())};
    out.insert(out.end(), message.begin(), message.end());
    return out;
}

bool send_all(int fd, const Bytes& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            return false;
        }
        sent += static_cast<size_t>(n);
    }
    return true;
}

bool recv_exact(int fd, uint8_t* into, size_t n) {
    size_t got = 0;
    while (got < n) {
        const ssize_t r = ::recv(fd, into + got, n - got, 0);
        if (r <= 0) {
            return false;
        }
        got += static_cast<size_t>(r);
    }
    return true;
}

// One framed response, or nullopt on EOF/timeout.
std::optional<Msg> read_response(int fd) {
    uint8_t length[2];
    if (!recv_exact(fd, length, 2)) {
        return std::nullopt;
    }
    Bytes message(size_t{load_be16(length)});
    if (!recv_exact(fd, message.data(), message.size())) {
        return std::nullopt;
    }
    return decode(message);
}

// True when the server closed the connection (EOF) within the socket timeout.
bool closed_by_server(int fd) {
    uint8_t byte;
    return ::recv(fd, &byte, 1, 0) == 0;
}

Bytes query(uint16_t id, std::string_view name, uint16_t type = rr_type::a) {
    QueryOpts o;
    o.id = id;
    return make_query(name, type, o);
}

TEST(DnsTcp, TheFullAnswerOfATruncatedOne) {
    auto zone = zone_with_pods(60);
    Running running([&] { return zone.get(); });
    const int fd = connect_to(running.port());
    ASSERT_TRUE(send_all(fd, framed(query(7, "big.default.svc.cluster.local"))));
    auto m = read_response(fd);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->id, 7);
    EXPECT_FALSE(m->flags & flag::tc);
    EXPECT_EQ(m->an.size(), 60u) << "60 A records: 960 octets, over UDP's 512";
    ::close(fd);
    running.stop();
    EXPECT_EQ(running.server().dns_counters()[Counter::noerror], 1u);
    EXPECT_EQ(running.server().stats().accepted, 1u);
}

TEST(DnsTcp, PipelinedQueriesAreAnsweredInOrder) {
    auto zone = zone_with_pods(3);
    Running running([&] { return zone.get(); });
    const int fd = connect_to(running.port());
    Bytes all;
    for (uint16_t id = 1; id <= 40; ++id) {
        const char* name =
            id % 2 ? "big.default.svc.cluster.local" : "nope.default.svc.cluster.local";
        Bytes f = framed(query(id, name));
        all.insert(all.end(), f.begin(), f.end());
    }
    ASSERT_TRUE(send_all(fd, all));  // one write: 40 messages back to back
    for (uint16_t id = 1; id <= 40; ++id) {
        auto m = read_response(fd);
        ASSERT_TRUE(m.has_value()) << "response " << id;
        EXPECT_EQ(m->id, id);
        EXPECT_EQ(m->rcode, id % 2 ? 0u : 3u);
    }
    // A message the responder drops (QR set: a response) gets no answer and
    // does not derail the framing of the next one.
    Bytes response = query(41, "big.default.svc.cluster.local");
    response[2] |= 0x80;
    Bytes both = framed(response);
    Bytes next = framed(query(42, "big.default.svc.cluster.local"));
    both.insert(both.end(), next.begin(), next.end());
    ASSERT_TRUE(send_all(fd, both));
    EXPECT_EQ(read_response(fd)->id, 42);
    ::close(fd);
}

TEST(DnsTcp, MessagesSplitAcrossSegments) {
    auto zone = zone_with_pods(3);
    Running running([&] { return zone.get(); });
    const int fd = connect_to(running.port());
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof one);
    Bytes f = framed(query(9, "big.default.svc.cluster.local"));
    for (uint8_t b : f) {  // one octet per segment, the length prefix too
        ASSERT_TRUE(send_all(fd, Bytes{b}));
        std::this_thread::sleep_for(1ms);
    }
    auto m = read_response(fd);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->id, 9);
    EXPECT_EQ(m->an.size(), 3u);
    ::close(fd);
}

TEST(DnsTcp, SeveralConnectionsAtOnce) {
    auto zone = zone_with_pods(3);
    Running running([&] { return zone.get(); });
    std::vector<int> fds;
    for (int i = 0; i < 20; ++i) {
        fds.push_back(connect_to(running.port()));
    }
    for (size_t i = 0; i < fds.size(); ++i) {
        ASSERT_TRUE(send_all(fds[i], framed(query(static_cast<uint16_t>(100 + i),
                                                  "big.default.svc.cluster.local"))));
    }
    for (size_t i = fds.size(); i-- > 0;) {
        auto m = read_response(fds[i]);
        ASSERT_TRUE(m.has_value());
        EXPECT_EQ(m->id, 100 + i);
        ::close(fds[i]);
    }
}

TEST(DnsTcp, AnswersAfterTheClientsFinThenCloses) {
    auto zone = zone_with_pods(3);
    Running running([&] { return zone.get(); });
    const int fd = connect_to(running.port());
    Bytes two = framed(query(1, "big.default.svc.cluster.local"));
    Bytes second = framed(query(2, "big.default.svc.cluster.local"));
    two.insert(two.end(), second.begin(), second.end());
    ASSERT_TRUE(send_all(fd, two));
    ::shutdown(fd, SHUT_WR);
    EXPECT_EQ(read_response(fd)->id, 1);
    EXPECT_EQ(read_response(fd)->id, 2);
    EXPECT_TRUE(closed_by_server(fd));
    ::close(fd);
    running.stop();
    EXPECT_EQ(running.server().stats().closed_peer, 1u);
    EXPECT_EQ(running.server().stats().open, 0u);
}

TEST(DnsTcp, IdleConnectionsAreClosed) {
    auto zone = zone_with_pods(3);
    TcpOptions options;
    options.idle_timeout_ms = 200;
    Running running([&] { return zone.get(); }, options);
    const auto start = std::chrono::steady_clock::now();
    const int quiet = connect_to(running.port());
    EXPECT_TRUE(closed_by_server(quiet));
    const auto waited = std::chrono::steady_clock::now() - start;
    // The server keeps whole milliseconds (truncated), so it may close up to
    // 1 ms before 200 ms of real time have passed.
    EXPECT_GE(waited, 199ms);
    EXPECT_LT(waited, 1500ms);

    // Octets that never complete a message do not keep a connection alive
    // (a length of 0xff00, then one octet at a time).
    const int trickle = connect_to(running.port());
    bool closed = false;
    for (int i = 0; i < 40 && !closed; ++i) {
        closed = !send_all(trickle, Bytes{static_cast<uint8_t>(i == 0 ? 0xff : 0x00)});
        pollfd p{trickle, POLLIN, 0};
        closed = closed || (::poll(&p, 1, 20) > 0 && closed_by_server(trickle));
    }
    EXPECT_TRUE(closed) << "a trickling client is cut at the idle timeout";

    // A client that keeps asking is kept.
    const int busy = connect_to(running.port());
    for (int i = 0; i < 6; ++i) {
        ASSERT_TRUE(send_all(
            busy, framed(query(static_cast<uint16_t>(i), "big.default.svc.cluster.local"))));
        ASSERT_TRUE(read_response(busy).has_value()) << "query " << i;
        std::this_thread::sleep_for(100ms);
    }
    ::close(quiet);
    ::close(trickle);
    ::close(busy);
    running.stop();
    EXPECT_GE(running.server().stats().closed_idle, 2u);
}

TEST(DnsTcp, ConnectionsBeyondTheLimitAreRefused) {
    auto zone = zone_with_pods(3);
    TcpOptions options;
    options.max_connections = 2;
    Running running([&] { return zone.get(); }, options);
    const int a = connect_to(running.port());
    const int b = connect_to(running.port());
    ASSERT_TRUE(send_all(a, framed(query(1, "big.default.svc.cluster.local"))));
    ASSERT_TRUE(read_response(a).has_value());
    ASSERT_TRUE(send_all(b, framed(query(2, "big.default.svc.cluster.local"))));
    ASSERT_TRUE(read_response(b).has_value());
    const int c = connect_to(running.port());
    EXPECT_TRUE(closed_by_server(c));
    ::close(a);
    // A slot frees up: the next client is served.
    std::this_thread::sleep_for(50ms);
    const int d = connect_to(running.port());
    ASSERT_TRUE(send_all(d, framed(query(4, "big.default.svc.cluster.local"))));
    EXPECT_TRUE(read_response(d).has_value());
    ::close(b);
    ::close(c);
    ::close(d);
    running.stop();
    EXPECT_EQ(running.server().stats().refused, 1u);
}

TEST(DnsTcp, AClientThatDoesNotReadIsNotReadEither) {
    auto zone = zone_with_pods(60);  // ~1 KiB answers
    Running running([&] { return zone.get(); });
    // The kernel holds up to 4 MiB (tcp_wmem) on the server's side and what
    // the client's window takes: 8000 answers of ~1 KiB overflow both.
    const int fd = connect_to(running.port(), 65536);
    constexpr int kQueries = 8000;
    std::thread writer([&] {
        Bytes f = framed(query(1, "big.default.svc.cluster.local"));
        Bytes batch;
        for (int i = 0; i < 100; ++i) {
            batch.insert(batch.end(), f.begin(), f.end());
        }
        for (int i = 0; i < kQueries / 100; ++i) {
            if (!send_all(fd, batch)) {
                break;
            }
        }
    });
    std::this_thread::sleep_for(300ms);  // the server is stuck on our full window
    int answered = 0;
    while (answered < kQueries) {
        auto m = read_response(fd);
        if (!m) {
            break;
        }
        ASSERT_EQ(m->an.size(), 60u);
        ++answered;
    }
    writer.join();
    EXPECT_EQ(answered, kQueries) << "every query answered once the client reads";
    ::close(fd);
    running.stop();
    EXPECT_GT(running.server().stats().paused, 0u) << "its reads stopped while answers waited";
}

TEST(DnsTcp, EachQueryReadsTheZoneOfTheMoment) {
    auto first = zone_with_pods(1, "one");
    auto second = zone_with_pods(1, "two");
    std::atomic<const Zone*> live{nullptr};
    Running running([&] { return live.load(); });
    const int fd = connect_to(running.port());
    ASSERT_TRUE(send_all(fd, framed(query(1, "one.default.svc.cluster.local"))));
    EXPECT_EQ(read_response(fd)->rcode, 2u) << "SERVFAIL before the first zone";
    live.store(first.get());
    ASSERT_TRUE(send_all(fd, framed(query(2, "one.default.svc.cluster.local"))));
    EXPECT_EQ(read_response(fd)->rcode, 0u);
    live.store(second.get());
    ASSERT_TRUE(send_all(fd, framed(query(3, "one.default.svc.cluster.local"))));
    EXPECT_EQ(read_response(fd)->rcode, 3u) << "the same connection sees the new zone";
    ::close(fd);
}

TEST(DnsTcp, ListenErrorsAreReported) {
    auto zone = zone_with_pods(1);
    Running running([&] { return zone.get(); });
    auto again = DnsTcpServer::listen(kLoopback, running.port(), [&] { return zone.get(); });
    ASSERT_FALSE(again.has_value());
    EXPECT_NE(again.error().message.find("cannot listen on 127.0.0.1:"), std::string::npos)
        << again.error().message;
}

}  // namespace
}  // namespace svcgw::dns
