// Flow census: each worker walks its flow table in small steps during
// housekeeping (a budget of entries per step, so a big table never stalls
// packets) and, at the end of each pass, publishes the result to the
// control thread without a lock: a triple buffer (the worker fills one,
// the reader holds one, the third is the latest complete pass, swapped with
// one atomic exchange on each side). Gives per (VIP key, backend) live flow
// counts and a sample of live flows for GET /v1/flows.
//
// Threading: step() on the worker only; latest() on one reader thread (the
// control thread). Neither ever waits for the other, and steady-state
// passes allocate nothing (buffers and the counting table keep capacity).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "flow/flow_table.hpp"

namespace svcgw {

// Live flows sampled per pass (the flows GET /v1/flows can list).
constexpr uint32_t kCensusSamples = 1024;

struct BackendFlows {
    uint64_t vip = 0;  // VipKey::packed() of the flow's VIP, port and protocol
    uint32_t backend_ip_be = 0;
    uint32_t flows = 0;
};

struct FlowCensus {
    uint64_t passes = 0;  // completed passes; 0 = none yet
    uint32_t now_s = 0;   // worker clock at the end of the pass
    // One entry per (vip, backend) with live flows, sorted by (vip, backend).
    std::vector<BackendFlows> per_backend;
    std::vector<Flow> samples;  // at most kCensusSamples

    // Live flows of a VIP key, on all its backends or on one.
    uint64_t flows_of(uint64_t vip) const;
    uint32_t flows_of(uint64_t vip, uint32_t backend_ip_be) const;
};

class FlowCensusTaker {
public:
    FlowCensusTaker();

    // Worker: visits up to `budget` entries of the current pass; a new pass
    // starts at most once per kCensusPeriodS (census.cpp). A pass that
    // completes is published.
    void step(const FlowTable& flows, uint32_t now_s, uint32_t budget);

    // Reader: the last completed pass (passes == 0: none yet).
    FlowCensus latest();

private:
    // Open-addressed (vip, backend) -> flows counters of the pass in progress.
    void count(uint64_t vip, uint32_t backend_ip_be);
    void grow();
    void publish(uint32_t now_s);

    std::vector<BackendFlows> _counts;  // power-of-two slots, flows == 0 = free
    size_t _used = 0;
    uint32_t _cursor = 0;   // next flow-table entry of the pass
    uint32_t _start_s = 0;  // no new pass before this
    uint64_t _passes = 0;

    // Triple buffer: _back is the worker's, _front the reader's; _latest
    // holds the third's index, with kFresh set when the worker published it
    // since the reader last took it.
    static constexpr uint8_t kFresh = 4;
    std::array<FlowCensus, 3> _buffers;
    uint8_t _back = 0;
    uint8_t _front = 1;
    std::atomic<uint8_t> _latest{2};
};

}  // namespace svcgw
