// The feed on the control thread: deltas from the reflectors go into the
// ClusterModel; changed services reach ControlState (origin kubernetes) in
// one publish per short window; bad objects are reported and skipped.
//
// Batching: the first change after a quiet window is published at once
// (a lone slice event is not delayed); later changes within `window_ms` of
// a publish wait for the window to end and go out together, so a rollout
// of thousands of slice updates is a few publishes, not thousands.
//
// Nothing is published before every watched kind has been listed once
// (synced): then the whole cluster goes out in one step, and the caller
// makes DNS live (it answers SERVFAIL until then, never a premature
// NXDOMAIN).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "control/state.hpp"
#include "kube/cluster_model.hpp"
#include "kube/status_writer.hpp"
#include "telemetry/stats.hpp"

namespace svcgw::kube {

// An event as `kubectl get events` lists them (GET /v1/events).
using FeedEvent = OriginEvent;

// Event -> data plane lag: fixed Prometheus buckets plus the recent
// samples for exact percentiles.
struct LagHistogram {
    static constexpr uint64_t kBucketsUs[] = {250,   500,   1000,   2500,   5000,   10000,
                                              25000, 50000, 100000, 250000, 1000000};
    static constexpr size_t kBuckets = std::size(kBucketsUs);
    static constexpr size_t kRecent = 4096;  // samples kept for percentiles
    uint64_t counts[kBuckets + 1] = {};      // last = +Inf
    uint64_t count = 0;
    uint64_t sum_us = 0;
    std::deque<uint64_t> recent_us;

    void add(uint64_t us);
    uint64_t percentile_us(double p) const;  // over the recent samples; 0 if none
};

struct FeedSyncStats {
    uint64_t publishes = 0;  // ControlState syncs that changed something
    uint64_t rejected = 0;   // services left out by validation
    uint64_t invalid = 0;    // objects that could not be decoded
    uint64_t publish_errors = 0;
    uint64_t last_publish_us = 0;  // duration of the last sync call
    uint64_t status_updates = 0;   // load-balancer statuses written back
    uint64_t status_errors = 0;    // failed status writes (each retried)
    bool synced = false;
    LagHistogram lag;
};

class FeedSync {
public:
    using Clock = std::chrono::steady_clock;
    using Log = std::function<void(const std::string&)>;

    FeedSync(Selection selection, std::set<Kind> kinds, uint32_t window_ms, Log log);

    void receive(std::vector<Delta> deltas);
    // Load-balancer addresses go back to the cluster through `sink`
    // (nullptr: not written, e.g. read-only tests).
    void set_status_sink(StatusSink* sink) { _status = sink; }
    // The writer's results, as events.
    void status_written(std::vector<StatusOutcome> outcomes, int64_t now_unix_s);
    // Publishes if due. Returns the milliseconds until the next publish is
    // due (arm a timer), or nullopt when nothing waits.
    std::optional<uint32_t> poll(ControlState& state, Clock::time_point now, int64_t now_unix_s);
    bool synced() const { return _stats.synced; }
    // True once, right after the first complete publish (make DNS live).
    bool take_first_sync() { return std::exchange(_first_sync, false); }

    const FeedSyncStats& stats() const { return _stats; }
    const std::deque<FeedEvent>& events() const { return _events; }
    const ClusterModel& model() const { return _model; }

private:
    void publish(ControlState& state, Clock::time_point now, int64_t now_unix_s);
    void event(int64_t unix_s, std::string type, std::string reason, std::string object,
               std::string message);
    // After a publish: asks for status writes where the cluster shows other
    // load-balancer addresses than the ones served.
    void write_back(const ControlState& state, const std::set<std::string>& keys);

    static constexpr size_t kMaxEvents = 256;

    ClusterModel _model;
    std::chrono::milliseconds _window;
    Log _log;
    bool _dirty = false;
    bool _first_sync = false;
    std::optional<Clock::time_point> _last_publish;
    std::vector<Clock::time_point> _pending;  // receive times of unpublished deltas
    std::set<std::string> _rejected;          // retried with every publish
    StatusSink* _status = nullptr;
    std::map<std::string, std::vector<Ipv4>> _requested;  // status writes in flight
    FeedSyncStats _stats;
    std::deque<FeedEvent> _events;
};

class Feed;
// The counters of both halves, as /v1/stats and /metrics show them.
FeedStats feed_stats(const Feed& feed, const FeedSync& sync);

}  // namespace svcgw::kube
