// ServicePublisher over the VIP table (control thread only): builds every
// new or changed service first, then removes, then upserts; on an
// unexpected table failure it restores the previous services.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "control/state.hpp"
#include "table/service_table.hpp"

namespace svcgw {

class TablePublisher : public ServicePublisher {
public:
    TablePublisher(ServiceTable& table, const std::vector<ServiceConfig>& published,
                   MaglevConfig maglev);

    Result<void> publish(const std::vector<ServiceConfig>& next, const ServiceDiff& diff,
                         const MaglevConfig& maglev) override;

private:
    ServiceTable& _table;
    // What the table holds, by "ns/name", for rollback; updated per diff
    // (an endpoint change costs O(1) here, not a copy of every service).
    std::map<std::string, ServiceConfig> _published;
    MaglevConfig _maglev;
};

}  // namespace svcgw
