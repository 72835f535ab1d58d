// The connection 5-tuple and its hash, shared by the flow table and the
// packet parser (which fills a FlowKey straight from the headers, so the
// worker never copies fields around). Pure C++, no EAL.
//
// Addresses and ports are in network byte order, exactly as they sit in the
// packet: no swapping on the fast path.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__SSE4_2__)
#include <nmmintrin.h>
#endif

#include "common/hash.hpp"

namespace svcgw {

// TCP header flag bits (RFC 793 §3.1; RFC 3168 adds ECE/CWR).
namespace tcp_flag {
constexpr uint8_t fin = 0x01;
constexpr uint8_t syn = 0x02;
constexpr uint8_t rst = 0x04;
constexpr uint8_t psh = 0x08;
constexpr uint8_t ack = 0x10;
constexpr uint8_t urg = 0x20;
constexpr uint8_t ece = 0x40;
constexpr uint8_t cwr = 0x80;
}  // namespace tcp_flag

struct FlowKey {
    uint32_t src_ip = 0;    // network order
    uint32_t dst_ip = 0;    // network order
    uint16_t src_port = 0;  // network order; 0 for protocols without ports
    uint16_t dst_port = 0;  // network order
    uint8_t proto = 0;      // IANA protocol number
    uint8_t pad[3] = {};    // always zero: the hash and compare read all 16 bytes

    // The key of the same connection seen from the other side.
    FlowKey reversed() const {
        FlowKey r;
        r.src_ip = dst_ip;
        r.dst_ip = src_ip;
        r.src_port = dst_port;
        r.dst_port = src_port;
        r.proto = proto;
        return r;
    }

    // Two 8-byte words; compare and hash work on these.
    uint64_t word0() const {
        uint64_t w;
        std::memcpy(&w, this, sizeof w);
        return w;
    }
    uint64_t word1() const {
        uint64_t w;
        std::memcpy(&w, reinterpret_cast<const char*>(this) + 8, sizeof w);
        return w;
    }

    bool operator==(const FlowKey& o) const { return word0() == o.word0() && word1() == o.word1(); }
};
static_assert(sizeof(FlowKey) == 16, "FlowKey is compared and hashed as two 64-bit words");

// 32-bit hash of a key; the flow table keeps it as the bucket signature.
// With SSE4.2 (the build uses -march=native): CRC32-C over the two words, two
// instructions of 3-cycle latency. Otherwise: splitmix64's finalizer. The two
// give different values, which is fine: hashes never leave the process (they
// are not the NIC's RSS hash, see pkt::Toeplitz for that).
inline uint32_t flow_hash(const FlowKey& key) {
    // Arbitrary odd seed so that the all-zero key does not hash to 0.
    constexpr uint32_t kSeed = 0x9e3779b9u;
#if defined(__SSE4_2__)
    uint64_t h = _mm_crc32_u64(kSeed, key.word0());
    h = _mm_crc32_u64(h, key.word1());
    return static_cast<uint32_t>(h);
#else
    return static_cast<uint32_t>(mix64(key.word0() ^ mix64(key.word1() + kSeed)));
#endif
}

}  // namespace svcgw
