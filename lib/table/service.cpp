// Builds the immutable Service object. Control thread only; see service.hpp
// for the eligibility rules.
#include "table/service.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <set>
#include <tuple>
#include <utility>

#include "common/byte_order.hpp"
#include "common/hash.hpp"

namespace svcgw {

namespace {

// Fibonacci hashing (Knuth, TAOCP 6.4): the multiplier is 2^32 / phi. The
// top bits index a power-of-two table.
constexpr uint32_t kFibonacci32 = 0x9e3779b9u;
// find_backend table at most half full keeps linear probes short.
constexpr size_t kBackendSlotsPerBackend = 2;

uint32_t backend_slot(uint32_t ip_be, uint32_t mask) {
    const uint32_t bits = static_cast<uint32_t>(std::countr_zero(mask + 1));
    return bits == 0 ? 0 : (ip_be * kFibonacci32) >> (32 - bits);
}

// Process-wide so generations never repeat, even across tables. Relaxed:
// it only has to be unique and increasing; publication of the object is
// ordered by the VIP table's release store, not by this counter.
std::atomic<uint64_t> g_next_generation{1};

// Digest domains: the layout version and the flow hash version
// (net/flow_key.hpp) they assume.
constexpr uint64_t kRingDigestDomain = hash_bytes("svcgw ring digest v1, flow hash v1", 0);
constexpr uint64_t kTablesDigestDomain = hash_bytes("svcgw tables digest v1, flow hash v1", 0);

// kube-proxy's CategorizeEndpoints: ready endpoints take new flows, even
// when terminating (a Service with publishNotReadyAddresses keeps them
// ready); serving and terminating ones only when no endpoint is ready.
bool is_ready_candidate(const EndpointConfig& ep) {
    return ep.ready && ep.weight > 0;
}

bool is_fallback_candidate(const EndpointConfig& ep) {
    return ep.serving && ep.terminating && ep.weight > 0;
}

// Kubernetes' choice among the backends passing `usable`: the ready ones,
// else (none ready) the terminating ones still serving. 1 = eligible.
template <class Usable>
std::vector<uint8_t> choose(const std::vector<const EndpointConfig*>& input, Usable usable) {
    std::vector<uint8_t> out(input.size());
    bool any = false;
    for (size_t i = 0; i < input.size(); ++i) {
        out[i] = usable(i) && is_ready_candidate(*input[i]) ? 1 : 0;
        any = any || out[i] != 0;
    }
    if (!any) {
        for (size_t i = 0; i < input.size(); ++i) {
            out[i] = usable(i) && is_fallback_candidate(*input[i]) ? 1 : 0;
        }
    }
    return out;
}

bool any_of(const std::vector<uint8_t>& v) {
    return std::any_of(v.begin(), v.end(), [](uint8_t x) { return x != 0; });
}

}  // namespace

Result<std::unique_ptr<const Service>> Service::build(const ServiceConfig& config,
                                                      const MaglevConfig& maglev,
                                                      const StatsSource* stats,
                                                      const HealthSource* health) {
    // Headless and ExternalName services have no VIP (DNS only).
    if (!config.headless && !config.cluster_ip && config.serve_cluster_ip &&
        config.type != ServiceType::external_name) {
        return fail("cluster_ip", "service has no ClusterIP (not allocated and not headless)");
    }
    std::set<std::pair<uint16_t, Protocol>> seen_ports;
    for (size_t i = 0; i < config.ports.size(); ++i) {
        const auto& p = config.ports[i];
        const std::string path = "ports[" + std::to_string(i) + "]";
        if (p.port == 0) {
            return fail(path + ".port", "port 0 is not a valid service port");
        }
        if (!seen_ports.emplace(p.port, p.protocol).second) {
            return fail(path, "duplicate port " + std::to_string(p.port) + "/" +
                                  std::string(to_string(p.protocol)));
        }
    }
    {
        // The first endpoint repeating an earlier one, in input order. A flat
        // open-addressing set of 1 + index: a std::set allocated a node per
        // endpoint on every rebuild of the service.
        const size_t slots =
            std::bit_ceil(std::max<size_t>(1, config.endpoints.size() * kBackendSlotsPerBackend));
        const auto mask = static_cast<uint32_t>(slots - 1);
        std::vector<uint32_t> seen(slots, 0);
        for (size_t i = 0; i < config.endpoints.size(); ++i) {
            const Ipv4 ip = config.endpoints[i].ip;
            uint32_t s = backend_slot(to_be32(ip.value), mask);
            while (seen[s] != 0 && config.endpoints[seen[s] - 1].ip != ip) {
                s = (s + 1) & mask;
            }
            if (seen[s] != 0) {
                return fail("endpoints[" + std::to_string(i) + "].ip",
                            "duplicate endpoint " + ip.str());
            }
            seen[s] = static_cast<uint32_t>(i + 1);
        }
    }

    // Maglev input in identity order; the ring's sorted_order() maps back to
    // it, so whatever order Maglev settles on, backends follow it.
    std::vector<const EndpointConfig*> input;
    input.reserve(config.endpoints.size());
    for (const auto& ep : config.endpoints) {
        input.push_back(&ep);
    }
    std::vector<MaglevBackend> maglev_input(input.size());
    for (size_t i = 0; i < input.size(); ++i) {
        maglev_input[i].identity = input[i]->ip.str();
    }
    const std::vector<uint8_t> eligible = choose(input, [](size_t) { return true; });
    const size_t eligible_count =
        static_cast<size_t>(std::count(eligible.begin(), eligible.end(), 1));

    std::unique_ptr<Service> svc(new Service());
    svc->_generation = g_next_generation.fetch_add(1, std::memory_order_relaxed);
    svc->_ns = config.ns;
    svc->_name = config.name;
    // kube-dns's ClusterIP is answered by the workers' DNS responder, not
    // balanced: no VIP for it.
    if (!config.headless && !config.dns_service) {
        svc->_cluster_ip = config.cluster_ip;
    }
    svc->_vips = served_vips(config);
    svc->_source_filter = SourceFilter(config.load_balancer_ips, config.source_ranges);
    svc->_session_affinity = config.session_affinity;
    svc->_session_affinity_timeout_s = config.session_affinity_timeout_s;
    svc->_eligible_count = eligible_count;

    // Builds a ring where only backends passing `keep` have their weight.
    // Returns an empty ring when none does (Maglev needs a positive weight).
    auto build_ring = [&](auto keep) -> Result<MaglevRing> {
        bool any = false;
        for (size_t i = 0; i < input.size(); ++i) {
            maglev_input[i].weight = keep(i) ? input[i]->weight : 0;
            any = any || maglev_input[i].weight > 0;
        }
        if (!any) {
            return MaglevRing{};
        }
        auto ring = MaglevRing::build(maglev_input, maglev.table_size, maglev.seed);
        if (!ring) {
            Error e = ring.error();
            // Maglev's paths are relative to the maglev config section.
            e.path = e.path.empty() ? "maglev" : "maglev." + e.path;
            return Unexpected<Error>{std::move(e)};
        }
        return ring;
    };

    auto ring = build_ring([&](size_t i) { return eligible[i] != 0; });
    if (!ring) {
        return Unexpected<Error>{ring.error()};
    }
    svc->_ring = std::move(*ring);

    // order[k] = input index of backend k.
    std::vector<size_t> order;
    if (svc->_ring.empty()) {
        // No ring to take the order from (no eligible backend): the same
        // identity order, sorted here.
        order.resize(input.size());
        for (size_t i = 0; i < input.size(); ++i) {
            order[i] = i;
        }
        std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
            return maglev_input[a].identity < maglev_input[b].identity;
        });
    } else {
        const auto& sorted = svc->_ring.sorted_order();
        if (sorted.size() != input.size()) {
            return fail("endpoints", "internal: Maglev ring does not cover every backend");
        }
        order.assign(sorted.begin(), sorted.end());
    }

    svc->_backends.resize(input.size());
    for (size_t k = 0; k < order.size(); ++k) {
        const EndpointConfig& ep = *input[order[k]];
        svc->_backends[k] = Backend{to_be32(ep.ip.value), ep.weight,      ep.ready,
                                    ep.serving,           ep.terminating, eligible[order[k]] != 0};
        if (stats != nullptr && stats->backend) {
            auto counters = stats->backend(svc->_backends[k].ip_be);
            svc->_backends[k].stats = counters.get();
            svc->_stats_refs.push_back(std::move(counters));
        }
    }

    const size_t slots = std::bit_ceil(std::max<size_t>(1, input.size() * kBackendSlotsPerBackend));
    svc->_backend_slots.assign(slots, 0);
    const uint32_t mask = static_cast<uint32_t>(slots - 1);
    for (size_t k = 0; k < svc->_backends.size(); ++k) {
        uint32_t s = backend_slot(svc->_backends[k].ip_be, mask);
        while (svc->_backend_slots[s] != 0) {
            s = (s + 1) & mask;
        }
        svc->_backend_slots[s] = static_cast<uint32_t>(k + 1);
    }

    // Ports: target ports per backend, the port's eligible set (Kubernetes'
    // choice it serves, narrowed by its health check) and a ring of its own
    // only when that set differs from the service's.
    svc->_ports.resize(config.ports.size());
    svc->_port_rings.reserve(config.ports.size());     // no reallocation: ports point into it
    std::vector<std::vector<uint8_t>> port_ring_sets;  // eligible set of each _port_rings entry
    for (size_t p = 0; p < config.ports.size(); ++p) {
        const ServicePortConfig& pc = config.ports[p];
        ServicePort& sp = svc->_ports[p];
        sp.service = svc.get();
        sp.port = pc.port;
        sp.port_be = to_be16(pc.port);
        sp.protocol = pc.protocol;
        sp.name = pc.name;
        if (stats != nullptr && stats->port) {
            auto counters = stats->port(pc.port, pc.protocol);
            sp.stats = counters.get();
            svc->_stats_refs.push_back(std::move(counters));
        }
        std::vector<uint16_t> target_by_input(input.size());
        std::vector<uint8_t> set(input.size());
        for (size_t i = 0; i < input.size(); ++i) {
            target_by_input[i] = input[i]->target_port_for(pc);
            set[i] = eligible[i] != 0 && target_by_input[i] != 0 ? 1 : 0;
        }
        if (pc.health_check && health != nullptr && health->healthy) {
            const std::vector<uint8_t> healthy = choose(input, [&](size_t i) {
                return health->healthy(input[i]->ip, input[i]->probe_port_for(pc),
                                       *pc.health_check);
            });
            std::vector<uint8_t> checked(input.size());
            for (size_t i = 0; i < input.size(); ++i) {
                checked[i] = healthy[i] != 0 && target_by_input[i] != 0 ? 1 : 0;
            }
            if (any_of(checked)) {
                set = std::move(checked);
            } else if (any_of(set)) {
                // Every backend Kubernetes allows failed the check.
                if (pc.all_down == AllDownPolicy::reject) {
                    sp.all_down = AllDownState::reject;
                    std::fill(set.begin(), set.end(), 0);
                } else {
                    sp.all_down = AllDownState::fail_open;
                }
            }
        }
        sp.target_port_be.resize(order.size());
        sp.eligible.resize(order.size());
        for (size_t k = 0; k < order.size(); ++k) {
            sp.target_port_be[k] = to_be16(target_by_input[order[k]]);
            sp.eligible[k] = set[order[k]];
        }
        if (set == eligible) {
            sp.ring = &svc->_ring;
            continue;
        }
        auto same = std::find(port_ring_sets.begin(), port_ring_sets.end(), set);
        if (same != port_ring_sets.end()) {
            sp.ring = &svc->_port_rings[static_cast<size_t>(same - port_ring_sets.begin())];
            continue;
        }
        auto port_ring = build_ring([&](size_t i) { return set[i] != 0; });
        if (!port_ring) {
            return Unexpected<Error>{port_ring.error()};
        }
        if (!port_ring->empty() && port_ring->sorted_order() != svc->_ring.sorted_order()) {
            return fail("ports[" + std::to_string(p) + "]",
                        "internal: Maglev order differs between rings of one service");
        }
        svc->_port_rings.push_back(std::move(*port_ring));
        port_ring_sets.push_back(std::move(set));
        sp.ring = &svc->_port_rings.back();
    }
    // Digests per ring, the ports sharing one side by side (ring_digests).
    std::vector<bool> digested(svc->_ports.size(), false);
    for (size_t p = 0; p < svc->_ports.size(); ++p) {
        if (digested[p]) {
            continue;
        }
        const MaglevRing* ring = svc->_ports[p].ring;
        std::vector<size_t> sharing;
        std::vector<std::span<const uint16_t>> target_ports;
        for (size_t q = p; q < svc->_ports.size(); ++q) {
            if (svc->_ports[q].ring == ring) {
                digested[q] = true;
                sharing.push_back(q);
                target_ports.emplace_back(svc->_ports[q].target_port_be);
            }
        }
        const std::vector<uint64_t> digests = ring_digests(*ring, svc->_backends, target_ports);
        for (size_t k = 0; k < sharing.size(); ++k) {
            svc->_ports[sharing[k]].ring_digest = digests[k];
        }
    }
    return std::unique_ptr<const Service>(std::move(svc));
}

const MaglevRing& Service::share_ring() const {
    return _ports.empty() ? _ring : *_ports.front().ring;
}

namespace {

// Ports digested side by side (ring_digests): each chain waits on its own
// mixes, four chains keep the multipliers busy.
constexpr size_t kDigestLanes = 4;

// The slot part of kLanes digests of one ring: holder[e] renumbers entry e.
template <size_t kLanes, class Entry>
void add_slots(std::span<const Entry> entries, std::span<const uint32_t> holder,
               std::span<Digest64> out) {
    auto d = [&]<size_t... k>(std::index_sequence<k...>) {
        return std::array<Digest64, kLanes>{out[k]...};
    }
    (std::make_index_sequence<kLanes>{});
    const size_t m = entries.size();
    for (size_t slot = 0; slot < m; slot += 2) {
        const uint64_t even = holder[entries[slot]];
        const uint64_t odd = slot + 1 < m ? holder[entries[slot + 1]] : 0;
        for (size_t k = 0; k < kLanes; ++k) {
            d[k].add(odd << 32 | even);
        }
    }
    std::copy(d.begin(), d.end(), out.begin());
}

template <class Entry>
void add_slots(std::span<const Entry> entries, std::span<const uint32_t> holder,
               std::span<Digest64> out) {
    for (size_t at = 0; at < out.size(); at += kDigestLanes) {
        const auto lanes = out.subspan(at, std::min(kDigestLanes, out.size() - at));
        switch (lanes.size()) {
            case 1:
                add_slots<1>(entries, holder, lanes);
                break;
            case 2:
                add_slots<2>(entries, holder, lanes);
                break;
            case 3:
                add_slots<3>(entries, holder, lanes);
                break;
            default:
                add_slots<kDigestLanes>(entries, holder, lanes);
                break;
        }
    }
}

}  // namespace

uint64_t ring_digest(const MaglevRing& ring, std::span<const Backend> backends,
                     std::span<const uint16_t> target_port_be) {
    return ring_digests(ring, backends, std::span(&target_port_be, 1)).front();
}

std::vector<uint64_t> ring_digests(const MaglevRing& ring, std::span<const Backend> backends,
                                   std::span<const std::span<const uint16_t>> target_ports_be) {
    std::vector<Digest64> d(target_ports_be.size(), Digest64(kRingDigestDomain));
    for (Digest64& one : d) {
        one.add(ring.size());
    }
    if (!ring.empty()) {
        // Renumber the slot holders 0..n-1, keeping ring order.
        const std::vector<uint32_t> slots = ring.slot_counts();
        std::vector<uint32_t> holder(slots.size(), 0);
        uint32_t holders = 0;
        for (size_t k = 0; k < slots.size(); ++k) {
            if (slots[k] == 0) {
                continue;
            }
            holder[k] = holders++;
            // Network to host order (the swap is its own inverse).
            const uint32_t ip = to_be32(backends[k].ip_be);
            for (size_t p = 0; p < d.size(); ++p) {
                const uint16_t port = to_be16(target_ports_be[p][k]);
                d[p].add(uint64_t{ip} << 16 | port);
            }
        }
        // The entries as stored (MaglevRing::bytes() of its entry type).
        const std::span<const uint8_t> bytes = ring.bytes();
        if (ring.wide_entries()) {
            add_slots(std::span(reinterpret_cast<const uint32_t*>(bytes.data()), ring.size()),
                      std::span<const uint32_t>(holder), std::span(d));
        } else {
            add_slots(std::span(reinterpret_cast<const uint16_t*>(bytes.data()), ring.size()),
                      std::span<const uint32_t>(holder), std::span(d));
        }
    }
    std::vector<uint64_t> out(d.size());
    for (size_t p = 0; p < d.size(); ++p) {
        out[p] = d[p].value();
    }
    return out;
}

uint64_t tables_digest(std::span<const Service* const> services) {
    // (vip, port, protocol, affinity, ring digest), host order.
    std::vector<std::tuple<uint32_t, uint16_t, uint8_t, uint8_t, uint64_t>> entries;
    for (const Service* svc : services) {
        if (!svc->cluster_ip()) {
            continue;  // headless: no VIP, nothing the data path picks for
        }
        for (const ServicePort& sp : svc->ports()) {
            entries.emplace_back(
                svc->cluster_ip()->value, sp.port, static_cast<uint8_t>(sp.protocol),
                svc->session_affinity() == SessionAffinity::client_ip ? 1 : 0, sp.ring_digest);
        }
    }
    std::sort(entries.begin(), entries.end());
    Digest64 d(kTablesDigestDomain);
    for (const auto& [vip, port, protocol, affinity, digest] : entries) {
        d.add(uint64_t{vip} << 32 | uint64_t{port} << 16 | uint64_t{protocol} << 8 | affinity);
        d.add(digest);
    }
    return d.value();
}

std::vector<uint32_t> Service::ring_slots() const {
    const MaglevRing& ring = share_ring();
    if (ring.empty()) {
        return std::vector<uint32_t>(_backends.size(), 0);
    }
    return ring.slot_counts();  // sorted order = backends() order
}

const Backend* Service::find_backend(uint32_t ip_be) const {
    const uint32_t mask = static_cast<uint32_t>(_backend_slots.size() - 1);
    uint32_t s = backend_slot(ip_be, mask);
    // Terminates: the table is at most half full, so an empty slot exists.
    while (_backend_slots[s] != 0) {
        const Backend& b = _backends[_backend_slots[s] - 1];
        if (b.ip_be == ip_be) {
            return &b;
        }
        s = (s + 1) & mask;
    }
    return nullptr;
}

}  // namespace svcgw
