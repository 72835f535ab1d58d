// svcgw-pktgen's traffic model (pure C++, no EAL): the address plan, the
// flows crafted from parameters, the frames sent for them, and the checks on
// every frame svcgw emits. Shared by svcgw-pktgen and perf/bench_worker.cpp.
//
// Address plan (all on one /8 link, so svcgw resolves everyone by ARP):
//   svcgw port    10.0.0.1/8
//   clients       10.1.0.0 + c            (MAC 02:c1:<ip>)
//   backends      10.128.0.0 + s*B + b    (MAC 02:b0:<ip>), service s, backend b
//   VIPs          172.16.0.1 + s, port 80 (+p), target port 8080 (+p)
// Every payload starts with a Tag (magic, flow id, send TSC), so an output
// frame names its flow whatever the rewrite did to the headers.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "common/byte_order.hpp"
#include "net/packet.hpp"

namespace svcgw::pktgen {

constexpr uint32_t kGatewayIp = 0x0a000001;  // 10.0.0.1
constexpr uint8_t kLinkPrefix = 8;
constexpr uint32_t kClientBase = 0x0a010000;    // 10.1.0.0
constexpr uint32_t kBackendBase = 0x0a800000;   // 10.128.0.0, room for 8M backends
constexpr uint32_t kServiceNet = 0xac100000;    // 172.16.0.0: off the port's /8 (svcgw requires it)
constexpr uint32_t kVipBase = kServiceNet + 1;  // the network address is no VIP
constexpr uint8_t kServiceCidrLen = 12;         // 172.16.0.0/12: 1M VIPs
constexpr uint32_t kDnsIp = 0xac1ffffe;         // 172.31.255.254: in the CIDR, past the VIPs
constexpr uint16_t kVipPort = 80;
constexpr uint16_t kTargetPort = 8080;
// Source ports of clients start above the privileged range.
constexpr uint16_t kClientPortLo = 1024;
constexpr uint8_t kTtl = 64;
constexpr uint16_t kTagMagic = 0x5347;  // "SG"

// `generation` tells connections of one flow slot apart (low 16 bits).
struct Tag {
    uint16_t magic;
    uint16_t generation;
    uint32_t flow;
    uint64_t tsc;
};
static_assert(sizeof(Tag) == 16);

// Ethernet + IPv4 + TCP + tag: the smallest frame that can carry a tag.
constexpr size_t kMinTcpFrame = pkt::kEthHeaderLen + 20 + 20 + sizeof(Tag);
constexpr size_t kMinUdpFrame = pkt::kEthHeaderLen + 20 + 8 + sizeof(Tag);
constexpr size_t kMaxFrame = 1514;

// Short names for the one byte-order swap (common/byte_order.hpp); it is
// its own inverse, so each serves both ways.
inline uint32_t be32(uint32_t v) {
    return to_be32(v);
}
inline uint16_t be16(uint16_t v) {
    return to_be16(v);
}

inline MacAddr mac_of(uint32_t ip_host) {
    uint8_t kind = ip_host >= kBackendBase ? 0xb0 : 0xc1;
    return MacAddr{0x02,
                   kind,
                   static_cast<uint8_t>(ip_host >> 24),
                   static_cast<uint8_t>(ip_host >> 16),
                   static_cast<uint8_t>(ip_host >> 8),
                   static_cast<uint8_t>(ip_host)};
}

enum class Mix { established, handshake, syn, udp };

struct Shape {
    uint32_t clients = 1000;
    uint32_t vips = 1;
    uint32_t backends = 16;  // per service
    uint32_t flows = 10000;  // concurrent flows (connection slots)
    Mix mix = Mix::established;
    uint32_t frame_size = kMinTcpFrame;
    bool fullnat = true;
    uint32_t snat_ip = kGatewayIp;  // fullnat source address (host order)

    bool tcp() const { return mix != Mix::udp; }
    uint32_t vip_ip(uint32_t service) const { return kVipBase + service; }
    uint32_t backend_ip(uint32_t service, uint32_t b) const {
        return kBackendBase + service * backends + b;
    }
    bool is_backend(uint32_t ip) const {
        return ip >= kBackendBase && ip < kBackendBase + uint64_t{vips} * backends;
    }
    bool is_client(uint32_t ip) const { return ip >= kClientBase && ip < kClientBase + clients; }
    // Service of a backend address (valid when is_backend()).
    uint32_t service_of_backend(uint32_t ip) const { return (ip - kBackendBase) / backends; }
};

// The 5-tuple of connection `generation` of flow slot `slot`. A slot keeps
// its client and service; its source port advances per generation, so
// tuples are distinct for every (slot, generation) until the port space
// wraps.
struct Endpoints {
    uint32_t client_ip;  // host order
    uint16_t client_port;
    uint32_t service;
};
inline uint32_t service_of_slot(const Shape& s, uint32_t slot) {
    return (slot / s.clients) % s.vips;
}
inline Endpoints endpoints_of(const Shape& s, uint32_t slot, uint32_t generation) {
    uint64_t per_pair = uint64_t{s.clients} * s.vips;
    uint64_t k = slot / per_pair;
    uint64_t per_generation = (s.flows + per_pair - 1) / per_pair;
    uint32_t port_span = 65536 - kClientPortLo;
    auto port =
        static_cast<uint16_t>(kClientPortLo + (k + generation * per_generation) % port_span);
    return Endpoints{kClientBase + slot % s.clients, port, service_of_slot(s, slot)};
}

struct FrameSpec {
    MacAddr src_mac;
    MacAddr dst_mac;
    uint32_t src_ip;  // host order
    uint32_t dst_ip;
    uint16_t src_port;  // host order
    uint16_t dst_port;
    bool tcp = true;
    uint8_t tcp_flags = tcp_flag::ack;
    uint32_t seq = 1;
    uint32_t ack = 1;
    uint32_t frame_size = kMinTcpFrame;
    Tag tag{};
};

// Writes a complete frame with valid checksums into `out`; returns its length.
inline size_t build_frame(uint8_t* out, const FrameSpec& f) {
    size_t l4_hdr = f.tcp ? 20 : 8;
    size_t min = pkt::kEthHeaderLen + 20 + l4_hdr + sizeof(Tag);
    size_t len = f.frame_size < min ? min : (f.frame_size > kMaxFrame ? kMaxFrame : f.frame_size);
    std::memset(out, 0, len);
    std::memcpy(out + pkt::hdr::kEthDstOff, f.dst_mac.data(), pkt::kMacLen);
    std::memcpy(out + pkt::hdr::kEthSrcOff, f.src_mac.data(), pkt::kMacLen);
    pkt::store_be16(out + 12, pkt::kEtherTypeIpv4);
    uint8_t* ip = out + pkt::kEthHeaderLen;
    ip[0] = 0x45;
    pkt::store_be16(ip + 2, static_cast<uint16_t>(len - pkt::kEthHeaderLen));
    ip[8] = kTtl;
    ip[9] = f.tcp ? pkt::kProtoTcp : pkt::kProtoUdp;
    pkt::store32(ip + 12, be32(f.src_ip));
    pkt::store32(ip + 16, be32(f.dst_ip));
    uint8_t* l4 = ip + 20;
    pkt::store_be16(l4, f.src_port);
    pkt::store_be16(l4 + 2, f.dst_port);
    if (f.tcp) {
        pkt::store32(l4 + 4, be32(f.seq));
        pkt::store32(l4 + 8, be32(f.ack));
        l4[12] = 5 << 4;
        l4[13] = f.tcp_flags;
        pkt::store_be16(l4 + 14, 65535);
    } else {
        pkt::store_be16(l4 + 4, static_cast<uint16_t>(len - pkt::kEthHeaderLen - 20));
    }
    std::memcpy(l4 + l4_hdr, &f.tag, sizeof f.tag);
    pkt::fill_checksums(ip);
    return len;
}

// Reads the tag of a parsed IPv4 TCP/UDP frame; magic 0 when there is none.
inline Tag read_tag(const uint8_t* frame, const pkt::Parsed& p) {
    Tag t{};
    if (p.payload_length >= sizeof(Tag)) {
        std::memcpy(&t, frame + p.payload_offset, sizeof t);
    }
    if (t.magic != kTagMagic) {
        t.magic = 0;
    }
    return t;
}

// Verification errors, one counter each (X-macro as in worker_counters.hpp).
#define SVCGW_PKTGEN_ERRORS(X)                                                   \
    X(malformed)       /* does not parse as Ethernet/IPv4 TCP/UDP or ARP */      \
    X(bad_checksum)    /* IPv4 header or L4 checksum wrong */                    \
    X(no_tag)          /* payload lost our tag */                                \
    X(unknown_flow)    /* tag names no flow we sent */                           \
    X(bad_l2)          /* wrong source or destination MAC */                     \
    X(bad_ttl)         /* TTL not decremented by exactly one */                  \
    X(wrong_backend)   /* backend not in the flow's service */                   \
    X(wrong_port)      /* target port wrong for the service port */              \
    X(bad_source)      /* source does not match the mode (fullnat/nat) */        \
    X(backend_changed) /* a flow moved while its old backend survives */         \
    X(dead_backend)    /* sent after a change, forwarded to a removed backend */ \
    X(bad_reply)       /* backend->client answer not translated back to VIP */   \
    X(unexpected)      /* a frame to nobody we play */

enum class VerifyError : uint8_t {
#define SVCGW_X(name) name,
    SVCGW_PKTGEN_ERRORS(SVCGW_X)
#undef SVCGW_X
        count
};

constexpr std::array<const char*, static_cast<size_t>(VerifyError::count)> kVerifyErrorNames = {
#define SVCGW_X(name) #name,
    SVCGW_PKTGEN_ERRORS(SVCGW_X)
#undef SVCGW_X
};

// Log-linear latency histogram in nanoseconds: 8 sub-buckets per power of
// two (<= 12.5% relative error), enough for percentiles of a benchmark.
class LatencyHistogram {
public:
    void add(uint64_t ns) {
        ++_count;
        _max = ns > _max ? ns : _max;
        ++_buckets[bucket_of(ns)];
    }
    uint64_t count() const { return _count; }
    uint64_t max() const { return _max; }
    // Upper bound of the bucket holding quantile q (0..1).
    uint64_t quantile(double q) const {
        if (_count == 0) {
            return 0;
        }
        auto want = static_cast<uint64_t>(q * static_cast<double>(_count - 1)) + 1;
        uint64_t seen = 0;
        for (size_t i = 0; i < _buckets.size(); ++i) {
            seen += _buckets[i];
            if (seen >= want) {
                uint64_t top = upper_of(i);
                return top < _max ? top : _max;
            }
        }
        return _max;
    }

private:
    static constexpr unsigned kSub = 3;  // 2^3 sub-buckets per octave
    static size_t bucket_of(uint64_t v) {
        if (v < (1u << kSub)) {
            return static_cast<size_t>(v);
        }
        unsigned log = 63 - static_cast<unsigned>(__builtin_clzll(v));
        uint64_t sub = (v >> (log - kSub)) & ((1u << kSub) - 1);
        return ((log - kSub + 1) << kSub) + sub;
    }
    static uint64_t upper_of(size_t b) {
        if (b < (1u << kSub)) {
            return b;
        }
        unsigned log = static_cast<unsigned>(b >> kSub) + kSub - 1;
        uint64_t sub = b & ((1u << kSub) - 1);
        return (uint64_t{1} << log) + ((sub + 1) << (log - kSub)) - 1;
    }
    std::array<uint64_t, 64 << kSub> _buckets{};
    uint64_t _count = 0;
    uint64_t _max = 0;
};

}  // namespace svcgw::pktgen
