// Weighted Maglev consistent hashing (Eisenbud et al., NSDI 2016, §3.4).
// Pure algorithm, no DPDK: built by the control thread, read by workers
// through an immutable snapshot.
//
// Threading: build() allocates and may take a fraction of a millisecond; call
// it on the control thread only. A built ring is never modified, so any
// number of workers may call pick()/at() on it concurrently.
#pragma once

#include <cassert>
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
// Largest explicit table size: 2^24 slots is already 64 MiB of 32-bit entries
// per service, and the bound keeps every position sum and the tail's
// products well inside 64-bit arithmetic (see maglev.cpp).
constexpr uint32_t kMaglevMaxTableSize = 1u << 24;

bool is_prime(uint32_t n);
// The smallest rung >= 100 * backends on a ladder of primes that doubles
// from 251 (the smallest prime >= 251 * 2^k), capped at 65537. DESIGN §2 asks
// for the smallest prime >= 100 * backends; we round up to the ladder because
// any change of M reshuffles the whole ring: with exact sizing, scaling 16
// pods to 15 remapped ~94% of new flows, with the ladder only ~1/N unless the
// count crosses a rung. Count every backend, drained ones included, so that
// draining one never resizes the ring.
uint32_t maglev_auto_size(size_t backend_count);

class MaglevRing {
public:
    MaglevRing() = default;

    // Backends are sorted by identity before filling, so the input order does
    // not matter. table_size 0 = auto; otherwise it must be prime, at most
    // kMaglevMaxTableSize and at least the number of backends that get slots.
    // Weight 0 gets no slots, unless every weight is 0: then all share equally
    // (Kubernetes keeps sending to terminating endpoints when none is left).
    // Entry i of the ring is an index into the *sorted* backend list
    // (see sorted_order()). Empty input gives an empty ring. Duplicate
    // identities are an error.
    static Result<MaglevRing> build(std::span<const MaglevBackend> backends, uint32_t table_size,
                                    uint64_t seed);

    uint32_t size() const { return _size; }  // M, 0 when empty
    bool empty() const { return size() == 0; }

    // Backend index (into the sorted list) for a flow hash. Ring must not be
    // empty. Folds the hash to 32 bits (so a 32-bit hash zero-extended to 64
    // bits still spreads) and maps it to [0, M) with a multiply and a shift
    // (Lemire, "Fast random integer generation in an interval", 2019): no
    // division per packet, and the bias is at most M / 2^32.
    uint32_t pick(uint64_t flow_hash) const {
        assert(!empty());
        const auto folded = static_cast<uint32_t>(flow_hash ^ (flow_hash >> 32));
        return at(static_cast<uint32_t>((uint64_t{folded} * _size) >> 32));
    }
    uint32_t at(uint32_t slot) const {
        assert(slot < _size);
        if (const auto* narrow = std::get_if<std::vector<uint16_t>>(&_entries)) {
            return (*narrow)[slot];
        }
        return (*std::get_if<std::vector<uint32_t>>(&_entries))[slot];
    }
    bool wide_entries() const { return _entries.index() == 1; }  // 32-bit entries

    // Input positions in sorted order: sorted_order()[i] = index in the build input.
    const std::vector<uint32_t>& sorted_order() const { return _sorted_order; }
    // Slots held per sorted backend index.
    std::vector<uint32_t> slot_counts() const;
    // Raw ring bytes (host byte order), for determinism checks.
    std::span<const uint8_t> bytes() const;

private:
    // 16-bit entries while there are at most 65536 backends, else 32-bit.
    std::variant<std::vector<uint16_t>, std::vector<uint32_t>> _entries;
    std::vector<uint32_t> _sorted_order;
    uint32_t _size = 0;
};

}  // namespace svcgw
