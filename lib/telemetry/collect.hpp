// Sums the per-lcore counter blocks into a StatsSnapshot (control thread
// only: reads live Service objects of the table's writer side).
#pragma once

#include <span>
#include <vector>

#include "dataplane/instance_owner.hpp"
#include "dataplane/worker.hpp"
#include "table/service_table.hpp"
#include "telemetry/stats.hpp"

namespace svcgw {

// `census` holds one entry per worker (Worker::census()), may be empty.
StatsSnapshot collect_stats(const ServiceTable& table, std::span<const Worker* const> workers,
                            const std::vector<FlowCensus>& census);

// The fleet's members as `set` (the published MemberSet) has them.
FleetMembersStats member_stats(const MemberSet& set, uint64_t changes);

// Up to `limit` live flows from the censuses, worker by worker.
std::vector<FlowSample> flow_samples(const std::vector<FlowCensus>& census, size_t limit);

}  // namespace svcgw
