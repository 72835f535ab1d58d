// svcgw's data plane in-process, for svcgw-pktgen's ring link and for
// perf/bench_worker.cpp: the objects the daemon builds, built by the same
// functions (RCU variable, VIP table, neighbour table, WorkerRings,
// make_worker_context, Workers, ControlTick), on a net_ring ethdev made of
// rte_rings this harness owns, so the caller plays the far side by
// enqueueing to / dequeueing from those rings directly.
//
// The workers do not get lcores of their own: step() runs
// Worker::poll_once() of every worker on the calling thread, so a single
// core measures the worker alone (the caller brackets step() with rdtsc).
// control() runs the daemon's ControlTick; the ARP requests it sends come
// out of worker 0 like any frame.
//
// Threading: everything on one thread. Header-only because it is compiled
// into two binaries (svcgw-pktgen and svcgw-bench).
#pragma once

#include <arpa/inet.h>
#include <rte_cycles.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/worker.hpp"
#include "gateway/control_tick.hpp"
#include "gateway/worker_setup.hpp"
#include "pktgen/traffic.hpp"
#include "port/neighbour.hpp"
#include "table/service_table.hpp"

namespace svcgw::pktgen {

// Ring slots between the far side and svcgw's queues: 4096 absorbs a few
// hundred bursts of generator run-ahead without drops.
constexpr unsigned kLinkRingSize = 4096;
constexpr uint16_t kRingDescriptors = 1024;

struct InprocOptions {
    uint16_t workers = 1;
    bool fullnat = true;
    uint32_t max_flows = 1u << 20;
    uint32_t max_vips = 65536;
    rte_mempool* pool = nullptr;
    std::string name = "svcgw_ring";
    // fullnat owner redirect: the fleet's members the workers read (the
    // caller publishes and owns them); null = no fleet.
    const std::atomic<const MemberSet*>* members = nullptr;
};

// The daemon's config for this harness, as --emit-config writes it.
inline Config gateway_config(bool fullnat, uint32_t max_flows) {
    Config c;
    PortConfig port;
    port.name = "perf0";
    port.address = Ipv4Prefix{Ipv4{kGatewayIp}, kLinkPrefix};
    c.ports.push_back(port);
    c.network.service_cidr = Ipv4Prefix{Ipv4{kServiceNet}, kServiceCidrLen};
    c.dns.cluster_ip = Ipv4{kDnsIp};
    c.forwarding = fullnat ? ForwardingMode::fullnat : ForwardingMode::nat;
    c.conntrack.max_flows = max_flows;
    return c;
}

inline ServiceConfig service_config(const Shape& s, uint32_t service,
                                    std::span<const uint32_t> backend_subset = {}) {
    ServiceConfig cfg;
    cfg.name = "svc" + std::to_string(service);
    cfg.cluster_ip = Ipv4{s.vip_ip(service)};
    ServicePortConfig port;
    port.port = kVipPort;
    port.target_port = kTargetPort;
    port.protocol = s.tcp() ? Protocol::tcp : Protocol::udp;
    cfg.ports.push_back(port);
    auto add = [&](uint32_t b) {
        EndpointConfig ep;
        ep.ip = Ipv4{s.backend_ip(service, b)};
        cfg.endpoints.push_back(ep);
    };
    if (backend_subset.empty()) {
        for (uint32_t b = 0; b < s.backends; ++b) {
            add(b);
        }
    } else {
        for (uint32_t b : backend_subset) {
            add(b);
        }
    }
    return cfg;
}

class InprocGateway {
public:
    static std::unique_ptr<InprocGateway> create(const InprocOptions& o) {
        auto g = std::unique_ptr<InprocGateway>(new InprocGateway());
        if (!g->init(o)) {
            return nullptr;
        }
        return g;
    }
    ~InprocGateway() {
        for (auto& w : _workers) {
            w->detach();
        }
        _workers.clear();
        _tick.reset();
        _rings.reset();
        for (rte_ring* r : _link) {
            void* m = nullptr;
            while (rte_ring_dequeue(r, &m) == 0) {
                rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
            }
        }
        if (_port.started) {
            rte_eth_dev_stop(_port.port_id);
            rte_eth_dev_close(_port.port_id);
        }
        _neighbours.reset();
        _table.reset();
        for (rte_ring* r : _link) {
            rte_ring_free(r);
        }
        rte_free(_qsbr);
    }

    ServiceTable& table() { return *_table; }
    NeighbourTable& neighbours() { return *_neighbours; }
    Worker& worker(uint16_t i) { return *_workers[i]; }
    uint16_t workers() const { return static_cast<uint16_t>(_workers.size()); }
    MacAddr mac() const { return _context.mac; }
    rte_ring* to_svcgw(uint16_t q) const { return _in[q]; }
    rte_ring* from_svcgw(uint16_t q) const { return _out[q]; }

    Result<void> add_services(const Shape& s) {
        for (uint32_t v = 0; v < s.vips; ++v) {
            auto done = _table->upsert(service_config(s, v), MaglevConfig{});
            if (!done) {
                return done;
            }
        }
        return {};
    }

    // One loop iteration of every worker (Worker::run() without the lcore).
    void step(uint64_t now_tsc) {
        for (auto& w : _workers) {
            w->poll_once(now_tsc);
        }
    }

    // The daemon's control tick (call it every kControlTickNs).
    void control(uint64_t now_ms) { _tick->run(now_ms); }

private:
    InprocGateway() = default;

    bool init(const InprocOptions& o) {
        const uint16_t w = o.workers;
        size_t qsbr_size = rte_rcu_qsbr_get_memsize(w);
        _qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("pg_qsbr", qsbr_size, RTE_CACHE_LINE_SIZE));
        if (_qsbr == nullptr || rte_rcu_qsbr_init(_qsbr, w) != 0) {
            return fail("qsbr");
        }
        ServiceTableOptions topt;
        topt.max_vips = o.max_vips;
        auto table = ServiceTable::create(_qsbr, topt);
        if (!table) {
            return fail(table.error().str().c_str());
        }
        _table = std::move(*table);
        const Config config = gateway_config(o.fullnat, o.max_flows);
        _neighbours = std::make_unique<NeighbourTable>(config.ports[0].address, _qsbr);

        for (uint16_t q = 0; q < w; ++q) {
            _in.push_back(link_ring(o.name + "_in" + std::to_string(q)));
            _out.push_back(link_ring(o.name + "_out" + std::to_string(q)));
            if (_in.back() == nullptr || _out.back() == nullptr) {
                return fail("link rings");
            }
        }
        int port = rte_eth_from_rings(o.name.c_str(), _in.data(), w, _out.data(), w,
                                      static_cast<unsigned>(rte_socket_id()));
        if (port < 0) {
            return fail("rte_eth_from_rings");
        }
        _port.port_id = static_cast<uint16_t>(port);
        _port.name = config.ports[0].name;
        _port.address = config.ports[0].address;
        _port.queues = w;
        _port.pool = o.pool;
        rte_eth_conf conf{};
        if (rte_eth_dev_configure(_port.port_id, w, w, &conf) != 0) {
            return fail("configure");
        }
        for (uint16_t q = 0; q < w; ++q) {
            if (rte_eth_rx_queue_setup(_port.port_id, q, kRingDescriptors, rte_socket_id(), nullptr,
                                       o.pool) != 0 ||
                rte_eth_tx_queue_setup(_port.port_id, q, kRingDescriptors, rte_socket_id(),
                                       nullptr) != 0) {
                return fail("queue setup");
            }
        }
        if (rte_eth_dev_start(_port.port_id) != 0) {
            return fail("start");
        }
        _port.started = true;
        rte_ether_addr mac{};
        rte_eth_macaddr_get(_port.port_id, &mac);
        std::memcpy(_port.mac.data(), mac.addr_bytes, 6);

        auto rings = WorkerRings::create(w, o.name + "_");
        if (!rings) {
            return fail(rings.error().str().c_str());
        }
        _rings = std::move(*rings);
        _context = make_worker_context(
            config, _port, w, *_rings,
            WorkerShared{_table.get(), _qsbr, &_neighbours->view(), nullptr, nullptr});
        _context.members = o.members;
        _tick =
            std::make_unique<ControlTick>(_context, *_neighbours, [this] { _table->reclaim(); });
        for (uint16_t i = 0; i < w; ++i) {
            _workers.push_back(std::make_unique<Worker>(_context, i));
            _workers.back()->attach();
        }
        return true;
    }

    rte_ring* link_ring(const std::string& name) {
        rte_ring* r =
            rte_ring_create(name.c_str(), kLinkRingSize, static_cast<int>(rte_socket_id()), 0);
        if (r != nullptr) {
            _link.push_back(r);
        }
        return r;
    }
    static bool fail(const char* what) {
        std::fprintf(stderr, "inproc gateway: %s failed\n", what);
        return false;
    }

    rte_rcu_qsbr* _qsbr = nullptr;
    std::unique_ptr<ServiceTable> _table;
    std::unique_ptr<NeighbourTable> _neighbours;
    Port _port;
    std::unique_ptr<WorkerRings> _rings;
    WorkerContext _context;
    std::unique_ptr<ControlTick> _tick;
    std::vector<std::unique_ptr<Worker>> _workers;
    std::vector<rte_ring*> _in, _out, _link;
};

}  // namespace svcgw::pktgen
