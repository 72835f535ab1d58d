// Which gateway instance of a fleet owns a flow: fullnat owner redirect
// (DESIGN §6). Beside ownership.hpp, which says which *worker*
// of an instance owns it; this says which *instance*. Pure C++, no EAL.
//
// Every instance places the flow (its client -> VIP 5-tuple, through the
// portable flow hash, net/flow_key.hpp) on a Maglev ring of the fleet's
// members built with the same seed and size everywhere, so all agree, and
// MemberSet::digest() lets them prove it. The owner opens the flow and SNATs
// with its own address (the backend's replies come back to it); another
// instance forwards the client's frames to the owner on the shared segment.
//
// The ring. Maglev's minimal disruption is not zero: when one member
// leaves, a few slots also move between the survivors, and under
// hash-threshold ECMP (which also moves survivors' flows between gateways)
// such a flow would reach a gateway that now thinks it owns it: reset. So
// the slots of a live member never move: slot s belongs to the member that
// holds it on the ring of *all* configured members while that one is live;
// a dead member's slots go to the ring of the live members (same size, same
// seed, same slot). Both rings pick a slot by the same rule
// (MaglevRing::pick), so the composition needs no slot arithmetic here.
//
// The mark. A redirected frame leaves unchanged but for its Ethernet
// addresses (dst = the owner's MAC, src = the redirector's own), so the
// mark is its source MAC being a peer member's. It costs no bytes (no MTU
// change, unlike a VLAN tag's 4 or an encapsulation's 32+) and no parsing;
// it needs the members on one L2 segment (owner redirect needs that anyway)
// and each peer's MAC known (the control thread resolves every member). A
// marked frame is always handled where it lands, so nothing is redirected
// twice even while two instances' views of the live set differ.
//
// Threading: built by the control thread, then immutable; workers read a
// published MemberSet through RCU (gateway/fleet_members.hpp).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/fleet_limits.hpp"
#include "common/hash.hpp"
#include "common/result.hpp"
#include "maglev/maglev.hpp"

namespace svcgw {

struct MemberInfo {
    std::string name;  // identity on the ring (fleet.members[].name)
    uint32_t ip_be = 0;
    bool live = false;
    // The member's MAC on the shared segment, when resolved (the mark).
    std::optional<std::array<uint8_t, 6>> mac;
};

// The instance-owner hash: the flow hash, decorrelated from the backend
// ring's use of the same hash (a different domain), so a member's share
// does not follow a backend's.
constexpr uint64_t kOwnerHashDomain = 0x6f776e65722d3031ULL;  // "owner-01"
inline uint64_t owner_hash(uint32_t flow_hash) {
    return mix64(uint64_t{flow_hash} ^ kOwnerHashDomain);
}

class MemberSet {
public:
    // `members` in config order (every instance lists the same members in
    // any order: rings sort by name); `self` indexes it and counts as live.
    // Errors: no member, too many, duplicate names, self out of range.
    static Result<MemberSet> build(std::vector<MemberInfo> members, size_t self, uint64_t seed);

    // The owner (an index into members()) of a flow of this owner_hash.
    uint16_t owner(uint64_t hash) const {
        const auto first = static_cast<uint16_t>(_all_order[_all.pick(hash)]);
        if (_members[first].live) {
            return first;
        }
        return static_cast<uint16_t>(_live_order[_live.pick(hash)]);
    }
    // The mark: `src_mac` (6 bytes) is a peer member's MAC.
    bool is_peer_mac(const uint8_t* src_mac) const {
        const uint64_t mac = pack_mac(src_mac);
        for (uint64_t peer : _peer_macs) {
            if (peer == mac) {
                return true;
            }
        }
        return false;
    }

    uint16_t self() const { return _self; }
    const std::vector<MemberInfo>& members() const { return _members; }
    size_t live_count() const;
    uint32_t table_size() const { return _all.size(); }
    // Slots each member owns (index as members()).
    std::vector<uint32_t> slot_counts() const;
    // Digest of what every instance must agree on: the members (names,
    // liveness) and the owner of every slot. Not the MACs (each instance
    // knows its peers', not itself as a peer).
    uint64_t digest() const { return _digest; }

    static uint64_t pack_mac(const uint8_t* mac) {
        uint64_t v = 0;
        std::memcpy(&v, mac, 6);
        return v;
    }

private:
    uint16_t owner_of_slot(uint32_t slot) const;

    std::vector<MemberInfo> _members;
    uint16_t _self = 0;
    MaglevRing _all;                   // every configured member
    MaglevRing _live;                  // live members only, same size and seed
    std::vector<uint32_t> _all_order;  // _all's sorted index -> members() index
    std::vector<uint32_t> _live_order;
    std::vector<uint64_t> _peer_macs;  // known peers' MACs, pack_mac()
    uint64_t _digest = 0;
};

// The one owner rule, for every client -> VIP frame in fullnat
// and every ICMP error quoting such a flow's reply:
//  - the frame's flow has state here: handled here (existing flows of a
//    live instance never move);
//  - marked (redirected by a peer): handled here, never redirected again;
//  - else the ring's owner: here, or redirect to it.
struct OwnerDecision {
    bool redirect = false;
    uint16_t owner = 0;  // the member to redirect to (when redirect)
};
inline OwnerDecision decide_owner(const MemberSet& set, uint64_t hash, bool has_state,
                                  bool marked) {
    if (has_state || marked) {
        return {};
    }
    const uint16_t owner = set.owner(hash);
    return owner == set.self() ? OwnerDecision{} : OwnerDecision{true, owner};
}

}  // namespace svcgw
