// Internal to lib/config: the rules of addresses served from outside the
// cluster (DESIGN §6): load-balancer VIPs, external IPs, source ranges,
// externalTrafficPolicy, and the deterministic allocation from
// network.lb_pools. validate.cpp's Validator calls these; they report
// through callbacks so its error placement (file:line:col) applies.
//
// Why the address rules (README "LoadBalancer Services"): the workers answer
// ARP for every served address on the port's link, so a VIP that is also a
// host there (the port's own address, its gateway, an SNAT address, an
// endpoint) would make ARP ambiguous; and service_cidr stays the ClusterIP
// allocator's, so external addresses live outside it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/rules.hpp"
#include "config/service_index.hpp"

namespace svcgw::config_detail {

// Shared address predicates (validate.cpp uses them too; is_unicast is in
// rules.hpp).
inline Ipv4 broadcast(const Ipv4Prefix& p) {
    return Ipv4{p.network().value | ~p.mask()};
}
inline bool overlaps(const Ipv4Prefix& a, const Ipv4Prefix& b) {
    return a.length <= b.length ? a.contains(b.network()) : b.contains(a.network());
}

// key is a config key ("network.lb_pools[1]").
using ConfigReport = std::function<void(const std::string& key, std::string message)>;
// key is relative to services[i] ("load_balancer_ips[0]").
using ServiceReport =
    std::function<void(size_t service, const std::string& key, std::string message)>;

// network.lb_pools: unicast, outside service_cidr, not overlapping each other.
void check_lb_pools(const Config& config, bool cidr_ok, const ConfigReport& report);
// One service's external addresses, source ranges and traffic policy.
void check_external_addresses(const Config& config, size_t i, bool cidr_ok,
                              const ServiceReport& report);
// Across services: no endpoint sits on another service's external address.
void check_endpoints_off_vips(const Config& config, const ServiceReport& report);
// Gives each LoadBalancer service without an address one from the pools:
// its previous address while still free, else hash(ns/name) + linear probe
// over the pools (skipping every address already served or in use on the
// link, by `config` or by `others`: running services not in it), so the
// choice depends only on the set of services. Then reports services that
// serve no address at all.
void allocate_lb_ips(Config& config, const std::vector<ServiceConfig>& previous,
                     const ServiceReport& report, const ServiceIndex* others = nullptr);

}  // namespace svcgw::config_detail
