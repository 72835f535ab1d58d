// Per-identity traffic counters: one TrafficCounters per service
// port (ns/name, port, protocol) and per backend (ns/name, IP). Each has one
// cache-line lane per worker; a worker bumps only its own lane with a relaxed
// load + store (single writer, no read-modify-write atomics on the fast
// path), and the control thread sums the lanes with relaxed loads.
//
// Lifetime: the ServiceTable's control side keeps one counters object per
// identity for as long as the identity exists, and hands the *same* object
// to every new version of the service, so counters survive replacement
// (an endpoint change does not reset the service's totals). Service objects
// hold a shared_ptr (control only) plus a raw pointer for the workers; when
// an identity is deleted, the last reference goes with the retired Service,
// i.e. after the RCU grace period.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace svcgw {

struct alignas(64) TrafficLane {
    std::atomic<uint64_t> packets{0};    // client -> service packets
    std::atomic<uint64_t> bytes{0};      // their frame bytes
    std::atomic<uint64_t> new_flows{0};  // connections balanced here

    // Single writer (the lane's worker): load + store, not fetch_add.
    void add_packet(uint32_t frame_bytes) {
        bump(packets, 1);
        bump(bytes, frame_bytes);
    }
    void add_new_flow() { bump(new_flows, 1); }

private:
    static void bump(std::atomic<uint64_t>& c, uint64_t n) {
        c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
};

struct TrafficTotals {
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t new_flows = 0;
};

class TrafficCounters {
public:
    explicit TrafficCounters(uint32_t lanes)
        : _lanes(std::make_unique<TrafficLane[]>(lanes == 0 ? 1 : lanes)),
          _count(lanes == 0 ? 1 : lanes) {}

    // lane < lanes(): the worker index (its QSBR thread id).
    TrafficLane& lane(uint32_t lane) const { return _lanes[lane]; }
    uint32_t lanes() const { return _count; }

    TrafficTotals sum() const {
        TrafficTotals t;
        for (uint32_t i = 0; i < _count; ++i) {
            t.packets += _lanes[i].packets.load(std::memory_order_relaxed);
            t.bytes += _lanes[i].bytes.load(std::memory_order_relaxed);
            t.new_flows += _lanes[i].new_flows.load(std::memory_order_relaxed);
        }
        return t;
    }

private:
    std::unique_ptr<TrafficLane[]> _lanes;
    uint32_t _count;
};

}  // namespace svcgw
