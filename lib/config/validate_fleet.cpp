// The fleet.* rules of validate_and_allocate (validate_fleet.hpp).
#include "config/validate_fleet.hpp"

#include <set>
#include <string>

#include "common/fleet_limits.hpp"
#include "config/rules.hpp"

namespace svcgw::config_detail {

namespace {

// Owner redirect: every member on this gateway's segment (frames are
// forwarded to the owner's MAC), names and addresses unique, this
// gateway one of them at its own port address.
void check_fleet_members(const Config& config, const ConfigReport& report) {
    const FleetConfig& f = config.fleet;
    if (f.members.empty()) {
        if (!f.self.empty()) {
            report("fleet.self", "set, but fleet.members is empty");
        }
        return;
    }
    if (config.forwarding != ForwardingMode::fullnat) {
        report("fleet.members",
               "owner redirect is for forwarding.mode fullnat (nat keeps flows without "
               "it: README \"Running a fleet\")");
    }
    if (f.members.size() > kMaxFleetMembers) {
        report("fleet.members", "more than " + std::to_string(kMaxFleetMembers) + " members");
    }
    std::set<std::string> names;
    std::set<uint32_t> addresses;
    bool self_found = false;
    for (size_t i = 0; i < f.members.size(); ++i) {
        const FleetMemberConfig& m = f.members[i];
        const std::string at = "fleet.members[" + std::to_string(i) + "]";
        if (m.name.empty()) {
            report(at + ".name", "must not be empty");
        } else if (!names.insert(m.name).second) {
            report(at + ".name", "duplicate member name '" + m.name + "'");
        }
        if (!addresses.insert(m.address.value).second) {
            report(at + ".address", "duplicate member address " + m.address.str());
        }
        if (config.ports.empty()) {
            continue;
        }
        const Ipv4Prefix& port = config.ports[0].address;
        if (m.name == f.self) {
            self_found = true;
            if (m.address != port.address) {
                report(at + ".address", "this gateway (fleet.self) is at " + port.address.str() +
                                            " (ports[0].address)");
            }
        } else if (!port.contains(m.address)) {
            report(at + ".address", m.address.str() + " is not on this gateway's segment " +
                                        port.str() + " (ports[0].address)");
        }
    }
    if (!self_found) {
        report("fleet.self",
               f.self.empty() ? "required with fleet.members" : "'" + f.self + "' is not a member");
    }
    if (f.probe.timeout_ms > f.probe.interval_ms) {
        report("fleet.probe.timeout_ms",
               "exceeds interval_ms (a probe must end before the next starts)");
    }
}

// Lease membership (kube/lease.hpp): the feed's API connection, a name per
// member that makes a valid Lease name, and a renew period that leaves a
// healthy member live: its renewal is seen up to two periods late (one to
// renew, one to be listed), so three periods per duration keep one of
// margin for a slow request.
void check_fleet_leases(const Config& config, const ConfigReport& report) {
    const FleetConfig& f = config.fleet;
    if (f.membership != FleetMembership::leases) {
        return;
    }
    if (f.members.empty()) {
        report("fleet.membership", "leases needs fleet.members (the Leases give their liveness)");
        return;
    }
    if (!config.kubernetes.enabled) {
        report("fleet.membership",
               "leases needs the Kubernetes API: kubernetes.enabled true (the feed's connection)");
    }
    if (!is_dns1123_label(f.lease.ns)) {
        report("fleet.lease.namespace", "'" + f.lease.ns + "' is not a namespace (DNS-1123 label)");
    }
    if (uint64_t{f.lease.renew_ms} * 3 > uint64_t{f.lease.duration_s} * 1000) {
        report("fleet.lease.renew_ms",
               std::to_string(f.lease.renew_ms) + " ms is more than a third of duration_s (" +
                   std::to_string(f.lease.duration_s) +
                   " s): a healthy member's renewal, seen up to two periods late, would expire");
    }
    for (size_t i = 0; i < f.members.size(); ++i) {
        const std::string& name = f.members[i].name;
        if (!name.empty() && !is_dns1123_subdomain("svcgw-" + name)) {
            report("fleet.members[" + std::to_string(i) + "].name",
                   "'" + name +
                       "' does not make a Lease name (svcgw-NAME: lower-case DNS-1123 "
                       "subdomain)");
        }
    }
}

}  // namespace

// The daemon and BIRD find these files from different working
// directories: only absolute paths mean the same file to both.
void check_fleet(const Config& config, const ConfigReport& report) {
    const FleetConfig& f = config.fleet;
    for (auto [key, path] : {std::pair{"fleet.bird_socket", &f.bird_socket},
                             std::pair{"fleet.routes_file", &f.routes_file},
                             std::pair{"fleet.drain_file", &f.drain_file}}) {
        if (!path->starts_with('/')) {
            report(key, "must be an absolute path (got '" + *path + "')");
        }
    }
    check_fleet_members(config, report);
    check_fleet_leases(config, report);
}

}  // namespace svcgw::config_detail
