// lib/health: HTTP status lines, the kernel-socket prober and the checker's
// rise/fall state, against loopback listeners (issue 14). Real sockets, real
// time; every wait is bounded.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "health/checker.hpp"
#include "health/http.hpp"
#include "health/prober.hpp"

namespace svcgw::health {
namespace {

const Ipv4 kLoopback{0x7f000001};

// A TCP listener on 127.0.0.1. With a reply, a thread accepts and answers
// every connection with it (after reading the request); "accept" only
// accepts and closes; "silent" reads and never answers. Without a reply the
// kernel completes handshakes and nobody accepts (enough for a few tcp
// probes: the accept queue holds `backlog`).
class Listener {
public:
    // `any`: every local address (127.0.0.0/8 included), else 127.0.0.1 only.
    explicit Listener(std::string reply = {}, int backlog = 128, uint16_t port = 0,
                      bool any = false)
        : _reply(std::move(reply)) {
        _fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const int one = 1;
        setsockopt(_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(any ? INADDR_ANY : kLoopback.value);
        a.sin_port = htons(port);
        EXPECT_EQ(bind(_fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
        socklen_t len = sizeof a;
        getsockname(_fd, reinterpret_cast<sockaddr*>(&a), &len);
        _port = ntohs(a.sin_port);
        EXPECT_EQ(listen(_fd, backlog), 0);
        if (!_reply.empty()) {
            _thread = std::thread([this] { serve(); });
        }
    }
    ~Listener() {
        _stop = true;
        if (_thread.joinable()) {
            _thread.join();
        }
        close(_fd);
    }
    uint16_t port() const { return _port; }

private:
    void serve() {
        while (!_stop) {
            pollfd p{_fd, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) {
                continue;
            }
            const int c = accept(_fd, nullptr, nullptr);
            if (c < 0) {
                continue;
            }
            if (_reply == "accept") {
                close(c);  // keep the accept queue empty for many tcp probes
                continue;
            }
            char buffer[2048];
            pollfd r{c, POLLIN, 0};
            if (::poll(&r, 1, 1000) > 0) {
                (void)!read(c, buffer, sizeof buffer);
            }
            if (_reply != "silent") {
                (void)!write(c, _reply.data(), _reply.size());
            } else {
                std::this_thread::sleep_for(std::chrono::milliseconds(300));
            }
            close(c);
        }
    }

    int _fd = -1;
    uint16_t _port = 0;
    std::string _reply;
    std::thread _thread;
    std::atomic<bool> _stop{false};
};

// A port on which nothing listens (bound, so nobody else takes it): connects
// are refused with a RST.
class ClosedPort {
public:
    ClosedPort() {
        _fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(kLoopback.value);
        bind(_fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        socklen_t len = sizeof a;
        getsockname(_fd, reinterpret_cast<sockaddr*>(&a), &len);
        _port = ntohs(a.sin_port);
    }
    ~ClosedPort() { close(_fd); }
    uint16_t port() const { return _port; }

private:
    int _fd = -1;
    uint16_t _port = 0;
};

// A listener whose accept queue is full: further SYNs are dropped, so a
// connect never completes (a blackhole on loopback).
class Blackhole {
public:
    Blackhole() : _listener({}, 0, 0, true) {
        _filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(kLoopback.value);
        a.sin_port = htons(_listener.port());
        EXPECT_EQ(connect(_filler, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    }
    ~Blackhole() { close(_filler); }
    uint16_t port() const { return _listener.port(); }

private:
    Listener _listener;
    int _filler = -1;
};

HealthCheckConfig check(HealthProtocol protocol, uint32_t timeout_ms = 500) {
    HealthCheckConfig c;
    c.protocol = protocol;
    c.timeout_ms = timeout_ms;
    c.interval_ms = std::max<uint32_t>(timeout_ms, 100);
    return c;
}

// Runs the prober until `count` probes finished or `limit_ms` passed.
std::vector<Completion> finish(Prober& prober, size_t count, int limit_ms = 3000) {
    std::vector<Completion> done;
    const uint64_t end = now_us() + uint64_t(limit_ms) * 1000;
    while (done.size() < count && now_us() < end) {
        pollfd p{prober.fd(), POLLIN, 0};
        if (::poll(&p, 1, 10) > 0) {  // poll() only when the fd says so
            prober.poll(now_us(), done);
        }
    }
    return done;
}

ProbeOutcome probe_once(uint16_t port, const HealthCheckConfig& c) {
    auto prober = Prober::create(4);
    EXPECT_TRUE(prober);
    EXPECT_TRUE((*prober)->start(7, ProbeTarget{kLoopback, port, c}, now_us()));
    auto done = finish(**prober, 1);
    EXPECT_EQ(done.size(), 1u);
    EXPECT_EQ((*prober)->in_flight(), 0u);
    return done.empty() ? ProbeOutcome{} : done[0].outcome;
}

// ---------------------------------------------------------------- http

TEST(HealthHttp, RequestNamesPathHostAndClosesTheConnection) {
    const std::string r = http_request("/healthz?x=1", kLoopback, 8080);
    EXPECT_EQ(r.rfind("GET /healthz?x=1 HTTP/1.1\r\n", 0), 0u) << r;
    EXPECT_NE(r.find("\r\nHost: 127.0.0.1:8080\r\n"), std::string::npos);
    EXPECT_NE(r.find("\r\nConnection: close\r\n"), std::string::npos);
    EXPECT_EQ(r.substr(r.size() - 4), "\r\n\r\n");
}

TEST(HealthHttp, StatusLineTable) {
    using S = StatusLine::State;
    struct Case {
        std::string in;
        S state;
        uint16_t code;
    };
    const Case cases[] = {
        {"HTTP/1.1 200 OK\r\n", S::ok, 200},
        {"HTTP/1.0 503 Service Unavailable\r\n", S::ok, 503},
        {"HTTP/1.1 204", S::ok, 204},
        {"", S::incomplete, 0},
        {"HTTP/1.", S::incomplete, 0},
        {"HTTP/1.1 20", S::incomplete, 0},
        {"SSH-2.0-OpenSSH_9.2\r\n", S::malformed, 0},
        {"HTTP/2 200\r\n", S::malformed, 0},
        {"HTTP/1.1 2x0 OK\r\n", S::malformed, 0},
        {"http/1.1 200 OK\r\n", S::malformed, 0},
        {std::string("\x16\x03\x01", 3), S::malformed, 0},  // a TLS record
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.in);
        const StatusLine s = parse_status_line(c.in);
        EXPECT_EQ(s.state, c.state);
        EXPECT_EQ(s.code, c.code);
    }
}

// ---------------------------------------------------------------- prober

TEST(HealthProber, TcpConnectSucceedsOnAListener) {
    Listener up;
    const ProbeOutcome o = probe_once(up.port(), check(HealthProtocol::tcp));
    EXPECT_EQ(o.result, ProbeResult::ok) << to_string(o.result);
    EXPECT_LT(o.latency_us, 500'000u);
}

TEST(HealthProber, RefusedConnectionIsRefused) {
    ClosedPort closed;
    const ProbeOutcome o = probe_once(closed.port(), check(HealthProtocol::tcp));
    EXPECT_EQ(o.result, ProbeResult::refused) << to_string(o.result);
    EXPECT_EQ(o.error, ECONNREFUSED);
}

TEST(HealthProber, BlackholeTimesOutAsConfigured) {
    Blackhole hole;
    const auto start = now_us();
    const ProbeOutcome o = probe_once(hole.port(), check(HealthProtocol::tcp, 150));
    const uint64_t took = now_us() - start;
    EXPECT_EQ(o.result, ProbeResult::timeout) << to_string(o.result);
    EXPECT_GE(o.latency_us, 150'000u);
    EXPECT_LT(took, 400'000u) << "a 150 ms timeout fires within a few timer grains";
}

TEST(HealthProber, HttpStatusDecides) {
    Listener ok("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    Listener error("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
    Listener redirect("HTTP/1.0 302 Found\r\n\r\n");
    Listener garbage("SSH-2.0-OpenSSH_9.2\r\n");
    Listener hangup("\r");  // one byte then close: no status line
    HealthCheckConfig c = check(HealthProtocol::http);
    EXPECT_EQ(probe_once(ok.port(), c).result, ProbeResult::ok);
    const ProbeOutcome e = probe_once(error.port(), c);
    EXPECT_EQ(e.result, ProbeResult::bad_status);
    EXPECT_EQ(e.http_status, 500);
    EXPECT_EQ(probe_once(redirect.port(), c).result, ProbeResult::ok) << "200-399 by default";
    c.expect_min = c.expect_max = 200;
    EXPECT_EQ(probe_once(redirect.port(), c).result, ProbeResult::bad_status);
    EXPECT_EQ(probe_once(garbage.port(), c).result, ProbeResult::bad_reply);
    EXPECT_EQ(probe_once(hangup.port(), c).result, ProbeResult::bad_reply);
}

TEST(HealthProber, HttpWithoutAnswerTimesOutAndTcpCheckPassesTheSamePort) {
    Listener silent("silent");  // accepts, reads, never answers
    EXPECT_EQ(probe_once(silent.port(), check(HealthProtocol::http, 100)).result,
              ProbeResult::timeout);
    EXPECT_EQ(probe_once(silent.port(), check(HealthProtocol::tcp, 100)).result, ProbeResult::ok);
}

TEST(HealthProber, ABlackholedProbeDoesNotStallTheOthers) {
    Blackhole hole;
    Listener up;
    auto prober = Prober::create(64);
    ASSERT_TRUE(prober);
    const uint64_t start = now_us();
    ASSERT_TRUE((*prober)->start(
        0, ProbeTarget{kLoopback, hole.port(), check(HealthProtocol::tcp, 400)}, start));
    for (uint64_t i = 1; i <= 20; ++i) {
        ASSERT_TRUE((*prober)->start(
            i, ProbeTarget{kLoopback, up.port(), check(HealthProtocol::tcp, 400)}, start));
    }
    auto done = finish(**prober, 20);
    ASSERT_EQ(done.size(), 20u);
    for (const Completion& c : done) {
        EXPECT_NE(c.token, 0u) << "the blackholed probe finished first";
        EXPECT_EQ(c.outcome.result, ProbeResult::ok);
    }
    EXPECT_LT(now_us() - start, 300'000u) << "the healthy ones did not wait for the timeout";
    EXPECT_EQ((*prober)->in_flight(), 1u);
    done = finish(**prober, 1);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].token, 0u);
    EXPECT_EQ(done[0].outcome.result, ProbeResult::timeout);
}

TEST(HealthProber, CapacityBoundsProbesInFlight) {
    Blackhole hole;
    auto prober = Prober::create(3);
    ASSERT_TRUE(prober);
    const ProbeTarget t{kLoopback, hole.port(), check(HealthProtocol::tcp, 100)};
    for (uint64_t i = 0; i < 3; ++i) {
        EXPECT_TRUE((*prober)->start(i, t, now_us()));
    }
    EXPECT_FALSE((*prober)->start(3, t, now_us())) << "a fourth socket would exceed capacity";
    EXPECT_EQ((*prober)->in_flight(), 3u);
    EXPECT_EQ(finish(**prober, 3).size(), 3u);
    EXPECT_TRUE((*prober)->start(4, t, now_us()));
}

// ---------------------------------------------------------------- checker

// Runs until `done` holds or `limit_ms` passed; returns whether it held.
bool run_until(HealthChecker& checker, const std::function<bool()>& done, int limit_ms,
               HealthChecker::RunResult* all = nullptr) {
    const uint64_t end = now_us() + uint64_t(limit_ms) * 1000;
    while (now_us() < end) {
        pollfd p{checker.fd(), POLLIN, 0};
        if (::poll(&p, 1, 5) <= 0) {
            continue;  // run() only when the fd says so, as the daemon does
        }
        auto r = checker.run(now_us());
        if (all != nullptr) {
            all->changed.insert(all->changed.end(), r.changed.begin(), r.changed.end());
            all->events.insert(all->events.end(), r.events.begin(), r.events.end());
        }
        if (done()) {
            return true;
        }
    }
    return done();
}

// Runs the checker's loop for `ms`.
void run_for(HealthChecker& checker, int ms) {
    (void)run_until(
        checker, [] { return false; }, ms);
}

ServiceConfig service_on(const std::string& name, uint16_t probe_port, HealthCheckConfig c,
                         std::vector<Ipv4> ips) {
    ServiceConfig s;
    s.name = name;
    ServicePortConfig p;
    p.name = "http";
    p.port = 80;
    p.target_port = probe_port;
    p.health_check = c;
    s.ports.push_back(p);
    for (Ipv4 ip : ips) {
        EndpointConfig ep;
        ep.ip = ip;
        s.endpoints.push_back(ep);
    }
    return s;
}

HealthCheckConfig fast(uint32_t rise = 2, uint32_t fall = 2) {
    HealthCheckConfig c;
    c.interval_ms = 100;
    c.timeout_ms = 80;
    c.rise = rise;
    c.fall = fall;
    return c;
}

TEST(HealthChecker, FallTakesABackendDownAndRiseBringsItBack) {
    auto made = HealthChecker::create({.max_in_flight = 16, .seed = 1});
    ASSERT_TRUE(made);
    HealthChecker& checker = **made;
    const HealthCheckConfig c = fast(2, 3);
    auto listener = std::make_unique<Listener>();
    const uint16_t port = listener->port();
    checker.update(service_on("web", port, c, {kLoopback}), now_us());
    EXPECT_TRUE(checker.healthy(kLoopback, port, c)) << "new targets start up";
    ASSERT_TRUE(run_until(
        checker, [&] { return checker.status("default/web")[0].status.probed; }, 1000));
    EXPECT_TRUE(checker.healthy(kLoopback, port, c));

    listener.reset();  // nothing listens: refused
    HealthChecker::RunResult seen;
    const uint64_t stopped = now_us();
    ASSERT_TRUE(run_until(
        checker, [&] { return !checker.healthy(kLoopback, port, c); }, 2000, &seen));
    const uint64_t took = now_us() - stopped;
    EXPECT_LE(took, (3 * 100 + 100) * 1000u) << "about fall x interval";
    ASSERT_EQ(seen.events.size(), 1u);
    EXPECT_FALSE(seen.events[0].up);
    EXPECT_EQ(seen.events[0].count, 3u);
    EXPECT_EQ(seen.events[0].last.result, ProbeResult::refused);
    EXPECT_EQ(seen.events[0].services, std::vector<std::string>{"default/web"});
    EXPECT_EQ(seen.changed, std::vector<std::string>{"default/web"});
    EXPECT_EQ(describe(seen.events[0]).find("127.0.0.1:" + std::to_string(port) + " (tcp) down"),
              0u)
        << describe(seen.events[0]);

    listener = std::make_unique<Listener>("", 128, port);  // back on the same port
    seen = {};
    ASSERT_TRUE(run_until(
        checker, [&] { return checker.healthy(kLoopback, port, c); }, 2000, &seen));
    ASSERT_EQ(seen.events.size(), 1u);
    EXPECT_TRUE(seen.events[0].up);
    EXPECT_EQ(seen.events[0].count, 2u) << "rise good probes";
    const HealthTotals totals = checker.totals();
    EXPECT_EQ(totals.went_down, 1u);
    EXPECT_EQ(totals.went_up, 1u);
    EXPECT_GE(totals.verdicts[size_t(ProbeResult::refused)], 3u);
}

TEST(HealthChecker, HealthSurvivesChangesThatKeepTheBackend) {
    auto made = HealthChecker::create({.max_in_flight = 16, .seed = 2});
    ASSERT_TRUE(made);
    HealthChecker& checker = **made;
    const HealthCheckConfig c = fast(2, 1);
    ClosedPort closed;
    const uint16_t port = closed.port();
    checker.update(service_on("web", port, c, {kLoopback}), now_us());
    ASSERT_TRUE(run_until(
        checker, [&] { return !checker.healthy(kLoopback, port, c); }, 1000));
    // Another origin changes the service (adds an endpoint): still down.
    const Ipv4 other{0x7f000002};
    checker.update(service_on("web", port, c, {kLoopback, other}), now_us());
    EXPECT_FALSE(checker.healthy(kLoopback, port, c));
    EXPECT_TRUE(checker.healthy(other, port, c)) << "the new one starts up";
    // A second service probing the same backend the same way shares it.
    checker.update(service_on("api", port, c, {kLoopback}), now_us());
    EXPECT_EQ(checker.totals().targets, 2u);
    EXPECT_FALSE(checker.status("default/api")[0].status.up);
    checker.remove("default/web");
    EXPECT_FALSE(checker.healthy(kLoopback, port, c)) << "still referenced by default/api";
    EXPECT_EQ(checker.totals().targets, 1u);
    checker.remove("default/api");
    EXPECT_EQ(checker.totals().targets, 0u);
    EXPECT_TRUE(checker.healthy(kLoopback, port, c)) << "unknown = up";
    // A changed check is a new target: it starts up.
    checker.update(service_on("web", port, c, {kLoopback}), now_us());
    ASSERT_TRUE(run_until(
        checker, [&] { return !checker.healthy(kLoopback, port, c); }, 1000));
    HealthCheckConfig slower = c;
    slower.interval_ms = 200;
    checker.update(service_on("web", port, slower, {kLoopback}), now_us());
    EXPECT_TRUE(checker.healthy(kLoopback, port, slower));
    EXPECT_EQ(checker.totals().targets, 1u);
}

TEST(HealthChecker, ProbesAreSpreadOverTheInterval) {
    auto made = HealthChecker::create({.max_in_flight = 256, .seed = 3});
    ASSERT_TRUE(made);
    HealthChecker& checker = **made;
    Listener up("accept", 128, 0, true);
    HealthCheckConfig c;
    c.interval_ms = 1000;
    std::vector<Ipv4> ips;
    for (uint32_t i = 1; i <= 200; ++i) {
        ips.push_back(Ipv4{0x7f000000 + i});  // 127.0.0.1 .. 127.0.0.200, one listener
    }
    checker.update(service_on("web", up.port(), c, ips), now_us());
    run_for(checker, 250);
    size_t probed = 0;
    for (const BackendHealth& b : checker.status("default/web")) {
        probed += b.status.probed ? 1 : 0;
    }
    // Uniform first probes: about a quarter after a quarter of the interval
    // (binomial, n = 200: 5 sigma is about 30).
    EXPECT_GT(probed, 20u);
    EXPECT_LT(probed, 80u);
    run_for(checker, 850);
    probed = 0;
    for (const BackendHealth& b : checker.status("default/web")) {
        probed += b.status.probed ? 1 : 0;
    }
    EXPECT_EQ(probed, 200u) << "each one within its first interval";
}

TEST(HealthChecker, ConcurrencyIsBoundedAndLateProbesWait) {
    auto made = HealthChecker::create({.max_in_flight = 4, .seed = 4});
    ASSERT_TRUE(made);
    HealthChecker& checker = **made;
    Blackhole hole;
    HealthCheckConfig c;
    c.interval_ms = 100;
    c.timeout_ms = 90;
    c.fall = 1;
    std::vector<Ipv4> ips;
    for (uint32_t i = 1; i <= 20; ++i) {
        ips.push_back(Ipv4{0x7f000000 + i});
    }
    checker.update(service_on("web", hole.port(), c, ips), now_us());
    size_t most = 0;
    (void)run_until(
        checker,
        [&] {
            most = std::max(most, checker.totals().in_flight);
            return false;
        },
        500);
    const HealthTotals t = checker.totals();
    EXPECT_LE(most, 4u);
    EXPECT_GT(t.deferred, 0u);
    EXPECT_GT(t.verdicts[size_t(ProbeResult::timeout)], 4u) << "waiting ones ran later";
}

}  // namespace
}  // namespace svcgw::health
