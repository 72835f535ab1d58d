// The objects svcgw watches, decoded from the API's JSON: v1 Service and
// discovery.k8s.io/v1 EndpointSlice through lib/config's manifest rules (one
// copy of every field rule for files, apply and the watch), v1 Node directly
// (only its name, InternalIP and Ready condition matter). Watch events and
// list bodies are parsed here too (simdjson). Pure C++, no I/O.
//
// A bad object does not fail its list or stream: it decodes to an Object
// with `errors` set, which the feed reports and skips.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/net.hpp"
#include "common/result.hpp"
#include "config/config.hpp"
#include "config/manifest.hpp"

namespace svcgw::kube {

enum class Kind { service, endpoint_slice, node };
std::string_view kind_name(Kind kind);  // "Service", "EndpointSlice", "Node"

// The Service label kube-proxy honours: a Service carrying it belongs to
// the proxy it names (kube-proxy skips every labelled Service).
constexpr std::string_view kServiceProxyNameLabel = "service.kubernetes.io/service-proxy-name";

// Per Service, "pods" | "nodeport" (BackendMode, kube/node_backends.hpp):
// overrides kubernetes.backends.
constexpr std::string_view kBackendsAnnotation = "svcgw.io/backends";

// What decides whether and how svcgw serves a Service, beside its decoded config.
struct ServiceMeta {
    std::string type;  // spec.type as written ("ClusterIP" when unset)
    std::string load_balancer_class;
    std::optional<std::string> proxy_name;  // the label, when present
    std::vector<Ipv4> status_ips;           // status.loadBalancer.ingress[].ip
    std::optional<BackendMode> backends;    // the annotation, when present
    bool operator==(const ServiceMeta&) const = default;
};

struct WatchedService {
    ServiceMeta meta;
    ServiceConfig config;  // endpoints empty: they come from the slices
    bool operator==(const WatchedService& o) const { return meta == o.meta && config == o.config; }
};

struct NodeInfo {
    std::string name;
    std::optional<Ipv4> internal_ip;
    bool ready = false;
    bool unschedulable = false;
    bool operator==(const NodeInfo&) const = default;
};

struct Object {
    Kind kind = Kind::service;
    std::string key;  // "ns/name"; nodes: "name"
    std::string resource_version;
    std::variant<std::monostate, WatchedService, EndpointSliceConfig, NodeInfo> value;
    Errors errors;  // set: the object could not be decoded (value is monostate)

    bool ok() const { return errors.empty(); }
    bool same_value(const Object& other) const { return value == other.value; }
};

// `json` is one item (list items carry no kind/apiVersion: `kind` says it).
Object decode_object(Kind kind, const nlohmann::json& json);

struct WatchEvent {
    enum class Type { added, modified, deleted, bookmark, error };
    Type type = Type::error;
    Object object;                 // added, modified, deleted
    std::string resource_version;  // of the object or the bookmark
    int code = 0;                  // error: the Status code (410 = too old: relist)
    std::string message;           // error: the Status message
};
// One line of a watch stream (one JSON object).
Result<WatchEvent> parse_watch_event(Kind kind, std::string_view line);

struct ListPage {
    std::vector<Object> items;
    std::string resource_version;
    std::string continue_token;
};
Result<ListPage> parse_list(Kind kind, std::string_view body);

// The Status of an error reply ("message" and "code"), or the raw body.
std::string status_message(std::string_view body);

}  // namespace svcgw::kube
