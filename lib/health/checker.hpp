// The gateway's own view of its backends' health (DESIGN §6): which backends
// to probe (from the running service set), when (every interval_ms, spread
// with jitter), what the probes say (rise/fall) and which services must be
// rebuilt when a backend crosses a threshold. Pure C++ over kernel sockets
// (health/prober.hpp), no DPDK.
//
// Health is an overlay, never an origin: it does not edit service configs.
// The VIP table builds every checked port with healthy() (a HealthSource), so
// a change from any origin (file, API, Kubernetes feed) is built with the
// current probe state, and a verdict here republishes the services it
// touches through the same publish path, with their configs unchanged.
//
// Identity: a probe target is (backend address, probe port, the check's
// settings). Ports and services that check one backend the same way share
// one target: one probe stream, one state. A target lives while some checked
// service port refers to it, so a config, API or feed change that keeps a
// backend keeps its health. A new target starts up (Kubernetes already said
// ready, as keepalived's checkers start) and is first probed at a random
// point of its first interval; a changed check is a new target.
//
// Bounded: at most `max_in_flight` probes at once; a target due while every
// slot is busy waits in line (counted as deferred) instead of opening more
// sockets. Local failures (no socket, no port) are counted, never a verdict.
//
// Threading: control thread only.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/net.hpp"
#include "common/result.hpp"
#include "config/config.hpp"
#include "health/prober.hpp"

namespace svcgw::health {

// Probes in flight at most by default: a socket each. 1024 stays under the
// usual RLIMIT_NOFILE (the daemon raises the soft limit to fit it) and is far
// above what 10,000 healthy backends at 1 s need (probes take about an RTT).
constexpr size_t kDefaultMaxInFlight = 1024;
// Events kept for display (describe, API); older ones are dropped.
constexpr size_t kMaxEvents = 1024;
// Upper bounds of the probe-latency histogram, in microseconds.
constexpr std::array<uint64_t, 12> kLatencyBucketsUs = {
    250, 500, 1'000, 2'500, 5'000, 10'000, 25'000, 50'000, 100'000, 250'000, 500'000, 1'000'000};

struct HealthOptions {
    size_t max_in_flight = kDefaultMaxInFlight;
    uint64_t seed = 0;  // jitter and first-probe spread; 0 = random
};

// The probe state of one target.
struct TargetStatus {
    bool up = true;
    bool probed = false;      // a verdict arrived (else up because new)
    ProbeOutcome last;        // valid when probed
    uint64_t last_at = 0;     // when the last verdict arrived (now_us time base)
    uint64_t changed_at = 0;  // last up/down change, or creation
    uint32_t successes = 0;   // consecutive
    uint32_t failures = 0;    // consecutive
    uint64_t probes = 0;      // verdicts so far
    uint64_t failed = 0;      // failed verdicts so far
};

// A backend crossed `rise` or `fall`.
struct HealthEvent {
    uint64_t at = 0;
    Ipv4 ip;
    uint16_t port = 0;  // probed port
    HealthProtocol protocol = HealthProtocol::tcp;
    bool up = false;
    ProbeOutcome last;                  // the verdict that decided
    uint32_t count = 0;                 // consecutive verdicts that decided (rise or fall)
    std::vector<std::string> services;  // "ns/name" of the services it touches
};
// "10.99.0.11:80 (tcp) down after 3 failed probes (last: refused)".
std::string describe(const HealthEvent& event);

// One checked (service port, endpoint) pair of a service.
struct BackendHealth {
    size_t port_index = 0;  // in the service config
    uint16_t service_port = 0;
    std::string port_name;
    Ipv4 ip;
    uint16_t probe_port = 0;
    HealthProtocol protocol = HealthProtocol::tcp;
    TargetStatus status;
};

struct HealthTotals {
    std::array<uint64_t, size_t(ProbeResult::count)> verdicts{};   // by result
    std::array<uint64_t, kLatencyBucketsUs.size() + 1> latency{};  // ok probes, last = +Inf
    uint64_t latency_sum_us = 0;
    uint64_t deferred = 0;  // probes that waited for a free slot
    uint64_t went_down = 0, went_up = 0;
    size_t targets = 0, down = 0, in_flight = 0, capacity = 0;
};

class HealthChecker {
public:
    static Result<std::unique_ptr<HealthChecker>> create(HealthOptions options = {});

    // Readable when run() has work; put it in the control thread's epoll set.
    int fd() const { return _prober->fd(); }

    // The running set: every service (checked or not) once, then each
    // change. `now` in the now_us() time base.
    void update(const ServiceConfig& service, uint64_t now);
    void remove(const std::string& key);

    struct RunResult {
        std::vector<std::string> changed;  // services to republish ("ns/name", sorted)
        std::vector<HealthEvent> events;   // up/down changes, in order
    };
    // Takes finished probes, starts due ones.
    RunResult run(uint64_t now);

    // The HealthSource answer: false only for a target that reached `fall`.
    bool healthy(Ipv4 ip, uint16_t port, const HealthCheckConfig& check) const;

    // Every checked (port, endpoint) of one service, in config order.
    std::vector<BackendHealth> status(const std::string& key) const;
    const std::deque<HealthEvent>& events() const { return _events; }
    HealthTotals totals() const;

private:
    struct Key {
        uint32_t ip = 0;
        uint16_t port = 0;
        HealthCheckConfig check;
        bool operator==(const Key&) const = default;
    };
    struct KeyHash {
        size_t operator()(const Key& k) const;
    };
    struct Target {
        uint64_t id = 0;
        Key key;
        std::map<std::string, uint32_t> users;  // service key -> references
        TargetStatus status;
        uint64_t due = 0;  // next probe start
        bool in_flight = false;
        bool waiting = false;  // in _waiting for a free slot
    };
    struct Ref {  // one checked (port, endpoint) of a service
        size_t port_index;
        uint16_t service_port;
        std::string port_name;
        uint64_t target;
    };
    struct Due {
        uint64_t at;
        uint64_t id;
        bool operator>(const Due& o) const { return at > o.at; }
    };

    HealthChecker() = default;
    uint64_t acquire(const Key& key, const std::string& service, uint64_t now);
    void release(uint64_t id, const std::string& service);
    void schedule(Target& t, uint64_t at);
    bool launch(Target& t, uint64_t now);
    void verdict(Target& t, const ProbeOutcome& outcome, uint64_t now, RunResult& out);
    uint64_t jitter(uint32_t interval_ms);

    std::unique_ptr<Prober> _prober;
    std::unordered_map<uint64_t, Target> _targets;  // node-based: ProbeTarget points into it
    std::unordered_map<Key, uint64_t, KeyHash> _by_key;
    std::map<std::string, std::vector<Ref>> _services;
    std::priority_queue<Due, std::vector<Due>, std::greater<>> _due;
    std::deque<uint64_t> _waiting;  // due while every probe slot was busy
    std::deque<HealthEvent> _events;
    std::vector<Completion> _done;  // scratch of run()
    std::mt19937_64 _random;
    uint64_t _next_id = 1;
    HealthTotals _totals;
};

}  // namespace svcgw::health
