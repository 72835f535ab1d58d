// A point-in-time view of the gateway's counters (issue 4), assembled by the
// control thread from the per-lcore blocks (collect.hpp) and rendered as
// JSON (API) or Prometheus text (render_prometheus). Pure C++.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace svcgw {

struct TrafficStats {
    uint64_t packets = 0;  // client -> service direction
    uint64_t bytes = 0;
    uint64_t new_flows = 0;
    uint64_t active_flows = 0;  // from the last flow census (about a second old)
};

struct PortStats {
    std::string ns, service, port_name, protocol;
    uint16_t port = 0;
    TrafficStats traffic;
};

struct BackendStats {
    std::string ns, service, ip;
    uint32_t weight = 0;
    bool ready = false, serving = false, terminating = false, eligible = false;
    uint32_t ring_slots = 0;  // share of new flows = ring_slots / ring_size
    uint32_t ring_size = 0;
    TrafficStats traffic;
};

struct WorkerStatsView {
    uint16_t index = 0;
    std::vector<std::pair<std::string, uint64_t>> events;  // name -> count
    std::vector<std::pair<std::string, uint64_t>> drops;   // reason -> count
    std::vector<std::pair<std::string, uint64_t>> dns;     // dns::counter_name -> count
    uint64_t flows_active = 0;
    uint64_t flows_capacity = 0;
    uint64_t flow_evictions = 0;
};

struct StatsSnapshot {
    std::vector<PortStats> ports;
    std::vector<BackendStats> backends;
    std::vector<WorkerStatsView> workers;
    uint64_t services = 0;
    uint64_t config_version = 0;
};

// One live connection as the census saw it.
struct FlowSample {
    uint16_t worker = 0;
    std::string client, vip, backend, snat;  // "ip:port"; snat empty in nat mode
    std::string protocol;                    // TCP | UDP
    std::string state;                       // TCP state or "udp"
    uint32_t idle_s = 0;
    uint64_t packets_fwd = 0, packets_rev = 0;
};

// Prometheus text exposition format 0.0.4.
std::string render_prometheus(const StatsSnapshot& stats);

}  // namespace svcgw
