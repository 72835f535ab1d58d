// Neighbour table (ARP cache) of the control thread. It learns from ARP
// packets the workers hand over, resolves next hops the workers ask for
// (the caller sends the ARP requests tick() returns, with retry and
// exponential backoff), re-probes entries that have not been confirmed for a
// while and forgets those that stop answering.
//
// Threading: control thread only, except view(), whose pointee workers read
// lock-free. Each change publishes a fresh immutable NeighbourView with one
// release store (pairs with the workers' acquire load); the previous view is
// retired (rcu/retire_list.hpp) and freed in tick() once every worker has
// passed a quiescent state.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "common/net.hpp"
#include "net/neighbour_view.hpp"
#include "rcu/retire_list.hpp"

struct rte_rcu_qsbr;

namespace svcgw {

struct NeighbourTimers {
    // RFC 1122 §2.3.2.1 asks for at most one request per second per address
    // in steady state; a first retry after 200 ms keeps connection set-up
    // fast while the doubling backoff stays well under that budget.
    uint64_t retry_ms = 200;
    uint32_t max_requests = 4;  // 200+400+800 ms: give up after ~1.4 s
    // Linux's base_reachable_time is 30 s; we re-probe a confirmed entry
    // after a minute and keep using its MAC while probing.
    uint64_t reachable_ms = 60000;
};

struct NeighbourStats {
    uint64_t resolved = 0;  // incomplete -> known
    uint64_t failed = 0;    // gave up resolving
    uint64_t expired = 0;   // known entry stopped answering probes
    uint64_t requests = 0;  // ARP requests asked of the caller
    uint64_t ignored = 0;   // learned() outside the subnet
};

class NeighbourTable {
public:
    // qsbr may be null only when no reader is ever registered (then old views
    // are freed at once); it must outlive the table.
    NeighbourTable(Ipv4Prefix subnet, rte_rcu_qsbr* qsbr, NeighbourTimers timers = {});
    ~NeighbourTable();
    NeighbourTable(const NeighbourTable&) = delete;
    NeighbourTable& operator=(const NeighbourTable&) = delete;

    // A worker lacks `ip`'s MAC. Starts resolving unless known or pending;
    // the first request goes out with the next tick().
    void want(Ipv4 ip, uint64_t now_ms);
    // An ARP packet said `ip` is at `mac` (reply, request or gratuitous).
    // Learned only inside the port's subnet.
    void learned(Ipv4 ip, const MacAddr& mac, uint64_t now_ms);
    // Advances timers; returns the addresses to send an ARP request for now.
    // Publishes changes and frees views whose grace period is over.
    std::vector<Ipv4> tick(uint64_t now_ms);

    std::optional<MacAddr> lookup(Ipv4 ip) const;
    bool pending(Ipv4 ip) const;
    size_t size() const { return _entries.size(); }
    const NeighbourStats& stats() const { return _stats; }
    // Workers keep a pointer to this atomic and load it with acquire.
    const std::atomic<const NeighbourView*>& view() const { return _view; }
    size_t retired_views() const { return _retired.pending(); }

private:
    enum class State { incomplete, reachable, probing };
    struct Entry {
        State state = State::incomplete;
        MacAddr mac{};
        uint32_t requests = 0;  // sent in the current incomplete/probing round
        uint64_t next_ms = 0;   // next request (incomplete/probing) or probe start
    };

    void publish();

    Ipv4Prefix _subnet;
    NeighbourTimers _timers;
    std::map<uint32_t, Entry> _entries;  // host-order IP
    NeighbourStats _stats;
    bool _dirty = false;
    std::unique_ptr<const NeighbourView> _live;  // what _view points to
    std::atomic<const NeighbourView*> _view;
    rcu::RetireList<const NeighbourView> _retired;
};

}  // namespace svcgw
