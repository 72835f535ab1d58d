// The DNS zone on the control path (issue 5): the daemon's publish step
// (ControlState -> SnapshotPublisher -> VIP table + zone) with 10,000
// services and 30,000 endpoints, the same set as bench_control.cpp, so
//   Control/ApplyFull  vs  DnsControl/ApplyFull   = what the zone adds.
//  - DnsControl/ApplyFull: one apply of all 10k services into an empty
//    table and zone.
//  - DnsControl/Change/kind:K with 10k loaded, one svcgwctl-sized call:
//      0 endpoint change of a ClusterIP service (no DNS change: no build),
//      1 a new service exposed (zone rebuilt),
//      2 endpoint change of a headless service (zone rebuilt).
//    The call returns after the zone pointer swap: its duration is the
//    change -> data plane time, and the only time measured (manual
//    timing): freeing the old objects after the grace period (reclaim)
//    runs later, on the control tick, and is not part of it. Each call's
//    duration is kept: p50_us/p99_us/max_us (1000 calls per kind, so the
//    p99 is the 10th slowest).
// Command:
//   build/perf/svcgw-bench --benchmark_filter='Control|Dns'
#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench_eal.hpp"
#include "control/snapshot_publisher.hpp"
#include "control/state.hpp"
#include "control/zone_versions.hpp"
#include "control_rig.hpp"
#include "table/service_table.hpp"

namespace svcgw {
namespace {

// bench_control.cpp's set (control_rig.hpp).
using bench::kServices;

struct Rig {
    rte_rcu_qsbr* qsbr = nullptr;
    std::unique_ptr<ServiceTable> table;
    std::unique_ptr<ZoneVersions> zones;
    std::unique_ptr<SnapshotPublisher> publisher;
    std::unique_ptr<ControlState> state;

    Rig() {
        bench_eal_init();
        qsbr = bench::make_qsbr("bench_dnsctl_qsbr", 1);
        table = bench::make_table(qsbr);
        Config c = bench::config();
        zones = std::make_unique<ZoneVersions>(c.dns, c.network.service_cidr, qsbr, 1);
        (void)zones->publish_all(c.services);
        publisher = std::make_unique<SnapshotPublisher>(*table, c.maglev, zones.get());
        state = std::make_unique<ControlState>(c, *publisher, 0);
    }
    ~Rig() {
        state.reset();
        publisher.reset();
        zones.reset();
        table.reset();
        rte_free(qsbr);
    }
};

void BM_DnsControlApplyFull(benchmark::State& st) {
    const std::vector<ServiceConfig> all = bench::services();
    uint64_t build_us = 0;
    for (auto _ : st) {
        st.PauseTiming();
        auto rig = std::make_unique<Rig>();
        std::vector<ServiceConfig> copy = all;
        st.ResumeTiming();
        auto done = rig->state->apply(std::move(copy), false, 0);
        st.PauseTiming();
        if (!done || rig->table->size() != kServices ||
            rig->zones->current().load(std::memory_order_acquire) == nullptr) {
            st.SkipWithError(done ? "not every service published" : done.error().message.c_str());
            break;
        }
        build_us = rig->zones->stats().last_build_us;
        rig.reset();
        st.ResumeTiming();
    }
    st.counters["services"] = kServices;
    st.counters["zone_build_ms"] = static_cast<double>(build_us) / 1000.0;
}
BENCHMARK(BM_DnsControlApplyFull)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();

void BM_DnsControlChange(benchmark::State& st) {
    const int kind = static_cast<int>(st.range(0));
    Rig rig;
    std::vector<ServiceConfig> all = bench::services();
    ServiceConfig headless = bench::service(kServices);
    headless.name = "headless";
    headless.headless = true;
    all.push_back(headless);
    if (auto loaded = rig.state->apply(std::move(all), false, 0); !loaded) {
        st.SkipWithError(loaded.error().message.c_str());
        return;
    }
    const uint64_t builds_before = rig.zones->stats().builds;
    uint32_t next = 0;
    std::vector<double> call_us;
    call_us.reserve(static_cast<size_t>(st.max_iterations));
    for (auto _ : st) {
        ++next;
        bool ok = false;
        const auto start = std::chrono::steady_clock::now();
        if (kind == 0) {
            std::vector<EndpointConfig> eps =
                rig.state->find("bench", "svc-4242")->config.endpoints;
            eps.back().ip = Ipv4{(10u << 24) | (200u << 16) | next};
            ok = rig.state
                     ->set_endpoints("bench", "svc-4242", EndpointSpec::complete(std::move(eps)),
                                     rig.state->find("bench", "svc-4242")->resource_version)
                     .has_value();
        } else if (kind == 1) {
            ServiceConfig s = bench::service(kServices + 1 + next);
            s.name = "new-" + std::to_string(next);
            ok = rig.state->apply({std::move(s)}, true, 0).has_value();
        } else {
            std::vector<EndpointConfig> eps =
                rig.state->find("bench", "headless")->config.endpoints;
            eps.back().ip = Ipv4{(10u << 24) | (201u << 16) | next};
            ok = rig.state
                     ->set_endpoints("bench", "headless", EndpointSpec::complete(std::move(eps)),
                                     rig.state->find("bench", "headless")->resource_version)
                     .has_value();
        }
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        st.SetIterationTime(seconds);
        call_us.push_back(seconds * 1e6);
        if (!ok) {
            st.SkipWithError("change failed");
            break;
        }
        rig.zones->reclaim();
        rig.table->reclaim();
    }
    std::sort(call_us.begin(), call_us.end());
    auto pct = [&](double p) {
        return call_us.empty()
                   ? 0.0
                   : call_us[std::min(call_us.size() - 1, static_cast<size_t>(p * call_us.size()))];
    };
    st.counters["p50_us"] = pct(0.50);
    st.counters["p99_us"] = pct(0.99);
    st.counters["max_us"] = pct(1.0);
    st.counters["zone_builds_per_call"] =
        static_cast<double>(rig.zones->stats().builds - builds_before) /
        static_cast<double>(st.iterations());
}
BENCHMARK(BM_DnsControlChange)
    ->ArgNames({"kind"})
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMicrosecond)
    ->Iterations(1000)
    ->UseManualTime();

}  // namespace
}  // namespace svcgw
