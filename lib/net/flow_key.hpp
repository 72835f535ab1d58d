// The connection 5-tuple and its hash, shared by the flow table and the
// packet parser (which fills a FlowKey straight from the headers, so the
// worker never copies fields around). Pure C++, no EAL.
//
// Addresses and ports are in network byte order, exactly as they sit in the
// packet: no swapping on the fast path.
#pragma once

#include <cstdint>
#include <cstring>

#include "common/crc32c.hpp"

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

// ---- svcgw flow hash, version 1 ----------------------------------------
// Every gateway of a fleet must pick the same backend for the same packet
// (DESIGN §6), so this hash is specified, not an implementation detail:
//
//   flow_hash(key) = fmix32(crc), where crc is the CRC-32C register
//   (common/crc32c.hpp: reflected 0x1EDC6F41, no inversions) started at
//   kFlowHashSeed and fed the 16 key bytes in wire order: src ip, dst ip,
//   src port, dst port (each as in the packet, network order), protocol,
//   3 zero bytes; fmix32 is MurmurHash3's 32-bit finalizer.
//
// CRC is linear, so on its own every output bit is the parity of a fixed
// set of input bits: the owner (hash % 2) of client ports 40000..40015 came
// out 0000111111110000. The finalizer (a bijection, two multiplies) makes
// every output bit depend on every input bit.
//
// Its uses, each a FlowKey with some fields left zero:
//   ring slot       MaglevRing::pick(flow_hash(client -> VIP 5-tuple))
//   ClientIP        MaglevRing::pick(client_hash(client ip)) = flow_hash of
//   affinity        the key with only the source address set
//   worker owner    owner_of(ip, port, workers) = flow_hash of the key with
//   (no RSS)        only src ip and src port set, modulo the worker count
//   SNAT address    snat_addresses[flow_hash(client -> VIP key) % count]
//   SNAT port       space tag = flow_hash(backend -> SNAT address key, ports
//                   but the backend's zero); in software ownership the port
//                   is chosen so that port % workers = the owner
// The CPU's CRC32C instruction and the software tables give the same value
// (golden vectors in tests/unit/test_flow.cpp), so -march does not change a
// pick. The flow and affinity tables also use it for their buckets.

// Arbitrary odd seed so that the all-zero key does not hash to 0 (2^32 / phi).
constexpr uint32_t kFlowHashSeed = 0x9e3779b9u;

// MurmurHash3's fmix32 (Appleby, public domain): full avalanche on 32 bits.
constexpr uint32_t fmix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

inline uint32_t flow_hash(const FlowKey& key) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(&key);
    uint32_t crc = crc32c::update_u64(kFlowHashSeed, crc32c::load_le64(bytes));
    crc = crc32c::update_u64(crc, crc32c::load_le64(bytes + 8));
    return fmix32(crc);
}

// ClientIP affinity: the client address alone chooses the backend.
inline uint32_t client_hash(uint32_t client_ip_be) {
    FlowKey k;
    k.src_ip = client_ip_be;
    return flow_hash(k);
}

// The worker that owns the flows of a client (ip, port) when no RSS spreads
// them: both directions of a flow must reach it (DESIGN §1).
inline uint16_t owner_of(uint32_t ip_be, uint16_t port_be, uint16_t workers) {
    if (workers <= 1) {
        return 0;
    }
    FlowKey k;
    k.src_ip = ip_be;
    k.src_port = port_be;
    return static_cast<uint16_t>(flow_hash(k) % workers);
}

}  // namespace svcgw
