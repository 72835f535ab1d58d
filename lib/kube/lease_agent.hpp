// The Lease side of fleet membership (lease.hpp has the rule): on its own
// thread, every renew period, the agent renews this gateway's Lease and
// lists the fleet's. The control thread only reads the result
// (member_leases(): a map lookup per member under a mutex the agent holds
// for a copy, never across HTTP), so it never waits on the API.
//
// Renewal is optimistic concurrency, as client-go's lease lock: an update
// (PUT) carries the resourceVersion of the last read or write; 409 Conflict
// (someone else wrote it) re-reads and updates once more in the same round;
// 404 (deleted) creates it again; a create that meets 409 AlreadyExists
// reads. Listing, not watching: client-go's leader election polls the same
// way (a GET per retry period). Liveness follows the local clocks, not
// event arrival, so a watch would only bring joins and releases forward by
// at most one renew period; one list per period per gateway is the whole
// API cost.
//
// On stop (the daemon's shutdown) the Lease is released: holderIdentity
// cleared (client-go's ReleaseOnCancel), so peers stop redirecting to this
// gateway at their next list instead of a lease duration later. A drain
// keeps the Lease: a draining gateway still owns and serves its flows.
//
// Threading: start()/stop() and member_leases() from the control thread;
// round() on the agent's thread (tests call it directly).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "kube/api_client.hpp"
#include "kube/lease.hpp"

namespace svcgw::kube {

struct LeaseAgentOptions {
    std::string ns;    // fleet.lease.namespace
    std::string self;  // fleet.self
    uint32_t duration_s = 5;
    uint32_t renew_ms = 1000;
    std::function<void(const std::string&)> log;  // failures, once per run of equal ones
};

struct LeaseCounters {
    std::atomic<uint64_t> renewals{0};   // own Lease written (created or updated)
    std::atomic<uint64_t> conflicts{0};  // 409 on our write: re-read
    std::atomic<uint64_t> lists{0};      // fleet lists received
    std::atomic<uint64_t> errors{0};     // failed requests
};

class LeaseAgent {
public:
    // (method "GET"|"POST"|"PUT", path, body) -> the API's reply.
    using Call = std::function<Result<HttpReply>(std::string_view method, const std::string& path,
                                                 const std::string& body)>;
    struct Clock {
        std::function<int64_t()> unix_us;  // wall
        std::function<uint64_t()> mono_ms;
    };
    static Clock system_clock();

    LeaseAgent(LeaseAgentOptions options, Call call, Clock clock);
    ~LeaseAgent();  // stop()
    LeaseAgent(const LeaseAgent&) = delete;
    LeaseAgent& operator=(const LeaseAgent&) = delete;

    void start();  // the thread: a round at once, then one per renew period
    // Joins the thread (a request in flight ends within the client's
    // timeouts), then releases the Lease. Idempotent.
    void stop();

    // One round: renew, then list. Agent thread (or a test).
    void round();
    bool renew();    // false: not written this round
    bool list();     // false: the list failed
    bool release();  // holderIdentity cleared

    // Control thread: each member's Lease now.
    std::vector<MemberLease> member_leases(const std::vector<std::string>& members) const;
    // Listed at least once, and the API reached within the hold.
    bool api_ok() const;
    const LeaseCounters& counters() const { return _counters; }
    std::string last_error() const;

private:
    bool write_own(int64_t now_us);
    void error(const std::string& message);

    LeaseAgentOptions _options;
    Call _call;
    Clock _clock;
    std::string _name;
    // Agent thread only: our Lease as last read or written.
    std::string _version;
    std::optional<int64_t> _acquire_us;
    LeaseCounters _counters;
    mutable std::mutex _mutex;  // _table, _last_error, _stop's wait
    std::condition_variable _wake;
    LeaseTable _table;
    std::string _last_error;
    // Told since the last good round (agent thread, then stop()'s release).
    std::set<std::string> _logged;
    bool _stop = false;
    bool _released = false;
    std::thread _thread;
};

}  // namespace svcgw::kube
