// EAL command line from the config's `dpdk:` and `ports:` sections
// (DESIGN §3). Pure string work plus a read of /proc, so it is testable
// without EAL; the daemon calls it once before rte_eal_init().
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"

namespace svcgw {

// What the host offers, read from /proc/mounts and /proc/meminfo.
struct HugepageInfo {
    bool mounted = false;     // a hugetlbfs is mounted somewhere
    uint64_t free_bytes = 0;  // HugePages_Free * Hugepagesize
};

HugepageInfo probe_hugepages();

// Lcore ids named by an EAL lcore string: "-l" syntax ("0-1", "0,2-3") or
// "--lcores" syntax with CPU sets ("0@0,1@1,2@1", "(1-2)@1"). Empty on a
// syntax error. The first id is the main lcore unless EAL is told otherwise.
std::vector<unsigned> parse_lcore_list(std::string_view text);

// True for a vdev spec ("net_af_packet0,iface=veth0"), false for a PCI address.
bool is_vdev_spec(std::string_view device);

// net_af_packet needs as many queue pairs as we configure queues; appends
// `qpairs=<queues>` to af_packet specs that do not set it. Other specs are
// returned unchanged.
std::string with_queue_pairs(std::string_view device, unsigned queues);

// The full EAL argv (argv[0] = "svcgw"): lcores, file prefix, memory,
// hugepage choice, one --vdev per vdev port, -a per PCI port (--no-pci when
// there is none), extra_args, then `trailing` (what followed `--`).
// Errors name the config key (e.g. hugepages: true without hugepages).
Result<std::vector<std::string>> build_eal_args(const Config& config, const HugepageInfo& host,
                                                std::span<const std::string> trailing);

}  // namespace svcgw
