// What route health injection (lib/fleet) needs to know about the running
// gateway, gathered on the control thread: whether the data plane is up,
// each VIP's eligibility (the table's built ports: table/service.hpp's
// rules with health checks and all_down, not a copy of them), the SNAT addresses and the flows
// still held.
//
// Data plane up = every worker's heartbeat (its loop's housekeeping passes,
// dataplane/worker.hpp) moved within kWorkerStallMs. A worker that stops
// looping (a bug, a stuck PMD) withdraws the instance's routes; a stopped or
// killed process is the routers' BFD's to notice. Not the flow census: a
// pass over a big table on a busy core can take longer than the bound, and
// a healthy gateway then withdrew its VIPs.
//
// Threading: control thread only.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "config/config.hpp"
#include "fleet/announcer.hpp"

namespace svcgw {

class ServiceTable;
class Worker;

// A heartbeat moves every 100 us to 0.5 ms while the loop runs: 3 s without
// one is a loop that is stuck, not one that is slow on a loaded box.
constexpr uint64_t kWorkerStallMs = 3000;

class FleetObserver {
public:
    fleet::Observed observe(const ServiceTable& table, std::span<Worker* const> workers,
                            const Config& config, uint64_t now_ms);

private:
    std::vector<uint64_t> _heartbeats;   // per worker: the last heartbeat seen
    std::vector<uint64_t> _progress_ms;  // per worker: when it last moved
};

}  // namespace svcgw
