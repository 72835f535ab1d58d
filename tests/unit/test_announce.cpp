// Route health injection (issue 13 §1): the announce rules, the BIRD text,
// BIRD's control-socket protocol (against a fake BIRD on a unix socket),
// the Announcer's push/retry/drain behaviour and the /v1/fleet API.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "control/api.hpp"
#include "control/kubectl.hpp"
#include "fleet/announce.hpp"
#include "fleet/announcer.hpp"
#include "fleet/bird.hpp"

namespace svcgw {
namespace {

using fleet::AnnounceInputs;
using fleet::Route;
using fleet::VipHealth;
using fleet::Withdrawn;

Ipv4 ip(const char* text) {
    return *Ipv4::parse(text);
}

// ---- the rules ------------------------------------------------------------

AnnounceInputs healthy() {
    AnnounceInputs in;
    in.data_plane_up = true;
    in.generation = 7;
    in.vips = {VipHealth{ip("10.96.0.20"), true, false}, VipHealth{ip("10.96.0.21"), false, false},
               VipHealth{ip("10.96.0.22"), false, true}};
    in.snat_addresses = {ip("10.99.0.200")};
    return in;
}

// Each row: a change to the healthy inputs and the verdict of every route,
// in address order (.20, .21, .22, snat .200).
struct RuleCase {
    const char* description;
    void (*change)(AnnounceInputs&);
    std::vector<Withdrawn> expected;
};

TEST(AnnounceRules, EachConditionWithdrawsWhatItShould) {
    using W = Withdrawn;
    const RuleCase cases[] = {
        {"healthy: the eligible and the fail-open VIP, and the SNAT address",
         [](AnnounceInputs&) {},
         {W::none, W::no_eligible_backend, W::none, W::none}},
        {"data plane down: everything, SNAT too",
         [](AnnounceInputs& in) { in.data_plane_up = false; },
         {W::data_plane_down, W::data_plane_down, W::data_plane_down, W::data_plane_down}},
        {"expected generation differs: everything",
         [](AnnounceInputs& in) { in.expected_generation = 8; },
         {W::generation_mismatch, W::generation_mismatch, W::generation_mismatch,
          W::generation_mismatch}},
        {"expected generation equal: as healthy",
         [](AnnounceInputs& in) { in.expected_generation = 7; },
         {W::none, W::no_eligible_backend, W::none, W::none}},
        {"draining: every VIP, not the SNAT address (replies of kept flows)",
         [](AnnounceInputs& in) { in.draining = true; },
         {W::draining, W::draining, W::draining, W::none}},
        {"down and draining: the data plane is the reason given",
         [](AnnounceInputs& in) {
             in.data_plane_up = false;
             in.draining = true;
         },
         {W::data_plane_down, W::data_plane_down, W::data_plane_down, W::data_plane_down}},
        {"mismatch and draining: the generation is the reason given",
         [](AnnounceInputs& in) {
             in.expected_generation = 1;
             in.draining = true;
         },
         {W::generation_mismatch, W::generation_mismatch, W::generation_mismatch,
          W::generation_mismatch}},
    };
    for (const RuleCase& c : cases) {
        AnnounceInputs in = healthy();
        c.change(in);
        std::vector<Route> routes = fleet::decide(in);
        ASSERT_EQ(routes.size(), c.expected.size()) << c.description;
        std::vector<Withdrawn> got;
        for (const Route& r : routes) {
            got.push_back(r.withdrawn);
        }
        EXPECT_EQ(got, c.expected) << c.description;
        EXPECT_EQ(routes[3].address.value, ip("10.99.0.200").value) << c.description;
        EXPECT_TRUE(routes[3].snat) << c.description;
    }
}

TEST(AnnounceRules, SharedAddressIsAnnouncedWhenAnyServiceMayBe) {
    AnnounceInputs in = healthy();
    in.vips = {VipHealth{ip("10.96.0.30"), false, false}, VipHealth{ip("10.96.0.30"), true, false},
               VipHealth{ip("10.96.0.31"), false, false},
               VipHealth{ip("10.96.0.31"), false, false}};
    in.snat_addresses.clear();
    auto routes = fleet::decide(in);
    ASSERT_EQ(routes.size(), 2u);
    EXPECT_TRUE(routes[0].announced());
    EXPECT_EQ(routes[1].withdrawn, Withdrawn::no_eligible_backend);
    // The other order gives the same answer.
    std::swap(in.vips[0], in.vips[1]);
    EXPECT_EQ(fleet::decide(in), routes);
}

TEST(AnnounceRules, SnatAddressThatIsAlsoAVipIsListedOnceAsSnat) {
    AnnounceInputs in = healthy();
    in.draining = true;
    in.snat_addresses = {ip("10.96.0.20")};
    auto routes = fleet::decide(in);
    ASSERT_EQ(routes.size(), 3u);
    EXPECT_TRUE(routes[0].snat);
    EXPECT_TRUE(routes[0].announced());
}

TEST(AnnounceRules, EmptyInputsAnnounceNothing) {
    AnnounceInputs in;
    in.data_plane_up = true;
    EXPECT_TRUE(fleet::decide(in).empty());
    EXPECT_EQ(fleet::render_bird_routes({}).find("route "), std::string::npos);
}

TEST(BirdRoutes, OnlyAnnouncedRoutesInAddressOrder) {
    AnnounceInputs in = healthy();
    in.vips.push_back(VipHealth{ip("10.96.0.3"), true, false});
    const std::string text = fleet::render_bird_routes(fleet::decide(in));
    const std::string body = text.substr(text.find("route "));
    EXPECT_EQ(body,
              "route 10.96.0.3/32 blackhole;\n"
              "route 10.96.0.20/32 blackhole;\n"
              "route 10.96.0.22/32 blackhole;\n"
              "route 10.99.0.200/32 blackhole;  # snat\n");
    // Every line before the routes is a comment: BIRD reads the whole file.
    std::istringstream head(text.substr(0, text.find("route ")));
    for (std::string line; std::getline(head, line);) {
        EXPECT_EQ(line.front(), '#') << line;
    }
}

// ---- BIRD's reply protocol ---------------------------------------------

TEST(BirdReply, ParsesFinalLinesContinuationsAndPartialInput) {
    struct Case {
        const char* text;
        bool complete;
        int code;
        const char* message;
    };
    const Case cases[] = {
        {"0001 BIRD 2.0.12 ready.\n", true, 1, "BIRD 2.0.12 ready."},
        {"0001 BIRD 2.0.12 re", false, 0, ""},
        {"0002-Reading configuration from /etc/bird/bird.conf\n", false, 0, ""},
        {"0002-Reading configuration from /etc/bird/bird.conf\n0003 Reconfigured\n", true, 3,
         "Reconfigured"},
        {"0002-Reading\n8002 /etc/bird.conf:6:1 syntax error\n", true, 8002,
         "/etc/bird.conf:6:1 syntax error"},
        {"1007-Table master4:\n 10.96.0.21/32 blackhole\n0000 \n", true, 0, ""},
        {"0003 Reconfigured\r\n", true, 3, "Reconfigured"},
    };
    for (const Case& c : cases) {
        auto r = fleet::parse_bird_reply(c.text);
        ASSERT_TRUE(r) << c.text;
        ASSERT_EQ(r->has_value(), c.complete) << c.text;
        if (c.complete) {
            EXPECT_EQ((*r)->code, c.code) << c.text;
            EXPECT_EQ((*r)->message, c.message) << c.text;
            EXPECT_EQ((*r)->ok(), c.code < 8000) << c.text;
        }
    }
    for (const char* bad : {"hello\n", "12 short\n", "0003x no separator\n", "abcd text\n"}) {
        EXPECT_FALSE(fleet::parse_bird_reply(bad)) << bad;
    }
}

// A fake BIRD: accepts one connection on a unix socket, greets, reads the
// command and answers `reply` (or nothing when empty).
class FakeBird {
public:
    FakeBird(std::string path, std::string reply) : _path(std::move(path)) {
        ::unlink(_path.c_str());
        _fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", _path.c_str());
        EXPECT_EQ(::bind(_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        EXPECT_EQ(::listen(_fd, 1), 0);
        _thread = std::thread([this, reply = std::move(reply)] {
            int c = ::accept(_fd, nullptr, nullptr);
            if (c < 0) {
                return;
            }
            const std::string greeting = "0001 BIRD 2.0.12 ready.\n";
            (void)!::write(c, greeting.data(), greeting.size());
            char buf[64];
            ssize_t n = ::read(c, buf, sizeof buf);
            command = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
            if (!reply.empty()) {
                (void)!::write(c, reply.data(), reply.size());
            } else {
                ::read(c, buf, sizeof buf);  // silent until the client gives up
            }
            ::close(c);
        });
    }
    ~FakeBird() {
        _thread.join();
        ::close(_fd);
        ::unlink(_path.c_str());
    }
    std::string command;

private:
    std::string _path;
    int _fd = -1;
    std::thread _thread;
};

std::string temp_path(const char* name) {
    return "/tmp/svcgw-test-announce-" + std::to_string(::getpid()) + "-" + name;
}

TEST(BirdSocket, ConfigureSendsTheCommandAndReturnsTheFinalReply) {
    const std::string sock = temp_path("ok.ctl");
    {
        FakeBird bird(sock, "0002-Reading configuration from bird.conf\n0003 Reconfigured\n");
        auto r = fleet::bird_configure(sock, std::chrono::milliseconds(2000));
        ASSERT_TRUE(r) << r.error().str();
        EXPECT_EQ(r->code, 3);
        EXPECT_TRUE(r->ok());
        // joined below, before reading what it got
        (void)bird;
    }
}

TEST(BirdSocket, ConfigErrorsAreRepliesNotTransportErrors) {
    const std::string sock = temp_path("err.ctl");
    FakeBird bird(sock,
                  "0002-Reading configuration from bird.conf\n8002 bird.conf:3:1 syntax error\n");
    auto r = fleet::bird_configure(sock, std::chrono::milliseconds(2000));
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(r->code, 8002);
    EXPECT_FALSE(r->ok());
}

TEST(BirdSocket, SilentBirdTimesOutWithinTheBound) {
    const std::string sock = temp_path("silent.ctl");
    FakeBird bird(sock, "");
    const auto start = std::chrono::steady_clock::now();
    auto r = fleet::bird_configure(sock, std::chrono::milliseconds(200));
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("in time"), std::string::npos) << r.error().str();
    EXPECT_LT(took, std::chrono::milliseconds(1500));
}

TEST(BirdSocket, NoBirdIsAConnectError) {
    auto r = fleet::bird_configure(temp_path("absent.ctl"), std::chrono::milliseconds(200));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("connect"), std::string::npos) << r.error().str();
}

// ---- the Announcer ------------------------------------------------------

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

struct AnnouncerFixture : ::testing::Test {
    AnnouncerFixture() {
        dir = temp_path("dir");
        std::string cmd = "rm -rf " + dir + " && mkdir -p " + dir;
        EXPECT_EQ(std::system(cmd.c_str()), 0);
        config.announce = true;
        config.routes_file = dir + "/routes.conf";
        config.drain_file = dir + "/drained";
        config.drain_deadline_s = 60;
    }
    ~AnnouncerFixture() override {
        std::string cmd = "rm -rf " + dir;
        (void)!std::system(cmd.c_str());
    }
    std::unique_ptr<fleet::Announcer> start() {
        auto a = fleet::Announcer::start(config, [this]() -> Result<fleet::BirdReply> {
            ++reloads;
            routes_at_reload = read_file(config.routes_file);
            if (!bird_up) {
                return fail("bird.ctl", "connect: No such file or directory");
            }
            return fleet::BirdReply{3, "Reconfigured"};
        });
        EXPECT_TRUE(a) << (a ? "" : a.error().str());
        return std::move(*a);
    }
    static fleet::Observed observed() {
        fleet::Observed o;
        o.data_plane_up = true;
        o.generation = 1;
        o.vips = {VipHealth{ip("10.96.0.20"), true, false}};
        o.active_flows = 3;
        return o;
    }
    std::string dir;
    FleetConfig config;
    int reloads = 0;
    bool bird_up = true;
    std::string routes_at_reload;
};

TEST_F(AnnouncerFixture, StartWritesAFileWithoutRoutes) {
    auto a = start();
    EXPECT_EQ(read_file(config.routes_file), fleet::render_bird_routes({}));
    EXPECT_EQ(reloads, 0);
    EXPECT_FALSE(a->status().draining);
}

TEST_F(AnnouncerFixture, PushesOnChangeOnlyAndBirdReadsTheNewFile) {
    auto a = start();
    a->update(observed(), 1000, 100);
    EXPECT_EQ(reloads, 1);
    EXPECT_NE(routes_at_reload.find("route 10.96.0.20/32 blackhole;"), std::string::npos);
    EXPECT_TRUE(a->status().bird_in_sync);
    a->update(observed(), 1100, 100);
    a->update(observed(), 5000, 104);
    EXPECT_EQ(reloads, 1) << "same routes, no reload";
    fleet::Observed no_backend = observed();
    no_backend.vips[0].eligible_backend = false;
    a->update(no_backend, 5100, 105);
    EXPECT_EQ(reloads, 2);
    EXPECT_EQ(routes_at_reload.find("route "), std::string::npos);
}

TEST_F(AnnouncerFixture, FailedReloadIsRetriedAfterTheRetryTimeNotBefore) {
    bird_up = false;
    auto a = start();
    a->update(observed(), 1000, 100);
    EXPECT_EQ(reloads, 1);
    EXPECT_FALSE(a->status().bird_in_sync);
    EXPECT_EQ(a->status().bird_failures, 1u);
    EXPECT_NE(a->status().bird_last_error.find("connect"), std::string::npos);
    a->update(observed(), 1000 + fleet::Announcer::kRetryMs - 1, 100);
    EXPECT_EQ(reloads, 1);
    bird_up = true;
    a->update(observed(), 1000 + fleet::Announcer::kRetryMs, 101);
    EXPECT_EQ(reloads, 2);
    EXPECT_TRUE(a->status().bird_in_sync);
    EXPECT_TRUE(a->status().bird_last_error.empty());
}

TEST_F(AnnouncerFixture, ChangeWhileRetryingGoesOutAtOnce) {
    bird_up = false;
    auto a = start();
    a->update(observed(), 1000, 100);
    bird_up = true;
    a->update(observed(), 1001, 100);
    EXPECT_EQ(reloads, 1) << "nothing changed: waits for the retry time";
    fleet::Observed down = observed();
    down.data_plane_up = false;
    a->update(down, 1002, 100);
    EXPECT_EQ(reloads, 2) << "a changed decision does not wait";
    EXPECT_EQ(routes_at_reload.find("route "), std::string::npos);
}

TEST_F(AnnouncerFixture, DrainWithdrawsPersistsAndEndsWithTheFlowsOrTheDeadline) {
    auto a = start();
    a->update(observed(), 1000, 100);
    ASSERT_TRUE(a->drain(std::nullopt, 100));
    a->update(observed(), 1001, 100);
    EXPECT_EQ(routes_at_reload.find("route "), std::string::npos);
    struct stat st {};
    EXPECT_EQ(::stat(config.drain_file.c_str(), &st), 0) << "the drain survives a restart";
    fleet::FleetStatus s = a->status();
    EXPECT_TRUE(s.draining);
    EXPECT_EQ(s.drain_deadline_unix, std::optional<int64_t>(160));
    EXPECT_FALSE(s.drained) << "3 flows left, deadline ahead";
    a->update(observed(), 1002, 160);
    EXPECT_TRUE(a->status().drained) << "deadline passed";
    ASSERT_TRUE(a->drain(5, 200));
    EXPECT_EQ(a->status().drain_since_unix, 100) << "a second drain keeps its start";
    fleet::Observed idle = observed();
    idle.active_flows = 0;
    a->update(idle, 1003, 201);
    EXPECT_TRUE(a->status().drained) << "no flow left";

    // A restarted instance comes back drained.
    auto again = start();
    EXPECT_TRUE(again->status().draining);
    again->update(observed(), 2000, 300);
    EXPECT_EQ(read_file(config.routes_file).find("route "), std::string::npos);
    ASSERT_TRUE(again->undrain());
    EXPECT_NE(::stat(config.drain_file.c_str(), &st), 0);
    again->update(observed(), 2001, 300);
    EXPECT_NE(read_file(config.routes_file).find("route 10.96.0.20/32"), std::string::npos);
}

TEST_F(AnnouncerFixture, ExpectedGenerationGatesTheRoutes) {
    auto a = start();
    a->expect(2);
    a->update(observed(), 1000, 100);
    EXPECT_EQ(a->status().routes.at(0).withdrawn, Withdrawn::generation_mismatch);
    fleet::Observed next = observed();
    next.generation = 2;
    a->update(next, 1001, 100);
    EXPECT_TRUE(a->status().routes.at(0).announced());
    a->expect(std::nullopt);
    a->update(observed(), 1002, 100);
    EXPECT_TRUE(a->status().routes.at(0).announced());
}

TEST_F(AnnouncerFixture, WithdrawAllLeavesNoRoute) {
    auto a = start();
    a->update(observed(), 1000, 100);
    ASSERT_TRUE(a->withdraw_all());
    EXPECT_EQ(read_file(config.routes_file).find("route "), std::string::npos);
    EXPECT_EQ(reloads, 2);
}

// ---- the API -------------------------------------------------------------

struct FleetApi : AnnouncerFixture {
    struct Backend : ControlBackend {
        ControlState& state() override { std::abort(); }
        StatsSnapshot stats() override { return snapshot; }
        std::vector<FlowSample> flows(size_t) override { return {}; }
        fleet::Announcer* announcer() override { return a; }
        StatsSnapshot snapshot;
        void refresh_announcements() override {
            ++refreshes;
            a->update(AnnouncerFixture::observed(), 1000 + refreshes, 100);
        }
        fleet::Announcer* a = nullptr;
        int refreshes = 0;
    };
    struct Direct : ControlExecutor {
        explicit Direct(ControlBackend& b) : backend(b) {}
        HttpResponse execute(ControlJob job) override { return job(backend); }
        ControlBackend& backend;
    };
    HttpResponse call(const std::string& method, const std::string& path,
                      const std::string& body = "") {
        HttpRequest r;
        r.method = method;
        r.path = path;
        r.body = body;
        return api.handle(r);
    }
    Backend backend;
    Direct exec{backend};
    ApiHandler api{exec};
};

// /v1/fleet's members and `svcgwctl fleet` with membership leases.
TEST(FleetMembersView, LeasesShowSourceStateAndRenewTime) {
    FleetMembersStats f;
    f.enabled = true;
    f.live = 1;
    f.membership = "leases";
    f.members.resize(2);
    f.members[0].name = "g1";
    f.members[0].address = "10.0.0.1";
    f.members[0].self = f.members[0].live = true;
    f.members[0].slots = 10;
    f.members[1].name = "g2";
    f.members[1].address = "10.0.0.2";
    f.members[1].mac_known = true;
    f.members[0].lease_state = "live";
    f.members[0].lease_renew_us = 1;
    f.members[0].lease_renew_time = "2026-12-05T17:31:23.123456Z";
    f.members[1].lease_state = "expired";
    nlohmann::json status{{"generation", 1},
                          {"expected_generation", nullptr},
                          {"data_plane_up", true},
                          {"drain", nullptr},
                          {"bird", {{"in_sync", true}, {"reloads", 0}}},
                          {"routes", nlohmann::json::array()}};
    status["members"] = fleet_members_json(f);
    EXPECT_EQ(status["members"]["membership"], "leases");
    EXPECT_EQ(status["members"]["members"][1]["lease"]["state"], "expired");
    EXPECT_TRUE(status["members"]["members"][1]["lease"]["renew_time"].is_null());
    const std::string text = fleet_summary(status);
    EXPECT_THAT(text, testing::ContainsRegex("membership: +leases \\(API NOT reached"));
    EXPECT_THAT(text, testing::ContainsRegex("MEMBER .* LEASE +RENEWED"));
    EXPECT_THAT(
        text,
        testing::ContainsRegex(
            "g1 \\(self\\) +10\\.0\\.0\\.1 +live +10 +- +live +2026-12-05T17:31:23\\.123456Z"));
    EXPECT_THAT(text, testing::ContainsRegex("g2 +10\\.0\\.0\\.2 +dead +0 +known +expired +-"));
    // Probes: no lease columns.
    f.membership = "probes";
    status["members"] = fleet_members_json(f);
    EXPECT_FALSE(status["members"]["members"][0].contains("lease"));
    EXPECT_THAT(fleet_summary(status), testing::Not(testing::HasSubstr("LEASE")));
    EXPECT_THAT(fleet_summary(status), testing::HasSubstr("membership:  probes"));
}

TEST_F(FleetApi, OffIs404) {
    EXPECT_EQ(call("GET", "/v1/fleet").status, 404);
    EXPECT_EQ(call("PUT", "/v1/fleet/drain").status, 404);
}

// Owner redirect without announcing: GET shows the members, changes stay 404.
TEST_F(FleetApi, MembersWithoutAnnounce) {
    backend.snapshot.fleet_members.enabled = true;
    backend.snapshot.fleet_members.members.resize(1);
    backend.snapshot.fleet_members.members[0].name = "g1";
    auto r = call("GET", "/v1/fleet");
    ASSERT_EQ(r.status, 200) << r.body;
    auto j = nlohmann::json::parse(r.body);
    EXPECT_EQ(j["announce"], false);
    EXPECT_EQ(j["members"]["members"][0]["name"], "g1");
    EXPECT_THAT(fleet_summary(j), testing::ContainsRegex("announce: +off\n\nowner ring: +0 of 1"));
    EXPECT_EQ(call("PUT", "/v1/fleet/drain").status, 404);
}

TEST_F(FleetApi, DrainAndUndrainPushBeforeAnswering) {
    auto a = start();
    backend.a = a.get();
    auto r = call("GET", "/v1/fleet");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(backend.refreshes, 0) << "a GET changes nothing";
    r = call("PUT", "/v1/fleet/drain", R"({"deadline_s": 30})");
    ASSERT_EQ(r.status, 200) << r.body;
    auto j = nlohmann::json::parse(r.body);
    EXPECT_TRUE(j["draining"].get<bool>());
    EXPECT_EQ(j["routes"][0]["reason"], "draining");
    EXPECT_EQ(j["bird"]["in_sync"], true);
    EXPECT_EQ(routes_at_reload.find("route "), std::string::npos)
        << "BIRD reloaded before the answer";
    EXPECT_THAT(fleet_summary(j),
                testing::ContainsRegex("10\\.96\\.0\\.20/32 +vip +withdrawn \\(draining\\)"));
    r = call("DELETE", "/v1/fleet/drain");
    ASSERT_EQ(r.status, 200) << r.body;
    j = nlohmann::json::parse(r.body);
    EXPECT_FALSE(j["draining"].get<bool>());
    EXPECT_TRUE(j["drain"].is_null());
    EXPECT_TRUE(j["routes"][0]["announced"].get<bool>());
}

TEST_F(FleetApi, BadRequestsChangeNothing) {
    auto a = start();
    backend.a = a.get();
    const std::pair<std::string, std::string> bad[] = {
        {"/v1/fleet/drain", R"({"deadline_s": 0})"},
        {"/v1/fleet/drain", R"({"deadline_s": 86401})"},
        {"/v1/fleet/drain", R"({"deadline_s": "30"})"},
        {"/v1/fleet/drain", "[1]"},
        {"/v1/fleet/expected_generation", "{}"},
        {"/v1/fleet/expected_generation", R"({"generation": -1})"},
        {"/v1/fleet/expected_generation", R"({"generation": "2"})"},
    };
    for (const auto& [path, body] : bad) {
        EXPECT_EQ(call("PUT", path, body).status, 400) << path << " " << body;
    }
    EXPECT_EQ(call("POST", "/v1/fleet/drain").status, 405);
    EXPECT_EQ(call("PUT", "/v1/fleet").status, 405);
    EXPECT_EQ(call("GET", "/v1/fleet/nope").status, 404);
    EXPECT_EQ(backend.refreshes, 0);
    EXPECT_FALSE(a->status().draining);
    auto r = call("PUT", "/v1/fleet/expected_generation", R"({"generation": 9})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(nlohmann::json::parse(r.body)["routes"][0]["reason"], "generation mismatch");
    r = call("PUT", "/v1/fleet/expected_generation", R"({"generation": null})");
    EXPECT_TRUE(nlohmann::json::parse(r.body)["expected_generation"].is_null());
}

}  // namespace
}  // namespace svcgw
