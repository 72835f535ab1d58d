// The services resource: the list, one service's GET (with its health,
// its origin's events and its counters), PUT (create or replace) and
// DELETE, and the service's JSON form, which GET prints and PUT takes back.
#include <algorithm>
#include <memory>

#include "control/api_json.hpp"
#include "control/api_routes.hpp"

namespace svcgw::api {
namespace {

// The native keys, so that GET output can be PUT back as is.
json health_check_json(const HealthCheckConfig& c) {
    json j{{"protocol", std::string(to_string(c.protocol))},
           {"interval_ms", c.interval_ms},
           {"timeout_ms", c.timeout_ms},
           {"rise", c.rise},
           {"fall", c.fall}};
    if (c.port != 0) {
        j["port"] = c.port;
    }
    if (c.protocol == HealthProtocol::http) {
        j["path"] = c.path;
        j["expect"] = c.expect_min == c.expect_max
                          ? std::to_string(c.expect_min)
                          : std::to_string(c.expect_min) + "-" + std::to_string(c.expect_max);
    }
    return j;
}

// Read-only: what the probes say, for describe and get endpoints. Absent
// when the service has no health check.
void add_health_status(json& service, const ServiceHealth& h) {
    if (h.probes.empty() && h.events.empty()) {
        return;
    }
    json probes = json::array();
    for (const ProbeStats& p : h.probes) {
        json j{{"port", p.port},
               {"ip", p.ip},
               {"probe_port", p.probe_port},
               {"protocol", p.protocol},
               {"up", p.up},
               {"probed", p.probed},
               {"probes", p.probes},
               {"failures", p.failures},
               {"since_ms", p.since_ms}};
        if (p.probed) {
            j["last"] = p.last;
            j["last_age_ms"] = p.last_age_ms;
            j["latency_us"] = p.latency_us;
        }
        probes.push_back(std::move(j));
    }
    json events = json::array();
    for (const HealthEventStats& e : h.events) {
        events.push_back(json{{"age_ms", e.age_ms},
                              {"up", e.up},
                              {"type", e.up ? "Normal" : "Warning"},
                              {"reason", e.up ? "BackendUp" : "BackendDown"},
                              {"from", "svcgw-health"},
                              {"message", e.message}});
    }
    service["status"] = json{{"health", std::move(probes)}, {"events", std::move(events)}};
}

// The live origin's events about one object ("Service/ns/name") join its
// health events, oldest first, as kubectl describe lists an object's events.
void add_origin_events(json& service, const std::vector<OriginEvent>& origin,
                       const std::string& object, int64_t now_unix_s) {
    json found = json::array();
    for (const OriginEvent& e : origin) {
        if (e.object == object) {
            found.push_back(json{{"age_ms", std::max<int64_t>(0, now_unix_s - e.unix_s) * 1000},
                                 {"type", e.type},
                                 {"reason", e.reason},
                                 {"from", "svcgw-kubernetes"},
                                 {"message", e.message}});
        }
    }
    if (found.empty()) {
        return;
    }
    json& events = service["status"]["events"];
    if (events.is_null()) {
        events = json::array();
    }
    events.insert(events.end(), found.begin(), found.end());
    std::stable_sort(events.begin(), events.end(), [](const json& a, const json& b) {
        return a.value("age_ms", int64_t{0}) > b.value("age_ms", int64_t{0});
    });
}

// The addresses served beside the ClusterIP, only when set,
// in the native keys: a GET's output PUT back is the same service.
void add_external_part(json& out, const ServiceConfig& s) {
    auto texts = [](const auto& list) {
        json a = json::array();
        for (const auto& item : list) {
            a.push_back(item.str());
        }
        return a;
    };
    if (!s.load_balancer_ips.empty()) {
        out["load_balancer_ips"] = texts(s.load_balancer_ips);
    }
    if (!s.external_ips.empty()) {
        out["external_ips"] = texts(s.external_ips);
    }
    if (!s.source_ranges.empty()) {
        out["source_ranges"] = texts(s.source_ranges);
    }
    if (s.external_traffic_policy != TrafficPolicy::cluster) {
        out["external_traffic_policy"] = std::string(to_string(s.external_traffic_policy));
    }
    if (!s.serve_cluster_ip) {
        out["serve_cluster_ip"] = false;
    }
}

struct ServiceBody {
    ServiceConfig service;
    Precondition expected;
};

// Native service text (JSON is YAML) through the config parser, so the API
// accepts exactly what the file accepts.
Result<ServiceBody, ControlError> parse_service_body(const std::string& body, const std::string& ns,
                                                     const std::string& name) {
    auto versioned = versioned_object(body, "service");
    if (!versioned) {
        return Unexpected<ControlError>{versioned.error()};
    }
    json* j = &versioned->object;
    // Output-only fields of GET are accepted back (kubectl get -o json | edit | put).
    j->erase("creationTimestamp");
    j->erase("origin");
    j->erase("status");
    for (const auto& [key, url_value] : {std::pair{"name", name}, std::pair{"namespace", ns}}) {
        if (!j->contains(key)) {
            (*j)[key] = url_value;
        } else if (!(*j)[key].is_string() || (*j)[key].get<std::string>() != url_value) {
            return Unexpected<ControlError>{bad_request(
                std::string("the ") + key + " in the body does not match the URL", key)};
        }
    }
    json doc{{"services", json::array({*j})}};
    auto parsed = parse_services(doc.dump(), "request");
    if (!parsed) {
        return Unexpected<ControlError>{parse_error(parsed.error(), "services[0].")};
    }
    if (parsed->size() != 1) {
        return Unexpected<ControlError>{bad_request("expected one service")};
    }
    return ServiceBody{std::move(parsed->front()), versioned->expected};
}

}  // namespace

json service_to_json(const ServiceRecord& r, const ControlState& state) {
    const ServiceConfig& s = r.config;
    json ports = json::array();
    for (const auto& p : s.ports) {
        json port{{"port", p.port}, {"protocol", std::string(to_string(p.protocol))}};
        if (!p.name.empty()) {
            port["name"] = p.name;
        }
        if (p.node_port != 0) {
            port["node_port"] = p.node_port;
        }
        if (!p.target_port_name.empty()) {
            port["target_port"] = p.target_port_name;
        } else {
            port["target_port"] = p.target_port;
        }
        if (p.health_check) {
            port["health_check"] = health_check_json(*p.health_check);
            port["all_down"] = std::string(to_string(p.all_down));
        }
        ports.push_back(std::move(port));
    }
    json endpoints = json::array();
    for (const auto& e : s.endpoints) {
        json ep{{"ip", e.ip.str()},
                {"ready", e.ready},
                {"serving", e.serving},
                {"terminating", e.terminating},
                {"weight", e.weight}};
        if (!e.ports.empty()) {
            json named = json::array();
            for (const EndpointPort& p : e.ports) {
                named.push_back(json{{"name", p.name}, {"port", p.port}});
            }
            ep["ports"] = std::move(named);
        }
        for (auto [key, value] :
             {std::pair{"hostname", &e.hostname}, {"node_name", &e.node_name}, {"zone", &e.zone}}) {
            if (!value->empty()) {
                ep[key] = *value;
            }
        }
        endpoints.push_back(std::move(ep));
    }
    json out{
        {"name", s.name},
        {"namespace", s.ns},
        {"type", std::string(to_string(s.type))},
        {"cluster_ip", s.headless ? "None" : (s.cluster_ip ? s.cluster_ip->str() : "")},
        {"session_affinity",
         s.session_affinity == SessionAffinity::client_ip ? "ClientIP" : "None"},
        {"session_affinity_timeout_s", s.session_affinity_timeout_s},
        {"ports", std::move(ports)},
        {"endpoints", std::move(endpoints)},
        {"creationTimestamp", rfc3339(r.created_unix_s)},
        {"origin", std::string(to_string(r.origin))},
        {"resourceVersion", std::to_string(r.resource_version)},
    };
    if (!s.external_name.empty()) {
        out["external_name"] = s.external_name;
    }
    if (Errors warnings = state.warnings(r); !warnings.empty()) {
        out["warnings"] = warnings_json(warnings);
    }
    add_external_part(out, s);
    return out;
}

HttpResponse list_services(const HttpRequest& r, ControlExecutor& ex, const PathArgs&) {
    std::string ns = namespace_filter(r);
    return ex.execute([ns](ControlBackend& b) {
        json items = json::array();
        for (const auto& [key, rec] : b.state().records()) {
            if (ns.empty() || rec.config.ns == ns) {
                json item = service_to_json(rec, b.state());
                add_health_status(item, b.health(key));
                items.push_back(std::move(item));
            }
        }
        return json_response(json{{"kind", "ServiceList"}, {"items", std::move(items)}});
    });
}

HttpResponse get_service(const HttpRequest&, ControlExecutor& ex, const PathArgs& at) {
    return ex.execute([ns = at.ns, name = at.name](ControlBackend& b) {
        const ServiceRecord* rec = b.state().find(ns, name);
        if (rec == nullptr) {
            return error_response(not_found(ns, name));
        }
        json j = service_to_json(*rec, b.state());
        add_health_status(j, b.health(rec->config.key()));
        add_origin_events(j, b.events(), object_name("Service", rec->config.key()), now_unix());
        StatsSnapshot s = stats_of(b);
        j["stats"] = stats_json(s, ns, name);
        return json_response(j);
    });
}

HttpResponse put_service(const HttpRequest& r, ControlExecutor& ex, const PathArgs& at) {
    auto body = parse_service_body(r.body, at.ns, at.name);
    if (!body) {
        return error_response(body.error());
    }
    auto h = r.headers.find("if-none-match");
    const bool create_only = h != r.headers.end() && h->second == "*";
    auto shared = std::make_shared<ServiceBody>(std::move(*body));
    return ex.execute([shared, create_only](ControlBackend& b) {
        auto done = b.state().apply({std::move(shared->service)}, create_only, now_unix(),
                                    shared->expected);
        if (!done) {
            return error_response(done.error());
        }
        return json_response(outcomes_json(*done), done->front().action == "created" ? 201 : 200);
    });
}

HttpResponse delete_service(const HttpRequest&, ControlExecutor& ex, const PathArgs& at) {
    return ex.execute([ns = at.ns, name = at.name](ControlBackend& b) {
        return change_response(b.state().remove(ns, name));
    });
}

}  // namespace svcgw::api
