// DNS zone and responder guarantees (DESIGN §3 DNS, Kubernetes DNS spec
// 1.1.0): a table of well-formed queries checked through an independent
// decoder, EDNS sizes and truncation, a table of malformed messages on raw
// bytes, in-place answering, and a fixed-seed fuzz loop (run it under ASan).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "dns/responder.hpp"
#include "dns/wire.hpp"
#include "dns/zone.hpp"
#include "dns_message.hpp"

namespace svcgw::dns {
namespace {

using namespace test;  // NOLINT: the message helpers

// ---------------------------------------------------------------- fixture

ServiceConfig service(std::string name, std::string ns, std::optional<Ipv4> ip,
                      std::vector<ServicePortConfig> ports, std::vector<EndpointConfig> eps) {
    ServiceConfig s;
    s.name = std::move(name);
    s.ns = std::move(ns);
    s.cluster_ip = ip;
    s.headless = !ip;
    s.ports = std::move(ports);
    s.endpoints = std::move(eps);
    return s;
}

Ipv4 ip(const char* text) {
    return *Ipv4::parse(text);
}

EndpointConfig endpoint(const char* text, bool ready = true) {
    EndpointConfig e;
    e.ip = ip(text);
    e.ready = ready;
    return e;
}

std::vector<ServiceConfig> fixture_services() {
    std::vector<ServiceConfig> out;
    out.push_back(service("web", "default", ip("10.96.0.20"),
                          {{"http", 80, 8080, "", Protocol::tcp},
                           {"dns", 53, 53, "", Protocol::udp},
                           {"", 9000, 9000, "", Protocol::tcp}},
                          {endpoint("10.1.0.9")}));
    out.push_back(
        service("headless", "default", std::nullopt, {{"http", 80, 8080, "", Protocol::tcp}},
                {endpoint("10.1.0.1"), endpoint("10.1.0.2"), endpoint("10.1.0.3", false)}));
    out.push_back(service("empty", "lonely", std::nullopt, {{"http", 80, 80, "", Protocol::tcp}},
                          {endpoint("10.1.0.4", false)}));
    out.push_back(
        service("db", "other", ip("10.96.1.5"), {{"", 5432, 5432, "", Protocol::tcp}}, {}));
    // 16 ready endpoints: its A answer needs > 512 octets (16 x 16 + header).
    std::vector<EndpointConfig> many;
    for (int i = 0; i < 40; ++i) {
        many.push_back(endpoint(("10.2.0." + std::to_string(i + 1)).c_str()));
    }
    out.push_back(
        service("big", "default", std::nullopt, {{"http", 80, 8080, "", Protocol::tcp}}, many));
    std::vector<EndpointConfig> sixteen(many.begin(), many.begin() + 16);
    out.push_back(
        service("mid", "default", std::nullopt, {{"http", 80, 8080, "", Protocol::tcp}}, sixteen));
    return out;
}

constexpr uint32_t kSerial = 42;

DnsConfig fixture_dns() {
    DnsConfig dns;
    dns.cluster_ip = ip("10.96.0.10");
    dns.domain = "cluster.local";
    dns.ttl_s = 30;
    return dns;
}

std::unique_ptr<const Zone> fixture_zone() {
    auto zone =
        build_zone(fixture_services(), fixture_dns(), *Ipv4Prefix::parse("10.96.0.0/16"), kSerial);
    EXPECT_TRUE(zone.has_value());
    return zone ? std::move(*zone) : nullptr;
}

struct Answered {
    Reply reply;
    Bytes bytes;
    Msg msg;
};

Answered ask(const Zone* zone, const Bytes& query, size_t out_size = 4096,
             uint16_t max_udp = kClassicUdpSize) {
    Answered a;
    Bytes out(out_size, 0xAA);
    a.reply = answer(zone, query, out, max_udp);
    a.bytes.assign(out.begin(), out.begin() + static_cast<long>(a.reply.length));
    if (a.reply.length > 0) {
        auto msg = decode(a.bytes);
        EXPECT_TRUE(msg.has_value()) << "response does not decode";
        if (msg) {
            a.msg = *msg;
        }
    }
    return a;
}

std::vector<std::string> texts(const std::vector<Rr>& rrs) {
    std::vector<std::string> out;
    for (const Rr& rr : rrs) {
        out.push_back(rr.text);
    }
    std::sort(out.begin(), out.end());
    return out;
}

const std::string kSoa = "ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 30";

// ---------------------------------------------------------------- the table

struct Case {
    const char* description;
    const char* qname;
    uint16_t qtype;
    unsigned rcode;
    uint16_t answer_type;              // 0 = none expected
    std::vector<std::string> answers;  // rendered, sorted
    const char* soa_owner;             // negative answers: the authority's owner; null = none
    bool aa;
    size_t additional = 0;  // glue records (OPT not counted)
};

class DnsTable : public ::testing::TestWithParam<Case> {};

TEST_P(DnsTable, Answers) {
    const Case& c = GetParam();
    auto zone = fixture_zone();
    Answered a = ask(zone.get(), make_query(c.qname, c.qtype));
    ASSERT_GT(a.reply.length, 0u);
    const Msg& m = a.msg;
    EXPECT_EQ(m.rcode, c.rcode);
    EXPECT_EQ(m.id, 0xbeef);
    EXPECT_TRUE(m.flags & flag::qr);
    EXPECT_EQ((m.flags & flag::aa) != 0, c.aa);
    EXPECT_TRUE(m.flags & flag::rd) << "RD is copied";
    EXPECT_FALSE(m.flags & flag::ra) << "no recursion offered";
    EXPECT_FALSE(m.flags & flag::tc);
    ASSERT_EQ(m.questions.size(), 1u);
    const std::string fqdn = std::string(c.qname) == "." ? "." : std::string(c.qname) + ".";
    EXPECT_EQ(m.questions[0].first, fqdn);
    EXPECT_EQ(m.questions[0].second, c.qtype);
    EXPECT_EQ(texts(m.an), c.answers);
    for (const Rr& rr : m.an) {
        EXPECT_EQ(rr.type, c.answer_type);
        EXPECT_EQ(rr.cls, kClassIn);
        EXPECT_EQ(rr.ttl, 30u);
        EXPECT_EQ(rr.name, fqdn) << "owner keeps the query's case";
    }
    if (c.soa_owner != nullptr) {
        ASSERT_EQ(m.ns.size(), 1u);
        EXPECT_EQ(m.ns[0].type, rr_type::soa);
        EXPECT_EQ(m.ns[0].name, c.soa_owner);
        EXPECT_EQ(m.ns[0].text, kSoa);
        EXPECT_EQ(m.ns[0].ttl, 30u) << "RFC 2308: TTL = SOA minimum";
    } else {
        EXPECT_TRUE(m.ns.empty());
    }
    EXPECT_EQ(m.ar.size(), c.additional);
    Counter expected = c.rcode == 0   ? Counter::noerror
                       : c.rcode == 3 ? Counter::nxdomain
                       : c.rcode == 5 ? Counter::refused
                       : c.rcode == 4 ? Counter::notimp
                                      : Counter::formerr;
    EXPECT_EQ(a.reply.outcome, expected);
    EXPECT_EQ(a.reply.nodata, c.rcode == 0 && c.answers.empty());
}

const char* kApex = "cluster.local.";
const char* kRevApex = "96.10.in-addr.arpa.";

INSTANTIATE_TEST_SUITE_P(
    Zone, DnsTable,
    ::testing::Values(
        Case{"ClusterIP A",
             "web.default.svc.cluster.local",
             rr_type::a,
             0,
             rr_type::a,
             {"10.96.0.20"},
             nullptr,
             true},
        Case{"mixed case, echoed as asked",
             "WeB.DeFault.SVC.Cluster.LOCAL",
             rr_type::a,
             0,
             rr_type::a,
             {"10.96.0.20"},
             nullptr,
             true},
        Case{"AAAA on a service is NODATA",
             "web.default.svc.cluster.local",
             rr_type::aaaa,
             0,
             0,
             {},
             kApex,
             true},
        Case{"TXT on a service is NODATA",
             "web.default.svc.cluster.local",
             rr_type::txt,
             0,
             0,
             {},
             kApex,
             true},
        Case{"SRV named TCP port, target A as glue",
             "_http._tcp.web.default.svc.cluster.local",
             rr_type::srv,
             0,
             rr_type::srv,
             {"10 100 80 web.default.svc.cluster.local."},
             nullptr,
             true,
             1},
        Case{"SRV named UDP port",
             "_dns._udp.web.default.svc.cluster.local",
             rr_type::srv,
             0,
             rr_type::srv,
             {"10 100 53 web.default.svc.cluster.local."},
             nullptr,
             true,
             1},
        Case{"SRV with the wrong protocol",
             "_http._udp.web.default.svc.cluster.local",
             rr_type::srv,
             3,
             0,
             {},
             kApex,
             true},
        Case{"SRV protocol node is an empty non-terminal",
             "_tcp.web.default.svc.cluster.local",
             rr_type::srv,
             0,
             0,
             {},
             kApex,
             true},
        Case{"unnamed port has no SRV",
             "_tcp.db.other.svc.cluster.local",
             rr_type::srv,
             3,
             0,
             {},
             kApex,
             true},
        Case{"A of another namespace",
             "db.other.svc.cluster.local",
             rr_type::a,
             0,
             rr_type::a,
             {"10.96.1.5"},
             nullptr,
             true},
        Case{"PTR of a ClusterIP",
             "20.0.96.10.in-addr.arpa",
             rr_type::ptr,
             0,
             rr_type::ptr,
             {"web.default.svc.cluster.local."},
             nullptr,
             true},
        Case{"PTR of the DNS service",
             "10.0.96.10.in-addr.arpa",
             rr_type::ptr,
             0,
             rr_type::ptr,
             {"ns.dns.cluster.local."},
             nullptr,
             true},
        Case{"PTR, unknown IP in the service CIDR",
             "99.0.96.10.in-addr.arpa",
             rr_type::ptr,
             3,
             0,
             {},
             kRevApex,
             true},
        Case{"PTR, mixed-case arpa",
             "5.1.96.10.IN-ADDR.ARPA",
             rr_type::ptr,
             0,
             rr_type::ptr,
             {"db.other.svc.cluster.local."},
             nullptr,
             true},
        Case{"A on a PTR name is NODATA",
             "20.0.96.10.in-addr.arpa",
             rr_type::a,
             0,
             0,
             {},
             kRevApex,
             true},
        Case{"reverse empty non-terminal",
             "0.96.10.in-addr.arpa",
             rr_type::ptr,
             0,
             0,
             {},
             kRevApex,
             true},
        Case{"reverse apex SOA",
             "96.10.in-addr.arpa",
             rr_type::soa,
             0,
             rr_type::soa,
             {kSoa},
             nullptr,
             true},
        Case{"reverse apex NS",
             "96.10.in-addr.arpa",
             rr_type::ns,
             0,
             rr_type::ns,
             {"ns.dns.cluster.local."},
             nullptr,
             true,
             1},
        Case{"PTR outside the service CIDR",
             "1.2.3.4.in-addr.arpa",
             rr_type::ptr,
             5,
             0,
             {},
             nullptr,
             false},
        Case{"in-addr.arpa itself is not ours",
             "10.in-addr.arpa",
             rr_type::soa,
             5,
             0,
             {},
             nullptr,
             false},
        Case{"outside the domain", "www.example.com", rr_type::a, 5, 0, {}, nullptr, false},
        Case{"the root", ".", rr_type::ns, 5, 0, {}, nullptr, false},
        Case{"suffix look-alike is outside",
             "web.default.svc.cluster.local.evil",
             rr_type::a,
             5,
             0,
             {},
             nullptr,
             false},
        Case{"apex SOA", "cluster.local", rr_type::soa, 0, rr_type::soa, {kSoa}, nullptr, true},
        Case{"apex NS with glue",
             "cluster.local",
             rr_type::ns,
             0,
             rr_type::ns,
             {"ns.dns.cluster.local."},
             nullptr,
             true,
             1},
        Case{"apex A is NODATA", "Cluster.Local", rr_type::a, 0, 0, {}, "Cluster.Local.", true},
        Case{"NS host A",
             "ns.dns.cluster.local",
             rr_type::a,
             0,
             rr_type::a,
             {"10.96.0.10"},
             nullptr,
             true},
        Case{"schema version TXT",
             "dns-version.cluster.local",
             rr_type::txt,
             0,
             rr_type::txt,
             {"1.1.0"},
             nullptr,
             true},
        Case{
            "svc is an empty non-terminal", "svc.cluster.local", rr_type::a, 0, 0, {}, kApex, true},
        Case{"namespace is an empty non-terminal",
             "default.svc.cluster.local",
             rr_type::a,
             0,
             0,
             {},
             kApex,
             true},
        Case{"namespace with only an unready headless service exists",
             "lonely.svc.cluster.local",
             rr_type::a,
             0,
             0,
             {},
             kApex,
             true},
        Case{"unknown namespace", "nope.svc.cluster.local", rr_type::a, 3, 0, {}, kApex, true},
        Case{
            "unknown service", "nope.default.svc.cluster.local", rr_type::a, 3, 0, {}, kApex, true},
        Case{"name below a service",
             "x.web.default.svc.cluster.local",
             rr_type::a,
             3,
             0,
             {},
             kApex,
             true},
        Case{"deep unknown name", "a.b.c.d.e.f.g.cluster.local", rr_type::a, 3, 0, {}, kApex, true},
        Case{"unknown name, mixed case: SOA owner points into the question",
             "NoPe.CLUSTER.local",
             rr_type::a,
             3,
             0,
             {},
             "CLUSTER.local.",
             true},
        Case{"headless: one A per ready endpoint",
             "headless.default.svc.cluster.local",
             rr_type::a,
             0,
             rr_type::a,
             {"10.1.0.1", "10.1.0.2"},
             nullptr,
             true},
        Case{"headless endpoint name",
             "10-1-0-2.headless.default.svc.cluster.local",
             rr_type::a,
             0,
             rr_type::a,
             {"10.1.0.2"},
             nullptr,
             true},
        Case{"headless unready endpoint has no name",
             "10-1-0-3.headless.default.svc.cluster.local",
             rr_type::a,
             3,
             0,
             {},
             kApex,
             true},
        Case{"headless SRV: per ready endpoint, target port, glue",
             "_http._tcp.headless.default.svc.cluster.local",
             rr_type::srv,
             0,
             rr_type::srv,
             {"10 100 8080 10-1-0-1.headless.default.svc.cluster.local.",
              "10 100 8080 10-1-0-2.headless.default.svc.cluster.local."},
             nullptr,
             true,
             2},
        Case{"headless without ready endpoints: NXDOMAIN",
             "empty.lonely.svc.cluster.local",
             rr_type::a,
             3,
             0,
             {},
             kApex,
             true},
        Case{"headless without ready endpoints: no SRV",
             "_http._tcp.empty.lonely.svc.cluster.local",
             rr_type::srv,
             3,
             0,
             {},
             kApex,
             true},
        Case{"ANY: minimal answer, first RRset (RFC 8482)",
             "web.default.svc.cluster.local",
             rr_type::any,
             0,
             rr_type::a,
             {"10.96.0.20"},
             nullptr,
             true},
        Case{"ANY at the apex: NS comes first",
             "cluster.local",
             rr_type::any,
             0,
             rr_type::ns,
             {"ns.dns.cluster.local."},
             nullptr,
             true,
             1},
        Case{"ANY on an empty non-terminal: NODATA",
             "svc.cluster.local",
             rr_type::any,
             0,
             0,
             {},
             kApex,
             true},
        Case{"AXFR over UDP: NOTIMP", "cluster.local", rr_type::axfr, 4, 0, {}, nullptr, false},
        Case{"QTYPE OPT: FORMERR", "cluster.local", rr_type::opt, 1, 0, {}, nullptr, false}),
    [](const ::testing::TestParamInfo<Case>& info) { return "case" + std::to_string(info.index); });

// ---------------------------------------------------------------- rules

TEST(DnsResponder, ServfailBeforeTheFirstZone) {
    Answered a = ask(nullptr, make_query("web.default.svc.cluster.local", rr_type::a));
    EXPECT_EQ(a.msg.rcode, 2u);
    EXPECT_EQ(a.reply.outcome, Counter::servfail);
    EXPECT_FALSE(a.msg.flags & flag::aa);
    EXPECT_EQ(a.msg.questions.size(), 1u);
    // Even for names we would refuse: never a negative answer before sync.
    Answered b = ask(nullptr, make_query("www.example.com", rr_type::a));
    EXPECT_EQ(b.msg.rcode, 2u);
}

TEST(DnsResponder, FlagsCopiedAndCleared) {
    auto zone = fixture_zone();
    QueryOpts o;
    o.flags = flag::cd | flag::ad | flag::ra | flag::aa | flag::tc;  // RD clear, junk set
    Answered a = ask(zone.get(), make_query("web.default.svc.cluster.local", rr_type::a, o));
    EXPECT_EQ(a.msg.flags & ~flag::rcode_mask, flag::qr | flag::aa | flag::cd);
    QueryOpts rd;
    rd.flags = flag::rd;
    rd.id = 7;
    Answered b = ask(zone.get(), make_query("web.default.svc.cluster.local", rr_type::a, rd));
    EXPECT_EQ(b.msg.flags & ~flag::rcode_mask, flag::qr | flag::aa | flag::rd);
    EXPECT_EQ(b.msg.id, 7);
}

TEST(DnsResponder, ClassOtherThanInIsRefused) {
    auto zone = fixture_zone();
    for (uint16_t cls : {uint16_t{3}, uint16_t{4}, uint16_t{255}}) {
        QueryOpts o;
        o.qclass = cls;
        Answered a = ask(zone.get(), make_query("web.default.svc.cluster.local", rr_type::a, o));
        EXPECT_EQ(a.msg.rcode, 5u) << cls;
        EXPECT_TRUE(a.msg.an.empty());
    }
}

TEST(DnsResponder, OpcodeOtherThanQueryIsNotimp) {
    auto zone = fixture_zone();
    for (uint16_t opcode : {1, 2, 4, 5, 15}) {
        QueryOpts o;
        o.flags = static_cast<uint16_t>(opcode << 11 | flag::rd);
        Answered a = ask(zone.get(), make_query("web.default.svc.cluster.local", rr_type::a, o));
        EXPECT_EQ(a.msg.rcode, 4u);
        EXPECT_EQ((a.msg.flags & flag::opcode_mask) >> 11, opcode) << "opcode echoed";
        EXPECT_TRUE(a.msg.questions.empty());
        EXPECT_EQ(a.reply.outcome, Counter::notimp);
    }
}

TEST(DnsResponder, ResponsesAreDropped) {
    auto zone = fixture_zone();
    QueryOpts o;
    o.flags = flag::qr;
    Answered a = ask(zone.get(), make_query("web.default.svc.cluster.local", rr_type::a, o));
    EXPECT_EQ(a.reply.length, 0u);
    EXPECT_EQ(a.reply.outcome, Counter::drop_response);
}

TEST(DnsResponder, SerialComesFromTheBuild) {
    auto zone =
        build_zone(fixture_services(), fixture_dns(), *Ipv4Prefix::parse("10.96.0.0/16"), 777);
    ASSERT_TRUE(zone.has_value());
    Answered a = ask(zone->get(), make_query("cluster.local", rr_type::soa));
    ASSERT_EQ(a.msg.an.size(), 1u);
    EXPECT_NE(a.msg.an[0].text.find(" 777 "), std::string::npos) << a.msg.an[0].text;
    EXPECT_EQ((*zone)->serial(), 777u);
}

// ---------------------------------------------------------------- EDNS, TC

TEST(DnsEdns, OptEchoedWithOurSizeAndDo) {
    auto zone = fixture_zone();
    QueryOpts o;
    o.edns = Edns{4096, 0, true, {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8}};  // a COOKIE option
    Answered a = ask(zone.get(), make_query("web.default.svc.cluster.local", rr_type::a, o));
    EXPECT_EQ(a.msg.rcode, 0u);
    EXPECT_TRUE(a.msg.edns);
    EXPECT_EQ(a.msg.edns_size, kOurUdpSize);
    EXPECT_EQ(a.msg.edns_version, 0);
    EXPECT_TRUE(a.msg.do_bit);
    EXPECT_EQ(a.msg.an.size(), 1u);

    o.edns->do_bit = false;
    Answered b = ask(zone.get(), make_query("web.default.svc.cluster.local", rr_type::a, o));
    EXPECT_FALSE(b.msg.do_bit);
    Answered c = ask(zone.get(), make_query("web.default.svc.cluster.local", rr_type::a));
    EXPECT_FALSE(c.msg.edns) << "no OPT in the response to a query without one";
}

TEST(DnsEdns, BadversForVersionAboveZero) {
    auto zone = fixture_zone();
    QueryOpts o;
    o.edns = Edns{1232, 1, false, {}};
    Answered a = ask(zone.get(), make_query("web.default.svc.cluster.local", rr_type::a, o));
    EXPECT_EQ(a.msg.rcode, 16u);
    EXPECT_EQ(a.msg.flags & flag::rcode_mask, 0) << "BADVERS lives in the OPT's upper bits";
    EXPECT_TRUE(a.msg.edns);
    EXPECT_EQ(a.msg.edns_version, 0);
    EXPECT_TRUE(a.msg.an.empty());
    EXPECT_EQ(a.reply.outcome, Counter::badvers);
}

// The 40-endpoint headless A answer: 40 x 16 = 640 octets of records.
TEST(DnsEdns, TruncatesWhenTheAnswerDoesNotFit) {
    auto zone = fixture_zone();
    const char* big = "big.default.svc.cluster.local";
    Answered plain = ask(zone.get(), make_query(big, rr_type::a));
    EXPECT_TRUE(plain.msg.flags & flag::tc);
    EXPECT_TRUE(plain.reply.truncated);
    EXPECT_TRUE(plain.msg.an.empty());
    EXPECT_TRUE(plain.msg.ns.empty());
    EXPECT_EQ(plain.msg.questions.size(), 1u) << "the question stays";
    EXPECT_LE(plain.bytes.size(), 512u);

    QueryOpts small;  // below 512 counts as 512 (RFC 6891 §6.2.5)
    small.edns = Edns{100, 0, false, {}};
    Answered s = ask(zone.get(), make_query(big, rr_type::a, small));
    EXPECT_TRUE(s.msg.flags & flag::tc);
    EXPECT_TRUE(s.msg.edns) << "OPT is kept in a truncated answer";
    EXPECT_LE(s.bytes.size(), 512u);

    QueryOpts large;
    large.edns = Edns{4096, 0, false, {}};
    Answered l = ask(zone.get(), make_query(big, rr_type::a, large));
    EXPECT_FALSE(l.msg.flags & flag::tc);
    EXPECT_EQ(l.msg.an.size(), 40u);
    EXPECT_LE(l.bytes.size(), kOurUdpSize);

    // The caller's default without EDNS and the caller's buffer both bound it.
    Answered wide = ask(zone.get(), make_query(big, rr_type::a), 4096, 1232);
    EXPECT_EQ(wide.msg.an.size(), 40u);
    Answered tiny_buffer = ask(zone.get(), make_query(big, rr_type::a, large), 300);
    EXPECT_TRUE(tiny_buffer.msg.flags & flag::tc);
    EXPECT_LE(tiny_buffer.bytes.size(), 300u);
}

TEST(DnsEdns, GlueOnlyWhenItFits) {
    auto zone = fixture_zone();
    const char* srv = "_http._tcp.mid.default.svc.cluster.local";
    QueryOpts o;
    o.edns = Edns{4096, 0, false, {}};
    Answered a = ask(zone.get(), make_query(srv, rr_type::srv, o));
    EXPECT_FALSE(a.msg.flags & flag::tc) << "glue is optional: never TC for it";
    EXPECT_EQ(a.msg.an.size(), 16u);
    EXPECT_TRUE(a.msg.ar.empty()) << a.bytes.size();
    EXPECT_LE(a.bytes.size(), kOurUdpSize);

    Answered wide = ask(zone.get(), make_query(srv, rr_type::srv), 8192, 8192);
    EXPECT_EQ(wide.msg.an.size(), 16u);
    EXPECT_EQ(wide.msg.ar.size(), 16u);
    for (const Rr& rr : wide.msg.ar) {
        EXPECT_EQ(rr.type, rr_type::a);
        EXPECT_NE(rr.name.find(".mid.default.svc.cluster.local."), std::string::npos);
    }
}

TEST(DnsEdns, NegativeAnswerTruncatesWhenTheSoaDoesNotFit) {
    auto zone = fixture_zone();
    Bytes q = make_query("nope.cluster.local", rr_type::a);
    // Header + question fit, the SOA does not.
    Answered a = ask(zone.get(), q, q.size() + 10);
    EXPECT_TRUE(a.msg.flags & flag::tc);
    EXPECT_EQ(a.msg.rcode, 3u);
    EXPECT_TRUE(a.msg.ns.empty());
}

TEST(DnsResponder, BufferTooSmallForTheQuestionIsDropped) {
    auto zone = fixture_zone();
    Bytes q = make_query("web.default.svc.cluster.local", rr_type::a);
    Answered a = ask(zone.get(), q, q.size() - 1);
    EXPECT_EQ(a.reply.length, 0u);
    EXPECT_EQ(a.reply.outcome, Counter::drop_buffer_too_small);
}

// ---------------------------------------------------------------- in place

TEST(DnsResponder, AnswersInPlaceLikeOutOfPlace) {
    auto zone = fixture_zone();
    QueryOpts edns;
    edns.edns = Edns{};
    std::vector<Bytes> queries = {
        make_query("web.default.svc.cluster.local", rr_type::a),
        make_query("_http._tcp.headless.default.svc.cluster.local", rr_type::srv, edns),
        make_query("nope.default.svc.cluster.local", rr_type::a, edns),
        make_query("big.default.svc.cluster.local", rr_type::a),
        make_query("www.example.com", rr_type::a),
    };
    for (const Bytes& q : queries) {
        Answered ref = ask(zone.get(), q, kOurUdpSize);
        Bytes buf(kOurUdpSize, 0);
        std::copy(q.begin(), q.end(), buf.begin());
        Reply r = answer(zone.get(), std::span<const uint8_t>(buf.data(), q.size()), buf);
        ASSERT_EQ(r.length, ref.reply.length);
        EXPECT_TRUE(std::equal(ref.bytes.begin(), ref.bytes.end(), buf.begin()));
    }
}

// ---------------------------------------------------------------- malformed

struct Malformed {
    const char* description;
    Bytes bytes;
    Counter outcome;
    bool question_echoed;
};

Bytes header(uint16_t qd, uint16_t an = 0, uint16_t ns = 0, uint16_t ar = 0) {
    Bytes b;
    put16(b, 0x1111);
    put16(b, flag::rd);
    put16(b, qd);
    put16(b, an);
    put16(b, ns);
    put16(b, ar);
    return b;
}

Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const Bytes& p : parts) {
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

const Bytes kQuestion = cat({wire_name("web.default.svc.cluster.local"), {0, 1, 0, 1}});

std::vector<Malformed> malformed_cases() {
    std::vector<Malformed> v;
    v.push_back({"empty", {}, Counter::drop_short_header, false});
    v.push_back({"11-octet header", Bytes(11, 0), Counter::drop_short_header, false});
    v.push_back({"header only, QDCOUNT 1", header(1), Counter::formerr, false});
    v.push_back({"QDCOUNT 0", header(0), Counter::formerr, false});
    v.push_back({"QDCOUNT 2", cat({header(2), kQuestion, kQuestion}), Counter::formerr, false});
    v.push_back({"label length 64 (reserved type 01)",
                 cat({header(1), {64}, Bytes(64, 'a'), {0, 0, 1, 0, 1}}), Counter::formerr, false});
    v.push_back(
        {"label type 10", cat({header(1), {0x80, 'a', 0, 0, 1, 0, 1}}), Counter::formerr, false});
    Bytes long_name = header(1);
    for (int i = 0; i < 5; ++i) {
        long_name.push_back(63);
        long_name.insert(long_name.end(), 63, 'x');
    }
    long_name.insert(long_name.end(), {0, 0, 1, 0, 1});
    v.push_back({"name over 255 octets", long_name, Counter::formerr, false});
    Bytes exact = header(1);  // 255 octets: 3 x 64 + 62 + root
    for (int i = 0; i < 3; ++i) {
        exact.push_back(63);
        exact.insert(exact.end(), 63, 'x');
    }
    exact.push_back(61);
    exact.insert(exact.end(), 61, 'x');
    exact.insert(exact.end(), {0, 0, 1, 0, 1});
    v.push_back({"name of exactly 255 octets is fine (REFUSED)", exact, Counter::refused, true});
    v.push_back({"compression pointer in the question",
                 cat({header(1), {3, 'w', 'e', 'b', 0xc0, 12, 0, 1, 0, 1}}), Counter::formerr,
                 false});
    v.push_back({"pointer loop in the question", cat({header(1), {0xc0, 12, 0, 1, 0, 1}}),
                 Counter::formerr, false});
    v.push_back(
        {"name runs off the end", cat({header(1), {10, 'a', 'b'}}), Counter::formerr, false});
    v.push_back({"no root label", cat({header(1), {3, 'w', 'e', 'b'}}), Counter::formerr, false});
    v.push_back({"QTYPE/QCLASS cut short", cat({header(1), wire_name("a.b"), {0, 1, 0}}),
                 Counter::formerr, false});
    v.push_back({"ANCOUNT 1", cat({header(1, 1), kQuestion}), Counter::formerr, true});
    v.push_back({"NSCOUNT 1", cat({header(1, 0, 1), kQuestion}), Counter::formerr, true});
    v.push_back({"garbage after the question", cat({header(1), kQuestion, {1, 2, 3}}),
                 Counter::formerr, true});
    v.push_back({"ARCOUNT 1 without a record", cat({header(1, 0, 0, 1), kQuestion}),
                 Counter::formerr, true});
    v.push_back(
        {"OPT owned by a non-root name",
         cat({header(1, 0, 0, 1), kQuestion, wire_name("x"), {0, 41, 4, 0, 0, 0, 0, 0, 0, 0}}),
         Counter::formerr, true});
    Bytes opt = opt_record(Edns{});
    v.push_back({"two OPT records", cat({header(1, 0, 0, 2), kQuestion, opt, opt}),
                 Counter::formerr, true});
    v.push_back({"OPT RDLENGTH past the end",
                 cat({header(1, 0, 0, 1), kQuestion, {0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 9, 1}}),
                 Counter::formerr, true});
    v.push_back({"OPT option longer than its RDATA",
                 cat({header(1, 0, 0, 1),
                      kQuestion,
                      {0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 6, 0, 10, 0, 9, 1, 2}}),
                 Counter::formerr, true});
    v.push_back({"OPT option header cut",
                 cat({header(1, 0, 0, 1), kQuestion, {0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 2, 0, 10}}),
                 Counter::formerr, true});
    v.push_back({"garbage after the OPT", cat({header(1, 0, 0, 1), kQuestion, opt, {0}}),
                 Counter::formerr, true});
    // Additional records other than OPT are skipped without following
    // pointers, so a self-referencing owner cannot loop.
    v.push_back({"additional record with a pointer loop owner is skipped",
                 cat({header(1, 0, 0, 1), kQuestion, {0xc0, 45, 0, 16, 0, 1, 0, 0, 0, 0, 0, 0}}),
                 Counter::noerror, true});
    v.push_back({"additional record with a truncated pointer",
                 cat({header(1, 0, 0, 1), kQuestion, {0xc0}}), Counter::formerr, true});
    return v;
}

TEST(DnsMalformed, Table) {
    auto zone = fixture_zone();
    for (const Malformed& c : malformed_cases()) {
        SCOPED_TRACE(c.description);
        Answered a = ask(zone.get(), c.bytes);
        EXPECT_EQ(a.reply.outcome, c.outcome);
        if (c.outcome == Counter::drop_short_header) {
            EXPECT_EQ(a.reply.length, 0u);
            continue;
        }
        ASSERT_GT(a.reply.length, 0u);
        EXPECT_EQ(a.msg.id, 0x1111);
        EXPECT_TRUE(a.msg.flags & flag::qr);
        EXPECT_TRUE(a.msg.an.empty() || c.outcome == Counter::noerror);
        EXPECT_EQ(a.msg.questions.size(), c.question_echoed ? 1u : 0u);
        if (c.outcome == Counter::formerr) {
            EXPECT_EQ(a.msg.rcode, 1u);
            EXPECT_FALSE(a.msg.edns) << "no OPT when the query's could not be trusted";
        }
    }
}

// Fixed-seed fuzz: random messages and mutations of valid ones. Guarantees:
// no crash, no write past `out`, every response decodes and matches the ID,
// and the counters account for every query exactly once.
TEST(DnsMalformed, FuzzNeverCrashes) {
    auto zone = fixture_zone();
    std::mt19937_64 rng(20240601);
    QueryOpts edns;
    edns.edns = Edns{};
    const std::vector<Bytes> seeds = {
        make_query("web.default.svc.cluster.local", rr_type::a),
        make_query("_http._tcp.headless.default.svc.cluster.local", rr_type::srv, edns),
        make_query("20.0.96.10.in-addr.arpa", rr_type::ptr, edns),
        make_query("nope.svc.cluster.local", rr_type::a),
    };
    constexpr int kIterations = 100000;
    constexpr size_t kGuard = 64;
    DnsCounters counters;
    for (int it = 0; it < kIterations; ++it) {
        Bytes q;
        if (it % 2 == 0) {
            q.resize(rng() % 300);
            for (auto& b : q) {
                b = static_cast<uint8_t>(rng());
            }
            if (q.size() >= kHeaderSize && rng() % 2) {
                q[2] &= 0x07;  // QR and opcode clear: get past the first checks
                q[4] = 0;
                q[5] = 1;
            }
        } else {
            q = seeds[rng() % seeds.size()];
            const int flips = 1 + static_cast<int>(rng() % 4);
            for (int f = 0; f < flips; ++f) {
                q[rng() % q.size()] = static_cast<uint8_t>(rng());
            }
            if (rng() % 4 == 0) {
                q.resize(rng() % (q.size() + 1));
            }
        }
        const size_t out_size = (rng() % 8 == 0) ? rng() % 600 : 1500;
        Bytes out(out_size + kGuard, 0x5a);
        const Zone* z = (it % 50 == 0) ? nullptr : zone.get();
        Reply r = answer(z, q, std::span<uint8_t>(out.data(), out_size));
        counters.add(r);
        ASSERT_LE(r.length, out_size);
        ASSERT_TRUE(
            std::all_of(out.end() - kGuard, out.end(), [](uint8_t b) { return b == 0x5a; }));
        if (r.length > 0) {
            auto msg = decode(std::span<const uint8_t>(out.data(), r.length));
            ASSERT_TRUE(msg.has_value()) << "iteration " << it;
            ASSERT_EQ(msg->id, load_be16(q.data()));
        }
    }
    uint64_t outcomes = 0;
    for (size_t c = static_cast<size_t>(Counter::noerror); c < static_cast<size_t>(Counter::count);
         ++c) {
        if (c != static_cast<size_t>(Counter::truncated) &&
            c != static_cast<size_t>(Counter::nodata)) {
            outcomes += counters.values[c];
        }
    }
    EXPECT_EQ(counters[Counter::queries], static_cast<uint64_t>(kIterations));
    EXPECT_EQ(outcomes, static_cast<uint64_t>(kIterations));
    EXPECT_GT(counters[Counter::formerr], 0u);
    EXPECT_GT(counters[Counter::noerror], 0u);
}

// ---------------------------------------------------------------- counters, zone

TEST(DnsCounters, NamesComeFromOneList) {
    EXPECT_EQ(counter_name(Counter::queries), "queries");
    EXPECT_EQ(counter_name(Counter::nxdomain), "rcode_nxdomain");
    EXPECT_EQ(counter_name(Counter::drop_buffer_too_small), "drop_buffer_too_small");
    DnsCounters c;
    c.add(Reply{100, Counter::noerror, true, false});
    c.add(Reply{0, Counter::drop_response, false, false});
    c.add(Reply{50, Counter::noerror, false, true});
    EXPECT_EQ(c[Counter::queries], 3u);
    EXPECT_EQ(c[Counter::noerror], 2u);
    EXPECT_EQ(c[Counter::truncated], 1u);
    EXPECT_EQ(c[Counter::nodata], 1u);
    EXPECT_EQ(c[Counter::drop_response], 1u);
    EXPECT_EQ(alignof(DnsCounters), 64u);
}

TEST(DnsZone, BuildIsIndependentOfServiceOrder) {
    auto services = fixture_services();
    auto a = build_zone(services, fixture_dns(), *Ipv4Prefix::parse("10.96.0.0/16"), 1);
    std::reverse(services.begin(), services.end());
    std::reverse(services[2].endpoints.begin(), services[2].endpoints.end());
    auto b = build_zone(services, fixture_dns(), *Ipv4Prefix::parse("10.96.0.0/16"), 1);
    ASSERT_TRUE(a && b);
    EXPECT_EQ((*a)->node_count(), (*b)->node_count());
    for (const char* name : {"big.default.svc.cluster.local", "headless.default.svc.cluster.local",
                             "_http._tcp.mid.default.svc.cluster.local"}) {
        Answered x = ask(a->get(), make_query(name, rr_type::srv), 8192, 8192);
        Answered y = ask(b->get(), make_query(name, rr_type::srv), 8192, 8192);
        EXPECT_EQ(x.bytes, y.bytes) << name;
    }
}

TEST(DnsZone, ReverseZonesForANonOctetCidr) {
    // A /12 spans sixteen /16 reverse zones: 96.10 ... 111.10.
    auto services = fixture_services();
    services[0].cluster_ip = ip("10.100.3.4");
    auto zone = build_zone(services, fixture_dns(), *Ipv4Prefix::parse("10.96.0.0/12"), 1);
    ASSERT_TRUE(zone.has_value());
    Answered a = ask(zone->get(), make_query("4.3.100.10.in-addr.arpa", rr_type::ptr));
    ASSERT_EQ(a.msg.an.size(), 1u);
    EXPECT_EQ(a.msg.an[0].text, "web.default.svc.cluster.local.");
    Answered nx = ask(zone->get(), make_query("1.1.111.10.in-addr.arpa", rr_type::ptr));
    EXPECT_EQ(nx.msg.rcode, 3u);
    ASSERT_EQ(nx.msg.ns.size(), 1u);
    EXPECT_EQ(nx.msg.ns[0].name, "111.10.in-addr.arpa.");
    Answered out = ask(zone->get(), make_query("1.1.112.10.in-addr.arpa", rr_type::ptr));
    EXPECT_EQ(out.msg.rcode, 5u);
}

TEST(DnsZone, OtherDomainAndTtl) {
    DnsConfig dns = fixture_dns();
    dns.domain = "Corp.Example.";
    dns.ttl_s = 5;
    auto zone = build_zone(fixture_services(), dns, *Ipv4Prefix::parse("10.96.0.0/16"), 1);
    ASSERT_TRUE(zone.has_value());
    Answered a = ask(zone->get(), make_query("web.default.svc.corp.example", rr_type::a));
    ASSERT_EQ(a.msg.an.size(), 1u);
    EXPECT_EQ(a.msg.an[0].ttl, 5u);
    Answered old = ask(zone->get(), make_query("web.default.svc.cluster.local", rr_type::a));
    EXPECT_EQ(old.msg.rcode, 5u);
}

TEST(DnsZone, UnencodableNamesAreReportedWithTheirPath) {
    DnsConfig dns = fixture_dns();
    dns.domain = std::string(64, 'a') + ".local";
    auto bad_domain = build_zone({}, dns, *Ipv4Prefix::parse("10.96.0.0/16"), 1);
    ASSERT_FALSE(bad_domain.has_value());
    EXPECT_EQ(bad_domain.error()[0].path, "dns.domain");

    dns = fixture_dns();
    auto services = fixture_services();
    services[1].ports[0].name = std::string(70, 'p');
    auto bad_port = build_zone(services, dns, *Ipv4Prefix::parse("10.96.0.0/16"), 1);
    ASSERT_FALSE(bad_port.has_value());
    EXPECT_EQ(bad_port.error()[0].path, "services[1].ports[0].name");
}

TEST(DnsZone, EmptyServiceSetStillServesTheApex) {
    auto zone = build_zone({}, fixture_dns(), *Ipv4Prefix::parse("10.96.0.0/16"), 1);
    ASSERT_TRUE(zone.has_value());
    EXPECT_EQ(ask(zone->get(), make_query("cluster.local", rr_type::soa)).msg.an.size(), 1u);
    EXPECT_EQ(ask(zone->get(), make_query("svc.cluster.local", rr_type::a)).msg.rcode, 3u)
        << "no service: svc.<domain> has nothing below it";
    EXPECT_EQ(ask(zone->get(), make_query("x.default.svc.cluster.local", rr_type::a)).msg.rcode,
              3u);
}

TEST(DnsWire, EncodeName) {
    EXPECT_EQ(*encode_name("A.b."), (Bytes{1, 'a', 1, 'b', 0}));
    EXPECT_EQ(*encode_name(""), (Bytes{0}));
    EXPECT_FALSE(encode_name("a..b").has_value());
    EXPECT_FALSE(encode_name(std::string(64, 'x')).has_value());
    EXPECT_EQ(name_to_text(*encode_name("web.default")), "web.default.");
}

}  // namespace
}  // namespace svcgw::dns
