// What the control API's resources share (lib/control only, not installed):
// JSON answers and errors, request bodies, and the JSON forms more than one
// resource prints. Each resource's handlers live in a file of their own
// (api_routes.hpp); api.cpp holds the routing table.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "control/api.hpp"
#include "control/state.hpp"

namespace svcgw::api {

using json = nlohmann::json;

int64_t now_unix();

json error_json(const std::string& reason, const std::string& message, const std::string& path,
                int status);
// Messages quote the request (an unknown key, a bad value), which may not be
// UTF-8: such bytes become U+FFFD. Throwing here instead would answer 500
// after the request had already changed the state.
HttpResponse json_response(const json& j, int status = 200);
// Status and Kubernetes reason of each control error kind.
std::pair<int, const char*> http_of(ControlErrorKind kind);

ControlError bad_request(std::string message, std::string path = "");
// A JSON object body, or a BadRequest.
Result<json, ControlError> json_object(const std::string& body, const char* what);
// A JSON object body of a write and the resourceVersion it names, as GET
// prints it (a decimal string; a number is accepted too), taken out of the
// object; nullopt when absent.
struct VersionedObject {
    json object;
    Precondition expected;
};
Result<VersionedObject, ControlError> versioned_object(const std::string& body, const char* what);
// Parse errors of the config parser are the client's: BadRequest, paths
// relative to the body.
ControlError parse_error(const Errors& errors, const std::string& prefix_to_strip = "");

// `?namespace=NS` of a list request; "" = every namespace.
std::string namespace_filter(const HttpRequest& r);

// "path: message" lines, as kubectl prints warnings.
json warnings_json(const Errors& warnings);
// {"results": [...]}: what each change did to each object.
json outcomes_json(const std::vector<ChangeOutcome>& outcomes);
// The answer to a change of one object: its error, or its outcome (201
// when it was created).
HttpResponse change_response(const Result<ChangeOutcome, ControlError>& done);
// A service in the native keys, as GET prints it and PUT takes it back.
json service_to_json(const ServiceRecord& r, const ControlState& state);
// The counters with the control state's version: what /v1/stats, /metrics
// and a service's GET report.
StatsSnapshot stats_of(ControlBackend& b);
// /v1/stats, or one service's part of it (its ports and backends).
json stats_json(const StatsSnapshot& s, const std::string& ns = "", const std::string& name = "");

}  // namespace svcgw::api
