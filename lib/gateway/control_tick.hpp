// The control thread's periodic duty toward the workers (DESIGN §1), run by
// the daemon every kControlTickNs and by the in-process harness
// (perf/pktgen/inproc.hpp) on the same period:
//   - drain the workers' messages (ARP senders learned, next hops to
//     resolve) into the neighbour table, at most kControlDrainBudget per
//     ring per tick;
//   - advance the neighbour timers and send the ARP requests they ask for;
//   - reclaim what finished RCU grace periods released.
// Frames the control thread originates (ARP requests, announcements) go to
// worker 0 over the control_tx ring; worker 0 sends them on its own queue
// (port/port.hpp says why there is no control queue).
//
// Threading: control thread only.
#pragma once

#include <cstdint>
#include <functional>

#include "dataplane/worker.hpp"

struct rte_mbuf;

namespace svcgw {

class NeighbourTable;

// 1 ms keeps ARP resolution latency low while costing ~1000 wakeups/s,
// nothing next to a busy-polling worker.
constexpr long kControlTickNs = 1'000'000;
// Messages drained per tick per worker ring: bounded so a flood of ARP
// cannot starve signal handling and the API.
constexpr unsigned kControlDrainBudget = 256;

class ControlTick {
public:
    // `context` and `neighbours` must outlive the tick; `reclaim` frees what
    // the owner retired through RCU (the VIP table, the DNS zone).
    ControlTick(const WorkerContext& context, NeighbourTable& neighbours,
                std::function<void()> reclaim);

    void run(uint64_t now_ms);
    // Hands a frame to worker 0 for sending; frees it when the ring is full
    // (or when `frame` is null, does nothing).
    void send(rte_mbuf* frame);
    // Gratuitous ARP for ip_be at the port's MAC.
    void announce(uint32_t ip_be);

private:
    const WorkerContext& _ctx;
    NeighbourTable& _neighbours;
    std::function<void()> _reclaim;
};

}  // namespace svcgw
