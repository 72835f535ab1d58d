// Typed configuration (DESIGN §3). Produced by the loader from native YAML or
// Kubernetes manifests; consumed by the control thread only (no locking, no
// DPDK). Every field below carries the DESIGN default.
//
// Pipeline: parse (YAML syntax and types, parse_config / parse_services)
// -> validate (semantics, cross-field checks) -> allocate (ClusterIPs);
// validate_and_allocate does the last two, load_config / load_config_file
// all three. Every stage collects all errors instead of stopping at the first.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
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
enum class IdleMode { poll, adaptive };          // "poll" | "adaptive"
enum class SessionAffinity { none, client_ip };  // "None" | "ClientIP"
// Kubernetes Service types, spelled as Kubernetes spells them ("ClusterIP",
// "NodePort", "LoadBalancer", "ExternalName").
enum class ServiceType { cluster_ip, node_port, load_balancer, external_name };
std::optional<ServiceType> parse_service_type(std::string_view text);
std::string_view to_string(ServiceType type);
// Kubernetes' externalTrafficPolicy ("Cluster" | "Local").
enum class TrafficPolicy { cluster, local };
std::optional<TrafficPolicy> parse_traffic_policy(std::string_view text);
std::string_view to_string(TrafficPolicy policy);

// An address range of a load-balancer pool, written as a CIDR or as
// "FIRST-LAST" (the two forms MetalLB and Cilium LB-IPAM take). A CIDR of
// /30 or shorter does not hand out its network and broadcast addresses.
struct Ipv4Range {
    Ipv4 first;
    Ipv4 last;
    bool from_prefix = false;

    static std::optional<Ipv4Range> parse(std::string_view text);
    bool contains(Ipv4 ip) const { return first <= ip && ip <= last; }
    uint64_t size() const { return uint64_t{last.value} - first.value + 1; }
    std::string str() const;
    bool operator==(const Ipv4Range&) const = default;
};

// Where a value was written, so that checks run after parsing can still point
// at file:line:col. Keys are typed paths relative to the owning object
// ("ports[1].target_port" in a service, "dns.cluster_ip" in a Config); `path`
// is the path as the user wrote it (a Kubernetes field path for manifests,
// e.g. "Service/default/web.spec.ports[1].targetPort"). `valid` is false when
// parsing already reported an error for that value, so later stages do not
// report it twice. Objects built in code (API, CLI) simply have no entries.
struct SourceRef {
    std::string path;
    std::string location;  // "file:line:col", 1-based
    bool valid = true;
};
using SourceMap = std::map<std::string, SourceRef, std::less<>>;

struct DpdkConfig {
    std::string lcores = "0-1";
    uint32_t memory_mb = 512;
    HugepageMode hugepages = HugepageMode::automatic;
    std::string file_prefix = "svcgw";
    std::vector<std::string> extra_args;
    // poll: workers busy-poll their queues (lowest latency, a core each);
    // adaptive: a worker with nothing to do backs off to short sleeps.
    IdleMode idle = IdleMode::poll;
};

// The exception path's kernel-side driver (port/kernel_driver.hpp):
// "auto" | "tap" | "virtio_user" | "tap_pmd".
enum class KernelDriver { automatic, tap, virtio_user, tap_pmd };

struct PortConfig {
    std::string name;
    std::string device;  // vdev spec ("net_af_packet0,iface=veth-gw") or PCI address
    Ipv4Prefix address;  // the port's own address and its subnet
    std::optional<Ipv4> gateway;
    // The exception path's TAP (DESIGN §6): "" = none, the kernel never
    // sees the port's traffic.
    std::string kernel_interface;
    // How svcgw reaches that interface: automatic = virtio_user when
    // /dev/vhost-net opens, else the plain TAP.
    KernelDriver kernel_driver = KernelDriver::automatic;
};

// Policing of the exception path, per gateway (each worker polices
// rate / workers). Control = ARP, BGP, BFD (dataplane/punt.hpp).
struct PuntConfig {
    // Health-check probes of 10k backends once a second need ~30k frames/s
    // of replies; 50k leaves room and still bounds a flood.
    uint32_t rate_pps = 50000;
    // ARP, BGP keepalives and BFD at 3 x 300 ms per session: thousands of
    // sessions' worth.
    uint32_t control_rate_pps = 10000;
    // Frames either class may send back to back after an idle spell.
    uint32_t burst = 256;
};

struct NetworkConfig {
    Ipv4Prefix service_cidr{Ipv4{0x0a600000}, 16};  // 10.96.0.0/16
    std::vector<Ipv4> snat_addresses;               // empty = the port's own address
    // Where LoadBalancer Services without an address get one (README).
    std::vector<Ipv4Range> lb_pools;
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

// The Kubernetes feed (DESIGN §6): svcgw follows a cluster's Services and
// EndpointSlices through list+watch. Restart-only, like `api`.
// Where the feed sends a Service's traffic (README, NodePort backends): to its pods, or
// through the cluster's nodes on its nodePorts (pods not routable here).
enum class BackendMode { pods, node_port };
std::optional<BackendMode> parse_backend_mode(std::string_view text);  // "pods" | "nodeport"

struct KubernetesConfig {
    bool enabled = false;
    std::string kubeconfig;    // "" = in-cluster (service account files and env)
    bool cluster_ips = false;  // serve every Service's ClusterIP (the seed's mode)
    std::string load_balancer_class = "svcgw.io/lb";
    bool default_class = false;                // also LoadBalancer Services without a class
    std::string service_proxy_name;            // "" = Services without the label, as kube-proxy
    uint32_t batch_window_ms = 5;              // at most one publish per window (1 .. 10)
    uint32_t watch_timeout_s = 300;            // server-side watch timeout (timeoutSeconds)
    uint32_t backoff_max_ms = 30000;           // reconnect back-off cap
    BackendMode backends = BackendMode::pods;  // per Service: annotation svcgw.io/backends
};

// Active health check of a service port's backends (native `health_check`,
// manifests `svcgw.io/health-check-*` annotations). The defaults here are the
// documented ones (config/svcgw.yaml).
enum class HealthProtocol { tcp, http };  // "tcp" | "http"
struct HealthCheckConfig {
    HealthProtocol protocol = HealthProtocol::tcp;
    uint16_t port = 0;              // 0 = each endpoint's target port for this service port
    std::string path = "/healthz";  // http only
    uint16_t expect_min = 200;      // http only: accepted status codes, inclusive
    uint16_t expect_max = 399;
    uint32_t interval_ms = 1000;  // between the starts of two probes of one backend
    uint32_t timeout_ms = 500;    // a probe not done by then failed; <= interval_ms
    uint32_t rise = 2;            // consecutive successes that bring a backend back
    uint32_t fall = 3;            // consecutive failures that take it out

    bool operator==(const HealthCheckConfig&) const = default;
};
std::string_view to_string(HealthProtocol protocol);

// What a service port does when its health check leaves no backend:
// fail_open (default) sends to every backend Kubernetes considers eligible,
// reject refuses new connections as for a service without endpoints.
enum class AllDownPolicy { fail_open, reject };  // "fail_open" | "reject"
std::string_view to_string(AllDownPolicy policy);

// Route health injection (DESIGN §6, lib/fleet): svcgw renders the VIP (and
// SNAT) /32 routes into a file the gateway's BIRD includes, and tells BIRD
// to reload it through its control socket. Restart-only but for
// `generation`, which a reload is expected to move.
// One gateway of a fleet (fullnat owner redirect, DESIGN §6): its name
// (its identity on the owner ring: the same on every instance) and its
// address on the shared segment (ports[0].address of that gateway).
struct FleetMemberConfig {
    std::string name;
    Ipv4 address;

    bool operator==(const FleetMemberConfig&) const = default;
};

// Liveness of the other members: a TCP connect to each member's address
// on `port`, from this gateway's kernel (through the exception path, as the
// health checks). A member is dead after `fall` failed probes in a row and
// live again after `rise` good ones. The defaults notice a death in
// 300-400 ms, inside BFD's 900 ms (300 ms x 3), so a new connection whose
// owner died finds a live one by the time the routers have withdrawn it.
struct FleetProbeConfig {
    uint16_t port = 9100;        // a listener every member has on its address (metrics.listen)
    uint32_t interval_ms = 100;  // between two probes of one member
    uint32_t timeout_ms = 100;   // a connect not done by then failed; <= interval_ms
    uint32_t rise = 2;
    uint32_t fall = 3;

    bool operator==(const FleetProbeConfig&) const = default;
};

// Where the members' liveness comes from: probes (above), or each member's
// coordination.k8s.io Lease through the Kubernetes API (kube/lease.hpp).
enum class FleetMembership { probes, leases };  // "probes" | "leases"
std::string_view to_string(FleetMembership membership);

// Each member renews its Lease `svcgw-<name>` in `namespace` every
// renew_ms; it is live while renewTime + duration_s is ahead. The defaults
// are kube-vip's for the same job (VIP failover on a LAN: a 5 s lease, a
// 1 s retry): a killed gateway is dead to its peers within 5 s, and a
// healthy one's renewal may be late by up to 3 s (two periods to renew and
// be listed, one of margin) before it is counted dead. The API's cost: two
// requests per member per second.
struct FleetLeaseConfig {
    std::string ns = "kube-system";  // `namespace`
    uint32_t duration_s = 5;         // leaseDurationSeconds
    uint32_t renew_ms = 1000;        // renew and list period; <= duration / 3

    bool operator==(const FleetLeaseConfig&) const = default;
};

struct FleetConfig {
    bool announce = false;
    std::string bird_socket = "/run/bird/bird.ctl";           // BIRD's control socket (birdc -s)
    std::string routes_file = "/run/svcgw/bird-routes.conf";  // BIRD `include`s it
    std::string drain_file = "/run/svcgw/drained";  // present while drained (survives restarts)
    uint32_t drain_deadline_s = 300;                // `svcgwctl drain` default
    uint64_t generation = 0;  // this file's fleet generation (compared with the expected one)
    // Owner redirect (fullnat): every member, this gateway among them as
    // `self`. Empty = no redirect (each gateway SNATs what reaches it).
    std::string self;
    std::vector<FleetMemberConfig> members;
    FleetMembership membership = FleetMembership::probes;
    FleetProbeConfig probe;  // membership probes
    FleetLeaseConfig lease;  // membership leases
};

struct ServicePortConfig {
    std::string name;  // may be empty for a single-port service
    uint16_t port = 0;
    uint16_t target_port = 0;      // 0 when target_port_name names the port instead
    std::string target_port_name;  // Kubernetes targetPort given as a string
    Protocol protocol = Protocol::tcp;
    std::optional<HealthCheckConfig> health_check = std::nullopt;  // none = not probed
    AllDownPolicy all_down = AllDownPolicy::fail_open;
    uint16_t node_port = 0;  // the cluster's nodePort (NodePort backends); 0 = none

    bool operator==(const ServicePortConfig&) const = default;
};

// One port of an endpoint, keyed by the *service* port's name, as
// EndpointSlice `ports` list them ({name, port}).
struct EndpointPort {
    std::string name;
    uint16_t port = 0;

    bool operator==(const EndpointPort&) const = default;
};

struct EndpointConfig {
    Ipv4 ip;
    // Kubernetes' condition defaults, the one place every parser takes them
    // from (kube-proxy endpointslicecache.go): an unset ready or serving
    // means true, an unset terminating false.
    bool ready = true;
    bool serving = true;
    bool terminating = false;
    uint32_t weight = 100;
    // Per-endpoint target ports (EndpointSlice ports), by service port name.
    std::vector<EndpointPort> ports;
    // EndpointSlice topology: the pod's DNS hostname (StatefulSets), its node
    // and zone. Empty = unset.
    std::string hostname;
    std::string node_name;
    std::string zone;

    // The target port for one service port: this endpoint's port of that
    // name when it lists one, else the Service's numeric targetPort; 0 for a
    // named targetPort this endpoint does not expose (it gets no traffic for
    // that service port, as in Kubernetes).
    uint16_t target_port_for(const ServicePortConfig& service_port) const;
    // The port a service port's health check probes on this endpoint: the
    // check's own port, else the target port; 0 = not probed (no target).
    uint16_t probe_port_for(const ServicePortConfig& service_port) const;

    bool operator==(const EndpointConfig&) const = default;
};

// The endpoint fields a client may leave out; a partial change through the
// API keeps the current value of each field not given.
enum class EndpointField : uint16_t {
    ready = 1 << 0,
    serving = 1 << 1,
    terminating = 1 << 2,
    weight = 1 << 3,
    ports = 1 << 4,
    hostname = 1 << 5,
    node_name = 1 << 6,
    zone = 1 << 7,  // the last one: kAllEndpointFields below
};
constexpr uint16_t kAllEndpointFields = (static_cast<uint16_t>(EndpointField::zone) << 1) - 1;

// An endpoint as written (native form), with the fields that were given.
struct EndpointSpec {
    EndpointConfig endpoint;  // fields not given hold their defaults
    uint16_t given = 0;       // EndpointField bits

    bool has(EndpointField field) const { return (given & static_cast<uint16_t>(field)) != 0; }
    // `base` with every given field of this spec written over it (same ip).
    EndpointConfig over(const EndpointConfig& base) const;
    // Endpoints built in code, every field given.
    static std::vector<EndpointSpec> complete(std::vector<EndpointConfig> endpoints);
};

struct ServiceConfig {
    std::string name;
    std::string ns = "default";
    std::optional<Ipv4> cluster_ip;  // resolved (allocated) after loading unless headless
    bool headless = false;           // cluster_ip: None
    ServiceType type = ServiceType::cluster_ip;
    std::string external_name;  // type ExternalName: the DNS name the service aliases
    SessionAffinity session_affinity = SessionAffinity::none;
    uint32_t session_affinity_timeout_s = 10800;
    std::vector<ServicePortConfig> ports;
    std::vector<EndpointConfig> endpoints;
    // Its clusterIP is dns.cluster_ip (kube-dns): svcgw's own DNS responder
    // answers there, so it gets no VIP. Set by validation.
    bool dns_service = false;
    // Addresses served beside the ClusterIP (README, LoadBalancer Services): load-balancer
    // VIPs (type LoadBalancer; none given = one from network.lb_pools) and
    // external IPs (any type). Both may lie outside service_cidr.
    std::vector<Ipv4> load_balancer_ips;
    std::vector<Ipv4> external_ips;
    // Clients that may open flows to the load-balancer VIPs; empty = any.
    std::vector<Ipv4Prefix> source_ranges;
    TrafficPolicy external_traffic_policy = TrafficPolicy::cluster;
    // false: the ClusterIP is the cluster's own (kube-proxy answers it) and
    // only the addresses above are served (the feed's LoadBalancer mode).
    bool serve_cluster_ip = true;
    SourceMap locations;  // keys relative to the service ("ports[0].port"); not compared
    // Fields svcgw does not honour (internalTrafficPolicy: Local, a node
    // port, ...): reported at load and by describe, never dropped silently.
    // Not compared.
    Errors warnings;
    // Decoded from a Kubernetes Service object: a load that cannot take it
    // leaves it out alone and reports it (native services fail the whole
    // file). Not compared.
    bool kubernetes_object = false;

    // "namespace/name", the identity used for allocation and duplicate checks.
    std::string key() const { return ns + "/" + name; }
    // Same specification; `locations` (where it was written) is ignored, so a
    // service that only moved in the file compares equal.
    bool operator==(const ServiceConfig& other) const;
};

// One discovery.k8s.io/v1 EndpointSlice, reduced to what forwarding reads:
// its endpoints, each with the slice's ports, and their conditions. IPv6 and
// FQDN slices carry no endpoints (nothing svcgw can forward to). Merged
// into its Service by config/endpoint_slices.hpp.
struct EndpointSliceConfig {
    std::string ns = "default";
    std::string name;
    std::string service;  // the kubernetes.io/service-name label
    std::vector<EndpointConfig> endpoints;
    Errors warnings;      // fields svcgw does not honour (zone hints, ...)
    SourceMap locations;  // "endpoints[2].ip" -> where; not compared

    std::string key() const { return ns + "/" + name; }
    std::string service_key() const { return ns + "/" + service; }
    bool operator==(const EndpointSliceConfig& other) const;
};

// kubectl's name of a namespaced object, "Kind/ns/name" ("Service/default/web"):
// how events, error paths and left-out objects name it. `key` is "ns/name".
std::string object_name(std::string_view kind, const std::string& key);

// A Kubernetes object a load left out, with why; the rest loads.
struct SkippedObject {
    std::string object;  // "Service/ns/name", "EndpointSlice/ns/name" or "documents[2]"
    Errors errors;
    std::string service_key;  // "ns/name" when a Service was left out by validation
};

// What a document stream holds (parse_service_set): services (native ones,
// then Kubernetes ones), the EndpointSlices (not joined to their services
// yet) and the Kubernetes objects left out.
struct ServiceSet {
    std::vector<ServiceConfig> services;
    std::vector<EndpointSliceConfig> slices;
    std::vector<SkippedObject> skipped;
};
// Every address a service answers on: its ClusterIP (when served), then its
// load-balancer VIPs and external IPs. The one rule the VIP table, the
// duplicate check and conflict attribution share.
std::vector<Ipv4> served_vips(const ServiceConfig& service);

struct Config {
    std::string source;  // file name the config came from, for messages
    DpdkConfig dpdk;
    std::vector<PortConfig> ports;
    NetworkConfig network;
    PuntConfig punt;
    ForwardingMode forwarding = ForwardingMode::fullnat;
    MaglevConfig maglev;
    ConntrackConfig conntrack;
    DnsConfig dns;
    ApiConfig api;
    MetricsConfig metrics;
    KubernetesConfig kubernetes;
    FleetConfig fleet;
    std::vector<ServiceConfig> services;
    SourceMap locations;  // all but services ("dns.cluster_ip", "ports[0].address")
    // The input's EndpointSlices; load_config joins them into `services`.
    std::vector<EndpointSliceConfig> endpoint_slices;
    // Kubernetes objects of the input load_config left out (each with its
    // errors): they do not fail the rest. Errors of the native document do.
    std::vector<SkippedObject> skipped;
};

// Loads, validates and completes (ClusterIP allocation) a config file.
// All errors are reported, each as "file:line:col: path.to.key: message".
// The native document is all or nothing; a Kubernetes object that cannot be
// taken (a bad field, a ClusterIP outside service_cidr, a clash with
// another service) is left out alone and listed in Config::skipped.
Result<Config, Errors> load_config_file(const std::string& path);
// The same for text already in memory (API, tests).
Result<Config, Errors> load_config(std::string_view yaml, const std::string& source_name);

// What a load tells the operator beside errors, one line each: the fields
// svcgw does not honour ("warning: FILE:l:c: path: message") and the
// EndpointSlices kept without their Service (warning_lines); the Kubernetes
// objects left out ("left out: OBJECT: FILE:l:c: path: message",
// skipped_lines).
std::vector<std::string> warning_lines(const Config& config);
std::vector<std::string> skipped_lines(const std::vector<SkippedObject>& skipped);

// Syntax and types only: no semantic checks, no ClusterIP allocation. The
// stream holds at most one native document (no `kind`) plus any number of
// Kubernetes documents (see parse_services).
Result<Config, Errors> parse_config(std::string_view yaml, const std::string& source_name);

// Services from a document stream that may mix native service entries
// (a `services:` list) and Kubernetes v1/Service, discovery.k8s.io/v1
// EndpointSlice and v1/List documents (the API's apply). A Kubernetes
// object with errors is left out alone (ServiceSet::skipped); errors of
// native entries fail the stream.
Result<ServiceSet, Errors> parse_service_set(std::string_view yaml, const std::string& source_name);
// parse_service_set with the slices joined into their services, all or
// nothing (a skipped object is an error).
Result<std::vector<ServiceConfig>, Errors> parse_services(std::string_view yaml,
                                                          const std::string& source_name);

// The native endpoint form ({ip, ready, serving, terminating, weight, ports,
// hostname, node_name, zone}): the parser of services[].endpoints in files,
// used as is for API bodies. `yaml` holds a sequence of endpoints or a
// mapping with an `endpoints:` sequence (parse_endpoints), or one endpoint
// mapping (parse_endpoint). Syntax and types only, as parse_services.
Result<std::vector<EndpointSpec>, Errors> parse_endpoints(std::string_view yaml,
                                                          const std::string& source_name);
Result<EndpointSpec, Errors> parse_endpoint(std::string_view yaml, const std::string& source_name);

// Checks the whole config (every section, services against the rest: CIDR,
// duplicates, DNS IP) and allocates missing ClusterIPs. `config` is changed
// only on success.
//
// Allocation guarantee: the IPs are a function of the *set* of services
// (independent of their order) and, with the overload below, of the previous
// allocation: explicit cluster_ips are placed first, then services that had
// an allocated IP in `previous` keep it while it is still free, then the
// rest, sorted by namespace/name, each at hash("ns/name") in service_cidr with
// linear probing past the network, broadcast and DNS addresses and every IP
// already taken.
Result<void, Errors> validate_and_allocate(Config& config);
Result<void, Errors> validate_and_allocate(Config& config,
                                           const std::vector<ServiceConfig>& previous);
// The same, but a service `skippable` accepts is left out when it fails (its
// own errors, or a clash with another service: the skippable side is the
// one blamed) and the rest is validated again without it; `replacement`
// may give what runs instead (the running version, for an update that
// failed). Returns the services left out, each with its errors (object: its
// display path, e.g. "Service/ns/name"); fails, changing nothing, when an
// error remains elsewhere.
using Skippable = std::function<bool(const ServiceConfig&)>;
using Replacement = std::function<std::optional<ServiceConfig>(const ServiceConfig&)>;
Result<std::vector<SkippedObject>, Errors> validate_and_allocate(
    Config& config, const std::vector<ServiceConfig>& previous, const Skippable& skippable,
    const Replacement& replacement = {});

// A change of a few services to a running set that validated: `change`
// holds the running sections and the new versions of the changed services;
// `others` indexes the running services that stay (config/service_index.hpp:
// the changed and removed ones taken out), `neighbours` are those of them a
// changed service could clash with (ServiceIndex::neighbours), `previous`
// the running versions of the changed ones. The rules and the allocation
// are validate_and_allocate's, run over the change and its neighbours, with
// the allocators skipping what `others` holds: it accepts exactly what
// validate_and_allocate would accept of the whole next set, and allocates
// the same addresses, in O(changed). Errors are placed within the change
// and its neighbours only: a caller that reports them runs
// validate_and_allocate over the whole set instead. `change` is changed
// only on success.
class ServiceIndex;
Result<void, Errors> validate_change(Config& change, const std::vector<ServiceConfig>& neighbours,
                                     const std::vector<ServiceConfig>& previous,
                                     const ServiceIndex& others);

}  // namespace svcgw
