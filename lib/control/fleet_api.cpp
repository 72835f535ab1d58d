#include "control/fleet_api.hpp"

#include <ctime>
#include <nlohmann/json.hpp>

#include "fleet/announcer.hpp"

namespace svcgw {
namespace {

using nlohmann::json;

HttpResponse ok_json(const json& j) {
    return HttpResponse{200, "application/json", j.dump(2) + "\n"};
}

json status_json(const fleet::Announcer& a) {
    const fleet::FleetStatus s = a.status();
    json routes = json::array();
    for (const fleet::Route& r : s.routes) {
        routes.push_back(json{{"prefix", r.address.str() + "/32"},
                              {"kind", r.snat ? "snat" : "vip"},
                              {"announced", r.announced()},
                              {"reason", std::string(fleet::to_string(r.withdrawn))}});
    }
    json drain = nullptr;
    if (s.draining) {
        drain = json{{"since", rfc3339(s.drain_since_unix)},
                     {"deadline", s.drain_deadline_unix ? json(rfc3339(*s.drain_deadline_unix))
                                                        : json(nullptr)},
                     {"drained", s.drained}};
    }
    return json{
        {"draining", s.draining},
        {"drain", drain},
        {"active_flows", s.active_flows},
        {"data_plane_up", s.data_plane_up},
        {"generation", s.generation},
        {"expected_generation",
         s.expected_generation ? json(*s.expected_generation) : json(nullptr)},
        {"routes", routes},
        {"bird", json{{"socket", a.config().bird_socket},
                      {"routes_file", a.config().routes_file},
                      {"in_sync", s.bird_in_sync},
                      {"reloads", s.bird_reloads},
                      {"failures", s.bird_failures},
                      {"last_error", s.bird_last_error}}},
    };
}

// An optional JSON object body; nullopt + the error response when malformed.
std::optional<json> body_object(const HttpRequest& r, HttpResponse& error) {
    if (r.body.empty()) {
        return json::object();
    }
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        error = error_response(400, "BadRequest", "the body must be a JSON object");
        return std::nullopt;
    }
    return j;
}

// A change on the control thread, then a fresh decision pushed to BIRD.
using FleetChange = std::function<Result<void>(fleet::Announcer&)>;

HttpResponse run(ControlExecutor& executor, FleetChange change) {
    return executor.execute([change = std::move(change)](ControlBackend& b) {
        fleet::Announcer* a = b.announcer();
        if (a == nullptr) {
            // Owner redirect runs without announcing: its members still show.
            if (const StatsSnapshot s = b.stats(); !change && s.fleet_members.enabled) {
                return ok_json(
                    json{{"announce", false}, {"members", fleet_members_json(s.fleet_members)}});
            }
            return error_response(404, "NotFound", "fleet.announce is off", "fleet.announce");
        }
        if (change) {
            if (auto done = change(*a); !done) {
                return error_response(500, "InternalError", done.error().str());
            }
            b.refresh_announcements();
        }
        json status = status_json(*a);
        if (const StatsSnapshot s = b.stats(); s.fleet_members.enabled) {
            status["members"] = fleet_members_json(s.fleet_members);
        }
        return ok_json(status);
    });
}

}  // namespace

HttpResponse route_fleet(const HttpRequest& r, ControlExecutor& executor) {
    auto not_allowed = [&r](const char* allowed) {
        return error_response(
            405, "MethodNotAllowed",
            "method " + r.method + " is not allowed on " + r.path + " (allowed: " + allowed + ")");
    };
    HttpResponse error;
    if (r.path == "/v1/fleet") {
        if (r.method != "GET") {
            return not_allowed("GET");
        }
        return run(executor, nullptr);
    }
    if (r.path == "/v1/fleet/drain") {
        if (r.method == "DELETE") {
            return run(executor, [](fleet::Announcer& a) { return a.undrain(); });
        }
        if (r.method != "PUT") {
            return not_allowed("PUT, DELETE");
        }
        auto body = body_object(r, error);
        if (!body) {
            return error;
        }
        std::optional<uint32_t> deadline;
        if (auto it = body->find("deadline_s"); it != body->end()) {
            if (!it->is_number_unsigned() || it->get<uint64_t>() == 0 ||
                it->get<uint64_t>() > 86400) {
                return error_response(400, "BadRequest", "deadline_s must be 1..86400 seconds",
                                      "deadline_s");
            }
            deadline = static_cast<uint32_t>(it->get<uint64_t>());
        }
        return run(executor, [deadline](fleet::Announcer& a) {
            return a.drain(deadline, static_cast<int64_t>(std::time(nullptr)));
        });
    }
    if (r.path == "/v1/fleet/expected_generation") {
        if (r.method != "PUT") {
            return not_allowed("PUT");
        }
        auto body = body_object(r, error);
        if (!body) {
            return error;
        }
        auto it = body->find("generation");
        if (it == body->end() || !(it->is_null() || it->is_number_unsigned())) {
            return error_response(400, "BadRequest",
                                  "generation must be a non-negative integer or null",
                                  "generation");
        }
        std::optional<uint64_t> generation;
        if (!it->is_null()) {
            generation = it->get<uint64_t>();
        }
        return run(executor, [generation](fleet::Announcer& a) -> Result<void> {
            a.expect(generation);
            return {};
        });
    }
    return error_response(404, "NotFound", "no such path: " + r.path);
}

}  // namespace svcgw
