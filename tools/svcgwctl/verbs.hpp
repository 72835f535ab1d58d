// svcgwctl's verbs, grouped by what they work on: services (services.cpp),
// their endpoints (endpoints.cpp), what the gateway reports (status.cpp)
// and the fleet's routes (fleet.cpp). Each prints its answer the kubectl
// way and returns the exit status (1 on any error); main.cpp dispatches.
#pragma once

#include <string>

#include "args.hpp"
#include "client.hpp"

namespace svcgw::ctl {

// services.cpp
int cmd_expose(Api& api, const Args& a);
int cmd_get(Api& api, const Args& a);
int cmd_describe(Api& api, const Args& a);
int cmd_apply(Api& api, const Args& a);
int cmd_delete(Api& api, const Args& a);

// endpoints.cpp
int cmd_set(Api& api, const Args& a);
int cmd_endpoints(Api& api, const Args& a);
// {"ip": ..., "ports": [{name, port}]} for one argument; the port belongs to
// the service's only port (IP:PORT cannot say which of several it means).
std::optional<json> endpoint_json(const EndpointArg& arg, const json& service_ports,
                                  std::string& error);

// status.cpp
int cmd_events(Api& api, const Args& a);
int cmd_stats(Api& api, const Args& a);
int cmd_flows(Api& api, const Args& a);

// fleet.cpp
int cmd_fleet(Api& api, const Args& a);
int cmd_drain(Api& api, const Args& a);
int cmd_undrain(Api& api, const Args& a);

}  // namespace svcgw::ctl
