// The exception path's kernel side (DESIGN §6): a kernel interface per port
// that carries the port's address, prefix and MAC (and the cluster DNS
// address as a /32, for DNS over TCP), so the kernel behind it can run BGP,
// BFD, health-check probes, SSH and DNS over TCP on the gateway's own
// addresses.
//  - workers -> kernel: frames the workers punt (dataplane/punt.hpp) go to
//    the kernel, control-class rings first, a bounded number per control
//    tick;
//  - kernel -> port: frames the kernel sends are taken into mbufs and
//    handed to worker 0 (the control_tx ring, as the control thread's own
//    ARP requests). ARP replies are dropped: the workers answer ARP for the
//    gateway's addresses themselves, the kernel only learns.
// The driver (port/kernel_driver.hpp) decides how frames cross; set-up,
// filtering, priorities, budgets and counters are the same for all:
//  - tap: a plain TAP (IFF_TAP | IFF_NO_PI, no vnet header: the kernel
//    completes checksums and segments before it hands a frame over), read
//    and written by this thread; its descriptor wakes the control loop.
//  - virtio_user, tap_pmd: an ethdev (DPDK's virtio_user PMD over
//    vhost-kernel, or net_tap) hot-plugged at start-up, one
//    queue pair, rx mbufs from the port's pool, no offloads (so the kernel
//    again hands over complete frames). No descriptor to wait on: the
//    control tick polls it every 1 ms, as it drains the punt rings, so a
//    kernel frame waits at most a tick (BGP and BFD timers are 100s of ms).
// Either way the kernel interface is not persistent: closing the path (or
// the process dying) removes it. DPVS and VPP's linux-cp also put a
// virtio/TAP interface beside each DPDK port; DPDK's KNI is gone.
//
// Threading: control thread only (it alone touches the ethdev's queue).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "common/result.hpp"
#include "config/config.hpp"
#include "net/mac_addr.hpp"

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;

namespace svcgw {

// Frames moved per direction per call: the control tick runs every 1 ms,
// so 512 frames/ms is far above the default punt rates and still bounds
// the time one tick spends in write().
constexpr unsigned kExceptionPathBudget = 512;
// Descriptors of the ethdev drivers' queues: one tick's budget, so a tick's
// worth of kernel frames waits in the rx ring and one of punted frames fits
// the tx ring (virtio_user wants a power of two).
constexpr uint16_t kExceptionQueueSize = kExceptionPathBudget;
// Port-pool mbufs an ethdev driver can hold: a full rx ring, and punted
// frames its tx ring has not released yet.
constexpr uint32_t kExceptionEthdevMbufs = 2u * kExceptionQueueSize;

// Whether a frame the kernel wrote to the TAP may leave through the port:
// IPv4 and ARP requests only (ARP replies: the workers answer for our
// addresses; anything else, e.g. IPv6 the TAP should not carry, stays).
bool kernel_frame_leaves(const uint8_t* frame, size_t len);

struct ExceptionPathSetup {
    std::string interface;                    // kernel name (IFNAMSIZ - 1 characters at most)
    KernelDriver driver = KernelDriver::tap;  // chosen (port/kernel_driver.hpp), never automatic
    rte_mempool* pool = nullptr;              // ethdev drivers: rx mbufs (the port's pool)
    MacAddr mac{};                            // the port's MAC
    Ipv4Prefix address;                       // the port's address and subnet
    std::optional<Ipv4> gateway;              // default route through the TAP when set
    std::vector<Ipv4> host_addresses;         // further /32s (dns.cluster_ip)
    uint16_t mtu = 1500;
};

struct ExceptionPathStats {
    uint64_t to_kernel = 0;           // punted frames handed to the kernel
    uint64_t to_kernel_failed = 0;    // refused (kernel backlog or tx ring full, link down)
    uint64_t from_kernel = 0;         // kernel frames sent out of the port
    uint64_t from_kernel_kept = 0;    // kernel frames not for the wire (ARP replies, IPv6)
    uint64_t from_kernel_failed = 0;  // no mbuf, or worker 0's ring full
};

class ExceptionPath {
public:
    // Creates the kernel interface with the set-up's driver and configures
    // it (address, MAC, MTU, up, IPv6 off, default route via `gateway`);
    // the error names the step and the cause.
    static Result<std::unique_ptr<ExceptionPath>> open(const ExceptionPathSetup& setup);
    ~ExceptionPath();
    ExceptionPath(const ExceptionPath&) = delete;
    ExceptionPath& operator=(const ExceptionPath&) = delete;

    // The descriptor that is readable when the kernel sent something (tap);
    // -1 for the ethdev drivers: call from_kernel() every tick instead.
    int fd() const { return _fd; }
    const std::string& interface() const { return _name; }
    KernelDriver driver() const { return _driver; }

    // Kernel -> port: takes what the kernel sent (up to the budget) into
    // mbufs (tap: from `pool`; ethdev: its rx ring's) and hands each to
    // `send`, which returns false when it could not take it (then the frame
    // is freed here and counted).
    void from_kernel(rte_mempool* pool, const std::function<bool(rte_mbuf*)>& send);
    // Workers -> kernel: drains every control ring, then the other rings,
    // up to the budget per ring, and hands the frames to the kernel.
    void to_kernel(std::span<rte_ring* const> control, std::span<rte_ring* const> other);

    const ExceptionPathStats& stats() const { return _stats; }

private:
    ExceptionPath(std::string name, KernelDriver driver)
        : _name(std::move(name)), _driver(driver) {}
    Result<void> open_tap();
    Result<void> open_ethdev(const ExceptionPathSetup& setup);
    void read_tap(rte_mempool* pool, const std::function<bool(rte_mbuf*)>& send);
    void receive_ethdev(const std::function<bool(rte_mbuf*)>& send);
    void pass(rte_mbuf* m, const std::function<bool(rte_mbuf*)>& send);
    // Hands `n` frames to the kernel; they are no longer ours afterwards.
    void hand_to_kernel(rte_mbuf** frames, unsigned n);
    void drain(rte_ring* ring);

    int _fd = -1;  // tap
    std::string _name;
    KernelDriver _driver;
    std::optional<uint16_t> _ethdev;  // virtio_user, tap_pmd
    std::string _vdev;                // their vdev name, once plugged
    bool _started = false;
    ExceptionPathStats _stats;
};

}  // namespace svcgw
