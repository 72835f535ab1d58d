// DNS wire-format constants and name helpers shared by the zone builder, the
// responder and the tests. Pure C++, no allocation on the query path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_order.hpp"
#include "common/hash.hpp"

namespace svcgw::dns {

// RFC 1035 §4.2: DNS over UDP and TCP on port 53.
constexpr uint16_t kDnsPort = 53;
// RFC 1035 §4.1.1: the fixed header is 12 octets; the question starts right
// after it, so a compression pointer to the question name is always 0xC00C.
constexpr size_t kHeaderSize = 12;
constexpr uint16_t kQuestionNamePointer = 0xC000 | kHeaderSize;
// RFC 1035 §2.3.4.
constexpr size_t kMaxLabelLength = 63;
constexpr size_t kMaxNameLength = 255;
// A name of 255 octets has at most 127 labels plus the root.
constexpr size_t kMaxLabels = 128;
// RFC 1035 §4.2.1: the classic UDP payload limit and the EDNS0 floor
// (RFC 6891 §6.2.5: sizes below 512 are treated as 512).
constexpr uint16_t kClassicUdpSize = 512;
// DNS flag day 2020: 1232 avoids IP fragmentation on a 1280-octet IPv6 path,
// and is what we advertise and never exceed.
constexpr uint16_t kOurUdpSize = 1232;
// RFC 1035 §4.2.2: a TCP message is prefixed by its 2-octet length.
constexpr size_t kMaxTcpMessage = 65535;
// RFC 1035 §4.1.4: a compression pointer has 14 bits of offset.
constexpr size_t kMaxCompressionOffset = 0x3fff;
// Fixed part of a resource record after the owner: type, class, TTL, rdlength.
constexpr size_t kRrFixedSize = 10;
// An OPT record with no options: root owner (1) + fixed part.
constexpr size_t kOptRecordSize = 1 + kRrFixedSize;

// Header flag bits in the second 16-bit word (RFC 1035 §4.1.1, RFC 4035 §3.2).
namespace flag {
constexpr uint16_t qr = 0x8000;
constexpr uint16_t aa = 0x0400;
constexpr uint16_t tc = 0x0200;
constexpr uint16_t rd = 0x0100;
constexpr uint16_t ra = 0x0080;
constexpr uint16_t ad = 0x0020;
constexpr uint16_t cd = 0x0010;
constexpr uint16_t opcode_mask = 0x7800;
constexpr uint16_t rcode_mask = 0x000f;
}  // namespace flag

// RFC 6891 §6.1.4: the DO bit in the OPT TTL's low 16 bits.
constexpr uint16_t kEdnsDoBit = 0x8000;

namespace rr_type {
constexpr uint16_t a = 1;
constexpr uint16_t ns = 2;
constexpr uint16_t cname = 5;
constexpr uint16_t soa = 6;
constexpr uint16_t ptr = 12;
constexpr uint16_t txt = 16;
constexpr uint16_t aaaa = 28;
constexpr uint16_t srv = 33;
constexpr uint16_t opt = 41;
constexpr uint16_t ixfr = 251;
constexpr uint16_t axfr = 252;
constexpr uint16_t mailb = 253;
constexpr uint16_t maila = 254;
constexpr uint16_t any = 255;
}  // namespace rr_type

constexpr uint16_t kClassIn = 1;

enum class Rcode : uint8_t {
    noerror = 0,
    formerr = 1,
    servfail = 2,
    nxdomain = 3,
    notimp = 4,
    refused = 5,
    badvers = 16,  // RFC 6891 §6.1.3: extended rcode, upper 8 bits go in the OPT TTL
};

inline uint8_t ascii_lower(uint8_t c) {
    // RFC 4343: only ASCII letters fold; every other octet compares exactly.
    return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c | 0x20) : c;
}

// Wire form of a dotted name ("a.b.c", trailing dot optional, "" or "." is the
// root), lower-cased. nullopt when a label is empty or too long or the name
// exceeds 255 octets.
std::optional<std::vector<uint8_t>> encode_name(std::string_view dotted);
// Dotted text of an uncompressed wire name, for messages and tests ("a.b.c.").
std::string name_to_text(std::span<const uint8_t> wire);

// Hash of a lower-cased wire name: reads 8-byte words, mixes with splitmix64's
// finalizer. Only needs to agree within one process (zone and responder).
inline uint64_t name_hash(const uint8_t* p, size_t n) {
    constexpr uint64_t kStep = 0x9e3779b97f4a7c15ULL;  // golden ratio (Knuth)
    uint64_t h = kStep * (n + 1);
    while (n >= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        h = (h ^ w) * kStep;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    return mix64(h ^ w);
}

}  // namespace svcgw::dns
