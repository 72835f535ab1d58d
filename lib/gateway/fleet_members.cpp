#include "gateway/fleet_members.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "port/neighbour.hpp"

namespace svcgw {

Result<std::unique_ptr<FleetMembers>> FleetMembers::create(const FleetConfig& fleet, uint64_t seed,
                                                           rte_rcu_qsbr* qsbr,
                                                           NeighbourTable& neighbours, LogFn log) {
    std::unique_ptr<FleetMembers> m(
        new FleetMembers(fleet, seed, qsbr, neighbours, std::move(log)));
    if (fleet.membership == FleetMembership::probes) {
        // One probe per peer at most in flight.
        auto prober = health::Prober::create(std::max<size_t>(fleet.members.size(), 1));
        if (!prober) {
            return Unexpected<Error>{prober.error()};
        }
        m->_prober = std::move(*prober);
    }
    for (size_t i = 0; i < fleet.members.size(); ++i) {
        const FleetMemberConfig& c = fleet.members[i];
        MemberInfo info;
        info.name = c.name;
        info.ip_be = htonl(c.address.value);
        if (c.name == fleet.self) {
            m->_self = i;
        }
        m->_members.push_back(std::move(info));
    }
    m->_liveness.resize(m->_members.size());
    m->_liveness[m->_self].live = true;
    m->_next_probe_us.assign(m->_members.size(), 0);
    m->_in_flight.assign(m->_members.size(), false);
    if (auto published = m->publish(); !published) {
        return Unexpected<Error>{published.error()};
    }
    return m;
}

Result<void> FleetMembers::publish() {
    for (size_t i = 0; i < _members.size(); ++i) {
        _members[i].live = _liveness[i].live;
    }
    auto set = MemberSet::build(_members, _self, _seed);
    if (!set) {
        return Unexpected<Error>{set.error()};
    }
    _set.publish(std::make_unique<const MemberSet>(std::move(*set)));
    ++_changes;
    return {};
}

void FleetMembers::run(uint64_t now_us) {
    if (_prober == nullptr) {
        return;  // membership leases
    }
    std::vector<health::Completion> done;
    _prober->poll(now_us, done);
    bool changed = false;
    const FleetProbeConfig& p = _fleet.probe;
    for (const health::Completion& c : done) {
        const size_t i = c.token;
        if (i >= _members.size()) {
            continue;
        }
        _in_flight[i] = false;
        const bool ok = c.outcome.result == health::ProbeResult::ok;
        if (c.outcome.result == health::ProbeResult::local_error) {
            continue;  // our side failed: no verdict on the peer
        }
        if (_liveness[i].record(ok, p.rise, p.fall)) {
            changed = true;
            _log("fleet: member " + _members[i].name + " (" + Ipv4{ntohl(_members[i].ip_be)}.str() +
                 ") " + (ok ? "live" : "dead: " + health::describe(c.outcome)));
        }
    }
    uint64_t next_wake = 0;
    for (size_t i = 0; i < _members.size(); ++i) {
        if (i == _self) {
            continue;
        }
        if (!_in_flight[i] && now_us >= _next_probe_us[i]) {
            HealthCheckConfig check;
            check.protocol = HealthProtocol::tcp;
            check.port = p.port;
            check.interval_ms = p.interval_ms;
            check.timeout_ms = p.timeout_ms;
            check.rise = p.rise;
            check.fall = p.fall;
            health::ProbeTarget target{Ipv4{ntohl(_members[i].ip_be)}, p.port, check};
            if (_prober->start(i, target, now_us)) {
                _in_flight[i] = true;
            }
            _next_probe_us[i] = now_us + uint64_t{p.interval_ms} * 1000;
        }
        if (next_wake == 0 || _next_probe_us[i] < next_wake) {
            next_wake = _next_probe_us[i];
        }
    }
    _prober->wake_at(next_wake);
    if (changed) {
        if (auto published = publish(); !published) {
            _log("fleet: members: " + published.error().str());
        }
    }
}

void FleetMembers::set_live(const std::vector<bool>& live, const std::vector<std::string>& why) {
    bool changed = false;
    for (size_t i = 0; i < _members.size() && i < live.size(); ++i) {
        if (i == _self || _liveness[i].live == live[i]) {
            continue;
        }
        _liveness[i].live = live[i];
        changed = true;
        _log("fleet: member " + _members[i].name + " (" + Ipv4{ntohl(_members[i].ip_be)}.str() +
             ") " + (live[i] ? "live" : "dead") + " (lease " + (i < why.size() ? why[i] : "") +
             ")");
    }
    if (changed) {
        if (auto published = publish(); !published) {
            _log("fleet: members: " + published.error().str());
        }
    }
}

void FleetMembers::tick(uint64_t now_ms) {
    _set.reclaim();
    bool changed = false;
    const bool resolve = now_ms >= _next_resolve_ms;
    if (resolve) {
        _next_resolve_ms = now_ms + kMemberResolveMs;
    }
    for (size_t i = 0; i < _members.size(); ++i) {
        if (i == _self) {
            continue;
        }
        const Ipv4 ip{ntohl(_members[i].ip_be)};
        std::optional<MacAddr> mac = _neighbours.lookup(ip);
        if (mac != _members[i].mac) {
            _members[i].mac = mac;
            changed = true;
        }
        if (!mac && resolve) {
            _neighbours.want(ip, now_ms);
        }
    }
    if (changed) {
        if (auto published = publish(); !published) {
            _log("fleet: members: " + published.error().str());
        }
    }
}

}  // namespace svcgw
