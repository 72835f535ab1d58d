// Which driver carries the exception path to the kernel (DESIGN §6), and
// the DPDK device string for the ethdev-backed ones. Pure: no EAL, so the
// choice is unit-tested with /dev/vhost-net present or absent (an injected
// path), and `svcgw --check` makes the same choice as the daemon.
//  - virtio_user: DPDK's virtio_user PMD over vhost-kernel. The kernel side
//    is a TAP that the vhost-net kernel thread fills and drains, so frames
//    cross with no system call per frame from svcgw (DPVS and VPP's choice).
//  - tap: a plain TAP descriptor read and written by the control thread
//    (one system call per frame); needs only /dev/net/tun.
//  - tap_pmd: DPDK's net_tap PMD, an ethdev over a TAP. It runs the same
//    ethdev code as virtio_user (rx/tx bursts, queues, start/stop, a kernel
//    interface created by the PMD) where /dev/vhost-net is absent, as on
//    the test rig and CI; an honest driver of its own (it is how DPDK apps
//    without vhost-net reach the kernel), not only a test hook.
// auto: virtio_user when /dev/vhost-net opens, else tap.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.hpp"
#include "config/config.hpp"
#include "net/mac_addr.hpp"

namespace svcgw {

// The vhost-net character device (module vhost_net) virtio_user talks to.
inline constexpr const char* kVhostNetPath = "/dev/vhost-net";

struct KernelDriverChoice {
    KernelDriver driver = KernelDriver::tap;  // never automatic
    std::string reason;                       // for the start-up log
};

// The driver for `wanted`: errors (naming ports[0].kernel_driver) when
// virtio_user is asked for and `vhost_net` cannot be opened read-write.
Result<KernelDriverChoice> choose_kernel_driver(KernelDriver wanted,
                                                const std::string& vhost_net = kVhostNetPath);

// "auto", "tap", "virtio_user", "tap_pmd": the config's words.
const char* kernel_driver_name(KernelDriver driver);

// True for the drivers that are an ethdev (virtio_user, tap_pmd).
bool kernel_driver_is_ethdev(KernelDriver driver);

// The vdev's name and arguments (rte_eal_hotplug_add) for an ethdev-backed driver: the
// kernel interface `interface` (created by the PMD), the port's MAC on the
// DPDK side, one queue pair of `queue_size` descriptors.
struct KernelVdev {
    std::string name;
    std::string args;
};
KernelVdev kernel_vdev(KernelDriver driver, const std::string& interface, const MacAddr& mac,
                       uint16_t queue_size, const std::string& vhost_net = kVhostNetPath);

}  // namespace svcgw
