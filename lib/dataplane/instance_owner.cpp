#include "dataplane/instance_owner.hpp"

#include <set>

namespace svcgw {

namespace {

// Digest layout version (bump when the words change).
constexpr uint64_t kMemberDigestDomain = 0x6d656d6265727301ULL;  // "members" v1

// The ring over `members` (their names); order[i] = the members() index of
// the ring's sorted backend i.
Result<MaglevRing> ring_of(const std::vector<MemberInfo>& members, const std::vector<size_t>& which,
                           uint32_t table_size, uint64_t seed, std::vector<uint32_t>& order) {
    std::vector<MaglevBackend> backends;
    backends.reserve(which.size());
    for (size_t i : which) {
        backends.push_back(MaglevBackend{members[i].name, 1});
    }
    auto ring = MaglevRing::build(backends, table_size, seed);
    if (!ring) {
        return ring;
    }
    order.clear();
    for (uint32_t input : ring->sorted_order()) {
        order.push_back(static_cast<uint32_t>(which[input]));
    }
    return ring;
}

}  // namespace

Result<MemberSet> MemberSet::build(std::vector<MemberInfo> members, size_t self, uint64_t seed) {
    if (members.empty()) {
        return fail("fleet.members", "no member");
    }
    if (members.size() > kMaxFleetMembers) {
        return fail("fleet.members", "more than " + std::to_string(kMaxFleetMembers) + " members");
    }
    if (self >= members.size()) {
        return fail("fleet.self", "not one of the members");
    }
    std::set<std::string> names;
    for (const MemberInfo& m : members) {
        if (!names.insert(m.name).second) {
            return fail("fleet.members", "duplicate member name '" + m.name + "'");
        }
    }
    MemberSet set;
    set._self = static_cast<uint16_t>(self);
    members[self].live = true;  // we are running
    set._members = std::move(members);
    // One size for both rings, from the configured count: a death must not
    // resize the ring (every slot would move), and every instance has the
    // same member list, so the same size.
    const uint32_t size = maglev_auto_size(set._members.size());
    std::vector<size_t> all, live;
    for (size_t i = 0; i < set._members.size(); ++i) {
        all.push_back(i);
        if (set._members[i].live) {
            live.push_back(i);
        }
    }
    auto all_ring = ring_of(set._members, all, size, seed, set._all_order);
    if (!all_ring) {
        return Unexpected<Error>{all_ring.error()};
    }
    auto live_ring = ring_of(set._members, live, size, seed, set._live_order);
    if (!live_ring) {
        return Unexpected<Error>{live_ring.error()};
    }
    set._all = std::move(*all_ring);
    set._live = std::move(*live_ring);
    for (size_t i = 0; i < set._members.size(); ++i) {
        if (i != self && set._members[i].mac) {
            set._peer_macs.push_back(pack_mac(set._members[i].mac->data()));
        }
    }
    Digest64 d(kMemberDigestDomain);
    d.add(size);
    d.add(seed);
    // By name, so the config's order does not matter.
    for (uint32_t i : set._all_order) {
        d.add(hash_bytes(set._members[i].name, 0));
        d.add(set._members[i].live ? 1 : 0);
    }
    for (uint32_t slot = 0; slot < size; ++slot) {
        d.add(hash_bytes(set._members[set.owner_of_slot(slot)].name, 0));
    }
    set._digest = d.value();
    return set;
}

// As owner(), by slot: both rings have the same size, so a hash's slot is
// the same on both.
uint16_t MemberSet::owner_of_slot(uint32_t slot) const {
    const auto first = static_cast<uint16_t>(_all_order[_all.at(slot)]);
    if (_members[first].live) {
        return first;
    }
    return static_cast<uint16_t>(_live_order[_live.at(slot)]);
}

size_t MemberSet::live_count() const {
    size_t n = 0;
    for (const MemberInfo& m : _members) {
        n += m.live ? 1 : 0;
    }
    return n;
}

std::vector<uint32_t> MemberSet::slot_counts() const {
    std::vector<uint32_t> counts(_members.size(), 0);
    for (uint32_t slot = 0; slot < _all.size(); ++slot) {
        ++counts[owner_of_slot(slot)];
    }
    return counts;
}

}  // namespace svcgw
