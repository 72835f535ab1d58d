// svcgw-pktgen: traffic generator and verifier for svcgw (perf/RESULTS.md).
//
//   svcgw-pktgen [options] -- EAL options
//   --link ring|memif   ring: svcgw's Worker runs in this process on a
//                       net_ring pair, stepped on this thread, and its cycles
//                       are timed apart from the generator's (worker ns/pkt).
//                       memif: svcgw (or testpmd) is another process at the
//                       other end of the --vdev net_memif port (port 0).
//   --peer svcgw|macswap  what is at the other end (macswap: dpdk-testpmd
//                       --forward-mode=macswap; only tags, checksums and
//                       latency are verified)
//   --clients N --vips N --backends N --flows N
//   --mix established|handshake|syn|udp   --size BYTES   --mode fullnat|nat
//   --rate PPS (0 = as fast as possible)  --duration S   --workers N (ring)
//   --change-at S --remove R   (ring: at S seconds into the run, every
//                       service loses its last R backends through
//                       ServiceTable::upsert, the call a SIGHUP reload makes;
//                       odd flow slots then open new connections)
//   --changes N --change-every-ms X   (ring: N changes, the first at S, then
//                       one every X ms: odd ones remove the last R backends,
//                       even ones add them back. Even slots stay established
//                       through all of them; after each change a rotating
//                       batch of odd slots opens new connections, sized so
//                       the new flows of the whole run fit the flow table)
//                       memif: the same change as a config reload of the
//                       daemon: --reload-pid PID --reload-from NEW
//                       --reload-to CFG (NEW is renamed over CFG, then
//                       SIGHUP; new connections start kReloadSettleS later)
//   --max-flows N       conntrack.max_flows (default max(1M, 2 x flows))
//   --emit-config FILE --device SPEC   write the matching svcgw config, exit
//                       (with --remove R: the services without their last R)
//
// Single thread, one core. Prints a human summary and one `RESULT k=v ...`
// line for perf/scripts.
//
// The files: options (the flags above), link (memif or in-process ring),
// generator (send, verify, run_loop) and report; this one sets them up.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "pktgen/generator.hpp"
#include "pktgen/inproc.hpp"
#include "pktgen/link.hpp"
#include "pktgen/options.hpp"

namespace svcgw::pktgen {
namespace {

// Mbufs: rings and descriptor queues on both sides plus reaction backlog.
constexpr unsigned kPoolMbufs = 65535;
constexpr unsigned kPoolCache = 256;

int run(int argc, char** argv) {
    int eal_start = 0;
    auto parsed = parse_options(argc, argv, eal_start);
    if (!parsed) {
        usage();
        return 2;
    }
    Options o = *parsed;
    if (!o.emit_config.empty()) {
        return emit_config(o);
    }
    std::vector<char*> eal_argv = {argv[0]};
    for (int i = eal_start; i < argc; ++i) {
        eal_argv.push_back(argv[i]);
    }
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
        std::fprintf(stderr, "pktgen: rte_eal_init failed\n");
        return 1;
    }
    rte_mempool* pool = rte_pktmbuf_pool_create("pktgen", kPoolMbufs, kPoolCache, 0,
                                                RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (pool == nullptr) {
        std::fprintf(stderr, "pktgen: mempool failed\n");
        return 1;
    }
    std::unique_ptr<Link> link;
    RingLink* ring = nullptr;
    if (o.link == "ring") {
        InprocOptions io;
        io.workers = o.workers;
        io.fullnat = o.shape.fullnat;
        io.max_flows = max_flows(o);
        io.max_vips = std::max<uint32_t>(1024, o.shape.vips);
        io.pool = pool;
        auto gw = InprocGateway::create(io);
        if (!gw) {
            return 1;
        }
        auto added = gw->add_services(o.shape);
        if (!added) {
            std::fprintf(stderr, "pktgen: services: %s\n", added.error().str().c_str());
            return 1;
        }
        auto r = std::make_unique<RingLink>(std::move(gw));
        ring = r.get();
        link = std::move(r);
    } else {
        if (rte_eth_dev_count_avail() == 0) {
            std::fprintf(stderr, "pktgen: no port (pass --vdev net_memif...)\n");
            return 1;
        }
        rte_eth_conf conf{};
        if (rte_eth_dev_configure(0, 1, 1, &conf) != 0 ||
            rte_eth_rx_queue_setup(0, 0, 1024, rte_socket_id(), nullptr, pool) != 0 ||
            rte_eth_tx_queue_setup(0, 0, 1024, rte_socket_id(), nullptr) != 0 ||
            rte_eth_dev_start(0) != 0) {
            std::fprintf(stderr, "pktgen: port set-up failed\n");
            return 1;
        }
        if (!memif_link_up(0)) {
            std::fprintf(stderr,
                         "pktgen: memif link never came up (is the peer running and "
                         "its port started? role/socket must pair)\n");
            rte_eth_dev_stop(0);
            rte_eth_dev_close(0);
            rte_eal_cleanup();
            return 1;
        }
        link = std::make_unique<MemifLink>(0);
    }

    Generator gen(o, *link, pool);
    gen.ring = ring;
    if ((ring != nullptr || o.reload_pid != 0) && o.change_at >= 0 && o.remove > 0) {
        std::vector<uint32_t> kept;
        for (uint32_t b = 0; b + o.remove < o.shape.backends; ++b) {
            kept.push_back(b);
        }
        std::vector<std::unique_ptr<const Service>> full, reduced;
        for (uint32_t v = 0; v < o.shape.vips; ++v) {
            auto all = Service::build(service_config(o.shape, v), MaglevConfig{});
            auto some = Service::build(service_config(o.shape, v, kept), MaglevConfig{});
            if (!all || !some) {
                return 1;
            }
            full.push_back(std::move(*all));
            reduced.push_back(std::move(*some));
        }
        gen.set_rings(std::move(full), std::move(reduced));
    }
    const char* mixes[] = {"established", "handshake", "syn", "udp"};
    std::printf(
        "pktgen: link %s, peer %s, %s, mix %s, %u clients, %u VIPs, %u backends/service, "
        "%u flows, %u-byte frames, rate %s, %u worker(s)\n",
        o.link.c_str(), o.peer == Peer::svcgw ? "svcgw" : "macswap",
        o.shape.fullnat ? "fullnat" : "nat", mixes[static_cast<int>(o.shape.mix)], o.shape.clients,
        o.shape.vips, o.shape.backends, o.shape.flows, o.shape.frame_size,
        o.rate > 0 ? std::to_string(o.rate).c_str() : "max", o.workers);
    if (auto* memif = dynamic_cast<MemifLink*>(link.get()); memif != nullptr) {
        gen.resolve_peer(*memif);
    }
    if (!gen.warmup()) {
        std::printf("pktgen: warm-up incomplete (flows never answered); measuring anyway\n");
    }
    if (gen.unanswered() == o.shape.flows) {
        // Nothing came back at all: a broken pairing, not a measurement.
        std::fprintf(stderr, "pktgen: no frame came back during warm-up\n");
        link.reset();
        rte_eal_cleanup();
        return 1;
    }
    uint64_t t0 = rte_rdtsc();
    gen.measure();
    double seconds = static_cast<double>(rte_rdtsc() - t0) / static_cast<double>(rte_get_tsc_hz());
    gen.report(seconds, ring != nullptr ? ring->worker_cycles : 0);
    if (ring != nullptr) {
        report_gateway(ring->gateway());
    }
    link.reset();
    rte_eal_cleanup();
    return 0;
}

}  // namespace
}  // namespace svcgw::pktgen

int main(int argc, char** argv) {
    return svcgw::pktgen::run(argc, argv);
}
