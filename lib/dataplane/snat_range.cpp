#include "dataplane/snat_range.hpp"

namespace svcgw {

std::optional<PortRange> snat_ports_beside(PortRange kernel_ephemeral) {
    const PortRange all;
    PortRange below{all.lo, static_cast<uint16_t>(kernel_ephemeral.lo - 1)};
    PortRange above{static_cast<uint16_t>(kernel_ephemeral.hi + 1), all.hi};
    if (kernel_ephemeral.lo <= all.lo) {
        below = PortRange{1, 0};  // empty
    }
    if (kernel_ephemeral.hi >= all.hi) {
        above = PortRange{1, 0};
    }
    const PortRange& larger = below.size() >= above.size() ? below : above;
    if (larger.size() < kSnatMinPorts) {
        return std::nullopt;
    }
    return larger;
}

}  // namespace svcgw
