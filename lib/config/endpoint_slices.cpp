#include "config/endpoint_slices.hpp"

#include <algorithm>
#include <tuple>
#include <utility>

namespace svcgw {

namespace {

// Higher is better: a copy that is not terminating, then ready, then serving.
std::tuple<bool, bool, bool> rank(const EndpointConfig& e) {
    return {!e.terminating, e.ready, e.serving};
}

// `from`'s ports for service ports `into` lists nothing for.
void add_missing_ports(EndpointConfig& into, const EndpointConfig& from) {
    for (const EndpointPort& p : from.ports) {
        if (std::none_of(into.ports.begin(), into.ports.end(),
                         [&](const EndpointPort& q) { return q.name == p.name; })) {
            into.ports.push_back(p);
        }
    }
}

// A merged endpoint and the slice copy it was taken from.
struct Merged {
    EndpointConfig endpoint;
    const EndpointSliceConfig* slice = nullptr;
    size_t index = 0;  // in slice->endpoints
};

std::vector<Merged> merge_traced(std::span<const EndpointSliceConfig* const> slices) {
    std::vector<Merged> out;
    std::map<Ipv4, size_t> at;  // address -> index in out
    for (const EndpointSliceConfig* slice : slices) {
        for (size_t i = 0; i < slice->endpoints.size(); ++i) {
            const EndpointConfig& copy = slice->endpoints[i];
            auto [it, fresh] = at.emplace(copy.ip, out.size());
            if (fresh) {
                out.push_back(Merged{copy, slice, i});
                continue;
            }
            Merged& kept = out[it->second];
            if (rank(copy) > rank(kept.endpoint)) {
                EndpointConfig previous = std::exchange(kept.endpoint, copy);
                kept.slice = slice;
                kept.index = i;
                add_missing_ports(kept.endpoint, previous);
            } else {
                add_missing_ports(kept.endpoint, copy);
            }
        }
    }
    return out;
}

std::string endpoint_key(size_t index) {
    return "endpoints[" + std::to_string(index) + "]";
}

}  // namespace

std::vector<EndpointConfig> merge_slices(std::span<const EndpointSliceConfig* const> slices) {
    std::vector<EndpointConfig> out;
    for (Merged& m : merge_traced(slices)) {
        out.push_back(std::move(m.endpoint));
    }
    return out;
}

std::vector<std::string> EndpointSliceSet::upsert(EndpointSliceConfig slice) {
    std::vector<std::string> touched;
    const std::string key = slice.key();
    const std::string service = slice.service_key();
    auto owner = _owner.find(key);
    if (owner != _owner.end() && owner->second != service) {
        touched.push_back(*erase(key));  // the slice moved to another Service
    }
    _owner[key] = service;
    _by_service[service].insert_or_assign(slice.name, std::move(slice));
    touched.push_back(service);
    return touched;
}

std::optional<std::string> EndpointSliceSet::erase(const std::string& slice_key) {
    auto owner = _owner.find(slice_key);
    if (owner == _owner.end()) {
        return std::nullopt;
    }
    std::string service = owner->second;
    auto slices = _by_service.find(service);
    if (slices != _by_service.end()) {
        slices->second.erase(slice_key.substr(slice_key.find('/') + 1));
        if (slices->second.empty()) {
            _by_service.erase(slices);
        }
    }
    _owner.erase(owner);
    return service;
}

std::vector<std::string> EndpointSliceSet::erase_service(const std::string& service_key) {
    std::vector<std::string> keys;
    auto slices = _by_service.find(service_key);
    if (slices == _by_service.end()) {
        return keys;
    }
    for (const auto& [name, slice] : slices->second) {
        keys.push_back(slice.key());
        _owner.erase(slice.key());
    }
    _by_service.erase(slices);
    return keys;
}

bool EndpointSliceSet::has_service(const std::string& service_key) const {
    return _by_service.contains(service_key);
}

std::vector<EndpointConfig> EndpointSliceSet::endpoints(const std::string& service_key) const {
    std::vector<const EndpointSliceConfig*> ordered;
    if (auto slices = _by_service.find(service_key); slices != _by_service.end()) {
        for (const auto& [name, slice] : slices->second) {
            ordered.push_back(&slice);
        }
    }
    return merge_slices(ordered);
}

Errors EndpointSliceSet::warnings(const std::string& service_key) const {
    Errors out;
    if (auto slices = _by_service.find(service_key); slices != _by_service.end()) {
        for (const auto& [name, slice] : slices->second) {
            out.insert(out.end(), slice.warnings.begin(), slice.warnings.end());
        }
    }
    return out;
}

const EndpointSliceConfig* EndpointSliceSet::find(const std::string& slice_key) const {
    auto owner = _owner.find(slice_key);
    if (owner == _owner.end()) {
        return nullptr;
    }
    const auto& slices = _by_service.at(owner->second);
    auto it = slices.find(slice_key.substr(slice_key.find('/') + 1));
    return it == slices.end() ? nullptr : &it->second;
}

void EndpointSliceSet::join(ServiceConfig& service) const {
    auto slices = _by_service.find(service.key());
    if (slices == _by_service.end()) {
        return;
    }
    std::vector<const EndpointSliceConfig*> ordered;
    for (const auto& [name, slice] : slices->second) {
        ordered.push_back(&slice);
    }
    // Inline endpoints give way to the slices; so do their locations.
    std::erase_if(service.locations,
                  [](const auto& entry) { return entry.first.starts_with("endpoints"); });
    service.endpoints.clear();
    for (Merged& m : merge_traced(ordered)) {
        const std::string from = endpoint_key(m.index);
        const std::string to = endpoint_key(service.endpoints.size());
        for (auto it = m.slice->locations.lower_bound(from);
             it != m.slice->locations.end() && it->first.starts_with(from); ++it) {
            const std::string suffix = it->first.substr(from.size());
            if (suffix.empty() || suffix.front() == '.') {
                service.locations[to + suffix] = it->second;
            }
        }
        service.endpoints.push_back(std::move(m.endpoint));
    }
}

std::vector<const EndpointSliceConfig*> EndpointSliceSet::all() const {
    std::vector<const EndpointSliceConfig*> out;
    for (const auto& [service, slices] : _by_service) {
        for (const auto& [name, slice] : slices) {
            out.push_back(&slice);
        }
    }
    return out;
}

void join_endpoint_slices(std::vector<ServiceConfig>& services,
                          const std::vector<EndpointSliceConfig>& slices) {
    if (slices.empty()) {
        return;
    }
    EndpointSliceSet set;
    for (const EndpointSliceConfig& slice : slices) {
        set.upsert(slice);
    }
    for (ServiceConfig& service : services) {
        set.join(service);
    }
}

}  // namespace svcgw
