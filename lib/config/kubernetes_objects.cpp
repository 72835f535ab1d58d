// One Kubernetes object decoded: a v1 Service or a discovery.k8s.io/v1
// EndpointSlice, as `kubectl get -o yaml` prints them. Fields the API
// server adds on export are accepted and ignored. Fields that change
// behaviour svcgw does not implement are never dropped silently: either a
// warning on the object (served without them, as kube-proxy serves a
// LoadBalancer's ClusterIP), or an error (the object is left out). Display
// paths are "Kind/namespace/name.field.path" (kubectl's field paths).
#include <limits>

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

// Service spec fields about traffic from outside the cluster that svcgw
// serves (read by read_load_balancer). loadBalancerClass says
// which load balancer serves it: a manifest given to svcgw is served.
const std::vector<std::string_view> kLoadBalancerSpec = {
    "externalIPs", "loadBalancerIP", "loadBalancerSourceRanges", "externalTrafficPolicy"};
// ...and the ones it does not (kube-proxy's health checks and node ports
// of the cluster): each one present is named in the object's warning.
const std::vector<std::string_view> kExternalServiceSpec = {"healthCheckNodePort",
                                                            "allocateLoadBalancerNodePorts"};

// `from_collection`: the collection's kind names the apiVersion (ApiObject).
void check_api_version(Reader& r, const Fields& f, std::string_view expected,
                       bool from_collection) {
    auto node = f.get("apiVersion");
    if (!node && from_collection) {
        return;
    }
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

void warn(Errors& warnings, const Reader& r, const ConfigNode& node, std::string path,
          std::string message) {
    warnings.push_back(Error{std::move(path), std::move(message), r.location(node)});
}

// A scalar or a sequence of scalars as written ("1.2.3.4, 5.6.7.8").
std::string scalars(const ConfigNode& node) {
    if (node.IsScalar()) {
        return node.Scalar();
    }
    std::string out;
    if (node.IsSequence()) {
        for (size_t i = 0; i < node.size(); ++i) {
            if (const ConfigNode item = node[i]; item.IsScalar()) {
                out += (out.empty() ? "" : ", ") + item.Scalar();
            }
        }
    }
    return out;
}

// clusterIP / clusterIPs: the IPv4 entry is the VIP. A dual-stack Service
// is served on its IPv4 ClusterIP (also when IPv6 is its primary family),
// with a warning for the IPv6 one; an IPv6-only Service is an error.
// Returns whether the IPv6 family was warned about.
bool read_cluster_ips(Reader& r, const Fields& spec, ServiceConfig& svc) {
    SourceMap& src = svc.locations;
    struct Written {
        std::string text;
        ConfigNode node;
        std::string path;
    };
    std::optional<Written> primary;
    if (auto node = spec.get("clusterIP")) {
        if (auto text = r.string(*node, spec.path("clusterIP"))) {
            primary = Written{*text, *node, spec.path("clusterIP")};
        }
        record(src, r, "cluster_ip", spec.path("clusterIP"), *node, primary.has_value());
    }
    std::vector<Written> all;  // clusterIPs, as written
    if (auto node = spec.get("clusterIPs"); node && r.expect_seq(*node, spec.path("clusterIPs"))) {
        for (size_t i = 0; i < node->size(); ++i) {
            std::string path = index_path(spec.path("clusterIPs"), i);
            auto text = r.string((*node)[i], path);
            if (!text) {
                continue;
            }
            if (i == 0 && primary && *text != primary->text) {
                r.error((*node)[i], path, "must equal spec.clusterIP '" + primary->text + "'");
            }
            all.push_back(Written{*text, (*node)[i], path});
            if (i == 0 && !primary) {
                primary = all.back();
                record(src, r, "cluster_ip", path, (*node)[i]);
            }
        }
    }
    if (!primary || primary->text.empty()) {
        return false;  // allocated
    }
    if (primary->text == "None") {
        svc.headless = true;
        return false;
    }
    if (all.empty()) {
        all.push_back(*primary);
    }
    const Written* v4 = nullptr;
    std::string v6;
    for (const Written& w : all) {
        if (!v4 && Ipv4::parse(w.text)) {
            v4 = &w;
        } else if (w.text.find(':') != std::string::npos) {
            v6 += (v6.empty() ? "" : ", ") + w.text;
        }
    }
    if (v4 == nullptr) {
        const bool v6_only = primary->text.find(':') != std::string::npos;
        r.error(primary->node, primary->path,
                "invalid IPv4 address '" + primary->text + "'" +
                    (v6_only ? " (IPv6 single-stack: svcgw serves IPv4)" : ""));
        src["cluster_ip"].valid = false;
        return false;
    }
    svc.cluster_ip = Ipv4::parse(v4->text);
    if (v4->text != primary->text) {
        record(src, r, "cluster_ip", v4->path, v4->node);  // IPv6-primary dual stack
    }
    if (v6.empty()) {
        return false;
    }
    warn(svc.warnings, r, primary->node, primary->path,
         "the IPv6 family (" + v6 + ") is not served: svcgw serves the IPv4 ClusterIP " + v4->text);
    return true;
}

void read_session_affinity(Reader& r, const Fields& spec, ServiceConfig& svc) {
    SourceMap& src = svc.locations;
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
    auto config = spec.get("sessionAffinityConfig");
    if (!config || !r.expect_map(*config, spec.path("sessionAffinityConfig"))) {
        return;
    }
    auto affinity = src.find("session_affinity");
    if (svc.session_affinity != SessionAffinity::client_ip &&
        (affinity == src.end() || affinity->second.valid)) {
        // The API server's rule (ValidateService): a timeout without ClientIP
        // affinity is a mistake, not something to ignore.
        r.error(spec.key_location("sessionAffinityConfig"), spec.path("sessionAffinityConfig"),
                "must not be set when sessionAffinity is None");
        return;
    }
    Fields cf(r, *config, spec.path("sessionAffinityConfig"), {"clientIP"});
    if (auto client = cf.get("clientIP"); client && r.expect_map(*client, cf.path("clientIP"))) {
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

// spec.ports.
void read_service_ports(Reader& r, const Fields& spec, ServiceConfig& svc) {
    SourceMap& src = svc.locations;
    auto ports = spec.get("ports");
    if (!ports) {
        return;
    }
    record(src, r, "ports", spec.path("ports"), *ports, ports->IsSequence());
    if (!r.expect_seq(*ports, spec.path("ports"))) {
        return;
    }
    for (size_t j = 0; j < ports->size(); ++j) {
        const ConfigNode& item = (*ports)[j];
        std::string path = index_path(spec.path("ports"), j);
        std::string typed = index_path("ports", j);
        record(src, r, typed, path, item, item.IsMap());
        ServicePortConfig sp;
        if (!r.expect_map(item, path)) {
            svc.ports.push_back(std::move(sp));
            continue;
        }
        Fields pf(r, item, path, {"name", "port", "targetPort", "protocol", "nodePort"},
                  {"appProtocol"});
        if (auto node = pf.get("name")) {
            auto name = r.string(*node, pf.path("name"));
            record(src, r, key_path(typed, "name"), pf.path("name"), *node, name.has_value());
            sp.name = name.value_or("");
        }
        if (auto node = pf.get("port")) {
            auto port = r.integer(*node, pf.path("port"), 1, kU16Max);
            record(src, r, key_path(typed, "port"), pf.path("port"), *node, port.has_value());
            sp.port = static_cast<uint16_t>(port.value_or(0));
        } else {
            r.error(pf.location(), pf.path("port"), "missing required key 'port'");
            record_at(src, key_path(typed, "port"), pf.path("port"), pf.location(), false);
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
                record_at(src, key_path(typed, "target_port"), pf.path("targetPort"), pf.location(),
                          false);  // port already reported
            }
        }
        if (auto node = pf.get("protocol")) {
            auto protocol = read_protocol(r, *node, pf.path("protocol"));
            record(src, r, key_path(typed, "protocol"), pf.path("protocol"), *node,
                   protocol.has_value());
            sp.protocol = protocol.value_or(sp.protocol);
        }
        if (auto node = pf.get("nodePort")) {  // kept for NodePort backends
            auto port = r.integer(*node, pf.path("nodePort"), 1, kU16Max);
            record(src, r, key_path(typed, "node_port"), pf.path("nodePort"), *node,
                   port.has_value());
            sp.node_port = static_cast<uint16_t>(port.value_or(0));
        }
        svc.ports.push_back(std::move(sp));
    }
}

}  // namespace

ServiceConfig KubernetesDocuments::decode_service(const ConfigNode& doc,
                                                  const std::string& prefix) {
    Reader& r = _reader;
    ServiceConfig svc;
    svc.kubernetes_object = true;
    SourceMap& src = svc.locations;
    record(src, r, "", prefix, doc);
    Fields top(r, doc, prefix, {"apiVersion", "kind", "metadata", "spec", "status"});
    check_api_version(r, top, "v1", _api.from_collection);

    ConfigNode annotations;  // svcgw.io/health-check-*, applied once the ports are read
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
    // selector: the endpoints come from the slices (kube-proxy reads no
    // selector either); publishNotReadyAddresses: the slices say ready.
    Fields spec(r, *spec_node, top.path("spec"),
                concat({"type", "clusterIP", "clusterIPs", "externalName", "ports",
                        "sessionAffinity", "sessionAffinityConfig", "internalTrafficPolicy",
                        "trafficDistribution", "ipFamilies"},
                       concat(kLoadBalancerSpec, kExternalServiceSpec)),
                {"selector", "ipFamilyPolicy", "publishNotReadyAddresses", "loadBalancerClass"});
    read_load_balancer(spec, top, svc);
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
    const bool v6_warned = read_cluster_ips(r, spec, svc);
    read_session_affinity(r, spec, svc);
    read_service_ports(r, spec, svc);

    // What svcgw serves of the rest: the ClusterIP part, as kube-proxy does
    // for every type; each unserved field is named.
    if (auto node = spec.get("internalTrafficPolicy"); node && node->IsScalar()) {
        if (node->Scalar() == "Local") {
            warn(svc.warnings, r, *node, spec.path("internalTrafficPolicy"),
                 "internalTrafficPolicy Local is not honoured: svcgw is not on a node, every "
                 "endpoint gets traffic (as with Cluster)");
        }
    }
    if (auto node = spec.get("trafficDistribution")) {
        warn(svc.warnings, r, *node, spec.path("trafficDistribution"),
             "trafficDistribution " + scalars(*node) +
                 " is not honoured: every endpoint gets traffic, whatever its zone");
    }
    if (auto node = spec.get("ipFamilies"); node && node->IsSequence() && !v6_warned) {
        for (size_t i = 0; i < node->size(); ++i) {
            if (const ConfigNode family = (*node)[i];
                family.IsScalar() && family.Scalar() == "IPv6") {
                warn(svc.warnings, r, family, spec.path("ipFamilies"),
                     "the IPv6 family is not served: svcgw serves IPv4");
                break;
            }
        }
    }
    std::string unserved;
    for (std::string_view key : kExternalServiceSpec) {
        if (auto node = spec.get(key)) {
            std::string value = scalars(*node);
            unserved += (unserved.empty() ? "" : "; ") + std::string(key) +
                        (value.empty() ? "" : " " + value);
        }
    }
    if (!unserved.empty()) {
        warn(svc.warnings, r, *spec_node, spec.path(), "not honoured: " + unserved);
    }
    apply_health_annotations(r, annotations, annotations_path, svc, _api.consumed_annotations);
    return svc;
}

void KubernetesDocuments::read_load_balancer(const Fields& spec, const Fields& top,
                                             ServiceConfig& svc) {
    Reader& r = _reader;
    SourceMap& src = svc.locations;
    if (auto node = spec.get("externalIPs")) {
        svc.external_ips = read_ipv4_list(r, *node, spec.path("externalIPs"), src, "external_ips");
    }
    if (auto node = spec.get("loadBalancerSourceRanges")) {
        svc.source_ranges = read_source_ranges(r, *node, spec.path("loadBalancerSourceRanges"), src,
                                               "source_ranges");
    }
    if (auto node = spec.get("externalTrafficPolicy")) {
        auto policy = read_traffic_policy(r, *node, spec.path("externalTrafficPolicy"));
        record(src, r, "external_traffic_policy", spec.path("externalTrafficPolicy"), *node,
               policy.has_value());
        svc.external_traffic_policy = policy.value_or(svc.external_traffic_policy);
    }
    // The VIP: the one asked for (spec.loadBalancerIP), else the ones the
    // load balancer reported (status), so a Service keeps its address
    // across restarts and moves between implementations with it.
    if (auto node = spec.get("loadBalancerIP")) {
        auto text = r.string(*node, spec.path("loadBalancerIP"));
        if (text && !text->empty()) {
            auto ip = r.ipv4(*node, spec.path("loadBalancerIP"));
            record(src, r, "load_balancer_ips[0]", spec.path("loadBalancerIP"), *node,
                   ip.has_value());
            if (ip) {
                svc.load_balancer_ips.push_back(*ip);
            }
            return;
        }
    }
    auto status = top.get("status");
    if (!status || !r.expect_map(*status, top.path("status"))) {
        return;
    }
    Fields st(r, *status, top.path("status"), {"loadBalancer"}, {"conditions"});
    auto lb = st.get("loadBalancer");
    if (!lb || !r.expect_map(*lb, st.path("loadBalancer"))) {
        return;
    }
    Fields lf(r, *lb, st.path("loadBalancer"), {"ingress"});
    auto ingress = lf.get("ingress");
    if (!ingress || !r.expect_seq(*ingress, lf.path("ingress"))) {
        return;
    }
    for (size_t i = 0; i < ingress->size(); ++i) {
        std::string path = index_path(lf.path("ingress"), i);
        if (!r.expect_map((*ingress)[i], path)) {
            continue;
        }
        Fields entry(r, (*ingress)[i], path, {"ip"}, {"hostname", "ipMode", "ports"});
        auto node = entry.get("ip");
        auto text = node ? r.string(*node, entry.path("ip")) : std::nullopt;
        if (!text || text->find(':') != std::string::npos) {
            continue;  // a hostname-only entry (cloud LBs), or IPv6: nothing to serve here
        }
        auto ip = r.ipv4(*node, entry.path("ip"));
        record(src, r, index_path("load_balancer_ips", svc.load_balancer_ips.size()),
               entry.path("ip"), *node, ip.has_value());
        if (ip) {
            svc.load_balancer_ips.push_back(*ip);
        }
    }
}

std::optional<EndpointSliceConfig> KubernetesDocuments::decode_slice(const ConfigNode& doc,
                                                                     const std::string& prefix) {
    Reader& r = _reader;
    EndpointSliceConfig slice;
    record(slice.locations, r, "", prefix, doc);
    Fields top(r, doc, prefix,
               {"apiVersion", "kind", "metadata", "addressType", "endpoints", "ports"});
    check_api_version(r, top, "discovery.k8s.io/v1", _api.from_collection);

    std::optional<std::string> service;
    if (auto metadata = top.get("metadata");
        metadata && r.expect_map(*metadata, top.path("metadata"))) {
        Fields meta(r, *metadata, top.path("metadata"), {"name", "namespace", "labels"},
                    concat(kIgnoredMetadata, {"generateName", "annotations"}));
        if (auto node = meta.get("namespace")) {
            slice.ns = r.string(*node, meta.path("namespace")).value_or(slice.ns);
        }
        if (auto node = meta.get("name")) {
            slice.name = r.string(*node, meta.path("name")).value_or("");
        } else {
            r.error(meta.location(), meta.path("name"), "missing metadata.name");
        }
        if (auto labels = meta.get("labels");
            labels && r.expect_map(*labels, meta.path("labels"))) {
            if (auto label = node_at(*labels, kServiceNameLabel)) {
                service = r.string(
                    *label, meta.path("labels") + "[" + std::string(kServiceNameLabel) + "]");
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
    const bool ipv4 = type && *type == "IPv4";
    if (type && (*type == "IPv6" || *type == "FQDN")) {
        // Kubernetes mirrors endpoints per family; the IPv4 slice is served.
        warn(slice.warnings, r, *address_type, top.path("addressType"),
             "addressType " + *type + " is not served: svcgw forwards to IPv4 endpoints");
    } else if (type && !ipv4) {
        r.error(*address_type, top.path("addressType"),
                "unknown addressType '" + *type + "' (IPv4, IPv6 or FQDN)");
    }

    // The slice's ports name the *service* ports and give each endpoint's
    // port for them (a named targetPort is resolved per pod).
    std::vector<EndpointPort> ports;
    if (auto list = top.get("ports"); ipv4 && list && r.expect_seq(*list, top.path("ports"))) {
        for (size_t i = 0; i < list->size(); ++i) {
            std::string path = index_path(top.path("ports"), i);
            if (!r.expect_map((*list)[i], path)) {
                continue;
            }
            Fields pf(r, (*list)[i], path, {"name", "port", "protocol"}, {"appProtocol"});
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
                    ports.push_back(EndpointPort{name, static_cast<uint16_t>(*port)});
                }
            }
        }
    }

    auto endpoints = top.get("endpoints");
    if (ipv4 && endpoints && r.expect_seq(*endpoints, top.path("endpoints"))) {
        bool hinted = false;
        for (size_t i = 0; i < endpoints->size(); ++i) {
            const ConfigNode& item = (*endpoints)[i];
            std::string path = index_path(top.path("endpoints"), i);
            const std::string typed = index_path("endpoints", slice.endpoints.size());
            if (!r.expect_map(item, path)) {
                continue;
            }
            Fields ef(r, item, path,
                      {"addresses", "conditions", "hostname", "nodeName", "zone", "hints"},
                      {"targetRef", "deprecatedTopology"});
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
            EndpointConfig endpoint;
            std::optional<Ipv4> ip;
            for (size_t a = 0; a < addresses->size(); ++a) {
                auto parsed = r.ipv4((*addresses)[a], index_path(ef.path("addresses"), a));
                if (a == 0) {
                    ip = parsed;
                }
            }
            if (!ip) {
                continue;
            }
            endpoint.ip = *ip;
            record(slice.locations, r, typed, path, item);
            record(slice.locations, r, key_path(typed, "ip"), index_path(ef.path("addresses"), 0),
                   (*addresses)[0]);
            for (auto [key, typed_key, target] :
                 {std::tuple{"hostname", "hostname", &endpoint.hostname},
                  {"nodeName", "node_name", &endpoint.node_name},
                  {"zone", "zone", &endpoint.zone}}) {
                if (auto node = ef.get(key)) {
                    auto text = r.string(*node, ef.path(key));
                    record(slice.locations, r, key_path(typed, typed_key), ef.path(key), *node,
                           text.has_value());
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
            if (auto hints = ef.get("hints"); hints && !hinted) {
                hinted = true;
                warn(slice.warnings, r, *hints, ef.path("hints"),
                     "topology hints (hints.forZones) are not honoured: every endpoint gets "
                     "traffic, whatever its zone");
            }
            // Problems of the endpoint alone (a link-local address, a bad
            // hostname): the slice is left out, not its Service.
            for (const auto& [field, message] : endpoint_problems(endpoint)) {
                auto ref = slice.locations.find(key_path(typed, field));
                if (ref == slice.locations.end()) {
                    r.error(item, path, message);
                } else {
                    r.error(ref->second.location, ref->second.path, message);
                }
            }
            endpoint.ports = ports;
            slice.endpoints.push_back(std::move(endpoint));
        }
        if (ports.empty() && !slice.endpoints.empty()) {
            warn(slice.warnings, r, top.get("ports").value_or(doc), top.path("ports"),
                 "lists no ports: kube-proxy sends its endpoints nothing; svcgw sends them each "
                 "service port's numeric targetPort");
        }
    }
    if (!service) {
        return std::nullopt;
    }
    slice.service = *service;
    return slice;
}

}  // namespace svcgw::config_detail
