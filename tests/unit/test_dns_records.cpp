// Cluster DNS as the Kubernetes DNS spec 1.1.0 and CoreDNS answer it (issue
// 10 §3): endpoint names from the EndpointSlice hostname, PTR for headless
// endpoints (§2.4.3), ExternalName CNAMEs (§2.5), answers that rotate per
// response (CoreDNS loadbalance), negative caching bounded as CoreDNS bounds
// it, and DNS over TCP's message limit. One table row per rule.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "dns/records.hpp"
#include "dns/responder.hpp"
#include "dns/zone.hpp"
#include "dns_message.hpp"

namespace svcgw::dns {
namespace {

using namespace test;  // NOLINT: the message helpers

Ipv4 ip(const char* text) {
    return *Ipv4::parse(text);
}

EndpointConfig endpoint(const char* address, const char* hostname = "", bool ready = true) {
    EndpointConfig e;
    e.ip = ip(address);
    e.hostname = hostname;
    e.ready = ready;
    return e;
}

ServiceConfig headless(std::string name, std::vector<EndpointConfig> eps) {
    ServiceConfig s;
    s.name = std::move(name);
    s.headless = true;
    s.ports.push_back({"web", 80, 8080, "", Protocol::tcp});
    s.endpoints = std::move(eps);
    return s;
}

ServiceConfig cluster_ip(std::string name, const char* address) {
    ServiceConfig s;
    s.name = std::move(name);
    s.cluster_ip = ip(address);
    s.ports.push_back({"http", 80, 8080, "", Protocol::tcp});
    return s;
}

ServiceConfig external(std::string name, std::string target) {
    ServiceConfig s;
    s.name = std::move(name);
    s.type = ServiceType::external_name;
    s.external_name = std::move(target);
    s.ports.push_back({"http", 80, 80, "", Protocol::tcp});
    return s;
}

DnsConfig dns_config(uint32_t ttl = 30) {
    DnsConfig dns;
    dns.cluster_ip = ip("10.96.0.10");
    dns.ttl_s = ttl;
    return dns;
}

std::vector<ServiceConfig> fixture() {
    return {
        // A StatefulSet's headless Service: two pods with hostnames, one
        // without (dashed IP), one not ready.
        headless("nginx", {endpoint("10.244.1.5", "web-0"), endpoint("10.244.2.6", "Web-1"),
                           endpoint("10.244.3.7"), endpoint("10.244.4.8", "web-3", false)}),
        // The same pod behind a second headless Service: two PTRs.
        headless("peers", {endpoint("10.244.1.5", "web-0")}),
        cluster_ip("api", "10.96.0.50"),
        external("ext", "www.Example.com."),
        external("alias", "api.default.svc.cluster.local"),
        external("alias2", "alias.default.svc.cluster.local"),
        external("loop-a", "loop-b.default.svc.cluster.local"),
        external("loop-b", "loop-a.default.svc.cluster.local"),
        external("dangling", "nope.default.svc.cluster.local"),
    };
}

std::unique_ptr<const Zone> fixture_zone(uint32_t ttl = 30) {
    auto zone = build_zone(fixture(), dns_config(ttl), *Ipv4Prefix::parse("10.96.0.0/16"), 7);
    EXPECT_TRUE(zone.has_value()) << (zone ? "" : zone.error().front().str());
    return zone ? std::move(*zone) : nullptr;
}

Msg ask(const Zone* zone, std::string_view name, uint16_t type, uint32_t rotation = 0,
        bool tcp = false, size_t out_size = 4096) {
    Bytes q = make_query(name, type);
    Bytes out(out_size);
    Reply r =
        tcp ? answer_tcp(zone, q, out, rotation) : answer(zone, q, out, kClassicUdpSize, rotation);
    EXPECT_GT(r.length, 0u);
    auto m = decode({out.data(), r.length});
    EXPECT_TRUE(m.has_value()) << "response does not decode";
    return m.value_or(Msg{});
}

// "owner TYPE rdata", sorted: owners as the decoder reads them.
std::vector<std::string> rendered(const std::vector<Rr>& rrs) {
    std::vector<std::string> out;
    for (const Rr& rr : rrs) {
        const char* type = rr.type == rr_type::a       ? "A"
                           : rr.type == rr_type::cname ? "CNAME"
                           : rr.type == rr_type::srv   ? "SRV"
                           : rr.type == rr_type::ptr   ? "PTR"
                           : rr.type == rr_type::ns    ? "NS"
                           : rr.type == rr_type::soa   ? "SOA"
                                                       : "?";
        out.push_back(rr.name + " " + type + " " + rr.text);
    }
    std::sort(out.begin(), out.end());
    return out;
}

struct Row {
    const char* description;
    const char* qname;
    uint16_t qtype;
    unsigned rcode;
    std::vector<std::string> answers;  // rendered(), sorted
    const char* soa_owner;             // negative answers; null = no authority section
    size_t additional = 0;
};

class DnsRecords : public ::testing::TestWithParam<Row> {};

TEST_P(DnsRecords, Answers) {
    const Row& row = GetParam();
    auto zone = fixture_zone();
    Msg m = ask(zone.get(), row.qname, row.qtype);
    EXPECT_EQ(m.rcode, row.rcode);
    EXPECT_EQ(rendered(m.an), row.answers);
    if (row.soa_owner != nullptr) {
        ASSERT_EQ(m.ns.size(), 1u);
        EXPECT_EQ(m.ns[0].name, row.soa_owner);
        EXPECT_EQ(m.ns[0].type, rr_type::soa);
    } else {
        EXPECT_TRUE(m.ns.empty());
    }
    EXPECT_EQ(m.ar.size(), row.additional);
    EXPECT_EQ((m.flags & flag::aa) != 0, row.rcode != 5) << "authoritative unless refused";
}

constexpr const char* kNginx = "nginx.default.svc.cluster.local.";
constexpr const char* kApex = "cluster.local.";

INSTANTIATE_TEST_SUITE_P(
    Spec, DnsRecords,
    ::testing::Values(
        // §2.4.1: endpoint names from the slice's hostname, dashed IP when unset.
        Row{"StatefulSet pod name answers A (case folded)",
            "web-0.nginx.default.svc.cluster.local",
            rr_type::a,
            0,
            {"web-0.nginx.default.svc.cluster.local. A 10.244.1.5"},
            nullptr},
        Row{"hostname written in upper case is matched case-insensitively",
            "WEB-1.nginx.default.svc.cluster.local",
            rr_type::a,
            0,
            {"WEB-1.nginx.default.svc.cluster.local. A 10.244.2.6"},
            nullptr},
        Row{"no hostname: the dashed IP",
            "10-244-3-7.nginx.default.svc.cluster.local",
            rr_type::a,
            0,
            {"10-244-3-7.nginx.default.svc.cluster.local. A 10.244.3.7"},
            nullptr},
        Row{"a pod with a hostname has no dashed name",
            "10-244-1-5.nginx.default.svc.cluster.local",
            rr_type::a,
            3,
            {},
            kApex},
        Row{"an unready pod has no name",
            "web-3.nginx.default.svc.cluster.local",
            rr_type::a,
            3,
            {},
            kApex},
        Row{"the Service name answers every ready pod",
            "nginx.default.svc.cluster.local",
            rr_type::a,
            0,
            {std::string(kNginx) + " A 10.244.1.5", std::string(kNginx) + " A 10.244.2.6",
             std::string(kNginx) + " A 10.244.3.7"},
            nullptr},
        // §2.4.2: SRV targets are the endpoint names, glue their A.
        Row{"SRV targets use the hostnames",
            "_web._tcp.nginx.default.svc.cluster.local",
            rr_type::srv,
            0,
            {"_web._tcp.nginx.default.svc.cluster.local. SRV 10 100 8080 "
             "10-244-3-7.nginx.default.svc.cluster.local.",
             "_web._tcp.nginx.default.svc.cluster.local. SRV 10 100 8080 "
             "web-0.nginx.default.svc.cluster.local.",
             "_web._tcp.nginx.default.svc.cluster.local. SRV 10 100 8080 "
             "web-1.nginx.default.svc.cluster.local."},
            nullptr,
            3},
        // §2.4.3: PTR for headless endpoint IPs; each is a zone of its own.
        Row{"PTR of a StatefulSet pod",
            "5.1.244.10.in-addr.arpa",
            rr_type::ptr,
            0,
            {"5.1.244.10.in-addr.arpa. PTR web-0.nginx.default.svc.cluster.local.",
             "5.1.244.10.in-addr.arpa. PTR web-0.peers.default.svc.cluster.local."},
            nullptr},
        Row{"PTR of a pod without hostname",
            "7.3.244.10.IN-ADDR.ARPA",
            rr_type::ptr,
            0,
            {"7.3.244.10.IN-ADDR.ARPA. PTR 10-244-3-7.nginx.default.svc.cluster.local."},
            nullptr},
        Row{"no PTR for an unready pod: not ours",
            "8.4.244.10.in-addr.arpa",
            rr_type::ptr,
            5,
            {},
            nullptr},
        Row{"a pod IP we do not know: not ours (the resolver asks elsewhere)",
            "9.1.244.10.in-addr.arpa",
            rr_type::ptr,
            5,
            {},
            nullptr},
        Row{"the endpoint PTR name is its own apex: SOA",
            "5.1.244.10.in-addr.arpa",
            rr_type::soa,
            0,
            {"5.1.244.10.in-addr.arpa. SOA ns.dns.cluster.local. hostmaster.cluster.local. 7 "
             "7200 1800 86400 30"},
            nullptr},
        Row{"... NS with glue",
            "5.1.244.10.in-addr.arpa",
            rr_type::ns,
            0,
            {"5.1.244.10.in-addr.arpa. NS ns.dns.cluster.local."},
            nullptr,
            1},
        Row{"... and NODATA for another type, its own SOA in authority",
            "5.1.244.10.in-addr.arpa",
            rr_type::a,
            0,
            {},
            "5.1.244.10.in-addr.arpa."},
        // §2.5: ExternalName is a CNAME for every type.
        Row{"ExternalName: A is answered by the CNAME (name lower-cased)",
            "ext.default.svc.cluster.local",
            rr_type::a,
            0,
            {"ext.default.svc.cluster.local. CNAME www.example.com."},
            nullptr},
        Row{"ExternalName: AAAA too",
            "ext.default.svc.cluster.local",
            rr_type::aaaa,
            0,
            {"ext.default.svc.cluster.local. CNAME www.example.com."},
            nullptr},
        Row{"ExternalName: the CNAME itself",
            "ext.default.svc.cluster.local",
            rr_type::cname,
            0,
            {"ext.default.svc.cluster.local. CNAME www.example.com."},
            nullptr},
        Row{"ExternalName has no SRV names",
            "_http._tcp.ext.default.svc.cluster.local",
            rr_type::srv,
            3,
            {},
            kApex},
        Row{"a CNAME to a Service we hold is followed (RFC 1034 4.3.2)",
            "alias.default.svc.cluster.local",
            rr_type::a,
            0,
            {"alias.default.svc.cluster.local. CNAME api.default.svc.cluster.local.",
             "api.default.svc.cluster.local. A 10.96.0.50"},
            nullptr},
        Row{"... through a chain",
            "alias2.default.svc.cluster.local",
            rr_type::a,
            0,
            {"alias.default.svc.cluster.local. CNAME api.default.svc.cluster.local.",
             "alias2.default.svc.cluster.local. CNAME alias.default.svc.cluster.local.",
             "api.default.svc.cluster.local. A 10.96.0.50"},
            nullptr},
        Row{"... to a target without that type: the chain alone",
            "alias.default.svc.cluster.local",
            rr_type::txt,
            0,
            {"alias.default.svc.cluster.local. CNAME api.default.svc.cluster.local."},
            nullptr},
        Row{"... to a name we do not hold: the CNAME alone",
            "dangling.default.svc.cluster.local",
            rr_type::a,
            0,
            {"dangling.default.svc.cluster.local. CNAME nope.default.svc.cluster.local."},
            nullptr},
        Row{"no PTR for an ExternalName Service",
            "1.0.96.10.in-addr.arpa",
            rr_type::ptr,
            3,
            {},
            "96.10.in-addr.arpa."}),
    [](const ::testing::TestParamInfo<Row>& info) { return "row" + std::to_string(info.index); });

TEST(DnsRecords, CnameLoopsAreBounded) {
    auto zone = fixture_zone();
    Msg m = ask(zone.get(), "loop-a.default.svc.cluster.local", rr_type::a);
    EXPECT_EQ(m.rcode, 0u);
    EXPECT_EQ(m.an.size(), 8u) << "at most kMaxCnameChain links";
    for (const Rr& rr : m.an) {
        EXPECT_EQ(rr.type, rr_type::cname);
    }
}

TEST(DnsRecords, AddressAnswersRotatePerResponse) {
    auto zone = fixture_zone();
    std::multiset<std::string> firsts;
    std::vector<std::string> set;
    for (uint32_t rotation = 0; rotation < 6; ++rotation) {
        Msg m = ask(zone.get(), "nginx.default.svc.cluster.local", rr_type::a, rotation);
        ASSERT_EQ(m.an.size(), 3u);
        firsts.insert(m.an[0].text);
        std::vector<std::string> texts;
        for (const Rr& rr : m.an) {
            texts.push_back(rr.text);
        }
        // Rotation, not shuffle: the order is the zone's order shifted.
        const std::vector<std::string> sorted = {"10.244.1.5", "10.244.2.6", "10.244.3.7"};
        std::vector<std::string> expected = sorted;
        std::rotate(expected.begin(), expected.begin() + rotation % 3, expected.end());
        EXPECT_EQ(texts, expected) << "rotation " << rotation;
    }
    EXPECT_EQ(firsts.count("10.244.1.5"), 2u);
    EXPECT_EQ(firsts.count("10.244.2.6"), 2u);
    EXPECT_EQ(firsts.count("10.244.3.7"), 2u);

    // SRV answers keep their order (clients pick by priority/weight).
    Msg a = ask(zone.get(), "_web._tcp.nginx.default.svc.cluster.local", rr_type::srv, 0);
    Msg b = ask(zone.get(), "_web._tcp.nginx.default.svc.cluster.local", rr_type::srv, 1);
    ASSERT_EQ(a.an.size(), 3u);
    EXPECT_EQ(a.an[0].text, b.an[0].text);
    // A chased CNAME target rotates like a direct answer.
    Msg c = ask(zone.get(), "alias.default.svc.cluster.local", rr_type::a, 5);
    ASSERT_EQ(c.an.size(), 2u);
    EXPECT_EQ(c.an[1].text, "10.96.0.50");
}

TEST(DnsRecords, NegativeCachingIsBoundedAsCoreDns) {
    // ttl 3600 (the largest allowed): records keep it, the SOA says 300.
    auto zone = fixture_zone(3600);
    Msg positive = ask(zone.get(), "api.default.svc.cluster.local", rr_type::a);
    ASSERT_EQ(positive.an.size(), 1u);
    EXPECT_EQ(positive.an[0].ttl, 3600u);
    Msg negative = ask(zone.get(), "nope.default.svc.cluster.local", rr_type::a);
    EXPECT_EQ(negative.rcode, 3u);
    ASSERT_EQ(negative.ns.size(), 1u);
    EXPECT_EQ(negative.ns[0].ttl, 300u) << "RFC 2308 §5: min(SOA TTL, MINIMUM)";
    EXPECT_EQ(negative.ns[0].text,
              "ns.dns.cluster.local. hostmaster.cluster.local. 7 7200 1800 86400 300");
    Msg nodata = ask(zone.get(), "api.default.svc.cluster.local", rr_type::aaaa);
    ASSERT_EQ(nodata.ns.size(), 1u);
    EXPECT_EQ(nodata.ns[0].ttl, 300u);
    // Below the cap both follow ttl_s.
    auto low = fixture_zone(5);
    EXPECT_EQ(ask(low.get(), "nope.default.svc.cluster.local", rr_type::a).ns[0].ttl, 5u);
}

TEST(DnsRecords, TcpAnswersUseTheWholeMessage) {
    // 60 ready pods: 60 x 16 octets of A records do not fit 512 over UDP.
    std::vector<EndpointConfig> pods;
    for (int i = 0; i < 60; ++i) {
        pods.push_back(endpoint(("10.244.9." + std::to_string(i + 1)).c_str()));
    }
    auto zone =
        build_zone({headless("big", pods)}, dns_config(), *Ipv4Prefix::parse("10.96.0.0/16"), 1);
    ASSERT_TRUE(zone.has_value());
    Msg udp = ask(zone->get(), "big.default.svc.cluster.local", rr_type::a);
    EXPECT_TRUE(udp.flags & flag::tc);
    EXPECT_TRUE(udp.an.empty());
    Msg tcp = ask(zone->get(), "big.default.svc.cluster.local", rr_type::a, 0, true, 65535);
    EXPECT_FALSE(tcp.flags & flag::tc);
    EXPECT_EQ(tcp.an.size(), 60u);
    // Over TCP the EDNS size does not limit the answer either.
    QueryOpts small;
    small.edns = Edns{512};
    Bytes q = make_query("_web._tcp.big.default.svc.cluster.local", rr_type::srv, small);
    Bytes out(65535);
    Reply r = answer_tcp(zone->get(), q, out);
    auto srv = decode({out.data(), r.length});
    ASSERT_TRUE(srv.has_value());
    EXPECT_EQ(srv->an.size(), 60u);
    EXPECT_EQ(srv->ar.size(), 60u) << "glue fits too";
    EXPECT_GT(r.length, 4096u);
    // The caller's buffer still bounds it: TC=1 when it cannot hold it.
    Bytes tiny(600);
    Reply t = answer_tcp(zone->get(), q, tiny);
    EXPECT_TRUE(t.truncated);
}

TEST(DnsRecords, UnencodableRecordsAreReportedWithTheirPath) {
    auto bad_host = fixture();
    bad_host[0].endpoints[1].hostname = "has.dot";
    auto zone = build_zone(bad_host, dns_config(), *Ipv4Prefix::parse("10.96.0.0/16"), 1);
    ASSERT_FALSE(zone.has_value());
    EXPECT_EQ(zone.error().front().path, "services[0].endpoints[1].hostname");

    auto bad_target = fixture();
    bad_target[3].external_name = std::string(64, 'x') + ".example.com";
    zone = build_zone(bad_target, dns_config(), *Ipv4Prefix::parse("10.96.0.0/16"), 1);
    ASSERT_FALSE(zone.has_value());
    EXPECT_EQ(zone.error().front().path, "services[3].external_name");
}

}  // namespace
}  // namespace svcgw::dns
