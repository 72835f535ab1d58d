// Host <-> network byte order, for code that must not depend on DPDK or
// <arpa/inet.h> (pure modules, constexpr tables), and the loads and stores
// of unaligned big-endian wire fields (packets, DNS messages). One copy:
// every module that converts byte order uses these.
#pragma once

#include <bit>
#include <cstdint>

namespace svcgw {

constexpr uint16_t to_be16(uint16_t v) {
    if constexpr (std::endian::native == std::endian::little) {
        return __builtin_bswap16(v);
    } else {
        return v;
    }
}
constexpr uint32_t to_be32(uint32_t v) {
    if constexpr (std::endian::native == std::endian::little) {
        return __builtin_bswap32(v);
    } else {
        return v;
    }
}
// The swap is its own inverse.
constexpr uint16_t from_be16(uint16_t v) {
    return to_be16(v);
}
constexpr uint32_t from_be32(uint32_t v) {
    return to_be32(v);
}

// A big-endian field at any alignment, to host order, and back.
inline uint16_t load_be16(const uint8_t* p) {
    return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
inline uint32_t load_be32(const uint8_t* p) {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
inline void store_be16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
inline void store_be32(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}

}  // namespace svcgw
