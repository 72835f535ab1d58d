// The Kubernetes feed's threads: one reflector per watched kind (Services,
// EndpointSlices, and Nodes when NodePort backends need them), each with
// its own HTTPS connection, decoding off the control thread. Decoded
// deltas wait in one queue; an eventfd in the control thread's epoll set
// says when there are some. The control thread (FeedSync) is the only one
// that turns them into services: it stays the single writer.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "kube/api_client.hpp"
#include "kube/reflector.hpp"
#include "kube/status_writer.hpp"

namespace svcgw::kube {

struct FeedOptions {
    ClusterAccess access;
    std::string service_label_selector;  // kube-proxy's service-proxy-name rule, server side
    bool nodes = false;                  // watch Nodes too
    bool write_status = true;            // PATCH load-balancer addresses into Service status
    uint32_t watch_timeout_s = 300;
    uint32_t backoff_initial_ms = 250;
    uint32_t backoff_max_ms = 30000;
    std::function<void(const std::string&)> log;  // the reflectors' failures
};

class Feed : public DeltaSink {
public:
    // Starts the reflector threads at once, each over its own HTTPS
    // connection (ApiClient).
    static Result<std::unique_ptr<Feed>> start(const FeedOptions& options);
    // The same feed over other connections, one `connect()` per reflector
    // (perf/feed: the API's bytes from memory); no status writer.
    using Connect = std::function<std::unique_ptr<Transport>()>;
    static Result<std::unique_ptr<Feed>> start(const FeedOptions& options, const Connect& connect);
    ~Feed() override;  // stops and joins the threads
    Feed(const Feed&) = delete;
    Feed& operator=(const Feed&) = delete;

    int fd() const { return _event_fd; }  // readable while deltas wait
    std::vector<Delta> take();            // control thread: everything queued, in order
    // The status writer (nullptr without write_status); its outcomes also
    // make fd() readable.
    StatusWriter* status_writer() { return _status.get(); }
    void push(Delta delta) override;  // reflector threads

    struct KindCounters {
        Kind kind;
        const ReflectorCounters* counters;
        std::string last_error;
    };
    std::vector<KindCounters> counters() const;

private:
    Feed() = default;
    // The reflectors over `connect()` connections, not running yet.
    static Result<std::unique_ptr<Feed>> create(const FeedOptions& options, const Connect& connect);
    void run();  // starts the reflector threads
    void wake();

    std::vector<std::unique_ptr<Transport>> _clients;  // the reflectors', then the writer's
    std::unique_ptr<StatusWriter> _status;             // stopped first: it may wake us
    std::vector<std::unique_ptr<Reflector>> _reflectors;
    std::vector<std::thread> _threads;
    int _event_fd = -1;
    std::mutex _mutex;  // _queue
    std::vector<Delta> _queue;
};

}  // namespace svcgw::kube
