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
            diff.change(it->second, &s);
        }
    }
    for (const auto& s : previous) {
        if (!seen.contains(s.key())) {
            diff.removed.push_back(&s);
        }
    }
    return diff;
}

void apply_diff(std::map<std::string, ServiceConfig>& set, const ServiceDiff& diff) {
    for (const ServiceConfig* s : diff.removed) {
        set.erase(s->key());
    }
    for (const auto* list : {&diff.added, &diff.changed}) {
        for (const ServiceConfig* s : *list) {
            set.insert_or_assign(s->key(), *s);
        }
    }
}

// Indices into the combined set mean nothing to an API client.
Errors ControlState::name_services(Errors errors, const std::vector<ServiceConfig>& services) {
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

ControlState::ControlState(Config base, ServicePublisher& publisher, int64_t now_unix_s)
    : _sections(std::move(base)), _publisher(publisher) {
    // A validated set: one service per key.
    for (ServiceConfig& s : _sections.services) {
        std::string key = s.key();
        auto [record, fresh] = _records.emplace(
            std::move(key), ServiceRecord{std::move(s), Origin::file, now_unix_s, _version});
        if (fresh) {
            track(nullptr, &record->second.config);
        }
    }
    _sections.services.clear();
    // Joined into the services already (load_config); kept for later joins.
    for (EndpointSliceConfig& slice : _sections.endpoint_slices) {
        _slice_origins[slice.key()] = Origin::file;
        _slices.upsert(std::move(slice));
    }
    _sections.endpoint_slices.clear();
    _sections.skipped.clear();
}

std::vector<ServiceConfig> ControlState::running() const {
    std::vector<ServiceConfig> out;
    out.reserve(_records.size());
    for (const auto& [key, record] : _records) {
        out.push_back(record.config);
    }
    return out;
}

Config ControlState::running_config() const {
    Config c = _sections;
    c.services = running();
    return c;
}

std::optional<ServiceConfig> ControlState::running_version(const std::string& key) const {
    auto it = _records.find(key);
    if (it == _records.end()) {
        return std::nullopt;
    }
    return it->second.config;
}

Origin ControlState::slice_origin(const std::string& slice_key) const {
    auto it = _slice_origins.find(slice_key);
    return it == _slice_origins.end() ? Origin::api : it->second;
}

Errors ControlState::warnings(const ServiceRecord& record) const {
    const ServiceConfig& s = record.config;
    Errors out = s.warnings;
    if (record.origin != Origin::kubernetes) {
        Errors slices = _slices.warnings(s.key());
        out.insert(out.end(), slices.begin(), slices.end());
    }
    if (s.dns_service) {
        out.push_back(Error{"cluster_ip",
                            "answered by svcgw's own DNS responder (dns.cluster_ip " +
                                s.cluster_ip->str() +
                                "): no VIP, its endpoints and its ports other than 53 are not used",
                            ""});
    }
    return out;
}

void ControlState::join_slices(std::vector<ServiceConfig>& next, const EndpointSliceSet& before,
                               const EndpointSliceSet& after) const {
    for (ServiceConfig& s : next) {
        auto running = _records.find(s.key());
        if (running != _records.end() && running->second.origin == Origin::kubernetes) {
            continue;  // the feed merges its own slices
        }
        if (after.has_service(s.key())) {
            after.join(s);
        } else if (before.has_service(s.key())) {
            s.endpoints.clear();  // its last slice is gone
        }
    }
}

const ServiceRecord* ControlState::find(const std::string& ns, const std::string& name) const {
    auto it = _records.find(ns + "/" + name);
    return it == _records.end() ? nullptr : &it->second;
}

Config ControlState::skeleton() const {
    Config c;
    c.source = _sections.source;
    c.dpdk = _sections.dpdk;
    c.ports = _sections.ports;
    c.network = _sections.network;
    c.forwarding = _sections.forwarding;
    c.maglev = _sections.maglev;
    c.conntrack = _sections.conntrack;
    c.dns = _sections.dns;
    c.api = _sections.api;
    c.metrics = _sections.metrics;
    c.locations = _sections.locations;
    return c;
}

Result<DiffCounts, Errors> ControlState::commit(std::vector<ServiceConfig> next,
                                                const std::map<std::string, Origin>& given_origins,
                                                int64_t now_unix_s, const Config* sections,
                                                const Leniency* leniency) {
    std::sort(next.begin(), next.end(),
              [](const auto& a, const auto& b) { return a.key() < b.key(); });
    Config candidate = sections != nullptr ? *sections : skeleton();
    candidate.services = std::move(next);
    candidate.endpoint_slices.clear();
    candidate.skipped.clear();
    std::vector<SkippedObject> skipped;
    std::map<std::string, Origin> origins = given_origins;
    // What runs now: the allocators keep its addresses, the diff starts from it.
    const std::vector<ServiceConfig> previous = running();
    if (leniency != nullptr) {
        auto valid =
            validate_and_allocate(candidate, previous, leniency->skippable, leniency->instead);
        if (!valid) {
            return Unexpected<Errors>{name_services(valid.error(), candidate.services)};
        }
        skipped = std::move(*valid);
        for (const SkippedObject& object : skipped) {
            origins.erase(object.service_key);  // what runs (if anything) keeps its origin
        }
        std::sort(candidate.services.begin(), candidate.services.end(),
                  [](const auto& a, const auto& b) { return a.key() < b.key(); });
    } else if (auto valid = validate_and_allocate(candidate, previous); !valid) {
        return Unexpected<Errors>{name_services(valid.error(), candidate.services)};
    }
    const bool maglev_changed = candidate.maglev.seed != _sections.maglev.seed ||
                                candidate.maglev.table_size != _sections.maglev.table_size;
    ServiceDiff diff = diff_services(previous, candidate.services, maglev_changed);
    if (!diff.empty()) {
        // The one place where the service set changes (VIP table, DNS zone).
        auto published = _publisher.publish(diff, candidate.maglev);
        if (!published) {
            return Unexpected<Errors>{Errors{published.error()}};
        }
        ++_version;
    }
    for (const ServiceConfig* s : diff.removed) {
        track(s, nullptr);
    }
    for (size_t i = 0; i < diff.changed.size(); ++i) {
        track(diff.replaced[i], diff.changed[i]);
    }
    for (const ServiceConfig* s : diff.added) {
        track(nullptr, s);
    }
    std::set<std::string> touched;
    for (const auto* list : {&diff.added, &diff.changed}) {
        for (const ServiceConfig* s : *list) {
            touched.insert(s->key());
        }
    }
    DiffCounts counts{diff.added.size(), diff.changed.size(), diff.removed.size(),
                      std::move(skipped)};
    // The diff's pointers die here: the services move into the records.
    std::map<std::string, ServiceRecord> records;
    for (ServiceConfig& s : candidate.services) {
        std::string key = s.key();
        auto old = _records.find(key);
        ServiceRecord r;
        auto o = origins.find(key);
        r.origin = o != origins.end() ? o->second
                                      : (old != _records.end() ? old->second.origin : Origin::api);
        r.created_unix_s = old != _records.end() ? old->second.created_unix_s : now_unix_s;
        r.resource_version = touched.contains(key) || old == _records.end()
                                 ? _version
                                 : old->second.resource_version;
        r.config = std::move(s);
        records.insert_or_assign(std::move(key), std::move(r));
    }
    _records = std::move(records);
    candidate.services.clear();
    _sections = std::move(candidate);
    return counts;
}

void ControlState::track(const ServiceConfig* old, const ServiceConfig* now) {
    if (old != nullptr) {
        _index.remove(*old);
    }
    if (now != nullptr) {
        _index.add(*now);
    }
}

std::optional<Result<DiffCounts, Errors>> ControlState::commit_changes(
    const std::vector<ServiceConfig>& upserts, const std::vector<std::string>& removals,
    const std::map<std::string, Origin>& origins, int64_t now_unix_s) {
    // What the change replaces leaves the index while it is checked: the
    // index then holds exactly the services that keep running.
    std::vector<const ServiceConfig*> leaving;
    std::vector<ServiceConfig> previous;
    for (const ServiceConfig& s : upserts) {
        if (auto running = _records.find(s.key()); running != _records.end()) {
            leaving.push_back(&running->second.config);
            previous.push_back(running->second.config);
        }
    }
    for (const std::string& key : removals) {
        if (auto running = _records.find(key); running != _records.end()) {
            leaving.push_back(&running->second.config);
        }
    }
    for (const ServiceConfig* s : leaving) {
        track(s, nullptr);
    }
    auto back = [&] {
        for (const ServiceConfig* s : leaving) {
            track(nullptr, s);
        }
    };
    std::set<std::string> near;
    for (const ServiceConfig& s : upserts) {
        near.merge(_index.neighbours(s));
    }
    std::vector<ServiceConfig> neighbours;
    for (const std::string& key : near) {
        neighbours.push_back(_records.at(key).config);
    }
    Config change = skeleton();
    change.services = upserts;
    if (!validate_change(change, neighbours, previous, _index)) {
        back();
        return std::nullopt;
    }
    // In key order, as diff_services gives a whole set's.
    std::sort(change.services.begin(), change.services.end(),
              [](const auto& a, const auto& b) { return a.key() < b.key(); });
    ServiceDiff diff;
    for (const ServiceConfig& s : change.services) {
        auto running = _records.find(s.key());
        if (running == _records.end()) {
            diff.added.push_back(&s);
        } else if (!(running->second.config == s)) {
            diff.change(&running->second.config, &s);
        }
    }
    for (const std::string& key : removals) {
        if (auto running = _records.find(key); running != _records.end()) {
            diff.removed.push_back(&running->second.config);
        }
    }
    if (!diff.empty()) {
        auto published = _publisher.publish(diff, _sections.maglev);
        if (!published) {
            back();
            return Result<DiffCounts, Errors>(Unexpected<Errors>{Errors{published.error()}});
        }
        ++_version;
    }
    DiffCounts counts{diff.added.size(), diff.changed.size(), diff.removed.size(), {}};
    for (ServiceConfig& s : change.services) {
        const std::string key = s.key();
        track(nullptr, &s);
        auto [record, fresh] = _records.try_emplace(key);
        ServiceRecord& r = record->second;
        const bool touched = fresh || !(r.config == s);
        auto o = origins.find(key);
        if (fresh) {
            r.origin = o != origins.end() ? o->second : Origin::api;
            r.created_unix_s = now_unix_s;
        } else if (o != origins.end()) {
            r.origin = o->second;
        }
        if (touched) {
            r.resource_version = _version;
        }
        r.config = std::move(s);
    }
    for (const std::string& key : removals) {
        _records.erase(key);
    }
    return Result<DiffCounts, Errors>(std::move(counts));
}

Result<std::vector<ChangeOutcome>, ControlError> ControlState::apply(
    std::vector<ServiceConfig> services, bool create_only, int64_t now_unix_s,
    Precondition expected) {
    auto done =
        apply_services(ServiceSet{std::move(services), {}, {}}, create_only, now_unix_s, expected);
    if (!done) {
        return Unexpected<ControlError>{done.error()};
    }
    return std::move(done->results);
}

Result<ApplyOutcome, ControlError> ControlState::apply(ServiceSet set, int64_t now_unix_s) {
    return apply_services(std::move(set), false, now_unix_s, std::nullopt);
}

std::optional<ControlError> ControlState::check_owner(const std::string& key) const {
    auto running = _records.find(key);
    if (running == _records.end() || running->second.origin != Origin::kubernetes) {
        return std::nullopt;
    }
    // The path is not resourceVersion: a client must not retry this one.
    return ControlError{ControlErrorKind::conflict,
                        "Operation cannot be fulfilled on services \"" +
                            running->second.config.name + "\": " + key +
                            " is owned by origin kubernetes (the feed follows the cluster's "
                            "object and would undo the change); change it in the cluster",
                        "origin"};
}

Result<ApplyOutcome, ControlError> ControlState::apply_services(ServiceSet set, bool create_only,
                                                                int64_t now_unix_s,
                                                                Precondition expected) {
    // The feed's services change only with the cluster: a native entry for
    // one refuses the request (native entries are all or nothing), a
    // Kubernetes object (or slice) for one is left out alone.
    std::vector<SkippedObject> owned;
    std::vector<ServiceConfig> services;
    for (ServiceConfig& s : set.services) {
        if (auto refused = check_owner(s.key())) {
            if (!s.kubernetes_object) {
                return Unexpected<ControlError>{*refused};
            }
            owned.push_back(SkippedObject{
                object_name("Service", s.key()), {Error{"", refused->message, ""}}, ""});
            continue;
        }
        services.push_back(std::move(s));
    }
    std::vector<EndpointSliceConfig> request_slices;
    for (EndpointSliceConfig& slice : set.slices) {
        if (auto refused = check_owner(slice.service_key())) {
            owned.push_back(SkippedObject{
                object_name("EndpointSlice", slice.key()), {Error{"", refused->message, ""}}, ""});
            continue;
        }
        request_slices.push_back(std::move(slice));
    }
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
    // The slices of the request join the kept ones. Endpoints written into a
    // native service replace its slices (the endpoint verbs do the same).
    EndpointSliceSet slices = _slices;
    std::map<std::string, Origin> slice_origins = _slice_origins;
    for (const ServiceConfig& s : services) {
        if (!s.kubernetes_object && !s.endpoints.empty()) {
            for (const std::string& key : slices.erase_service(s.key())) {
                slice_origins.erase(key);
            }
        }
    }
    ApplyOutcome outcome;
    std::vector<ChangeOutcome> slice_results;
    for (EndpointSliceConfig& slice : request_slices) {
        const EndpointSliceConfig* old = slices.find(slice.key());
        ChangeOutcome o{slice.ns, slice.name,
                        old == nullptr ? "created" : (*old == slice ? "unchanged" : "configured")};
        o.kind = "endpointslice";
        slice_origins[slice.key()] = Origin::api;
        const std::string service = slice.service_key();
        slices.upsert(std::move(slice));
        if (!_records.contains(service) && !incoming.contains(service)) {
            o.note = "service " + service + " not found: kept, joined when it comes";
        }
        slice_results.push_back(std::move(o));
    }
    std::map<std::string, Origin> origins;
    std::vector<ChangeOutcome> results(services.size());
    std::map<std::string, ServiceConfig> before;
    for (size_t i = 0; i < services.size(); ++i) {
        const ServiceConfig& s = services[i];
        auto old = _records.find(s.key());
        results[i] = ChangeOutcome{s.ns, s.name, old == _records.end() ? "created" : "configured"};
        if (old == _records.end()) {
            origins[s.key()] = Origin::api;
        } else {
            before.emplace(s.key(), old->second.config);
        }
    }
    auto done = [&]() -> Result<DiffCounts, Errors> {
        // Without slices in the request only its own services change.
        if (request_slices.empty()) {
            join_slices(services, _slices, slices);
            if (auto changed = commit_changes(services, {}, origins, now_unix_s)) {
                return std::move(*changed);
            }
        }
        std::vector<ServiceConfig> next;
        for (const auto& [key, record] : _records) {
            if (!incoming.contains(key)) {
                next.push_back(record.config);
            }
        }
        for (ServiceConfig& s : services) {
            next.push_back(std::move(s));
        }
        join_slices(next, _slices, slices);
        // A Kubernetes object of this request that cannot be taken is left
        // out alone; its running version (if any) stays.
        const Leniency lenient{[&](const ServiceConfig& s) {
                                   return s.kubernetes_object && incoming.contains(s.key());
                               },
                               [this](const ServiceConfig& s) { return running_version(s.key()); }};
        return commit(std::move(next), origins, now_unix_s, nullptr, &lenient);
    }();
    if (!done) {
        return Unexpected<ControlError>{invalid(done.error())};
    }
    _slices = std::move(slices);
    _slice_origins = std::move(slice_origins);
    outcome.owned = owned.size();
    outcome.skipped = std::move(owned);
    std::set<std::string> left_out;
    for (SkippedObject& object : done->skipped) {
        left_out.insert(object.service_key);
        outcome.skipped.push_back(std::move(object));
    }
    outcome.skipped.insert(outcome.skipped.end(), set.skipped.begin(), set.skipped.end());
    for (auto& o : results) {
        const std::string key = o.ns + "/" + o.name;
        if (left_out.contains(key)) {
            continue;
        }
        const ServiceRecord& now = _records.at(key);
        auto b = before.find(key);
        if (b != before.end() && b->second == now.config) {
            o.action = "unchanged";
        }
        o.resource_version = now.resource_version;
        outcome.results.push_back(std::move(o));
    }
    for (ChangeOutcome& o : slice_results) {
        outcome.results.push_back(std::move(o));
    }
    return outcome;
}

Result<ChangeOutcome, ControlError> ControlState::remove(const std::string& ns,
                                                         const std::string& name) {
    const std::string key = ns + "/" + name;
    if (!_records.contains(key)) {
        return Unexpected<ControlError>{not_found(ns, name)};
    }
    if (auto refused = check_owner(key)) {
        return Unexpected<ControlError>{*refused};
    }
    // Taking a service out of a valid set leaves it valid.
    auto done = commit_changes({}, {key}, {}, 0);
    if (!done) {
        std::vector<ServiceConfig> next;
        for (const auto& [running_key, record] : _records) {
            if (running_key != key) {
                next.push_back(record.config);
            }
        }
        done = commit(std::move(next), {}, 0, nullptr);
    }
    if (!*done) {
        return Unexpected<ControlError>{invalid(done->error())};
    }
    for (const std::string& slice : _slices.erase_service(key)) {
        _slice_origins.erase(slice);
    }
    return ChangeOutcome{ns, name, "deleted", _version};
}

Result<ChangeOutcome, ControlError> ControlState::remove_slice(const std::string& ns,
                                                               const std::string& name) {
    const std::string key = ns + "/" + name;
    if (_slices.find(key) == nullptr) {
        return Unexpected<ControlError>{ControlError{
            ControlErrorKind::not_found, "endpointslices \"" + name + "\" not found", ""}};
    }
    EndpointSliceSet slices = _slices;
    slices.erase(key);
    std::vector<ServiceConfig> next = running();
    join_slices(next, _slices, slices);
    auto done = commit(std::move(next), {}, 0, nullptr);
    if (!done) {
        return Unexpected<ControlError>{invalid(done.error())};
    }
    _slices = std::move(slices);
    _slice_origins.erase(key);
    ChangeOutcome out{ns, name, "deleted", _version};
    out.kind = "endpointslice";
    return out;
}

Result<void> ControlState::republish(const std::vector<std::string>& keys) {
    ServiceDiff diff;
    for (const std::string& key : keys) {
        if (auto running = _records.find(key); running != _records.end()) {
            diff.change(&running->second.config, &running->second.config);
        }
    }
    if (diff.empty()) {
        return {};
    }
    return _publisher.publish(diff, _sections.maglev);
}

Result<DiffCounts, Errors> ControlState::reload(Config file, int64_t now_unix_s) {
    std::set<std::string> named;
    std::map<std::string, Origin> origins;
    std::vector<ServiceConfig> next;
    for (auto& s : file.services) {
        auto running = _records.find(s.key());
        if (running != _records.end() && running->second.origin == Origin::kubernetes) {
            continue;  // the cluster wins over the file
        }
        named.insert(s.key());
        origins[s.key()] = Origin::file;
    }
    for (const auto& [key, r] : _records) {
        if (!named.contains(key) && r.origin != Origin::file) {
            next.push_back(r.config);  // API-created: persists until deleted through the API
        }
    }
    for (auto& s : file.services) {
        if (named.contains(s.key())) {
            next.push_back(std::move(s));
        }
    }
    // The file's slices replace the ones it gave before; the API's stay.
    EndpointSliceSet slices = _slices;
    std::map<std::string, Origin> slice_origins = _slice_origins;
    for (const auto& [key, origin] : _slice_origins) {
        if (origin == Origin::file) {
            slices.erase(key);
            slice_origins.erase(key);
        }
    }
    for (EndpointSliceConfig& slice : file.endpoint_slices) {
        slice_origins[slice.key()] = Origin::file;
        slices.upsert(std::move(slice));
    }
    join_slices(next, _slices, slices);
    std::vector<SkippedObject> unreadable = std::move(file.skipped);
    // The file's own sections are validated with the whole service set;
    // services without a cluster_ip keep the IP they run with. A Kubernetes
    // object of the file that cannot be taken is left out alone.
    file.services.clear();
    file.endpoint_slices.clear();
    const Leniency lenient{
        [&](const ServiceConfig& s) { return s.kubernetes_object && named.contains(s.key()); },
        [this](const ServiceConfig& s) { return running_version(s.key()); }};
    auto done = commit(std::move(next), origins, now_unix_s, &file, &lenient);
    if (!done) {
        return done;
    }
    _slices = std::move(slices);
    _slice_origins = std::move(slice_origins);
    done->skipped.insert(done->skipped.begin(), unreadable.begin(), unreadable.end());
    return done;
}

}  // namespace svcgw
