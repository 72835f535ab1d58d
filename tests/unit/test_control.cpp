// Control plane: ControlState semantics (all or nothing, VIP stability,
// reload rule) and the API handler's routes and error paths, without
// sockets; then a few requests over a real unix socket (mode, token).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "control/api.hpp"
#include "control/client.hpp"
#include "control/control_queue.hpp"
#include "control/kubectl.hpp"
#include "control/server.hpp"
#include "control/state.hpp"
#include "control_fixture.hpp"

namespace svcgw {
namespace {

using json = nlohmann::json;

using namespace testing_control;

const char* kWeb =
    R"({"ports": [{"port": 80, "target_port": 8080}], "endpoints": [{"ip": "10.99.0.21"}]})";

TEST_F(Fixture, HealthAndReady) {
    EXPECT_EQ(call("GET", "/healthz").status, 200);
    EXPECT_EQ(call("GET", "/readyz").status, 200);
    expect_error(call("POST", "/healthz"), 405, "MethodNotAllowed");
}

TEST_F(Fixture, CreateGetReplaceDelete) {
    auto r = call("PUT", "/v1/namespaces/default/services/web", kWeb);
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(json::parse(r.body)["results"][0]["action"], "created");
    const ServiceRecord* rec = state.find("default", "web");
    ASSERT_NE(rec, nullptr);
    ASSERT_TRUE(rec->config.cluster_ip);  // allocated from service_cidr
    const Ipv4 vip = *rec->config.cluster_ip;
    const int64_t created = rec->created_unix_s;  // rec dangles after the next change
    EXPECT_EQ(rec->origin, Origin::api);

    r = call("GET", "/v1/namespaces/default/services/web");
    ASSERT_EQ(r.status, 200);
    json j = json::parse(r.body);
    EXPECT_EQ(j["cluster_ip"], vip.str());
    EXPECT_EQ(j["endpoints"][0]["ip"], "10.99.0.21");
    EXPECT_EQ(j["stats"]["ports"][0]["traffic"]["packets"], 7);

    // Replace the endpoints: the allocated VIP never moves.
    const std::string list =
        R"("endpoints": [{"ip": "10.99.0.22", "weight": 50}, {"ip": "10.99.0.23"}]})";
    r = call("PUT", "/v1/namespaces/default/services/web/endpoints",
             R"({"resourceVersion": ")" + version_of("web") + "\", " + list);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(*state.find("default", "web")->config.cluster_ip, vip);
    EXPECT_EQ(state.find("default", "web")->config.endpoints.size(), 2u);
    // Same body again: unchanged, nothing published.
    int calls = publisher.calls;
    r = call("PUT", "/v1/namespaces/default/services/web/endpoints",
             R"({"resourceVersion": ")" + version_of("web") + "\", " + list);
    EXPECT_EQ(json::parse(r.body)["results"][0]["action"], "unchanged");
    EXPECT_EQ(publisher.calls, calls);

    // Whole-service PUT without the VIP keeps it too.
    r = call("PUT", "/v1/namespaces/default/services/web", kWeb);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["results"][0]["action"], "configured");
    EXPECT_EQ(*state.find("default", "web")->config.cluster_ip, vip);
    EXPECT_EQ(state.find("default", "web")->created_unix_s, created);

    r = call("DELETE", "/v1/namespaces/default/services/web");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(state.find("default", "web"), nullptr);
    EXPECT_EQ(publisher.last_removed, 1u);
}

// Health checks (issue 14): GET shows a port's check with the native keys
// (and the status when the backend reports one), and the GET body goes back
// through PUT unchanged.
TEST_F(Fixture, HealthCheckRoundTripsWithItsStatus) {
    auto r = call("PUT", "/v1/namespaces/default/services/web",
                  R"({"ports": [{"port": 80, "target_port": 8080, "health_check": {"protocol":
                  "http", "path": "/ready", "expect": "200-204", "fall": 1}, "all_down":
                  "reject"}], "endpoints": [{"ip": "10.99.0.21"}]})");
    ASSERT_EQ(r.status, 201) << r.body;
    ProbeStats probe;
    probe.port = 80;
    probe.ip = "10.99.0.21";
    probe.probe_port = 8080;
    probe.protocol = "http";
    probe.up = false;
    probe.probed = true;
    probe.last = "bad_status 500";
    HealthEventStats event;
    event.age_ms = 1500;
    event.message = "10.99.0.21:8080 (http) down after 1 failed probe";
    backend.health_of["default/web"] = ServiceHealth{{probe}, {event}};
    r = call("GET", "/v1/namespaces/default/services/web");
    json j = json::parse(r.body);
    const json& check = j["ports"][0]["health_check"];
    EXPECT_EQ(check["protocol"], "http");
    EXPECT_EQ(check["path"], "/ready");
    EXPECT_EQ(check["expect"], "200-204");
    EXPECT_EQ(check["fall"], 1);
    EXPECT_EQ(check["rise"], 2) << "defaults are shown";
    EXPECT_FALSE(check.contains("port")) << "the target port: left out";
    EXPECT_EQ(j["ports"][0]["all_down"], "reject");
    EXPECT_EQ(j["status"]["health"][0]["up"], false);
    EXPECT_EQ(j["status"]["health"][0]["last"], "bad_status 500");
    EXPECT_EQ(j["status"]["events"][0]["age_ms"], 1500);
    auto list = json::parse(call("GET", "/v1/services").body);
    EXPECT_EQ(list["items"][1]["status"]["health"][0]["ip"], "10.99.0.21") << list.dump();
    j.erase("stats");
    r = call("PUT", "/v1/namespaces/default/services/web", j.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["results"][0]["action"], "unchanged");
}

TEST_F(Fixture, ListFiltersByNamespace) {
    ASSERT_EQ(call("PUT", "/v1/namespaces/other/services/web", kWeb).status, 201);
    json all = json::parse(call("GET", "/v1/services").body);
    EXPECT_EQ(all["items"].size(), 2u);
    json other = json::parse(call("GET", "/v1/services", "", {{"namespace", "other"}}).body);
    ASSERT_EQ(other["items"].size(), 1u);
    EXPECT_EQ(other["items"][0]["namespace"], "other");
}

TEST_F(Fixture, ErrorPathsChangeNothing) {
    ASSERT_EQ(call("PUT", "/v1/namespaces/default/services/web", kWeb).status, 201);
    const std::string before = snapshot();
    struct Case {
        const char* what;
        std::string method, path, body;
        int status;
        const char* reason;
        std::map<std::string, std::string> headers = {};
    };
    const std::vector<Case> cases = {
        {"bad JSON", "PUT", "/v1/namespaces/default/services/web", "{\"ports\": [", 400,
         "BadRequest"},
        {"unknown field", "PUT", "/v1/namespaces/default/services/web",
         R"({"ports": [{"port": 80}], "colour": "red"})", 400, "BadRequest"},
        {"name mismatch", "PUT", "/v1/namespaces/default/services/web",
         R"({"name": "other", "ports": [{"port": 80}]})", 400, "BadRequest"},
        {"conflicting VIP", "PUT", "/v1/namespaces/default/services/clash",
         R"({"cluster_ip": "10.96.0.50", "ports": [{"port": 80}]})", 422, "Invalid"},
        {"VIP outside the CIDR", "PUT", "/v1/namespaces/default/services/far",
         R"({"cluster_ip": "10.1.0.1", "ports": [{"port": 80}]})", 422, "Invalid"},
        {"port 0", "PUT", "/v1/namespaces/default/services/web", R"({"ports": [{"port": 0}]})", 400,
         "BadRequest"},
        {"already exists",
         "PUT",
         "/v1/namespaces/default/services/web",
         kWeb,
         409,
         "AlreadyExists",
         {{"if-none-match", "*"}}},
        {"oversized body", "PUT", "/v1/namespaces/default/services/web",
         std::string(kMaxRequestBody + 1, ' '), 413, "RequestEntityTooLarge"},
        {"unknown service", "DELETE", "/v1/namespaces/default/services/nope", "", 404, "NotFound"},
        {"unknown service endpoints", "PUT", "/v1/namespaces/default/services/nope/endpoints",
         R"({"resourceVersion": "1", "endpoints": []})", 404, "NotFound"},
        {"endpoint list without resourceVersion", "PUT",
         "/v1/namespaces/default/services/web/endpoints", R"({"endpoints": []})", 428,
         "PreconditionRequired"},
        {"endpoint list, stale resourceVersion", "PUT",
         "/v1/namespaces/default/services/web/endpoints",
         R"({"resourceVersion": "1", "endpoints": []})", 409, "Conflict"},
        {"endpoint list, resourceVersion not a number", "PUT",
         "/v1/namespaces/default/services/web/endpoints",
         R"({"resourceVersion": "v2", "endpoints": []})", 400, "BadRequest"},
        {"endpoint list as a bare array", "PUT", "/v1/namespaces/default/services/web/endpoints",
         R"([{"ip": "10.99.0.3"}])", 400, "BadRequest"},
        {"bad endpoint IP", "PUT", "/v1/namespaces/default/services/web/endpoints",
         R"({"resourceVersion": "2", "endpoints": [{"ip": "10.99.0.300"}]})", 400, "BadRequest"},
        {"endpoint unknown field", "PUT", "/v1/namespaces/default/services/web/endpoints",
         R"({"resourceVersion": "2", "endpoints": [{"ip": "10.99.0.3", "colour": "a"}]})", 400,
         "BadRequest"},
        {"endpoint weight above 65535", "PUT", "/v1/namespaces/default/services/web/endpoints",
         R"({"resourceVersion": "2", "endpoints": [{"ip": "10.99.0.3", "weight": 65536}]})", 400,
         "BadRequest"},
        {"duplicate endpoint", "PUT", "/v1/namespaces/default/services/web/endpoints",
         R"({"resourceVersion": "2", "endpoints": [{"ip": "10.99.0.3"}, {"ip": "10.99.0.3"}]})",
         422, "Invalid"},
        {"unspecified endpoint address", "PATCH",
         "/v1/namespaces/default/services/web/endpoints/0.0.0.0", "{}", 422, "Invalid"},
        {"patch: ip differs from the URL", "PATCH",
         "/v1/namespaces/default/services/web/endpoints/10.99.0.3", R"({"ip": "10.99.0.4"})", 400,
         "BadRequest"},
        {"patch: weight type", "PATCH", "/v1/namespaces/default/services/web/endpoints/10.99.0.3",
         R"({"weight": "heavy"})", 400, "BadRequest"},
        {"drain an unknown endpoint", "POST",
         "/v1/namespaces/default/services/web/endpoints/10.99.0.9/drain", "", 404, "NotFound"},
        {"remove an unknown endpoint", "DELETE",
         "/v1/namespaces/default/services/web/endpoints/10.99.0.9", "", 404, "NotFound"},
        {"drain with GET", "GET", "/v1/namespaces/default/services/web/endpoints/10.99.0.21/drain",
         "", 405, "MethodNotAllowed"},
        {"not an address", "DELETE", "/v1/namespaces/default/services/web/endpoints/10.99.0", "",
         404, "NotFound"},
        {"service PUT, stale resourceVersion", "PUT", "/v1/namespaces/default/services/web",
         R"({"resourceVersion": "1", "ports": [{"port": 80}]})", 409, "Conflict"},
        {"wrong method", "POST", "/v1/namespaces/default/services/web", "", 405,
         "MethodNotAllowed"},
        {"wrong method on list", "DELETE", "/v1/services", "", 405, "MethodNotAllowed"},
        {"unknown path", "GET", "/v2/things", "", 404, "NotFound"},
        {"bad namespace", "GET", "/v1/namespaces/Bad_NS/services/web", "", 404, "NotFound"},
        {"apply bad YAML", "POST", "/v1/apply", "services: [ {", 400, "BadRequest"},
        {"apply nothing", "POST", "/v1/apply", "services: []", 400, "BadRequest"},
        {"apply conflicting VIPs", "POST", "/v1/apply",
         "services:\n- {name: a, cluster_ip: 10.96.0.7, ports: [{port: 80}]}\n"
         "- {name: b, cluster_ip: 10.96.0.7, ports: [{port: 80}]}\n",
         422, "Invalid"},
        {"flows bad limit", "GET", "/v1/flows?", "", 400, "BadRequest"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        std::map<std::string, std::string> query;
        if (std::string(c.what) == "flows bad limit") {
            query["limit"] = "-3";
        }
        HttpResponse r =
            call(c.method, c.path == "/v1/flows?" ? "/v1/flows" : c.path, c.body, query, c.headers);
        expect_error(r, c.status, c.reason);
        EXPECT_EQ(snapshot(), before);
    }
}

TEST_F(Fixture, PublisherFailureChangesNothing) {
    // A new service, and a change to an existing one (whose running record
    // is replaced in place before the publish and must be put back).
    const std::pair<std::string, std::string> changes[] = {
        {"/v1/namespaces/default/services/web", kWeb},
        {"/v1/namespaces/default/services/filesvc/endpoints",
         R"({"resourceVersion": ")" + version_of("filesvc") +
             R"(", "endpoints": [{"ip": "10.99.0.12"}]})"},
    };
    for (const auto& [path, body] : changes) {
        SCOPED_TRACE(path);
        const std::string listed = call("GET", "/v1/services").body;
        const std::vector<ServiceConfig> running = state.running_config().services;
        const uint64_t version = state.version();
        const int calls = publisher.calls;
        publisher.fail_next = true;
        auto r = call("PUT", path, body);
        // One status on both paths: a refused publish is 422, not a 500.
        EXPECT_EQ(r.status, 422) << r.body;
        EXPECT_TRUE(json::parse(r.body).contains("error")) << r.body;
        EXPECT_EQ(publisher.calls, calls + 1) << "the publish was attempted";
        EXPECT_EQ(state.find("default", "web"), nullptr);
        EXPECT_EQ(state.running_config().services, running) << "the running set did not move";
        EXPECT_EQ(call("GET", "/v1/services").body, listed);
        EXPECT_EQ(state.version(), version);
    }
}

TEST_F(Fixture, ApplyKubernetesListReportsActions) {
    const char* manifest = R"(apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: kweb, namespace: default}
  spec:
    clusterIP: 10.96.0.60
    sessionAffinity: ClientIP
    ports: [{name: http, port: 80, targetPort: http, protocol: TCP}]
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: kweb-abc, namespace: default, labels: {kubernetes.io/service-name: kweb}}
  addressType: IPv4
  ports: [{name: http, port: 8080, protocol: TCP}]
  endpoints:
  - addresses: [10.99.0.31]
    conditions: {ready: true}
  - addresses: [10.99.0.32]
    conditions: {ready: false, serving: true, terminating: true}
)";
    auto r = call("POST", "/v1/apply", manifest);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["results"][0]["action"], "created");
    const ServiceRecord* rec = state.find("default", "kweb");
    ASSERT_NE(rec, nullptr);
    EXPECT_EQ(rec->config.session_affinity, SessionAffinity::client_ip);
    ASSERT_EQ(rec->config.endpoints.size(), 2u);
    EXPECT_TRUE(rec->config.endpoints[1].terminating);
    r = call("POST", "/v1/apply", manifest);
    EXPECT_EQ(json::parse(r.body)["results"][0]["action"], "unchanged");
}

// Issue 11 §1: the feed owns its services (README, "Origins"). Every API
// write to one is a Conflict that names the owner and changes nothing; an
// apply still takes its other Kubernetes objects.
TEST_F(Fixture, ApiWritesToTheFeedsServicesAreConflicts) {
    ASSERT_EQ(call("PUT", "/v1/namespaces/default/services/web", kWeb).status, 201);
    ServiceConfig fed = state.find("default", "web")->config;
    ASSERT_TRUE(state.sync(Origin::kubernetes, {fed}, {}, 1000));
    ASSERT_EQ(state.find("default", "web")->origin, Origin::kubernetes);
    const ServiceConfig running = state.find("default", "web")->config;
    const std::string before = snapshot();
    const std::string v = version_of("web");
    const std::string svc = "/v1/namespaces/default/services/web";
    const std::string k8s_web = R"(apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ports: [{port: 81, targetPort: 8080}]
)";
    const std::string k8s_slice = R"(apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-x, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{port: 8080}]
endpoints: [{addresses: [10.99.0.29]}]
)";
    struct Case {
        const char* what;
        std::string method, path, body;
    };
    const std::string at_v = R"({"resourceVersion": ")" + v + "\", ";
    const Case cases[] = {
        {"replace", "PUT", svc, kWeb},
        {"replace at its version", "PUT", svc, at_v + R"("ports": [{"port": 80}]})"},
        {"delete", "DELETE", svc, ""},
        {"set endpoints", "PUT", svc + "/endpoints", at_v + R"("endpoints": []})"},
        {"add an endpoint", "PATCH", svc + "/endpoints/10.99.0.22", "{}"},
        {"remove an endpoint", "DELETE", svc + "/endpoints/10.99.0.21", ""},
        {"drain an endpoint", "POST", svc + "/endpoints/10.99.0.21/drain", ""},
        {"native apply", "POST", "/v1/apply", "services:\n- {name: web, ports: [{port: 80}]}\n"},
        {"native apply with a new service", "POST", "/v1/apply",
         "services:\n- {name: new1, ports: [{port: 80}]}\n- {name: web, ports: [{port: 80}]}\n"},
        {"apply of its Kubernetes Service", "POST", "/v1/apply", k8s_web},
        {"apply of an EndpointSlice for it", "POST", "/v1/apply", k8s_slice},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        HttpResponse r = call(c.method, c.path, c.body);
        expect_error(r, 409, "Conflict");
        EXPECT_NE(json::parse(r.body).value("error", "").find("owned by origin kubernetes"),
                  std::string::npos)
            << r.body;
        EXPECT_EQ(snapshot(), before);
    }
    // Read verbs are open, and an apply takes what the feed does not own.
    EXPECT_EQ(call("GET", svc).status, 200);
    auto r = call("POST", "/v1/apply",
                  k8s_web + "---\n" + k8s_slice +
                      "---\napiVersion: v1\nkind: Service\nmetadata: {name: mine}\n"
                      "spec: {ports: [{port: 80}]}\n");
    ASSERT_EQ(r.status, 200) << r.body;
    json answer = json::parse(r.body);
    ASSERT_EQ(answer["results"].size(), 1u) << r.body;
    EXPECT_EQ(answer["results"][0]["name"], "mine");
    ASSERT_EQ(answer["skipped"].size(), 2u) << r.body;
    EXPECT_EQ(answer["skipped"][0]["object"], "Service/default/web");
    EXPECT_EQ(answer["skipped"][1]["object"], "EndpointSlice/default/web-x");
    EXPECT_TRUE(state.find("default", "web")->config == running);
    EXPECT_EQ(state.endpoint_slices().find("default/web-x"), nullptr);
    // The file's services stay the API's to change until the next reload.
    EXPECT_EQ(call("DELETE", "/v1/namespaces/default/services/filesvc").status, 200);
}

// Issue 11 §1: the feed's per-object errors as an event list (GET
// /v1/events, `svcgwctl events`), oldest first, filtered by namespace.
TEST_F(Fixture, EventsListTheFeedsEvents) {
    backend.origin_events = {
        {1000, "Normal", "Synced", "Service", "first list published"},
        {1001, "Warning", "Rejected", "Service/shop/local",
         "externalTrafficPolicy Local: nat only"},
        {1002, "Warning", "InvalidObject", "EndpointSlice/default/web-x", "bad address"}};
    auto r = call("GET", "/v1/events");
    ASSERT_EQ(r.status, 200) << r.body;
    json all = json::parse(r.body);
    EXPECT_EQ(all["kind"], "EventList");
    ASSERT_EQ(all["items"].size(), 3u);
    EXPECT_EQ(all["items"][1]["type"], "Warning");
    EXPECT_EQ(all["items"][1]["reason"], "Rejected");
    EXPECT_EQ(all["items"][1]["object"], "Service/shop/local");
    EXPECT_EQ(all["items"][1]["lastTimestamp"], rfc3339(1001));
    r = call("GET", "/v1/events", "", {{"namespace", "shop"}});
    json shop = json::parse(r.body);
    ASSERT_EQ(shop["items"].size(), 1u) << r.body;
    EXPECT_EQ(shop["items"][0]["reason"], "Rejected");
    expect_error(call("POST", "/v1/events"), 405, "MethodNotAllowed");

    const std::string table = events_table(all["items"], 1061);
    const size_t synced = table.find("Synced");
    const size_t rejected = table.find(format_age(60) + " ");
    ASSERT_NE(synced, std::string::npos) << table;
    ASSERT_NE(rejected, std::string::npos) << table;
    EXPECT_LT(synced, rejected) << table;  // oldest first
    const std::string row = table.substr(rejected, table.find('\n', rejected) - rejected);
    for (const char* cell : {"Warning", "Rejected", "Service/shop/local", "nat only"}) {
        EXPECT_NE(row.find(cell), std::string::npos) << cell << " in " << row;
    }
    backend.origin_events.clear();
    EXPECT_EQ(json::parse(call("GET", "/v1/events").body)["items"].size(), 0u);
    EXPECT_EQ(events_table(json::array(), 1061), "");
}

// `svcgwctl describe svc` lists the feed's events about that Service (not
// another's), with its health events, oldest first.
TEST_F(Fixture, DescribeListsTheFeedsEventsOfTheService) {
    ASSERT_EQ(call("PUT", "/v1/namespaces/default/services/web", kWeb).status, 201);
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    backend.origin_events = {
        {now - 120, "Normal", "LoadBalancerStatus", "Service/default/web", "ingress 192.0.2.10"},
        {now - 60, "Warning", "Rejected", "Service/default/other", "not this one"},
        {now - 600, "Normal", "Synced", "Service", "first list published"}};
    json j = json::parse(call("GET", "/v1/namespaces/default/services/web").body);
    ASSERT_EQ(j["status"]["events"].size(), 1u) << j.dump();
    const json& e = j["status"]["events"][0];
    EXPECT_EQ(e["reason"], "LoadBalancerStatus");
    EXPECT_EQ(e["from"], "svcgw-kubernetes");
    EXPECT_GE(e["age_ms"].get<int64_t>(), 120'000);
    const std::string d = describe_service(j);
    EXPECT_NE(d.find("Normal   LoadBalancerStatus"), std::string::npos) << d;
    EXPECT_NE(d.find("svcgw-kubernetes   ingress 192.0.2.10"), std::string::npos) << d;
    EXPECT_EQ(d.find("not this one"), std::string::npos) << d;

    backend.origin_events.clear();
    j = json::parse(call("GET", "/v1/namespaces/default/services/web").body);
    EXPECT_FALSE(j.contains("status")) << j.dump();  // no health check, no events
    EXPECT_NE(describe_service(j).find("Events:                   <none>"), std::string::npos);
}

// Issue 10 §1: the endpoint verbs on a Service whose targetPort is a name.
// Every change keeps each endpoint's ports, so no endpoint ever resolves to
// "no port" (which took the whole Service down).
const char* kNamedPortService = R"(apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: shop}
  spec:
    clusterIP: 10.96.0.70
    ports: [{name: http, port: 80, targetPort: web, protocol: TCP}]
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: web-abc, namespace: shop, labels: {kubernetes.io/service-name: web}}
  addressType: IPv4
  ports: [{name: http, port: 8080, protocol: TCP}]
  endpoints:
  - addresses: [10.99.0.41]
  - addresses: [10.99.0.42]
)";

struct NamedPort : Fixture {
    NamedPort() {
        auto r = call("POST", "/v1/apply", kNamedPortService);
        EXPECT_EQ(r.status, 200) << r.body;
    }
    const ServiceConfig& web() { return state.find("shop", "web")->config; }
    // Target port of each endpoint for the service's port, as published.
    std::map<std::string, uint16_t> targets() {
        std::map<std::string, uint16_t> out;
        for (const auto& [key, s] : publisher.published) {
            if (s.key() == "shop/web") {
                for (const EndpointConfig& e : s.endpoints) {
                    out[e.ip.str()] = e.target_port_for(s.ports[0]);
                }
            }
        }
        return out;
    }
    std::string path(const std::string& rest = "") {
        return "/v1/namespaces/shop/services/web/endpoints" + rest;
    }
};

TEST_F(NamedPort, DrainKeepsEveryEndpointsPorts) {
    auto r = call("POST", path("/10.99.0.41/drain"));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(web().endpoints[0].terminating);
    EXPECT_FALSE(web().endpoints[0].ready);
    EXPECT_EQ(targets(),
              (std::map<std::string, uint16_t>{{"10.99.0.41", 8080}, {"10.99.0.42", 8080}}));
    // GET shows each endpoint's ports, and the version to send back.
    json got = json::parse(call("GET", path()).body);
    EXPECT_EQ(got["endpoints"][1]["ports"], json::parse(R"([{"name": "http", "port": 8080}])"));
    EXPECT_EQ(got["resourceVersion"], std::to_string(state.version()));
    // Draining again changes nothing and publishes nothing.
    const int calls = publisher.calls;
    r = call("POST", path("/10.99.0.41/drain"));
    EXPECT_EQ(json::parse(r.body)["results"][0]["action"], "unchanged");
    EXPECT_EQ(publisher.calls, calls);
}

TEST_F(NamedPort, AddRemoveAndSetKeepPorts) {
    // A new endpoint without ports could never get traffic: refused.
    const std::string before = snapshot();
    auto r = call("PATCH", path("/10.99.0.43"), R"({"weight": 10})");
    expect_error(r, 422, "Invalid");
    EXPECT_NE(json::parse(r.body)["error"].get<std::string>().find("targets the named port"),
              std::string::npos)
        << r.body;
    EXPECT_EQ(snapshot(), before);
    r = call("PATCH", path("/10.99.0.43"), R"({"ports": [{"name": "http", "port": 9090}]})");
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(json::parse(r.body)["results"][0]["action"], "created");
    EXPECT_EQ(targets()["10.99.0.43"], 9090);
    // A partial change keeps what it does not name.
    r = call("PATCH", path("/10.99.0.43"), R"({"weight": 10})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(web().endpoints[2].weight, 10u);
    EXPECT_EQ(targets()["10.99.0.43"], 9090);
    ASSERT_EQ(call("DELETE", path("/10.99.0.41")).status, 200);
    EXPECT_EQ(targets(),
              (std::map<std::string, uint16_t>{{"10.99.0.42", 8080}, {"10.99.0.43", 9090}}));
    // A full list that names addresses only keeps their ports.
    r = call("PUT", path(),
             R"({"resourceVersion": ")" + version_of("web", "shop") +
                 R"(", "endpoints": [{"ip": "10.99.0.42"}, {"ip": "10.99.0.43", "weight": 10}]})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(targets(),
              (std::map<std::string, uint16_t>{{"10.99.0.42", 8080}, {"10.99.0.43", 9090}}));
    // The GET -> PUT round trip is lossless (output-only fields accepted back).
    json got = json::parse(call("GET", path()).body);
    const std::string again = got.dump();
    r = call("PUT", path(), again);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["results"][0]["action"], "unchanged");
}

TEST_F(NamedPort, StaleListLosesNoUpdate) {
    // Two writers read the same version; the second one's replacement is
    // refused instead of silently undoing the first one's drain.
    const std::string version = version_of("web", "shop");
    ASSERT_EQ(call("POST", path("/10.99.0.42/drain")).status, 200);
    const std::string before = snapshot();
    auto r = call("PUT", path(),
                  R"({"resourceVersion": ")" + version +
                      R"(", "endpoints": [{"ip": "10.99.0.41"}, {"ip": "10.99.0.42"}]})");
    expect_error(r, 409, "Conflict");
    EXPECT_EQ(snapshot(), before);
    EXPECT_TRUE(web().endpoints[1].terminating);
    // A version of another service's change does not conflict.
    ASSERT_EQ(call("PUT", "/v1/namespaces/default/services/other", kWeb).status, 201);
    r = call("PUT", path(),
             R"({"resourceVersion": ")" + version_of("web", "shop") +
                 R"(", "endpoints": [{"ip": "10.99.0.41"}]})");
    EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(Fixture, EndpointConditionsDefaultAsKubernetes) {
    // The API's endpoint bodies go through the file's parser: serving unset
    // means true whatever ready says (kube-proxy's rule), weight at most 65535.
    ASSERT_EQ(call("PUT", "/v1/namespaces/default/services/web", kWeb).status, 201);
    auto r = call("PATCH", "/v1/namespaces/default/services/web/endpoints/10.99.0.24",
                  R"({"ready": false, "terminating": true, "weight": 65535})");
    ASSERT_EQ(r.status, 201) << r.body;
    const EndpointConfig& ep = state.find("default", "web")->config.endpoints.back();
    EXPECT_FALSE(ep.ready);
    EXPECT_TRUE(ep.serving);
    EXPECT_TRUE(ep.terminating);
    EXPECT_EQ(ep.weight, 65535u);
}

TEST_F(Fixture, HeadlessServiceHasNoVip) {
    auto r = call("PUT", "/v1/namespaces/default/services/db",
                  R"({"cluster_ip": "None", "ports": [{"port": 5432}]})");
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_TRUE(state.find("default", "db")->config.headless);
    EXPECT_EQ(json::parse(call("GET", "/v1/namespaces/default/services/db").body)["cluster_ip"],
              "None");
}

TEST_F(Fixture, ReloadKeepsApiServicesAndReplacesFileOnes) {
    ASSERT_EQ(call("PUT", "/v1/namespaces/default/services/web", kWeb).status, 201);
    const Ipv4 web_vip = *state.find("default", "web")->config.cluster_ip;
    Config file = base_config();
    file.services[0].endpoints[0].ip = *Ipv4::parse("10.99.0.12");
    ServiceConfig extra = file.services[0];
    extra.name = "filesvc2";
    extra.cluster_ip = *Ipv4::parse("10.96.0.51");
    file.services.push_back(extra);
    auto done = state.reload(file, 2000);
    ASSERT_TRUE(done);
    EXPECT_EQ(done->added, 1u);
    EXPECT_EQ(done->changed, 1u);
    ASSERT_NE(state.find("default", "web"), nullptr);  // API-created: kept
    EXPECT_EQ(*state.find("default", "web")->config.cluster_ip, web_vip);
    EXPECT_EQ(state.find("default", "filesvc")->config.endpoints[0].ip.str(), "10.99.0.12");

    // A file without filesvc2 deletes it (file-owned), never the API one.
    file.services.pop_back();
    done = state.reload(file, 3000);
    ASSERT_TRUE(done);
    EXPECT_EQ(done->removed, 1u);
    EXPECT_EQ(state.find("default", "filesvc2"), nullptr);
    EXPECT_NE(state.find("default", "web"), nullptr);

    // A reload that conflicts with an API service is rejected as a whole.
    Config clash = base_config();
    clash.services[0].cluster_ip = web_vip;
    const std::string before = snapshot();
    EXPECT_FALSE(state.reload(clash, 4000));
    EXPECT_EQ(snapshot(), before);
}

TEST_F(Fixture, ReloadAllocatesAgainstTheRunningSet) {
    const char* text = R"(
ports: [{name: ext0, device: "net_null0", address: 10.99.0.1/24}]
network: {service_cidr: 10.96.0.0/16}
services:
  - {name: auto1, ports: [{port: 80}]}
)";
    auto parsed = parse_config(text, "f.yaml");
    ASSERT_TRUE(parsed);
    ASSERT_TRUE(state.reload(*parsed, 10));
    const Ipv4 vip = *state.find("default", "auto1")->config.cluster_ip;
    const uint64_t version = state.version();
    // Same file again: nothing moves, nothing is published.
    auto again = state.reload(*parse_config(text, "f.yaml"), 20);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->changed + again->added + again->removed, 0u);
    EXPECT_EQ(state.version(), version);
    EXPECT_EQ(*state.find("default", "auto1")->config.cluster_ip, vip);
    // An API service holding an IP: a file service needing an allocation
    // gets another one, the reload is not refused.
    ASSERT_EQ(
        call("PUT", "/v1/namespaces/default/services/api1", R"({"ports": [{"port": 80}]})").status,
        201);
    const Ipv4 api_vip = *state.find("default", "api1")->config.cluster_ip;
    const std::string more = std::string(text) + "  - {name: auto2, ports: [{port: 80}]}\n";
    ASSERT_TRUE(state.reload(*parse_config(more, "f.yaml"), 30));
    EXPECT_NE(*state.find("default", "auto2")->config.cluster_ip, api_vip);
    EXPECT_EQ(*state.find("default", "auto1")->config.cluster_ip, vip);
    EXPECT_EQ(*state.find("default", "api1")->config.cluster_ip, api_vip);
    // The file dropped filesvc (file-owned): gone.
    EXPECT_EQ(state.find("default", "filesvc"), nullptr);
}

TEST_F(Fixture, StatsMetricsAndFlows) {
    auto r = call("GET", "/v1/stats");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(json::parse(r.body)["workers"][0]["drops"]["no_service"], 3);
    const json tap = json::parse(r.body)["exception_path"];
    EXPECT_EQ(tap["interface"], "svcgw0");
    EXPECT_EQ(tap["to_kernel"], 5);
    EXPECT_EQ(tap["to_kernel_failed"], 1);
    EXPECT_EQ(tap["from_kernel"], 4);
    EXPECT_EQ(tap["from_kernel_kept"], 2);
    EXPECT_EQ(tap["from_kernel_failed"], 0);
    r = call("GET", "/metrics");
    ASSERT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("svcgw_service_packets_total{namespace=\"default\",service=\"filesvc\","
                          "port=\"80\",protocol=\"TCP\"} 7"),
              std::string::npos)
        << r.body;
    EXPECT_NE(r.body.find("svcgw_worker_drops_total{worker=\"0\",reason=\"no_service\"} 3"),
              std::string::npos);
    EXPECT_NE(r.body.find("# TYPE svcgw_flows_active gauge"), std::string::npos);
    EXPECT_NE(r.body.find("svcgw_exception_path_frames_total{interface=\"svcgw0\","
                          "direction=\"to_kernel\",result=\"written\"} 5"),
              std::string::npos);
    EXPECT_NE(r.body.find("svcgw_exception_path_frames_total{interface=\"svcgw0\","
                          "direction=\"from_kernel\",result=\"kept\"} 2"),
              std::string::npos);
    r = call("GET", "/v1/flows", "", {{"limit", "2"}});
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(json::parse(r.body)["flows"].size(), 2u);
}

TEST_F(Fixture, StatsSummaryRendersTheApiAnswer) {
    // svcgwctl stats formats exactly what GET /v1/stats returns.
    std::string table = stats_summary(json::parse(call("GET", "/v1/stats").body));
    EXPECT_NE(table.find("default     filesvc   80/TCP"), std::string::npos) << table;
    EXPECT_NE(table.find("no_service=3"), std::string::npos) << table;
}

TEST(Listen, ParsesAndRejects) {
    auto u = parse_listen("unix:/run/svcgw/api.sock");
    ASSERT_TRUE(u);
    EXPECT_TRUE(u->is_unix);
    auto t = parse_listen("tcp:127.0.0.1:8080");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->port, 8080);
    EXPECT_FALSE(parse_listen("tcp:127.0.0.1:0"));
    EXPECT_FALSE(parse_listen("tcp:127.0.0.1:99999"));
    EXPECT_FALSE(parse_listen("unix:relative"));
    EXPECT_FALSE(parse_listen("http://x"));
}

TEST(Token, BearerComparison) {
    EXPECT_TRUE(bearer_matches("Bearer s3cret", "s3cret"));
    EXPECT_FALSE(bearer_matches("Bearer s3cre", "s3cret"));
    EXPECT_FALSE(bearer_matches("Bearer s3cretX", "s3cret"));
    EXPECT_FALSE(bearer_matches("bearer s3cret", "s3cret"));
    EXPECT_FALSE(bearer_matches("", "s3cret"));
    EXPECT_FALSE(bearer_matches("Bearer ", ""));
}

// Over real sockets: the control queue drained by a "control thread".
struct SocketFixture : Fixture {
    SocketFixture() {
        path = "/tmp/svcgw-test-" + std::to_string(getpid()) + ".sock";
        control = std::thread([this] {
            while (!stop) {
                queue.drain(backend);
                usleep(200);
            }
        });
    }
    ~SocketFixture() override {
        stop = true;
        control.join();
    }
    std::string path;
    ControlQueue queue;
    std::atomic<bool> stop{false};
    std::thread control;
};

}  // namespace
}  // namespace svcgw

namespace svcgw {
namespace {

TEST_F(SocketFixture, UnixSocketIsPrivateAndServes) {
    ApiHandler handler(queue);
    auto server = ApiServer::start("unix:" + path, "", handler, ServerRole::api);
    ASSERT_TRUE(server) << server.error().str();
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto client = make_client(*parse_listen("unix:" + path));
    auto r = client->Put("/v1/namespaces/default/services/web", kWeb, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 201) << r->body;
    r = client->Get("/v1/namespaces/default/services/nope");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(json::parse(r->body)["reason"], "NotFound");
    // Body over the limit: refused by the server with a JSON error, no change.
    const uint64_t version = state.version();
    r = client->Put("/v1/namespaces/default/services/web", std::string(kMaxRequestBody + 10, 'x'),
                    "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_EQ(state.version(), version);
}

TEST_F(SocketFixture, SlowClientDoesNotStallOthers) {
    ApiHandler handler(queue);
    auto server = ApiServer::start("unix:" + path, "", handler, ServerRole::api);
    ASSERT_TRUE(server);
    // A client that connects and sends half a request line, then waits.
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_GT(write(fd, "GET /hea", 8), 0);
    auto client = make_client(*parse_listen("unix:" + path));
    auto start = std::chrono::steady_clock::now();
    auto r = client->Get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
    close(fd);
}

TEST(ApiServerStart, TcpNeedsAToken) {
    struct NoBackend : ControlExecutor {
        HttpResponse execute(ControlJob) override { return {}; }
    } exec;
    ApiHandler handler(exec);
    auto refused = ApiServer::start("tcp:127.0.0.1:0", "", handler, ServerRole::api);
    EXPECT_FALSE(refused);
    auto missing =
        ApiServer::start("tcp:127.0.0.1:18080", "/nonexistent/token", handler, ServerRole::api);
    EXPECT_FALSE(missing);
}

TEST_F(SocketFixture, TcpRequiresTheBearerToken) {
    const std::string token_file = path + ".token";
    std::ofstream(token_file) << "s3cret-token\n";
    ApiHandler handler(queue);
    const int port = 20000 + getpid() % 20000;
    auto server = ApiServer::start("tcp:127.0.0.1:" + std::to_string(port), token_file, handler,
                                   ServerRole::api);
    ASSERT_TRUE(server) << server.error().str();
    httplib::ClientImpl client("127.0.0.1", port);
    const uint64_t version = state.version();
    auto r = client.Put("/v1/namespaces/default/services/web", kWeb, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_EQ(json::parse(r->body)["reason"], "Unauthorized");
    r = client.Put("/v1/namespaces/default/services/web", {{"Authorization", "Bearer wrong"}}, kWeb,
                   "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_EQ(state.version(), version);
    r = client.Put("/v1/namespaces/default/services/web",
                   {{"Authorization", "Bearer s3cret-token"}}, kWeb, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 201) << r->body;
    unlink(token_file.c_str());
}

}  // namespace
}  // namespace svcgw
