#include "control/zone_versions.hpp"

#include <chrono>
#include <string>
#include <unordered_set>
#include <vector>

namespace svcgw {

ServiceConfig dns_view(const ServiceConfig& service) {
    ServiceConfig view;
    view.name = service.name;
    view.ns = service.ns;
    view.headless = service.headless;
    view.type = service.type;
    view.external_name = service.external_name;
    if (service.type == ServiceType::external_name) {
        return view;  // a CNAME: nothing else reaches DNS
    }
    // A ClusterIP svcgw does not serve (the cluster's) is not answered here.
    view.cluster_ip =
        service.headless || !service.serve_cluster_ip ? std::nullopt : service.cluster_ip;
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
                e.hostname = ep.hostname;
                e.ports = ep.ports;  // resolve named target ports
                view.endpoints.push_back(std::move(e));
            }
        }
    }
    return view;
}

ZoneVersions::ZoneVersions(DnsConfig dns, Ipv4Prefix service_cidr, rte_rcu_qsbr* qsbr,
                           uint32_t first_serial)
    : _dns(std::move(dns)),
      _service_cidr(service_cidr),
      _next_serial(first_serial == 0 ? 1 : first_serial),
      _retired(qsbr) {}

ZoneVersions::~ZoneVersions() {
    _current.store(nullptr, std::memory_order_release);
    _retired.clear();
    _writer.reset();
}

namespace {

uint64_t micros_since(std::chrono::steady_clock::time_point start) {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::steady_clock::now() - start)
                                     .count());
}

}  // namespace

Result<void, Errors> ZoneVersions::writer_ready() {
    if (_writer != nullptr) {
        return {};
    }
    auto writer = dns::ZoneWriter::create(_dns, _service_cidr, _next_serial);
    if (!writer) {
        return Unexpected<Errors>{writer.error()};
    }
    _writer = std::move(*writer);
    return {};
}

Result<void, Errors> ZoneVersions::publish_all(const std::vector<ServiceConfig>& services) {
    const auto start = std::chrono::steady_clock::now();
    if (auto ready = writer_ready(); !ready) {
        return ready;
    }
    std::vector<ServiceConfig> views;
    views.reserve(services.size());
    std::vector<dns::ZoneWriter::Upsert> upserts;
    upserts.reserve(services.size());
    std::unordered_set<std::string> keys;
    for (size_t i = 0; i < services.size(); ++i) {
        views.push_back(dns_view(services[i]));
        keys.insert(services[i].key());
    }
    for (size_t i = 0; i < services.size(); ++i) {
        upserts.push_back({&views[i], "services[" + std::to_string(i) + "]"});
    }
    std::vector<std::string> removals;
    for (std::string& key : _writer->service_keys()) {
        if (!keys.contains(key)) {
            removals.push_back(std::move(key));
        }
    }
    auto change = _writer->prepare(upserts, removals, _next_serial);
    if (!change) {
        return Unexpected<Errors>{change.error()};
    }
    _last_build_us = micros_since(start);
    publish(std::move(*change));
    return {};
}

Result<ZoneVersions::Prepared, Errors> ZoneVersions::prepare(const ServiceDiff& diff) {
    const auto start = std::chrono::steady_clock::now();
    if (auto ready = writer_ready(); !ready) {
        return Unexpected<Errors>{ready.error()};
    }
    Prepared prepared;
    std::vector<ServiceConfig> views;  // of the services whose DNS side changed
    views.reserve(diff.added.size() + diff.changed.size());
    for (const ServiceConfig* s : diff.added) {
        views.push_back(dns_view(*s));
    }
    for (size_t i = 0; i < diff.changed.size(); ++i) {
        ServiceConfig view = dns_view(*diff.changed[i]);
        if (!(view == dns_view(*diff.replaced[i]))) {
            views.push_back(std::move(view));
        }
    }
    std::vector<std::string> removals;
    for (const ServiceConfig* s : diff.removed) {
        removals.push_back(s->key());
    }
    if (views.empty() && removals.empty()) {
        return prepared;  // nothing DNS serves changed
    }
    std::vector<dns::ZoneWriter::Upsert> upserts;
    upserts.reserve(views.size());
    for (const ServiceConfig& view : views) {
        upserts.push_back({&view, view.key()});
    }
    auto change = _writer->prepare(upserts, removals, _next_serial);
    if (!change) {
        return Unexpected<Errors>{change.error()};
    }
    prepared.change = std::move(*change);
    prepared.build_us = micros_since(start);
    return prepared;
}

void ZoneVersions::commit(Prepared prepared) {
    if (prepared.change == nullptr) {
        ++_skipped;
        return;
    }
    _last_build_us = prepared.build_us;
    publish(std::move(prepared.change));
}

void ZoneVersions::publish(std::unique_ptr<dns::ZoneWriter::Change> change) {
    _last_names = change->touched_names();
    std::unique_ptr<dns::ZoneRetired> retired = _writer->commit(std::move(change));
    ++_next_serial;
    ++_builds;
    // Release: the version's levels and nodes are visible to a worker that
    // loads the pointer with acquire (responder path).
    _current.store(_writer->live(), std::memory_order_release);
    // The token is taken after the store: a worker that reports quiescent
    // past it can no longer hold anything the new version replaced.
    _retired.retire(std::move(retired));
    reclaim();
}

size_t ZoneVersions::reclaim() {
    return _retired.reclaim();
}

ZoneStats ZoneVersions::stats() const {
    ZoneStats s;
    s.builds = _builds;
    s.skipped = _skipped;
    s.last_build_us = _last_build_us;
    s.last_names = _last_names;
    s.retired_pending = _retired.pending();
    if (const dns::Zone* live = this->live()) {
        s.serial = live->serial();
        s.nodes = live->node_count();
        s.records = live->record_count();
        s.bytes = live->memory_bytes();
    }
    return s;
}

}  // namespace svcgw
