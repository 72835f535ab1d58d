// lib/config: the health-check settings of a service port (native
// `health_check`/`all_down`, manifests `svcgw.io/health-check-*`): defaults,
// one reader for both sources, every error with its path and position.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "config/config.hpp"
#include "config_fixture.hpp"

namespace svcgw {
namespace {

using namespace testing_config;

ServiceConfig one_service(const std::string& yaml) {
    auto loaded = load_config(yaml, kSource);
    EXPECT_TRUE(loaded.has_value()) << (loaded ? "" : all_errors(loaded.error()));
    if (!loaded || loaded->services.empty()) {
        return {};
    }
    return loaded->services.front();
}

std::string native(const std::string& port_extra) {
    return "services:\n  - name: web\n    ports:\n      - {port: 80" + port_extra +
           "}\n    endpoints: [{ip: 10.1.0.1}]\n";
}

std::string manifest(const std::string& annotations, const std::string& ports = "[{port: 80}]") {
    return "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n" + annotations +
           "spec:\n  ports: " + ports + "\n";
}

TEST(HealthConfig, NoHealthCheckMeansNoProbing) {
    const ServiceConfig svc = one_service(native(""));
    ASSERT_EQ(svc.ports.size(), 1u);
    EXPECT_FALSE(svc.ports[0].health_check.has_value());
    EXPECT_EQ(svc.ports[0].all_down, AllDownPolicy::fail_open);
    // A null value is absent, as for every other key.
    EXPECT_FALSE(one_service(native(", health_check: ")).ports[0].health_check.has_value());
}

TEST(HealthConfig, EmptyMappingTakesTheDocumentedDefaults) {
    const ServiceConfig svc = one_service(native(", health_check: {}"));
    ASSERT_TRUE(svc.ports[0].health_check.has_value());
    const HealthCheckConfig& hc = *svc.ports[0].health_check;
    EXPECT_EQ(hc.protocol, HealthProtocol::tcp);
    EXPECT_EQ(hc.port, 0);  // the target port
    EXPECT_EQ(hc.path, "/healthz");
    EXPECT_EQ(hc.expect_min, 200);
    EXPECT_EQ(hc.expect_max, 399);
    EXPECT_EQ(hc.interval_ms, 1000u);
    EXPECT_EQ(hc.timeout_ms, 500u);
    EXPECT_EQ(hc.rise, 2u);
    EXPECT_EQ(hc.fall, 3u);
    EXPECT_EQ(hc, HealthCheckConfig{});
}

TEST(HealthConfig, EveryNativeKeyIsRead) {
    const ServiceConfig svc = one_service(
        native(", health_check: {protocol: http, port: 8081, path: \"/ready?full=1\", expect: 204, "
               "interval_ms: 2000, timeout_ms: 1500, rise: 4, fall: 5}, all_down: reject"));
    const HealthCheckConfig& hc = svc.ports[0].health_check.value();
    EXPECT_EQ(hc.protocol, HealthProtocol::http);
    EXPECT_EQ(hc.port, 8081);
    EXPECT_EQ(hc.path, "/ready?full=1");
    EXPECT_EQ(hc.expect_min, 204);
    EXPECT_EQ(hc.expect_max, 204);
    EXPECT_EQ(hc.interval_ms, 2000u);
    EXPECT_EQ(hc.timeout_ms, 1500u);
    EXPECT_EQ(hc.rise, 4u);
    EXPECT_EQ(hc.fall, 5u);
    EXPECT_EQ(svc.ports[0].all_down, AllDownPolicy::reject);
}

TEST(HealthConfig, AnnotationsGiveTheSameCheckOnEveryPort) {
    const ServiceConfig from_annotations =
        one_service(manifest("    svcgw.io/health-check-protocol: http\n"
                             "    svcgw.io/health-check-port: \"8081\"\n"
                             "    svcgw.io/health-check-path: /ready?full=1\n"
                             "    svcgw.io/health-check-expect: \"200-299\"\n"
                             "    svcgw.io/health-check-interval-ms: \"2000\"\n"
                             "    svcgw.io/health-check-timeout-ms: \"1500\"\n"
                             "    svcgw.io/health-check-rise: \"4\"\n"
                             "    svcgw.io/health-check-fall: \"5\"\n"
                             "    svcgw.io/health-check-all-down: reject\n"
                             "    kubectl.kubernetes.io/last-applied-configuration: \"{}\"\n",
                             "[{name: http, port: 80}, {name: alt, port: 8080}]"));
    const ServiceConfig from_native = one_service(native(
        ", health_check: {protocol: http, port: 8081, path: \"/ready?full=1\", expect: 200-299, "
        "interval_ms: 2000, timeout_ms: 1500, rise: 4, fall: 5}, all_down: reject"));
    ASSERT_EQ(from_annotations.ports.size(), 2u);
    for (const ServicePortConfig& port : from_annotations.ports) {
        SCOPED_TRACE(port.name);
        ASSERT_TRUE(port.health_check.has_value());
        EXPECT_EQ(*port.health_check, *from_native.ports[0].health_check);
        EXPECT_EQ(port.all_down, AllDownPolicy::reject);
    }
}

TEST(HealthConfig, OneAnnotationEnablesTheDefaults) {
    const ServiceConfig svc = one_service(manifest("    svcgw.io/health-check-protocol: tcp\n"));
    ASSERT_TRUE(svc.ports[0].health_check.has_value());
    EXPECT_EQ(*svc.ports[0].health_check, HealthCheckConfig{});
    // Other annotations alone enable nothing.
    const ServiceConfig plain = one_service(manifest("    example.com/owner: team-a\n"));
    EXPECT_FALSE(plain.ports[0].health_check.has_value());
}

TEST(HealthConfig, KubernetesExampleCarriesTheAnnotations) {
    const char* dir = std::getenv("SVCGW_TEST_DATA");
    auto loaded = load_config_file(std::string(dir != nullptr ? dir : "tests/unit/data") +
                                   "/../../../config/k8s-example.yaml");
    ASSERT_TRUE(loaded.has_value()) << all_errors(loaded.error());
    const ServicePortConfig& port = loaded->services.at(0).ports.at(0);
    ASSERT_TRUE(port.health_check.has_value());
    EXPECT_EQ(port.health_check->protocol, HealthProtocol::http);
    EXPECT_EQ(port.health_check->path, "/healthz");
}

TEST(HealthConfig, JsonBodiesUseTheSameKeys) {
    auto parsed = parse_services(
        R"({"services": [{"name": "web", "ports": [{"port": 80, "health_check":
            {"protocol": "http", "expect": "200-204", "fall": 1}, "all_down": "reject"}]}]})",
        "request");
    ASSERT_TRUE(parsed.has_value()) << all_errors(parsed.error());
    const ServicePortConfig& port = (*parsed)[0].ports[0];
    EXPECT_EQ(port.health_check->protocol, HealthProtocol::http);
    EXPECT_EQ(port.health_check->expect_max, 204);
    EXPECT_EQ(port.health_check->fall, 1u);
    EXPECT_EQ(port.all_down, AllDownPolicy::reject);
}

TEST(HealthConfig, AChangedCheckIsAChangedService) {
    const ServiceConfig a = one_service(native(", health_check: {fall: 3}"));
    const ServiceConfig b = one_service(native(", health_check: {fall: 4}"));
    const ServiceConfig c = one_service(native(", health_check: {fall: 3}, all_down: reject"));
    EXPECT_FALSE(a == b);
    EXPECT_FALSE(a == c);
    EXPECT_TRUE(a == one_service(native(", health_check: {fall: 3}")));
}

TEST(HealthConfig, ProbePortIsTheCheckPortElseTheTargetPort) {
    ServicePortConfig port{"http", 80, 0, "web", Protocol::tcp};
    EndpointConfig ep;
    ep.ports = {EndpointPort{"http", 8080}};
    EXPECT_EQ(ep.probe_port_for(port), 0) << "no check, no probe";
    port.health_check = HealthCheckConfig{};
    EXPECT_EQ(ep.probe_port_for(port), 8080);
    port.health_check->port = 9000;
    EXPECT_EQ(ep.probe_port_for(port), 9000);
    EndpointConfig other;  // does not expose the named port: no traffic, no probe
    EXPECT_EQ(other.probe_port_for(port), 0);
}

// The error cases (path, message, position) are rows of test_config.cpp's
// tables, next to every other config error.

}  // namespace
}  // namespace svcgw
