// EAL for the unit tests (DESIGN §5): no hugepages, no PCI, no shared
// config, one lcore, and a file prefix unique to this process so suites run
// side by side. Not --in-memory: with --no-huge DPDK 22.11 uses legacy
// memory, which --in-memory rejects. Not "-l 0-2": it fails on a 2-CPU box;
// the tests' reader threads are plain std::threads. EAL pins the calling
// thread to its lcore, so the original CPU set is restored for them.
//
// A suite registers it once, at namespace scope:
//   const auto* const kEal =
//       ::testing::AddGlobalTestEnvironment(new test_support::EalEnvironment("test_x"));
// and a suite that builds frames asks for an mbuf pool too:
//   new test_support::EalEnvironment("test_x", &g_pool, 1023)
#pragma once

#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace svcgw::test_support {

inline void init_test_eal(const std::string& name) {
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    const bool have_cpus = sched_getaffinity(0, sizeof(cpus), &cpus) == 0;
    std::vector<std::string> args = {
        name,
        "--no-huge",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "-l",
        "0",
        "--log-level=error",
        "--file-prefix=svcgw_" + name + "_" + std::to_string(getpid())};
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
        // Fail loudly: a suite that skipped every test would look like a pass.
        std::fprintf(stderr, "%s: rte_eal_init failed: %s\n", name.c_str(),
                     rte_strerror(rte_errno));
        std::abort();
    }
    if (have_cpus) {
        sched_setaffinity(0, sizeof(cpus), &cpus);
    }
}

// EAL for the whole suite: up before the first test, cleaned up after the
// last; with `pool`, an mbuf pool of `mbufs` mbufs created into *pool.
class EalEnvironment : public ::testing::Environment {
public:
    explicit EalEnvironment(std::string name, rte_mempool** pool = nullptr, unsigned mbufs = 0)
        : _name(std::move(name)), _pool(pool), _mbufs(mbufs) {}
    void SetUp() override {
        init_test_eal(_name);
        if (_pool == nullptr) {
            return;
        }
        *_pool = rte_pktmbuf_pool_create((_name + "_pool").c_str(), _mbufs, 0, 0,
                                         RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
        if (*_pool == nullptr) {
            std::fprintf(stderr, "%s: mempool creation failed: %s\n", _name.c_str(),
                         rte_strerror(rte_errno));
            std::abort();
        }
    }
    void TearDown() override { rte_eal_cleanup(); }

private:
    std::string _name;
    rte_mempool** _pool;
    unsigned _mbufs;
};

}  // namespace svcgw::test_support
