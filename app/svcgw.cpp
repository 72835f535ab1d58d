// svcgw: the gateway daemon (DESIGN §1, §3).
//
//   svcgw -c FILE [--check] [-- EAL options]
//
// The main lcore runs the control thread: it owns the config, the service
// table's writer side and the neighbour table, and blocks in epoll (signalfd
// for SIGHUP/SIGTERM/SIGINT, timerfd for a 1 ms housekeeping tick); it never
// busy-polls. Every other lcore runs a data-plane worker (dataplane/worker.hpp).
#include <arpa/inet.h>
#include <net/if.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_version.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/hash.hpp"
#include "common/sd_notify.hpp"
#include "config/config.hpp"
#include "control/api.hpp"
#include "control/control_queue.hpp"
#include "control/health_overlay.hpp"
#include "control/server.hpp"
#include "control/snapshot_publisher.hpp"
#include "control/state.hpp"
#include "control/table_publisher.hpp"
#include "dataplane/worker.hpp"
#include "dns/tcp_server.hpp"
#include "fleet/announcer.hpp"
#include "gateway/control_tick.hpp"
#include "gateway/fleet_members.hpp"
#include "gateway/fleet_observer.hpp"
#include "gateway/memory_budget.hpp"
#include "gateway/worker_setup.hpp"
#include "health/checker.hpp"
#include "kube/feed.hpp"
#include "kube/feed_sync.hpp"
#include "port/eal_args.hpp"
#include "port/eal_log.hpp"
#include "port/exception_path.hpp"
#include "port/kernel_driver.hpp"
#include "port/neighbour.hpp"
#include "port/port.hpp"
#include "table/service.hpp"
#include "table/service_table.hpp"
#include "telemetry/collect.hpp"
#include "version.hpp"

namespace svcgw {
namespace {

// Any thread (the feed's reflectors log too): one line at a time.
__attribute__((format(printf, 1, 2))) void log(const char* format, ...) {
    flockfile(stderr);
    std::fputs("svcgw: ", stderr);
    va_list args;
    va_start(args, format);
    std::vfprintf(stderr, format, args);
    va_end(args);
    std::fputc('\n', stderr);
    funlockfile(stderr);
}

uint64_t now_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1'000'000;
}

void usage() {
    std::fprintf(stderr, "usage: svcgw -c FILE [--check] [-- EAL options] | svcgw --version\n");
}

// ---- reload rules -------------------------------------------------------

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
        a.fleet.probe != b.fleet.probe) {
        changed.push_back("fleet.members");  // the workers' member set and its probes
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

Result<Config, Errors> reload_config(const std::string& path, const Config& current) {
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
    (void)current;
    return std::move(*parsed);
}

std::set<uint32_t> vips_of(const Config& config) {
    std::set<uint32_t> vips;
    for (const ServiceConfig& s : config.services) {
        for (Ipv4 vip : served_vips(s)) {
            vips.insert(htonl(vip.value));
        }
    }
    return vips;
}

// ---- the daemon ---------------------------------------------------------

// The one place where "the service set changed" (file reload or API): the
// VIP table and the DNS zone, in one all-or-nothing step
// (control/snapshot_publisher.hpp).
using DaemonPublisher = SnapshotPublisher;

int64_t now_unix() {
    return static_cast<int64_t>(::time(nullptr));
}

// File descriptors besides the health probes' sockets: EAL, the port, the
// API and metrics servers' sockets and threads, epoll, signal and timer fds.
constexpr rlim_t kFdsBesideProbes = 256;

// The prober holds one socket per probe in flight; the soft RLIMIT_NOFILE
// (1024 under most shells and systemd) would not fit them beside the rest.
// Raised up to the hard limit, as a server needing many sockets does.
void raise_fd_limit(size_t probes) {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return;
    }
    const rlim_t wanted = std::min<rlim_t>(limit.rlim_max, probes + kFdsBesideProbes);
    if (limit.rlim_cur < wanted) {
        limit.rlim_cur = wanted;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
            log("cannot raise the open-file limit to %llu: %s",
                static_cast<unsigned long long>(wanted), std::strerror(errno));
        }
    }
}

// nat mode's reply index (table/reply_index.hpp): backend:targetPort keys,
// twice the VIP table's default 65536 keys (a port has backends; ~8 MiB of
// hash). Beyond it replies are translated by flows only (counted).
constexpr uint32_t kMaxReplyKeys = 131072;

// Route decisions are re-taken this often besides after every change: the
// data plane's liveness and a failed BIRD reload's retry need a clock.
constexpr uint64_t kFleetPeriodMs = 100;

class Daemon : public ControlBackend {
public:
    Daemon(std::string path, Config config, KernelDriver kernel_driver)
        : _path(std::move(path)), _config(std::move(config)), _kernel_driver(kernel_driver) {}
    ~Daemon() { shutdown(); }

    Result<void> start(unsigned workers);
    int run();

    // ControlBackend: called by API jobs on the control thread.
    ControlState& state() override { return *_state; }
    StatsSnapshot stats() override;
    std::vector<FlowSample> flows(size_t limit) override;
    ServiceHealth health(const std::string& key) override;
    fleet::Announcer* announcer() override { return _announcer.get(); }
    void refresh_announcements() override;
    std::vector<OriginEvent> events() override;

private:
    Result<void> start_feed();
    Result<void> open_exception_path();
    void from_kernel();
    void feed_schedule();
    void reload();
    void reload_file();
    // The service manager (systemd Type=notify): READY=1 with what is
    // served, RELOADING=1, STOPPING=1. A failed send is logged once.
    void tell_manager(const std::string& state);
    std::string ready_state() const;
    void announce(const std::set<uint32_t>& vips);
    void announce_new_vips();
    void shutdown();

    std::string _path;
    Config _config;
    KernelDriver _kernel_driver;  // the exception path's, as chosen before EAL started
    uint16_t _workers = 0;
    rte_rcu_qsbr* _qsbr = nullptr;
    std::unique_ptr<ServiceTable> _table;
    std::unique_ptr<ZonePublisher> _zones;        // the DNS zone the workers answer from
    std::unique_ptr<dns::DnsTcpServer> _dns_tcp;  // DNS over TCP, on this (the control) thread
    std::unique_ptr<DaemonPublisher> _publisher;
    std::unique_ptr<health::HealthChecker> _checker;  // probes (kernel sockets, this thread)
    std::unique_ptr<HealthOverlay> _health;           // the publisher ControlState uses
    std::unique_ptr<ControlState> _state;
    ControlQueue _queue;
    std::unique_ptr<ApiHandler> _api;
    std::unique_ptr<ApiServer> _api_server;
    std::unique_ptr<ApiServer> _metrics_server;
    Port _port;
    std::unique_ptr<NeighbourTable> _neighbours;
    std::unique_ptr<FleetMembers> _members;  // fleet.members: fullnat owner redirect
    std::unique_ptr<WorkerRings> _rings;
    WorkerContext _context;
    std::unique_ptr<ControlTick> _tick;
    std::unique_ptr<ExceptionPath> _exception;  // ports[0].kernel_interface
    std::vector<std::unique_ptr<Worker>> _worker_objects;
    std::atomic<bool> _stop{false};
    std::set<uint32_t> _announced;                 // VIPs announced with a gratuitous ARP
    std::unique_ptr<fleet::Announcer> _announcer;  // fleet.announce: routes BIRD exports
    FleetObserver _fleet_observer;
    uint64_t _fleet_next_ms = 0;                 // the next periodic announcement decision
    std::unique_ptr<kube::FeedSync> _feed_sync;  // control thread side of the feed
    std::unique_ptr<kube::Feed> _feed;           // reflector threads (kubernetes.enabled)
    int _feed_timer = -1;                        // the feed's batch window
    bool _launched = false;
    bool _shut_down = false;
    bool _notify_failed = false;  // logged once; the daemon serves on regardless
};

// Where the tables went: the budget's parts and the EAL heap's use, so an
// operator sizing memory_mb sees what a run really takes.
void log_memory(const Config& config, uint16_t workers) {
    const MemoryBudget b = memory_budget(config, workers);
    rte_malloc_socket_stats heap{};
    rte_malloc_get_socket_stats(static_cast<int>(rte_socket_id()), &heap);
    constexpr double kMiB = 1 << 20;
    log("memory: flow tables %.1f MB and affinity %.1f MB %s, packet buffers %.1f MB; EAL heap "
        "in use %.1f of %.1f MB (dpdk.memory_mb %u)",
        static_cast<double>(b.flow_tables) / kMiB, static_cast<double>(b.affinity_tables) / kMiB,
        rte_eal_has_hugepages() ? "on the EAL heap (hugepages)"
                                : "in process memory (no hugepages: transparent huge pages asked)",
        static_cast<double>(b.packet_buffers) / kMiB,
        static_cast<double>(heap.heap_allocsz_bytes) / kMiB,
        static_cast<double>(heap.heap_totalsz_bytes) / kMiB, config.dpdk.memory_mb);
}

int worker_main(void* arg) {
    static_cast<Worker*>(arg)->run();
    return 0;
}

Result<void> Daemon::start(unsigned workers) {
    _workers = static_cast<uint16_t>(workers);
    size_t qsbr_size = rte_rcu_qsbr_get_memsize(_workers);
    _qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("qsbr", qsbr_size, RTE_CACHE_LINE_SIZE));
    if (_qsbr == nullptr || rte_rcu_qsbr_init(_qsbr, _workers) != 0) {
        return fail("", "cannot create the RCU QSBR variable");
    }
    ServiceTableOptions table_options;
    if (_config.forwarding == ForwardingMode::nat) {
        // A fleet's replies may reach an instance without the flow
        // (table/reply_index.hpp); fullnat replies always reach the SNAT
        // address's owner.
        table_options.max_reply_keys = kMaxReplyKeys;
    }
    auto table = ServiceTable::create(_qsbr, table_options);
    if (!table) {
        return Unexpected<Error>{table.error()};
    }
    _table = std::move(*table);
    for (size_t i = 0; i < _config.services.size(); ++i) {
        auto done = _table->upsert(_config.services[i], _config.maglev);
        if (!done) {
            Error e = done.error();
            e.path = "services[" + std::to_string(i) + "]" + (e.path.empty() ? "" : "." + e.path);
            return Unexpected<Error>{e};
        }
    }

    // The first zone, from the same service set as the table, before any
    // worker runs: until then the pointer is null (SERVFAIL, never
    // NXDOMAIN). Serials start at the Unix time so a restart does not go back.
    _zones = std::make_unique<ZonePublisher>(_config.dns, _config.network.service_cidr, _qsbr,
                                             static_cast<uint32_t>(now_unix()));
    // With the Kubernetes feed, DNS waits for the cluster's first complete
    // list (SERVFAIL until then, never a premature NXDOMAIN).
    const bool dns_now = !_config.kubernetes.enabled;
    if (dns_now) {
        auto zone = _zones->publish_all(_config.services);
        if (!zone) {
            return Unexpected<Error>{zone.error().front()};
        }
        const ZoneStats zs = _zones->stats();
        log("dns: %s:53 (udp: workers, tcp: control thread), zone %s: %llu names, %llu "
            "records, serial %u, built in %.1f ms",
            _config.dns.cluster_ip.str().c_str(), _config.dns.domain.c_str(),
            static_cast<unsigned long long>(zs.nodes), static_cast<unsigned long long>(zs.records),
            zs.serial, static_cast<double>(zs.last_build_us) / 1000.0);
    }
    // DNS over TCP (RFC 7766): the kernel terminates it (the exception path
    // hands it the frames to dns.cluster_ip:53); answered on this thread from
    // the zone it publishes. IP_FREEBIND: the address may not be on an
    // interface of this namespace yet.
    dns::TcpOptions tcp_options;
    tcp_options.freebind = true;
    auto tcp = dns::DnsTcpServer::listen(
        _config.dns.cluster_ip, dns::kDnsPort, [this] { return _zones->live(); }, tcp_options);
    if (!tcp) {
        Error e = tcp.error();
        e.path = "dns.cluster_ip";
        return Unexpected<Error>{e};
    }
    _dns_tcp = std::move(*tcp);
    _publisher = std::make_unique<DaemonPublisher>(
        TablePublisher(*_table, _config.services, _config.maglev), *_zones, dns_now);
    // Health checks overlay every publish (control/health_overlay.hpp); the
    // table built so far has no verdicts yet, and new targets start up.
    raise_fd_limit(health::kDefaultMaxInFlight);
    auto checker = health::HealthChecker::create();
    if (!checker) {
        return Unexpected<Error>{checker.error()};
    }
    _checker = std::move(*checker);
    _health = std::make_unique<HealthOverlay>(
        *_publisher, *_checker, *_table, [](const std::string& line) { log("%s", line.c_str()); });
    _health->start(_config.services);
    _state = std::make_unique<ControlState>(_config, *_health, now_unix());
    _api = std::make_unique<ApiHandler>(_queue);
    // Refused at start-up (before any port is touched): a TCP API without a token.
    auto api = ApiServer::start(_config.api.listen, _config.api.token_file, *_api, ServerRole::api);
    if (!api) {
        return Unexpected<Error>{api.error()};
    }
    _api_server = std::move(*api);
    auto metrics = ApiServer::start(_config.metrics.listen, "", *_api, ServerRole::metrics);
    if (!metrics) {
        return Unexpected<Error>{metrics.error()};
    }
    _metrics_server = std::move(*metrics);
    log("api on %s, metrics on %s", _config.api.listen.c_str(), _config.metrics.listen.c_str());
    if (_config.fleet.announce) {
        auto announcer =
            fleet::Announcer::start(_config.fleet, fleet::Announcer::bird_reload(_config.fleet));
        if (!announcer) {
            return Unexpected<Error>{announcer.error()};
        }
        _announcer = std::move(*announcer);
        log("fleet: routes in %s, BIRD at %s, generation %llu%s", _config.fleet.routes_file.c_str(),
            _config.fleet.bird_socket.c_str(),
            static_cast<unsigned long long>(_config.fleet.generation),
            _announcer->status().draining ? ", drained (fleet.drain_file is present)" : "");
    }

    auto snat_ports = snat_port_range(_config);
    if (!snat_ports) {
        return Unexpected<Error>{snat_ports.error()};
    }
    // The exception path's rings hold mbufs too (two per worker), and so
    // does its ethdev when the driver is one.
    const bool punt = !_config.ports[0].kernel_interface.empty();
    const uint32_t punt_mbufs =
        punt ? 2u * _workers * kPuntRingSize +
                   (kernel_driver_is_ethdev(_kernel_driver) ? kExceptionEthdevMbufs : 0)
             : 0;
    uint32_t mbufs =
        mempool_size(_workers, kHandoffRingSize, kHoldCapacity, kControlRingSize + punt_mbufs);
    auto port = open_port(_config.ports[0], _workers, mbufs);
    if (!port) {
        return Unexpected<Error>{port.error()};
    }
    _port = std::move(*port);
    log("port %s: ethdev %u, mac %s, %s/%u, %u queue(s), %s, %u mbufs", _port.name.c_str(),
        _port.port_id, mac_str(_port.mac).c_str(), _port.address.address.str().c_str(),
        _port.address.length, _port.queues,
        _port.rss ? "RSS" : (_workers > 1 ? "no RSS: software ownership + handoff" : "one worker"),
        mbufs);

    _neighbours = std::make_unique<NeighbourTable>(_port.address, _qsbr);
    auto rings = WorkerRings::create(_workers, "", punt);
    if (!rings) {
        return Unexpected<Error>{rings.error()};
    }
    _rings = std::move(*rings);
    _context = make_worker_context(
        _config, _port, _workers, *_rings,
        WorkerShared{_table.get(), _qsbr, &_neighbours->view(), &_zones->current(), &_stop},
        *snat_ports);
    if (!_config.fleet.members.empty()) {
        auto members =
            FleetMembers::create(_config.fleet, _config.maglev.seed, _qsbr, *_neighbours,
                                 [](const std::string& line) { log("%s", line.c_str()); });
        if (!members) {
            return Unexpected<Error>{members.error()};
        }
        _members = std::move(*members);
        _context.members = &_members->current();
        log("fleet: owner redirect over %zu members (self %s), probes to port %u every %u ms",
            _config.fleet.members.size(), _config.fleet.self.c_str(), _config.fleet.probe.port,
            _config.fleet.probe.interval_ms);
    }
    if (_context.mode == NatMode::fullnat && !(*snat_ports == PortRange{})) {
        log("snat: ports %u-%u on the port address; the kernel's ephemeral ports are its own",
            snat_ports->lo, snat_ports->hi);
    }
    _tick = std::make_unique<ControlTick>(_context, *_neighbours, [this] {
        _table->reclaim();
        _zones->reclaim();
    });
    if (punt) {
        if (auto opened = open_exception_path(); !opened) {
            return opened;
        }
    }

    for (uint16_t i = 0; i < _workers; ++i) {
        try {
            _worker_objects.push_back(std::make_unique<Worker>(_context, i));
        } catch (const std::bad_alloc&) {
            return fail("dpdk.memory_mb", "the EAL heap cannot hold worker " + std::to_string(i) +
                                              "'s flow table (see svcgw --check)");
        }
        if (_port.rss) {
            _worker_objects.back()->enable_rss_steering(_port.reta);
        }
    }
    uint16_t index = 0;
    unsigned lcore = 0;
    RTE_LCORE_FOREACH_WORKER(lcore) {
        int rc = rte_eal_remote_launch(worker_main, _worker_objects[index].get(), lcore);
        if (rc != 0) {
            _stop.store(true, std::memory_order_release);
            return fail("dpdk.lcores", "cannot launch worker on lcore " + std::to_string(lcore));
        }
        log("worker %u on lcore %u", index, lcore);
        ++index;
    }
    _launched = true;
    log_memory(_config, _workers);
    if (auto feed = start_feed(); !feed) {
        return feed;
    }

    // Announce ourselves so that neighbours update stale caches at once.
    _announced = vips_of(_config);
    std::set<uint32_t> addresses = _announced;
    addresses.insert(_context.address_be);
    announce(addresses);
    refresh_announcements();
    log("running: %zu services, forwarding %s, idle %s", _state->records().size(),
        _config.forwarding == ForwardingMode::fullnat ? "fullnat" : "nat",
        _config.dpdk.idle == IdleMode::adaptive ? "adaptive" : "poll");
    return {};
}

// The port's kernel interface: its address and MAC, the cluster DNS
// address for DNS over TCP, and the port's gateway as the kernel's default
// route.
Result<void> Daemon::open_exception_path() {
    ExceptionPathSetup setup;
    setup.interface = _config.ports[0].kernel_interface;
    setup.driver = _kernel_driver;
    setup.pool = _port.pool;
    setup.mac = _port.mac;
    setup.address = _port.address;
    setup.gateway = _port.gateway;
    if (_config.dns.cluster_ip.value != 0) {
        setup.host_addresses.push_back(_config.dns.cluster_ip);
    }
    uint16_t mtu = 0;
    if (rte_eth_dev_get_mtu(_port.port_id, &mtu) == 0 && mtu != 0) {
        setup.mtu = mtu;
    }
    auto opened = ExceptionPath::open(setup);
    if (!opened) {
        return Unexpected<Error>{opened.error()};
    }
    _exception = std::move(*opened);
    log("exception path: %s over %s (%s, mac %s, mtu %u), punt %u pps (control %u pps, burst "
        "%u)",
        setup.interface.c_str(), kernel_driver_name(setup.driver), _port.address.str().c_str(),
        mac_str(_port.mac).c_str(), setup.mtu, _config.punt.rate_pps, _config.punt.control_rate_pps,
        _config.punt.burst);
    return {};
}

// What the kernel sends leaves through worker 0, as our ARP does.
void Daemon::from_kernel() {
    _exception->from_kernel(
        _port.pool, [this](rte_mbuf* m) { return rte_ring_enqueue(_context.control_tx, m) == 0; });
}

Result<void> Daemon::start_feed() {
    const KubernetesConfig& k = _config.kubernetes;
    if (!k.enabled) {
        return {};
    }
    auto access = kube::cluster_access(k.kubeconfig);
    if (!access) {
        return Unexpected<Error>{access.error()};
    }
    kube::Selection selection{k.cluster_ips, k.load_balancer_class, k.default_class,
                              k.service_proxy_name, k.backends};
    // Nodes too: any Service may ask for NodePort backends (annotation).
    _feed_sync = std::make_unique<kube::FeedSync>(
        selection,
        std::set<kube::Kind>{kube::Kind::service, kube::Kind::endpoint_slice, kube::Kind::node},
        k.batch_window_ms, [](const std::string& line) { log("%s", line.c_str()); });
    kube::FeedOptions options;
    options.access = *access;
    options.nodes = true;
    // kube-proxy's list filter: unlabelled Services, or only ours when named.
    options.service_label_selector =
        k.service_proxy_name.empty()
            ? "!" + std::string(kube::kServiceProxyNameLabel)
            : std::string(kube::kServiceProxyNameLabel) + "=" + k.service_proxy_name;
    options.watch_timeout_s = k.watch_timeout_s;
    options.backoff_max_ms = k.backoff_max_ms;
    options.log = [](const std::string& line) { log("%s", line.c_str()); };
    _feed_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (_feed_timer < 0) {
        return fail("kubernetes", std::string("timerfd: ") + std::strerror(errno));
    }
    auto feed = kube::Feed::start(options);
    if (!feed) {
        return Unexpected<Error>{feed.error()};
    }
    _feed = std::move(*feed);
    _feed_sync->set_status_sink(_feed->status_writer());
    log("kubernetes: following %s (%s), DNS waits for the first complete list",
        access->server().c_str(), access->source.c_str());
    return {};
}

// Hands what the reflectors decoded to the model and publishes when due;
// arms the batch timer when a publish has to wait for the window.
void Daemon::feed_schedule() {
    auto wait = _feed_sync->poll(*_state, std::chrono::steady_clock::now(), now_unix());
    if (_feed_sync->take_first_sync()) {
        auto live = _publisher->go_live(_state->config().services);
        if (!live) {
            log("dns: zone build failed: %s", live.error().front().str().c_str());
        } else {
            const ZoneStats zs = _zones->stats();
            log("dns: %s:53 live after the first list: %llu names, serial %u",
                _config.dns.cluster_ip.str().c_str(), static_cast<unsigned long long>(zs.nodes),
                zs.serial);
        }
    }
    announce_new_vips();
    refresh_announcements();
    if (wait) {
        itimerspec once{{0, 0},
                        {static_cast<time_t>(*wait / 1000), long(*wait % 1000) * 1'000'000}};
        timerfd_settime(_feed_timer, 0, &once, nullptr);
    }
}

void Daemon::announce(const std::set<uint32_t>& addresses) {
    for (uint32_t ip_be : addresses) {
        _tick->announce(ip_be);
    }
}

void Daemon::tell_manager(const std::string& state) {
    auto told = notify_manager(state);
    if (!told && !_notify_failed) {
        _notify_failed = true;
        log("cannot notify the service manager: %s", told.error().str().c_str());
    }
}

std::string Daemon::ready_state() const {
    return "READY=1\nSTATUS=serving " + std::to_string(_state->records().size()) +
           " services, tables digest " + digest_str(tables_digest(_table->services()));
}

// SIGHUP. The manager sees the reload begin and end, accepted or not
// (a rejected file leaves the gateway serving as before: ready).
void Daemon::reload() {
    tell_manager(reloading_state());
    reload_file();
    tell_manager(ready_state());
}

void Daemon::reload_file() {
    auto loaded = reload_config(_path, _config);
    if (!loaded) {
        for (const Error& e : loaded.error()) {
            log("reload: %s", e.str().c_str());
        }
        log("reload: rejected, configuration unchanged");
        return;
    }
    Config next = std::move(*loaded);
    auto fixed = fixed_sections_changed(_config, next);
    if (!fixed.empty()) {
        std::string names;
        for (const auto& s : fixed) {
            names += (names.empty() ? "" : ", ") + s;
        }
        log("reload: %s: not reloadable (restart to apply); configuration unchanged",
            names.c_str());
        return;
    }
    // The file's services replace the file-owned ones; API-created
    // services stay (control/state.hpp, README "Reload and the API").
    auto done = _state->reload(next, now_unix());
    if (!done) {
        for (const Error& e : done.error()) {
            log("reload: %s", e.str().c_str());
        }
        log("reload: rejected, configuration unchanged");
        return;
    }
    // Kubernetes objects of the file are taken one by one (lib/config).
    for (const std::string& line : warning_lines(next)) {
        log("reload: %s", line.c_str());
    }
    for (const std::string& line : skipped_lines(done->skipped)) {
        log("reload: %s", line.c_str());
    }
    next.services.clear();  // the running set lives in _state
    next.endpoint_slices.clear();
    next.skipped.clear();
    _config = std::move(next);
    announce_new_vips();
    refresh_announcements();
    const ZoneStats zs = _zones->stats();
    log("reload: %zu services (%zu added, %zu changed, %zu removed, %zu objects left out), dns "
        "zone serial %u",
        _state->records().size(), done->added, done->changed, done->removed, done->skipped.size(),
        zs.serial);
}

void Daemon::announce_new_vips() {
    std::set<uint32_t> now = vips_of(_state->config());
    std::set<uint32_t> fresh;
    for (uint32_t vip : now) {
        if (!_announced.contains(vip)) {
            fresh.insert(vip);
        }
    }
    _announced = std::move(now);
    announce(fresh);
}

// Route health injection: decides what to announce from what the gateway
// observes now and pushes a changed decision to BIRD (lib/fleet).
void Daemon::refresh_announcements() {
    if (_announcer == nullptr) {
        return;
    }
    const uint64_t now = now_ms();
    _fleet_next_ms = now + kFleetPeriodMs;
    std::vector<Worker*> workers;
    for (const auto& w : _worker_objects) {
        workers.push_back(w.get());
    }
    const fleet::FleetStatus before = _announcer->status();
    _announcer->update(_fleet_observer.observe(*_table, workers, _config, now), now, now_unix());
    const fleet::FleetStatus after = _announcer->status();
    if (after.bird_failures != before.bird_failures &&
        after.bird_last_error != before.bird_last_error) {
        log("fleet: BIRD did not take the routes (retrying every %llu ms): %s",
            static_cast<unsigned long long>(fleet::Announcer::kRetryMs),
            after.bird_last_error.c_str());
    }
    if (after.bird_reloads != before.bird_reloads) {
        size_t announced = 0;
        for (const fleet::Route& r : after.routes) {
            announced += r.announced() ? 1 : 0;
        }
        log("fleet: BIRD announces %zu of %zu routes%s%s", announced, after.routes.size(),
            after.draining ? " (draining)" : "", after.data_plane_up ? "" : " (data plane down)");
    }
}

StatsSnapshot Daemon::stats() {
    std::vector<const Worker*> workers;
    std::vector<FlowCensus> census;
    for (const auto& w : _worker_objects) {
        workers.push_back(w.get());
        census.push_back(w->census());
    }
    StatsSnapshot s = collect_stats(*_table, workers, census);
    if (_feed != nullptr) {
        s.kubernetes = feed_stats(*_feed, *_feed_sync);
    }
    _health->fill(s);
    if (_members != nullptr) {
        s.fleet_members = member_stats(_members->set(), _members->changes());
    }
    if (_exception != nullptr) {
        const ExceptionPathStats& e = _exception->stats();
        s.exception_path = ExceptionPathView{
            true,          _exception->interface(), e.to_kernel,         e.to_kernel_failed,
            e.from_kernel, e.from_kernel_kept,      e.from_kernel_failed};
    }
    return s;
}

ServiceHealth Daemon::health(const std::string& key) {
    return ServiceHealth{_health->status(key), _health->events(key)};
}

std::vector<OriginEvent> Daemon::events() {
    if (!_feed_sync) {
        return {};
    }
    const auto& recent = _feed_sync->events();
    return {recent.begin(), recent.end()};
}

std::vector<FlowSample> Daemon::flows(size_t limit) {
    std::vector<FlowCensus> census;
    for (const auto& w : _worker_objects) {
        census.push_back(w->census());
    }
    return flow_samples(census, limit);
}

int Daemon::run() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    int sfd = signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    int efd = epoll_create1(EPOLL_CLOEXEC);
    if (sfd < 0 || tfd < 0 || efd < 0) {
        log("cannot set up epoll/signalfd/timerfd: %s", std::strerror(errno));
        return 1;
    }
    itimerspec period{{0, kControlTickNs}, {0, kControlTickNs}};
    timerfd_settime(tfd, 0, &period, nullptr);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = sfd;
    epoll_ctl(efd, EPOLL_CTL_ADD, sfd, &ev);
    ev.data.fd = tfd;
    epoll_ctl(efd, EPOLL_CTL_ADD, tfd, &ev);
    ev.data.fd = _queue.fd();
    epoll_ctl(efd, EPOLL_CTL_ADD, _queue.fd(), &ev);
    if (_feed != nullptr) {
        ev.data.fd = _feed->fd();
        epoll_ctl(efd, EPOLL_CTL_ADD, _feed->fd(), &ev);
        ev.data.fd = _feed_timer;
        epoll_ctl(efd, EPOLL_CTL_ADD, _feed_timer, &ev);
    }
    ev.data.fd = _dns_tcp->fd();
    epoll_ctl(efd, EPOLL_CTL_ADD, _dns_tcp->fd(), &ev);
    ev.data.fd = _checker->fd();
    epoll_ctl(efd, EPOLL_CTL_ADD, _checker->fd(), &ev);
    if (_members != nullptr) {
        ev.data.fd = _members->fd();
        epoll_ctl(efd, EPOLL_CTL_ADD, _members->fd(), &ev);
        _members->run(health::now_us());  // the first probes
    }
    if (_exception != nullptr && _exception->fd() >= 0) {
        ev.data.fd = _exception->fd();
        epoll_ctl(efd, EPOLL_CTL_ADD, _exception->fd(), &ev);
    }

    // Ready: the port is up, the workers poll, the API and DNS answer.
    tell_manager(ready_state());
    bool running = true;
    while (running) {
        epoll_event events[4];
        int n = epoll_wait(efd, events, 4, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            log("epoll_wait: %s", std::strerror(errno));
            break;
        }
        for (int i = 0; i < n; ++i) {
            if (events[i].data.fd == tfd) {
                uint64_t expirations = 0;
                (void)!read(tfd, &expirations, sizeof expirations);
                const uint64_t now = now_ms();
                _tick->run(now);
                if (_members != nullptr) {
                    _members->tick(now);
                }
                if (_exception != nullptr) {
                    _exception->to_kernel(_rings->punt_control, _rings->punt_other);
                    if (_exception->fd() < 0) {
                        from_kernel();  // an ethdev: polled, it has no descriptor
                    }
                }
                if (now >= _fleet_next_ms) {
                    refresh_announcements();
                }
                continue;
            }
            if (_exception != nullptr && events[i].data.fd == _exception->fd()) {
                from_kernel();
                continue;
            }
            if (_members != nullptr && events[i].data.fd == _members->fd()) {
                _members->run(health::now_us());
                continue;
            }
            if (events[i].data.fd == _checker->fd()) {
                _health->run(*_state);  // verdicts; a crossed rise/fall republishes
                refresh_announcements();
                continue;
            }
            if (_feed != nullptr && events[i].data.fd == _feed->fd()) {
                _feed_sync->receive(_feed->take());
                if (kube::StatusWriter* w = _feed->status_writer(); w != nullptr) {
                    _feed_sync->status_written(w->take_outcomes(), now_unix());
                }
                feed_schedule();
                continue;
            }
            if (_feed != nullptr && events[i].data.fd == _feed_timer) {
                uint64_t expirations = 0;
                (void)!read(_feed_timer, &expirations, sizeof expirations);
                feed_schedule();
                continue;
            }
            if (events[i].data.fd == _dns_tcp->fd()) {
                _dns_tcp->poll();  // reads the zone this thread publishes
                continue;
            }
            if (events[i].data.fd == _queue.fd()) {
                // API jobs: complete requests, answered without waiting on a client.
                _queue.drain(*this);
                announce_new_vips();
                refresh_announcements();
                continue;
            }
            signalfd_siginfo info{};
            while (read(sfd, &info, sizeof info) == sizeof info) {
                if (info.ssi_signo == SIGHUP) {
                    reload();
                } else {
                    log("signal %u: stopping", info.ssi_signo);
                    tell_manager("STOPPING=1");
                    running = false;
                }
            }
        }
    }
    close(efd);
    close(tfd);
    close(sfd);
    return 0;
}

void Daemon::shutdown() {
    if (_shut_down) {
        return;
    }
    _shut_down = true;
    if (_announcer != nullptr) {
        // Withdraw before the data plane stops; drain first to keep flows.
        if (auto done = _announcer->withdraw_all(); !done) {
            log("fleet: cannot withdraw the routes: %s", done.error().str().c_str());
        }
        _announcer.reset();
    }
    _feed.reset();  // joins the reflector threads
    if (_feed_timer >= 0) {
        close(_feed_timer);
        _feed_timer = -1;
    }
    _metrics_server.reset();  // no new jobs; pending ones time out
    _api_server.reset();
    // Release: pairs with the workers' acquire load of the stop flag.
    _stop.store(true, std::memory_order_release);
    if (_launched) {
        rte_eal_mp_wait_lcore();
    }
    for (const auto& worker : _worker_objects) {
        const WorkerCounters& c = worker->counters();
        std::string line;
        for (size_t e = 0; e < kWorkerEventNames.size(); ++e) {
            uint64_t v = c.get(static_cast<WorkerEvent>(e));
            if (v != 0) {
                line += " " + std::string(kWorkerEventNames[e]) + "=" + std::to_string(v);
            }
        }
        for (size_t d = 0; d < kDropReasonNames.size(); ++d) {
            uint64_t v = c.get(static_cast<DropReason>(d));
            if (v != 0) {
                line += " drop." + std::string(kDropReasonNames[d]) + "=" + std::to_string(v);
            }
        }
        log("worker %u:%s", worker->index(), line.c_str());
    }
    _worker_objects.clear();  // frees held frames and flow tables
    if (_exception != nullptr) {
        const ExceptionPathStats& e = _exception->stats();
        log("exception path %s: to kernel %llu (%llu refused), from kernel %llu (%llu kept, %llu "
            "lost)",
            _exception->interface().c_str(), static_cast<unsigned long long>(e.to_kernel),
            static_cast<unsigned long long>(e.to_kernel_failed),
            static_cast<unsigned long long>(e.from_kernel),
            static_cast<unsigned long long>(e.from_kernel_kept),
            static_cast<unsigned long long>(e.from_kernel_failed));
        _exception.reset();  // removes the kernel interface
    }
    _tick.reset();
    _rings.reset();    // frees frames left in the rings
    _members.reset();  // the workers are gone: no reader of its member sets
    _neighbours.reset();
    if (_dns_tcp != nullptr) {
        const dns::TcpStats t = _dns_tcp->stats();
        log("dns/tcp: %llu connections (%llu refused at the limit, %llu idle-closed), %llu queries",
            static_cast<unsigned long long>(t.accepted), static_cast<unsigned long long>(t.refused),
            static_cast<unsigned long long>(t.closed_idle),
            static_cast<unsigned long long>(_dns_tcp->dns_counters()[dns::Counter::queries]));
        _dns_tcp.reset();
    }
    _state.reset();
    _health.reset();
    _checker.reset();
    _publisher.reset();
    _zones.reset();  // workers are stopped: no reader left
    _table.reset();
    close_port(_port);
    rte_free(_qsbr);
    _qsbr = nullptr;
}

// Workers the lcore list asks for (the main lcore runs the control thread);
// build_eal_args refuses a list without one.
uint16_t configured_workers(const Config& config) {
    const size_t lcores = parse_lcore_list(config.dpdk.lcores).size();
    return static_cast<uint16_t>(lcores > 1 ? lcores - 1 : 1);
}

// The exception path's driver for ports[0] (port/kernel_driver.hpp); tap
// (unused) without a kernel_interface.
Result<KernelDriverChoice> choose_exception_driver(const Config& config) {
    if (config.ports.empty() || config.ports[0].kernel_interface.empty()) {
        return KernelDriverChoice{KernelDriver::tap, "no kernel_interface"};
    }
    return choose_kernel_driver(config.ports[0].kernel_driver);
}

// Exit 1 when the daemon would refuse the file, and also when it would
// leave Kubernetes objects out (it would start without them): a pre-flight
// check must not pass over what will not run. Warnings alone: 0.
int check_only(const std::string& path) {
    auto config = load_config_file(path);
    if (!config) {
        for (const Error& e : config.error()) {
            std::fprintf(stderr, "%s\n", e.str().c_str());
        }
        return 1;
    }
    if (auto fits = check_memory_budget(*config, configured_workers(*config)); !fits) {
        std::fprintf(stderr, "%s\n", fits.error().str().c_str());
        return 1;
    }
    // The host side of the exception path, as the daemon decides it.
    if (auto kernel = choose_exception_driver(*config); !kernel) {
        std::fprintf(stderr, "%s: %s\n", path.c_str(), kernel.error().str().c_str());
        return 1;
    }
    for (const std::string& line : warning_lines(*config)) {
        std::fprintf(stderr, "%s\n", line.c_str());
    }
    for (const std::string& line : skipped_lines(config->skipped)) {
        std::fprintf(stderr, "%s\n", line.c_str());
    }
    if (!config->skipped.empty()) {
        std::printf("%s: %zu Kubernetes objects would be left out, the rest loads\n", path.c_str(),
                    config->skipped.size());
        return 1;
    }
    // The digest a gateway serving exactly this file exports
    // (svcgw_tables_digest_info): compare it across a fleet before a rollout.
    std::vector<std::unique_ptr<const Service>> built;
    std::vector<const Service*> services;
    for (size_t i = 0; i < config->services.size(); ++i) {
        auto svc = Service::build(config->services[i], config->maglev);
        if (!svc) {
            std::fprintf(stderr, "%s: services[%zu]: %s\n", path.c_str(), i,
                         svc.error().str().c_str());
            return 1;
        }
        services.push_back(svc->get());
        built.push_back(std::move(*svc));
    }
    std::printf("%s: ok (%zu services, tables digest %s)\n", path.c_str(), services.size(),
                digest_str(tables_digest(services)).c_str());
    return 0;
}

int daemon_main(int argc, char** argv) {
    std::string path;
    bool check = false;
    std::vector<std::string> trailing;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--") {
            trailing.assign(argv + i + 1, argv + argc);
            break;
        }
        if ((arg == "-c" || arg == "--config") && i + 1 < argc) {
            path = argv[++i];
        } else if (arg == "--check") {
            check = true;
        } else if (arg == "--version") {
            // The DPDK it runs on: PMD behaviour differs between releases.
            std::printf("svcgw %s (%s), %s\n", SVCGW_VERSION, SVCGW_COMMIT, rte_version());
            return 0;
        } else if (arg == "-h" || arg == "--help") {
            usage();
            return 0;
        } else {
            usage();
            return 2;
        }
    }
    if (path.empty()) {
        usage();
        return 2;
    }
    if (check) {
        return check_only(path);
    }

    auto loaded = load_config_file(path);
    if (!loaded) {
        for (const Error& e : loaded.error()) {
            log("%s", e.str().c_str());
        }
        return 1;
    }
    Config config = std::move(*loaded);
    for (const std::string& line : warning_lines(config)) {
        log("%s", line.c_str());
    }
    for (const std::string& line : skipped_lines(config.skipped)) {
        log("%s", line.c_str());
    }
    if (config.ports.size() != 1) {
        log("%s: ports: exactly one port is supported (got %zu)", path.c_str(),
            config.ports.size());
        return 1;
    }
    // The config's own limits before the host's: as --check says.
    if (auto fits = check_memory_budget(config, configured_workers(config)); !fits) {
        log("%s: %s", path.c_str(), fits.error().str().c_str());
        return 1;
    }
    // A missing interface or an unbound PCI device fails here, with its
    // fix, rather than as an EAL probe error.
    if (auto present = check_port_device(config.ports[0], HostView{"/sys", if_nametoindex});
        !present) {
        log("%s: %s", path.c_str(), present.error().str().c_str());
        return 1;
    }
    auto kernel = choose_exception_driver(config);
    if (!kernel) {
        log("%s: %s", path.c_str(), kernel.error().str().c_str());
        return 1;
    }
    if (!config.ports[0].kernel_interface.empty()) {
        log("exception path: %s over %s (%s)", config.ports[0].kernel_interface.c_str(),
            kernel_driver_name(kernel->driver), kernel->reason.c_str());
    }
    auto eal_args = build_eal_args(config, probe_hugepages(), trailing);
    if (!eal_args) {
        log("%s: %s", path.c_str(), eal_args.error().str().c_str());
        return 1;
    }
    std::string joined;
    for (const auto& a : *eal_args) {
        joined += " " + a;
    }
    log("EAL:%s", joined.c_str());

    // Block the signals before EAL creates its threads (they inherit the
    // mask), so only the control thread's signalfd sees them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    std::vector<char*> eal_argv;
    for (auto& a : *eal_args) {
        eal_argv.push_back(a.data());
    }
    eal_argv.push_back(nullptr);
    eal_log::install();
    if (rte_eal_init(static_cast<int>(eal_argv.size() - 1), eal_argv.data()) < 0) {
        // rte_errno is often left at 0 ("Success"): the cause is in EAL's log.
        const int error = rte_errno;
        const std::string cause = eal_log::cause();
        log("%s: dpdk: EAL initialisation failed: %s%s%s", path.c_str(),
            error != 0 ? rte_strerror(error) : "", error != 0 && !cause.empty() ? ": " : "",
            cause.c_str());
        return 1;
    }
    unsigned workers = rte_lcore_count() - 1;
    if (workers == 0) {
        log("dpdk.lcores: no worker lcore");
        rte_eal_cleanup();
        return 1;
    }
    int rc = 0;
    std::string failure;
    {
        Daemon daemon(path, std::move(config), kernel->driver);
        auto started = daemon.start(workers);
        if (!started) {
            failure = started.error().str();
            rc = 1;
        } else {
            rc = daemon.run();
        }
    }
    rte_eal_cleanup();
    if (!failure.empty()) {
        // Last, after the shutdown's summary lines: a supervisor shows the
        // final line, and that must be the cause.
        log("%s: %s", path.c_str(), failure.c_str());
        return rc;
    }
    log("stopped");
    return rc;
}

}  // namespace
}  // namespace svcgw

int main(int argc, char** argv) {
    return svcgw::daemon_main(argc, argv);
}
