// NodePort backends (README). With an overlay CNI the pod addresses
// are not routable from an edge box; an external L4 balancer then reaches
// the pods through the cluster's nodes, nodeIP:nodePort, and the node's
// kube-proxy forwards to a pod. In this mode a Service's backends are the
// cluster's ready Nodes (their InternalIP) on the Service's nodePorts:
//   - externalTrafficPolicy Cluster: every ready node, equal weights (any
//     node forwards to any pod);
//   - externalTrafficPolicy Local: only the nodes holding ready endpoints
//     of the Service, weighted by how many (kube-proxy on a node serves
//     its local pods only, and keeps the client address);
//   - no ready endpoint at all: no backend, so svcgw refuses at once
//     instead of sending clients to nodes that would refuse them.
// Pure C++ (the model's helpers), control thread.
#pragma once

#include <map>
#include <string>

#include "config/config.hpp"
#include "kube/objects.hpp"

namespace svcgw::kube {

// Why `service` cannot be reached through node ports, or "" when it can.
std::string node_port_problem(const ServiceConfig& service);

// Replaces the endpoints of `service` (merged from its slices, with their
// node names) by the nodes as above and its target ports by its nodePorts.
// Headless and ExternalName services are left as they are (no VIP: DNS
// answers the pods).
void use_node_backends(ServiceConfig& service, const std::map<std::string, NodeInfo>& nodes);

}  // namespace svcgw::kube
