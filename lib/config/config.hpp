// Typed configuration (DESIGN §3). Produced by the loader in config.cpp from
// native YAML or Kubernetes manifests; consumed by the control thread only.
// Every field below carries the DESIGN default.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/net.hpp"
#include "common/result.hpp"

namespace svcgw {

enum class HugepageMode { automatic, on, off };  // "auto" | true | false
enum class ForwardingMode { fullnat, nat };
enum class SessionAffinity { none, client_ip };  // "None" | "ClientIP"

struct DpdkConfig {
    std::string lcores = "0-1";
    uint32_t memory_mb = 512;
    HugepageMode hugepages = HugepageMode::automatic;
    std::string file_prefix = "svcgw";
    std::vector<std::string> extra_args;
};

struct PortConfig {
    std::string name;
    std::string device;   // vdev spec ("net_af_packet0,iface=veth-gw") or PCI address
    Ipv4Prefix address;   // the port's own address and its subnet
    std::optional<Ipv4> gateway;
};

struct NetworkConfig {
    Ipv4Prefix service_cidr{Ipv4{0x0a600000}, 16};  // 10.96.0.0/16
    std::vector<Ipv4> snat_addresses;                // empty = the port's own address
};

struct MaglevConfig {
    uint32_t table_size = 0;  // 0 = auto (DESIGN §2); otherwise a prime
    uint64_t seed = 0;
};

struct ConntrackConfig {
    uint32_t max_flows = 1048576;
    uint32_t tcp_established_timeout_s = 900;
    uint32_t tcp_transitory_timeout_s = 30;
    uint32_t udp_timeout_s = 300;
};

struct DnsConfig {
    Ipv4 cluster_ip{0x0a60000a};  // 10.96.0.10
    std::string domain = "cluster.local";
    uint32_t ttl_s = 30;
};

struct ApiConfig {
    std::string listen = "unix:/run/svcgw/api.sock";
    std::string token_file;
};

struct MetricsConfig {
    std::string listen = "tcp:127.0.0.1:9100";
};

struct ServicePortConfig {
    std::string name;                // may be empty for a single-port service
    uint16_t port = 0;
    uint16_t target_port = 0;        // 0 when target_port_name names the port instead
    std::string target_port_name;    // Kubernetes targetPort given as a string
    Protocol protocol = Protocol::tcp;
};

struct EndpointConfig {
    Ipv4 ip;
    bool ready = true;
    bool serving = true;
    bool terminating = false;
    uint32_t weight = 100;
    // Per-endpoint target ports by service port name, from EndpointSlice
    // `ports` ({name, port}); they win over ServicePortConfig::target_port.
    std::vector<std::pair<std::string, uint16_t>> named_ports;

    // The target port for one service port, 0 if it cannot be resolved.
    uint16_t target_port_for(const ServicePortConfig& service_port) const;
};

struct ServiceConfig {
    std::string name;
    std::string ns = "default";
    std::optional<Ipv4> cluster_ip;  // resolved (allocated) after loading unless headless
    bool headless = false;           // cluster_ip: None
    SessionAffinity session_affinity = SessionAffinity::none;
    uint32_t session_affinity_timeout_s = 10800;
    std::vector<ServicePortConfig> ports;
    std::vector<EndpointConfig> endpoints;
};

struct Config {
    std::string source;  // file name the config came from, for messages
    DpdkConfig dpdk;
    std::vector<PortConfig> ports;
    NetworkConfig network;
    ForwardingMode forwarding = ForwardingMode::fullnat;
    MaglevConfig maglev;
    ConntrackConfig conntrack;
    DnsConfig dns;
    ApiConfig api;
    MetricsConfig metrics;
    std::vector<ServiceConfig> services;
};

// Loads, validates and completes (ClusterIP allocation) a config file.
// All errors are reported, each as "file:line:col: path.to.key: message".
Result<Config, Errors> load_config_file(const std::string& path);
Result<Config, Errors> parse_config(std::string_view yaml, const std::string& source_name);

// Services from a document stream that may mix native service entries
// (a `services:` list) and Kubernetes v1/Service, discovery.k8s.io/v1
// EndpointSlice and v1/List documents. Used by the API's apply later.
Result<std::vector<ServiceConfig>, Errors> parse_services(std::string_view yaml,
                                                          const std::string& source_name);

// Checks services against the rest of the config (CIDR, duplicates, DNS IP)
// and allocates missing ClusterIPs deterministically. `config.services` is
// replaced only on success.
Result<void, Errors> validate_and_allocate(Config& config);

}  // namespace svcgw
