#include "gateway/memory_budget.hpp"

#include <rte_mbuf.h>

#include "dataplane/worker_context.hpp"
#include "flow/affinity_table.hpp"
#include "flow/flow_table.hpp"
#include "port/port.hpp"

namespace svcgw {

namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

// One mempool element: the mbuf, its data room and the pool's per-object
// header, rounded to cache lines (rte_pktmbuf_pool_create in port.cpp).
constexpr uint64_t kMbufFootprint =
    RTE_ALIGN_CEIL(sizeof(rte_mbuf) + RTE_MBUF_DEFAULT_BUF_SIZE, RTE_CACHE_LINE_SIZE) +
    RTE_CACHE_LINE_SIZE;

std::string mib_up(uint64_t bytes) {
    return std::to_string((bytes + kMiB - 1) / kMiB) + " MB";
}

}  // namespace

MemoryBudget memory_budget(const Config& config, uint16_t workers) {
    MemoryBudget b;
    const uint32_t per_worker = flows_per_worker(config.conntrack.max_flows, workers);
    b.flow_tables = uint64_t{workers} * FlowTable::memory_bytes_for(per_worker);
    b.affinity_tables = uint64_t{workers} * AffinityTable::memory_bytes_for(kAffinityEntries);
    b.packet_buffers =
        uint64_t{mempool_size(workers, kHandoffRingSize, kHoldCapacity, kControlRingSize)} *
        kMbufFootprint;
    return b;
}

Result<void> check_memory_budget(const Config& config, uint16_t workers) {
    const MemoryBudget b = memory_budget(config, workers);
    const uint64_t have = uint64_t{config.dpdk.memory_mb} * kMiB;
    if (have >= b.total()) {
        return {};
    }
    return fail("dpdk.memory_mb",
                std::to_string(config.dpdk.memory_mb) +
                    " MB cannot hold the tables: " + std::to_string(config.conntrack.max_flows) +
                    " flows (conntrack.max_flows) take " + mib_up(b.flow_tables) + ", affinity " +
                    mib_up(b.affinity_tables) + ", packet buffers " + mib_up(b.packet_buffers) +
                    ", reserve " + mib_up(b.reserve) + " for " + std::to_string(workers) +
                    " worker(s); set memory_mb to at least " +
                    std::to_string((b.total() + kMiB - 1) / kMiB) + " or lower max_flows");
}

}  // namespace svcgw
