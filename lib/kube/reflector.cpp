#include "kube/reflector.hpp"

#include <algorithm>
#include <cctype>

namespace svcgw::kube {

namespace {

// Read timeout of a watch beyond its server-side timeout: the server ends
// the stream itself at timeoutSeconds; silence this much longer means a
// dead connection (bookmarks arrive well within it).
constexpr int kWatchReadMarginS = 30;

std::string url_escape(const std::string& text) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

}  // namespace

uint32_t Backoff::next_ms() {
    _next = _next == 0 ? _initial : std::min(_max, _next * 2);
    return _next;
}

Reflector::Reflector(ReflectorOptions options, Transport& transport, DeltaSink& sink)
    : _options(std::move(options)), _transport(transport), _sink(sink) {}

std::string Reflector::query(bool watch, const std::string& continue_token) const {
    std::string q = _options.path + "?";
    if (!_options.label_selector.empty()) {
        q += "labelSelector=" + url_escape(_options.label_selector) + "&";
    }
    if (watch) {
        q += "watch=true&allowWatchBookmarks=true&timeoutSeconds=" +
             std::to_string(_options.watch_timeout_s) + "&resourceVersion=" + _version;
    } else {
        q += "limit=" + std::to_string(_options.page_size);
        if (!continue_token.empty()) {
            q += "&continue=" + url_escape(continue_token);
        }
    }
    return q;
}

void Reflector::error(const std::string& message) {
    _counters.errors.fetch_add(1, std::memory_order_relaxed);
    {
        std::lock_guard lock(_mutex);
        _last_error = message;
    }
    if (_options.log && message != _logged_error) {
        _logged_error = message;
        _options.log("kubernetes: " + message + " (retrying with back-off)");
    }
}

std::string Reflector::last_error() const {
    std::lock_guard lock(_mutex);
    return _last_error;
}

bool Reflector::list() {
    std::vector<Object> objects;
    std::string continue_token;
    std::string version;
    do {
        auto reply = _transport.get(query(false, continue_token));
        if (!reply) {
            error("list " + _options.path + ": " + reply.error().message);
            return false;
        }
        if (reply->status != kHttpOk) {
            error("list " + _options.path + ": HTTP " + std::to_string(reply->status) + ": " +
                  status_message(reply->body));
            return false;
        }
        auto page = parse_list(_options.kind, reply->body);
        if (!page) {
            error("list " + _options.path + ": " + page.error().message);
            return false;
        }
        if (version.empty()) {
            version = page->resource_version;  // every page reads at the first one's version
        }
        for (Object& o : page->items) {
            objects.push_back(std::move(o));
        }
        continue_token = page->continue_token;
    } while (!continue_token.empty() && !_stop.load(std::memory_order_acquire));
    if (_stop.load(std::memory_order_acquire)) {
        return false;
    }
    _version = version;
    Delta delta;
    delta.type = Delta::Type::relisted;
    delta.kind = _options.kind;
    delta.objects = std::move(objects);
    delta.received = std::chrono::steady_clock::now();
    _sink.push(std::move(delta));
    _counters.relists.fetch_add(1, std::memory_order_relaxed);
    return true;
}

Reflector::WatchEnd Reflector::watch() {
    std::string pending;  // a line not complete yet
    WatchEnd end = WatchEnd::timeout;
    auto on_line = [&](std::string_view line) {
        if (line.empty()) {
            return true;
        }
        _watch_worked = true;
        auto event = parse_watch_event(_options.kind, line);
        if (!event) {
            error("watch " + _options.path + ": " + event.error().message);
            return true;  // one bad line is skipped, not fatal
        }
        using Type = WatchEvent::Type;
        if (event->type == Type::error) {
            if (event->code == kHttpGone) {
                _counters.expired.fetch_add(1, std::memory_order_relaxed);
                end = WatchEnd::expired;
            } else {
                error("watch " + _options.path + ": " + std::to_string(event->code) + " " +
                      event->message);
                end = WatchEnd::failed;
            }
            return false;
        }
        if (!event->resource_version.empty()) {
            _version = event->resource_version;
        }
        if (event->type == Type::bookmark) {
            _counters.bookmarks.fetch_add(1, std::memory_order_relaxed);
            return true;
        }
        _counters.events.fetch_add(1, std::memory_order_relaxed);
        Delta delta;
        delta.type = event->type == Type::deleted ? Delta::Type::remove : Delta::Type::upsert;
        delta.kind = _options.kind;
        delta.object = std::move(event->object);
        delta.received = std::chrono::steady_clock::now();
        _sink.push(std::move(delta));
        return true;
    };
    auto reply = _transport.stream(
        query(true, ""), static_cast<int>(_options.watch_timeout_s) + kWatchReadMarginS,
        [&](std::string_view data) {
            if (_stop.load(std::memory_order_acquire)) {
                end = WatchEnd::stopped;
                return false;
            }
            pending.append(data);
            size_t start = 0;
            for (size_t nl = pending.find('\n'); nl != std::string::npos;
                 nl = pending.find('\n', start)) {
                if (!on_line(std::string_view(pending).substr(start, nl - start))) {
                    pending.clear();
                    return false;
                }
                start = nl + 1;
            }
            pending.erase(0, start);
            return true;
        });
    if (_stop.load(std::memory_order_acquire)) {
        return WatchEnd::stopped;
    }
    if (!reply) {
        error("watch " + _options.path + ": " + reply.error().message);
        return WatchEnd::failed;
    }
    // 410 Gone / Status reason Expired: the resourceVersion is older than
    // what the server keeps (compaction). The only cure is a new list.
    if (reply->status == kHttpGone) {
        _counters.expired.fetch_add(1, std::memory_order_relaxed);
        return WatchEnd::expired;
    }
    if (reply->status != kHttpOk) {
        error("watch " + _options.path + ": HTTP " + std::to_string(reply->status) + ": " +
              status_message(reply->body));
        return WatchEnd::failed;
    }
    if (!pending.empty() && end == WatchEnd::timeout) {
        on_line(pending);  // a last event without its newline
    }
    return end;
}

void Reflector::run() {
    Backoff backoff(_options.backoff_initial_ms, _options.backoff_max_ms);
    bool need_list = true;
    while (!_stop.load(std::memory_order_acquire)) {
        if (need_list) {
            if (!list()) {
                sleep_ms(backoff.next_ms());
                continue;
            }
            backoff.reset();
            need_list = false;
            _logged_error.clear();  // a later failure is told again
        }
        _watch_worked = false;
        WatchEnd end = watch();
        if (_watch_worked) {
            // It streamed: a later failure is a new incident, not the next
            // retry of an old one (the API server restarted an hour later
            // should not wait the back-off cap).
            backoff.reset();
        }
        if (end == WatchEnd::stopped) {
            break;
        }
        _counters.restarts.fetch_add(1, std::memory_order_relaxed);
        switch (end) {
            case WatchEnd::timeout:
                backoff.reset();  // the server closed it on time: resume at once
                break;
            case WatchEnd::expired:
                need_list = true;  // relist at once: the version is gone
                break;
            case WatchEnd::failed:
                // Resume from the last version seen (a 410 then re-lists).
                sleep_ms(backoff.next_ms());
                break;
            case WatchEnd::stopped:
                break;
        }
    }
}

void Reflector::sleep_ms(uint32_t ms) {
    std::unique_lock lock(_mutex);
    _wake.wait_for(lock, std::chrono::milliseconds(ms),
                   [this] { return _stop.load(std::memory_order_acquire); });
}

void Reflector::stop() {
    _stop.store(true, std::memory_order_release);
    {
        std::lock_guard lock(_mutex);
        _wake.notify_all();
    }
    _transport.stop();
}

}  // namespace svcgw::kube
