// svcgw's data plane in-process, for svcgw-pktgen's ring link and for
// perf/bench_worker.cpp: the same objects the daemon builds (RCU variable,
// VIP table, neighbour table, handoff/control rings, Workers), on a
// net_ring ethdev made of rte_rings this harness owns, so the caller plays
// the far side by enqueueing to / dequeueing from those rings directly.
//
// The workers do not get lcores of their own: step() runs one iteration of
// every worker's loop (rx burst, handoff rings, flush, quiescent report) on
// the calling thread, so a single core measures the worker alone (the caller
// brackets step() with rdtsc). control() is the daemon's control tick.
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
#include <rte_ring_elem.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/worker.hpp"
#include "pktgen/traffic.hpp"
#include "port/neighbour.hpp"
#include "table/service_table.hpp"

namespace svcgw::pktgen {

// Ring slots between the far side and svcgw's queues: 4096 absorbs a few
// hundred bursts of generator run-ahead without drops.
constexpr unsigned kLinkRingSize = 4096;
constexpr uint16_t kRingDescriptors = 1024;
// Flow expiry steps per housekeeping pass (the worker's kExpiryBudget).
constexpr uint32_t kExpiryBudget = 64;

struct InprocOptions {
    uint16_t workers = 1;
    bool fullnat = true;
    uint32_t max_flows = 1u << 20;
    uint32_t max_vips = 65536;
    rte_mempool* pool = nullptr;
    std::string name = "svcgw_ring";
};

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
        for (uint16_t w = 0; w < _workers.size(); ++w) {
            rte_rcu_qsbr_thread_offline(_qsbr, w);
            rte_rcu_qsbr_thread_unregister(_qsbr, w);
        }
        _workers.clear();
        for (rte_ring* r : _mbuf_rings) {
            void* m = nullptr;
            while (rte_ring_dequeue(r, &m) == 0) {
                rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
            }
        }
        if (_port_started) {
            rte_eth_dev_stop(_port_id);
            rte_eth_dev_close(_port_id);
        }
        _neighbours.reset();
        _table.reset();
        for (rte_ring* r : _rings) {
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
        std::array<rte_mbuf*, kWorkerBurst> burst;
        for (uint16_t w = 0; w < _workers.size(); ++w) {
            Worker& worker = *_workers[w];
            uint16_t n = rte_eth_rx_burst(_port_id, w, burst.data(), kWorkerBurst);
            if (n != 0) {
                worker.process_burst(std::span(burst.data(), n), now_tsc, false);
            }
            for (uint16_t from = 0; from < _workers.size(); ++from) {
                rte_ring* ring = _context.handoff[size_t{from} * _workers.size() + w];
                if (ring == nullptr) {
                    continue;
                }
                unsigned got = rte_ring_sc_dequeue_burst(
                    ring, reinterpret_cast<void**>(burst.data()), kWorkerBurst, nullptr);
                if (got != 0) {
                    worker.process_burst(std::span(burst.data(), got), now_tsc, true);
                }
            }
            if (now_tsc >= _next_housekeeping[w]) {
                // As Worker::run(): hold queue and expiry every 100 us.
                _next_housekeeping[w] = now_tsc + rte_get_tsc_hz() / 10000;
                worker.service_hold_queue(now_tsc);
                worker.expire_flows(now_tsc, kExpiryBudget);
            }
            worker.flush_tx();
            rte_rcu_qsbr_quiescent(_qsbr, w);
        }
    }

    // The control tick: worker messages into the neighbour table, its
    // timers, RCU reclaim. Returns the addresses (network order) the daemon
    // would send ARP requests for; the caller plays those hosts.
    std::vector<uint32_t> control(uint64_t now_ms) {
        std::array<ControlMessage, 64> messages;
        for (rte_ring* ring : _context.to_control) {
            unsigned n = 0;
            while ((n = rte_ring_dequeue_burst_elem(ring, messages.data(), sizeof(ControlMessage),
                                                    messages.size(), nullptr)) != 0) {
                for (unsigned i = 0; i < n; ++i) {
                    Ipv4 ip{ntohl(messages[i].ip_be)};
                    if (messages[i].kind == ControlMessage::learned) {
                        _neighbours->learned(ip, messages[i].mac, now_ms);
                    } else {
                        _neighbours->want(ip, now_ms);
                    }
                }
            }
        }
        std::vector<uint32_t> requests;
        for (Ipv4 ip : _neighbours->tick(now_ms)) {
            requests.push_back(htonl(ip.value));
        }
        _table->reclaim();
        return requests;
    }

private:
    InprocGateway() = default;

    bool init(const InprocOptions& o) {
        uint16_t w = o.workers;
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
        _neighbours =
            std::make_unique<NeighbourTable>(Ipv4Prefix{Ipv4{kGatewayIp}, kLinkPrefix}, _qsbr);

        for (uint16_t q = 0; q < w; ++q) {
            _in.push_back(ring(o.name + "_in" + std::to_string(q), sizeof(void*), 0));
            _out.push_back(ring(o.name + "_out" + std::to_string(q), sizeof(void*), 0));
            if (_in.back() == nullptr || _out.back() == nullptr) {
                return fail("link rings");
            }
            _mbuf_rings.push_back(_in.back());
            _mbuf_rings.push_back(_out.back());
        }
        int port = rte_eth_from_rings(o.name.c_str(), _in.data(), w, _out.data(), w,
                                      static_cast<unsigned>(rte_socket_id()));
        if (port < 0) {
            return fail("rte_eth_from_rings");
        }
        _port_id = static_cast<uint16_t>(port);
        rte_eth_conf conf{};
        if (rte_eth_dev_configure(_port_id, w, w, &conf) != 0) {
            return fail("configure");
        }
        for (uint16_t q = 0; q < w; ++q) {
            if (rte_eth_rx_queue_setup(_port_id, q, kRingDescriptors, rte_socket_id(), nullptr,
                                       o.pool) != 0 ||
                rte_eth_tx_queue_setup(_port_id, q, kRingDescriptors, rte_socket_id(), nullptr) !=
                    0) {
                return fail("queue setup");
            }
        }
        if (rte_eth_dev_start(_port_id) != 0) {
            return fail("start");
        }
        _port_started = true;
        rte_ether_addr mac{};
        rte_eth_macaddr_get(_port_id, &mac);

        WorkerContext& c = _context;
        std::memcpy(c.mac.data(), mac.addr_bytes, 6);
        c.port_id = _port_id;
        c.workers = w;
        c.address_be = htonl(kGatewayIp);
        c.subnet_mask_be = htonl(~uint32_t{0} << (32 - kLinkPrefix));
        c.service_net_be = htonl(kServiceNet);
        c.service_mask_be = htonl(~uint32_t{0} << (32 - kServiceCidrLen));
        c.mode = o.fullnat ? ForwardingMode::fullnat : ForwardingMode::nat;
        c.snat_be.push_back(c.address_be);
        c.conntrack.max_flows = o.max_flows;
        c.table = _table.get();
        c.qsbr = _qsbr;
        c.neighbours = &_neighbours->view();
        c.pool = o.pool;
        c.tsc_hz = rte_get_tsc_hz();
        c.handoff.assign(size_t{w} * w, nullptr);
        for (uint16_t from = 0; from < w; ++from) {
            for (uint16_t to = 0; to < w; ++to) {
                if (from != to) {
                    rte_ring* r = ring(o.name + "_h" + std::to_string(from) + std::to_string(to),
                                       sizeof(void*), RING_F_SP_ENQ | RING_F_SC_DEQ);
                    if (r == nullptr) {
                        return fail("handoff ring");
                    }
                    _mbuf_rings.push_back(r);
                    c.handoff[size_t{from} * w + to] = r;
                }
            }
            rte_ring* r = ring(o.name + "_c" + std::to_string(from), sizeof(ControlMessage),
                               RING_F_SP_ENQ | RING_F_SC_DEQ);
            if (r == nullptr) {
                return fail("control ring");
            }
            c.to_control.push_back(r);
        }
        for (uint16_t i = 0; i < w; ++i) {
            _workers.push_back(std::make_unique<Worker>(_context, i));
            _next_housekeeping.push_back(0);
            rte_rcu_qsbr_thread_register(_qsbr, i);
            rte_rcu_qsbr_thread_online(_qsbr, i);
        }
        return true;
    }

    rte_ring* ring(const std::string& name, unsigned esize, unsigned flags) {
        rte_ring* r = rte_ring_create_elem(name.c_str(), esize, kLinkRingSize,
                                           static_cast<int>(rte_socket_id()), flags);
        if (r != nullptr) {
            _rings.push_back(r);
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
    WorkerContext _context;
    std::vector<std::unique_ptr<Worker>> _workers;
    std::vector<uint64_t> _next_housekeeping;
    std::vector<rte_ring*> _in, _out, _rings, _mbuf_rings;
    uint16_t _port_id = 0;
    bool _port_started = false;
};

}  // namespace svcgw::pktgen
