// Issue 10 §2: endpoints and Services as kube-proxy and the API server see
// them, one row of the issue per test: the slice's port, duplicate
// addresses across slices, slices before their Service, conditions,
// ValidateEndpointIP, sessionAffinityConfig, fields svcgw cannot honour,
// dual stack, a whole-cluster export (kube-dns, objects left out one by
// one), LoadBalancer and NodePort Services.
#include <gtest/gtest.h>

#include <algorithm>

#include "config/config.hpp"
#include "config/endpoint_slices.hpp"
#include "config_fixture.hpp"
#include "control/kubectl.hpp"
#include "control_fixture.hpp"
#include "table/service.hpp"

namespace svcgw {
namespace {

using namespace testing_config;
using namespace testing_control;

std::string all_skipped(const std::vector<SkippedObject>& skipped) {
    std::string out;
    for (const SkippedObject& o : skipped) {
        out += o.object + ":\n" + all_errors(o.errors);
    }
    return out;
}

const ServiceConfig* find(const Config& config, const std::string& key) {
    auto it = std::find_if(config.services.begin(), config.services.end(),
                           [&](const ServiceConfig& s) { return s.key() == key; });
    return it == config.services.end() ? nullptr : &*it;
}

bool mentions(const Errors& errors, const std::string& fragment) {
    return std::any_of(errors.begin(), errors.end(), [&](const Error& e) {
        return (e.path + ": " + e.message).find(fragment) != std::string::npos;
    });
}

// A Service document; `spec` is the YAML flow mapping of its spec.
std::string service(const std::string& name, const std::string& spec,
                    const std::string& ns = "default") {
    return "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: " + ns +
           "}\nspec: " + spec + "\n---\n";
}

// An EndpointSlice document.
std::string slice(const std::string& name, const std::string& svc, const std::string& ports,
                  const std::string& endpoints, const std::string& ns = "default") {
    return "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " + name +
           ", namespace: " + ns + ", labels: {kubernetes.io/service-name: " + svc +
           "}}\naddressType: IPv4\nports: " + ports + "\nendpoints: " + endpoints + "\n---\n";
}

// ------------------------------------------------------------ ports

TEST(SlicePort, NumericTargetPortGoesToTheSlicesPort) {
    // A selector-less Service on 5432 with a hand-written slice port 6432:
    // kube-proxy forwards to 6432.
    Config c =
        load_ok(service("pg", "{clusterIP: 10.96.5.5, ports: [{name: pg, port: 5432}]}") +
                slice("pg-manual", "pg", "[{name: pg, port: 6432}]", "[{addresses: [10.1.0.7]}]"));
    const ServiceConfig* pg = find(c, "default/pg");
    ASSERT_NE(pg, nullptr);
    ASSERT_EQ(pg->endpoints.size(), 1u);
    EXPECT_EQ(pg->ports[0].target_port, 5432);  // targetPort omitted = port
    EXPECT_EQ(pg->endpoints[0].target_port_for(pg->ports[0]), 6432);
    // The native form has no slice: the Service's targetPort.
    Config native = load_ok(
        "services: [{name: pg, ports: [{port: 5432, target_port: 5433}], endpoints: [{ip: "
        "10.1.0.7}]}]\n");
    EXPECT_EQ(native.services[0].endpoints[0].target_port_for(native.services[0].ports[0]), 5433);
}

// ------------------------------------------------- merging the slices

TEST(SliceMerge, SameAddressInTwoSlicesIsOneEndpointTheBestCopyWins) {
    // The pod moves between slices: the old copy is terminating, the new
    // one ready. Either slice order gives the ready copy.
    const std::string svc = service("web",
                                    "{clusterIP: 10.96.5.6, ports: [{name: http, port: 80}, "
                                    "{name: admin, port: 81}]}");
    const std::string old_copy =
        slice("web-a", "web", "[{name: http, port: 8080}]",
              "[{addresses: [10.1.0.8], conditions: {ready: false, terminating: true}}]");
    const std::string new_copy =
        slice("web-b", "web", "[{name: http, port: 8080}, {name: admin, port: 9090}]",
              "[{addresses: [10.1.0.8], conditions: {ready: true}}, {addresses: [10.1.0.9]}]");
    for (const std::string& input : {svc + old_copy + new_copy, svc + new_copy + old_copy}) {
        Config c = load_ok(input);
        const ServiceConfig* web = find(c, "default/web");
        ASSERT_NE(web, nullptr);
        ASSERT_EQ(web->endpoints.size(), 2u) << "one endpoint per address";
        const EndpointConfig& e =
            web->endpoints[0].ip.str() == "10.1.0.8" ? web->endpoints[0] : web->endpoints[1];
        EXPECT_TRUE(e.ready);
        EXPECT_FALSE(e.terminating);
        EXPECT_EQ(e.target_port_for(web->ports[1]), 9090);
    }
    // The losing copy's ports for service ports the winner does not list
    // are kept.
    EndpointSliceConfig a{"default", "a", "web", {}, {}, {}};
    EndpointSliceConfig b = a;
    b.name = "b";
    EndpointConfig ready;
    ready.ip = *Ipv4::parse("10.1.0.8");
    ready.ports = {{"http", 8080}};
    EndpointConfig terminating = ready;
    terminating.terminating = true;
    terminating.ready = false;
    terminating.ports = {{"http", 1}, {"metrics", 9100}};
    a.endpoints = {terminating};
    b.endpoints = {ready};
    std::vector<const EndpointSliceConfig*> both = {&a, &b};
    auto merged = merge_slices(both);
    ASSERT_EQ(merged.size(), 1u);
    EXPECT_FALSE(merged[0].terminating);
    EXPECT_EQ(merged[0].ports, (std::vector<EndpointPort>{{"http", 8080}, {"metrics", 9100}}));
}

TEST(SliceMerge, SliceBeforeOrWithoutItsServiceIsKeptAndJoinedLater) {
    EndpointSliceSet set;
    EndpointSliceConfig s{"shop", "web-1", "web", {}, {}, {}};
    EndpointConfig e;
    e.ip = *Ipv4::parse("10.1.0.5");
    s.endpoints = {e};
    EXPECT_EQ(set.upsert(s), std::vector<std::string>{"shop/web"});
    ServiceConfig web;
    web.name = "web";
    web.ns = "shop";
    set.join(web);
    ASSERT_EQ(web.endpoints.size(), 1u);
    // A slice that moves to another Service touches both.
    s.service = "api";
    auto touched = set.upsert(s);
    EXPECT_EQ(touched, (std::vector<std::string>{"shop/web", "shop/api"}));
    EXPECT_FALSE(set.has_service("shop/web"));
    EXPECT_EQ(set.erase("shop/web-1"), std::optional<std::string>("shop/api"));
    EXPECT_EQ(set.size(), 0u);

    // In a file: the slice without its Service loads, with a warning.
    Config c =
        load_ok(slice("ghost-1", "ghost", "[{name: x, port: 1}]", "[{addresses: [10.1.0.5]}]"));
    EXPECT_TRUE(c.services.empty());
    ASSERT_EQ(c.endpoint_slices.size(), 1u);
    auto lines = warning_lines(c);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("kept, joined when it comes"), std::string::npos) << lines[0];
}

TEST_F(Fixture, ApiSliceBeforeItsServiceIsJoinedWhenTheServiceComes) {
    auto r =
        call("POST", "/v1/apply",
             slice("web-1", "web", "[{name: http, port: 8080}]", "[{addresses: [10.99.0.7]}]"));
    ASSERT_EQ(r.status, 200) << r.body;
    json j = json::parse(r.body);
    EXPECT_EQ(j["results"][0]["kind"], "endpointslice");
    EXPECT_NE(j["results"][0]["note"].get<std::string>().find("not found"), std::string::npos);
    json list = json::parse(call("GET", "/v1/endpointslices").body);
    ASSERT_EQ(list["items"].size(), 1u);
    EXPECT_TRUE(list["items"][0]["pending"].get<bool>());

    r = call("POST", "/v1/apply",
             service("web",
                     "{clusterIP: 10.96.0.60, ports: [{name: http, port: 80, targetPort: "
                     "web}]}"));
    ASSERT_EQ(r.status, 200) << r.body;
    const ServiceRecord* web = state.find("default", "web");
    ASSERT_NE(web, nullptr);
    ASSERT_EQ(web->config.endpoints.size(), 1u);
    EXPECT_EQ(web->config.endpoints[0].target_port_for(web->config.ports[0]), 8080);
    list = json::parse(call("GET", "/v1/endpointslices").body);
    EXPECT_FALSE(list["items"][0]["pending"].get<bool>());

    // A second slice joins; deleting one leaves the other's endpoints.
    ASSERT_EQ(
        call("POST", "/v1/apply",
             slice("web-2", "web", "[{name: http, port: 8080}]", "[{addresses: [10.99.0.8]}]"))
            .status,
        200);
    EXPECT_EQ(state.find("default", "web")->config.endpoints.size(), 2u);
    ASSERT_EQ(call("DELETE", "/v1/namespaces/default/endpointslices/web-1").status, 200);
    ASSERT_EQ(state.find("default", "web")->config.endpoints.size(), 1u);
    EXPECT_EQ(state.find("default", "web")->config.endpoints[0].ip.str(), "10.99.0.8");
    expect_error(call("DELETE", "/v1/namespaces/default/endpointslices/web-1"), 404, "NotFound");

    // Endpoints written through the API replace the slices.
    r = call("POST", "/v1/namespaces/default/services/web/endpoints/10.99.0.8/drain");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("replaced by this endpoint list"), std::string::npos) << r.body;
    EXPECT_TRUE(json::parse(call("GET", "/v1/endpointslices").body)["items"].empty());
    EXPECT_TRUE(state.find("default", "web")->config.endpoints[0].terminating);

    // Deleting the Service deletes its slices.
    ASSERT_EQ(
        call("POST", "/v1/apply",
             slice("web-3", "web", "[{name: http, port: 8080}]", "[{addresses: [10.99.0.9]}]"))
            .status,
        200);
    ASSERT_EQ(call("DELETE", "/v1/namespaces/default/services/web").status, 200);
    EXPECT_TRUE(json::parse(call("GET", "/v1/endpointslices").body)["items"].empty());
}

// ------------------------------------------------------- conditions

TEST(Conditions, ServingUnsetIsTrueAndReadyTerminatingTakesNewFlows) {
    Config c =
        load_ok(service("web", "{clusterIP: 10.96.5.7, ports: [{port: 80}]}") +
                slice("web-1", "web", "[{name: \"\", port: 80}]",
                      "[{addresses: [10.1.0.1], conditions: {ready: true, terminating: true}},"
                      " {addresses: [10.1.0.2], conditions: {ready: false, terminating: true}},"
                      " {addresses: [10.1.0.3], conditions: {ready: false, serving: false, "
                      "terminating: true}}]"));
    const ServiceConfig* web = find(c, "default/web");
    ASSERT_NE(web, nullptr);
    EXPECT_TRUE(web->endpoints[1].serving) << "serving unset = true (kube-proxy)";
    auto built = Service::build(*web, MaglevConfig{});
    ASSERT_TRUE(built.has_value());
    auto eligible = [&](const char* ip) {
        for (const Backend& b : (*built)->backends()) {
            if (b.ip_be == __builtin_bswap32(Ipv4::parse(ip)->value)) {
                return b.eligible;
            }
        }
        return false;
    };
    // Ready + terminating (publishNotReadyAddresses) gets new flows; the
    // serving+terminating one is only a fallback, not used while one is ready.
    EXPECT_TRUE(eligible("10.1.0.1"));
    EXPECT_FALSE(eligible("10.1.0.2"));
    EXPECT_FALSE(eligible("10.1.0.3"));
    // Nothing ready: the serving+terminating ones take new flows, never
    // the one that is not serving.
    ServiceConfig none_ready = *web;
    none_ready.endpoints.erase(none_ready.endpoints.begin());
    built = Service::build(none_ready, MaglevConfig{});
    ASSERT_TRUE(built.has_value());
    EXPECT_TRUE(eligible("10.1.0.2"));
    EXPECT_FALSE(eligible("10.1.0.3"));
}

// --------------------------------------------- what the API server refuses

TEST(ApiServerRules, EndpointIpAndSessionAffinityConfig) {
    // ValidateEndpointIP: link-local, loopback, unspecified and link-local
    // multicast addresses are refused. In a slice, the slice is left out.
    for (const char* ip : {"169.254.169.254", "127.0.0.5", "0.0.0.0", "224.0.0.9"}) {
        SCOPED_TRACE(ip);
        Config c = load_ok(
            service("web", "{clusterIP: 10.96.5.8, ports: [{port: 80}]}") +
            slice("web-1", "web", "[{port: 80}]", std::string("[{addresses: [") + ip + "]}]"));
        ASSERT_EQ(c.skipped.size(), 1u);
        EXPECT_EQ(c.skipped[0].object, "EndpointSlice/default/web-1");
        EXPECT_TRUE(mentions(c.skipped[0].errors, "may not be")) << all_skipped(c.skipped);
        EXPECT_TRUE(find(c, "default/web")->endpoints.empty());
    }
    // In the native file, an error (the file is all or nothing).
    auto native = load_config(
        "services: [{name: a, ports: [{port: 1}], endpoints: [{ip: 169.254.1.1}]}]\n", kSource);
    ASSERT_FALSE(native.has_value());
    EXPECT_TRUE(mentions(native.error(), "link-local range (169.254.0.0/16)"))
        << all_errors(native.error());

    // sessionAffinityConfig with affinity None (or unset).
    Config c = load_ok(service("a",
                               "{clusterIP: 10.96.5.9, ports: [{port: 1}], "
                               "sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}}") +
                       service("b",
                               "{clusterIP: 10.96.5.10, ports: [{port: 1}], "
                               "sessionAffinity: ClientIP, sessionAffinityConfig: "
                               "{clientIP: {timeoutSeconds: 60}}}"));
    ASSERT_EQ(c.skipped.size(), 1u) << all_skipped(c.skipped);
    EXPECT_EQ(c.skipped[0].object, "Service/default/a");
    EXPECT_TRUE(mentions(c.skipped[0].errors, "must not be set when sessionAffinity is None"));
    EXPECT_EQ(find(c, "default/b")->session_affinity_timeout_s, 60u);
}

// ------------------------------------------------ fields not honoured

TEST(Warnings, FieldsSvcgwCannotHonourAreNamed) {
    Config c =
        load_ok(service("local",
                        "{clusterIP: 10.96.5.11, internalTrafficPolicy: Local, ports: [{port: "
                        "80}]}") +
                service("near",
                        "{clusterIP: 10.96.5.12, trafficDistribution: PreferClose, ports: "
                        "[{port: 80}]}") +
                service("dual",
                        "{clusterIP: 10.96.5.13, clusterIPs: [10.96.5.13, \"fd00::13\"], "
                        "ipFamilies: [IPv4, IPv6], ipFamilyPolicy: PreferDualStack, ports: "
                        "[{port: 80}]}") +
                service("v6first",
                        "{clusterIP: \"fd00::14\", clusterIPs: [\"fd00::14\", 10.96.5.14], "
                        "ipFamilies: [IPv6, IPv4], ports: [{port: 80}]}") +
                slice("near-1", "near", "[{port: 80}]",
                      "[{addresses: [10.1.0.1], zone: a, hints: {forZones: [{name: a}]}}]"));
    ASSERT_TRUE(c.skipped.empty()) << all_skipped(c.skipped);
    EXPECT_TRUE(mentions(find(c, "default/local")->warnings, "internalTrafficPolicy Local"));
    EXPECT_TRUE(mentions(find(c, "default/near")->warnings, "trafficDistribution PreferClose"));
    EXPECT_TRUE(mentions(find(c, "default/dual")->warnings, "IPv6 family (fd00::13)"));
    // IPv6-primary dual stack: served on its IPv4 ClusterIP.
    const ServiceConfig* v6first = find(c, "default/v6first");
    ASSERT_NE(v6first, nullptr);
    EXPECT_EQ(v6first->cluster_ip->str(), "10.96.5.14");
    EXPECT_TRUE(mentions(v6first->warnings, "serves the IPv4 ClusterIP 10.96.5.14"));
    // Zone hints: on the slice.
    ASSERT_EQ(c.endpoint_slices.size(), 1u);
    EXPECT_TRUE(mentions(c.endpoint_slices[0].warnings, "topology hints"));
    // IPv6 single stack: left out with a precise error.
    Config v6 = load_ok(service("only6", "{clusterIP: \"fd00::15\", ports: [{port: 80}]}"));
    ASSERT_EQ(v6.skipped.size(), 1u);
    EXPECT_TRUE(mentions(v6.skipped[0].errors, "IPv6 single-stack"));
    // Each warning has a position and a field path.
    const Error& w = find(c, "default/local")->warnings[0];
    EXPECT_EQ(w.path, "Service/default/local.spec.internalTrafficPolicy");
    EXPECT_FALSE(w.location.empty());
}

// Load-balancer fields are served (issue 11 §2: the status or asked
// address, source ranges, node ports for NodePort backends); the fields
// svcgw does not honour are named in one warning.
TEST(Warnings, LoadBalancerFieldsAreServedTheRestIsNamed) {
    Config c = load_ok(
        "apiVersion: v1\nkind: Service\nmetadata: {name: edge}\nspec:\n  type: LoadBalancer\n"
        "  clusterIP: 10.96.5.20\n  loadBalancerSourceRanges: [192.0.2.0/24]\n"
        "  externalTrafficPolicy: Cluster\n  healthCheckNodePort: 31000\n"
        "  allocateLoadBalancerNodePorts: true\n"
        "  ports: [{port: 443, nodePort: 30443}]\nstatus:\n  loadBalancer:\n    ingress: [{ip: "
        "203.0.113.7}]\n---\n" +
        service("np",
                "{type: NodePort, clusterIP: 10.96.5.21, ports: [{port: 80, nodePort: "
                "30080, protocol: UDP}]}"));
    ASSERT_TRUE(c.skipped.empty()) << all_skipped(c.skipped);
    const ServiceConfig* edge = find(c, "default/edge");
    ASSERT_NE(edge, nullptr);
    EXPECT_EQ(edge->type, ServiceType::load_balancer);
    EXPECT_EQ(edge->cluster_ip->str(), "10.96.5.20");
    ASSERT_EQ(edge->load_balancer_ips.size(), 1u);
    EXPECT_EQ(edge->load_balancer_ips[0].str(), "203.0.113.7");
    ASSERT_EQ(edge->source_ranges.size(), 1u);
    EXPECT_EQ(edge->source_ranges[0].str(), "192.0.2.0/24");
    EXPECT_EQ(edge->ports.at(0).node_port, 30443);
    ASSERT_EQ(edge->warnings.size(), 1u);
    for (const char* part : {"healthCheckNodePort 31000", "allocateLoadBalancerNodePorts true"}) {
        EXPECT_NE(edge->warnings[0].message.find(part), std::string::npos)
            << part << " in " << edge->warnings[0].message;
    }
    const ServiceConfig* np = find(c, "default/np");
    ASSERT_NE(np, nullptr);
    EXPECT_EQ(np->ports.at(0).node_port, 30080);
    EXPECT_TRUE(np->warnings.empty()) << np->warnings.front().message;
}

// --------------------------------------------- a whole-cluster export

const char* kExport = R"(apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: kube-dns, namespace: kube-system}
  spec:
    clusterIP: 10.96.0.10
    ports:
    - {name: dns, port: 53, protocol: UDP, targetPort: 53}
    - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
    - {name: metrics, port: 9153, protocol: TCP, targetPort: 9153}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: kube-dns-x1, namespace: kube-system, labels: {kubernetes.io/service-name: kube-dns}}
  addressType: IPv4
  ports: [{name: dns, port: 53, protocol: UDP}]
  endpoints: [{addresses: [10.244.0.2]}]
- apiVersion: v1
  kind: Service
  metadata: {name: kubernetes, namespace: default}
  spec:
    clusterIP: 10.96.0.1
    ports: [{name: https, port: 443, protocol: TCP, targetPort: 6443}]
- apiVersion: v1
  kind: Service
  metadata: {name: elsewhere, namespace: default}
  spec:
    clusterIP: 10.100.0.5
    ports: [{port: 80}]
- apiVersion: v1
  kind: Service
  metadata: {name: sctp, namespace: default}
  spec:
    clusterIP: 10.96.0.40
    ports: [{port: 3868, protocol: SCTP}]
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: default}
- apiVersion: v1
  kind: Service
  metadata: {name: clash, namespace: default}
  spec:
    clusterIP: 10.96.0.1
    ports: [{name: https, port: 443, protocol: TCP}]
)";

TEST(WholeCluster, ObjectsSvcgwCannotTakeAreLeftOutOneByOne) {
    const std::string native =
        "network: {service_cidr: 10.96.0.0/16}\ndns: {cluster_ip: 10.96.0.10}\n---\n";
    Config c = load_ok(native + kExport);
    // kube-dns is the cluster DNS: svcgw's own responder, no VIP.
    const ServiceConfig* dns = find(c, "kube-system/kube-dns");
    ASSERT_NE(dns, nullptr);
    EXPECT_TRUE(dns->dns_service);
    auto built = Service::build(*dns, MaglevConfig{});
    ASSERT_TRUE(built.has_value());
    EXPECT_FALSE((*built)->cluster_ip().has_value()) << "no VIP: the DNS responder answers";
    ASSERT_NE(find(c, "default/kubernetes"), nullptr);
    // One line each, with a precise error; nothing else fails.
    std::vector<std::string> left;
    for (const SkippedObject& o : c.skipped) {
        left.push_back(o.object);
    }
    std::sort(left.begin(), left.end());
    EXPECT_EQ(left, (std::vector<std::string>{"Service/default/clash", "Service/default/elsewhere",
                                              "Service/default/sctp", "documents[1].items[5]"}))
        << all_skipped(c.skipped);
    auto error_of = [&](const std::string& object) {
        for (const SkippedObject& o : c.skipped) {
            if (o.object == object) {
                return o.errors;
            }
        }
        return Errors{};
    };
    EXPECT_TRUE(mentions(error_of("Service/default/elsewhere"), "outside service_cidr"));
    EXPECT_TRUE(mentions(error_of("Service/default/sctp"), "unsupported protocol 'SCTP'"));
    EXPECT_TRUE(mentions(error_of("Service/default/clash"), "already used by service"));
    EXPECT_TRUE(mentions(error_of("documents[1].items[5]"), "unsupported kind 'Deployment'"));
    auto lines = skipped_lines(c.skipped);
    EXPECT_EQ(lines.size(), 4u);

    // The native document stays all or nothing: one error there fails all.
    auto bad = load_config("dns: {ttl_s: -1}\n---\n" + std::string(kExport), kSource);
    ASSERT_FALSE(bad.has_value());
    EXPECT_TRUE(mentions(bad.error(), "dns.ttl_s"));
    // A Service on the DNS address that is not DNS is refused.
    Config not_dns =
        load_ok(native + service("web", "{clusterIP: 10.96.0.10, ports: [{port: 80}]}"));
    ASSERT_EQ(not_dns.skipped.size(), 1u);
    EXPECT_TRUE(mentions(not_dns.skipped[0].errors, "only a DNS Service"));
}

TEST_F(Fixture, ApplyOfAnExportTakesWhatItCanAndKeepsRunningVersions) {
    // kubernetes is applied first; then an export where it clashes with a
    // bad update of itself: the running version stays.
    auto r = call("POST", "/v1/apply",
                  service("api", "{clusterIP: 10.96.0.70, ports: [{name: https, port: 443}]}"));
    ASSERT_EQ(r.status, 200) << r.body;
    const std::string before = json::parse(call("GET", "/v1/namespaces/default/services/api").body)
                                   .value("cluster_ip", "");
    r = call("POST", "/v1/apply",
             service("api", "{clusterIP: 10.100.0.70, ports: [{name: https, port: 443}]}") +
                 service("new", "{clusterIP: 10.96.0.71, ports: [{port: 80}]}"));
    ASSERT_EQ(r.status, 200) << r.body;
    json j = json::parse(r.body);
    ASSERT_EQ(j["skipped"].size(), 1u) << r.body;
    EXPECT_EQ(j["skipped"][0]["object"], "Service/default/api");
    ASSERT_EQ(j["results"].size(), 1u);
    EXPECT_EQ(j["results"][0]["name"], "new");
    EXPECT_EQ(state.find("default", "api")->config.cluster_ip->str(), before);
    EXPECT_EQ(state.find("default", "api")->origin, Origin::api);
    // Nothing taken: 422, nothing changed.
    const std::string snap = snapshot();
    r = call("POST", "/v1/apply", service("far", "{clusterIP: 10.100.0.1, ports: [{port: 80}]}"));
    EXPECT_EQ(r.status, 422) << r.body;
    EXPECT_EQ(snapshot(), snap);
    // An error answer like any other (error, reason, path), with skipped.
    j = json::parse(r.body);
    EXPECT_NE(j.value("error", "").find("Service/default/far: "), std::string::npos) << r.body;
    EXPECT_EQ(j.value("reason", ""), "Invalid");
    EXPECT_EQ(j.value("path", ""), "Service/default/far.spec.clusterIP") << r.body;
    EXPECT_EQ(j["skipped"].size(), 1u);
    // A left-out object whose error quotes bytes that are not UTF-8 (an
    // unknown key): the answer is still the 200 of what was taken (the
    // fuzz_api crash input: it was a 500 after the state had changed).
    r = call("POST", "/v1/apply",
             service("kept", "{clusterIP: 10.96.0.73, ports: [{port: 80}]}") +
                 "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: "
                 "kept-1, labels: {kubernetes.io/service-name: kept}}\na\xa6\x9bType: IPv4\n");
    ASSERT_EQ(r.status, 200) << r.body;
    j = json::parse(r.body);
    ASSERT_EQ(j["skipped"].size(), 1u) << r.body;
    EXPECT_NE(j["skipped"][0].dump().find("\xef\xbf\xbd"), std::string::npos) << r.body;
    EXPECT_NE(state.find("default", "kept"), nullptr);
    // Nothing taken, same bytes: 422 (not 500), nothing changed.
    const std::string kept = snapshot();
    r = call("POST", "/v1/apply",
             "apiVersion: v1\nkind: Service\nmetadata: {name: odd}\nspec: {clusterIP: "
             "10.96.0.74, \xa6: 1, ports: [{port: 80}]}\n");
    EXPECT_EQ(r.status, 422) << r.body;
    EXPECT_FALSE(json::parse(r.body, nullptr, false).is_discarded()) << r.body;
    EXPECT_EQ(snapshot(), kept);
    // Warnings come back with the results, and in GET (describe).
    r = call("POST", "/v1/apply",
             service("local",
                     "{clusterIP: 10.96.0.72, internalTrafficPolicy: Local, ports: "
                     "[{port: 80}]}"));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(json::parse(r.body)["warnings"][0].get<std::string>().find("internalTrafficPolicy"),
              std::string::npos);
    json got = json::parse(call("GET", "/v1/namespaces/default/services/local").body);
    ASSERT_EQ(got["warnings"].size(), 1u) << got.dump();
    std::string described = describe_service(got);
    EXPECT_NE(described.find("Warnings:\n  Service/default/local.spec.internalTrafficPolicy: "),
              std::string::npos)
        << described;
}

TEST_F(Fixture, ReloadTakesTheFilesKubernetesObjectsOneByOne) {
    const std::string file = std::string(kBaseConfig) + R"(---
apiVersion: v1
kind: Service
metadata: {name: kweb}
spec: {clusterIP: 10.96.0.80, ports: [{port: 80}]}
)";
    auto parsed = parse_config(file, "f.yaml");
    ASSERT_TRUE(parsed) << all_errors(parsed.error());
    auto done = state.reload(*parsed, 10);
    ASSERT_TRUE(done) << all_errors(done.error());
    ASSERT_NE(state.find("default", "kweb"), nullptr);
    // The same object, now outside the CIDR: left out, the running one stays.
    std::string bad = file;
    bad.replace(bad.find("10.96.0.80"), 10, "10.200.0.8");
    parsed = parse_config(bad, "f.yaml");
    ASSERT_TRUE(parsed);
    done = state.reload(*parsed, 20);
    ASSERT_TRUE(done) << all_errors(done.error());
    ASSERT_EQ(done->skipped.size(), 1u);
    EXPECT_EQ(state.find("default", "kweb")->config.cluster_ip->str(), "10.96.0.80");
    // A native error still refuses the whole reload.
    std::string native_bad = file;
    native_bad.replace(native_bad.find("10.96.0.50"), 10, "10.200.0.5");  // outside the CIDR
    parsed = parse_config(native_bad, "f.yaml");
    ASSERT_TRUE(parsed);
    const std::string snap = snapshot();
    EXPECT_FALSE(state.reload(*parsed, 30));
    EXPECT_EQ(snapshot(), snap);
}

}  // namespace
}  // namespace svcgw
