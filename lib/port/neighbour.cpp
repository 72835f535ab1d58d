#include "port/neighbour.hpp"

#include <arpa/inet.h>
#include <rte_rcu_qsbr.h>

namespace svcgw {

NeighbourTable::NeighbourTable(Ipv4Prefix subnet, rte_rcu_qsbr* qsbr, NeighbourTimers timers)
    : _subnet(subnet), _qsbr(qsbr), _timers(timers), _view(new NeighbourView()) {}

NeighbourTable::~NeighbourTable() {
    // Readers are stopped by now (the owner's contract), so no grace period.
    for (auto& [token, view] : _retired) {
        delete view;
    }
    delete _view.load(std::memory_order_relaxed);
}

void NeighbourTable::want(Ipv4 ip, uint64_t now_ms) {
    if (!_subnet.contains(ip) || _entries.contains(ip.value)) {
        return;
    }
    _entries.emplace(ip.value, Entry{State::incomplete, {}, 0, now_ms});
}

void NeighbourTable::learned(Ipv4 ip, const MacAddr& mac, uint64_t now_ms) {
    if (!_subnet.contains(ip) || ip == _subnet.address) {
        ++_stats.ignored;
        return;
    }
    auto [it, inserted] = _entries.try_emplace(ip.value);
    Entry& entry = it->second;
    if (!inserted && entry.state == State::incomplete) {
        ++_stats.resolved;
    }
    if (inserted || entry.state == State::incomplete || entry.mac != mac) {
        _dirty = true;
    }
    entry = Entry{State::reachable, mac, 0, now_ms + _timers.reachable_ms};
    // Publish at once: workers hold packets until the MAC shows up.
    publish();
}

std::vector<Ipv4> NeighbourTable::tick(uint64_t now_ms) {
    std::vector<Ipv4> requests;
    for (auto it = _entries.begin(); it != _entries.end();) {
        Entry& entry = it->second;
        if (now_ms < entry.next_ms) {
            ++it;
            continue;
        }
        if (entry.state == State::reachable) {
            entry.state = State::probing;  // MAC stays published while probing
            entry.requests = 0;
        }
        if (entry.requests == _timers.max_requests) {
            // No answer to the last request either: give up.
            if (entry.state == State::incomplete) {
                ++_stats.failed;
            } else {
                ++_stats.expired;
                _dirty = true;
            }
            it = _entries.erase(it);
            continue;
        }
        requests.push_back(Ipv4{it->first});
        entry.next_ms = now_ms + (_timers.retry_ms << entry.requests);
        ++entry.requests;
        ++it;
    }
    _stats.requests += requests.size();
    publish();
    reclaim();
    return requests;
}

std::optional<MacAddr> NeighbourTable::lookup(Ipv4 ip) const {
    auto it = _entries.find(ip.value);
    if (it == _entries.end() || it->second.state == State::incomplete) {
        return std::nullopt;
    }
    return it->second.mac;
}

bool NeighbourTable::pending(Ipv4 ip) const {
    auto it = _entries.find(ip.value);
    return it != _entries.end() && it->second.state == State::incomplete;
}

void NeighbourTable::publish() {
    if (!_dirty) {
        return;
    }
    _dirty = false;
    std::vector<std::pair<uint32_t, MacAddr>> known;
    for (const auto& [ip, entry] : _entries) {
        if (entry.state != State::incomplete) {
            known.emplace_back(htonl(ip), entry.mac);
        }
    }
    auto* next = new NeighbourView(known);
    // Release: the view's contents are visible before its address (pairs
    // with the workers' acquire load).
    const NeighbourView* old = _view.exchange(next, std::memory_order_acq_rel);
    if (_qsbr == nullptr) {
        delete old;
        return;
    }
    // The token orders after the store above: a reader that reports
    // quiescent past it no longer holds `old`.
    _retired.emplace_back(rte_rcu_qsbr_start(_qsbr), old);
}

void NeighbourTable::reclaim() {
    while (!_retired.empty() && rte_rcu_qsbr_check(_qsbr, _retired.front().first, false) == 1) {
        delete _retired.front().second;
        _retired.pop_front();
    }
}

}  // namespace svcgw
