// The port range fullnat's SNAT source ports come from (snat_ports.hpp
// hands them out). Pure C++.
#pragma once

#include <cstdint>
#include <optional>

namespace svcgw {

// SNAT ports: below 1024 are privileged and often filtered (RFC 6056 §2.1
// recommends ephemeral ports from 1024 up).
constexpr uint16_t kSnatPortLo = 1024;
constexpr uint16_t kSnatPortHi = 65535;
// An inclusive range of ports, host order.
struct PortRange {
    uint16_t lo = kSnatPortLo;
    uint16_t hi = kSnatPortHi;
    uint32_t size() const { return hi >= lo ? uint32_t{hi} - lo + 1 : 0; }
    bool operator==(const PortRange&) const = default;
};

// Fewest SNAT ports worth running with on one address: below this, a few
// thousand connections to one backend port exhaust it.
constexpr uint32_t kSnatMinPorts = 4096;

// The SNAT ports on an address the kernel also uses (the port's own address
// with an exception path): the larger side of kSnatPortLo..kSnatPortHi left
// beside the kernel's ephemeral range (net.ipv4.ip_local_port_range), so a
// kernel connection (a health probe, BGP) never shares a 4-tuple with a
// fullnat flow and its replies reach the kernel. Nullopt when that side is
// smaller than kSnatMinPorts.
std::optional<PortRange> snat_ports_beside(PortRange kernel_ephemeral);

}  // namespace svcgw
