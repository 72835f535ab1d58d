// lib/config: addresses served from outside the cluster (issue 11 §2):
// load-balancer VIPs, external IPs, source ranges, externalTrafficPolicy
// and allocation from network.lb_pools. Guarantees: the allocation is
// deterministic, independent of order, stable across changes, and never
// hands out an address in use on the link; every refusal names its field.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "config/config.hpp"
#include "config_fixture.hpp"
#include "table/source_filter.hpp"

namespace svcgw {
namespace {

using namespace testing_config;

// A port on 10.99.0.0/24 with a gateway; pools outside service_cidr.
constexpr const char* kBase = R"(
ports: [{name: p, device: "net_null0", address: 10.99.0.1/24, gateway: 10.99.0.254}]
network: {service_cidr: 10.96.0.0/16, snat_addresses: [10.99.0.2], lb_pools: [192.0.2.0/29, "198.51.100.10-198.51.100.12"]}
)";

const ServiceConfig& service(const Config& c, const std::string& name) {
    for (const ServiceConfig& s : c.services) {
        if (s.name == name) {
            return s;
        }
    }
    ADD_FAILURE() << "no service " << name;
    static ServiceConfig none;
    return none;
}

Ipv4 ip(const char* text) {
    return *Ipv4::parse(text);
}

TEST(LoadBalancerConfig, EveryNativeKeyIsRead) {
    Config c = load_ok(std::string(kBase) + R"(
forwarding: {mode: nat}
services:
  - name: web
    type: LoadBalancer
    load_balancer_ips: [203.0.113.7]
    external_ips: [203.0.113.8]
    source_ranges: [172.16.1.9/24, 10.1.0.0/16]
    external_traffic_policy: Local
    serve_cluster_ip: false
    ports: [{port: 80, node_port: 30080}]
)");
    const ServiceConfig& s = service(c, "web");
    EXPECT_EQ(s.load_balancer_ips, std::vector<Ipv4>{ip("203.0.113.7")});
    EXPECT_EQ(s.external_ips, std::vector<Ipv4>{ip("203.0.113.8")});
    // Host bits are dropped, as kube-proxy reads the ranges.
    EXPECT_EQ(s.source_ranges, (std::vector<Ipv4Prefix>{Ipv4Prefix{ip("172.16.1.0"), 24},
                                                        Ipv4Prefix{ip("10.1.0.0"), 16}}));
    EXPECT_EQ(s.external_traffic_policy, TrafficPolicy::local);
    EXPECT_FALSE(s.serve_cluster_ip);
    EXPECT_EQ(s.ports[0].node_port, 30080);
    EXPECT_FALSE(s.cluster_ip.has_value()) << "no ClusterIP allocated when it is not served";
    EXPECT_EQ(served_vips(s), (std::vector<Ipv4>{ip("203.0.113.7"), ip("203.0.113.8")}));
    ASSERT_EQ(c.network.lb_pools.size(), 2u);
    EXPECT_EQ(c.network.lb_pools[0].str(), "192.0.2.0/29");
    EXPECT_EQ(c.network.lb_pools[1].str(), "198.51.100.10-198.51.100.12");
    EXPECT_EQ(c.network.lb_pools[1].size(), 3u);
}

TEST(LoadBalancerConfig, ManifestFieldsFollowKubernetes) {
    Config c = load_ok(std::string(kBase) + R"(
---
apiVersion: v1
kind: Service
metadata: {name: asked}
spec:
  type: LoadBalancer
  loadBalancerClass: svcgw.io/lb
  allocateLoadBalancerNodePorts: true
  loadBalancerIP: 203.0.113.1
  loadBalancerSourceRanges: [192.168.7.7/24]
  externalTrafficPolicy: Cluster
  healthCheckNodePort: 31000
  ports: [{port: 80, nodePort: 30001}]
status: {loadBalancer: {ingress: [{ip: 203.0.113.99}]}}
---
apiVersion: v1
kind: Service
metadata: {name: reported}
spec: {type: LoadBalancer, externalIPs: [203.0.113.5], ports: [{port: 80}]}
status: {loadBalancer: {ingress: [{hostname: lb.example}, {ip: 203.0.113.2}, {ip: "2001:db8::1"}]}}
)");
    const ServiceConfig& asked = service(c, "asked");
    EXPECT_EQ(asked.load_balancer_ips, std::vector<Ipv4>{ip("203.0.113.1")})
        << "spec.loadBalancerIP wins over a stale status";
    EXPECT_EQ(asked.source_ranges, (std::vector<Ipv4Prefix>{Ipv4Prefix{ip("192.168.7.0"), 24}}));
    EXPECT_EQ(asked.ports[0].node_port, 30001);
    const ServiceConfig& reported = service(c, "reported");
    EXPECT_EQ(reported.load_balancer_ips, std::vector<Ipv4>{ip("203.0.113.2")})
        << "status ingress IPs keep a Service's address; hostnames and IPv6 are skipped";
    EXPECT_EQ(reported.external_ips, std::vector<Ipv4>{ip("203.0.113.5")});
}

std::vector<ServiceConfig> lb_services(const std::vector<std::string>& names) {
    std::vector<ServiceConfig> out;
    for (const std::string& n : names) {
        ServiceConfig s;
        s.name = n;
        s.type = ServiceType::load_balancer;
        s.ports = {ServicePortConfig{"", 80, 80, "", Protocol::tcp}};
        out.push_back(s);
    }
    return out;
}

Config pool_config(const std::string& pools) {
    Config c = load_ok(std::string(R"(
ports: [{name: p, device: "net_null0", address: 10.99.0.1/24, gateway: 10.99.0.254}]
network: {snat_addresses: [10.99.0.2], lb_pools: )") +
                       pools + "}\n");
    return c;
}

std::map<std::string, Ipv4> allocated(const Config& c) {
    std::map<std::string, Ipv4> out;
    for (const ServiceConfig& s : c.services) {
        EXPECT_EQ(s.load_balancer_ips.size(), 1u) << s.key();
        if (!s.load_balancer_ips.empty()) {
            out[s.key()] = s.load_balancer_ips.front();
        }
    }
    return out;
}

TEST(LoadBalancerPools, AllocationIsUniqueDeterministicAndIndependentOfOrder) {
    Config c = pool_config("[192.0.2.0/26]");
    std::vector<std::string> names;
    for (int i = 0; i < 62; ++i) {  // exactly the pool's usable addresses
        names.push_back("s" + std::to_string(i));
    }
    c.services = lb_services(names);
    Config reversed = c;
    std::reverse(reversed.services.begin(), reversed.services.end());
    ASSERT_TRUE(validate_and_allocate(c).has_value());
    ASSERT_TRUE(validate_and_allocate(reversed).has_value());
    auto a = allocated(c);
    EXPECT_EQ(a, allocated(reversed));
    std::set<Ipv4> distinct;
    for (const auto& [key, vip] : a) {
        distinct.insert(vip);
        EXPECT_NE(vip, ip("192.0.2.0")) << "network address of a CIDR pool";
        EXPECT_NE(vip, ip("192.0.2.63")) << "broadcast address of a CIDR pool";
    }
    EXPECT_EQ(distinct.size(), names.size());
    // One more does not fit: a clear error on that service, nothing changed.
    Config full = c;
    full.services = lb_services(names);
    full.services.push_back(lb_services({"one-more"}).front());
    auto result = validate_and_allocate(full);
    ASSERT_FALSE(result.has_value());
    EXPECT_NE(all_errors(result.error()).find("lb_pools are full"), std::string::npos);
    EXPECT_TRUE(full.services.back().load_balancer_ips.empty());
}

TEST(LoadBalancerPools, AddressesInUseOnTheLinkAreNeverHandedOut) {
    // A range inside the port's subnet (MetalLB's L2 mode): the port, its
    // gateway, the SNAT address, an endpoint and another service's VIP sit
    // in it; 10.99.0.5 is the only free address.
    Config c = pool_config("[\"10.99.0.1-10.99.0.5\"]");
    c.services = lb_services({"a", "b"});
    EndpointConfig pod;
    pod.ip = ip("10.99.0.3");
    c.services[0].endpoints = {pod};
    c.services[1].load_balancer_ips = {ip("10.99.0.4")};
    c.services[1].ports[0].port = 81;
    ASSERT_TRUE(validate_and_allocate(c).has_value()) << "";
    EXPECT_EQ(c.services[0].load_balancer_ips, std::vector<Ipv4>{ip("10.99.0.5")});
}

TEST(LoadBalancerPools, PreviousAddressIsKeptWhileFree) {
    Config c = pool_config("[192.0.2.0/28]");
    c.services = lb_services({"a", "b", "c"});
    ASSERT_TRUE(validate_and_allocate(c).has_value());
    const std::vector<ServiceConfig> running = c.services;
    // Another service appears whose hash slot is a's address: a keeps it.
    Config next = pool_config("[192.0.2.0/28]");
    next.services = lb_services({"a", "b", "c", "d", "e", "f", "g"});
    ASSERT_TRUE(validate_and_allocate(next, running).has_value());
    for (const ServiceConfig& s : running) {
        EXPECT_EQ(allocated(next)[s.key()], s.load_balancer_ips.front()) << s.key();
    }
    // A restart without the previous set (the status written back is the
    // memory then) computes the same addresses for the same set.
    Config again = pool_config("[192.0.2.0/28]");
    again.services = lb_services({"a", "b", "c"});
    ASSERT_TRUE(validate_and_allocate(again).has_value());
    EXPECT_EQ(allocated(again), allocated(c));
}

TEST(LoadBalancerPools, NoPoolLeavesTheClusterIpOrRefusesAServiceWithNothingToServe) {
    Config c = pool_config("[]");
    c.services = lb_services({"pending", "lb-only"});
    c.services[1].serve_cluster_ip = false;
    auto result = validate_and_allocate(c);
    ASSERT_FALSE(result.has_value());
    ASSERT_EQ(result.error().size(), 1u) << all_errors(result.error());
    EXPECT_EQ(result.error()[0].path, "services[1].load_balancer_ips");
    EXPECT_NE(result.error()[0].message.find("no address to serve"), std::string::npos);
    c.services.pop_back();
    ASSERT_TRUE(validate_and_allocate(c).has_value());
    EXPECT_TRUE(c.services[0].load_balancer_ips.empty()) << "pending, as Kubernetes shows it";
    EXPECT_TRUE(c.services[0].cluster_ip.has_value());
}

struct Refusal {
    const char* what;
    const char* yaml;  // appended to kBase
    const char* path;
    const char* fragment;
};

const Refusal kRefusals[] = {
    {"LB IP inside service_cidr",
     "services: [{name: a, type: LoadBalancer, load_balancer_ips: [10.96.3.3], ports: [{port: "
     "1}]}]",
     "services[0].load_balancer_ips[0]", "inside service_cidr"},
    {"LB IP = the port's address",
     "services: [{name: a, type: LoadBalancer, load_balancer_ips: [10.99.0.1], ports: [{port: "
     "1}]}]",
     "services[0].load_balancer_ips[0]", "the address of port 'p'"},
    {"external IP = the gateway",
     "services: [{name: a, external_ips: [10.99.0.254], ports: [{port: 1}]}]",
     "services[0].external_ips[0]", "the gateway of port 'p'"},
    {"external IP = the port's broadcast",
     "services: [{name: a, external_ips: [10.99.0.255], ports: [{port: 1}]}]",
     "services[0].external_ips[0]", "network or broadcast address of port 'p'"},
    {"LB IP = an SNAT address",
     "services: [{name: a, type: LoadBalancer, load_balancer_ips: [10.99.0.2], ports: [{port: "
     "1}]}]",
     "services[0].load_balancer_ips[0]", "SNAT address"},
    {"multicast external IP",
     "services: [{name: a, external_ips: [239.1.1.1], ports: [{port: 1}]}]",
     "services[0].external_ips[0]", "not a unicast address"},
    {"duplicate address",
     "services: [{name: a, type: LoadBalancer, load_balancer_ips: [203.0.113.1], external_ips: "
     "[203.0.113.1], ports: [{port: 1}]}]",
     "services[0].external_ips[0]", "duplicate address 203.0.113.1"},
    {"LB IPs on a ClusterIP service",
     "services: [{name: a, load_balancer_ips: [203.0.113.1], ports: [{port: 1}]}]",
     "services[0].load_balancer_ips", "for services of type LoadBalancer"},
    {"source ranges on a ClusterIP service",
     "services: [{name: a, source_ranges: [10.0.0.0/8], ports: [{port: 1}]}]",
     "services[0].source_ranges", "for services of type LoadBalancer"},
    {"external IPs on a headless service",
     "services: [{name: a, cluster_ip: None, external_ips: [203.0.113.1]}]",
     "services[0].external_ips", "headless or ExternalName"},
    {"Local policy in fullnat",
     "services: [{name: a, type: LoadBalancer, load_balancer_ips: [203.0.113.1], "
     "external_traffic_policy: Local, ports: [{port: 1}]}]",
     "services[0].external_traffic_policy", "forwarding.mode nat"},
    {"an LB VIP taken by another service",
     "services: [{name: a, type: LoadBalancer, load_balancer_ips: [203.0.113.1], ports: [{port: "
     "80}]}, {name: b, external_ips: [203.0.113.1], ports: [{port: 80}]}]",
     "services[1].ports[0].port", "203.0.113.1:80/TCP is already used by service default/a"},
    {"an endpoint on another service's VIP",
     "services: [{name: a, type: LoadBalancer, load_balancer_ips: [10.99.0.7], ports: [{port: "
     "80}]}, {name: b, ports: [{port: 80}], endpoints: [{ip: 10.99.0.7}]}]",
     "services[1].endpoints[0].ip", "is an address served by service default/a"},
    {"pool overlapping service_cidr", "network: {lb_pools: [10.96.255.0/24]}",
     "network.lb_pools[0]", "overlaps service_cidr"},
    {"pools overlapping each other",
     "network: {lb_pools: [192.0.2.0/24, \"192.0.2.9-192.0.2.20\"]}", "network.lb_pools[1]",
     "overlaps network.lb_pools[0]"},
    {"pool with host bits", "network: {lb_pools: [192.0.2.1/24]}", "network.lb_pools[0]",
     "invalid pool '192.0.2.1/24'"},
    {"unknown traffic policy",
     "services: [{name: a, type: LoadBalancer, external_traffic_policy: local, ports: [{port: "
     "1}]}]",
     "services[0].external_traffic_policy", "unknown traffic policy 'local' (Cluster or Local)"},
};

TEST(LoadBalancerConfig, RefusalsNameTheField) {
    const std::string base =
        R"(ports: [{name: p, device: "net_null0", address: 10.99.0.1/24, gateway: 10.99.0.254}]
)";
    for (const Refusal& r : kRefusals) {
        std::string yaml = base;
        if (std::string(r.yaml).rfind("network:", 0) != 0) {
            yaml += "network: {snat_addresses: [10.99.0.2]}\n";
        }
        yaml += std::string(r.yaml) + "\n";
        auto result = load_config(yaml, kSource);
        ASSERT_FALSE(result.has_value()) << r.what;
        bool found = false;
        for (const Error& e : result.error()) {
            found = found || (e.path == r.path && e.message.find(r.fragment) != std::string::npos);
        }
        EXPECT_TRUE(found) << r.what << ": expected " << r.path << ": ..." << r.fragment
                           << "...\n got:\n"
                           << all_errors(result.error());
    }
}

TEST(LoadBalancerConfig, TheEndpointConflictIsReportedOnBothServices) {
    auto result = load_config(std::string(kBase) + R"(
services:
  - {name: a, type: LoadBalancer, load_balancer_ips: [10.99.0.7], ports: [{port: 80}]}
  - {name: b, ports: [{port: 80}], endpoints: [{ip: 10.99.0.7}]}
)",
                              kSource);
    ASSERT_FALSE(result.has_value());
    std::set<std::string> paths;
    for (const Error& e : result.error()) {
        paths.insert(e.path);
    }
    EXPECT_TRUE(paths.contains("services[0].load_balancer_ips[0]")) << all_errors(result.error());
    EXPECT_TRUE(paths.contains("services[1].endpoints[0].ip")) << all_errors(result.error());
}

TEST(LoadBalancerConfig, SharedAddressOnDistinctPortsAndLocalPolicyInNatMode) {
    Config c = load_ok(std::string(kBase) + R"(
forwarding: {mode: nat}
services:
  - {name: a, type: LoadBalancer, load_balancer_ips: [203.0.113.1], external_traffic_policy: Local, ports: [{port: 80}]}
  - {name: b, type: LoadBalancer, load_balancer_ips: [203.0.113.1], ports: [{port: 443}]}
)");
    EXPECT_EQ(service(c, "a").load_balancer_ips, service(c, "b").load_balancer_ips);
    // The ClusterIP comes first in served_vips, then the LB IP.
    ASSERT_TRUE(service(c, "a").cluster_ip.has_value());
    EXPECT_EQ(served_vips(service(c, "a")),
              (std::vector<Ipv4>{*service(c, "a").cluster_ip, ip("203.0.113.1")}));
}

// The workers' check of loadBalancerSourceRanges: overlapping and
// adjacent prefixes merge, the ends of each range count, and only the
// guarded (load-balancer) addresses are filtered.
TEST(SourceFilter, MergedRangesTheirEndsAndOnlyGuardedAddresses) {
    auto be = [](const char* text) { return __builtin_bswap32(ip(text).value); };
    auto prefixes = [](std::initializer_list<const char*> texts) {
        std::vector<Ipv4Prefix> out;
        for (const char* t : texts) {
            out.push_back(*Ipv4Prefix::parse(t));
        }
        return out;
    };
    const std::vector<Ipv4> guarded = {ip("192.0.2.5"), ip("192.0.2.6")};
    SourceFilter f(guarded, prefixes({"10.1.0.0/16", "10.0.0.0/8", "172.16.1.0/24", "172.16.2.0/24",
                                      "203.0.113.9/32"}));
    const std::pair<const char*, bool> cases[] = {
        {"10.0.0.0", true},       {"10.255.255.255", true},   {"10.1.2.3", true},
        {"9.255.255.255", false}, {"11.0.0.0", false},        {"172.16.0.255", false},
        {"172.16.1.0", true},     {"172.16.2.255", true},     {"172.16.3.0", false},
        {"203.0.113.9", true},    {"203.0.113.8", false},     {"203.0.113.10", false},
        {"0.0.0.0", false},       {"255.255.255.255", false},
    };
    for (const auto& [src, allowed] : cases) {
        EXPECT_EQ(f.allows(be("192.0.2.5"), be(src)), allowed) << src;
        EXPECT_EQ(f.allows(be("192.0.2.6"), be(src)), allowed) << src;
        EXPECT_TRUE(f.allows(be("10.96.0.20"), be(src))) << "not guarded: " << src;
    }
    EXPECT_TRUE(SourceFilter(guarded, {}).allows(be("192.0.2.5"), be("9.9.9.9"))) << "no ranges";
    SourceFilter any(guarded, prefixes({"0.0.0.0/0"}));
    EXPECT_TRUE(any.allows(be("192.0.2.5"), be("0.0.0.0")));
    EXPECT_TRUE(any.allows(be("192.0.2.5"), be("255.255.255.255")));
}

}  // namespace
}  // namespace svcgw
