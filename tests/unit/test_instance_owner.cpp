// The instance-owner rule of fullnat owner redirect (dataplane/instance_owner.hpp):
// agreement across instances, balance, the survivors' slots never moving
// when a member dies, the mark, and the decision table.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "dataplane/instance_owner.hpp"
#include "net/flow_key.hpp"

namespace svcgw {
namespace {

constexpr uint64_t kSeed = 7;

std::vector<MemberInfo> members(size_t n, std::vector<bool> live = {}) {
    std::vector<MemberInfo> out;
    for (size_t i = 0; i < n; ++i) {
        MemberInfo m;
        m.name = std::string("g").append(std::to_string(i + 1));
        m.ip_be = 0x0a000001u + static_cast<uint32_t>(i);
        m.live = live.empty() ? true : live[i];
        m.mac = std::array<uint8_t, 6>{0x02, 0, 0, 0, 0, static_cast<uint8_t>(i + 1)};
        out.push_back(m);
    }
    return out;
}

MemberSet build_ok(std::vector<MemberInfo> m, size_t self) {
    auto set = MemberSet::build(std::move(m), self, kSeed);
    EXPECT_TRUE(set.has_value()) << (set ? "" : set.error().str());
    return std::move(set).value();
}

// The owner of every slot, by name, via owner() on hashes that land on
// each slot (so the test goes through the per-packet entry point).
std::vector<std::string> owner_names(const MemberSet& set, size_t hashes = 20000) {
    std::vector<std::string> out;
    for (uint32_t i = 0; i < hashes; ++i) {
        FlowKey k;
        k.src_ip = 0x0b000000u + i;
        k.src_port = static_cast<uint16_t>(i * 7919);
        k.dst_ip = 0x0a600014u;
        k.dst_port = 80;
        k.proto = 6;
        out.push_back(set.members()[set.owner(owner_hash(flow_hash(k)))].name);
    }
    return out;
}

TEST(InstanceOwner, EveryInstanceAgreesWhateverItsConfigOrderAndSelf) {
    const MemberSet a = build_ok(members(3), 0);
    std::vector<MemberInfo> reversed = members(3);
    std::reverse(reversed.begin(), reversed.end());
    const MemberSet c = build_ok(reversed, 0);  // g3 as self, other order
    EXPECT_EQ(a.digest(), c.digest());
    EXPECT_EQ(owner_names(a), owner_names(c));
    EXPECT_EQ(a.table_size(), maglev_auto_size(3));
}

TEST(InstanceOwner, DigestFollowsLivenessSeedAndMembers) {
    const uint64_t all = build_ok(members(3), 0).digest();
    EXPECT_NE(all, build_ok(members(3, {true, true, false}), 0).digest());
    EXPECT_NE(all, build_ok(members(4), 0).digest());
    auto other_seed = MemberSet::build(members(3), 0, kSeed + 1);
    ASSERT_TRUE(other_seed.has_value());
    EXPECT_NE(all, other_seed->digest());
    // MACs are each instance's own knowledge: not in the digest.
    std::vector<MemberInfo> no_macs = members(3);
    for (auto& m : no_macs) {
        m.mac.reset();
    }
    EXPECT_EQ(all, build_ok(no_macs, 0).digest());
}

TEST(InstanceOwner, BalancedOverLiveMembers) {
    const MemberSet set = build_ok(members(3), 1);
    const auto counts = set.slot_counts();
    const auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
    EXPECT_LE(*hi - *lo, 1u);  // Maglev's balance, equal weights
    const MemberSet two = build_ok(members(3, {true, true, false}), 0);
    const auto c2 = two.slot_counts();
    EXPECT_EQ(c2[2], 0u);  // a dead member owns nothing
    EXPECT_EQ(c2[0] + c2[1], two.table_size());
    // Its slots are shared out, not all given to one survivor.
    const uint32_t third = two.table_size() / 3;
    EXPECT_GT(c2[0], third + third / 4);
    EXPECT_GT(c2[1], third + third / 4);
}

// The guarantee the ring is composed for: a member's death moves only its
// own flows; every flow owned by a survivor keeps its owner (hash-threshold
// ECMP moves survivors' flows between gateways, and they must still find
// their owner). And the plain Maglev ring of the live members would not
// give that: checked so the composition is not dead code.
TEST(InstanceOwner, SurvivorsKeepEveryFlowWhenAMemberDies) {
    for (size_t n : {2u, 3u, 5u, 8u}) {
        for (size_t dead = 0; dead < n; ++dead) {
            std::vector<bool> live(n, true);
            live[dead] = false;
            const size_t self = (dead + 1) % n;
            const auto before = owner_names(build_ok(members(n), self));
            const auto after = owner_names(build_ok(members(n, live), self));
            const std::string dead_name = std::string("g").append(std::to_string(dead + 1));
            size_t moved_dead = 0;
            for (size_t i = 0; i < before.size(); ++i) {
                if (before[i] != dead_name) {
                    ASSERT_EQ(before[i], after[i])
                        << "n=" << n << " dead=" << dead << " flow " << i;
                } else {
                    ASSERT_NE(after[i], dead_name);
                    ++moved_dead;
                }
            }
            EXPECT_GT(moved_dead, 0u);
        }
    }
    // Plain Maglev over the survivors moves some of their slots too.
    std::vector<MaglevBackend> all{{"g1", 1}, {"g2", 1}, {"g3", 1}};
    std::vector<MaglevBackend> two{{"g1", 1}, {"g2", 1}};
    const uint32_t m = maglev_auto_size(3);
    auto r3 = MaglevRing::build(all, m, kSeed);
    auto r2 = MaglevRing::build(two, m, kSeed);
    ASSERT_TRUE(r3 && r2);
    uint32_t survivor_moved = 0;
    for (uint32_t s = 0; s < m; ++s) {
        if (r3->at(s) != 2 && r3->at(s) != r2->at(s)) {
            ++survivor_moved;
        }
    }
    EXPECT_GT(survivor_moved, 0u);
}

TEST(InstanceOwner, ReturningMemberTakesBackItsOwnSlotsOnly) {
    const auto with = owner_names(build_ok(members(3), 0));
    const auto without = owner_names(build_ok(members(3, {true, true, false}), 0));
    for (size_t i = 0; i < with.size(); ++i) {
        if (with[i] != "g3") {
            EXPECT_EQ(with[i], without[i]);
        }
    }
}

TEST(InstanceOwner, SelfIsAlwaysLiveAndAloneOwnsEverything) {
    const MemberSet set = build_ok(members(3, {false, false, false}), 2);
    EXPECT_EQ(set.live_count(), 1u);
    for (const std::string& name : owner_names(set, 2000)) {
        EXPECT_EQ(name, "g3");
    }
}

TEST(InstanceOwner, MarkIsAPeerMacNotOursNorAStranger) {
    const MemberSet set = build_ok(members(3), 0);
    const uint8_t peer[6] = {0x02, 0, 0, 0, 0, 2};
    const uint8_t self[6] = {0x02, 0, 0, 0, 0, 1};
    const uint8_t router[6] = {0x02, 0, 0, 0, 0, 9};
    const uint8_t near_peer[6] = {0x03, 0, 0, 0, 0, 2};
    EXPECT_TRUE(set.is_peer_mac(peer));
    EXPECT_FALSE(set.is_peer_mac(self));
    EXPECT_FALSE(set.is_peer_mac(router));
    EXPECT_FALSE(set.is_peer_mac(near_peer));
    // A peer whose MAC is not resolved yet is no mark.
    std::vector<MemberInfo> m = members(3);
    m[1].mac.reset();
    EXPECT_FALSE(build_ok(m, 0).is_peer_mac(peer));
}

struct DecisionCase {
    const char* description;
    bool has_state;
    bool marked;
    bool owned_by_self;
    bool redirect;
};

TEST(InstanceOwner, DecisionTable) {
    const DecisionCase cases[] = {
        {"new flow, ours", false, false, true, false},
        {"new flow, a peer's: redirect", false, false, false, true},
        {"a peer's flow with state here: stays", true, false, false, false},
        {"redirected to us: handled here", false, true, true, false},
        {"redirected, but we think a third owns it: never twice", false, true, false, false},
        {"marked with state", true, true, false, false},
    };
    const MemberSet set = build_ok(members(3), 0);
    // A hash we own and one a peer owns.
    uint64_t ours = 0, theirs = 0;
    bool have_ours = false, have_theirs = false;
    for (uint32_t i = 0; !(have_ours && have_theirs); ++i) {
        const uint64_t h = owner_hash(i);
        if (set.owner(h) == 0 && !have_ours) {
            ours = h;
            have_ours = true;
        } else if (set.owner(h) != 0 && !have_theirs) {
            theirs = h;
            have_theirs = true;
        }
    }
    for (const DecisionCase& c : cases) {
        const uint64_t h = c.owned_by_self ? ours : theirs;
        const OwnerDecision d = decide_owner(set, h, c.has_state, c.marked);
        EXPECT_EQ(d.redirect, c.redirect) << c.description;
        if (d.redirect) {
            EXPECT_EQ(d.owner, set.owner(h)) << c.description;
            EXPECT_NE(d.owner, set.self()) << c.description;
        }
    }
}

TEST(InstanceOwner, BadMemberListsAreErrors) {
    EXPECT_FALSE(MemberSet::build({}, 0, kSeed).has_value());
    EXPECT_FALSE(MemberSet::build(members(2), 2, kSeed).has_value());
    std::vector<MemberInfo> dup = members(2);
    dup[1].name = dup[0].name;
    EXPECT_FALSE(MemberSet::build(dup, 0, kSeed).has_value());
    EXPECT_FALSE(MemberSet::build(members(kMaxFleetMembers + 1), 0, kSeed).has_value());
}

}  // namespace
}  // namespace svcgw
