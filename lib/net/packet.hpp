// Header parsing, NAT rewriting, checksums, reply builders and the software
// RSS (Toeplitz) hash, on raw Ethernet frames (uint8_t* + length). Pure C++:
// no EAL, no mbufs, so tests and benchmarks run without hugepages; the
// worker passes rte_pktmbuf_mtod() pointers.
//
// Threading: stateless functions (Toeplitz holds read-only tables); any
// thread.
//
// Byte order: addresses and ports are in network order everywhere (as in
// FlowKey); a parameter named *_be says so again. Checksums are 16-bit
// values in memory order ("raw": what memcpy loads from the packet, what
// memcpy stores back). One's-complement sums do not depend on byte order as
// long as all operands use the same one (RFC 1071 §2(B)), so incremental
// updates feed the raw field values straight in.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>

#include "common/byte_order.hpp"
#include "net/flow_key.hpp"
#include "net/mac_addr.hpp"

namespace svcgw {

namespace pkt {

// IEEE 802.3 / RFC 894 / RFC 791 / RFC 793 / RFC 768 / RFC 792 / RFC 826 sizes.
constexpr size_t kEthHeaderLen = 14;
constexpr size_t kEthMinFrameLen = 60;  // 64-byte minimum frame without the 4-byte FCS
constexpr size_t kArpBodyLen = 28;      // Ethernet/IPv4 ARP (RFC 826)
constexpr size_t kIpv4MinHeaderLen = 20;
constexpr size_t kTcpMinHeaderLen = 20;
constexpr size_t kUdpHeaderLen = 8;
constexpr size_t kIcmpHeaderLen = 8;
constexpr size_t kMacLen = 6;
constexpr size_t kIpv4AddrLen = 4;

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeArp = 0x0806;
constexpr uint16_t kEtherTypeVlan = 0x8100;  // IEEE 802.1Q
constexpr uint16_t kEtherTypeQinQ = 0x88a8;  // IEEE 802.1ad

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;

constexpr uint16_t kArpOpRequest = 1;
constexpr uint16_t kArpOpReply = 2;

constexpr uint8_t kIcmpEchoReply = 0;
constexpr uint8_t kIcmpDestUnreachable = 3;
constexpr uint8_t kIcmpPortUnreachable = 3;  // code under type 3
constexpr uint8_t kIcmpEchoRequest = 8;

namespace hdr {
// Offsets inside the headers (RFC 791 §3.1, RFC 793 §3.1, RFC 768, RFC 792,
// RFC 826).
constexpr size_t kEthDstOff = 0;
constexpr size_t kEthSrcOff = 6;
constexpr size_t kEthTypeOff = 12;
constexpr size_t kArpHtypeOff = 0;
constexpr size_t kArpPtypeOff = 2;
constexpr size_t kArpHlenOff = 4;
constexpr size_t kArpPlenOff = 5;
constexpr size_t kArpOpOff = 6;
constexpr size_t kArpSenderMacOff = 8;
constexpr size_t kArpSenderIpOff = 14;
constexpr size_t kArpTargetMacOff = 18;
constexpr size_t kArpTargetIpOff = 24;
constexpr size_t kIpVersionIhlOff = 0;
constexpr size_t kIpTosOff = 1;
constexpr size_t kIpTotalLengthOff = 2;
constexpr size_t kIpIdOff = 4;
constexpr size_t kIpFragOff = 6;
constexpr size_t kIpTtlOff = 8;
constexpr size_t kIpProtoOff = 9;
constexpr size_t kIpChecksumOff = 10;
constexpr size_t kIpSrcOff = 12;
constexpr size_t kIpDstOff = 16;
// Version 4, IHL 5 words: a header without options.
constexpr uint8_t kIpVersionIhlNoOptions = 0x45;
constexpr uint16_t kIpFragMask = 0x3fff;        // MF flag + 13-bit fragment offset
constexpr uint16_t kIpFragOffsetMask = 0x1fff;  // the offset alone: 0 in a first fragment
constexpr uint16_t kIpFlagDf = 0x4000;
constexpr size_t kTcpSeqOff = 4;
constexpr size_t kTcpAckOff = 8;
constexpr size_t kTcpDataOffsetOff = 12;
constexpr size_t kTcpFlagsOff = 13;
constexpr size_t kTcpChecksumOff = 16;
constexpr size_t kL4SrcPortOff = 0;  // TCP and UDP
constexpr size_t kL4DstPortOff = 2;
constexpr size_t kUdpLengthOff = 4;
constexpr size_t kUdpChecksumOff = 6;
constexpr size_t kIcmpChecksumOff = 2;
constexpr size_t kIcmpQuoteLen = 8;  // RFC 792: IP header + first 64 bits of the datagram
constexpr uint16_t kArpHtypeEthernet = 1;
}  // namespace hdr

// TTL of packets the gateway originates (IANA "default TTL" 64, RFC 1700).
constexpr uint8_t kDefaultTtl = 64;

// Parse (and TTL) verdicts; the worker counts a failed one under its drop
// reason (worker.cpp drop_for: several verdicts share `malformed`).
#define SVCGW_FOREACH_PACKET_VERDICT(X)                                                     \
    X(ok, "ok")                                                                             \
    X(truncated, "truncated")     /* shorter than the Ethernet, ARP or IPv4 header */       \
    X(vlan_tagged, "vlan_tagged") /* 802.1Q/802.1ad tag: untagged ports only */             \
    X(unsupported_ethertype, "unsupported_ethertype") /* not IPv4 or ARP (IPv6, LLDP...) */ \
    X(bad_arp, "bad_arp")                   /* not Ethernet/IPv4 ARP, or unknown opcode */  \
    X(bad_ip_version, "bad_ip_version")     /* IPv4 ethertype, version field != 4 */        \
    X(bad_ihl, "bad_ihl")                   /* IHL < 5, or header longer than the frame */  \
    X(bad_total_length, "bad_total_length") /* total length < IHL*4 or > frame */           \
    X(bad_ip_checksum, "bad_ip_checksum")   /* only when asked to verify */                 \
    X(fragment, "fragment")                 /* MF set or fragment offset != 0 */            \
    X(unsupported_l4, "unsupported_l4")     /* not TCP, UDP or ICMP */                      \
    X(truncated_l4, "truncated_l4")         /* L4 header does not fit in the IP datagram */ \
    X(bad_tcp_offset, "bad_tcp_offset")     /* data offset < 5 or beyond the datagram */    \
    X(bad_udp_length, "bad_udp_length")     /* UDP length < 8 or > the IP payload */        \
    X(ttl_expired, "ttl_expired")           /* from decrement_ttl(): TTL <= 1, not forwarded */

enum class Verdict : uint8_t {
#define SVCGW_X(name, text) name,
    SVCGW_FOREACH_PACKET_VERDICT(SVCGW_X)
#undef SVCGW_X
        count_
};
constexpr size_t kVerdictCount = static_cast<size_t>(Verdict::count_);
std::string_view to_string(Verdict verdict);

enum class L3 : uint8_t { none, arp, ipv4 };

struct Parsed {
    Verdict verdict = Verdict::truncated;
    L3 l3 = L3::none;
    uint8_t tcp_flags = 0;  // TCP only
    uint8_t ttl = 0;        // IPv4 only
    uint8_t icmp_type = 0;  // ICMP only
    uint8_t icmp_code = 0;
    uint16_t arp_op = 0;           // ARP only, host order
    uint16_t l3_offset = 0;        // start of the ARP body or IPv4 header
    uint16_t l4_offset = 0;        // start of TCP/UDP/ICMP header
    uint16_t payload_offset = 0;   // first byte after the L4 header
    uint16_t ip_total_length = 0;  // host order; bytes past it are link padding
    uint16_t payload_length = 0;   // L4 payload bytes
    // IPv4: the 5-tuple (ports 0 for ICMP). ARP: src_ip = sender protocol
    // address, dst_ip = target protocol address, proto 0.
    FlowKey key;
};

// Ethernet + ARP/IPv4 + TCP/UDP/ICMP. `len` is the frame length (without
// FCS). Fields other than verdict are meaningful up to where parsing stopped.
// IPv4 options are accepted and skipped.
// Inline (defined below): the worker calls it once per frame, and an
// out-of-line call returning the struct in memory cost store-forwarding
// stalls on every field read back (perf annotate of the burst loop).
inline Parsed parse(const uint8_t* frame, size_t len, bool verify_ip_checksum = false);

// ---- Checksums (RFC 1071, RFC 1624) --------------------------------------

inline uint16_t load16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline void store16(uint8_t* p, uint16_t v) {
    std::memcpy(p, &v, sizeof v);
}
inline uint32_t load32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline void store32(uint8_t* p, uint32_t v) {
    std::memcpy(p, &v, sizeof v);
}
// Fields converted to host order: common/byte_order.hpp's.
using svcgw::load_be16;
using svcgw::store_be16;

// Folds a 64-bit accumulator of 16-bit words to 16 bits with end-around carry.
constexpr uint16_t csum_fold(uint64_t sum) {
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}
// Unfolded one's-complement sum of `len` bytes (raw 16-bit words; an odd
// last byte is padded with zero as RFC 1071 says), added to `sum`.
uint64_t csum_partial(const uint8_t* data, size_t len, uint64_t sum = 0);
// The Internet checksum of a buffer: ~fold(sum), raw.
inline uint16_t internet_checksum(const uint8_t* data, size_t len, uint64_t sum = 0) {
    return static_cast<uint16_t>(~csum_fold(csum_partial(data, len, sum)));
}

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit field m -> m'.
constexpr uint16_t csum_update16(uint16_t hc, uint16_t old_v, uint16_t new_v) {
    uint64_t sum = uint16_t(~hc) + uint64_t{uint16_t(~old_v)} + new_v;
    return static_cast<uint16_t>(~csum_fold(sum));
}
// The same for a 32-bit field (an IPv4 address): its two 16-bit halves.
constexpr uint16_t csum_update32(uint16_t hc, uint32_t old_v, uint32_t new_v) {
    uint64_t sum = uint16_t(~hc) + uint64_t{uint16_t(~old_v)} + uint16_t(~(old_v >> 16)) +
                   uint16_t(new_v) + uint16_t(new_v >> 16);
    return static_cast<uint16_t>(~csum_fold(sum));
}

// Full checksums computed from scratch (the stored checksum field is
// skipped), raw. For tests, builders and the slow path.
uint16_t ipv4_header_checksum(const uint8_t* ip);
// TCP/UDP with the RFC 793/768 pseudo-header, ICMP without; over the IP
// payload as given by the header's total length. A UDP result of 0 is
// returned as 0xFFFF (RFC 768: 0 means "no checksum").
uint16_t l4_checksum(const uint8_t* ip);
// Recompute and store both checksums of an IPv4 packet (UDP included).
void fill_checksums(uint8_t* ip);
// True when the stored checksums are correct (a UDP checksum of 0 passes).
bool ipv4_header_checksum_ok(const uint8_t* ip);
bool l4_checksum_ok(const uint8_t* ip);
// A TCP/UDP checksum its sender left for the NIC to finish: with tx
// checksum offload on a veth or tap, Linux hands the frame on with only the
// folded pseudo-header sum in the field (CHECKSUM_PARTIAL), and af_packet
// passes it to userspace as is (DPDK 22.11's net_af_packet drops the
// TP_STATUS_CSUMNOTREADY flag that says so). A finished checksum equals
// that sum once in 2^16; completing it then rewrites the same value.
bool l4_checksum_partial(const uint8_t* ip);
// Computes and stores the TCP/UDP checksum (IP header untouched).
void complete_l4_checksum(uint8_t* ip);

inline Parsed parse(const uint8_t* frame, size_t len, bool verify_ip_checksum) {
    using namespace hdr;
    Parsed p;
    if (len < kEthHeaderLen) {
        p.verdict = Verdict::truncated;
        return p;
    }
    const uint16_t ether_type = load_be16(frame + 12);
    p.l3_offset = kEthHeaderLen;
    if (ether_type == kEtherTypeVlan || ether_type == kEtherTypeQinQ) {
        p.verdict = Verdict::vlan_tagged;
        return p;
    }
    if (ether_type == kEtherTypeArp) {
        if (len < kEthHeaderLen + kArpBodyLen) {
            p.verdict = Verdict::truncated;
            return p;
        }
        const uint8_t* a = frame + kEthHeaderLen;
        p.arp_op = load_be16(a + kArpOpOff);
        if (load_be16(a + kArpHtypeOff) != kArpHtypeEthernet ||
            load_be16(a + kArpPtypeOff) != kEtherTypeIpv4 || a[kArpHlenOff] != kMacLen ||
            a[kArpPlenOff] != kIpv4AddrLen ||
            (p.arp_op != kArpOpRequest && p.arp_op != kArpOpReply)) {
            p.verdict = Verdict::bad_arp;
            return p;
        }
        p.l3 = L3::arp;
        p.key.src_ip = load32(a + kArpSenderIpOff);
        p.key.dst_ip = load32(a + kArpTargetIpOff);
        p.verdict = Verdict::ok;
        return p;
    }
    if (ether_type != kEtherTypeIpv4) {
        p.verdict = Verdict::unsupported_ethertype;
        return p;
    }

    const uint8_t* ip = frame + kEthHeaderLen;
    const size_t avail = len - kEthHeaderLen;
    if (avail < kIpv4MinHeaderLen) {
        p.verdict = Verdict::truncated;
        return p;
    }
    if ((ip[0] >> 4) != 4) {
        p.verdict = Verdict::bad_ip_version;
        return p;
    }
    const size_t ihl = size_t{ip[0] & 0x0fu} * 4;
    if (ihl < kIpv4MinHeaderLen || ihl > avail) {
        p.verdict = Verdict::bad_ihl;
        return p;
    }
    const uint16_t total = load_be16(ip + kIpTotalLengthOff);
    if (total < ihl || total > avail) {
        p.verdict = Verdict::bad_total_length;
        return p;
    }
    if (verify_ip_checksum && !ipv4_header_checksum_ok(ip)) {
        p.verdict = Verdict::bad_ip_checksum;
        return p;
    }
    p.l3 = L3::ipv4;
    p.ip_total_length = total;
    p.ttl = ip[kIpTtlOff];
    p.key.proto = ip[kIpProtoOff];
    p.key.src_ip = load32(ip + kIpSrcOff);
    p.key.dst_ip = load32(ip + kIpDstOff);
    if (load_be16(ip + kIpFragOff) & kIpFragMask) {
        p.verdict = Verdict::fragment;
        return p;
    }

    const uint8_t* l4 = ip + ihl;
    const size_t l4_len = total - ihl;
    p.l4_offset = static_cast<uint16_t>(kEthHeaderLen + ihl);
    switch (p.key.proto) {
        case kProtoTcp: {
            if (l4_len < kTcpMinHeaderLen) {
                p.verdict = Verdict::truncated_l4;
                return p;
            }
            const size_t doff = size_t{l4[kTcpDataOffsetOff]} >> 4 << 2;  // 32-bit words
            if (doff < kTcpMinHeaderLen || doff > l4_len) {
                p.verdict = Verdict::bad_tcp_offset;
                return p;
            }
            p.key.src_port = load16(l4);
            p.key.dst_port = load16(l4 + 2);
            p.tcp_flags = l4[kTcpFlagsOff];
            p.payload_offset = static_cast<uint16_t>(p.l4_offset + doff);
            p.payload_length = static_cast<uint16_t>(l4_len - doff);
            break;
        }
        case kProtoUdp: {
            if (l4_len < kUdpHeaderLen) {
                p.verdict = Verdict::truncated_l4;
                return p;
            }
            const uint16_t udp_len = load_be16(l4 + kUdpLengthOff);
            if (udp_len < kUdpHeaderLen || udp_len > l4_len) {
                p.verdict = Verdict::bad_udp_length;
                return p;
            }
            p.key.src_port = load16(l4);
            p.key.dst_port = load16(l4 + 2);
            p.payload_offset = static_cast<uint16_t>(p.l4_offset + kUdpHeaderLen);
            p.payload_length = static_cast<uint16_t>(udp_len - kUdpHeaderLen);
            break;
        }
        case kProtoIcmp: {
            if (l4_len < kIcmpHeaderLen) {
                p.verdict = Verdict::truncated_l4;
                return p;
            }
            p.icmp_type = l4[0];
            p.icmp_code = l4[1];
            p.payload_offset = static_cast<uint16_t>(p.l4_offset + kIcmpHeaderLen);
            p.payload_length = static_cast<uint16_t>(l4_len - kIcmpHeaderLen);
            break;
        }
        default:
            p.verdict = Verdict::unsupported_l4;
            return p;
    }
    p.verdict = Verdict::ok;
    return p;
}

// ---- NAT rewrites (incremental checksums) --------------------------------
// `p` must be an `ok` IPv4 parse of `frame`. The IP header checksum is always
// updated, the TCP checksum always, the UDP checksum only when it is not 0
// (and a result of 0 is stored as 0xFFFF, RFC 768). For ICMP only the
// addresses change (ports are ignored; the ICMP checksum has no
// pseudo-header).

// DNAT: destination address and port.
void rewrite_dst(uint8_t* frame, const Parsed& p, uint32_t ip_be, uint16_t port_be);
// SNAT: source address and port.
void rewrite_src(uint8_t* frame, const Parsed& p, uint32_t ip_be, uint16_t port_be);
// Both at once (fullnat forward: client->VIP becomes snat->backend; reply:
// backend->snat becomes VIP->client); one checksum pass per header.
void rewrite_src_dst(uint8_t* frame, const Parsed& p, uint32_t src_ip_be, uint16_t src_port_be,
                     uint32_t dst_ip_be, uint16_t dst_port_be);
// Forwarding TTL decrement (RFC 1812 §5.3.1) with incremental IP checksum.
// ttl_expired, and the packet untouched, when TTL <= 1.
Verdict decrement_ttl(uint8_t* frame, const Parsed& p);

// ---- ICMP errors about a translated flow (path MTU discovery) -------------
constexpr uint8_t kIcmpTimeExceeded = 11;
constexpr uint8_t kIcmpParameterProblem = 12;
constexpr uint8_t kIcmpFragmentationNeeded = 4;  // code under type 3 (RFC 1191)

inline bool is_icmp_error(uint8_t type) {
    return type == kIcmpDestUnreachable || type == kIcmpTimeExceeded ||
           type == kIcmpParameterProblem;
}

// The datagram an ICMP error quotes (RFC 792: its IP header + at least the
// first 8 bytes of its payload, so ports but maybe no TCP checksum; RFC 1812
// routers quote more).
struct IcmpQuote {
    uint16_t ip_offset = 0;  // frame offset of the quoted IP header
    uint16_t l4_offset = 0;  // frame offset of the quoted L4 header
    uint16_t l4_length = 0;  // quoted L4 bytes (>= 8)
    FlowKey key;             // the quoted datagram's 5-tuple (TCP or UDP only)
};
// nullopt unless `p` is an ok ICMP error (type 3, 11 or 12) quoting an
// unfragmented (first fragment) IPv4 TCP/UDP datagram with its ports.
std::optional<IcmpQuote> parse_icmp_quote(const uint8_t* frame, const Parsed& p);

// Rewrites an ICMP error for the other side of a NAT: outer addresses, the
// quoted datagram's addresses and ports, the quoted IP header checksum (full),
// the quoted L4 checksum (incremental, when quoted: UDP always, TCP only
// with >= 18 L4 bytes; a UDP checksum of 0 stays 0), the ICMP checksum (full,
// over the whole message) and the outer header (TTL - 1, full checksum).
// The caller checked TTL > 1.
void translate_icmp_error(uint8_t* frame, const Parsed& p, const IcmpQuote& q,
                          uint32_t outer_src_be, uint32_t outer_dst_be, const FlowKey& inner);

// TCP flag combinations no conforming stack sends (RFC 793/9293): SYN+FIN,
// SYN+RST, no flags ("NULL" scan), FIN+PSH+URG ("XMAS" scan).
inline bool tcp_flags_invalid(uint8_t flags) {
    constexpr uint8_t kXmas = tcp_flag::fin | tcp_flag::psh | tcp_flag::urg;
    return flags == 0 || (flags & kXmas) == kXmas ||
           ((flags & tcp_flag::syn) && (flags & (tcp_flag::fin | tcp_flag::rst)));
}

// ---- Builders for host duties and rejects --------------------------------
// Each writes a complete frame (valid checksums, padded to kEthMinFrameLen)
// into `out` and returns its length, or 0 when `out` is too small or the
// input does not call for that answer.

size_t build_arp_reply(std::span<uint8_t> out, const MacAddr& our_mac, uint32_t our_ip_be,
                       const MacAddr& peer_mac, uint32_t peer_ip_be);
// Broadcast who-has target_ip_be.
size_t build_arp_request(std::span<uint8_t> out, const MacAddr& our_mac, uint32_t our_ip_be,
                         uint32_t target_ip_be);
// Gratuitous ARP (RFC 5227 §3 "ARP Announcement"): a broadcast request with
// sender = target = our address.
size_t build_gratuitous_arp(std::span<uint8_t> out, const MacAddr& our_mac, uint32_t our_ip_be);

// Turns an ICMP echo request around in place: MACs and addresses swapped,
// type 0, TTL kDefaultTtl, checksums updated incrementally. False (frame
// untouched) when `p` is not an ok ICMP echo request.
bool make_icmp_echo_reply(uint8_t* frame, const Parsed& p);

// RST answering the TCP segment in `frame` (RFC 793 §3.4 "Reset Generation"):
// if the segment has ACK, seq = its ack number and no ACK flag; otherwise
// seq = 0, ACK set, ack = its seq + payload length (+1 for SYN, +1 for FIN).
// Addresses, ports and MACs are the segment's, swapped. 0 when the segment
// is itself a RST (never answer a RST) or `p` is not an ok TCP parse.
size_t build_tcp_rst(std::span<uint8_t> out, const uint8_t* frame, const Parsed& p);

// ICMP destination unreachable, port unreachable (type 3 code 3, RFC 792),
// from src_ip_be to the datagram's source, quoting its IP header + the
// first 8 bytes of its payload. 0 when `p` is not an ok IPv4 parse or the
// datagram is itself an ICMP error (RFC 1122 §3.2.2: never answer one).
size_t build_icmp_port_unreachable(std::span<uint8_t> out, const uint8_t* frame, const Parsed& p,
                                   uint32_t src_ip_be);

// ---- RSS: software Toeplitz hash -------------------------------------------

using RssKey = std::array<uint8_t, 40>;

// The default key of Microsoft's RSS specification ("Verifying the RSS Hash
// Calculation", learn.microsoft.com, Windows drivers, network/RSS), which
// many NICs also use by default.
inline constexpr RssKey kRssDefaultKey = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

// Bit-by-bit Toeplitz hash of `input` (at most 36 bytes: the key is 40
// bytes and every input bit needs a 32-bit key window). Reference
// implementation; Toeplitz below is the fast one.
uint32_t toeplitz_hash(const RssKey& key, std::span<const uint8_t> input);

// Table-driven Toeplitz for the IPv4 inputs: the hash is linear (XOR) in the
// input bits, so each input byte position gets a 256-entry table and a hash
// is 8 or 12 lookups.
class Toeplitz {
public:
    explicit Toeplitz(const RssKey& key);

    // Input order of the RSS spec: source address, destination address,
    // source port, destination port, all network order.
    uint32_t hash_ipv4(uint32_t src_ip_be, uint32_t dst_ip_be) const;
    uint32_t hash_ipv4_l4(uint32_t src_ip_be, uint32_t dst_ip_be, uint16_t src_port_be,
                          uint16_t dst_port_be) const {
        return hash_ipv4(src_ip_be, dst_ip_be) ^ port_part(8, src_port_be) ^
               port_part(10, dst_port_be);
    }

    // A destination port for the 4-tuple (src_ip, dst_ip, src_port, ?) whose
    // hash selects `queue` through `reta` (RETA index = the hash's low bits,
    // reta.size() a power of two, as NICs and DPDK do). Used to pick the SNAT
    // port of a fullnat flow so that the backend's replies land on the
    // owning worker's queue. Tries ports port_lo..port_hi (host order,
    // inclusive) starting at port_lo + start % range, wrapping; a port is
    // taken only if accept(port_be) (e.g. "reply key not in the flow
    // table"). Returns it in network order, nullopt if none fits.
    template <class Accept>
    std::optional<uint16_t> find_port_for_queue(std::span<const uint16_t> reta, uint16_t queue,
                                                uint32_t src_ip_be, uint32_t dst_ip_be,
                                                uint16_t src_port_be, uint16_t port_lo,
                                                uint16_t port_hi, uint32_t start,
                                                Accept&& accept) const {
        if (reta.empty() || port_lo > port_hi) {
            return std::nullopt;
        }
        const uint32_t mask = static_cast<uint32_t>(reta.size() - 1);
        const uint32_t base = hash_ipv4(src_ip_be, dst_ip_be) ^ port_part(8, src_port_be);
        const uint32_t range = uint32_t{port_hi} - port_lo + 1;
        uint32_t offset = start % range;
        for (uint32_t tried = 0; tried < range; ++tried) {
            uint16_t port = static_cast<uint16_t>(port_lo + offset);
            uint16_t port_be = static_cast<uint16_t>(port >> 8 | port << 8);
            if (reta[(base ^ port_part(10, port_be)) & mask] == queue && accept(port_be)) {
                return port_be;
            }
            offset = offset + 1 == range ? 0 : offset + 1;
        }
        return std::nullopt;
    }
    std::optional<uint16_t> find_port_for_queue(std::span<const uint16_t> reta, uint16_t queue,
                                                uint32_t src_ip_be, uint32_t dst_ip_be,
                                                uint16_t src_port_be, uint16_t port_lo,
                                                uint16_t port_hi, uint32_t start) const {
        return find_port_for_queue(reta, queue, src_ip_be, dst_ip_be, src_port_be, port_lo, port_hi,
                                   start, [](uint16_t) { return true; });
    }

private:
    static constexpr size_t kPositions = 12;  // IPv4 4-tuple: 4 + 4 + 2 + 2 bytes

    // Contribution of a network-order port at byte position pos (8 or 10).
    uint32_t port_part(size_t pos, uint16_t port_be) const {
        const auto* b = reinterpret_cast<const uint8_t*>(&port_be);
        return _table[pos][b[0]] ^ _table[pos + 1][b[1]];
    }

    uint32_t _table[kPositions][256];
};

}  // namespace pkt
}  // namespace svcgw
