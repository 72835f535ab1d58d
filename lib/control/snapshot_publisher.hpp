// The publish step (control thread only): the one ServicePublisher that
// changes what the workers read, the VIP table and, when the daemon serves
// DNS, the cluster DNS zone (zone_versions.hpp), so a name and its VIP
// change together. ControlState gives it the diff of each change; it keeps
// no copy of the running set (a rollback restores the diff's replaced and
// removed versions).
//
// Order of publish(), all or nothing:
//   1. prepare the new zone version if the change touches DNS; an error
//      fails the change before anything is visible;
//   2. publish the VIP table diff: build every new or changed service first,
//      then removes, then upserts; on an unexpected table failure restore
//      the previous services and abandon the zone version;
//   3. commit the zone version (release store, RCU retire).
//
// Without a zone (tests, benchmarks of the table alone) or before go_live()
// only the table changes.
#pragma once

#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"
#include "control/state.hpp"
#include "control/zone_versions.hpp"
#include "table/service_table.hpp"

namespace svcgw {

class SnapshotPublisher : public ServicePublisher {
public:
    // `maglev`: what the table's services were built with. `zones` null: the
    // table alone. `dns_live` false: changes reach the VIP table only and no
    // zone is published (workers answer SERVFAIL) until go_live(); the
    // Kubernetes feed holds DNS so until its first complete list.
    SnapshotPublisher(ServiceTable& table, MaglevConfig maglev, ZoneVersions* zones = nullptr,
                      bool dns_live = true)
        : _table(table), _maglev(maglev), _zones(zones), _dns_live(dns_live && zones != nullptr) {}

    Result<void> publish(const ServiceDiff& diff, const MaglevConfig& maglev) override;
    // Publishes the zone of the whole running set; later changes update it.
    // Needs a zone.
    Result<void, Errors> go_live(const std::vector<ServiceConfig>& services);
    bool dns_live() const { return _dns_live; }

private:
    // Step 2: the VIP table's part, all or nothing.
    Result<void> publish_table(const ServiceDiff& diff, const MaglevConfig& maglev);

    ServiceTable& _table;
    MaglevConfig _maglev;  // of the published services, for a rollback
    ZoneVersions* _zones;
    bool _dns_live;
};

}  // namespace svcgw
