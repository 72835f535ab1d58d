// Idle back-off (dpdk.idle: adaptive): the policy's phases on a fake clock,
// then the real loop (Worker::run on a thread, a net_ring port) for what the
// policy cannot show: an idle worker sleeps, grace periods complete while it
// sleeps, the first frame is answered, and stop ends the loop.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "dataplane/idle_backoff.hpp"
#include "dataplane/worker.hpp"
#include "gateway/fleet_observer.hpp"
#include "net/packet.hpp"
#include "table/service_table.hpp"
#include "test_eal.hpp"

namespace svcgw {
namespace {

constexpr uint64_t kHz = 1'000'000'000;  // fake TSC: 1 tick = 1 ns
constexpr uint64_t kUs = kHz / 1'000'000;

using Kind = IdleAction::Kind;

TEST(IdleBackoff, PhasesOfAnIdleSpell) {
    IdleBackoff b(kHz);
    const uint64_t t0 = 1'000'000'000;
    EXPECT_EQ(b.next(true, t0).kind, Kind::poll);
    // Gaps inside a burst: full-speed polling.
    EXPECT_EQ(b.next(false, t0 + 1 * kUs).kind, Kind::poll);
    EXPECT_EQ(b.next(false, t0 + (kIdleSpinUs - 1) * kUs).kind, Kind::poll);
    // Then pauses between polls, no sleep yet.
    EXPECT_EQ(b.next(false, t0 + kIdleSpinUs * kUs).kind, Kind::pause);
    EXPECT_EQ(b.next(false, t0 + (kIdlePauseUntilUs - 1) * kUs).kind, Kind::pause);
    // Then sleeps doubling from the minimum to the bound, and staying there.
    uint64_t t = t0 + kIdlePauseUntilUs * kUs;
    uint32_t expected = kIdleSleepMinUs;
    for (int i = 0; i < 12; ++i) {
        IdleAction a = b.next(false, t);
        ASSERT_EQ(a.kind, Kind::sleep) << "sleep " << i;
        EXPECT_EQ(a.sleep_us, expected) << "sleep " << i;
        t += a.sleep_us * kUs;
        expected = std::min(2 * expected, kIdleSleepMaxUs);
    }
    EXPECT_EQ(b.next(false, t).sleep_us, kIdleSleepMaxUs);
}

TEST(IdleBackoff, FirstFrameResetsToFullPolling) {
    IdleBackoff b(kHz);
    uint64_t t = 5 * kHz;
    ASSERT_EQ(b.next(false, t).kind, Kind::sleep);  // idle since start
    ASSERT_EQ(b.next(false, t += 10 * kUs).sleep_us, 2 * kIdleSleepMinUs);
    EXPECT_EQ(b.next(true, t += 20 * kUs).kind, Kind::poll);
    EXPECT_EQ(b.next(false, t += kUs).kind, Kind::poll);
    // A new idle spell starts over: spin, pause, the smallest sleep.
    EXPECT_EQ(b.next(false, t += kIdlePauseUntilUs * kUs).sleep_us, kIdleSleepMinUs);
}

TEST(IdleBackoff, SteadyTrafficNeverSleeps) {
    IdleBackoff b(kHz);
    uint64_t t = kHz;
    // A frame every 20 us (50 kpps) with empty polls in between.
    for (int i = 0; i < 10'000; ++i) {
        ASSERT_EQ(b.next(i % 20 == 0, t).kind, Kind::poll) << i;
        t += kUs;
    }
}

// ---- the loop ----

const MacAddr kClientMac = {0x02, 0, 0, 0, 0, 0x02};
constexpr uint32_t kPortIp = 0x0a630001;    // 10.99.0.1
constexpr uint32_t kClientIp = 0x0a630002;  // 10.99.0.2

rte_mempool* g_pool = nullptr;

const auto* const kEal = ::testing::AddGlobalTestEnvironment(
    new test_support::EalEnvironment("test_idle", &g_pool, 511));

// One worker on a net_ring port whose rings the test plays the far side of.
class Loop : public ::testing::TestWithParam<IdlePolicy> {
protected:
    void SetUp() override {
        // Names are unique per test: a closed net_ring port keeps its name.
        static int instance = 0;
        const std::string tag = std::to_string(instance++);
        size_t size = rte_rcu_qsbr_get_memsize(1);
        _qsbr = static_cast<rte_rcu_qsbr*>(std::aligned_alloc(64, (size + 63) / 64 * 64));
        ASSERT_EQ(rte_rcu_qsbr_init(_qsbr, 1), 0);
        auto table = ServiceTable::create(_qsbr, ServiceTableOptions{.max_vips = 64});
        ASSERT_TRUE(table);
        _table = std::move(*table);
        _published.store(&_view);
        _rx = rte_ring_create(("idle_rx" + tag).c_str(), 256, SOCKET_ID_ANY, 0);
        _tx = rte_ring_create(("idle_tx" + tag).c_str(), 256, SOCKET_ID_ANY, 0);
        ASSERT_TRUE(_rx != nullptr && _tx != nullptr);
        int port = rte_eth_from_rings(("idle" + tag).c_str(), &_rx, 1, &_tx, 1, SOCKET_ID_ANY);
        ASSERT_GE(port, 0);
        _port = static_cast<uint16_t>(port);
        rte_eth_conf conf{};
        ASSERT_EQ(rte_eth_dev_configure(_port, 1, 1, &conf), 0);
        ASSERT_EQ(rte_eth_rx_queue_setup(_port, 0, 256, SOCKET_ID_ANY, nullptr, g_pool), 0);
        ASSERT_EQ(rte_eth_tx_queue_setup(_port, 0, 256, SOCKET_ID_ANY, nullptr), 0);
        ASSERT_EQ(rte_eth_dev_start(_port), 0);
        rte_ether_addr mac{};
        rte_eth_macaddr_get(_port, &mac);

        _ctx.port_id = _port;
        _ctx.workers = 1;
        std::memcpy(_ctx.mac.data(), mac.addr_bytes, 6);
        _ctx.address_be = htonl(kPortIp);
        _ctx.subnet_mask_be = htonl(0xffffff00);
        _ctx.service_net_be = htonl(0x0a600000);
        _ctx.service_mask_be = htonl(0xffff0000);
        _ctx.snat_be = {_ctx.address_be};
        _ctx.conntrack.max_flows = _max_flows;
        _ctx.table = _table.get();
        _ctx.qsbr = _qsbr;
        _ctx.neighbours = &_published;
        _ctx.pool = g_pool;
        _ctx.stop = &_stop;
        _ctx.tsc_hz = rte_get_tsc_hz();
        _ctx.idle = GetParam();
        _worker = std::make_unique<Worker>(_ctx, 0);
        if (_start_loop) {
            _thread = std::thread([this] { _worker->run(); });
        }
    }
    void TearDown() override {
        stop();
        _worker.reset();
        rte_eth_dev_stop(_port);
        rte_eth_dev_close(_port);
        for (rte_ring* r : {_rx, _tx}) {
            void* m = nullptr;
            while (rte_ring_dequeue(r, &m) == 0) {
                rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
            }
            rte_ring_free(r);
        }
        _table.reset();
        std::free(_qsbr);
    }
    void stop() {
        if (_thread.joinable()) {
            // Release: pairs with the worker loop's acquire load.
            _stop.store(true, std::memory_order_release);
            _thread.join();
        }
    }
    uint64_t sleeps() const { return _worker->counters().get(WorkerEvent::idle_sleep); }
    // Waits (bounded) until `done`; false on timeout.
    template <typename F>
    static bool eventually(F done, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!done()) {
            if (std::chrono::steady_clock::now() > deadline) {
                return false;
            }
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
        return true;
    }

    // Set by a derived fixture's constructor, before SetUp.
    bool _start_loop = true;
    uint32_t _max_flows = 1024;

    rte_rcu_qsbr* _qsbr = nullptr;
    std::unique_ptr<ServiceTable> _table;
    NeighbourView _view;
    std::atomic<const NeighbourView*> _published{nullptr};
    rte_ring* _rx = nullptr;
    rte_ring* _tx = nullptr;
    uint16_t _port = 0;
    std::atomic<bool> _stop{false};
    WorkerContext _ctx;
    std::unique_ptr<Worker> _worker;
    std::thread _thread;
};

TEST_P(Loop, IdleWorkerSleepsOnlyWhenAdaptive) {
    if (GetParam() == IdlePolicy::adaptive) {
        EXPECT_TRUE(eventually([&] { return sleeps() >= 20; })) << sleeps() << " sleeps";
    } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        EXPECT_EQ(sleeps(), 0u);
    }
}

// A grace period started while the worker sleeps is over at once: asleep it
// is offline, so reclaim never waits for its wake-up. A worker that slept
// online would pass a quiescent state only after waking (and would fail
// the first-check count below nearly every time).
TEST_P(Loop, GracePeriodsDoNotWaitForASleepingWorker) {
    if (GetParam() != IdlePolicy::adaptive) {
        GTEST_SKIP() << "a polling worker passes a quiescent state every loop";
    }
    ASSERT_TRUE(eventually([&] { return sleeps() >= 20; }));
    constexpr int kTokens = 200;
    int at_once = 0;
    for (int i = 0; i < kTokens; ++i) {
        const uint64_t token = rte_rcu_qsbr_start(_qsbr);
        if (rte_rcu_qsbr_check(_qsbr, token, false) == 1) {
            ++at_once;
        } else {
            ASSERT_TRUE(eventually([&] { return rte_rcu_qsbr_check(_qsbr, token, false) == 1; }))
                << "grace period " << i << " never ended";
        }
        std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    // Asleep ~98% of the time at kIdleSleepMaxUs; half leaves room for a
    // loaded machine that delays the worker's wake-ups.
    EXPECT_GE(at_once, kTokens / 2) << at_once << " of " << kTokens << " at once";
}

// The first frame after an idle spell is taken in and answered.
TEST_P(Loop, FirstFrameIsAnswered) {
    if (GetParam() == IdlePolicy::adaptive) {
        ASSERT_TRUE(eventually([&] { return sleeps() >= 20; }));
    }
    rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
    ASSERT_NE(m, nullptr);
    size_t len = pkt::build_arp_request(std::span<uint8_t>(rte_pktmbuf_mtod(m, uint8_t*), 128),
                                        kClientMac, htonl(kClientIp), htonl(kPortIp));
    m->data_len = static_cast<uint16_t>(len);
    m->pkt_len = static_cast<uint32_t>(len);
    ASSERT_EQ(rte_ring_enqueue(_rx, m), 0);
    void* reply = nullptr;
    EXPECT_TRUE(eventually([&] { return rte_ring_dequeue(_tx, &reply) == 0; }));
    if (reply != nullptr) {
        rte_pktmbuf_free(static_cast<rte_mbuf*>(reply));
    }
    EXPECT_EQ(_worker->counters().get(WorkerEvent::arp_reply), 1u);
}

// Stop is seen within one sleep.
TEST_P(Loop, StopEndsASleepingLoop) {
    if (GetParam() == IdlePolicy::adaptive) {
        ASSERT_TRUE(eventually([&] { return sleeps() >= 20; }));
    }
    const auto t0 = std::chrono::steady_clock::now();
    stop();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
}

// "Data plane up" for route health injection (gateway/fleet_observer.hpp)
// is the loop's heartbeat: it moves with every housekeeping pass, while a
// census pass over a big table takes far longer. The loop is driven by
// hand on a fake clock, as the harness drives it, so the census cannot
// finish by chance.
class Heartbeat : public Loop {
protected:
    Heartbeat() {
        _start_loop = false;
        _max_flows = 1u << 19;  // census: >= 512 steps of kCensusBudget
    }
};

TEST_P(Heartbeat, DataPlaneIsUpWhileTheLoopRunsHoweverLongACensusPassTakes) {
    std::vector<Worker*> workers{_worker.get()};
    Config config;
    FleetObserver observer;
    auto up = [&](uint64_t now_ms) {
        return observer.observe(*_table, workers, config, now_ms).data_plane_up;
    };
    ASSERT_TRUE(up(0));
    _worker->attach();
    const uint64_t housekeeping = _ctx.tsc_hz / 10'000;  // 100 us: one pass per poll
    uint64_t now = rte_rdtsc();
    for (int i = 0; i < 200; ++i) {
        _worker->poll_once(now += housekeeping);
    }
    _worker->detach();
    ASSERT_EQ(_worker->census().passes, 0u) << "the premise: no census pass finished";
    EXPECT_GE(_worker->heartbeat(), 200u);
    EXPECT_TRUE(up(kWorkerStallMs + 500));
    // Then no loop for longer than the bound: down.
    EXPECT_FALSE(up(2 * kWorkerStallMs + 1000));
}

INSTANTIATE_TEST_SUITE_P(Idle, Heartbeat, ::testing::Values(IdlePolicy::adaptive));

INSTANTIATE_TEST_SUITE_P(Idle, Loop, ::testing::Values(IdlePolicy::poll, IdlePolicy::adaptive),
                         [](const auto& info) {
                             return info.param == IdlePolicy::adaptive ? "adaptive" : "poll";
                         });

}  // namespace
}  // namespace svcgw
