// Whole-burst micro-benchmarks: bursts of 32 synthetic mbufs through
// Worker::process_burst() + flush_tx() onto a net_ring port, the path a
// worker runs per rx burst (parse, bulk VIP lookup, flow table, Maglev,
// SNAT port choice, rewrite + checksums, neighbour lookup, tx). The stages
// on their own are in bench_dataplane/bench_flow/bench_table/bench_maglev.
//
// Each iteration first refills the 32 mbufs from prebuilt frames (a NIC
// would have written them): BM_WorkerRefill measures that part alone, so
// worker ns/pkt = BM_WorkerBurst* ns_per_pkt - BM_WorkerRefill ns_per_pkt.
// Command used for perf/RESULTS.md: perf/run-bench.sh build-perf Worker
#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_eal.hpp"
#include "flow/flow_table.hpp"
#include "pktgen/inproc.hpp"
#include "pktgen/traffic.hpp"

namespace svcgw {
namespace {

using pktgen::Shape;

constexpr uint32_t kBurst = 32;        // kWorkerBurst: one rx burst
constexpr size_t kTemplates = 4096;    // prebuilt frames, cycled (L2-resident)
constexpr unsigned kPoolMbufs = 8191;  // 2^n - 1 (mempool's optimum)
constexpr uint32_t kBackends = 16;     // a mid-size Deployment
constexpr uint32_t kClients = 4096;

rte_mempool* bench_pool() {
    static rte_mempool* const pool = [] {
        bench_eal_init();
        rte_mempool* p = rte_pktmbuf_pool_create("bench_worker", kPoolMbufs, 256, 0,
                                                 RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
        if (p == nullptr) {
            std::fprintf(stderr, "bench_worker: mempool failed\n");
            std::abort();
        }
        return p;
    }();
    return pool;
}

// One in-process gateway with `flows` established flows and the frames of
// both directions for them.
struct Fixture {
    std::unique_ptr<pktgen::InprocGateway> gw;
    Shape shape;
    std::vector<std::vector<uint8_t>> forward;  // client -> VIP, random flows
    std::vector<std::vector<uint8_t>> reply;    // backend -> client (as translated)
    size_t bytes_per_flow = 0;
    size_t unopened = 0;  // flows the worker refused while opening
};

uint64_t fake_ms() {
    return rte_rdtsc() / (rte_get_tsc_hz() / 1000);
}

// Sends frames through the gateway and returns what it emitted.
std::vector<std::vector<uint8_t>> run_through(pktgen::InprocGateway& gw,
                                              const std::vector<std::vector<uint8_t>>& in) {
    std::vector<std::vector<uint8_t>> out;
    rte_mbuf* ms[kBurst];
    for (size_t base = 0; base < in.size(); base += kBurst) {
        unsigned n = static_cast<unsigned>(std::min<size_t>(kBurst, in.size() - base));
        if (rte_pktmbuf_alloc_bulk(bench_pool(), ms, n) != 0) {
            std::abort();
        }
        for (unsigned i = 0; i < n; ++i) {
            const auto& f = in[base + i];
            std::memcpy(rte_pktmbuf_append(ms[i], static_cast<uint16_t>(f.size())), f.data(),
                        f.size());
        }
        rte_ring_enqueue_burst(gw.to_svcgw(0), reinterpret_cast<void**>(ms), n, nullptr);
        gw.step(rte_rdtsc());
        unsigned got = 0;
        while ((got = rte_ring_dequeue_burst(gw.from_svcgw(0), reinterpret_cast<void**>(ms), kBurst,
                                             nullptr)) != 0) {
            for (unsigned i = 0; i < got; ++i) {
                auto* p = rte_pktmbuf_mtod(ms[i], uint8_t*);
                out.emplace_back(p, p + ms[i]->data_len);
                rte_pktmbuf_free(ms[i]);
            }
        }
    }
    return out;
}

std::vector<uint8_t> frame_of(const pktgen::FrameSpec& spec) {
    std::vector<uint8_t> f(pktgen::kMaxFrame);
    f.resize(pktgen::build_frame(f.data(), spec));
    return f;
}

Fixture& fixture(bool fullnat, uint32_t flows) {
    static std::map<std::pair<bool, uint32_t>, std::unique_ptr<Fixture>> cache;
    auto& slot = cache[{fullnat, flows}];
    if (slot) {
        return *slot;
    }
    // Only one gateway at a time: the 1M-flow tables are large.
    cache.clear();
    auto& fresh = cache[{fullnat, flows}];
    fresh = std::make_unique<Fixture>();
    Fixture& fx = *fresh;
    fx.shape.clients = kClients;
    fx.shape.backends = kBackends;
    fx.shape.flows = flows;
    fx.shape.fullnat = fullnat;
    pktgen::InprocOptions o;
    o.fullnat = fullnat;
    o.max_flows = std::max<uint32_t>(flows * 2, 65536);  // headroom: no eviction
    o.pool = bench_pool();
    // A fresh name per gateway: a closed net_ring port keeps its name, so a
    // fixture built again (the reply benchmarks reuse the 1000-flow shape)
    // would fail in rte_eth_from_rings.
    static unsigned created = 0;
    o.name = "bw" + std::to_string(fullnat) + "_" + std::to_string(flows) + "_" +
             std::to_string(created++);
    fx.gw = pktgen::InprocGateway::create(o);
    if (!fx.gw || !fx.gw->add_services(fx.shape)) {
        std::abort();
    }
    // Every host known up front: the benchmark is not about ARP.
    for (uint32_t b = 0; b < kBackends; ++b) {
        uint32_t ip = fx.shape.backend_ip(0, b);
        fx.gw->neighbours().learned(Ipv4{ip}, pktgen::mac_of(ip), fake_ms());
    }
    for (uint32_t c = 0; c < kClients; ++c) {
        uint32_t ip = pktgen::kClientBase + c;
        fx.gw->neighbours().learned(Ipv4{ip}, pktgen::mac_of(ip), fake_ms());
    }
    fx.gw->control(fake_ms());

    auto forward_spec = [&](uint32_t slot) {
        pktgen::Endpoints e = pktgen::endpoints_of(fx.shape, slot, 0);
        pktgen::FrameSpec s;
        s.src_mac = pktgen::mac_of(e.client_ip);
        s.dst_mac = fx.gw->mac();
        s.src_ip = e.client_ip;
        s.dst_ip = fx.shape.vip_ip(e.service);
        s.src_port = e.client_port;
        s.dst_port = pktgen::kVipPort;
        s.tag = pktgen::Tag{pktgen::kTagMagic, 0, slot, 0};
        return s;
    };
    // Open every flow (a SYN each), then capture one forward frame per flow
    // to learn the SNAT ports for the reply frames.
    std::vector<std::vector<uint8_t>> open;
    for (uint32_t i = 0; i < flows; ++i) {
        pktgen::FrameSpec s = forward_spec(i);
        s.tcp_flags = tcp_flag::syn;
        open.push_back(frame_of(s));
    }
    // Flows the table refused (see RESULTS.md, fast-path findings) are left
    // out of the frame set; the count is reported as `unopened`.
    auto opened = run_through(*fx.gw, open);
    std::vector<const std::vector<uint8_t>*> by_slot(flows, nullptr);
    for (const auto& out : opened) {
        pkt::Parsed p = pkt::parse(out.data(), out.size());
        pktgen::Tag t = pktgen::read_tag(out.data(), p);
        if (t.magic != 0 && t.flow < flows) {
            by_slot[t.flow] = &out;
        }
    }
    fx.unopened = flows - opened.size();
    if (opened.size() < flows * 9ull / 10) {
        std::fprintf(stderr, "bench_worker: %zu of %u flows opened\n", opened.size(), flows);
        const WorkerCounters& c = fx.gw->worker(0).counters();
        for (size_t d = 0; d < kDropReasonNames.size(); ++d) {
            if (uint64_t v = c.get(static_cast<DropReason>(d)); v != 0) {
                std::fprintf(stderr, "  drop.%s=%lu\n", kDropReasonNames[d].data(), v);
            }
        }
        std::abort();
    }
    std::mt19937 rng(7);  // fixed seed: the same frames every run
    while (fx.forward.size() < kTemplates) {
        uint32_t slot = static_cast<uint32_t>(rng() % flows);
        if (by_slot[slot] == nullptr) {
            continue;
        }
        fx.forward.push_back(frame_of(forward_spec(slot)));
        const auto& out = *by_slot[slot];
        pkt::Parsed p = pkt::parse(out.data(), out.size());
        pktgen::FrameSpec r;
        r.src_mac = pktgen::mac_of(pktgen::be32(p.key.dst_ip));
        r.dst_mac = fx.gw->mac();
        r.src_ip = pktgen::be32(p.key.dst_ip);
        r.dst_ip = pktgen::be32(p.key.src_ip);
        r.src_port = pktgen::be16(p.key.dst_port);
        r.dst_port = pktgen::be16(p.key.src_port);
        r.tcp_flags = tcp_flag::ack;
        fx.reply.push_back(frame_of(r));
    }
    FlowTableConfig fc;
    fc.max_flows = o.max_flows;
    FlowTable sizing(fc);
    fx.bytes_per_flow = sizing.memory_bytes() / sizing.capacity();
    return fx;
}

// The recycled mbufs of a benchmark: refilled, processed, collected back.
class Bursts {
public:
    Bursts() {
        if (rte_pktmbuf_alloc_bulk(bench_pool(), _m.data(), kBurst) != 0) {
            std::abort();
        }
    }
    ~Bursts() { rte_pktmbuf_free_bulk(_m.data(), kBurst); }
    void refill(const std::vector<std::vector<uint8_t>>& frames, size_t base) {
        for (uint32_t i = 0; i < kBurst; ++i) {
            const auto& f = frames[base + i];
            rte_mbuf* m = _m[i];
            m->data_off = RTE_PKTMBUF_HEADROOM;
            m->data_len = static_cast<uint16_t>(f.size());
            m->pkt_len = static_cast<uint32_t>(f.size());
            std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), f.data(), f.size());
        }
    }
    std::span<rte_mbuf* const> burst() const { return _m; }
    // Takes the transmitted frames back; false if the worker dropped any.
    bool collect(rte_ring* out) {
        unsigned got =
            rte_ring_dequeue_burst(out, reinterpret_cast<void**>(_m.data()), kBurst, nullptr);
        if (got == kBurst) {
            return true;
        }
        // Dropped frames went back to the pool: take fresh ones.
        if (rte_pktmbuf_alloc_bulk(bench_pool(), _m.data() + got, kBurst - got) != 0) {
            std::abort();
        }
        return false;
    }

private:
    std::array<rte_mbuf*, kBurst> _m{};
};

void set_counters(benchmark::State& state, size_t lost_bursts) {
    state.counters["ns_per_pkt"] =
        benchmark::Counter(static_cast<double>(state.iterations() * kBurst) / 1e9,
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.counters["Mpps"] = benchmark::Counter(
        static_cast<double>(state.iterations() * kBurst) / 1e6, benchmark::Counter::kIsRate);
    state.counters["lost_bursts"] = static_cast<double>(lost_bursts);
}

// Refill only: the part of every iteration below that is not the worker.
void BM_WorkerRefill(benchmark::State& state) {
    Fixture& fx = fixture(true, 1000);
    Bursts b;
    size_t base = 0;
    for (auto _ : state) {
        b.refill(fx.forward, base);
        benchmark::DoNotOptimize(b.burst().data());
        benchmark::ClobberMemory();
        base = (base + kBurst) % kTemplates;
    }
    set_counters(state, 0);
}
BENCHMARK(BM_WorkerRefill);

// Feeds `frames` (the fixture's forward or reply templates) to worker 0
// burst after burst; returns the bursts that did not all come back.
size_t run_bursts(benchmark::State& state, Fixture& fx,
                  const std::vector<std::vector<uint8_t>>& frames) {
    Bursts b;
    Worker& w = fx.gw->worker(0);
    size_t base = 0, lost = 0;
    for (auto _ : state) {
        b.refill(frames, base);
        w.process_burst(b.burst(), rte_rdtsc(), false);
        w.flush_tx();
        lost += !b.collect(fx.gw->from_svcgw(0));
        base = (base + kBurst) % kTemplates;
    }
    return lost;
}

// Established client->VIP packets of `flows` flows in random order.
void worker_established(benchmark::State& state, bool fullnat) {
    Fixture& fx = fixture(fullnat, static_cast<uint32_t>(state.range(0)));
    set_counters(state, run_bursts(state, fx, fx.forward));
    state.counters["flow_bytes"] = static_cast<double>(fx.bytes_per_flow);
    state.counters["unopened"] = static_cast<double>(fx.unopened);
}
void BM_WorkerBurstEstablishedFullnat(benchmark::State& state) {
    worker_established(state, true);
}
void BM_WorkerBurstEstablishedNat(benchmark::State& state) {
    worker_established(state, false);
}
BENCHMARK(BM_WorkerBurstEstablishedFullnat)->Arg(1000)->Arg(100000)->Arg(1000000);
BENCHMARK(BM_WorkerBurstEstablishedNat)->Arg(1000)->Arg(1000000);

// Backend -> client answers of established fullnat flows (reply key hit,
// rewrite back to VIP -> client).
void BM_WorkerBurstReplyFullnat(benchmark::State& state) {
    Fixture& fx = fixture(true, static_cast<uint32_t>(state.range(0)));
    set_counters(state, run_bursts(state, fx, fx.reply));
}
BENCHMARK(BM_WorkerBurstReplyFullnat)->Arg(1000)->Arg(1000000);

// SYNs of never-seen connections: every packet is a new flow (Maglev pick,
// SNAT port choice, flow insert; at capacity the table evicts half-open
// entries, as under a SYN flood).
void worker_new_flows(benchmark::State& state, bool fullnat) {
    Fixture& fx = fixture(fullnat, 1000);
    std::vector<std::vector<uint8_t>> syns;
    Shape shape = fx.shape;
    shape.clients = 1;  // the port advances per round; clients vary per template
    for (uint32_t i = 0; i < kTemplates; ++i) {
        pktgen::FrameSpec s;
        uint32_t client = pktgen::kClientBase + 0x8000 + i;  // not the established flows
        s.src_mac = pktgen::mac_of(client);
        s.dst_mac = fx.gw->mac();
        s.src_ip = client;
        s.dst_ip = shape.vip_ip(0);
        s.src_port = pktgen::kClientPortLo;
        s.dst_port = pktgen::kVipPort;
        s.tcp_flags = tcp_flag::syn;
        syns.push_back(frame_of(s));
    }
    Bursts b;
    Worker& w = fx.gw->worker(0);
    size_t base = 0, lost = 0;
    uint16_t port = pktgen::kClientPortLo;
    uint64_t new_before = w.counters().get(WorkerEvent::flow_new);
    for (auto _ : state) {
        b.refill(syns, base);
        if (port != pktgen::kClientPortLo) {
            for (rte_mbuf* m : b.burst()) {
                // New source port with an RFC 1624 checksum update.
                uint8_t* l4 = rte_pktmbuf_mtod(m, uint8_t*) + pkt::kEthHeaderLen + 20;
                uint16_t old_raw = pkt::load16(l4), new_raw = pktgen::be16(port);
                pkt::store16(l4, new_raw);
                pkt::store16(l4 + 16, pkt::csum_update16(pkt::load16(l4 + 16), old_raw, new_raw));
            }
        }
        w.process_burst(b.burst(), rte_rdtsc(), false);
        w.flush_tx();
        lost += !b.collect(fx.gw->from_svcgw(0));
        base += kBurst;
        if (base == kTemplates) {
            base = 0;
            port = static_cast<uint16_t>(port == 65535 ? pktgen::kClientPortLo : port + 1);
        }
    }
    set_counters(state, lost);
    state.counters["new_flows"] =
        static_cast<double>(w.counters().get(WorkerEvent::flow_new) - new_before);
}
void BM_WorkerBurstNewFlowsFullnat(benchmark::State& state) {
    worker_new_flows(state, true);
}
void BM_WorkerBurstNewFlowsNat(benchmark::State& state) {
    worker_new_flows(state, false);
}
BENCHMARK(BM_WorkerBurstNewFlowsFullnat);
BENCHMARK(BM_WorkerBurstNewFlowsNat);

// Next-hop MAC lookup in the published neighbour view (per forwarded packet).
void BM_WorkerNeighbourFind(benchmark::State& state) {
    const auto n = static_cast<uint32_t>(state.range(0));
    std::vector<std::pair<uint32_t, MacAddr>> entries;
    for (uint32_t i = 0; i < n; ++i) {
        entries.emplace_back(pktgen::be32(pktgen::kBackendBase + i),
                             pktgen::mac_of(pktgen::kBackendBase + i));
    }
    NeighbourView view(entries);
    std::mt19937 rng(5);
    std::vector<uint32_t> keys(4096);
    for (auto& k : keys) {
        k = entries[rng() % n].first;
    }
    size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(view.find(keys[i]));
        i = (i + 1) & (keys.size() - 1);
    }
}
BENCHMARK(BM_WorkerNeighbourFind)->Arg(16)->Arg(1000)->Arg(200000);

}  // namespace
}  // namespace svcgw
