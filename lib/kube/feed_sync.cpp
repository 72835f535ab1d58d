#include "kube/feed_sync.hpp"

#include <algorithm>

#include "kube/feed.hpp"

namespace svcgw::kube {

namespace {

std::string errors_text(const Errors& errors) {
    std::string text;
    for (const Error& e : errors) {
        text += (text.empty() ? "" : "; ") + (e.path.empty() ? "" : e.path + ": ") + e.message;
    }
    return text;
}

}  // namespace

void LagHistogram::add(uint64_t us) {
    size_t i = 0;
    while (i < kBuckets && us > kBucketsUs[i]) {
        ++i;
    }
    ++counts[i];
    ++count;
    sum_us += us;
    recent_us.push_back(us);
    if (recent_us.size() > kRecent) {
        recent_us.pop_front();
    }
}

uint64_t LagHistogram::percentile_us(double p) const {
    if (recent_us.empty()) {
        return 0;
    }
    std::vector<uint64_t> sorted(recent_us.begin(), recent_us.end());
    size_t rank = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<long>(rank), sorted.end());
    return sorted[rank];
}

FeedSync::FeedSync(Selection selection, std::set<Kind> kinds, uint32_t window_ms, Log log)
    : _model(std::move(selection), std::move(kinds)), _window(window_ms), _log(std::move(log)) {}

void FeedSync::receive(std::vector<Delta> deltas) {
    for (Delta& d : deltas) {
        _pending.push_back(d.received);
        _model.apply(std::move(d));
    }
    _dirty = _dirty || !deltas.empty();
}

std::optional<uint32_t> FeedSync::poll(ControlState& state, Clock::time_point now,
                                       int64_t now_unix_s) {
    if (!_dirty || !_model.synced()) {
        return std::nullopt;
    }
    if (_last_publish && now < *_last_publish + _window) {
        auto wait = std::chrono::ceil<std::chrono::milliseconds>(*_last_publish + _window - now);
        return static_cast<uint32_t>(std::max<int64_t>(1, wait.count()));
    }
    publish(state, now, now_unix_s);
    return std::nullopt;
}

void FeedSync::event(int64_t unix_s, std::string type, std::string reason, std::string object,
                     std::string message) {
    _log("kubernetes: " + reason + " " + object + ": " + message);
    _events.push_back(FeedEvent{unix_s, std::move(type), std::move(reason), std::move(object),
                                std::move(message)});
    if (_events.size() > kMaxEvents) {
        _events.pop_front();
    }
}

void FeedSync::publish(ControlState& state, Clock::time_point now, int64_t now_unix_s) {
    for (const Problem& p : _model.take_problems()) {
        ++_stats.invalid;
        event(now_unix_s, "Warning", "InvalidObject", std::string(kind_name(p.kind)) + "/" + p.key,
              p.message + " (skipped)");
    }
    Changes changes = _model.take_changes();
    // Services rejected earlier are tried again: what blocked them (a VIP
    // held by another service, say) may be gone.
    std::set<std::string> upserted;
    for (const ServiceConfig& s : changes.upserts) {
        upserted.insert(s.key());
    }
    for (const std::string& key : _rejected) {
        if (upserted.contains(key)) {
            continue;
        }
        if (auto config = _model.desired(key)) {
            changes.upserts.push_back(std::move(*config));
        }
    }
    for (const std::string& key : _rejected) {
        upserted.insert(key);  // their status is checked below too
    }
    const bool first = !_stats.synced;
    const auto started = Clock::now();
    auto done =
        state.sync(Origin::kubernetes, std::move(changes.upserts), changes.removals, now_unix_s);
    const auto finished = Clock::now();
    _stats.last_publish_us = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(finished - started).count());
    _dirty = false;
    _last_publish = now;
    if (!done) {
        ++_stats.publish_errors;
        event(now_unix_s, "Warning", "PublishFailed", "Service", errors_text(done.error()));
        _pending.clear();
        return;
    }
    std::set<std::string> still_rejected;
    std::set<std::string> touched = std::move(upserted);
    for (const std::string& key : changes.removals) {
        touched.insert(key);
    }
    for (const auto& [key, errors] : done->rejected) {
        touched.insert(key);
        still_rejected.insert(key);
        if (!_rejected.contains(key)) {
            ++_stats.rejected;
            event(now_unix_s, "Warning", "Rejected", object_name("Service", key),
                  errors_text(errors) + " (not served)");
        }
    }
    _rejected = std::move(still_rejected);
    write_back(state, touched);
    if (done->counts.added + done->counts.changed + done->counts.removed != 0) {
        ++_stats.publishes;
    }
    for (Clock::time_point received : _pending) {
        _stats.lag.add(static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(finished - received).count()));
    }
    _pending.clear();
    if (first) {
        _stats.synced = true;
        _first_sync = true;
        event(now_unix_s, "Normal", "Synced", "Service",
              std::to_string(_model.service_count()) + " services, " +
                  std::to_string(_model.slice_count()) + " endpoint slices listed; " +
                  std::to_string(done->counts.added) + " services published");
    }
}

void FeedSync::write_back(const ControlState& state, const std::set<std::string>& keys) {
    if (_status == nullptr) {
        return;
    }
    for (const std::string& key : keys) {
        auto shown = _model.load_balancer_status(key);
        if (!shown) {
            _requested.erase(key);
            continue;
        }
        // What is served, or nothing (<pending>) when svcgw does not serve it.
        std::vector<Ipv4> served;
        const size_t slash = key.find('/');
        const ServiceRecord* r = state.find(key.substr(0, slash), key.substr(slash + 1));
        if (r != nullptr && r->origin == Origin::kubernetes) {
            served = r->config.load_balancer_ips;
        }
        if (served == *shown) {
            _requested.erase(key);
            continue;
        }
        auto asked = _requested.find(key);
        if (asked == _requested.end() || asked->second != served) {
            _requested[key] = served;
            _status->request(key, std::move(served));
        }
    }
}

void FeedSync::status_written(std::vector<StatusOutcome> outcomes, int64_t now_unix_s) {
    for (StatusOutcome& o : outcomes) {
        std::string ips;
        for (Ipv4 ip : o.ips) {
            ips += (ips.empty() ? "" : ",") + ip.str();
        }
        if (o.ok) {
            ++_stats.status_updates;
            event(now_unix_s, "Normal", "LoadBalancerStatus", object_name("Service", o.key),
                  "status.loadBalancer.ingress: " + (ips.empty() ? "<pending>" : ips));
            continue;
        }
        ++_stats.status_errors;
        event(now_unix_s, "Warning", "StatusFailed", object_name("Service", o.key),
              "writing status.loadBalancer.ingress " + (ips.empty() ? "<pending>" : ips) + ": " +
                  o.message + (o.final ? "" : " (retried)"));
        if (o.final) {
            _requested.erase(o.key);
        }
    }
}

FeedStats feed_stats(const Feed& feed, const FeedSync& sync) {
    FeedStats out;
    out.enabled = true;
    out.synced = sync.synced();
    for (const Feed::KindCounters& k : feed.counters()) {
        const ReflectorCounters& c = *k.counters;
        out.kinds.push_back(FeedKindStats{
            std::string(kind_name(k.kind)), c.events.load(std::memory_order_relaxed),
            c.bookmarks.load(std::memory_order_relaxed), c.relists.load(std::memory_order_relaxed),
            c.restarts.load(std::memory_order_relaxed), c.expired.load(std::memory_order_relaxed),
            c.errors.load(std::memory_order_relaxed), k.last_error});
    }
    const FeedSyncStats& s = sync.stats();
    out.publishes = s.publishes;
    out.rejected = s.rejected;
    out.invalid = s.invalid;
    out.publish_errors = s.publish_errors;
    out.status_updates = s.status_updates;
    out.status_errors = s.status_errors;
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= LagHistogram::kBuckets; ++i) {
        cumulative += s.lag.counts[i];
        out.lag_buckets.emplace_back(i < LagHistogram::kBuckets ? LagHistogram::kBucketsUs[i] : 0,
                                     cumulative);
    }
    out.lag_count = s.lag.count;
    out.lag_sum_us = s.lag.sum_us;
    out.lag_p50_us = s.lag.percentile_us(0.5);
    out.lag_p99_us = s.lag.percentile_us(0.99);
    return out;
}

}  // namespace svcgw::kube
