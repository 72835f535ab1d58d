// The cluster DNS zone's versions on the control side (control thread
// only): each change to the running set becomes a new zone version, made
// live with one release store, and what it replaced is retired through the
// workers' rte_rcu_qsbr. Not a publisher of its own: SnapshotPublisher
// (snapshot_publisher.hpp) calls prepare() and commit() around the VIP
// table's publish, so a name and its VIP change together.
//
//   prepare(): the zone writer rebuilds only the names the changed Services
//     own and copies only the trie levels above them (dns/zone_writer.hpp);
//     an error fails the change before anything is visible;
//   commit(): swap the zone pointer (release store) and retire what the
//     version replaced: it is freed only after every worker has reported a
//     quiescent state since the swap (reclaim(), on the control tick).
//
// Workers read `current()` with an acquire load once per burst, between two
// quiescent states; null = no configuration live yet (SERVFAIL). The control
// thread itself may read `live()` at any time between two publishes without
// a grace period (DNS over TCP): it is the only thread that retires zones.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"
#include "control/state.hpp"
#include "dns/zone.hpp"
#include "dns/zone_writer.hpp"
#include "rcu/retire_list.hpp"

struct rte_rcu_qsbr;

namespace svcgw {

// What the zone reads of a service (dns/records.hpp), and nothing else: two
// services with equal views produce the same records. Endpoints of a
// ClusterIP service, weights, session affinity and target ports of
// non-headless services do not reach DNS, so changing them skips the zone.
ServiceConfig dns_view(const ServiceConfig& service);

struct ZoneStats {
    uint32_t serial = 0;   // SOA serial of the live zone (0 = none yet)
    uint64_t builds = 0;   // zone versions published
    uint64_t skipped = 0;  // changes that did not touch DNS
    uint64_t last_build_us = 0;
    uint64_t last_names = 0;                     // names the last version rebuilt or removed
    uint64_t nodes = 0, records = 0, bytes = 0;  // of the live zone
    uint64_t retired_pending = 0;                // old zones waiting for a grace period
};

class ZoneVersions {
public:
    // `first_serial`: the SOA serial of the first zone; each publish adds one
    // (RFC 1982 arithmetic; the daemon starts from the Unix time so a
    // restart does not go back). `qsbr` is the workers' QSBR variable.
    ZoneVersions(DnsConfig dns, Ipv4Prefix service_cidr, rte_rcu_qsbr* qsbr, uint32_t first_serial);
    // Frees every zone: the readers must be stopped (or offline) by then.
    ~ZoneVersions();
    ZoneVersions(const ZoneVersions&) = delete;
    ZoneVersions& operator=(const ZoneVersions&) = delete;

    // A change in preparation: `change` is null when the diff does not
    // touch DNS (nothing to publish).
    struct Prepared {
        std::unique_ptr<dns::ZoneWriter::Change> change;
        uint64_t build_us = 0;
    };

    // Makes the zone hold exactly `services` and publishes it (the first
    // configuration at start-up, or a full resync).
    Result<void, Errors> publish_all(const std::vector<ServiceConfig>& services);
    // Step 1 of a change to the running set (`diff`: its difference to the
    // published one; a changed service reaches DNS when its dns_view differs
    // from its replaced version's). Changes nothing visible.
    Result<Prepared, Errors> prepare(const ServiceDiff& diff);
    // Step 3: makes `prepared` live. Never fails.
    void commit(Prepared prepared);

    // The pointer the workers read (WorkerContext::dns_zone).
    const std::atomic<const dns::Zone*>& current() const { return _current; }
    // The published zone, for readers on the control thread (see above).
    const dns::Zone* live() const { return _current.load(std::memory_order_relaxed); }
    // Frees retired versions whose grace period is over; returns how many.
    size_t reclaim();
    ZoneStats stats() const;

private:
    Result<void, Errors> writer_ready();
    void publish(std::unique_ptr<dns::ZoneWriter::Change> change);

    DnsConfig _dns;
    Ipv4Prefix _service_cidr;
    uint32_t _next_serial;
    std::unique_ptr<dns::ZoneWriter> _writer;  // owns the live version's trie and nodes
    // Release store on publish; pairs with the workers' acquire load.
    std::atomic<const dns::Zone*> _current{nullptr};
    // What published versions replaced. The zone keeps no copy of the
    // services: the writer holds their records by key, the diff says what
    // changed.
    rcu::RetireList<dns::ZoneRetired> _retired;
    uint64_t _builds = 0;
    uint64_t _skipped = 0;
    uint64_t _last_build_us = 0;
    uint64_t _last_names = 0;
};

}  // namespace svcgw
