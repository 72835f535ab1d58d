// What the daemon reports and announces: the API's read side (stats, flows,
// health, events) and the addresses it announces (gratuitous ARP for new
// VIPs, route health injection through BIRD).
#include "common/hash.hpp"
#include "daemon.hpp"
#include "log.hpp"
#include "reload_rules.hpp"
#include "telemetry/collect.hpp"

namespace svcgw::app {
namespace {

// Route decisions are re-taken this often besides after every change: the
// data plane's liveness and a failed BIRD reload's retry need a clock.
constexpr uint64_t kFleetPeriodMs = 100;

}  // namespace

void Daemon::announce(const std::set<uint32_t>& addresses) {
    for (uint32_t ip_be : addresses) {
        _tick->announce(ip_be);
    }
}

void Daemon::announce_new_vips() {
    std::set<uint32_t> now = vips_of(_state->records());
    std::set<uint32_t> fresh;
    for (uint32_t vip : now) {
        if (!_announced.contains(vip)) {
            fresh.insert(vip);
        }
    }
    _announced = std::move(now);
    announce(fresh);
}

// Route health injection: decides what to announce from what the gateway
// observes now and pushes a changed decision to BIRD (lib/fleet).
void Daemon::refresh_announcements() {
    if (_announcer == nullptr) {
        return;
    }
    const uint64_t now = now_ms();
    _fleet_next_ms = now + kFleetPeriodMs;
    std::vector<Worker*> workers;
    for (const auto& w : _worker_objects) {
        workers.push_back(w.get());
    }
    const fleet::FleetStatus before = _announcer->status();
    _announcer->update(_fleet_observer.observe(*_table, workers, _config, now), now, now_unix());
    const fleet::FleetStatus after = _announcer->status();
    if (after.bird_failures != before.bird_failures &&
        after.bird_last_error != before.bird_last_error) {
        log("fleet: BIRD did not take the routes (retrying every %llu ms): %s",
            static_cast<unsigned long long>(fleet::Announcer::kRetryMs),
            after.bird_last_error.c_str());
    }
    if (after.bird_reloads != before.bird_reloads) {
        size_t announced = 0;
        for (const fleet::Route& r : after.routes) {
            announced += r.announced() ? 1 : 0;
        }
        log("fleet: BIRD announces %zu of %zu routes%s%s", announced, after.routes.size(),
            after.draining ? " (draining)" : "", after.data_plane_up ? "" : " (data plane down)");
    }
}

StatsSnapshot Daemon::stats() {
    std::vector<const Worker*> workers;
    std::vector<FlowCensus> census;
    for (const auto& w : _worker_objects) {
        workers.push_back(w.get());
        census.push_back(w->census());
    }
    StatsSnapshot s = collect_stats(*_table, workers, census);
    if (_feed != nullptr) {
        s.kubernetes = feed_stats(*_feed, *_feed_sync);
    }
    _health->fill(s);
    if (_members != nullptr) {
        s.fleet_members = member_stats(_members->set(), _members->changes());
        fill_lease_stats(s.fleet_members);
    }
    if (_exception != nullptr) {
        const ExceptionPathStats& e = _exception->stats();
        s.exception_path = ExceptionPathView{
            true,          _exception->interface(), e.to_kernel,         e.to_kernel_failed,
            e.from_kernel, e.from_kernel_kept,      e.from_kernel_failed};
    }
    return s;
}

ServiceHealth Daemon::health(const std::string& key) {
    return ServiceHealth{_health->status(key), _health->events(key)};
}

std::vector<OriginEvent> Daemon::events() {
    if (!_feed_sync) {
        return {};
    }
    const auto& recent = _feed_sync->events();
    return {recent.begin(), recent.end()};
}

std::vector<FlowSample> Daemon::flows(size_t limit) {
    std::vector<FlowCensus> census;
    for (const auto& w : _worker_objects) {
        census.push_back(w->census());
    }
    return flow_samples(census, limit);
}

}  // namespace svcgw::app
