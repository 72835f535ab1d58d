// The spread every svcgw-bench family reports next to Google Benchmark's
// mean, median and stddev over --benchmark_repetitions: min and max
// (STYLE §15: median and spread).
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

namespace svcgw {

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

}  // namespace svcgw
