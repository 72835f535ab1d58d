// Hands API jobs to the control thread (the threading rule of DESIGN §3): server
// threads push a job and wait on its future; the control thread has the
// queue's eventfd in its epoll set and runs the jobs in order. The
// control thread never waits on a client.
#pragma once

#include <chrono>
#include <deque>
#include <future>
#include <memory>
#include <mutex>

#include "control/api.hpp"

namespace svcgw {

// How long a server thread waits for the control thread before answering
// 503: far above the 10k-service apply (~100s of ms), far below a client's
// patience.
constexpr std::chrono::seconds kJobTimeout{30};

class ControlQueue : public ControlExecutor {
public:
    ControlQueue();
    ~ControlQueue() override;
    ControlQueue(const ControlQueue&) = delete;
    ControlQueue& operator=(const ControlQueue&) = delete;

    int fd() const { return _event_fd; }  // readable when jobs wait
    HttpResponse execute(ControlJob job) override;
    // Control thread: runs every queued job. Returns how many ran.
    size_t drain(ControlBackend& backend);

private:
    struct Pending {
        ControlJob job;
        std::promise<HttpResponse> result;
    };
    int _event_fd = -1;
    std::mutex _lock;
    std::deque<std::unique_ptr<Pending>> _jobs;
};

// Runs jobs inline (tests, tools): the caller is the control thread.
class InlineExecutor : public ControlExecutor {
public:
    explicit InlineExecutor(ControlBackend& backend) : _backend(backend) {}
    HttpResponse execute(ControlJob job) override { return job(_backend); }

private:
    ControlBackend& _backend;
};

}  // namespace svcgw
