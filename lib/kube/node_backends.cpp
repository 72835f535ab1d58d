#include "kube/node_backends.hpp"

namespace svcgw::kube {

namespace {

bool has_vip(const ServiceConfig& s) {
    return !s.headless && s.type != ServiceType::external_name;
}

}  // namespace

std::string node_port_problem(const ServiceConfig& service) {
    if (!has_vip(service)) {
        return {};
    }
    for (size_t i = 0; i < service.ports.size(); ++i) {
        if (service.ports[i].node_port == 0) {
            return "spec.ports[" + std::to_string(i) +
                   "] has no nodePort, which NodePort backends need (type NodePort, or "
                   "LoadBalancer with allocateLoadBalancerNodePorts)";
        }
    }
    return {};
}

void use_node_backends(ServiceConfig& service, const std::map<std::string, NodeInfo>& nodes) {
    if (!has_vip(service)) {
        return;
    }
    const bool local = service.external_traffic_policy == TrafficPolicy::local;
    std::map<std::string, uint32_t> ready_on;  // node name -> ready endpoints there
    size_t ready = 0;
    for (const EndpointConfig& ep : service.endpoints) {
        if (ep.ready) {
            ++ready;
            ++ready_on[ep.node_name];
        }
    }
    std::vector<EndpointConfig> backends;
    for (const auto& [name, node] : nodes) {  // by name: a deterministic order
        if (ready == 0 || !node.ready || !node.internal_ip) {
            continue;
        }
        EndpointConfig ep;
        ep.ip = *node.internal_ip;
        ep.node_name = name;
        if (local) {
            auto it = ready_on.find(name);
            if (it == ready_on.end()) {
                continue;  // its kube-proxy would drop the traffic
            }
            ep.weight = it->second;
        } else {
            ep.weight = 1;
        }
        backends.push_back(std::move(ep));
    }
    service.endpoints = std::move(backends);
    for (ServicePortConfig& port : service.ports) {
        port.target_port = port.node_port;
        port.target_port_name.clear();
    }
}

}  // namespace svcgw::kube
