// TableMemory (common/table_memory.hpp) from the EAL heap on one NUMA
// socket: with hugepages, a worker's flow and affinity tables live on them,
// on its own socket, inside dpdk.memory_mb (memory_budget.hpp). Without
// (--no-huge) the EAL heap is plain 4 KiB pages, so the tables stay in
// process memory, where transparent huge pages are asked for.
#pragma once

#include <cstdint>
#include <vector>

#include "common/table_memory.hpp"

namespace svcgw {

class EalTableMemory final : public TableMemory {
public:
    explicit EalTableMemory(int socket = 0) : _socket(socket) {}
    void* allocate(size_t bytes) override;
    void release(void* block, size_t bytes) noexcept override;
    int socket() const { return _socket; }

private:
    int _socket;
};

// The NUMA socket of the i-th worker lcore (EAL order, the order workers
// are launched in); the caller's socket when there are fewer worker lcores
// (the in-process harness runs its workers on one thread).
int worker_socket(unsigned worker);

// Where worker i's tables live: the EAL heap of its socket when EAL runs on
// hugepages, process memory otherwise. The allocators live as long as the
// process, so a table never outlives the memory it must be given back to.
std::vector<TableMemory*> table_memory_for_workers(uint16_t workers);

}  // namespace svcgw
