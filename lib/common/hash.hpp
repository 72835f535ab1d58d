// Seeded, platform-independent hashes. Maglev needs the same ring on every
// gateway with the same config (DESIGN §2), so these never depend on the
// process, the CPU or the byte order of the host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace svcgw {

// splitmix64's finalizer (Steele et al., "Fast splittable pseudorandom number
// generators", OOPSLA 2014): a bijection with full avalanche.
constexpr uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

// Hash of a byte string, reading 8-byte little-endian words explicitly.
constexpr uint64_t hash_bytes(std::string_view bytes, uint64_t seed) {
    // Golden-ratio increment (Knuth, TAOCP 6.4) so that seed 0 still mixes.
    constexpr uint64_t kStep = 0x9e3779b97f4a7c15ULL;
    uint64_t h = mix64(seed + kStep * (bytes.size() + 1));
    size_t i = 0;
    while (i < bytes.size()) {
        uint64_t word = 0;
        for (size_t b = 0; b < 8 && i < bytes.size(); ++b, ++i) {
            word |= uint64_t{static_cast<unsigned char>(bytes[i])} << (8 * b);
        }
        h = mix64(h ^ (word + kStep));
    }
    return h;
}

constexpr uint64_t hash_u64(uint64_t value, uint64_t seed) {
    return mix64(mix64(seed + 0x9e3779b97f4a7c15ULL) ^ value);
}

}  // namespace svcgw
