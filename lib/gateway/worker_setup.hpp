// What the workers share, built one way for the daemon (app/daemon.cpp) and
// the in-process harness (perf/pktgen/inproc.hpp): the rings between
// workers and the control thread, and the WorkerContext filled from the
// config, the opened port and the objects the control thread owns.
//
// Threading: control thread (main lcore), before the workers start; the
// rings are freed after they stopped.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/table_memory.hpp"
#include "config/config.hpp"
#include "dataplane/worker.hpp"
#include "port/port.hpp"

struct rte_ring;
struct rte_rcu_qsbr;

namespace svcgw {

namespace dns {
class Zone;
}

// The SPSC rings of one worker set: handoff[from * workers + to] (mbufs,
// null on the diagonal), to_control[w] (ControlMessage) and control_tx
// (mbufs from the control thread to worker 0), and with the exception path
// punt_control[w] / punt_other[w] (mbufs to the TAP). Frames still in a
// ring are freed with it.
class WorkerRings {
public:
    // Ring names start with `prefix` (unique per process).
    // `punt`: also the exception path's rings (punt_control, punt_other).
    static Result<std::unique_ptr<WorkerRings>> create(uint16_t workers, const std::string& prefix,
                                                       bool punt = false);
    ~WorkerRings();
    WorkerRings(const WorkerRings&) = delete;
    WorkerRings& operator=(const WorkerRings&) = delete;

    std::vector<rte_ring*> handoff;
    std::vector<rte_ring*> to_control;
    rte_ring* control_tx = nullptr;
    std::vector<rte_ring*> punt_control;  // per worker; empty without the exception path
    std::vector<rte_ring*> punt_other;
    // Not rings, but owned the same way: where worker i's tables live
    // (table_memory_for_workers) and the set's ClientIP affinity.
    std::vector<TableMemory*> table_memory;
    std::unique_ptr<AffinitySet> affinity;

private:
    WorkerRings() = default;
    std::vector<rte_ring*> _all;
    std::vector<rte_ring*> _frames;  // rings of rte_mbuf*
};

// The control thread's objects the workers read (they must outlive them).
struct WorkerShared {
    const ServiceTable* table = nullptr;
    rte_rcu_qsbr* qsbr = nullptr;
    const std::atomic<const NeighbourView*>* neighbours = nullptr;
    const std::atomic<const dns::Zone*>* dns_zone = nullptr;  // null = no DNS zone (SERVFAIL)
    const std::atomic<bool>* stop = nullptr;
};

// The one WorkerContext builder: addresses from `port` (opened from
// config.ports[0]), everything else from `config` (network, forwarding,
// conntrack, dns.cluster_ip, dpdk.idle), `shared` and `snat_ports`
// (snat_port_range).
WorkerContext make_worker_context(const Config& config, const Port& port, uint16_t workers,
                                  const WorkerRings& rings, const WorkerShared& shared,
                                  PortRange snat_ports = {});

// The kernel's ephemeral port range of this network namespace.
inline constexpr const char* kKernelEphemeralPorts = "/proc/sys/net/ipv4/ip_local_port_range";

// The fullnat SNAT source ports: the whole range, unless the SNAT address is
// the port's own (no network.snat_addresses) and the exception path gives
// that address to the kernel too. Then the kernel's own connections (health
// probes, BGP) take ports from its ephemeral range (read from
// `ephemeral_file`), and SNAT keeps to the side beside it, so the two never
// share a 4-tuple. An error names the fix when too few ports are left.
Result<PortRange> snat_port_range(const Config& config,
                                  const std::string& ephemeral_file = kKernelEphemeralPorts);

}  // namespace svcgw
