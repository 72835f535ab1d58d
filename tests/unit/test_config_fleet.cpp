// lib/config's fleet.* keys for owner redirect (issue 13 §2): the members,
// their probes and Lease membership; every mistake an error at its key.
#include <gtest/gtest.h>

#include <algorithm>

#include "config/config.hpp"
#include "config_fixture.hpp"

namespace svcgw {
namespace {

using namespace testing_config;

// One of `errors` is at `path` and says `fragment`.
void expect_error(const Errors& errors, const std::string& path, const std::string& fragment) {
    auto match = std::find_if(errors.begin(), errors.end(), [&](const Error& e) {
        return e.path == path && e.message.find(fragment) != std::string::npos;
    });
    EXPECT_NE(match, errors.end()) << "want " << path << ": ..." << fragment << "...\ngot:\n"
                                   << all_errors(errors);
}

// fullnat owner redirect's members (issue 13 §2).
constexpr const char* kFleetPort = "ports: [{name: e, device: d, address: 10.99.60.1/24}]\n";

TEST(ConfigFleetMembers, MembersSelfAndProbeAreRead) {
    Config config = load_ok(std::string(kFleetPort) + R"(fleet:
  self: g1
  members: [{name: g1, address: 10.99.60.1}, {name: g2, address: 10.99.60.2}]
  probe: {port: 179, interval_ms: 200, timeout_ms: 150, rise: 3, fall: 4}
)");
    EXPECT_EQ(config.fleet.self, "g1");
    ASSERT_EQ(config.fleet.members.size(), 2u);
    EXPECT_EQ(config.fleet.members[1].name, "g2");
    EXPECT_EQ(config.fleet.members[1].address, *Ipv4::parse("10.99.60.2"));
    EXPECT_EQ(config.fleet.probe, (FleetProbeConfig{179, 200, 150, 3, 4}));
}

TEST(ConfigFleetMembers, EachMistakeIsAnErrorAtItsKey) {
    struct Case {
        const char* what;
        std::string fleet;
        const char* path;
        const char* fragment;
    };
    const std::string g2 = "{name: g2, address: 10.99.60.2}";
    const Case cases[] = {
        {"self missing", "{members: [{name: g1, address: 10.99.60.1}]}", "fleet.self",
         "required with fleet.members"},
        {"self not a member", "{self: gx, members: [{name: g1, address: 10.99.60.1}]}",
         "fleet.self", "'gx' is not a member"},
        {"self without members", "{self: g1}", "fleet.self", "fleet.members is empty"},
        {"self at another address", "{self: g1, members: [{name: g1, address: 10.99.60.9}]}",
         "fleet.members[0].address", "ports[0].address"},
        {"member off the segment",
         "{self: g1, members: [{name: g1, address: 10.99.60.1}, {name: g2, address: 10.1.1.1}]}",
         "fleet.members[1].address", "not on this gateway's segment"},
        {"duplicate name",
         "{self: g1, members: [{name: g1, address: 10.99.60.1}, {name: g1, address: "
         "10.99.60.2}]}",
         "fleet.members[1].name", "duplicate member name"},
        {"duplicate address",
         "{self: g1, members: [{name: g1, address: 10.99.60.1}, {name: g2, address: "
         "10.99.60.1}]}",
         "fleet.members[1].address", "duplicate member address"},
        {"missing address", "{self: g1, members: [{name: g1, address: 10.99.60.1}, {name: g2}]}",
         "fleet.members[1].address", "missing required key"},
        {"unknown member key",
         "{self: g1, members: [{name: g1, address: 10.99.60.1, mac: x}, " + g2 + "]}",
         "fleet.members[0].mac", "unknown key"},
        {"members not a list", "{self: g1, members: g1}", "fleet.members", "must be a list"},
        {"probe timeout over interval",
         "{self: g1, members: [{name: g1, address: 10.99.60.1}], probe: {interval_ms: 50, "
         "timeout_ms: 60}}",
         "fleet.probe.timeout_ms", "exceeds interval_ms"},
        {"probe port zero",
         "{self: g1, members: [{name: g1, address: 10.99.60.1}], probe: {port: 0}}",
         "fleet.probe.port", "between 1 and"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        Errors errors = load_errors(std::string(kFleetPort) + "fleet: " + c.fleet + "\n");
        expect_error(errors, c.path, c.fragment);
    }
    Errors nat = load_errors(std::string(kFleetPort) +
                             "forwarding: {mode: nat}\nfleet: {self: g1, members: [{name: g1, "
                             "address: 10.99.60.1}]}\n");
    ASSERT_EQ(nat.size(), 1u) << all_errors(nat);
    EXPECT_EQ(nat[0].path, "fleet.members");
    EXPECT_NE(nat[0].message.find("fullnat"), std::string::npos);
}

constexpr const char* kLeaseFleet =
    "kubernetes: {enabled: true}\n"
    "fleet:\n"
    "  self: g1\n"
    "  members: [{name: g1, address: 10.99.60.1}, {name: g2, address: 10.99.60.2}]\n"
    "  membership: leases\n";

TEST(ConfigFleetLeases, DefaultsAreProbesAndKubeVipTimings) {
    Config config = load_ok(std::string(kFleetPort));
    EXPECT_EQ(config.fleet.membership, FleetMembership::probes);
    EXPECT_EQ(config.fleet.lease.ns, "kube-system");
    EXPECT_EQ(config.fleet.lease.duration_s, 5u);
    EXPECT_EQ(config.fleet.lease.renew_ms, 1000u);
    Config leases = load_ok(std::string(kFleetPort) + kLeaseFleet +
                            "  lease: {namespace: svcgw, duration_s: 3, renew_ms: 500}\n");
    EXPECT_EQ(leases.fleet.membership, FleetMembership::leases);
    EXPECT_EQ(leases.fleet.lease, (FleetLeaseConfig{"svcgw", 3, 500}));
    EXPECT_EQ(to_string(leases.fleet.membership), "leases");
}

TEST(ConfigFleetLeases, EachMistakeIsAnErrorAtItsKey) {
    struct Case {
        const char* what;
        std::string yaml;
        const char* path;
        const char* fragment;
    };
    const std::string fleet = std::string(kFleetPort) + kLeaseFleet;
    const Case cases[] = {
        {"unknown membership", std::string(kFleetPort) + "fleet: {membership: gossip}\n",
         "fleet.membership", "unknown membership 'gossip' (probes or leases)"},
        {"leases without members", std::string(kFleetPort) + "fleet: {membership: leases}\n",
         "fleet.membership", "needs fleet.members"},
        {"leases without the API",
         std::string(kFleetPort) +
             "fleet: {self: g1, members: [{name: g1, address: 10.99.60.1}], membership: leases}\n",
         "fleet.membership", "kubernetes.enabled"},
        {"renew at the duration", fleet + "  lease: {duration_s: 3, renew_ms: 3000}\n",
         "fleet.lease.renew_ms", "more than a third of duration_s"},
        {"renew just over a third", fleet + "  lease: {duration_s: 3, renew_ms: 1001}\n",
         "fleet.lease.renew_ms", "more than a third"},
        {"renew too fast", fleet + "  lease: {renew_ms: 10}\n", "fleet.lease.renew_ms",
         "between 100 and"},
        {"duration zero", fleet + "  lease: {duration_s: 0}\n", "fleet.lease.duration_s",
         "between 1 and"},
        {"bad namespace", fleet + "  lease: {namespace: Kube_System}\n", "fleet.lease.namespace",
         "not a namespace"},
        {"unknown lease key", fleet + "  lease: {name: x}\n", "fleet.lease.name", "unknown key"},
        {"member name no Lease name",
         std::string(kFleetPort) +
             "kubernetes: {enabled: true}\nfleet: {self: G1, membership: leases, members: "
             "[{name: G1, address: 10.99.60.1}]}\n",
         "fleet.members[0].name", "does not make a Lease name"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        Errors errors = load_errors(c.yaml);
        expect_error(errors, c.path, c.fragment);
    }
    // A third exactly is fine; probes ignore the lease keys' rules.
    load_ok(fleet + "  lease: {duration_s: 3, renew_ms: 1000}\n");
    load_ok(std::string(kFleetPort) + "fleet: {lease: {duration_s: 1, renew_ms: 1000}}\n");
}

}  // namespace
}  // namespace svcgw
