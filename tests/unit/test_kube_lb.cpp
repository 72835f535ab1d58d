// The feed's LoadBalancer side (issue 11 §2) without a network: which part
// of a Service svcgw serves per ownership, the pool address written back to
// the Service's status (once, not per event), the same address after a
// restart, <pending> for a Service svcgw cannot serve, and the status
// writer's retries.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "kube/feed_sync.hpp"
#include "kube/status_writer.hpp"
#include "kube_fixtures.hpp"

namespace svcgw::kube {
namespace {

json lb_json(const std::string& name, const std::string& cluster_ip,
             const std::vector<std::string>& status_ips = {}) {
    json s = service_json(name, cluster_ip, "LoadBalancer", "svcgw.io/lb");
    json ingress = json::array();
    for (const auto& ip : status_ips) {
        ingress.push_back({{"ip", ip}});
    }
    if (!status_ips.empty()) {
        s["status"]["loadBalancer"]["ingress"] = ingress;
    }
    return s;
}

Ipv4 ip(const char* text) {
    return *Ipv4::parse(text);
}

TEST(LoadBalancerObjects, StatusAndSpecFieldsAreDecoded) {
    json s = lb_json("web", "10.96.0.20", {"192.0.2.7"});
    s["spec"]["externalIPs"] = {"198.51.100.1"};
    s["spec"]["loadBalancerSourceRanges"] = {"10.1.2.3/16"};
    Object o = decode_object(Kind::service, s);
    ASSERT_TRUE(o.ok()) << o.errors.front().str();
    const auto& w = std::get<WatchedService>(o.value);
    EXPECT_EQ(w.meta.status_ips, std::vector<Ipv4>{ip("192.0.2.7")});
    EXPECT_EQ(w.config.load_balancer_ips, std::vector<Ipv4>{ip("192.0.2.7")});
    EXPECT_EQ(w.config.external_ips, std::vector<Ipv4>{ip("198.51.100.1")});
    EXPECT_EQ(w.config.source_ranges, std::vector<Ipv4Prefix>{*Ipv4Prefix::parse("10.1.0.0/16")});
    EXPECT_EQ(w.config.ports.at(0).node_port, 30080);
}

TEST(LoadBalancerModel, WhatIsServedFollowsOwnership) {
    Selection lb_only;  // LoadBalancers of our class, ClusterIPs left to kube-proxy
    ClusterModel model(lb_only, {Kind::service, Kind::endpoint_slice});
    json foreign = lb_json("other", "10.96.0.21", {"203.0.113.9"});
    foreign["spec"]["loadBalancerClass"] = "metallb";
    model.apply(relist(Kind::service, {lb_json("ours", "10.96.0.20"), foreign}));
    model.apply(relist(Kind::endpoint_slice, {}));
    auto ours = model.desired("default/ours");
    ASSERT_TRUE(ours);
    EXPECT_FALSE(ours->serve_cluster_ip);
    EXPECT_FALSE(model.desired("default/other")) << "another class, and no cluster_ips";
    EXPECT_TRUE(model.load_balancer_status("default/ours"));
    EXPECT_FALSE(model.load_balancer_status("default/other"));

    Selection seed = cluster_ips();
    ClusterModel both(seed, {Kind::service, Kind::endpoint_slice});
    foreign["spec"]["externalIPs"] = {"198.51.100.1"};
    both.apply(relist(Kind::service, {lb_json("ours", "10.96.0.20"), foreign}));
    ASSERT_TRUE(both.desired("default/ours"));
    EXPECT_TRUE(both.desired("default/ours")->serve_cluster_ip);
    auto other = both.desired("default/other");
    ASSERT_TRUE(other);
    // Its ClusterIP and external IPs, never its LB address nor one of our pool.
    EXPECT_EQ(other->type, ServiceType::cluster_ip);
    EXPECT_TRUE(other->load_balancer_ips.empty());
    EXPECT_EQ(other->external_ips, std::vector<Ipv4>{ip("198.51.100.1")});
    EXPECT_FALSE(both.load_balancer_status("default/other")) << "its status is not ours";
}

class RecordingSink : public StatusSink {
public:
    void request(const std::string& key, std::vector<Ipv4> ips) override {
        requests.emplace_back(key, std::move(ips));
    }
    std::vector<std::pair<std::string, std::vector<Ipv4>>> requests;
};

Config pool_config() {
    Config c = base_config();
    c.network.lb_pools.push_back(*Ipv4Range::parse("192.0.2.0/28"));
    return c;
}

struct LbFixture : ::testing::Test {
    RecordingPublisher publisher;
    RecordingSink status;
    std::unique_ptr<ControlState> state;
    std::unique_ptr<FeedSync> sync;
    std::vector<std::string> log;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();

    void SetUp() override { restart(); }
    void restart() {
        state = std::make_unique<ControlState>(pool_config(), publisher, 0);
        sync = std::make_unique<FeedSync>(Selection{},
                                          std::set<Kind>{Kind::service, Kind::endpoint_slice}, 5,
                                          [this](const std::string& l) { log.push_back(l); });
        sync->set_status_sink(&status);
    }
    void list(const std::vector<json>& services) {
        std::vector<Delta> d;
        d.push_back(relist(Kind::service, services));
        d.push_back(relist(Kind::endpoint_slice, {}));
        sync->receive(std::move(d));
        EXPECT_FALSE(sync->poll(*state, t0, 1000));
    }
    void event(const json& service, int ms) {
        std::vector<Delta> d;
        d.push_back(upsert(Kind::service, service));
        sync->receive(std::move(d));
        EXPECT_FALSE(sync->poll(*state, t0 + std::chrono::milliseconds(ms), 1000));
    }
    std::vector<Ipv4> served(const std::string& name) {
        const ServiceRecord* r = state->find("default", name);
        return r == nullptr ? std::vector<Ipv4>{} : r->config.load_balancer_ips;
    }
};

TEST_F(LbFixture, APoolAddressIsServedWrittenBackOnceAndKeptAcrossARestart) {
    list({lb_json("web", "10.96.0.20")});
    const std::vector<Ipv4> vip = served("web");
    ASSERT_EQ(vip.size(), 1u);
    EXPECT_TRUE(Ipv4Range::parse("192.0.2.0/28")->contains(vip[0]));
    EXPECT_FALSE(state->find("default", "web")->config.serve_cluster_ip);
    ASSERT_EQ(status.requests.size(), 1u);
    EXPECT_EQ(status.requests[0], (std::pair<std::string, std::vector<Ipv4>>{"default/web", vip}));
    // Unrelated events before the write lands ask nothing more.
    event(lb_json("web", "10.96.0.20"), 10);
    EXPECT_EQ(status.requests.size(), 1u);
    // The status event that follows the write changes nothing either.
    const int publishes = publisher.calls;
    event(lb_json("web", "10.96.0.20", {vip[0].str()}), 20);
    EXPECT_EQ(status.requests.size(), 1u);
    EXPECT_EQ(publisher.calls, publishes);
    // A restart lists the Service with its status: the same VIP, no write.
    restart();
    status.requests.clear();
    list({lb_json("web", "10.96.0.20", {vip[0].str()})});
    EXPECT_EQ(served("web"), vip);
    EXPECT_TRUE(status.requests.empty());
}

TEST_F(LbFixture, AServiceSvcgwCannotServeShowsPending) {
    // Asks for an address of the port's link: refused, and the status it
    // shows (left by someone else) is cleared.
    json bad = lb_json("bad", "10.96.0.30", {"10.99.0.1"});
    json local = lb_json("local", "10.96.0.31");
    local["spec"]["externalTrafficPolicy"] = "Local";  // fullnat: refused with the reason
    list({bad, local, lb_json("web", "10.96.0.20")});
    EXPECT_EQ(state->find("default", "bad"), nullptr);
    EXPECT_EQ(state->find("default", "local"), nullptr);
    bool cleared = false;
    for (const auto& [key, ips] : status.requests) {
        cleared = cleared || (key == "default/bad" && ips.empty());
        EXPECT_NE(key, "default/local") << "its status is already empty";
    }
    EXPECT_TRUE(cleared);
    bool reason = false;
    for (const FeedEvent& e : sync->events()) {
        reason = reason || (e.reason == "Rejected" && e.object == "Service/default/local" &&
                            e.message.find("forwarding.mode nat") != std::string::npos);
    }
    EXPECT_TRUE(reason);
    // The cleared status comes back: now svcgw gives it a pool address.
    event(lb_json("bad", "10.96.0.30"), 10);
    ASSERT_EQ(served("bad").size(), 1u);
    EXPECT_EQ(status.requests.back(),
              (std::pair<std::string, std::vector<Ipv4>>{"default/bad", served("bad")}));
}

TEST(StatusWriter, RetriesUntilDoneTheLatestRequestWinsAGoneServiceStops) {
    std::mutex m;
    std::vector<std::pair<std::string, std::string>> calls;
    int failures_left = 2;
    std::atomic<int> wakes{0};
    StatusWriter writer(
        [&](const std::string& path, const std::string& body) -> Result<HttpReply> {
            std::lock_guard lock(m);
            calls.emplace_back(path, body);
            if (path.find("/gone/") != std::string::npos) {
                return HttpReply{404, R"({"message":"services \"gone\" not found"})"};
            }
            if (failures_left > 0) {
                --failures_left;
                return HttpReply{500, R"({"message":"etcd away"})"};
            }
            return HttpReply{200, "{}"};
        },
        [&] { ++wakes; }, 1, 4);
    writer.request("default/web", {ip("192.0.2.1")});
    writer.request("default/gone", {});
    std::vector<StatusOutcome> outcomes;
    for (int i = 0; i < 2000 && outcomes.size() < 4; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        for (auto& o : writer.take_outcomes()) {
            outcomes.push_back(std::move(o));
        }
    }
    ASSERT_EQ(outcomes.size(), 4u);  // web: 2 failures + success; gone: 404
    int ok = 0, final_failure = 0;
    for (const StatusOutcome& o : outcomes) {
        ok += o.ok ? 1 : 0;
        final_failure += !o.ok && o.final ? 1 : 0;
    }
    EXPECT_EQ(ok, 1);
    EXPECT_EQ(final_failure, 1);
    EXPECT_EQ(writer.errors(), 3u);
    EXPECT_GE(wakes.load(), 1);
    std::lock_guard lock(m);
    EXPECT_EQ(calls.front().first.find("/api/v1/namespaces/default/services/"), 0u);
    EXPECT_EQ(ingress_patch({ip("192.0.2.1")}),
              R"({"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.1"}]}}})");
    EXPECT_EQ(ingress_patch({}), R"({"status":{"loadBalancer":{"ingress":null}}})");
}

}  // namespace
}  // namespace svcgw::kube
