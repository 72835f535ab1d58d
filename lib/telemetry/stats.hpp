// A point-in-time view of the gateway's counters, assembled by the
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
    uint32_t ring_size = 0;    // Maglev M of the port's ring, 0 when empty
    uint64_t ring_digest = 0;  // table/service.hpp ring_digest()
    TrafficStats traffic;
    std::string all_down;  // health check left no backend: "fail_open" | "reject"; "" = no
};

// One health-checked (service port, backend) pair as the prober sees it.
struct ProbeStats {
    uint16_t port = 0;  // the service port
    std::string port_name;
    std::string ip;
    uint16_t probe_port = 0;
    std::string protocol;  // tcp | http
    bool up = true;
    bool probed = false;  // a verdict arrived (else up because new)
    std::string last;     // the last verdict: ok, refused, timeout, bad_status 500, ...
    uint64_t last_age_ms = 0;
    uint64_t latency_us = 0;  // of the last verdict
    uint64_t probes = 0, failures = 0;
    uint64_t since_ms = 0;  // in the current state for this long
};

struct BackendStats {
    std::string ns, service, ip;
    uint32_t weight = 0;
    bool ready = false, serving = false, terminating = false, eligible = false;
    uint32_t ring_slots = 0;  // share of new flows = ring_slots / ring_size
    uint32_t ring_size = 0;
    TrafficStats traffic;
    std::vector<ProbeStats> health;  // one per checked port
};

// A backend crossed rise or fall.
struct HealthEventStats {
    uint64_t age_ms = 0;
    bool up = false;
    std::string message;                // "10.99.0.11:80 (tcp) down after 3 failed probes ..."
    std::vector<std::string> services;  // "ns/name"
};

// One service's health checks, for the API (describe).
struct ServiceHealth {
    std::vector<ProbeStats> probes;
    std::vector<HealthEventStats> events;
};

// The prober as a whole.
struct HealthSummary {
    std::vector<std::pair<std::string, uint64_t>> verdicts;  // result -> probes
    std::vector<std::pair<double, uint64_t>> latency_le;     // bound (s) -> ok probes, cumulative
    uint64_t latency_count = 0;
    double latency_sum_s = 0;
    uint64_t deferred = 0;  // probes that waited for a free slot
    uint64_t went_up = 0, went_down = 0, all_down = 0;
    uint64_t targets = 0, down = 0, in_flight = 0, capacity = 0;
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

// The Kubernetes feed (lib/kube): per watched kind, and event -> data
// plane lag (cumulative Prometheus buckets, upper bounds in microseconds).
struct FeedKindStats {
    std::string kind;  // Service | EndpointSlice | Node
    uint64_t events = 0, bookmarks = 0, relists = 0, restarts = 0, expired = 0, errors = 0;
    std::string last_error;
};

struct FeedStats {
    bool enabled = false;
    bool synced = false;
    std::vector<FeedKindStats> kinds;
    uint64_t publishes = 0, rejected = 0, invalid = 0, publish_errors = 0;
    uint64_t status_updates = 0, status_errors = 0;  // load-balancer status written back
    std::vector<std::pair<uint64_t, uint64_t>>
        lag_buckets;  // (le_us, cumulative count); last le = 0: +Inf
    uint64_t lag_count = 0, lag_sum_us = 0, lag_p50_us = 0, lag_p99_us = 0;
};

// The exception path's kernel side (port/exception_path.hpp); the workers'
// share of it (punted, policed) is in their events and drops.
struct ExceptionPathView {
    bool enabled = false;
    std::string interface;            // the TAP
    uint64_t to_kernel = 0;           // punted frames written to the TAP
    uint64_t to_kernel_failed = 0;    // write() refused
    uint64_t from_kernel = 0;         // kernel frames sent out of the port
    uint64_t from_kernel_kept = 0;    // kernel frames not for the wire (ARP replies, IPv6)
    uint64_t from_kernel_failed = 0;  // no mbuf, or worker 0's ring full
};

// nat mode's reply index (table/reply_index.hpp).
struct ReplyIndexStats {
    bool enabled = false;
    uint64_t keys = 0;       // backend:targetPort keys of the services
    uint64_t unindexed = 0;  // inserts the index had no room for (since start)
};

// fullnat owner redirect (dataplane/instance_owner.hpp): the fleet's
// members as this instance sees them; the workers' share (frames
// redirected, redirected frames received) is in their events.
struct FleetMemberStats {
    std::string name;
    std::string address;
    bool self = false;
    bool live = false;
    bool mac_known = false;  // resolved: its redirected frames carry the mark
    uint32_t slots = 0;      // owner-ring slots it holds
    // membership leases: what its Lease says (kube::LeaseState's words)
    std::string lease_state;       // "" with probes
    int64_t lease_renew_us = 0;    // renewTime (the holder's clock); 0 = none
    std::string lease_renew_time;  // the same as the Lease writes it (MicroTime)
    uint32_t lease_duration_s = 0;
};
struct FleetMembersStats {
    bool enabled = false;
    uint64_t digest = 0;  // MemberSet::digest(): equal on instances that agree
    uint32_t ring_size = 0;
    uint64_t live = 0;
    uint64_t changes = 0;               // member sets published (liveness or MAC changes)
    std::string membership = "probes";  // where liveness comes from: probes | leases
    // membership leases: the API listed within the hold (else the set is frozen)
    bool lease_api_ok = false;
    uint64_t lease_renewals = 0, lease_conflicts = 0, lease_errors = 0;
    std::vector<FleetMemberStats> members;
};

struct StatsSnapshot {
    std::vector<PortStats> ports;
    std::vector<BackendStats> backends;
    std::vector<WorkerStatsView> workers;
    uint64_t services = 0;
    uint64_t config_version = 0;
    uint64_t tables_digest = 0;  // table/service.hpp tables_digest()
    ReplyIndexStats reply_index;
    FeedStats kubernetes;
    HealthSummary health;
    ExceptionPathView exception_path;
    FleetMembersStats fleet_members;
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
