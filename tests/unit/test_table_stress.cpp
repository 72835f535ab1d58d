// Concurrency stress for the VIP table: lock-free readers look services up
// continuously while the control thread replaces, removes and re-adds them.
// Each published version encodes its number into every backend address,
// every target port, the backend count (and so the ring size) and the port
// set, so a reader can tell whether everything it reached through one
// ServicePort pointer belongs to one version (no torn or freed object: run
// it under ASan for the latter).
#define ALLOW_EXPERIMENTAL_API 1

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "table/service_table.hpp"
#include "test_eal.hpp"

namespace svcgw {
namespace {

const auto* const g_env = ::testing::AddGlobalTestEnvironment(
    new svcgw::test_support::EalEnvironment("test_table_stress"));

// 100k writer operations by default (the brief's figure); SVCGW_STRESS_OPS
// overrides it for longer soak runs.
constexpr uint32_t kDefaultOps = 100000;
constexpr uint32_t kServices = 8;
constexpr uint32_t kReaders = 2;
constexpr uint32_t kMaxBackends = 7;  // backend count = 1 + version % kMaxBackends
constexpr uint16_t kHttp = 80;
constexpr uint16_t kHttps = 443;
constexpr uint16_t kDns = 53;  // UDP, present only in odd versions
// Versions live in the low 24 bits of backend addresses (first octet = index).
constexpr uint32_t kVersionMask = 0xffffff;

uint32_t cluster_ip(uint32_t service) {
    return 0x0a600100 + service;
}  // 10.96.1.x

uint32_t backend_count(uint32_t version) {
    return 1 + version % kMaxBackends;
}
uint16_t target_port(uint32_t version) {
    return static_cast<uint16_t>(1 + version % 60000);
}

ServiceConfig make_version(uint32_t service, uint32_t version) {
    ServiceConfig cfg;
    cfg.name = "svc" + std::to_string(service);
    cfg.cluster_ip = Ipv4{cluster_ip(service)};
    for (uint16_t p : {kHttp, kHttps}) {
        ServicePortConfig port;
        port.port = p;
        port.target_port = target_port(version);
        cfg.ports.push_back(port);
    }
    if (version % 2 == 1) {
        ServicePortConfig dns;
        dns.port = kDns;
        dns.protocol = Protocol::udp;
        dns.target_port = target_port(version);
        cfg.ports.push_back(dns);
    }
    for (uint32_t i = 0; i < backend_count(version); ++i) {
        EndpointConfig ep;
        ep.ip = Ipv4{((i + 1) << 24) | (version & kVersionMask)};
        // Vary eligibility too: some versions drain one backend.
        ep.terminating = (version % 3 == 0) && i == 0 && backend_count(version) > 1;
        ep.ready = !ep.terminating;
        cfg.endpoints.push_back(ep);
    }
    return cfg;
}

struct ReaderStats {
    uint64_t loops = 0;
    uint64_t hits = 0;
    uint64_t errors = 0;
    std::string first_error;
};

class Reader {
public:
    Reader(const ServiceTable& table, rte_rcu_qsbr* qsbr, uint32_t id)
        : _table(table), _qsbr(qsbr), _id(id) {
        for (uint32_t s = 0; s < kServices; ++s) {
            const uint32_t ip = htonl(cluster_ip(s));
            _keys.push_back(VipKey{ip, htons(kHttp), static_cast<uint8_t>(Protocol::tcp), 0});
            _keys.push_back(VipKey{ip, htons(kHttps), static_cast<uint8_t>(Protocol::tcp), 0});
            _keys.push_back(VipKey{ip, htons(kDns), static_cast<uint8_t>(Protocol::udp), 0});
            // A key that never exists: must always miss.
            _keys.push_back(VipKey{ip, htons(kDns), static_cast<uint8_t>(Protocol::tcp), 0});
        }
        _last_generation.assign(_keys.size(), 0);
    }

    // `online` counts down once this reader takes part in grace periods.
    void run(const std::atomic<bool>& stop, std::latch& online) {
        rte_rcu_qsbr_thread_register(_qsbr, _id);
        rte_rcu_qsbr_thread_online(_qsbr, _id);
        online.count_down();
        // Acquire pairs with the writer's release store of `stop`.
        while (!stop.load(std::memory_order_acquire)) {
            const auto burst = _table.lookup_bulk(_keys);
            for (size_t i = 0; i < _keys.size(); ++i) {
                if ((burst.hit_mask >> i) & 1) {
                    check(i, burst.ports[i]);
                }
            }
            for (size_t i = 0; i < _keys.size(); ++i) {
                const ServicePort* sp = _table.lookup(_keys[i]);
                if (sp != nullptr) {
                    check(i, sp);
                }
            }
            ++_stats.loops;
            // Every pointer above is dead from here on.
            rte_rcu_qsbr_quiescent(_qsbr, _id);
        }
        rte_rcu_qsbr_thread_offline(_qsbr, _id);
        rte_rcu_qsbr_thread_unregister(_qsbr, _id);
    }

    const ReaderStats& stats() const { return _stats; }

private:
    void error(const std::string& what) {
        if (_stats.errors++ == 0) {
            _stats.first_error = what;
        }
    }

    void check(size_t key_index, const ServicePort* sp) {
        ++_stats.hits;
        const VipKey& key = _keys[key_index];
        const Service* svc = sp->service;
        const auto ports = svc->ports();
        if (sp < ports.data() || sp >= ports.data() + ports.size()) {
            return error("port does not belong to its service");
        }
        if (sp->port_be != key.port_be || static_cast<uint8_t>(sp->protocol) != key.proto) {
            return error("port does not match the key it was found under");
        }
        if (!svc->cluster_ip() || htonl(svc->cluster_ip()->value) != key.ip_be) {
            return error("service does not own the VIP it was found under");
        }
        if (key.proto == static_cast<uint8_t>(Protocol::tcp) && key.port_be == htons(kDns)) {
            return error("hit on a key that is never published");
        }
        const auto backends = svc->backends();
        if (backends.empty()) {
            return error("service without backends");
        }
        const uint32_t version = ntohl(backends[0].ip_be) & kVersionMask;
        if (backends.size() != backend_count(version)) {
            return error("backend count of another version");
        }
        if (sp->target_port_be.size() != backends.size()) {
            return error("target ports and backends disagree");
        }
        if (ports.size() != (version % 2 == 1 ? 3u : 2u)) {
            return error("port set of another version");
        }
        for (size_t i = 0; i < backends.size(); ++i) {
            if ((ntohl(backends[i].ip_be) & kVersionMask) != version) {
                return error("backend address of another version");
            }
            if (sp->target_port_be[i] != htons(target_port(version))) {
                return error("target port of another version");
            }
            if (svc->find_backend(backends[i].ip_be) != &backends[i]) {
                return error("find_backend lost a backend");
            }
        }
        const MaglevRing& ring = *sp->ring;
        if (ring.size() != maglev_auto_size(backends.size())) {
            return error("ring size of another version");
        }
        // Walk part of the ring: every entry must be an eligible backend.
        for (uint32_t slot = static_cast<uint32_t>(_stats.hits % 7); slot < ring.size();
             slot += 17) {
            const uint32_t b = ring.at(slot);
            if (b >= backends.size() || !backends[b].eligible) {
                return error("ring entry outside the eligible backends");
            }
        }
        // One key's pointer only moves forward: replacements and re-adds
        // always publish a newer object.
        if (svc->generation() < _last_generation[key_index]) {
            return error("generation went backwards");
        }
        _last_generation[key_index] = svc->generation();
    }

    const ServiceTable& _table;
    rte_rcu_qsbr* _qsbr;
    uint32_t _id;
    std::vector<VipKey> _keys;
    std::vector<uint64_t> _last_generation;
    ReaderStats _stats;
};

TEST(TableStress, ReadersNeverSeeTornOrFreedServices) {
    uint32_t ops = kDefaultOps;
    if (const char* env = std::getenv("SVCGW_STRESS_OPS")) {
        ops = static_cast<uint32_t>(std::strtoul(env, nullptr, 10));
    }
    const size_t qsbr_size = rte_rcu_qsbr_get_memsize(kReaders);
    auto* qsbr =
        static_cast<rte_rcu_qsbr*>(rte_zmalloc("stress_qsbr", qsbr_size, RTE_CACHE_LINE_SIZE));
    ASSERT_NE(qsbr, nullptr);
    ASSERT_EQ(rte_rcu_qsbr_init(qsbr, kReaders), 0);

    ServiceTableOptions options;
    options.max_vips = 64;
    options.defer_queue_size = 1024;
    auto created = ServiceTable::create(qsbr, options);
    ASSERT_TRUE(created) << created.error().str();
    std::unique_ptr<ServiceTable> table = std::move(*created);

    std::vector<uint32_t> version(kServices, 0);
    uint32_t next_version = 1;
    for (uint32_t s = 0; s < kServices; ++s) {
        version[s] = next_version++;
        auto r = table->upsert(make_version(s, version[s]), MaglevConfig{});
        ASSERT_TRUE(r) << r.error().str();
    }

    std::atomic<bool> stop{false};
    std::vector<std::unique_ptr<Reader>> readers;
    std::vector<std::thread> threads;
    for (uint32_t id = 0; id < kReaders; ++id) {
        readers.push_back(std::make_unique<Reader>(*table, qsbr, id));
    }
    // The writer starts once every reader is online: on a busy box the
    // threads could otherwise start after the last write, and the test
    // would check reclaim with nobody reading.
    std::latch online(kReaders);
    // Stops and joins the readers however the test ends (an ASSERT returns
    // early; a joinable std::thread would terminate the process).
    struct StopReaders {
        std::atomic<bool>& stop;
        std::vector<std::thread>& threads;
        ~StopReaders() {
            // Release pairs with the readers' acquire load.
            stop.store(true, std::memory_order_release);
            for (auto& t : threads) {
                if (t.joinable()) {
                    t.join();
                }
            }
        }
    } stop_readers{stop, threads};
    for (auto& reader : readers) {
        threads.emplace_back([&reader, &stop, &online] { reader->run(stop, online); });
    }
    online.wait();

    // A reader the OS has taken off its CPU holds back every grace period,
    // and the table's deleted slots run out (the daemon's workers own their
    // cores; these threads share two with everything else on a busy box):
    // then the writer waits for the readers once and retries, as the
    // control thread's caller would retry a refused change.
    uint32_t waits = 0;
    auto change = [&](const auto& attempt) {
        auto r = attempt();
        if (!r) {
            ++waits;
            rte_rcu_qsbr_synchronize(qsbr, RTE_QSBR_THRID_INVALID);
            table->reclaim();
            r = attempt();
        }
        return r;
    };
    uint64_t freed_while_running = 0;
    uint32_t max_pending = 0;
    uint32_t removes = 0;
    for (uint32_t op = 0; op < ops; ++op) {
        const uint32_t s = op % kServices;
        if (op % 10 == 9 && table->find("default", "svc" + std::to_string(s)) != nullptr) {
            auto r = change([&] { return table->remove("default", "svc" + std::to_string(s)); });
            ASSERT_TRUE(r) << r.error().str();
            ++removes;
        } else {
            version[s] = next_version++;
            auto r =
                change([&] { return table->upsert(make_version(s, version[s]), MaglevConfig{}); });
            ASSERT_TRUE(r) << "op " << op << ": " << r.error().str();
        }
        freed_while_running += table->reclaim();
        max_pending = std::max(max_pending, table->pending());
    }

    // Release pairs with the readers' acquire load.
    stop.store(true, std::memory_order_release);
    for (auto& t : threads) {
        t.join();
    }

    // Readers are gone: every grace period is over, the queue must drain.
    table->reclaim();
    EXPECT_EQ(table->pending(), 0u);
    EXPECT_GT(freed_while_running, 0u) << "readers never let the writer reclaim";
    EXPECT_LT(max_pending, options.defer_queue_size);
    EXPECT_GT(removes, 0u);

    for (uint32_t id = 0; id < kReaders; ++id) {
        const ReaderStats& st = readers[id]->stats();
        EXPECT_EQ(st.errors, 0u) << "reader " << id << ": " << st.first_error;
        EXPECT_GT(st.loops, 0u);
        EXPECT_GT(st.hits, 0u);
        std::printf("reader %u: %lu loops, %lu hits\n", id, static_cast<unsigned long>(st.loops),
                    static_cast<unsigned long>(st.hits));
    }
    std::printf(
        "writer: %u ops, %u removes, %lu freed while running, max pending %u, %u waits for "
        "readers\n",
        ops, removes, static_cast<unsigned long>(freed_while_running), max_pending, waits);

    table.reset();
    rte_free(qsbr);
}

}  // namespace
}  // namespace svcgw
