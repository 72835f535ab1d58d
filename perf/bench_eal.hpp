// One EAL for the whole svcgw-bench binary, brought up on first use by any
// benchmark family that needs DPDK (table, worker, control); families that
// do not (maglev, flow, packet, dns) run without it. Lcore 0, no hugepages
// and enough heap for the largest fixture (1M-flow worker runs), unless
// SVCGW_BENCH_HUGEPAGE_MB=N asks for N MB of hugepages: then the workers'
// flow tables live on the EAL heap, as in a daemon on hugepages (without,
// in process memory with transparent huge pages, as under --no-huge).
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
        const char* hugepage_mb = std::getenv("SVCGW_BENCH_HUGEPAGE_MB");
        std::vector<std::string> args = {"svcgw-bench",
                                         "--no-pci",
                                         "--no-shconf",
                                         "--no-telemetry",
                                         "-l",
                                         "0",
                                         "-m",
                                         hugepage_mb != nullptr ? hugepage_mb : "1024",
                                         "--log-level=error",
                                         "--file-prefix=svcgw_bench_" + std::to_string(getpid())};
        if (hugepage_mb == nullptr) {
            args.push_back("--no-huge");
        }
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
