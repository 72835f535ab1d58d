#include "kube/lease_agent.hpp"

#include <chrono>

#include "kube/objects.hpp"

namespace svcgw::kube {

namespace {

// Writes of our own Lease per round: the update, and after a 409 (or a
// 404) one re-read and one more write. More would be two gateways fighting
// over one name (a fleet.self configured twice): retried next round.
constexpr int kMaxWritesPerRound = 3;

// The hold of the evaluation clock when no list succeeds (lease.hpp): a
// list is due every renew period, so one and a half periods without one is
// an API that does not answer. A healthy peer's renewal is at most one
// period (plus a request's latency) old when listed, so at the end of the
// hold it is at most 2.5 periods old: still live with duration >= 3 periods
// (validate_fleet.cpp). A longer hold would expire healthy peers before
// freezing them.
uint64_t hold_ms(const LeaseAgentOptions& o) {
    return uint64_t{o.renew_ms} + o.renew_ms / 2;
}

std::string describe(const Result<HttpReply>& reply) {
    if (!reply) {
        return reply.error().message;
    }
    return "HTTP " + std::to_string(reply->status) + ": " + status_message(reply->body);
}

}  // namespace

LeaseAgent::Clock LeaseAgent::system_clock() {
    return Clock{
        [] {
            return std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                .count();
        },
        [] {
            return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::steady_clock::now().time_since_epoch())
                                             .count());
        }};
}

LeaseAgent::LeaseAgent(LeaseAgentOptions options, Call call, Clock clock)
    : _options(std::move(options)),
      _call(std::move(call)),
      _clock(std::move(clock)),
      _name(lease_name(_options.self)),
      _table(hold_ms(_options), uint64_t{_options.duration_s} * 1000) {}

LeaseAgent::~LeaseAgent() {
    stop();
}

void LeaseAgent::start() {
    _thread = std::thread([this] {
        // Rounds at a fixed rate (not a period after each round ends), so
        // the lists the hold counts on come every renew period.
        const auto period = std::chrono::milliseconds(_options.renew_ms);
        auto next = std::chrono::steady_clock::now();
        std::unique_lock lock(_mutex);
        while (!_stop) {
            lock.unlock();
            round();
            lock.lock();
            next += period;
            const auto now = std::chrono::steady_clock::now();
            if (next < now) {
                next = now;  // a round overran: no burst to catch up
            }
            _wake.wait_until(lock, next, [this] { return _stop; });
        }
    });
}

void LeaseAgent::stop() {
    {
        std::lock_guard lock(_mutex);
        if (_stop && !_thread.joinable()) {
            return;
        }
        _stop = true;
    }
    _wake.notify_all();
    if (_thread.joinable()) {
        _thread.join();
        release();  // only a Lease this agent ran for
    }
}

void LeaseAgent::round() {
    const bool renewed = renew();
    if (list() && renewed) {
        _logged.clear();  // the next failure is told again
    }
}

// One create or update of our Lease, holder = self.
bool LeaseAgent::write_own(int64_t now_us) {
    Lease lease;
    lease.name = _name;
    lease.holder = _released ? std::string() : _options.self;
    lease.duration_s = _options.duration_s;
    lease.renew_us = now_us;
    if (!_released) {
        lease.acquire_us = _acquire_us ? _acquire_us : std::optional<int64_t>(now_us);
    }
    lease.resource_version = _version;
    for (int attempt = 0; attempt < kMaxWritesPerRound; ++attempt) {
        if (lease.resource_version.empty()) {
            // Unknown version: read it (or learn there is no Lease yet).
            auto got = _call("GET", lease_path(_options.ns, _name), "");
            if (got && got->status == kHttpOk) {
                auto current = parse_lease(got->body);
                if (!current) {
                    error("lease " + _name + ": " + current.error().str());
                    return false;
                }
                lease.resource_version = current->resource_version;
                if (current->holder == lease.holder && current->acquire_us) {
                    lease.acquire_us = current->acquire_us;  // still ours: keep when we took it
                }
            } else if (!(got && got->status == kHttpNotFound)) {
                error("lease " + _name + ": read: " + describe(got));
                return false;
            }
        }
        const bool create = lease.resource_version.empty();
        auto reply =
            create ? _call("POST", leases_path(_options.ns), lease_body(_options.ns, lease))
                   : _call("PUT", lease_path(_options.ns, _name), lease_body(_options.ns, lease));
        if (reply && (reply->status == kHttpOk || reply->status == kHttpCreated)) {
            auto written = parse_lease(reply->body);
            _version = written ? written->resource_version : std::string();
            if (!_released) {
                _acquire_us = lease.acquire_us;
            }
            _counters.renewals.fetch_add(1, std::memory_order_relaxed);
            return true;
        }
        if (reply && (reply->status == kHttpConflict || reply->status == kHttpNotFound)) {
            // Written or deleted by someone else since our last write: re-read.
            if (reply->status == kHttpConflict) {
                _counters.conflicts.fetch_add(1, std::memory_order_relaxed);
            }
            lease.resource_version.clear();
            _version.clear();
            continue;
        }
        _version.clear();  // unknown outcome: read before the next write
        error("lease " + _name + ": " + (create ? "create: " : "update: ") + describe(reply));
        return false;
    }
    error("lease " + _name + ": still conflicting after " + std::to_string(kMaxWritesPerRound) +
          " writes (is fleet.self '" + _options.self + "' configured on two gateways?)");
    return false;
}

bool LeaseAgent::renew() {
    return write_own(_clock.unix_us());
}

bool LeaseAgent::release() {
    if (!_acquire_us) {
        return false;  // never held
    }
    _released = true;
    return write_own(_clock.unix_us());
}

bool LeaseAgent::list() {
    auto reply = _call("GET", fleet_leases_query(_options.ns), "");
    if (!reply || reply->status != kHttpOk) {
        error("list leases in " + _options.ns + ": " + describe(reply));
        return false;
    }
    auto parsed = parse_lease_list(reply->body);
    if (!parsed) {
        error("list leases in " + _options.ns + ": " + parsed.error().str());
        return false;
    }
    const uint64_t now_ms = _clock.mono_ms();
    {
        std::lock_guard lock(_mutex);
        _table.update(parsed->items, now_ms);
    }
    _counters.lists.fetch_add(1, std::memory_order_relaxed);
    return true;
}

std::vector<MemberLease> LeaseAgent::member_leases(const std::vector<std::string>& members) const {
    const int64_t now_us = _clock.unix_us();
    const uint64_t now_ms = _clock.mono_ms();
    std::vector<MemberLease> out;
    out.reserve(members.size());
    std::lock_guard lock(_mutex);
    for (const std::string& m : members) {
        out.push_back(_table.state(m, now_us, now_ms));
    }
    return out;
}

bool LeaseAgent::api_ok() const {
    const uint64_t now_ms = _clock.mono_ms();
    std::lock_guard lock(_mutex);
    return _table.listed() && !_table.frozen(now_ms);
}

std::string LeaseAgent::last_error() const {
    std::lock_guard lock(_mutex);
    return _last_error;
}

void LeaseAgent::error(const std::string& message) {
    _counters.errors.fetch_add(1, std::memory_order_relaxed);
    {
        std::lock_guard lock(_mutex);
        _last_error = message;
    }
    if (_options.log && _logged.insert(message).second) {
        _options.log("fleet: " + message);
    }
}

}  // namespace svcgw::kube
