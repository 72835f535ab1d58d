// The order Maglev fills in: backends sorted by identity, byte by byte
// (DESIGN §2). A pure function of the identities, so every gateway agrees.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "maglev/maglev.hpp"

namespace svcgw::maglev_detail {

// Input positions in ascending byte-wise order of the identities (the order
// of std::string's operator<): result[k] = input index of the k-th smallest.
// Equal identities end up next to each other.
std::vector<uint32_t> order_by_identity(std::span<const MaglevBackend> backends);

}  // namespace svcgw::maglev_detail
