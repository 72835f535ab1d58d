#include "control/health_overlay.hpp"

#include <algorithm>
#include <unordered_map>

namespace svcgw {

namespace {

constexpr uint64_t kUsPerMs = 1000;
constexpr double kUsPerSecond = 1e6;

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const std::string& s : items) {
        out += (out.empty() ? "" : ", ") + s;
    }
    return out;
}

uint64_t ms_since(uint64_t then, uint64_t now) {
    return now > then ? (now - then) / kUsPerMs : 0;
}

}  // namespace

HealthOverlay::HealthOverlay(ServicePublisher& inner, health::HealthChecker& checker,
                             ServiceTable& table, Log log)
    : _inner(inner), _checker(checker), _table(table), _log(std::move(log)) {
    _source.healthy = [this](Ipv4 ip, uint16_t port, const HealthCheckConfig& check) {
        return _checker.healthy(ip, port, check);
    };
    _table.set_health(&_source);
}

HealthOverlay::~HealthOverlay() {
    _table.set_health(nullptr);
}

void HealthOverlay::start(const std::vector<ServiceConfig>& services) {
    const uint64_t now = health::now_us();
    for (const ServiceConfig& s : services) {
        _checker.update(s, now);
    }
}

Result<void> HealthOverlay::publish(const ServiceDiff& diff, const MaglevConfig& maglev) {
    auto done = _inner.publish(diff, maglev);
    if (!done) {
        return done;
    }
    const uint64_t now = health::now_us();
    for (const ServiceConfig* s : diff.removed) {
        _checker.remove(s->key());
        _all_down.erase(s->key());
    }
    for (const auto* list : {&diff.added, &diff.changed}) {
        for (const ServiceConfig* s : *list) {
            _checker.update(*s, now);
            follow_all_down(s->key());
        }
    }
    return {};
}

void HealthOverlay::run(ControlState& state) {
    auto result = _checker.run(health::now_us());
    for (const health::HealthEvent& e : result.events) {
        _log("health: " + health::describe(e) + "; service " + join(e.services));
    }
    if (result.changed.empty()) {
        return;
    }
    // The one publish path: the table rebuilds these services' rings with
    // the new verdicts (their configs are unchanged).
    auto done = state.republish(result.changed);
    if (!done) {
        _log("health: republishing " + join(result.changed) + " failed: " + done.error().str());
    }
}

void HealthOverlay::follow_all_down(const std::string& key) {
    const size_t slash = key.find('/');
    const Service* svc = _table.find(key.substr(0, slash), key.substr(slash + 1));
    if (svc == nullptr) {
        _all_down.erase(key);
        return;
    }
    std::vector<AllDownState>& seen = _all_down[key];
    seen.resize(svc->ports().size(), AllDownState::no);
    for (size_t i = 0; i < svc->ports().size(); ++i) {
        const ServicePort& sp = svc->ports()[i];
        if (sp.all_down == seen[i]) {
            continue;
        }
        const std::string where = "health: " + key + " port " + std::to_string(sp.port) + "/" +
                                  std::string(to_string(sp.protocol)) + ": ";
        if (sp.all_down == AllDownState::no) {
            _log(where + "a backend passes its health check again; all-down is over");
        } else {
            ++_all_down_episodes;
            _log(where + "every backend failed its health check; all_down: " +
                 (sp.all_down == AllDownState::reject
                      ? std::string("reject, refusing new connections")
                      : "fail_open, sending to all " + std::to_string(svc->eligible_count()) +
                            " eligible backends anyway"));
        }
        seen[i] = sp.all_down;
    }
}

std::vector<ProbeStats> HealthOverlay::status(const std::string& key) const {
    const uint64_t now = health::now_us();
    std::vector<ProbeStats> out;
    for (const health::BackendHealth& b : _checker.status(key)) {
        const health::TargetStatus& s = b.status;
        ProbeStats p;
        p.port = b.service_port;
        p.port_name = b.port_name;
        p.ip = b.ip.str();
        p.probe_port = b.probe_port;
        p.protocol = std::string(to_string(b.protocol));
        p.up = s.up;
        p.probed = s.probed;
        if (s.probed) {
            p.last = health::describe(s.last);
            p.last_age_ms = ms_since(s.last_at, now);
            p.latency_us = s.last.latency_us;
        }
        p.probes = s.probes;
        p.failures = s.failed;
        p.since_ms = ms_since(s.changed_at, now);
        out.push_back(std::move(p));
    }
    return out;
}

std::vector<HealthEventStats> HealthOverlay::events(const std::string& key) const {
    const uint64_t now = health::now_us();
    std::vector<HealthEventStats> out;
    for (const health::HealthEvent& e : _checker.events()) {
        if (!key.empty() &&
            std::find(e.services.begin(), e.services.end(), key) == e.services.end()) {
            continue;
        }
        out.push_back(HealthEventStats{ms_since(e.at, now), e.up, health::describe(e), e.services});
    }
    return out;
}

HealthSummary HealthOverlay::summary() const {
    const health::HealthTotals t = _checker.totals();
    HealthSummary s;
    for (size_t r = 0; r < t.verdicts.size(); ++r) {
        s.verdicts.emplace_back(std::string(to_string(static_cast<health::ProbeResult>(r))),
                                t.verdicts[r]);
    }
    uint64_t cumulative = 0;
    for (size_t b = 0; b < health::kLatencyBucketsUs.size(); ++b) {
        cumulative += t.latency[b];
        s.latency_le.emplace_back(double(health::kLatencyBucketsUs[b]) / kUsPerSecond, cumulative);
    }
    s.latency_count = cumulative + t.latency.back();
    s.latency_sum_s = double(t.latency_sum_us) / kUsPerSecond;
    s.deferred = t.deferred;
    s.went_up = t.went_up;
    s.went_down = t.went_down;
    s.all_down = _all_down_episodes;
    s.targets = t.targets;
    s.down = t.down;
    s.in_flight = t.in_flight;
    s.capacity = t.capacity;
    return s;
}

void HealthOverlay::fill(StatsSnapshot& stats) const {
    // One status() per service, indexed by backend address.
    std::unordered_map<std::string, std::unordered_multimap<std::string, ProbeStats>> by_service;
    for (BackendStats& b : stats.backends) {
        const std::string key = b.ns + "/" + b.service;
        auto it = by_service.find(key);
        if (it == by_service.end()) {
            std::unordered_multimap<std::string, ProbeStats> index;
            for (ProbeStats& p : status(key)) {
                index.emplace(p.ip, std::move(p));
            }
            it = by_service.emplace(key, std::move(index)).first;
        }
        auto [first, last] = it->second.equal_range(b.ip);
        for (auto p = first; p != last; ++p) {
            b.health.push_back(p->second);
        }
        std::sort(b.health.begin(), b.health.end(),
                  [](const ProbeStats& x, const ProbeStats& y) { return x.port < y.port; });
    }
    stats.health = summary();
}

}  // namespace svcgw
