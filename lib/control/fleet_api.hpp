// The fleet's API (DESIGN §6), on the control API's socket:
//   GET    /v1/fleet                      what is announced and why not
//   PUT    /v1/fleet/drain                {"deadline_s": N} optional: withdraw every VIP
//   DELETE /v1/fleet/drain                undrain: announce again
//   PUT    /v1/fleet/expected_generation  {"generation": N | null}
// Changes are pushed to BIRD before the answer, so `svcgwctl drain`
// returns once BIRD has withdrawn the routes (or says why it could not).
// 404 when fleet.announce is off.
#pragma once

#include "control/api.hpp"

namespace svcgw {

// Handles a request whose path starts with /v1/fleet.
HttpResponse route_fleet(const HttpRequest& request, ControlExecutor& executor);

}  // namespace svcgw
