#include "common/table_memory.hpp"

#include <sys/mman.h>

#include <new>

namespace svcgw {

namespace {

class ProcessTableMemory final : public TableMemory {
public:
    void* allocate(size_t bytes) override {
        void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            throw std::bad_alloc();
        }
#ifdef MADV_HUGEPAGE
        // Every lookup is a random access: 4 KiB pages would cost a TLB miss
        // per packet. Advisory; failure just means 4 KiB pages.
        madvise(p, bytes, MADV_HUGEPAGE);
#endif
        return p;
    }
    void release(void* block, size_t bytes) noexcept override {
        munmap(block, bytes);
    }
};

}  // namespace

TableMemory& process_table_memory() {
    static ProcessTableMemory memory;
    return memory;
}

}  // namespace svcgw
