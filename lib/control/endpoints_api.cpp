// A service's endpoints: the list (GET, and PUT of the whole list with the
// resourceVersion read), one endpoint (PATCH adds it or changes the fields
// given, DELETE removes it) and its drain. Bodies go through the config
// file's endpoint parser, so the API takes exactly what the file takes.
#include <memory>

#include "control/api_json.hpp"
#include "control/api_routes.hpp"

namespace svcgw::api {
namespace {

struct EndpointsBody {
    std::vector<EndpointSpec> endpoints;
    Precondition expected;
};

// {"resourceVersion": "N", "endpoints": [...]}: the list through the config
// file's endpoint parser.
Result<EndpointsBody, ControlError> parse_endpoints_body(const std::string& body) {
    auto versioned = versioned_object(body, "the endpoint list");
    if (!versioned) {
        return Unexpected<ControlError>{versioned.error()};
    }
    json* j = &versioned->object;
    // Output-only fields of GET .../endpoints are accepted back.
    for (const char* key : {"name", "namespace", "ports", "creationTimestamp"}) {
        j->erase(key);
    }
    auto parsed = parse_endpoints(j->dump(), "request");
    if (!parsed) {
        return Unexpected<ControlError>{parse_error(parsed.error())};
    }
    return EndpointsBody{std::move(*parsed), versioned->expected};
}

// One endpoint's fields; the address is the URL's (repeating it in the
// body is allowed when it matches).
Result<EndpointSpec, ControlError> parse_endpoint_body(const std::string& body, Ipv4 ip) {
    auto j = json_object(body.empty() ? "{}" : body, "endpoint");
    if (!j) {
        return Unexpected<ControlError>{j.error()};
    }
    if (!j->contains("ip")) {
        (*j)["ip"] = ip.str();
    } else if (!(*j)["ip"].is_string() || (*j)["ip"].get<std::string>() != ip.str()) {
        return Unexpected<ControlError>{
            bad_request("the ip in the body does not match the URL", "ip")};
    }
    auto parsed = parse_endpoint(j->dump(), "request");
    if (!parsed) {
        return Unexpected<ControlError>{parse_error(parsed.error())};
    }
    return std::move(*parsed);
}

}  // namespace

HttpResponse get_endpoints(const HttpRequest&, ControlExecutor& ex, const PathArgs& at) {
    return ex.execute([ns = at.ns, name = at.name](ControlBackend& b) {
        const ServiceRecord* rec = b.state().find(ns, name);
        if (rec == nullptr) {
            return error_response(not_found(ns, name));
        }
        json j = service_to_json(*rec, b.state());
        return json_response(json{{"name", name},
                                  {"namespace", ns},
                                  {"resourceVersion", j["resourceVersion"]},
                                  {"endpoints", j["endpoints"]},
                                  {"ports", j["ports"]},
                                  {"creationTimestamp", j["creationTimestamp"]}});
    });
}

HttpResponse put_endpoints(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at) {
    auto body = parse_endpoints_body(r.body);
    if (!body) {
        return error_response(body.error());
    }
    auto shared = std::make_shared<EndpointsBody>(std::move(*body));
    return ex.execute([ns = at.ns, name = at.name, shared](ControlBackend& b) {
        return change_response(
            b.state().set_endpoints(ns, name, std::move(shared->endpoints), shared->expected));
    });
}

HttpResponse patch_endpoint(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at) {
    auto spec = parse_endpoint_body(r.body, at.ip);
    if (!spec) {
        return error_response(spec.error());
    }
    auto shared = std::make_shared<EndpointSpec>(std::move(*spec));
    return ex.execute([ns = at.ns, name = at.name, shared](ControlBackend& b) {
        return change_response(b.state().upsert_endpoint(ns, name, *shared));
    });
}

HttpResponse delete_endpoint(const HttpRequest&, ControlExecutor& ex, const PathArgs& at) {
    return ex.execute([ns = at.ns, name = at.name, ip = at.ip](ControlBackend& b) {
        return change_response(b.state().remove_endpoint(ns, name, ip));
    });
}

HttpResponse drain_endpoint(const HttpRequest&, ControlExecutor& ex, const PathArgs& at) {
    return ex.execute([ns = at.ns, name = at.name, ip = at.ip](ControlBackend& b) {
        return change_response(b.state().drain_endpoint(ns, name, ip));
    });
}

}  // namespace svcgw::api
