// What a fleet relies on (DESIGN §6): every gateway with the same services
// picks the same backend for the same packet, whatever CPU it was built
// for, and its exported digests prove it. Golden picks and digests below
// were recorded once; every build (-Dcpu_arch=native here, x86-64 in
// `make asan`) must reproduce them. A change to the flow hash, the Maglev
// build or the digest layout breaks them: that is a new version (bump the
// digest domain in table/service.cpp), never a silent update of the values.
// Pure: Service::build needs no EAL.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/hash.hpp"
#include "net/flow_key.hpp"
#include "table/service.hpp"

namespace svcgw {
namespace {

EndpointConfig endpoint(const char* addr, uint32_t weight = 100) {
    EndpointConfig ep;
    ep.ip = *Ipv4::parse(addr);
    ep.weight = weight;
    return ep;
}

ServicePortConfig port(uint16_t number, uint16_t target, Protocol proto = Protocol::tcp) {
    ServicePortConfig p;
    p.port = number;
    p.target_port = target;
    p.protocol = proto;
    return p;
}

ServiceConfig web(std::vector<EndpointConfig> endpoints, const char* vip = "10.96.0.30") {
    ServiceConfig s;
    s.name = "web";
    s.ns = "default";
    s.cluster_ip = *Ipv4::parse(vip);
    s.ports = {port(80, 8080), port(53, 5353, Protocol::udp)};
    s.endpoints = std::move(endpoints);
    return s;
}

std::vector<EndpointConfig> five() {
    return {endpoint("10.99.0.11"), endpoint("10.99.0.12"), endpoint("10.99.0.13"),
            endpoint("10.99.0.14"), endpoint("10.99.0.15", 300)};
}

std::unique_ptr<const Service> build(const ServiceConfig& config, MaglevConfig maglev = {}) {
    auto svc = Service::build(config, maglev);
    EXPECT_TRUE(svc) << (svc ? "" : svc.error().str());
    return svc ? std::move(*svc) : nullptr;
}

// The last octet of the backend each client port's connection to VIP:80
// goes to, as the worker picks (MaglevRing::pick(flow_hash(key))).
std::string picks(const Service& svc, uint16_t first_port, size_t count) {
    std::string out;
    for (size_t i = 0; i < count; ++i) {
        FlowKey k;
        k.src_ip = inet_addr("10.99.0.100");
        k.dst_ip = inet_addr("10.96.0.30");
        k.src_port = htons(static_cast<uint16_t>(first_port + i));
        k.dst_port = htons(80);
        k.proto = 6;
        const uint32_t ip = ntohl(svc.backends()[svc.ports()[0].ring->pick(flow_hash(k))].ip_be);
        out += std::to_string(ip & 0xff) + " ";
    }
    return out;
}

TEST(Fleet, GoldenPicksAndDigests) {
    auto svc = build(web(five()));
    ASSERT_TRUE(svc);
    EXPECT_EQ(svc->ring().size(), 503u);
    EXPECT_EQ(picks(*svc, 40000, 16), "13 15 14 15 15 15 11 15 11 15 15 15 13 15 15 15 ");
    EXPECT_EQ(digest_str(svc->ports()[0].ring_digest), "913151f9cea9407b");
    EXPECT_EQ(digest_str(svc->ports()[1].ring_digest), "249d52a6e271dabd");
    const Service* all[] = {svc.get()};
    EXPECT_EQ(digest_str(tables_digest(all)), "5715fbaea5a1f7e7");

    // ClientIP affinity picks by the client address alone.
    std::string by_client;
    for (int i = 0; i < 16; ++i) {
        const uint32_t client = htonl(0x0a630064 + i);  // 10.99.0.100 + i
        const uint32_t ip = ntohl(svc->backends()[svc->ring().pick(client_hash(client))].ip_be);
        by_client += std::to_string(ip & 0xff) + " ";
    }
    EXPECT_EQ(by_client, "15 11 15 12 15 15 15 11 14 15 14 14 15 14 12 15 ");

    // The largest automatic ring size.
    std::vector<EndpointConfig> many;
    for (int i = 0; i < 700; ++i) {
        const std::string ip =
            "10.98." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
        many.push_back(endpoint(ip.c_str()));
    }
    auto big = build(web(many));
    ASSERT_TRUE(big);
    EXPECT_EQ(big->ring().size(), 65537u);
    EXPECT_EQ(digest_str(big->ports()[0].ring_digest), "98520c494bbd35a3");
}

TEST(Fleet, RingDigestFollowsTheMappingOnly) {
    auto base = build(web(five()));
    ASSERT_TRUE(base);
    const uint64_t d80 = base->ports()[0].ring_digest;
    const uint64_t d53 = base->ports()[1].ring_digest;
    EXPECT_NE(d80, d53) << "the target port is part of the mapping";

    // The same endpoints listed in another order: same ring, same digest.
    std::vector<EndpointConfig> reversed = five();
    std::reverse(reversed.begin(), reversed.end());
    auto same = build(web(reversed));
    EXPECT_EQ(same->ports()[0].ring_digest, d80);

    // A drained or not-ready endpoint holds no slot: the ring sends every
    // flow where it did, and the digest says so.
    std::vector<EndpointConfig> with_idle = {endpoint("10.99.0.11"), endpoint("10.99.0.12"),
                                             endpoint("10.99.0.13")};
    auto three = build(web(with_idle));
    with_idle.push_back(endpoint("10.99.0.10", 0));
    auto drained = build(web(with_idle));
    with_idle.back().weight = 100;
    with_idle.back().ready = false;
    auto not_ready = build(web(with_idle));
    ASSERT_EQ(three->ring().size(), drained->ring().size());
    EXPECT_EQ(drained->ports()[0].ring_digest, three->ports()[0].ring_digest);
    EXPECT_EQ(not_ready->ports()[0].ring_digest, three->ports()[0].ring_digest);

    // Anything that moves a flow changes it: another seed, another weight,
    // another endpoint, another target port.
    MaglevConfig seeded;
    seeded.seed = 1;
    EXPECT_NE(build(web(five()), seeded)->ports()[0].ring_digest, d80);
    std::vector<EndpointConfig> reweighted = five();
    reweighted[0].weight = 200;
    EXPECT_NE(build(web(reweighted))->ports()[0].ring_digest, d80);
    std::vector<EndpointConfig> six = five();
    six.push_back(endpoint("10.99.0.16"));
    EXPECT_NE(build(web(six))->ports()[0].ring_digest, d80);
    ServiceConfig retargeted = web(five());
    retargeted.ports[0].target_port = 8081;
    auto moved = build(retargeted);
    EXPECT_NE(moved->ports()[0].ring_digest, d80);
    EXPECT_EQ(moved->ports()[1].ring_digest, d53);

    // An empty ring has a digest too (every gateway agrees it is empty).
    auto empty = build(web({}));
    EXPECT_EQ(empty->ports()[0].ring_digest, ring_digest(MaglevRing{}, {}, {}));
    EXPECT_NE(empty->ports()[0].ring_digest, d80);
}

// Ports whose eligible sets match share a ring of their own; each still has
// its digest (the ports' target ports differ), the same as computed alone.
// Five ports: more than are digested side by side at once.
TEST(Fleet, PortsSharingARingEachHaveTheirDigest) {
    ServiceConfig cfg = web({});
    cfg.ports.clear();
    for (uint16_t p = 0; p < 5; ++p) {
        ServicePortConfig sp = port(static_cast<uint16_t>(80 + p), 0);
        sp.name = "p" + std::to_string(p);
        sp.target_port_name = "http";  // only endpoints naming the port serve it
        cfg.ports.push_back(sp);
    }
    for (const char* addr : {"10.99.0.11", "10.99.0.12", "10.99.0.13", "10.99.0.14"}) {
        EndpointConfig ep = endpoint(addr);
        for (uint16_t p = 0; p < 5; ++p) {
            ep.ports.push_back({"p" + std::to_string(p), static_cast<uint16_t>(8080 + p)});
        }
        cfg.endpoints.push_back(ep);
    }
    cfg.endpoints.push_back(endpoint("10.99.0.15"));  // serves none of the ports
    auto svc = build(cfg);
    ASSERT_TRUE(svc);
    std::vector<uint64_t> seen;
    for (const ServicePort& sp : svc->ports()) {
        EXPECT_EQ(sp.ring, svc->ports()[0].ring) << "one ring for the five ports";
        EXPECT_NE(sp.ring, &svc->ring()) << "not the service's ring (one endpoint serves none)";
        EXPECT_EQ(sp.ring_digest, ring_digest(*sp.ring, svc->backends(), sp.target_port_be))
            << "port " << sp.port;
        EXPECT_EQ(std::count(seen.begin(), seen.end(), sp.ring_digest), 0) << "port " << sp.port;
        seen.push_back(sp.ring_digest);
    }
}

TEST(Fleet, TablesDigestCoversEveryVipPort) {
    auto a = build(web(five()));
    ServiceConfig other_cfg = web({endpoint("10.99.0.21")}, "10.96.0.31");
    other_cfg.name = "api";
    auto b = build(other_cfg);
    const Service* ab[] = {a.get(), b.get()};
    const Service* ba[] = {b.get(), a.get()};
    const uint64_t digest = tables_digest(ab);
    EXPECT_EQ(tables_digest(ba), digest) << "order of the services does not matter";

    // Headless services have no VIP: nothing to pick, nothing to digest.
    ServiceConfig headless_cfg = web(five());
    headless_cfg.name = "db";
    headless_cfg.cluster_ip.reset();
    headless_cfg.headless = true;
    auto headless = build(headless_cfg);
    const Service* with_headless[] = {a.get(), headless.get(), b.get()};
    EXPECT_EQ(tables_digest(with_headless), digest);

    // The same rings at another VIP, or with ClientIP affinity, pick differently.
    auto moved = build(web({endpoint("10.99.0.21")}, "10.96.0.32"));
    const Service* a_moved[] = {a.get(), moved.get()};
    EXPECT_NE(tables_digest(a_moved), digest);
    ServiceConfig sticky_cfg = other_cfg;
    sticky_cfg.session_affinity = SessionAffinity::client_ip;
    auto sticky = build(sticky_cfg);
    const Service* a_sticky[] = {a.get(), sticky.get()};
    EXPECT_NE(tables_digest(a_sticky), digest);
    const Service* only_a[] = {a.get()};
    EXPECT_NE(tables_digest(only_a), digest);
}

}  // namespace
}  // namespace svcgw
