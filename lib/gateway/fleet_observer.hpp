// What route health injection (lib/fleet) needs to know about the running
// gateway, gathered on the control thread: whether the data plane is up,
// each VIP's eligibility (the table's built ports: table/service.hpp's
// rules with health checks and all_down, not a copy of them), the SNAT addresses and the flows
// still held.
//
// Data plane up = every worker completed a flow census pass (which every
// loop runs at least once a second, idle or not) within kWorkerStallMs. A
// worker that stops looping (a bug, a stuck PMD) withdraws the instance's
// routes; a stopped or killed process is the routers' BFD's to notice.
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

// Three census periods (dataplane/worker.cpp kCensusPeriodS = 1 s): one late
// pass on a loaded box is not a failure.
constexpr uint64_t kWorkerStallMs = 3000;

class FleetObserver {
public:
    fleet::Observed observe(const ServiceTable& table, std::span<Worker* const> workers,
                            const Config& config, uint64_t now_ms);

private:
    std::vector<uint64_t> _passes;       // per worker: the last census pass count seen
    std::vector<uint64_t> _progress_ms;  // per worker: when it last moved
};

}  // namespace svcgw
