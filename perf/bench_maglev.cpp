// Maglev build and lookup micro-benchmarks (no EAL).
// Command used for perf/RESULTS.md:
//   build/perf/svcgw-bench --benchmark_filter=Maglev --benchmark_repetitions=7
//       --benchmark_report_aggregates_only=true   (one line)
// Reported per benchmark: mean, median, stddev, min, max over the repetitions
// (the count comes from the command line, so no Repetitions() here).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/hash.hpp"
#include "maglev/maglev.hpp"

namespace svcgw {
namespace {

std::vector<MaglevBackend> bench_backends(size_t n) {
    std::vector<MaglevBackend> out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        out.push_back({"10." + std::to_string(i / 65536) + "." + std::to_string((i / 256) % 256) +
                           "." + std::to_string(i % 256),
                       100});
    }
    return out;
}

template <class B>
B* with_spread(B* b) {
    return b
        ->ComputeStatistics(
            "min",
            [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); })
        ->ComputeStatistics("max", [](const std::vector<double>& v) {
            return *std::max_element(v.begin(), v.end());
        });
}

// Args: table size M, backend count N, weighted (0 = equal weights, 1 = one
// backend per 10 with ten times the weight, 2 = one heavy backend at 1000x).
void BM_MaglevBuild(benchmark::State& state) {
    const auto m = static_cast<uint32_t>(state.range(0));
    auto backends = bench_backends(static_cast<size_t>(state.range(1)));
    if (state.range(2) == 1) {
        for (size_t i = 0; i < backends.size(); i += 10) {
            backends[i].weight = 1000;
        }
    } else if (state.range(2) == 2) {
        backends[0].weight = 100000;
    }
    for (auto _ : state) {
        auto ring = MaglevRing::build(backends, m, 0);
        if (!ring) {
            state.SkipWithError(ring.error().str().c_str());
            break;
        }
        benchmark::DoNotOptimize(ring->bytes().data());
    }
    state.counters["slots/s"] =
        benchmark::Counter(double(m) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MaglevBuild)
    ->ArgNames({"M", "N", "weighted"})
    ->Args({65537, 10, 0})
    ->Args({65537, 100, 0})
    ->Args({65537, 1000, 0})
    ->Args({65537, 5000, 0})
    ->Args({16381, 100, 0})
    ->Args({16067, 100, 0})  // auto size for 100 endpoints: the one-service replace
    ->Args({10007, 100, 0})
    ->Args({10007, 100, 1})
    ->Args({655373, 1000, 0})
    ->Args({65537, 1000, 1})
    ->Args({65537, 1000, 2})
    ->Unit(benchmark::kMicrosecond)
    ->Apply([](benchmark::internal::Benchmark* b) { with_spread(b); });

// Per-packet lookup: picks for 64Ki precomputed flow hashes over a
// 65537-slot ring of 1000 backends (16-bit entries, 128 KiB: L2-resident as
// in a worker). Only the picks are timed.
void BM_MaglevPick(benchmark::State& state) {
    const auto backends = bench_backends(1000);
    const auto ring = MaglevRing::build(backends, 65537, 0).value();
    constexpr size_t kFlows = size_t{1} << 16;
    std::vector<uint64_t> hashes(kFlows);
    for (size_t i = 0; i < kFlows; ++i) {
        hashes[i] = hash_u64(i, 11);
    }
    for (auto _ : state) {
        uint64_t sum = 0;
        for (const uint64_t h : hashes) {
            sum += ring.pick(h);
        }
        benchmark::DoNotOptimize(sum);
    }
    state.SetItemsProcessed(int64_t(state.iterations()) * int64_t{kFlows});
}
BENCHMARK(BM_MaglevPick)
    ->Unit(benchmark::kMicrosecond)
    ->Apply([](benchmark::internal::Benchmark* b) { with_spread(b); });

}  // namespace
}  // namespace svcgw
