// The daemon's start-up and shut-down: the VIP table, the DNS zone, the
// publisher and the health overlay over them, the API, the port, the
// workers, the exception path and the Kubernetes feed; torn down in the
// reverse order, workers stopped before anything they read is freed.
#include "daemon.hpp"

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <sys/resource.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "gateway/memory_budget.hpp"
#include "log.hpp"
#include "reload_rules.hpp"

namespace svcgw::app {
namespace {

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

}  // namespace

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
    _zones = std::make_unique<ZoneVersions>(_config.dns, _config.network.service_cidr, _qsbr,
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
    _publisher =
        std::make_unique<SnapshotPublisher>(*_table, _config.maglev, _zones.get(), dns_now);
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
        if (_config.fleet.membership == FleetMembership::probes) {
            log("fleet: owner redirect over %zu members (self %s), probes to port %u every %u ms",
                _config.fleet.members.size(), _config.fleet.self.c_str(), _config.fleet.probe.port,
                _config.fleet.probe.interval_ms);
        } else {
            log("fleet: owner redirect over %zu members (self %s), liveness from their Leases",
                _config.fleet.members.size(), _config.fleet.self.c_str());
        }
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
    if (auto leases = start_leases(); !leases) {
        return leases;
    }

    // Announce ourselves so that neighbours update stale caches at once.
    _announced = vips_of(_state->records());
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
    _leases.reset();  // joins its thread, then releases our Lease (peers stop redirecting)
    _feed.reset();    // joins the reflector threads
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
                line.append(" ").append(kWorkerEventNames[e]).append("=").append(std::to_string(v));
            }
        }
        for (size_t d = 0; d < kDropReasonNames.size(); ++d) {
            uint64_t v = c.get(static_cast<DropReason>(d));
            if (v != 0) {
                line.append(" drop.")
                    .append(kDropReasonNames[d])
                    .append("=")
                    .append(std::to_string(v));
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

}  // namespace svcgw::app
