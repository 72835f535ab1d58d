// Fleet membership by coordination.k8s.io/v1 Lease objects (DESIGN §6):
// every gateway holds one Lease, `svcgw-<member>`, renewed well within its
// duration; a member is live while its Lease says so. This file is the pure
// part: the Lease's JSON (MicroTime renewTime included), and the liveness
// rule over what was last listed. No I/O, no clock reads: callers pass the
// time.
//
// The liveness rule (lease_state) and clock skew: a member is live when its
// Lease exists, names it as holder, and both
//   - renewTime + leaseDurationSeconds is in the future by our wall clock
//     (the holder's own claim: a stale Lease of a dead gateway is dead at
//     once, even on a fresh start), and
//   - we saw renewTime change within the last leaseDurationSeconds by our
//     monotonic clock (client-go's leader election rule: it needs no clock
//     agreement, so a holder whose clock runs ahead cannot stay live for
//     longer than one duration after its last renewal).
// So skew is tolerated up to the margin between renew period and duration:
// a holder whose clock lags ours by more than (duration - 2 x renew period)
// looks dead while it renews (the renew age exported per member shows it);
// one whose clock leads is held to the monotonic rule.
//
// The API unreachable: no list for 1.5 renew periods freezes the
// evaluation time there (LeaseTable::state): every member live at that
// moment stays live until a list succeeds again, and for one lease
// duration after (the grace): the peers could not renew meanwhile either,
// so the first list shows their old renewals; each has a duration to
// renew before its Lease is judged again by the running clock. An API outage is
// not a fleet failure (every gateway loses the API together; expiring all
// peers would make every gateway own every flow and reset the redirected
// ones), as Kubernetes' node lifecycle controller stops evicting when it
// loses sight of every node at once.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace svcgw::kube {

// Every gateway's Lease is `svcgw-<member name>`, labelled as svcgw's so a
// list selects only the fleet's.
constexpr std::string_view kLeaseNamePrefix = "svcgw-";
constexpr std::string_view kLeaseLabelKey = "app.kubernetes.io/managed-by";
constexpr std::string_view kLeaseLabelValue = "svcgw";

std::string lease_name(std::string_view member);
// "/apis/coordination.k8s.io/v1/namespaces/NS/leases[/NAME]".
std::string leases_path(std::string_view ns);
std::string lease_path(std::string_view ns, std::string_view name);
// The collection of the fleet's Leases (label selector applied).
std::string fleet_leases_query(std::string_view ns);

// Kubernetes' MicroTime: RFC 3339 UTC with six fractional digits
// ("2026-12-05T17:31:23.123456Z"), what client-go writes in renewTime.
std::string format_micro_time(int64_t unix_us);
// RFC 3339 as the API accepts it: 0-9 fractional digits, Z or +hh:mm.
std::optional<int64_t> parse_micro_time(std::string_view text);

struct Lease {
    std::string name;
    std::string holder;                 // spec.holderIdentity ("" = released)
    uint32_t duration_s = 0;            // spec.leaseDurationSeconds
    std::optional<int64_t> renew_us;    // spec.renewTime
    std::optional<int64_t> acquire_us;  // spec.acquireTime
    std::string resource_version;
    bool operator==(const Lease&) const = default;
};

// The whole object for a create (resource_version "") or an update (the
// version read: a stale one is refused with 409 Conflict).
std::string lease_body(std::string_view ns, const Lease& lease);
Result<Lease> parse_lease(std::string_view body);
struct LeaseList {
    std::vector<Lease> items;
    std::string resource_version;
};
Result<LeaseList> parse_lease_list(std::string_view body);

// What a member's Lease says, as /metrics and /v1/fleet show it.
enum class LeaseState {
    missing,   // no Lease (never started, or not listed yet)
    released,  // holderIdentity is not the member (cleared on shutdown)
    expired,   // not renewed in time
    live,
};
std::string_view to_string(LeaseState state);

struct ObservedLease {
    Lease lease;
    uint64_t observed_ms = 0;  // monotonic: when renewTime or holder last changed here
};

struct MemberLease {
    LeaseState state = LeaseState::missing;
    std::optional<int64_t> renew_us;  // the holder's clock
    uint32_t duration_s = 0;
};

// The rule on one Lease, at (wall, monotonic) time now.
LeaseState lease_state(const ObservedLease* observed, std::string_view member, int64_t now_unix_us,
                       uint64_t now_ms);

// The fleet's Leases as last listed, with when each was seen to change.
// One owner thread (no locking).
class LeaseTable {
public:
    // `hold_ms`: how long after the last good list the clock keeps running
    // (1.5 renew periods, see above).
    // `grace_ms`: after a freeze, how long a member live at the freeze
    // stays live without renewing (the lease duration).
    LeaseTable(uint64_t hold_ms, uint64_t grace_ms) : _hold_ms(hold_ms), _grace_ms(grace_ms) {}

    // A complete list, received at now_ms.
    void update(const std::vector<Lease>& items, uint64_t now_ms);
    MemberLease state(std::string_view member, int64_t now_unix_us, uint64_t now_ms) const;
    bool listed() const { return _listed; }
    uint64_t last_list_ms() const { return _last_list_ms; }
    bool frozen(uint64_t now_ms) const { return _listed && now_ms > _last_list_ms + _hold_ms; }

private:
    uint64_t _hold_ms;
    uint64_t _grace_ms;
    bool _listed = false;
    // After a freeze: until _grace_until_ms a member live at the frozen
    // point (_frozen_at_ms, monotonic) stays live.
    uint64_t _grace_until_ms = 0;
    uint64_t _frozen_at_ms = 0;
    uint64_t _last_list_ms = 0;
    std::map<std::string, ObservedLease, std::less<>> _leases;  // by Lease name
};

}  // namespace svcgw::kube
