// Shared by the feed's unit tests (test_kube, test_kube_lb): API objects as
// the API server sends them, deltas as the reflectors deliver them, and a
// publisher that records what ControlState publishes.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "control/state.hpp"
#include "kube/cluster_model.hpp"
#include "kube/objects.hpp"
#include "kube/reflector.hpp"

namespace svcgw::kube {

using json = nlohmann::json;

inline json service_json(const std::string& name, const std::string& ip,
                         const std::string& type = "", const std::string& lb_class = "") {
    json s = {{"metadata", {{"name", name}, {"namespace", "default"}, {"resourceVersion", "7"}}},
              {"spec",
               {{"clusterIP", ip},
                {"ports", json::array({{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}})}}},
              {"status", {{"loadBalancer", json::object()}}}};
    if (!type.empty()) {
        s["spec"]["type"] = type;
        s["spec"]["externalTrafficPolicy"] = "Cluster";
        s["spec"]["ports"][0]["nodePort"] = 30080;
    }
    if (!lb_class.empty()) {
        s["spec"]["loadBalancerClass"] = lb_class;
    }
    return s;
}

inline json slice_json(const std::string& name, const std::string& service,
                       const std::vector<std::string>& ips) {
    json endpoints = json::array();
    for (const auto& ip : ips) {
        endpoints.push_back({{"addresses", {ip}}, {"conditions", {{"ready", true}}}});
    }
    return {{"metadata",
             {{"name", name},
              {"namespace", "default"},
              {"labels", {{"kubernetes.io/service-name", service}}}}},
            {"addressType", "IPv4"},
            {"ports", json::array({{{"name", "http"}, {"port", 8080}}})},
            {"endpoints", endpoints}};
}

inline Delta upsert(Kind kind, const json& object) {
    Delta d;
    d.type = Delta::Type::upsert;
    d.kind = kind;
    d.object = decode_object(kind, object);
    d.received = std::chrono::steady_clock::now();
    return d;
}

inline Delta relist(Kind kind, const std::vector<json>& objects) {
    Delta d;
    d.type = Delta::Type::relisted;
    d.kind = kind;
    for (const json& o : objects) {
        d.objects.push_back(decode_object(kind, o));
    }
    d.received = std::chrono::steady_clock::now();
    return d;
}

inline Selection cluster_ips() {
    Selection s;
    s.cluster_ips = true;
    return s;
}

class RecordingPublisher : public ServicePublisher {
public:
    Result<void> publish(const ServiceDiff& diff, const MaglevConfig&) override {
        ++calls;
        apply_diff(published, diff);
        return {};
    }
    int calls = 0;
    std::map<std::string, ServiceConfig> published;  // by "ns/name"
};

inline Config base_config() {
    Config c;
    c.ports.push_back(PortConfig{"ext0", "net_null0", *Ipv4Prefix::parse("10.99.0.1/24"), {}});
    return c;
}

}  // namespace svcgw::kube
