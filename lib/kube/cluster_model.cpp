#include "kube/cluster_model.hpp"

#include "kube/node_backends.hpp"

namespace svcgw::kube {

namespace {

constexpr std::string_view kLoadBalancer = "LoadBalancer";

std::string first_message(const Errors& errors) {
    std::string message;
    for (const Error& e : errors) {
        message +=
            (message.empty() ? "" : "; ") + (e.path.empty() ? "" : e.path + ": ") + e.message;
    }
    return message;
}

}  // namespace

Ownership owns(const Selection& selection, const ServiceMeta& meta) {
    // kube-proxy's rule: a labelled Service belongs to the proxy it names.
    if (meta.proxy_name.has_value() != !selection.service_proxy_name.empty() ||
        (meta.proxy_name && *meta.proxy_name != selection.service_proxy_name)) {
        return Ownership::none;
    }
    if (meta.type == kLoadBalancer &&
        (meta.load_balancer_class == selection.load_balancer_class ||
         (meta.load_balancer_class.empty() && selection.default_class))) {
        return Ownership::load_balancer;
    }
    return selection.cluster_ips ? Ownership::cluster_ip : Ownership::none;
}

ClusterModel::ClusterModel(Selection selection, std::set<Kind> kinds)
    : _selection(std::move(selection)), _kinds(std::move(kinds)) {}

void ClusterModel::apply(Delta delta) {
    switch (delta.type) {
        case Delta::Type::upsert:
            upsert(std::move(delta.object));
            break;
        case Delta::Type::remove:
            remove(delta.object);
            break;
        case Delta::Type::relisted:
            relisted(delta.kind, std::move(delta.objects));
            break;
    }
}

void ClusterModel::upsert(Object object) {
    if (!object.ok()) {
        _problems.push_back(Problem{object.kind, object.key, first_message(object.errors)});
        // A bad object counts as absent: what it was before is withdrawn.
        remove(object);
        if (object.kind == Kind::service) {
            _bad_services.insert(object.key);
        }
        return;
    }
    switch (object.kind) {
        case Kind::service: {
            auto& watched = std::get<WatchedService>(object.value);
            if (mode(watched) == BackendMode::node_port) {
                if (std::string why = node_port_problem(watched.config); !why.empty()) {
                    object.errors.push_back(
                        Error{object_name("Service", object.key) + ".spec.ports", why, {}});
                    upsert(std::move(object));  // reported and skipped as a bad object
                    return;
                }
            }
            _bad_services.erase(object.key);
            auto it = _services.find(object.key);
            if (it == _services.end() || !(it->second == watched)) {
                _services.insert_or_assign(object.key, std::move(watched));
                _dirty.insert(object.key);
            }
            break;
        }
        case Kind::endpoint_slice: {
            auto& slice = std::get<EndpointSliceConfig>(object.value);
            const EndpointSliceConfig* old = _slices.find(object.key);
            if (old == nullptr || !(*old == slice)) {
                for (std::string& service : _slices.upsert(std::move(slice))) {
                    _dirty.insert(std::move(service));  // both, when it moved
                }
            }
            break;
        }
        case Kind::node: {
            auto& node = std::get<NodeInfo>(object.value);
            auto it = _nodes.find(object.key);
            if (it == _nodes.end() || !(it->second == node)) {
                _nodes.insert_or_assign(object.key, std::move(node));
                nodes_changed();
            }
            break;
        }
    }
}

void ClusterModel::drop_slice(const std::string& key) {
    if (auto service = _slices.erase(key)) {
        _dirty.insert(*service);
    }
}

void ClusterModel::remove(const Object& object) {
    switch (object.kind) {
        case Kind::service:
            _bad_services.erase(object.key);
            if (_services.erase(object.key) != 0) {
                _dirty.insert(object.key);
            }
            break;
        case Kind::endpoint_slice:
            drop_slice(object.key);
            break;
        case Kind::node:
            if (_nodes.erase(object.key) != 0) {
                nodes_changed();
            }
            break;
    }
}

void ClusterModel::nodes_changed() {
    for (const auto& [key, service] : _services) {
        if (mode(service) == BackendMode::node_port) {
            _dirty.insert(key);
        }
    }
}

void ClusterModel::relisted(Kind kind, std::vector<Object> objects) {
    // The list is the whole truth for its kind: what it lacks is gone.
    std::set<std::string> present;
    for (const Object& o : objects) {
        present.insert(o.key);
    }
    std::vector<Object> gone;
    auto forget = [&](const std::string& key) {
        if (!present.contains(key)) {
            Object o;
            o.kind = kind;
            o.key = key;
            gone.push_back(std::move(o));
        }
    };
    switch (kind) {
        case Kind::service:
            for (const auto& [key, svc] : _services) {
                forget(key);
            }
            for (const std::string& key : _bad_services) {
                forget(key);
            }
            break;
        case Kind::endpoint_slice:
            for (const EndpointSliceConfig* slice : _slices.all()) {
                forget(slice->key());
            }
            break;
        case Kind::node:
            for (const auto& [key, node] : _nodes) {
                forget(key);
            }
            break;
    }
    for (const Object& o : gone) {
        remove(o);
    }
    for (Object& o : objects) {
        upsert(std::move(o));
    }
    _listed.insert(kind);
}

std::optional<ServiceConfig> ClusterModel::desired(const std::string& key) const {
    auto it = _services.find(key);
    const Ownership ownership =
        it == _services.end() ? Ownership::none : owns(_selection, it->second.meta);
    if (ownership == Ownership::none) {
        return std::nullopt;
    }
    ServiceConfig config = it->second.config;
    if (ownership == Ownership::load_balancer) {
        // The ClusterIP is served too only in the seed's mode; otherwise it
        // is the cluster's (kube-proxy answers it inside).
        config.serve_cluster_ip = _selection.cluster_ips;
    } else if (config.type == ServiceType::load_balancer) {
        // Another implementation's LoadBalancer: its ClusterIP and external
        // IPs, as kube-proxy serves them; served as a ClusterIP Service, so
        // network.lb_pools never gives it an address of ours.
        config.type = ServiceType::cluster_ip;
        config.load_balancer_ips.clear();
        config.source_ranges.clear();
    }
    _slices.join(config);  // lib/config's merge, the one files and apply use
    for (const Error& w : _slices.warnings(key)) {
        config.warnings.push_back(w);
    }
    if (mode(it->second) == BackendMode::node_port) {
        use_node_backends(config, _nodes);
    }
    return config;
}

std::optional<std::vector<Ipv4>> ClusterModel::load_balancer_status(const std::string& key) const {
    auto it = _services.find(key);
    if (it == _services.end() || owns(_selection, it->second.meta) != Ownership::load_balancer) {
        return std::nullopt;
    }
    return it->second.meta.status_ips;
}

Changes ClusterModel::take_changes() {
    Changes changes;
    for (const std::string& key : _dirty) {
        if (auto config = desired(key)) {
            changes.upserts.push_back(std::move(*config));
        } else {
            changes.removals.push_back(key);
        }
    }
    _dirty.clear();
    return changes;
}

std::vector<Problem> ClusterModel::take_problems() {
    return std::exchange(_problems, {});
}

}  // namespace svcgw::kube
