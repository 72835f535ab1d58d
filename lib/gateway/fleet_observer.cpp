#include "gateway/fleet_observer.hpp"

#include <algorithm>

#include "dataplane/worker.hpp"
#include "table/service_table.hpp"

namespace svcgw {

fleet::Observed FleetObserver::observe(const ServiceTable& table, std::span<Worker* const> workers,
                                       const Config& config, uint64_t now_ms) {
    fleet::Observed o;
    if (_heartbeats.size() != workers.size()) {
        _heartbeats.assign(workers.size(), 0);
        _progress_ms.assign(workers.size(), now_ms);
    }
    o.data_plane_up = !workers.empty();
    for (size_t i = 0; i < workers.size(); ++i) {
        const uint64_t heartbeat = workers[i]->heartbeat();
        if (heartbeat != _heartbeats[i]) {
            _heartbeats[i] = heartbeat;
            _progress_ms[i] = now_ms;
        }
        // The first look counts as progress: a worker starting up gets
        // kWorkerStallMs like any other.
        if (now_ms - _progress_ms[i] > kWorkerStallMs) {
            o.data_plane_up = false;
        }
        o.active_flows += workers[i]->stats().flows;
    }
    o.generation = config.fleet.generation;
    // Per port, as the workers pick: Kubernetes' rules, the health checks
    // and the port's all-down policy are already in its eligible set.
    for (const Service* s : table.services()) {
        auto ip = s->cluster_ip();
        if (!ip) {
            continue;
        }
        fleet::VipHealth vip{*ip, false, false};
        for (const ServicePort& port : s->ports()) {
            vip.eligible_backend =
                vip.eligible_backend ||
                std::find(port.eligible.begin(), port.eligible.end(), 1) != port.eligible.end();
            vip.fail_open = vip.fail_open || port.all_down == AllDownState::fail_open;
        }
        o.vips.push_back(vip);
    }
    // nat mode keeps the client's address: there is no SNAT address to reach.
    if (config.forwarding == ForwardingMode::fullnat) {
        o.snat_addresses = config.network.snat_addresses;
    }
    return o;
}

}  // namespace svcgw
