#include "config/load_balancer.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_set>

#include "common/hash.hpp"

namespace svcgw::config_detail {

namespace {

// Fixed seed of the pool hash: load-balancer VIPs must not move when
// maglev.seed changes, nor collide in pattern with ClusterIP allocation.
constexpr uint64_t kLbIpSeed = 0x5356434757424c42ULL;  // "SVCGWBLB"

// Why an external address cannot be served, or "" when it can.
std::string address_problem(const Config& config, Ipv4 ip, bool cidr_ok) {
    if (!is_unicast(ip)) {
        return ip.str() + " is not a unicast address";
    }
    if (cidr_ok && config.network.service_cidr.contains(ip)) {
        return ip.str() + " is inside service_cidr " + config.network.service_cidr.str() +
               " (ClusterIPs only; load-balancer and external addresses live outside it)";
    }
    for (const PortConfig& port : config.ports) {
        const Ipv4Prefix& subnet = port.address;
        if (ip == subnet.address) {
            return ip.str() + " is the address of port '" + port.name + "'";
        }
        if (port.gateway && ip == *port.gateway) {
            return ip.str() + " is the gateway of port '" + port.name + "'";
        }
        if (subnet.length > 0 && subnet.length <= 30 && subnet.contains(ip) &&
            (ip == subnet.network() || ip == broadcast(subnet))) {
            return ip.str() + " is the network or broadcast address of port '" + port.name + "' (" +
                   subnet.network().str() + "/" + std::to_string(subnet.length) + ")";
        }
    }
    for (Ipv4 snat : config.network.snat_addresses) {
        if (ip == snat) {
            return ip.str() + " is an SNAT address (network.snat_addresses)";
        }
    }
    return {};
}

bool has_external_part(const Config& config, const ServiceConfig& s) {
    return !s.external_ips.empty() || !s.load_balancer_ips.empty() ||
           (s.type == ServiceType::load_balancer && !config.network.lb_pools.empty());
}

}  // namespace

void check_lb_pools(const Config& config, bool cidr_ok, const ConfigReport& report) {
    const auto& pools = config.network.lb_pools;
    for (size_t i = 0; i < pools.size(); ++i) {
        const Ipv4Range& pool = pools[i];
        const std::string key = "network.lb_pools[" + std::to_string(i) + "]";
        if (!is_unicast(pool.first) || !is_unicast(pool.last)) {
            report(key, "pool " + pool.str() + " holds addresses that are not unicast");
            continue;
        }
        const Ipv4Prefix& cidr = config.network.service_cidr;
        if (cidr_ok && pool.first <= broadcast(cidr) && cidr.network() <= pool.last) {
            report(key, "pool " + pool.str() + " overlaps service_cidr " + cidr.str() +
                            " (the ClusterIP allocator's)");
            continue;
        }
        for (size_t j = 0; j < i; ++j) {
            if (pool.first <= pools[j].last && pools[j].first <= pool.last) {
                report(key, "pool " + pool.str() + " overlaps network.lb_pools[" +
                                std::to_string(j) + "] (" + pools[j].str() + ")");
                break;
            }
        }
    }
}

void check_external_addresses(const Config& config, size_t i, bool cidr_ok,
                              const ServiceReport& report) {
    const ServiceConfig& s = config.services[i];
    const bool has_vip = !s.headless && s.type != ServiceType::external_name;
    if (!s.load_balancer_ips.empty() && s.type != ServiceType::load_balancer) {
        report(i, "load_balancer_ips", "load_balancer_ips are for services of type LoadBalancer");
    }
    if (!s.source_ranges.empty() && s.type != ServiceType::load_balancer) {
        // Kubernetes' rule: the ranges filter the load balancer's clients.
        report(i, "source_ranges", "source_ranges are for services of type LoadBalancer");
    }
    if (!has_vip && (!s.external_ips.empty() || !s.load_balancer_ips.empty())) {
        report(i, s.external_ips.empty() ? "load_balancer_ips" : "external_ips",
               "a headless or ExternalName service has no VIP to serve on other addresses");
    }
    std::map<Ipv4, std::string> seen;
    for (const auto& [list, name] : {std::pair{&s.load_balancer_ips, "load_balancer_ips"},
                                     {&s.external_ips, "external_ips"}}) {
        for (size_t k = 0; k < list->size(); ++k) {
            const Ipv4 ip = (*list)[k];
            const std::string key = std::string(name) + "[" + std::to_string(k) + "]";
            if (std::string problem = address_problem(config, ip, cidr_ok); !problem.empty()) {
                report(i, key, problem);
            } else if (auto [it, fresh] = seen.emplace(ip, key); !fresh) {
                report(i, key, "duplicate address " + ip.str() + " (also " + it->second + ")");
            }
        }
    }
    if (s.external_traffic_policy == TrafficPolicy::local &&
        config.forwarding == ForwardingMode::fullnat && has_external_part(config, s)) {
        report(i, "external_traffic_policy",
               "externalTrafficPolicy Local keeps the client's address, which forwarding.mode "
               "fullnat replaces: run svcgw with forwarding.mode nat, or use Cluster");
    }
}

void check_endpoints_off_vips(const Config& config, const ServiceReport& report) {
    struct Holder {
        size_t service;
        std::string key;
    };
    std::map<Ipv4, Holder> external;  // address -> the service serving it
    for (size_t i = 0; i < config.services.size(); ++i) {
        const ServiceConfig& s = config.services[i];
        for (const auto& [list, name] : {std::pair{&s.load_balancer_ips, "load_balancer_ips"},
                                         {&s.external_ips, "external_ips"}}) {
            for (size_t k = 0; k < list->size(); ++k) {
                external.emplace((*list)[k],
                                 Holder{i, std::string(name) + "[" + std::to_string(k) + "]"});
            }
        }
    }
    if (external.empty()) {
        return;
    }
    // Reported on both sides, so a live source that brings either one in
    // can leave that one out (ControlState::sync blames by service).
    for (size_t i = 0; i < config.services.size(); ++i) {
        const ServiceConfig& s = config.services[i];
        for (size_t k = 0; k < s.endpoints.size(); ++k) {
            auto it = external.find(s.endpoints[k].ip);
            if (it == external.end()) {
                continue;
            }
            const std::string why = " (the gateway answers ARP for its addresses)";
            report(i, "endpoints[" + std::to_string(k) + "].ip",
                   "endpoint " + it->first.str() + " is an address served by service " +
                       config.services[it->second.service].key() + why);
            if (it->second.service != i) {
                report(it->second.service, it->second.key,
                       it->first.str() + " is an endpoint of service " + s.key() + why);
            }
        }
    }
}

void allocate_lb_ips(Config& config, const std::vector<ServiceConfig>& previous,
                     const ServiceReport& report, const ServiceIndex* others) {
    const auto& pools = config.network.lb_pools;
    std::unordered_set<uint32_t> taken;
    for (const PortConfig& port : config.ports) {
        taken.insert(port.address.address.value);
        if (port.gateway) {
            taken.insert(port.gateway->value);
        }
    }
    for (Ipv4 ip : config.network.snat_addresses) {
        taken.insert(ip.value);
    }
    std::vector<size_t> pending;
    for (size_t i = 0; i < config.services.size(); ++i) {
        const ServiceConfig& s = config.services[i];
        for (Ipv4 ip : served_vips(s)) {
            taken.insert(ip.value);
        }
        for (const EndpointConfig& ep : s.endpoints) {
            taken.insert(ep.ip.value);
        }
        if (s.type == ServiceType::load_balancer && s.load_balancer_ips.empty() && !s.headless &&
            !pools.empty()) {
            pending.push_back(i);
        }
    }
    // By identity, so that the input order does not matter.
    std::sort(pending.begin(), pending.end(), [&](size_t a, size_t b) {
        return config.services[a].key() < config.services[b].key();
    });
    // Takes `ip` unless something serves it or sits on it already.
    auto take = [&](Ipv4 ip) {
        return (others == nullptr || !others->address_in_use(ip)) && taken.insert(ip.value).second;
    };
    auto in_pools = [&](Ipv4 ip) {
        return std::any_of(pools.begin(), pools.end(), [&](const Ipv4Range& p) {
            return p.contains(ip) &&
                   !(p.from_prefix && p.size() >= 4 && (ip == p.first || ip == p.last));
        });
    };
    std::map<std::string, Ipv4> before;
    for (const ServiceConfig& s : previous) {
        if (s.type == ServiceType::load_balancer && !s.load_balancer_ips.empty()) {
            before.emplace(s.key(), s.load_balancer_ips.front());
        }
    }
    std::vector<size_t> fresh;
    for (size_t i : pending) {
        ServiceConfig& s = config.services[i];
        auto it = before.find(s.key());
        if (it != before.end() && in_pools(it->second) && take(it->second)) {
            s.load_balancer_ips.push_back(it->second);  // keeps its VIP across changes
        } else {
            fresh.push_back(i);
        }
    }
    uint64_t total = 0;
    for (const Ipv4Range& p : pools) {
        total += p.size();
    }
    // Index n of the pools laid end to end -> address.
    auto address_at = [&](uint64_t n) {
        for (const Ipv4Range& p : pools) {
            if (n < p.size()) {
                return Ipv4{static_cast<uint32_t>(p.first.value + n)};
            }
            n -= p.size();
        }
        return Ipv4{};
    };
    std::set<size_t> full;
    for (size_t i : fresh) {
        ServiceConfig& s = config.services[i];
        const uint64_t start = hash_bytes(s.key(), kLbIpSeed) % total;
        bool placed = false;
        for (uint64_t step = 0; step < total && !placed; ++step) {
            const Ipv4 ip = address_at((start + step) % total);
            if (in_pools(ip) && take(ip)) {
                s.load_balancer_ips.push_back(ip);
                placed = true;
            }
        }
        if (!placed) {
            full.insert(i);
            report(i, "load_balancer_ips",
                   "network.lb_pools are full: no free address for " + s.key());
        }
    }
    for (size_t i = 0; i < config.services.size(); ++i) {
        const ServiceConfig& s = config.services[i];
        if (!s.serve_cluster_ip && !s.headless && s.type != ServiceType::external_name &&
            served_vips(s).empty() && !full.contains(i)) {
            report(i, "load_balancer_ips",
                   "no address to serve: the ClusterIP is not served here and the service has "
                   "no load-balancer IP or external IP" +
                       std::string(pools.empty() ? " (network.lb_pools is empty)" : ""));
        }
    }
}

}  // namespace svcgw::config_detail
