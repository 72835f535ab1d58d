// ControlState's diff path (commit_changes): a change of a few services is
// validated against the index of the running set, not against a copy of
// it. Guarantees: it refuses every clash the whole-set validation refuses
// (VIP:port, ClusterIP, load-balancer and external addresses, endpoints on
// served addresses, the DNS address), allocates the addresses the
// whole-set allocator would, and a refused or failed change leaves the
// running set, its index and the published set as they were.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.hpp"
#include "control/state.hpp"
#include "control_fixture.hpp"

namespace svcgw {
namespace {

using namespace testing_control;

Ipv4 ip(const char* text) {
    return *Ipv4::parse(text);
}

ServiceConfig service(const std::string& name, std::optional<Ipv4> cluster_ip = std::nullopt,
                      uint16_t port = 80, std::vector<const char*> endpoints = {"10.99.0.31"}) {
    ServiceConfig s;
    s.name = name;
    s.ns = "default";
    s.cluster_ip = cluster_ip;
    s.ports.push_back(ServicePortConfig{"", port, 8080, "", Protocol::tcp});
    for (const char* e : endpoints) {
        EndpointConfig ep;
        ep.ip = ip(e);
        s.endpoints.push_back(ep);
    }
    return s;
}

Config config_of(const std::string& yaml) {
    auto c = load_config(yaml, "diff.yaml");
    EXPECT_TRUE(c) << (c ? "" : c.error()[0].str());
    return c ? *c : Config{};
}

// A small CIDR (/29: network, broadcast and the DNS address leave 5) and a
// two-address pool, so that allocation runs out within a test.
constexpr const char* kSmall = R"(
ports: [{name: ext0, device: "net_null0", address: 10.99.0.1/24}]
network: {service_cidr: 10.96.0.0/29, lb_pools: ["192.0.2.10-192.0.2.11"]}
dns: {cluster_ip: 10.96.0.6}
)";

// Everything a change may touch: versions, records, the published set.
struct Observed {
    uint64_t version;
    std::vector<ServiceConfig> running;
    std::map<std::string, ServiceConfig> published;
    int calls;
    bool operator==(const Observed&) const = default;
};

struct Diff : ::testing::Test {
    Diff() : state(base_config(), publisher, 1000) {
        for (const auto& [key, record] : state.records()) {
            publisher.published.emplace(key, record.config);
        }
    }
    Observed observe() const {
        return Observed{state.version(), state.running_config().services, publisher.published,
                        publisher.calls};
    }
    Result<std::vector<ChangeOutcome>, ControlError> create(ServiceConfig s) {
        return state.apply({std::move(s)}, true, 2000);
    }
    // The running set checked and allocated as a whole: the reference.
    void expect_whole_set_agrees() {
        Config whole = state.running_config();
        const std::vector<ServiceConfig> running = whole.services;
        ASSERT_TRUE(validate_and_allocate(whole, running)) << "the running set is invalid";
        EXPECT_EQ(whole.services, running);
        std::vector<ServiceConfig> published;
        for (const auto& [key, s] : publisher.published) {
            published.push_back(s);
        }
        EXPECT_EQ(published, running) << "the data plane holds what runs";
    }

    FakePublisher publisher;
    ControlState state;
};

// filesvc runs on 10.96.0.50:80 (control_fixture.hpp's file).
TEST_F(Diff, DuplicateVipPortRefusedAsOnTheWholeSet) {
    const Observed before = observe();
    auto r = create(service("web", ip("10.96.0.50")));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ControlErrorKind::invalid);
    EXPECT_NE(
        r.error().message.find("10.96.0.50:80/TCP is already used by service default/filesvc"),
        std::string::npos)
        << r.error().message;
    EXPECT_EQ(observe(), before);
    // The refusal put filesvc's claim back: the same clash is refused again.
    EXPECT_FALSE(create(service("web", ip("10.96.0.50"))));
    // Another port on the same ClusterIP does not clash (Kubernetes' rule).
    ASSERT_TRUE(create(service("web", ip("10.96.0.50"), 81)));
    expect_whole_set_agrees();
}

TEST_F(Diff, RefusedReplaceKeepsTheRunningClaims) {
    ASSERT_TRUE(create(service("web", ip("10.96.0.60"))));
    const Observed before = observe();
    // web moving onto filesvc's VIP:port is refused ...
    EXPECT_FALSE(state.apply({service("web", ip("10.96.0.50"))}, false, 3000));
    EXPECT_EQ(observe(), before);
    // ... and web still holds 10.96.0.60:80 for the next change.
    auto r = create(service("api", ip("10.96.0.60")));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("10.96.0.60:80/TCP is already used by service"),
              std::string::npos)
        << r.error().message;
    expect_whole_set_agrees();
}

TEST_F(Diff, DeleteThenReAddFreesTheAddress) {
    ASSERT_TRUE(state.remove("default", "filesvc"));
    ASSERT_TRUE(create(service("web", ip("10.96.0.50"))));
    EXPECT_EQ(*state.find("default", "web")->config.cluster_ip, ip("10.96.0.50"));
    // The allocated address of a deleted service is free again, and the
    // hash gives it back to the same name.
    ASSERT_TRUE(create(service("api")));
    const Ipv4 first = *state.find("default", "api")->config.cluster_ip;
    ASSERT_TRUE(state.remove("default", "api"));
    ASSERT_TRUE(create(service("api")));
    EXPECT_EQ(*state.find("default", "api")->config.cluster_ip, first);
    expect_whole_set_agrees();
}

TEST_F(Diff, ReplaceKeepsItsAllocatedClusterIp) {
    ASSERT_TRUE(create(service("api")));
    const Ipv4 vip = *state.find("default", "api")->config.cluster_ip;
    ServiceConfig again = service("api", std::nullopt, 80, {"10.99.0.32"});
    ASSERT_TRUE(state.apply({again}, false, 3000));
    EXPECT_EQ(*state.find("default", "api")->config.cluster_ip, vip);
    EXPECT_EQ(state.find("default", "api")->created_unix_s, 2000);
    // Its own old claim does not clash with its new version.
    ServiceConfig same_vip = service("api", vip, 80, {"10.99.0.33"});
    ASSERT_TRUE(state.apply({same_vip}, false, 3000));
    expect_whole_set_agrees();
}

TEST_F(Diff, ExternalAddressesAndEndpointsClashAcrossServices) {
    ServiceConfig lb = service("lb");
    lb.external_ips = {ip("198.51.100.7")};
    ASSERT_TRUE(create(lb));
    const Observed before = observe();
    // The same external address and port.
    ServiceConfig twin = service("twin");
    twin.external_ips = {ip("198.51.100.7")};
    auto r = create(twin);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("198.51.100.7:80/TCP is already used by service default/lb"),
              std::string::npos)
        << r.error().message;
    // An endpoint on an address the gateway serves.
    auto e = create(service("pod", std::nullopt, 80, {"198.51.100.7"}));
    ASSERT_FALSE(e);
    EXPECT_NE(e.error().message.find("is an address served by service default/lb"),
              std::string::npos)
        << e.error().message;
    // An external address on a running service's endpoint (filesvc's).
    ServiceConfig onto = service("onto");
    onto.external_ips = {ip("10.99.0.11")};
    onto.ports[0].port = 8443;
    EXPECT_FALSE(create(onto));
    EXPECT_EQ(observe(), before);
    expect_whole_set_agrees();
}

TEST_F(Diff, TheDnsAddressHasOneOwner) {
    Config c = base_config();
    ServiceConfig dns = service("kube-dns", c.dns.cluster_ip, 53);
    dns.ns = "kube-system";
    dns.ports[0].protocol = Protocol::udp;
    ASSERT_TRUE(create(dns));
    ServiceConfig second = dns;
    second.name = "coredns";
    auto r = create(second);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find(c.dns.cluster_ip.str() + ":53/UDP is already used by service"),
              std::string::npos)
        << r.error().message;
}

TEST(DiffAllocation, ServiceCidrFullAsOnTheWholeSet) {
    FakePublisher publisher;
    ControlState state(config_of(kSmall), publisher, 1000);
    // 10.96.0.0/29: 8 addresses less network, broadcast and DNS = 5.
    std::vector<Ipv4> given;
    for (int i = 0; i < 5; ++i) {
        auto r = state.apply({service("s" + std::to_string(i))}, true, 1000);
        ASSERT_TRUE(r) << r.error().message;
        given.push_back(*state.find("default", "s" + std::to_string(i))->config.cluster_ip);
    }
    std::sort(given.begin(), given.end());
    EXPECT_EQ(std::unique(given.begin(), given.end()), given.end()) << "each address once";
    auto full = state.apply({service("s5")}, true, 1000);
    ASSERT_FALSE(full);
    EXPECT_NE(full.error().message.find("is full: no free ClusterIP for default/s5"),
              std::string::npos)
        << full.error().message;
    ASSERT_TRUE(state.remove("default", "s2"));
    ASSERT_TRUE(state.apply({service("s5")}, true, 1000)) << "a deletion frees its address";
}

TEST(DiffAllocation, PoolAddressesSkipWhatRuns) {
    FakePublisher publisher;
    ControlState state(config_of(kSmall), publisher, 1000);
    auto lb = [](const std::string& name, std::vector<const char*> endpoints) {
        ServiceConfig s = service(name, std::nullopt, 80, std::move(endpoints));
        s.type = ServiceType::load_balancer;
        return s;
    };
    // An endpoint sits on one of the pool's two addresses: never handed out.
    ASSERT_TRUE(state.apply({service("pod", std::nullopt, 80, {"192.0.2.10"})}, true, 1000));
    ASSERT_TRUE(state.apply({lb("a", {"10.99.0.31"})}, true, 1000));
    EXPECT_EQ(state.find("default", "a")->config.load_balancer_ips,
              std::vector<Ipv4>{ip("192.0.2.11")});
    auto full = state.apply({lb("b", {"10.99.0.32"})}, true, 1000);
    ASSERT_FALSE(full);
    EXPECT_NE(full.error().message.find("network.lb_pools are full"), std::string::npos)
        << full.error().message;
    ASSERT_TRUE(state.remove("default", "pod"));
    ASSERT_TRUE(state.apply({lb("b", {"10.99.0.32"})}, true, 1000));
    EXPECT_EQ(state.find("default", "b")->config.load_balancer_ips,
              std::vector<Ipv4>{ip("192.0.2.10")});
}

TEST_F(Diff, FailedPublishChangesNothing) {
    const Observed before = observe();
    publisher.fail_next = true;
    auto r = create(service("web", ip("10.96.0.60")));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ControlErrorKind::invalid);
    Observed after = observe();
    EXPECT_EQ(after.calls, before.calls + 1) << "the publish was attempted";
    after.calls = before.calls;
    EXPECT_EQ(after, before);
    // The index forgot the failed service: its address is free.
    ASSERT_TRUE(create(service("other", ip("10.96.0.60"))));
    // ... and still holds the running ones.
    EXPECT_FALSE(create(service("web", ip("10.96.0.50"))));
    expect_whole_set_agrees();
}

TEST_F(Diff, FeedEventsTakeTheSamePath) {
    auto one = state.sync(Origin::kubernetes, {service("feed", ip("10.96.0.70"))}, {}, 1000);
    ASSERT_TRUE(one);
    EXPECT_EQ(one->counts.added, 1u);
    EXPECT_EQ(state.find("default", "feed")->origin, Origin::kubernetes);
    // A clash of the feed's service is left out with its errors; the rest runs.
    auto clash = state.sync(Origin::kubernetes, {service("clash", ip("10.96.0.50"))}, {}, 1000);
    ASSERT_TRUE(clash);
    ASSERT_EQ(clash->rejected.size(), 1u);
    EXPECT_EQ(clash->rejected[0].first, "default/clash");
    EXPECT_EQ(state.find("default", "clash"), nullptr);
    auto gone = state.sync(Origin::kubernetes, {}, {"default/feed"}, 1000);
    ASSERT_TRUE(gone);
    EXPECT_EQ(gone->counts.removed, 1u);
    ASSERT_TRUE(create(service("again", ip("10.96.0.70"))));
    expect_whole_set_agrees();
}

}  // namespace
}  // namespace svcgw
