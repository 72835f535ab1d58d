// ControlState::sync: the batches of a live origin (the Kubernetes feed).
#include <set>
#include <tuple>

#include "control/state.hpp"

namespace svcgw {

std::optional<Result<SyncOutcome, Errors>> ControlState::sync_endpoints(
    Origin origin, std::vector<ServiceConfig>& upserts) {
    // Applies when every upsert is a running service of `origin` whose
    // endpoints alone differ: then each one is validated alone (its name,
    // VIP and ports are as validated before), and the records are patched in
    // place: O(changed services), not O(running set), per event.
    std::vector<ServiceRecord*> records;
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
        records.push_back(&rec->second);
    }
    SyncOutcome outcome;
    std::vector<ServiceConfig> next;  // the new versions, published from here
    next.reserve(upserts.size());     // so the diff's pointers stay valid
    std::vector<ServiceRecord*> changed;
    for (size_t i = 0; i < upserts.size(); ++i) {
        if (upserts[i] == records[i]->config) {
            continue;
        }
        Config one = skeleton();
        one.services.push_back(upserts[i]);
        auto valid = validate_and_allocate(one, {records[i]->config});
        if (!valid) {
            outcome.rejected.emplace_back(upserts[i].key(),
                                          name_services(valid.error(), one.services));
            continue;
        }
        next.push_back(std::move(one.services.front()));
        changed.push_back(records[i]);
    }
    if (!outcome.rejected.empty()) {
        // A rejected endpoint change withdraws the service: the general path.
        return std::nullopt;
    }
    ServiceDiff diff;
    for (size_t i = 0; i < next.size(); ++i) {
        diff.change(&changed[i]->config, &next[i]);
    }
    if (diff.empty()) {
        return Result<SyncOutcome, Errors>(std::move(outcome));
    }
    auto published = _publisher.publish(diff, _sections.maglev);
    if (!published) {
        return Result<SyncOutcome, Errors>(Unexpected<Errors>{Errors{published.error()}});
    }
    ++_version;
    for (size_t i = 0; i < next.size(); ++i) {
        track(&changed[i]->config, &next[i]);
        changed[i]->config = std::move(next[i]);
        changed[i]->resource_version = _version;
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
    std::map<std::string, Origin> origins;
    std::vector<ServiceConfig> changes;
    for (const auto& [key, s] : incoming) {
        changes.push_back(s);
        origins[key] = origin;
    }
    if (auto done =
            commit_changes(changes, {removed.begin(), removed.end()}, origins, now_unix_s)) {
        if (!*done) {
            return Unexpected<Errors>{done->error()};
        }
        return SyncOutcome{std::move(**done), {}};
    }
    std::vector<ServiceConfig> next;
    for (const auto& [key, record] : _records) {
        if (!removed.contains(key) && !incoming.contains(key)) {
            next.push_back(record.config);
        }
    }
    for (ServiceConfig& s : changes) {
        next.push_back(std::move(s));
    }
    // A service of the batch that does not validate (or clashes with a
    // running one) is left out: a running service of `origin` with its key
    // is withdrawn, one of another origin keeps running.
    const Leniency lenient{[&](const ServiceConfig& s) { return incoming.contains(s.key()); },
                           [&](const ServiceConfig& s) -> std::optional<ServiceConfig> {
                               auto running = _records.find(s.key());
                               if (running == _records.end() || running->second.origin == origin) {
                                   return std::nullopt;
                               }
                               return running->second.config;
                           }};
    auto done = commit(std::move(next), origins, now_unix_s, nullptr, &lenient);
    if (!done) {
        return Unexpected<Errors>{done.error()};
    }
    SyncOutcome outcome;
    for (SkippedObject& object : done->skipped) {
        outcome.rejected.emplace_back(object.service_key, std::move(object.errors));
    }
    done->skipped.clear();
    outcome.counts = std::move(*done);
    return outcome;
}

}  // namespace svcgw
