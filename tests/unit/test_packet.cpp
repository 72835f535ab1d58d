// Packet stage guarantees: every parse verdict, incremental checksums equal
// full recomputation (property test, fixed seed), UDP zero-checksum rules,
// TTL, reply builders (fields + valid checksums), Toeplitz against the
// published RSS verification vectors, and the RSS port chooser.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include "net/packet.hpp"

namespace svcgw::pkt {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr MacAddr kMacA = {0x02, 0x00, 0x00, 0x00, 0x00, 0x0a};
constexpr MacAddr kMacB = {0x02, 0x00, 0x00, 0x00, 0x00, 0x0b};

uint32_t ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return htonl(uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d);
}

struct Spec {
    uint8_t proto = kProtoTcp;
    uint32_t src = ip(10, 1, 0, 1);
    uint32_t dst = ip(10, 96, 0, 20);
    uint16_t sport = 40000;  // host order in the spec, written big-endian
    uint16_t dport = 80;
    uint8_t tcp_flags = tcp_flag::ack;
    uint32_t seq = 1000;
    uint32_t ack = 2000;
    size_t payload = 0;
    uint8_t ttl = 64;
    size_t ip_options = 0;  // bytes, multiple of 4
    uint8_t icmp_type = kIcmpEchoRequest;
};

// Ethernet + IPv4 (+ options) + TCP/UDP/ICMP/other + payload, valid checksums.
Bytes make_frame(const Spec& s) {
    size_t l4_hdr = s.proto == kProtoTcp ? kTcpMinHeaderLen : 8;
    size_t ihl = kIpv4MinHeaderLen + s.ip_options;
    Bytes f(kEthHeaderLen + ihl + l4_hdr + s.payload, 0);
    std::memcpy(f.data(), kMacB.data(), 6);
    std::memcpy(f.data() + 6, kMacA.data(), 6);
    store_be16(f.data() + 12, kEtherTypeIpv4);
    uint8_t* iph = f.data() + kEthHeaderLen;
    iph[0] = static_cast<uint8_t>(0x40 | ihl / 4);
    store_be16(iph + 2, static_cast<uint16_t>(ihl + l4_hdr + s.payload));
    store_be16(iph + 4, 0x1234);
    iph[8] = s.ttl;
    iph[9] = s.proto;
    store32(iph + 12, s.src);
    store32(iph + 16, s.dst);
    for (size_t i = 0; i < s.ip_options; ++i) {
        iph[kIpv4MinHeaderLen + i] = 1;  // NOP options
    }
    uint8_t* l4 = iph + ihl;
    if (s.proto == kProtoTcp || s.proto == kProtoUdp) {
        store_be16(l4, s.sport);
        store_be16(l4 + 2, s.dport);
    }
    if (s.proto == kProtoTcp) {
        store_be16(l4 + 4, static_cast<uint16_t>(s.seq >> 16));
        store_be16(l4 + 6, static_cast<uint16_t>(s.seq));
        store_be16(l4 + 8, static_cast<uint16_t>(s.ack >> 16));
        store_be16(l4 + 10, static_cast<uint16_t>(s.ack));
        l4[12] = 5 << 4;
        l4[13] = s.tcp_flags;
        store_be16(l4 + 14, 65535);
    } else if (s.proto == kProtoUdp) {
        store_be16(l4 + 4, static_cast<uint16_t>(8 + s.payload));
    } else if (s.proto == kProtoIcmp) {
        l4[0] = s.icmp_type;
        store_be16(l4 + 4, 0x77);  // identifier
        store_be16(l4 + 6, 1);     // sequence
    }
    for (size_t i = 0; i < s.payload; ++i) {
        l4[l4_hdr + i] = static_cast<uint8_t>(i * 7 + 3);
    }
    if (s.proto == kProtoTcp || s.proto == kProtoUdp || s.proto == kProtoIcmp) {
        fill_checksums(iph);
    } else {
        store16(iph + 10, ipv4_header_checksum(iph));
    }
    return f;
}

uint8_t* iph(Bytes& f) {
    return f.data() + kEthHeaderLen;
}

struct ParseCase {
    const char* description;
    Bytes frame;
    bool verify_checksum;
    Verdict verdict;
};

Bytes with(Bytes f, size_t offset, std::initializer_list<uint8_t> bytes) {
    std::copy(bytes.begin(), bytes.end(), f.begin() + static_cast<long>(offset));
    return f;
}
Bytes resized(Bytes f, size_t n) {
    f.resize(n);
    return f;
}
Bytes arp_frame() {
    Bytes f(kEthMinFrameLen);
    EXPECT_EQ(build_arp_request(f, kMacA, ip(10, 99, 0, 1), ip(10, 99, 0, 11)), kEthMinFrameLen);
    return f;
}

TEST(Parse, EveryVerdict) {
    const size_t ip0 = kEthHeaderLen;
    const size_t l40 = kEthHeaderLen + kIpv4MinHeaderLen;
    Spec tcp;
    Spec udp;
    udp.proto = kProtoUdp;
    udp.payload = 10;
    Spec icmp;
    icmp.proto = kProtoIcmp;
    Spec gre;
    gre.proto = 47;
    gre.payload = 4;
    const Bytes t = make_frame(tcp);
    const Bytes u = make_frame(udp);
    const ParseCase cases[] = {
        {"tcp", t, true, Verdict::ok},
        {"udp", u, true, Verdict::ok},
        {"icmp echo", make_frame(icmp), true, Verdict::ok},
        {"arp", arp_frame(), false, Verdict::ok},
        {"link padding after the datagram", resized(t, t.size() + 6), true, Verdict::ok},
        {"shorter than ethernet", resized(t, 13), false, Verdict::truncated},
        {"arp body cut", resized(arp_frame(), kEthHeaderLen + kArpBodyLen - 1), false,
         Verdict::truncated},
        {"ipv4 header cut", resized(t, ip0 + 19), false, Verdict::truncated},
        {"802.1Q tag", with(t, 12, {0x81, 0x00}), false, Verdict::vlan_tagged},
        {"802.1ad tag", with(t, 12, {0x88, 0xa8}), false, Verdict::vlan_tagged},
        {"ipv6", with(t, 12, {0x86, 0xdd}), false, Verdict::unsupported_ethertype},
        {"arp, not ethernet hardware", with(arp_frame(), ip0, {0x00, 0x06}), false,
         Verdict::bad_arp},
        {"arp, unknown opcode", with(arp_frame(), ip0 + 6, {0x00, 0x03}), false, Verdict::bad_arp},
        {"version 6 in an ipv4 ethertype", with(t, ip0, {0x65}), false, Verdict::bad_ip_version},
        {"ihl 4", with(t, ip0, {0x44}), false, Verdict::bad_ihl},
        {"ihl beyond the frame", with(t, ip0, {0x4f}), false, Verdict::bad_ihl},
        {"total length < header", with(t, ip0 + 2, {0x00, 0x13}), false, Verdict::bad_total_length},
        {"total length > frame", with(t, ip0 + 2, {0x05, 0xdc}), false, Verdict::bad_total_length},
        {"bad header checksum, verified", with(t, ip0 + 10, {0xde, 0xad}), true,
         Verdict::bad_ip_checksum},
        {"bad header checksum, not verified", with(t, ip0 + 10, {0xde, 0xad}), false, Verdict::ok},
        {"more fragments", with(t, ip0 + 6, {0x20, 0x00}), false, Verdict::fragment},
        {"fragment offset", with(t, ip0 + 6, {0x00, 0x10}), false, Verdict::fragment},
        {"don't fragment is fine", with(t, ip0 + 6, {0x40, 0x00}), false, Verdict::ok},
        {"gre", make_frame(gre), true, Verdict::unsupported_l4},
        {"tcp header cut by total length", with(t, ip0 + 2, {0x00, 0x1e}), false,
         Verdict::truncated_l4},
        {"udp header cut", with(u, ip0 + 2, {0x00, 0x1b}), false, Verdict::truncated_l4},
        {"tcp data offset 4", with(t, l40 + 12, {0x40}), false, Verdict::bad_tcp_offset},
        {"tcp data offset beyond segment", with(t, l40 + 12, {0x60}), false,
         Verdict::bad_tcp_offset},
        {"udp length 7", with(u, l40 + 4, {0x00, 0x07}), false, Verdict::bad_udp_length},
        {"udp length > ip payload", with(u, l40 + 4, {0x00, 0x13}), false, Verdict::bad_udp_length},
    };
    for (const auto& c : cases) {
        Parsed p = parse(c.frame.data(), c.frame.size(), c.verify_checksum);
        EXPECT_EQ(p.verdict, c.verdict) << c.description << ": got " << to_string(p.verdict)
                                        << ", want " << to_string(c.verdict);
    }
}

TEST(Parse, VerdictNamesAreUnique) {
    std::set<std::string_view> names;
    for (size_t i = 0; i < kVerdictCount; ++i) {
        EXPECT_TRUE(names.insert(to_string(static_cast<Verdict>(i))).second);
    }
    EXPECT_EQ(to_string(Verdict::bad_ihl), "bad_ihl");
}

TEST(Parse, FillsOffsetsAndTuple) {
    Spec s;
    s.tcp_flags = tcp_flag::syn;
    s.payload = 5;
    s.ip_options = 4;
    s.ttl = 9;
    Bytes f = make_frame(s);
    Parsed p = parse(f.data(), f.size(), true);
    ASSERT_EQ(p.verdict, Verdict::ok);
    EXPECT_EQ(p.l3, L3::ipv4);
    EXPECT_EQ(p.l3_offset, 14);
    EXPECT_EQ(p.l4_offset, 14 + 24);
    EXPECT_EQ(p.payload_offset, 14 + 24 + 20);
    EXPECT_EQ(p.payload_length, 5);
    EXPECT_EQ(p.ip_total_length, 24 + 20 + 5);
    EXPECT_EQ(p.ttl, 9);
    EXPECT_EQ(p.tcp_flags, tcp_flag::syn);
    EXPECT_EQ(p.key.src_ip, s.src);
    EXPECT_EQ(p.key.dst_ip, s.dst);
    EXPECT_EQ(p.key.src_port, htons(s.sport));
    EXPECT_EQ(p.key.dst_port, htons(s.dport));
    EXPECT_EQ(p.key.proto, kProtoTcp);

    Bytes a = arp_frame();
    Parsed q = parse(a.data(), a.size());
    ASSERT_EQ(q.verdict, Verdict::ok);
    EXPECT_EQ(q.l3, L3::arp);
    EXPECT_EQ(q.arp_op, kArpOpRequest);
    EXPECT_EQ(q.key.src_ip, ip(10, 99, 0, 1));
    EXPECT_EQ(q.key.dst_ip, ip(10, 99, 0, 11));
}

TEST(Checksum, Rfc1071Example) {
    // RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (before
    // complement), in big-endian words.
    const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    uint16_t raw = csum_fold(csum_partial(data, sizeof data));
    uint8_t be[2];
    store16(be, raw);
    EXPECT_EQ(load_be16(be), 0xddf2);
    // Odd length: the last byte is the high byte of a zero-padded word.
    const uint8_t odd[] = {0x01};
    store16(be, csum_fold(csum_partial(odd, 1)));
    EXPECT_EQ(load_be16(be), 0x0100);
}

TEST(Checksum, IncrementalEqualsFullAfterRandomRewrites) {
    std::mt19937 rng(20240601);  // fixed seed: reproducible
    for (int i = 0; i < 20000; ++i) {
        Spec s;
        s.proto = rng() % 2 ? kProtoTcp : kProtoUdp;
        s.src = rng();
        s.dst = rng();
        s.sport = static_cast<uint16_t>(rng());
        s.dport = static_cast<uint16_t>(rng());
        s.payload = rng() % 64;
        s.ip_options = (rng() % 3) * 4;
        s.ttl = static_cast<uint8_t>(2 + rng() % 250);
        Bytes f = make_frame(s);
        Parsed p = parse(f.data(), f.size(), true);
        ASSERT_EQ(p.verdict, Verdict::ok);
        uint32_t nsrc = rng(), ndst = rng();
        uint16_t nsport = static_cast<uint16_t>(rng()), ndport = static_cast<uint16_t>(rng());
        switch (rng() % 3) {
            case 0:
                rewrite_dst(f.data(), p, ndst, ndport);
                nsrc = s.src;
                nsport = htons(s.sport);
                break;
            case 1:
                rewrite_src(f.data(), p, nsrc, nsport);
                ndst = s.dst;
                ndport = htons(s.dport);
                break;
            default:
                rewrite_src_dst(f.data(), p, nsrc, nsport, ndst, ndport);
                break;
        }
        ASSERT_EQ(decrement_ttl(f.data(), p), Verdict::ok);
        uint8_t* h = iph(f);
        uint8_t* l4 = h + (p.l4_offset - p.l3_offset);
        const size_t csum_off = s.proto == kProtoTcp ? 16 : 6;
        ASSERT_EQ(load16(h + 10), ipv4_header_checksum(h)) << i;
        ASSERT_EQ(load16(l4 + csum_off), l4_checksum(h)) << i;
        ASSERT_TRUE(ipv4_header_checksum_ok(h));
        ASSERT_TRUE(l4_checksum_ok(h));
        Parsed after = parse(f.data(), f.size(), true);
        ASSERT_EQ(after.verdict, Verdict::ok);
        EXPECT_EQ(after.key.src_ip, nsrc);
        EXPECT_EQ(after.key.dst_ip, ndst);
        EXPECT_EQ(after.key.src_port, nsport);
        EXPECT_EQ(after.key.dst_port, ndport);
        EXPECT_EQ(after.ttl, s.ttl - 1);
    }
}

TEST(Checksum, UdpZeroChecksumIsLeftAlone) {
    Spec s;
    s.proto = kProtoUdp;
    s.payload = 12;
    Bytes f = make_frame(s);
    uint8_t* l4 = iph(f) + kIpv4MinHeaderLen;
    store16(l4 + 6, 0);  // sender did not compute a checksum
    Parsed p = parse(f.data(), f.size(), true);
    rewrite_src_dst(f.data(), p, ip(10, 99, 0, 1), htons(61000), ip(10, 99, 0, 11), htons(8080));
    EXPECT_EQ(load16(l4 + 6), 0);
    EXPECT_TRUE(ipv4_header_checksum_ok(iph(f)));
    EXPECT_TRUE(l4_checksum_ok(iph(f)));
}

TEST(Checksum, UdpChecksumThatBecomesZeroIsSentAsAllOnes) {
    Spec s;
    s.proto = kProtoUdp;
    s.payload = 3;
    const Bytes original = make_frame(s);
    const Parsed p = parse(original.data(), original.size(), true);
    ASSERT_EQ(p.verdict, Verdict::ok);
    // Over every destination port exactly one makes the one's-complement sum
    // all ones, i.e. a computed checksum of 0; it must be stored as 0xFFFF,
    // and no port may leave 0 (which would mean "no checksum").
    int all_ones = 0;
    for (uint32_t port = 0; port <= 0xffff; ++port) {
        Bytes f = original;
        rewrite_dst(f.data(), p, s.dst, htons(static_cast<uint16_t>(port)));
        const uint16_t stored = load16(iph(f) + kIpv4MinHeaderLen + 6);
        ASSERT_NE(stored, 0) << port;
        if (stored == 0xffff) {
            ++all_ones;
            EXPECT_TRUE(l4_checksum_ok(iph(f)));
            EXPECT_EQ(l4_checksum(iph(f)), 0xffff);
        }
    }
    EXPECT_EQ(all_ones, 1);
}

// What Linux leaves in the field with tx checksum offload on
// (CHECKSUM_PARTIAL): the folded pseudo-header sum, not complemented,
// written here from the RFC 793/768 definition, not from packet.cpp.
void make_partial(Bytes& f) {
    uint8_t* ip = iph(f);
    const size_t ihl = size_t{ip[0] & 0x0fu} * 4;
    const uint16_t l4_len = static_cast<uint16_t>(load_be16(ip + 2) - ihl);
    uint32_t sum = load_be16(ip + 12) + load_be16(ip + 14) + load_be16(ip + 16) +
                   load_be16(ip + 18) + ip[9] + l4_len;
    while (sum > 0xffff) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    store_be16(ip + ihl + (ip[9] == kProtoTcp ? 16 : 6), static_cast<uint16_t>(sum));
}

TEST(Checksum, PartialChecksumsAreRecognisedAndCompleted) {
    struct Case {
        const char* description;
        Spec spec;
    };
    Spec tcp_syn;
    tcp_syn.tcp_flags = tcp_flag::syn;
    Spec tcp_data;
    tcp_data.payload = 100;
    Spec udp_odd;
    udp_odd.proto = kProtoUdp;
    udp_odd.payload = 3;
    Spec tcp_options;
    tcp_options.ip_options = 8;
    tcp_options.payload = 10;
    const Case cases[] = {{"TCP SYN", tcp_syn},
                          {"TCP with payload", tcp_data},
                          {"UDP, odd length", udp_odd},
                          {"TCP, IP options", tcp_options}};
    for (const Case& c : cases) {
        SCOPED_TRACE(c.description);
        Bytes good = make_frame(c.spec);
        EXPECT_FALSE(l4_checksum_partial(iph(good))) << "a finished checksum";
        Bytes partial = good;
        make_partial(partial);
        EXPECT_FALSE(l4_checksum_ok(iph(partial)));
        EXPECT_TRUE(l4_checksum_partial(iph(partial)));
        complete_l4_checksum(iph(partial));
        EXPECT_EQ(partial, good) << "completed = what the sender's NIC would have sent";
        Bytes corrupt = good;
        corrupt.back() ^= 0x5a;
        EXPECT_FALSE(l4_checksum_partial(iph(corrupt))) << "a wrong checksum stays wrong";
    }
    // A UDP checksum of 0 means "none" (RFC 768), never "partial".
    Bytes none = make_frame(udp_odd);
    store16(iph(none) + kIpv4MinHeaderLen + 6, 0);
    EXPECT_FALSE(l4_checksum_partial(iph(none)));
    // ICMP has no pseudo-header and no offload.
    Spec icmp;
    icmp.proto = kProtoIcmp;
    Bytes echo = make_frame(icmp);
    EXPECT_FALSE(l4_checksum_partial(iph(echo)));
}

TEST(Ttl, DecrementsOrExpires) {
    struct Case {
        uint8_t ttl;
        Verdict verdict;
        uint8_t after;
    };
    for (const Case& c : {Case{64, Verdict::ok, 63}, Case{2, Verdict::ok, 1},
                          Case{1, Verdict::ttl_expired, 1}, Case{0, Verdict::ttl_expired, 0}}) {
        Spec s;
        s.ttl = c.ttl;
        Bytes f = make_frame(s);
        const Bytes before = f;
        Parsed p = parse(f.data(), f.size(), true);
        EXPECT_EQ(decrement_ttl(f.data(), p), c.verdict);
        EXPECT_EQ(iph(f)[8], c.after);
        EXPECT_TRUE(ipv4_header_checksum_ok(iph(f)));
        if (c.verdict != Verdict::ok) {
            EXPECT_EQ(f, before);
        }
    }
}

TEST(Rewrite, IcmpChangesAddressesOnly) {
    Spec s;
    s.proto = kProtoIcmp;
    s.payload = 20;
    Bytes f = make_frame(s);
    Parsed p = parse(f.data(), f.size(), true);
    const Bytes icmp_before(f.begin() + p.l4_offset, f.end());
    rewrite_src_dst(f.data(), p, ip(1, 2, 3, 4), 0, ip(5, 6, 7, 8), 0);
    EXPECT_EQ(Bytes(f.begin() + p.l4_offset, f.end()), icmp_before);
    EXPECT_EQ(load32(iph(f) + 12), ip(1, 2, 3, 4));
    EXPECT_TRUE(ipv4_header_checksum_ok(iph(f)));
    EXPECT_TRUE(l4_checksum_ok(iph(f)));
}

TEST(Builders, ArpFrames) {
    Bytes out(kEthMinFrameLen);
    const uint32_t our = ip(10, 99, 0, 1), peer = ip(10, 99, 0, 11);
    ASSERT_EQ(build_arp_reply(out, kMacA, our, kMacB, peer), kEthMinFrameLen);
    Parsed p = parse(out.data(), out.size());
    ASSERT_EQ(p.verdict, Verdict::ok);
    EXPECT_EQ(p.arp_op, kArpOpReply);
    EXPECT_EQ(p.key.src_ip, our);
    EXPECT_EQ(p.key.dst_ip, peer);
    EXPECT_TRUE(std::equal(kMacB.begin(), kMacB.end(), out.begin()));            // eth dst
    EXPECT_TRUE(std::equal(kMacA.begin(), kMacA.end(), out.begin() + 6));        // eth src
    EXPECT_TRUE(std::equal(kMacA.begin(), kMacA.end(), out.begin() + 14 + 8));   // sha
    EXPECT_TRUE(std::equal(kMacB.begin(), kMacB.end(), out.begin() + 14 + 18));  // tha

    ASSERT_EQ(build_arp_request(out, kMacA, our, peer), kEthMinFrameLen);
    p = parse(out.data(), out.size());
    EXPECT_EQ(p.arp_op, kArpOpRequest);
    EXPECT_EQ(p.key.dst_ip, peer);
    EXPECT_TRUE(std::all_of(out.begin(), out.begin() + 6, [](uint8_t b) { return b == 0xff; }));
    EXPECT_TRUE(std::all_of(out.begin() + 32, out.begin() + 38, [](uint8_t b) { return b == 0; }));

    ASSERT_EQ(build_gratuitous_arp(out, kMacA, our), kEthMinFrameLen);
    p = parse(out.data(), out.size());
    EXPECT_EQ(p.arp_op, kArpOpRequest);
    EXPECT_EQ(p.key.src_ip, our);
    EXPECT_EQ(p.key.dst_ip, our);

    Bytes small(kEthMinFrameLen - 1);
    EXPECT_EQ(build_arp_reply(small, kMacA, our, kMacB, peer), 0u);
}

TEST(Builders, IcmpEchoReplyInPlace) {
    Spec s;
    s.proto = kProtoIcmp;
    s.payload = 33;  // odd length exercises the padded checksum
    s.ttl = 3;
    Bytes f = make_frame(s);
    Parsed p = parse(f.data(), f.size(), true);
    ASSERT_TRUE(make_icmp_echo_reply(f.data(), p));
    Parsed r = parse(f.data(), f.size(), true);
    ASSERT_EQ(r.verdict, Verdict::ok);
    EXPECT_EQ(r.icmp_type, kIcmpEchoReply);
    EXPECT_EQ(r.key.src_ip, s.dst);
    EXPECT_EQ(r.key.dst_ip, s.src);
    EXPECT_EQ(r.ttl, kDefaultTtl);
    EXPECT_TRUE(std::equal(kMacA.begin(), kMacA.end(), f.begin()));
    EXPECT_TRUE(l4_checksum_ok(iph(f)));
    EXPECT_EQ(load16(f.data() + r.l4_offset + 2), l4_checksum(iph(f)));

    Spec u;
    u.proto = kProtoUdp;
    Bytes g = make_frame(u);
    const Bytes before = g;
    EXPECT_FALSE(make_icmp_echo_reply(g.data(), parse(g.data(), g.size())));
    EXPECT_EQ(g, before);
    Spec reply = s;
    reply.icmp_type = kIcmpEchoReply;
    Bytes h = make_frame(reply);
    EXPECT_FALSE(make_icmp_echo_reply(h.data(), parse(h.data(), h.size())));
}

struct RstCase {
    const char* description;
    uint8_t flags;
    uint32_t seq;
    uint32_t ack;
    size_t payload;
    size_t want_len;  // 0 = no RST
    uint32_t want_seq;
    uint32_t want_ack;
    uint8_t want_flags;
};

TEST(Builders, TcpRstFollowsRfc793) {
    using namespace tcp_flag;
    const RstCase cases[] = {
        {"syn", syn, 1000, 0, 0, 60, 0, 1001, rst | ack},
        {"syn with data", syn, 1000, 0, 7, 60, 0, 1008, rst | ack},
        {"fin without ack", fin, 50, 0, 10, 60, 0, 61, rst | ack},
        {"sequence wraps", syn, 0xffffffff, 0, 0, 60, 0, 0, rst | ack},
        {"ack carries the sequence", ack, 5, 777, 100, 60, 777, 0, rst},
        {"syn-ack", syn | ack, 5, 888, 0, 60, 888, 0, rst},
        {"never answer a rst", rst, 5, 0, 0, 0, 0, 0, 0},
        {"nor a rst-ack", rst | ack, 5, 9, 0, 0, 0, 0, 0},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.description);
        Spec s;
        s.tcp_flags = c.flags;
        s.seq = c.seq;
        s.ack = c.ack;
        s.payload = c.payload;
        Bytes in = make_frame(s);
        Parsed p = parse(in.data(), in.size(), true);
        ASSERT_EQ(p.verdict, Verdict::ok);
        Bytes out(128);
        size_t len = build_tcp_rst(out, in.data(), p);
        ASSERT_EQ(len, c.want_len);
        if (len == 0) {
            continue;
        }
        Parsed r = parse(out.data(), len, true);
        ASSERT_EQ(r.verdict, Verdict::ok);
        EXPECT_EQ(r.key.src_ip, s.dst);
        EXPECT_EQ(r.key.dst_ip, s.src);
        EXPECT_EQ(r.key.src_port, htons(s.dport));
        EXPECT_EQ(r.key.dst_port, htons(s.sport));
        EXPECT_EQ(r.tcp_flags, c.want_flags);
        EXPECT_EQ(r.payload_length, 0);
        const uint8_t* tcp = out.data() + r.l4_offset;
        EXPECT_EQ(ntohl(load32(tcp + 4)), c.want_seq);
        EXPECT_EQ(ntohl(load32(tcp + 8)), c.want_ack);
        EXPECT_TRUE(std::equal(kMacA.begin(), kMacA.end(), out.begin()));  // back to the sender
        EXPECT_TRUE(std::equal(kMacB.begin(), kMacB.end(), out.begin() + 6));
        EXPECT_TRUE(l4_checksum_ok(out.data() + kEthHeaderLen));
    }
    Spec s;
    Bytes in = make_frame(s);
    Bytes small(59);
    EXPECT_EQ(build_tcp_rst(small, in.data(), parse(in.data(), in.size())), 0u);
    Spec u;
    u.proto = kProtoUdp;
    Bytes udp = make_frame(u);
    Bytes out(128);
    EXPECT_EQ(build_tcp_rst(out, udp.data(), parse(udp.data(), udp.size())), 0u);
}

TEST(Builders, IcmpPortUnreachableQuotesHeaderAnd8Bytes) {
    const uint32_t vip = ip(10, 96, 0, 20);
    for (size_t options : {size_t{0}, size_t{8}}) {
        Spec s;
        s.proto = kProtoUdp;
        s.dst = vip;
        s.payload = 40;
        s.ip_options = options;
        Bytes in = make_frame(s);
        Parsed p = parse(in.data(), in.size(), true);
        Bytes out(256);
        size_t len = build_icmp_port_unreachable(out, in.data(), p, vip);
        const size_t quote = 20 + options + 8;
        ASSERT_EQ(len, std::max<size_t>(60, 14 + 20 + 8 + quote));
        Parsed r = parse(out.data(), len, true);
        ASSERT_EQ(r.verdict, Verdict::ok);
        EXPECT_EQ(r.key.proto, kProtoIcmp);
        EXPECT_EQ(r.icmp_type, kIcmpDestUnreachable);
        EXPECT_EQ(r.icmp_code, kIcmpPortUnreachable);
        EXPECT_EQ(r.key.src_ip, vip);
        EXPECT_EQ(r.key.dst_ip, s.src);
        EXPECT_EQ(r.payload_length, quote);
        EXPECT_EQ(load32(out.data() + r.l4_offset + 4), 0u);  // unused
        EXPECT_TRUE(std::equal(in.begin() + 14, in.begin() + 14 + static_cast<long>(quote),
                               out.begin() + r.payload_offset));
        EXPECT_TRUE(l4_checksum_ok(out.data() + kEthHeaderLen));
        EXPECT_TRUE(std::equal(kMacA.begin(), kMacA.end(), out.begin()));
    }
    // Short datagram: quote only what exists.
    Spec tiny;
    tiny.proto = kProtoUdp;
    Bytes in = make_frame(tiny);
    Bytes out(256);
    Parsed p = parse(in.data(), in.size());
    EXPECT_EQ(build_icmp_port_unreachable(out, in.data(), p, vip), 14u + 20 + 8 + 28);

    // Never about ICMP errors or multicast; echo requests are fine.
    Spec err;
    err.proto = kProtoIcmp;
    err.icmp_type = kIcmpDestUnreachable;
    Bytes e = make_frame(err);
    EXPECT_EQ(build_icmp_port_unreachable(out, e.data(), parse(e.data(), e.size()), vip), 0u);
    Spec echo = err;
    echo.icmp_type = kIcmpEchoRequest;
    Bytes ec = make_frame(echo);
    EXPECT_GT(build_icmp_port_unreachable(out, ec.data(), parse(ec.data(), ec.size()), vip), 0u);
    Spec mc;
    mc.proto = kProtoUdp;
    mc.dst = ip(239, 1, 1, 1);
    Bytes m = make_frame(mc);
    EXPECT_EQ(build_icmp_port_unreachable(out, m.data(), parse(m.data(), m.size()), vip), 0u);
    Bytes small(40);
    EXPECT_EQ(build_icmp_port_unreachable(small, in.data(), p, vip), 0u);
}

// Microsoft RSS specification, "Verifying the RSS Hash Calculation": the
// default key, IPv4 source/destination address and port, and the expected
// IPv4-only and IPv4-with-TCP hashes (the same table is in Intel's 82599
// datasheet §7.1.2.8.3 "RSS Verification Suite").
struct RssVector {
    uint32_t src;
    uint16_t sport;
    uint32_t dst;
    uint16_t dport;
    uint32_t ipv4;
    uint32_t ipv4_tcp;
};
const RssVector kRssVectors[] = {
    {ip(66, 9, 149, 187), 2794, ip(161, 142, 100, 80), 1766, 0x323e8fc2, 0x51ccc178},
    {ip(199, 92, 111, 2), 14230, ip(65, 69, 140, 83), 4739, 0xd718262a, 0xc626b0ea},
    {ip(24, 19, 198, 95), 12898, ip(12, 22, 207, 184), 38024, 0xd2d0a5de, 0x5c2b394a},
    {ip(38, 27, 205, 30), 48228, ip(209, 142, 163, 6), 2217, 0x82989176, 0xafc7327f},
    {ip(153, 39, 163, 191), 44251, ip(202, 188, 127, 2), 1303, 0x5d1809c5, 0x10e828a2},
};

TEST(Toeplitz, MatchesTheRssVerificationVectors) {
    const Toeplitz fast(kRssDefaultKey);
    for (const auto& v : kRssVectors) {
        uint8_t input[12];
        store32(input, v.src);
        store32(input + 4, v.dst);
        store_be16(input + 8, v.sport);
        store_be16(input + 10, v.dport);
        EXPECT_EQ(toeplitz_hash(kRssDefaultKey, std::span(input, 8)), v.ipv4);
        EXPECT_EQ(toeplitz_hash(kRssDefaultKey, std::span(input, 12)), v.ipv4_tcp);
        EXPECT_EQ(fast.hash_ipv4(v.src, v.dst), v.ipv4);
        EXPECT_EQ(fast.hash_ipv4_l4(v.src, v.dst, htons(v.sport), htons(v.dport)), v.ipv4_tcp);
    }
}

TEST(Toeplitz, TableMatchesReferenceOnRandomInputsAndKeys) {
    std::mt19937 rng(7);
    for (int k = 0; k < 4; ++k) {
        RssKey key;
        for (auto& b : key) {
            b = static_cast<uint8_t>(rng());
        }
        const Toeplitz fast(key);
        for (int i = 0; i < 2000; ++i) {
            uint8_t input[12];
            for (auto& b : input) {
                b = static_cast<uint8_t>(rng());
            }
            EXPECT_EQ(fast.hash_ipv4_l4(load32(input), load32(input + 4), load16(input + 8),
                                        load16(input + 10)),
                      toeplitz_hash(key, input));
        }
    }
}

TEST(Toeplitz, PortChooserHitsTheWantedQueue) {
    const Toeplitz rss(kRssDefaultKey);
    std::mt19937 rng(99);
    constexpr uint16_t kQueues = 4;
    std::vector<uint16_t> reta(128);
    for (size_t i = 0; i < reta.size(); ++i) {
        reta[i] = static_cast<uint16_t>(i % kQueues);
    }
    for (int i = 0; i < 2000; ++i) {
        const uint32_t backend = rng(), snat = rng();
        const uint16_t tport_be = static_cast<uint16_t>(rng());
        const uint16_t queue = static_cast<uint16_t>(rng() % kQueues);
        auto port_be =
            rss.find_port_for_queue(reta, queue, backend, snat, tport_be, 1024, 65535, rng());
        ASSERT_TRUE(port_be);
        const uint16_t port = ntohs(*port_be);
        EXPECT_GE(port, 1024);
        // What the NIC will compute for the backend's reply.
        uint8_t input[12];
        store32(input, backend);
        store32(input + 4, snat);
        store16(input + 8, tport_be);
        store16(input + 10, *port_be);
        EXPECT_EQ(reta[toeplitz_hash(kRssDefaultKey, input) & 127], queue);
    }
}

TEST(Toeplitz, PortChooserHonoursAcceptAndRange) {
    const Toeplitz rss(kRssDefaultKey);
    std::vector<uint16_t> reta(64, 0);
    reta[5] = 1;  // queue 1 owns one RETA entry out of 64
    const uint32_t backend = ip(10, 99, 0, 11), snat = ip(10, 99, 0, 1);
    const uint16_t tport = htons(8080);
    // Every port that maps to queue 1, found by brute force.
    std::vector<uint16_t> hits;
    for (uint32_t port = 1024; port <= 65535; ++port) {
        uint16_t pbe = htons(static_cast<uint16_t>(port));
        if ((rss.hash_ipv4_l4(backend, snat, tport, pbe) & 63) == 5) {
            hits.push_back(pbe);
        }
    }
    ASSERT_GE(hits.size(), 2u);
    auto first = rss.find_port_for_queue(reta, 1, backend, snat, tport, 1024, 65535, 0);
    ASSERT_TRUE(first);
    EXPECT_EQ(*first, hits[0]);
    // "In use" ports are skipped.
    auto second = rss.find_port_for_queue(reta, 1, backend, snat, tport, 1024, 65535, 0,
                                          [&](uint16_t p) { return p != hits[0]; });
    ASSERT_TRUE(second);
    EXPECT_EQ(*second, hits[1]);
    // Starting past the first hit wraps around to it only after the others.
    uint16_t h0 = ntohs(hits[0]);
    auto from = rss.find_port_for_queue(reta, 1, backend, snat, tport, 1024, 65535, h0 - 1024 + 1);
    ASSERT_TRUE(from);
    EXPECT_EQ(*from, hits[1]);
    // A range without a hit, a queue absent from the RETA, everything rejected.
    uint16_t miss = static_cast<uint16_t>(h0 + 1);
    while (std::find(hits.begin(), hits.end(), htons(miss)) != hits.end()) {
        ++miss;
    }
    EXPECT_FALSE(rss.find_port_for_queue(reta, 1, backend, snat, tport, miss, miss, 0));
    EXPECT_FALSE(rss.find_port_for_queue(reta, 7, backend, snat, tport, 1024, 65535, 0));
    EXPECT_FALSE(rss.find_port_for_queue(reta, 1, backend, snat, tport, 1024, 65535, 0,
                                         [](uint16_t) { return false; }));
    EXPECT_EQ(rss.find_port_for_queue(reta, 1, backend, snat, tport, h0, h0, 12345), hits[0]);
}

}  // namespace
}  // namespace svcgw::pkt
