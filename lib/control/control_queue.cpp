#include "control/control_queue.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

namespace svcgw {

ControlQueue::ControlQueue() : _event_fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

ControlQueue::~ControlQueue() {
    if (_event_fd >= 0) {
        close(_event_fd);
    }
}

HttpResponse ControlQueue::execute(ControlJob job) {
    auto pending = std::make_unique<Pending>();
    pending->job = std::move(job);
    std::future<HttpResponse> result = pending->result.get_future();
    {
        std::lock_guard guard(_lock);
        _jobs.push_back(std::move(pending));
    }
    uint64_t one = 1;
    (void)!write(_event_fd, &one, sizeof one);
    if (result.wait_for(kJobTimeout) != std::future_status::ready) {
        // The job still runs when the control thread gets to it.
        return error_response(503, "ServiceUnavailable", "control thread did not answer in time");
    }
    return result.get();
}

size_t ControlQueue::drain(ControlBackend& backend) {
    uint64_t count = 0;
    (void)!read(_event_fd, &count, sizeof count);
    size_t ran = 0;
    for (;;) {
        std::unique_ptr<Pending> next;
        {
            std::lock_guard guard(_lock);
            if (_jobs.empty()) {
                break;
            }
            next = std::move(_jobs.front());
            _jobs.pop_front();
        }
        try {
            next->result.set_value(next->job(backend));
        } catch (const std::exception& e) {
            next->result.set_value(error_response(500, "InternalError", e.what()));
        }
        ++ran;
    }
    return ran;
}

}  // namespace svcgw
