#include "control/snapshot_publisher.hpp"

#include <rte_rcu_qsbr.h>

#include <chrono>

namespace svcgw {

ServiceConfig dns_view(const ServiceConfig& service) {
    ServiceConfig view;
    view.name = service.name;
    view.ns = service.ns;
    view.headless = service.headless;
    view.cluster_ip = service.headless ? std::nullopt : service.cluster_ip;
    for (const ServicePortConfig& port : service.ports) {
        if (port.name.empty()) {
            continue;  // no SRV record
        }
        ServicePortConfig p{port.name, port.port, 0, "", port.protocol};
        if (service.headless) {
            // Headless SRV records carry each endpoint's target port.
            p.target_port = port.target_port;
            p.target_port_name = port.target_port_name;
        }
        view.ports.push_back(std::move(p));
    }
    if (service.headless) {
        for (const EndpointConfig& ep : service.endpoints) {
            if (ep.ready) {
                EndpointConfig e;
                e.ip = ep.ip;
                e.ports = ep.ports;  // resolve named target ports
                view.endpoints.push_back(std::move(e));
            }
        }
    }
    return view;
}

ZonePublisher::ZonePublisher(DnsConfig dns, Ipv4Prefix service_cidr, rte_rcu_qsbr* qsbr,
                             uint32_t first_serial)
    : _dns(std::move(dns)),
      _service_cidr(service_cidr),
      _qsbr(qsbr),
      _next_serial(first_serial == 0 ? 1 : first_serial) {}

ZonePublisher::~ZonePublisher() {
    _current.store(nullptr, std::memory_order_release);
}

Result<ZonePublisher::Prepared, Errors> ZonePublisher::build(
    const std::vector<ServiceConfig>& services) const {
    const auto start = std::chrono::steady_clock::now();
    auto zone = dns::build_zone(services, _dns, _service_cidr, _next_serial);
    if (!zone) {
        return Unexpected<Errors>{zone.error()};
    }
    Prepared prepared;
    prepared.zone = std::move(*zone);
    prepared.build_us = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                  std::chrono::steady_clock::now() - start)
                                                  .count());
    return prepared;
}

Result<void, Errors> ZonePublisher::publish_all(const std::vector<ServiceConfig>& services) {
    auto built = build(services);
    if (!built) {
        return Unexpected<Errors>{built.error()};
    }
    _views.clear();
    _views.reserve(services.size());
    for (const ServiceConfig& s : services) {
        _views.insert_or_assign(s.key(), dns_view(s));
    }
    _last_build_us = built->build_us;
    swap_in(std::move(built->zone));
    return {};
}

Result<ZonePublisher::Prepared, Errors> ZonePublisher::prepare(
    const std::vector<ServiceConfig>& next, const ServiceDiff& diff) const {
    std::vector<std::pair<std::string, ServiceConfig>> views;
    views.reserve(diff.added.size() + diff.changed.size());
    bool touched = !diff.added.empty() || !diff.removed.empty();
    for (const ServiceConfig* s : diff.added) {
        views.emplace_back(s->key(), dns_view(*s));
    }
    for (const ServiceConfig* s : diff.changed) {
        ServiceConfig view = dns_view(*s);
        auto old = _views.find(s->key());
        if (old == _views.end() || !(old->second == view)) {
            touched = true;
            views.emplace_back(s->key(), std::move(view));
        }
    }
    if (!touched) {
        return Prepared{};
    }
    auto built = build(next);
    if (!built) {
        return Unexpected<Errors>{built.error()};
    }
    built->views = std::move(views);
    return std::move(*built);
}

void ZonePublisher::commit(Prepared prepared, const ServiceDiff& diff) {
    if (prepared.zone == nullptr) {
        ++_skipped;
        return;
    }
    for (const ServiceConfig* s : diff.removed) {
        _views.erase(s->key());
    }
    for (auto& [key, view] : prepared.views) {
        _views.insert_or_assign(std::move(key), std::move(view));
    }
    _last_build_us = prepared.build_us;
    swap_in(std::move(prepared.zone));
}

void ZonePublisher::swap_in(std::unique_ptr<const dns::Zone> zone) {
    ++_next_serial;
    ++_builds;
    // Release: the zone's contents are visible to a worker that loads the
    // pointer with acquire (responder path).
    _current.store(zone.get(), std::memory_order_release);
    std::unique_ptr<const dns::Zone> old = std::exchange(_live, std::move(zone));
    if (old != nullptr) {
        // The token is taken after the store: a worker that reports
        // quiescent past it can no longer hold the old pointer.
        _retired.emplace_back(rte_rcu_qsbr_start(_qsbr), std::move(old));
    }
    reclaim();
}

size_t ZonePublisher::reclaim() {
    size_t freed = 0;
    // Tokens grow in queue order: stop at the first grace period not over.
    while (!_retired.empty() && rte_rcu_qsbr_check(_qsbr, _retired.front().first, false) == 1) {
        _retired.pop_front();
        ++freed;
    }
    return freed;
}

ZoneStats ZonePublisher::stats() const {
    ZoneStats s;
    s.builds = _builds;
    s.skipped = _skipped;
    s.last_build_us = _last_build_us;
    s.retired_pending = _retired.size();
    if (_live != nullptr) {
        s.serial = _live->serial();
        s.nodes = _live->node_count();
        s.records = _live->record_count();
        s.bytes = _live->memory_bytes();
    }
    return s;
}

Result<void, Errors> SnapshotPublisher::go_live(const std::vector<ServiceConfig>& services) {
    auto done = _zones.publish_all(services);
    if (done) {
        _dns_live = true;
    }
    return done;
}

Result<void> SnapshotPublisher::publish(const std::vector<ServiceConfig>& next,
                                        const ServiceDiff& diff, const MaglevConfig& maglev) {
    if (!_dns_live) {
        return _table.publish(next, diff, maglev);
    }
    auto prepared = _zones.prepare(next, diff);
    if (!prepared) {
        return Unexpected<Error>{prepared.error().front()};
    }
    auto table = _table.publish(next, diff, maglev);
    if (!table) {
        return table;  // the built zone is dropped: nothing changed
    }
    _zones.commit(std::move(*prepared), diff);
    return {};
}

}  // namespace svcgw
