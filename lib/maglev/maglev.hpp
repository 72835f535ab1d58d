// Weighted Maglev consistent hashing (Eisenbud et al., NSDI 2016, §3.4).
// Pure algorithm, no DPDK: built by the control thread, read by workers
// through an immutable snapshot.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/result.hpp"

namespace svcgw {

struct MaglevBackend {
    std::string identity;  // stable key, e.g. "10.99.0.11"; orders and seeds the permutation
    uint32_t weight = 1;   // 0 = drain (no slots)
};

// Bounds of an automatic table size (DESIGN §2): big enough for balance at
// 100 slots per backend, small enough that a 2-pod service stays cheap, and
// at most 65537 so auto tables fit 16-bit-ish memory budgets.
constexpr uint32_t kMaglevSlotsPerBackend = 100;
constexpr uint32_t kMaglevMinAutoSize = 251;
constexpr uint32_t kMaglevMaxAutoSize = 65537;

bool is_prime(uint32_t n);
// Smallest prime >= 100 * backends, clamped to [251, 65537].
uint32_t maglev_auto_size(size_t backend_count);

class MaglevRing {
public:
    MaglevRing() = default;

    // Backends are sorted by identity before filling, so the input order does
    // not matter. table_size 0 = auto; otherwise it must be prime.
    // Entry i of the ring is an index into the *sorted* backend list
    // (see sorted_order()). Empty input gives an empty ring.
    static Result<MaglevRing> build(std::span<const MaglevBackend> backends, uint32_t table_size,
                                    uint64_t seed);

    uint32_t size() const;  // M, 0 when empty
    bool empty() const { return size() == 0; }
    // Backend index (into the sorted list) for a flow hash. Ring must not be empty.
    uint32_t pick(uint64_t flow_hash) const;
    uint32_t at(uint32_t slot) const;
    // Input positions in sorted order: sorted_order()[i] = index in the build input.
    const std::vector<uint32_t>& sorted_order() const { return _sorted_order; }
    // Slots held per sorted backend index.
    std::vector<uint32_t> slot_counts() const;
    // Raw ring bytes, for determinism checks.
    std::span<const uint8_t> bytes() const;

private:
    // 16-bit entries while there are at most 65536 backends, else 32-bit.
    std::variant<std::vector<uint16_t>, std::vector<uint32_t>> _entries;
    std::vector<uint32_t> _sorted_order;
};

}  // namespace svcgw
