// ControlState's endpoint changes: each one atomic step on the
// control thread, through change_endpoints.
#include <algorithm>

#include "control/state.hpp"

namespace svcgw {

Result<ChangeOutcome, ControlError> ControlState::change_endpoints(const std::string& ns,
                                                                   const std::string& name,
                                                                   Precondition expected,
                                                                   const EndpointEdit& edit) {
    auto rec = _records.find(ns + "/" + name);
    if (rec == _records.end()) {
        return Unexpected<ControlError>{not_found(ns, name)};
    }
    if (auto refused = check_owner(rec->first)) {
        return Unexpected<ControlError>{*refused};
    }
    if (expected) {
        if (auto stale = check_version(rec->second, *expected)) {
            return Unexpected<ControlError>{*stale};
        }
    }
    auto endpoints = edit(rec->second.config);
    if (!endpoints) {
        return Unexpected<ControlError>{endpoints.error()};
    }
    ServiceConfig updated = rec->second.config;
    updated.endpoints = std::move(*endpoints);
    updated.locations.clear();
    if (updated == rec->second.config) {
        return ChangeOutcome{ns, name, "unchanged", rec->second.resource_version};
    }
    // Only this service's endpoints change: its name, VIP and ports are as
    // validated before, so validating it alone is enough, and its record is
    // updated in place (an endpoint change stays O(one service) with 10,000
    // services loaded).
    Config one = skeleton();
    one.services.push_back(std::move(updated));
    auto valid = validate_and_allocate(one, {rec->second.config});
    if (!valid) {
        return Unexpected<ControlError>{invalid(name_services(valid.error(), one.services))};
    }
    ServiceConfig& next = one.services.front();
    ServiceDiff diff;
    diff.change(&rec->second.config, &next);
    auto published = _publisher.publish(diff, _sections.maglev);
    if (!published) {
        // 422 as through the full-set commit: the data plane refusing a valid
        // change (a table full) is the request's problem, not a bug.
        return Unexpected<ControlError>{invalid({published.error()})};
    }
    ++_version;
    track(&rec->second.config, &next);
    rec->second.config = std::move(next);
    rec->second.resource_version = _version;
    ChangeOutcome out{ns, name, "configured", _version};
    // The list is now written through the API: the service's slices (file
    // or apply) would bring their endpoints back at the next join.
    if (auto dropped = _slices.erase_service(rec->first); !dropped.empty()) {
        for (const std::string& slice : dropped) {
            _slice_origins.erase(slice);
        }
        out.note = "its EndpointSlices are replaced by this endpoint list";
    }
    return out;
}

namespace {

// A new endpoint without ports cannot serve a named targetPort: refused
// rather than added as an endpoint that never gets traffic.
std::optional<ControlError> check_ports_given(const ServiceConfig& service,
                                              const EndpointSpec& spec, const std::string& path) {
    if (spec.has(EndpointField::ports)) {
        return std::nullopt;
    }
    for (const ServicePortConfig& port : service.ports) {
        if (!port.target_port_name.empty()) {
            return ControlError{ControlErrorKind::invalid,
                                path + ": endpoint " + spec.endpoint.ip.str() +
                                    " lists no ports, and service port \"" + port.name +
                                    "\" targets the named port \"" + port.target_port_name +
                                    "\": give its ports ({name: " + port.name +
                                    ", port: N}; svcgwctl: IP:PORT)",
                                path + ".ports"};
        }
    }
    return std::nullopt;
}

std::vector<EndpointConfig>::const_iterator find_endpoint(const ServiceConfig& service, Ipv4 ip) {
    return std::find_if(service.endpoints.begin(), service.endpoints.end(),
                        [&](const EndpointConfig& e) { return e.ip == ip; });
}

ControlError endpoint_not_found(const std::string& name, Ipv4 ip) {
    return ControlError{ControlErrorKind::not_found,
                        "endpoint \"" + ip.str() + "\" of services \"" + name + "\" not found", ""};
}

}  // namespace

std::optional<ControlError> ControlState::check_version(const ServiceRecord& record,
                                                        uint64_t expected) const {
    if (record.resource_version == expected) {
        return std::nullopt;
    }
    return ControlError{ControlErrorKind::conflict,
                        "Operation cannot be fulfilled on services \"" + record.config.name +
                            "\": the object has been modified (resourceVersion " +
                            std::to_string(expected) + ", now " +
                            std::to_string(record.resource_version) + "); read it again and retry",
                        "resourceVersion"};
}

Result<ChangeOutcome, ControlError> ControlState::set_endpoints(const std::string& ns,
                                                                const std::string& name,
                                                                std::vector<EndpointSpec> endpoints,
                                                                Precondition expected) {
    if (!_records.contains(ns + "/" + name)) {
        return Unexpected<ControlError>{not_found(ns, name)};
    }
    if (!expected) {
        return Unexpected<ControlError>{
            ControlError{ControlErrorKind::precondition_required,
                         "replacing the endpoint list needs the resourceVersion read with GET "
                         "(so that two writers cannot lose an update)",
                         "resourceVersion"}};
    }
    return change_endpoints(
        ns, name, expected,
        [&](const ServiceConfig& current) -> Result<std::vector<EndpointConfig>, ControlError> {
            std::vector<EndpointConfig> next;
            for (size_t i = 0; i < endpoints.size(); ++i) {
                const EndpointSpec& spec = endpoints[i];
                EndpointConfig ep = spec.endpoint;
                auto old = find_endpoint(current, ep.ip);
                if (!spec.has(EndpointField::ports) && old != current.endpoints.end()) {
                    ep.ports = old->ports;
                } else if (auto e = check_ports_given(current, spec,
                                                      "endpoints[" + std::to_string(i) + "]")) {
                    return Unexpected<ControlError>{*e};
                }
                next.push_back(std::move(ep));
            }
            return next;
        });
}

Result<ChangeOutcome, ControlError> ControlState::upsert_endpoint(const std::string& ns,
                                                                  const std::string& name,
                                                                  const EndpointSpec& spec) {
    bool added = false;
    auto done = change_endpoints(
        ns, name, std::nullopt,
        [&](const ServiceConfig& current) -> Result<std::vector<EndpointConfig>, ControlError> {
            std::vector<EndpointConfig> next = current.endpoints;
            auto old = find_endpoint(current, spec.endpoint.ip);
            if (old != current.endpoints.end()) {
                next[old - current.endpoints.begin()] = spec.over(*old);
                return next;
            }
            if (auto e = check_ports_given(current, spec, "endpoint")) {
                return Unexpected<ControlError>{*e};
            }
            added = true;
            next.push_back(spec.endpoint);
            return next;
        });
    if (done && added) {
        done->action = "created";
    }
    return done;
}

namespace {

using EndpointList = std::vector<EndpointConfig>;

// An edit of the existing endpoint `ip`: NotFound without one, else `edit`
// gets the list and the endpoint's index in it.
auto on_existing(const std::string& name, Ipv4 ip,
                 std::function<void(EndpointList&, size_t)> edit) {
    return [&name, ip, edit = std::move(edit)](
               const ServiceConfig& current) -> Result<EndpointList, ControlError> {
        auto old = find_endpoint(current, ip);
        if (old == current.endpoints.end()) {
            return Unexpected<ControlError>{endpoint_not_found(name, ip)};
        }
        EndpointList next = current.endpoints;
        edit(next, static_cast<size_t>(old - current.endpoints.begin()));
        return next;
    };
}

}  // namespace

Result<ChangeOutcome, ControlError> ControlState::remove_endpoint(const std::string& ns,
                                                                  const std::string& name,
                                                                  Ipv4 ip) {
    return change_endpoints(ns, name, std::nullopt,
                            on_existing(name, ip, [](EndpointList& list, size_t i) {
                                list.erase(list.begin() + static_cast<ptrdiff_t>(i));
                            }));
}

Result<ChangeOutcome, ControlError> ControlState::drain_endpoint(const std::string& ns,
                                                                 const std::string& name, Ipv4 ip) {
    return change_endpoints(ns, name, std::nullopt,
                            on_existing(name, ip, [](EndpointList& list, size_t i) {
                                list[i].ready = false;
                                list[i].terminating = true;
                            }));
}

}  // namespace svcgw
