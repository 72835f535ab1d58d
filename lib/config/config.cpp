// Entry points: document streams (native config and/or Kubernetes manifests)
// to typed config. yaml-cpp exceptions stop here.
#include "config/config.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <yaml-cpp/eventhandler.h>

#include "config/endpoint_slices.hpp"
#include "config/parse.hpp"

namespace svcgw {

namespace {

using config_detail::Fields;
using config_detail::KubernetesDocuments;
using config_detail::Reader;

// Native documents allowed in a stream: a full config, or `services:` only.
enum class NativeDocs { config, services_only };

struct Parsed {
    Config config;
    Errors errors;
};

// yaml-cpp 0.7's LoadAll never returns (it allocates a null document per
// turn until memory runs out) when a ',' stands where a top-level node should
// start or end, e.g. ",", "[a] ," or "- a\n," (upstream issue #1040). An
// event-only first pass finds a document that does not move the stream on.
class StuckDocumentFinder : public YAML::EventHandler {
public:
    void OnDocumentStart(const YAML::Mark& mark) override {
        stuck = started && mark.pos == last.pos;
        started = true;
        last = mark;
    }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}

    bool stuck = false;
    bool started = false;
    YAML::Mark last;
};

// Throws YAML::Exception on syntax errors, like LoadAll.
std::vector<YAML::Node> load_all_documents(const std::string& text) {
    std::istringstream in(text);
    YAML::Parser parser(in);
    StuckDocumentFinder finder;
    while (parser.HandleNextDocument(finder)) {
        if (finder.stuck) {
            throw YAML::ParserException(finder.last, "unexpected ','");
        }
    }
    return YAML::LoadAll(text);
}

bool has_key(const YAML::Node& doc, std::string_view key) {
    for (auto it = doc.begin(); it != doc.end(); ++it) {
        if (it->first.IsScalar() && it->first.Scalar() == key) {
            return true;
        }
    }
    return false;
}

Parsed parse_stream(std::string_view yaml, const std::string& source_name, NativeDocs mode) {
    Parsed out;
    out.config.source = source_name;
    Reader reader(source_name);
    std::vector<YAML::Node> docs;
    try {
        docs = load_all_documents(std::string(yaml));
    } catch (const YAML::Exception& e) {
        reader.error(reader.location(e.mark), "", "YAML syntax error: " + e.msg);
        out.errors = reader.take_errors();
        return out;
    }
    KubernetesDocuments kubernetes(reader);
    bool have_native = false;
    std::string first_native;
    try {
        for (size_t i = 0; i < docs.size(); ++i) {
            const YAML::Node& doc = docs[i];
            if (doc.IsNull()) {
                continue;  // empty document, e.g. a trailing "---"
            }
            if (doc.IsMap() && has_key(doc, "kind")) {
                kubernetes.add(doc, i);
                continue;
            }
            std::string path = "documents[" + std::to_string(i) + "]";
            if (!reader.expect_map(doc, path)) {
                continue;
            }
            if (mode == NativeDocs::services_only) {
                Fields f(reader, doc, "", {"services"});
                if (auto services = f.get("services")) {
                    auto parsed =
                        config_detail::parse_native_services(reader, *services, "services");
                    for (ServiceConfig& svc : parsed) {
                        out.config.services.push_back(std::move(svc));
                    }
                }
                continue;
            }
            if (have_native) {
                reader.error(doc, path,
                             "a second configuration document (without 'kind'); the first is at " +
                                 first_native);
                continue;
            }
            have_native = true;
            first_native = reader.location(doc);
            out.config = config_detail::parse_native_config(reader, doc);
        }
        ServiceSet set = kubernetes.finish(std::move(out.config.services));
        out.config.services = std::move(set.services);
        out.config.endpoint_slices = std::move(set.slices);
        out.config.skipped = std::move(set.skipped);
    } catch (const YAML::Exception& e) {
        // Walking the nodes should not throw; if yaml-cpp does, say where.
        reader.error(reader.location(e.mark), "", "YAML error: " + e.msg);
    }
    out.errors = reader.take_errors();
    return out;
}

// (line, column) of "file:line:col"; errors without one sort last.
std::pair<long, long> position(const std::string& location) {
    constexpr long kNone = std::numeric_limits<long>::max();
    size_t col = location.rfind(':');
    size_t line =
        col == std::string::npos || col == 0 ? std::string::npos : location.rfind(':', col - 1);
    if (line == std::string::npos) {
        return {kNone, kNone};
    }
    return {std::atol(location.c_str() + line + 1), std::atol(location.c_str() + col + 1)};
}

}  // namespace

std::optional<ServiceType> parse_service_type(std::string_view text) {
    for (ServiceType type : {ServiceType::cluster_ip, ServiceType::node_port,
                             ServiceType::load_balancer, ServiceType::external_name}) {
        if (text == to_string(type)) {
            return type;
        }
    }
    return std::nullopt;
}

std::string_view to_string(ServiceType type) {
    switch (type) {
        case ServiceType::cluster_ip:
            return "ClusterIP";
        case ServiceType::node_port:
            return "NodePort";
        case ServiceType::load_balancer:
            return "LoadBalancer";
        case ServiceType::external_name:
            return "ExternalName";
    }
    return "ClusterIP";
}

std::string_view to_string(FleetMembership membership) {
    return membership == FleetMembership::leases ? "leases" : "probes";
}

std::optional<BackendMode> parse_backend_mode(std::string_view text) {
    if (text == "pods") {
        return BackendMode::pods;
    }
    if (text == "nodeport") {
        return BackendMode::node_port;
    }
    return std::nullopt;
}

std::optional<TrafficPolicy> parse_traffic_policy(std::string_view text) {
    if (text == "Cluster") {
        return TrafficPolicy::cluster;
    }
    if (text == "Local") {
        return TrafficPolicy::local;
    }
    return std::nullopt;
}

std::string_view to_string(TrafficPolicy policy) {
    return policy == TrafficPolicy::local ? "Local" : "Cluster";
}

std::optional<Ipv4Range> Ipv4Range::parse(std::string_view text) {
    if (auto prefix = Ipv4Prefix::parse(text)) {
        if (prefix->address != prefix->network()) {
            return std::nullopt;  // host bits set: a typo, not a range
        }
        return Ipv4Range{prefix->network(), Ipv4{prefix->network().value | ~prefix->mask()}, true};
    }
    size_t dash = text.find('-');
    if (dash == std::string_view::npos) {
        return std::nullopt;
    }
    auto trim = [](std::string_view t) {
        while (!t.empty() && t.front() == ' ') {
            t.remove_prefix(1);
        }
        while (!t.empty() && t.back() == ' ') {
            t.remove_suffix(1);
        }
        return t;
    };
    auto first = Ipv4::parse(trim(text.substr(0, dash)));
    auto last = Ipv4::parse(trim(text.substr(dash + 1)));
    if (!first || !last || *last < *first) {
        return std::nullopt;
    }
    return Ipv4Range{*first, *last, false};
}

std::string Ipv4Range::str() const {
    if (from_prefix) {
        uint8_t length = 32;
        while (length > 0 && (uint64_t{1} << (32 - length)) < size()) {
            --length;
        }
        return Ipv4Prefix{first, length}.str();
    }
    return first.str() + "-" + last.str();
}

std::vector<Ipv4> served_vips(const ServiceConfig& service) {
    std::vector<Ipv4> vips;
    if (service.headless || service.type == ServiceType::external_name) {
        return vips;
    }
    // kube-dns's ClusterIP is the DNS responder's (dns_service), not a VIP.
    if (service.cluster_ip && service.serve_cluster_ip && !service.dns_service) {
        vips.push_back(*service.cluster_ip);
    }
    for (const auto* list : {&service.load_balancer_ips, &service.external_ips}) {
        for (Ipv4 ip : *list) {
            if (std::find(vips.begin(), vips.end(), ip) == vips.end()) {
                vips.push_back(ip);
            }
        }
    }
    return vips;
}

uint16_t EndpointConfig::target_port_for(const ServicePortConfig& service_port) const {
    // The endpoint's own port wins, numeric targetPort or not: kube-proxy
    // forwards to the EndpointSlice's port and never reads targetPort.
    for (const EndpointPort& p : ports) {
        if (p.name == service_port.name) {
            return p.port;
        }
    }
    return service_port.target_port_name.empty() ? service_port.target_port : 0;
}

EndpointConfig EndpointSpec::over(const EndpointConfig& base) const {
    EndpointConfig out = base;
    if (has(EndpointField::ready)) {
        out.ready = endpoint.ready;
    }
    if (has(EndpointField::serving)) {
        out.serving = endpoint.serving;
    }
    if (has(EndpointField::terminating)) {
        out.terminating = endpoint.terminating;
    }
    if (has(EndpointField::weight)) {
        out.weight = endpoint.weight;
    }
    if (has(EndpointField::ports)) {
        out.ports = endpoint.ports;
    }
    if (has(EndpointField::hostname)) {
        out.hostname = endpoint.hostname;
    }
    if (has(EndpointField::node_name)) {
        out.node_name = endpoint.node_name;
    }
    if (has(EndpointField::zone)) {
        out.zone = endpoint.zone;
    }
    return out;
}

std::vector<EndpointSpec> EndpointSpec::complete(std::vector<EndpointConfig> endpoints) {
    std::vector<EndpointSpec> out;
    out.reserve(endpoints.size());
    for (EndpointConfig& e : endpoints) {
        out.push_back(EndpointSpec{std::move(e), kAllEndpointFields});
    }
    return out;
}

bool EndpointSliceConfig::operator==(const EndpointSliceConfig& other) const {
    return ns == other.ns && name == other.name && service == other.service &&
           endpoints == other.endpoints && warnings.size() == other.warnings.size() &&
           std::equal(warnings.begin(), warnings.end(), other.warnings.begin(),
                      [](const Error& a, const Error& b) {
                          return a.path == b.path && a.message == b.message;
                      });
}

std::string object_name(std::string_view kind, const std::string& key) {
    std::string out(kind);
    out += '/';
    out += key;
    return out;
}

bool ServiceConfig::operator==(const ServiceConfig& other) const {
    return name == other.name && ns == other.ns && cluster_ip == other.cluster_ip &&
           headless == other.headless && type == other.type && dns_service == other.dns_service &&
           external_name == other.external_name && session_affinity == other.session_affinity &&
           session_affinity_timeout_s == other.session_affinity_timeout_s && ports == other.ports &&
           endpoints == other.endpoints && load_balancer_ips == other.load_balancer_ips &&
           external_ips == other.external_ips && source_ranges == other.source_ranges &&
           external_traffic_policy == other.external_traffic_policy &&
           serve_cluster_ip == other.serve_cluster_ip;
}

Result<Config, Errors> parse_config(std::string_view yaml, const std::string& source_name) {
    Parsed parsed = parse_stream(yaml, source_name, NativeDocs::config);
    if (!parsed.errors.empty()) {
        return Unexpected<Errors>{std::move(parsed.errors)};
    }
    return std::move(parsed.config);
}

Result<ServiceSet, Errors> parse_service_set(std::string_view yaml,
                                             const std::string& source_name) {
    Parsed parsed = parse_stream(yaml, source_name, NativeDocs::services_only);
    if (!parsed.errors.empty()) {
        return Unexpected<Errors>{std::move(parsed.errors)};
    }
    return ServiceSet{std::move(parsed.config.services), std::move(parsed.config.endpoint_slices),
                      std::move(parsed.config.skipped)};
}

Result<std::vector<ServiceConfig>, Errors> parse_services(std::string_view yaml,
                                                          const std::string& source_name) {
    auto set = parse_service_set(yaml, source_name);
    if (!set) {
        return Unexpected<Errors>{set.error()};
    }
    if (!set->skipped.empty()) {
        Errors errors;
        for (SkippedObject& object : set->skipped) {
            errors.insert(errors.end(), object.errors.begin(), object.errors.end());
        }
        return Unexpected<Errors>{std::move(errors)};
    }
    join_endpoint_slices(set->services, set->slices);
    return std::move(set->services);
}

namespace {

// The one YAML document of an API body; errors are reported to `reader`.
std::optional<YAML::Node> single_document(Reader& reader, std::string_view yaml) {
    std::vector<YAML::Node> docs;
    try {
        docs = load_all_documents(std::string(yaml));
    } catch (const YAML::Exception& e) {
        reader.error(reader.location(e.mark), "", "YAML syntax error: " + e.msg);
        return std::nullopt;
    }
    if (docs.size() != 1 || docs[0].IsNull()) {
        reader.error("", "", "expected one document, got " + std::to_string(docs.size()));
        return std::nullopt;
    }
    return docs[0];
}

}  // namespace

Result<std::vector<EndpointSpec>, Errors> parse_endpoints(std::string_view yaml,
                                                          const std::string& source_name) {
    Reader reader(source_name);
    std::vector<EndpointSpec> out;
    try {
        if (auto doc = single_document(reader, yaml)) {
            ConfigNode seq = *doc;
            if (doc->IsMap()) {
                Fields f(reader, *doc, "", {"endpoints"});
                auto endpoints = f.get("endpoints");
                if (!endpoints && !reader.has_errors()) {
                    reader.error(f.location(), "endpoints", "missing required key 'endpoints'");
                }
                seq = endpoints.value_or(ConfigNode(YAML::Node(YAML::NodeType::Sequence)));
            }
            if (!reader.has_errors() && reader.expect_seq(seq, "endpoints")) {
                SourceMap source;
                for (size_t i = 0; i < seq.size(); ++i) {
                    std::string path = config_detail::index_path("endpoints", i);
                    out.push_back(
                        config_detail::parse_native_endpoint(reader, seq[i], path, source, path));
                }
            }
        }
    } catch (const YAML::Exception& e) {
        reader.error(reader.location(e.mark), "", "YAML error: " + e.msg);
    }
    if (reader.has_errors()) {
        return Unexpected<Errors>{reader.take_errors()};
    }
    return out;
}

Result<EndpointSpec, Errors> parse_endpoint(std::string_view yaml, const std::string& source_name) {
    Reader reader(source_name);
    EndpointSpec spec;
    try {
        if (auto doc = single_document(reader, yaml)) {
            SourceMap source;
            spec = config_detail::parse_native_endpoint(reader, *doc, "", source, "");
        }
    } catch (const YAML::Exception& e) {
        reader.error(reader.location(e.mark), "", "YAML error: " + e.msg);
    }
    if (reader.has_errors()) {
        return Unexpected<Errors>{reader.take_errors()};
    }
    return spec;
}

Result<Config, Errors> load_config(std::string_view yaml, const std::string& source_name) {
    Parsed parsed = parse_stream(yaml, source_name, NativeDocs::config);
    join_endpoint_slices(parsed.config.services, parsed.config.endpoint_slices);
    // Semantic checks run even after parse errors so that one run reports
    // everything; values that failed to parse are marked and not re-reported.
    // A Kubernetes object that fails is left out alone.
    auto validated = validate_and_allocate(
        parsed.config, {}, [](const ServiceConfig& s) { return s.kubernetes_object; });
    Errors errors = std::move(parsed.errors);
    if (!validated) {
        errors.insert(errors.end(), validated.error().begin(), validated.error().end());
    } else {
        parsed.config.skipped.insert(parsed.config.skipped.end(), validated->begin(),
                                     validated->end());
    }
    if (!errors.empty()) {
        // What would have been left out is part of the answer too.
        for (const SkippedObject& object : parsed.config.skipped) {
            errors.insert(errors.end(), object.errors.begin(), object.errors.end());
        }
        // File order reads best in `svcgw --check`; errors without a position last.
        std::stable_sort(errors.begin(), errors.end(), [](const Error& a, const Error& b) {
            return position(a.location) < position(b.location);
        });
        return Unexpected<Errors>{std::move(errors)};
    }
    return std::move(parsed.config);
}

std::vector<std::string> warning_lines(const Config& config) {
    std::vector<std::string> lines;
    std::set<std::string> services;
    for (const ServiceConfig& svc : config.services) {
        services.insert(svc.key());
        for (const Error& w : svc.warnings) {
            lines.push_back("warning: " + w.str());
        }
    }
    for (const EndpointSliceConfig& slice : config.endpoint_slices) {
        for (const Error& w : slice.warnings) {
            lines.push_back("warning: " + w.str());
        }
        if (!services.contains(slice.service_key())) {
            lines.push_back("warning: EndpointSlice/" + slice.key() + ": its Service " +
                            slice.service_key() +
                            " is not in the configuration: kept, joined when it comes");
        }
    }
    return lines;
}

std::vector<std::string> skipped_lines(const std::vector<SkippedObject>& skipped) {
    std::vector<std::string> lines;
    for (const SkippedObject& object : skipped) {
        for (const Error& e : object.errors) {
            lines.push_back("left out: " + object.object + ": " + e.str());
        }
    }
    return lines;
}

Result<Config, Errors> load_config_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return Unexpected<Errors>{Errors{Error{"", "cannot read config file", path}}};
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        return Unexpected<Errors>{Errors{Error{"", "error while reading config file", path}}};
    }
    return load_config(text.str(), path);
}

}  // namespace svcgw
