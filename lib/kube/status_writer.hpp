// Writes the load-balancer address of each LoadBalancer Service svcgw serves
// back to the cluster (PATCH .../services/NAME/status, a JSON merge patch of
// status.loadBalancer.ingress), so `kubectl get svc` shows it under
// EXTERNAL-IP, as MetalLB and Cilium LB-IPAM do. An empty list clears it
// (a Service svcgw cannot serve shows <pending>).
//
// Threading: request() and take_outcomes() on the control thread; the
// patches go out on the writer's own thread (HTTP never blocks the control
// thread). Per Service only the latest request counts: a newer one replaces
// a pending or failed one. A failed patch is retried with capped back-off
// until it succeeds, is replaced, or the Service is gone (404).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/net.hpp"
#include "common/result.hpp"
#include "kube/api_client.hpp"
#include "kube/reflector.hpp"

namespace svcgw::kube {

// The merge patch that sets a Service's status.loadBalancer.ingress.
std::string ingress_patch(const std::vector<Ipv4>& ips);
// "ns/name" -> "/api/v1/namespaces/ns/services/name/status".
std::string status_path(const std::string& key);

struct StatusOutcome {
    std::string key;  // "ns/name"
    std::vector<Ipv4> ips;
    bool ok = false;
    bool final = false;   // not retried (done, or the Service is gone)
    std::string message;  // the API's, on failure
};

// Where FeedSync sends the addresses a Service's status should show.
class StatusSink {
public:
    virtual ~StatusSink() = default;
    virtual void request(const std::string& key, std::vector<Ipv4> ips) = 0;
};

class StatusWriter : public StatusSink {
public:
    // (path, merge-patch body) -> the API's reply.
    using Patch = std::function<Result<HttpReply>(const std::string&, const std::string&)>;

    // `wake` is called (writer thread) when outcomes wait.
    StatusWriter(Patch patch, std::function<void()> wake, uint32_t backoff_initial_ms,
                 uint32_t backoff_max_ms);
    ~StatusWriter() override;  // stops and joins
    StatusWriter(const StatusWriter&) = delete;
    StatusWriter& operator=(const StatusWriter&) = delete;

    void request(const std::string& key, std::vector<Ipv4> ips) override;
    std::vector<StatusOutcome> take_outcomes();
    void stop();

    uint64_t patches() const { return _patches.load(std::memory_order_relaxed); }
    uint64_t errors() const { return _errors.load(std::memory_order_relaxed); }

private:
    struct Pending {
        std::vector<Ipv4> ips;
        uint64_t generation = 0;  // bumps per request: a retry never overwrites a newer one
        std::chrono::steady_clock::time_point not_before;
        Backoff backoff;
    };
    void run();

    Patch _patch;
    std::function<void()> _wake;
    uint32_t _backoff_initial_ms;
    uint32_t _backoff_max_ms;
    std::mutex _mutex;  // everything below but the counters and the thread
    std::condition_variable _cv;
    std::map<std::string, Pending> _pending;
    std::vector<StatusOutcome> _outcomes;
    uint64_t _generation = 0;
    bool _stop = false;
    std::atomic<uint64_t> _patches{0};  // relaxed: counters only
    std::atomic<uint64_t> _errors{0};
    std::thread _thread;
};

}  // namespace svcgw::kube
