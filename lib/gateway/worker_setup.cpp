#include "gateway/worker_setup.hpp"

#include <arpa/inet.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <fstream>

#include "gateway/eal_table_memory.hpp"

namespace svcgw {

Result<std::unique_ptr<WorkerRings>> WorkerRings::create(uint16_t workers,
                                                         const std::string& prefix, bool punt) {
    std::unique_ptr<WorkerRings> rings(new WorkerRings());
    WorkerRings& r = *rings;
    auto make = [&](const std::string& name, unsigned esize, unsigned size,
                    bool frames) -> rte_ring* {
        rte_ring* ring =
            rte_ring_create_elem((prefix + name).c_str(), esize, size,
                                 static_cast<int>(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (ring != nullptr) {
            r._all.push_back(ring);
            if (frames) {
                r._frames.push_back(ring);
            }
        }
        return ring;
    };
    r.handoff.assign(size_t{workers} * workers, nullptr);
    for (uint16_t from = 0; from < workers; ++from) {
        for (uint16_t to = 0; to < workers; ++to) {
            if (from == to) {
                continue;
            }
            rte_ring* ring = make("handoff_" + std::to_string(from) + "_" + std::to_string(to),
                                  sizeof(void*), kHandoffRingSize, true);
            if (ring == nullptr) {
                return fail("",
                            "cannot create handoff ring: " + std::string(rte_strerror(rte_errno)));
            }
            r.handoff[size_t{from} * workers + to] = ring;
        }
    }
    for (uint16_t w = 0; w < workers; ++w) {
        rte_ring* ring = make("to_control_" + std::to_string(w), sizeof(ControlMessage),
                              kControlRingSize, false);
        if (ring == nullptr) {
            return fail("", "cannot create control ring: " + std::string(rte_strerror(rte_errno)));
        }
        r.to_control.push_back(ring);
    }
    r.control_tx = make("control_tx", sizeof(void*), kControlRingSize, true);
    if (r.control_tx == nullptr) {
        return fail("", "cannot create control tx ring: " + std::string(rte_strerror(rte_errno)));
    }
    for (uint16_t w = 0; punt && w < workers; ++w) {
        rte_ring* control = make("punt_c_" + std::to_string(w), sizeof(void*), kPuntRingSize, true);
        rte_ring* other = make("punt_o_" + std::to_string(w), sizeof(void*), kPuntRingSize, true);
        if (control == nullptr || other == nullptr) {
            return fail("", "cannot create punt ring: " + std::string(rte_strerror(rte_errno)));
        }
        r.punt_control.push_back(control);
        r.punt_other.push_back(other);
    }
    r.table_memory = table_memory_for_workers(workers);
    try {
        r.affinity = std::make_unique<AffinitySet>(workers, kAffinityEntries, r.table_memory);
    } catch (const std::bad_alloc&) {
        return fail("dpdk.memory_mb", "the EAL heap cannot hold the session-affinity tables");
    }
    return rings;
}

WorkerRings::~WorkerRings() {
    for (rte_ring* ring : _frames) {
        void* frame = nullptr;
        while (rte_ring_dequeue(ring, &frame) == 0) {
            rte_pktmbuf_free(static_cast<rte_mbuf*>(frame));
        }
    }
    for (rte_ring* ring : _all) {
        rte_ring_free(ring);
    }
}

Result<PortRange> snat_port_range(const Config& config, const std::string& ephemeral_file) {
    const bool kernel_shares_address = config.network.snat_addresses.empty() &&
                                       !config.ports.empty() &&
                                       !config.ports[0].kernel_interface.empty();
    if (!kernel_shares_address) {
        return PortRange{};
    }
    std::ifstream in(ephemeral_file);
    unsigned lo = 0;
    unsigned hi = 0;
    if (!(in >> lo >> hi) || lo > hi || hi > kSnatPortHi) {
        return fail("ports[0].kernel_interface",
                    "cannot read the kernel's ephemeral port range from " + ephemeral_file +
                        ", which fullnat's SNAT ports on the port address must avoid");
    }
    const PortRange kernel{static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)};
    if (auto beside = snat_ports_beside(kernel)) {
        return *beside;
    }
    return fail("ports[0].kernel_interface",
                "the kernel's ephemeral ports " + std::to_string(lo) + "-" + std::to_string(hi) +
                    " leave fewer than " + std::to_string(kSnatMinPorts) +
                    " SNAT ports on the port address; narrow net.ipv4.ip_local_port_range or "
                    "set network.snat_addresses");
}

WorkerContext make_worker_context(const Config& config, const Port& port, uint16_t workers,
                                  const WorkerRings& rings, const WorkerShared& shared,
                                  PortRange snat_ports) {
    WorkerContext c;
    c.port_id = port.port_id;
    c.workers = workers;
    c.mac = port.mac;
    c.address_be = htonl(port.address.address.value);
    c.subnet_mask_be = htonl(port.address.mask());
    c.gateway_be = port.gateway ? htonl(port.gateway->value) : 0;
    c.service_net_be = htonl(config.network.service_cidr.network().value);
    c.service_mask_be = htonl(config.network.service_cidr.mask());
    c.mode = config.forwarding == ForwardingMode::nat ? NatMode::nat : NatMode::fullnat;
    c.idle = config.dpdk.idle == IdleMode::adaptive ? IdlePolicy::adaptive : IdlePolicy::poll;
    for (Ipv4 ip : config.network.snat_addresses) {
        c.snat_be.push_back(htonl(ip.value));
    }
    if (c.snat_be.empty()) {
        c.snat_be.push_back(c.address_be);  // [] = the port's own address
    }
    c.snat_ports = snat_ports;
    c.conntrack =
        FlowTableConfig{config.conntrack.max_flows, config.conntrack.tcp_established_timeout_s,
                        config.conntrack.tcp_transitory_timeout_s, config.conntrack.udp_timeout_s};
    c.table_memory = rings.table_memory;
    c.table = shared.table;
    c.affinity = rings.affinity.get();
    c.qsbr = shared.qsbr;
    c.neighbours = shared.neighbours;
    c.pool = port.pool;
    c.handoff = rings.handoff;
    c.to_control = rings.to_control;
    c.control_tx = rings.control_tx;
    c.stop = shared.stop;
    c.tsc_hz = rte_get_tsc_hz();
    c.dns_ip_be = htonl(config.dns.cluster_ip.value);
    c.dns_zone = shared.dns_zone;
    c.complete_partial_checksums = port.software;
    c.punt_control = rings.punt_control;
    c.punt_other = rings.punt_other;
    c.punt = PuntRates{config.punt.rate_pps, config.punt.control_rate_pps, config.punt.burst};
    return c;
}

}  // namespace svcgw
