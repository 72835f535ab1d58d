// Internal to lib/config: the fleet.* rules (route health injection files,
// owner-redirect members and their probes). validate.cpp's Validator calls
// check_fleet; it reports through a callback so the Validator's error
// placement (file:line:col) applies.
#pragma once

#include "config/config.hpp"
#include "config/load_balancer.hpp"

namespace svcgw::config_detail {

void check_fleet(const Config& config, const ConfigReport& report);

}  // namespace svcgw::config_detail
