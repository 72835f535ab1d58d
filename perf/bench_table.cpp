// VIP table micro-benchmarks: worker-side lookups (single and bulk) and the
// control thread's cost of publishing one replaced service.
// Command used for perf/RESULTS.md:
//   build/perf/svcgw-bench --benchmark_filter=Table --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true   (one line)
// Reported per benchmark: mean, median, stddev, min, max over the repetitions;
// `per_key` is the time per looked-up key.
// EAL (no hugepages, no shared config) starts lazily in the first Table benchmark,
// so the other benchmarks of svcgw-bench run without it.
#define ALLOW_EXPERIMENTAL_API 1

#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_eal.hpp"
#include "bench_stats.hpp"
#include "table/service_table.hpp"

namespace svcgw {
namespace {

constexpr uint32_t kPortsPerService = 2;  // typical Kubernetes services: 1-2 ports
// Random key stream, larger than any cache level's worth of keys so hits
// are spread over the whole table; a power of two for cheap wrapping.
constexpr size_t kKeyStream = 1 << 16;
constexpr uint32_t kBurst = 32;  // a typical rx burst

rte_rcu_qsbr* bench_qsbr() {
    // No reader registers: the benchmarks run on one thread, so every grace
    // period is over at once and reclaim() frees immediately.
    static rte_rcu_qsbr* const qsbr = [] {
        constexpr uint32_t kMaxThreads = 1;
        auto* v = static_cast<rte_rcu_qsbr*>(
            rte_zmalloc("bench_qsbr", rte_rcu_qsbr_get_memsize(kMaxThreads), RTE_CACHE_LINE_SIZE));
        rte_rcu_qsbr_init(v, kMaxThreads);
        return v;
    }();
    return qsbr;
}

ServiceConfig bench_service(uint32_t index, uint32_t endpoints, uint32_t variant = 0) {
    ServiceConfig cfg;
    cfg.name = "svc" + std::to_string(index);
    cfg.cluster_ip = Ipv4{0x0a600000 + index};  // 10.96.0.0 + index, up to /15
    for (uint32_t p = 0; p < kPortsPerService; ++p) {
        ServicePortConfig port;
        port.port = static_cast<uint16_t>(80 + p);
        port.target_port = static_cast<uint16_t>(8080 + p);
        cfg.ports.push_back(port);
    }
    for (uint32_t e = 0; e < endpoints; ++e) {
        EndpointConfig ep;
        ep.ip = Ipv4{0x0a630000 + e};  // 10.99.0.0 + e
        // Variants differ in one endpoint's weight: a typical scale or drain.
        ep.weight = (e == 0 && variant % 2 == 1) ? 50 : 100;
        cfg.endpoints.push_back(ep);
    }
    return cfg;
}

struct LookupFixture {
    std::unique_ptr<ServiceTable> table;
    std::vector<VipKey> stream;  // random live keys
};

// Built once per size and kept for the whole run (repetitions reuse it).
LookupFixture& lookup_fixture(uint32_t vips) {
    static std::map<uint32_t, std::unique_ptr<LookupFixture>> fixtures;
    auto& slot = fixtures[vips];
    if (slot) {
        return *slot;
    }
    bench_eal_init();
    slot = std::make_unique<LookupFixture>();
    ServiceTableOptions options;
    options.max_vips = vips;
    auto created = ServiceTable::create(bench_qsbr(), options);
    if (!created) {
        std::fprintf(stderr, "bench_table: %s\n", created.error().str().c_str());
        std::abort();
    }
    slot->table = std::move(*created);
    const uint32_t services = vips / kPortsPerService;
    for (uint32_t s = 0; s < services; ++s) {
        auto r = slot->table->upsert(bench_service(s, 2), MaglevConfig{});
        if (!r) {
            std::fprintf(stderr, "bench_table: %s\n", r.error().str().c_str());
            std::abort();
        }
    }
    std::mt19937 rng(42);  // fixed seed: the same stream every run
    std::uniform_int_distribution<uint32_t> pick_service(0, services - 1);
    std::uniform_int_distribution<uint32_t> pick_port(0, kPortsPerService - 1);
    slot->stream.resize(kKeyStream);
    for (auto& k : slot->stream) {
        k = VipKey{htonl(0x0a600000 + pick_service(rng)),
                   htons(static_cast<uint16_t>(80 + pick_port(rng))),
                   static_cast<uint8_t>(Protocol::tcp), 0};
    }
    return *slot;
}

void BM_TableLookupSingle(benchmark::State& state) {
    auto& f = lookup_fixture(static_cast<uint32_t>(state.range(0)));
    size_t i = 0;
    uint64_t misses = 0;
    for (auto _ : state) {
        const ServicePort* sp = f.table->lookup(f.stream[i]);
        misses += sp == nullptr;
        benchmark::DoNotOptimize(sp);
        i = (i + 1) & (kKeyStream - 1);
    }
    if (misses != 0) {
        state.SkipWithError("lookup missed a live key");
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
    state.counters["per_key"] =
        benchmark::Counter(static_cast<double>(state.iterations()),
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_TableLookupBulk(benchmark::State& state) {
    auto& f = lookup_fixture(static_cast<uint32_t>(state.range(0)));
    size_t i = 0;
    uint64_t misses = 0;
    for (auto _ : state) {
        const auto r = f.table->lookup_bulk(std::span(f.stream).subspan(i, kBurst));
        misses += kBurst - static_cast<uint32_t>(__builtin_popcountll(r.hit_mask));
        benchmark::DoNotOptimize(r.ports.data());
        i = (i + kBurst) & (kKeyStream - 1);
    }
    if (misses != 0) {
        state.SkipWithError("bulk lookup missed a live key");
    }
    const double keys = static_cast<double>(state.iterations()) * kBurst;
    state.SetItemsProcessed(static_cast<int64_t>(keys));
    state.counters["per_key"] =
        benchmark::Counter(keys, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Control-thread cost of publishing one replaced service of N endpoints:
// build (ring included) + hash pointer swaps + retire + reclaim (no reader
// is registered, so reclaim frees the old object at once).
void BM_TableReplaceService(benchmark::State& state) {
    bench_eal_init();
    const auto endpoints = static_cast<uint32_t>(state.range(0));
    constexpr uint32_t kOtherServices = 1000;  // a table that is not empty
    ServiceTableOptions options;
    options.max_vips = (kOtherServices + 1) * kPortsPerService;
    auto created = ServiceTable::create(bench_qsbr(), options);
    if (!created) {
        state.SkipWithError(created.error().str().c_str());
        return;
    }
    auto table = std::move(*created);
    for (uint32_t s = 1; s <= kOtherServices; ++s) {
        (void)table->upsert(bench_service(s, 2), MaglevConfig{});
    }
    // Configs prepared outside the timed loop: parsing is not publishing.
    const ServiceConfig variants[2] = {bench_service(0, endpoints, 0),
                                       bench_service(0, endpoints, 1)};
    (void)table->upsert(variants[0], MaglevConfig{});
    uint32_t v = 1;
    for (auto _ : state) {
        auto r = table->upsert(variants[v], MaglevConfig{});
        if (!r) {
            state.SkipWithError(r.error().str().c_str());
            break;
        }
        table->reclaim();
        v ^= 1;
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// The build step alone (Service::build: ring, backends, ports), to split
// BM_TableReplaceService into building and publishing.
void BM_TableServiceBuild(benchmark::State& state) {
    const auto endpoints = static_cast<uint32_t>(state.range(0));
    const ServiceConfig variants[2] = {bench_service(0, endpoints, 0),
                                       bench_service(0, endpoints, 1)};
    uint32_t v = 0;
    for (auto _ : state) {
        auto built = Service::build(variants[v], MaglevConfig{});
        if (!built) {
            state.SkipWithError(built.error().str().c_str());
            break;
        }
        benchmark::DoNotOptimize(built->get());
        v ^= 1;
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

}  // namespace

BENCHMARK(BM_TableServiceBuild)
    ->Arg(100)
    ->Unit(benchmark::kMicrosecond)
    ->Apply([](benchmark::internal::Benchmark* b) { with_spread(b); });
BENCHMARK(BM_TableLookupSingle)
    ->Arg(1000)
    ->Arg(100000)
    ->Apply([](benchmark::internal::Benchmark* b) { with_spread(b); });
BENCHMARK(BM_TableLookupBulk)->Arg(1000)->Arg(100000)->Apply([](benchmark::internal::Benchmark* b) {
    with_spread(b);
});
BENCHMARK(BM_TableReplaceService)
    ->Arg(100)
    ->Unit(benchmark::kMicrosecond)
    ->Apply([](benchmark::internal::Benchmark* b) { with_spread(b); });

}  // namespace svcgw
