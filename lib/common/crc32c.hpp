// CRC-32C (Castagnoli), the primitive of svcgw's specified flow hash
// (net/flow_key.hpp). One definition, two implementations that must agree
// bit for bit: the CPU's instruction where the build targets it (SSE4.2
// `crc32`, ARMv8 `crc32cx`) and a table-driven software fallback, so a
// gateway built for x86-64 and one built with -march=native pick the same
// backend for the same packet (DESIGN §6: a fleet shares no flow state).
//
// Conventions (those of the instructions): reflected polynomial, the CRC
// register is passed in and returned as is, with no initial or final
// inversion; a 64-bit word is fed least significant byte first, i.e. the
// bytes of a little-endian load, in memory order. Pure, constexpr where
// possible, no EAL.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <span>

#if defined(__SSE4_2__)
#include <nmmintrin.h>
#elif defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
#endif

namespace svcgw::crc32c {

// x^32 + x^28 + x^27 + ... (0x1EDC6F41), bit-reflected: RFC 3720 §B.4, the
// polynomial of iSCSI, SCTP, ext4 and the SSE4.2 / ARMv8 CRC32C instructions.
constexpr uint32_t kPolynomial = 0x82f63b78u;

// True when update_u64 compiles to the CPU instruction.
#if defined(__SSE4_2__) || defined(__ARM_FEATURE_CRC32)
constexpr bool kHardware = true;
#else
constexpr bool kHardware = false;
#endif

namespace detail {

// Slicing-by-8 tables (Kounavis and Berry, "A Systematic Approach to
// Building High Performance Software-based CRC Generators", ISCC 2005):
// table k advances a byte through k further zero bytes, so 8 bytes cost 8
// independent lookups. 8 KiB, built at compile time.
using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables make_tables() {
    Tables t{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t crc = i;
        for (int bit = 0; bit < 8; ++bit) {
            crc = (crc >> 1) ^ ((crc & 1u) != 0 ? kPolynomial : 0u);
        }
        t[0][i] = crc;
    }
    for (size_t k = 1; k < t.size(); ++k) {
        for (uint32_t i = 0; i < 256; ++i) {
            const uint32_t prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][prev & 0xffu];
        }
    }
    return t;
}

inline constexpr Tables kTables = make_tables();

}  // namespace detail

// The register after one more byte (the bitwise definition, table form).
constexpr uint32_t update_byte(uint32_t crc, uint8_t byte) {
    return (crc >> 8) ^ detail::kTables[0][(crc ^ byte) & 0xffu];
}

// The register after the bytes of `data`, one at a time. Reference and
// test path; the hot path feeds whole words.
constexpr uint32_t update_bytes(uint32_t crc, std::span<const uint8_t> data) {
    for (uint8_t byte : data) {
        crc = update_byte(crc, byte);
    }
    return crc;
}

// Software form of update_u64: the register after the 8 bytes of `word`,
// least significant first.
constexpr uint32_t update_u64_portable(uint32_t crc, uint64_t word) {
    const uint64_t x = word ^ crc;
    const auto& t = detail::kTables;
    return t[7][x & 0xffu] ^ t[6][(x >> 8) & 0xffu] ^ t[5][(x >> 16) & 0xffu] ^
           t[4][(x >> 24) & 0xffu] ^ t[3][(x >> 32) & 0xffu] ^ t[2][(x >> 40) & 0xffu] ^
           t[1][(x >> 48) & 0xffu] ^ t[0][x >> 56];
}

// The register after the 8 bytes of `word`: one instruction (3 cycles of
// latency) where available, 8 table lookups otherwise; same result.
inline uint32_t update_u64(uint32_t crc, uint64_t word) {
#if defined(__SSE4_2__)
    return static_cast<uint32_t>(_mm_crc32_u64(crc, word));
#elif defined(__ARM_FEATURE_CRC32)
    return __crc32cd(crc, word);
#else
    return update_u64_portable(crc, word);
#endif
}

// 8 bytes in memory order as the word update_u64 takes, on any host byte order.
inline uint64_t load_le64(const void* bytes) {
    uint64_t word;
    std::memcpy(&word, bytes, sizeof word);
    if constexpr (std::endian::native == std::endian::big) {
        word = __builtin_bswap64(word);
    }
    return word;
}

}  // namespace svcgw::crc32c
