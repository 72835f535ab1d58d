// The worker's parts that hold a rule on their own (no EAL): the one flow
// ownership rule and the SNAT ports chosen for it, and the lock-free flow
// census hand-over.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "dataplane/flow_census.hpp"
#include "dataplane/ownership.hpp"
#include "dataplane/snat_ports.hpp"
#include "flow/flow_table.hpp"
#include "table/service_table.hpp"

namespace svcgw {
namespace {

using Side = FlowOwnership::Side;

constexpr uint32_t kClient = 0x0a010001;
constexpr uint32_t kVip = 0x0a600014;
constexpr uint32_t kBackend = 0x0a630b01;
constexpr uint32_t kSnat = 0x0a630001;

FlowKey key(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport) {
    FlowKey k;
    k.src_ip = htonl(src);
    k.dst_ip = htonl(dst);
    k.src_port = htons(sport);
    k.dst_port = htons(dport);
    k.proto = 6;
    return k;
}

// Every SNAT port a worker hands out makes the backend's reply owned by
// that worker, under the ownership rule, with and without RSS steering, and
// stays in its range (the whole one, or the side beside the kernel's).
TEST(Ownership, SnatPortsMakeRepliesComeHome) {
    constexpr uint16_t kWorkers = 3;
    std::vector<uint16_t> reta(128);
    for (size_t i = 0; i < reta.size(); ++i) {
        reta[i] = static_cast<uint16_t>(i % kWorkers);
    }
    for (PortRange range : {PortRange{}, PortRange{1024, 32767}, PortRange{61000, 65535}}) {
        for (bool rss : {false, true}) {
            for (uint16_t w = 0; w < kWorkers; ++w) {
                FlowOwnership own(NatMode::fullnat, kWorkers);
                if (rss) {
                    own.steer_by_rss(reta);
                }
                SnatPorts ports(own, w, range);
                for (int i = 0; i < 200; ++i) {
                    const uint32_t backend = kBackend + static_cast<uint32_t>(i % 7);
                    const uint16_t port =
                        ntohs(ports.next(htonl(kSnat), htonl(backend), htons(8080), 6));
                    EXPECT_GE(port, range.lo);
                    EXPECT_LE(port, range.hi);
                    const FlowKey reply = key(backend, kSnat, 8080, port);
                    EXPECT_EQ(own.owner(reply, Side::reply, std::nullopt), w)
                        << "rss " << rss << " port " << port;
                }
            }
        }
    }
}

TEST(Ownership, SnatPortsBesideTheKernelsTakeTheLargerSide) {
    EXPECT_EQ(snat_ports_beside({32768, 60999}), (PortRange{1024, 32767}));
    EXPECT_EQ(snat_ports_beside({1024, 59000}), (PortRange{59001, 65535}));
    EXPECT_EQ(snat_ports_beside({0, 40000}), (PortRange{40001, 65535}));
    EXPECT_EQ(snat_ports_beside({1024, 65535}), std::nullopt) << "nothing left";
    EXPECT_EQ(snat_ports_beside({3000, 63000}), std::nullopt) << "both sides too small";
}

// nat keeps the client address: a reply is owned where its client's
// forward packets are.
TEST(Ownership, NatRepliesMeetTheirForwardDirection) {
    FlowOwnership own(NatMode::nat, 4);
    std::vector<int> per_worker(4);
    for (uint16_t port = 40000; port < 40400; ++port) {
        const FlowKey fwd = key(kClient, kVip, port, 80);
        const FlowKey reply = key(kBackend, kClient, 8080, port);
        const uint16_t owner = own.owner(fwd, Side::forward, std::nullopt);
        EXPECT_EQ(own.owner(reply, Side::reply, std::nullopt), owner);
        ++per_worker[owner];
    }
    for (int n : per_worker) {
        EXPECT_GT(n, 50) << "the client hash spreads ports over workers";
    }
}

// With RSS steering a frame the NIC delivered is where RSS put it; a key
// that is not a frame's own (an ICMP error's quote) is hashed in software.
TEST(Ownership, RssFollowsTheQueueAndComputesQuotedKeys) {
    std::vector<uint16_t> reta(64);
    for (size_t i = 0; i < reta.size(); ++i) {
        reta[i] = static_cast<uint16_t>(i % 2);
    }
    FlowOwnership own(NatMode::fullnat, 2);
    own.steer_by_rss(reta);
    const FlowKey fwd = key(kClient, kVip, 40000, 80);
    EXPECT_EQ(own.owner(fwd, Side::forward, uint16_t{1}), 1);
    EXPECT_EQ(own.owner(fwd, Side::forward, uint16_t{0}), 0);
    EXPECT_EQ(own.owner(fwd, Side::forward, std::nullopt),
              own.rss()->queue_of(fwd.src_ip, fwd.dst_ip, fwd.src_port, fwd.dst_port));
    EXPECT_EQ(FlowOwnership(NatMode::fullnat, 1).owner(fwd, Side::reply, std::nullopt), 0);
}

NatResult to_backend(uint32_t backend) {
    NatResult n;
    n.backend_ip = htonl(backend);
    n.backend_port = htons(8080);
    return n;
}

uint64_t vip_key(uint16_t port) {
    return VipKey{htonl(kVip), htons(port), 6, 0}.packed();
}

// Counts per (VIP key, backend), sorted; the newest completed pass wins;
// nothing is visible before the first pass.
TEST(FlowCensus, CountsPerBackendAndHandsOverTheNewestPass) {
    FlowTableConfig config;
    config.max_flows = 4096;
    FlowTable flows(config);
    constexpr uint32_t kNow = 100;
    // 30 flows to VIP:80 (backends 0..2 get 10 each), 5 to VIP:443 on backend 0.
    for (uint16_t i = 0; i < 35; ++i) {
        const FlowKey k = key(kClient, kVip, static_cast<uint16_t>(40000 + i), i < 30 ? 80 : 443);
        const uint32_t backend = i < 30 ? kBackend + i % 3 : kBackend;
        ASSERT_EQ(flows.try_insert(k, FlowTable::hash(k), to_backend(backend), kNow).status,
                  InsertStatus::inserted);
    }
    FlowCensusTaker taker;
    EXPECT_EQ(taker.latest().passes, 0u);
    // Small steps: a pass takes several.
    for (uint32_t done = 0; done < flows.capacity(); done += 512) {
        EXPECT_EQ(taker.latest().passes, 0u) << "no pass is visible before it completes";
        taker.step(flows, kNow, 512);
    }
    FlowCensus c = taker.latest();
    ASSERT_EQ(c.passes, 1u);
    EXPECT_EQ(c.now_s, kNow);
    EXPECT_EQ(c.samples.size(), 35u);
    ASSERT_EQ(c.per_backend.size(), 4u);
    EXPECT_TRUE(std::is_sorted(c.per_backend.begin(), c.per_backend.end(),
                               [](const BackendFlows& a, const BackendFlows& b) {
                                   return a.vip != b.vip ? a.vip < b.vip
                                                         : a.backend_ip_be < b.backend_ip_be;
                               }));
    EXPECT_EQ(c.flows_of(vip_key(80)), 30u);
    EXPECT_EQ(c.flows_of(vip_key(443)), 5u);
    EXPECT_EQ(c.flows_of(vip_key(80), htonl(kBackend + 1)), 10u);
    EXPECT_EQ(c.flows_of(vip_key(443), htonl(kBackend + 1)), 0u);
    EXPECT_EQ(c.flows_of(vip_key(53)), 0u);

    // Two more passes (a second apart) before the reader looks: it gets the
    // last, with the flows as they are then.
    flows.erase(flows.lookup(key(kClient, kVip, 40000, 80), kNow).flow);
    taker.step(flows, kNow + 1, flows.capacity());
    flows.erase(flows.lookup(key(kClient, kVip, 40001, 80), kNow).flow);
    taker.step(flows, kNow + 2, flows.capacity());
    c = taker.latest();
    EXPECT_EQ(c.passes, 3u);
    EXPECT_EQ(c.now_s, kNow + 2);
    EXPECT_EQ(c.flows_of(vip_key(80)), 28u);
    EXPECT_EQ(c.samples.size(), 33u);
    // Unchanged until the next pass; no new pass within the period.
    taker.step(flows, kNow + 2, flows.capacity());
    EXPECT_EQ(taker.latest().passes, 3u);
}

// Many (VIP, backend) pairs: the counting table grows and loses none.
TEST(FlowCensus, ManyPairsAllCounted) {
    FlowTableConfig config;
    config.max_flows = 1 << 14;
    FlowTable flows(config);
    constexpr uint32_t kPairs = 3000;
    for (uint32_t i = 0; i < kPairs; ++i) {
        const FlowKey k = key(kClient + i, kVip, 40000, static_cast<uint16_t>(1 + i % 50));
        ASSERT_EQ(flows.try_insert(k, FlowTable::hash(k), to_backend(kBackend + i), 1).status,
                  InsertStatus::inserted);
    }
    FlowCensusTaker taker;
    taker.step(flows, 1, flows.capacity());
    const FlowCensus c = taker.latest();
    EXPECT_EQ(c.per_backend.size(), kPairs);
    uint64_t total = 0;
    for (const BackendFlows& b : c.per_backend) {
        EXPECT_EQ(b.flows, 1u);
        total += b.flows;
    }
    EXPECT_EQ(total, kPairs);
}

}  // namespace
}  // namespace svcgw
