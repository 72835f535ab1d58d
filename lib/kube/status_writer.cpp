#include "kube/status_writer.hpp"

#include <nlohmann/json.hpp>

namespace svcgw::kube {

std::string ingress_patch(const std::vector<Ipv4>& ips) {
    nlohmann::json ingress = nlohmann::json::array();
    for (Ipv4 ip : ips) {
        ingress.push_back({{"ip", ip.str()}});
    }
    // A merge patch replaces lists whole; null removes the key (<pending>).
    return nlohmann::json{
        {"status", {{"loadBalancer", {{"ingress", ips.empty() ? nlohmann::json() : ingress}}}}}}
        .dump();
}

std::string status_path(const std::string& key) {
    const size_t slash = key.find('/');
    return "/api/v1/namespaces/" + key.substr(0, slash) + "/services/" + key.substr(slash + 1) +
           "/status";
}

StatusWriter::StatusWriter(Patch patch, std::function<void()> wake, uint32_t backoff_initial_ms,
                           uint32_t backoff_max_ms)
    : _patch(std::move(patch)),
      _wake(std::move(wake)),
      _backoff_initial_ms(backoff_initial_ms),
      _backoff_max_ms(backoff_max_ms),
      _thread([this] { run(); }) {}

StatusWriter::~StatusWriter() {
    stop();
    if (_thread.joinable()) {
        _thread.join();
    }
}

void StatusWriter::stop() {
    {
        std::lock_guard lock(_mutex);
        _stop = true;
    }
    _cv.notify_all();
}

void StatusWriter::request(const std::string& key, std::vector<Ipv4> ips) {
    {
        std::lock_guard lock(_mutex);
        _pending.insert_or_assign(
            key,
            Pending{
                std::move(ips), ++_generation, {}, Backoff(_backoff_initial_ms, _backoff_max_ms)});
    }
    _cv.notify_all();
}

std::vector<StatusOutcome> StatusWriter::take_outcomes() {
    std::lock_guard lock(_mutex);
    return std::exchange(_outcomes, {});
}

void StatusWriter::run() {
    std::unique_lock lock(_mutex);
    while (!_stop) {
        // The earliest due request; wait until it is due or a new one comes.
        auto due = _pending.end();
        for (auto it = _pending.begin(); it != _pending.end(); ++it) {
            if (due == _pending.end() || it->second.not_before < due->second.not_before) {
                due = it;
            }
        }
        if (due == _pending.end()) {
            _cv.wait(lock);
            continue;
        }
        if (due->second.not_before > std::chrono::steady_clock::now()) {
            _cv.wait_until(lock, due->second.not_before);
            continue;
        }
        const std::string key = due->first;
        const std::vector<Ipv4> ips = due->second.ips;
        const uint64_t generation = due->second.generation;
        lock.unlock();
        auto reply = _patch(status_path(key), ingress_patch(ips));
        lock.lock();
        _patches.fetch_add(1, std::memory_order_relaxed);
        StatusOutcome outcome{key, ips, false, false, {}};
        if (reply && http_success(reply->status)) {
            outcome.ok = true;
            outcome.final = true;
        } else {
            _errors.fetch_add(1, std::memory_order_relaxed);
            outcome.message =
                reply ? "HTTP " + std::to_string(reply->status) + ": " + status_message(reply->body)
                      : reply.error().message;
            outcome.final = reply && reply->status == kHttpNotFound;  // the Service is gone
        }
        auto now_pending = _pending.find(key);
        if (now_pending != _pending.end() && now_pending->second.generation == generation) {
            if (outcome.final) {
                _pending.erase(now_pending);
            } else {
                Pending& p = now_pending->second;
                p.not_before = std::chrono::steady_clock::now() +
                               std::chrono::milliseconds(p.backoff.next_ms());
            }
        }
        _outcomes.push_back(std::move(outcome));
        lock.unlock();
        _wake();
        lock.lock();
    }
}

}  // namespace svcgw::kube
