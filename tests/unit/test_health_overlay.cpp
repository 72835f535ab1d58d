// Health checks through the control plane (issue 14): real probes against
// listeners, verdicts republished through ControlState into the VIP table,
// health kept across changes from other origins, all-down policies, events
// and metrics. The process moves into a network namespace of its own (needs
// root, as the integration tests), so backends can have ordinary unicast
// addresses (10.77.0.x on its loopback) that the config accepts.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "control/health_overlay.hpp"
#include "control/snapshot_publisher.hpp"
#include "telemetry/stats.hpp"
#include "test_eal.hpp"

namespace svcgw {
namespace {

bool g_own_netns = false;

class Environment : public ::testing::Environment {
public:
    void SetUp() override {
        // Before EAL starts threads: the namespace is per thread.
        if (geteuid() == 0 && unshare(CLONE_NEWNET) == 0) {
            g_own_netns =
                std::system(
                    "ip link set lo up && ip addr add 10.77.0.1/32 dev lo && "
                    "ip addr add 10.77.0.2/32 dev lo && ip addr add 10.77.0.3/32 dev lo") == 0;
        }
        svcgw::test_support::init_test_eal("test_health_overlay");
    }
    void TearDown() override { rte_eal_cleanup(); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new Environment);

constexpr uint16_t kPort = 8080;

// A listener on ADDRESS:8080 while it lives (the kernel completes the
// handshakes; a thread accepts and closes so the queue never fills).
class Backend {
public:
    explicit Backend(const char* address) {
        _fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        const int one = 1;
        setsockopt(_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(kPort);
        a.sin_addr.s_addr = htonl(Ipv4::parse(address)->value);
        EXPECT_EQ(bind(_fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << address;
        EXPECT_EQ(listen(_fd, 128), 0);
    }
    ~Backend() { close(_fd); }
    void drain() {
        for (int c; (c = accept(_fd, nullptr, nullptr)) >= 0;) {
            close(c);
        }
    }

private:
    int _fd = -1;
};

Config base() {
    auto c = load_config("ports: [{name: ext0, device: net_null0, address: 10.99.0.1/24}]\n",
                         "test.yaml");
    EXPECT_TRUE(c);
    return *c;
}

ServiceConfig web(AllDownPolicy policy = AllDownPolicy::fail_open, bool checked = true) {
    auto parsed = parse_services(
        "services:\n"
        "  - name: web\n"
        "    cluster_ip: 10.96.0.20\n"
        "    ports: [{port: 80, target_port: 8080}]\n"
        "    endpoints: [{ip: 10.77.0.1}, {ip: 10.77.0.2}, {ip: 10.77.0.3}]\n",
        "web.yaml");
    EXPECT_TRUE(parsed);
    ServiceConfig s = parsed->at(0);
    if (checked) {
        HealthCheckConfig c;
        c.interval_ms = 100;
        c.timeout_ms = 80;
        c.rise = 2;
        c.fall = 2;
        s.ports[0].health_check = c;
        s.ports[0].all_down = policy;
    }
    return s;
}

struct Overlay : ::testing::Test {
    void SetUp() override {
        if (!g_own_netns) {
            GTEST_SKIP() << "needs root for a network namespace of its own";
        }
        qsbr = static_cast<rte_rcu_qsbr*>(
            rte_zmalloc("q", rte_rcu_qsbr_get_memsize(1), RTE_CACHE_LINE_SIZE));
        rte_rcu_qsbr_init(qsbr, 1);
        table = std::move(*ServiceTable::create(qsbr));
        publisher = std::make_unique<SnapshotPublisher>(*table, MaglevConfig{});
        checker = std::move(*health::HealthChecker::create({.max_in_flight = 16, .seed = 9}));
        overlay = std::make_unique<HealthOverlay>(
            *publisher, *checker, *table, [this](const std::string& l) { log.push_back(l); });
        state = std::make_unique<ControlState>(base(), *overlay, 0);
    }
    void TearDown() override {
        state.reset();
        overlay.reset();
        checker.reset();
        publisher.reset();
        table.reset();
        rte_free(qsbr);
    }
    void apply(const ServiceConfig& s) {
        auto done = state->apply({s}, false, 0);
        ASSERT_TRUE(done) << done.error().message;
    }
    // Runs the control loop's health step until `done` or 3 s.
    bool pump(const std::function<bool()>& done) {
        const uint64_t end = health::now_us() + 3'000'000;
        while (health::now_us() < end) {
            pollfd p{checker->fd(), POLLIN, 0};
            const bool ready = ::poll(&p, 1, 5) > 0;
            for (auto* b : backends) {
                b->drain();
            }
            if (ready) {
                overlay->run(*state);  // only when the fd says so, as the daemon does
            }
            if (done()) {
                return true;
            }
        }
        return done();
    }
    // Addresses in the live ring of port 80, and its all-down state.
    std::set<std::string> ring() const {
        std::set<std::string> out;
        const Service* svc = table->find("default", "web");
        const MaglevRing& r = *svc->ports()[0].ring;
        for (uint32_t i = 0; i < r.size(); ++i) {
            out.insert(Ipv4{ntohl(svc->backends()[r.at(i)].ip_be)}.str());
        }
        return out;
    }
    AllDownState all_down() const { return table->find("default", "web")->ports()[0].all_down; }
    bool logged(const std::string& fragment) const {
        for (const std::string& l : log) {
            if (l.find(fragment) != std::string::npos) {
                return true;
            }
        }
        return false;
    }

    rte_rcu_qsbr* qsbr = nullptr;
    std::unique_ptr<ServiceTable> table;
    std::unique_ptr<SnapshotPublisher> publisher;
    std::unique_ptr<health::HealthChecker> checker;
    std::unique_ptr<HealthOverlay> overlay;
    std::unique_ptr<ControlState> state;
    std::vector<Backend*> backends;
    std::vector<std::string> log;
};

using Set = std::set<std::string>;

TEST_F(Overlay, VerdictsRepublishAndSurviveChangesFromOtherOrigins) {
    Backend one("10.77.0.1"), two("10.77.0.2");  // nothing on .3: refused
    backends = {&one, &two};
    apply(web());
    EXPECT_EQ(ring(), (Set{"10.77.0.1", "10.77.0.2", "10.77.0.3"})) << "new backends start up";
    const uint64_t version = state->version();
    ASSERT_TRUE(pump([&] { return ring() == Set{"10.77.0.1", "10.77.0.2"}; }));
    EXPECT_EQ(state->version(), version) << "a verdict is not a config change";
    EXPECT_TRUE(
        logged("health: 10.77.0.3:8080 (tcp) down after 2 failed probes (last: refused); "
               "service default/web"));
    EXPECT_NE(table->find("default", "web")->find_backend(htonl(Ipv4::parse("10.77.0.3")->value)),
              nullptr)
        << "still a backend: its flows keep it";

    // Another origin rewrites the service (a weight): health is not forgotten.
    ServiceConfig reweighted = web();
    reweighted.endpoints[0].weight = 300;
    apply(reweighted);
    EXPECT_GT(state->version(), version);
    EXPECT_EQ(ring(), (Set{"10.77.0.1", "10.77.0.2"}));

    // Status for the API and the metrics.
    bool down_seen = false;
    for (const ProbeStats& p : overlay->status("default/web")) {
        if (p.ip == "10.77.0.3") {
            down_seen = !p.up && p.probed && p.last == "refused" && p.probe_port == kPort;
        }
    }
    EXPECT_TRUE(down_seen);
    ASSERT_EQ(overlay->events("default/web").size(), 1u);
    EXPECT_FALSE(overlay->events("default/web")[0].up);
    StatsSnapshot stats;
    BackendStats three_stats;
    three_stats.ns = "default";
    three_stats.service = "web";
    three_stats.ip = "10.77.0.3";
    stats.backends.push_back(three_stats);
    overlay->fill(stats);
    ASSERT_EQ(stats.backends[0].health.size(), 1u);
    EXPECT_FALSE(stats.backends[0].health[0].up);
    EXPECT_EQ(stats.health.down, 1u);
    EXPECT_NE(render_prometheus(stats).find("svcgw_backend_healthy{namespace=\"default\","
                                            "service=\"web\",port=\"80\",backend=\"10.77.0.3\"} 0"),
              std::string::npos);

    // Back after `rise` good probes.
    Backend three("10.77.0.3");
    backends.push_back(&three);
    ASSERT_TRUE(pump([&] { return ring().size() == 3; }));
    EXPECT_TRUE(logged("health: 10.77.0.3:8080 (tcp) up after 2 good probes"));

    // Without a check, nothing is asked: all three, whatever the probes said.
    apply(web(AllDownPolicy::fail_open, false));
    EXPECT_EQ(ring().size(), 3u);
    EXPECT_TRUE(overlay->status("default/web").empty());
}

TEST_F(Overlay, AllDownFailOpenAndReject) {
    apply(web(AllDownPolicy::fail_open));  // nothing listens anywhere
    ASSERT_TRUE(pump([&] { return all_down() == AllDownState::fail_open; }));
    EXPECT_EQ(ring().size(), 3u) << "fail_open: every backend anyway";
    EXPECT_TRUE(
        logged("health: default/web port 80/TCP: every backend failed its health check; "
               "all_down: fail_open, sending to all 3 eligible backends anyway"));
    apply(web(AllDownPolicy::reject));
    EXPECT_EQ(all_down(), AllDownState::reject) << "a policy change keeps the verdicts";
    EXPECT_TRUE(ring().empty());
    EXPECT_TRUE(logged("all_down: reject, refusing new connections"));
    EXPECT_EQ(overlay->summary().all_down, 2u);

    Backend one("10.77.0.1");
    backends = {&one};
    ASSERT_TRUE(pump([&] { return all_down() == AllDownState::no; }));
    EXPECT_EQ(ring(), Set{"10.77.0.1"});
    EXPECT_TRUE(logged("a backend passes its health check again; all-down is over"));
}

TEST_F(Overlay, RemovedServicesStopBeingProbed) {
    apply(web());
    EXPECT_EQ(checker->totals().targets, 3u);
    ASSERT_TRUE(state->remove("default", "web"));
    EXPECT_EQ(checker->totals().targets, 0u);
    EXPECT_TRUE(overlay->status("default/web").empty());
}

}  // namespace
}  // namespace svcgw
