#include "telemetry/collect.hpp"

#include <arpa/inet.h>

#include "common/net.hpp"

namespace svcgw {
namespace {

std::string ip_str(uint32_t ip_be) {
    return Ipv4{ntohl(ip_be)}.str();
}

std::string endpoint_str(uint32_t ip_be, uint16_t port_be) {
    return ip_str(ip_be) + ":" + std::to_string(ntohs(port_be));
}

TrafficStats traffic_of(const TrafficCounters* c) {
    TrafficStats t;
    if (c != nullptr) {
        TrafficTotals s = c->sum();
        t.packets = s.packets;
        t.bytes = s.bytes;
        t.new_flows = s.new_flows;
    }
    return t;
}

}  // namespace

StatsSnapshot collect_stats(const ServiceTable& table, std::span<const Worker* const> workers,
                            const std::vector<FlowCensus>& census) {
    StatsSnapshot out;
    const std::vector<const Service*> services = table.services();
    out.services = services.size();
    out.tables_digest = tables_digest(services);
    if (const ReplyIndex* replies = table.replies()) {
        out.reply_index = {true, replies->size(), replies->unindexed()};
    }
    for (const Service* svc : services) {
        for (const ServicePort& sp : svc->ports()) {
            PortStats p;
            p.ns = svc->ns();
            p.service = svc->name();
            p.port = sp.port;
            p.port_name = sp.name;
            p.protocol = std::string(to_string(sp.protocol));
            p.ring_size = sp.ring == nullptr ? 0 : sp.ring->size();
            p.ring_digest = sp.ring_digest;
            p.traffic = traffic_of(sp.stats);
            if (sp.all_down != AllDownState::no) {
                p.all_down = sp.all_down == AllDownState::reject ? "reject" : "fail_open";
            }
            for (Ipv4 vip : svc->vips()) {  // flows to any of its addresses
                const uint64_t key =
                    VipKey{htonl(vip.value), sp.port_be, static_cast<uint8_t>(sp.protocol), 0}
                        .packed();
                for (const FlowCensus& c : census) {
                    p.traffic.active_flows += c.flows_of(key);
                }
            }
            out.ports.push_back(std::move(p));
        }
        const std::vector<uint32_t> slots = svc->ring_slots();
        const auto backends = svc->backends();
        for (size_t i = 0; i < backends.size(); ++i) {
            const Backend& be = backends[i];
            BackendStats b;
            b.ns = svc->ns();
            b.service = svc->name();
            b.ip = ip_str(be.ip_be);
            b.weight = be.weight;
            b.ready = be.ready;
            b.serving = be.serving;
            b.terminating = be.terminating;
            b.eligible = be.eligible;
            b.ring_slots = i < slots.size() ? slots[i] : 0;
            b.ring_size = svc->share_ring().size();
            b.traffic = traffic_of(be.stats);
            for (Ipv4 vip : svc->vips()) {
                for (const ServicePort& sp : svc->ports()) {
                    const uint64_t key =
                        VipKey{htonl(vip.value), sp.port_be, static_cast<uint8_t>(sp.protocol), 0}
                            .packed();
                    for (const FlowCensus& c : census) {
                        b.traffic.active_flows += c.flows_of(key, be.ip_be);
                    }
                }
            }
            out.backends.push_back(std::move(b));
        }
    }
    for (const Worker* w : workers) {
        const WorkerCounters& c = w->counters();
        WorkerStatsView v;
        v.index = w->index();
        for (size_t e = 0; e < kWorkerEventNames.size(); ++e) {
            v.events.emplace_back(std::string(kWorkerEventNames[e]),
                                  c.get(static_cast<WorkerEvent>(e)));
        }
        for (size_t d = 0; d < kDropReasonNames.size(); ++d) {
            v.drops.emplace_back(std::string(kDropReasonNames[d]),
                                 c.get(static_cast<DropReason>(d)));
        }
        const dns::DnsCounters& dc = w->dns_counters();
        for (size_t k = 0; k < static_cast<size_t>(dns::Counter::count); ++k) {
            const auto counter = static_cast<dns::Counter>(k);
            v.dns.emplace_back(std::string(dns::counter_name(counter)), dc[counter]);
        }
        v.flows_active = c.flows_active.load(std::memory_order_relaxed);
        v.flows_capacity = c.flows_capacity.load(std::memory_order_relaxed);
        v.flow_evictions = c.flow_evictions.load(std::memory_order_relaxed);
        out.workers.push_back(std::move(v));
    }
    return out;
}

std::vector<FlowSample> flow_samples(const std::vector<FlowCensus>& census, size_t limit) {
    std::vector<FlowSample> out;
    for (size_t w = 0; w < census.size() && out.size() < limit; ++w) {
        for (const Flow& f : census[w].samples) {
            if (out.size() >= limit) {
                break;
            }
            FlowSample s;
            s.worker = static_cast<uint16_t>(w);
            s.client = endpoint_str(f.key.src_ip, f.key.src_port);
            s.vip = endpoint_str(f.key.dst_ip, f.key.dst_port);
            s.backend = endpoint_str(f.backend_ip, f.backend_port);
            if (f.is_snat()) {
                s.snat = endpoint_str(f.snat_ip, f.snat_port);
            }
            const bool tcp = f.key.proto == static_cast<uint8_t>(Protocol::tcp);
            s.protocol = tcp ? "TCP" : "UDP";
            s.state = tcp ? std::string(to_string(f.tcp_state)) : "udp";
            s.idle_s = census[w].now_s - f.last_seen;
            s.packets_fwd = f.packets_fwd;
            s.packets_rev = f.packets_rev;
            out.push_back(std::move(s));
        }
    }
    return out;
}

FleetMembersStats member_stats(const MemberSet& set, uint64_t changes) {
    FleetMembersStats out;
    out.enabled = true;
    out.digest = set.digest();
    out.ring_size = set.table_size();
    out.live = set.live_count();
    out.changes = changes;
    const std::vector<uint32_t> slots = set.slot_counts();
    for (size_t i = 0; i < set.members().size(); ++i) {
        const MemberInfo& m = set.members()[i];
        FleetMemberStats member;
        member.name = m.name;
        member.address = Ipv4{ntohl(m.ip_be)}.str();
        member.self = i == set.self();
        member.live = m.live;
        member.mac_known = m.mac.has_value();
        member.slots = slots[i];
        out.members.push_back(std::move(member));  // the lease fields: the daemon's
    }
    return out;
}

}  // namespace svcgw
