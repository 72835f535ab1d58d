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

ApiError not_found(const std::string& ns, const std::string& name) {
    (void)ns;
    return ApiError{404, "NotFound", "services \"" + name + "\" not found", ""};
}

ApiError invalid(const Errors& errors, const std::string& prefix_to_strip) {
    ApiError e{422, "Invalid", "", ""};
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
        _records[s.key()] = ServiceRecord{s, Origin::file, now_unix_s};
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
    std::map<std::string, ServiceRecord> records;
    for (const auto& s : candidate.services) {
        auto old = _records.find(s.key());
        ServiceRecord r;
        r.config = s;
        auto o = origins.find(s.key());
        r.origin = o != origins.end() ? o->second
                                      : (old != _records.end() ? old->second.origin : Origin::api);
        r.created_unix_s = old != _records.end() ? old->second.created_unix_s : now_unix_s;
        records[s.key()] = std::move(r);
    }
    DiffCounts counts{diff.added.size(), diff.changed.size(), diff.removed.size()};
    _records = std::move(records);
    _config = std::move(candidate);  // the diff's pointers die here
    return counts;
}

Result<std::vector<ChangeOutcome>, ApiError> ControlState::apply(
    std::vector<ServiceConfig> services, bool create_only, int64_t now_unix_s) {
    std::map<std::string, size_t> incoming;
    for (size_t i = 0; i < services.size(); ++i) {
        if (!incoming.emplace(services[i].key(), i).second) {
            return Unexpected<ApiError>{
                ApiError{400, "BadRequest",
                         "service " + services[i].key() + " appears twice in the request", ""}};
        }
        if (create_only && _records.contains(services[i].key())) {
            return Unexpected<ApiError>{ApiError{
                409, "AlreadyExists", "services \"" + services[i].name + "\" already exists", ""}};
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
        return Unexpected<ApiError>{invalid(done.error())};
    }
    for (auto& o : outcomes) {
        auto b = before.find(o.ns + "/" + o.name);
        if (b != before.end() && b->second == _records.at(b->first).config) {
            o.action = "unchanged";
        }
    }
    return outcomes;
}

Result<ChangeOutcome, ApiError> ControlState::remove(const std::string& ns,
                                                     const std::string& name) {
    const std::string key = ns + "/" + name;
    if (!_records.contains(key)) {
        return Unexpected<ApiError>{not_found(ns, name)};
    }
    std::vector<ServiceConfig> next;
    for (const auto& s : _config.services) {
        if (s.key() != key) {
            next.push_back(s);
        }
    }
    auto done = commit(std::move(next), {}, 0, nullptr);
    if (!done) {
        return Unexpected<ApiError>{invalid(done.error())};
    }
    return ChangeOutcome{ns, name, "deleted"};
}

Result<ChangeOutcome, ApiError> ControlState::set_endpoints(const std::string& ns,
                                                            const std::string& name,
                                                            std::vector<EndpointConfig> endpoints) {
    auto rec = _records.find(ns + "/" + name);
    if (rec == _records.end()) {
        return Unexpected<ApiError>{not_found(ns, name)};
    }
    ServiceConfig updated = rec->second.config;
    updated.endpoints = std::move(endpoints);
    updated.locations.clear();
    if (updated == rec->second.config) {
        return ChangeOutcome{ns, name, "unchanged"};
    }
    // Only this service's endpoints change: its name, VIP and ports are as
    // validated before, so validating it alone is enough, and the running
    // set is updated in place (an endpoint change stays O(one service)
    // with 10,000 services loaded).
    Config one = skeleton();
    one.services.push_back(std::move(updated));
    auto valid = validate_and_allocate(one, {rec->second.config});
    if (!valid) {
        return Unexpected<ApiError>{invalid(name_services(valid.error(), one.services))};
    }
    auto slot = std::lower_bound(
        _config.services.begin(), _config.services.end(), rec->first,
        [](const ServiceConfig& s, const std::string& key) { return s.key() < key; });
    if (slot == _config.services.end() || slot->key() != rec->first) {
        return Unexpected<ApiError>{ApiError{500, "InternalError", "running set out of order", ""}};
    }
    ServiceConfig previous = std::move(*slot);
    *slot = std::move(one.services.front());
    ServiceDiff diff;
    diff.changed.push_back(&*slot);
    auto published = _publisher.publish(_config.services, diff, _config.maglev);
    if (!published) {
        *slot = std::move(previous);
        return Unexpected<ApiError>{invalid(name_services({published.error()}, _config.services))};
    }
    ++_version;
    rec->second.config = *slot;
    return ChangeOutcome{ns, name, "configured"};
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
        _records.at(s->key()).config = *s;
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
