// Kubernetes manifests: v1 Service, discovery.k8s.io/v1 EndpointSlice and
// v1 List, as `kubectl get svc,endpointslices -o yaml` prints them. Fields the
// API server adds on export are accepted and ignored; fields that change
// behaviour we do not implement are errors, never silently dropped.
// Display paths are "Kind/namespace/name.field.path" (kubectl's field paths).
#include <deque>
#include <limits>
#include <map>
#include <tuple>

#include "config/parse.hpp"

namespace svcgw::config_detail {

namespace {

constexpr uint64_t kU16Max = std::numeric_limits<uint16_t>::max();
constexpr uint64_t kU32Max = std::numeric_limits<uint32_t>::max();
constexpr std::string_view kServiceNameLabel = "kubernetes.io/service-name";
constexpr std::string_view kDefaultNamespace = "default";

// Metadata the API server fills in; none of it changes forwarding.
const std::vector<std::string_view> kIgnoredMetadata = {"uid",
                                                        "resourceVersion",
                                                        "creationTimestamp",
                                                        "managedFields",
                                                        "generation",
                                                        "selfLink",
                                                        "finalizers",
                                                        "ownerReferences",
                                                        "deletionTimestamp",
                                                        "deletionGracePeriodSeconds"};

// Service spec fields that make sense only for types or features we do not
// implement: rejected with "not supported" rather than "unknown key".
const std::vector<std::string_view> kUnsupportedServiceSpec = {"externalIPs",
                                                               "loadBalancerIP",
                                                               "loadBalancerSourceRanges",
                                                               "loadBalancerClass",
                                                               "allocateLoadBalancerNodePorts",
                                                               "externalTrafficPolicy",
                                                               "healthCheckNodePort"};

std::optional<std::string> scalar_at(const YAML::Node& map, std::string_view key) {
    if (!map.IsMap()) {
        return std::nullopt;
    }
    for (auto it = map.begin(); it != map.end(); ++it) {
        if (it->first.IsScalar() && it->first.Scalar() == key) {
            if (it->second.IsScalar()) {
                return it->second.Scalar();
            }
            return std::nullopt;
        }
    }
    return std::nullopt;
}

std::optional<YAML::Node> node_at(const YAML::Node& map, std::string_view key) {
    if (!map.IsMap()) {
        return std::nullopt;
    }
    for (auto it = map.begin(); it != map.end(); ++it) {
        if (it->first.IsScalar() && it->first.Scalar() == key) {
            return it->second;
        }
    }
    return std::nullopt;
}

void check_api_version(Reader& r, const Fields& f, std::string_view expected) {
    auto node = f.get("apiVersion");
    if (!node) {
        r.error(f.location(), f.path("apiVersion"), "missing apiVersion");
        return;
    }
    auto text = r.string(*node, f.path("apiVersion"));
    if (text && *text != expected) {
        r.error(*node, f.path("apiVersion"),
                "unsupported apiVersion '" + *text + "' (expected " + std::string(expected) + ")");
    }
}

std::vector<std::string_view> concat(std::vector<std::string_view> a,
                                     const std::vector<std::string_view>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

}  // namespace

void KubernetesDocuments::add(const YAML::Node& doc, size_t doc_index) {
    add_object(doc, index_path("documents", doc_index), false);
}

void KubernetesDocuments::add_object(const YAML::Node& doc, const std::string& fallback_path,
                                     bool in_list) {
    Reader& r = _reader;
    if (!r.expect_map(doc, fallback_path)) {
        return;
    }
    std::string kind = scalar_at(doc, "kind").value_or("");
    // Name the object the way kubectl does in its messages, so that errors
    // in a long List are easy to find even without the line number.
    auto metadata = node_at(doc, "metadata");
    std::string name = metadata ? scalar_at(*metadata, "name").value_or("") : "";
    std::string ns = metadata ? scalar_at(*metadata, "namespace").value_or("") : "";
    std::string prefix = fallback_path;
    if (!name.empty() && (kind == "Service" || kind == "EndpointSlice")) {
        prefix = kind + "/" + (ns.empty() ? std::string(kDefaultNamespace) : ns) + "/" + name;
    }
    if (kind == "Service") {
        _services.push_back(decode_service(doc, prefix));
    } else if (kind == "EndpointSlice") {
        if (auto slice = read_slice(doc, prefix); slice && slice->forwardable) {
            _slices.push_back(std::move(*slice));
        }
    } else if (!in_list &&
               (kind == "List" || kind == "ServiceList" || kind == "EndpointSliceList")) {
        Fields f(r, doc, prefix, {"apiVersion", "kind", "items", "metadata"});
        auto items = f.get("items");
        if (items && r.expect_seq(*items, f.path("items"))) {
            for (size_t i = 0; i < items->size(); ++i) {
                add_object((*items)[i], index_path(f.path("items"), i), true);
            }
        }
    } else {
        auto kind_node = node_at(doc, "kind");
        std::string at = kind_node ? r.location(*kind_node) : r.location(doc);
        r.error(at, key_path(prefix, "kind"),
                "unsupported kind '" + kind + "' (expected Service, EndpointSlice" +
                    (in_list ? "" : " or List") + ")");
    }
}

ServiceConfig KubernetesDocuments::decode_service(const YAML::Node& doc,
                                                  const std::string& prefix) {
    Reader& r = _reader;
    ServiceConfig svc;
    SourceMap& src = svc.locations;
    record(src, r, "", prefix, doc);
    Fields top(r, doc, prefix, {"apiVersion", "kind", "metadata", "spec"}, {"status"});
    check_api_version(r, top, "v1");

    YAML::Node annotations;  // svcgw.io/health-check-*, applied once the ports are read
    std::string annotations_path;
    auto metadata = top.get("metadata");
    if (!metadata) {
        r.error(top.location(), top.path("metadata"), "missing metadata");
        record_at(src, "name", top.path("metadata"), top.location(), false);
    } else if (r.expect_map(*metadata, top.path("metadata"))) {
        Fields meta(r, *metadata, top.path("metadata"), {"name", "namespace", "annotations"},
                    concat(kIgnoredMetadata, {"labels", "generateName"}));
        if (auto node = meta.get("annotations");
            node && r.expect_map(*node, meta.path("annotations"))) {
            annotations = *node;
            annotations_path = meta.path("annotations");
        }
        if (auto node = meta.get("name")) {
            auto name = r.string(*node, meta.path("name"));
            record(src, r, "name", meta.path("name"), *node, name.has_value());
            svc.name = name.value_or("");
        } else {
            r.error(meta.location(), meta.path("name"), "missing metadata.name");
            record_at(src, "name", meta.path("name"), meta.location(), false);
        }
        if (auto node = meta.get("namespace")) {
            auto ns = r.string(*node, meta.path("namespace"));
            record(src, r, "namespace", meta.path("namespace"), *node, ns.has_value());
            svc.ns = ns.value_or(svc.ns);
        }
    }

    auto spec_node = top.get("spec");
    if (!spec_node) {
        r.error(top.location(), top.path("spec"), "missing spec");
        return svc;
    }
    if (!r.expect_map(*spec_node, top.path("spec"))) {
        return svc;
    }
    Fields spec(r, *spec_node, top.path("spec"),
                concat({"type", "clusterIP", "clusterIPs", "externalName", "ports",
                        "sessionAffinity", "sessionAffinityConfig"},
                       kUnsupportedServiceSpec),
                {"selector", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy",
                 "publishNotReadyAddresses", "trafficDistribution"});
    for (std::string_view key : kUnsupportedServiceSpec) {
        if (spec.has(key)) {
            r.error(spec.key_location(key), spec.path(key),
                    "'" + std::string(key) + "' is not supported (ClusterIP services only)");
        }
    }
    if (auto node = spec.get("type")) {
        auto type = read_service_type(r, *node, spec.path("type"));
        record(src, r, "type", spec.path("type"), *node, type.has_value());
        svc.type = type.value_or(svc.type);
    }
    if (auto node = spec.get("externalName")) {
        auto name = r.string(*node, spec.path("externalName"));
        record(src, r, "external_name", spec.path("externalName"), *node, name.has_value());
        svc.external_name = name.value_or("");
    }

    // clusterIP and clusterIPs (dual stack): the IPv4 entry is the VIP;
    // IPv6 entries of a dual-stack service are skipped.
    std::optional<std::string> cluster_ip_text;
    if (auto node = spec.get("clusterIP")) {
        cluster_ip_text = r.string(*node, spec.path("clusterIP"));
        record(src, r, "cluster_ip", spec.path("clusterIP"), *node, cluster_ip_text.has_value());
    }
    if (auto node = spec.get("clusterIPs"); node && r.expect_seq(*node, spec.path("clusterIPs"))) {
        for (size_t i = 0; i < node->size(); ++i) {
            std::string path = index_path(spec.path("clusterIPs"), i);
            auto text = r.string((*node)[i], path);
            if (!text) {
                continue;
            }
            if (i == 0 && cluster_ip_text && *text != *cluster_ip_text) {
                r.error((*node)[i], path, "must equal spec.clusterIP '" + *cluster_ip_text + "'");
            }
            if (i == 0 && !cluster_ip_text) {
                cluster_ip_text = text;
                record(src, r, "cluster_ip", path, (*node)[i]);
            }
        }
    }
    if (cluster_ip_text && *cluster_ip_text == "None") {
        svc.headless = true;
    } else if (cluster_ip_text && !cluster_ip_text->empty()) {
        const SourceRef& ref = src["cluster_ip"];
        if (auto ip = Ipv4::parse(*cluster_ip_text)) {
            svc.cluster_ip = ip;
        } else {
            std::string hint =
                cluster_ip_text->find(':') != std::string::npos ? " (IPv6 is not supported)" : "";
            r.error(ref.location, ref.path,
                    "invalid IPv4 address '" + *cluster_ip_text + "'" + hint);
            src["cluster_ip"].valid = false;
        }
    }

    if (auto node = spec.get("sessionAffinity")) {
        auto text = r.string(*node, spec.path("sessionAffinity"));
        bool ok = text && (*text == "None" || *text == "ClientIP");
        if (text && !ok) {
            r.error(*node, spec.path("sessionAffinity"),
                    "unknown sessionAffinity '" + *text + "' (None or ClientIP)");
        }
        if (ok) {
            svc.session_affinity =
                *text == "ClientIP" ? SessionAffinity::client_ip : SessionAffinity::none;
        }
        record(src, r, "session_affinity", spec.path("sessionAffinity"), *node, ok);
    }
    if (auto config = spec.get("sessionAffinityConfig");
        config && r.expect_map(*config, spec.path("sessionAffinityConfig"))) {
        Fields cf(r, *config, spec.path("sessionAffinityConfig"), {"clientIP"});
        if (auto client = cf.get("clientIP");
            client && r.expect_map(*client, cf.path("clientIP"))) {
            Fields cl(r, *client, cf.path("clientIP"), {"timeoutSeconds"});
            if (auto node = cl.get("timeoutSeconds")) {
                auto value = r.integer(*node, cl.path("timeoutSeconds"), 0, kU32Max);
                record(src, r, "session_affinity_timeout_s", cl.path("timeoutSeconds"), *node,
                       value.has_value());
                if (value) {
                    svc.session_affinity_timeout_s = static_cast<uint32_t>(*value);
                }
            }
        }
    }

    if (auto ports = spec.get("ports")) {
        record(src, r, "ports", spec.path("ports"), *ports, ports->IsSequence());
        if (r.expect_seq(*ports, spec.path("ports"))) {
            for (size_t j = 0; j < ports->size(); ++j) {
                const YAML::Node& item = (*ports)[j];
                std::string path = index_path(spec.path("ports"), j);
                std::string typed = index_path("ports", j);
                record(src, r, typed, path, item, item.IsMap());
                ServicePortConfig sp;
                if (r.expect_map(item, path)) {
                    Fields pf(r, item, path, {"name", "port", "targetPort", "protocol"},
                              {"appProtocol", "nodePort"});
                    if (auto node = pf.get("name")) {
                        auto name = r.string(*node, pf.path("name"));
                        record(src, r, key_path(typed, "name"), pf.path("name"), *node,
                               name.has_value());
                        sp.name = name.value_or("");
                    }
                    if (auto node = pf.get("port")) {
                        auto port = r.integer(*node, pf.path("port"), 1, kU16Max);
                        record(src, r, key_path(typed, "port"), pf.path("port"), *node,
                               port.has_value());
                        sp.port = static_cast<uint16_t>(port.value_or(0));
                    } else {
                        r.error(pf.location(), pf.path("port"), "missing required key 'port'");
                        record_at(src, key_path(typed, "port"), pf.path("port"), pf.location(),
                                  false);
                    }
                    if (auto node = pf.get("targetPort")) {
                        auto target = read_target_port(r, *node, pf.path("targetPort"));
                        record(src, r, key_path(typed, "target_port"), pf.path("targetPort"), *node,
                               target.has_value());
                        if (target) {
                            sp.target_port = target->number;
                            sp.target_port_name = target->name;
                        }
                    } else {
                        sp.target_port = sp.port;  // omitted = port
                        if (sp.port == 0) {
                            record_at(src, key_path(typed, "target_port"), pf.path("targetPort"),
                                      pf.location(), false);  // port already reported
                        }
                    }
                    if (auto node = pf.get("protocol")) {
                        auto protocol = read_protocol(r, *node, pf.path("protocol"));
                        record(src, r, key_path(typed, "protocol"), pf.path("protocol"), *node,
                               protocol.has_value());
                        sp.protocol = protocol.value_or(sp.protocol);
                    }
                }
                svc.ports.push_back(std::move(sp));
            }
        }
    }
    apply_health_annotations(r, annotations, annotations_path, svc);
    return svc;
}

std::optional<EndpointSliceConfig> KubernetesDocuments::decode_slice(const YAML::Node& doc,
                                                                     const std::string& prefix) {
    auto slice = read_slice(doc, prefix);
    if (!slice) {
        return std::nullopt;
    }
    return std::move(slice->config);
}

std::optional<KubernetesDocuments::Slice> KubernetesDocuments::read_slice(
    const YAML::Node& doc, const std::string& prefix) {
    Reader& r = _reader;
    Fields top(r, doc, prefix,
               {"apiVersion", "kind", "metadata", "addressType", "endpoints", "ports"});
    check_api_version(r, top, "discovery.k8s.io/v1");

    Slice slice;
    slice.path = prefix;
    slice.location = top.location();
    std::string ns(kDefaultNamespace);
    std::optional<std::string> service;
    if (auto metadata = top.get("metadata");
        metadata && r.expect_map(*metadata, top.path("metadata"))) {
        Fields meta(r, *metadata, top.path("metadata"), {"name", "namespace", "labels"},
                    concat(kIgnoredMetadata, {"generateName", "annotations"}));
        if (auto node = meta.get("namespace")) {
            ns = r.string(*node, meta.path("namespace")).value_or(ns);
        }
        if (auto node = meta.get("name")) {
            slice.config.name = r.string(*node, meta.path("name")).value_or("");
        }
        if (auto labels = meta.get("labels");
            labels && r.expect_map(*labels, meta.path("labels"))) {
            if (auto label = node_at(*labels, kServiceNameLabel)) {
                service = r.string(
                    *label, meta.path("labels") + "[" + std::string(kServiceNameLabel) + "]");
                slice.location = r.location(*label, slice.location);
            }
        }
        if (!service) {
            r.error(meta.location(), meta.path("labels"),
                    "missing label " + std::string(kServiceNameLabel) +
                        " (the Service this slice belongs to)");
        }
    } else if (!top.has("metadata")) {
        r.error(top.location(), top.path("metadata"), "missing metadata");
    }

    auto address_type = top.get("addressType");
    std::optional<std::string> type;
    if (address_type) {
        type = r.string(*address_type, top.path("addressType"));
    } else {
        r.error(top.location(), top.path("addressType"), "missing addressType");
    }
    if (type && (*type == "IPv6" || *type == "FQDN")) {
        // Nothing we can forward to; Kubernetes mirrors these per family.
        slice.forwardable = false;
        if (service) {
            slice.config.ns = ns;
            slice.config.service = *service;
            return slice;
        }
        return std::nullopt;
    }
    if (type && *type != "IPv4") {
        r.error(*address_type, top.path("addressType"),
                "unknown addressType '" + *type + "' (IPv4, IPv6 or FQDN)");
    }

    // The slice's ports name the *service* ports and give each endpoint's
    // resolved target port (a named targetPort is resolved per pod).
    std::vector<EndpointPort> named_ports;
    if (auto ports = top.get("ports"); ports && r.expect_seq(*ports, top.path("ports"))) {
        for (size_t i = 0; i < ports->size(); ++i) {
            std::string path = index_path(top.path("ports"), i);
            if (!r.expect_map((*ports)[i], path)) {
                continue;
            }
            Fields pf(r, (*ports)[i], path, {"name", "port", "protocol"}, {"appProtocol"});
            std::string name;
            if (auto node = pf.get("name")) {
                name = r.string(*node, pf.path("name")).value_or("");
            }
            if (auto node = pf.get("protocol")) {
                (void)read_protocol(r, *node, pf.path("protocol"));
            }
            // A null port means "all ports" in the API; nothing to resolve then.
            if (auto node = pf.get("port")) {
                if (auto port = r.integer(*node, pf.path("port"), 1, kU16Max)) {
                    named_ports.push_back(EndpointPort{name, static_cast<uint16_t>(*port)});
                }
            }
        }
    }

    if (auto endpoints = top.get("endpoints");
        endpoints && r.expect_seq(*endpoints, top.path("endpoints"))) {
        for (size_t i = 0; i < endpoints->size(); ++i) {
            const YAML::Node& item = (*endpoints)[i];
            std::string path = index_path(top.path("endpoints"), i);
            if (!r.expect_map(item, path)) {
                continue;
            }
            EndpointConfig endpoint;
            std::vector<std::pair<std::string, SourceRef>> source;
            source.emplace_back("", SourceRef{path, r.location(item), true});
            Fields ef(r, item, path, {"addresses", "conditions", "hostname", "nodeName", "zone"},
                      {"targetRef", "hints", "deprecatedTopology"});
            auto addresses = ef.get("addresses");
            if (!addresses) {
                r.error(ef.location(), ef.path("addresses"), "missing addresses");
                continue;
            }
            if (!r.expect_seq(*addresses, ef.path("addresses"))) {
                continue;
            }
            if (addresses->size() == 0) {
                r.error(*addresses, ef.path("addresses"), "must hold at least one address");
                continue;
            }
            // The addresses of one endpoint are fungible (same pod); the API
            // says consumers may use the first one only.
            std::optional<Ipv4> ip;
            for (size_t a = 0; a < addresses->size(); ++a) {
                auto parsed = r.ipv4((*addresses)[a], index_path(ef.path("addresses"), a));
                if (a == 0) {
                    ip = parsed;
                    source.emplace_back("ip",
                                        SourceRef{index_path(ef.path("addresses"), 0),
                                                  r.location((*addresses)[0]), parsed.has_value()});
                }
            }
            if (!ip) {
                continue;
            }
            endpoint.ip = *ip;
            for (auto [key, typed, target] :
                 {std::tuple{"hostname", "hostname", &endpoint.hostname},
                  {"nodeName", "node_name", &endpoint.node_name},
                  {"zone", "zone", &endpoint.zone}}) {
                if (auto node = ef.get(key)) {
                    auto text = r.string(*node, ef.path(key));
                    source.emplace_back(
                        typed, SourceRef{ef.path(key), r.location(*node), text.has_value()});
                    *target = text.value_or("");
                }
            }
            // Conditions left out keep EndpointConfig's defaults (Kubernetes' rule).
            if (auto conditions = ef.get("conditions");
                conditions && r.expect_map(*conditions, ef.path("conditions"))) {
                Fields cf(r, *conditions, ef.path("conditions"),
                          {"ready", "serving", "terminating"});
                for (auto [key, target] : {std::pair{"ready", &endpoint.ready},
                                           {"serving", &endpoint.serving},
                                           {"terminating", &endpoint.terminating}}) {
                    if (auto node = cf.get(key)) {
                        *target = r.boolean(*node, cf.path(key)).value_or(*target);
                    }
                }
            }
            endpoint.ports = named_ports;
            slice.config.endpoints.push_back(std::move(endpoint));
            slice.sources.push_back(std::move(source));
        }
    }
    if (!service) {
        return std::nullopt;
    }
    slice.config.ns = ns;
    slice.config.service = *service;
    return slice;
}

std::vector<ServiceConfig> KubernetesDocuments::finish(std::vector<ServiceConfig> services) {
    for (ServiceConfig& svc : _services) {
        services.push_back(std::move(svc));
    }
    _services.clear();
    std::map<std::string, size_t> by_key;
    for (size_t i = 0; i < services.size(); ++i) {
        by_key.emplace(services[i].key(), i);  // the first wins; duplicates are reported later
    }
    // Slices by service, in input order; then each service's endpoints are
    // the merge of its slices (merge_slices), with where each was written.
    std::map<size_t, std::vector<const Slice*>> by_service;
    for (const Slice& slice : _slices) {
        auto it = by_key.find(slice.config.service_key());
        if (it == by_key.end()) {
            _reader.error(slice.location, key_path(slice.path, "metadata.labels"),
                          "service '" + slice.config.service_key() +
                              "' of this EndpointSlice is not in the input");
            continue;
        }
        by_service[it->second].push_back(&slice);
    }
    for (const auto& [index, slices] : by_service) {
        ServiceConfig& svc = services[index];
        std::vector<const EndpointSliceConfig*> configs;
        // Per IP, the places it was written, in input order.
        std::map<Ipv4, std::deque<const std::vector<std::pair<std::string, SourceRef>>*>> sources;
        for (const Slice* slice : slices) {
            configs.push_back(&slice->config);
            for (size_t i = 0; i < slice->config.endpoints.size(); ++i) {
                sources[slice->config.endpoints[i].ip].push_back(&slice->sources[i]);
            }
        }
        for (EndpointConfig& ep : merge_slices(configs)) {
            std::string typed = index_path("endpoints", svc.endpoints.size());
            if (auto src = sources.find(ep.ip); src != sources.end() && !src->second.empty()) {
                for (const auto& [suffix, ref] : *src->second.front()) {
                    svc.locations[suffix.empty() ? typed : key_path(typed, suffix)] = ref;
                }
                src->second.pop_front();
            }
            svc.endpoints.push_back(std::move(ep));
        }
    }
    _slices.clear();
    return services;
}

}  // namespace svcgw::config_detail

namespace svcgw {

namespace {

// The object's kubectl-style name for error paths ("Service/ns/name").
std::string object_prefix(const YAML::Node& object, std::string_view kind) {
    std::string name, ns;
    if (object.IsMap() && object["metadata"] && object["metadata"].IsMap()) {
        const YAML::Node meta = object["metadata"];
        if (meta["name"] && meta["name"].IsScalar()) {
            name = meta["name"].Scalar();
        }
        if (meta["namespace"] && meta["namespace"].IsScalar()) {
            ns = meta["namespace"].Scalar();
        }
    }
    return std::string(kind) + "/" + (ns.empty() ? "default" : ns) + "/" + name;
}

}  // namespace

Result<ServiceConfig, Errors> service_from_manifest(const YAML::Node& object,
                                                    const std::string& source) {
    config_detail::Reader reader(source);
    config_detail::KubernetesDocuments docs(reader);
    ServiceConfig svc;
    try {
        if (reader.expect_map(object, "Service")) {
            svc = docs.decode_service(object, object_prefix(object, "Service"));
        }
    } catch (const YAML::Exception& e) {
        reader.error(reader.location(e.mark), "", "YAML error: " + e.msg);
    }
    if (reader.has_errors()) {
        return Unexpected<Errors>{reader.take_errors()};
    }
    return svc;
}

Result<EndpointSliceConfig, Errors> slice_from_manifest(const YAML::Node& object,
                                                        const std::string& source) {
    config_detail::Reader reader(source);
    config_detail::KubernetesDocuments docs(reader);
    std::optional<EndpointSliceConfig> slice;
    try {
        if (reader.expect_map(object, "EndpointSlice")) {
            slice = docs.decode_slice(object, object_prefix(object, "EndpointSlice"));
        }
    } catch (const YAML::Exception& e) {
        reader.error(reader.location(e.mark), "", "YAML error: " + e.msg);
    }
    if (reader.has_errors()) {
        return Unexpected<Errors>{reader.take_errors()};
    }
    if (!slice) {
        return Unexpected<Errors>{
            Errors{Error{object_prefix(object, "EndpointSlice"), "not an EndpointSlice", {}}}};
    }
    return std::move(*slice);
}

std::vector<EndpointConfig> merge_slices(std::span<const EndpointSliceConfig* const> slices) {
    std::vector<EndpointConfig> endpoints;
    for (const EndpointSliceConfig* slice : slices) {
        endpoints.insert(endpoints.end(), slice->endpoints.begin(), slice->endpoints.end());
    }
    return endpoints;
}

}  // namespace svcgw
