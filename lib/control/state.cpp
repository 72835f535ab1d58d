#include "control/state.hpp"

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

namespace svcgw {

std::string_view to_string(Origin origin) {
    switch (origin) {
        case Origin::file:
            return "file";
        case Origin::api:
            return "api";
        case Origin::kubernetes:
            return "kubernetes";
    }
    return "api";
}

ControlError not_found(const std::string& ns, const std::string& name) {
    (void)ns;
    return ControlError{ControlErrorKind::not_found, "services \"" + name + "\" not found", ""};
}

ControlError invalid(const Errors& errors, const std::string& prefix_to_strip) {
    ControlError e{ControlErrorKind::invalid, "", ""};
    for (const Error& err : errors) {
        std::string path = err.path;
        if (!prefix_to_strip.empty() && path.rfind(prefix_to_strip, 0) == 0) {
            path = path.substr(prefix_to_strip.size());
        }
        if (e.path.empty()) {
            e.path = path;
        }
        if (!e.message.empty()) {
            e.message += "; ";
        }
        e.message += path.empty() ? err.message : path + ": " + err.message;
    }
    return e;
}

ServiceDiff diff_services(const std::vector<ServiceConfig>& previous,
                          const std::vector<ServiceConfig>& next, bool maglev_changed) {
    std::map<std::string, const ServiceConfig*> old_by_key;
    for (const auto& s : previous) {
        old_by_key[s.key()] = &s;
    }
    ServiceDiff diff;
    std::set<std::string> seen;
    for (const auto& s : next) {
        seen.insert(s.key());
        auto it = old_by_key.find(s.key());
        if (it == old_by_key.end()) {
            diff.added.push_back(&s);
        } else if (maglev_changed || !(*it->second == s)) {
            diff.changed.push_back(&s);
        }
    }
    for (const auto& s : previous) {
        if (!seen.contains(s.key())) {
            diff.removed.push_back(&s);
        }
    }
    return diff;
}

namespace {

// "services[3].ports[0]" -> "default/web.ports[0]": indices into the
// combined set mean nothing to an API client.
Errors name_services(Errors errors, const std::vector<ServiceConfig>& services) {
    for (Error& e : errors) {
        if (e.path.rfind("services[", 0) != 0) {
            continue;
        }
        size_t close = e.path.find(']');
        if (close == std::string::npos) {
            continue;
        }
        size_t index = std::stoul(e.path.substr(9, close - 9));
        if (index < services.size()) {
            e.path = services[index].key() + e.path.substr(close + 1);
        }
    }
    return errors;
}

}  // namespace

ControlState::ControlState(Config base, ServicePublisher& publisher, int64_t now_unix_s)
    : _config(std::move(base)), _publisher(publisher) {
    std::sort(_config.services.begin(), _config.services.end(),
              [](const auto& a, const auto& b) { return a.key() < b.key(); });
    for (const auto& s : _config.services) {
        _records[s.key()] = ServiceRecord{s, Origin::file, now_unix_s, _version};
    }
}

const ServiceRecord* ControlState::find(const std::string& ns, const std::string& name) const {
    auto it = _records.find(ns + "/" + name);
    return it == _records.end() ? nullptr : &it->second;
}

Config ControlState::skeleton() const {
    Config c;
    c.source = _config.source;
    c.dpdk = _config.dpdk;
    c.ports = _config.ports;
    c.network = _config.network;
    c.forwarding = _config.forwarding;
    c.maglev = _config.maglev;
    c.conntrack = _config.conntrack;
    c.dns = _config.dns;
    c.api = _config.api;
    c.metrics = _config.metrics;
    c.locations = _config.locations;
    return c;
}

Result<DiffCounts, Errors> ControlState::commit(std::vector<ServiceConfig> next,
                                                const std::map<std::string, Origin>& origins,
                                                int64_t now_unix_s, const Config* sections) {
    std::sort(next.begin(), next.end(),
              [](const auto& a, const auto& b) { return a.key() < b.key(); });
    Config candidate = sections != nullptr ? *sections : skeleton();
    candidate.services = std::move(next);
    auto valid = validate_and_allocate(candidate, _config.services);
    if (!valid) {
        return Unexpected<Errors>{name_services(valid.error(), candidate.services)};
    }
    const bool maglev_changed = candidate.maglev.seed != _config.maglev.seed ||
                                candidate.maglev.table_size != _config.maglev.table_size;
    ServiceDiff diff = diff_services(_config.services, candidate.services, maglev_changed);
    if (!diff.empty()) {
        // The one place where the service set changes (VIP table, DNS zone).
        auto published = _publisher.publish(candidate.services, diff, candidate.maglev);
        if (!published) {
            Error e = published.error();
            return Unexpected<Errors>{name_services({e}, candidate.services)};
        }
        ++_version;
    }
    std::set<std::string> touched;
    for (const auto* list : {&diff.added, &diff.changed}) {
        for (const ServiceConfig* s : *list) {
            touched.insert(s->key());
        }
    }
    std::map<std::string, ServiceRecord> records;
    for (const auto& s : candidate.services) {
        auto old = _records.find(s.key());
        ServiceRecord r;
        r.config = s;
        auto o = origins.find(s.key());
        r.origin = o != origins.end() ? o->second
                                      : (old != _records.end() ? old->second.origin : Origin::api);
        r.created_unix_s = old != _records.end() ? old->second.created_unix_s : now_unix_s;
        r.resource_version = touched.contains(s.key()) || old == _records.end()
                                 ? _version
                                 : old->second.resource_version;
        records[s.key()] = std::move(r);
    }
    DiffCounts counts{diff.added.size(), diff.changed.size(), diff.removed.size()};
    _records = std::move(records);
    _config = std::move(candidate);  // the diff's pointers die here
    return counts;
}

Result<std::vector<ChangeOutcome>, ControlError> ControlState::apply(
    std::vector<ServiceConfig> services, bool create_only, int64_t now_unix_s,
    Precondition expected) {
    std::map<std::string, size_t> incoming;
    for (size_t i = 0; i < services.size(); ++i) {
        if (!incoming.emplace(services[i].key(), i).second) {
            return Unexpected<ControlError>{
                ControlError{ControlErrorKind::bad_request,
                             "service " + services[i].key() + " appears twice in the request", ""}};
        }
        if (create_only && _records.contains(services[i].key())) {
            return Unexpected<ControlError>{
                ControlError{ControlErrorKind::already_exists,
                             "services \"" + services[i].name + "\" already exists", ""}};
        }
    }
    if (expected) {
        if (services.size() != 1) {
            return Unexpected<ControlError>{ControlError{
                ControlErrorKind::bad_request, "a resourceVersion applies to one service", ""}};
        }
        const ServiceRecord* rec = find(services[0].ns, services[0].name);
        if (rec == nullptr) {
            return Unexpected<ControlError>{not_found(services[0].ns, services[0].name)};
        }
        if (auto stale = check_version(*rec, *expected)) {
            return Unexpected<ControlError>{*stale};
        }
    }
    std::vector<ServiceConfig> next;
    std::vector<ChangeOutcome> outcomes(services.size());
    std::map<std::string, Origin> origins;
    for (const auto& s : _config.services) {
        if (!incoming.contains(s.key())) {
            next.push_back(s);
        }
    }
    for (size_t i = 0; i < services.size(); ++i) {
        ServiceConfig& s = services[i];
        auto old = _records.find(s.key());
        outcomes[i] = ChangeOutcome{s.ns, s.name, old == _records.end() ? "created" : "configured"};
        if (old != _records.end()) {
            // Allocated (not explicit) ClusterIPs are kept by previous-aware
            // allocation; compare after validation below.
        } else {
            origins[s.key()] = Origin::api;
        }
        next.push_back(std::move(s));
    }
    std::map<std::string, ServiceConfig> before;
    for (const auto& [key, r] : _records) {
        if (incoming.contains(key)) {
            before.emplace(key, r.config);
        }
    }
    auto done = commit(std::move(next), origins, now_unix_s, nullptr);
    if (!done) {
        return Unexpected<ControlError>{invalid(done.error())};
    }
    for (auto& o : outcomes) {
        const ServiceRecord& now = _records.at(o.ns + "/" + o.name);
        auto b = before.find(o.ns + "/" + o.name);
        if (b != before.end() && b->second == now.config) {
            o.action = "unchanged";
        }
        o.resource_version = now.resource_version;
    }
    return outcomes;
}

Result<ChangeOutcome, ControlError> ControlState::remove(const std::string& ns,
                                                         const std::string& name) {
    const std::string key = ns + "/" + name;
    if (!_records.contains(key)) {
        return Unexpected<ControlError>{not_found(ns, name)};
    }
    std::vector<ServiceConfig> next;
    for (const auto& s : _config.services) {
        if (s.key() != key) {
            next.push_back(s);
        }
    }
    auto done = commit(std::move(next), {}, 0, nullptr);
    if (!done) {
        return Unexpected<ControlError>{invalid(done.error())};
    }
    return ChangeOutcome{ns, name, "deleted", _version};
}

Result<ChangeOutcome, ControlError> ControlState::change_endpoints(const std::string& ns,
                                                                   const std::string& name,
                                                                   Precondition expected,
                                                                   const EndpointEdit& edit) {
    auto rec = _records.find(ns + "/" + name);
    if (rec == _records.end()) {
        return Unexpected<ControlError>{not_found(ns, name)};
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
    // validated before, so validating it alone is enough, and the running
    // set is updated in place (an endpoint change stays O(one service)
    // with 10,000 services loaded).
    Config one = skeleton();
    one.services.push_back(std::move(updated));
    auto valid = validate_and_allocate(one, {rec->second.config});
    if (!valid) {
        return Unexpected<ControlError>{invalid(name_services(valid.error(), one.services))};
    }
    auto slot = std::lower_bound(
        _config.services.begin(), _config.services.end(), rec->first,
        [](const ServiceConfig& s, const std::string& key) { return s.key() < key; });
    if (slot == _config.services.end() || slot->key() != rec->first) {
        return Unexpected<ControlError>{
            ControlError{ControlErrorKind::internal, "running set out of order", ""}};
    }
    ServiceConfig previous = std::move(*slot);
    *slot = std::move(one.services.front());
    ServiceDiff diff;
    diff.changed.push_back(&*slot);
    auto published = _publisher.publish(_config.services, diff, _config.maglev);
    if (!published) {
        *slot = std::move(previous);
        ControlError e = invalid(name_services({published.error()}, _config.services));
        e.kind = ControlErrorKind::internal;
        return Unexpected<ControlError>{e};
    }
    ++_version;
    rec->second.config = *slot;
    rec->second.resource_version = _version;
    return ChangeOutcome{ns, name, "configured", _version};
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

Result<void> ControlState::republish(const std::vector<std::string>& keys) {
    ServiceDiff diff;
    for (const std::string& key : keys) {
        auto slot = std::lower_bound(
            _config.services.begin(), _config.services.end(), key,
            [](const ServiceConfig& s, const std::string& k) { return s.key() < k; });
        if (slot != _config.services.end() && slot->key() == key) {
            diff.changed.push_back(&*slot);
        }
    }
    if (diff.empty()) {
        return {};
    }
    return _publisher.publish(_config.services, diff, _config.maglev);
}

Result<DiffCounts, Errors> ControlState::reload(Config file, int64_t now_unix_s) {
    std::set<std::string> named;
    std::map<std::string, Origin> origins;
    std::vector<ServiceConfig> next;
    // The cluster wins over the file: a file entry with the key of a
    // service the Kubernetes feed serves is not applied.
    std::erase_if(file.services, [&](const ServiceConfig& s) {
        auto r = _records.find(s.key());
        return r != _records.end() && r->second.origin == Origin::kubernetes;
    });
    for (auto& s : file.services) {
        named.insert(s.key());
        origins[s.key()] = Origin::file;
    }
    for (const auto& s : _config.services) {
        const ServiceRecord& r = _records.at(s.key());
        if (r.origin == Origin::kubernetes ||
            (r.origin == Origin::api && !named.contains(s.key()))) {
            next.push_back(s);  // API-created: persists until deleted through the API
        }
    }
    for (auto& s : file.services) {
        next.push_back(std::move(s));
    }
    // The file's own sections are validated with the whole service set;
    // services without a cluster_ip keep the IP they run with.
    file.services.clear();
    return commit(std::move(next), origins, now_unix_s, &file);
}

}  // namespace svcgw

namespace svcgw {

namespace {

// "ns/name" of an error path named by name_services ("ns/name.ports[0]").
std::string key_of_path(const std::string& path) {
    size_t slash = path.find('/');
    if (slash == std::string::npos) {
        return {};
    }
    return path.substr(0, path.find('.', slash));
}

// Every (VIP, port, protocol) a service answers on.
std::set<std::tuple<uint32_t, uint16_t, Protocol>> vip_keys(const ServiceConfig& s) {
    std::set<std::tuple<uint32_t, uint16_t, Protocol>> keys;
    if (s.cluster_ip && !s.headless) {
        for (const ServicePortConfig& p : s.ports) {
            keys.emplace(s.cluster_ip->value, p.port, p.protocol);
        }
    }
    return keys;
}

}  // namespace

std::optional<Result<SyncOutcome, Errors>> ControlState::sync_endpoints(
    Origin origin, std::vector<ServiceConfig>& upserts) {
    // Applies when every upsert is a running service of `origin` whose
    // endpoints alone differ: then each one is validated alone (its name,
    // VIP and ports are as validated before), and the set is patched in
    // place: O(changed services), not O(running set), per event.
    std::vector<std::vector<ServiceConfig>::iterator> slots;
    for (ServiceConfig& s : upserts) {
        auto rec = _records.find(s.key());
        if (rec == _records.end() || rec->second.origin != origin) {
            return std::nullopt;
        }
        ServiceConfig same = rec->second.config;
        same.endpoints = s.endpoints;
        if (!(same == s) || s.cluster_ip != rec->second.config.cluster_ip) {
            return std::nullopt;
        }
        auto slot = std::lower_bound(
            _config.services.begin(), _config.services.end(), rec->first,
            [](const ServiceConfig& c, const std::string& key) { return c.key() < key; });
        if (slot == _config.services.end() || slot->key() != rec->first) {
            return std::nullopt;
        }
        slots.push_back(slot);
    }
    SyncOutcome outcome;
    std::vector<std::pair<std::vector<ServiceConfig>::iterator, ServiceConfig>> previous;
    ServiceDiff diff;
    for (size_t i = 0; i < upserts.size(); ++i) {
        if (upserts[i] == *slots[i]) {
            continue;
        }
        Config one = skeleton();
        one.services.push_back(upserts[i]);
        auto valid = validate_and_allocate(one, {*slots[i]});
        if (!valid) {
            outcome.rejected.emplace_back(upserts[i].key(),
                                          name_services(valid.error(), one.services));
            continue;
        }
        previous.emplace_back(slots[i], std::move(*slots[i]));
        *slots[i] = std::move(one.services.front());
        diff.changed.push_back(&*slots[i]);
    }
    if (!outcome.rejected.empty()) {
        // A rejected endpoint change withdraws the service: the general path.
        for (auto& [slot, old] : previous) {
            *slot = std::move(old);
        }
        return std::nullopt;
    }
    if (diff.empty()) {
        return Result<SyncOutcome, Errors>(std::move(outcome));
    }
    auto published = _publisher.publish(_config.services, diff, _config.maglev);
    if (!published) {
        for (auto& [slot, old] : previous) {
            *slot = std::move(old);
        }
        return Result<SyncOutcome, Errors>(
            Unexpected<Errors>{name_services({published.error()}, _config.services)});
    }
    ++_version;
    for (const ServiceConfig* s : diff.changed) {
        ServiceRecord& record = _records.at(s->key());
        record.config = *s;
        record.resource_version = _version;
    }
    outcome.counts.changed = diff.changed.size();
    return Result<SyncOutcome, Errors>(std::move(outcome));
}

Result<SyncOutcome, Errors> ControlState::sync(Origin origin, std::vector<ServiceConfig> upserts,
                                               const std::vector<std::string>& removals,
                                               int64_t now_unix_s) {
    if (removals.empty()) {
        if (auto fast = sync_endpoints(origin, upserts)) {
            return std::move(*fast);
        }
    }
    std::map<std::string, ServiceConfig> incoming;
    for (ServiceConfig& s : upserts) {
        s.locations.clear();
        std::string key = s.key();
        incoming.insert_or_assign(std::move(key), std::move(s));
    }
    std::set<std::string> removed;
    for (const std::string& key : removals) {
        auto r = _records.find(key);
        if (r != _records.end() && r->second.origin == origin && !incoming.contains(key)) {
            removed.insert(key);
        }
    }
    SyncOutcome outcome;
    std::set<std::string> left_out;  // rejected keys
    // Each round leaves out the services the validation blamed; a conflict
    // blamed on a service outside the batch leaves out the batch services
    // that share its VIP. Bounded: every round leaves out at least one.
    while (true) {
        std::vector<ServiceConfig> next;
        std::map<std::string, Origin> origins;
        for (const ServiceConfig& s : _config.services) {
            const std::string key = s.key();
            const bool mine = _records.at(key).origin == origin;
            if (removed.contains(key) || (incoming.contains(key) && !left_out.contains(key)) ||
                (mine && left_out.contains(key))) {
                continue;
            }
            next.push_back(s);
        }
        for (const auto& [key, s] : incoming) {
            if (!left_out.contains(key)) {
                next.push_back(s);
                origins[key] = origin;
            }
        }
        auto done = commit(std::move(next), origins, now_unix_s, nullptr);
        if (done) {
            outcome.counts = *done;
            return outcome;
        }
        std::map<std::string, Errors> blamed;
        for (const Error& e : done.error()) {
            blamed[key_of_path(e.path)].push_back(e);
        }
        size_t before = left_out.size();
        for (const auto& [key, errors] : blamed) {
            if (incoming.contains(key) && !left_out.contains(key)) {
                left_out.insert(key);
                outcome.rejected.emplace_back(key, errors);
                continue;
            }
            auto other = _records.find(key);
            if (other == _records.end()) {
                continue;
            }
            auto theirs = vip_keys(other->second.config);
            for (const auto& [mine, s] : incoming) {
                if (left_out.contains(mine)) {
                    continue;
                }
                for (const auto& k : vip_keys(s)) {
                    if (theirs.contains(k)) {
                        left_out.insert(mine);
                        outcome.rejected.emplace_back(mine, errors);
                        break;
                    }
                }
            }
        }
        if (left_out.size() == before) {
            return Unexpected<Errors>{done.error()};  // not attributable: nothing changed
        }
    }
}

}  // namespace svcgw
