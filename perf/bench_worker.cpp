// Whole-burst micro-benchmarks: bursts of 32 synthetic mbufs through
// Worker::process_burst() + flush_tx() onto a net_ring port, the path a
// worker runs per rx burst (parse, bulk VIP lookup, flow table, Maglev,
// SNAT port choice, rewrite + checksums, neighbour lookup, tx). The stages
// on their own are in bench_dataplane/bench_flow/bench_table/bench_maglev.
//
// The "N flows" rows hold N established flows (handshake completed and
// checked in set-up) and send a packet of every one of them in turn, in a
// random order, so the 1M rows pay a 1M-flow table's cache and TLB misses.
// A row whose set-up fails or whose worker drops frames is an error
// (SkipWithError), not a figure.
//
// Each iteration first refills the 32 mbufs from prebuilt frames (a NIC
// would have written them): BM_WorkerRefill/N measures that part alone for
// N flows' templates, so worker ns/pkt = BM_WorkerBurst*/N ns_per_pkt -
// BM_WorkerRefill/N ns_per_pkt.
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
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "bench_eal.hpp"
#include "dataplane/instance_owner.hpp"
#include "flow/flow_table.hpp"
#include "pktgen/inproc.hpp"
#include "pktgen/traffic.hpp"

namespace svcgw {
namespace {

using pktgen::Shape;

constexpr uint32_t kBurst = 32;          // kWorkerBurst: one rx burst
constexpr size_t kNewFlowFrames = 4096;  // SYN templates of the new-flow rows (L2-resident)
constexpr unsigned kPoolMbufs = 8191;    // 2^n - 1 (mempool's optimum)
constexpr uint32_t kBackends = 16;       // a mid-size Deployment
constexpr uint32_t kClients = 4096;
// Census of the set-up check: a pass covers the whole table in one call.
constexpr uint32_t kWholeTable = 1u << 30;

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

// Equal-length frames back to back: the templates of every flow of a big
// fixture (1M flows x 70 B), read in order while the flows come in random
// order.
class Frames {
public:
    void push(const uint8_t* f, size_t len) {
        if (_len == 0) {
            _len = len;
        }
        if (len != _len) {
            std::fprintf(stderr, "bench_worker: template of %zu bytes, not %zu\n", len, _len);
            std::abort();
        }
        _bytes.insert(_bytes.end(), f, f + len);
    }
    size_t size() const { return _len == 0 ? 0 : _bytes.size() / _len; }
    size_t frame_len() const { return _len; }
    const uint8_t* operator[](size_t i) const { return _bytes.data() + i * _len; }
    // Repeats the first frames until the count is a multiple of `n` (whole
    // bursts, so the cycle never splits one).
    void pad_to_multiple(size_t n) {
        const size_t count = size();
        for (size_t i = 0; (count + i) % n != 0; ++i) {
            std::vector<uint8_t> copy((*this)[i % count], (*this)[i % count] + _len);
            push(copy.data(), _len);
        }
    }

private:
    std::vector<uint8_t> _bytes;
    size_t _len = 0;
};

// One in-process gateway with `flows` established flows (the handshake
// completed, checked on the worker's census) and the frames of both
// directions for every one of them, in one random order: a row cycles
// through all of its flows.
struct Fixture {
    std::unique_ptr<pktgen::InprocGateway> gw;
    Shape shape;
    Frames forward;  // client -> VIP, each flow once
    Frames reply;    // backend -> client (as translated), the same order
    size_t bytes_per_flow = 0;
    size_t unopened = 0;       // flows the worker refused while opening
    size_t unestablished = 0;  // flows not ESTABLISHED once the handshake is done
    std::string error;         // set-up failed: the rows report it
};

uint64_t fake_ms() {
    return rte_rdtsc() / (rte_get_tsc_hz() / 1000);
}

// Sends frames through the gateway; `emitted` sees every frame it sends out.
template <typename Emitted>
void run_through(pktgen::InprocGateway& gw, const std::vector<std::vector<uint8_t>>& in,
                 Emitted&& emitted) {
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
                const auto* p = rte_pktmbuf_mtod(ms[i], const uint8_t*);
                emitted(p, ms[i]->data_len);
                rte_pktmbuf_free(ms[i]);
            }
        }
    }
}

std::vector<uint8_t> frame_of(const pktgen::FrameSpec& spec) {
    std::vector<uint8_t> f(pktgen::kMaxFrame);
    f.resize(pktgen::build_frame(f.data(), spec));
    return f;
}

// The flow slot an emitted frame belongs to (its tag), or `flows` if none.
uint32_t slot_of(const uint8_t* frame, size_t len, uint32_t flows) {
    pkt::Parsed p = pkt::parse(frame, len);
    pktgen::Tag t = pktgen::read_tag(frame, p);
    return t.magic != 0 && t.flow < flows ? t.flow : flows;
}

// What a backend answers to the frame the worker sent it: the reversed
// tuple, tagged with the flow's slot.
pktgen::FrameSpec answer(const uint8_t* sent, size_t len, uint32_t slot, uint8_t flags,
                         const MacAddr& gw_mac) {
    pkt::Parsed p = pkt::parse(sent, len);
    pktgen::FrameSpec r;
    r.src_mac = pktgen::mac_of(pktgen::be32(p.key.dst_ip));
    r.dst_mac = gw_mac;
    r.src_ip = pktgen::be32(p.key.dst_ip);
    r.dst_ip = pktgen::be32(p.key.src_ip);
    r.src_port = pktgen::be16(p.key.dst_port);
    r.dst_port = pktgen::be16(p.key.src_port);
    r.tcp_flags = flags;
    r.tag = pktgen::Tag{pktgen::kTagMagic, 0, slot, 0};
    return r;
}

// Flows the census of worker 0 finds, and of those, how many are not
// ESTABLISHED (in its sample of up to kCensusSamples flows).
std::pair<size_t, size_t> census_of(Worker& w) {
    // Two passes at clocks a few seconds on (a pass starts at most once a
    // second): the second one sees the table as it is now. Not far enough
    // for any timeout.
    const uint64_t hz = rte_get_tsc_hz();
    w.census_step(rte_rdtsc() + 2 * hz, kWholeTable);
    w.census_step(rte_rdtsc() + 4 * hz, kWholeTable);
    FlowCensus c = w.census();
    size_t live = 0, not_established = 0;
    for (const BackendFlows& b : c.per_backend) {
        live += b.flows;
    }
    for (const Flow& f : c.samples) {
        not_established += f.tcp_state != TcpState::established;
    }
    return {live, not_established};
}

// fullnat owner redirect: every fixture's workers read this (null = no
// fleet); the redirect rows publish a member set for their run.
std::atomic<const MemberSet*> g_members{nullptr};

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
    o.members = &g_members;
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

    auto forward_spec = [&](uint32_t slot, uint8_t flags) {
        pktgen::Endpoints e = pktgen::endpoints_of(fx.shape, slot, 0);
        pktgen::FrameSpec s;
        s.src_mac = pktgen::mac_of(e.client_ip);
        s.dst_mac = fx.gw->mac();
        s.src_ip = e.client_ip;
        s.dst_ip = fx.shape.vip_ip(e.service);
        s.src_port = e.client_port;
        s.dst_port = pktgen::kVipPort;
        s.tcp_flags = flags;
        s.tag = pktgen::Tag{pktgen::kTagMagic, 0, slot, 0};
        return s;
    };
    // The handshake of every flow: the client's SYN; the backend's SYN-ACK
    // to what the worker sent it (the SNAT port it chose); the client's ACK.
    // What the worker sent each backend is kept to build the reply frames.
    std::vector<std::vector<uint8_t>> syns, synacks, acks;
    for (uint32_t i = 0; i < flows; ++i) {
        syns.push_back(frame_of(forward_spec(i, tcp_flag::syn)));
        acks.push_back(frame_of(forward_spec(i, tcp_flag::ack)));
    }
    std::vector<std::vector<uint8_t>> to_backend(flows);
    run_through(*fx.gw, syns, [&](const uint8_t* f, size_t len) {
        if (uint32_t s = slot_of(f, len, flows); s < flows) {
            to_backend[s].assign(f, f + len);
        }
    });
    syns = {};
    for (uint32_t i = 0; i < flows; ++i) {
        if (to_backend[i].empty()) {
            ++fx.unopened;
            continue;
        }
        synacks.push_back(frame_of(answer(to_backend[i].data(), to_backend[i].size(), i,
                                          tcp_flag::syn | tcp_flag::ack, fx.gw->mac())));
    }
    run_through(*fx.gw, synacks, [](const uint8_t*, size_t) {});
    synacks = {};
    run_through(*fx.gw, acks, [](const uint8_t*, size_t) {});
    acks = {};
    const auto [live, not_established] = census_of(fx.gw->worker(0));
    fx.unestablished = not_established + (flows > live ? flows - live : 0);
    if (fx.unopened != 0 || fx.unestablished != 0) {
        fx.error = std::to_string(fx.unopened) + " flows unopened, " +
                   std::to_string(fx.unestablished) +
                   " not established (census: " + std::to_string(live) + " live)";
        const WorkerCounters& c = fx.gw->worker(0).counters();
        for (size_t d = 0; d < kDropReasonNames.size(); ++d) {
            if (uint64_t v = c.get(static_cast<DropReason>(d)); v != 0) {
                fx.error += " drop." + std::string(kDropReasonNames[d]) + "=" + std::to_string(v);
            }
        }
        return fx;
    }
    // Every flow once, in random order, both directions.
    std::vector<uint32_t> order(flows);
    std::iota(order.begin(), order.end(), 0u);
    std::mt19937 rng(7);  // fixed seed: the same frames every run
    std::shuffle(order.begin(), order.end(), rng);
    for (uint32_t slot : order) {
        auto f = frame_of(forward_spec(slot, tcp_flag::ack));
        fx.forward.push(f.data(), f.size());
        f = frame_of(answer(to_backend[slot].data(), to_backend[slot].size(), slot, tcp_flag::ack,
                            fx.gw->mac()));
        fx.reply.push(f.data(), f.size());
    }
    fx.forward.pad_to_multiple(kBurst);
    fx.reply.pad_to_multiple(kBurst);
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
    void refill(const Frames& frames, size_t base) {
        const size_t len = frames.frame_len();
        for (uint32_t i = 0; i < kBurst; ++i) {
            rte_mbuf* m = _m[i];
            m->data_off = RTE_PKTMBUF_HEADROOM;
            m->data_len = static_cast<uint16_t>(len);
            m->pkt_len = static_cast<uint32_t>(len);
            std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), frames[base + i], len);
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

// Rates, and the sanity counter: a burst the worker did not send back in
// full means the row measured drops, not forwarding (an error, not a figure).
void set_counters(benchmark::State& state, size_t lost_bursts) {
    state.counters["ns_per_pkt"] =
        benchmark::Counter(static_cast<double>(state.iterations() * kBurst) / 1e9,
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.counters["Mpps"] = benchmark::Counter(
        static_cast<double>(state.iterations() * kBurst) / 1e6, benchmark::Counter::kIsRate);
    state.counters["lost_bursts"] = static_cast<double>(lost_bursts);
    if (lost_bursts != 0) {
        state.SkipWithError("the worker dropped frames (lost_bursts > 0)");
    }
}

// The fixture of a row, or nullptr after reporting why it is unusable.
Fixture* usable_fixture(benchmark::State& state, bool fullnat, uint32_t flows) {
    Fixture& fx = fixture(fullnat, flows);
    state.counters["unopened"] = static_cast<double>(fx.unopened);
    state.counters["unestablished"] = static_cast<double>(fx.unestablished);
    if (!fx.error.empty()) {
        state.SkipWithError(fx.error.c_str());
        return nullptr;
    }
    return &fx;
}

// Refill only: the part of every iteration below that is not the worker,
// for the same number of templates as the row it is subtracted from.
void BM_WorkerRefill(benchmark::State& state) {
    Fixture* fx = usable_fixture(state, true, static_cast<uint32_t>(state.range(0)));
    if (fx == nullptr) {
        return;
    }
    Bursts b;
    size_t base = 0;
    for (auto _ : state) {
        b.refill(fx->forward, base);
        benchmark::DoNotOptimize(b.burst().data());
        benchmark::ClobberMemory();
        base = (base + kBurst) % fx->forward.size();
    }
    set_counters(state, 0);
}
BENCHMARK(BM_WorkerRefill)->Arg(1000)->Arg(1000000);

// Feeds `frames` (the fixture's forward or reply templates: every flow once,
// cycled) to worker 0 burst after burst; returns the bursts that did not
// all come back.
size_t run_bursts(benchmark::State& state, Fixture& fx, const Frames& frames) {
    Bursts b;
    Worker& w = fx.gw->worker(0);
    size_t base = 0, lost = 0;
    for (auto _ : state) {
        b.refill(frames, base);
        w.process_burst(b.burst(), rte_rdtsc(), false);
        w.flush_tx();
        lost += !b.collect(fx.gw->from_svcgw(0));
        base = (base + kBurst) % frames.size();
    }
    state.counters["passes"] =
        static_cast<double>(state.iterations() * kBurst) / static_cast<double>(frames.size());
    return lost;
}

// Established client->VIP packets of all `flows` flows in random order.
void worker_established(benchmark::State& state, bool fullnat) {
    Fixture* fx = usable_fixture(state, fullnat, static_cast<uint32_t>(state.range(0)));
    if (fx == nullptr) {
        return;
    }
    set_counters(state, run_bursts(state, *fx, fx->forward));
    state.counters["flow_bytes"] = static_cast<double>(fx->bytes_per_flow);
}
void BM_WorkerBurstEstablishedFullnat(benchmark::State& state) {
    worker_established(state, true);
}
void BM_WorkerBurstEstablishedNat(benchmark::State& state) {
    worker_established(state, false);
}
BENCHMARK(BM_WorkerBurstEstablishedFullnat)->Arg(1000)->Arg(100000)->Arg(1000000);
BENCHMARK(BM_WorkerBurstEstablishedNat)->Arg(1000)->Arg(1000000)->Arg(4000000);

// Backend -> client answers of established fullnat flows (reply key hit,
// rewrite back to VIP -> client).
void BM_WorkerBurstReplyFullnat(benchmark::State& state) {
    Fixture* fx = usable_fixture(state, true, static_cast<uint32_t>(state.range(0)));
    if (fx == nullptr) {
        return;
    }
    set_counters(state, run_bursts(state, *fx, fx->reply));
}
BENCHMARK(BM_WorkerBurstReplyFullnat)->Arg(1000)->Arg(1000000);

// SYNs of never-seen connections: every packet is a new flow (Maglev pick,
// SNAT port choice, flow insert; at capacity the table evicts half-open
// entries, as under a SYN flood).
void worker_new_flows(benchmark::State& state, bool fullnat) {
    Fixture* usable = usable_fixture(state, fullnat, 1000);
    if (usable == nullptr) {
        return;
    }
    Fixture& fx = *usable;
    Frames syns;
    Shape shape = fx.shape;
    shape.clients = 1;  // the port advances per round; clients vary per template
    for (uint32_t i = 0; i < kNewFlowFrames; ++i) {
        pktgen::FrameSpec s;
        uint32_t client = pktgen::kClientBase + 0x8000 + i;  // not the established flows
        s.src_mac = pktgen::mac_of(client);
        s.dst_mac = fx.gw->mac();
        s.src_ip = client;
        s.dst_ip = shape.vip_ip(0);
        s.src_port = pktgen::kClientPortLo;
        s.dst_port = pktgen::kVipPort;
        s.tcp_flags = tcp_flag::syn;
        const auto f = frame_of(s);
        syns.push(f.data(), f.size());
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
        if (base == kNewFlowFrames) {
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

// fullnat owner redirect (issue 13 §4): a two-member fleet, this gateway
// (10.0.0.1) and a live peer (10.0.0.2) whose MAC is known.
constexpr uint32_t kPeerIp = pktgen::kGatewayIp + 1;
std::unique_ptr<MemberSet> two_members() {
    std::vector<MemberInfo> m(2);
    m[0] = MemberInfo{"g1", pktgen::be32(pktgen::kGatewayIp), true, std::nullopt};
    m[1] = MemberInfo{"g2", pktgen::be32(kPeerIp), true, pktgen::mac_of(kPeerIp)};
    auto set = MemberSet::build(m, 0, 0);
    if (!set) {
        std::abort();
    }
    return std::make_unique<MemberSet>(std::move(*set));
}
// Publishes `set` for one benchmark row; the workers see it from their
// next burst (one thread: no grace period needed to take it back).
struct MembersFor {
    explicit MembersFor(const MemberSet* set) { g_members.store(set); }
    ~MembersFor() { g_members.store(nullptr); }
};

// Client -> VIP frames of flows this gateway has no state for and the peer
// owns: each is redirected (owner hash, neighbour lookup, MAC rewrite).
// What a frame costs the gateway it lands on before the owner's own work;
// compare BM_WorkerBurstEstablishedFullnat (a frame handled here).
void BM_WorkerBurstRedirectedFullnat(benchmark::State& state) {
    Fixture* usable = usable_fixture(state, true, 1000);
    if (usable == nullptr) {
        return;
    }
    Fixture& fx = *usable;
    const auto set = two_members();
    fx.gw->neighbours().learned(Ipv4{kPeerIp}, pktgen::mac_of(kPeerIp), fake_ms());
    fx.gw->control(fake_ms());
    Frames frames;
    for (uint32_t i = 0; frames.size() < kNewFlowFrames; ++i) {
        pktgen::FrameSpec s;
        const uint32_t client = pktgen::kClientBase + 0x8000 + i;  // not the established flows
        s.src_mac = pktgen::mac_of(client);
        s.dst_mac = fx.gw->mac();
        s.src_ip = client;
        s.dst_ip = fx.shape.vip_ip(0);
        s.src_port = pktgen::kClientPortLo;
        s.dst_port = pktgen::kVipPort;
        s.tcp_flags = tcp_flag::ack;  // mid-stream: a flow that moved here
        const FlowKey k{pktgen::be32(client), pktgen::be32(s.dst_ip), pktgen::be16(s.src_port),
                        pktgen::be16(s.dst_port), pkt::kProtoTcp};
        if (set->owner(owner_hash(flow_hash(k))) != 1) {
            continue;  // ours: not this row's case
        }
        const auto f = frame_of(s);
        frames.push(f.data(), f.size());
    }
    MembersFor on(set.get());
    Worker& w = fx.gw->worker(0);
    const uint64_t before = w.counters().get(WorkerEvent::redirected);
    set_counters(state, run_bursts(state, fx, frames));
    const double redirected =
        static_cast<double>(w.counters().get(WorkerEvent::redirected) - before);
    state.counters["redirected_share"] =
        redirected / static_cast<double>(state.iterations() * kBurst);
}
BENCHMARK(BM_WorkerBurstRedirectedFullnat);

// Established flows with a fleet configured: every frame is tested for the
// mark (a peer's source MAC) and then handled here (state). Compare
// BM_WorkerBurstEstablishedFullnat/1000 (no fleet).
void BM_WorkerBurstEstablishedFullnatFleet(benchmark::State& state) {
    Fixture* fx = usable_fixture(state, true, 1000);
    if (fx == nullptr) {
        return;
    }
    const auto set = two_members();
    MembersFor on(set.get());
    set_counters(state, run_bursts(state, *fx, fx->forward));
}
BENCHMARK(BM_WorkerBurstEstablishedFullnatFleet);

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
