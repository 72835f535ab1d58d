#include "config/service_index.hpp"

#include <algorithm>

namespace svcgw {

namespace {

// Each address once per service, so that add and remove stay symmetric.
std::vector<Ipv4> unique(std::vector<Ipv4> ips) {
    std::sort(ips.begin(), ips.end());
    ips.erase(std::unique(ips.begin(), ips.end()), ips.end());
    return ips;
}

std::vector<Ipv4> external_of(const ServiceConfig& s) {
    std::vector<Ipv4> ips = s.load_balancer_ips;
    ips.insert(ips.end(), s.external_ips.begin(), s.external_ips.end());
    return unique(std::move(ips));
}

std::vector<Ipv4> endpoints_of(const ServiceConfig& s) {
    std::vector<Ipv4> ips;
    ips.reserve(s.endpoints.size());
    for (const EndpointConfig& ep : s.endpoints) {
        ips.push_back(ep.ip);
    }
    return unique(std::move(ips));
}

}  // namespace

void ServiceIndex::claim(Claims& claims, Ipv4 ip, const std::string& key) {
    claims[ip.value].push_back(key);
}

void ServiceIndex::release(Claims& claims, Ipv4 ip, const std::string& key) {
    auto it = claims.find(ip.value);
    if (it == claims.end()) {
        return;
    }
    auto& keys = it->second;
    auto k = std::find(keys.begin(), keys.end(), key);
    if (k != keys.end()) {
        keys.erase(k);
    }
    if (keys.empty()) {
        claims.erase(it);
    }
}

void ServiceIndex::collect(const Claims& claims, Ipv4 ip, std::set<std::string>& out) {
    auto it = claims.find(ip.value);
    if (it != claims.end()) {
        out.insert(it->second.begin(), it->second.end());
    }
}

void ServiceIndex::each_claim(const ServiceConfig& s,
                              void (*mark)(Claims&, Ipv4, const std::string&)) {
    const std::string key = s.key();
    for (Ipv4 ip : unique(served_vips(s))) {
        mark(_served, ip, key);
    }
    if (s.cluster_ip) {
        mark(_cluster_ips, *s.cluster_ip, key);
    }
    for (Ipv4 ip : external_of(s)) {
        mark(_external, ip, key);
    }
    for (Ipv4 ip : endpoints_of(s)) {
        mark(_endpoints, ip, key);
    }
}

void ServiceIndex::add(const ServiceConfig& s) {
    each_claim(s, claim);
}

void ServiceIndex::remove(const ServiceConfig& s) {
    each_claim(s, release);
}

std::set<std::string> ServiceIndex::neighbours(const ServiceConfig& s) const {
    std::set<std::string> out;
    // Its addresses as written (validation derives dns_service and may drop
    // nothing else): a superset of what it will serve.
    std::vector<Ipv4> addresses = external_of(s);
    if (s.cluster_ip) {
        addresses.push_back(*s.cluster_ip);
    }
    for (Ipv4 ip : addresses) {
        collect(_served, ip, out);
        collect(_cluster_ips, ip, out);
    }
    for (Ipv4 ip : external_of(s)) {
        collect(_endpoints, ip, out);
    }
    for (Ipv4 ip : endpoints_of(s)) {
        collect(_external, ip, out);
    }
    return out;
}

}  // namespace svcgw
