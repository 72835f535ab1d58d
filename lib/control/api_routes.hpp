// The control API's handlers by resource, one file each; the routing table
// that maps a path and a method to them is ApiHandler::route (api.cpp).
// A handler runs on the HTTP server thread: it parses and checks the
// request there and hands one job to the control thread (ControlExecutor).
#pragma once

#include <string>

#include "common/net.hpp"
#include "control/api.hpp"

namespace svcgw::api {

// What the path named: /v1/namespaces/NS/services/NAME[/endpoints/IP],
// /v1/namespaces/NS/endpointslices/NAME.
struct PathArgs {
    std::string ns;
    std::string name;
    Ipv4 ip{};
};

// services_api.cpp: /v1/services, /v1/namespaces/NS/services/NAME
HttpResponse list_services(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);
HttpResponse get_service(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);
HttpResponse put_service(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);
HttpResponse delete_service(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);

// endpoints_api.cpp: .../services/NAME/endpoints[/IP[/drain]]
HttpResponse get_endpoints(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);
HttpResponse put_endpoints(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);
HttpResponse patch_endpoint(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);
HttpResponse delete_endpoint(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);
HttpResponse drain_endpoint(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);

// apply_api.cpp: /v1/apply, /v1/endpointslices, .../endpointslices/NAME
HttpResponse apply(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);
HttpResponse list_slices(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);
HttpResponse delete_slice(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);

// events_api.cpp: /v1/events
HttpResponse list_events(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);

// stats_api.cpp: /v1/stats, /v1/flows, /metrics
HttpResponse get_stats(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);
HttpResponse get_flows(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);
HttpResponse get_metrics(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);

// fleet_api.cpp: /v1/fleet, /v1/fleet/drain, /v1/fleet/expected_generation
HttpResponse get_fleet(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);
HttpResponse put_drain(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);
HttpResponse delete_drain(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);
HttpResponse put_expected_generation(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at);

}  // namespace svcgw::api
