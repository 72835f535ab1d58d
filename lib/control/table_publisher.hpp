// ServicePublisher over the VIP table (control thread only): builds every
// new or changed service first, then removes, then upserts; on an
// unexpected table failure it restores the previous services.
#pragma once

#include <vector>

#include "control/state.hpp"
#include "table/service_table.hpp"

namespace svcgw {

class TablePublisher : public ServicePublisher {
public:
    TablePublisher(ServiceTable& table, std::vector<ServiceConfig> published, MaglevConfig maglev)
        : _table(table), _published(std::move(published)), _maglev(maglev) {}

    Result<void> publish(const std::vector<ServiceConfig>& next, const ServiceDiff& diff,
                         const MaglevConfig& maglev) override;

private:
    ServiceTable& _table;
    std::vector<ServiceConfig> _published;  // what the table holds, for rollback
    MaglevConfig _maglev;
};

}  // namespace svcgw
