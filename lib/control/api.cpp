#include "control/api.hpp"
#include "control/fleet_api.hpp"

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "common/hash.hpp"

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

// Messages quote the request (an unknown key, a bad value), which may not be
// UTF-8: such bytes become U+FFFD. Throwing here instead would answer 500
// after the request had already changed the state.
HttpResponse json_response(const json& j, int status = 200) {
    return HttpResponse{status, "application/json",
                        j.dump(2, ' ', false, json::error_handler_t::replace) + "\n"};
}

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

// "path: message" lines, as kubectl prints warnings.
json warnings_json(const Errors& warnings) {
    json out = json::array();
    for (const Error& w : warnings) {
        out.push_back(w.path.empty() ? w.message : w.path + ": " + w.message);
    }
    return out;
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

// The counters with the control state's version: what /v1/stats, /metrics
// and a service's GET report.
StatsSnapshot stats_of(ControlBackend& b) {
    StatsSnapshot s = b.stats();
    s.config_version = b.state().version();
    return s;
}

json traffic_json(const TrafficStats& t) {
    return json{{"packets", t.packets},
                {"bytes", t.bytes},
                {"new_flows", t.new_flows},
                {"active_flows", t.active_flows}};
}

}  // namespace

json fleet_members_json(const FleetMembersStats& f) {
    json members = json::array();
    const bool leases = f.membership == "leases";
    for (const FleetMemberStats& m : f.members) {
        json member{{"name", m.name}, {"address", m.address},     {"self", m.self},
                    {"live", m.live}, {"mac_known", m.mac_known}, {"slots", m.slots}};
        if (leases) {
            member["lease"] =
                json{{"state", m.lease_state},
                     {"renew_time", m.lease_renew_us != 0 ? json(m.lease_renew_time) : json()},
                     {"duration_s", m.lease_duration_s}};
        }
        members.push_back(std::move(member));
    }
    json out{{"owner_ring", json{{"size", f.ring_size}, {"digest", digest_str(f.digest)}}},
             {"live", f.live},
             {"changes", f.changes},
             {"membership", f.membership},
             {"members", std::move(members)}};
    if (leases) {
        out["lease_api_ok"] = f.lease_api_ok;
        out["lease_requests"] = json{{"renewed", f.lease_renewals},
                                     {"conflict", f.lease_conflicts},
                                     {"error", f.lease_errors}};
    }
    return out;
}

namespace {

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
                                 {"ring_size", p.ring_size},
                                 {"ring_digest", digest_str(p.ring_digest)},
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
    json out{{"services", s.services},
             {"config_version", s.config_version},
             {"tables_digest", digest_str(s.tables_digest)},
             {"ports", std::move(ports)},
             {"backends", std::move(backends)},
             {"workers", std::move(workers)},
             {"dns", std::move(dns_total)}};
    if (s.exception_path.enabled) {
        const ExceptionPathView& e = s.exception_path;
        out["exception_path"] = json{{"interface", e.interface},
                                     {"to_kernel", e.to_kernel},
                                     {"to_kernel_failed", e.to_kernel_failed},
                                     {"from_kernel", e.from_kernel},
                                     {"from_kernel_kept", e.from_kernel_kept},
                                     {"from_kernel_failed", e.from_kernel_failed}};
    }
    if (s.fleet_members.enabled) {
        out["fleet_members"] = fleet_members_json(s.fleet_members);
    }
    if (s.reply_index.enabled) {
        out["reply_index"] =
            json{{"keys", s.reply_index.keys}, {"unindexed", s.reply_index.unindexed}};
    }
    if (s.kubernetes.enabled) {
        const FeedStats& k = s.kubernetes;
        json kinds = json::object();
        for (const FeedKindStats& kind : k.kinds) {
            kinds[kind.kind] = json{{"events", kind.events},        {"bookmarks", kind.bookmarks},
                                    {"relists", kind.relists},      {"restarts", kind.restarts},
                                    {"expired", kind.expired},      {"errors", kind.errors},
                                    {"last_error", kind.last_error}};
        }
        out["kubernetes"] = json{{"synced", k.synced},
                                 {"kinds", std::move(kinds)},
                                 {"publishes", k.publishes},
                                 {"rejected", k.rejected},
                                 {"invalid", k.invalid},
                                 {"publish_errors", k.publish_errors},
                                 {"status_updates", k.status_updates},
                                 {"status_errors", k.status_errors},
                                 {"lag_count", k.lag_count},
                                 {"lag_p50_us", k.lag_p50_us},
                                 {"lag_p99_us", k.lag_p99_us}};
    }
    return out;
}

ControlError bad_request(std::string message, std::string path = "") {
    return ControlError{ControlErrorKind::bad_request, std::move(message), std::move(path)};
}

// A JSON object body, or a BadRequest.
Result<json, ControlError> json_object(const std::string& body, const char* what) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded()) {
        return Unexpected<ControlError>{bad_request("request body is not valid JSON")};
    }
    if (!j.is_object()) {
        return Unexpected<ControlError>{bad_request(std::string(what) + " must be a JSON object")};
    }
    return j;
}

// resourceVersion as GET prints it (a decimal string; a number is accepted
// too), removed from `j`; nullopt when absent.
Result<Precondition, ControlError> take_resource_version(json& j) {
    auto it = j.find("resourceVersion");
    if (it == j.end()) {
        return Precondition{};
    }
    std::string text = it->is_string()            ? it->get<std::string>()
                       : it->is_number_unsigned() ? std::to_string(it->get<uint64_t>())
                                                  : "";
    constexpr size_t kMaxDigits = 19;  // fits uint64_t
    if (text.empty() || text.size() > kMaxDigits ||
        text.find_first_not_of("0123456789") != std::string::npos) {
        return Unexpected<ControlError>{bad_request(
            "resourceVersion must be the decimal string GET returned", "resourceVersion")};
    }
    j.erase(it);
    return Precondition{std::stoull(text)};
}

// Parse errors of the config parser are the client's: BadRequest, paths
// relative to the body.
ControlError parse_error(const Errors& errors, const std::string& prefix_to_strip = "") {
    ControlError e = invalid(errors, prefix_to_strip);
    e.kind = ControlErrorKind::bad_request;
    return e;
}

struct ServiceBody {
    ServiceConfig service;
    Precondition expected;
};

// Native service text (JSON is YAML) through the config parser, so the API
// accepts exactly what the file accepts.
Result<ServiceBody, ControlError> parse_service_body(const std::string& body, const std::string& ns,
                                                     const std::string& name) {
    auto j = json_object(body, "service");
    if (!j) {
        return Unexpected<ControlError>{j.error()};
    }
    auto expected = take_resource_version(*j);
    if (!expected) {
        return Unexpected<ControlError>{expected.error()};
    }
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
    return ServiceBody{std::move(parsed->front()), *expected};
}

struct EndpointsBody {
    std::vector<EndpointSpec> endpoints;
    Precondition expected;
};

// {"resourceVersion": "N", "endpoints": [...]}: the list through the config
// file's endpoint parser.
Result<EndpointsBody, ControlError> parse_endpoints_body(const std::string& body) {
    auto j = json_object(body, "the endpoint list");
    if (!j) {
        return Unexpected<ControlError>{j.error()};
    }
    auto expected = take_resource_version(*j);
    if (!expected) {
        return Unexpected<ControlError>{expected.error()};
    }
    // Output-only fields of GET .../endpoints are accepted back.
    for (const char* key : {"name", "namespace", "ports", "creationTimestamp"}) {
        j->erase(key);
    }
    auto parsed = parse_endpoints(j->dump(), "request");
    if (!parsed) {
        return Unexpected<ControlError>{parse_error(parsed.error())};
    }
    return EndpointsBody{std::move(*parsed), *expected};
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

json outcomes_json(const std::vector<ChangeOutcome>& outcomes) {
    json items = json::array();
    for (const auto& o : outcomes) {
        json item{{"kind", o.kind}, {"namespace", o.ns}, {"name", o.name}, {"action", o.action}};
        if (o.kind == "service") {
            item["resourceVersion"] = std::to_string(o.resource_version);
        }
        if (!o.note.empty()) {
            item["note"] = o.note;
        }
        items.push_back(std::move(item));
    }
    return json{{"results", std::move(items)}};
}

// Status and Kubernetes reason of each control error kind.
std::pair<int, const char*> http_of(ControlErrorKind kind) {
    switch (kind) {
        case ControlErrorKind::not_found:
            return {404, "NotFound"};
        case ControlErrorKind::already_exists:
            return {409, "AlreadyExists"};
        case ControlErrorKind::conflict:
            return {409, "Conflict"};
        case ControlErrorKind::precondition_required:
            return {428, "PreconditionRequired"};  // RFC 6585 §3
        case ControlErrorKind::invalid:
            return {422, "Invalid"};
        case ControlErrorKind::bad_request:
            return {400, "BadRequest"};
    }
    return {500, "InternalError"};
}

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

// `?namespace=NS` of a list request; "" = every namespace.
std::string namespace_filter(const HttpRequest& r) {
    auto it = r.query.find("namespace");
    return it == r.query.end() ? "" : it->second;
}

// "Kind/ns/name" -> "ns"; "" for objects without one ("Service", "Node/n").
std::string object_namespace(const std::string& object) {
    size_t first = object.find('/');
    size_t second = first == std::string::npos ? first : object.find('/', first + 1);
    return second == std::string::npos ? "" : object.substr(first + 1, second - first - 1);
}

HttpResponse method_not_allowed(const HttpRequest& r, const std::string& allowed) {
    return error_response(
        405, "MethodNotAllowed",
        "method " + r.method + " is not allowed on " + r.path + " (allowed: " + allowed + ")");
}

// /v1/namespaces/NS/services/NAME[/endpoints[/IP[/drain]]]
const std::regex kServicePath(
    "^/v1/namespaces/([a-z0-9]([-a-z0-9]*[a-z0-9])?)/services/"
    "([a-z0-9]([-a-z0-9]*[a-z0-9])?)(/endpoints(/([0-9.]+)(/drain)?)?)?$");

// /v1/namespaces/NS/endpointslices/NAME (a DNS-1123 subdomain)
const std::regex kSlicePath(
    "^/v1/namespaces/([a-z0-9]([-a-z0-9]*[a-z0-9])?)/endpointslices/"
    "([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$");

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
    return json_response(error_json(reason, message, path, status), status);
}

HttpResponse error_response(const ControlError& e) {
    auto [status, reason] = http_of(e.kind);
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
    return _executor.execute([](ControlBackend& b) {
        StatsSnapshot s = stats_of(b);
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
        std::string ns = namespace_filter(r);
        return _executor.execute([ns](ControlBackend& b) {
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
    if (r.path == "/v1/apply") {
        if (m != "POST") {
            return method_not_allowed(r, "POST");
        }
        auto parsed = parse_service_set(r.body, "request");
        if (!parsed) {
            return error_response(parse_error(parsed.error()));
        }
        if (parsed->services.empty() && parsed->slices.empty() && parsed->skipped.empty()) {
            return error_response(400, "BadRequest", "no services in the request");
        }
        auto set = std::make_shared<ServiceSet>(std::move(*parsed));
        return _executor.execute([set](ControlBackend& b) {
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
    if (r.path == "/v1/events") {
        if (m != "GET") {
            return method_not_allowed(r, "GET");
        }
        std::string ns = namespace_filter(r);
        return _executor.execute([ns](ControlBackend& b) {
            json items = json::array();
            for (const OriginEvent& e : b.events()) {
                if (ns.empty() || object_namespace(e.object) == ns) {
                    items.push_back(json{{"lastTimestamp", rfc3339(e.unix_s)},
                                         {"type", e.type},
                                         {"reason", e.reason},
                                         {"object", e.object},
                                         {"message", e.message}});
                }
            }
            return json_response(json{{"kind", "EventList"}, {"items", std::move(items)}});
        });
    }
    if (r.path == "/v1/endpointslices") {
        if (m != "GET") {
            return method_not_allowed(r, "GET");
        }
        std::string ns = namespace_filter(r);
        return _executor.execute([ns](ControlBackend& b) {
            json items = json::array();
            for (const EndpointSliceConfig* slice : b.state().endpoint_slices().all()) {
                if (ns.empty() || slice->ns == ns) {
                    items.push_back(slice_json(*slice, b.state()));
                }
            }
            return json_response(json{{"kind", "EndpointSliceList"}, {"items", std::move(items)}});
        });
    }
    if (std::smatch slice; std::regex_match(r.path, slice, kSlicePath)) {
        if (m != "DELETE") {
            return method_not_allowed(r, "DELETE");
        }
        const std::string ns = slice[1];
        const std::string name = slice[3];
        return _executor.execute([ns, name](ControlBackend& b) {
            auto done = b.state().remove_slice(ns, name);
            if (!done) {
                return error_response(done.error());
            }
            return json_response(outcomes_json({*done}));
        });
    }
    if (r.path == "/v1/fleet" || r.path.starts_with("/v1/fleet/")) {
        return route_fleet(r, _executor);
    }
    if (r.path == "/v1/stats") {
        if (m != "GET") {
            return method_not_allowed(r, "GET");
        }
        return _executor.execute([](ControlBackend& b) {
            StatsSnapshot s = stats_of(b);
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
    if (match[7].matched) {
        auto ip = Ipv4::parse(match[7].str());
        if (!ip) {
            return error_response(404, "NotFound", "no such API path: " + r.path);
        }
        return route_endpoint(r, ns, name, *ip, match[8].matched);
    }
    if (match[5].matched) {
        return route_endpoints(r, ns, name);
    }
    return route_service(r, ns, name);
}

HttpResponse ApiHandler::route_service(const HttpRequest& r, const std::string& ns,
                                       const std::string& name) const {
    const std::string& m = r.method;
    if (m == "GET") {
        return _executor.execute([ns, name](ControlBackend& b) {
            const ServiceRecord* rec = b.state().find(ns, name);
            if (rec == nullptr) {
                return error_response(not_found(ns, name));
            }
            json j = service_to_json(*rec, b.state());
            add_health_status(j, b.health(rec->config.key()));
            add_origin_events(j, b.events(), object_name("Service", ns + "/" + name), now_unix());
            StatsSnapshot s = stats_of(b);
            j["stats"] = stats_json(s, ns, name);
            return json_response(j);
        });
    }
    if (m == "PUT") {
        auto body = parse_service_body(r.body, ns, name);
        if (!body) {
            return error_response(body.error());
        }
        auto h = r.headers.find("if-none-match");
        const bool create_only = h != r.headers.end() && h->second == "*";
        auto shared = std::make_shared<ServiceBody>(std::move(*body));
        return _executor.execute([shared, create_only](ControlBackend& b) {
            auto done = b.state().apply({std::move(shared->service)}, create_only, now_unix(),
                                        shared->expected);
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

HttpResponse ApiHandler::route_endpoints(const HttpRequest& r, const std::string& ns,
                                         const std::string& name) const {
    if (r.method == "GET") {
        return _executor.execute([ns, name](ControlBackend& b) {
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
    if (r.method == "PUT") {
        auto body = parse_endpoints_body(r.body);
        if (!body) {
            return error_response(body.error());
        }
        auto shared = std::make_shared<EndpointsBody>(std::move(*body));
        return _executor.execute([ns, name, shared](ControlBackend& b) {
            auto done =
                b.state().set_endpoints(ns, name, std::move(shared->endpoints), shared->expected);
            if (!done) {
                return error_response(done.error());
            }
            return json_response(outcomes_json({*done}));
        });
    }
    return method_not_allowed(r, "GET, PUT");
}

HttpResponse ApiHandler::route_endpoint(const HttpRequest& r, const std::string& ns,
                                        const std::string& name, Ipv4 ip, bool drain) const {
    auto answer = [](const Result<ChangeOutcome, ControlError>& done) {
        if (!done) {
            return error_response(done.error());
        }
        return json_response(outcomes_json({*done}), done->action == "created" ? 201 : 200);
    };
    if (drain) {
        if (r.method != "POST") {
            return method_not_allowed(r, "POST");
        }
        return _executor.execute([ns, name, ip, answer](ControlBackend& b) {
            return answer(b.state().drain_endpoint(ns, name, ip));
        });
    }
    if (r.method == "PATCH") {
        auto spec = parse_endpoint_body(r.body, ip);
        if (!spec) {
            return error_response(spec.error());
        }
        auto shared = std::make_shared<EndpointSpec>(std::move(*spec));
        return _executor.execute([ns, name, shared, answer](ControlBackend& b) {
            return answer(b.state().upsert_endpoint(ns, name, *shared));
        });
    }
    if (r.method == "DELETE") {
        return _executor.execute([ns, name, ip, answer](ControlBackend& b) {
            return answer(b.state().remove_endpoint(ns, name, ip));
        });
    }
    return method_not_allowed(r, "PATCH, DELETE");
}

}  // namespace svcgw
