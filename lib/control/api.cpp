// The API's entry point and its routing table: every path and method the
// API serves, with the handler of each (api_routes.hpp: one file per
// resource). A path no entry names is 404; a method its entry does not list
// is 405 with the ones it does.
#include "control/api.hpp"

#include <ctime>
#include <optional>
#include <regex>
#include <string_view>
#include <vector>

#include "control/api_json.hpp"
#include "control/api_routes.hpp"

namespace svcgw {
namespace {

using api::json;
using api::PathArgs;

using Handler = HttpResponse (*)(const HttpRequest&, ControlExecutor&, const PathArgs&);

struct Method {
    std::string_view name;
    Handler handler;
};

// Liveness: the server thread answers.
HttpResponse healthz(const HttpRequest&, ControlExecutor&, const PathArgs&) {
    return api::json_response(json{{"status", "ok"}});
}

// Ready = the control thread answers (the first configuration is live
// before the API starts).
HttpResponse readyz(const HttpRequest&, ControlExecutor& ex, const PathArgs&) {
    return ex.execute([](ControlBackend& b) {
        return api::json_response(
            json{{"status", "ready"}, {"services", b.state().records().size()}});
    });
}

// Paths without parameters.
struct FixedRoute {
    std::string_view path;
    std::vector<Method> methods;
};
const std::vector<FixedRoute>& fixed_routes() {
    static const std::vector<FixedRoute> routes = {
        {"/healthz", {{"GET", healthz}}},
        {"/readyz", {{"GET", readyz}}},
        {"/metrics", {{"GET", api::get_metrics}}},
        {"/v1/services", {{"GET", api::list_services}}},
        {"/v1/apply", {{"POST", api::apply}}},
        {"/v1/events", {{"GET", api::list_events}}},
        {"/v1/endpointslices", {{"GET", api::list_slices}}},
        {"/v1/stats", {{"GET", api::get_stats}}},
        {"/v1/flows", {{"GET", api::get_flows}}},
        {"/v1/fleet", {{"GET", api::get_fleet}}},
        {"/v1/fleet/drain", {{"PUT", api::put_drain}, {"DELETE", api::delete_drain}}},
        {"/v1/fleet/expected_generation", {{"PUT", api::put_expected_generation}}},
    };
    return routes;
}

// Paths of one object: /v1/namespaces/NS/... (NS a DNS-1123 label).
enum class ObjectPath { service, endpoints, endpoint, drain, slice };
const std::vector<Method>& object_methods(ObjectPath kind) {
    static const std::vector<Method> service = {
        {"GET", api::get_service}, {"PUT", api::put_service}, {"DELETE", api::delete_service}};
    static const std::vector<Method> endpoints = {{"GET", api::get_endpoints},
                                                  {"PUT", api::put_endpoints}};
    static const std::vector<Method> endpoint = {{"PATCH", api::patch_endpoint},
                                                 {"DELETE", api::delete_endpoint}};
    static const std::vector<Method> drain = {{"POST", api::drain_endpoint}};
    static const std::vector<Method> slice = {{"DELETE", api::delete_slice}};
    switch (kind) {
        case ObjectPath::service:
            return service;
        case ObjectPath::endpoints:
            return endpoints;
        case ObjectPath::endpoint:
            return endpoint;
        case ObjectPath::drain:
            return drain;
        case ObjectPath::slice:
            return slice;
    }
    return service;
}

// /v1/namespaces/NS/services/NAME[/endpoints[/IP[/drain]]]
const std::regex kServicePath(
    "^/v1/namespaces/([a-z0-9]([-a-z0-9]*[a-z0-9])?)/services/"
    "([a-z0-9]([-a-z0-9]*[a-z0-9])?)(/endpoints(/([0-9.]+)(/drain)?)?)?$");

// /v1/namespaces/NS/endpointslices/NAME (a DNS-1123 subdomain)
const std::regex kSlicePath(
    "^/v1/namespaces/([a-z0-9]([-a-z0-9]*[a-z0-9])?)/endpointslices/"
    "([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$");

struct ObjectRoute {
    ObjectPath kind;
    PathArgs args;
};

// The object a path names; nullopt: none (404).
std::optional<ObjectRoute> object_route(const std::string& path) {
    std::smatch m;
    if (std::regex_match(path, m, kSlicePath)) {
        return ObjectRoute{ObjectPath::slice, PathArgs{m[1], m[3], {}}};
    }
    if (!std::regex_match(path, m, kServicePath)) {
        return std::nullopt;
    }
    PathArgs args{m[1], m[3], {}};
    if (m[7].matched) {
        auto ip = Ipv4::parse(m[7].str());
        if (!ip) {
            return std::nullopt;
        }
        args.ip = *ip;
        return ObjectRoute{m[8].matched ? ObjectPath::drain : ObjectPath::endpoint, args};
    }
    return ObjectRoute{m[5].matched ? ObjectPath::endpoints : ObjectPath::service, args};
}

HttpResponse dispatch(const HttpRequest& r, ControlExecutor& ex, const std::vector<Method>& methods,
                      const PathArgs& args) {
    std::string allowed;
    for (const Method& m : methods) {
        if (m.name == r.method) {
            return m.handler(r, ex, args);
        }
        allowed += (allowed.empty() ? "" : ", ") + std::string(m.name);
    }
    return error_response(
        405, "MethodNotAllowed",
        "method " + r.method + " is not allowed on " + r.path + " (allowed: " + allowed + ")");
}

}  // namespace

std::string rfc3339(int64_t unix_s) {
    std::time_t t = static_cast<std::time_t>(unix_s);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

HttpResponse error_response(int status, const std::string& reason, const std::string& message,
                            const std::string& path) {
    return api::json_response(api::error_json(reason, message, path, status), status);
}

HttpResponse error_response(const ControlError& e) {
    auto [status, reason] = api::http_of(e.kind);
    return error_response(status, reason, e.message, e.path);
}

HttpResponse ApiHandler::handle(const HttpRequest& request) const {
    try {
        return route(request);
    } catch (const std::exception& e) {
        return error_response(500, "InternalError", e.what());
    }
}

HttpResponse ApiHandler::metrics() const {
    return api::get_metrics(HttpRequest{}, _executor, PathArgs{});
}

HttpResponse ApiHandler::route(const HttpRequest& r) const {
    if (r.body.size() > kMaxRequestBody) {
        return error_response(
            413, "RequestEntityTooLarge",
            "request body larger than " + std::to_string(kMaxRequestBody) + " bytes");
    }
    for (const FixedRoute& fixed : fixed_routes()) {
        if (r.path == fixed.path) {
            return dispatch(r, _executor, fixed.methods, PathArgs{});
        }
    }
    if (auto object = object_route(r.path)) {
        return dispatch(r, _executor, object_methods(object->kind), object->args);
    }
    return error_response(404, "NotFound", "no such API path: " + r.path);
}

}  // namespace svcgw
