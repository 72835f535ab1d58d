// Maglev build and lookup micro-benchmarks (no EAL), with the peer's build
// (Katran's MaglevHashV2, perf/peer_maglev.hpp) on the same sizes in the
// same process. Command used for perf/RESULTS.md:
//   build/perf/svcgw-bench --benchmark_filter=Maglev --benchmark_repetitions=7
//       --benchmark_enable_random_interleaving=true
//       --benchmark_report_aggregates_only=true   (one line)
// Reported per benchmark: mean, median, stddev, min, max over the repetitions
// (the count comes from the command line, so no Repetitions() here).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>
#include <vector>

#include "bench_stats.hpp"
#include "common/hash.hpp"
#include "maglev/maglev.hpp"
#include "peer_maglev.hpp"

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

// Weights of a benchmark case: 0 = equal weights, 1 = one backend per 10
// with ten times the weight, 2 = one heavy backend at 1000x, 3 = one backend
// at half the weight (the scale-down of bench_table's one-service replace).
void set_weights(std::vector<MaglevBackend>& backends, int64_t pattern) {
    if (pattern == 1) {
        for (size_t i = 0; i < backends.size(); i += 10) {
            backends[i].weight = 1000;
        }
    } else if (pattern == 2) {
        backends[0].weight = 100000;
    } else if (pattern == 3) {
        backends[0].weight = 50;
    }
}

// The sizes both builds run: M = 65537 (what `auto` picks from 643
// backends on) over N, and the auto size of a 100-endpoint service.
void build_cases(benchmark::internal::Benchmark* b) {
    b->ArgNames({"M", "N", "weighted"});
    for (const int64_t n : {10, 100, 1000, 2000, 5000}) {
        b->Args({65537, n, 0});
    }
    b->Args({16067, 100, 0})->Args({16067, 100, 3});
}

// Args: table size M, backend count N, weights (see set_weights).
void BM_MaglevBuild(benchmark::State& state) {
    const auto m = static_cast<uint32_t>(state.range(0));
    auto backends = bench_backends(static_cast<size_t>(state.range(1)));
    set_weights(backends, state.range(2));
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
    ->Apply(build_cases)
    ->Args({16381, 100, 0})
    ->Args({10007, 100, 0})
    ->Args({10007, 100, 1})
    ->Args({655373, 1000, 0})
    ->Args({65537, 1000, 1})
    ->Args({65537, 1000, 2})
    ->Unit(benchmark::kMicrosecond)
    ->Apply([](benchmark::internal::Benchmark* b) { with_spread(b); });

// The peer's build on the same backends: each gets its position as ring
// value and the hash of its identity as endpoint hash (Katran's callers
// hash the backend address the same way).
void BM_PeerMaglevV2Build(benchmark::State& state) {
    const auto m = static_cast<uint32_t>(state.range(0));
    auto backends = bench_backends(static_cast<size_t>(state.range(1)));
    set_weights(backends, state.range(2));
    std::vector<perf::PeerEndpoint> endpoints;
    for (uint32_t i = 0; i < backends.size(); ++i) {
        endpoints.push_back({i, backends[i].weight, hash_bytes(backends[i].identity, 0)});
    }
    // A real Maglev table: every slot filled, equal weights within one slot.
    const auto check = perf::peer_maglev_v2(endpoints, m);
    std::vector<uint32_t> counts(endpoints.size(), 0);
    for (const int e : check) {
        if (e < 0) {
            state.SkipWithError("peer left a slot empty");
            return;
        }
        ++counts[static_cast<size_t>(e)];
    }
    if (state.range(2) == 0) {
        const auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
        if (*hi - *lo > 1) {
            state.SkipWithError("peer table unbalanced");
            return;
        }
    }
    for (auto _ : state) {
        auto ring = perf::peer_maglev_v2(endpoints, m);
        benchmark::DoNotOptimize(ring.data());
    }
    state.counters["slots/s"] =
        benchmark::Counter(double(m) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PeerMaglevV2Build)
    ->Apply(build_cases)
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
