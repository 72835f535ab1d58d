// ServicePublisher over the VIP table (control thread only): builds every
// new or changed service first, then removes, then upserts; on an
// unexpected table failure it restores the previous services (the diff's
// replaced and removed versions: it keeps no copy of the set).
#pragma once

#include "control/state.hpp"
#include "table/service_table.hpp"

namespace svcgw {

class TablePublisher : public ServicePublisher {
public:
    // `maglev`: what the table's services were built with.
    TablePublisher(ServiceTable& table, MaglevConfig maglev) : _table(table), _maglev(maglev) {}

    Result<void> publish(const ServiceDiff& diff, const MaglevConfig& maglev) override;

private:
    ServiceTable& _table;
    MaglevConfig _maglev;  // of the published services, for a rollback
};

}  // namespace svcgw
