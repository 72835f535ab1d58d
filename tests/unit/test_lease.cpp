// Lease membership (issue 13 §2): MicroTime, the Lease's JSON, the
// liveness rule (wall + monotonic, the freeze when the API is gone) and the
// agent's renew path (create, update, 409 re-read, 404 re-create, release)
// against a fake API that keeps resourceVersions as kube-apiserver does.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "kube/lease.hpp"
#include "kube/lease_agent.hpp"

namespace svcgw::kube {
namespace {

using json = nlohmann::json;

constexpr int64_t kS = 1000000;  // microseconds per second

TEST(MicroTime, FormatsAndParsesRfc3339) {
    // 2026-12-05T17:31:23.123456Z = 1796491883 s (date -u -d ... +%s).
    const int64_t t = 1796491883 * kS + 123456;
    EXPECT_EQ(format_micro_time(t), "2026-12-05T17:31:23.123456Z");
    EXPECT_EQ(parse_micro_time("2026-12-05T17:31:23.123456Z"), t);
    EXPECT_EQ(format_micro_time(0), "1970-01-01T00:00:00.000000Z");
    EXPECT_EQ(format_micro_time(951782400 * kS), "2000-02-29T00:00:00.000000Z");  // leap day
    // What other writers send: no fraction, nanoseconds, an offset.
    EXPECT_EQ(parse_micro_time("2026-12-05T17:31:23Z"), 1796491883 * kS);
    EXPECT_EQ(parse_micro_time("2026-12-05T17:31:23.123456789Z"), t);
    EXPECT_EQ(parse_micro_time("2026-12-05T18:31:23.123456+01:00"), t);
    EXPECT_EQ(parse_micro_time("2026-12-05T16:01:23.123456-01:30"), t);
    for (const char* bad :
         {"", "2026-12-05", "2026-12-05T17:31:23", "2026-13-05T17:31:23Z", "2026-12-05T17:31:23.Z",
          "2026-12-05T17:31:23Zjunk", "2026-12-05 17:31:23Z", "2026-12-05T17:31:23+0100"}) {
        EXPECT_FALSE(parse_micro_time(bad)) << bad;
    }
    for (int64_t v : {int64_t{1}, 59 * kS + 999999, 4102444800 * kS - 1}) {
        EXPECT_EQ(parse_micro_time(format_micro_time(v)), v) << v;
    }
}

TEST(LeaseJson, BodyRoundTripsAndCarriesTheVersion) {
    Lease lease{"svcgw-g1", "g1", 5, 100 * kS + 7, 90 * kS, "42"};
    const json body = json::parse(lease_body("kube-system", lease));
    EXPECT_EQ(body["apiVersion"], "coordination.k8s.io/v1");
    EXPECT_EQ(body["kind"], "Lease");
    EXPECT_EQ(body["metadata"]["namespace"], "kube-system");
    EXPECT_EQ(body["metadata"]["resourceVersion"], "42");
    EXPECT_EQ(body["metadata"]["labels"]["app.kubernetes.io/managed-by"], "svcgw");
    EXPECT_EQ(body["spec"]["renewTime"], "1970-01-01T00:01:40.000007Z");
    auto back = parse_lease(body.dump());
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, lease);
    lease.resource_version.clear();  // a create carries none
    EXPECT_FALSE(json::parse(lease_body("ns", lease))["metadata"].contains("resourceVersion"));
}

TEST(LeaseJson, ListSkipsABadLeaseButNotTheList) {
    const std::string body = R"({"kind":"LeaseList","metadata":{"resourceVersion":"9"},"items":[
        {"metadata":{"name":"svcgw-g1","resourceVersion":"5"},
         "spec":{"holderIdentity":"g1","leaseDurationSeconds":5,"renewTime":"2026-12-05T17:31:23.000000Z"}},
        {"metadata":{"name":"svcgw-g2"},"spec":{"renewTime":"yesterday"}},
        {"metadata":{"name":"svcgw-g3"}}]})";
    auto list = parse_lease_list(body);
    ASSERT_TRUE(list);
    EXPECT_EQ(list->resource_version, "9");
    ASSERT_EQ(list->items.size(), 2u);
    EXPECT_EQ(list->items[0].holder, "g1");
    EXPECT_EQ(list->items[1].name, "svcgw-g3");
    EXPECT_EQ(list->items[1].holder, "");
    EXPECT_FALSE(parse_lease_list("not json"));
    EXPECT_FALSE(parse_lease_list(R"({"kind":"Status"})"));
}

// The rule, one case per clause.
TEST(LeaseState, LiveNeedsHolderClaimAndARecentRenewal) {
    const int64_t now_us = 1000 * kS;
    const uint64_t now_ms = 50000;
    ObservedLease o{Lease{"svcgw-g1", "g1", 5, now_us - 2 * kS, {}, "1"}, now_ms - 2000};
    EXPECT_EQ(lease_state(&o, "g1", now_us, now_ms), LeaseState::live);
    EXPECT_EQ(lease_state(nullptr, "g1", now_us, now_ms), LeaseState::missing);
    ObservedLease released = o;
    released.lease.holder = "";
    EXPECT_EQ(lease_state(&released, "g1", now_us, now_ms), LeaseState::released);
    // renewTime + duration passed by our wall clock (a fresh start sees a
    // dead gateway's Lease as dead at once).
    ObservedLease stale = o;
    stale.lease.renew_us = now_us - 5 * kS;
    EXPECT_EQ(lease_state(&stale, "g1", now_us, now_ms), LeaseState::expired);
    stale.lease.renew_us = now_us - 5 * kS + 1;
    EXPECT_EQ(lease_state(&stale, "g1", now_us, now_ms), LeaseState::live);
    // A holder whose clock leads ours by an hour: renewTime far ahead, but
    // not seen changing for a duration: expired all the same.
    ObservedLease ahead = o;
    ahead.lease.renew_us = now_us + 3600 * kS;
    ahead.observed_ms = now_ms - 5000;
    EXPECT_EQ(lease_state(&ahead, "g1", now_us, now_ms), LeaseState::expired);
    ahead.observed_ms = now_ms - 4999;
    EXPECT_EQ(lease_state(&ahead, "g1", now_us, now_ms), LeaseState::live);
    ObservedLease no_time = o;
    no_time.lease.renew_us.reset();
    EXPECT_EQ(lease_state(&no_time, "g1", now_us, now_ms), LeaseState::expired);
}

TEST(LeaseTable, RenewalsRefreshAndTheApiGoneFreezesTheClock) {
    constexpr uint64_t kHoldMs = 1500;  // 1.5 renew periods of 1 s
    LeaseTable table(kHoldMs, 5000);
    int64_t wall = 1000 * kS;
    uint64_t mono = 10000;
    EXPECT_EQ(table.state("g1", wall, mono).state, LeaseState::missing);
    auto lease = [&](const char* member, int64_t renew) {
        return Lease{lease_name(member), member, 5, renew, {}, "1"};
    };
    table.update({lease("g1", wall), lease("g2", wall)}, mono);
    EXPECT_EQ(table.state("g1", wall, mono).state, LeaseState::live);
    EXPECT_EQ(table.state("g3", wall, mono).state, LeaseState::missing);
    // g2 stops renewing (SIGKILL); g1 renews every second; lists go on.
    for (int s = 1; s <= 6; ++s) {
        table.update({lease("g1", wall + s * kS), lease("g2", wall)}, mono + s * 1000);
        const auto g2 = table.state("g2", wall + s * kS, mono + s * 1000);
        EXPECT_EQ(g2.state, s < 5 ? LeaseState::live : LeaseState::expired) << s;
        EXPECT_EQ(g2.renew_us, wall);
    }
    EXPECT_EQ(table.state("g1", wall + 6 * kS, mono + 6000).state, LeaseState::live);
    // The API goes: no list after mono + 6 s. g1 stays live past its own
    // expiry (frozen), g2 stays expired.
    const uint64_t last = mono + 6000;
    for (uint64_t later : {uint64_t{1000}, kHoldMs, kHoldMs + 1, uint64_t{60000}}) {
        EXPECT_EQ(table.frozen(last + later), later > kHoldMs) << later;
        EXPECT_EQ(table.state("g1", wall + 6 * kS + int64_t(later) * 1000, last + later).state,
                  LeaseState::live)
            << later;
        EXPECT_EQ(table.state("g2", wall + 6 * kS + int64_t(later) * 1000, last + later).state,
                  LeaseState::expired);
    }
    // The API back after a minute. g1 has not renewed yet (it could not
    // either): live for one more duration, then judged by its Lease; g2 was
    // dead at the freeze and stays so; g3 appeared meanwhile and is live.
    const uint64_t back = last + 70000;
    const int64_t back_us = wall + 76 * kS;
    const std::vector<Lease> listed{lease("g1", wall + 6 * kS), lease("g2", wall),
                                    lease("g3", back_us)};
    table.update(listed, back);
    EXPECT_FALSE(table.frozen(back));
    for (uint64_t after = 0; after <= 5000; after += 1000) {  // a list a second
        table.update(listed, back + after);
        const int64_t t = back_us + int64_t(after) * 1000;
        EXPECT_EQ(table.state("g1", t, back + after).state,
                  after < 5000 ? LeaseState::live : LeaseState::expired)
            << after;
        EXPECT_EQ(table.state("g2", t, back + after).state, LeaseState::expired) << after;
        // g3 by its own Lease (not renewed again here either).
        EXPECT_EQ(table.state("g3", t, back + after).state,
                  after < 5000 ? LeaseState::live : LeaseState::expired)
            << after;
    }
    // Renewed within the grace: live by its own Lease from then on.
    table.update({lease("g1", back_us + 4 * kS)}, back + 4000);
    EXPECT_EQ(table.state("g1", back_us + 6 * kS, back + 6000).state, LeaseState::live);
    // Gone from the list: missing, grace or not.
    table.update({}, back + 4100);
    EXPECT_EQ(table.state("g1", back_us + 4100, back + 4100).state, LeaseState::missing);
}

// A Lease store as kube-apiserver keeps one: resourceVersion per write,
// 409 on a stale one, 404 / 409 AlreadyExists, plus injected failures.
struct FakeApi {
    std::map<std::string, json> leases;  // by name
    uint64_t revision = 100;
    std::vector<std::string> requests;  // "METHOD path"
    int fail_next = 0;                  // that many calls fail (connection refused)
    std::function<void()> before_put;   // a concurrent writer

    Result<HttpReply> call(std::string_view method, const std::string& path,
                           const std::string& body) {
        requests.push_back(std::string(method) + " " + path);
        if (fail_next > 0) {
            --fail_next;
            return fail("", "connection refused");
        }
        const std::string base = "/apis/coordination.k8s.io/v1/namespaces/ns/leases";
        if (method == "GET" && path.starts_with(base + "?")) {
            json list{{"kind", "LeaseList"},
                      {"metadata", {{"resourceVersion", std::to_string(revision)}}},
                      {"items", json::array()}};
            for (auto& [name, l] : leases) {
                list["items"].push_back(l);
            }
            return HttpReply{200, list.dump()};
        }
        if (method == "POST" && path == base) {
            json l = json::parse(body);
            const std::string name = l["metadata"]["name"];
            if (leases.contains(name)) {
                return HttpReply{409, R"({"kind":"Status","code":409,"reason":"AlreadyExists"})"};
            }
            l["metadata"]["resourceVersion"] = std::to_string(++revision);
            leases[name] = l;
            return HttpReply{201, l.dump()};
        }
        const std::string name = path.substr(base.size() + 1);
        auto it = leases.find(name);
        if (method == "GET") {
            return it == leases.end() ? HttpReply{404, R"({"kind":"Status","code":404})"}
                                      : HttpReply{200, it->second.dump()};
        }
        if (method == "PUT") {
            if (before_put) {
                std::exchange(before_put, nullptr)();
                it = leases.find(name);
            }
            if (it == leases.end()) {
                return HttpReply{404, R"({"kind":"Status","code":404})"};
            }
            json l = json::parse(body);
            if (l["metadata"]["resourceVersion"] != it->second["metadata"]["resourceVersion"]) {
                return HttpReply{409, R"({"kind":"Status","code":409,"message":"modified"})"};
            }
            l["metadata"]["resourceVersion"] = std::to_string(++revision);
            it->second = l;
            return HttpReply{200, l.dump()};
        }
        return HttpReply{405, ""};
    }

    size_t count(std::string_view method) const {
        size_t n = 0;
        for (const auto& r : requests) {
            n += r.starts_with(method) ? 1 : 0;
        }
        return n;
    }
};

struct AgentFixture : ::testing::Test {
    FakeApi api;
    int64_t wall = 1000 * kS;
    uint64_t mono = 10000;
    std::vector<std::string> logged;

    std::unique_ptr<LeaseAgent> agent(const std::string& self) {
        LeaseAgentOptions o{"ns", self, 5, 1000,
                            [this](const std::string& m) { logged.push_back(m); }};
        return std::make_unique<LeaseAgent>(
            o,
            [this](std::string_view m, const std::string& p, const std::string& b) {
                return api.call(m, p, b);
            },
            LeaseAgent::Clock{[this] { return wall; }, [this] { return mono; }});
    }
    void advance_s(int s) {
        wall += s * kS;
        mono += uint64_t(s) * 1000;
    }
};

TEST_F(AgentFixture, CreatesThenUpdatesWithTheVersionItWrote) {
    auto a = agent("g1");
    ASSERT_TRUE(a->renew());
    EXPECT_EQ(api.requests, (std::vector<std::string>{
                                "GET /apis/coordination.k8s.io/v1/namespaces/ns/leases/svcgw-g1",
                                "POST /apis/coordination.k8s.io/v1/namespaces/ns/leases"}));
    const json& l = api.leases.at("svcgw-g1");
    EXPECT_EQ(l["spec"]["holderIdentity"], "g1");
    EXPECT_EQ(l["spec"]["leaseDurationSeconds"], 5);
    EXPECT_EQ(l["spec"]["renewTime"], format_micro_time(wall));
    const std::string acquired = l["spec"]["acquireTime"];
    advance_s(1);
    api.requests.clear();
    ASSERT_TRUE(a->renew());
    // One PUT, no read: the version came back with the create.
    EXPECT_EQ(api.requests, (std::vector<std::string>{
                                "PUT /apis/coordination.k8s.io/v1/namespaces/ns/leases/svcgw-g1"}));
    EXPECT_EQ(api.leases.at("svcgw-g1")["spec"]["renewTime"], format_micro_time(wall));
    EXPECT_EQ(api.leases.at("svcgw-g1")["spec"]["acquireTime"], acquired);
    EXPECT_EQ(a->counters().renewals.load(), 2u);
    EXPECT_EQ(a->counters().conflicts.load(), 0u);
}

TEST_F(AgentFixture, AConflictReReadsAndWritesAgainInTheSameRound) {
    auto a = agent("g1");
    ASSERT_TRUE(a->renew());
    advance_s(1);
    // Someone (kubectl edit, a second writer) updates the Lease first.
    api.before_put = [&] {
        api.leases.at("svcgw-g1")["metadata"]["resourceVersion"] = std::to_string(++api.revision);
    };
    api.requests.clear();
    ASSERT_TRUE(a->renew());
    EXPECT_EQ(api.count("PUT"), 2u);
    EXPECT_EQ(api.count("GET"), 1u);
    EXPECT_EQ(a->counters().conflicts.load(), 1u);
    EXPECT_EQ(api.leases.at("svcgw-g1")["spec"]["renewTime"], format_micro_time(wall));
    // Deleted under us: created again.
    api.leases.clear();
    advance_s(1);
    ASSERT_TRUE(a->renew());
    EXPECT_EQ(api.leases.at("svcgw-g1")["spec"]["holderIdentity"], "g1");
}

TEST_F(AgentFixture, TwoGatewaysWithOneNameFightAndAreTold) {
    auto a = agent("g1");
    ASSERT_TRUE(a->renew());
    // Every PUT meets a newer version (another writer each time).
    std::function<void()> bump = [&] {
        api.leases.at("svcgw-g1")["metadata"]["resourceVersion"] = std::to_string(++api.revision);
        api.before_put = bump;
    };
    api.before_put = bump;
    EXPECT_FALSE(a->renew());
    ASSERT_FALSE(logged.empty());
    EXPECT_NE(logged.back().find("configured on two gateways"), std::string::npos) << logged.back();
}

TEST_F(AgentFixture, PeersSeeEachOtherAndAKilledOneExpires) {
    auto g1 = agent("g1");
    auto g2 = agent("g2");
    const std::vector<std::string> members{"g1", "g2", "g3"};
    g1->round();
    g2->round();
    g1->round();
    auto seen = g1->member_leases(members);
    EXPECT_EQ(seen[0].state, LeaseState::live);
    EXPECT_EQ(seen[1].state, LeaseState::live);
    EXPECT_EQ(seen[1].renew_us, wall);
    EXPECT_EQ(seen[2].state, LeaseState::missing);  // never started
    EXPECT_TRUE(g1->api_ok());
    // g2 is killed (no more rounds, no release); g1 goes on.
    for (int s = 1; s <= 5; ++s) {
        advance_s(1);
        g1->round();
        EXPECT_EQ(g1->member_leases(members)[1].state,
                  s < 5 ? LeaseState::live : LeaseState::expired)
            << s;
    }
}

TEST_F(AgentFixture, ReleaseClearsTheHolderAndPeersSeeItAtOnce) {
    auto g1 = agent("g1");
    auto g2 = agent("g2");
    g1->round();
    g2->round();
    g1->round();
    EXPECT_EQ(g1->member_leases({"g2"})[0].state, LeaseState::live);
    ASSERT_TRUE(g2->release());
    EXPECT_EQ(api.leases.at("svcgw-g2")["spec"]["holderIdentity"], "");
    EXPECT_FALSE(api.leases.at("svcgw-g2")["spec"].contains("acquireTime"));
    g1->round();
    EXPECT_EQ(g1->member_leases({"g2"})[0].state, LeaseState::released);
    // A gateway that never held its Lease has nothing to release.
    auto g3 = agent("g3");
    EXPECT_FALSE(g3->release());
    EXPECT_FALSE(api.leases.contains("svcgw-g3"));
}

TEST_F(AgentFixture, AnUnreachableApiKeepsTheLastSetAndIsSaidOnce) {
    auto g1 = agent("g1");
    auto g2 = agent("g2");
    g2->round();
    g1->round();
    EXPECT_EQ(g1->member_leases({"g2"})[0].state, LeaseState::live);
    // The API goes for a minute: every request of both fails.
    for (int s = 1; s <= 60; ++s) {
        advance_s(1);
        api.fail_next = 4;
        g2->round();
        g1->round();
        EXPECT_EQ(g1->member_leases({"g2"})[0].state, LeaseState::live) << s;
    }
    EXPECT_FALSE(g1->api_ok());
    EXPECT_GT(g1->counters().errors.load(), 60u);
    // Said once per kind of failure (update, read, list; two agents), not per round.
    std::map<std::string, int> times;
    for (const auto& m : logged) {
        EXPECT_LE(++times[m], 2) << m;  // the list failure is the same text for both
    }
    EXPECT_LE(logged.size(), 6u);
    EXPECT_GE(logged.size(), 2u);
    // Back: g2 renews, g1 lists, all live, api_ok again.
    advance_s(1);
    g2->round();
    g1->round();
    EXPECT_TRUE(g1->api_ok());
    EXPECT_EQ(g1->member_leases({"g2"})[0].state, LeaseState::live);
}

TEST_F(AgentFixture, TheThreadRenewsUntilStoppedThenReleases) {
    auto a = std::make_unique<LeaseAgent>(
        LeaseAgentOptions{"ns", "g1", 5, 10, {}},
        [this](std::string_view m, const std::string& p, const std::string& b) {
            return api.call(m, p, b);
        },
        LeaseAgent::system_clock());
    // The fake is not thread-safe: only the agent's thread calls it until stop().
    a->start();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    a->stop();
    EXPECT_GE(a->counters().renewals.load(), 3u);
    EXPECT_EQ(api.leases.at("svcgw-g1")["spec"]["holderIdentity"], "");
    a->stop();  // idempotent
}

}  // namespace
}  // namespace svcgw::kube
