// lib/config: YAML and Kubernetes manifests -> typed, validated Config.
// Tests the contract of DESIGN §3: defaults, every error with its path and
// file:line:col, all errors at once, deterministic ClusterIP allocation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "config/config.hpp"
#include "config_fixture.hpp"

namespace svcgw {
namespace {

using namespace testing_config;

std::string data_dir() {
    const char* dir = std::getenv("SVCGW_TEST_DATA");
    return dir != nullptr ? dir : "tests/unit/data";
}

const ServiceConfig* find_service(const Config& config, const std::string& key) {
    for (const ServiceConfig& svc : config.services) {
        if (svc.key() == key) {
            return &svc;
        }
    }
    return nullptr;
}

// ---------------------------------------------------------------- defaults

TEST(ConfigDefaults, EmptyDocumentGivesDesignDefaults) {
    for (const char* text : {"", "{}\n", "# only a comment\n"}) {
        Config config = load_ok(text);
        EXPECT_EQ(config.source, kSource);
        EXPECT_EQ(config.dpdk.lcores, "0-1");
        EXPECT_EQ(config.dpdk.memory_mb, 512u);
        EXPECT_EQ(config.dpdk.hugepages, HugepageMode::automatic);
        EXPECT_EQ(config.dpdk.file_prefix, "svcgw");
        EXPECT_TRUE(config.dpdk.extra_args.empty());
        EXPECT_EQ(config.dpdk.idle, IdleMode::poll);
        EXPECT_TRUE(config.ports.empty());
        EXPECT_EQ(config.network.service_cidr.str(), "10.96.0.0/16");
        EXPECT_TRUE(config.network.snat_addresses.empty());
        EXPECT_EQ(config.forwarding, ForwardingMode::fullnat);
        EXPECT_EQ(config.maglev.table_size, 0u);
        EXPECT_EQ(config.maglev.seed, 0u);
        EXPECT_EQ(config.conntrack.max_flows, 1048576u);
        EXPECT_EQ(config.conntrack.tcp_established_timeout_s, 900u);
        EXPECT_EQ(config.conntrack.tcp_transitory_timeout_s, 30u);
        EXPECT_EQ(config.conntrack.udp_timeout_s, 300u);
        EXPECT_EQ(config.dns.cluster_ip.str(), "10.96.0.10");
        EXPECT_EQ(config.dns.domain, "cluster.local");
        EXPECT_EQ(config.dns.ttl_s, 30u);
        EXPECT_EQ(config.api.listen, "unix:/run/svcgw/api.sock");
        EXPECT_EQ(config.api.token_file, "");
        EXPECT_EQ(config.metrics.listen, "tcp:127.0.0.1:9100");
        EXPECT_FALSE(config.fleet.announce);
        EXPECT_EQ(config.fleet.bird_socket, "/run/bird/bird.ctl");
        EXPECT_EQ(config.fleet.routes_file, "/run/svcgw/bird-routes.conf");
        EXPECT_EQ(config.fleet.drain_file, "/run/svcgw/drained");
        EXPECT_EQ(config.fleet.drain_deadline_s, 300u);
        EXPECT_EQ(config.fleet.generation, 0u);
        EXPECT_TRUE(config.fleet.members.empty());
        EXPECT_EQ(config.fleet.self, "");
        EXPECT_EQ(config.fleet.probe, FleetProbeConfig{});
        EXPECT_EQ(config.fleet.probe.port, 9100u);
        EXPECT_EQ(config.fleet.probe.interval_ms, 100u);
        EXPECT_EQ(config.fleet.probe.timeout_ms, 100u);
        EXPECT_EQ(config.fleet.probe.rise, 2u);
        EXPECT_EQ(config.fleet.probe.fall, 3u);
        EXPECT_TRUE(config.services.empty());
    }
}

TEST(ConfigDefaults, ServiceDefaults) {
    Config config = load_ok(R"(
services:
  - name: web
    ports: [{port: 80}]
    endpoints: [{ip: 10.1.0.1}, {ip: 10.1.0.2, ready: false}]
)");
    ASSERT_EQ(config.services.size(), 1u);
    const ServiceConfig& svc = config.services[0];
    EXPECT_EQ(svc.ns, "default");
    EXPECT_FALSE(svc.headless);
    EXPECT_TRUE(svc.cluster_ip.has_value());  // allocated
    EXPECT_EQ(svc.session_affinity, SessionAffinity::none);
    EXPECT_EQ(svc.session_affinity_timeout_s, 10800u);
    ASSERT_EQ(svc.ports.size(), 1u);
    EXPECT_EQ(svc.ports[0].name, "");
    EXPECT_EQ(svc.ports[0].target_port, 80);  // omitted = port
    EXPECT_EQ(svc.ports[0].protocol, Protocol::tcp);
    ASSERT_EQ(svc.endpoints.size(), 2u);
    EXPECT_TRUE(svc.endpoints[0].ready);
    EXPECT_TRUE(svc.endpoints[0].serving);
    EXPECT_FALSE(svc.endpoints[0].terminating);
    EXPECT_EQ(svc.endpoints[0].weight, 100u);
    EXPECT_FALSE(svc.endpoints[1].ready);
    EXPECT_TRUE(svc.endpoints[1].serving);  // unset = true, whatever ready says (kube-proxy)
}

TEST(ConfigParse, EveryKeyIsRead) {
    Config config = load_ok(R"(
dpdk: {lcores: "0,2-3", memory_mb: 1024, hugepages: false, file_prefix: gw1, extra_args: [--log-level=8, -n4], idle: adaptive}
ports:
  - {name: ext0, device: "0000:03:00.0", address: 192.168.7.2/24, gateway: 192.168.7.1, kernel_interface: svcgw0, kernel_driver: tap_pmd}
  - {name: ext1, device: "net_tap0", address: 172.16.0.1/31}
network: {service_cidr: 10.100.0.0/20, snat_addresses: [192.168.7.3, 192.168.7.4]}
punt: {rate_pps: 30000, control_rate_pps: 4000, burst: 32}
forwarding: {mode: nat}
maglev: {table_size: 65537, seed: 18446744073709551615}
conntrack: {max_flows: 4096, tcp_established_timeout_s: 60, tcp_transitory_timeout_s: 5, udp_timeout_s: 7}
dns: {cluster_ip: 10.100.0.53, domain: Cluster.Example., ttl_s: 0}
api: {listen: "tcp:127.0.0.1:8080", token_file: /etc/svcgw/token}
metrics: {listen: "unix:/run/svcgw/metrics.sock"}
fleet: {announce: true, bird_socket: /run/b.ctl, routes_file: /run/r.conf, drain_file: /run/d, drain_deadline_s: 9, generation: 42}
services:
  - name: web
    namespace: shop
    cluster_ip: 10.100.0.80
    session_affinity: ClientIP
    session_affinity_timeout_s: 600
    ports:
      - {name: http, port: 80, target_port: 8080, protocol: TCP}
      - {name: dns, port: 53, target_port: dns-udp, protocol: udp}
    endpoints:
      - {ip: 10.1.0.1, ready: true, serving: true, terminating: true, weight: 0, ports: [{name: dns, port: 5353}]}
)");
    EXPECT_EQ(config.dpdk.lcores, "0,2-3");
    EXPECT_EQ(config.dpdk.memory_mb, 1024u);
    EXPECT_EQ(config.dpdk.hugepages, HugepageMode::off);
    EXPECT_EQ(config.dpdk.file_prefix, "gw1");
    EXPECT_EQ(config.dpdk.extra_args, (std::vector<std::string>{"--log-level=8", "-n4"}));
    EXPECT_EQ(config.dpdk.idle, IdleMode::adaptive);
    ASSERT_EQ(config.ports.size(), 2u);
    EXPECT_EQ(config.ports[0].device, "0000:03:00.0");
    EXPECT_EQ(config.ports[0].address.str(), "192.168.7.2/24");
    EXPECT_EQ(config.ports[0].gateway->str(), "192.168.7.1");
    EXPECT_FALSE(config.ports[1].gateway.has_value());
    EXPECT_EQ(config.ports[0].kernel_interface, "svcgw0");
    EXPECT_EQ(config.ports[1].kernel_interface, "");
    EXPECT_EQ(config.ports[0].kernel_driver, KernelDriver::tap_pmd);
    EXPECT_EQ(config.ports[1].kernel_driver, KernelDriver::automatic);
    EXPECT_EQ(config.punt.rate_pps, 30000u);
    EXPECT_EQ(config.punt.control_rate_pps, 4000u);
    EXPECT_EQ(config.punt.burst, 32u);
    EXPECT_EQ(config.network.service_cidr.str(), "10.100.0.0/20");
    EXPECT_EQ(config.network.snat_addresses.size(), 2u);
    EXPECT_EQ(config.forwarding, ForwardingMode::nat);
    EXPECT_EQ(config.maglev.table_size, 65537u);
    EXPECT_EQ(config.maglev.seed, 18446744073709551615ull);
    EXPECT_EQ(config.conntrack.max_flows, 4096u);
    EXPECT_EQ(config.conntrack.tcp_established_timeout_s, 60u);
    EXPECT_EQ(config.conntrack.tcp_transitory_timeout_s, 5u);
    EXPECT_EQ(config.conntrack.udp_timeout_s, 7u);
    EXPECT_EQ(config.dns.cluster_ip.str(), "10.100.0.53");
    EXPECT_EQ(config.dns.domain, "cluster.example");  // lower-cased, absolute dot dropped
    EXPECT_EQ(config.dns.ttl_s, 0u);
    EXPECT_EQ(config.api.listen, "tcp:127.0.0.1:8080");
    EXPECT_TRUE(config.fleet.announce);
    EXPECT_EQ(config.fleet.bird_socket, "/run/b.ctl");
    EXPECT_EQ(config.fleet.routes_file, "/run/r.conf");
    EXPECT_EQ(config.fleet.drain_file, "/run/d");
    EXPECT_EQ(config.fleet.drain_deadline_s, 9u);
    EXPECT_EQ(config.fleet.generation, 42u);
    EXPECT_EQ(config.api.token_file, "/etc/svcgw/token");
    EXPECT_EQ(config.metrics.listen, "unix:/run/svcgw/metrics.sock");
    ASSERT_EQ(config.services.size(), 1u);
    const ServiceConfig& svc = config.services[0];
    EXPECT_EQ(svc.key(), "shop/web");
    EXPECT_EQ(svc.cluster_ip->str(), "10.100.0.80");
    EXPECT_EQ(svc.session_affinity, SessionAffinity::client_ip);
    EXPECT_EQ(svc.session_affinity_timeout_s, 600u);
    EXPECT_EQ(svc.ports[1].protocol, Protocol::udp);
    EXPECT_EQ(svc.ports[1].target_port, 0);
    EXPECT_EQ(svc.ports[1].target_port_name, "dns-udp");
    const EndpointConfig& ep = svc.endpoints[0];
    EXPECT_TRUE(ep.terminating);
    EXPECT_EQ(ep.weight, 0u);
    EXPECT_EQ(ep.target_port_for(svc.ports[0]), 8080);  // numeric: as is
    EXPECT_EQ(ep.target_port_for(svc.ports[1]), 5353);  // named: from the endpoint
}

TEST(ConfigParse, ServiceTypeAndEndpointTopology) {
    Config config = load_ok(R"(
services:
  - name: db
    cluster_ip: None
    ports: [{name: pg, port: 5432}]
    endpoints:
      - {ip: 10.1.0.1, hostname: db-0, node_name: worker-1.example, zone: eu-west-1a}
      - {ip: 10.1.0.2}
  - name: lb
    type: LoadBalancer
    ports: [{port: 80}]
  - name: search
    type: ExternalName
    external_name: search.example.com.
)");
    const ServiceConfig* db = find_service(config, "default/db");
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(db->type, ServiceType::cluster_ip);
    EXPECT_EQ(db->endpoints[0].hostname, "db-0");
    EXPECT_EQ(db->endpoints[0].node_name, "worker-1.example");
    EXPECT_EQ(db->endpoints[0].zone, "eu-west-1a");
    EXPECT_EQ(db->endpoints[1].hostname, "");  // unset
    const ServiceConfig* lb = find_service(config, "default/lb");
    ASSERT_NE(lb, nullptr);
    EXPECT_EQ(lb->type, ServiceType::load_balancer);
    EXPECT_TRUE(lb->cluster_ip.has_value());  // its ClusterIP part is served
    const ServiceConfig* search = find_service(config, "default/search");
    ASSERT_NE(search, nullptr);
    EXPECT_EQ(search->type, ServiceType::external_name);
    EXPECT_EQ(search->external_name, "search.example.com");  // absolute dot dropped
    EXPECT_FALSE(search->cluster_ip.has_value());            // no VIP allocated
    EXPECT_FALSE(search->headless);
    // Each field takes part in equality.
    ServiceConfig other = *db;
    other.endpoints[0].zone = "eu-west-1b";
    EXPECT_FALSE(other == *db);
    other = *search;
    other.external_name = "other.example.com";
    EXPECT_FALSE(other == *search);
}

TEST(Kubernetes, ServiceTypeAndEndpointTopology) {
    auto result = load_config(R"(apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: shop}
  spec:
    clusterIP: None
    ports: [{name: http, port: 80}]
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}
  addressType: IPv4
  endpoints:
  - addresses: [10.1.0.7]
    hostname: web-0
    nodeName: kind-worker
    zone: zone-a
    targetRef: {kind: Pod, name: web-0}
  ports: [{name: http, port: 80, protocol: TCP}]
- apiVersion: v1
  kind: Service
  metadata: {name: docs, namespace: shop}
  spec: {type: ExternalName, externalName: docs.example.org}
)",
                              kSource);
    ASSERT_TRUE(result.has_value()) << all_errors(result.error());
    const ServiceConfig* web = find_service(*result, "shop/web");
    ASSERT_NE(web, nullptr);
    ASSERT_EQ(web->endpoints.size(), 1u);
    EXPECT_EQ(web->endpoints[0].hostname, "web-0");
    EXPECT_EQ(web->endpoints[0].node_name, "kind-worker");
    EXPECT_EQ(web->endpoints[0].zone, "zone-a");
    const ServiceConfig* docs = find_service(*result, "shop/docs");
    ASSERT_NE(docs, nullptr);
    EXPECT_EQ(docs->type, ServiceType::external_name);
    EXPECT_EQ(docs->external_name, "docs.example.org");
    EXPECT_FALSE(docs->cluster_ip.has_value());
}

TEST(ConfigParse, HugepagesAcceptsAutoTrueFalse) {
    EXPECT_EQ(load_ok("dpdk: {hugepages: auto}").dpdk.hugepages, HugepageMode::automatic);
    EXPECT_EQ(load_ok("dpdk: {hugepages: true}").dpdk.hugepages, HugepageMode::on);
    EXPECT_EQ(load_ok("dpdk: {hugepages: false}").dpdk.hugepages, HugepageMode::off);
}

TEST(ConfigParse, IdleAcceptsPollAdaptive) {
    EXPECT_EQ(load_ok("dpdk: {idle: poll}").dpdk.idle, IdleMode::poll);
    EXPECT_EQ(load_ok("dpdk: {idle: adaptive}").dpdk.idle, IdleMode::adaptive);
}

TEST(ConfigParse, KernelDriverAcceptsEachDriver) {
    const std::string port =
        "ports: [{name: e, device: d, address: 10.99.0.1/24, "
        "kernel_interface: svcgw0, kernel_driver: ";
    EXPECT_EQ(load_ok(port + "auto}]").ports[0].kernel_driver, KernelDriver::automatic);
    EXPECT_EQ(load_ok(port + "tap}]").ports[0].kernel_driver, KernelDriver::tap);
    EXPECT_EQ(load_ok(port + "virtio_user}]").ports[0].kernel_driver, KernelDriver::virtio_user);
    EXPECT_EQ(load_ok(port + "tap_pmd}]").ports[0].kernel_driver, KernelDriver::tap_pmd);
}

TEST(ConfigParse, ParseConfigDoesNotValidateOrAllocate) {
    auto parsed = parse_config(
        "maglev: {table_size: 1000}\nservices: [{name: web, ports: [{port: 80}]}]\n", kSource);
    ASSERT_TRUE(parsed.has_value()) << all_errors(parsed.error());
    EXPECT_EQ(parsed->maglev.table_size, 1000u);
    EXPECT_FALSE(parsed->services[0].cluster_ip.has_value());
    Config config = *parsed;
    auto validated = validate_and_allocate(config);
    ASSERT_FALSE(validated.has_value());
    EXPECT_FALSE(config.services[0].cluster_ip.has_value()) << "config changed on failure";
}

// ------------------------------------------------------------- error table

struct ErrorCase {
    const char* what;
    const char* yaml;
    const char* path;
    const char* fragment;
    const char* at;  // "line:col", "" when the error has no position
};

// Lines and columns are 1-based; each YAML starts on line 1.
const ErrorCase kErrorCases[] = {
    {"YAML syntax error", "services: [\n  {name: a\n", "", "YAML syntax error", "3:1"},
    {"bad indentation", "dns:\n  domain: a\n ttl_s: 3\n", "", "YAML syntax error", "3:2"},
    // yaml-cpp 0.7's LoadAll loops forever on these (upstream issue #1040).
    {"lone comma", ",\n", "", "unexpected ','", "1:1"},
    {"comma after a flow node", "[a] ,\n", "", "unexpected ','", "1:5"},
    {"comma after a block sequence", "- a\n,\n", "", "unexpected ','", "2:1"},
    {"comma in a second document", "dns: {}\n---\n,\n", "", "unexpected ','", "3:1"},
    {"document is not a mapping", "- a\n- b\n", "documents[0]", "expected a mapping", "1:1"},
    {"section of wrong type", "dns: [1, 2]\n", "dns", "expected a mapping, got a sequence", "1:6"},
    {"integer expected", "dpdk:\n  memory_mb: lots\n", "dpdk.memory_mb", "expected an integer",
     "2:14"},
    {"quoted number is a string", "conntrack: {max_flows: \"5\"}\n", "conntrack.max_flows",
     "got the string", "1:24"},
    {"negative integer", "dns: {ttl_s: -1}\n", "dns.ttl_s", "must be between 0 and", "1:14"},
    {"boolean expected",
     "services:\n  - name: a\n    ports: [{port: 1}]\n    endpoints: [{ip: "
     "10.1.0.1, ready: yes}]\n",
     "services[0].endpoints[0].ready", "expected true or false", "4:39"},
    {"hugepages value", "dpdk: {hugepages: maybe}\n", "dpdk.hugepages", "auto, true or false",
     "1:19"},
    {"idle value", "dpdk: {idle: sleep}\n", "dpdk.idle",
     "unknown idle mode 'sleep' (poll or adaptive)", "1:14"},
    {"unknown top-level key", "dnss: {}\n", "dnss", "did you mean 'dns'?", "1:1"},
    {"unknown key with suggestion",
     "services:\n  - name: a\n    ports:\n      - {port: 80, "
     "targetPort: 8080}\n",
     "services[0].ports[0].targetPort", "unknown key 'targetPort' (did you mean 'target_port'?)",
     "4:20"},
    {"unknown key without suggestion", "maglev: {colour: blue}\n", "maglev.colour",
     "unknown key 'colour'", "1:10"},
    {"duplicate key", "dns:\n  ttl_s: 1\n  ttl_s: 2\n", "dns.ttl_s", "duplicate key", "3:3"},
    {"bad IPv4 address", "dns: {cluster_ip: 10.96.0.300}\n", "dns.cluster_ip",
     "invalid IPv4 address '10.96.0.300'", "1:19"},
    {"IPv6 address", "services: [{name: a, cluster_ip: \"fd00::1\", ports: [{port: 1}]}]\n",
     "services[0].cluster_ip", "IPv6 is not supported", "1:34"},
    {"bad CIDR", "network: {service_cidr: 10.96.0.0}\n", "network.service_cidr",
     "invalid IPv4 CIDR", "1:25"},
    {"CIDR with host bits", "network: {service_cidr: 10.96.0.1/16}\n", "network.service_cidr",
     "did you mean 10.96.0.0/16?", "1:25"},
    {"CIDR too small", "network: {service_cidr: 10.96.0.0/31}\n", "network.service_cidr",
     "too small", "1:25"},
    {"port 0", "services: [{name: a, ports: [{port: 0}]}]\n", "services[0].ports[0].port",
     "between 1 and 65535", "1:37"},
    {"port 65536", "services: [{name: a, ports: [{port: 65536}]}]\n", "services[0].ports[0].port",
     "between 1 and 65535", "1:37"},
    {"target port 0", "services: [{name: a, ports: [{port: 1, target_port: 0}]}]\n",
     "services[0].ports[0].target_port", "between 1 and 65535", "1:53"},
    {"missing port", "services: [{name: a, ports: [{name: x}]}]\n", "services[0].ports[0].port",
     "missing required key 'port'", "1:30"},
    {"missing service name", "services:\n  - ports: [{port: 1}]\n", "services[0].name",
     "missing required key 'name'", "2:5"},
    {"unknown protocol", "services: [{name: a, ports: [{port: 1, protocol: ICMP}]}]\n",
     "services[0].ports[0].protocol", "unknown protocol 'ICMP'", "1:50"},
    {"SCTP", "services: [{name: a, ports: [{port: 1, protocol: SCTP}]}]\n",
     "services[0].ports[0].protocol", "unsupported protocol 'SCTP'", "1:50"},
    {"duplicate VIP:port:protocol",
     "services:\n  - {name: a, cluster_ip: 10.96.0.20, ports: [{port: 80}]}\n  - {name: b, "
     "cluster_ip: 10.96.0.20, ports: [{name: x, port: 81}, {name: y, port: 80}]}\n",
     "services[1].ports[1].port", "10.96.0.20:80/TCP is already used by service default/a", "3:84"},
    {"duplicate service",
     "services:\n  - {name: a, ports: [{port: 80}]}\n  - {name: a, "
     "namespace: default, ports: [{port: 81}]}\n",
     "services[1].name", "duplicate service default/a (also services[0])", "3:12"},
    {"cluster_ip outside service_cidr",
     "services: [{name: a, cluster_ip: 10.97.0.1, ports: [{port: 1}]}]\n", "services[0].cluster_ip",
     "outside service_cidr 10.96.0.0/16", "1:34"},
    {"cluster_ip is the DNS IP",
     "services: [{name: a, cluster_ip: 10.96.0.10, ports: [{port: 1}]}]\n",
     "services[0].cluster_ip", "DNS service's address", "1:34"},
    {"cluster_ip is the network address",
     "services: [{name: a, cluster_ip: 10.96.0.0, ports: [{port: 1}]}]\n", "services[0].cluster_ip",
     "network or broadcast", "1:34"},
    {"cluster_ip is the broadcast address",
     "services: [{name: a, cluster_ip: 10.96.255.255, ports: [{port: 1}]}]\n",
     "services[0].cluster_ip", "network or broadcast", "1:34"},
    {"non-prime table size", "maglev:\n  table_size: 1000\n", "maglev.table_size",
     "not prime (the next prime is 1009", "2:15"},
    {"table size 1", "maglev: {table_size: 1}\n", "maglev.table_size", "next prime is 2", "1:22"},
    {"table size word", "maglev: {table_size: big}\n", "maglev.table_size", "expected an integer",
     "1:22"},
    {"duplicate endpoint",
     "services:\n  - name: a\n    ports: [{port: 1}]\n    endpoints:\n      - ip: 10.1.0.1\n    "
     "  - ip: 10.1.0.1\n",
     "services[0].endpoints[1].ip", "duplicate endpoint 10.1.0.1 (also endpoints[0])", "6:13"},
    {"endpoint inside service_cidr",
     "services: [{name: a, ports: [{port: 1}], endpoints: [{ip: 10.96.3.3}]}]\n",
     "services[0].endpoints[0].ip", "inside service_cidr", "1:59"},
    {"endpoint not unicast",
     "services: [{name: a, ports: [{port: 1}], endpoints: [{ip: 239.1.1.1}]}]\n",
     "services[0].endpoints[0].ip", "not a unicast address", "1:59"},
    {"endpoint link-local (ValidateEndpointIP)",
     "services: [{name: a, ports: [{port: 1}], endpoints: [{ip: 169.254.1.1}]}]\n",
     "services[0].endpoints[0].ip", "link-local range (169.254.0.0/16)", "1:59"},
    {"endpoint link-local multicast (ValidateEndpointIP)",
     "services: [{name: a, ports: [{port: 1}], endpoints: [{ip: 224.0.0.1}]}]\n",
     "services[0].endpoints[0].ip", "link-local multicast range", "1:59"},
    {"session_affinity value",
     "services: [{name: a, session_affinity: Cookie, ports: [{port: 1}]}]\n",
     "services[0].session_affinity", "unknown session_affinity 'Cookie'", "1:40"},
    {"session affinity timeout",
     "services: [{name: a, session_affinity: ClientIP, session_affinity_timeout_s: 86401, "
     "ports: [{port: 1}]}]\n",
     "services[0].session_affinity_timeout_s", "between 1 and 86400", "1:78"},
    {"weight range",
     "services: [{name: a, ports: [{port: 1}], endpoints: [{ip: 10.1.0.1, weight: 65536}]}]\n",
     "services[0].endpoints[0].weight", "between 0 and 65535", "1:77"},
    {"unknown service type", "services: [{name: a, type: Cluster, ports: [{port: 1}]}]\n",
     "services[0].type", "unknown service type 'Cluster'", "1:28"},
    {"external_name without ExternalName",
     "services: [{name: a, external_name: x.example, ports: [{port: 1}]}]\n",
     "services[0].external_name", "only for services of type ExternalName", "1:37"},
    {"ExternalName without external_name", "services: [{name: a, type: ExternalName}]\n",
     "services[0].external_name", "needs an external_name", "1:12"},
    {"ExternalName headless",
     "services: [{name: a, type: ExternalName, external_name: x.example, cluster_ip: None}]\n",
     "services[0].cluster_ip", "has no cluster IP", "1:80"},
    {"endpoint hostname",
     "services: [{name: a, ports: [{port: 1}], endpoints: [{ip: 10.1.0.1, hostname: Web-0}]}]\n",
     "services[0].endpoints[0].hostname", "invalid hostname 'Web-0'", "1:79"},
    {"endpoint node_name",
     "services: [{name: a, ports: [{port: 1}], endpoints: [{ip: 10.1.0.1, node_name: -n1}]}]\n",
     "services[0].endpoints[0].node_name", "DNS-1123 subdomain", "1:80"},
    {"endpoint zone",
     "services: [{name: a, ports: [{port: 1}], endpoints: [{ip: 10.1.0.1, zone: \"eu west\"}]}]\n",
     "services[0].endpoints[0].zone", "must be a label value", "1:75"},
    {"ports list empty", "services:\n  - name: a\n    ports: []\n", "services[0].ports",
     "at least one port", "3:12"},
    {"ports missing", "services:\n  - name: a\n", "services[0].ports", "at least one port", "2:5"},
    {"service name not DNS-1035", "services: [{name: 1web, ports: [{port: 1}]}]\n",
     "services[0].name", "DNS-1035", "1:19"},
    {"service name upper case", "services: [{name: Web, ports: [{port: 1}]}]\n", "services[0].name",
     "DNS-1035", "1:19"},
    {"namespace not DNS-1123", "services: [{name: a, namespace: my_ns, ports: [{port: 1}]}]\n",
     "services[0].namespace", "DNS-1123", "1:33"},
    {"service name too long",
     "services: [{name: a123456789012345678901234567890123456789012345678901234567890123, "
     "ports: [{port: 1}]}]\n",
     "services[0].name", "DNS-1035", "1:19"},
    {"two ports need names", "services: [{name: a, ports: [{port: 1}, {name: b, port: 2}]}]\n",
     "services[0].ports[0].name", "a name is required", "1:30"},
    {"duplicate port name",
     "services: [{name: a, ports: [{name: b, port: 1}, {name: b, port: 2}]}]\n",
     "services[0].ports[1].name", "duplicate port name 'b'", "1:57"},
    {"duplicate port number",
     "services: [{name: a, ports: [{name: b, port: 1}, {name: c, port: 1}]}]\n",
     "services[0].ports[1].port", "duplicate port 1/TCP", "1:66"},
    {"bad target port name", "services: [{name: a, ports: [{port: 1, target_port: \"8080\"}]}]\n",
     "services[0].ports[0].target_port", "invalid target port name '8080'", "1:53"},
    {"port name duplicate in ports",
     "ports:\n  - {name: e, device: d1, address: 10.99.0.1/24}\n"
     "  - {name: e, device: d2, address: 10.98.0.1/24}\n",
     "ports[1].name", "duplicate port name 'e'", "3:12"},
    {"port device empty", "ports: [{name: e, device: \"\", address: 10.99.0.1/24}]\n",
     "ports[0].device", "must not be empty", "1:27"},
    {"port address is network", "ports: [{name: e, device: d, address: 10.99.0.0/24}]\n",
     "ports[0].address", "network or broadcast", "1:39"},
    {"port address without prefix", "ports: [{name: e, device: d, address: 10.99.0.1}]\n",
     "ports[0].address", "invalid IPv4 CIDR", "1:39"},
    {"port address /32", "ports: [{name: e, device: d, address: 10.99.0.1/32}]\n",
     "ports[0].address", "needs a subnet", "1:39"},
    {"gateway outside subnet",
     "ports: [{name: e, device: d, address: 10.99.0.1/24, gateway: 10.98.0.1}]\n",
     "ports[0].gateway", "outside the port's subnet 10.99.0.0/24", "1:62"},
    {"kernel interface too long",
     "ports: [{name: e, device: d, address: 10.99.0.1/24, kernel_interface: svcgw-exception0}]\n",
     "ports[0].kernel_interface", "invalid interface name 'svcgw-exception0'", "1:71"},
    {"kernel interface with a slash",
     "ports: [{name: e, device: d, address: 10.99.0.1/24, kernel_interface: a/b}]\n",
     "ports[0].kernel_interface", "invalid interface name", "1:71"},
    {"kernel driver value",
     "ports: [{name: e, device: d, address: 10.99.0.1/24, kernel_interface: k, kernel_driver: "
     "kni}]\n",
     "ports[0].kernel_driver", "unknown kernel driver 'kni' (auto, tap, virtio_user or tap_pmd)",
     "1:89"},
    {"kernel driver without a kernel interface",
     "ports: [{name: e, device: d, address: 10.99.0.1/24, kernel_driver: tap}]\n",
     "ports[0].kernel_driver", "which needs ports[0].kernel_interface", "1:68"},
    {"punt rate zero", "punt: {rate_pps: 0}\n", "punt.rate_pps", "between 1 and", "1:18"},
    {"port missing address", "ports: [{name: e, device: d}]\n", "ports[0].address",
     "missing required key 'address'", "1:9"},
    {"service_cidr overlaps a port", "ports: [{name: e, device: d, address: 10.96.1.1/24}]\n",
     "network.service_cidr", "overlaps the subnet of port 'e'", ""},
    {"forwarding mode", "forwarding: {mode: dsr}\n", "forwarding.mode", "fullnat or nat", "1:20"},
    {"conntrack zero", "conntrack: {udp_timeout_s: 0}\n", "conntrack.udp_timeout_s",
     "between 1 and", "1:28"},
    {"dns outside service_cidr", "dns: {cluster_ip: 10.0.0.10}\n", "dns.cluster_ip",
     "outside service_cidr", "1:19"},
    {"dns domain", "dns: {domain: \"cluster..local\"}\n", "dns.domain", "invalid domain", "1:15"},
    {"dns domain label", "dns: {domain: -bad.local}\n", "dns.domain", "invalid domain", "1:15"},
    {"dns ttl", "dns: {ttl_s: 3601}\n", "dns.ttl_s", "at most 3600", "1:14"},
    {"fleet routes file relative", "fleet: {routes_file: bird.conf}\n", "fleet.routes_file",
     "absolute path", "1:22"},
    {"fleet drain deadline", "fleet: {drain_deadline_s: 0}\n", "fleet.drain_deadline_s",
     "between 1 and", "1:27"},
    {"api listen form", "api: {listen: \"http://x\"}\n", "api.listen",
     "expected \"unix:/path\" or \"tcp:HOST:PORT\"", "1:15"},
    {"api unix path relative", "api: {listen: \"unix:api.sock\"}\n", "api.listen", "absolute",
     "1:15"},
    {"api tcp needs token", "api:\n  listen: \"tcp:127.0.0.1:8080\"\n", "api.token_file",
     "requires api.token_file", "2:3"},
    {"api tcp port", "api: {listen: \"tcp:127.0.0.1:99999\", token_file: /t}\n", "api.listen",
     "invalid port '99999'", "1:15"},
    {"metrics listen", "metrics: {listen: \"tcp:127.0.0.1\"}\n", "metrics.listen", "missing port",
     "1:19"},
    {"metrics bad host", "metrics: {listen: \"tcp:300.1.1.1:9100\"}\n", "metrics.listen",
     "invalid host", "1:19"},
    {"lcores", "dpdk: {lcores: \"all\"}\n", "dpdk.lcores", "invalid lcore list", "1:16"},
    {"file_prefix", "dpdk: {file_prefix: \"a/b\"}\n", "dpdk.file_prefix", "invalid file_prefix",
     "1:21"},
    {"duplicate snat", "network: {snat_addresses: [10.99.0.5, 10.99.0.5]}\n",
     "network.snat_addresses[1]", "duplicate SNAT address", "1:39"},
    {"second native document", "dns: {ttl_s: 1}\n---\ndns: {ttl_s: 2}\n", "documents[1]",
     "second configuration document", "3:1"},
    // health checks (config/health.cpp)
    {"health check unknown key",
     "services: [{name: a, ports: [{port: 1, health_check: {intervall_ms: 5}}]}]\n",
     "services[0].ports[0].health_check.intervall_ms", "did you mean 'interval_ms'?", "1:55"},
    {"health check not a mapping", "services: [{name: a, ports: [{port: 1, health_check: tcp}]}]\n",
     "services[0].ports[0].health_check", "expected a mapping", "1:54"},
    {"health check protocol",
     "services: [{name: a, ports: [{port: 1, health_check: {protocol: udp}}]}]\n",
     "services[0].ports[0].health_check.protocol",
     "unknown health check protocol 'udp' (tcp or http)", "1:65"},
    {"health check port", "services: [{name: a, ports: [{port: 1, health_check: {port: 0}}]}]\n",
     "services[0].ports[0].health_check.port", "between 1 and 65535", "1:61"},
    {"health check relative path",
     "services: [{name: a, ports: [{port: 1, health_check: {protocol: http, path: healthz}}]}]\n",
     "services[0].ports[0].health_check.path", "starting with '/'", "1:77"},
    {"health check path with a space",
     "services: [{name: a, ports: [{port: 1, health_check: {protocol: http, path: \"/a b\"}}]}]\n",
     "services[0].ports[0].health_check.path", "visible ASCII", "1:77"},
    {"health check expect reversed",
     "services: [{name: a, ports: [{port: 1, health_check: {protocol: http, expect: 399-200}}]}]\n",
     "services[0].ports[0].health_check.expect", "low to high", "1:79"},
    {"health check expect range",
     "services: [{name: a, ports: [{port: 1, health_check: {protocol: http, expect: 600}}]}]\n",
     "services[0].ports[0].health_check.expect", "codes 100 to 599", "1:79"},
    {"health check interval",
     "services: [{name: a, ports: [{port: 1, health_check: {interval_ms: 50}}]}]\n",
     "services[0].ports[0].health_check.interval_ms", "between 100 and 3600000", "1:68"},
    {"health check timeout above interval",
     "services: [{name: a, ports: [{port: 1, health_check: {interval_ms: 200, timeout_ms: "
     "300}}]}]\n",
     "services[0].ports[0].health_check.timeout_ms", "exceeds interval_ms 200", "1:85"},
    {"health check default timeout above interval",
     "services: [{name: a, ports: [{port: 1, health_check: {interval_ms: 400}}]}]\n",
     "services[0].ports[0].health_check.interval_ms", "timeout_ms 500 exceeds", "1:68"},
    {"health check rise", "services: [{name: a, ports: [{port: 1, health_check: {rise: 0}}]}]\n",
     "services[0].ports[0].health_check.rise", "between 1 and 100", "1:61"},
    {"health check quoted fall",
     "services: [{name: a, ports: [{port: 1, health_check: {fall: \"3\"}}]}]\n",
     "services[0].ports[0].health_check.fall", "got the string", "1:61"},
    {"health check path on tcp",
     "services: [{name: a, ports: [{port: 1, health_check: {path: /x}}]}]\n",
     "services[0].ports[0].health_check.path", "protocol http only", "1:61"},
    {"all_down value",
     "services: [{name: a, ports: [{port: 1, health_check: {}, all_down: open}]}]\n",
     "services[0].ports[0].all_down", "unknown all_down 'open' (fail_open or reject)", "1:68"},
    {"all_down alone", "services: [{name: a, ports: [{port: 1, all_down: reject}]}]\n",
     "services[0].ports[0].all_down", "needs a health_check", "1:40"},
    {"health check on a headless service",
     "services: [{name: a, cluster_ip: None, ports: [{port: 1, health_check: {}}]}]\n",
     "services[0].ports[0].health_check", "needs a ClusterIP", "1:72"},
};

TEST(ConfigErrors, EachCaseReportsPathMessageAndPosition) {
    for (const ErrorCase& c : kErrorCases) {
        SCOPED_TRACE(c.what);
        auto result = load_config(c.yaml, kSource);
        ASSERT_FALSE(result.has_value()) << c.yaml;
        const Errors& errors = result.error();
        std::string expected_at =
            std::string(c.at).empty() ? "" : std::string(kSource) + ":" + c.at;
        auto match = std::find_if(errors.begin(), errors.end(), [&](const Error& e) {
            return e.path == c.path && e.message.find(c.fragment) != std::string::npos;
        });
        ASSERT_NE(match, errors.end())
            << "want " << c.path << ": ..." << c.fragment << "...\ngot:\n"
            << all_errors(errors);
        EXPECT_EQ(match->location, expected_at) << match->str();
        // One mistake, one error: no echo from a later stage.
        EXPECT_EQ(errors.size(), 1u) << all_errors(errors);
    }
}

TEST(ConfigErrors, StrFormatsLocationPathAndMessage) {
    Errors errors = load_errors("maglev:\n  table_size: 1000\n");
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].str(),
              "t.yaml:2:15: maglev.table_size: table_size 1000 is not prime (the next prime is "
              "1009; or use auto)");
}

TEST(ConfigErrors, AllErrorsAreCollected) {
    auto result = load_config_file(data_dir() + "/many-errors.yaml");
    ASSERT_FALSE(result.has_value());
    std::set<std::string> paths;
    for (const Error& e : result.error()) {
        paths.insert(e.path);
        EXPECT_NE(e.location.find("many-errors.yaml:"), std::string::npos) << e.str();
    }
    for (const char* path :
         {"dpdk.memory_mb", "ports[0].device", "ports[0].address", "ports[0].gateway",
          "maglev.table_size", "conntrack.udp_timeout", "api.token_file", "services[0].name",
          "services[0].ports[0].targetport", "services[1].cluster_ip", "services[1].ports[0].port",
          "services[1].ports[0].protocol"}) {
        EXPECT_EQ(paths.count(path), 1u) << path << " missing in\n" << all_errors(result.error());
    }
}

TEST(ConfigErrors, MissingFile) {
    auto result = load_config_file(data_dir() + "/does-not-exist.yaml");
    ASSERT_FALSE(result.has_value());
    ASSERT_EQ(result.error().size(), 1u);
    EXPECT_NE(result.error()[0].str().find("cannot read"), std::string::npos);
}

TEST(ConfigErrors, ValidateReportsTypedPathsForServicesBuiltInCode) {
    Config config;
    ServiceConfig svc;
    svc.name = "web";
    svc.ports.push_back(ServicePortConfig{"http", 80, 0, "", Protocol::tcp});
    config.services.push_back(svc);
    auto result = validate_and_allocate(config);
    ASSERT_FALSE(result.has_value());
    ASSERT_EQ(result.error().size(), 1u);
    EXPECT_EQ(result.error()[0].path, "services[0].ports[0].target_port");
    EXPECT_EQ(result.error()[0].location, "");
}

// -------------------------------------------------------------- allocation

std::string services_yaml(const std::string& cidr, const std::vector<std::string>& names) {
    std::ostringstream out;
    out << "network: {service_cidr: " << cidr << "}\n";
    out << "dns: {cluster_ip: " << (cidr.substr(0, cidr.find('/') - 1)) << "10}\n";
    out << "services:\n";
    for (const std::string& name : names) {
        out << "  - {name: " << name << ", ports: [{port: 80}]}\n";
    }
    return out.str();
}

std::vector<std::string> names(size_t count, const std::string& prefix) {
    std::vector<std::string> out;
    for (size_t i = 0; i < count; ++i) {
        out.push_back(prefix + std::to_string(i));
    }
    return out;
}

std::map<std::string, Ipv4> vips(const Config& config) {
    std::map<std::string, Ipv4> out;
    for (const ServiceConfig& svc : config.services) {
        out[svc.key()] = svc.cluster_ip.value_or(Ipv4{});
    }
    return out;
}

TEST(ClusterIpAllocation, ThousandServicesInASlash22AreUniqueAndAvoidReservedAddresses) {
    std::vector<std::string> n = names(1000, "svc-");
    Config config = load_ok(services_yaml("10.96.0.0/22", n));
    Ipv4Prefix cidr = *Ipv4Prefix::parse("10.96.0.0/22");
    std::set<Ipv4> seen;
    for (const ServiceConfig& svc : config.services) {
        ASSERT_TRUE(svc.cluster_ip.has_value());
        Ipv4 ip = *svc.cluster_ip;
        EXPECT_TRUE(cidr.contains(ip)) << ip.str();
        EXPECT_NE(ip, cidr.network());
        EXPECT_NE(ip.str(), "10.96.3.255");
        EXPECT_NE(ip, config.dns.cluster_ip);
        EXPECT_TRUE(seen.insert(ip).second) << "duplicate " << ip.str();
    }
    EXPECT_EQ(seen.size(), 1000u);
}

TEST(ClusterIpAllocation, DeterministicAndIndependentOfOrder) {
    std::vector<std::string> n = names(300, "app-");
    Config first = load_ok(services_yaml("10.96.0.0/23", n));
    Config again = load_ok(services_yaml("10.96.0.0/23", n));
    std::reverse(n.begin(), n.end());
    std::rotate(n.begin(), n.begin() + 77, n.end());
    Config shuffled = load_ok(services_yaml("10.96.0.0/23", n));
    EXPECT_EQ(vips(first), vips(again));
    EXPECT_EQ(vips(first), vips(shuffled));
}

TEST(ClusterIpAllocation, ExplicitIpsArePlacedFirstAndNeverTaken) {
    // A /29 has 6 hosts: .1-.6; DNS takes .2. Explicit .1 .3 .4 .5 leave
    // exactly .6 for the one service without an IP, whatever its hash.
    std::string yaml = R"(
network: {service_cidr: 10.96.0.0/29}
dns: {cluster_ip: 10.96.0.2}
services:
  - {name: auto, ports: [{port: 80}]}
  - {name: a, cluster_ip: 10.96.0.1, ports: [{port: 80}]}
  - {name: b, cluster_ip: 10.96.0.3, ports: [{port: 80}]}
  - {name: c, cluster_ip: 10.96.0.4, ports: [{port: 80}]}
  - {name: d, cluster_ip: 10.96.0.5, ports: [{port: 80}]}
  - {name: headless, cluster_ip: None, ports: [{port: 80}]}
)";
    Config config = load_ok(yaml);
    EXPECT_EQ(find_service(config, "default/auto")->cluster_ip->str(), "10.96.0.6");
    EXPECT_FALSE(find_service(config, "default/headless")->cluster_ip.has_value());
    EXPECT_TRUE(find_service(config, "default/headless")->headless);
}

TEST(ClusterIpAllocation, FullCidrIsAClearError) {
    // /30: hosts .1 and .2; DNS .1; two services want one address.
    std::string yaml = R"(
network: {service_cidr: 10.96.0.0/30}
dns: {cluster_ip: 10.96.0.1}
services:
  - {name: a, ports: [{port: 80}]}
  - {name: b, ports: [{port: 80}]}
)";
    Errors errors = load_errors(yaml);
    ASSERT_EQ(errors.size(), 1u) << all_errors(errors);
    EXPECT_NE(errors[0].message.find("service_cidr 10.96.0.0/30 is full"), std::string::npos);
    EXPECT_EQ(errors[0].location.substr(0, 9), "t.yaml:6:");
}

TEST(ClusterIpAllocation, PreviousAllocationIsKeptAcrossReloads) {
    std::vector<std::string> n = names(200, "s");
    Config before = load_ok(services_yaml("10.96.0.0/24", n));
    // Adding services must not move running ones, even if a newcomer hashes
    // onto an address that an older service reached by probing.
    std::vector<std::string> more = n;
    for (const std::string& extra : names(40, "new")) {
        more.push_back(extra);
    }
    auto parsed = parse_config(services_yaml("10.96.0.0/24", more), kSource);
    ASSERT_TRUE(parsed.has_value());
    Config after = *parsed;
    ASSERT_TRUE(validate_and_allocate(after, before.services).has_value());
    auto old_vips = vips(before);
    auto new_vips = vips(after);
    for (const auto& [key, ip] : old_vips) {
        EXPECT_EQ(new_vips[key], ip) << key;
    }
    std::set<Ipv4> unique;
    for (const auto& [key, ip] : new_vips) {
        EXPECT_TRUE(unique.insert(ip).second) << key;
    }
}

TEST(ClusterIpAllocation, PreviousIpLosesToAnExplicitOne) {
    Config before = load_ok("services: [{name: a, ports: [{port: 80}]}]\n");
    Ipv4 old_ip = *before.services[0].cluster_ip;
    std::string yaml =
        "services:\n  - {name: a, ports: [{port: 80}]}\n  - {name: b, cluster_ip: " + old_ip.str() +
        ", ports: [{port: 80}]}\n";
    auto parsed = parse_config(yaml, kSource);
    ASSERT_TRUE(parsed.has_value());
    Config after = *parsed;
    ASSERT_TRUE(validate_and_allocate(after, before.services).has_value());
    EXPECT_EQ(*after.services[1].cluster_ip, old_ip);
    EXPECT_NE(*after.services[0].cluster_ip, old_ip);
}

// --------------------------------------------------------------- Kubernetes

const char* kServiceAndSlice = R"(apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  uid: 1234
  resourceVersion: "7"
  creationTimestamp: "2024-01-01T00:00:00Z"
  labels: {app: web}
  annotations: {a: b}
  managedFields: [{manager: kubectl}]
spec:
  type: ClusterIP
  clusterIP: 10.96.1.1
  clusterIPs: [10.96.1.1, "fd00::1"]
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: PreferDualStack
  internalTrafficPolicy: Cluster
  selector: {app: web}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
  ports:
  - {name: http, port: 80, targetPort: web, protocol: TCP}
  - {name: dns, port: 53, targetPort: 5353, protocol: UDP}
status: {loadBalancer: {}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
endpoints:
- addresses: [10.1.0.1]
  conditions: {}
- addresses: [10.1.0.2]
  conditions: {ready: false, serving: true, terminating: true}
- addresses: [10.1.0.3]
  conditions: {ready: false}
ports:
- {name: http, port: 8080, protocol: TCP}
- {name: dns, port: 5353, protocol: UDP}
)";

void expect_web(const ServiceConfig& svc) {
    EXPECT_EQ(svc.key(), "shop/web");
    EXPECT_EQ(svc.cluster_ip->str(), "10.96.1.1");
    EXPECT_EQ(svc.session_affinity, SessionAffinity::client_ip);
    EXPECT_EQ(svc.session_affinity_timeout_s, 60u);
    ASSERT_EQ(svc.ports.size(), 2u);
    EXPECT_EQ(svc.ports[0].target_port_name, "web");
    EXPECT_EQ(svc.ports[1].target_port, 5353);
    EXPECT_EQ(svc.ports[1].protocol, Protocol::udp);
    ASSERT_EQ(svc.endpoints.size(), 3u);
    // Kubernetes' condition defaults.
    EXPECT_TRUE(svc.endpoints[0].ready);
    EXPECT_TRUE(svc.endpoints[0].serving);
    EXPECT_FALSE(svc.endpoints[0].terminating);
    EXPECT_FALSE(svc.endpoints[1].ready);
    EXPECT_TRUE(svc.endpoints[1].serving);
    EXPECT_TRUE(svc.endpoints[1].terminating);
    EXPECT_FALSE(svc.endpoints[2].ready);
    EXPECT_TRUE(svc.endpoints[2].serving);  // unset = true, whatever ready says
    // Named targetPort resolved per endpoint from the slice's port of the
    // same service-port name.
    EXPECT_EQ(svc.endpoints[0].target_port_for(svc.ports[0]), 8080);
    EXPECT_EQ(svc.endpoints[0].target_port_for(svc.ports[1]), 5353);
}

TEST(Kubernetes, ServiceAndSliceAsMultiDocument) {
    auto result = parse_services(kServiceAndSlice, kSource);
    ASSERT_TRUE(result.has_value()) << all_errors(result.error());
    ASSERT_EQ(result->size(), 1u);
    expect_web((*result)[0]);
}

TEST(Kubernetes, ServiceAndSliceAsList) {
    // The same objects inside a v1 List, indented as kubectl prints them.
    std::string list = "apiVersion: v1\nkind: List\nmetadata: {resourceVersion: \"\"}\nitems:\n";
    std::istringstream in(kServiceAndSlice);
    std::string line;
    bool first = true;
    while (std::getline(in, line)) {
        if (line == "---") {
            first = true;
            continue;
        }
        list += (first ? "- " : "  ") + line + "\n";
        first = false;
    }
    auto result = parse_services(list, kSource);
    ASSERT_TRUE(result.has_value()) << all_errors(result.error());
    ASSERT_EQ(result->size(), 1u);
    expect_web((*result)[0]);
}

TEST(Kubernetes, SlicesMergeAndIpv6SlicesAreSkipped) {
    auto result = load_config_file(data_dir() + "/k8s-multidoc.yaml");
    ASSERT_TRUE(result.has_value()) << all_errors(result.error());
    const ServiceConfig* api = find_service(*result, "prod/api");
    ASSERT_NE(api, nullptr);
    ASSERT_EQ(api->endpoints.size(), 3u);
    EXPECT_EQ(api->endpoints[2].ip.str(), "10.1.0.3");
    EXPECT_TRUE(api->endpoints[2].terminating);
    // Numeric targetPort as is; named one per endpoint (slices differ).
    EXPECT_EQ(api->endpoints[0].target_port_for(api->ports[0]), 9443);
    EXPECT_EQ(api->endpoints[0].target_port_for(api->ports[1]), 9100);
    EXPECT_EQ(api->endpoints[2].target_port_for(api->ports[1]), 9200);
    const ServiceConfig* db = find_service(*result, "prod/db");
    ASSERT_NE(db, nullptr);
    EXPECT_TRUE(db->headless);
    EXPECT_FALSE(db->cluster_ip.has_value());
    EXPECT_EQ(db->ports[0].target_port, 5432);  // targetPort omitted = port
}

TEST(Kubernetes, NativeAndKubernetesServicesInOneStream) {
    std::string yaml =
        std::string("services: [{name: mine, ports: [{port: 80}]}]\n---\n") + kServiceAndSlice;
    auto result = parse_services(yaml, kSource);
    ASSERT_TRUE(result.has_value()) << all_errors(result.error());
    ASSERT_EQ(result->size(), 2u);
    EXPECT_EQ((*result)[0].key(), "default/mine");
    EXPECT_EQ((*result)[1].key(), "shop/web");
}

TEST(Kubernetes, ServicesStreamRejectsConfigSections) {
    auto result = parse_services("dns: {ttl_s: 1}\n", kSource);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error()[0].path, "dns");
}

TEST(Kubernetes, HeadlessWithoutPortsIsAllowed) {
    auto result = load_config(R"(apiVersion: v1
kind: Service
metadata: {name: peers}
spec: {clusterIP: None}
)",
                              kSource);
    ASSERT_TRUE(result.has_value()) << all_errors(result.error());
    EXPECT_TRUE(result->services[0].headless);
    EXPECT_EQ(result->services[0].ns, "default");
}

TEST(Kubernetes, AllocatesWhenClusterIpIsEmpty) {
    auto result = load_config(
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: \"\", ports: "
        "[{port: 1}]}\n",
        kSource);
    ASSERT_TRUE(result.has_value()) << all_errors(result.error());
    EXPECT_TRUE(result->services[0].cluster_ip.has_value());
}

const ErrorCase kKubernetesErrors[] = {
    {"unknown type",
     "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  type: Ingress\n  "
     "ports: [{port: 1}]\n",
     "Service/default/a.spec.type", "unknown service type 'Ingress'", "5:9"},
    {"ExternalName not a DNS name",
     "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {type: "
     "ExternalName, externalName: X_Y.example}\n",
     "Service/default/a.spec.externalName", "invalid external_name 'X_Y.example'", "4:42"},
    {"ExternalName with a clusterIP",
     "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {type: "
     "ExternalName, externalName: x.example, clusterIP: 10.96.0.9}\n",
     "Service/default/a.spec.clusterIP", "an ExternalName service has no cluster IP", "4:64"},
    {"slice hostname",
     "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: "
     "[{port: 1}]}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: "
     "s, labels: {kubernetes.io/service-name: a}}\naddressType: IPv4\nendpoints:\n- addresses: "
     "[10.1.0.1]\n  hostname: web.0\n",
     "EndpointSlice/default/s.endpoints[0].hostname", "must be a DNS-1123 label", "12:13"},
    {"unknown kind", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\n",
     "documents[0].kind", "unsupported kind 'Deployment'", "2:7"},
    {"unknown kind in List",
     "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: "
     "Endpoints, metadata: {name: a}}\n",
     "documents[0].items[0].kind", "unsupported kind 'Endpoints'", "4:26"},
    {"wrong apiVersion",
     "apiVersion: v2\nkind: Service\nmetadata: {name: a}\nspec: {ports: "
     "[{port: 1}]}\n",
     "Service/default/a.apiVersion", "unsupported apiVersion 'v2'", "1:13"},
    {"slice without label",
     "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: "
     "{name: s}\naddressType: IPv4\n",
     "EndpointSlice/default/s.metadata.labels", "missing label kubernetes.io/service-name", "3:11"},
    {"unknown spec key",
     "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: "
     "[{port: 1, target_port: 2}]}\n",
     "Service/default/a.spec.ports[0].target_port", "did you mean 'targetPort'?", "4:26"},
    {"bad endpoint address",
     "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: "
     "[{port: 1}]}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: "
     "s, labels: {kubernetes.io/service-name: a}}\naddressType: IPv4\nendpoints:\n- addresses: "
     "[10.1.0.256]\n",
     "EndpointSlice/default/s.endpoints[0].addresses[0]", "invalid IPv4 address", "11:15"},
    {"service port zero in manifest",
     "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: "
     "{ports: [{port: 0}]}\n",
     "Service/default/a.spec.ports[0].port", "between 1 and 65535", "4:23"},
    {"clusterIPs mismatch",
     "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: "
     "{clusterIP: 10.96.0.5, clusterIPs: [10.96.0.6], ports: [{port: 1}]}\n",
     "Service/default/a.spec.clusterIPs[0]", "must equal spec.clusterIP", "4:43"},
    {"IPv6 single stack",
     "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: "
     "{clusterIP: \"fd00::5\", ports: [{port: 1}]}\n",
     "Service/default/a.spec.clusterIP", "IPv6 single-stack", "4:19"},
    {"service name from manifest",
     "apiVersion: v1\nkind: Service\nmetadata: {name: My.Svc}\n"
     "spec: {ports: [{port: 1}]}\n",
     "Service/default/My.Svc.metadata.name", "DNS-1035", "3:18"},
    {"quoted numeric targetPort",
     "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: "
     "{ports: [{port: 1, targetPort: \"80\"}]}\n",
     "Service/default/a.spec.ports[0].targetPort", "invalid target port name '80'", "4:38"},
    // health-check annotations (config/health.cpp)
    {"unknown health annotation",
     "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  annotations:\n    "
     "svcgw.io/health-check-intervall-ms: \"5\"\nspec: {ports: [{port: 1}]}\n",
     "Service/default/a.metadata.annotations[svcgw.io/health-check-intervall-ms]",
     "did you mean 'svcgw.io/health-check-interval-ms'?", "6:5"},
    {"health annotation number",
     "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  annotations:\n    "
     "svcgw.io/health-check-fall: \"many\"\nspec: {ports: [{port: 1}]}\n",
     "Service/default/a.metadata.annotations[svcgw.io/health-check-fall]", "expected an integer",
     "6:33"},
    {"health annotation protocol",
     "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  annotations:\n    "
     "svcgw.io/health-check-protocol: grpc\nspec: {ports: [{port: 1}]}\n",
     "Service/default/a.metadata.annotations[svcgw.io/health-check-protocol]",
     "unknown health check protocol 'grpc'", "6:37"},
    {"all-down annotation alone",
     "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  annotations:\n    "
     "svcgw.io/health-check-all-down: reject\nspec: {ports: [{port: 1}]}\n",
     "Service/default/a.metadata.annotations[svcgw.io/health-check-all-down]",
     "needs a health check", "6:37"},
};

TEST(KubernetesErrors, EachCaseReportsPathMessageAndPosition) {
    // A Kubernetes object with an error is left out alone (Config::skipped);
    // the load itself succeeds.
    for (const ErrorCase& c : kKubernetesErrors) {
        SCOPED_TRACE(c.what);
        auto result = load_config(c.yaml, kSource);
        ASSERT_TRUE(result.has_value()) << c.yaml;
        ASSERT_FALSE(result->skipped.empty()) << c.yaml;
        Errors errors;
        for (const SkippedObject& o : result->skipped) {
            errors.insert(errors.end(), o.errors.begin(), o.errors.end());
        }
        auto match = std::find_if(errors.begin(), errors.end(), [&](const Error& e) {
            return e.path == c.path && e.message.find(c.fragment) != std::string::npos;
        });
        ASSERT_NE(match, errors.end())
            << "want " << c.path << ": ..." << c.fragment << "...\ngot:\n"
            << all_errors(errors);
        EXPECT_EQ(match->location, std::string(kSource) + ":" + c.at) << match->str();
    }
}

// ------------------------------------------------------------ misc. API

TEST(ServiceConfig, EqualityIgnoresLocations) {
    auto a = parse_services("services: [{name: a, ports: [{port: 1}]}]\n", "one.yaml");
    auto b = parse_services("\n\nservices:\n  - {name: a, ports: [{port: 1}]}\n", "two.yaml");
    ASSERT_TRUE(a.has_value() && b.has_value());
    EXPECT_NE((*a)[0].locations.at("name").location, (*b)[0].locations.at("name").location);
    EXPECT_EQ((*a)[0], (*b)[0]);
    ServiceConfig c = (*a)[0];
    c.endpoints.push_back(EndpointConfig{});
    EXPECT_FALSE(c == (*a)[0]);
}

TEST(EndpointConfig, TargetPortFor) {
    ServicePortConfig numeric{"http", 80, 8080, "", Protocol::tcp};
    ServicePortConfig named{"http", 80, 0, "web", Protocol::tcp};
    EndpointConfig ep;
    EXPECT_EQ(ep.target_port_for(numeric), 8080);
    EXPECT_EQ(ep.target_port_for(named), 0);  // not resolvable: no traffic for this port
    ep.ports = {{"other", 1}, {"http", 9000}};
    EXPECT_EQ(ep.target_port_for(named), 9000);
    // The endpoint's (EndpointSlice) port wins over a numeric targetPort too:
    // kube-proxy forwards to the slice's port.
    EXPECT_EQ(ep.target_port_for(numeric), 9000);
    // A service port the endpoint lists nothing for: the numeric targetPort.
    ServicePortConfig metrics{"metrics", 9100, 9100, "", Protocol::tcp};
    EXPECT_EQ(ep.target_port_for(metrics), 9100);
}

TEST(EndpointParser, OneParserForFilesAndApiBodies) {
    // JSON (API) and YAML alike; a bare list or {endpoints: [...]}.
    auto list = parse_endpoints(
        R"({"endpoints": [{"ip": "10.1.0.1", "weight": 7, "ports": [{"name": "http", "port": 8080}]},
                          {"ip": "10.1.0.2", "ready": false}]})",
        "request");
    ASSERT_TRUE(list.has_value()) << all_errors(list.error());
    ASSERT_EQ(list->size(), 2u);
    const EndpointSpec& a = (*list)[0];
    EXPECT_EQ(a.endpoint.weight, 7u);
    EXPECT_EQ(a.endpoint.ports, (std::vector<EndpointPort>{{"http", 8080}}));
    EXPECT_TRUE(a.has(EndpointField::weight));
    EXPECT_TRUE(a.has(EndpointField::ports));
    EXPECT_FALSE(a.has(EndpointField::ready));
    const EndpointSpec& b = (*list)[1];
    EXPECT_FALSE(b.endpoint.ready);
    EXPECT_TRUE(b.endpoint.serving);  // the file's defaults
    EXPECT_FALSE(b.has(EndpointField::ports));
    auto bare = parse_endpoints("- {ip: 10.1.0.3}\n", "request");
    ASSERT_TRUE(bare.has_value());
    EXPECT_EQ((*bare)[0].endpoint.ip.str(), "10.1.0.3");

    // A partial change keeps what it does not name.
    EndpointConfig base = a.endpoint;
    base.terminating = true;
    EndpointConfig merged = b.over(base);
    EXPECT_FALSE(merged.ready);
    EXPECT_TRUE(merged.terminating);
    EXPECT_EQ(merged.ports, base.ports);
    EXPECT_EQ(merged.weight, 7u);

    // The file's bounds and keys, with paths.
    struct Case {
        const char* body;
        const char* path;
        const char* fragment;
    };
    for (const Case& c :
         {Case{R"([{"ip": "10.1.0.1", "weight": 65536}])", "endpoints[0].weight",
               "between 0 and 65535"},
          Case{R"([{"weight": 1}])", "endpoints[0].ip", "missing required key"},
          Case{R"([{"ip": "10.1.0.1", "colour": "red"}])", "endpoints[0].colour", "unknown key"},
          Case{R"({"endpoint": []})", "endpoint", "did you mean 'endpoints'?"},
          Case{R"([{"ip": "10.1.0.1", "ports": [{"name": "x"}]}])", "endpoints[0].ports[0].port",
               "missing required key"}}) {
        SCOPED_TRACE(c.body);
        auto bad = parse_endpoints(c.body, "request");
        ASSERT_FALSE(bad.has_value());
        EXPECT_EQ(bad.error()[0].path, c.path) << all_errors(bad.error());
        EXPECT_NE(bad.error()[0].message.find(c.fragment), std::string::npos)
            << all_errors(bad.error());
    }
    auto one = parse_endpoint(R"({"ip": "10.1.0.9", "terminating": true})", "request");
    ASSERT_TRUE(one.has_value());
    EXPECT_EQ(one->given, static_cast<uint16_t>(EndpointField::terminating));
    EXPECT_FALSE(parse_endpoint("[1, 2]", "request").has_value());
}

// ------------------------------------------------------- example configs

class ExampleConfigs : public ::testing::TestWithParam<const char*> {};

TEST_P(ExampleConfigs, LoadCleanly) {
    std::string path = data_dir() + "/../../../config/" + GetParam();
    auto result = load_config_file(path);
    ASSERT_TRUE(result.has_value()) << all_errors(result.error());
}

INSTANTIATE_TEST_SUITE_P(Config, ExampleConfigs,
                         ::testing::Values("svcgw.yaml", "walkthrough.yaml", "k8s-example.yaml"));

TEST(ExampleConfigs, WalkthroughIsTheSeedScenario) {
    auto result = load_config_file(data_dir() + "/../../../config/walkthrough.yaml");
    ASSERT_TRUE(result.has_value()) << all_errors(result.error());
    ASSERT_EQ(result->ports.size(), 1u);
    EXPECT_EQ(result->ports[0].name, "ext0");
    EXPECT_EQ(result->ports[0].device, "net_af_packet0,iface=veth-gw");
    EXPECT_EQ(result->ports[0].address.str(), "10.99.0.1/24");
    ASSERT_EQ(result->services.size(), 1u);
    const ServiceConfig& svc = result->services[0];
    EXPECT_EQ(svc.key(), "default/mynginx");
    EXPECT_EQ(svc.cluster_ip->str(), "10.96.0.20");
    EXPECT_EQ(svc.ports[0].port, 80);
    EXPECT_EQ(svc.ports[0].target_port, 80);
    ASSERT_EQ(svc.endpoints.size(), 1u);
    EXPECT_EQ(svc.endpoints[0].ip.str(), "10.99.0.11");
}

TEST(ExampleConfigs, KubernetesExampleResolvesNamedTargetPort) {
    auto result = load_config_file(data_dir() + "/../../../config/k8s-example.yaml");
    ASSERT_TRUE(result.has_value()) << all_errors(result.error());
    const ServiceConfig* web = find_service(*result, "shop/web");
    ASSERT_NE(web, nullptr);
    ASSERT_EQ(web->endpoints.size(), 2u);
    EXPECT_EQ(web->endpoints[0].target_port_for(web->ports[0]), 8080);
    EXPECT_TRUE(web->endpoints[1].terminating);
    EXPECT_TRUE(web->endpoints[1].serving);
}

}  // namespace
}  // namespace svcgw
