// The cluster as the feed last saw it, and the services svcgw derives from
// it: the watched Services, EndpointSlices (kept per Service, also before
// the Service exists) and Nodes; which Services svcgw owns; the config of
// each one with its endpoints merged from its slices (lib/config's
// EndpointSliceSet, the model files and apply use), or with the nodes as its
// backends (NodePort mode, kube/node_backends.hpp). Pure C++, control thread.
//
// The model tracks which services changed since the last take_changes(),
// so one slice event rebuilds one service, and a relist that changes
// nothing publishes nothing.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/endpoint_slices.hpp"
#include "kube/objects.hpp"
#include "kube/reflector.hpp"

namespace svcgw::kube {

// Which Services svcgw serves (the `kubernetes:` section's selection keys).
struct Selection {
    bool cluster_ips = false;  // every Service's ClusterIP (the seed's mode)
    std::string load_balancer_class = "svcgw.io/lb";
    bool default_class = false;                // also LoadBalancers without a class
    std::string service_proxy_name;            // "" = Services without the label (kube-proxy)
    BackendMode backends = BackendMode::pods;  // unless a Service's annotation says otherwise
};

enum class Ownership { none, cluster_ip, load_balancer };
Ownership owns(const Selection& selection, const ServiceMeta& meta);

// A bad object, reported by the feed and skipped.
struct Problem {
    Kind kind = Kind::service;
    std::string key;
    std::string message;
};

struct Changes {
    std::vector<ServiceConfig> upserts;
    std::vector<std::string> removals;  // "ns/name"
    bool empty() const { return upserts.empty() && removals.empty(); }
};

class ClusterModel {
public:
    // `kinds`: what must be listed once before the model is synced.
    ClusterModel(Selection selection, std::set<Kind> kinds);

    void apply(Delta delta);
    // Every kind has been listed completely at least once.
    bool synced() const { return _listed.size() == _kinds.size(); }
    // The services whose derived config may have changed since the last
    // call: desired configs to publish, and keys svcgw no longer serves.
    Changes take_changes();
    // Desired config of one service key (nullopt: not served).
    std::optional<ServiceConfig> desired(const std::string& key) const;
    // For a LoadBalancer Service svcgw serves: the addresses its status
    // shows now (nullopt: not one of ours, so its status is not ours to write).
    std::optional<std::vector<Ipv4>> load_balancer_status(const std::string& key) const;
    // Bad objects seen since the last call (each reported once per change).
    std::vector<Problem> take_problems();

    size_t service_count() const { return _services.size(); }
    size_t slice_count() const { return _slices.size(); }
    size_t node_count() const { return _nodes.size(); }

private:
    void upsert(Object object);
    void remove(const Object& object);
    void relisted(Kind kind, std::vector<Object> objects);
    void drop_slice(const std::string& slice_key);
    BackendMode mode(const WatchedService& service) const {
        return service.meta.backends.value_or(_selection.backends);
    }
    void nodes_changed();  // every node-backed service is dirty

    Selection _selection;
    std::set<Kind> _kinds;
    std::set<Kind> _listed;
    std::map<std::string, WatchedService> _services;  // good ones, by "ns/name"
    std::set<std::string> _bad_services;              // present but undecodable
    EndpointSliceSet _slices;                         // kept also before (or without) their Service
    std::map<std::string, NodeInfo> _nodes;
    std::set<std::string> _dirty;
    std::vector<Problem> _problems;
};

}  // namespace svcgw::kube
