#include "port/neighbour.hpp"

#include <arpa/inet.h>

#include <utility>

namespace svcgw {

NeighbourTable::NeighbourTable(Ipv4Prefix subnet, rte_rcu_qsbr* qsbr, NeighbourTimers timers)
    : _subnet(subnet),
      _timers(timers),
      _live(std::make_unique<NeighbourView>()),
      _view(_live.get()),
      _retired(qsbr) {}

// Readers are stopped by now (the owner's contract), so no grace period.
NeighbourTable::~NeighbourTable() = default;

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
    _retired.reclaim();
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
    auto next = std::make_unique<const NeighbourView>(known);
    // Release: the view's contents are visible before its address (pairs
    // with the workers' acquire load).
    _view.store(next.get(), std::memory_order_release);
    _retired.retire(std::exchange(_live, std::move(next)));
}

}  // namespace svcgw
