// Health checks in the control plane (DESIGN §6): the glue between the
// running service set, the checker (health/checker.hpp) and the VIP table.
//
//  - A ServicePublisher around the daemon's publisher: each change goes to
//    the inner publisher (table and zone) first; once it is live, the checker
//    follows the diff (targets of added and changed services, removed ones
//    dropped). Nothing can fail after the inner publish.
//  - The table's HealthSource: every build asks the checker, so a change
//    from any origin is built with the current probe state.
//  - run(): verdicts that cross rise/fall republish the services they touch
//    through ControlState::republish (the one publish path, configs
//    unchanged) and are logged as events; ports that enter or leave
//    "every backend down" are logged and counted.
//
// Why health overlays and never edits configs: the file, the API and the
// Kubernetes feed own the configs and rewrite them at will; if probes
// flipped `ready`, the next apply would silently undo them, and a failed
// probe would look like a Kubernetes change to every reader of the config.
//
// Threading: control thread only.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "control/state.hpp"
#include "health/checker.hpp"
#include "table/service_table.hpp"
#include "telemetry/stats.hpp"

namespace svcgw {

class HealthOverlay : public ServicePublisher {
public:
    using Log = std::function<void(const std::string&)>;

    // `inner` publishes to the table the checker's source is set on.
    HealthOverlay(ServicePublisher& inner, health::HealthChecker& checker, ServiceTable& table,
                  Log log);
    ~HealthOverlay() override;
    HealthOverlay(const HealthOverlay&) = delete;
    HealthOverlay& operator=(const HealthOverlay&) = delete;

    // The services the table already holds (published at start-up).
    void start(const std::vector<ServiceConfig>& services);

    Result<void> publish(const ServiceDiff& diff, const MaglevConfig& maglev) override;

    // Call when the checker's fd() is readable.
    void run(ControlState& state);

    // Every checked (port, backend) pair of a service.
    std::vector<ProbeStats> status(const std::string& key) const;
    // Events touching a service ("" = all), oldest first.
    std::vector<HealthEventStats> events(const std::string& key) const;
    HealthSummary summary() const;
    // Fills BackendStats::health and StatsSnapshot::health.
    void fill(StatsSnapshot& stats) const;

private:
    void follow_all_down(const std::string& key);

    ServicePublisher& _inner;
    health::HealthChecker& _checker;
    ServiceTable& _table;
    HealthSource _source;
    Log _log;
    // Per service, per port: whether its check left no backend (logged on change).
    std::map<std::string, std::vector<AllDownState>> _all_down;
    uint64_t _all_down_episodes = 0;
};

}  // namespace svcgw
