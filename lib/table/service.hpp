// The immutable service object of the snapshot (DESIGN §1): one Service per
// Kubernetes Service, with its backends, its Maglev ring and one ServicePort
// per (port, protocol). Pure C++ (no EAL), so it can be built and tested
// anywhere.
//
// Threading: built by the control thread with Service::build(), then
// published through ServiceTable (table/service_table.hpp) and never
// modified again. Workers read it through `const ServicePort*` pointers
// taken from the VIP table; those pointers stay valid until the worker's next
// rte_rcu_qsbr_quiescent() call, never longer (cache the backend IP and
// target port in the flow entry, not the pointer).
//
// New-flow eligibility (kube-proxy's CategorizeEndpoints, evaluated at
// build time):
//   1. endpoints that are ready and have weight > 0, terminating or not (a
//      ready terminating endpoint is what publishNotReadyAddresses makes);
//   2. if there are none: endpoints that are serving and terminating, with
//      weight > 0 (Kubernetes' "all terminating" fallback);
//   3. weight 0 is an operator drain and never gets new flows, even in the
//      fallback; endpoints neither ready nor serving never get new flows.
// Every endpoint stays in backends() whatever its state, so existing flows
// keep their backend (find_backend() succeeds); only an endpoint deleted from
// the config disappears. The ring is built over *all* backends with Maglev
// weight 0 for ineligible ones, so ring entries index backends() directly.
// No eligible backend = empty ring (the worker rejects new connections).
//
// Per-port targets: an endpoint whose target port cannot be resolved for a
// service port (a named targetPort it does not expose) gets target port 0
// for that port and no new flows through it.
//
// Health checks (a port with `health_check`, DESIGN §6): a probe-down backend
// counts as not ready on that port, before the rules above are applied, so
// healthy terminating endpoints take over when every ready one is down, and a
// check that passes everywhere changes nothing. When the check leaves none of
// the backends Kubernetes allows, `all_down` decides: fail_open keeps the
// Kubernetes choice, reject leaves the port without backends. Probe-down
// backends keep their existing flows (they stay in backends(), as a drain).
//
// A port whose eligible set differs from the service's (targets, health) gets
// its own ring (ServicePort::ring; ports with equal sets share one), every
// other port shares the service ring.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "common/result.hpp"
#include "config/config.hpp"
#include "maglev/maglev.hpp"
#include "table/source_filter.hpp"
#include "table/traffic_counters.hpp"

namespace svcgw {

class Service;

struct Backend {
    uint32_t ip_be = 0;  // network byte order, as written into packets
    uint32_t weight = 0;
    bool ready = false;
    bool serving = false;
    bool terminating = false;
    bool eligible = false;             // Kubernetes rules: gets new flows through the service ring
    TrafficCounters* stats = nullptr;  // null when built without a StatsSource
};

// A port's health check left no backend (rules above): what it does instead.
enum class AllDownState : uint8_t { no, fail_open, reject };

// One (port, protocol) of a service; the data of a VIP table entry.
struct ServicePort {
    // Hot: read by workers per new flow.
    const Service* service = nullptr;      // owning service (back-pointer)
    const MaglevRing* ring = nullptr;      // ring for this port: indices into service->backends()
    std::vector<uint16_t> target_port_be;  // per backend index, network order; 0 = not served
    std::vector<uint8_t> eligible;         // per backend index: 1 = new flows on this port
    uint16_t port_be = 0;                  // network byte order
    Protocol protocol = Protocol::tcp;
    AllDownState all_down = AllDownState::no;
    TrafficCounters* stats = nullptr;  // null when built without a StatsSource
    // control only
    uint16_t port = 0;  // host byte order
    std::string name;
    uint64_t ring_digest = 0;  // ring_digest() of this port, computed at build
};

// Hands Service::build the counters of each identity (see
// traffic_counters.hpp); the ServiceTable keeps them across versions.
struct StatsSource {
    std::function<std::shared_ptr<TrafficCounters>(uint16_t port, Protocol protocol)> port;
    std::function<std::shared_ptr<TrafficCounters>(uint32_t ip_be)> backend;
};

// The probe results the build overlays on Kubernetes readiness. Backends the
// source does not know (not probed yet) count as healthy.
struct HealthSource {
    // false = the backend at `ip` failed `check` probing `port` (fall reached).
    std::function<bool(Ipv4 ip, uint16_t port, const HealthCheckConfig& check)> healthy;
};

// Fingerprints a fleet compares (DESIGN §6: "proven by exported ring
// digests"). Both are specified, independent of the host and the build
// (common/hash.hpp Digest64), and carry the flow hash version in their
// domain, so gateways that would pick differently never show equal digests.
//
// ring_digest, v1: M; the (ip, target port) of each backend that holds a
// slot, in ring order; then each slot's index among those backends, two
// 32-bit entries per word, even slot in the low half. Backends without slots
// (drained, not ready) leave no trace: equal digests = every slot sends new
// flows to the same endpoint. An empty ring digests M = 0.
uint64_t ring_digest(const MaglevRing& ring, std::span<const Backend> backends,
                     std::span<const uint16_t> target_port_be);
// ring_digest() of one ring under several ports' target ports at once,
// out[k] for target_ports_be[k]: the slot part is one serial hash chain per
// port, and chains computed side by side overlap (a service's ports share
// its ring).
std::vector<uint64_t> ring_digests(const MaglevRing& ring, std::span<const Backend> backends,
                                   std::span<const std::span<const uint16_t>> target_ports_be);
// tables_digest, v1: over every service port with a ClusterIP, sorted by
// (VIP, port, protocol): those three, ClientIP affinity on/off and the
// port's ring digest. One number per gateway.
uint64_t tables_digest(std::span<const Service* const> services);

class Service {
public:
    // Builds a complete service object from its config. Errors (with the
    // config path relative to the service, e.g. "ports[1].port"): no
    // ClusterIP on a non-headless service, port 0, duplicate (port,
    // protocol), duplicate endpoint IP, Maglev table size rejected.
    // With `stats`, every port and backend gets its counters from it; with
    // `health`, ports with a health check skip the backends it says are down.
    static Result<std::unique_ptr<const Service>> build(const ServiceConfig& config,
                                                        const MaglevConfig& maglev,
                                                        const StatsSource* stats = nullptr,
                                                        const HealthSource* health = nullptr);

    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;
    ~Service() = default;

    // Hot: worker side.
    const MaglevRing& ring() const { return _ring; }
    std::span<const Backend> backends() const { return _backends; }
    std::span<const ServicePort> ports() const { return _ports; }
    // The backend with this address, nullptr if it is no longer in the
    // service (its flows must be cleared). O(1): open addressing.
    const Backend* find_backend(uint32_t ip_be) const;
    SessionAffinity session_affinity() const { return _session_affinity; }
    uint32_t session_affinity_timeout_s() const { return _session_affinity_timeout_s; }
    // Unique per built object, increasing in build order (process-wide).
    uint64_t generation() const { return _generation; }
    // Who may open flows to its load-balancer addresses.
    const SourceFilter& source_filter() const { return _source_filter; }

    // control only
    const std::string& ns() const { return _ns; }
    const std::string& name() const { return _name; }
    std::optional<Ipv4> cluster_ip() const { return _cluster_ip; }  // nullopt = headless
    // Every address the service answers on (served_vips of its config): the
    // VIP table holds one key per address and port.
    const std::vector<Ipv4>& vips() const { return _vips; }
    size_t eligible_count() const { return _eligible_count; }
    // The ring the per-backend share reports: the first port's (the
    // service ring when there is no port).
    const MaglevRing& share_ring() const;
    // Ring slots per backend index in share_ring() (the share of new flows it gets).
    std::vector<uint32_t> ring_slots() const;

private:
    Service() = default;

    MaglevRing _ring;
    std::vector<Backend> _backends;  // Maglev's sorted order
    std::vector<ServicePort> _ports;
    // find_backend index: power-of-two open-addressing table of backend
    // index + 1 (0 = empty slot).
    std::vector<uint32_t> _backend_slots;
    std::vector<MaglevRing> _port_rings;  // rings of ports whose eligible set differs
    SessionAffinity _session_affinity = SessionAffinity::none;
    uint32_t _session_affinity_timeout_s = 0;
    uint64_t _generation = 0;
    SourceFilter _source_filter;
    // control only
    std::string _ns;
    std::string _name;
    std::optional<Ipv4> _cluster_ip;
    std::vector<Ipv4> _vips;
    size_t _eligible_count = 0;
    std::vector<std::shared_ptr<TrafficCounters>> _stats_refs;  // keeps the raw pointers valid
};

}  // namespace svcgw
