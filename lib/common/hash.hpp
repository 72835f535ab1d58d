// Seeded, platform-independent hashes. Maglev needs the same ring on every
// gateway with the same config (DESIGN §2), so these never depend on the
// process, the CPU or the byte order of the host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
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

// Streaming 64-bit digest of a sequence of words: each word goes through
// splitmix64's bijection chained on the state, and the word count is mixed
// in at the end, so sequences that differ in one word, or in length, never
// collide. For fingerprints that gateways compare (ring digests), not for
// adversarial input.
class Digest64 {
public:
    // `domain` separates kinds of digests (and versions of their layout).
    explicit constexpr Digest64(uint64_t domain) : _state(mix64(domain + kStep)) {}
    constexpr void add(uint64_t word) {
        _state = mix64(_state ^ (word + kStep));
        ++_words;
    }
    constexpr uint64_t value() const { return mix64(_state ^ _words); }

private:
    static constexpr uint64_t kStep = 0x9e3779b97f4a7c15ULL;  // as hash_bytes
    uint64_t _state;
    uint64_t _words = 0;
};

// 16 lower-case hex digits: how the API, metrics and svcgwctl show digests.
inline std::string digest_str(uint64_t digest) {
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(digest));
    return text;
}

}  // namespace svcgw
