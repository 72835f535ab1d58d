// Semantic checks on a typed Config and ClusterIP allocation. Runs on configs
// from files (with locations) and on configs built in code (API, CLI; no
// locations: errors then carry the typed path only).
#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <set>
#include <tuple>
#include <unordered_set>

#include "common/hash.hpp"
#include "config/config.hpp"
#include "config/load_balancer.hpp"
#include "config/rules.hpp"
#include "config/service_index.hpp"
#include "config/validate_fleet.hpp"

namespace svcgw {

namespace {

using namespace config_detail;

// Kubernetes' limits for sessionAffinityConfig.clientIP.timeoutSeconds.
constexpr uint32_t kMaxAffinityTimeout = 86400;
// The largest dns.ttl_s: CoreDNS' kubernetes plugin caps its `ttl` at
// 3600 s, so a stale answer outlives a Service change by an hour at most.
constexpr uint32_t kMaxTtl = 3600;
// Endpoint weights are proportional shares; 16 bits keep the sum of a
// service's weights far from overflowing 32 bits in the Maglev builder.
constexpr uint32_t kMaxWeight = 65535;
// An explicit Maglev table beyond 2^24 entries (64 MiB of 32-bit entries per
// service) is a mistake, not a tuning.
constexpr uint32_t kMaxMaglevTableSize = 1u << 24;
// A service CIDR needs a network, a broadcast and at least two usable addresses
// (the DNS IP and one service).
constexpr uint8_t kMaxServicePrefixLength = 30;
// Fixed seed of the ClusterIP hash: VIPs must not move when maglev.seed changes.
constexpr uint64_t kClusterIpSeed = 0x5356434757495053ULL;  // "SVCGWIPS"

bool is_prime(uint64_t n) {
    if (n < 2) {
        return false;
    }
    for (uint64_t d = 2; d * d <= n; ++d) {
        if (n % d == 0) {
            return false;
        }
    }
    return true;
}

uint64_t next_prime(uint64_t n) {
    while (!is_prime(n)) {
        ++n;
    }
    return n;
}

// Errors, each with the index of the service it is blamed on (or none).
struct Verdict {
    static constexpr size_t kNoService = static_cast<size_t>(-1);
    Errors errors;
    std::vector<size_t> blame;  // parallel to errors
};

class Validator {
public:
    // `others`: running services not in `config` (validate_change); the
    // allocators skip what they claim.
    Validator(Config& config, const Skippable* skippable, const ServiceIndex* others = nullptr)
        : _config(config), _skippable(skippable), _others(others) {}

    Verdict run(const std::vector<ServiceConfig>& previous) {
        check_dpdk();
        check_ports();
        check_network();
        check_lb_pools(_config, _cidr_ok, config_reporter());
        check_maglev_conntrack();
        check_dns();
        check_listen("api.listen", _config.api.listen);
        check_listen("metrics.listen", _config.metrics.listen);
        check_fleet(_config, config_reporter());
        if (_config.kubernetes.load_balancer_class.empty()) {
            config_error("kubernetes.load_balancer_class",
                         "must not be empty (Kubernetes' loadBalancerClass of svcgw's Services)");
        }
        if (_config.api.listen.starts_with("tcp:") && _config.api.token_file.empty()) {
            config_error("api.token_file", "api.listen on TCP requires api.token_file");
        }
        for (size_t i = 0; i < _config.services.size(); ++i) {
            check_service(i);
        }
        check_across_services();
        if (_errors.empty()) {
            allocate(previous);
        }
        if (_errors.empty()) {
            allocate_lb_ips(_config, previous, service_reporter(), _others);
        }
        return Verdict{std::move(_errors), std::move(_blame)};
    }

private:
    // Reports at the best known place for a typed key: the exact value, or
    // the nearest written ancestor. Values whose parsing already failed are
    // not reported again.
    void report(const SourceMap& map, const std::string& fallback_prefix, const std::string& key,
                std::string message) {
        std::string probe = key;
        std::string suffix;
        while (true) {
            auto it = map.find(probe);
            if (it != map.end()) {
                if (!it->second.valid) {
                    return;
                }
                _errors.push_back(
                    Error{it->second.path + suffix, std::move(message), it->second.location});
                return;
            }
            if (probe.empty()) {
                std::string path = fallback_prefix.empty() || key.empty()
                                       ? fallback_prefix + key
                                       : fallback_prefix + (key.front() == '[' ? "" : ".") + key;
                _errors.push_back(Error{path, std::move(message), {}});
                return;
            }
            size_t cut = probe.find_last_of(".[");
            if (cut == std::string::npos) {
                suffix = "." + probe + suffix;
                probe.clear();
            } else {
                suffix = probe.substr(cut) + suffix;
                probe.resize(cut);
            }
        }
    }

    void config_error(const std::string& key, std::string message) {
        report(_config.locations, "", key, std::move(message));
        _blame.resize(_errors.size(), Verdict::kNoService);
    }

    void service_error(size_t i, const std::string& key, std::string message) {
        report(_config.services[i].locations, "services[" + std::to_string(i) + "]", key,
               std::move(message));
        _blame.resize(_errors.size(), i);
    }

    ConfigReport config_reporter() {
        return [this](const std::string& key, std::string message) {
            config_error(key, std::move(message));
        };
    }
    ServiceReport service_reporter() {
        return [this](size_t i, const std::string& key, std::string message) {
            service_error(i, key, std::move(message));
        };
    }

    bool skippable(size_t i) const {
        return _skippable != nullptr && (*_skippable)(_config.services[i]);
    }

    // Of two services that clash, the one to blame: the skippable one when
    // only one is (a Kubernetes object gives way to a native service or a
    // running one), else the later one.
    size_t culprit(size_t earlier, size_t later) const {
        return skippable(earlier) && !skippable(later) ? earlier : later;
    }

    bool valid(const SourceMap& map, const std::string& key) const {
        auto it = map.find(key);
        return it == map.end() || it->second.valid;
    }

    void check_dpdk() {
        const DpdkConfig& dpdk = _config.dpdk;
        bool lcores_ok =
            !dpdk.lcores.empty() && std::all_of(dpdk.lcores.begin(), dpdk.lcores.end(), [](char c) {
                return std::isdigit(static_cast<unsigned char>(c)) ||
                       std::string_view(",-@()").find(c) != std::string_view::npos;
            });
        if (!lcores_ok) {
            config_error("dpdk.lcores", "invalid lcore list '" + dpdk.lcores +
                                            "' (EAL syntax, e.g. \"0-1\" or \"0,2-3\")");
        }
        if (dpdk.memory_mb == 0) {
            config_error("dpdk.memory_mb", "must be greater than 0");
        }
        bool prefix_ok = !dpdk.file_prefix.empty() &&
                         std::all_of(dpdk.file_prefix.begin(), dpdk.file_prefix.end(), [](char c) {
                             return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                                    c == '-' || c == '.';
                         });
        if (!prefix_ok) {
            // It becomes part of a path under /var/run/dpdk.
            config_error("dpdk.file_prefix", "invalid file_prefix '" + dpdk.file_prefix +
                                                 "' (letters, digits, '_', '-', '.')");
        }
    }

    void check_ports() {
        std::map<std::string, size_t> names;
        std::map<std::string, size_t> devices;
        for (size_t i = 0; i < _config.ports.size(); ++i) {
            const PortConfig& port = _config.ports[i];
            std::string base = "ports[" + std::to_string(i) + "]";
            if (port.name.empty()) {
                config_error(base + ".name", "must not be empty");
            } else if (auto [it, fresh] = names.emplace(port.name, i); !fresh) {
                config_error(base + ".name", "duplicate port name '" + port.name +
                                                 "' (also ports[" + std::to_string(it->second) +
                                                 "])");
            }
            if (port.device.empty()) {
                config_error(base + ".device", "must not be empty");
            } else if (auto [it, fresh] = devices.emplace(port.device, i); !fresh) {
                config_error(base + ".device", "device '" + port.device +
                                                   "' is already used by ports[" +
                                                   std::to_string(it->second) + "]");
            }
            check_kernel_interface(port.kernel_interface, base + ".kernel_interface");
            if (port.kernel_driver != KernelDriver::automatic && port.kernel_interface.empty()) {
                config_error(base + ".kernel_driver",
                             "names the driver of the exception path, which needs " + base +
                                 ".kernel_interface");
            }
            if (!valid(_config.locations, base + ".address")) {
                continue;
            }
            const Ipv4Prefix& addr = port.address;
            if (addr.length == 0 || addr.length == 32) {
                config_error(base + ".address",
                             "address " + addr.str() + " needs a subnet (prefix length 1-31)");
                continue;
            }
            // RFC 3021: a /31 has no network or broadcast address.
            bool has_broadcast = addr.length <= 30;
            if (has_broadcast &&
                (addr.address == addr.network() || addr.address == broadcast(addr))) {
                config_error(base + ".address",
                             "address " + addr.str() +
                                 " is the network or broadcast address; give the port's own "
                                 "address with its prefix (e.g. 10.99.0.1/24)");
            }
            if (port.gateway && valid(_config.locations, base + ".gateway")) {
                Ipv4 gw = *port.gateway;
                if (!addr.contains(gw)) {
                    config_error(base + ".gateway",
                                 "gateway " + gw.str() + " is outside the port's subnet " +
                                     addr.network().str() + "/" + std::to_string(addr.length));
                } else if (gw == addr.address) {
                    config_error(base + ".gateway", "gateway is the port's own address");
                } else if (has_broadcast && (gw == addr.network() || gw == broadcast(addr))) {
                    config_error(base + ".gateway",
                                 "gateway " + gw.str() + " is the network or broadcast address");
                }
            }
        }
    }

    // Linux's dev_valid_name (IFNAMSIZ 16 with the NUL), narrowed to the
    // characters that need no quoting in ip(8) and systemd units.
    void check_kernel_interface(const std::string& name, const std::string& path) {
        constexpr size_t kMaxInterfaceName = 15;
        if (name.empty()) {
            return;  // no exception path
        }
        const bool chars_ok = std::all_of(name.begin(), name.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' ||
                   c == '.';
        });
        if (name.size() > kMaxInterfaceName || !chars_ok || name == "." || name == "..") {
            config_error(path, "invalid interface name '" + name +
                                   "' (1-15 letters, digits, '_', '-', '.')");
        }
    }

    void check_network() {
        const Ipv4Prefix& cidr = _config.network.service_cidr;
        _cidr_ok = valid(_config.locations, "network.service_cidr");
        if (_cidr_ok && cidr.address != cidr.network()) {
            config_error("network.service_cidr",
                         "service_cidr " + cidr.str() + " has host bits set (did you mean " +
                             cidr.network().str() + "/" + std::to_string(cidr.length) + "?)");
            _cidr_ok = false;
        }
        if (_cidr_ok && cidr.length > kMaxServicePrefixLength) {
            config_error("network.service_cidr", "service_cidr " + cidr.str() +
                                                     " is too small (at most /" +
                                                     std::to_string(kMaxServicePrefixLength) + ")");
            _cidr_ok = false;
        }
        if (_cidr_ok) {
            for (size_t i = 0; i < _config.ports.size(); ++i) {
                const Ipv4Prefix& subnet = _config.ports[i].address;
                std::string key = "ports[" + std::to_string(i) + "].address";
                // VIPs on a port's own link would collide with real hosts' ARP.
                if (valid(_config.locations, key) && subnet.length > 0 && overlaps(cidr, subnet)) {
                    config_error("network.service_cidr",
                                 "service_cidr " + cidr.str() + " overlaps the subnet of port '" +
                                     _config.ports[i].name + "' (" + subnet.str() + ")");
                }
            }
        }
        std::set<Ipv4> seen;
        for (size_t i = 0; i < _config.network.snat_addresses.size(); ++i) {
            Ipv4 ip = _config.network.snat_addresses[i];
            std::string key = "network.snat_addresses[" + std::to_string(i) + "]";
            if (!seen.insert(ip).second) {
                config_error(key, "duplicate SNAT address " + ip.str());
            } else if (_cidr_ok && cidr.contains(ip)) {
                config_error(key, "SNAT address " + ip.str() + " is inside service_cidr");
            } else if (!is_unicast(ip)) {
                config_error(key, ip.str() + " is not a unicast address");
            }
        }
    }

    void check_maglev_conntrack() {
        uint32_t size = _config.maglev.table_size;
        if (size != 0 && size > kMaxMaglevTableSize) {
            config_error("maglev.table_size", "table_size " + std::to_string(size) +
                                                  " is too large (at most " +
                                                  std::to_string(kMaxMaglevTableSize) + ")");
        } else if (size != 0 && !is_prime(size)) {
            // Maglev's permutation needs a prime M (NSDI 2016 §3.4).
            config_error("maglev.table_size", "table_size " + std::to_string(size) +
                                                  " is not prime (the next prime is " +
                                                  std::to_string(next_prime(size)) +
                                                  "; or use auto)");
        }
        const ConntrackConfig& ct = _config.conntrack;
        for (auto [key, value] : {std::pair{"max_flows", ct.max_flows},
                                  {"tcp_established_timeout_s", ct.tcp_established_timeout_s},
                                  {"tcp_transitory_timeout_s", ct.tcp_transitory_timeout_s},
                                  {"udp_timeout_s", ct.udp_timeout_s}}) {
            if (value == 0) {
                config_error(std::string("conntrack.") + key, "must be greater than 0");
            }
        }
    }

    void check_dns() {
        DnsConfig& dns = _config.dns;
        const Ipv4Prefix& cidr = _config.network.service_cidr;
        _dns_ok = valid(_config.locations, "dns.cluster_ip");
        if (_dns_ok && _cidr_ok) {
            if (!cidr.contains(dns.cluster_ip)) {
                config_error("dns.cluster_ip", "DNS cluster_ip " + dns.cluster_ip.str() +
                                                   " is outside service_cidr " + cidr.str());
            } else if (dns.cluster_ip == cidr.network() || dns.cluster_ip == broadcast(cidr)) {
                config_error(
                    "dns.cluster_ip",
                    dns.cluster_ip.str() + " is the network or broadcast address of service_cidr");
            }
        }
        std::string domain = dns.domain;
        if (!domain.empty() && domain.back() == '.') {
            domain.pop_back();  // absolute form "cluster.local."
        }
        if (!is_dns_name(domain)) {
            config_error("dns.domain", "invalid domain '" + dns.domain +
                                           "' (dot-separated labels of letters, digits and '-')");
        } else {
            std::transform(domain.begin(), domain.end(), domain.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            dns.domain = domain;
        }
        if (dns.ttl_s > kMaxTtl) {
            config_error("dns.ttl_s",
                         "must be at most " + std::to_string(kMaxTtl) + " (as CoreDNS' ttl)");
        }
    }

    void check_listen(const std::string& key, const std::string& listen) {
        std::string problem = listen_problem(listen);
        if (!problem.empty()) {
            config_error(key, problem);
        }
    }

    void check_service(size_t i) {
        ServiceConfig& svc = _config.services[i];
        const Ipv4Prefix& cidr = _config.network.service_cidr;
        svc.dns_service = false;  // derived below, each time
        if (!is_dns1035_label(svc.name)) {
            service_error(i, "name",
                          "invalid service name '" + svc.name +
                              "': must be a DNS-1035 label (lower-case letters, digits and '-', "
                              "starting with a letter, ending with a letter or digit, at most 63)");
        }
        if (!is_dns1123_label(svc.ns)) {
            service_error(i, "namespace",
                          "invalid namespace '" + svc.ns +
                              "': must be a DNS-1123 label (lower-case letters, digits and '-', "
                              "starting and ending with a letter or digit, at most 63)");
        }
        if (svc.headless && svc.cluster_ip) {
            service_error(i, "cluster_ip",
                          "a headless service (cluster_ip None) has no cluster IP");
        }
        check_service_type(i);
        check_external_addresses(_config, i, _cidr_ok, service_reporter());
        // A ClusterIP svcgw does not serve is the cluster's business.
        if (svc.cluster_ip && svc.serve_cluster_ip && valid(svc.locations, "cluster_ip") &&
            _cidr_ok) {
            Ipv4 ip = *svc.cluster_ip;
            if (!cidr.contains(ip)) {
                service_error(i, "cluster_ip",
                              "cluster_ip " + ip.str() + " is outside service_cidr " + cidr.str());
            } else if (ip == cidr.network() || ip == broadcast(cidr)) {
                service_error(i, "cluster_ip",
                              "cluster_ip " + ip.str() +
                                  " is the network or broadcast address of " + "service_cidr " +
                                  cidr.str());
            } else if (_dns_ok && ip == _config.dns.cluster_ip) {
                check_dns_service(i);
            }
        }
        if (svc.session_affinity == SessionAffinity::client_ip &&
            (svc.session_affinity_timeout_s == 0 ||
             svc.session_affinity_timeout_s > kMaxAffinityTimeout)) {
            service_error(i, "session_affinity_timeout_s",
                          "must be between 1 and " + std::to_string(kMaxAffinityTimeout));
        }
        check_service_ports(i);
        check_endpoints(i);
    }

    // A Service on dns.cluster_ip is the cluster DNS (kube-dns): svcgw's own
    // responder answers there, so it needs a DNS port and gets no VIP.
    void check_dns_service(size_t i) {
        ServiceConfig& svc = _config.services[i];
        const bool dns_port = std::any_of(svc.ports.begin(), svc.ports.end(),
                                          [](const ServicePortConfig& p) { return p.port == 53; });
        if (!dns_port) {
            service_error(i, "cluster_ip",
                          "cluster_ip " + svc.cluster_ip->str() +
                              " is the DNS service's address (dns.cluster_ip): only a DNS "
                              "Service (kube-dns, port 53) may use it");
            return;
        }
        svc.dns_service = true;
    }

    void check_service_type(size_t i) {
        ServiceConfig& svc = _config.services[i];
        if (svc.type != ServiceType::external_name) {
            if (!svc.external_name.empty()) {
                service_error(i, "external_name",
                              "external_name is only for services of type ExternalName");
            }
            return;
        }
        if (svc.headless || svc.cluster_ip) {
            service_error(i, "cluster_ip",
                          "an ExternalName service has no cluster IP (leave cluster_ip unset)");
        }
        std::string name = svc.external_name;
        if (!name.empty() && name.back() == '.') {
            name.pop_back();  // absolute form, as Kubernetes accepts it
        }
        if (name.empty()) {
            service_error(i, "external_name", "an ExternalName service needs an external_name");
        } else if (!is_dns1123_subdomain(name)) {
            service_error(i, "external_name",
                          "invalid external_name '" + svc.external_name +
                              "': must be a lower-case DNS name (RFC 1123 labels joined by dots)");
        } else {
            svc.external_name = name;
        }
    }

    void check_service_ports(size_t i) {
        const ServiceConfig& svc = _config.services[i];
        if (svc.ports.empty() && !svc.headless && svc.type != ServiceType::external_name) {
            // Headless and ExternalName services may have no ports (DNS only),
            // as in Kubernetes.
            service_error(i, "ports", "at least one port is required");
        }
        std::map<std::string, size_t> names;
        std::map<std::pair<uint16_t, Protocol>, size_t> numbers;
        for (size_t j = 0; j < svc.ports.size(); ++j) {
            const ServicePortConfig& sp = svc.ports[j];
            std::string base = "ports[" + std::to_string(j) + "]";
            if (sp.name.empty()) {
                if (svc.ports.size() > 1) {
                    service_error(i, base + ".name",
                                  "a name is required when a service has more "
                                  "than one port");
                }
            } else if (!is_dns1123_label(sp.name)) {
                service_error(i, base + ".name",
                              "invalid port name '" + sp.name + "': must be a DNS-1123 label");
            } else if (auto [it, fresh] = names.emplace(sp.name, j); !fresh) {
                service_error(i, base + ".name",
                              "duplicate port name '" + sp.name + "' (also ports[" +
                                  std::to_string(it->second) + "])");
            }
            if (sp.port == 0) {
                service_error(i, base + ".port", "must be between 1 and 65535");
            } else if (auto [it, fresh] = numbers.emplace(std::pair{sp.port, sp.protocol}, j);
                       !fresh && valid(svc.locations, base + ".protocol")) {
                service_error(i, base + ".port",
                              "duplicate port " + std::to_string(sp.port) + "/" +
                                  std::string(to_string(sp.protocol)) + " (also ports[" +
                                  std::to_string(it->second) + "])");
            }
            if (!sp.target_port_name.empty()) {
                if (!is_iana_service_name(sp.target_port_name)) {
                    service_error(i, base + ".target_port",
                                  "invalid target port name '" + sp.target_port_name +
                                      "' (a number 1-65535, or an IANA service name: at most 15 "
                                      "lower-case letters, digits and '-', with a letter)");
                }
            } else if (sp.target_port == 0) {
                service_error(i, base + ".target_port", "must be between 1 and 65535");
            }
            if (sp.health_check && (svc.headless || svc.type == ServiceType::external_name)) {
                // Probes only steer a VIP's ring; DNS answers are not filtered.
                service_error(i, base + ".health_check",
                              "a health check needs a ClusterIP (this service has no VIP)");
            }
        }
    }

    void check_endpoints(size_t i) {
        const ServiceConfig& svc = _config.services[i];
        const Ipv4Prefix& cidr = _config.network.service_cidr;
        std::map<Ipv4, size_t> seen;
        for (size_t k = 0; k < svc.endpoints.size(); ++k) {
            const EndpointConfig& ep = svc.endpoints[k];
            std::string base = "endpoints[" + std::to_string(k) + "]";
            if (!valid(svc.locations, base + ".ip")) {
                continue;
            }
            bool ip_ok = true;
            for (const auto& [field, message] : endpoint_problems(ep)) {
                service_error(i, base + "." + field, message);
                ip_ok = ip_ok && field != "ip";
            }
            if (!ip_ok) {
                // reported above
            } else if (_cidr_ok && cidr.contains(ep.ip)) {
                service_error(i, base + ".ip",
                              "endpoint " + ep.ip.str() + " is inside service_cidr " + cidr.str());
            } else if (auto [it, fresh] = seen.emplace(ep.ip, k); !fresh) {
                service_error(i, base + ".ip",
                              "duplicate endpoint " + ep.ip.str() + " (also endpoints[" +
                                  std::to_string(it->second) + "])");
            }
            if (ep.weight > kMaxWeight) {
                service_error(i, base + ".weight",
                              "must be between 0 and " + std::to_string(kMaxWeight));
            }
            for (size_t m = 0; m < ep.ports.size(); ++m) {
                if (ep.ports[m].port == 0) {
                    service_error(i, base + ".ports[" + std::to_string(m) + "].port",
                                  "must be between 1 and 65535");
                }
            }
        }
    }

    std::string display(size_t i) const {
        const ServiceConfig& svc = _config.services[i];
        auto it = svc.locations.find("");
        return it != svc.locations.end() ? it->second.path : "services[" + std::to_string(i) + "]";
    }

    void check_across_services() {
        std::map<std::string, size_t> keys;
        std::map<std::tuple<Ipv4, uint16_t, Protocol>, size_t> vips;
        for (size_t i = 0; i < _config.services.size(); ++i) {
            const ServiceConfig& svc = _config.services[i];
            if (auto [it, fresh] = keys.emplace(svc.key(), i); !fresh) {
                const size_t blamed = culprit(it->second, i);
                const size_t other = blamed == i ? it->second : i;
                service_error(blamed, "name",
                              "duplicate service " + svc.key() + " (also " + display(other) + ")");
            }
            std::vector<Ipv4> addresses = served_vips(svc);
            if (svc.dns_service && svc.cluster_ip) {
                addresses.push_back(*svc.cluster_ip);  // the responder's: still one owner
            }
            for (Ipv4 vip : addresses) {
                for (size_t j = 0; j < svc.ports.size(); ++j) {
                    const ServicePortConfig& sp = svc.ports[j];
                    if (sp.port == 0) {
                        continue;
                    }
                    auto [it, fresh] = vips.emplace(std::tuple{vip, sp.port, sp.protocol}, i);
                    if (!fresh && it->second != i) {
                        const size_t blamed = culprit(it->second, i);
                        const size_t other = blamed == i ? it->second : i;
                        // The blamed service's own port with that number.
                        size_t at = j;
                        if (blamed != i) {
                            const auto& ports = _config.services[blamed].ports;
                            for (size_t k = 0; k < ports.size(); ++k) {
                                if (ports[k].port == sp.port && ports[k].protocol == sp.protocol) {
                                    at = k;
                                }
                            }
                        }
                        service_error(blamed, "ports[" + std::to_string(at) + "].port",
                                      vip.str() + ":" + std::to_string(sp.port) + "/" +
                                          std::string(to_string(sp.protocol)) +
                                          " is already used by service " +
                                          _config.services[other].key() + " (" + display(other) +
                                          ")");
                    }
                }
            }
        }
        check_endpoints_off_vips(_config, service_reporter());
    }

    // ClusterIPs taken: those of `_config` plus those of `_others`.
    class TakenIps {
    public:
        explicit TakenIps(const ServiceIndex* others) : _others(others) {
            _size = others != nullptr ? others->cluster_ip_count() : 0;
        }
        bool contains(uint32_t ip) const {
            return _own.contains(ip) || (_others != nullptr && _others->cluster_ip_taken(Ipv4{ip}));
        }
        // False when it was taken already.
        bool insert(uint32_t ip) {
            if (contains(ip)) {
                return false;
            }
            _own.insert(ip);
            ++_size;
            return true;
        }
        size_t size() const { return _size; }

    private:
        const ServiceIndex* _others;
        std::unordered_set<uint32_t> _own;
        size_t _size = 0;
    };

    void allocate(const std::vector<ServiceConfig>& previous) {
        const Ipv4Prefix& cidr = _config.network.service_cidr;
        uint64_t size = uint64_t{1} << (32 - cidr.length);
        TakenIps taken(_others);
        taken.insert(cidr.network().value);
        taken.insert(broadcast(cidr).value);
        if (cidr.contains(_config.dns.cluster_ip)) {
            taken.insert(_config.dns.cluster_ip.value);
        }
        std::vector<size_t> pending;
        for (size_t i = 0; i < _config.services.size(); ++i) {
            const ServiceConfig& svc = _config.services[i];
            if (svc.cluster_ip) {
                taken.insert(svc.cluster_ip->value);  // explicit IPs first
            } else if (!svc.headless && svc.type != ServiceType::external_name &&
                       svc.serve_cluster_ip) {
                pending.push_back(i);
            }
        }
        // Sorted by identity so that the input order does not matter.
        std::sort(pending.begin(), pending.end(), [&](size_t a, size_t b) {
            return _config.services[a].key() < _config.services[b].key();
        });

        std::map<std::string, Ipv4> before;
        for (const ServiceConfig& svc : previous) {
            if (svc.cluster_ip && !svc.headless) {
                before.emplace(svc.key(), *svc.cluster_ip);
            }
        }
        std::vector<size_t> fresh;
        for (size_t i : pending) {
            ServiceConfig& svc = _config.services[i];
            auto it = before.find(svc.key());
            if (it != before.end() && cidr.contains(it->second) && taken.insert(it->second.value)) {
                svc.cluster_ip = it->second;  // keeps its VIP across reloads
            } else {
                fresh.push_back(i);
            }
        }
        for (size_t i : fresh) {
            ServiceConfig& svc = _config.services[i];
            if (taken.size() >= size) {
                service_error(
                    i, "",
                    "service_cidr " + cidr.str() + " is full: no free ClusterIP for " + svc.key());
                continue;
            }
            uint64_t offset = hash_bytes(svc.key(), kClusterIpSeed) % size;
            while (taken.contains(cidr.network().value + static_cast<uint32_t>(offset))) {
                offset = (offset + 1) % size;
            }
            uint32_t ip = cidr.network().value + static_cast<uint32_t>(offset);
            taken.insert(ip);
            svc.cluster_ip = Ipv4{ip};
        }
    }

    Config& _config;
    const Skippable* _skippable;
    const ServiceIndex* _others;
    Errors _errors;
    std::vector<size_t> _blame;  // parallel to _errors
    bool _cidr_ok = true;
    bool _dns_ok = true;
};

}  // namespace

Result<void, Errors> validate_and_allocate(Config& config,
                                           const std::vector<ServiceConfig>& previous) {
    Config candidate = config;
    Verdict verdict = Validator(candidate, nullptr).run(previous);
    if (!verdict.errors.empty()) {
        return Unexpected<Errors>{std::move(verdict.errors)};
    }
    config = std::move(candidate);
    return {};
}

Result<std::vector<SkippedObject>, Errors> validate_and_allocate(
    Config& config, const std::vector<ServiceConfig>& previous, const Skippable& skippable,
    const Replacement& replacement) {
    Config candidate = config;
    std::vector<SkippedObject> skipped;
    // A replacement is what ran before: it is not left out in its turn.
    std::set<std::string> replaced;
    const Skippable effective = [&](const ServiceConfig& s) {
        return !replaced.contains(s.key()) && skippable(s);
    };
    // Each round leaves out at least one service, so this ends.
    while (true) {
        Config trial = candidate;
        Verdict verdict = Validator(trial, &effective).run(previous);
        if (verdict.errors.empty()) {
            config = std::move(trial);
            return skipped;
        }
        std::map<size_t, Errors> left_out;  // by index, descending erase below
        for (size_t e = 0; e < verdict.errors.size(); ++e) {
            const size_t i = verdict.blame[e];
            if (i == Verdict::kNoService || !effective(candidate.services[i])) {
                return Unexpected<Errors>{std::move(verdict.errors)};
            }
            left_out[i].push_back(std::move(verdict.errors[e]));
        }
        std::vector<ServiceConfig> instead;
        for (auto it = left_out.rbegin(); it != left_out.rend(); ++it) {
            ServiceConfig& svc = candidate.services[it->first];
            auto where = svc.locations.find("");
            skipped.push_back(SkippedObject{where != svc.locations.end()
                                                ? where->second.path
                                                : object_name("Service", svc.key()),
                                            std::move(it->second), svc.key()});
            if (replacement) {
                if (auto other = replacement(svc)) {
                    replaced.insert(other->key());
                    instead.push_back(std::move(*other));
                }
            }
            candidate.services.erase(candidate.services.begin() +
                                     static_cast<ptrdiff_t>(it->first));
        }
        for (ServiceConfig& svc : instead) {
            candidate.services.push_back(std::move(svc));
        }
    }
}

Result<void, Errors> validate_and_allocate(Config& config) {
    return validate_and_allocate(config, {});
}

Result<void, Errors> validate_change(Config& change, const std::vector<ServiceConfig>& neighbours,
                                     const std::vector<ServiceConfig>& previous,
                                     const ServiceIndex& others) {
    Config candidate = change;
    const size_t changed = candidate.services.size();
    candidate.services.insert(candidate.services.end(), neighbours.begin(), neighbours.end());
    Verdict verdict = Validator(candidate, nullptr, &others).run(previous);
    if (!verdict.errors.empty()) {
        return Unexpected<Errors>{std::move(verdict.errors)};
    }
    candidate.services.resize(changed);
    change = std::move(candidate);
    return {};
}

}  // namespace svcgw
