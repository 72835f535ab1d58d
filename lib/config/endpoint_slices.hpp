// EndpointSlices and the endpoints of a Service as kube-proxy sees them
// (pkg/proxy/endpointslicecache.go): the slices of one Service are found by
// their kubernetes.io/service-name label, whenever either arrives, and
// merged into one endpoint list. One model for every source: files, the
// API's apply and the Kubernetes feed (lib/kube's cluster model).
//
// Pure C++, no locking: each owner (the control thread, the feed's model)
// has its own set.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"

namespace svcgw {

// The endpoints of one Service from its slices, in the order given (the
// callers pass them sorted by slice name). An address in several slices
// (an endpoint moving between slices) is one endpoint: the copy with the
// best conditions wins (not terminating, then ready, then serving; on a tie
// the first), and it keeps the ports of the other copies that it does not
// list itself. kube-proxy keeps whichever copy it meets first in a Go map
// (random order); this rule is its intent, made deterministic.
std::vector<EndpointConfig> merge_slices(std::span<const EndpointSliceConfig* const> slices);

// Each service with slices among `slices` takes its endpoints from them
// (EndpointSliceSet::join): files and apply, where both come in one input.
void join_endpoint_slices(std::vector<ServiceConfig>& services,
                          const std::vector<EndpointSliceConfig>& slices);

// Slices by their own key ("ns/name"), joined to Services by label.
class EndpointSliceSet {
public:
    // Adds or replaces a slice. Returns the service keys whose endpoints may
    // have changed (two when the slice moved to another Service).
    std::vector<std::string> upsert(EndpointSliceConfig slice);
    // Removes a slice; returns the key of the Service it belonged to.
    std::optional<std::string> erase(const std::string& slice_key);
    // Removes every slice of a Service; returns their keys.
    std::vector<std::string> erase_service(const std::string& service_key);

    bool has_service(const std::string& service_key) const;
    // merge_slices over the Service's slices, by slice name.
    std::vector<EndpointConfig> endpoints(const std::string& service_key) const;
    // The warnings of the Service's slices.
    Errors warnings(const std::string& service_key) const;
    const EndpointSliceConfig* find(const std::string& slice_key) const;
    // `service` with its endpoints from its slices, and where each one was
    // written (for errors), when it has slices; unchanged otherwise.
    void join(ServiceConfig& service) const;
    // Every slice, by service key then slice name.
    std::vector<const EndpointSliceConfig*> all() const;
    size_t size() const { return _owner.size(); }
    bool operator==(const EndpointSliceSet&) const = default;

private:
    // service key -> slice name -> slice; slice key -> service key
    std::map<std::string, std::map<std::string, EndpointSliceConfig>> _by_service;
    std::map<std::string, std::string> _owner;
};

}  // namespace svcgw
