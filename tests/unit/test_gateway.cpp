// The data plane as the daemon and the harness assemble it: the one
// WorkerContext builder, the rings, and the control tick (worker messages
// into the neighbour table, ARP requests out through worker 0, reclaim).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <new>
#include <vector>

#include "gateway/control_tick.hpp"
#include "gateway/eal_table_memory.hpp"
#include "gateway/fleet_members.hpp"
#include "gateway/memory_budget.hpp"
#include "gateway/worker_setup.hpp"
#include "net/packet.hpp"
#include "port/neighbour.hpp"
#include "test_eal.hpp"

namespace svcgw {
namespace {

const MacAddr kGwMac = {0x02, 0, 0, 0, 0, 0x01};
const MacAddr kPodMac = {0x02, 0, 0, 0, 0, 0x11};

uint32_t be(const char* text) {
    return htonl(Ipv4::parse(text)->value);
}

rte_mempool* g_pool = nullptr;

const auto* const kEal = ::testing::AddGlobalTestEnvironment(
    new test_support::EalEnvironment("test_gateway", &g_pool, 2047));

Config gateway_config() {
    Config c;
    c.network.service_cidr = *Ipv4Prefix::parse("10.96.0.0/16");
    c.forwarding = ForwardingMode::nat;
    c.dpdk.idle = IdleMode::adaptive;
    c.conntrack.max_flows = 4096;
    c.dns.cluster_ip = *Ipv4::parse("10.96.0.10");
    return c;
}

Port gateway_port() {
    Port p;
    p.port_id = 3;
    p.mac = kGwMac;
    p.address = *Ipv4Prefix::parse("10.99.0.1/16");
    p.gateway = *Ipv4::parse("10.99.0.254");
    p.pool = g_pool;
    return p;
}

std::unique_ptr<WorkerRings> rings(uint16_t workers) {
    static int instance = 0;  // ring names are process-wide
    auto r = WorkerRings::create(workers, "t" + std::to_string(instance++) + "_");
    EXPECT_TRUE(r) << (r ? "" : r.error().str());
    return r ? std::move(*r) : nullptr;
}

TEST(WorkerContextBuilder, TakesEveryFieldFromConfigPortAndShared) {
    auto r = rings(2);
    ASSERT_TRUE(r);
    std::atomic<const NeighbourView*> view{nullptr};
    std::atomic<bool> stop{false};
    Config config = gateway_config();
    WorkerContext c = make_worker_context(config, gateway_port(), 2, *r,
                                          WorkerShared{nullptr, nullptr, &view, nullptr, &stop});
    EXPECT_EQ(c.port_id, 3);
    EXPECT_EQ(c.workers, 2);
    EXPECT_EQ(c.mac, kGwMac);
    EXPECT_EQ(c.address_be, be("10.99.0.1"));
    EXPECT_EQ(c.subnet_mask_be, be("255.255.0.0"));
    EXPECT_EQ(c.gateway_be, be("10.99.0.254"));
    EXPECT_EQ(c.service_net_be, be("10.96.0.0"));
    EXPECT_EQ(c.service_mask_be, be("255.255.0.0"));
    EXPECT_EQ(c.mode, NatMode::nat);
    EXPECT_EQ(c.idle, IdlePolicy::adaptive);
    EXPECT_EQ(c.snat_be, std::vector<uint32_t>{be("10.99.0.1")});  // [] = the port's address
    EXPECT_EQ(c.conntrack.max_flows, 4096u);
    EXPECT_EQ(c.dns_ip_be, be("10.96.0.10"));
    EXPECT_EQ(c.neighbours, &view);
    EXPECT_EQ(c.stop, &stop);
    EXPECT_EQ(c.pool, g_pool);
    EXPECT_FALSE(c.complete_partial_checksums) << "a NIC: partial checksums never arrive";
    Port vdev = gateway_port();
    vdev.software = true;  // af_packet & co.: local senders' partial checksums
    EXPECT_TRUE(make_worker_context(config, vdev, 2, *r,
                                    WorkerShared{nullptr, nullptr, &view, nullptr, &stop})
                    .complete_partial_checksums);
    ASSERT_EQ(c.handoff.size(), 4u);
    EXPECT_EQ(c.handoff[0], nullptr);  // no ring to oneself
    EXPECT_EQ(c.handoff[3], nullptr);
    EXPECT_NE(c.handoff[1], nullptr);
    EXPECT_NE(c.handoff[2], nullptr);
    EXPECT_EQ(c.to_control.size(), 2u);
    EXPECT_NE(c.control_tx, nullptr);

    config.network.snat_addresses = {*Ipv4::parse("10.99.0.7"), *Ipv4::parse("10.99.0.8")};
    c = make_worker_context(config, gateway_port(), 2, *r, WorkerShared{});
    EXPECT_EQ(c.snat_be, (std::vector<uint32_t>{be("10.99.0.7"), be("10.99.0.8")}));
}

size_t eal_heap_in_use() {
    rte_malloc_socket_stats stats{};
    rte_malloc_get_socket_stats(static_cast<int>(rte_socket_id()), &stats);
    return stats.heap_allocsz_bytes;
}

TEST(TableMemoryPlacement, EalTableMemoryGivesZeroedHeapMemoryAndTakesItBack) {
    EalTableMemory memory(static_cast<int>(rte_socket_id()));
    const size_t before = eal_heap_in_use();
    constexpr size_t kBytes = size_t{3} << 20;
    auto* block = static_cast<unsigned char*>(memory.allocate(kBytes));
    EXPECT_GE(eal_heap_in_use() - before, kBytes);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(block) % RTE_CACHE_LINE_SIZE, 0u);
    EXPECT_EQ(std::count(block, block + kBytes, 0), static_cast<long>(kBytes));
    memory.release(block, kBytes);
    EXPECT_EQ(eal_heap_in_use(), before);
    EXPECT_THROW(memory.allocate(size_t{1} << 40), std::bad_alloc);  // more than the heap
}

TEST(TableMemoryPlacement, AWorkersTablesComeFromItsContextsMemory) {
    auto r = rings(2);
    ASSERT_TRUE(r);
    std::atomic<bool> stop{false};
    WorkerContext c = make_worker_context(gateway_config(), gateway_port(), 2, *r,
                                          WorkerShared{nullptr, nullptr, nullptr, nullptr, &stop});
    ASSERT_EQ(c.table_memory.size(), 2u);
    // The EAL heap on hugepages; process memory (THP) under --no-huge.
    for (TableMemory* m : c.table_memory) {
        EXPECT_EQ(dynamic_cast<EalTableMemory*>(m) != nullptr, rte_eal_has_hugepages() != 0);
    }
    EalTableMemory heap(static_cast<int>(rte_socket_id()));
    c.table_memory[1] = &heap;
    const size_t before = eal_heap_in_use();
    {
        Worker w(c, 1);
        EXPECT_GE(eal_heap_in_use() - before,
                  FlowTable::memory_bytes_for(flows_per_worker(c.conntrack.max_flows, 2)));
    }
    EXPECT_EQ(eal_heap_in_use(), before);  // the worker gave its table back
}

TEST(MemoryBudgetCheck, RefusesAMemorySizeTheTablesDoNotFitAndNamesOneThatDoes) {
    Config config;  // defaults: max_flows 1048576, memory_mb 512
    EXPECT_TRUE(check_memory_budget(config, 1));
    const MemoryBudget one = memory_budget(config, 1);
    EXPECT_GE(one.flow_tables, FlowTable::memory_bytes_for(config.conntrack.max_flows));

    config.conntrack.max_flows = 8 * 1048576;  // ~660 MB of flow tables
    const MemoryBudget eight = memory_budget(config, 2);
    EXPECT_GE(eight.flow_tables, 8 * one.flow_tables - (1 << 20));
    auto refused = check_memory_budget(config, 2);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().path, "dpdk.memory_mb");
    const uint64_t needed = (eight.total() + (1 << 20) - 1) >> 20;
    EXPECT_NE(refused.error().message.find("at least " + std::to_string(needed)), std::string::npos)
        << refused.error().message;
    config.dpdk.memory_mb = static_cast<uint32_t>(needed);
    EXPECT_TRUE(check_memory_budget(config, 2));  // the number named is enough
    config.dpdk.memory_mb = static_cast<uint32_t>(needed - 1);
    EXPECT_FALSE(check_memory_budget(config, 2));
}

// The SNAT ports keep clear of the kernel's ephemeral ports only where the
// kernel shares the SNAT address (the exception path on the port address).
TEST(SnatPortRange, AvoidsTheKernelsEphemeralPortsOnlyWhereTheKernelSharesTheAddress) {
    const std::string file = ::testing::TempDir() + "svcgw_ip_local_port_range";
    auto write_range = [&](const char* text) { std::ofstream(file) << text; };
    write_range("32768\t60999\n");  // the kernel's default
    Config config;
    config.ports.push_back(PortConfig{});
    EXPECT_EQ(snat_port_range(config, file).value(), PortRange{}) << "no exception path";
    config.ports[0].kernel_interface = "svcgw0";
    EXPECT_EQ(snat_port_range(config, file).value(), (PortRange{1024, 32767}));
    config.network.snat_addresses = {Ipv4{0x0a000001}};
    EXPECT_EQ(snat_port_range(config, file).value(), PortRange{}) << "SNAT on other addresses";
    config.network.snat_addresses.clear();

    write_range("1024 65535\n");  // nothing left beside it
    auto refused = snat_port_range(config, file);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().path, "ports[0].kernel_interface");
    EXPECT_NE(refused.error().message.find("ip_local_port_range"), std::string::npos)
        << refused.error().message;
    write_range("garbage\n");
    EXPECT_FALSE(snat_port_range(config, file));
    std::remove(file.c_str());
    auto unreadable = snat_port_range(config, file);
    ASSERT_FALSE(unreadable);
    EXPECT_NE(unreadable.error().message.find(file), std::string::npos);
}

TEST(WorkerRingsTest, FramesLeftInARingAreFreed) {
    const unsigned before = rte_mempool_avail_count(g_pool);
    {
        auto r = rings(2);
        ASSERT_TRUE(r);
        rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
        ASSERT_EQ(rte_ring_enqueue(r->handoff[1], m), 0);
        rte_mbuf* n = rte_pktmbuf_alloc(g_pool);
        ASSERT_EQ(rte_ring_enqueue(r->control_tx, n), 0);
        EXPECT_EQ(rte_mempool_avail_count(g_pool), before - 2);
    }
    EXPECT_EQ(rte_mempool_avail_count(g_pool), before);
}

class Tick : public ::testing::Test {
protected:
    void SetUp() override {
        _rings = rings(2);
        ASSERT_TRUE(_rings);
        _neighbours = std::make_unique<NeighbourTable>(gateway_port().address, nullptr);
        _ctx = make_worker_context(
            gateway_config(), gateway_port(), 2, *_rings,
            WorkerShared{nullptr, nullptr, &_neighbours->view(), nullptr, nullptr});
        _tick = std::make_unique<ControlTick>(_ctx, *_neighbours, [this] { ++_reclaims; });
    }
    void message(uint16_t worker, uint32_t ip_be, const MacAddr& mac, uint16_t kind) {
        ControlMessage m{ip_be, mac, kind};
        ASSERT_EQ(rte_ring_enqueue_elem(_ctx.to_control[worker], &m, sizeof m), 0);
    }
    // Frames worker 0 was asked to send.
    std::vector<rte_mbuf*> sent() {
        std::vector<rte_mbuf*> out;
        void* m = nullptr;
        while (rte_ring_dequeue(_ctx.control_tx, &m) == 0) {
            out.push_back(static_cast<rte_mbuf*>(m));
        }
        return out;
    }

    std::unique_ptr<WorkerRings> _rings;
    std::unique_ptr<NeighbourTable> _neighbours;
    WorkerContext _ctx;
    std::unique_ptr<ControlTick> _tick;
    int _reclaims = 0;
};

TEST_F(Tick, ResolveRequestGoesOutAsAnArpRequestThroughWorkerZero) {
    message(1, be("10.99.0.11"), MacAddr{}, ControlMessage::resolve);
    _tick->run(1000);
    std::vector<rte_mbuf*> out = sent();
    ASSERT_EQ(out.size(), 1u);
    const uint8_t* f = rte_pktmbuf_mtod(out[0], const uint8_t*);
    pkt::Parsed p = pkt::parse(f, out[0]->data_len);
    ASSERT_EQ(p.verdict, pkt::Verdict::ok);
    ASSERT_EQ(p.l3, pkt::L3::arp);
    EXPECT_EQ(p.arp_op, pkt::kArpOpRequest);
    EXPECT_EQ(p.key.src_ip, be("10.99.0.1"));
    EXPECT_EQ(p.key.dst_ip, be("10.99.0.11"));
    EXPECT_EQ(out[0]->data_len, pkt::kEthMinFrameLen);
    EXPECT_EQ(MacAddr({f[0], f[1], f[2], f[3], f[4], f[5]}),
              MacAddr({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
    EXPECT_EQ(MacAddr({f[6], f[7], f[8], f[9], f[10], f[11]}), kGwMac);
    // Byte for byte the data plane's tested builder (one ARP builder).
    std::array<uint8_t, pkt::kEthMinFrameLen> want{};
    ASSERT_EQ(pkt::build_arp_request(want, kGwMac, be("10.99.0.1"), be("10.99.0.11")), want.size());
    EXPECT_EQ(std::memcmp(f, want.data(), want.size()), 0);
    rte_pktmbuf_free(out[0]);
    EXPECT_EQ(_reclaims, 1);
}

TEST_F(Tick, LearnedSendersReachTheNeighbourView) {
    message(0, be("10.99.0.11"), kPodMac, ControlMessage::learned);
    _tick->run(1000);
    const NeighbourView* view = _neighbours->view().load(std::memory_order_acquire);
    const MacAddr* mac = view->find(be("10.99.0.11"));
    ASSERT_NE(mac, nullptr);
    EXPECT_EQ(*mac, kPodMac);
    EXPECT_TRUE(sent().empty());
}

TEST_F(Tick, DrainIsBoundedPerRingAndTick) {
    const uint32_t n = kControlDrainBudget + 44;
    for (uint32_t i = 0; i < n; ++i) {
        message(1, htonl(0x0a630100 + i), kPodMac, ControlMessage::learned);  // 10.99.1.x/16
    }
    _tick->run(1000);
    EXPECT_EQ(_neighbours->size(), kControlDrainBudget);
    _tick->run(1001);
    EXPECT_EQ(_neighbours->size(), n);
}

TEST_F(Tick, AnnounceSendsAGratuitousArp) {
    _tick->announce(be("10.96.0.20"));
    std::vector<rte_mbuf*> out = sent();
    ASSERT_EQ(out.size(), 1u);
    pkt::Parsed p = pkt::parse(rte_pktmbuf_mtod(out[0], const uint8_t*), out[0]->data_len);
    ASSERT_EQ(p.l3, pkt::L3::arp);
    EXPECT_EQ(p.arp_op, pkt::kArpOpRequest);
    EXPECT_EQ(p.key.src_ip, be("10.96.0.20"));
    EXPECT_EQ(p.key.dst_ip, be("10.96.0.20"));
    rte_pktmbuf_free(out[0]);
}

TEST_F(Tick, AFrameTheRingCannotTakeIsFreed) {
    while (rte_ring_free_count(_ctx.control_tx) != 0) {
        _tick->announce(be("10.96.0.20"));
    }
    const unsigned before = rte_mempool_avail_count(g_pool);
    _tick->announce(be("10.96.0.20"));
    EXPECT_EQ(rte_mempool_avail_count(g_pool), before);
    for (rte_mbuf* m : sent()) {
        rte_pktmbuf_free(m);
    }
}

// Fleet members' liveness (gateway/fleet_members.hpp): dead until `rise`
// good probes in a row, then live until `fall` failed ones in a row; a
// good probe resets the failures (and a failed one the successes).
TEST(FleetLiveness, RiseAndFallCountConsecutiveVerdicts) {
    Liveness l;
    EXPECT_FALSE(l.live);
    EXPECT_FALSE(l.record(true, 2, 3));
    EXPECT_FALSE(l.record(false, 2, 3));  // breaks the run
    EXPECT_FALSE(l.record(true, 2, 3));
    EXPECT_TRUE(l.record(true, 2, 3));  // 2 in a row: live
    EXPECT_TRUE(l.live);
    EXPECT_FALSE(l.record(false, 2, 3));
    EXPECT_FALSE(l.record(false, 2, 3));
    EXPECT_FALSE(l.record(true, 2, 3));  // resets the failures
    EXPECT_FALSE(l.record(false, 2, 3));
    EXPECT_FALSE(l.record(false, 2, 3));
    EXPECT_TRUE(l.record(false, 2, 3));  // 3 in a row: dead
    EXPECT_FALSE(l.live);
    EXPECT_FALSE(l.record(false, 2, 3));  // already dead: no change
    EXPECT_EQ(l.probes, 11u);
    EXPECT_EQ(l.failed, 7u);
}

}  // namespace
}  // namespace svcgw
