// The control plane without sockets or DPDK: ControlState over a fake
// publisher, the API handler over an inline executor. Shared by the
// control-plane unit suites.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "control/api.hpp"
#include "control/control_queue.hpp"
#include "control/state.hpp"

namespace svcgw::testing_control {

using json = nlohmann::json;

// Records what would reach the data plane; can be told to fail.
class FakePublisher : public ServicePublisher {
public:
    Result<void> publish(const ServiceDiff& diff, const MaglevConfig&) override {
        ++calls;
        if (fail_next) {
            fail_next = false;
            return fail("", "table full");
        }
        apply_diff(published, diff);
        last_added = diff.added.size();
        last_changed = diff.changed.size();
        last_removed = diff.removed.size();
        return {};
    }
    int calls = 0;
    bool fail_next = false;
    std::map<std::string, ServiceConfig> published;  // by "ns/name"
    size_t last_added = 0, last_changed = 0, last_removed = 0;
};

class FakeBackend : public ControlBackend {
public:
    explicit FakeBackend(ControlState& s) : _state(s) {}
    ControlState& state() override { return _state; }
    StatsSnapshot stats() override {
        StatsSnapshot s;
        s.services = _state.records().size();
        for (const auto& [key, r] : _state.records()) {
            for (const auto& p : r.config.ports) {
                PortStats ps;
                ps.ns = r.config.ns;
                ps.service = r.config.name;
                ps.port = p.port;
                ps.protocol = std::string(to_string(p.protocol));
                ps.traffic.packets = 7;
                s.ports.push_back(ps);
            }
        }
        WorkerStatsView w;
        w.drops = {{"no_service", 3}};
        s.workers.push_back(w);
        s.exception_path = ExceptionPathView{true, "svcgw0", 5, 1, 4, 2, 0};
        return s;
    }
    std::vector<FlowSample> flows(size_t limit) override {
        std::vector<FlowSample> out(std::min<size_t>(limit, 5));
        return out;
    }
    ServiceHealth health(const std::string& key) override {
        auto it = health_of.find(key);
        return it == health_of.end() ? ServiceHealth{} : it->second;
    }
    std::map<std::string, ServiceHealth> health_of;
    std::vector<OriginEvent> events() override { return origin_events; }
    std::vector<OriginEvent> origin_events;

private:
    ControlState& _state;
};

// The fixture's file: one file-owned service.
constexpr const char* kBaseConfig = R"(
ports: [{name: ext0, device: "net_null0", address: 10.99.0.1/24}]
network: {service_cidr: 10.96.0.0/16}
services:
  - name: filesvc
    cluster_ip: 10.96.0.50
    ports: [{port: 80, target_port: 8080}]
    endpoints: [{ip: 10.99.0.11}]
)";

inline Config base_config() {
    auto c = load_config(kBaseConfig, "test.yaml");
    EXPECT_TRUE(c) << (c ? "" : c.error()[0].str());
    return *c;
}

struct Fixture : ::testing::Test {
    Fixture() : state(base_config(), publisher, 1000), backend(state), exec(backend), api(exec) {}

    HttpResponse call(const std::string& method, const std::string& path,
                      const std::string& body = "", std::map<std::string, std::string> query = {},
                      std::map<std::string, std::string> headers = {}) {
        HttpRequest r;
        r.method = method;
        r.path = path;
        r.body = body;
        r.query = std::move(query);
        r.headers = std::move(headers);
        return api.handle(r);
    }
    // The externally visible state, to prove errors change nothing.
    std::string snapshot() {
        auto r = call("GET", "/v1/services");
        return r.body + std::to_string(state.version()) + std::to_string(publisher.calls);
    }
    // resourceVersion of a service, as GET .../endpoints returns it.
    std::string version_of(const std::string& name, const std::string& ns = "default") {
        auto r = call("GET", "/v1/namespaces/" + ns + "/services/" + name + "/endpoints");
        return json::parse(r.body).value("resourceVersion", "");
    }
    void expect_error(const HttpResponse& r, int status, const std::string& reason) {
        EXPECT_EQ(r.status, status) << r.body;
        json j = json::parse(r.body);
        EXPECT_EQ(j.value("reason", ""), reason) << r.body;
        EXPECT_TRUE(j.contains("error")) << r.body;
        EXPECT_TRUE(j.contains("path")) << r.body;
    }

    FakePublisher publisher;
    ControlState state;
    FakeBackend backend;
    InlineExecutor exec;
    ApiHandler api;
};

}  // namespace svcgw::testing_control
