#include "health/prober.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "health/http.hpp"

namespace svcgw::health {

namespace {

// epoll data of the timerfd; sockets carry generation << 32 | slot, and a
// slot index never reaches 2^32 - 1.
constexpr uint64_t kTimerTag = 0xffffffffu;
// Events taken per epoll_wait call inside poll().
constexpr int kEventBatch = 256;
// Deadlines and wake-ups are rounded up to this grain, so that one wake-up
// serves every deadline inside it: at 10,000 probes a second the timer fires
// at most 1,000 times a second, and a timeout is late by under a millisecond.
constexpr uint64_t kTimerGrainUs = 1000;
constexpr uint64_t kUsPerMs = 1000;

ProbeResult result_of(int error) {
    switch (error) {
        case ECONNREFUSED:
            return ProbeResult::refused;
        case ETIMEDOUT:
            return ProbeResult::timeout;
        case ECONNRESET:
        case ECONNABORTED:
        case EPIPE:
            return ProbeResult::reset;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
        case EADDRNOTAVAIL:  // no ephemeral port left
        case EAGAIN:         // same, for connect(2) on Linux
            return ProbeResult::local_error;
        default:  // EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, ENETDOWN, ...
            return ProbeResult::unreachable;
    }
}

ProbeOutcome failed(int error) {
    return ProbeOutcome{result_of(error), 0, error, 0};
}

}  // namespace

std::string_view to_string(ProbeResult result) {
    static constexpr std::array<std::string_view, size_t(ProbeResult::count)> kNames = {
#define SVCGW_X(name) #name,
        SVCGW_PROBE_RESULTS(SVCGW_X)
#undef SVCGW_X
    };
    return size_t(result) < kNames.size() ? kNames[size_t(result)] : "unknown";
}

std::string describe(const ProbeOutcome& o) {
    std::string text(to_string(o.result));
    if (o.result == ProbeResult::bad_status) {
        text += ' ';
        text += std::to_string(o.http_status);
    }
    return text;
}

uint64_t now_us() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000 + uint64_t(ts.tv_nsec) / 1000;
}

Result<std::unique_ptr<Prober>> Prober::create(size_t capacity) {
    if (capacity == 0 || capacity >= kTimerTag) {
        return fail("", "prober capacity must be between 1 and 2^32-2");
    }
    std::unique_ptr<Prober> p(new Prober());
    p->_epoll = epoll_create1(EPOLL_CLOEXEC);
    p->_timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (p->_epoll < 0 || p->_timer < 0) {
        return fail("", std::string("health prober: ") + std::strerror(errno));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTimerTag;
    if (epoll_ctl(p->_epoll, EPOLL_CTL_ADD, p->_timer, &ev) != 0) {
        return fail("", std::string("health prober: ") + std::strerror(errno));
    }
    p->_slots.resize(capacity);
    p->_free.reserve(capacity);
    for (size_t i = capacity; i > 0; --i) {
        p->_free.push_back(static_cast<uint32_t>(i - 1));
    }
    return p;
}

Prober::~Prober() {
    for (Slot& s : _slots) {
        if (s.fd >= 0) {
            close(s.fd);
        }
    }
    if (_timer >= 0) {
        close(_timer);
    }
    if (_epoll >= 0) {
        close(_epoll);
    }
}

bool Prober::start(uint64_t token, const ProbeTarget& target, uint64_t now) {
    if (_free.empty()) {
        return false;
    }
    const uint32_t index = _free.back();
    _free.pop_back();
    ++_in_flight;
    Slot& s = _slots[index];
    s.phase = Phase::connecting;
    s.token = token;
    s.started = now;
    s.deadline = now + uint64_t{target.check.timeout_ms} * kUsPerMs;
    s.target = target;
    s.request.clear();
    s.sent = 0;
    s.received.clear();

    s.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s.fd < 0) {
        finish(s, failed(errno), now, _early);
        arm_timer();
        return true;
    }
    const linger abort_on_close{1, 0};
    setsockopt(s.fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    if (target.check.protocol == HealthProtocol::http) {
        const int one = 1;
        setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(target.port);
    to.sin_addr.s_addr = htonl(target.ip.value);
    const int rc = connect(s.fd, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    if (rc != 0 && errno != EINPROGRESS) {
        finish(s, failed(errno), now, _early);
        arm_timer();
        return true;
    }
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u64 = uint64_t{s.generation} << 32 | index;
    if (epoll_ctl(_epoll, EPOLL_CTL_ADD, s.fd, &ev) != 0) {
        finish(s, failed(errno), now, _early);
        arm_timer();
        return true;
    }
    _deadlines.push(Deadline{s.deadline, index, s.generation});
    if (rc == 0) {
        on_connected(s, now, _early);  // loopback may connect at once
    }
    arm_timer();
    return true;
}

void Prober::poll(uint64_t now, std::vector<Completion>& done) {
    uint64_t expirations = 0;
    (void)!read(_timer, &expirations, sizeof expirations);
    _armed = 0;
    done.insert(done.end(), _early.begin(), _early.end());
    _early.clear();
    std::array<epoll_event, kEventBatch> events;
    for (;;) {
        const int n = epoll_wait(_epoll, events.data(), kEventBatch, 0);
        for (int i = 0; i < n; ++i) {
            const uint64_t tag = events[i].data.u64;
            if (tag == kTimerTag) {
                continue;
            }
            const auto index = static_cast<uint32_t>(tag & 0xffffffffu);
            const auto generation = static_cast<uint32_t>(tag >> 32);
            if (index < _slots.size() && _slots[index].generation == generation &&
                _slots[index].phase != Phase::free) {
                on_event(index, events[i].events, now, done);
            }
        }
        if (n < kEventBatch) {
            break;
        }
    }
    // A probe done just now (its verdict came in with this batch) is not
    // also timed out: deadlines are checked after the sockets.
    while (!_deadlines.empty() && _deadlines.top().at <= now) {
        const Deadline d = _deadlines.top();
        _deadlines.pop();
        Slot& s = _slots[d.slot];
        if (s.generation == d.generation && s.phase != Phase::free) {
            finish(s, ProbeOutcome{ProbeResult::timeout, 0, ETIMEDOUT, 0}, now, done);
        }
    }
    if (_wake != 0 && _wake <= now) {
        _wake = 0;
    }
    arm_timer();
}

void Prober::wake_at(uint64_t at) {
    _wake = at;
    arm_timer();
}

void Prober::on_event(uint32_t index, uint32_t events, uint64_t now,
                      std::vector<Completion>& done) {
    Slot& s = _slots[index];
    if (s.phase == Phase::connecting) {
        // Writable without an error flag = connected (connect(2)); only a
        // failed connect costs the SO_ERROR call that names the error.
        int error = 0;
        if ((events & (EPOLLERR | EPOLLHUP)) != 0) {
            socklen_t len = sizeof error;
            if (getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) {
                error = errno;
            }
            error = error != 0 ? error : ECONNRESET;
        }
        if (error != 0) {
            finish(s, failed(error), now, done);
        } else if ((events & EPOLLOUT) != 0) {
            on_connected(s, now, done);
        }
        return;
    }
    if (s.phase == Phase::sending) {
        on_writable(s, now, done);
        return;
    }
    on_readable(s, now, done);
}

void Prober::on_connected(Slot& s, uint64_t now, std::vector<Completion>& done) {
    if (s.target.check.protocol == HealthProtocol::tcp) {
        finish(s, ProbeOutcome{ProbeResult::ok, 0, 0, 0}, now, done);
        return;
    }
    s.phase = Phase::sending;
    s.request = http_request(s.target.check.path, s.target.ip, s.target.port);
    on_writable(s, now, done);
}

void Prober::on_writable(Slot& s, uint64_t now, std::vector<Completion>& done) {
    while (s.sent < s.request.size()) {
        const ssize_t n =
            send(s.fd, s.request.data() + s.sent, s.request.size() - s.sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            return;  // still registered for EPOLLOUT
        }
        if (n <= 0) {
            finish(s, failed(n < 0 ? errno : ECONNRESET), now, done);
            return;
        }
        s.sent += static_cast<size_t>(n);
    }
    s.phase = Phase::receiving;
    const uint32_t index = static_cast<uint32_t>(&s - _slots.data());
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = uint64_t{s.generation} << 32 | index;
    if (epoll_ctl(_epoll, EPOLL_CTL_MOD, s.fd, &ev) != 0) {
        finish(s, failed(errno), now, done);
    }
}

void Prober::on_readable(Slot& s, uint64_t now, std::vector<Completion>& done) {
    std::array<char, kMaxStatusLine> buffer;
    for (;;) {
        const size_t room = kMaxStatusLine - s.received.size();
        const ssize_t n = recv(s.fd, buffer.data(), room, 0);
        if (n < 0 && errno == EAGAIN) {
            return;
        }
        if (n <= 0) {
            // Closed (or reset) before a status line arrived.
            finish(s, failed(n < 0 ? errno : ECONNRESET), now, done);
            return;
        }
        s.received.append(buffer.data(), static_cast<size_t>(n));
        const StatusLine line = parse_status_line(s.received);
        if (line.state == StatusLine::State::malformed) {
            finish(s, ProbeOutcome{ProbeResult::bad_reply, 0, 0, 0}, now, done);
            return;
        }
        if (line.state == StatusLine::State::ok) {
            const HealthCheckConfig& c = s.target.check;
            const bool expected = line.code >= c.expect_min && line.code <= c.expect_max;
            finish(
                s,
                ProbeOutcome{expected ? ProbeResult::ok : ProbeResult::bad_status, line.code, 0, 0},
                now, done);
            return;
        }
    }
}

void Prober::finish(Slot& s, ProbeOutcome outcome, uint64_t now, std::vector<Completion>& done) {
    if (s.fd >= 0) {
        close(s.fd);  // SO_LINGER 0: RST, no TIME_WAIT; also leaves the epoll set
        s.fd = -1;
    }
    outcome.latency_us = now >= s.started ? now - s.started : 0;
    done.push_back(Completion{s.token, outcome});
    s.phase = Phase::free;
    ++s.generation;
    s.request.clear();
    s.received.clear();
    _free.push_back(static_cast<uint32_t>(&s - _slots.data()));
    --_in_flight;
}

void Prober::arm_timer() {
    // Entries of probes that already finished are dropped from the top, so
    // the timer waits for a live deadline.
    while (!_deadlines.empty()) {
        const Deadline& d = _deadlines.top();
        const Slot& s = _slots[d.slot];
        if (s.generation == d.generation && s.phase != Phase::free) {
            break;
        }
        _deadlines.pop();
    }
    uint64_t next = 0;
    if (!_early.empty()) {
        next = 1;  // in the past: fires at once
    } else {
        if (!_deadlines.empty()) {
            next = _deadlines.top().at;
        }
        if (_wake != 0 && (next == 0 || _wake < next)) {
            next = _wake;
        }
        if (next != 0) {
            next = (next + kTimerGrainUs - 1) / kTimerGrainUs * kTimerGrainUs;
        }
    }
    if (next == _armed) {
        return;
    }
    itimerspec spec{};
    spec.it_value.tv_sec = static_cast<time_t>(next / 1'000'000);
    spec.it_value.tv_nsec = static_cast<long>(next % 1'000'000) * 1000;
    timerfd_settime(_timer, TFD_TIMER_ABSTIME, &spec, nullptr);  // {0,0} disarms
    _armed = next;
}

}  // namespace svcgw::health
