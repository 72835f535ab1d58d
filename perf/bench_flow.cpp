// Flow-table micro-benchmarks: established-flow hit (single and burst
// lookups) and miss + insert in a full table (evicting), at 1k / 100k / 1M
// flows. One iteration = one packet unless the name says burst.
//
//   build-flow/perf/svcgw-bench --benchmark_filter='Flow|Packet'
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <random>
#include <vector>

#include "flow/flow_table.hpp"

namespace svcgw {
namespace {

constexpr uint8_t kTcp = 6;
constexpr size_t kBurst = 32;  // a typical rx burst

FlowKey client_key(uint32_t i) {
    FlowKey k;
    k.src_ip = 0x0a000000u + (i >> 8);  // many clients, a few ports each
    k.src_port = static_cast<uint16_t>(1024 + (i & 0xff));
    k.dst_ip = 0x1400600au;  // 10.96.0.20 in network order on little-endian
    k.dst_port = 0x5000;     // 80
    k.proto = kTcp;
    return k;
}

NatResult nat_for(uint32_t i) {
    NatResult n;
    n.backend_ip = 0x0b00630au + (i % 16 << 24);
    n.backend_port = 0x901f;
    n.snat_ip = 0x0100630au + (i >> 16 << 24);
    n.snat_port = static_cast<uint16_t>(i);
    return n;
}

// A full table of n established flows and the keys of its packets in a
// random order (both directions), built once per size and reused across
// repetitions.
struct Filled {
    std::unique_ptr<FlowTable> table;
    std::vector<FlowKey> keys;
};

Filled& filled(uint32_t n) {
    static std::map<uint32_t, Filled> cache;
    auto it = cache.find(n);
    if (it != cache.end()) {
        return it->second;
    }
    Filled f;
    FlowTableConfig config;
    config.max_flows = n;
    f.table = std::make_unique<FlowTable>(config);
    for (uint32_t i = 0; i < n; ++i) {
        Flow* flow = f.table->insert(client_key(i), nat_for(i), 1);
        f.table->update_tcp_state(flow, tcp_flag::syn, false, 1);
        f.table->update_tcp_state(flow, tcp_flag::syn | tcp_flag::ack, true, 1);
        f.table->update_tcp_state(flow, tcp_flag::ack, false, 1);
        f.keys.push_back(i % 2 ? flow->key : flow->reply_key());
    }
    std::mt19937 rng(1);
    std::shuffle(f.keys.begin(), f.keys.end(), rng);
    return cache.emplace(n, std::move(f)).first->second;
}

void BM_FlowLookupHit(benchmark::State& state) {
    Filled& f = filled(static_cast<uint32_t>(state.range(0)));
    size_t i = 0;
    for (auto _ : state) {
        FlowRef r = f.table->lookup(f.keys[i], 2);
        f.table->update_tcp_state(r.flow, tcp_flag::ack, r.is_reply, 2);
        benchmark::DoNotOptimize(r);
        i = i + 1 == f.keys.size() ? 0 : i + 1;
    }
}
BENCHMARK(BM_FlowLookupHit)->Arg(1000)->Arg(100000)->Arg(1000000);

void BM_FlowLookupBulkHit(benchmark::State& state) {
    Filled& f = filled(static_cast<uint32_t>(state.range(0)));
    FlowRef results[kBurst];
    size_t i = 0;
    for (auto _ : state) {
        if (i + kBurst > f.keys.size()) {
            i = 0;
        }
        f.table->lookup_bulk(std::span(f.keys).subspan(i, kBurst), 2, results);
        for (const FlowRef& r : results) {
            f.table->update_tcp_state(r.flow, tcp_flag::ack, r.is_reply, 2);
        }
        benchmark::DoNotOptimize(results);
        i += kBurst;
    }
    state.counters["ns_per_pkt"] =
        benchmark::Counter(static_cast<double>(state.iterations() * kBurst) / 1e9,
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_FlowLookupBulkHit)->Arg(1000)->Arg(100000)->Arg(1000000);

// A new connection on a full table: lookup miss, insert (evicting the LRU
// entry), first SYN.
void BM_FlowMissInsert(benchmark::State& state) {
    const uint32_t n = static_cast<uint32_t>(state.range(0));
    FlowTableConfig config;
    config.max_flows = n;
    FlowTable table(config);
    uint32_t next = 0;
    for (; next < n; ++next) {
        table.insert(client_key(next), nat_for(next), 1);
    }
    uint32_t now = 2;
    for (auto _ : state) {
        FlowKey k = client_key(next);
        FlowRef r = table.lookup(k, now);
        if (r.flow == nullptr) {
            Flow* f = table.insert(k, nat_for(next), now);
            if (f != nullptr) {
                table.update_tcp_state(f, tcp_flag::syn, false, now);
            }
            benchmark::DoNotOptimize(f);
        }
        ++next;
    }
    state.counters["evicted"] = static_cast<double>(table.counters().evicted_transitory +
                                                    table.counters().evicted_established);
    state.counters["failed"] =
        static_cast<double>(table.counters().insert_failed + table.counters().insert_conflict);
    state.counters["bytes_per_flow"] =
        static_cast<double>(table.memory_bytes()) / static_cast<double>(table.capacity());
}
BENCHMARK(BM_FlowMissInsert)->Arg(1000)->Arg(100000)->Arg(1000000);

}  // namespace
}  // namespace svcgw
