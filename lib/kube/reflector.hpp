// One list+watch loop per resource kind, as client-go's reflector runs it:
// list (paginated, every page at the first page's resourceVersion), then
// watch from that version with bookmarks and a server-side timeout; a
// timed-out watch resumes from the last version seen; an in-stream ERROR
// 410 (or an HTTP 410) re-lists; connection errors back off exponentially
// up to a cap and retry. Objects are decoded here, off the control thread.
//
// Threading: run() on the reflector's own thread; stop() from any thread.
// Deltas go to a DeltaSink (the feed's queue); counters are atomics the
// control thread reads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "kube/api_client.hpp"
#include "kube/objects.hpp"

namespace svcgw::kube {

struct Delta {
    enum class Type { upsert, remove, relisted };
    Type type = Type::upsert;
    Kind kind = Kind::service;
    Object object;                // upsert, remove
    std::vector<Object> objects;  // relisted: the complete set of this kind
    std::chrono::steady_clock::time_point received;
};

class DeltaSink {
public:
    virtual ~DeltaSink() = default;
    virtual void push(Delta delta) = 0;
};

struct ReflectorOptions {
    Kind kind = Kind::service;
    std::string path;            // collection, e.g. "/api/v1/services"
    std::string label_selector;  // "" = every object
    uint32_t watch_timeout_s = 300;
    uint32_t backoff_initial_ms = 250;
    uint32_t backoff_max_ms = 30000;
    uint32_t page_size = 500;
    // Where failures are told (the daemon's log): the first of a run of
    // equal ones, so an API that keeps refusing is said once, not per retry.
    std::function<void(const std::string&)> log;
};

struct ReflectorCounters {
    std::atomic<uint64_t> events{0};     // added/modified/deleted received
    std::atomic<uint64_t> bookmarks{0};  // bookmarks received
    std::atomic<uint64_t> relists{0};    // complete lists delivered
    std::atomic<uint64_t> restarts{0};   // watches opened again (timeout, cut, error)
    std::atomic<uint64_t> expired{0};    // 410 Gone: the version was compacted away
    std::atomic<uint64_t> errors{0};     // failed requests and undecodable lines
};

// The next wait of a capped exponential back-off (client-go's shape): the
// wait doubles per failure from `initial` up to `max`; a success resets it.
class Backoff {
public:
    Backoff(uint32_t initial_ms, uint32_t max_ms) : _initial(initial_ms), _max(max_ms) {}
    uint32_t next_ms();
    void reset() { _next = 0; }

private:
    uint32_t _initial;
    uint32_t _max;
    uint32_t _next = 0;
};

class Reflector {
public:
    Reflector(ReflectorOptions options, Transport& transport, DeltaSink& sink);

    void run();   // until stop()
    void stop();  // any thread

    const ReflectorCounters& counters() const { return _counters; }
    std::string last_error() const;
    Kind kind() const { return _options.kind; }

private:
    enum class WatchEnd { timeout, expired, failed, stopped };
    bool list();       // false: failed (counted, logged in last_error)
    WatchEnd watch();  // from _version
    void sleep_ms(uint32_t ms);
    void error(const std::string& message);
    std::string query(bool watch, const std::string& continue_token) const;

    ReflectorOptions _options;
    Transport& _transport;
    DeltaSink& _sink;
    ReflectorCounters _counters;
    std::string _version;        // last resourceVersion seen
    bool _watch_worked = false;  // this watch received a line (event or bookmark)
    std::atomic<bool> _stop{false};
    mutable std::mutex _mutex;  // _last_error, _wake
    std::condition_variable _wake;
    std::string _last_error;
    std::string _logged_error;  // told through options.log; cleared by a list
};

}  // namespace svcgw::kube
