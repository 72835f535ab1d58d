// The exception path's kernel side (DESIGN §6): a TAP per port
// that carries the port's address, prefix and MAC (and the cluster DNS
// address as a /32, for DNS over TCP), so the kernel behind it can run BGP,
// BFD, health-check probes, SSH and DNS over TCP on the gateway's own
// addresses.
//  - workers -> kernel: frames the workers punt (dataplane/punt.hpp) are
//    written to the TAP, control-class rings first, a bounded number per
//    control tick;
//  - kernel -> port: frames the kernel sends are read from the TAP into
//    mbufs and handed to worker 0 (the control_tx ring, as the control
//    thread's own ARP requests). ARP replies are dropped: the workers answer
//    ARP for the gateway's addresses themselves, the kernel only learns.
// A plain TAP (IFF_TAP | IFF_NO_PI, no vnet header: the kernel completes
// checksums and segments before it hands a frame over). DPVS and VPP use
// virtio-user over /dev/vhost-net where it exists; not needed at punt rates.
// The TAP is not persistent: closing it (or the process dying) removes it.
//
// Threading: control thread only.
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
#include "dataplane/worker_neighbour.hpp"

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;

namespace svcgw {

// Frames moved per direction per call: the control tick runs every 1 ms,
// so 512 frames/ms is far above the default punt rates and still bounds
// the time one tick spends in write().
constexpr unsigned kExceptionPathBudget = 512;

// Whether a frame the kernel wrote to the TAP may leave through the port:
// IPv4 and ARP requests only (ARP replies: the workers answer for our
// addresses; anything else, e.g. IPv6 the TAP should not carry, stays).
bool kernel_frame_leaves(const uint8_t* frame, size_t len);

struct ExceptionPathSetup {
    std::string interface;             // TAP name (IFNAMSIZ - 1 characters at most)
    MacAddr mac{};                     // the port's MAC
    Ipv4Prefix address;                // the port's address and subnet
    std::optional<Ipv4> gateway;       // default route through the TAP when set
    std::vector<Ipv4> host_addresses;  // further /32s (dns.cluster_ip)
    uint16_t mtu = 1500;
};

struct ExceptionPathStats {
    uint64_t to_kernel = 0;           // punted frames written to the TAP
    uint64_t to_kernel_failed = 0;    // write() refused (kernel backlog full, link down)
    uint64_t from_kernel = 0;         // kernel frames sent out of the port
    uint64_t from_kernel_kept = 0;    // kernel frames not for the wire (ARP replies, IPv6)
    uint64_t from_kernel_failed = 0;  // no mbuf, or worker 0's ring full
};

class ExceptionPath {
public:
    // Creates and configures the TAP (address, MAC, MTU, up, IPv6 off,
    // default route via `gateway`); the error names the step and the cause.
    static Result<std::unique_ptr<ExceptionPath>> open(const ExceptionPathSetup& setup);
    ~ExceptionPath();
    ExceptionPath(const ExceptionPath&) = delete;
    ExceptionPath& operator=(const ExceptionPath&) = delete;

    int fd() const { return _fd; }
    const std::string& interface() const { return _name; }

    // Kernel -> port: reads what the kernel sent (up to the budget) into
    // mbufs from `pool` and hands each to `send`, which returns false when
    // it could not take it (then the frame is freed here and counted).
    void from_kernel(rte_mempool* pool, const std::function<bool(rte_mbuf*)>& send);
    // Workers -> kernel: drains every control ring, then the other rings,
    // up to the budget per ring, writes the frames and frees them.
    void to_kernel(std::span<rte_ring* const> control, std::span<rte_ring* const> other);

    const ExceptionPathStats& stats() const { return _stats; }

private:
    ExceptionPath(int fd, std::string name) : _fd(fd), _name(std::move(name)) {}
    void drain(rte_ring* ring);

    int _fd = -1;
    std::string _name;
    ExceptionPathStats _stats;
};

}  // namespace svcgw
