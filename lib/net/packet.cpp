#include "net/packet.hpp"

#include <algorithm>

#include "common/byte_order.hpp"

namespace svcgw::pkt {

using namespace hdr;

namespace {

size_t l4_checksum_offset(uint8_t proto) {
    switch (proto) {
        case kProtoTcp:
            return kTcpChecksumOff;
        case kProtoUdp:
            return kUdpChecksumOff;
        default:
            return kIcmpChecksumOff;
    }
}

// Unfolded sum of the pseudo-header of RFC 793 §3.1 / RFC 768.
uint64_t pseudo_header_sum(const uint8_t* ip, uint8_t proto, uint16_t l4_len) {
    const uint8_t tail[4] = {0, proto, static_cast<uint8_t>(l4_len >> 8),
                             static_cast<uint8_t>(l4_len)};
    return csum_partial(tail, sizeof tail, csum_partial(ip + kIpSrcOff, 8));
}

// RFC 1624 eqn. 3 over several changed fields at once: accumulate ~m + m'
// per 16-bit word, fold once.
class CsumDelta {
public:
    void add32(uint32_t old_v, uint32_t new_v) {
        _sum += uint16_t(~old_v) + uint64_t{uint16_t(~(old_v >> 16))} + uint16_t(new_v) +
                uint16_t(new_v >> 16);
    }
    void add16(uint16_t old_v, uint16_t new_v) { _sum += uint16_t(~old_v) + uint64_t{new_v}; }
    uint16_t apply(uint16_t hc) const {
        return static_cast<uint16_t>(~csum_fold(_sum + uint16_t(~hc)));
    }

private:
    uint64_t _sum = 0;
};

void write_eth(uint8_t* out, const uint8_t* dst, const uint8_t* src, uint16_t type) {
    std::memcpy(out, dst, 6);
    std::memcpy(out + 6, src, 6);
    store_be16(out + 12, type);
}

void write_ipv4_header(uint8_t* ip, uint16_t total_len, uint16_t flags, uint8_t proto,
                       uint32_t src_be, uint32_t dst_be) {
    ip[0] = 0x45;  // version 4, IHL 5
    ip[1] = 0;
    store_be16(ip + kIpTotalLengthOff, total_len);
    store_be16(ip + kIpIdOff, 0);
    store_be16(ip + kIpFragOff, flags);
    ip[kIpTtlOff] = kDefaultTtl;
    ip[kIpProtoOff] = proto;
    store16(ip + kIpChecksumOff, 0);
    store32(ip + kIpSrcOff, src_be);
    store32(ip + kIpDstOff, dst_be);
}

size_t write_arp(std::span<uint8_t> out, const uint8_t* eth_dst, uint16_t op, const MacAddr& sha,
                 uint32_t spa, const uint8_t* tha, uint32_t tpa) {
    if (out.size() < kEthMinFrameLen) {
        return 0;
    }
    uint8_t* f = out.data();
    std::memset(f, 0, kEthMinFrameLen);
    write_eth(f, eth_dst, sha.data(), kEtherTypeArp);
    uint8_t* a = f + kEthHeaderLen;
    store_be16(a + kArpHtypeOff, kArpHtypeEthernet);
    store_be16(a + kArpPtypeOff, kEtherTypeIpv4);
    a[kArpHlenOff] = kMacLen;
    a[kArpPlenOff] = kIpv4AddrLen;
    store_be16(a + kArpOpOff, op);
    std::memcpy(a + kArpSenderMacOff, sha.data(), kMacLen);
    store32(a + kArpSenderIpOff, spa);
    std::memcpy(a + kArpTargetMacOff, tha, kMacLen);
    store32(a + kArpTargetIpOff, tpa);
    return kEthMinFrameLen;
}

constexpr uint8_t kBroadcastMac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr uint8_t kZeroMac[6] = {0, 0, 0, 0, 0, 0};

}  // namespace

std::string_view to_string(Verdict verdict) {
    switch (verdict) {
#define SVCGW_X(name, text) \
    case Verdict::name:     \
        return text;
        SVCGW_FOREACH_PACKET_VERDICT(SVCGW_X)
#undef SVCGW_X
        case Verdict::count_:
            break;
    }
    return "?";
}

uint64_t csum_partial(const uint8_t* data, size_t len, uint64_t sum) {
    // 32-bit loads into a 64-bit accumulator: no carry handling needed
    // below 2^32 words. The raw 32-bit value is two raw 16-bit words.
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        sum += load32(data + i);
    }
    if (i + 2 <= len) {
        sum += load16(data + i);
        i += 2;
    }
    if (i < len) {
        const uint8_t last[2] = {data[i], 0};  // RFC 1071: pad the odd byte with zero
        sum += load16(last);
    }
    return sum;
}

uint16_t ipv4_header_checksum(const uint8_t* ip) {
    const size_t ihl = size_t{ip[0] & 0x0fu} * 4;
    uint64_t sum = csum_partial(ip, kIpChecksumOff);
    sum = csum_partial(ip + kIpChecksumOff + 2, ihl - kIpChecksumOff - 2, sum);
    return static_cast<uint16_t>(~csum_fold(sum));
}

uint16_t l4_checksum(const uint8_t* ip) {
    const size_t ihl = size_t{ip[0] & 0x0fu} * 4;
    const uint16_t l4_len = static_cast<uint16_t>(load_be16(ip + kIpTotalLengthOff) - ihl);
    const uint8_t proto = ip[kIpProtoOff];
    const uint8_t* l4 = ip + ihl;
    const size_t off = l4_checksum_offset(proto);
    uint64_t sum = proto == kProtoIcmp ? 0 : pseudo_header_sum(ip, proto, l4_len);
    sum = csum_partial(l4, off, sum);
    sum = csum_partial(l4 + off + 2, l4_len - off - 2, sum);
    uint16_t csum = static_cast<uint16_t>(~csum_fold(sum));
    if (proto == kProtoUdp && csum == 0) {
        csum = 0xffff;  // RFC 768: a computed 0 is sent as all ones
    }
    return csum;
}

void fill_checksums(uint8_t* ip) {
    store16(ip + kIpChecksumOff, ipv4_header_checksum(ip));
    const size_t ihl = size_t{ip[0] & 0x0fu} * 4;
    store16(ip + ihl + l4_checksum_offset(ip[kIpProtoOff]), l4_checksum(ip));
}

bool ipv4_header_checksum_ok(const uint8_t* ip) {
    const size_t ihl = size_t{ip[0] & 0x0fu} * 4;
    return csum_fold(csum_partial(ip, ihl)) == 0xffff;
}

bool l4_checksum_ok(const uint8_t* ip) {
    const size_t ihl = size_t{ip[0] & 0x0fu} * 4;
    const uint16_t l4_len = static_cast<uint16_t>(load_be16(ip + kIpTotalLengthOff) - ihl);
    const uint8_t proto = ip[kIpProtoOff];
    const uint8_t* l4 = ip + ihl;
    if (proto == kProtoUdp && load16(l4 + kUdpChecksumOff) == 0) {
        return true;  // sender did not compute one
    }
    uint64_t sum = proto == kProtoIcmp ? 0 : pseudo_header_sum(ip, proto, l4_len);
    return csum_fold(csum_partial(l4, l4_len, sum)) == 0xffff;
}

bool l4_checksum_partial(const uint8_t* ip) {
    const uint8_t proto = ip[kIpProtoOff];
    if (proto != kProtoTcp && proto != kProtoUdp) {
        return false;
    }
    const size_t ihl = size_t{ip[0] & 0x0fu} * 4;
    const uint16_t l4_len = static_cast<uint16_t>(load_be16(ip + kIpTotalLengthOff) - ihl);
    const uint16_t stored = load16(ip + ihl + l4_checksum_offset(proto));
    // The sum includes the protocol, so it folds to 1..0xffff; 0 is its
    // other one's-complement spelling of 0xffff (and UDP's "no checksum").
    const uint16_t sum = csum_fold(pseudo_header_sum(ip, proto, l4_len));
    return stored == sum || (proto == kProtoTcp && stored == 0 && sum == 0xffff);
}

void complete_l4_checksum(uint8_t* ip) {
    const size_t ihl = size_t{ip[0] & 0x0fu} * 4;
    store16(ip + ihl + l4_checksum_offset(ip[kIpProtoOff]), l4_checksum(ip));
}

void rewrite_src_dst(uint8_t* frame, const Parsed& p, uint32_t src_ip_be, uint16_t src_port_be,
                     uint32_t dst_ip_be, uint16_t dst_port_be) {
    uint8_t* ip = frame + p.l3_offset;
    uint8_t* l4 = frame + p.l4_offset;
    CsumDelta addr;
    addr.add32(load32(ip + kIpSrcOff), src_ip_be);
    addr.add32(load32(ip + kIpDstOff), dst_ip_be);
    store16(ip + kIpChecksumOff, addr.apply(load16(ip + kIpChecksumOff)));
    store32(ip + kIpSrcOff, src_ip_be);
    store32(ip + kIpDstOff, dst_ip_be);
    if (p.key.proto != kProtoTcp && p.key.proto != kProtoUdp) {
        return;  // ICMP: no pseudo-header, no ports
    }
    // The addresses are in the pseudo-header, so the L4 delta is the
    // address delta plus the ports'.
    CsumDelta l4_delta = addr;
    l4_delta.add16(load16(l4), src_port_be);
    l4_delta.add16(load16(l4 + 2), dst_port_be);
    store16(l4, src_port_be);
    store16(l4 + 2, dst_port_be);
    if (p.key.proto == kProtoTcp) {
        store16(l4 + kTcpChecksumOff, l4_delta.apply(load16(l4 + kTcpChecksumOff)));
        return;
    }
    const uint16_t old = load16(l4 + kUdpChecksumOff);
    if (old != 0) {
        const uint16_t updated = l4_delta.apply(old);
        store16(l4 + kUdpChecksumOff, updated == 0 ? 0xffff : updated);
    }
}

void rewrite_dst(uint8_t* frame, const Parsed& p, uint32_t ip_be, uint16_t port_be) {
    const uint8_t* ip = frame + p.l3_offset;
    const uint8_t* l4 = frame + p.l4_offset;
    const bool ports = p.key.proto == kProtoTcp || p.key.proto == kProtoUdp;
    rewrite_src_dst(frame, p, load32(ip + kIpSrcOff), ports ? load16(l4) : 0, ip_be, port_be);
}

void rewrite_src(uint8_t* frame, const Parsed& p, uint32_t ip_be, uint16_t port_be) {
    const uint8_t* ip = frame + p.l3_offset;
    const uint8_t* l4 = frame + p.l4_offset;
    const bool ports = p.key.proto == kProtoTcp || p.key.proto == kProtoUdp;
    rewrite_src_dst(frame, p, ip_be, port_be, load32(ip + kIpDstOff), ports ? load16(l4 + 2) : 0);
}

Verdict decrement_ttl(uint8_t* frame, const Parsed& p) {
    uint8_t* ip = frame + p.l3_offset;
    if (ip[kIpTtlOff] <= 1) {
        return Verdict::ttl_expired;
    }
    // TTL and protocol share a checksum word. The new word is built in a
    // register: re-reading it after a byte store stalls store forwarding,
    // which cost ~7% of the established-flow path.
    const uint16_t old_word = load16(ip + kIpTtlOff);
    const uint8_t next[2] = {static_cast<uint8_t>(ip[kIpTtlOff] - 1), ip[kIpTtlOff + 1]};
    const uint16_t new_word = load16(next);
    store16(ip + kIpTtlOff, new_word);
    store16(ip + kIpChecksumOff, csum_update16(load16(ip + kIpChecksumOff), old_word, new_word));
    return Verdict::ok;
}

std::optional<IcmpQuote> parse_icmp_quote(const uint8_t* frame, const Parsed& p) {
    if (p.verdict != Verdict::ok || p.l3 != L3::ipv4 || p.key.proto != kProtoIcmp ||
        !is_icmp_error(p.icmp_type)) {
        return std::nullopt;
    }
    const size_t at = p.payload_offset;
    const size_t avail = p.payload_length;
    if (avail < kIpv4MinHeaderLen) {
        return std::nullopt;
    }
    const uint8_t* ip = frame + at;
    const size_t ihl = size_t{ip[0] & 0x0fu} * 4;
    if ((ip[0] >> 4) != 4 || ihl < kIpv4MinHeaderLen || avail < ihl + kIcmpQuoteLen) {
        return std::nullopt;
    }
    const uint8_t proto = ip[kIpProtoOff];
    // A later fragment carries no ports: nothing to match it to.
    if ((proto != kProtoTcp && proto != kProtoUdp) ||
        (load_be16(ip + kIpFragOff) & kIpFragOffsetMask) != 0) {
        return std::nullopt;
    }
    IcmpQuote q;
    q.ip_offset = static_cast<uint16_t>(at);
    q.l4_offset = static_cast<uint16_t>(at + ihl);
    // The quote may be cut short of the quoted total length (it usually is).
    const size_t quoted_total = load_be16(ip + kIpTotalLengthOff);
    const size_t l4_avail = avail - ihl;
    q.l4_length = static_cast<uint16_t>(quoted_total > ihl ? std::min(l4_avail, quoted_total - ihl)
                                                           : l4_avail);
    if (q.l4_length < kIcmpQuoteLen) {
        return std::nullopt;
    }
    const uint8_t* l4 = ip + ihl;
    q.key.src_ip = load32(ip + kIpSrcOff);
    q.key.dst_ip = load32(ip + kIpDstOff);
    q.key.src_port = load16(l4);
    q.key.dst_port = load16(l4 + 2);
    q.key.proto = proto;
    return q;
}

void translate_icmp_error(uint8_t* frame, const Parsed& p, const IcmpQuote& q,
                          uint32_t outer_src_be, uint32_t outer_dst_be, const FlowKey& inner) {
    uint8_t* qip = frame + q.ip_offset;
    uint8_t* ql4 = frame + q.l4_offset;
    // Quoted L4 checksum: incremental over the pseudo-header addresses and
    // the ports, only when it was quoted.
    CsumDelta d;
    d.add32(load32(qip + kIpSrcOff), inner.src_ip);
    d.add32(load32(qip + kIpDstOff), inner.dst_ip);
    d.add16(load16(ql4), inner.src_port);
    d.add16(load16(ql4 + 2), inner.dst_port);
    const size_t csum_off = l4_checksum_offset(q.key.proto);
    if (q.l4_length >= csum_off + 2) {
        const uint16_t old = load16(ql4 + csum_off);
        if (q.key.proto == kProtoTcp) {
            store16(ql4 + csum_off, d.apply(old));
        } else if (old != 0) {
            const uint16_t updated = d.apply(old);
            store16(ql4 + csum_off, updated == 0 ? 0xffff : updated);
        }
    }
    store32(qip + kIpSrcOff, inner.src_ip);
    store32(qip + kIpDstOff, inner.dst_ip);
    store16(ql4, inner.src_port);
    store16(ql4 + 2, inner.dst_port);
    store16(qip + kIpChecksumOff, ipv4_header_checksum(qip));
    // ICMP checksum over the whole message (no pseudo-header).
    uint8_t* ip = frame + p.l3_offset;
    uint8_t* icmp = frame + p.l4_offset;
    const size_t icmp_len = p.ip_total_length - (p.l4_offset - p.l3_offset);
    store16(icmp + kIcmpChecksumOff, 0);
    store16(icmp + kIcmpChecksumOff, internet_checksum(icmp, icmp_len));
    store32(ip + kIpSrcOff, outer_src_be);
    store32(ip + kIpDstOff, outer_dst_be);
    --ip[kIpTtlOff];
    store16(ip + kIpChecksumOff, ipv4_header_checksum(ip));
}

size_t build_arp_reply(std::span<uint8_t> out, const MacAddr& our_mac, uint32_t our_ip_be,
                       const MacAddr& peer_mac, uint32_t peer_ip_be) {
    return write_arp(out, peer_mac.data(), kArpOpReply, our_mac, our_ip_be, peer_mac.data(),
                     peer_ip_be);
}

size_t build_arp_request(std::span<uint8_t> out, const MacAddr& our_mac, uint32_t our_ip_be,
                         uint32_t target_ip_be) {
    return write_arp(out, kBroadcastMac, kArpOpRequest, our_mac, our_ip_be, kZeroMac, target_ip_be);
}

size_t build_gratuitous_arp(std::span<uint8_t> out, const MacAddr& our_mac, uint32_t our_ip_be) {
    return write_arp(out, kBroadcastMac, kArpOpRequest, our_mac, our_ip_be, kZeroMac, our_ip_be);
}

bool make_icmp_echo_reply(uint8_t* frame, const Parsed& p) {
    if (p.verdict != Verdict::ok || p.l3 != L3::ipv4 || p.key.proto != kProtoIcmp ||
        p.icmp_type != kIcmpEchoRequest) {
        return false;
    }
    uint8_t mac[6];
    std::memcpy(mac, frame, 6);
    std::memcpy(frame, frame + 6, 6);
    std::memcpy(frame + 6, mac, 6);

    uint8_t* ip = frame + p.l3_offset;
    // Swapping the addresses leaves the header sum unchanged.
    store32(ip + kIpSrcOff, p.key.dst_ip);
    store32(ip + kIpDstOff, p.key.src_ip);
    const uint16_t old_ttl_word = load16(ip + kIpTtlOff);
    ip[kIpTtlOff] = kDefaultTtl;
    store16(ip + kIpChecksumOff,
            csum_update16(load16(ip + kIpChecksumOff), old_ttl_word, load16(ip + kIpTtlOff)));

    uint8_t* icmp = frame + p.l4_offset;
    const uint16_t old_type_word = load16(icmp);
    icmp[0] = kIcmpEchoReply;
    store16(icmp + kIcmpChecksumOff,
            csum_update16(load16(icmp + kIcmpChecksumOff), old_type_word, load16(icmp)));
    return true;
}

size_t build_tcp_rst(std::span<uint8_t> out, const uint8_t* frame, const Parsed& p) {
    constexpr size_t kLen = kEthHeaderLen + kIpv4MinHeaderLen + kTcpMinHeaderLen;
    static_assert(kLen <= kEthMinFrameLen);
    if (p.verdict != Verdict::ok || p.l3 != L3::ipv4 || p.key.proto != kProtoTcp ||
        (p.tcp_flags & tcp_flag::rst) || out.size() < kEthMinFrameLen) {
        return 0;
    }
    const uint8_t* in_tcp = frame + p.l4_offset;
    uint8_t* f = out.data();
    std::memset(f, 0, kEthMinFrameLen);
    write_eth(f, frame + 6, frame, kEtherTypeIpv4);
    uint8_t* ip = f + kEthHeaderLen;
    write_ipv4_header(ip, kIpv4MinHeaderLen + kTcpMinHeaderLen, kIpFlagDf, kProtoTcp, p.key.dst_ip,
                      p.key.src_ip);
    uint8_t* tcp = ip + kIpv4MinHeaderLen;
    store16(tcp, p.key.dst_port);
    store16(tcp + 2, p.key.src_port);
    if (p.tcp_flags & tcp_flag::ack) {
        // "If the incoming segment has an ACK field, the reset takes its
        // sequence number from the ACK field of the segment."
        store32(tcp + kTcpSeqOff, load32(in_tcp + kTcpAckOff));
        tcp[kTcpFlagsOff] = tcp_flag::rst;
    } else {
        // "...otherwise the reset has sequence number zero and the ACK field
        // is set to the sum of the sequence number and segment length."
        // SYN and FIN each occupy one sequence number.
        uint32_t seg_len = p.payload_length + ((p.tcp_flags & tcp_flag::syn) ? 1u : 0u) +
                           ((p.tcp_flags & tcp_flag::fin) ? 1u : 0u);
        store32(tcp + kTcpSeqOff, 0);
        store32(tcp + kTcpAckOff, to_be32(from_be32(load32(in_tcp + kTcpSeqOff)) + seg_len));
        tcp[kTcpFlagsOff] = tcp_flag::rst | tcp_flag::ack;
    }
    tcp[kTcpDataOffsetOff] = (kTcpMinHeaderLen / 4) << 4;
    fill_checksums(ip);
    return kEthMinFrameLen;
}

size_t build_icmp_port_unreachable(std::span<uint8_t> out, const uint8_t* frame, const Parsed& p,
                                   uint32_t src_ip_be) {
    if (p.verdict != Verdict::ok || p.l3 != L3::ipv4) {
        return 0;
    }
    if (p.key.proto == kProtoIcmp && p.icmp_type != kIcmpEchoRequest &&
        p.icmp_type != kIcmpEchoReply) {
        return 0;  // RFC 1122 §3.2.2: no ICMP error about an ICMP error (or unknown type)
    }
    const uint8_t first_octet = static_cast<uint8_t>(from_be32(p.key.dst_ip) >> 24);
    if (first_octet >= 224 || p.key.dst_ip == 0xffffffffu) {
        return 0;  // RFC 1122 §3.2.2: nor about multicast/broadcast datagrams
    }
    const uint8_t* in_ip = frame + p.l3_offset;
    const size_t ihl = p.l4_offset - p.l3_offset;
    const size_t quote = ihl + std::min<size_t>(kIcmpQuoteLen, p.ip_total_length - ihl);
    const size_t ip_len = kIpv4MinHeaderLen + kIcmpHeaderLen + quote;
    const size_t frame_len = std::max(kEthMinFrameLen, kEthHeaderLen + ip_len);
    if (out.size() < frame_len) {
        return 0;
    }
    uint8_t* f = out.data();
    std::memset(f, 0, frame_len);
    write_eth(f, frame + 6, frame, kEtherTypeIpv4);
    uint8_t* ip = f + kEthHeaderLen;
    write_ipv4_header(ip, static_cast<uint16_t>(ip_len), 0, kProtoIcmp, src_ip_be, p.key.src_ip);
    uint8_t* icmp = ip + kIpv4MinHeaderLen;
    icmp[0] = kIcmpDestUnreachable;
    icmp[1] = kIcmpPortUnreachable;
    // Bytes 4..7 stay zero ("unused" in RFC 792).
    std::memcpy(icmp + kIcmpHeaderLen, in_ip, quote);
    fill_checksums(ip);
    return frame_len;
}

uint32_t toeplitz_hash(const RssKey& key, std::span<const uint8_t> input) {
    constexpr size_t kMaxInput = 36;  // 40-byte key minus the 4-byte window
    const size_t n = std::min(input.size(), kMaxInput);
    uint32_t window = load_be32(key.data());
    uint32_t result = 0;
    for (size_t i = 0; i < n; ++i) {
        for (int bit = 7; bit >= 0; --bit) {
            if ((input[i] >> bit) & 1) {
                result ^= window;
            }
            // Slide the window one key bit to the left.
            const size_t next = 32 + i * 8 + (7 - bit);
            window = window << 1 | ((key[next / 8] >> (7 - next % 8)) & 1);
        }
    }
    return result;
}

Toeplitz::Toeplitz(const RssKey& key) {
    uint8_t input[kPositions] = {};
    for (size_t pos = 0; pos < kPositions; ++pos) {
        for (uint32_t v = 0; v < 256; ++v) {
            input[pos] = static_cast<uint8_t>(v);
            _table[pos][v] = toeplitz_hash(key, input);
        }
        input[pos] = 0;
    }
}

uint32_t Toeplitz::hash_ipv4(uint32_t src_ip_be, uint32_t dst_ip_be) const {
    const auto* s = reinterpret_cast<const uint8_t*>(&src_ip_be);
    const auto* d = reinterpret_cast<const uint8_t*>(&dst_ip_be);
    return _table[0][s[0]] ^ _table[1][s[1]] ^ _table[2][s[2]] ^ _table[3][s[3]] ^ _table[4][d[0]] ^
           _table[5][d[1]] ^ _table[6][d[2]] ^ _table[7][d[3]];
}

}  // namespace svcgw::pkt
