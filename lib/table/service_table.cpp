// DPDK glue of the snapshot: lock-free rte_hash tables and the QSBR defer
// queue that frees replaced services. Threading rules: service_table.hpp.
#include "table/service_table.hpp"

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_memory.h>
#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <unordered_set>

namespace svcgw {

static_assert(kVipBurstMax == RTE_HASH_LOOKUP_BULK_MAX, "burst size follows rte_hash's limit");

namespace {

// Slots per live key: deleted key slots are parked in the hash's own QSBR
// defer queue until readers pass a grace period, so churn needs headroom
// beyond max_vips for the all-or-nothing capacity check to hold.
constexpr uint32_t kHashSlotsPerKey = 2;
// rte_hash wants at least one full bucket (RTE_HASH_BUCKET_ENTRIES).
constexpr uint32_t kMinHashEntries = 64;
// rte_hash_crc seed; any constant works, the table is process-local.
constexpr uint32_t kHashSeed = 0;
// Poll interval while waiting for a grace period: well below one reader
// loop under load, long enough not to steal a shared core.
constexpr auto kGracePoll = std::chrono::microseconds(20);

uint32_t vip_key_hash(const void* key, uint32_t /*len*/, uint32_t init) {
    uint64_t k;
    std::memcpy(&k, key, sizeof(k));
    return rte_hash_crc_8byte(k, init);
}

uint32_t vip_addr_hash(const void* key, uint32_t /*len*/, uint32_t init) {
    uint32_t k;
    std::memcpy(&k, key, sizeof(k));
    return rte_hash_crc_4byte(k, init);
}

std::string key_str(const VipKey& key) {
    return Ipv4{rte_be_to_cpu_32(key.ip_be)}.str() + ":" +
           std::to_string(rte_be_to_cpu_16(key.port_be)) + "/" +
           std::string(to_string(static_cast<Protocol>(key.proto)));
}

// Address-major: key k belongs to ports()[k % ports().size()]. Headless
// services have no address: nothing to balance.
std::vector<VipKey> keys_of(const Service& svc) {
    std::vector<VipKey> keys;
    for (Ipv4 vip : svc.vips()) {
        const uint32_t ip_be = rte_cpu_to_be_32(vip.value);
        for (const auto& p : svc.ports()) {
            keys.push_back(VipKey{ip_be, p.port_be, static_cast<uint8_t>(p.protocol), 0});
        }
    }
    return keys;
}

// rte_hash and defer-queue names must be unique per process.
std::atomic<uint32_t> g_table_seq{0};

rte_hash* create_hash(const std::string& name, uint32_t entries, uint32_t key_len,
                      rte_hash_function fn, int socket_id, rte_rcu_qsbr* qsbr) {
    rte_hash_parameters params{};
    params.name = name.c_str();
    params.entries = entries;
    params.key_len = key_len;
    params.hash_func = fn;
    params.hash_func_init_val = kHashSeed;
    params.socket_id = socket_id;
    // LF: readers never take a lock; EXT_TABLE: an insert fails only when
    // the table is really full, never because two buckets are (so the
    // capacity check in upsert is meaningful).
    params.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
    rte_hash* h = rte_hash_create(&params);
    if (h == nullptr) {
        return nullptr;
    }
    // Deleted key slots go through the QSBR variable before reuse, so a
    // reader in the middle of a lookup never sees a slot recycled under it.
    rte_hash_rcu_config rcu{};
    rcu.v = qsbr;
    rcu.mode = RTE_HASH_QSBR_MODE_DQ;
    if (rte_hash_rcu_qsbr_add(h, &rcu) != 0) {
        rte_hash_free(h);
        return nullptr;
    }
    return h;
}

}  // namespace

// Defer-queue callback: runs on the control thread inside
// rte_rcu_qsbr_dq_enqueue/reclaim/delete, once the grace period is over.
static void free_retired(void* p, void* e, unsigned int n) {
    auto* table_retired = static_cast<uint32_t*>(p);
    auto* items = static_cast<const Service**>(e);
    for (unsigned int i = 0; i < n; ++i) {
        delete items[i];
    }
    *table_retired -= n;
}

Result<std::unique_ptr<ServiceTable>> ServiceTable::create(rte_rcu_qsbr* qsbr,
                                                           const ServiceTableOptions& options) {
    if (qsbr == nullptr) {
        return fail("", "service table needs an RCU QSBR variable");
    }
    if (options.max_vips == 0 || options.defer_queue_size == 0) {
        return fail("", "service table sizes must be positive");
    }
    std::unique_ptr<ServiceTable> t(new ServiceTable());
    t->_qsbr = qsbr;
    t->_max_vips = options.max_vips;
    t->_grace_wait_ms = options.grace_wait_ms;
    t->_stats_lanes =
        options.stats_lanes != 0 ? options.stats_lanes : std::max(qsbr->max_threads, 1u);
    const uint32_t seq = g_table_seq.fetch_add(1, std::memory_order_relaxed);
    const uint32_t entries = std::max(kMinHashEntries, options.max_vips * kHashSlotsPerKey);

    t->_vips = create_hash("vip" + std::to_string(seq), entries, sizeof(VipKey), vip_key_hash,
                           options.socket_id, qsbr);
    if (t->_vips == nullptr) {
        return fail("", std::string("cannot create VIP hash: ") + rte_strerror(rte_errno));
    }
    t->_vip_addrs = create_hash("vipa" + std::to_string(seq), entries, sizeof(uint32_t),
                                vip_addr_hash, options.socket_id, qsbr);
    if (t->_vip_addrs == nullptr) {
        return fail("", std::string("cannot create VIP address hash: ") + rte_strerror(rte_errno));
    }
    if (options.max_reply_keys != 0) {
        rte_hash* replies =
            create_hash("vipr" + std::to_string(seq),
                        std::max(kMinHashEntries, options.max_reply_keys * kHashSlotsPerKey),
                        sizeof(VipKey), vip_key_hash, options.socket_id, qsbr);
        if (replies == nullptr) {
            return fail("", std::string("cannot create reply index: ") + rte_strerror(rte_errno));
        }
        t->_replies = std::make_unique<ReplyIndex>(replies);
    }

    const std::string dq_name = "svcdq" + std::to_string(seq);
    rte_rcu_qsbr_dq_parameters dq{};
    dq.name = dq_name.c_str();
    dq.flags = RTE_RCU_QSBR_DQ_MT_UNSAFE;  // single writer: the control thread
    dq.size = options.defer_queue_size;
    dq.esize = sizeof(const Service*);
    // Auto-reclaim (non-blocking) once a quarter full, so a control loop
    // that forgets reclaim() still does not grow the queue to its limit.
    dq.trigger_reclaim_limit = std::max(1u, options.defer_queue_size / 4);
    dq.max_reclaim_size = options.defer_queue_size;
    dq.free_fn = free_retired;
    dq.p = &t->_retired;
    dq.v = qsbr;
    t->_dq = rte_rcu_qsbr_dq_create(&dq);
    if (t->_dq == nullptr) {
        return fail("", std::string("cannot create RCU defer queue: ") + rte_strerror(rte_errno));
    }
    return t;
}

ServiceTable::~ServiceTable() {
    if (_qsbr != nullptr) {
        // Every object still reachable from the hashes and every retired one
        // may be in use until readers pass a quiescent state once more.
        rte_rcu_qsbr_synchronize(_qsbr, RTE_QSBR_THRID_INVALID);
    }
    if (_dq != nullptr) {
        rte_rcu_qsbr_dq_delete(_dq);  // grace period is over: frees all retired
    }
    if (_vips != nullptr) {
        rte_hash_free(_vips);
    }
    if (_vip_addrs != nullptr) {
        rte_hash_free(_vip_addrs);
    }
    _replies.reset();
    _services.clear();
}

const ServicePort* ServiceTable::lookup(const VipKey& key) const {
    void* data = nullptr;
    // LF mode: the key's data is read with an acquire load, pairing with the
    // release store in rte_hash_add_key_data (upsert), so the fully built
    // Service behind the pointer is visible.
    if (rte_hash_lookup_data(_vips, &key, &data) < 0) {
        return nullptr;
    }
    return static_cast<const ServicePort*>(data);
}

VipBurstResult ServiceTable::lookup_bulk(std::span<const VipKey> keys) const {
    VipBurstResult result;
    const uint32_t n = static_cast<uint32_t>(std::min<size_t>(keys.size(), kVipBurstMax));
    const void* key_ptrs[kVipBurstMax];
    void* data[kVipBurstMax];
    for (uint32_t i = 0; i < n; ++i) {
        key_ptrs[i] = &keys[i];
    }
    // Same acquire/release pairing as lookup().
    if (rte_hash_lookup_bulk_data(_vips, key_ptrs, n, &result.hit_mask, data) < 0) {
        result.hit_mask = 0;
        return result;
    }
    for (uint32_t i = 0; i < n; ++i) {
        result.ports[i] = static_cast<const ServicePort*>(data[i]);
    }
    return result;
}

bool ServiceTable::is_vip(uint32_t ip_be) const {
    return rte_hash_lookup(_vip_addrs, &ip_be) >= 0;
}

Result<void> ServiceTable::upsert(const ServiceConfig& config, const MaglevConfig& maglev) {
    const std::pair<std::string, std::string> id{config.ns, config.name};
    StatsEntry& entry = _stats[id];
    const uint32_t lanes = _stats_lanes;
    StatsSource source;
    source.port = [&](uint16_t port, Protocol protocol) {
        auto& c = entry.ports[uint32_t{port} << 8 | static_cast<uint32_t>(protocol)];
        if (!c) {
            c = std::make_shared<TrafficCounters>(lanes);
        }
        return c;
    };
    source.backend = [&](uint32_t ip_be) {
        auto& c = entry.backends[ip_be];
        if (!c) {
            c = std::make_shared<TrafficCounters>(lanes);
        }
        return c;
    };
    auto built = Service::build(config, maglev, &source, _health);
    auto it = _services.find(id);
    Entry* current = it == _services.end() ? nullptr : &it->second;
    if (!built) {
        prune_stats(id, current != nullptr ? current->service.get() : nullptr);
        return Unexpected<Error>{built.error()};
    }
    std::unique_ptr<const Service> next = std::move(*built);
    auto done = publish(std::move(next), current);
    it = _services.find(id);
    prune_stats(id, it == _services.end() ? nullptr : it->second.service.get());
    return done;
}

void ServiceTable::prune_stats(const std::pair<std::string, std::string>& key,
                               const Service* live) {
    if (live == nullptr) {
        _stats.erase(key);
        return;
    }
    StatsEntry& entry = _stats[key];
    std::erase_if(entry.ports, [&](const auto& kv) {
        for (const ServicePort& sp : live->ports()) {
            if ((uint32_t{sp.port} << 8 | static_cast<uint32_t>(sp.protocol)) == kv.first) {
                return false;
            }
        }
        return true;
    });
    std::erase_if(entry.backends,
                  [&](const auto& kv) { return live->find_backend(kv.first) == nullptr; });
}

Result<void> ServiceTable::publish(std::unique_ptr<const Service> next, Entry* current) {
    const Service* old = current != nullptr ? current->service.get() : nullptr;
    const std::vector<VipKey> keys = keys_of(*next);

    // 1. Validate against the table; nothing is touched yet.
    std::unordered_set<uint64_t> next_keys;
    size_t added = 0;
    for (size_t i = 0; i < keys.size(); ++i) {
        next_keys.insert(keys[i].packed());
        auto owner = _key_owner.find(keys[i].packed());
        if (owner == _key_owner.end()) {
            ++added;
        } else if (owner->second != old) {
            return fail("ports[" + std::to_string(i) + "]",
                        key_str(keys[i]) + " already belongs to service " + owner->second->ns() +
                            "/" + owner->second->name());
        }
    }
    std::vector<VipKey> stale;
    if (current != nullptr) {
        for (const auto& k : current->keys) {
            if (next_keys.count(k.packed()) == 0) {
                stale.push_back(k);
            }
        }
    }
    if (_key_owner.size() + added - stale.size() > _max_vips) {
        return fail("ports", "VIP table full (" + std::to_string(_max_vips) + " keys)");
    }

    // 2. Publish. New keys first: they are the only step that can fail
    // (slots still parked in the hash's defer queue), and undoing them only
    // deletes keys nobody relied on.
    std::vector<uint32_t> referenced;
    auto unref_all = [&] {
        for (uint32_t ip_be : referenced) {
            vip_unref(ip_be);
        }
    };
    for (Ipv4 vip : next->vips()) {
        const uint32_t ip_be = rte_cpu_to_be_32(vip.value);
        if (!vip_ref(ip_be)) {
            unref_all();
            return fail("cluster_ip", "VIP address table has no free slot");
        }
        referenced.push_back(ip_be);
    }
    const auto ports = next->ports();
    std::vector<size_t> fresh;
    for (size_t i = 0; i < keys.size(); ++i) {
        if (_key_owner.count(keys[i].packed()) != 0) {
            continue;
        }
        // Release store of the data pointer (rte_hash LF) pairs with the
        // acquire load in lookup(): readers see the object fully built.
        void* data = const_cast<ServicePort*>(&ports[i % ports.size()]);
        int rc = rte_hash_add_key_data(_vips, &keys[i], data);
        if (rc == -ENOSPC && wait_grace_period()) {
            // Parked slots are free now; the hash reclaims them on this add.
            rc = rte_hash_add_key_data(_vips, &keys[i], data);
        }
        if (rc < 0) {
            for (size_t j : fresh) {
                rte_hash_del_key(_vips, &keys[j]);
            }
            unref_all();
            // Readers may have seen the fresh keys: free only after a grace period.
            retire(next.release());
            return fail("ports[" + std::to_string(i) + "]",
                        "VIP table has no free slot for " + key_str(keys[i]) +
                            " (deleted slots await an RCU grace period: is a reader stuck?)");
        }
        fresh.push_back(i);
    }
    // Existing keys: an in-place data pointer replacement, which allocates
    // nothing and cannot fail. Same release/acquire pairing.
    for (size_t i = 0; i < keys.size(); ++i) {
        if (_key_owner.count(keys[i].packed()) == 0) {
            continue;
        }
        int rc = rte_hash_add_key_data(_vips, &keys[i],
                                       const_cast<ServicePort*>(&ports[i % ports.size()]));
        if (rc < 0) {
            // Would mean the hash lost a key we own: a bug, not a config error.
            rte_panic("VIP table: replacing %s failed: %d\n", key_str(keys[i]).c_str(), rc);
        }
    }
    for (const auto& k : stale) {
        rte_hash_del_key(_vips, &k);
        _key_owner.erase(k.packed());
    }
    if (old != nullptr) {
        for (Ipv4 vip : old->vips()) {
            vip_unref(rte_cpu_to_be_32(vip.value));
        }
    }
    for (const auto& k : keys) {
        _key_owner[k.packed()] = next.get();
    }
    if (_replies) {
        _replies->replace(old, next.get());
    }

    // 3. Retire the old object; readers holding it keep it until their next
    // quiescent report.
    if (current != nullptr) {
        retire(current->service.release());
        current->service = std::move(next);
        current->keys = keys;
    } else {
        const Service* svc = next.get();
        _services.emplace(std::make_pair(svc->ns(), svc->name()), Entry{std::move(next), keys});
    }
    return {};
}

Result<void> ServiceTable::remove(const std::string& ns, const std::string& name) {
    auto it = _services.find({ns, name});
    if (it == _services.end()) {
        return fail("", "service " + ns + "/" + name + " not found");
    }
    Entry& entry = it->second;
    for (const auto& k : entry.keys) {
        rte_hash_del_key(_vips, &k);
        _key_owner.erase(k.packed());
    }
    for (Ipv4 vip : entry.service->vips()) {
        vip_unref(rte_cpu_to_be_32(vip.value));
    }
    if (_replies) {
        _replies->replace(entry.service.get(), nullptr);
    }
    retire(entry.service.release());
    _services.erase(it);
    _stats.erase({ns, name});  // the retired object keeps its counters until reclaimed
    return {};
}

const Service* ServiceTable::find(const std::string& ns, const std::string& name) const {
    auto it = _services.find({ns, name});
    return it == _services.end() ? nullptr : it->second.service.get();
}

std::vector<const Service*> ServiceTable::services() const {
    std::vector<const Service*> out;
    out.reserve(_services.size());
    for (const auto& [key, entry] : _services) {
        out.push_back(entry.service.get());
    }
    return out;
}

uint32_t ServiceTable::reclaim() {
    unsigned int freed = 0;
    unsigned int pending = 0;
    unsigned int available = 0;
    // Non-blocking: frees only what every registered reader has passed.
    rte_rcu_qsbr_dq_reclaim(_dq, ~0u, &freed, &pending, &available);
    return freed;
}

uint32_t ServiceTable::pending() const {
    return _retired;
}

void ServiceTable::retire(const Service* service) {
    // rte_rcu_qsbr_dq_enqueue takes the grace-period token (rte_rcu_qsbr_start,
    // a release) after the key deletions/replacements above, so a reader that
    // reports quiescent after it can no longer hold the old pointer.
    if (rte_rcu_qsbr_dq_enqueue(_dq, &service) == 0) {
        ++_retired;
        return;
    }
    // Queue full even after an auto-reclaim: wait for a grace period instead
    // of leaking. Readers report every loop, so this is short.
    rte_rcu_qsbr_synchronize(_qsbr, RTE_QSBR_THRID_INVALID);
    delete service;
}

bool ServiceTable::wait_grace_period() const {
    // The token is taken after every deletion so far (rte_rcu_qsbr_start
    // orders them before it); once readers pass it, no reader can still be
    // inside a lookup that started before those deletions.
    const uint64_t token = rte_rcu_qsbr_start(_qsbr);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(_grace_wait_ms);
    while (rte_rcu_qsbr_check(_qsbr, token, false) == 0) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        // Readers report once per loop (microseconds); sleeping rather than
        // spinning leaves the core to them on a small box.
        std::this_thread::sleep_for(kGracePoll);
    }
    return true;
}

bool ServiceTable::vip_ref(uint32_t ip_be) {
    uint32_t& refs = _vip_refs[ip_be];
    int rc = refs == 0 ? rte_hash_add_key(_vip_addrs, &ip_be) : 0;
    if (rc == -ENOSPC && wait_grace_period()) {
        rc = rte_hash_add_key(_vip_addrs, &ip_be);
    }
    if (rc < 0) {
        _vip_refs.erase(ip_be);
        return false;
    }
    ++refs;
    return true;
}

void ServiceTable::vip_unref(uint32_t ip_be) {
    auto it = _vip_refs.find(ip_be);
    if (it == _vip_refs.end()) {
        return;
    }
    if (--it->second == 0) {
        rte_hash_del_key(_vip_addrs, &ip_be);
        _vip_refs.erase(it);
    }
}

}  // namespace svcgw
