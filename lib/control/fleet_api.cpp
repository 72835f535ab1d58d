// The fleet's API (DESIGN §6), on the control API's socket:
//   GET    /v1/fleet                      what is announced and why not
//   PUT    /v1/fleet/drain                {"deadline_s": N} optional: withdraw every VIP
//   DELETE /v1/fleet/drain                undrain: announce again
//   PUT    /v1/fleet/expected_generation  {"generation": N | null}
// Changes are pushed to BIRD before the answer, so `svcgwctl drain`
// returns once BIRD has withdrawn the routes (or says why it could not).
// 404 when fleet.announce is off.
#include <functional>
#include <optional>

#include "control/api_json.hpp"
#include "control/api_routes.hpp"
#include "fleet/announcer.hpp"

namespace svcgw::api {
namespace {

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

// A change on the control thread, then a fresh decision pushed to BIRD.
using FleetChange = std::function<Result<void>(fleet::Announcer&)>;

HttpResponse run(ControlExecutor& executor, FleetChange change) {
    return executor.execute([change = std::move(change)](ControlBackend& b) {
        fleet::Announcer* a = b.announcer();
        if (a == nullptr) {
            // Owner redirect runs without announcing: its members still show.
            if (const StatsSnapshot s = b.stats(); !change && s.fleet_members.enabled) {
                return json_response(
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
        return json_response(status);
    });
}

}  // namespace

HttpResponse get_fleet(const HttpRequest&, ControlExecutor& ex, const PathArgs&) {
    return run(ex, nullptr);
}

HttpResponse delete_drain(const HttpRequest&, ControlExecutor& ex, const PathArgs&) {
    return run(ex, [](fleet::Announcer& a) { return a.undrain(); });
}

HttpResponse put_drain(const HttpRequest& r, ControlExecutor& ex, const PathArgs&) {
    auto body = json_object(r.body.empty() ? "{}" : r.body, "the body");  // optional
    if (!body) {
        return error_response(body.error());
    }
    std::optional<uint32_t> deadline;
    if (auto it = body->find("deadline_s"); it != body->end()) {
        if (!it->is_number_unsigned() || it->get<uint64_t>() == 0 || it->get<uint64_t>() > 86400) {
            return error_response(400, "BadRequest", "deadline_s must be 1..86400 seconds",
                                  "deadline_s");
        }
        deadline = static_cast<uint32_t>(it->get<uint64_t>());
    }
    return run(ex, [deadline](fleet::Announcer& a) { return a.drain(deadline, now_unix()); });
}

HttpResponse put_expected_generation(const HttpRequest& r, ControlExecutor& ex, const PathArgs&) {
    auto body = json_object(r.body.empty() ? "{}" : r.body, "the body");
    if (!body) {
        return error_response(body.error());
    }
    auto it = body->find("generation");
    if (it == body->end() || !(it->is_null() || it->is_number_unsigned())) {
        return error_response(400, "BadRequest",
                              "generation must be a non-negative integer or null", "generation");
    }
    std::optional<uint64_t> generation;
    if (!it->is_null()) {
        generation = it->get<uint64_t>();
    }
    return run(ex, [generation](fleet::Announcer& a) -> Result<void> {
        a.expect(generation);
        return {};
    });
}

}  // namespace svcgw::api
