// Membership leases (DESIGN §6) in the daemon: the agent (its own thread
// and HTTPS connection: the control thread never waits on the API), and
// every kLeaseEvalMs the members' Lease states turned into FleetMembers'
// liveness. Probes stay the membership without a Kubernetes API.
#include <cstdio>

#include "daemon.hpp"
#include "kube/kubeconfig.hpp"
#include "log.hpp"

namespace svcgw::app {

namespace {

// How often the Leases are evaluated against the clocks: a lease's expiry
// is acted on within 100 ms (2% of the default 5 s duration), at the cost
// of a map lookup per member.
constexpr uint64_t kLeaseEvalMs = 100;
// The agent's requests: a Lease is a few hundred bytes on the cluster's
// network, so a reply slower than this is an API in trouble; a round must
// not outlast the renew period by much (a late renewal looks like a death).
constexpr kube::ClientTimeouts kLeaseTimeouts{1, 2};

}  // namespace

Result<void> Daemon::start_leases() {
    const FleetConfig& f = _config.fleet;
    if (_members == nullptr || f.membership != FleetMembership::leases) {
        return {};
    }
    auto access = kube::cluster_access(_config.kubernetes.kubeconfig);
    if (!access) {
        return Unexpected<Error>{access.error()};
    }
    auto client = std::make_shared<kube::ApiClient>(*access, kLeaseTimeouts);
    kube::LeaseAgent::Call call = [client](std::string_view method, const std::string& path,
                                           const std::string& body) -> Result<kube::HttpReply> {
        if (method == "GET") {
            return client->get(path);
        }
        constexpr std::string_view kJson = "application/json";
        return client->write(
            method == "POST" ? kube::ApiClient::Write::post : kube::ApiClient::Write::put, path,
            std::string(kJson), body);
    };
    kube::LeaseAgentOptions options{f.lease.ns, f.self, f.lease.duration_s, f.lease.renew_ms,
                                    [](const std::string& line) { log("%s", line.c_str()); }};
    _leases = std::make_unique<kube::LeaseAgent>(std::move(options), std::move(call),
                                                 kube::LeaseAgent::system_clock());
    for (const FleetMemberConfig& m : f.members) {
        _lease_members.push_back(m.name);
    }
    _leases->start();
    log("fleet: membership by Leases svcgw-<member> in namespace %s at %s (%u s, renewed every "
        "%u ms)",
        f.lease.ns.c_str(), access->server().c_str(), f.lease.duration_s, f.lease.renew_ms);
    return {};
}

void Daemon::refresh_leases(uint64_t now_ms) {
    if (_leases == nullptr || now_ms < _lease_next_ms) {
        return;
    }
    _lease_next_ms = now_ms + kLeaseEvalMs;
    _lease_states = _leases->member_leases(_lease_members);
    std::vector<bool> live;
    std::vector<std::string> why;
    static const kube::LeaseAgent::Clock clock = kube::LeaseAgent::system_clock();
    const int64_t now_us = clock.unix_us();
    for (const kube::MemberLease& l : _lease_states) {
        live.push_back(l.state == kube::LeaseState::live);
        // "expired, renewed 3.04 s ago": how late a death was noticed.
        char age[64] = "";
        if (l.renew_us) {
            std::snprintf(age, sizeof age, ", renewed %.2f s ago",
                          static_cast<double>(now_us - *l.renew_us) / 1e6);
        }
        why.push_back(std::string(kube::to_string(l.state)) + age);
    }
    _members->set_live(live, why);
}

void Daemon::fill_lease_stats(FleetMembersStats& s) const {
    s.membership = std::string(to_string(_config.fleet.membership));
    if (_leases == nullptr) {
        return;
    }
    s.lease_api_ok = _leases->api_ok();
    const kube::LeaseCounters& c = _leases->counters();
    s.lease_renewals = c.renewals.load(std::memory_order_relaxed);
    s.lease_conflicts = c.conflicts.load(std::memory_order_relaxed);
    s.lease_errors = c.errors.load(std::memory_order_relaxed);
    // Members in config order in both (MemberSet keeps the config's order).
    for (size_t i = 0; i < s.members.size() && i < _lease_states.size(); ++i) {
        const kube::MemberLease& l = _lease_states[i];
        FleetMemberStats& m = s.members[i];
        m.lease_state = std::string(kube::to_string(l.state));
        m.lease_renew_us = l.renew_us.value_or(0);
        m.lease_renew_time = l.renew_us ? kube::format_micro_time(*l.renew_us) : std::string();
        m.lease_duration_s = l.duration_s;
    }
}

}  // namespace svcgw::app
