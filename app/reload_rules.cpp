#include "reload_rules.hpp"

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace svcgw::app {
namespace {

bool same_dpdk(const DpdkConfig& a, const DpdkConfig& b) {
    return a.lcores == b.lcores && a.memory_mb == b.memory_mb && a.hugepages == b.hugepages &&
           a.file_prefix == b.file_prefix && a.extra_args == b.extra_args && a.idle == b.idle;
}

bool same_ports(const std::vector<PortConfig>& a, const std::vector<PortConfig>& b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i].name != b[i].name || a[i].device != b[i].device || a[i].address != b[i].address ||
            a[i].gateway != b[i].gateway || a[i].kernel_interface != b[i].kernel_interface ||
            a[i].kernel_driver != b[i].kernel_driver) {
            return false;
        }
    }
    return true;
}

bool same_conntrack(const ConntrackConfig& a, const ConntrackConfig& b) {
    return a.max_flows == b.max_flows &&
           a.tcp_established_timeout_s == b.tcp_established_timeout_s &&
           a.tcp_transitory_timeout_s == b.tcp_transitory_timeout_s &&
           a.udp_timeout_s == b.udp_timeout_s;
}

}  // namespace

// Sections the workers and ports were built from; changing them needs a
// restart. `network` is included: the service CIDR and SNAT addresses are
// baked into the workers' context (DESIGN lists dpdk/ports/forwarding/
// conntrack; network is the same kind of set-up).
std::vector<std::string> fixed_sections_changed(const Config& a, const Config& b) {
    std::vector<std::string> changed;
    if (!same_dpdk(a.dpdk, b.dpdk)) {
        changed.push_back("dpdk");
    }
    if (!same_ports(a.ports, b.ports)) {
        changed.push_back("ports");
    }
    if (a.forwarding != b.forwarding) {
        changed.push_back("forwarding");
    }
    if (!same_conntrack(a.conntrack, b.conntrack)) {
        changed.push_back("conntrack");
    }
    if (a.punt.rate_pps != b.punt.rate_pps || a.punt.control_rate_pps != b.punt.control_rate_pps ||
        a.punt.burst != b.punt.burst) {
        changed.push_back("punt");  // the workers' token buckets are set up once
    }
    if (a.network.service_cidr != b.network.service_cidr ||
        a.network.snat_addresses != b.network.snat_addresses) {
        changed.push_back("network");
    }
    if (a.fleet.self != b.fleet.self || a.fleet.members != b.fleet.members ||
        a.fleet.membership != b.fleet.membership || a.fleet.probe != b.fleet.probe ||
        a.fleet.lease != b.fleet.lease) {
        changed.push_back("fleet.members");  // the member set, its probes or its Lease agent
    }
    if (a.kubernetes.enabled != b.kubernetes.enabled ||
        a.kubernetes.kubeconfig != b.kubernetes.kubeconfig ||
        a.kubernetes.cluster_ips != b.kubernetes.cluster_ips ||
        a.kubernetes.load_balancer_class != b.kubernetes.load_balancer_class ||
        a.kubernetes.default_class != b.kubernetes.default_class ||
        a.kubernetes.service_proxy_name != b.kubernetes.service_proxy_name ||
        a.kubernetes.batch_window_ms != b.kubernetes.batch_window_ms ||
        a.kubernetes.watch_timeout_s != b.kubernetes.watch_timeout_s ||
        a.kubernetes.backoff_max_ms != b.kubernetes.backoff_max_ms) {
        changed.push_back("kubernetes");  // the feed's threads and selection are set up once
    }
    // dns.cluster_ip is baked into the workers' context; domain and TTL
    // would need a zone rebuild even when no service changed, which the
    // per-service publish path does not do: all three need a restart.
    if (a.dns.cluster_ip != b.dns.cluster_ip || a.dns.domain != b.dns.domain ||
        a.dns.ttl_s != b.dns.ttl_s) {
        changed.push_back("dns");
    }
    // The fleet's generation is what a reload is expected to move; its
    // files and socket are set up once.
    if (a.fleet.announce != b.fleet.announce || a.fleet.bird_socket != b.fleet.bird_socket ||
        a.fleet.routes_file != b.fleet.routes_file || a.fleet.drain_file != b.fleet.drain_file ||
        a.fleet.drain_deadline_s != b.fleet.drain_deadline_s) {
        changed.push_back("fleet");
    }
    return changed;
}

Result<Config, Errors> read_config_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return Unexpected<Errors>{
            {Error{"", std::string("cannot read: ") + std::strerror(errno), path}}};
    }
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = parse_config(text.str(), path);
    if (!parsed) {
        return Unexpected<Errors>{parsed.error()};
    }
    // Validation and ClusterIP allocation happen in ControlState::reload,
    // against the whole running set (API services included), so allocated
    // IPs stay where they are.
    return std::move(*parsed);
}

std::set<uint32_t> vips_of(const std::map<std::string, ServiceRecord>& running) {
    std::set<uint32_t> vips;
    for (const auto& [key, record] : running) {
        for (Ipv4 vip : served_vips(record.config)) {
            vips.insert(htonl(vip.value));
        }
    }
    return vips;
}

}  // namespace svcgw::app
