// Where the large per-worker tables (flows, session affinity) get their
// memory. The tables are pure C++ and take the allocator from their owner:
// process memory here (tests, tools), the EAL heap on the worker's NUMA
// socket in the daemon and the harness (gateway/eal_table_memory.hpp), so
// a hugepage-backed gateway keeps every random table access on its
// hugepages and its socket.
#pragma once

#include <cstddef>

namespace svcgw {

class TableMemory {
public:
    virtual ~TableMemory() = default;
    // Zero-filled and cache-line aligned; throws std::bad_alloc when the
    // memory is not there (tables are built before their worker starts).
    virtual void* allocate(size_t bytes) = 0;
    virtual void release(void* block, size_t bytes) noexcept = 0;
};

// Anonymous mappings with transparent huge pages requested: untouched pages
// cost nothing until used.
TableMemory& process_table_memory();

}  // namespace svcgw
