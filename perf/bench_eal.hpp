// One EAL for the whole svcgw-bench binary, brought up on first use by any
// benchmark family that needs DPDK (table, worker, control); families that
// do not (maglev, flow, packet, dns) run without it. No hugepages, lcore 0,
// enough heap for the largest fixture (1M-flow worker runs).
#pragma once

#include <rte_eal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace svcgw {

inline void bench_eal_init() {
    static const bool ready = [] {
        std::vector<std::string> args = {"svcgw-bench",
                                         "--no-huge",
                                         "--no-pci",
                                         "--no-shconf",
                                         "--no-telemetry",
                                         "-l",
                                         "0",
                                         "-m",
                                         "1024",
                                         "--log-level=error",
                                         "--file-prefix=svcgw_bench_" + std::to_string(getpid())};
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
            std::fprintf(stderr, "svcgw-bench: rte_eal_init failed\n");
            std::abort();
        }
        return true;
    }();
    (void)ready;
}

}  // namespace svcgw
