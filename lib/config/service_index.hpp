// What a valid running set of services claims, by address, kept up to date
// per change (control thread only). With it, a change of a few services is
// validated in O(changed), not O(running set) (validate_change in
// config.hpp): the index names the running services a changed one could
// clash with (they are validated together, by the same rules as a whole
// config), and the addresses the ClusterIP and load-balancer allocators
// must skip. It holds no rule of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/net.hpp"
#include "config/config.hpp"

namespace svcgw {

class ServiceIndex {
public:
    // Adds what `service` claims; remove() takes the same version back out
    // (an address claimed by several services stays until the last goes).
    void add(const ServiceConfig& service);
    void remove(const ServiceConfig& service);

    // Keys of the indexed services that `service` could clash with across
    // services: one that serves or answers DNS on an address of it, one with
    // an endpoint on its external addresses, one with an external address
    // on its endpoints. Any clash of `service` with the index involves one
    // of them.
    std::set<std::string> neighbours(const ServiceConfig& service) const;

    // The ClusterIP allocator's view: every explicit cluster_ip (served or
    // not), and how many distinct ones there are.
    bool cluster_ip_taken(Ipv4 ip) const { return _cluster_ips.contains(ip.value); }
    size_t cluster_ip_count() const { return _cluster_ips.size(); }
    // The load-balancer allocator's view: served addresses and endpoints.
    bool address_in_use(Ipv4 ip) const {
        return _served.contains(ip.value) || _endpoints.contains(ip.value);
    }

private:
    // Address -> keys claiming it (usually one; a list keeps removal exact).
    using Claims = std::unordered_map<uint32_t, std::vector<std::string>>;
    static void claim(Claims& claims, Ipv4 ip, const std::string& key);
    static void release(Claims& claims, Ipv4 ip, const std::string& key);
    static void collect(const Claims& claims, Ipv4 ip, std::set<std::string>& out);
    // Applies `mark` (claim or release) to every address `service` claims:
    // one list of what a service claims, for add() and remove().
    void each_claim(const ServiceConfig& service, void (*mark)(Claims&, Ipv4, const std::string&));

    Claims _served;       // served_vips
    Claims _cluster_ips;  // explicit cluster_ip (kube-dns' too: it owns its ports there)
    Claims _external;     // load_balancer_ips and external_ips
    Claims _endpoints;    // endpoint addresses
};

}  // namespace svcgw
