// svcgw-pktgen's summary: a human part and one `RESULT k=v ...` line that
// perf/scripts (pktgen-runs.sh, summarize.py) parse; on the ring link, each
// worker's counters and the EAL heap.
#include <rte_malloc.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "pktgen/generator.hpp"

namespace svcgw::pktgen {

void Generator::report(double seconds, uint64_t worker_cycles) {
    auto mpps = [&](uint64_t n) { return static_cast<double>(n) / seconds / 1e6; };
    double ns_per_pkt = stats.tx == 0
                            ? 0
                            : static_cast<double>(worker_cycles) * 1e9 / static_cast<double>(_hz) /
                                  static_cast<double>(stats.tx);
    // Shares of connections per backend, relative to an even split (1.0).
    double min_share = 0, max_share = 0;
    uint64_t total = 0;
    for (uint64_t c : _backend_conns) {
        total += c;
    }
    if (total != 0) {
        double even = static_cast<double>(total) / static_cast<double>(_backend_conns.size());
        min_share = 1e9;
        for (uint32_t v = 0; v < _s.vips; ++v) {
            for (uint32_t b = 0; b < _alive_backends; ++b) {
                double r = static_cast<double>(_backend_conns[size_t{v} * _s.backends + b]) / even;
                min_share = std::min(min_share, r);
                max_share = std::max(max_share, r);
            }
        }
    }
    std::printf("tx %.3f Mpps, rx %.3f Mpps (forward %lu, reply %lu), lost %ld, errors %lu\n",
                mpps(stats.tx), mpps(stats.rx), stats.rx_forward, stats.rx_reply,
                static_cast<long>(stats.tx) - static_cast<long>(stats.rx), stats.error_total());
    for (size_t e = 0; e < stats.errors.size(); ++e) {
        if (stats.errors[e] != 0) {
            std::printf("  error %s: %lu\n", kVerifyErrorNames[e], stats.errors[e]);
        }
    }
    std::printf("latency ns: p50 %lu p90 %lu p99 %lu p99.9 %lu max %lu\n",
                stats.latency.quantile(0.5), stats.latency.quantile(0.9),
                stats.latency.quantile(0.99), stats.latency.quantile(0.999), stats.latency.max());
    if (total != 0) {
        std::printf("backend shares (connections / even split): min %.3f max %.3f over %zu\n",
                    min_share, max_share, _backend_conns.size());
    }
    double remapped = stats.new_after_change == 0 ? 0.0
                                                  : static_cast<double>(stats.remapped) /
                                                        static_cast<double>(stats.new_after_change);
    if (_changed) {
        std::printf(
            "change: %lu of %u changes (remove/add back %u of %u backends per service); existing "
            "flows moved %lu (surviving backends) + %lu (removed); new flows remapped %.4f of "
            "%lu vs the ring before their change (R/N = %.4f); %lu connections reopened; "
            "%.1f us per change (upsert of %u services)\n",
            stats.changes, _o.changes, _o.remove, _s.backends, stats.moved_alive, stats.moved_dead,
            remapped, stats.new_after_change,
            _s.backends == 0 ? 0.0 : static_cast<double>(_o.remove) / _s.backends, stats.reopened,
            stats.changes == 0 ? 0.0
                               : static_cast<double>(stats.change_cycles) * 1e6 /
                                     static_cast<double>(_hz) / static_cast<double>(stats.changes),
            _s.vips);
    }
    std::printf(
        "RESULT tx_mpps=%.4f rx_mpps=%.4f lost=%ld errors=%lu conn_per_s=%.0f "
        "worker_ns_per_pkt=%.2f lat_p50_ns=%lu lat_p99_ns=%lu lat_p999_ns=%lu "
        "share_min=%.3f share_max=%.3f moved_alive=%lu moved_dead=%lu remapped=%.4f "
        "stalled=%lu changes=%lu new_after_change=%lu dead_backend=%lu\n",
        mpps(stats.tx), mpps(stats.rx), static_cast<long>(stats.tx) - static_cast<long>(stats.rx),
        stats.error_total(), static_cast<double>(stats.connections) / seconds, ns_per_pkt,
        stats.latency.quantile(0.5), stats.latency.quantile(0.99), stats.latency.quantile(0.999),
        min_share, max_share, stats.moved_alive, stats.moved_dead, remapped, stats.stalled,
        stats.changes, stats.new_after_change,
        stats.errors[static_cast<size_t>(VerifyError::dead_backend)]);
}

// Each worker's flows, events and drops, and the EAL heap in use.
void report_gateway(InprocGateway& gw) {
    for (uint16_t w = 0; w < gw.workers(); ++w) {
        const WorkerCounters& c = gw.worker(w).counters();
        std::string line;
        for (size_t d = 0; d < kDropReasonNames.size(); ++d) {
            if (uint64_t v = c.get(static_cast<DropReason>(d)); v != 0) {
                line += " " + std::string(kDropReasonNames[d]) + "=" + std::to_string(v);
            }
        }
        std::string events;
        for (size_t e = 0; e < kWorkerEventNames.size(); ++e) {
            if (uint64_t v = c.get(static_cast<WorkerEvent>(e)); v != 0) {
                events += " " + std::string(kWorkerEventNames[e]) + "=" + std::to_string(v);
            }
        }
        std::printf("worker %u: flows %zu, events:%s, drops:%s\n", w, gw.worker(w).stats().flows,
                    events.c_str(), line.empty() ? " none" : line.c_str());
    }
    rte_malloc_socket_stats ms{};
    rte_malloc_get_socket_stats(0, &ms);
    std::printf("EAL heap in use: %.1f MiB\n",
                static_cast<double>(ms.heap_allocsz_bytes) / 1048576.0);
}

}  // namespace svcgw::pktgen
