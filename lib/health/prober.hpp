// Health probes over kernel sockets (DESIGN §6): TCP connect, and HTTP GET
// with the status code checked, all non-blocking in one epoll set. The
// sockets live in the daemon's own namespace and follow its routes: with the
// exception path, out of the port's TAP and svcgw's port; without it,
// whatever route the host gives. Nothing here assumes where they go.
//
// Threading: one thread (the control thread) calls everything. fd() is an
// epoll descriptor that becomes readable when poll() has work (a socket is
// ready, a probe's deadline or the owner's wake-up passed): put it in the
// thread's epoll loop, nothing here blocks.
//
// Probes close with SO_LINGER 0 (RST), as keepalived's checkers do: a
// checker making thousands of connections a second must not fill the box
// with TIME_WAIT sockets (tcp_max_tw_buckets), and the backend's kernel frees
// its side at once.
#pragma once

#include <cstdint>
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"
#include "common/result.hpp"
#include "config/config.hpp"

namespace svcgw::health {

// How a probe ended. `ok` is the only success.
#define SVCGW_PROBE_RESULTS(X)                                           \
    X(ok)          /* connected (tcp) or an expected status (http) */    \
    X(refused)     /* RST to the SYN: nothing listens */                 \
    X(timeout)     /* not done within timeout_ms */                      \
    X(unreachable) /* ICMP unreachable or no route */                    \
    X(reset)       /* connection reset or closed before a status line */ \
    X(bad_status)  /* http status outside `expect` */                    \
    X(bad_reply)   /* not an HTTP status line */                         \
    X(local_error) /* our side failed (no socket, no fd): not the backend's */

enum class ProbeResult : uint8_t {
#define SVCGW_X(name) name,
    SVCGW_PROBE_RESULTS(SVCGW_X)
#undef SVCGW_X
        count
};
std::string_view to_string(ProbeResult result);

struct ProbeOutcome {
    ProbeResult result = ProbeResult::local_error;
    uint16_t http_status = 0;  // http probes that got a status line
    int error = 0;             // errno behind refused/unreachable/reset/local_error
    uint64_t latency_us = 0;   // start to outcome
};

// "refused", "bad_status 500", ...: the result, with the status when it decided.
std::string describe(const ProbeOutcome& outcome);

// What to probe: resolved by the caller (address, port, the check's settings).
struct ProbeTarget {
    Ipv4 ip;
    uint16_t port = 0;
    HealthCheckConfig check;
};

struct Completion {
    uint64_t token = 0;  // as given to start()
    ProbeOutcome outcome;
};

class Prober {
public:
    // `capacity`: probes in flight at most (one socket each).
    static Result<std::unique_ptr<Prober>> create(size_t capacity);
    ~Prober();
    Prober(const Prober&) = delete;
    Prober& operator=(const Prober&) = delete;

    int fd() const { return _epoll; }
    size_t in_flight() const { return _in_flight; }
    size_t capacity() const { return _slots.size(); }

    // Starts a probe; its outcome comes back from a later poll() with
    // `token`. False when `capacity` probes are in flight (nothing started).
    // Times are CLOCK_MONOTONIC microseconds (now_us()).
    bool start(uint64_t token, const ProbeTarget& target, uint64_t now);
    // Probes that finished (socket verdicts and passed deadlines), appended
    // to `done`. Call when fd() is readable; harmless otherwise.
    void poll(uint64_t now, std::vector<Completion>& done);
    // Makes fd() readable at `at` (the owner's next scheduled work); 0 = none.
    void wake_at(uint64_t at);

private:
    enum class Phase : uint8_t { free, connecting, sending, receiving };
    struct Slot {
        int fd = -1;
        uint32_t generation = 0;  // tells a slot's events from a reused slot's
        Phase phase = Phase::free;
        uint64_t token = 0;
        uint64_t started = 0;
        uint64_t deadline = 0;
        ProbeTarget target;
        std::string request;  // http: bytes still to send
        size_t sent = 0;
        std::string received;  // http: the status line so far
    };
    struct Deadline {
        uint64_t at;
        uint32_t slot;
        uint32_t generation;
        bool operator>(const Deadline& o) const { return at > o.at; }
    };

    Prober() = default;
    void on_event(uint32_t index, uint32_t events, uint64_t now, std::vector<Completion>& done);
    void on_connected(Slot& slot, uint64_t now, std::vector<Completion>& done);
    void on_writable(Slot& slot, uint64_t now, std::vector<Completion>& done);
    void on_readable(Slot& slot, uint64_t now, std::vector<Completion>& done);
    void finish(Slot& slot, ProbeOutcome outcome, uint64_t now, std::vector<Completion>& done);
    void arm_timer();

    int _epoll = -1;
    int _timer = -1;
    std::vector<Slot> _slots;
    std::vector<uint32_t> _free;  // free slot indices
    size_t _in_flight = 0;
    std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> _deadlines;
    std::vector<Completion> _early;  // finished inside start() (connect failed at once)
    uint64_t _wake = 0;              // owner's wake-up, 0 = none
    uint64_t _armed = 0;             // what the timerfd is set to, 0 = disarmed
};

// CLOCK_MONOTONIC in microseconds: the time base of Prober and HealthChecker.
uint64_t now_us();

}  // namespace svcgw::health
