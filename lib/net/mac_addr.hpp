// An Ethernet MAC address (IEEE 802), as it sits in the frame. One alias for
// every plane: the packet builders, the neighbour view the workers read, the
// port glue that learns it from the device.
#pragma once

#include <array>
#include <cstdint>

namespace svcgw {

using MacAddr = std::array<uint8_t, 6>;

}  // namespace svcgw
