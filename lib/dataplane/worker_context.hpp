// What the workers of one set share (DESIGN §1): the port's addressing, the
// data plane's modes, the snapshot objects they read and the rings between
// them and the control thread. Filled once by gateway/worker_setup.cpp
// (make_worker_context) before the workers start, read-only afterwards
// (except through the atomics and rings it points to).
//
// The data plane owns its mode enums: the config's forwarding.mode and
// dpdk.idle are mapped onto them by make_worker_context, so the data plane
// does not include the config.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "dataplane/snat_range.hpp"
#include "dataplane/worker_neighbour.hpp"
#include "flow/affinity_table.hpp"
#include "flow/flow_table.hpp"

struct rte_mempool;
struct rte_ring;
struct rte_rcu_qsbr;

namespace svcgw {

class ServiceTable;
class MemberSet;
namespace dns {
class Zone;
}

// forwarding.mode: fullnat rewrites both addresses (backends answer the
// gateway); nat keeps the client address (backends route via the gateway).
enum class NatMode : uint8_t { fullnat, nat };
// dpdk.idle: what run() does when a poll finds nothing (idle_backoff.hpp).
enum class IdlePolicy : uint8_t { poll, adaptive };

// Burst size: DPDK's customary 32 amortises the PMD call and fits L1 with
// the headers we touch.
constexpr uint16_t kWorkerBurst = 32;
// Packets a worker may hold for unresolved next hops (bounded so a dead
// backend cannot drain the mempool).
constexpr uint32_t kHoldCapacity = 64;
// SPSC rings (power of two): handoff between workers and messages to the
// control thread. 1024 handoff slots cover ~30 bursts of skew.
constexpr uint32_t kHandoffRingSize = 1024;
constexpr uint32_t kControlRingSize = 1024;
// Punt rings (per worker and class): the control thread drains them every
// 1 ms tick, and 512 frames per ms is 10x the default punt rate.
constexpr uint32_t kPuntRingSize = 512;
// Session-affinity entries per worker (ClientIP services).
constexpr uint32_t kAffinityEntries = 65536;
// A worker's flow table is never smaller than this, whatever max_flows / workers.
constexpr uint32_t kMinFlowsPerWorker = 1024;

// conntrack.max_flows is the whole set's, split evenly over the workers.
inline uint32_t flows_per_worker(uint32_t max_flows, uint16_t workers) {
    return std::max<uint32_t>(max_flows / std::max<uint16_t>(workers, 1), kMinFlowsPerWorker);
}

// Worker -> control thread: ARP knowledge and resolution requests.
struct ControlMessage {
    enum Kind : uint16_t { learned = 1, resolve = 2 };
    uint32_t ip_be;
    MacAddr mac;  // learned only
    uint16_t kind;
};
static_assert(sizeof(ControlMessage) == 12 && sizeof(ControlMessage) % 4 == 0,
              "rte_ring element sizes are multiples of 4");

// The exception path's policing (config punt.*, gateway-wide; each worker
// takes 1/workers of each rate). Control = ARP, BGP, BFD (punt.hpp).
struct PuntRates {
    uint64_t rate_pps = 0;
    uint64_t control_rate_pps = 0;
    uint64_t burst = 0;
};

struct WorkerContext {
    uint16_t port_id = 0;
    uint16_t workers = 1;
    MacAddr mac{};
    uint32_t address_be = 0;      // the port's own address
    uint32_t subnet_mask_be = 0;  // the port's subnet
    uint32_t gateway_be = 0;      // 0 = none
    uint32_t service_net_be = 0;  // network.service_cidr
    uint32_t service_mask_be = 0;
    NatMode mode = NatMode::fullnat;
    IdlePolicy idle = IdlePolicy::poll;
    std::vector<uint32_t> snat_be;  // SNAT source addresses (fullnat)
    PortRange snat_ports;           // their source ports (snat_port_range)
    // conntrack.*; max_flows is the whole set's (flows_per_worker).
    FlowTableConfig conntrack;
    // Where worker i's flow and affinity tables live (table_memory[i]); a
    // worker without an entry uses process memory (tests).
    std::vector<TableMemory*> table_memory;
    const ServiceTable* table = nullptr;
    // ClientIP affinity of the whole set (worker i writes table i, reads
    // all); null = each worker keeps its own (a one-worker test set-up).
    AffinitySet* affinity = nullptr;
    rte_rcu_qsbr* qsbr = nullptr;  // thread id of worker i = i
    const std::atomic<const NeighbourView*>* neighbours = nullptr;
    rte_mempool* pool = nullptr;  // for frames built from scratch (RST, ICMP)
    // handoff[from * workers + to]; null on the diagonal.
    std::vector<rte_ring*> handoff;
    std::vector<rte_ring*> to_control;  // per worker, ControlMessage elements
    rte_ring* control_tx = nullptr;     // control -> worker 0: frames to send
    const std::atomic<bool>* stop = nullptr;
    uint64_t tsc_hz = 0;
    // Cluster DNS (DESIGN §3): UDP to dns_ip_be:53 is answered in place by
    // the worker that received it (stateless: no owner, no handoff); ARP and
    // ping for it are answered like a VIP's. 0 = no DNS address.
    uint32_t dns_ip_be = 0;
    // The live zone: the control thread publishes with a release store and
    // retires old zones through `qsbr`; a worker loads it with acquire once
    // per burst. Null (pointer or zone) = no configuration yet: SERVFAIL.
    const std::atomic<const dns::Zone*>* dns_zone = nullptr;
    // The port is a software device (af_packet, af_xdp, tap on a veth or a
    // tap): frames from local senders with tx checksum offload carry
    // partial TCP/UDP checksums, which the worker completes
    // (pkt::l4_checksum_partial). A NIC never receives one off the wire.
    bool complete_partial_checksums = false;
    // The exception path (dataplane/punt.hpp): per worker, the ring of
    // control frames (ARP, BGP, BFD) and the ring of the rest, drained by
    // the control thread into the TAP. Empty = no exception path.
    std::vector<rte_ring*> punt_control;
    std::vector<rte_ring*> punt_other;
    PuntRates punt;
    // fullnat owner redirect (dataplane/instance_owner.hpp): the fleet's
    // members, published by the control thread with a release store and
    // retired through `qsbr`; a worker loads it with acquire once per burst.
    // Null (pointer) = no fleet.members: every flow is opened where it lands.
    const std::atomic<const MemberSet*>* members = nullptr;
};

}  // namespace svcgw
