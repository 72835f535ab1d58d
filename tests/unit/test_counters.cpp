// Per-service-port and per-backend traffic counters (issue 4): one object
// per identity, handed to every new version of a service so totals survive
// replacement; dropped with the identity; summed over lanes by the
// collector.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "table/service_table.hpp"
#include "telemetry/collect.hpp"
#include "test_eal.hpp"

namespace svcgw {
namespace {

const auto* const kEal =
    ::testing::AddGlobalTestEnvironment(new svcgw::test_support::EalEnvironment("test_counters"));

constexpr uint32_t kLanes = 3;  // three workers

struct Counters : ::testing::Test {
    Counters() {
        qsbr = static_cast<rte_rcu_qsbr*>(
            rte_zmalloc("q", rte_rcu_qsbr_get_memsize(kLanes), RTE_CACHE_LINE_SIZE));
        rte_rcu_qsbr_init(qsbr, kLanes);
        table = std::move(*ServiceTable::create(qsbr));
    }
    ~Counters() override {
        table.reset();
        rte_free(qsbr);
    }
    static ServiceConfig web(std::vector<const char*> ips) {
        ServiceConfig s;
        s.name = "web";
        s.cluster_ip = *Ipv4::parse("10.96.0.20");
        s.ports.push_back(ServicePortConfig{"http", 80, 8080, "", Protocol::tcp});
        for (const char* ip : ips) {
            EndpointConfig e;
            e.ip = *Ipv4::parse(ip);
            s.endpoints.push_back(e);
        }
        return s;
    }
    const Backend* backend(const char* ip) {
        return table->find("default", "web")->find_backend(htonl(Ipv4::parse(ip)->value));
    }
    rte_rcu_qsbr* qsbr = nullptr;
    std::unique_ptr<ServiceTable> table;
};

TEST_F(Counters, OneLanePerWorkerSummed) {
    ASSERT_TRUE(table->upsert(web({"10.0.0.1"}), {}));
    EXPECT_EQ(table->stats_lanes(), kLanes);
    const ServicePort& sp = table->find("default", "web")->ports()[0];
    ASSERT_NE(sp.stats, nullptr);
    for (uint32_t lane = 0; lane < kLanes; ++lane) {
        sp.stats->lane(lane).add_packet(100);
        sp.stats->lane(lane).add_new_flow();
    }
    TrafficTotals t = sp.stats->sum();
    EXPECT_EQ(t.packets, kLanes);
    EXPECT_EQ(t.bytes, 100u * kLanes);
    EXPECT_EQ(t.new_flows, kLanes);
}

TEST_F(Counters, SurviveReplacementAndDieWithTheIdentity) {
    ASSERT_TRUE(table->upsert(web({"10.0.0.1", "10.0.0.2"}), {}));
    TrafficCounters* kept = backend("10.0.0.1")->stats;
    TrafficCounters* port = table->find("default", "web")->ports()[0].stats;
    ASSERT_NE(kept, nullptr);
    kept->lane(1).add_packet(60);
    port->lane(2).add_packet(60);
    backend("10.0.0.2")->stats->lane(0).add_packet(60);

    // Replace a pod: 10.0.0.2 goes, 10.0.0.3 comes; 10.0.0.1 and the port keep counting.
    ASSERT_TRUE(table->upsert(web({"10.0.0.1", "10.0.0.3"}), {}));
    EXPECT_EQ(backend("10.0.0.1")->stats, kept);
    EXPECT_EQ(backend("10.0.0.1")->stats->sum().packets, 1u);
    EXPECT_EQ(table->find("default", "web")->ports()[0].stats->sum().packets, 1u);
    EXPECT_EQ(backend("10.0.0.3")->stats->sum().packets, 0u);
    // 10.0.0.2 comes back: a new identity, counted from zero.
    ASSERT_TRUE(table->upsert(web({"10.0.0.1", "10.0.0.2"}), {}));
    EXPECT_EQ(backend("10.0.0.2")->stats->sum().packets, 0u);

    // A failed update keeps the live counters.
    ServiceConfig bad = web({"10.0.0.1", "10.0.0.1"});
    EXPECT_FALSE(table->upsert(bad, {}));
    EXPECT_EQ(backend("10.0.0.1")->stats, kept);

    // Deleting the service drops its counters: re-created, it starts at zero.
    ASSERT_TRUE(table->remove("default", "web"));
    table->reclaim();
    ASSERT_TRUE(table->upsert(web({"10.0.0.1"}), {}));
    EXPECT_EQ(backend("10.0.0.1")->stats->sum().packets, 0u);
    EXPECT_EQ(table->find("default", "web")->ports()[0].stats->sum().packets, 0u);
}

TEST_F(Counters, CollectorReportsPortsBackendsAndRingShares) {
    ASSERT_TRUE(table->upsert(web({"10.0.0.1", "10.0.0.2"}), {}));
    backend("10.0.0.2")->stats->lane(0).add_packet(1500);
    backend("10.0.0.2")->stats->lane(0).add_new_flow();
    StatsSnapshot s = collect_stats(*table, {}, {});
    EXPECT_EQ(s.services, 1u);
    ASSERT_EQ(s.ports.size(), 1u);
    EXPECT_EQ(s.ports[0].port, 80);
    ASSERT_EQ(s.backends.size(), 2u);
    uint32_t slots = 0;
    const BackendStats* counted = nullptr;
    for (const auto& b : s.backends) {
        slots += b.ring_slots;
        EXPECT_EQ(b.ring_size, table->find("default", "web")->ring().size());
        if (b.ip == "10.0.0.2") {
            counted = &b;
        } else {
            EXPECT_EQ(b.traffic.bytes, 0u) << b.ip;
        }
    }
    EXPECT_EQ(slots, s.backends[0].ring_size);  // the shares cover the ring
    ASSERT_NE(counted, nullptr) << "10.0.0.2 is reported";
    EXPECT_EQ(counted->traffic.bytes, 1500u);
    EXPECT_EQ(counted->traffic.new_flows, 1u);
    // Active flows come from the workers' census, keyed by VIP and backend.
    FlowCensus census;
    census.per_backend.push_back(
        {VipKey{htonl(Ipv4::parse("10.96.0.20")->value), htons(80), 6, 0}.packed(),
         htonl(Ipv4::parse("10.0.0.1")->value), 4});
    s = collect_stats(*table, {}, {census, census});
    EXPECT_EQ(s.ports[0].traffic.active_flows, 8u);
    for (const auto& b : s.backends) {
        EXPECT_EQ(b.traffic.active_flows, b.ip == "10.0.0.1" ? 8u : 0u);
    }
    EXPECT_NE(render_prometheus(s).find("svcgw_backend_active_flows{namespace=\"default\","
                                        "service=\"web\",backend=\"10.0.0.1\"} 8"),
              std::string::npos);
}

TEST(Prometheus, ExceptionPathOnlyWithATap) {
    // No TAP: no family at all (a zero would claim an exception path).
    StatsSnapshot s;
    EXPECT_EQ(render_prometheus(s).find("svcgw_exception_path"), std::string::npos);
    s.exception_path = ExceptionPathView{true, "tap\"0", 1, 0, 3, 0, 7};
    const std::string text = render_prometheus(s);
    EXPECT_NE(text.find("svcgw_exception_path_frames_total{interface=\"tap\\\"0\","
                        "direction=\"from_kernel\",result=\"failed\"} 7"),
              std::string::npos)
        << text;
}

// Membership leases: the source, each member's Lease and the agent's requests.
TEST(Prometheus, FleetLeasesOnlyWithLeases) {
    StatsSnapshot s;
    s.fleet_members.enabled = true;
    s.fleet_members.members.resize(1);
    s.fleet_members.members[0].name = "g1";
    std::string text = render_prometheus(s);
    EXPECT_NE(text.find("svcgw_fleet_membership_info{source=\"probes\"} 1"), std::string::npos);
    EXPECT_EQ(text.find("_lease_"), std::string::npos) << text;
    s.fleet_members.membership = "leases";
    s.fleet_members.lease_conflicts = 2;
    FleetMemberStats& g1 = s.fleet_members.members[0];
    g1.lease_state = "expired";
    g1.lease_renew_us = 1796491883123456;
    s.fleet_members.members.resize(2);
    s.fleet_members.members[1].name = "g2";
    s.fleet_members.members[1].lease_state = "missing";
    text = render_prometheus(s);
    for (const char* line :
         {"svcgw_fleet_membership_info{source=\"leases\"} 1\n", "svcgw_fleet_lease_api_up 0\n",
          "svcgw_fleet_member_lease_info{member=\"g1\",state=\"expired\"} 1\n",
          "svcgw_fleet_member_lease_info{member=\"g2\",state=\"missing\"} 1\n",
          "svcgw_fleet_member_lease_renew_time_seconds{member=\"g1\"} 1796491883.123456\n",
          "svcgw_fleet_lease_requests_total{result=\"conflict\"} 2\n"}) {
        EXPECT_NE(text.find(line), std::string::npos) << line << text;
    }
    // No renewTime, no sample (a 0 would read as 1970).
    EXPECT_EQ(text.find("svcgw_fleet_member_lease_renew_time_seconds{member=\"g2\""),
              std::string::npos);
}

}  // namespace
}  // namespace svcgw
