#include "dataplane/snat_range.hpp"

#include <algorithm>

namespace svcgw {

std::optional<PortRange> snat_ports_beside(PortRange kernel_ephemeral) {
    const PortRange all;
    const uint32_t below = kernel_ephemeral.lo > all.lo ? kernel_ephemeral.lo - all.lo : 0;
    const uint32_t above = kernel_ephemeral.hi < all.hi ? all.hi - kernel_ephemeral.hi : 0;
    if (std::max(below, above) < kSnatMinPorts) {
        return std::nullopt;
    }
    if (below >= above) {
        return PortRange{all.lo, static_cast<uint16_t>(kernel_ephemeral.lo - 1)};
    }
    return PortRange{static_cast<uint16_t>(kernel_ephemeral.hi + 1), all.hi};
}

}  // namespace svcgw
