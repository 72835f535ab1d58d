// What the control-plane benchmarks share (bench_control, bench_dns_control,
// feed/feed_bench): the 10,000-Service set they load, the config it runs
// under, and the RCU variable and VIP table the publish step writes to.
// Each benchmark composes its own publishers on top (the daemon's chain or
// a part of it).
#pragma once

#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "table/service_table.hpp"

namespace svcgw::bench {

constexpr uint32_t kServices = 10000;
constexpr uint32_t kEndpointsPerService = 3;  // 30,000 endpoints
constexpr uint32_t kMaxVips = 65536;          // room for 10k services and more

// svc-<i> in "bench": a named TCP port 80 -> 8080 and 3 endpoints,
// 10.1.0.0 + 3i + 1..3 (no ClusterIP: the control plane allocates it).
inline ServiceConfig service(uint32_t i) {
    ServiceConfig s;
    s.name = "svc-" + std::to_string(i);
    s.ns = "bench";
    s.ports.push_back(ServicePortConfig{"http", 80, 8080, "", Protocol::tcp});
    for (uint32_t e = 0; e < kEndpointsPerService; ++e) {
        EndpointConfig ep;
        ep.ip = Ipv4{(10u << 24) | (1u << 16) | (i * kEndpointsPerService + e + 1)};
        s.endpoints.push_back(ep);
    }
    return s;
}

// service(0) .. service(kServices - 1).
inline std::vector<ServiceConfig> services() {
    std::vector<ServiceConfig> out;
    out.reserve(kServices);
    for (uint32_t i = 0; i < kServices; ++i) {
        out.push_back(service(i));
    }
    return out;
}

// The daemon's config around them: service CIDR 10.96.0.0/16, one port.
inline Config config() {
    Config c;
    c.network.service_cidr = *Ipv4Prefix::parse("10.96.0.0/16");
    c.ports.push_back(PortConfig{
        .name = "ext0", .device = "net_null0", .address = *Ipv4Prefix::parse("10.99.0.1/24")});
    return c;
}

// An RCU variable for `readers` on the EAL heap (free with rte_free), and
// an empty VIP table over it. EAL must be up.
inline rte_rcu_qsbr* make_qsbr(const char* name, uint32_t readers) {
    auto* qsbr = static_cast<rte_rcu_qsbr*>(
        rte_zmalloc(name, rte_rcu_qsbr_get_memsize(readers), RTE_CACHE_LINE_SIZE));
    if (qsbr == nullptr || rte_rcu_qsbr_init(qsbr, readers) != 0) {
        std::fprintf(stderr, "%s: RCU variable failed\n", name);
        std::abort();
    }
    return qsbr;
}
inline std::unique_ptr<ServiceTable> make_table(rte_rcu_qsbr* qsbr) {
    ServiceTableOptions options;
    options.max_vips = kMaxVips;
    auto table = ServiceTable::create(qsbr, options);
    if (!table) {
        std::fprintf(stderr, "VIP table: %s\n", table.error().str().c_str());
        std::abort();
    }
    return std::move(*table);
}

}  // namespace svcgw::bench
