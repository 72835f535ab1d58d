// The peer's Maglev build, for side-by-side benchmarks (perf/bench_maglev.cpp).
//
// Katran's MaglevHashV2 (facebookincubator/katran, lib/MaglevHashV2.cpp) is
// the paper's Population procedure (Eisenbud et al., NSDI 2016, §3.4) with
// weights by credit: each endpoint keeps an (offset, skip) pair and a probe
// index; every round each endpoint gains its weight, and one with at least
// the largest weight of credit spends it on a slot, probing
// (offset + next * skip) mod M until a slot is empty. The ring is a vector
// of int, -1 for empty. This is our own code written from that description
// (not Katran's source), kept at the peer's level of tuning: a multiply and
// a modulo per probe and the ring itself as the "taken" test. Endpoint
// hashes come from the caller and the pair from hash_u64 (Katran uses
// MurmurHash3 on the endpoint hash; the cost is the same order).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "common/hash.hpp"

namespace svcgw::perf {

struct PeerEndpoint {
    uint32_t num;     // value stored in the ring
    uint32_t weight;  // 0 = no slots
    uint64_t hash;    // stable per endpoint
};

inline std::vector<int> peer_maglev_v2(std::span<const PeerEndpoint> endpoints,
                                       uint32_t ring_size) {
    std::vector<int> ring(ring_size, -1);
    if (endpoints.empty()) {
        return ring;
    }
    constexpr uint64_t kOffsetSeed = 2;  // two independent hashes of the endpoint
    constexpr uint64_t kSkipSeed = 3;
    std::vector<uint32_t> offset(endpoints.size());
    std::vector<uint32_t> skip(endpoints.size());
    std::vector<uint32_t> next(endpoints.size(), 0);
    std::vector<uint32_t> credit(endpoints.size(), 0);
    uint32_t max_weight = 0;
    for (size_t i = 0; i < endpoints.size(); ++i) {
        offset[i] = static_cast<uint32_t>(hash_u64(endpoints[i].hash, kOffsetSeed) % ring_size);
        skip[i] =
            static_cast<uint32_t>(hash_u64(endpoints[i].hash, kSkipSeed) % (ring_size - 1) + 1);
        max_weight = std::max(max_weight, endpoints[i].weight);
    }
    if (max_weight == 0) {
        return ring;
    }
    uint32_t placed = 0;
    for (;;) {
        for (size_t i = 0; i < endpoints.size(); ++i) {
            credit[i] += endpoints[i].weight;
            if (credit[i] < max_weight) {
                continue;
            }
            credit[i] -= max_weight;
            uint32_t slot =
                static_cast<uint32_t>((offset[i] + uint64_t{next[i]} * skip[i]) % ring_size);
            while (ring[slot] >= 0) {
                ++next[i];
                slot = static_cast<uint32_t>((offset[i] + uint64_t{next[i]} * skip[i]) % ring_size);
            }
            ring[slot] = static_cast<int>(endpoints[i].num);
            ++next[i];
            if (++placed == ring_size) {
                return ring;
            }
        }
    }
}

}  // namespace svcgw::perf
