// Internal to lib/config: the parsers of the native format and of Kubernetes
// manifests, shared by parse_config and parse_services. Syntax and types only;
// semantics live in validate.cpp.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/endpoint_slices.hpp"
#include "config/manifest.hpp"
#include "config/reader.hpp"
#include "config/rules.hpp"

namespace svcgw::config_detail {

// Shared field readers (native and Kubernetes spell the values alike).
std::optional<Protocol> read_protocol(Reader& reader, const ConfigNode& node,
                                      const std::string& path);
// "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName".
std::optional<ServiceType> read_service_type(Reader& reader, const ConfigNode& node,
                                             const std::string& path);
// "Cluster" | "Local".
std::optional<TrafficPolicy> read_traffic_policy(Reader& reader, const ConfigNode& node,
                                                 const std::string& path);
// Address lists (load-balancer IPs, external IPs, source ranges, pools):
// each item recorded as `typed`[i]. Source ranges keep their network part
// (Kubernetes accepts host bits there).
std::vector<Ipv4> read_ipv4_list(Reader& reader, const ConfigNode& seq, const std::string& path,
                                 SourceMap& source, const std::string& typed);
std::vector<Ipv4Prefix> read_source_ranges(Reader& reader, const ConfigNode& seq,
                                           const std::string& path, SourceMap& source,
                                           const std::string& typed);
// A targetPort: an integer, or a string naming a port (Kubernetes IntOrString).
struct TargetPort {
    uint16_t number = 0;
    std::string name;
};
std::optional<TargetPort> read_target_port(Reader& reader, const ConfigNode& node,
                                           const std::string& path);

// One native endpoint mapping at `path`; where its fields were written goes
// to `source` under the typed prefix `typed` ("endpoints[2]").
EndpointSpec parse_native_endpoint(Reader& reader, const ConfigNode& node, const std::string& path,
                                   SourceMap& source, const std::string& typed);
// Health checks (health.cpp), one reader for both sources. A native
// `health_check` mapping of a service port (typed prefix "ports[1].health_check").
HealthCheckConfig parse_native_health_check(Reader& reader, const ConfigNode& node,
                                            const std::string& path, SourceMap& source,
                                            const std::string& typed);
// A service port's `all_down`: "fail_open" | "reject".
std::optional<AllDownPolicy> read_all_down(Reader& reader, const ConfigNode& node,
                                           const std::string& path);
// A Service's `svcgw.io/health-check-*` annotations (`annotations` may be any
// node; non-maps are ignored), applied to every port of `svc`.
// `consumed`: svcgw.io/ annotations read elsewhere (ApiObject), not refused.
void apply_health_annotations(Reader& reader, const ConfigNode& annotations,
                              const std::string& path, ServiceConfig& svc,
                              const std::vector<std::string_view>& consumed = {});

// A native config document (no `kind`), services included.
Config parse_native_config(Reader& reader, const ConfigNode& doc);
// A native `services:` sequence; `path` is where it sits ("services").
std::vector<ServiceConfig> parse_native_services(Reader& reader, const ConfigNode& seq,
                                                 const std::string& path);

// Lookups in a mapping without yaml-cpp's throwing operator[].
std::optional<std::string> scalar_at(const ConfigNode& map, std::string_view key);
std::optional<ConfigNode> node_at(const ConfigNode& map, std::string_view key);
// A Kubernetes object's name for error paths, as kubectl prints it:
// "Kind/ns/name" (object_name), the namespace "default" when unset.
std::string object_prefix(const ConfigNode& object, std::string_view kind);

// Collects Kubernetes documents (v1 Service, discovery.k8s.io/v1
// EndpointSlice, v1 List of those). Each object is decoded on its own: one
// with errors is left out (ServiceSet::skipped) and fails nothing else.
class KubernetesDocuments {
public:
    explicit KubernetesDocuments(Reader& reader, ApiObject api = {})
        : _reader(reader), _api(std::move(api)) {}

    void add(const ConfigNode& doc, size_t doc_index);
    // One object decoded alone (the watch feed): errors go to the reader.
    ServiceConfig decode_service(const ConfigNode& doc, const std::string& prefix);
    std::optional<EndpointSliceConfig> decode_slice(const ConfigNode& doc,
                                                    const std::string& prefix);
    // `services` (native ones from the same stream) followed by the
    // Kubernetes Services; the slices and the skipped objects.
    ServiceSet finish(std::vector<ServiceConfig> services);

private:
    void add_object(const ConfigNode& doc, const std::string& fallback_path, bool in_list);
    // spec.loadBalancerIP / status ingress, externalIPs, source ranges, policy.
    void read_load_balancer(const Fields& spec, const Fields& top, ServiceConfig& svc);

    Reader& _reader;
    ApiObject _api;
    std::vector<ServiceConfig> _services;
    std::vector<EndpointSliceConfig> _slices;
    std::vector<SkippedObject> _skipped;
};

}  // namespace svcgw::config_detail
