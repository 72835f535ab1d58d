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

// The value of `key` in a device spec's "k=v" arguments ("iface" of
// "net_af_packet0,iface=veth0"); empty when absent.
std::string device_arg(std::string_view device, std::string_view key);

// What the host says about a port's device before EAL probes it, so a
// missing one fails at once with the fix, not as an EAL probe error:
// af_packet/af_xdp need their `iface` in this network namespace
// (`ifindex` answers for a name, 0 when absent: if_nametoindex in the
// daemon); a PCI device must exist under `sysfs` and be bound to a driver
// DPDK can use (vfio-pci, uio, or a bifurcated mlx4/mlx5 kernel driver).
// Errors name ports[0].device.
struct HostView {
    std::string sysfs = "/sys";
    unsigned (*ifindex)(const char* name) = nullptr;
};
Result<void> check_port_device(const PortConfig& port, const HostView& host);

// The full EAL argv (argv[0] = "svcgw"): lcores, file prefix, memory,
// hugepage choice, one --vdev per vdev port, -a per PCI port (--no-pci when
// there is none), extra_args, then `trailing` (what followed `--`).
// Errors name the config key (e.g. hugepages: true without hugepages).
Result<std::vector<std::string>> build_eal_args(const Config& config, const HugepageInfo& host,
                                                std::span<const std::string> trailing);

}  // namespace svcgw
