#include "kube/feed.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace svcgw::kube {

Result<std::unique_ptr<Feed>> Feed::start(const FeedOptions& options) {
    auto feed = create(options, [&options] { return std::make_unique<ApiClient>(options.access); });
    if (!feed) {
        return feed;
    }
    Feed& f = **feed;
    if (options.write_status) {
        auto client = std::make_unique<ApiClient>(options.access);
        ApiClient* writer = client.get();
        f._clients.push_back(std::move(client));
        constexpr std::string_view kMergePatch = "application/merge-patch+json";
        f._status = std::make_unique<StatusWriter>(
            [writer, kMergePatch](const std::string& path, const std::string& body) {
                return writer->patch(path, std::string(kMergePatch), body);
            },
            [&f] { f.wake(); }, options.backoff_initial_ms, options.backoff_max_ms);
    }
    f.run();
    return feed;
}

Result<std::unique_ptr<Feed>> Feed::start(const FeedOptions& options, const Connect& connect) {
    auto feed = create(options, connect);
    if (feed) {
        (*feed)->run();
    }
    return feed;
}

Result<std::unique_ptr<Feed>> Feed::create(const FeedOptions& options, const Connect& connect) {
    std::unique_ptr<Feed> feed(new Feed());
    feed->_event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (feed->_event_fd < 0) {
        return fail("kubernetes", std::string("eventfd: ") + std::strerror(errno));
    }
    std::vector<ReflectorOptions> kinds;
    ReflectorOptions services;
    services.kind = Kind::service;
    services.path = "/api/v1/services";
    services.label_selector = options.service_label_selector;
    kinds.push_back(services);
    ReflectorOptions slices;
    slices.kind = Kind::endpoint_slice;
    slices.path = "/apis/discovery.k8s.io/v1/endpointslices";
    kinds.push_back(slices);
    if (options.nodes) {
        ReflectorOptions nodes;
        nodes.kind = Kind::node;
        nodes.path = "/api/v1/nodes";
        kinds.push_back(nodes);
    }
    for (ReflectorOptions& o : kinds) {
        o.watch_timeout_s = options.watch_timeout_s;
        o.backoff_initial_ms = options.backoff_initial_ms;
        o.backoff_max_ms = options.backoff_max_ms;
        o.log = options.log;
        feed->_clients.push_back(connect());
        feed->_reflectors.push_back(std::make_unique<Reflector>(o, *feed->_clients.back(), *feed));
    }
    return feed;
}

void Feed::run() {
    for (auto& r : _reflectors) {
        _threads.emplace_back([reflector = r.get()] { reflector->run(); });
    }
}

Feed::~Feed() {
    if (_status != nullptr) {
        _status->stop();
        for (auto& c : _clients) {
            c->stop();  // aborts a patch in flight
        }
        _status.reset();
    }
    for (auto& r : _reflectors) {
        r->stop();
    }
    for (auto& t : _threads) {
        t.join();
    }
    if (_event_fd >= 0) {
        close(_event_fd);
    }
}

void Feed::push(Delta delta) {
    {
        std::lock_guard lock(_mutex);
        _queue.push_back(std::move(delta));
    }
    wake();
}

void Feed::wake() {
    uint64_t one = 1;
    (void)!write(_event_fd, &one, sizeof one);
}

std::vector<Delta> Feed::take() {
    uint64_t count = 0;
    (void)!read(_event_fd, &count, sizeof count);  // reset before taking: no wake-up is lost
    std::lock_guard lock(_mutex);
    return std::exchange(_queue, {});
}

std::vector<Feed::KindCounters> Feed::counters() const {
    std::vector<KindCounters> out;
    for (const auto& r : _reflectors) {
        out.push_back(KindCounters{r->kind(), &r->counters(), r->last_error()});
    }
    return out;
}

}  // namespace svcgw::kube
