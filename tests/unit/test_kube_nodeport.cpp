// NodePort backends (issue 11 §3) in the feed's model, without a network:
// which nodes become backends under each externalTrafficPolicy and with
// which weights, that node changes (and only real ones) republish the
// Services that use them, and that a Service that cannot be served this
// way is reported and skipped.
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "kube/cluster_model.hpp"
#include "kube/node_backends.hpp"
#include "kube_fixtures.hpp"

namespace svcgw::kube {
namespace {

json node_json(const std::string& name, const std::string& ip, bool ready = true) {
    json n = {{"metadata", {{"name", name}}},
              {"status",
               {{"conditions",
                 json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}})}}}};
    if (!ip.empty()) {
        n["status"]["addresses"] = json::array({{{"type", "InternalIP"}, {"address", ip}}});
    }
    return n;
}

// A NodePort Service on port 80 (nodePort 30080) with `policy`.
json np_service(const std::string& name, const std::string& policy = "Cluster") {
    json s = service_json(name, "10.96.0.20", "NodePort");
    s["spec"]["externalTrafficPolicy"] = policy;
    return s;
}

// A slice whose endpoints run on the given nodes (one pod per entry).
json slice_on(const std::string& service, const std::vector<std::string>& nodes,
              bool ready = true) {
    json endpoints = json::array();
    for (size_t i = 0; i < nodes.size(); ++i) {
        endpoints.push_back({{"addresses", {"10.244.0." + std::to_string(i + 10)}},
                             {"nodeName", nodes[i]},
                             {"conditions", {{"ready", ready}}}});
    }
    json s = slice_json(service + "-abc", service, {});
    s["endpoints"] = endpoints;
    return s;
}

std::vector<std::pair<std::string, uint32_t>> backends(const ServiceConfig& s) {
    std::vector<std::pair<std::string, uint32_t>> out;
    for (const EndpointConfig& ep : s.endpoints) {
        out.emplace_back(ep.ip.str(), ep.weight);
    }
    return out;
}

Selection node_ports() {
    Selection s = cluster_ips();
    s.backends = BackendMode::node_port;
    return s;
}

struct NodeModel : ::testing::Test {
    ClusterModel model{node_ports(), {Kind::service, Kind::endpoint_slice, Kind::node}};

    void list(const std::vector<json>& services, const std::vector<json>& slices) {
        model.apply(relist(Kind::service, services));
        model.apply(relist(Kind::endpoint_slice, slices));
        model.apply(relist(
            Kind::node,
            {node_json("n1", "10.0.0.1"), node_json("n2", "10.0.0.2"), node_json("n3", "10.0.0.3"),
             node_json("down", "10.0.0.4", false), node_json("noip", "")}));
        ASSERT_TRUE(model.synced());
    }
};

TEST_F(NodeModel, ClusterPolicyUsesEveryReadyNodeOnTheNodePort) {
    list({np_service("web")}, {slice_on("web", {"n1"})});
    auto web = model.desired("default/web");
    ASSERT_TRUE(web);
    // NotReady and address-less nodes are out; equal weights.
    EXPECT_EQ(backends(*web), (std::vector<std::pair<std::string, uint32_t>>{
                                  {"10.0.0.1", 1}, {"10.0.0.2", 1}, {"10.0.0.3", 1}}));
    ASSERT_EQ(web->ports.size(), 1u);
    EXPECT_EQ(web->ports[0].target_port, 30080);
    EXPECT_EQ(web->ports[0].port, 80);
}

TEST_F(NodeModel, LocalPolicyUsesTheNodesWithReadyEndpointsWeightedByTheirCount) {
    list({np_service("web", "Local")}, {slice_on("web", {"n1", "n3", "n1", "down"})});
    auto web = model.desired("default/web");
    ASSERT_TRUE(web);
    EXPECT_EQ(backends(*web),
              (std::vector<std::pair<std::string, uint32_t>>{{"10.0.0.1", 2}, {"10.0.0.3", 1}}));
}

TEST_F(NodeModel, NoReadyEndpointMeansNoBackend) {
    list({np_service("web")}, {slice_on("web", {"n1", "n2"}, false)});
    auto web = model.desired("default/web");
    ASSERT_TRUE(web);
    EXPECT_TRUE(web->endpoints.empty()) << "svcgw refuses rather than hand clients to nodes";
}

TEST_F(NodeModel, OnlyRealNodeChangesRepublishTheServicesThatUseThem) {
    json pods = service_json("pods", "10.96.0.21");
    pods["metadata"]["annotations"] = {{"svcgw.io/backends", "pods"}};
    list({np_service("web"), pods},
         {slice_on("web", {"n1"}), slice_json("pods-abc", "pods", {"10.244.1.5"})});
    model.take_changes();
    // A heartbeat that changes nothing the model keeps: nothing to publish.
    model.apply(upsert(Kind::node, node_json("n2", "10.0.0.2")));
    EXPECT_TRUE(model.take_changes().empty());
    // n2 goes NotReady: web (node-backed) is republished without it, not `pods`.
    model.apply(upsert(Kind::node, node_json("n2", "10.0.0.2", false)));
    Changes changes = model.take_changes();
    ASSERT_EQ(changes.upserts.size(), 1u);
    EXPECT_EQ(changes.upserts[0].name, "web");
    EXPECT_EQ(backends(changes.upserts[0]),
              (std::vector<std::pair<std::string, uint32_t>>{{"10.0.0.1", 1}, {"10.0.0.3", 1}}));
    // The annotated Service keeps its pods.
    auto p = model.desired("default/pods");
    ASSERT_TRUE(p);
    EXPECT_EQ(backends(*p), (std::vector<std::pair<std::string, uint32_t>>{{"10.244.1.5", 100}}));
}

TEST_F(NodeModel, AServiceWithoutNodePortsOrWithABadAnnotationIsReportedAndSkipped) {
    json bad = service_json("clusterip", "10.96.0.22");  // ClusterIP: no nodePort
    json typo = np_service("typo");
    typo["metadata"]["annotations"] = {{"svcgw.io/backends", "nodeports"}};
    list({np_service("web"), bad, typo}, {});
    EXPECT_TRUE(model.desired("default/web"));
    EXPECT_FALSE(model.desired("default/clusterip"));
    EXPECT_FALSE(model.desired("default/typo"));
    std::map<std::string, std::string> problems;
    for (const Problem& p : model.take_problems()) {
        problems[p.key] = p.message;
    }
    ASSERT_EQ(problems.size(), 2u);
    EXPECT_NE(problems["default/clusterip"].find("has no nodePort"), std::string::npos);
    EXPECT_NE(problems["default/typo"].find("'nodeports' is neither pods nor nodeport"),
              std::string::npos);
}

TEST(NodeBackendsConfig, TheGlobalModeIsAConfigKey) {
    const std::string base = "kubernetes: {enabled: true, backends: ";
    auto ok = load_config(base + "nodeport}\n", "t.yaml");
    ASSERT_TRUE(ok) << ok.error().front().str();
    EXPECT_EQ(ok->kubernetes.backends, BackendMode::node_port);
    EXPECT_EQ(load_config("kubernetes: {enabled: true}\n", "t.yaml")->kubernetes.backends,
              BackendMode::pods);
    auto bad = load_config(base + "nodes}\n", "t.yaml");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().front().str().find("kubernetes.backends: unknown backends 'nodes'"),
              std::string::npos)
        << bad.error().front().str();
}

}  // namespace
}  // namespace svcgw::kube
