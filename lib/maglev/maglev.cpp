// Maglev table construction. The fill follows the paper's Population
// procedure exactly (backends take turns; each takes the next still-empty
// slot of its own permutation offset + j * skip mod M), so the result is
// whatever the textbook loop would produce; only the way we get there is
// tuned, because a control-plane rebuild per endpoint change must stay cheap:
//   - permutations are never materialised: each backend keeps its next
//     position and advances it with an add and a conditional subtract;
//   - "already taken" is one bit in an M-bit occupancy bitmap (8 KiB at
//     M = 65537, fits L1) instead of a probe of the entry array;
//   - past half full, positions are tested in blocks without branches in
//     between: a mispredicted "taken?" branch per probe was the main cost;
//   - the last few empty slots are the expensive part of the textbook loop
//     (a backend needs M / E probes on average when E slots are left), so
//     once E is small we stop probing and instead compute, for every empty
//     slot, how many steps of this backend's permutation lead to it; the
//     closest one is exactly the slot probing would have found.
#include "maglev/maglev.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>
#include <utility>

#include "common/hash.hpp"

namespace svcgw {

namespace {

// Distinct tags so h1 (offset) and h2 (skip) are independent hashes of the
// same identity under one configured seed. The values are arbitrary.
constexpr uint64_t kOffsetSeedTag = 0x4d61676c65764f66ULL;  // "MaglevOf"
constexpr uint64_t kSkipSeedTag = 0x4d61676c65765368ULL;    // "MaglevSh"

// Switch from probing to the empty-slot scan when E <= kTailFactor * sqrt(M).
// Probing costs about M / E per placement, the scan E: the two meet near
// sqrt(M) and the factor accounts for a scan step being cheaper than a
// (branch-mispredicting) probe. Tuned with perf/bench_maglev.cpp.
constexpr double kTailFactor = 1.0;

struct Cursor {
    uint32_t pos;      // next position of this backend's permutation to try
    uint32_t skip;     // permutation stride, in [1, M)
    uint32_t index;    // ring entry value: index into the sorted backend list
    uint32_t weight;   // credit gained per round
    uint64_t credit;   // weighted turns: a slot is placed per max_weight of credit
    uint32_t inverse;  // skip^-1 mod M, computed lazily in the tail; 0 = not yet
};

// Modular inverse of a in Z/mZ (m prime, 0 < a < m), by extended Euclid.
uint32_t inverse_mod(uint32_t a, uint32_t m) {
    int64_t r0 = m;
    int64_t r1 = a;
    int64_t t0 = 0;
    int64_t t1 = 1;
    while (r1 != 0) {
        const int64_t q = r0 / r1;
        r0 = std::exchange(r1, r0 - q * r1);
        t0 = std::exchange(t1, t0 - q * t1);
    }
    return static_cast<uint32_t>(t0 < 0 ? t0 + m : t0);
}

// Probing phases by fill fraction f: a single probe while it usually hits
// (its branch is then well predicted), then blocks of positions tested
// without branches, larger as f grows so that a block usually contains a
// free slot (f^kBlock small) and its exit branch stays predictable.
constexpr double kSingleProbeFill = 0.5;
constexpr double kSmallBlockFill = 0.8;
constexpr uint32_t kSmallBlock = 8;
constexpr uint32_t kLargeBlock = 16;

template <class Entry>
class Filler {
public:
    explicit Filler(uint32_t m)
        : _m(m),
          // Barrett constant floor((2^64 - 1) / m): with products below 2^48
          // the estimated quotient is off by at most one (one correction).
          _barrett(~uint64_t{0} / m),
          _entries(m),
          _taken((m + 63) / 64, 0) {}

    void probe(Cursor& c) {
        uint32_t p = c.pos;
        while (is_taken(p)) {
            p = advance(p, c.skip);
        }
        take(p, c);
    }

    // Same choice as probe(), but tests kBlock positions of c's permutation
    // per iteration without a branch between them: once the table is half
    // full, "is this slot taken" is a coin flip the CPU mispredicts, and a
    // mispredict per probe costs more than a few extra loads from L1.
    // strides[k] = k * skip mod M.
    template <uint32_t kBlock>
    void probe_block(Cursor& c, const uint32_t* strides) {
        uint32_t start = c.pos;
        for (;;) {
            uint32_t positions[kBlock];
            uint32_t free_mask = 0;
            for (uint32_t k = 0; k < kBlock; ++k) {
                uint32_t p = start + strides[k];
                p = p >= _m ? p - _m : p;
                positions[k] = p;
                free_mask |= static_cast<uint32_t>((~_taken[p >> 6] >> (p & 63)) & 1) << k;
            }
            if (free_mask != 0) {
                take(positions[__builtin_ctz(free_mask)], c);
                return;
            }
            start = advance(positions[kBlock - 1], c.skip);
        }
    }

    // Gather the empty slots once the table is nearly full (see file comment).
    void start_tail() {
        for (uint32_t w = 0; w < _taken.size(); ++w) {
            uint64_t free_bits = ~_taken[w];
            while (free_bits != 0) {
                const uint32_t slot = w * 64 + static_cast<uint32_t>(__builtin_ctzll(free_bits));
                free_bits &= free_bits - 1;
                if (slot < _m) {
                    _empty.push_back(slot);
                }
            }
        }
    }

    // Same choice as probe(): the empty slot s that c's permutation reaches
    // first from c.pos is the one with the fewest steps (s - pos) / skip mod M.
    // Every earlier position of the permutation is already taken.
    void tail_place(Cursor& c) {
        if (c.inverse == 0) {
            c.inverse = inverse_mod(c.skip, _m);
        }
        uint32_t best_steps = std::numeric_limits<uint32_t>::max();
        size_t best = 0;
        for (size_t k = 0; k < _empty.size(); ++k) {
            const uint32_t s = _empty[k];
            const uint32_t distance = s >= c.pos ? s - c.pos : s + _m - c.pos;
            const uint32_t steps = mul_mod(distance, c.inverse);
            if (steps < best_steps) {
                best_steps = steps;
                best = k;
            }
        }
        const uint32_t slot = _empty[best];
        _empty[best] = _empty.back();
        _empty.pop_back();
        take(slot, c);
    }

    std::vector<Entry> release() { return std::move(_entries); }

private:
    bool is_taken(uint32_t p) const { return (_taken[p >> 6] >> (p & 63)) & 1; }

    // p < M and skip < M <= 2^24, so the sum cannot overflow.
    uint32_t advance(uint32_t p, uint32_t skip) const {
        p += skip;
        return p >= _m ? p - _m : p;
    }

    void take(uint32_t p, Cursor& c) {
        _taken[p >> 6] |= uint64_t{1} << (p & 63);
        _entries[p] = static_cast<Entry>(c.index);
        c.pos = advance(p, c.skip);
    }

    // a * b mod M for a, b < M <= 2^24: the product fits 48 bits.
    uint32_t mul_mod(uint32_t a, uint32_t b) const {
        const uint64_t x = uint64_t{a} * b;
        const auto q = static_cast<uint64_t>((static_cast<unsigned __int128>(x) * _barrett) >> 64);
        auto r = static_cast<uint32_t>(x - q * _m);
        return r >= _m ? r - _m : r;
    }

    uint32_t _m;
    uint64_t _barrett;
    std::vector<Entry> _entries;
    std::vector<uint64_t> _taken;  // occupancy bitmap, one bit per slot
    std::vector<uint32_t> _empty;  // tail phase only: slots still free
};

// Turns go round the active backends in sorted order. With weights, each
// round a backend gains its weight as credit and places one slot per
// max_weight of credit (at most one per round since weight <= max_weight):
// after r rounds it holds floor(r * weight / max_weight) slots, so shares
// are proportional to weight within one slot, weights need not sum to M and
// scaling every weight by the same factor changes nothing. Rounds cost
// O(active backends), so very skewed weights cost O(M * max / mean) turns.
template <class Entry, bool kWeighted>
std::vector<Entry> fill(std::vector<Cursor>& cursors, uint32_t m, uint32_t max_weight) {
    Filler<Entry> filler(m);
    const auto tail =
        std::min<uint32_t>(m, static_cast<uint32_t>(kTailFactor * std::sqrt(double(m))));
    uint32_t filled = 0;
    size_t k = 0;
    auto run = [&](uint32_t until, auto&& place) {
        while (filled < until) {
            const size_t current = k;
            Cursor& c = cursors[k];
            if (++k == cursors.size()) {
                k = 0;
            }
            if constexpr (kWeighted) {
                c.credit += c.weight;
                if (c.credit < max_weight) {
                    continue;
                }
                c.credit -= max_weight;
            }
            place(c, current);
            ++filled;
        }
    };
    const auto single_until =
        std::min(m - tail, static_cast<uint32_t>(kSingleProbeFill * double(m)));
    const auto small_until =
        std::clamp(static_cast<uint32_t>(kSmallBlockFill * double(m)), single_until, m - tail);
    run(single_until, [&](Cursor& c, size_t) { filler.probe(c); });
    // strides[i * kLargeBlock + k] = k * skip_i mod M.
    std::vector<uint32_t> strides(cursors.size() * kLargeBlock);
    for (size_t i = 0; i < cursors.size(); ++i) {
        uint32_t stride = 0;
        for (uint32_t b = 0; b < kLargeBlock; ++b) {
            strides[i * kLargeBlock + b] = stride;
            stride += cursors[i].skip;
            stride = stride >= m ? stride - m : stride;
        }
    }
    run(small_until, [&](Cursor& c, size_t i) {
        filler.template probe_block<kSmallBlock>(c, &strides[i * kLargeBlock]);
    });
    run(m - tail, [&](Cursor& c, size_t i) {
        filler.template probe_block<kLargeBlock>(c, &strides[i * kLargeBlock]);
    });
    filler.start_tail();
    run(m, [&](Cursor& c, size_t) { filler.tail_place(c); });
    return filler.release();
}

template <class Entry>
std::vector<Entry> fill_any(std::vector<Cursor>& cursors, uint32_t m, uint32_t max_weight,
                            bool weighted) {
    return weighted ? fill<Entry, true>(cursors, m, max_weight)
                    : fill<Entry, false>(cursors, m, max_weight);
}

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
    if (backend_count >= kMaglevMaxAutoSize / kMaglevSlotsPerBackend + 1) {
        return kMaglevMaxAutoSize;
    }
    const auto target = std::max<uint32_t>(
        kMaglevMinAutoSize, static_cast<uint32_t>(backend_count) * kMaglevSlotsPerBackend);
    // 65537 is prime, so the search stops at the cap at the latest.
    return std::min(next_prime(target), kMaglevMaxAutoSize);
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
    // Sort by identity (byte order). Comparing an 8-byte big-endian prefix
    // first settles most comparisons without a call to memcmp.
    struct SortKey {
        uint64_t prefix;
        std::string_view identity;
        uint32_t input;
    };
    std::vector<SortKey> keys(n);
    for (uint32_t i = 0; i < n; ++i) {
        const std::string_view id = backends[i].identity;
        uint64_t prefix = 0;
        for (size_t b = 0; b < sizeof(prefix); ++b) {
            const uint64_t byte = b < id.size() ? static_cast<unsigned char>(id[b]) : 0;
            prefix |= byte << (56 - 8 * b);
        }
        keys[i] = {prefix, id, i};
    }
    std::sort(keys.begin(), keys.end(), [](const SortKey& a, const SortKey& b) {
        return a.prefix != b.prefix ? a.prefix < b.prefix : a.identity < b.identity;
    });
    ring._sorted_order.resize(n);
    for (uint32_t i = 0; i < n; ++i) {
        ring._sorted_order[i] = keys[i].input;
        if (i > 0 && keys[i].identity == keys[i - 1].identity) {
            return fail(
                "", "duplicate Maglev backend identity \"" + std::string(keys[i].identity) + "\"");
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
    std::vector<Cursor> cursors;
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
        cursors.push_back(Cursor{
            .pos = static_cast<uint32_t>(hash_bytes(identity, offset_seed) % m),
            // M = 2 gives M - 1 = 1 and skip 1, still a full permutation.
            .skip = static_cast<uint32_t>(hash_bytes(identity, skip_seed) % (m - 1) + 1),
            .index = i,
            .weight = w,
            .credit = 0,
            .inverse = 0,
        });
    }

    // Indices go up to n - 1, so 16 bits hold up to 65536 backends.
    if (n <= uint32_t{std::numeric_limits<uint16_t>::max()} + 1) {
        ring._entries = fill_any<uint16_t>(cursors, m, max_weight, weighted);
    } else {
        ring._entries = fill_any<uint32_t>(cursors, m, max_weight, weighted);
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
