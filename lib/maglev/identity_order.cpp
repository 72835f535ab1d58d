// Sorting identities by their bytes. A comparison sort of strings costs
// N log N calls of memcmp, most of them mispredicted branches, and Pod
// addresses share long prefixes ("10.244.1."), so an 8-byte prefix settles
// few of them: at N = 5000 that sort was ~300 us, a sixth of the build.
// Instead each identity's first 16 bytes become a 128-bit big-endian key,
// and only the byte columns where keys differ take part (Pod addresses: 5-7
// of 16, with 10-12 distinct bytes each); see sort_keys. Keys that tie on
// 16 bytes (longer identities, or a trailing NUL) are settled by a full
// string comparison, so the result is exactly the string order.
#include "maglev/identity_order.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <string_view>
#include <utility>

#ifdef __BMI2__
#include <immintrin.h>
#endif

namespace svcgw::maglev_detail {

namespace {

// Below this count a comparison sort of the keys beats the radix passes'
// fixed cost (2048-counter histograms).
constexpr size_t kRadixMinimum = 64;

struct Key {
    uint64_t hi;  // identity bytes 0-7, big-endian, zero-padded
    uint64_t lo;  // bytes 8-15
    uint32_t input;
};

struct Ranked {
    uint64_t rank;  // the key's varying bytes as one mixed-radix number, in key order
    uint32_t input;
};

// Bytes [at, at + 8) of s as a big-endian number, zero-padded past the end:
// numeric order of words is byte order of the strings they start.
uint64_t be_word(std::string_view s, size_t at) {
    if (s.size() >= at + 8) {
        uint64_t w;
        std::memcpy(&w, s.data() + at, sizeof(w));
        return std::endian::native == std::endian::little ? __builtin_bswap64(w) : w;
    }
    uint64_t w = 0;
    for (size_t b = 0; b < 8; ++b) {
        const size_t i = at + b;
        w = (w << 8) | (i < s.size() ? static_cast<unsigned char>(s[i]) : 0u);
    }
    return w;
}

bool key_less(const Key& a, const Key& b) {
    return a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo;
}

// The bytes of `word` under the 0xff bytes of `mask`, packed toward the low
// end in their order: pext on BMI2, a loop otherwise (same value).
uint64_t pack_bytes(uint64_t word, uint64_t mask) {
#ifdef __BMI2__
    return _pext_u64(word, mask);
#else
    uint64_t out = 0;
    for (int shift = 56; shift >= 0; shift -= 8) {
        if (((mask >> shift) & 0xff) != 0) {
            out = (out << 8) | ((word >> shift) & 0xff);
        }
    }
    return out;
#endif
}

// Digits of the rank radix passes: 2048 counters, 8 KiB, stay in L1.
constexpr int kDigitBits = 11;
// Ranks below 2^44 take at most four passes; wider ones fall back to
// comparing keys (every varying column with ~256 distinct bytes).
constexpr int kMaxRankBits = 4 * kDigitBits;

// LSD radix sort by rank, `passes` digits of kDigitBits; stable. The
// counts of every pass come from one read of the ranks.
void radix_sort(std::vector<Ranked>& items, int passes) {
    const size_t n = items.size();
    constexpr uint32_t kDigits = 1u << kDigitBits;
    // Two sets of counters, for even and odd items: runs of equal digits
    // (addresses come in order) would chain every increment on the last.
    std::vector<std::array<uint32_t, kDigits>> offsets(static_cast<size_t>(2 * passes));
    for (size_t k = 0; k < n; ++k) {
        for (int d = 0; d < passes; ++d) {
            ++offsets[2 * d + (k & 1)][(items[k].rank >> (kDigitBits * d)) & (kDigits - 1)];
        }
    }
    for (int d = 0; d < passes; ++d) {
        for (uint32_t v = 0; v < kDigits; ++v) {
            offsets[d][v] = offsets[2 * d][v] + offsets[2 * d + 1][v];
        }
    }
    std::vector<Ranked> other(n);
    Ranked* src = items.data();
    Ranked* dst = other.data();
    for (int d = 0; d < passes; ++d) {
        uint32_t sum = 0;
        for (uint32_t& o : offsets[d]) {
            sum += std::exchange(o, sum);
        }
        for (size_t k = 0; k < n; ++k) {
            dst[offsets[d][(src[k].rank >> (kDigitBits * d)) & (kDigits - 1)]++] = src[k];
        }
        std::swap(src, dst);
    }
    if (src != items.data()) {
        items.swap(other);
    }
}

// Sorts keys by (hi, lo). Only byte columns where keys differ take part;
// when at most 8 do, each column's bytes are replaced by their rank among
// the bytes present in that column (Pod addresses: 10-12 of 256) and the
// columns combined into one mixed-radix number, which orders like the key
// and for addresses fits two radix passes instead of one per column.
void sort_keys(std::vector<Key>& keys) {
    const size_t n = keys.size();
    uint64_t hi_and = ~uint64_t{0};
    uint64_t hi_or = 0;
    uint64_t lo_and = ~uint64_t{0};
    uint64_t lo_or = 0;
    for (const Key& k : keys) {
        hi_and &= k.hi;
        hi_or |= k.hi;
        lo_and &= k.lo;
        lo_or |= k.lo;
    }
    // 0xff under every byte column where two keys differ.
    auto varying = [](uint64_t differ) {
        uint64_t mask = 0;
        for (int shift = 0; shift < 64; shift += 8) {
            mask |= ((differ >> shift) & 0xff) != 0 ? uint64_t{0xff} << shift : 0;
        }
        return mask;
    };
    const uint64_t hi_mask = varying(hi_and ^ hi_or);
    const uint64_t lo_mask = varying(lo_and ^ lo_or);
    const int hi_bytes = std::popcount(hi_mask) / 8;
    const int columns = hi_bytes + std::popcount(lo_mask) / 8;
    if (n < kRadixMinimum || columns > 8) {
        std::sort(keys.begin(), keys.end(), key_less);
        return;
    }
    // The varying bytes of each key, most significant first, in one word.
    std::vector<uint64_t> packed(n);
    for (size_t k = 0; k < n; ++k) {
        const uint64_t high =
            hi_bytes == 0 ? 0 : pack_bytes(keys[k].hi, hi_mask) << (8 * (columns - hi_bytes));
        packed[k] = high | pack_bytes(keys[k].lo, lo_mask);
    }
    // Bytes present per column (column 0 = least significant); plain
    // stores, no read-modify-write chain on a shared word.
    std::array<std::array<uint8_t, 256>, 8> present{};
    for (const uint64_t p : packed) {
        for (int c = 0; c < columns; ++c) {
            present[c][(p >> (8 * c)) & 0xff] = 1;
        }
    }
    std::array<std::array<uint32_t, 256>, 8> rank_of{};
    std::array<uint64_t, 8> weight{};
    uint64_t span = 1;  // ranks are below this
    for (int c = 0; c < columns; ++c) {
        weight[c] = span;
        uint32_t r = 0;
        for (uint32_t b = 0; b < 256; ++b) {
            rank_of[c][b] = r;
            r += present[c][b];
        }
        span *= r;
        if (span > (uint64_t{1} << kMaxRankBits)) {
            std::sort(keys.begin(), keys.end(), key_less);
            return;
        }
    }
    std::vector<Ranked> items(n);
    for (size_t k = 0; k < n; ++k) {
        uint64_t rank = 0;
        for (int c = 0; c < columns; ++c) {
            rank += rank_of[c][(packed[k] >> (8 * c)) & 0xff] * weight[c];
        }
        items[k] = {rank, keys[k].input};
    }
    const int bits = std::bit_width(span - 1);
    radix_sort(items, (bits + kDigitBits - 1) / kDigitBits);
    std::vector<Key> sorted(n);
    for (size_t k = 0; k < n; ++k) {
        sorted[k] = keys[items[k].input];
    }
    keys.swap(sorted);
}

}  // namespace

std::vector<uint32_t> order_by_identity(std::span<const MaglevBackend> backends) {
    const size_t n = backends.size();
    std::vector<Key> keys(n);
    for (size_t i = 0; i < n; ++i) {
        const std::string_view id = backends[i].identity;
        keys[i] = {be_word(id, 0), be_word(id, 8), static_cast<uint32_t>(i)};
    }
    sort_keys(keys);
    // Runs of equal keys: the bytes past the key decide (or the length,
    // when one identity is the other plus NULs).
    auto identity = [&](const Key& k) { return std::string_view(backends[k.input].identity); };
    for (size_t begin = 0; begin < n;) {
        size_t end = begin + 1;
        while (end < n && keys[end].hi == keys[begin].hi && keys[end].lo == keys[begin].lo) {
            ++end;
        }
        if (end - begin > 1) {
            std::sort(keys.begin() + static_cast<ptrdiff_t>(begin),
                      keys.begin() + static_cast<ptrdiff_t>(end),
                      [&](const Key& a, const Key& b) { return identity(a) < identity(b); });
        }
        begin = end;
    }
    std::vector<uint32_t> order(n);
    for (size_t k = 0; k < n; ++k) {
        order[k] = keys[k].input;
    }
    return order;
}

}  // namespace svcgw::maglev_detail
