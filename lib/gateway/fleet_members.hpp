// The fleet's live members for fullnat owner redirect (DESIGN §6), on
// the control thread: fleet.members from the config is the list; whether
// each peer is live comes from probes (fleet.membership probes: a TCP
// connect to fleet.probe.port on its address, through the health checker's
// Prober: kernel sockets, so out of the exception path like the backends'
// checks, with rise/fall), or from outside (membership leases: set_live()
// with what the members' Leases say, kube/lease_agent.hpp). A peer starts
// dead: nothing is redirected to an instance before it answered.
// Each member's MAC comes from the neighbour table (resolved here for every
// peer): the mark of its redirected frames.
//
// Every change (a peer crossing rise/fall, a MAC learned or changed)
// publishes a new MemberSet (dataplane/instance_owner.hpp) to the workers
// through RCU (rcu_slot.hpp).
//
// Threading: control thread only (fd() goes into its epoll set).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"
#include "dataplane/instance_owner.hpp"
#include "gateway/rcu_slot.hpp"
#include "health/prober.hpp"

struct rte_rcu_qsbr;

namespace svcgw {

class NeighbourTable;

// rise/fall over consecutive probe verdicts (as the health checks count).
struct Liveness {
    bool live = false;
    uint32_t successes = 0;  // consecutive
    uint32_t failures = 0;   // consecutive
    uint64_t probes = 0, failed = 0;

    // True when the verdict changed `live`.
    bool record(bool ok, uint32_t rise, uint32_t fall) {
        ++probes;
        if (ok) {
            failures = 0;
            ++successes;
            if (!live && successes >= rise) {
                live = true;
                return true;
            }
            return false;
        }
        ++failed;
        successes = 0;
        ++failures;
        if (live && failures >= fall) {
            live = false;
            return true;
        }
        return false;
    }
};

// How often an unresolved peer's MAC is asked for again (the neighbour
// table gives up after ~1.4 s; a dead peer costs one round per second).
constexpr uint64_t kMemberResolveMs = 1000;

class FleetMembers {
public:
    using LogFn = std::function<void(const std::string&)>;

    // `seed`: maglev.seed (every instance has the same). `neighbours` and
    // `qsbr` outlive this.
    static Result<std::unique_ptr<FleetMembers>> create(const FleetConfig& fleet, uint64_t seed,
                                                        rte_rcu_qsbr* qsbr,
                                                        NeighbourTable& neighbours, LogFn log);

    // The prober's, -1 without probes (membership leases).
    int fd() const { return _prober != nullptr ? _prober->fd() : -1; }
    const std::atomic<const MemberSet*>& current() const { return _set.current(); }
    const MemberSet& set() const { return *_set.get(); }
    uint64_t changes() const { return _changes; }
    const std::vector<Liveness>& liveness() const { return _liveness; }

    // fd() readable: verdicts in, due probes out. `now_us`: health::now_us().
    void run(uint64_t now_us);
    // Every control tick: peers' MACs from the neighbour table, RCU reclaim.
    void tick(uint64_t now_ms);
    // Membership leases: each member's liveness in config order (self's is
    // ignored: always live) and why (logged on a change). Publishes when a
    // peer changed.
    void set_live(const std::vector<bool>& live, const std::vector<std::string>& why);

private:
    FleetMembers(const FleetConfig& fleet, uint64_t seed, rte_rcu_qsbr* qsbr,
                 NeighbourTable& neighbours, LogFn log)
        : _fleet(fleet), _seed(seed), _neighbours(neighbours), _log(std::move(log)), _set(qsbr) {}
    Result<void> publish();

    FleetConfig _fleet;
    uint64_t _seed;
    NeighbourTable& _neighbours;
    LogFn _log;
    std::unique_ptr<health::Prober> _prober;
    RcuSlot<MemberSet> _set;
    std::vector<MemberInfo> _members;  // config order; live and mac as last published
    size_t _self = 0;
    std::vector<Liveness> _liveness;
    std::vector<uint64_t> _next_probe_us;  // per member; 0 = self (never probed)
    std::vector<bool> _in_flight;
    uint64_t _next_resolve_ms = 0;
    uint64_t _changes = 0;
};

}  // namespace svcgw
