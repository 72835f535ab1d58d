// Limits a fleet's config and data plane share (one copy).
#pragma once

#include <cstddef>

namespace svcgw {

// Members in a fleet at most (fleet.members): the owner-redirect mark test
// scans the peers' MACs for each client frame without state, and the
// gateways sharing one segment are a handful (ECMP routers take 8-64 next
// hops).
constexpr size_t kMaxFleetMembers = 64;

}  // namespace svcgw
