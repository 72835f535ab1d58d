// The control API's handler layer (DESIGN §3): HTTP requests in,
// JSON responses out, no sockets (control/server.hpp adds those), so every
// path and error can be tested directly.
//
// Threading: handle() runs on an HTTP server thread. It parses and checks
// the request there, then hands one job to the control thread through a
// ControlExecutor and waits for its response; the job is the only code
// that touches ControlState, the table or the counters. The control thread
// never waits on a client: a job gets a complete request and returns a
// complete response body.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "control/state.hpp"
#include "telemetry/stats.hpp"

namespace svcgw {

namespace fleet {
class Announcer;
}

struct HttpRequest {
    std::string method;  // GET, PUT, POST, DELETE, ...
    std::string path;    // without the query string
    std::map<std::string, std::string> query;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
};

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
};

// What a job sees on the control thread.
class ControlBackend {
public:
    virtual ~ControlBackend() = default;
    virtual ControlState& state() = 0;
    virtual StatsSnapshot stats() = 0;
    virtual std::vector<FlowSample> flows(size_t limit) = 0;
    // Health checks of one service ("ns/name"); none by default.
    virtual ServiceHealth health(const std::string& key) {
        (void)key;
        return {};
    }
    // The fleet's route announcer (nullptr: fleet.announce is off), and a
    // fresh decision pushed to BIRD at once (after a drain or undrain).
    virtual fleet::Announcer* announcer() { return nullptr; }
    virtual void refresh_announcements() {}
    // The live origins' recent events, oldest first (GET /v1/events); none
    // without a feed.
    virtual std::vector<OriginEvent> events() { return {}; }
};

using ControlJob = std::function<HttpResponse(ControlBackend&)>;

class ControlExecutor {
public:
    virtual ~ControlExecutor() = default;
    // Runs `job` on the control thread and returns its response (or a 503
    // when the control thread does not answer in time).
    virtual HttpResponse execute(ControlJob job) = 0;
};

// Body limit of the API: a full apply of 10,000 services in YAML is ~3 MB.
constexpr size_t kMaxRequestBody = 16u << 20;
// GET /v1/flows?limit= default and ceiling.
constexpr size_t kDefaultFlowLimit = 100;
constexpr size_t kMaxFlowLimit = 10000;

HttpResponse error_response(int status, const std::string& reason, const std::string& message,
                            const std::string& path = "");
// A control error as HTTP: the one place kinds become status codes.
HttpResponse error_response(const ControlError& e);

class ApiHandler {
public:
    explicit ApiHandler(ControlExecutor& executor) : _executor(executor) {}
    HttpResponse handle(const HttpRequest& request) const;  // never throws
    HttpResponse metrics() const;                           // GET /metrics

private:
    HttpResponse route(const HttpRequest& request) const;  // the routing table (api.cpp)
    ControlExecutor& _executor;
};

// "creationTimestamp" in the JSON forms (RFC 3339, UTC).
std::string rfc3339(int64_t unix_s);

// The fleet's members (fullnat owner redirect) as /v1/stats and /v1/fleet
// show them: {"owner_ring": {size, digest}, "live", "changes", "members": [...]}.
nlohmann::json fleet_members_json(const FleetMembersStats& f);

}  // namespace svcgw
