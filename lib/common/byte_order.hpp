// Host <-> network byte order, for code that must not depend on DPDK or
// <arpa/inet.h> (pure modules, constexpr tables). One copy: every module
// that converts byte order uses these. Loads and stores of unaligned wire
// fields are in net/packet.hpp (pkt::load_be16 and friends).
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

}  // namespace svcgw
