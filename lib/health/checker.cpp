#include "health/checker.hpp"

#include <algorithm>
#include <functional>

#include "common/hash.hpp"

namespace svcgw::health {

namespace {

constexpr uint64_t kUsPerMs = 1000;
// Each period is stretched or shrunk by up to 1/20 (5%), so that backends
// probed by many gateways, or targets created in one burst, drift apart
// instead of being probed in lock-step.
constexpr uint64_t kJitterDivisor = 20;

}  // namespace

std::string describe(const HealthEvent& e) {
    return e.ip.str() + ":" + std::to_string(e.port) + " (" + std::string(to_string(e.protocol)) +
           ") " + (e.up ? "up" : "down") + " after " + std::to_string(e.count) +
           (e.up ? " good" : " failed") + " probe" + (e.count == 1 ? "" : "s") +
           " (last: " + describe(e.last) + ")";
}

size_t HealthChecker::KeyHash::operator()(const Key& k) const {
    const HealthCheckConfig& c = k.check;
    uint64_t h = hash_u64(uint64_t{k.ip} << 16 | k.port, static_cast<uint64_t>(c.protocol));
    h = hash_u64(uint64_t{c.expect_min} << 16 | c.expect_max, h);
    h = hash_u64(uint64_t{c.interval_ms} << 32 | c.timeout_ms, h);
    h = hash_u64(uint64_t{c.rise} << 32 | c.fall, h);
    return static_cast<size_t>(hash_bytes(c.path, h));
}

Result<std::unique_ptr<HealthChecker>> HealthChecker::create(HealthOptions options) {
    auto prober = Prober::create(options.max_in_flight);
    if (!prober) {
        return Unexpected<Error>{prober.error()};
    }
    std::unique_ptr<HealthChecker> c(new HealthChecker());
    c->_prober = std::move(*prober);
    c->_random.seed(options.seed != 0 ? options.seed : std::random_device{}());
    return c;
}

void HealthChecker::update(const ServiceConfig& service, uint64_t now) {
    const std::string key = service.key();
    std::vector<Ref> refs;
    for (size_t p = 0; p < service.ports.size(); ++p) {
        const ServicePortConfig& port = service.ports[p];
        if (!port.health_check) {
            continue;
        }
        for (const EndpointConfig& ep : service.endpoints) {
            const uint16_t probe = ep.probe_port_for(port);
            if (probe == 0) {
                continue;
            }
            refs.push_back(Ref{p, port.port, port.name,
                               acquire(Key{ep.ip.value, probe, *port.health_check}, key, now)});
        }
    }
    // New references first: a target both lists hold is never dropped.
    auto old = _services.find(key);
    if (old != _services.end()) {
        for (const Ref& r : old->second) {
            release(r.target, key);
        }
    }
    if (refs.empty()) {
        _services.erase(key);
    } else {
        _services[key] = std::move(refs);
    }
    // New targets may be due before anything run() planned.
    _prober->wake_at(_due.empty() ? 0 : _due.top().at);
}

void HealthChecker::remove(const std::string& key) {
    auto it = _services.find(key);
    if (it == _services.end()) {
        return;
    }
    for (const Ref& r : it->second) {
        release(r.target, key);
    }
    _services.erase(it);
}

uint64_t HealthChecker::acquire(const Key& key, const std::string& service, uint64_t now) {
    if (auto it = _by_key.find(key); it != _by_key.end()) {
        ++_targets.at(it->second).users[service];
        return it->second;
    }
    const uint64_t id = _next_id++;
    Target& t = _targets[id];
    t.id = id;
    t.key = key;
    t.users[service] = 1;
    t.status.changed_at = now;
    _by_key.emplace(key, id);
    // First probe anywhere in the first interval: a thousand targets added
    // by one change do not all connect in the same millisecond.
    const uint64_t interval = uint64_t{key.check.interval_ms} * kUsPerMs;
    schedule(t, now + std::uniform_int_distribution<uint64_t>(0, interval - 1)(_random));
    return id;
}

void HealthChecker::release(uint64_t id, const std::string& service) {
    auto it = _targets.find(id);
    if (it == _targets.end()) {
        return;
    }
    Target& t = it->second;
    auto user = t.users.find(service);
    if (user != t.users.end() && --user->second == 0) {
        t.users.erase(user);
    }
    if (t.users.empty()) {
        // Its heap entry goes stale and a probe in flight reports to nobody.
        _by_key.erase(t.key);
        _targets.erase(it);
    }
}

void HealthChecker::schedule(Target& t, uint64_t at) {
    t.due = at;
    _due.push(Due{at, t.id});
}

uint64_t HealthChecker::jitter(uint32_t interval_ms) {
    const uint64_t spread = uint64_t{interval_ms} * kUsPerMs / kJitterDivisor;
    return std::uniform_int_distribution<uint64_t>(0, 2 * spread)(_random);
}

bool HealthChecker::launch(Target& t, uint64_t now) {
    if (!_prober->start(t.id, ProbeTarget{Ipv4{t.key.ip}, t.key.port, t.key.check}, now)) {
        return false;
    }
    t.in_flight = true;
    return true;
}

HealthChecker::RunResult HealthChecker::run(uint64_t now) {
    RunResult out;
    _done.clear();
    _prober->poll(now, _done);
    for (const Completion& c : _done) {
        auto it = _targets.find(c.token);
        if (it != _targets.end()) {
            it->second.in_flight = false;
            verdict(it->second, c.outcome, now, out);
        }
    }
    // Those that waited for a slot go first, in the order they came due.
    while (!_waiting.empty() && _prober->in_flight() < _prober->capacity()) {
        auto it = _targets.find(_waiting.front());
        _waiting.pop_front();
        if (it != _targets.end()) {
            it->second.waiting = false;
            (void)launch(it->second, now);
        }
    }
    while (!_due.empty() && _due.top().at <= now) {
        const Due d = _due.top();
        _due.pop();
        auto it = _targets.find(d.id);
        if (it == _targets.end() || it->second.due != d.at) {
            continue;  // removed, or rescheduled since
        }
        Target& t = it->second;
        const uint32_t interval_ms = t.key.check.interval_ms;
        const uint64_t interval = uint64_t{interval_ms} * kUsPerMs;
        // The next period counts from the planned start, so targets keep
        // their spread; after a long stall it restarts from now.
        uint64_t next = d.at + interval - interval / kJitterDivisor + jitter(interval_ms);
        if (next <= now) {
            next = now + interval;
        }
        schedule(t, next);
        if (t.in_flight || t.waiting) {
            continue;  // still busy with the previous round: skip this one
        }
        if (!launch(t, now)) {
            t.waiting = true;
            _waiting.push_back(t.id);
            ++_totals.deferred;
        }
    }
    // Stale heap tops only cost an early wake-up.
    _prober->wake_at(_due.empty() ? 0 : _due.top().at);
    std::sort(out.changed.begin(), out.changed.end());
    out.changed.erase(std::unique(out.changed.begin(), out.changed.end()), out.changed.end());
    return out;
}

void HealthChecker::verdict(Target& t, const ProbeOutcome& outcome, uint64_t now, RunResult& out) {
    ++_totals.verdicts[size_t(outcome.result)];
    if (outcome.result == ProbeResult::local_error) {
        return;  // our socket or port ran out: says nothing about the backend
    }
    TargetStatus& s = t.status;
    const HealthCheckConfig& check = t.key.check;
    s.probed = true;
    s.last = outcome;
    s.last_at = now;
    ++s.probes;
    bool flipped = false;
    if (outcome.result == ProbeResult::ok) {
        const auto bucket = std::lower_bound(kLatencyBucketsUs.begin(), kLatencyBucketsUs.end(),
                                             outcome.latency_us);
        ++_totals.latency[static_cast<size_t>(bucket - kLatencyBucketsUs.begin())];
        _totals.latency_sum_us += outcome.latency_us;
        ++s.successes;
        s.failures = 0;
        flipped = !s.up && s.successes >= check.rise;
    } else {
        ++s.failed;
        ++s.failures;
        s.successes = 0;
        flipped = s.up && s.failures >= check.fall;
    }
    if (!flipped) {
        return;
    }
    s.up = !s.up;
    s.changed_at = now;
    ++(s.up ? _totals.went_up : _totals.went_down);
    HealthEvent e;
    e.at = now;
    e.ip = Ipv4{t.key.ip};
    e.port = t.key.port;
    e.protocol = check.protocol;
    e.up = s.up;
    e.last = outcome;
    e.count = s.up ? s.successes : s.failures;
    for (const auto& [service, refs] : t.users) {
        e.services.push_back(service);
        out.changed.push_back(service);
    }
    out.events.push_back(e);
    _events.push_back(std::move(e));
    if (_events.size() > kMaxEvents) {
        _events.pop_front();
    }
}

bool HealthChecker::healthy(Ipv4 ip, uint16_t port, const HealthCheckConfig& check) const {
    auto it = _by_key.find(Key{ip.value, port, check});
    return it == _by_key.end() || _targets.at(it->second).status.up;
}

std::vector<BackendHealth> HealthChecker::status(const std::string& key) const {
    std::vector<BackendHealth> out;
    auto it = _services.find(key);
    if (it == _services.end()) {
        return out;
    }
    for (const Ref& r : it->second) {
        const Target& t = _targets.at(r.target);
        out.push_back(BackendHealth{r.port_index, r.service_port, r.port_name, Ipv4{t.key.ip},
                                    t.key.port, t.key.check.protocol, t.status});
    }
    return out;
}

HealthTotals HealthChecker::totals() const {
    HealthTotals out = _totals;
    out.targets = _targets.size();
    out.down = static_cast<size_t>(std::count_if(
        _targets.begin(), _targets.end(), [](const auto& kv) { return !kv.second.status.up; }));
    out.in_flight = _prober->in_flight();
    out.capacity = _prober->capacity();
    return out;
}

}  // namespace svcgw::health
