// Service snapshot and VIP table: building, eligibility, publication,
// all-or-nothing updates and RCU reclamation (DESIGN §1).
#define ALLOW_EXPERIMENTAL_API 1

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "table/service.hpp"
#include "table/service_table.hpp"
#include "test_eal.hpp"

namespace svcgw {
namespace {

const auto* const g_env =
    ::testing::AddGlobalTestEnvironment(new svcgw::test_support::EalEnvironment("test_table"));

constexpr uint32_t kMaxReaders = 4;

Ipv4 ip(const char* text) {
    return *Ipv4::parse(text);
}
uint32_t ip_be(const char* text) {
    return htonl(ip(text).value);
}

EndpointConfig endpoint(const char* addr, bool ready = true, bool terminating = false,
                        uint32_t weight = 100, bool serving = true) {
    EndpointConfig ep;
    ep.ip = ip(addr);
    ep.ready = ready;
    ep.serving = serving;
    ep.terminating = terminating;
    ep.weight = weight;
    return ep;
}

ServicePortConfig port(uint16_t number, uint16_t target, Protocol proto = Protocol::tcp,
                       std::string name = {}) {
    ServicePortConfig p;
    p.name = std::move(name);
    p.port = number;
    p.target_port = target;
    p.protocol = proto;
    return p;
}

ServiceConfig service(const std::string& name, const char* cluster_ip,
                      std::vector<ServicePortConfig> ports, std::vector<EndpointConfig> endpoints) {
    ServiceConfig s;
    s.name = name;
    s.ns = "default";
    s.cluster_ip = ip(cluster_ip);
    s.ports = std::move(ports);
    s.endpoints = std::move(endpoints);
    return s;
}

VipKey key(const char* addr, uint16_t p, Protocol proto = Protocol::tcp) {
    return VipKey{ip_be(addr), htons(p), static_cast<uint8_t>(proto), 0};
}

// Backend indices that own at least one slot of a ring.
std::set<uint32_t> ring_members(const MaglevRing& ring) {
    std::set<uint32_t> out;
    for (uint32_t s = 0; s < ring.size(); ++s) {
        out.insert(ring.at(s));
    }
    return out;
}

std::set<std::string> member_ips(const Service& svc, const MaglevRing& ring) {
    std::set<std::string> out;
    for (uint32_t i : ring_members(ring)) {
        out.insert(Ipv4{ntohl(svc.backends()[i].ip_be)}.str());
    }
    return out;
}

std::unique_ptr<const Service> build_ok(const ServiceConfig& cfg, MaglevConfig maglev = {}) {
    auto built = Service::build(cfg, maglev);
    EXPECT_TRUE(built.has_value()) << (built ? "" : built.error().str());
    return built ? std::move(*built) : nullptr;
}

// ---------------------------------------------------------------- Service

TEST(Service, BuildsBackendsPortsAndIndex) {
    auto cfg = service("web", "10.96.0.20", {port(80, 8080), port(53, 5353, Protocol::udp)},
                       {endpoint("10.99.0.13"), endpoint("10.99.0.11"), endpoint("10.99.0.12")});
    cfg.session_affinity = SessionAffinity::client_ip;
    cfg.session_affinity_timeout_s = 60;
    auto svc = build_ok(cfg);
    ASSERT_TRUE(svc);
    EXPECT_EQ(svc->name(), "web");
    EXPECT_EQ(svc->ns(), "default");
    EXPECT_EQ(svc->cluster_ip(), ip("10.96.0.20"));
    EXPECT_EQ(svc->session_affinity(), SessionAffinity::client_ip);
    EXPECT_EQ(svc->session_affinity_timeout_s(), 60u);
    ASSERT_EQ(svc->backends().size(), 3u);
    EXPECT_EQ(svc->eligible_count(), 3u);

    // Backends follow Maglev's sorted order, so ring entries index them.
    const auto& order = svc->ring().sorted_order();
    ASSERT_EQ(order.size(), 3u);
    for (size_t k = 0; k < 3; ++k) {
        EXPECT_EQ(svc->backends()[k].ip_be, htonl(cfg.endpoints[order[k]].ip.value));
    }
    EXPECT_EQ(ring_members(svc->ring()).size(), 3u);

    for (const auto& b : svc->backends()) {
        const Backend* found = svc->find_backend(b.ip_be);
        ASSERT_NE(found, nullptr);
        EXPECT_EQ(found, &b);
    }
    EXPECT_EQ(svc->find_backend(ip_be("10.99.0.14")), nullptr);
    EXPECT_EQ(svc->find_backend(0), nullptr);

    ASSERT_EQ(svc->ports().size(), 2u);
    const ServicePort& http = svc->ports()[0];
    EXPECT_EQ(http.service, svc.get());
    EXPECT_EQ(http.ring, &svc->ring());
    EXPECT_EQ(http.port_be, htons(80));
    EXPECT_EQ(http.protocol, Protocol::tcp);
    ASSERT_EQ(http.target_port_be.size(), 3u);
    for (uint16_t t : http.target_port_be) {
        EXPECT_EQ(t, htons(8080));
    }
    const ServicePort& dns = svc->ports()[1];
    EXPECT_EQ(dns.port_be, htons(53));
    EXPECT_EQ(dns.protocol, Protocol::udp);
    EXPECT_EQ(dns.target_port_be[0], htons(5353));
}

TEST(Service, GenerationsAreUniqueAndIncreasing) {
    auto cfg = service("web", "10.96.0.20", {port(80, 80)}, {endpoint("10.99.0.11")});
    auto a = build_ok(cfg);
    auto b = build_ok(cfg);
    ASSERT_TRUE(a && b);
    EXPECT_LT(a->generation(), b->generation());
}

TEST(Service, InputOrderDoesNotMatter) {
    auto a =
        build_ok(service("web", "10.96.0.20", {port(80, 80)},
                         {endpoint("10.99.0.11"), endpoint("10.99.0.2"), endpoint("10.1.0.1")}));
    auto b =
        build_ok(service("web", "10.96.0.20", {port(80, 80)},
                         {endpoint("10.1.0.1"), endpoint("10.99.0.11"), endpoint("10.99.0.2")}));
    ASSERT_TRUE(a && b);
    ASSERT_EQ(a->backends().size(), b->backends().size());
    for (size_t i = 0; i < a->backends().size(); ++i) {
        EXPECT_EQ(a->backends()[i].ip_be, b->backends()[i].ip_be);
    }
    ASSERT_EQ(a->ring().size(), b->ring().size());
    for (uint32_t s = 0; s < a->ring().size(); ++s) {
        ASSERT_EQ(a->ring().at(s), b->ring().at(s));
    }
}

struct EligibilityCase {
    const char* description;
    std::vector<EndpointConfig> endpoints;
    std::set<std::string> expected;  // addresses that get new flows
};

TEST(Service, EligibilityFollowsKubernetesRules) {
    const std::vector<EligibilityCase> cases = {
        {"ready endpoints share the ring",
         {endpoint("10.0.0.1"), endpoint("10.0.0.2")},
         {"10.0.0.1", "10.0.0.2"}},
        {"terminating endpoint drains while another is ready",
         {endpoint("10.0.0.1"), endpoint("10.0.0.2", false, true)},
         {"10.0.0.1"}},
        {"ready and terminating (publishNotReadyAddresses) takes new flows (kube-proxy)",
         {endpoint("10.0.0.1"), endpoint("10.0.0.2", true, true)},
         {"10.0.0.1", "10.0.0.2"}},
        {"weight 0 drains",
         {endpoint("10.0.0.1", true, false, 0), endpoint("10.0.0.2")},
         {"10.0.0.2"}},
        {"all terminating: serving ones get new flows anyway",
         {endpoint("10.0.0.1", false, true), endpoint("10.0.0.2", false, true)},
         {"10.0.0.1", "10.0.0.2"}},
        {"all terminating: not serving and weight 0 stay out",
         {endpoint("10.0.0.1", false, true, 100, false), endpoint("10.0.0.2", false, true, 0),
          endpoint("10.0.0.3", false, true)},
         {"10.0.0.3"}},
        {"not ready, not serving: nothing", {endpoint("10.0.0.1", false, false, 100, false)}, {}},
        {"not ready, not terminating: nothing even if serving",
         {endpoint("10.0.0.1", false, false)},
         {}},
        {"every weight 0: nothing", {endpoint("10.0.0.1", true, false, 0)}, {}},
        {"no endpoints", {}, {}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.description);
        auto svc = build_ok(service("web", "10.96.0.20", {port(80, 80)}, c.endpoints));
        ASSERT_TRUE(svc);
        // Every endpoint stays a backend (existing flows keep going).
        ASSERT_EQ(svc->backends().size(), c.endpoints.size());
        for (const auto& ep : c.endpoints) {
            const Backend* b = svc->find_backend(htonl(ep.ip.value));
            ASSERT_NE(b, nullptr);
            EXPECT_EQ(b->eligible, c.expected.count(ep.ip.str()) == 1) << ep.ip.str();
            EXPECT_EQ(b->terminating, ep.terminating);
            EXPECT_EQ(b->weight, ep.weight);
        }
        EXPECT_EQ(svc->eligible_count(), c.expected.size());
        EXPECT_EQ(svc->ring().empty(), c.expected.empty());
        EXPECT_EQ(member_ips(*svc, svc->ring()), c.expected);
    }
}

TEST(Service, WeightsShareTheRing) {
    auto svc = build_ok(
        service("web", "10.96.0.20", {port(80, 80)},
                {endpoint("10.0.0.1", true, false, 300), endpoint("10.0.0.2", true, false, 100)}));
    ASSERT_TRUE(svc);
    const auto counts = svc->ring().slot_counts();
    const Backend* heavy = svc->find_backend(ip_be("10.0.0.1"));
    const size_t heavy_index = heavy - svc->backends().data();
    const double share = double(counts[heavy_index]) / svc->ring().size();
    EXPECT_NEAR(share, 0.75, 0.05);
}

TEST(Service, PortWithoutTargetOnSomeBackendsGetsItsOwnRing) {
    ServicePortConfig named = port(80, 0, Protocol::tcp, "http");
    named.target_port_name = "web";
    auto with_port = endpoint("10.0.0.1");
    with_port.ports = {{"http", 8080}};
    auto without_port = endpoint("10.0.0.2");
    auto svc =
        build_ok(service("web", "10.96.0.20", {named, port(443, 8443, Protocol::tcp, "https")},
                         {with_port, without_port}));
    ASSERT_TRUE(svc);
    const ServicePort& http = svc->ports()[0];
    const ServicePort& https = svc->ports()[1];
    const size_t i1 = svc->find_backend(ip_be("10.0.0.1")) - svc->backends().data();
    const size_t i2 = svc->find_backend(ip_be("10.0.0.2")) - svc->backends().data();
    EXPECT_EQ(http.target_port_be[i1], htons(8080));
    EXPECT_EQ(http.target_port_be[i2], 0);
    EXPECT_NE(http.ring, &svc->ring());
    EXPECT_EQ(member_ips(*svc, *http.ring), std::set<std::string>{"10.0.0.1"});
    EXPECT_EQ(https.ring, &svc->ring());
    EXPECT_EQ(member_ips(*svc, *https.ring), (std::set<std::string>{"10.0.0.1", "10.0.0.2"}));
}

TEST(Service, RejectsInvalidConfigs) {
    auto no_ip = service("web", "10.96.0.20", {port(80, 80)}, {});
    no_ip.cluster_ip.reset();
    auto r = Service::build(no_ip, {});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().path, "cluster_ip");

    r = Service::build(service("web", "10.96.0.20", {port(80, 80), port(80, 81)}, {}), {});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().path, "ports[1]");

    r = Service::build(service("web", "10.96.0.20", {port(0, 80)}, {}), {});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().path, "ports[0].port");

    r = Service::build(
        service("web", "10.96.0.20", {port(80, 80)}, {endpoint("10.0.0.1"), endpoint("10.0.0.1")}),
        {});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().path, "endpoints[1].ip");
    // Among many: the first endpoint (in input order) that repeats an
    // earlier one, and none of the distinct ones that share a hash bucket.
    std::vector<EndpointConfig> many;
    for (uint32_t i = 0; i < 2000; ++i) {
        many.push_back(endpoint(Ipv4{0x0a000000 + i * 4096}.str().c_str()));
    }
    EXPECT_TRUE(Service::build(service("web", "10.96.0.20", {port(80, 80)}, many), {}));
    many[1700] = many[3];
    many[1500] = many[10];
    r = Service::build(service("web", "10.96.0.20", {port(80, 80)}, many), {});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().path, "endpoints[1500].ip");
    EXPECT_EQ(r.error().message, "duplicate endpoint " + many[10].ip.str());

    MaglevConfig not_prime;
    not_prime.table_size = 1000;
    r = Service::build(service("web", "10.96.0.20", {port(80, 80)}, {endpoint("10.0.0.1")}),
                       not_prime);
    EXPECT_FALSE(r);

    // Same port number on two protocols is fine.
    EXPECT_TRUE(
        Service::build(service("web", "10.96.0.20",
                               {port(53, 53, Protocol::udp), port(53, 53, Protocol::tcp)}, {}),
                       {}));
}

TEST(Service, HeadlessHasNoClusterIp) {
    auto cfg = service("db", "10.96.0.20", {port(5432, 5432)}, {endpoint("10.0.0.1")});
    cfg.cluster_ip.reset();
    cfg.headless = true;
    auto svc = build_ok(cfg);
    ASSERT_TRUE(svc);
    EXPECT_FALSE(svc->cluster_ip());
}

// ---------------------------------------------------------------- health

// A HealthSource over a set of down "ip:probe_port" strings; it records
// every question so a test can see which port was asked for.
struct FakeHealth {
    std::set<std::string> down;
    std::vector<std::string> asked;
    HealthSource source{[this](Ipv4 ip, uint16_t p, const HealthCheckConfig&) {
        std::string key = ip.str() + ":" + std::to_string(p);
        asked.push_back(key);
        return !down.contains(key);
    }};
};

ServicePortConfig checked(ServicePortConfig p, AllDownPolicy all_down = AllDownPolicy::fail_open) {
    p.health_check = HealthCheckConfig{};
    p.all_down = all_down;
    return p;
}

std::unique_ptr<const Service> build_health(const ServiceConfig& cfg, const FakeHealth& health) {
    auto built = Service::build(cfg, {}, nullptr, &health.source);
    EXPECT_TRUE(built.has_value()) << (built ? "" : built.error().str());
    return built ? std::move(*built) : nullptr;
}

std::set<std::string> eligible_ips(const Service& svc, const ServicePort& sp) {
    std::set<std::string> out;
    for (size_t k = 0; k < svc.backends().size(); ++k) {
        if (sp.eligible[k] != 0) {
            out.insert(Ipv4{ntohl(svc.backends()[k].ip_be)}.str());
        }
    }
    return out;
}

TEST(ServiceHealth, ACheckThatPassesEverywhereChangesNothing) {
    const std::vector<std::vector<EndpointConfig>> sets = {
        {endpoint("10.0.0.1"), endpoint("10.0.0.2", false, true)},
        {endpoint("10.0.0.1", false, true), endpoint("10.0.0.2", false, true, 0)},
        {endpoint("10.0.0.1", true, false, 0), endpoint("10.0.0.2", true, false, 300)},
        {endpoint("10.0.0.1", false, false)},
        {},
    };
    FakeHealth all_up;
    for (const auto& endpoints : sets) {
        auto plain = build_ok(service("web", "10.96.0.20", {port(80, 80)}, endpoints));
        auto probed =
            build_health(service("web", "10.96.0.20", {checked(port(80, 80))}, endpoints), all_up);
        ASSERT_TRUE(plain && probed);
        const ServicePort& sp = probed->ports()[0];
        EXPECT_EQ(sp.ring, &probed->ring()) << "no ring of its own";
        EXPECT_EQ(sp.all_down, AllDownState::no);
        EXPECT_EQ(member_ips(*probed, *sp.ring), member_ips(*plain, plain->ring()));
        EXPECT_EQ(sp.eligible, plain->ports()[0].eligible);
    }
}

TEST(ServiceHealth, ADownBackendLeavesTheRingAndKeepsItsFlows) {
    FakeHealth health;
    health.down = {"10.0.0.2:8080"};
    auto svc =
        build_health(service("web", "10.96.0.20", {checked(port(80, 8080))},
                             {endpoint("10.0.0.1"), endpoint("10.0.0.2"), endpoint("10.0.0.3")}),
                     health);
    ASSERT_TRUE(svc);
    const ServicePort& sp = svc->ports()[0];
    EXPECT_EQ(member_ips(*svc, *sp.ring), (std::set<std::string>{"10.0.0.1", "10.0.0.3"}));
    EXPECT_EQ(eligible_ips(*svc, sp), (std::set<std::string>{"10.0.0.1", "10.0.0.3"}));
    EXPECT_EQ(sp.all_down, AllDownState::no);
    // Still a backend, with its target port: existing flows keep it (as drain).
    const Backend* down = svc->find_backend(ip_be("10.0.0.2"));
    ASSERT_NE(down, nullptr);
    EXPECT_EQ(sp.target_port_be[down - svc->backends().data()], htons(8080));
    // Kubernetes' view is unchanged; the share reported is the port's.
    EXPECT_TRUE(down->eligible);
    EXPECT_EQ(svc->ring_slots()[down - svc->backends().data()], 0u);
    // Probed where the traffic goes: the target port.
    EXPECT_NE(std::find(health.asked.begin(), health.asked.end(), "10.0.0.2:8080"),
              health.asked.end());
}

TEST(ServiceHealth, EachPortFollowsItsOwnCheck) {
    FakeHealth health;
    health.down = {"10.0.0.1:9000"};
    ServicePortConfig http = checked(port(80, 8080, Protocol::tcp, "http"));
    http.health_check->port = 9000;  // a dedicated health port
    ServicePortConfig https = checked(port(443, 8443, Protocol::tcp, "https"));
    ServicePortConfig plain = port(22, 22, Protocol::tcp, "ssh");
    auto svc = build_health(service("web", "10.96.0.20", {http, https, plain},
                                    {endpoint("10.0.0.1"), endpoint("10.0.0.2")}),
                            health);
    ASSERT_TRUE(svc);
    EXPECT_EQ(member_ips(*svc, *svc->ports()[0].ring), std::set<std::string>{"10.0.0.2"});
    EXPECT_NE(svc->ports()[0].ring, &svc->ring());
    EXPECT_EQ(svc->ports()[1].ring, &svc->ring());
    EXPECT_EQ(svc->ports()[2].ring, &svc->ring());
    EXPECT_EQ(member_ips(*svc, svc->ring()), (std::set<std::string>{"10.0.0.1", "10.0.0.2"}));
}

TEST(ServiceHealth, PortsWithTheSameVerdictShareOneRing) {
    FakeHealth health;
    health.down = {"10.0.0.1:80"};
    ServicePortConfig a = checked(port(80, 80, Protocol::tcp, "a"));
    ServicePortConfig b = checked(port(81, 80, Protocol::tcp, "b"));  // same target: same probe
    auto svc = build_health(
        service("web", "10.96.0.20", {a, b}, {endpoint("10.0.0.1"), endpoint("10.0.0.2")}), health);
    ASSERT_TRUE(svc);
    EXPECT_NE(svc->ports()[0].ring, &svc->ring());
    EXPECT_EQ(svc->ports()[0].ring, svc->ports()[1].ring);
}

TEST(ServiceHealth, HealthyTerminatingEndpointsTakeOverFromDownReadyOnes) {
    FakeHealth health;
    health.down = {"10.0.0.1:80"};
    auto svc = build_health(service("web", "10.96.0.20", {checked(port(80, 80))},
                                    {endpoint("10.0.0.1"), endpoint("10.0.0.2", false, true)}),
                            health);
    ASSERT_TRUE(svc);
    const ServicePort& sp = svc->ports()[0];
    EXPECT_EQ(member_ips(*svc, *sp.ring), std::set<std::string>{"10.0.0.2"});
    EXPECT_EQ(sp.all_down, AllDownState::no);
}

TEST(ServiceHealth, AllDownFailOpenKeepsTheKubernetesChoice) {
    FakeHealth health;
    health.down = {"10.0.0.1:80", "10.0.0.2:80"};
    auto svc = build_health(
        service("web", "10.96.0.20", {checked(port(80, 80))},
                {endpoint("10.0.0.1"), endpoint("10.0.0.2"), endpoint("10.0.0.3", false, false)}),
        health);
    ASSERT_TRUE(svc);
    const ServicePort& sp = svc->ports()[0];
    EXPECT_EQ(sp.all_down, AllDownState::fail_open);
    EXPECT_EQ(sp.ring, &svc->ring());
    EXPECT_EQ(member_ips(*svc, *sp.ring), (std::set<std::string>{"10.0.0.1", "10.0.0.2"}));
}

TEST(ServiceHealth, AllDownRejectEmptiesThePortRingOnly) {
    FakeHealth health;
    health.down = {"10.0.0.1:80", "10.0.0.2:80"};
    auto svc =
        build_health(service("web", "10.96.0.20",
                             {checked(port(80, 80, Protocol::tcp, "http"), AllDownPolicy::reject),
                              port(22, 22, Protocol::tcp, "ssh")},
                             {endpoint("10.0.0.1"), endpoint("10.0.0.2")}),
                     health);
    ASSERT_TRUE(svc);
    const ServicePort& http = svc->ports()[0];
    EXPECT_EQ(http.all_down, AllDownState::reject);
    EXPECT_TRUE(http.ring->empty());
    EXPECT_EQ(eligible_ips(*svc, http), std::set<std::string>{});
    EXPECT_EQ(svc->backends().size(), 2u) << "existing flows keep their backends";
    EXPECT_EQ(member_ips(*svc, *svc->ports()[1].ring),
              (std::set<std::string>{"10.0.0.1", "10.0.0.2"}));
}

TEST(ServiceHealth, NoEndpointsIsNotAllDown) {
    FakeHealth health;
    auto svc =
        build_health(service("web", "10.96.0.20", {checked(port(80, 80), AllDownPolicy::reject)},
                             {endpoint("10.0.0.1", false, false)}),
                     health);
    ASSERT_TRUE(svc);
    EXPECT_EQ(svc->ports()[0].all_down, AllDownState::no);
    EXPECT_TRUE(svc->ports()[0].ring->empty());
}

TEST(ServiceHealth, PortsWithoutACheckAreNeverAsked) {
    FakeHealth health;
    health.down = {"10.0.0.1:80"};
    auto svc =
        build_health(service("web", "10.96.0.20", {port(80, 80)}, {endpoint("10.0.0.1")}), health);
    ASSERT_TRUE(svc);
    EXPECT_TRUE(health.asked.empty());
    EXPECT_EQ(member_ips(*svc, *svc->ports()[0].ring), std::set<std::string>{"10.0.0.1"});
}

// ---------------------------------------------------------------- ServiceTable

class TableTest : public ::testing::Test {
protected:
    void SetUp() override {
        const size_t size = rte_rcu_qsbr_get_memsize(kMaxReaders);
        _qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("test_qsbr", size, RTE_CACHE_LINE_SIZE));
        ASSERT_NE(_qsbr, nullptr);
        ASSERT_EQ(rte_rcu_qsbr_init(_qsbr, kMaxReaders), 0);
        make_table({});
    }
    void TearDown() override {
        _table.reset();
        rte_free(_qsbr);
    }
    void make_table(const ServiceTableOptions& options) {
        _table.reset();
        auto t = ServiceTable::create(_qsbr, options);
        ASSERT_TRUE(t) << t.error().str();
        _table = std::move(*t);
    }
    void upsert_ok(const ServiceConfig& cfg) {
        auto r = _table->upsert(cfg, _maglev);
        ASSERT_TRUE(r) << r.error().str();
    }

    rte_rcu_qsbr* _qsbr = nullptr;
    std::unique_ptr<ServiceTable> _table;
    MaglevConfig _maglev;
};

TEST_F(TableTest, LookupByVipPortAndProtocol) {
    upsert_ok(service("web", "10.96.0.20", {port(80, 8080)}, {endpoint("10.99.0.11")}));
    const Service* svc = _table->find("default", "web");
    ASSERT_NE(svc, nullptr);
    const ServicePort* sp = _table->lookup(key("10.96.0.20", 80));
    ASSERT_NE(sp, nullptr);
    EXPECT_EQ(sp, &svc->ports()[0]);
    EXPECT_EQ(sp->service, svc);
    EXPECT_EQ(sp->target_port_be[0], htons(8080));

    EXPECT_EQ(_table->lookup(key("10.96.0.20", 81)), nullptr);
    EXPECT_EQ(_table->lookup(key("10.96.0.20", 80, Protocol::udp)), nullptr);
    EXPECT_EQ(_table->lookup(key("10.96.0.21", 80)), nullptr);
    EXPECT_TRUE(_table->is_vip(ip_be("10.96.0.20")));
    EXPECT_FALSE(_table->is_vip(ip_be("10.96.0.21")));
    EXPECT_EQ(_table->vip_count(), 1u);
    EXPECT_EQ(_table->size(), 1u);
    EXPECT_EQ(_table->find("other", "web"), nullptr);
}

TEST_F(TableTest, MultiPortServiceAndBulkLookup) {
    upsert_ok(service("web", "10.96.0.20",
                      {port(80, 8080), port(443, 8443), port(53, 5353, Protocol::udp)},
                      {endpoint("10.99.0.11")}));
    const Service* svc = _table->find("default", "web");
    ASSERT_NE(svc, nullptr);
    EXPECT_EQ(_table->vip_count(), 3u);

    std::vector<VipKey> burst;
    for (int i = 0; i < 64; ++i) {
        switch (i % 4) {
            case 0:
                burst.push_back(key("10.96.0.20", 80));
                break;
            case 1:
                burst.push_back(key("10.96.0.20", 443));
                break;
            case 2:
                burst.push_back(key("10.96.0.20", 53, Protocol::udp));
                break;
            default:
                burst.push_back(key("10.96.0.20", 53, Protocol::tcp));
                break;  // miss
        }
    }
    const VipBurstResult r = _table->lookup_bulk(burst);
    for (int i = 0; i < 64; ++i) {
        const bool hit = (r.hit_mask >> i) & 1;
        ASSERT_EQ(hit, i % 4 != 3) << i;
        if (hit) {
            EXPECT_EQ(r.ports[i], &svc->ports()[i % 4]);
            EXPECT_EQ(r.ports[i], _table->lookup(burst[i]));
        }
    }
    const VipBurstResult partial = _table->lookup_bulk(std::span(burst).first(3));
    EXPECT_EQ(partial.hit_mask, 0b111u);
    EXPECT_EQ(_table->lookup_bulk({}).hit_mask, 0u);
}

TEST_F(TableTest, ReplaceSwapsDataPointerAndKeepsKeys) {
    upsert_ok(service("web", "10.96.0.20", {port(80, 80)}, {endpoint("10.99.0.11")}));
    const Service* old = _table->find("default", "web");
    const ServicePort* old_port = _table->lookup(key("10.96.0.20", 80));
    upsert_ok(service("web", "10.96.0.20", {port(80, 80)},
                      {endpoint("10.99.0.11"), endpoint("10.99.0.12")}));
    const Service* now = _table->find("default", "web");
    ASSERT_NE(now, nullptr);
    EXPECT_NE(now, old);
    EXPECT_GT(now->generation(), 0u);
    const ServicePort* new_port = _table->lookup(key("10.96.0.20", 80));
    EXPECT_NE(new_port, old_port);
    EXPECT_EQ(new_port, &now->ports()[0]);
    EXPECT_EQ(new_port->service->backends().size(), 2u);
    EXPECT_EQ(_table->vip_count(), 1u);
    EXPECT_EQ(_table->size(), 1u);
    EXPECT_TRUE(_table->is_vip(ip_be("10.96.0.20")));
    // No reader is registered, so the grace period is already over.
    EXPECT_EQ(_table->pending(), 1u);
    EXPECT_EQ(_table->reclaim(), 1u);
    EXPECT_EQ(_table->pending(), 0u);
}

TEST_F(TableTest, ClusterIpChangeMovesKeys) {
    upsert_ok(service("web", "10.96.0.20", {port(80, 80), port(81, 81)}, {endpoint("10.99.0.11")}));
    upsert_ok(service("web", "10.96.0.30", {port(80, 80), port(81, 81)}, {endpoint("10.99.0.11")}));
    EXPECT_EQ(_table->lookup(key("10.96.0.20", 80)), nullptr);
    EXPECT_EQ(_table->lookup(key("10.96.0.20", 81)), nullptr);
    EXPECT_NE(_table->lookup(key("10.96.0.30", 80)), nullptr);
    EXPECT_NE(_table->lookup(key("10.96.0.30", 81)), nullptr);
    EXPECT_FALSE(_table->is_vip(ip_be("10.96.0.20")));
    EXPECT_TRUE(_table->is_vip(ip_be("10.96.0.30")));
    EXPECT_EQ(_table->vip_count(), 2u);
}

TEST_F(TableTest, RemovedPortDeletesItsKey) {
    upsert_ok(
        service("web", "10.96.0.20", {port(80, 80), port(443, 443)}, {endpoint("10.99.0.11")}));
    upsert_ok(service("web", "10.96.0.20", {port(443, 443)}, {endpoint("10.99.0.11")}));
    EXPECT_EQ(_table->lookup(key("10.96.0.20", 80)), nullptr);
    const ServicePort* sp = _table->lookup(key("10.96.0.20", 443));
    ASSERT_NE(sp, nullptr);
    EXPECT_EQ(sp, &_table->find("default", "web")->ports()[0]);
    EXPECT_EQ(_table->vip_count(), 1u);
}

TEST_F(TableTest, RemoveDeletesEverything) {
    upsert_ok(
        service("web", "10.96.0.20", {port(80, 80), port(443, 443)}, {endpoint("10.99.0.11")}));
    upsert_ok(service("api", "10.96.0.21", {port(80, 80)}, {endpoint("10.99.0.12")}));
    ASSERT_TRUE(_table->remove("default", "web"));
    EXPECT_EQ(_table->find("default", "web"), nullptr);
    EXPECT_EQ(_table->lookup(key("10.96.0.20", 80)), nullptr);
    EXPECT_EQ(_table->lookup(key("10.96.0.20", 443)), nullptr);
    EXPECT_FALSE(_table->is_vip(ip_be("10.96.0.20")));
    EXPECT_NE(_table->lookup(key("10.96.0.21", 80)), nullptr);
    EXPECT_EQ(_table->vip_count(), 1u);
    EXPECT_EQ(_table->size(), 1u);
    EXPECT_EQ(_table->pending(), 1u);

    auto again = _table->remove("default", "web");
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().message.find("not found"), std::string::npos);

    // Re-adding after removal works (keys were really deleted).
    upsert_ok(service("web", "10.96.0.20", {port(80, 80)}, {endpoint("10.99.0.11")}));
    EXPECT_NE(_table->lookup(key("10.96.0.20", 80)), nullptr);
}

TEST_F(TableTest, VipAddressIsReferenceCounted) {
    // ClusterIPs are unique per service in Kubernetes; the table still
    // allows two services on one address with distinct ports.
    upsert_ok(service("a", "10.96.0.20", {port(80, 80)}, {endpoint("10.99.0.11")}));
    upsert_ok(service("b", "10.96.0.20", {port(81, 81)}, {endpoint("10.99.0.12")}));
    EXPECT_EQ(_table->lookup(key("10.96.0.20", 80))->service, _table->find("default", "a"));
    EXPECT_EQ(_table->lookup(key("10.96.0.20", 81))->service, _table->find("default", "b"));
    ASSERT_TRUE(_table->remove("default", "a"));
    EXPECT_TRUE(_table->is_vip(ip_be("10.96.0.20")));
    // Moving b away drops the last reference.
    upsert_ok(service("b", "10.96.0.22", {port(81, 81)}, {endpoint("10.99.0.12")}));
    EXPECT_FALSE(_table->is_vip(ip_be("10.96.0.20")));
    EXPECT_TRUE(_table->is_vip(ip_be("10.96.0.22")));
    ASSERT_TRUE(_table->remove("default", "b"));
    EXPECT_FALSE(_table->is_vip(ip_be("10.96.0.22")));
}

TEST_F(TableTest, KeyOwnedByAnotherServiceIsRejected) {
    upsert_ok(service("a", "10.96.0.20", {port(80, 80)}, {endpoint("10.99.0.11")}));
    auto r = _table->upsert(
        service("b", "10.96.0.20", {port(443, 443), port(80, 80)}, {endpoint("10.99.0.12")}),
        _maglev);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().path, "ports[1]");
    EXPECT_NE(r.error().message.find("default/a"), std::string::npos) << r.error().message;
    EXPECT_EQ(_table->find("default", "b"), nullptr);
    EXPECT_EQ(_table->lookup(key("10.96.0.20", 443)), nullptr);
    EXPECT_EQ(_table->lookup(key("10.96.0.20", 80))->service, _table->find("default", "a"));
    EXPECT_EQ(_table->vip_count(), 1u);
}

TEST_F(TableTest, FailedUpsertLeavesStateUnchanged) {
    upsert_ok(service("web", "10.96.0.20", {port(80, 80)}, {endpoint("10.99.0.11")}));
    const Service* before = _table->find("default", "web");
    const ServicePort* port_before = _table->lookup(key("10.96.0.20", 80));

    // Invalid config: duplicate port; and a cluster IP change that is invalid.
    auto bad = service("web", "10.96.0.30", {port(80, 80), port(80, 81)}, {endpoint("10.99.0.12")});
    ASSERT_FALSE(_table->upsert(bad, _maglev));
    MaglevConfig not_prime;
    not_prime.table_size = 1000;
    ASSERT_FALSE(_table->upsert(
        service("web", "10.96.0.30", {port(80, 80)}, {endpoint("10.99.0.12")}), not_prime));

    EXPECT_EQ(_table->find("default", "web"), before);
    EXPECT_EQ(_table->lookup(key("10.96.0.20", 80)), port_before);
    EXPECT_EQ(_table->lookup(key("10.96.0.30", 80)), nullptr);
    EXPECT_TRUE(_table->is_vip(ip_be("10.96.0.20")));
    EXPECT_FALSE(_table->is_vip(ip_be("10.96.0.30")));
    EXPECT_EQ(_table->pending(), 0u);
}

TEST_F(TableTest, CapacityIsAllOrNothing) {
    ServiceTableOptions small;
    small.max_vips = 4;
    make_table(small);
    upsert_ok(service("a", "10.96.0.20", {port(1, 1), port(2, 2), port(3, 3)}, {}));
    auto r = _table->upsert(service("b", "10.96.0.21", {port(1, 1), port(2, 2)}, {}), _maglev);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("full"), std::string::npos);
    EXPECT_EQ(_table->find("default", "b"), nullptr);
    EXPECT_EQ(_table->lookup(key("10.96.0.21", 1)), nullptr);
    EXPECT_FALSE(_table->is_vip(ip_be("10.96.0.21")));
    EXPECT_EQ(_table->vip_count(), 3u);
    // Replacing within the limit still works: a loses a port, b fits.
    upsert_ok(service("a", "10.96.0.20", {port(1, 1), port(2, 2)}, {}));
    upsert_ok(service("b", "10.96.0.21", {port(1, 1), port(2, 2)}, {}));
    EXPECT_EQ(_table->vip_count(), 4u);
}

TEST_F(TableTest, DeferQueueDrainsAfterReadersReportQuiescent) {
    ASSERT_EQ(rte_rcu_qsbr_thread_register(_qsbr, 0), 0);
    rte_rcu_qsbr_thread_online(_qsbr, 0);
    upsert_ok(service("web", "10.96.0.20", {port(80, 80)}, {endpoint("10.99.0.11")}));
    upsert_ok(service("web", "10.96.0.20", {port(80, 80)}, {endpoint("10.99.0.12")}));
    ASSERT_TRUE(_table->remove("default", "web"));
    EXPECT_EQ(_table->pending(), 2u);
    // Reader 0 has not passed a quiescent state: nothing may be freed.
    EXPECT_EQ(_table->reclaim(), 0u);
    EXPECT_EQ(_table->pending(), 2u);
    rte_rcu_qsbr_quiescent(_qsbr, 0);
    EXPECT_EQ(_table->reclaim(), 2u);
    EXPECT_EQ(_table->pending(), 0u);
    rte_rcu_qsbr_thread_offline(_qsbr, 0);
    rte_rcu_qsbr_thread_unregister(_qsbr, 0);
}

TEST_F(TableTest, SlotsParkedForReadersFailCleanlyAndRollBack) {
    ServiceTableOptions small;
    small.max_vips = 32;  // 64 hash slots
    make_table(small);
    ASSERT_EQ(rte_rcu_qsbr_thread_register(_qsbr, 1), 0);
    rte_rcu_qsbr_thread_online(_qsbr, 1);

    auto ports_from = [](uint16_t first, uint16_t count) {
        std::vector<ServicePortConfig> ports;
        for (uint16_t p = first; p < first + count; ++p) {
            ports.push_back(port(p, p));
        }
        return ports;
    };
    // Churn keys while reader 1 never reports: deleted slots stay parked.
    bool failed = false;
    for (uint16_t round = 0; round < 8 && !failed; ++round) {
        auto r = _table->upsert(service("web", "10.96.0.20", ports_from(1 + round * 32, 32), {}),
                                _maglev);
        if (!r) {
            failed = true;
            EXPECT_NE(r.error().message.find("grace period"), std::string::npos)
                << r.error().message;
            // The previous generation is still fully in place.
            const Service* live = _table->find("default", "web");
            ASSERT_NE(live, nullptr);
            const uint16_t live_first = 1 + (round - 1) * 32;
            EXPECT_EQ(_table->lookup(key("10.96.0.20", live_first))->service, live);
            EXPECT_EQ(_table->lookup(key("10.96.0.20", 1 + round * 32)), nullptr);
            EXPECT_EQ(_table->vip_count(), 32u);
            EXPECT_TRUE(_table->is_vip(ip_be("10.96.0.20")));
        }
    }
    EXPECT_TRUE(failed) << "parked slots never ran out";

    // Once the reader reports, the slots come back and the change goes in.
    rte_rcu_qsbr_quiescent(_qsbr, 1);
    upsert_ok(service("web", "10.96.0.20", ports_from(1000, 32), {}));
    EXPECT_NE(_table->lookup(key("10.96.0.20", 1000)), nullptr);
    rte_rcu_qsbr_quiescent(_qsbr, 1);
    _table->reclaim();
    EXPECT_EQ(_table->pending(), 0u);
    rte_rcu_qsbr_thread_offline(_qsbr, 1);
    rte_rcu_qsbr_thread_unregister(_qsbr, 1);
}

TEST_F(TableTest, HeadlessServiceIsKeptWithoutKeys) {
    auto cfg = service("db", "10.96.0.20", {port(5432, 5432)}, {endpoint("10.0.0.1")});
    cfg.cluster_ip.reset();
    cfg.headless = true;
    upsert_ok(cfg);
    EXPECT_NE(_table->find("default", "db"), nullptr);
    EXPECT_EQ(_table->vip_count(), 0u);
    EXPECT_FALSE(_table->is_vip(ip_be("10.96.0.20")));
    ASSERT_TRUE(_table->remove("default", "db"));
}

TEST_F(TableTest, ServicesListedInNameOrder) {
    upsert_ok(service("b", "10.96.0.21", {port(80, 80)}, {}));
    upsert_ok(service("a", "10.96.0.20", {port(80, 80)}, {}));
    const auto all = _table->services();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0]->name(), "a");
    EXPECT_EQ(all[1]->name(), "b");
}

// ---------------------------------------------------------------- ReplyIndex

// "unique VIP:port", "ambiguous" or "none": what a flowless reply from
// ADDR:PORT is translated to.
std::string reply_of(const ServiceTable& table, const char* addr, uint16_t p,
                     Protocol proto = Protocol::tcp) {
    const ReplyIndex::Answer a =
        table.replies()->lookup(ip_be(addr), htons(p), static_cast<uint8_t>(proto));
    switch (a.match) {
        case ReplyIndex::Match::none:
            return "none";
        case ReplyIndex::Match::ambiguous:
            return "ambiguous";
        case ReplyIndex::Match::unique:
            break;
    }
    return Ipv4{ntohl(a.vip_be)}.str() + ":" + std::to_string(ntohs(a.port_be));
}

TEST_F(TableTest, ReplyIndexOnlyWhenAsked) {
    EXPECT_EQ(_table->replies(), nullptr);  // fullnat's table
    make_table(ServiceTableOptions{.max_reply_keys = 64});
    ASSERT_NE(_table->replies(), nullptr);
}

TEST_F(TableTest, ReplyIndexMapsEachBackendPortToItsOneVipPort) {
    make_table(ServiceTableOptions{.max_reply_keys = 64});
    ServicePortConfig named = port(443, 0, Protocol::tcp, "https");
    named.target_port_name = "tls";  // no endpoint exposes it: target 0, not indexed
    upsert_ok(service(
        "web", "10.96.0.20",
        {port(80, 8080, Protocol::tcp, "http"), port(53, 5353, Protocol::udp, "dns"), named},
        {endpoint("10.99.0.11"), endpoint("10.99.0.12", false, true, 100, true),
         endpoint("10.99.0.13", true, false, 0)}));
    // Every backend, also terminating and drained ones (their flows may move).
    for (const char* b : {"10.99.0.11", "10.99.0.12", "10.99.0.13"}) {
        SCOPED_TRACE(b);
        EXPECT_EQ(reply_of(*_table, b, 8080), "10.96.0.20:80");
        EXPECT_EQ(reply_of(*_table, b, 5353, Protocol::udp), "10.96.0.20:53");
        EXPECT_EQ(reply_of(*_table, b, 5353), "none");  // protocol is part of the key
        EXPECT_EQ(reply_of(*_table, b, 8081), "none");
    }
    EXPECT_EQ(reply_of(*_table, "10.99.0.14", 8080), "none");
    EXPECT_EQ(_table->replies()->size(), 6u);

    // Endpoint removed: its key goes; the service's VIP:port moves with it.
    upsert_ok(service("web", "10.96.0.30", {port(81, 8080)}, {endpoint("10.99.0.11")}));
    EXPECT_EQ(reply_of(*_table, "10.99.0.11", 8080), "10.96.0.30:81");
    EXPECT_EQ(reply_of(*_table, "10.99.0.12", 8080), "none");
    EXPECT_EQ(reply_of(*_table, "10.99.0.11", 5353, Protocol::udp), "none");
    EXPECT_EQ(_table->replies()->size(), 1u);
    ASSERT_TRUE(_table->remove("default", "web"));
    EXPECT_EQ(reply_of(*_table, "10.99.0.11", 8080), "none");
    EXPECT_EQ(_table->replies()->size(), 0u);
}

TEST_F(TableTest, ReplyIndexMarksSharedBackendPortsAmbiguous) {
    make_table(ServiceTableOptions{.max_reply_keys = 64});
    // Two ports of one service on the same target port.
    upsert_ok(service("web", "10.96.0.20",
                      {port(80, 8080, Protocol::tcp, "a"), port(8080, 8080, Protocol::tcp, "b")},
                      {endpoint("10.99.0.11")}));
    EXPECT_EQ(reply_of(*_table, "10.99.0.11", 8080), "ambiguous");
    upsert_ok(service("web", "10.96.0.20", {port(80, 8080)}, {endpoint("10.99.0.11")}));
    EXPECT_EQ(reply_of(*_table, "10.99.0.11", 8080), "10.96.0.20:80");
    // Two services selecting the same pod on the same target port; the
    // other pod of the second one is unique.
    upsert_ok(service("api", "10.96.0.21", {port(80, 8080)},
                      {endpoint("10.99.0.11"), endpoint("10.99.0.12")}));
    EXPECT_EQ(reply_of(*_table, "10.99.0.11", 8080), "ambiguous");
    EXPECT_EQ(reply_of(*_table, "10.99.0.12", 8080), "10.96.0.21:80");
    ASSERT_TRUE(_table->remove("default", "api"));
    EXPECT_EQ(reply_of(*_table, "10.99.0.11", 8080), "10.96.0.20:80");
    EXPECT_EQ(reply_of(*_table, "10.99.0.12", 8080), "none");
    // Headless services have no VIP to restore.
    auto headless = service("db", "10.96.0.22", {port(80, 8080)}, {endpoint("10.99.0.11")});
    headless.cluster_ip.reset();
    headless.headless = true;
    upsert_ok(headless);
    EXPECT_EQ(reply_of(*_table, "10.99.0.11", 8080), "10.96.0.20:80");
}

TEST_F(TableTest, ReplyIndexFullLeavesKeysUnindexedAndThePublishWhole) {
    make_table(ServiceTableOptions{.max_vips = 32, .max_reply_keys = 32});
    std::vector<EndpointConfig> many;
    for (int i = 1; i <= 200; ++i) {
        many.push_back(endpoint(("10.99.0." + std::to_string(i)).c_str()));
    }
    upsert_ok(service("web", "10.96.0.20", {port(80, 8080)}, many));
    EXPECT_NE(_table->lookup(key("10.96.0.20", 80)), nullptr);
    EXPECT_EQ(_table->replies()->size(), 200u);
    EXPECT_GT(_table->replies()->unindexed(), 0u);
    int unique = 0;
    for (int i = 1; i <= 200; ++i) {
        const std::string addr = "10.99.0." + std::to_string(i);
        const std::string r = reply_of(*_table, addr.c_str(), 8080);
        EXPECT_TRUE(r == "10.96.0.20:80" || r == "none") << r;
        unique += r != "none";
    }
    EXPECT_EQ(uint64_t(unique) + _table->replies()->unindexed(), 200u);
}

TEST(ServiceTableCreate, NeedsQsbr) {
    auto t = ServiceTable::create(nullptr);
    EXPECT_FALSE(t);
}

}  // namespace
}  // namespace svcgw
