#include "control/api.hpp"

#include <ctime>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

namespace svcgw {
namespace {

using json = nlohmann::json;

int64_t now_unix() {
    return static_cast<int64_t>(std::time(nullptr));
}

json error_json(const std::string& reason, const std::string& message, const std::string& path,
                int status) {
    return json{{"error", message}, {"reason", reason}, {"path", path}, {"code", status}};
}

HttpResponse json_response(const json& j, int status = 200) {
    return HttpResponse{status, "application/json", j.dump(2) + "\n"};
}

json service_to_json(const ServiceRecord& r) {
    const ServiceConfig& s = r.config;
    json ports = json::array();
    for (const auto& p : s.ports) {
        json port{{"port", p.port}, {"protocol", std::string(to_string(p.protocol))}};
        if (!p.name.empty()) {
            port["name"] = p.name;
        }
        if (!p.target_port_name.empty()) {
            port["target_port"] = p.target_port_name;
        } else {
            port["target_port"] = p.target_port;
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
    };
    if (!s.external_name.empty()) {
        out["external_name"] = s.external_name;
    }
    return out;
}

json traffic_json(const TrafficStats& t) {
    return json{{"packets", t.packets},
                {"bytes", t.bytes},
                {"new_flows", t.new_flows},
                {"active_flows", t.active_flows}};
}

json stats_json(const StatsSnapshot& s, const std::string& ns = "", const std::string& name = "") {
    auto wanted = [&](const std::string& n, const std::string& svc) {
        return name.empty() || (n == ns && svc == name);
    };
    json ports = json::array();
    for (const auto& p : s.ports) {
        if (wanted(p.ns, p.service)) {
            ports.push_back(json{{"namespace", p.ns},
                                 {"service", p.service},
                                 {"port", p.port},
                                 {"port_name", p.port_name},
                                 {"protocol", p.protocol},
                                 {"traffic", traffic_json(p.traffic)}});
        }
    }
    json backends = json::array();
    for (const auto& b : s.backends) {
        if (wanted(b.ns, b.service)) {
            backends.push_back(json{{"namespace", b.ns},
                                    {"service", b.service},
                                    {"ip", b.ip},
                                    {"weight", b.weight},
                                    {"ready", b.ready},
                                    {"serving", b.serving},
                                    {"terminating", b.terminating},
                                    {"eligible", b.eligible},
                                    {"ring_slots", b.ring_slots},
                                    {"ring_size", b.ring_size},
                                    {"traffic", traffic_json(b.traffic)}});
        }
    }
    json workers = json::array();
    json dns_total = json::object();  // summed over workers (dns::counter_name keys)
    if (name.empty()) {
        for (const auto& w : s.workers) {
            json drops = json::object();
            for (const auto& [k, v] : w.drops) {
                drops[k] = v;
            }
            json events = json::object();
            for (const auto& [k, v] : w.events) {
                events[k] = v;
            }
            json dns = json::object();
            for (const auto& [k, v] : w.dns) {
                dns[k] = v;
                dns_total[k] = dns_total.value(k, uint64_t{0}) + v;
            }
            workers.push_back(json{{"worker", w.index},
                                   {"events", std::move(events)},
                                   {"drops", std::move(drops)},
                                   {"dns", std::move(dns)},
                                   {"flows_active", w.flows_active},
                                   {"flows_capacity", w.flows_capacity},
                                   {"flow_evictions", w.flow_evictions}});
        }
    }
    json out{{"services", s.services},        {"config_version", s.config_version},
             {"ports", std::move(ports)},     {"backends", std::move(backends)},
             {"workers", std::move(workers)}, {"dns", std::move(dns_total)}};
    if (s.kubernetes.enabled) {
        const FeedStats& k = s.kubernetes;
        json kinds = json::object();
        for (const FeedKindStats& kind : k.kinds) {
            kinds[kind.kind] = json{{"events", kind.events},        {"bookmarks", kind.bookmarks},
                                    {"relists", kind.relists},      {"restarts", kind.restarts},
                                    {"expired", kind.expired},      {"errors", kind.errors},
                                    {"last_error", kind.last_error}};
        }
        out["kubernetes"] = json{{"synced", k.synced},        {"kinds", std::move(kinds)},
                                 {"publishes", k.publishes},  {"rejected", k.rejected},
                                 {"invalid", k.invalid},      {"publish_errors", k.publish_errors},
                                 {"lag_count", k.lag_count},  {"lag_p50_us", k.lag_p50_us},
                                 {"lag_p99_us", k.lag_p99_us}};
    }
    return out;
}

// Native service text (JSON is YAML) through the config parser, so the API
// accepts exactly what the file accepts. Parse errors = BadRequest.
Result<ServiceConfig, ApiError> parse_service_body(const std::string& body, const std::string& ns,
                                                   const std::string& name) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded()) {
        return Unexpected<ApiError>{
            ApiError{400, "BadRequest", "request body is not valid JSON", ""}};
    }
    if (!j.is_object()) {
        return Unexpected<ApiError>{
            ApiError{400, "BadRequest", "service must be a JSON object", ""}};
    }
    // Output-only fields of GET are accepted back (kubectl get -o json | edit | put).
    j.erase("creationTimestamp");
    j.erase("origin");
    for (const auto& [key, url_value] : {std::pair{"name", name}, std::pair{"namespace", ns}}) {
        if (!j.contains(key)) {
            j[key] = url_value;
        } else if (!j[key].is_string() || j[key].get<std::string>() != url_value) {
            return Unexpected<ApiError>{
                ApiError{400, "BadRequest",
                         std::string("the ") + key + " in the body does not match the URL", key}};
        }
    }
    json doc{{"services", json::array({j})}};
    auto parsed = parse_services(doc.dump(), "request");
    if (!parsed) {
        ApiError e = invalid(parsed.error(), "services[0].");
        e.status = 400;
        e.reason = "BadRequest";
        return Unexpected<ApiError>{e};
    }
    if (parsed->size() != 1) {
        return Unexpected<ApiError>{ApiError{400, "BadRequest", "expected one service", ""}};
    }
    return std::move(parsed->front());
}

Result<std::vector<EndpointConfig>, ApiError> parse_endpoints_body(const std::string& body) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded()) {
        return Unexpected<ApiError>{
            ApiError{400, "BadRequest", "request body is not valid JSON", ""}};
    }
    if (j.is_object()) {
        for (const auto& [key, value] : j.items()) {
            if (key != "endpoints") {
                return Unexpected<ApiError>{
                    ApiError{400, "BadRequest", "unknown field '" + key + "'", key}};
            }
        }
        if (!j.contains("endpoints")) {
            return Unexpected<ApiError>{
                ApiError{400, "BadRequest", "missing 'endpoints'", "endpoints"}};
        }
        j = j["endpoints"];
    }
    if (!j.is_array()) {
        return Unexpected<ApiError>{
            ApiError{400, "BadRequest", "endpoints must be a list", "endpoints"}};
    }
    std::vector<EndpointConfig> out;
    for (size_t i = 0; i < j.size(); ++i) {
        const json& e = j[i];
        const std::string path = "endpoints[" + std::to_string(i) + "]";
        auto bad = [&](const std::string& field, const std::string& message) {
            return Unexpected<ApiError>{ApiError{
                400, "BadRequest", path + (field.empty() ? "" : "." + field) + ": " + message,
                path + (field.empty() ? "" : "." + field)}};
        };
        if (!e.is_object()) {
            return bad("", "must be an object");
        }
        EndpointConfig ep;
        bool has_ip = false;
        for (const auto& [key, value] : e.items()) {
            if (key == "ip") {
                if (!value.is_string()) {
                    return bad(key, "must be a string");
                }
                auto ip = Ipv4::parse(value.get<std::string>());
                if (!ip) {
                    return bad(key, "'" + value.get<std::string>() + "' is not an IPv4 address");
                }
                ep.ip = *ip;
                has_ip = true;
            } else if (key == "ready" || key == "serving" || key == "terminating") {
                if (!value.is_boolean()) {
                    return bad(key, "must be true or false");
                }
                bool v = value.get<bool>();
                (key == "ready" ? ep.ready : key == "serving" ? ep.serving : ep.terminating) = v;
            } else if (key == "weight") {
                if (!value.is_number_unsigned()) {
                    return bad(key, "must be a non-negative integer");
                }
                ep.weight = static_cast<uint32_t>(value.get<uint64_t>());
                if (value.get<uint64_t>() > UINT32_MAX) {
                    return bad(key, "out of range");
                }
            } else {
                return bad(key, "unknown field");
            }
        }
        if (!has_ip) {
            return bad("ip", "required");
        }
        out.push_back(ep);
    }
    return out;
}

json outcomes_json(const std::vector<ChangeOutcome>& outcomes) {
    json items = json::array();
    for (const auto& o : outcomes) {
        items.push_back(json{{"namespace", o.ns}, {"name", o.name}, {"action", o.action}});
    }
    return json{{"results", std::move(items)}};
}

HttpResponse method_not_allowed(const HttpRequest& r, const std::string& allowed) {
    return error_response(
        405, "MethodNotAllowed",
        "method " + r.method + " is not allowed on " + r.path + " (allowed: " + allowed + ")");
}

const std::regex kServicePath(
    "^/v1/namespaces/([a-z0-9]([-a-z0-9]*[a-z0-9])?)/services/"
    "([a-z0-9]([-a-z0-9]*[a-z0-9])?)(/endpoints)?$");

}  // namespace

std::string rfc3339(int64_t unix_s) {
    std::time_t t = static_cast<std::time_t>(unix_s);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string service_json(const ServiceRecord& record) {
    return service_to_json(record).dump(2);
}

HttpResponse error_response(int status, const std::string& reason, const std::string& message,
                            const std::string& path) {
    return json_response(error_json(reason, message, path, status), status);
}

HttpResponse error_response(const ApiError& e) {
    return error_response(e.status, e.reason, e.message, e.path);
}

HttpResponse ApiHandler::handle(const HttpRequest& request) const {
    try {
        return route(request);
    } catch (const std::exception& e) {
        return error_response(500, "InternalError", e.what());
    }
}

HttpResponse ApiHandler::metrics() const {
    return _executor.execute([](ControlBackend& b) {
        StatsSnapshot s = b.stats();
        s.config_version = b.state().version();
        return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", render_prometheus(s)};
    });
}

HttpResponse ApiHandler::route(const HttpRequest& r) const {
    if (r.body.size() > kMaxRequestBody) {
        return error_response(
            413, "RequestEntityTooLarge",
            "request body larger than " + std::to_string(kMaxRequestBody) + " bytes");
    }
    const std::string& m = r.method;
    if (r.path == "/healthz") {
        if (m != "GET") {
            return method_not_allowed(r, "GET");
        }
        return json_response(json{{"status", "ok"}});
    }
    if (r.path == "/readyz") {
        if (m != "GET") {
            return method_not_allowed(r, "GET");
        }
        // Ready = the control thread answers (the first configuration is live
        // before the API starts).
        return _executor.execute([](ControlBackend& b) {
            return json_response(
                json{{"status", "ready"}, {"services", b.state().records().size()}});
        });
    }
    if (r.path == "/metrics") {
        if (m != "GET") {
            return method_not_allowed(r, "GET");
        }
        return metrics();
    }
    if (r.path == "/v1/services") {
        if (m != "GET") {
            return method_not_allowed(r, "GET");
        }
        auto it = r.query.find("namespace");
        std::string ns = it == r.query.end() ? "" : it->second;
        return _executor.execute([ns](ControlBackend& b) {
            json items = json::array();
            for (const auto& [key, rec] : b.state().records()) {
                if (ns.empty() || rec.config.ns == ns) {
                    items.push_back(service_to_json(rec));
                }
            }
            return json_response(json{{"kind", "ServiceList"}, {"items", std::move(items)}});
        });
    }
    if (r.path == "/v1/apply") {
        if (m != "POST") {
            return method_not_allowed(r, "POST");
        }
        auto parsed = parse_services(r.body, "request");
        if (!parsed) {
            ApiError e = invalid(parsed.error());
            e.status = 400;
            e.reason = "BadRequest";
            return error_response(e);
        }
        if (parsed->empty()) {
            return error_response(400, "BadRequest", "no services in the request");
        }
        auto services = std::make_shared<std::vector<ServiceConfig>>(std::move(*parsed));
        return _executor.execute([services](ControlBackend& b) {
            auto done = b.state().apply(std::move(*services), false, now_unix());
            if (!done) {
                return error_response(done.error());
            }
            return json_response(outcomes_json(*done));
        });
    }
    if (r.path == "/v1/stats") {
        if (m != "GET") {
            return method_not_allowed(r, "GET");
        }
        return _executor.execute([](ControlBackend& b) {
            StatsSnapshot s = b.stats();
            s.config_version = b.state().version();
            return json_response(stats_json(s));
        });
    }
    if (r.path == "/v1/flows") {
        if (m != "GET") {
            return method_not_allowed(r, "GET");
        }
        size_t limit = kDefaultFlowLimit;
        if (auto it = r.query.find("limit"); it != r.query.end()) {
            const std::string& v = it->second;
            if (v.empty() || v.size() > 9 ||
                v.find_first_not_of("0123456789") != std::string::npos) {
                return error_response(400, "BadRequest", "limit must be a positive integer",
                                      "limit");
            }
            limit = std::min<size_t>(std::stoul(v), kMaxFlowLimit);
        }
        return _executor.execute([limit](ControlBackend& b) {
            json flows = json::array();
            for (const FlowSample& f : b.flows(limit)) {
                json j{{"worker", f.worker},          {"protocol", f.protocol},
                       {"client", f.client},          {"vip", f.vip},
                       {"backend", f.backend},        {"state", f.state},
                       {"idle_s", f.idle_s},          {"packets_fwd", f.packets_fwd},
                       {"packets_rev", f.packets_rev}};
                if (!f.snat.empty()) {
                    j["snat"] = f.snat;
                }
                flows.push_back(std::move(j));
            }
            return json_response(json{{"flows", std::move(flows)}});
        });
    }
    std::smatch match;
    if (!std::regex_match(r.path, match, kServicePath)) {
        return error_response(404, "NotFound", "no such API path: " + r.path);
    }
    const std::string ns = match[1];
    const std::string name = match[3];
    const bool endpoints = match[5].matched;
    if (endpoints) {
        if (m == "GET") {
            return _executor.execute([ns, name](ControlBackend& b) {
                const ServiceRecord* rec = b.state().find(ns, name);
                if (rec == nullptr) {
                    return error_response(not_found(ns, name));
                }
                json j = service_to_json(*rec);
                return json_response(json{{"name", name},
                                          {"namespace", ns},
                                          {"endpoints", j["endpoints"]},
                                          {"ports", j["ports"]},
                                          {"creationTimestamp", j["creationTimestamp"]}});
            });
        }
        if (m == "PUT") {
            auto eps = parse_endpoints_body(r.body);
            if (!eps) {
                return error_response(eps.error());
            }
            auto list = std::make_shared<std::vector<EndpointConfig>>(std::move(*eps));
            return _executor.execute([ns, name, list](ControlBackend& b) {
                auto done = b.state().set_endpoints(ns, name, std::move(*list));
                if (!done) {
                    return error_response(done.error());
                }
                return json_response(outcomes_json({*done}));
            });
        }
        return method_not_allowed(r, "GET, PUT");
    }
    if (m == "GET") {
        return _executor.execute([ns, name](ControlBackend& b) {
            const ServiceRecord* rec = b.state().find(ns, name);
            if (rec == nullptr) {
                return error_response(not_found(ns, name));
            }
            json j = service_to_json(*rec);
            StatsSnapshot s = b.stats();
            j["stats"] = stats_json(s, ns, name);
            return json_response(j);
        });
    }
    if (m == "PUT") {
        auto svc = parse_service_body(r.body, ns, name);
        if (!svc) {
            return error_response(svc.error());
        }
        auto h = r.headers.find("if-none-match");
        const bool create_only = h != r.headers.end() && h->second == "*";
        auto shared = std::make_shared<ServiceConfig>(std::move(*svc));
        return _executor.execute([shared, create_only](ControlBackend& b) {
            auto done = b.state().apply({std::move(*shared)}, create_only, now_unix());
            if (!done) {
                return error_response(done.error());
            }
            return json_response(outcomes_json(*done),
                                 done->front().action == "created" ? 201 : 200);
        });
    }
    if (m == "DELETE") {
        return _executor.execute([ns, name](ControlBackend& b) {
            auto done = b.state().remove(ns, name);
            if (!done) {
                return error_response(done.error());
            }
            return json_response(outcomes_json({*done}));
        });
    }
    return method_not_allowed(r, "GET, PUT, DELETE");
}

}  // namespace svcgw
