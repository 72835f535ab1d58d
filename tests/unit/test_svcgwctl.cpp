// svcgwctl's kubectl formats: AGE, PORT(S), ENDPOINTS, table alignment,
// describe and error messages.
#include <gtest/gtest.h>

#include "control/api.hpp"
#include "control/kubectl.hpp"

namespace svcgw {
namespace {

using json = nlohmann::json;

TEST(Age, AsKubectlPrintsIt) {
    struct Case {
        int64_t seconds;
        const char* want;
    };
    const Case cases[] = {
        {-5, "<invalid>"},
        {-1, "0s"},
        {0, "0s"},
        {27, "27s"},
        {119, "119s"},
        {120, "2m"},
        {150, "2m30s"},
        {9 * 60 + 59, "9m59s"},
        {10 * 60 + 30, "10m"},
        {5 * 60, "5m"},
        {179 * 60, "179m"},
        {3 * 3600, "3h"},
        {3 * 3600 + 60, "3h1m"},
        {8 * 3600 + 59 * 60, "8h"},
        {47 * 3600, "47h"},
        {2 * 86400 + 10 * 3600, "2d10h"},
        {3 * 86400, "3d"},
        {8 * 86400, "8d"},
        {400 * 86400, "400d"},
        {2 * 365 * 86400 + 45 * 86400, "2y45d"},
        {9 * 365 * 86400, "9y"},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(format_age(c.seconds), c.want) << c.seconds;
    }
}

TEST(Age, FromTimestamp) {
    EXPECT_EQ(age_seconds(rfc3339(1'700'000'000), 1'700'000'027), 27);
    EXPECT_EQ(age_seconds("not a time", 5), -1);
}

TEST(Ports, TcpUdpAndEmpty) {
    EXPECT_EQ(format_ports(json::parse(R"([{"port": 80, "protocol": "TCP"}])")), "80/TCP");
    EXPECT_EQ(format_ports(json::parse(
                  R"([{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}])")),
              "80/TCP,53/UDP");
    EXPECT_EQ(format_ports(json::array()), "<none>");
}

json service(const char* name, const char* ip, json endpoints) {
    return json{{"name", name},
                {"namespace", "default"},
                {"cluster_ip", ip},
                {"ports", json::parse(R"([{"port": 80, "target_port": 80, "protocol": "TCP"}])")},
                {"endpoints", std::move(endpoints)},
                {"creationTimestamp", rfc3339(1000)}};
}

TEST(Endpoints, ReadyOnlyAndTruncated) {
    EXPECT_EQ(format_endpoints(service("a", "10.96.0.1", json::array())), "<none>");
    json eps = json::parse(R"([{"ip": "10.99.0.11", "ready": true},
                               {"ip": "10.99.0.12", "ready": true},
                               {"ip": "10.99.0.13", "ready": false},
                               {"ip": "10.99.0.14", "ready": true, "terminating": true}])");
    // Ready and terminating (publishNotReadyAddresses) is listed as ready.
    EXPECT_EQ(format_endpoints(service("a", "10.96.0.1", eps)),
              "10.99.0.11:80,10.99.0.12:80,10.99.0.14:80");
    json many = json::array();
    for (int i = 1; i <= 5; ++i) {
        many.push_back(json{{"ip", "10.0.0." + std::to_string(i)}, {"ready", true}});
    }
    EXPECT_EQ(format_endpoints(service("a", "10.96.0.1", many)),
              "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more...");
    // Named targetPort: each endpoint's own port.
    json named = service(
        "a", "10.96.0.1",
        json::parse(
            R"([{"ip": "10.0.0.9", "ready": true, "ports": [{"name": "http", "port": 8080}]}])"));
    named["ports"] = json::parse(R"([{"name": "http", "port": 80, "target_port": "http"}])");
    EXPECT_EQ(format_endpoints(named), "10.0.0.9:8080");
}

TEST(Table, ColumnsAlignWithThreeSpaces) {
    EXPECT_EQ(render_table({{"NAME", "AGE"}, {"mynginx", "5m"}}),
              "NAME      AGE\n"
              "mynginx   5m\n");
}

TEST(GetServices, KubectlLayout) {
    json items = json::array(
        {service("mynginx", "10.96.0.20", json::array()), service("db", "None", json::array())});
    EXPECT_EQ(services_table(items, {}, 1027),
              "NAME      TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE\n"
              "mynginx   ClusterIP   10.96.0.20   <none>        80/TCP    27s\n"
              "db        ClusterIP   None         <none>        80/TCP    27s\n");
    GetOptions all;
    all.all_namespaces = true;
    std::string t = services_table(items, all, 1027);
    EXPECT_EQ(t.substr(0, t.find('\n')),
              "NAMESPACE   NAME      TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE");
    EXPECT_EQ(services_table(json::array(), {}, 0), "");
    // The type column and an ExternalName's alias, as kubectl prints them.
    json lb = service("edge", "10.96.0.30", json::array());
    lb["type"] = "LoadBalancer";
    json alias = service("docs", "", json::array());
    alias["type"] = "ExternalName";
    alias["external_name"] = "docs.example.org";
    alias["ports"] = json::array();
    // A LoadBalancer without an address is <pending>; with them, its
    // load-balancer addresses then its externalIPs.
    EXPECT_EQ(services_table(json::array({lb, alias}), {}, 1027),
              "NAME   TYPE           CLUSTER-IP   EXTERNAL-IP        PORT(S)   AGE\n"
              "edge   LoadBalancer   10.96.0.30   <pending>          80/TCP    27s\n"
              "docs   ExternalName   <none>       docs.example.org   <none>    27s\n");
    lb["load_balancer_ips"] = {"192.0.2.5"};
    lb["external_ips"] = {"198.51.100.20"};
    const std::string served = services_table(json::array({lb}), {}, 1027);
    EXPECT_EQ(served.substr(served.find('\n') + 1),
              "edge   LoadBalancer   10.96.0.30   192.0.2.5,198.51.100.20   80/TCP    27s\n");
}

TEST(GetEndpoints, KubectlLayout) {
    json items = json::array({service("mynginx", "10.96.0.20",
                                      json::parse(R"([{"ip": "10.99.0.11", "ready": true}])"))});
    EXPECT_EQ(endpoints_table(items, {}, 1000 + 2 * 86400 + 10 * 3600),
              "NAME      ENDPOINTS       AGE\n"
              "mynginx   10.99.0.11:80   2d10h\n");
}

TEST(Describe, BackendShareAndTraffic) {
    json s = service("mynginx", "10.96.0.20",
                     json::parse(R"([{"ip": "10.99.0.11", "ready": true, "weight": 100}])"));
    s["stats"] = json::parse(R"({"backends": [{"ip": "10.99.0.11", "weight": 100, "ready": true,
        "ring_slots": 251, "ring_size": 251, "traffic": {"packets": 12, "bytes": 2048,
        "new_flows": 3, "active_flows": 1}}]})");
    std::string d = describe_service(s);
    EXPECT_NE(d.find("Name:                     mynginx\n"), std::string::npos) << d;
    EXPECT_NE(d.find("Type:                     ClusterIP\n"), std::string::npos);
    EXPECT_NE(d.find("Port:                     <unset>  80/TCP\n"), std::string::npos);
    EXPECT_NE(d.find("Endpoints:                10.99.0.11:80\n"), std::string::npos);
    EXPECT_NE(
        d.find(
            "10.99.0.11   100      ready   100.0%       3           1        12        2.0KiB   -"),
        std::string::npos)
        << d;
}

// Health checks (issue 14): a probe-down backend is not an endpoint for its
// port; describe shows the check, a HEALTH column and the events.
json checked_service() {
    json s = service("mynginx", "10.96.0.20", json::parse(R"([{"ip": "10.99.0.11"},
        {"ip": "10.99.0.12"}])"));
    s["ports"][0]["health_check"] = json::parse(R"({"protocol": "http", "path": "/healthz",
        "expect": "200-399", "interval_ms": 500, "timeout_ms": 300, "rise": 2, "fall": 3})");
    s["ports"][0]["all_down"] = "reject";
    s["status"] = json::parse(R"J({"health": [
        {"port": 80, "ip": "10.99.0.11", "up": true, "probed": true, "last": "ok",
         "last_age_ms": 400},
        {"port": 80, "ip": "10.99.0.12", "up": false, "probed": true, "last": "bad_status 500",
         "last_age_ms": 1200}],
        "events": [{"age_ms": 12000, "up": false, "type": "Warning", "reason": "BackendDown",
         "from": "svcgw-health",
         "message": "10.99.0.12:80 (http) down after 3 failed probes (last: bad_status 500)"}]})J");
    s["stats"] = json::parse(R"({"backends": [
        {"ip": "10.99.0.11", "weight": 100, "ready": true, "ring_slots": 251, "ring_size": 251},
        {"ip": "10.99.0.12", "weight": 100, "ready": true, "ring_slots": 0, "ring_size": 251}]})");
    return s;
}

TEST(GetEndpoints, ProbeDownBackendsAreNotListed) {
    EXPECT_EQ(format_endpoints(checked_service()), "10.99.0.11:80");
}

TEST(Describe, HealthCheckHealthColumnAndEvents) {
    const std::string d = describe_service(checked_service());
    EXPECT_NE(d.find("Health Check:             http /healthz expect 200-399, every 500ms, "
                     "timeout 300ms, rise 2, fall 3, all down: reject\n"),
              std::string::npos)
        << d;
    EXPECT_NE(d.find("10.99.0.11   100      ready   100.0%       0           0        0         0B "
                     "     up (ok 0.4s ago)\n"),
              std::string::npos)
        << d;
    EXPECT_NE(d.find("0B      down (bad_status 500 1.2s ago)\n"), std::string::npos) << d;
    EXPECT_NE(
        d.find("Warning   BackendDown   12s    svcgw-health   10.99.0.12:80 (http) down after 3 "
               "failed probes (last: bad_status 500)"),
        std::string::npos)
        << d;
    EXPECT_EQ(d.find("Events:                   <none>"), std::string::npos);
}

TEST(Errors, KubectlMessages) {
    EXPECT_EQ(server_error(404, R"({"error": "services \"x\" not found", "reason": "NotFound"})"),
              "Error from server (NotFound): services \"x\" not found");
    EXPECT_EQ(server_error(
                  409, R"({"error": "services \"x\" already exists", "reason": "AlreadyExists"})"),
              "Error from server (AlreadyExists): services \"x\" already exists");
    EXPECT_EQ(server_error(422, R"({"error": "ports[0].port: bad", "reason": "Invalid"})"),
              "Error from server (Invalid): ports[0].port: bad");
    EXPECT_EQ(server_error(502, "gateway exploded\n"),
              "Error from server (InternalError): gateway exploded");
}

}  // namespace
}  // namespace svcgw
