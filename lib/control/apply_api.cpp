// Applies of document streams (POST /v1/apply: native services, Kubernetes
// Services, EndpointSlices and Lists) and the EndpointSlices they leave
// (listed, deleted one by one).
#include <memory>

#include "control/api_json.hpp"
#include "control/api_routes.hpp"

namespace svcgw::api {
namespace {

// An apply's answer: results, the objects left out with their errors, and
// the warnings of what was applied.
json apply_json(const ApplyOutcome& outcome, const ControlState& state) {
    json j = outcomes_json(outcome.results);
    json skipped = json::array();
    for (size_t i = 0; i < outcome.skipped.size(); ++i) {
        const SkippedObject& object = outcome.skipped[i];
        json errors = json::array();
        for (const Error& e : object.errors) {
            errors.push_back(
                json{{"path", e.path}, {"error", e.message}, {"location", e.location}});
        }
        // Why it was left out, as a write of it alone would be answered.
        const char* reason =
            http_of(i < outcome.owned ? ControlErrorKind::conflict : ControlErrorKind::invalid)
                .second;
        skipped.push_back(
            json{{"object", object.object}, {"reason", reason}, {"errors", std::move(errors)}});
    }
    j["skipped"] = std::move(skipped);
    Errors warnings;
    for (const ChangeOutcome& o : outcome.results) {
        const Errors* own = nullptr;
        Errors slice;
        if (o.kind == "service") {
            if (const ServiceRecord* rec = state.find(o.ns, o.name)) {
                own = &rec->config.warnings;
            }
        } else if (const EndpointSliceConfig* s =
                       state.endpoint_slices().find(o.ns + "/" + o.name)) {
            own = &s->warnings;
        }
        if (own != nullptr) {
            warnings.insert(warnings.end(), own->begin(), own->end());
        }
    }
    j["warnings"] = warnings_json(warnings);
    return j;
}

json slice_json(const EndpointSliceConfig& slice, const ControlState& state) {
    json endpoints = json::array();
    for (const EndpointConfig& e : slice.endpoints) {
        endpoints.push_back(e.ip.str());
    }
    json j{{"namespace", slice.ns},
           {"name", slice.name},
           {"service", slice.service},
           {"origin", std::string(to_string(state.slice_origin(slice.key())))},
           {"endpoints", std::move(endpoints)},
           // Kept until its Service comes (kube-proxy's rule).
           {"pending", state.find(slice.ns, slice.service) == nullptr}};
    if (!slice.warnings.empty()) {
        j["warnings"] = warnings_json(slice.warnings);
    }
    return j;
}

}  // namespace

HttpResponse apply(const HttpRequest& r, ControlExecutor& ex, const PathArgs&) {
    auto parsed = parse_service_set(r.body, "request");
    if (!parsed) {
        return error_response(parse_error(parsed.error()));
    }
    if (parsed->services.empty() && parsed->slices.empty() && parsed->skipped.empty()) {
        return error_response(400, "BadRequest", "no services in the request");
    }
    auto set = std::make_shared<ServiceSet>(std::move(*parsed));
    return ex.execute([set](ControlBackend& b) {
        auto done = b.state().apply(std::move(*set), now_unix());
        if (!done) {
            return error_response(done.error());
        }
        // Nothing taken: the request failed (an error answer, which also
        // lists what was left out); else what was, with what was not.
        json answer = apply_json(*done, b.state());
        if (!done->results.empty() || done->skipped.empty()) {
            return json_response(answer);
        }
        // The status follows the first object left out: one the feed
        // owns is a Conflict, as a PUT of it would be.
        const SkippedObject& first = done->skipped.front();
        const std::string why = first.errors.empty() ? "" : ": " + first.errors[0].message;
        auto [status, reason] =
            http_of(done->owned > 0 ? ControlErrorKind::conflict : ControlErrorKind::invalid);
        answer.update(error_json(reason,
                                 "no object taken (" + std::to_string(done->skipped.size()) +
                                     " left out); " + first.object + why,
                                 first.errors.empty() ? "" : first.errors[0].path, status));
        return json_response(answer, status);
    });
}

HttpResponse list_slices(const HttpRequest& r, ControlExecutor& ex, const PathArgs&) {
    std::string ns = namespace_filter(r);
    return ex.execute([ns](ControlBackend& b) {
        json items = json::array();
        for (const EndpointSliceConfig* slice : b.state().endpoint_slices().all()) {
            if (ns.empty() || slice->ns == ns) {
                items.push_back(slice_json(*slice, b.state()));
            }
        }
        return json_response(json{{"kind", "EndpointSliceList"}, {"items", std::move(items)}});
    });
}

HttpResponse delete_slice(const HttpRequest&, ControlExecutor& ex, const PathArgs& at) {
    return ex.execute([ns = at.ns, name = at.name](ControlBackend& b) {
        return change_response(b.state().remove_slice(ns, name));
    });
}

}  // namespace svcgw::api
