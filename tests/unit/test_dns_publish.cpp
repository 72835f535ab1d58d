// The DNS zone on the control side: what reaches DNS (dns_view),
// when a change rebuilds the zone, SERVFAIL before the first zone, RCU
// retirement of old zones, and the all-or-nothing step it shares with the
// VIP table (SnapshotPublisher). EAL without hugepages for the table.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "control/snapshot_publisher.hpp"
#include "control/state.hpp"
#include "control/zone_versions.hpp"
#include "dns/responder.hpp"
#include "test_eal.hpp"

namespace svcgw {
namespace {

const auto* const kEal =
    ::testing::AddGlobalTestEnvironment(new test_support::EalEnvironment("test_dns_publish"));

Ipv4 ip(const char* text) {
    return *Ipv4::parse(text);
}

ServiceConfig service(const std::string& name, const char* cluster_ip,
                      std::vector<const char*> endpoints) {
    ServiceConfig s;
    s.name = name;
    s.ns = "default";
    if (cluster_ip == nullptr) {
        s.headless = true;
    } else {
        s.cluster_ip = ip(cluster_ip);
    }
    s.ports.push_back(ServicePortConfig{"http", 80, 8080, "", Protocol::tcp});
    for (const char* e : endpoints) {
        EndpointConfig ep;
        ep.ip = ip(e);
        s.endpoints.push_back(ep);
    }
    return s;
}

DnsConfig dns_config() {
    DnsConfig d;
    d.cluster_ip = ip("10.96.0.10");
    return d;
}

const Ipv4Prefix kCidr = *Ipv4Prefix::parse("10.96.0.0/16");

std::vector<uint8_t> query(const std::string& name, uint16_t type) {
    std::vector<uint8_t> q = {0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    auto wire = dns::encode_name(name);
    q.insert(q.end(), wire->begin(), wire->end());
    q.insert(q.end(), {static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type), 0, 1});
    return q;
}

// The rcode and the answer count of one query against what a worker sees.
struct Outcome {
    unsigned rcode = 0;
    unsigned answers = 0;
    std::vector<uint8_t> bytes;
};
Outcome ask(const ZoneVersions& zones, const std::string& name, uint16_t type = 1) {
    // A worker's read: acquire, pairs with the publisher's release store.
    const dns::Zone* zone = zones.current().load(std::memory_order_acquire);
    std::vector<uint8_t> q = query(name, type);
    std::vector<uint8_t> out(1232);
    dns::Reply r = dns::answer(zone, q, out);
    Outcome o;
    o.rcode = out[3] & 0xf;
    o.answers = unsigned(out[6]) << 8 | out[7];
    o.bytes.assign(out.begin(), out.begin() + static_cast<long>(r.length));
    return o;
}

// A QSBR variable for `readers` threads; DPDK's rcu works on any aligned memory.
struct Qsbr {
    rte_rcu_qsbr* v = nullptr;
    explicit Qsbr(uint32_t readers) {
        v = static_cast<rte_rcu_qsbr*>(
            rte_zmalloc("test_dns_qsbr", rte_rcu_qsbr_get_memsize(readers), RTE_CACHE_LINE_SIZE));
        rte_rcu_qsbr_init(v, readers);
    }
    ~Qsbr() { rte_free(v); }
};

TEST(DnsView, OnlyWhatDnsServesCounts) {
    ServiceConfig a = service("web", "10.96.1.1", {"10.1.0.1"});
    ServiceConfig b = a;
    b.endpoints[0].ip = ip("10.1.0.2");
    b.endpoints[0].weight = 5;
    b.ports[0].target_port = 9090;
    b.session_affinity = SessionAffinity::client_ip;
    EXPECT_EQ(dns_view(a), dns_view(b)) << "ClusterIP endpoints and target ports are not DNS";

    for (auto change : std::vector<void (*)(ServiceConfig&)>{
             [](ServiceConfig& s) { s.cluster_ip = ip("10.96.1.2"); },
             [](ServiceConfig& s) { s.ports[0].name = "web"; },
             [](ServiceConfig& s) { s.ports[0].port = 81; },
             [](ServiceConfig& s) { s.ports[0].protocol = Protocol::udp; },
             [](ServiceConfig& s) { s.name = "web2"; },
         }) {
        ServiceConfig c = a;
        change(c);
        EXPECT_NE(dns_view(a), dns_view(c));
    }

    ServiceConfig h = service("db", nullptr, {"10.1.0.1", "10.1.0.2"});
    ServiceConfig h2 = h;
    h2.endpoints[1].weight = 1;
    EXPECT_EQ(dns_view(h), dns_view(h2)) << "weights are not DNS";
    h2.endpoints[1].ready = false;
    EXPECT_NE(dns_view(h), dns_view(h2)) << "readiness of a headless endpoint is";
    ServiceConfig h3 = h;
    h3.ports[0].target_port = 9090;
    EXPECT_NE(dns_view(h), dns_view(h3)) << "headless SRV carries the target port";
    ServiceConfig h4 = h;
    h4.endpoints[0].hostname = "web-0";
    EXPECT_NE(dns_view(h), dns_view(h4)) << "a headless endpoint's hostname names it";
    ServiceConfig c4 = a;
    c4.endpoints[0].hostname = "web-0";
    EXPECT_EQ(dns_view(a), dns_view(c4)) << "a ClusterIP service's endpoints have no names";

    ServiceConfig e = a;
    e.type = ServiceType::external_name;
    e.external_name = "www.example.com";
    EXPECT_NE(dns_view(a), dns_view(e)) << "ExternalName is a CNAME";
    ServiceConfig e2 = e;
    e2.external_name = "www.example.org";
    EXPECT_NE(dns_view(e), dns_view(e2));
    ServiceConfig e3 = e;
    e3.cluster_ip = ip("10.96.1.9");
    e3.ports[0].name = "other";
    EXPECT_EQ(dns_view(e), dns_view(e3)) << "nothing but the CNAME reaches DNS";
}

TEST(ZoneVersions, ServfailUntilTheFirstZoneThenAnswers) {
    Qsbr qsbr(1);
    ZoneVersions zones(dns_config(), kCidr, qsbr.v, 100);
    EXPECT_EQ(zones.current().load(), nullptr);
    EXPECT_EQ(ask(zones, "web.default.svc.cluster.local").rcode, 2u) << "SERVFAIL, never NXDOMAIN";
    std::vector<ServiceConfig> set = {service("web", "10.96.1.1", {"10.1.0.1"})};
    ASSERT_TRUE(zones.publish_all(set));
    Outcome o = ask(zones, "web.default.svc.cluster.local");
    EXPECT_EQ(o.rcode, 0u);
    EXPECT_EQ(o.answers, 1u);
    EXPECT_EQ(zones.stats().serial, 100u);
    EXPECT_EQ(ask(zones, "nope.default.svc.cluster.local").rcode, 3u);
}

TEST(ZoneVersions, EndpointChangesOfClusterIpServicesSkipTheBuild) {
    Qsbr qsbr(1);
    ZoneVersions zones(dns_config(), kCidr, qsbr.v, 1);
    std::vector<ServiceConfig> set = {service("web", "10.96.1.1", {"10.1.0.1"}),
                                      service("db", nullptr, {"10.1.0.5"})};
    ASSERT_TRUE(zones.publish_all(set));
    const dns::Zone* first = zones.current().load();

    std::vector<ServiceConfig> next = set;
    next[0].endpoints[0].ip = ip("10.1.0.9");
    ServiceDiff diff;
    diff.change(&set[0], &next[0]);
    auto prepared = zones.prepare(diff);
    ASSERT_TRUE(prepared);
    EXPECT_EQ(prepared->change, nullptr) << "no DNS-visible change: no build";
    zones.commit(std::move(*prepared));
    EXPECT_EQ(zones.current().load(), first);
    EXPECT_EQ(zones.stats().skipped, 1u);

    // A headless endpoint turning ready changes the answers.
    next[1].endpoints.push_back(next[1].endpoints[0]);
    next[1].endpoints[1].ip = ip("10.1.0.6");
    ServiceDiff headless;
    headless.change(&set[1], &next[1]);
    auto rebuilt = zones.prepare(headless);
    ASSERT_TRUE(rebuilt);
    ASSERT_NE(rebuilt->change, nullptr);
    EXPECT_EQ(zones.current().load(), first) << "prepare publishes nothing";
    zones.commit(std::move(*rebuilt));
    EXPECT_NE(zones.current().load(), first);
    EXPECT_EQ(ask(zones, "db.default.svc.cluster.local").answers, 2u);
    EXPECT_EQ(zones.stats().serial, 2u) << "serial grows with every published zone";

    // The same change again is no change for DNS.
    ServiceDiff same;
    same.change(&next[1], &next[1]);
    auto again = zones.prepare(same);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->change, nullptr);
}

TEST(ZoneVersions, AddedAndRemovedServicesRebuild) {
    Qsbr qsbr(1);
    ZoneVersions zones(dns_config(), kCidr, qsbr.v, 1);
    std::vector<ServiceConfig> set = {service("web", "10.96.1.1", {})};
    ASSERT_TRUE(zones.publish_all(set));
    std::vector<ServiceConfig> next = {service("api", "10.96.1.2", {}), set[0]};
    ServiceDiff added;
    added.added.push_back(&next[0]);
    auto p = zones.prepare(added);
    ASSERT_TRUE(p && p->change != nullptr);
    zones.commit(std::move(*p));
    EXPECT_EQ(ask(zones, "api.default.svc.cluster.local").answers, 1u);

    std::vector<ServiceConfig> after = {next[1]};
    ServiceDiff removed;
    removed.removed.push_back(&next[0]);
    auto r = zones.prepare(removed);
    ASSERT_TRUE(r && r->change != nullptr);
    zones.commit(std::move(*r));
    EXPECT_EQ(ask(zones, "api.default.svc.cluster.local").rcode, 3u);
    EXPECT_EQ(ask(zones, "web.default.svc.cluster.local").answers, 1u);
}

// The zone keeps no copy of the services: a whole set published again
// drops the names of those it no longer holds (the writer's keys).
TEST(ZoneVersions, PublishAllDropsWhatTheSetNoLongerHolds) {
    Qsbr qsbr(1);
    ZoneVersions zones(dns_config(), kCidr, qsbr.v, 1);
    ASSERT_TRUE(
        zones.publish_all({service("web", "10.96.1.1", {}), service("db", nullptr, {"10.1.0.5"})}));
    EXPECT_EQ(ask(zones, "db.default.svc.cluster.local").answers, 1u);
    ASSERT_TRUE(zones.publish_all({service("web", "10.96.1.1", {})}));
    EXPECT_EQ(ask(zones, "db.default.svc.cluster.local").rcode, 3u);
    EXPECT_EQ(ask(zones, "web.default.svc.cluster.local").answers, 1u);
}

TEST(ZoneVersions, OldZonesWaitForEveryReader) {
    Qsbr qsbr(2);
    ZoneVersions zones(dns_config(), kCidr, qsbr.v, 1);
    ASSERT_TRUE(zones.publish_all({service("web", "10.96.1.1", {})}));
    // Reader 1 is online and has not passed a quiescent state since.
    rte_rcu_qsbr_thread_register(qsbr.v, 1);
    rte_rcu_qsbr_thread_online(qsbr.v, 1);
    const dns::Zone* held = zones.current().load(std::memory_order_acquire);
    const std::vector<uint8_t> before = ask(zones, "web.default.svc.cluster.local").bytes;

    ASSERT_TRUE(zones.publish_all({service("web", "10.96.1.7", {})}));
    EXPECT_NE(zones.current().load(), held);
    EXPECT_EQ(zones.reclaim(), 0u);
    EXPECT_EQ(zones.stats().retired_pending, 1u);
    // The reader can still use what it loaded (ASan would flag a free).
    std::vector<uint8_t> q = query("web.default.svc.cluster.local", 1);
    std::vector<uint8_t> out(512);
    dns::Reply r = dns::answer(held, q, out);
    EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + static_cast<long>(r.length)), before);

    rte_rcu_qsbr_quiescent(qsbr.v, 1);
    EXPECT_EQ(zones.reclaim(), 1u);
    EXPECT_EQ(zones.stats().retired_pending, 0u);
    rte_rcu_qsbr_thread_offline(qsbr.v, 1);
    rte_rcu_qsbr_thread_unregister(qsbr.v, 1);
}

TEST(ZoneVersions, BuildErrorChangesNothing) {
    Qsbr qsbr(1);
    ZoneVersions zones(dns_config(), kCidr, qsbr.v, 1);
    std::vector<ServiceConfig> set = {service("web", "10.96.1.1", {})};
    ASSERT_TRUE(zones.publish_all(set));
    const dns::Zone* live = zones.current().load();
    std::vector<ServiceConfig> next = set;
    next.push_back(service(std::string(64, 'x'), "10.96.1.2", {}));  // label > 63 octets
    ServiceDiff diff;
    diff.added.push_back(&next[1]);
    auto p = zones.prepare(diff);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().front().path, "default/" + std::string(64, 'x') + ".name");
    EXPECT_EQ(zones.current().load(), live);
    EXPECT_FALSE(zones.publish_all(next));
    EXPECT_EQ(zones.current().load(), live);
    EXPECT_EQ(ask(zones, "web.default.svc.cluster.local").answers, 1u);
}

// The daemon's path: ControlState -> SnapshotPublisher -> table + zone.
struct Rig {
    Qsbr qsbr{1};
    std::unique_ptr<ServiceTable> table;
    std::unique_ptr<ZoneVersions> zones;
    std::unique_ptr<SnapshotPublisher> publisher;
    std::unique_ptr<ControlState> state;

    explicit Rig(uint32_t max_vips) {
        ServiceTableOptions options;
        options.max_vips = max_vips;
        table = std::move(*ServiceTable::create(qsbr.v, options));
        Config c;
        c.network.service_cidr = kCidr;
        c.dns = dns_config();
        c.ports.push_back(PortConfig{"ext0", "net_null0", *Ipv4Prefix::parse("10.99.0.1/24"), {}});
        zones = std::make_unique<ZoneVersions>(c.dns, kCidr, qsbr.v, 1);
        EXPECT_TRUE(zones->publish_all(c.services));
        publisher = std::make_unique<SnapshotPublisher>(*table, c.maglev, zones.get());
        state = std::make_unique<ControlState>(c, *publisher, 0);
    }
    ~Rig() {
        state.reset();
        publisher.reset();
        zones.reset();
        table.reset();
    }
    bool vip_live(const char* vip) const {
        return table->lookup(VipKey{htonl(ip(vip).value), htons(80), IPPROTO_TCP, 0}) != nullptr;
    }
};

TEST(SnapshotPublisher, NameAndVipChangeTogether) {
    Rig rig(64);
    ASSERT_TRUE(rig.state->apply({service("web", "10.96.1.1", {"10.1.0.1"})}, false, 0));
    EXPECT_TRUE(rig.vip_live("10.96.1.1"));
    EXPECT_EQ(ask(*rig.zones, "web.default.svc.cluster.local").answers, 1u);
    const uint64_t builds = rig.zones->stats().builds;

    ASSERT_TRUE(rig.state->set_endpoints("default", "web", {},
                                         rig.state->find("default", "web")->resource_version));
    EXPECT_EQ(rig.zones->stats().builds, builds) << "endpoint change: zone untouched";

    ASSERT_TRUE(rig.state->remove("default", "web"));
    EXPECT_FALSE(rig.vip_live("10.96.1.1"));
    EXPECT_EQ(ask(*rig.zones, "web.default.svc.cluster.local").rcode, 3u);
}

TEST(SnapshotPublisher, TableFailureLeavesTheZoneAlone) {
    Rig rig(1);  // room for one VIP key
    ASSERT_TRUE(rig.state->apply({service("web", "10.96.1.1", {})}, false, 0));
    const dns::Zone* live = rig.zones->current().load();
    auto refused = rig.state->apply({service("api", "10.96.1.2", {})}, false, 0);
    ASSERT_FALSE(refused);
    EXPECT_EQ(rig.zones->current().load(), live);
    EXPECT_EQ(ask(*rig.zones, "api.default.svc.cluster.local").rcode, 3u);
    EXPECT_EQ(ask(*rig.zones, "web.default.svc.cluster.local").answers, 1u);
}

}  // namespace
}  // namespace svcgw
