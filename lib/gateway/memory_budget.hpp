// What dpdk.memory_mb must hold, from the config alone (before EAL starts):
// the workers' flow and affinity tables (EalTableMemory), the port's
// packet buffers and a reserve for the rest. A config whose tables do not
// fit is refused at start-up and by `svcgw --check`, with the size it needs.
#pragma once

#include <cstdint>

#include "common/result.hpp"
#include "config/config.hpp"

namespace svcgw {

// What is not the tables: EAL's own zones, the rings, the VIP table and RCU
// state took 27.7 MiB at start-up with one service (the daemon's "memory:"
// line); the rest leaves room for the service and neighbour tables to grow.
constexpr uint64_t kEalReserveBytes = uint64_t{48} << 20;

struct MemoryBudget {
    uint64_t flow_tables = 0;      // every worker's (conntrack.max_flows in all)
    uint64_t affinity_tables = 0;  // every worker's (ClientIP)
    uint64_t packet_buffers = 0;   // the port's mempool
    uint64_t reserve = kEalReserveBytes;
    uint64_t total() const { return flow_tables + affinity_tables + packet_buffers + reserve; }
};

MemoryBudget memory_budget(const Config& config, uint16_t workers);

// Fails (dpdk.memory_mb) when memory_mb < the budget's total, naming it.
Result<void> check_memory_budget(const Config& config, uint16_t workers);

}  // namespace svcgw
