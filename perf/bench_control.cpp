// Control-plane benchmarks (issue 4), with 10,000 services and 30,000
// endpoints loaded through ControlState + SnapshotPublisher + ServiceTable,
// exactly the daemon's apply path (minus the HTTP hop):
//  - Control/ApplyFull: one apply of all 10k services into an empty table.
//  - Control/EndpointChangeVisibility: a reader thread spins on one VIP
//    lookup (as a worker would) until it sees a new backend; the time from
//    set_endpoints' return to that observation is the visibility latency
//    (<= 0 means visible before the call returned: counted as 0). Each
//    change carries a generation number and a sighting counts only for the
//    generation the reader was looking for, so a late sighting of the
//    previous change cannot pass for this one. Reports p50/p99/max, the
//    call's own duration, and memory.
// EAL without hugepages (shared with bench_table: whichever runs first
// initialises it).
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <sched.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_eal.hpp"
#include "control/snapshot_publisher.hpp"
#include "control/state.hpp"
#include "control_rig.hpp"
#include "table/service_table.hpp"

namespace svcgw {
namespace {

using bench::kEndpointsPerService;
using bench::kServices;
constexpr int kChanges = 1000;  // endpoint changes per latency run

struct Rig {
    rte_rcu_qsbr* qsbr = nullptr;
    std::unique_ptr<ServiceTable> table;
    std::unique_ptr<SnapshotPublisher> publisher;
    std::unique_ptr<ControlState> state;

    explicit Rig(uint32_t readers) {
        bench_eal_init();
        qsbr = bench::make_qsbr("bench_ctl_qsbr", readers);
        table = bench::make_table(qsbr);
        Config c = bench::config();
        publisher = std::make_unique<SnapshotPublisher>(*table, c.maglev);
        state = std::make_unique<ControlState>(c, *publisher, 0);
    }
    ~Rig() {
        state.reset();
        publisher.reset();
        table.reset();
        rte_free(qsbr);
    }
};

size_t rss_bytes() {
    std::ifstream statm("/proc/self/statm");
    size_t pages = 0, resident = 0;
    statm >> pages >> resident;
    return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

size_t dpdk_heap_bytes() {
    rte_malloc_socket_stats stats{};
    size_t total = 0;
    for (unsigned s = 0; s < rte_socket_count(); ++s) {
        if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(s), &stats) == 0) {
            total += stats.heap_allocsz_bytes;
        }
    }
    return total;
}

void BM_ControlApplyFull(benchmark::State& st) {
    const std::vector<ServiceConfig> all = bench::services();
    double rss_delta = 0, heap_delta = 0;
    for (auto _ : st) {
        st.PauseTiming();
        auto rig = std::make_unique<Rig>(1);
        std::vector<ServiceConfig> copy = all;
        size_t rss0 = rss_bytes(), heap0 = dpdk_heap_bytes();
        st.ResumeTiming();
        auto done = rig->state->apply(std::move(copy), false, 0);
        st.PauseTiming();
        if (!done || rig->table->size() != kServices) {
            st.SkipWithError(done ? "not every service published" : done.error().message.c_str());
            break;
        }
        // First iteration only: later ones reuse memory the allocator kept.
        if (rss_delta == 0) {
            rss_delta = static_cast<double>(rss_bytes()) - static_cast<double>(rss0);
            heap_delta = static_cast<double>(dpdk_heap_bytes()) - static_cast<double>(heap0);
        }
        rig.reset();
        st.ResumeTiming();
    }
    st.counters["services"] = kServices;
    st.counters["endpoints"] = kServices * kEndpointsPerService;
    st.counters["rss_MiB"] = rss_delta / (1 << 20);
    st.counters["dpdk_heap_MiB"] = heap_delta / (1 << 20);
}
BENCHMARK(BM_ControlApplyFull)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();

void BM_ControlEndpointChangeVisibility(benchmark::State& st) {
    Rig rig(1);
    auto loaded = rig.state->apply(bench::services(), false, 0);
    if (!loaded) {
        st.SkipWithError(loaded.error().message.c_str());
        return;
    }
    const ServiceRecord* target = rig.state->find("bench", "svc-4242");
    VipKey key{htonl(target->config.cluster_ip->value), htons(80), IPPROTO_TCP, 0};

    using Clock = std::chrono::steady_clock;
    // generation << 32 | backend ip_be the reader looks for (0 = nothing yet)
    std::atomic<uint64_t> want{0};
    std::atomic<uint32_t> seen_generation{0};  // the last generation sighted
    std::atomic<int64_t> seen_at{0};           // ns since epoch of that sighting
    std::atomic<bool> stop{false};
    std::thread reader([&] {
        // EAL pinned this process's main thread to lcore 0, and threads
        // inherit it: move the reader to another CPU, as a worker lcore is.
        cpu_set_t cpus;
        CPU_ZERO(&cpus);
        for (int c = 1;
             c < CPU_SETSIZE && c < static_cast<int>(std::thread::hardware_concurrency()); ++c) {
            CPU_SET(c, &cpus);
        }
        if (CPU_COUNT(&cpus) > 0) {
            pthread_setaffinity_np(pthread_self(), sizeof cpus, &cpus);
        }
        rte_rcu_qsbr_thread_register(rig.qsbr, 0);
        rte_rcu_qsbr_thread_online(rig.qsbr, 0);
        while (!stop.load(std::memory_order_relaxed)) {
            // Acquire: pairs with the writer's release store of `want`.
            const uint64_t w = want.load(std::memory_order_acquire);
            const auto generation = static_cast<uint32_t>(w >> 32);
            const auto ip = static_cast<uint32_t>(w);
            const ServicePort* sp = rig.table->lookup(key);
            if (generation != 0 && seen_generation.load(std::memory_order_relaxed) != generation &&
                sp != nullptr && sp->service->find_backend(ip) != nullptr) {
                seen_at.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
                // Release: seen_at is written before the writer reads it.
                seen_generation.store(generation, std::memory_order_release);
            }
            rte_rcu_qsbr_quiescent(rig.qsbr, 0);
        }
        rte_rcu_qsbr_thread_offline(rig.qsbr, 0);
        rte_rcu_qsbr_thread_unregister(rig.qsbr, 0);
    });

    std::vector<double> visibility_us, call_us;
    size_t stale = 0;  // sightings older than their change: a broken probe
    uint32_t next_ip = (10u << 24) | (200u << 16);
    uint32_t generation = 0;
    for (auto _ : st) {
        for (int i = 0; i < kChanges; ++i) {
            EndpointConfig added;
            added.ip = Ipv4{++next_ip};
            std::vector<EndpointConfig> eps = target->config.endpoints;
            eps.back() = added;  // replace one pod: the set changes, size stays
            ++generation;
            // Release: pairs with the reader's acquire load.
            want.store(uint64_t{generation} << 32 | htonl(added.ip.value),
                       std::memory_order_release);
            auto start = Clock::now();
            auto done = rig.state->set_endpoints("bench", "svc-4242", EndpointSpec::complete(eps),
                                                 target->resource_version);
            auto returned = Clock::now();
            if (!done) {
                st.SkipWithError(done.error().message.c_str());
                break;
            }
            // Acquire: pairs with the reader's release store; then seen_at
            // is this generation's sighting.
            while (seen_generation.load(std::memory_order_acquire) != generation) {
            }
            const int64_t seen = seen_at.load(std::memory_order_relaxed);
            // A backend added by this call cannot be seen before the call.
            stale += seen < start.time_since_epoch().count();
            target = rig.state->find("bench", "svc-4242");
            double vis = std::max<double>(0, (seen - returned.time_since_epoch().count()) / 1e3);
            visibility_us.push_back(vis);
            call_us.push_back(std::chrono::duration<double, std::micro>(returned - start).count());
            rig.table->reclaim();
        }
    }
    stop = true;
    reader.join();
    auto pct = [](std::vector<double> v, double p) {
        std::sort(v.begin(), v.end());
        return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
    };
    st.counters["stale_sightings"] = static_cast<double>(stale);
    if (stale != 0) {
        st.SkipWithError("the probe matched sightings to the wrong change");
    }
    st.counters["visible_p50_us"] = pct(visibility_us, 0.50);
    st.counters["visible_p99_us"] = pct(visibility_us, 0.99);
    st.counters["visible_max_us"] = pct(visibility_us, 1.0);
    st.counters["call_p50_us"] = pct(call_us, 0.50);
    st.counters["call_p99_us"] = pct(call_us, 0.99);
    st.counters["rss_MiB"] = static_cast<double>(rss_bytes()) / (1 << 20);
    st.counters["dpdk_heap_MiB"] = static_cast<double>(dpdk_heap_bytes()) / (1 << 20);
}
BENCHMARK(BM_ControlEndpointChangeVisibility)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->UseRealTime();

}  // namespace
}  // namespace svcgw
