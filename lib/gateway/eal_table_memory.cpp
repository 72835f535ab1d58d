#include "gateway/eal_table_memory.hpp"

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include <array>
#include <new>

namespace svcgw {

void* EalTableMemory::allocate(size_t bytes) {
    void* p = rte_zmalloc_socket("svcgw_table", bytes, RTE_CACHE_LINE_SIZE, _socket);
    if (p == nullptr) {
        throw std::bad_alloc();
    }
    return p;
}

void EalTableMemory::release(void* block, size_t /*bytes*/) noexcept {
    rte_free(block);
}

int worker_socket(unsigned worker) {
    unsigned lcore = 0;
    unsigned index = 0;
    RTE_LCORE_FOREACH_WORKER(lcore) {
        if (index++ == worker) {
            return static_cast<int>(rte_lcore_to_socket_id(lcore));
        }
    }
    return static_cast<int>(rte_socket_id());
}

std::vector<TableMemory*> table_memory_for_workers(uint16_t workers) {
    static std::array<EalTableMemory, RTE_MAX_NUMA_NODES> heaps = [] {
        std::array<EalTableMemory, RTE_MAX_NUMA_NODES> all;
        for (int socket = 0; socket < RTE_MAX_NUMA_NODES; ++socket) {
            all[socket] = EalTableMemory(socket);
        }
        return all;
    }();
    std::vector<TableMemory*> memory;
    for (uint16_t w = 0; w < workers; ++w) {
        const int socket = worker_socket(w);
        memory.push_back(rte_eal_has_hugepages() && socket >= 0 && socket < RTE_MAX_NUMA_NODES
                             ? static_cast<TableMemory*>(&heaps[socket])
                             : &process_table_memory());
    }
    return memory;
}

}  // namespace svcgw
