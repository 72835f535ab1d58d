// The VIP table of the snapshot (DESIGN §1, STYLE §4): a lock-free rte_hash
// from (VIP address, port, protocol) to the immutable ServicePort of the
// service that owns it, a second lock-free rte_hash of VIP addresses (ARP and
// ICMP answers), and the RCU publisher that retires replaced services.
//
// Threading rules:
//  - One writer: the control thread calls create(), upsert(), remove(),
//    find(), reclaim(), pending() and the destructor. Never from a worker.
//  - Many lock-free readers (workers) call lookup(), lookup_bulk() and
//    is_vip(). Each reader is registered in the rte_rcu_qsbr variable given
//    to create() (its own thread id), calls rte_rcu_qsbr_quiescent() once
//    per loop, outside any use of a looked-up pointer, and goes offline
//    (rte_rcu_qsbr_thread_offline) before it blocks or stops.
//  - A `const ServicePort*` (and everything reachable from it) is valid from
//    the lookup until that reader's next quiescent report. Replaced and
//    removed services are freed by reclaim() on the control thread only
//    after every registered reader has reported quiescent since the change.
//  - The QSBR variable belongs to the caller and must outlive the table.
//    The destructor waits for a grace period (rte_rcu_qsbr_synchronize), so
//    readers must be stopped or offline by then.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"
#include "table/reply_index.hpp"
#include "table/service.hpp"

struct rte_hash;
struct rte_rcu_qsbr;
struct rte_rcu_qsbr_dq;

namespace svcgw {

// Exactly as found in the packet so a worker fills it straight from the IPv4
// and L4 headers. pad must be 0 (the hash compares all 8 bytes).
struct VipKey {
    uint32_t ip_be = 0;    // destination address, network byte order
    uint16_t port_be = 0;  // destination port, network byte order
    uint8_t proto = 0;     // IPPROTO_TCP / IPPROTO_UDP
    uint8_t pad = 0;

    bool operator==(const VipKey&) const = default;
    // The 8 bytes as one value: the table's key index and the workers' flow
    // census key by it.
    uint64_t packed() const {
        uint64_t v;
        std::memcpy(&v, this, sizeof v);
        return v;
    }
};
static_assert(sizeof(VipKey) == 8, "VipKey is hashed as 8 raw bytes");

// rte_hash_lookup_bulk_data's limit (RTE_HASH_LOOKUP_BULK_MAX).
constexpr uint32_t kVipBurstMax = 64;

struct VipBurstResult {
    uint64_t hit_mask = 0;  // bit i set = keys[i] found, ports[i] valid
    std::array<const ServicePort*, kVipBurstMax> ports;  // unset where the bit is clear
};

struct ServiceTableOptions {
    // Live (VIP, port, protocol) keys the table accepts; upsert() beyond it
    // fails cleanly. The hash gets twice the slots because deleted slots
    // stay unusable until a grace period passes (rte_hash_rcu_qsbr_add).
    uint32_t max_vips = 65536;
    // Retired services awaiting a grace period. When full, upsert/remove
    // fall back to a blocking rte_rcu_qsbr_synchronize.
    uint32_t defer_queue_size = 4096;
    // When every free hash slot is parked behind a grace period, upsert()
    // waits this long for readers to report quiescent, then fails cleanly
    // (a reader stuck online must not hang the control thread forever).
    uint32_t grace_wait_ms = 100;
    int socket_id = -1;  // SOCKET_ID_ANY
    // Lanes of each traffic counter (one per reader thread id); 0 = the
    // QSBR variable's max_threads.
    uint32_t stats_lanes = 0;
    // Keep the reply index (reply_index.hpp: nat mode's reverse translation
    // without a flow), with this many backend keys at most (0 = none).
    uint32_t max_reply_keys = 0;
};

class ServiceTable {
public:
    static Result<std::unique_ptr<ServiceTable>> create(rte_rcu_qsbr* qsbr,
                                                        const ServiceTableOptions& options = {});
    ~ServiceTable();
    ServiceTable(const ServiceTable&) = delete;
    ServiceTable& operator=(const ServiceTable&) = delete;

    // ---- readers (workers), lock-free ----
    const ServicePort* lookup(const VipKey& key) const;
    // keys.size() <= kVipBurstMax.
    VipBurstResult lookup_bulk(std::span<const VipKey> keys) const;
    bool is_vip(uint32_t ip_be) const;
    // The VIP:port a backend's reply answers for, without a flow; null when
    // the table keeps no reply index (ServiceTableOptions::max_reply_keys).
    const ReplyIndex* replies() const { return _replies.get(); }

    // ---- control thread only ----
    // Builds the new service completely, checks it against the table (keys
    // owned by another service, capacity), then publishes it: one data
    // pointer store per key, stale keys deleted, old object retired. On
    // error nothing changed. Headless services are kept (find()) but own
    // no keys.
    Result<void> upsert(const ServiceConfig& config, const MaglevConfig& maglev);
    // Error if the service does not exist.
    Result<void> remove(const std::string& ns, const std::string& name);
    // Probe results every later upsert() builds with (null = none). The
    // source must outlive the table or be reset first.
    void set_health(const HealthSource* health) { _health = health; }
    // The live object, for the control side (API, stats). nullptr if absent.
    const Service* find(const std::string& ns, const std::string& name) const;
    std::vector<const Service*> services() const;  // sorted by (ns, name)
    size_t size() const { return _services.size(); }
    size_t vip_count() const { return _key_owner.size(); }  // live keys
    // Frees retired services whose grace period is over. Non-blocking.
    // Returns how many were freed.
    uint32_t reclaim();
    uint32_t pending() const;  // retired services not yet freed
    uint32_t stats_lanes() const { return _stats_lanes; }

private:
    struct Entry {
        std::unique_ptr<const Service> service;
        std::vector<VipKey> keys;
    };

    ServiceTable() = default;
    Result<void> publish(std::unique_ptr<const Service> next, Entry* current);
    void retire(const Service* service);
    bool wait_grace_period() const;  // bounded by _grace_wait_ms
    bool vip_ref(uint32_t ip_be);    // false: no slot for a new address
    void vip_unref(uint32_t ip_be);

    // Counters per identity, kept across versions of a service (see
    // table/traffic_counters.hpp). Pruned to the published version.
    struct StatsEntry {
        std::map<uint32_t, std::shared_ptr<TrafficCounters>> ports;     // port << 8 | protocol
        std::map<uint32_t, std::shared_ptr<TrafficCounters>> backends;  // ip_be
    };
    void prune_stats(const std::pair<std::string, std::string>& key, const Service* live);

    rte_rcu_qsbr* _qsbr = nullptr;
    const HealthSource* _health = nullptr;
    uint32_t _stats_lanes = 1;
    std::map<std::pair<std::string, std::string>, StatsEntry> _stats;
    rte_hash* _vips = nullptr;       // VipKey -> const ServicePort*
    rte_hash* _vip_addrs = nullptr;  // ip_be -> (no data)
    rte_rcu_qsbr_dq* _dq = nullptr;  // retired const Service*
    std::unique_ptr<ReplyIndex> _replies;
    uint32_t _max_vips = 0;
    uint32_t _grace_wait_ms = 0;
    uint32_t _retired = 0;  // enqueued into _dq minus freed (control thread only)
    // control only
    std::map<std::pair<std::string, std::string>, Entry> _services;
    std::unordered_map<uint64_t, const Service*> _key_owner;  // packed VipKey -> owner
    std::unordered_map<uint32_t, uint32_t> _vip_refs;         // ip_be -> live services using it
};

}  // namespace svcgw
