// Packet-stage micro-benchmarks (no EAL): parse, fullnat rewrite with
// incremental checksums, the whole established-flow step (parse + flow
// lookup + rewrite + TTL) and the Toeplitz SNAT port choice. One iteration =
// one packet.
//
//   build-flow/perf/svcgw-bench --benchmark_filter='Flow|Packet'
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "flow/flow_table.hpp"
#include "net/packet.hpp"

namespace svcgw::pkt {
namespace {

// A 64-byte-class TCP segment (ACK, 6 bytes of payload) client -> VIP.
std::vector<uint8_t> tcp_frame(uint32_t src_be, uint16_t sport_be) {
    std::vector<uint8_t> f(kEthHeaderLen + kIpv4MinHeaderLen + kTcpMinHeaderLen + 6, 0);
    store_be16(f.data() + 12, kEtherTypeIpv4);
    uint8_t* ip = f.data() + kEthHeaderLen;
    ip[0] = 0x45;
    store_be16(ip + 2, static_cast<uint16_t>(f.size() - kEthHeaderLen));
    ip[8] = 64;
    ip[9] = kProtoTcp;
    store32(ip + 12, src_be);
    store32(ip + 16, htonl(0x0a600014));  // 10.96.0.20
    uint8_t* tcp = ip + kIpv4MinHeaderLen;
    store16(tcp, sport_be);
    store16(tcp + 2, htons(80));
    tcp[12] = 5 << 4;
    tcp[13] = tcp_flag::ack;
    fill_checksums(ip);
    return f;
}

void BM_PacketParse(benchmark::State& state) {
    auto f = tcp_frame(htonl(0x0a010001), htons(40000));
    for (auto _ : state) {
        benchmark::DoNotOptimize(f.data());
        Parsed p = parse(f.data(), f.size());
        benchmark::DoNotOptimize(p);
    }
}
BENCHMARK(BM_PacketParse);

void BM_PacketParseVerifyChecksum(benchmark::State& state) {
    auto f = tcp_frame(htonl(0x0a010001), htons(40000));
    for (auto _ : state) {
        benchmark::DoNotOptimize(f.data());
        Parsed p = parse(f.data(), f.size(), true);
        benchmark::DoNotOptimize(p);
    }
}
BENCHMARK(BM_PacketParseVerifyChecksum);

// DNAT + SNAT in one pass plus TTL, alternating between two translations so
// every iteration really changes the fields.
void BM_PacketRewriteFullnat(benchmark::State& state) {
    auto f = tcp_frame(htonl(0x0a010001), htons(40000));
    Parsed p = parse(f.data(), f.size());
    const uint32_t snat[2] = {htonl(0x0a630001), htonl(0x0a630002)};
    const uint32_t backend[2] = {htonl(0x0a63000b), htonl(0x0a63000c)};
    unsigned k = 0;
    for (auto _ : state) {
        rewrite_src_dst(f.data(), p, snat[k], htons(61000), backend[k], htons(8080));
        f[kEthHeaderLen + 8] = 64;  // keep TTL from running out; checksum drift is irrelevant here
        benchmark::DoNotOptimize(decrement_ttl(f.data(), p));
        benchmark::ClobberMemory();
        k ^= 1;
    }
}
BENCHMARK(BM_PacketRewriteFullnat);

void BM_PacketChecksumFull(benchmark::State& state) {
    auto f = tcp_frame(htonl(0x0a010001), htons(40000));
    for (auto _ : state) {
        fill_checksums(f.data() + kEthHeaderLen);
        benchmark::ClobberMemory();
    }
}
BENCHMARK(BM_PacketChecksumFull);

// The established-flow step of a worker, per packet: parse, flow lookup,
// state update, fullnat rewrite, TTL. Packets of all n flows in random
// order (FrameWindow), so the 1M case pays the cache/TLB misses of a big
// table. A lookup that misses is an error (the row would not measure the
// established path).
// n established fullnat flows (client -> 10.96.0.20:80, 16 backends);
// returns their forward keys.
std::vector<FlowKey> fill_established(FlowTable& table, uint32_t n) {
    std::vector<FlowKey> keys;
    for (uint32_t i = 0; i < n; ++i) {
        FlowKey k;
        k.src_ip = htonl(0x0a000000u + (i >> 8));
        k.src_port = htons(static_cast<uint16_t>(1024 + (i & 0xff)));
        k.dst_ip = htonl(0x0a600014);
        k.dst_port = htons(80);
        k.proto = kProtoTcp;
        NatResult nat;
        nat.backend_ip = htonl(0x0a630000u + (i % 16));
        nat.backend_port = htons(8080);
        nat.snat_ip = htonl(0x0a640000u + (i >> 16));
        nat.snat_port = htons(static_cast<uint16_t>(i));
        Flow* f = table.insert(k, nat, 1);
        table.update_tcp_state(f, tcp_flag::syn, false, 1);
        table.update_tcp_state(f, tcp_flag::syn | tcp_flag::ack, true, 1);
        table.update_tcp_state(f, tcp_flag::ack, false, 1);
        keys.push_back(k);
    }
    return keys;
}

// The frames of one stretch of a benchmark: kFrames of them (the mbufs a
// NIC fills, L1/L2-resident), refilled between stretches (timing paused)
// with the next flows of a random permutation of all n, reshuffled after
// each pass: every flow is visited once per pass, in random order.
class FrameWindow {
public:
    static constexpr size_t kFrames = 4096;
    explicit FrameWindow(const std::vector<FlowKey>& keys) : _keys(keys), _order(keys.size()) {
        std::iota(_order.begin(), _order.end(), 0u);
        std::shuffle(_order.begin(), _order.end(), _rng);
        refill();
    }
    std::vector<uint8_t>& operator[](size_t i) { return _frames[i]; }
    void refill() {
        _frames.clear();
        for (size_t i = 0; i < kFrames; ++i) {
            if (_next == _order.size()) {
                std::shuffle(_order.begin(), _order.end(), _rng);
                _next = 0;
                ++_passes;
            }
            const FlowKey& k = _keys[_order[_next++]];
            _frames.push_back(tcp_frame(k.src_ip, k.src_port));
        }
    }
    // Complete passes over all n flows so far.
    uint64_t passes() const { return _passes; }

private:
    const std::vector<FlowKey>& _keys;
    std::vector<uint32_t> _order;
    std::vector<std::vector<uint8_t>> _frames;
    size_t _next = 0;
    uint64_t _passes = 0;
    std::mt19937 _rng{3};  // fixed seed: the same order every run
};

void report_misses(benchmark::State& state, size_t misses, const FrameWindow& window) {
    state.counters["misses"] = static_cast<double>(misses);
    state.counters["passes"] = static_cast<double>(window.passes());
    if (misses != 0) {
        state.SkipWithError("flow lookups missed: not the established path");
    }
}

void BM_PacketEstablishedPath(benchmark::State& state) {
    const uint32_t n = static_cast<uint32_t>(state.range(0));
    FlowTableConfig config;
    config.max_flows = n;
    FlowTable table(config);
    const std::vector<FlowKey> keys = fill_established(table, n);
    FrameWindow frames(keys);
    size_t i = 0;
    size_t misses = 0;
    for (auto _ : state) {
        std::vector<uint8_t>& fr = frames[i];
        Parsed p = parse(fr.data(), fr.size());
        FlowRef r = table.lookup(p.key, 2);
        if (r.flow != nullptr) [[likely]] {
            table.update_tcp_state(r.flow, p.tcp_flags, r.is_reply, 2);
            rewrite_src_dst(fr.data(), p, r.flow->snat_ip, r.flow->snat_port, r.flow->backend_ip,
                            r.flow->backend_port);
            decrement_ttl(fr.data(), p);
        } else {
            ++misses;
        }
        benchmark::ClobberMemory();
        if (++i == FrameWindow::kFrames) {
            state.PauseTiming();
            frames.refill();  // the next flows, as client->VIP packets again
            state.ResumeTiming();
            i = 0;
        }
    }
    report_misses(state, misses, frames);
}
BENCHMARK(BM_PacketEstablishedPath)->Arg(1000)->Arg(100000)->Arg(1000000);

// The same step the way a worker runs it over an rx burst: parse the burst,
// one bulk flow lookup (hashes and prefetches first), then rewrite. Time per
// iteration = one burst of kBurst packets; ns_per_pkt divides it.
void BM_PacketEstablishedPathBurst(benchmark::State& state) {
    constexpr size_t kBurst = 32;
    const uint32_t n = static_cast<uint32_t>(state.range(0));
    FlowTableConfig config;
    config.max_flows = n;
    FlowTable table(config);
    const std::vector<FlowKey> keys = fill_established(table, n);
    FrameWindow frames(keys);
    Parsed parsed[kBurst];
    FlowKey burst_keys[kBurst];
    FlowRef refs[kBurst];
    size_t base = 0;
    size_t misses = 0;
    for (auto _ : state) {
        for (size_t j = 0; j < kBurst; ++j) {
            std::vector<uint8_t>& fr = frames[base + j];
            parsed[j] = parse(fr.data(), fr.size());
            burst_keys[j] = parsed[j].key;
        }
        table.lookup_bulk(burst_keys, 2, refs);
        for (size_t j = 0; j < kBurst; ++j) {
            Flow* f = refs[j].flow;
            if (f == nullptr) [[unlikely]] {
                ++misses;
                continue;
            }
            uint8_t* fr = frames[base + j].data();
            table.update_tcp_state(f, parsed[j].tcp_flags, refs[j].is_reply, 2);
            rewrite_src_dst(fr, parsed[j], f->snat_ip, f->snat_port, f->backend_ip,
                            f->backend_port);
            decrement_ttl(fr, parsed[j]);
        }
        benchmark::ClobberMemory();
        base += kBurst;
        if (base == FrameWindow::kFrames) {
            state.PauseTiming();
            frames.refill();
            state.ResumeTiming();
            base = 0;
        }
    }
    report_misses(state, misses, frames);
    state.counters["ns_per_pkt"] =
        benchmark::Counter(static_cast<double>(state.iterations() * kBurst) / 1e9,
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_PacketEstablishedPathBurst)->Arg(1000)->Arg(100000)->Arg(1000000);

// ICMP "fragmentation needed" quoting a translated segment (RFC 792 8-byte
// quote): parse, quote parse and the full translation (slow path, per error).
// The translation rewrites the frame, so each iteration takes a fresh copy
// from a window of kCopies, restored with timing paused.
void BM_PacketIcmpErrorTranslate(benchmark::State& state) {
    constexpr size_t kCopies = 4096;
    auto quoted = tcp_frame(htonl(0x0a630001), htons(61000));
    const size_t quote = kIpv4MinHeaderLen + 8;
    std::vector<uint8_t> f(kEthHeaderLen + kIpv4MinHeaderLen + kIcmpHeaderLen + quote, 0);
    store_be16(f.data() + 12, kEtherTypeIpv4);
    uint8_t* ip = f.data() + kEthHeaderLen;
    ip[0] = 0x45;
    store_be16(ip + 2, static_cast<uint16_t>(f.size() - kEthHeaderLen));
    ip[8] = 64;
    ip[9] = kProtoIcmp;
    store32(ip + 12, htonl(0x0a6300fe));
    store32(ip + 16, htonl(0x0a630001));
    ip[20] = kIcmpDestUnreachable;
    ip[21] = kIcmpFragmentationNeeded;
    std::memcpy(ip + 28, quoted.data() + kEthHeaderLen, quote);
    fill_checksums(ip);
    std::vector<std::vector<uint8_t>> copies(kCopies, f);
    FlowKey inner;
    inner.src_ip = htonl(0x0a010001);
    inner.dst_ip = htonl(0x0a600014);
    inner.src_port = htons(40000);
    inner.dst_port = htons(80);
    inner.proto = kProtoTcp;
    size_t i = 0;
    size_t untranslated = 0;
    for (auto _ : state) {
        std::vector<uint8_t>& c = copies[i];
        Parsed p = parse(c.data(), c.size());
        auto q = parse_icmp_quote(c.data(), p);
        if (!q) [[unlikely]] {
            ++untranslated;
        } else {
            translate_icmp_error(c.data(), p, *q, inner.dst_ip, inner.src_ip, inner);
        }
        benchmark::DoNotOptimize(c.data());
        if (++i == kCopies) {
            state.PauseTiming();
            std::fill(copies.begin(), copies.end(), f);
            state.ResumeTiming();
            i = 0;
        }
    }
    if (untranslated != 0) {
        state.SkipWithError("the quote did not parse: nothing was translated");
    }
}
BENCHMARK(BM_PacketIcmpErrorTranslate);

void BM_PacketToeplitzHash(benchmark::State& state) {
    const Toeplitz rss(kRssDefaultKey);
    uint32_t src = 0x0b630a0a;
    for (auto _ : state) {
        benchmark::DoNotOptimize(rss.hash_ipv4_l4(src, 0x0100630a, 0x901f, 0x4000));
        ++src;
    }
}
BENCHMARK(BM_PacketToeplitzHash);

// SNAT port choice for a new fullnat flow: a port in 1024..65535 whose reply
// hashes to this worker's queue (of `queues`), with a 128-entry RETA.
void BM_PacketToeplitzPortChoice(benchmark::State& state) {
    const Toeplitz rss(kRssDefaultKey);
    const uint16_t queues = static_cast<uint16_t>(state.range(0));
    std::vector<uint16_t> reta(128);
    for (size_t i = 0; i < reta.size(); ++i) {
        reta[i] = static_cast<uint16_t>(i % queues);
    }
    std::mt19937 rng(5);
    uint32_t backend = 0x0b630a0a;
    uint32_t start = 0;
    for (auto _ : state) {
        auto port = rss.find_port_for_queue(reta, 1 % queues, backend, 0x0100630a, 0x901f, 1024,
                                            65535, start);
        benchmark::DoNotOptimize(port);
        backend += 0x01000000;
        start += 7919;  // a prime stride: successive searches start far apart
    }
}
BENCHMARK(BM_PacketToeplitzPortChoice)->Arg(2)->Arg(8);

}  // namespace
}  // namespace svcgw::pkt
