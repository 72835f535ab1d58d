// nat mode's reverse translation without a flow: which
// VIP:port a backend's reply answers for, read from the service table.
//
// In a fleet, routers spread clients over the instances by ECMP and the
// backends send their replies through whichever instance routes them, so a
// reply may reach an instance that never saw the connection (or lost it in a
// restart). nat mode keeps the client's address, so the reply carries all
// that is needed except the VIP:port to restore as its source: that is the
// service port whose backend:targetPort sent it. The mapping
//   (backend ip, target port, protocol) -> (VIP, port, protocol)
// is a function only where exactly one service port maps to it. Ambiguous:
//  - two ports of one service with the same target port (e.g. 80 and 8080
//    both to 8080), or two services selecting the same pods on the same
//    target port: the reply cannot say which VIP:port the client used;
// such replies are translated only by a flow (the instance that has one),
// elsewhere dropped and counted. Every backend of a port counts (also
// terminating, drained and probe-down ones: their existing flows are
// exactly the ones that may move); headless services have no VIP.
//
// Threading as the VIP table (service_table.hpp): the control thread
// changes it (replace), workers look up lock-free. The value is stored in
// the hash's data word itself, so a lookup never follows a pointer and
// nothing needs RCU reclamation beyond the hash's own deleted slots.
#pragma once

#include <cstdint>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "table/service.hpp"

struct rte_hash;

namespace svcgw {

class ReplyIndex {
public:
    enum class Match : uint8_t { none, unique, ambiguous };
    struct Answer {
        Match match = Match::none;
        uint32_t vip_be = 0;   // network order; set when unique
        uint16_t port_be = 0;  // network order; set when unique
    };

    // Takes `hash` (8-byte keys, lock-free readers, deleted slots behind
    // RCU: ServiceTable creates it like the VIP hash) and frees it.
    explicit ReplyIndex(rte_hash* hash) : _hash(hash) {}
    ~ReplyIndex();
    ReplyIndex(const ReplyIndex&) = delete;
    ReplyIndex& operator=(const ReplyIndex&) = delete;

    // ---- readers (workers), lock-free ----
    // The reply's source address and port, as in the packet.
    Answer lookup(uint32_t src_ip_be, uint16_t src_port_be, uint8_t proto) const;

    // ---- control thread only ----
    // `next` replaces `old` (either may be null: a new or a removed
    // service). Keys the hash has no room for stay unindexed (counted in
    // unindexed(), retried at the next change of their service): their
    // replies are then translated only by a flow, as before this index.
    void replace(const Service* old, const Service* next);
    size_t size() const { return _vips_of.size(); }    // backend keys of the services
    uint64_t unindexed() const { return _unindexed; }  // failed inserts, since creation

private:
    // (backend key, VIP key), both packed as VipKey (service_table.hpp).
    using Pair = std::pair<uint64_t, uint64_t>;
    static std::vector<Pair> pairs_of(const Service* service);

    rte_hash* _hash = nullptr;
    // Control only: every VIP key each backend key answers for.
    std::unordered_map<uint64_t, std::set<uint64_t>> _vips_of;
    uint64_t _unindexed = 0;
};

}  // namespace svcgw
