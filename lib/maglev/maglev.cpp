// MaglevRing: the order, hashes and weights of a build (DESIGN §2); the
// fill itself is fill.cpp.
#include "maglev/maglev.hpp"

#include <algorithm>
#include <limits>

#include "common/hash.hpp"
#include "maglev/fill.hpp"
#include "maglev/identity_order.hpp"

namespace svcgw {

namespace {

// Distinct tags so h1 (offset) and h2 (skip) are independent hashes of the
// same identity under one configured seed. The values are arbitrary.
constexpr uint64_t kOffsetSeedTag = 0x4d61676c65764f66ULL;  // "MaglevOf"
constexpr uint64_t kSkipSeedTag = 0x4d61676c65765368ULL;    // "MaglevSh"

uint32_t next_prime(uint32_t n) {
    while (!is_prime(n)) {
        ++n;
    }
    return n;
}

}  // namespace

bool is_prime(uint32_t n) {
    if (n < 4) {
        return n >= 2;
    }
    if (n % 2 == 0 || n % 3 == 0) {
        return false;
    }
    // Every prime above 3 is 6k +- 1.
    for (uint64_t d = 5; d * d <= n; d += 6) {
        if (n % d == 0 || n % (d + 2) == 0) {
            return false;
        }
    }
    return true;
}

uint32_t maglev_auto_size(size_t backend_count) {
    const uint64_t wanted = uint64_t{kMaglevSlotsPerBackend} * backend_count;
    for (uint64_t rung_base = kMaglevMinAutoSize; rung_base < kMaglevMaxAutoSize; rung_base *= 2) {
        const uint32_t rung = next_prime(static_cast<uint32_t>(rung_base));
        if (rung >= wanted) {
            return std::min(rung, kMaglevMaxAutoSize);
        }
    }
    return kMaglevMaxAutoSize;
}

Result<MaglevRing> MaglevRing::build(std::span<const MaglevBackend> backends, uint32_t table_size,
                                     uint64_t seed) {
    if (table_size != 0) {
        if (table_size > kMaglevMaxTableSize) {
            return fail("table_size", "Maglev table size " + std::to_string(table_size) +
                                          " is above the maximum " +
                                          std::to_string(kMaglevMaxTableSize));
        }
        if (!is_prime(table_size)) {
            return fail("table_size",
                        "Maglev table size " + std::to_string(table_size) +
                            " is not prime (a prime size lets every skip visit every slot); "
                            "the next prime is " +
                            std::to_string(next_prime(table_size)));
        }
    }
    MaglevRing ring;
    if (backends.empty()) {
        return ring;
    }
    if (backends.size() > std::numeric_limits<uint32_t>::max()) {
        return fail("", "too many Maglev backends");
    }

    const auto n = static_cast<uint32_t>(backends.size());
    ring._sorted_order = maglev_detail::order_by_identity(backends);
    for (uint32_t i = 1; i < n; ++i) {
        const std::string& identity = backends[ring._sorted_order[i]].identity;
        if (identity == backends[ring._sorted_order[i - 1]].identity) {
            return fail("", "duplicate Maglev backend identity \"" + identity + "\"");
        }
    }

    const bool all_drained =
        std::all_of(backends.begin(), backends.end(), [](const auto& b) { return b.weight == 0; });
    auto weight_of = [&](uint32_t input) { return all_drained ? 1u : backends[input].weight; };
    uint32_t active = 0;
    uint32_t max_weight = 0;
    for (uint32_t input = 0; input < n; ++input) {
        const uint32_t w = weight_of(input);
        active += w != 0 ? 1 : 0;
        max_weight = std::max(max_weight, w);
    }

    const uint32_t m = table_size != 0 ? table_size : maglev_auto_size(n);
    if (m < active) {
        return fail("table_size", "Maglev table size " + std::to_string(m) + " is smaller than " +
                                      std::to_string(active) +
                                      " backends with weight: some would get no slot");
    }

    const uint64_t offset_seed = hash_u64(seed, kOffsetSeedTag);
    const uint64_t skip_seed = hash_u64(seed, kSkipSeedTag);
    std::vector<maglev_detail::Cursor> cursors;
    cursors.reserve(active);
    bool weighted = false;
    for (uint32_t i = 0; i < n; ++i) {
        const uint32_t input = ring._sorted_order[i];
        const uint32_t w = weight_of(input);
        if (w == 0) {
            continue;
        }
        weighted |= w != max_weight;
        const std::string& identity = backends[input].identity;
        cursors.push_back(maglev_detail::Cursor{
            .pos = static_cast<uint32_t>(hash_bytes(identity, offset_seed) % m),
            // M = 2 gives M - 1 = 1 and skip 1, still a full permutation.
            .skip = static_cast<uint32_t>(hash_bytes(identity, skip_seed) % (m - 1) + 1),
            .index = i,
            .weight = w,
        });
    }

    // Indices go up to n - 1, so 16 bits hold up to 65536 backends.
    if (n <= uint32_t{std::numeric_limits<uint16_t>::max()} + 1) {
        ring._entries = maglev_detail::fill_table<uint16_t>(cursors, m, max_weight, weighted);
    } else {
        ring._entries = maglev_detail::fill_table<uint32_t>(cursors, m, max_weight, weighted);
    }
    ring._size = m;
    return ring;
}

std::vector<uint32_t> MaglevRing::slot_counts() const {
    std::vector<uint32_t> counts(_sorted_order.size(), 0);
    std::visit(
        [&](const auto& entries) {
            for (const auto e : entries) {
                ++counts[e];
            }
        },
        _entries);
    return counts;
}

std::span<const uint8_t> MaglevRing::bytes() const {
    return std::visit(
        [](const auto& entries) {
            return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(entries.data()),
                                            entries.size() * sizeof(entries[0]));
        },
        _entries);
}

}  // namespace svcgw
