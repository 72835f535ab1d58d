// The worker's loop and its burst path: rx/handoff/control frames in,
// classify (parse, checks, host duties aside), bulk VIP lookup, ownership
// and handoff, bulk flow lookup, NAT (open or follow a flow, rewrite), tx.
// Host duties are in worker_host.cpp, the shared state in worker_impl.hpp.
#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>
#include <sys/prctl.h>
#include <time.h>

#include <new>

#include "common/byte_order.hpp"
#include "dataplane/idle_backoff.hpp"
#include "dataplane/worker_impl.hpp"

namespace svcgw {

namespace {

// Housekeeping (hold queue, flow expiry, census) runs at most every 100 us
// of TSC: frequent enough for ARP latency, rare enough to stay off the
// packet path (STYLE §5).
constexpr uint64_t kHousekeepingUs = 100;
// Flow entries reclaimed per housekeeping pass: 10k/s per worker keeps up
// with any sane connection churn without a latency spike.
constexpr size_t kExpiryBudget = 64;
// Flow-table entries the census visits per housekeeping step: 1024 x 64 B
// (~1-2 us of sequential reads) every 100 us covers a 512k-entry table in
// ~50 ms.
constexpr uint32_t kCensusBudget = 1024;
// Timer slack of an adaptive worker's sleeps (Linux's default is 50 us):
// small next to kIdleSleepMinUs, so a sleep ends close to when it was asked.
constexpr unsigned long kIdleTimerSlackNs = 1000;

DropReason drop_for(pkt::Verdict v) {
    switch (v) {
        case pkt::Verdict::unsupported_ethertype:
            return DropReason::not_ipv4;
        case pkt::Verdict::vlan_tagged:
            return DropReason::vlan_tagged;
        case pkt::Verdict::bad_ip_checksum:
            return DropReason::bad_ip_checksum;
        case pkt::Verdict::fragment:
            return DropReason::fragment;
        case pkt::Verdict::unsupported_l4:
            return DropReason::unsupported_l4;
        case pkt::Verdict::bad_arp:
            return DropReason::arp_ignored;
        case pkt::Verdict::ttl_expired:
            return DropReason::ttl_expired;
        default:
            return DropReason::malformed;
    }
}

}  // namespace

Worker::Impl::Impl(const WorkerContext& c, uint16_t i)
    : ctx(c),
      index(i),
      flows(FlowTableConfig{flows_per_worker(c.conntrack.max_flows, c.workers),
                            c.conntrack.tcp_established_timeout_s,
                            c.conntrack.tcp_transitory_timeout_s, c.conntrack.udp_timeout_s},
            i < c.table_memory.size() ? *c.table_memory[i] : process_table_memory()),
      own_affinity(c.affinity != nullptr ? nullptr
                                         : std::make_unique<AffinitySet>(
                                               c.workers, kAffinityEntries, c.table_memory)),
      affinity(c.affinity != nullptr ? *c.affinity : *own_affinity),
      ownership(c.mode, c.workers),
      snat_ports(ownership, i, c.snat_ports) {
    if (!c.punt_control.empty()) {
        punt = Punt(c.punt_control[i], c.punt_other[i], c.punt.control_rate_pps / c.workers,
                    c.punt.rate_pps / c.workers, c.punt.burst, c.tsc_hz);
    }
}

// ---- NAT ----
// Picks a backend for a new connection: affinity first, then Maglev.
// Returns the backend index, or -1 when the service port has no ring.
int Worker::Impl::pick_backend(const ServicePort& sp, const FlowKey& key, uint32_t key_hash) {
    const Service& svc = *sp.service;
    if (sp.ring == nullptr || sp.ring->empty()) {
        return -1;
    }
    if (svc.session_affinity() == SessionAffinity::client_ip) {
        AffinityKey ak{key.src_ip, key.dst_ip, key.dst_port, key.proto, 0};
        uint32_t timeout = svc.session_affinity_timeout_s();
        if (auto ip = affinity.lookup(index, ak, now_s, timeout)) {
            const Backend* b = svc.find_backend(*ip);
            if (b != nullptr) {
                int idx = static_cast<int>(b - svc.backends().data());
                if (sp.eligible[idx] != 0) {  // still in this port's ring
                    return idx;
                }
            }
        }
        int idx = static_cast<int>(sp.ring->pick(client_hash(key.src_ip)));
        affinity.update(index, ak, svc.backends()[idx].ip_be, now_s, timeout);
        return idx;
    }
    return static_cast<int>(sp.ring->pick(key_hash));
}

// Opens a connection for `key`; the flow, or null after dropping or
// rejecting the frame.
template <NatMode Mode>
Flow* Worker::Impl::open_flow(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p,
                              const ServicePort& sp) {
    const FlowKey& key = p.key;
    const Service& svc = *sp.service;
    if (key.proto == pkt::kProtoTcp && (p.tcp_flags & tcp_flag::rst) != 0) {
        drop(m, DropReason::not_for_us);  // never open a flow with a RST
        return nullptr;
    }
    if (!svc.source_filter().allows(key.dst_ip, key.src_ip)) [[unlikely]] {
        drop(m, DropReason::source_range);
        return nullptr;
    }
    const uint32_t key_hash = flow_hash(key);
    int idx = pick_backend(sp, key, key_hash);
    if (idx < 0) {
        reject(
            m, frame, p,
            sp.all_down == AllDownState::reject ? DropReason::all_down : DropReason::no_endpoint);
        return nullptr;
    }
    NatResult nat;
    nat.backend_ip = svc.backends()[idx].ip_be;
    nat.backend_port = sp.target_port_be[idx];
    nat.backend_hint = static_cast<uint32_t>(idx);
    nat.service_gen = svc.generation();
    if (nat.backend_port == 0) {
        drop(m, DropReason::no_target_port);
        return nullptr;
    }
    if constexpr (Mode == NatMode::fullnat) {
        nat.snat_ip = ctx.snat_be[key_hash % ctx.snat_be.size()];
    }
    for (uint32_t attempt = 0; attempt < kSnatAttempts; ++attempt) {
        if constexpr (Mode == NatMode::fullnat) {
            nat.snat_port =
                snat_ports.next(nat.snat_ip, nat.backend_ip, nat.backend_port, key.proto);
        }
        InsertResult r = flows.try_insert(key, key_hash, nat, now_s);
        switch (r.status) {
            case InsertStatus::inserted:
                inserted_in_burst = true;
                return r.flow;
            case InsertStatus::reply_conflict:
                if constexpr (Mode == NatMode::fullnat) {
                    continue;  // that SNAT port is in use toward this backend
                }
                // nat: the client's own tuple is some flow's reply key
                drop(m, DropReason::flow_conflict);
                return nullptr;
            case InsertStatus::forward_conflict:
                drop(m, DropReason::flow_conflict);
                return nullptr;
            case InsertStatus::index_full:
                drop(m, DropReason::flow_table_full);
                return nullptr;
        }
    }
    drop(m, DropReason::snat_exhausted);
    return nullptr;
}

template <NatMode Mode>
void Worker::Impl::client_to_service(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p,
                                     const ServicePort& sp, FlowRef ref) {
    const FlowKey& key = p.key;
    const Service& svc = *sp.service;
    if (ref.flow == nullptr && inserted_in_burst) {
        ref = flows.lookup(key, now_s);  // opened by an earlier frame of this burst
    }
    Flow* flow = ref.flow;
    const bool had_state = flow != nullptr;  // owner redirect: state here keeps it here
    if (flow != nullptr && ref.is_reply) {
        drop(m, DropReason::not_for_us);  // a client colliding with a reply key
        return;
    }
    if (flow != nullptr && flow->service_gen != svc.generation()) [[unlikely]] {
        // The service changed: keep the backend if it still exists
        // (terminating and drained ones included), else re-balance.
        const Backend* b = svc.find_backend(flow->backend_ip);
        int idx = b == nullptr ? -1 : static_cast<int>(b - svc.backends().data());
        if (b == nullptr || sp.target_port_be[idx] != flow->backend_port) {
            flows.erase(flow);
            flow = nullptr;
            counters.add(WorkerEvent::flow_rebalanced);
        } else {
            flow->service_gen = svc.generation();
            flow->backend_hint = static_cast<uint32_t>(idx);
        }
    }
    if (flow != nullptr && key.proto == pkt::kProtoTcp &&
        FlowTable::is_reuse(flow->tcp_seen, p.tcp_flags) && sp.eligible[flow->backend_hint] == 0)
        [[unlikely]] {
        // A new connection on a finished one's 5-tuple (client port
        // reuse): new, so a backend that takes no new flows (probe-down,
        // drained) does not get it, and the ring picks again.
        flows.erase(flow);
        flow = nullptr;
        counters.add(WorkerEvent::flow_reuse_rebalanced);
    }
    const bool is_new = flow == nullptr;
    if constexpr (Mode == NatMode::fullnat) {
        if (members != nullptr && redirected_to_owner(m, frame, key, had_state)) {
            return;
        }
    }
    if (is_new) {
        flow = open_flow<Mode>(m, frame, p, sp);
        if (flow == nullptr) {
            return;
        }
        counters.add(WorkerEvent::flow_new);
        if (sp.all_down == AllDownState::fail_open) [[unlikely]] {
            counters.add(WorkerEvent::all_down_forwarded);
        }
    } else {
        ++burst_hits;
    }
    // Per service port and backend; backend_hint is current here (new
    // flow, or revalidated against this generation above).
    const uint32_t frame_bytes = m->pkt_len;
    if (sp.stats != nullptr) {
        TrafficLane& lane = sp.stats->lane(index);
        lane.add_packet(frame_bytes);
        if (is_new) {
            lane.add_new_flow();
        }
    }
    if (TrafficCounters* bs = svc.backends()[flow->backend_hint].stats; bs != nullptr) {
        TrafficLane& lane = bs->lane(index);
        lane.add_packet(frame_bytes);
        if (is_new) {
            lane.add_new_flow();
        }
    }
    if (key.proto == pkt::kProtoTcp) {
        flows.update_tcp_state(flow, p.tcp_flags, false, now_s);
    } else {
        flows.touch(flow, now_s);
    }
    ++flow->packets_fwd;
    if constexpr (Mode == NatMode::fullnat) {
        pkt::rewrite_src_dst(frame, p, flow->snat_ip, flow->snat_port, flow->backend_ip,
                             flow->backend_port);
    } else {
        pkt::rewrite_dst(frame, p, flow->backend_ip, flow->backend_port);
    }
    pkt::decrement_ttl(frame, p);  // TTL > 1 checked before classification
    forward_l2(m, flow->backend_ip);
}

// A backend's answer: reply key hit -> back to the client as the VIP.
template <NatMode Mode>
bool Worker::Impl::backend_to_client(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p,
                                     FlowRef ref) {
    if (ref.flow == nullptr) {
        if constexpr (Mode == NatMode::nat) {
            return reply_without_flow(m, frame, p);
        }
        return false;
    }
    if (!ref.is_reply) {
        return false;
    }
    Flow* flow = ref.flow;
    if (p.key.proto == pkt::kProtoTcp) {
        flows.update_tcp_state(flow, p.tcp_flags, true, now_s);
    } else {
        flows.touch(flow, now_s);
    }
    ++flow->packets_rev;
    ++burst_replies;
    if constexpr (Mode == NatMode::fullnat) {
        pkt::rewrite_src_dst(frame, p, flow->key.dst_ip, flow->key.dst_port, flow->key.src_ip,
                             flow->key.src_port);
    } else {
        pkt::rewrite_src(frame, p, flow->key.dst_ip, flow->key.dst_port);
    }
    pkt::decrement_ttl(frame, p);
    forward_l2(m, flow->key.src_ip);
    return true;
}

// nat: a backend's reply to a connection another instance (or this one
// before a restart) opened: the service table says which VIP:port it
// answers for when only one does (table/reply_index.hpp). No flow is
// opened: the connection's state lives where its client's packets go.
bool Worker::Impl::reply_without_flow(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p) {
    const ReplyIndex* replies = ctx.table->replies();
    if (replies == nullptr) {
        return false;
    }
    const ReplyIndex::Answer a = replies->lookup(p.key.src_ip, p.key.src_port, p.key.proto);
    if (a.match == ReplyIndex::Match::none) {
        return false;
    }
    if (a.match == ReplyIndex::Match::ambiguous) {
        drop(m, DropReason::reply_ambiguous);
        return true;
    }
    counters.add(WorkerEvent::reply_stateless);
    pkt::rewrite_src(frame, p, a.vip_be, a.port_be);
    pkt::decrement_ttl(frame, p);
    forward_l2(m, p.key.dst_ip);
    return true;
}

template <NatMode Mode>
void Worker::Impl::process(std::span<rte_mbuf* const> frames, bool handed_off) {
    // Acquire: pairs with the control thread's release publication; valid
    // until our next quiescent report.
    view = ctx.neighbours->load(std::memory_order_acquire);
    // Acquire: pairs with the control thread's release store of a new zone.
    zone = ctx.dns_zone != nullptr ? ctx.dns_zone->load(std::memory_order_acquire) : nullptr;
    // Acquire: pairs with the control thread's release store of a new member set.
    members = ctx.members != nullptr ? ctx.members->load(std::memory_order_acquire) : nullptr;
    const uint16_t dns_port_be = to_be16(dns::kDnsPort);

    // Per-burst scratch lives in Impl: arrays of structs with default
    // member initialisers would be zeroed on every burst (~5 KB of stores).
    auto& l4 = scratch.l4;
    auto& keys = scratch.keys;
    uint32_t n_l4 = 0;

    for (size_t i = 0; i < frames.size(); ++i) {
        rte_mbuf* m = frames[i];
        if (i + 1 < frames.size()) {
            rte_prefetch0(rte_pktmbuf_mtod(frames[i + 1], void*));
        }
        uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
        // Chained (jumbo) frames are not supported; runts cannot hold the
        // Ethernet header the own-frame check below reads.
        if (m->nb_segs != 1 || m->data_len < pkt::kEthHeaderLen) {
            drop(m, DropReason::malformed);
            continue;
        }
        if (std::memcmp(frame + 6, ctx.mac.data(), 6) == 0) {
            drop(m, DropReason::own_frame);
            continue;
        }
        // Parsed straight into the next pending slot (prvalue: no copy);
        // frames that leave early just get overwritten.
        Scratch::Pending& slot = l4[n_l4];
        slot.m = m;
        const pkt::Parsed& p = *::new (&slot.p) pkt::Parsed(pkt::parse(frame, m->data_len));
        // Verdict first, then l3, as separate byte tests: GCC fuses
        // `l3 == arp && verdict == ok` into one 16-bit load of two bytes
        // parse() just stored apart, a store-forwarding stall per packet.
        if (p.verdict != pkt::Verdict::ok) {
            drop(m, drop_for(p.verdict));
            continue;
        }
        if (p.l3 == pkt::L3::arp) {
            handle_arp(m, frame, p);
            continue;
        }
        // IPv4 from here on. Only unicast to us: broadcast/multicast frames
        // are not ours to translate (ARP above is the one exception).
        if (std::memcmp(frame, ctx.mac.data(), 6) != 0) {
            drop(m, (frame[0] & 1) != 0 ? DropReason::l2_multicast : DropReason::not_for_us);
            continue;
        }
        // Header checksum: the NIC's verdict when it gives one (NONE = the
        // device vouches for the header), else ours.
        const uint64_t ip_csum = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
        if (ip_csum == RTE_MBUF_F_RX_IP_CKSUM_BAD ||
            (ip_csum == RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN &&
             !pkt::ipv4_header_checksum_ok(frame + p.l3_offset))) [[unlikely]] {
            drop(m, DropReason::bad_ip_checksum);
            continue;
        }
        if (is_multicast_or_broadcast(p.key.dst_ip)) [[unlikely]] {
            drop(m, DropReason::ip_multicast);
            continue;
        }
        // Finish what the sender's kernel left to a NIC, before anything
        // checks or rewrites the checksum (packet.hpp: l4_checksum_partial).
        if (ctx.complete_partial_checksums &&
            (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN &&
            pkt::l4_checksum_partial(frame + p.l3_offset)) [[unlikely]] {
            pkt::complete_l4_checksum(frame + p.l3_offset);
            counters.add(WorkerEvent::l4_checksum_completed);
        }
        if (p.key.proto == pkt::kProtoIcmp) {
            if (pkt::is_icmp_error(p.icmp_type)) {
                handle_icmp_error(m, frame, p, handed_off);
            } else {
                handle_icmp(m, frame, p);
            }
            continue;
        }
        if (p.key.proto == pkt::kProtoTcp && pkt::tcp_flags_invalid(p.tcp_flags)) [[unlikely]] {
            drop(m, DropReason::bad_tcp_flags);  // scans and garbage: never a flow
            continue;
        }
        if (p.key.dst_ip == ctx.dns_ip_be && ctx.dns_ip_be != 0 && p.key.proto == pkt::kProtoUdp &&
            p.key.dst_port == dns_port_be) {
            handle_dns(m, frame, p);
            continue;
        }
        keys[n_l4] = VipKey{p.key.dst_ip, p.key.dst_port, p.key.proto, 0};
        ++n_l4;
    }
    if (n_l4 == 0) {
        return;
    }
    VipBurstResult vips = ctx.table->lookup_bulk(std::span(keys.data(), n_l4));

    // Classify, hand foreign frames over, and gather the flow keys of the
    // rest for one bulk lookup (STYLE §9: hash all, prefetch all, then look up).
    auto& slot_of = scratch.slot_of;
    auto& flow_keys = scratch.flow_keys;
    auto& refs = scratch.refs;
    uint64_t vip_bits = 0;  // bit i: l4[i] hit a VIP (else reply side)
    uint32_t n_flows = 0;
    for (uint32_t i = 0; i < n_l4; ++i) {
        rte_mbuf* m = l4[i].m;
        const pkt::Parsed& p = l4[i].p;
        const bool vip_hit = (vips.hit_mask >> i & 1) != 0;
        bool is_reply_side = false;
        if (!vip_hit) {
            if constexpr (Mode == NatMode::fullnat) {
                is_reply_side = is_snat_address(p.key.dst_ip);
            } else {
                is_reply_side = p.key.dst_ip != ctx.address_be && !in_service_cidr(p.key.dst_ip);
            }
        }
        // Both directions of a flow must be handled by its owner; a frame
        // from the NIC arrived on our queue.
        if (!handed_off && ctx.workers > 1 && (vip_hit || is_reply_side)) {
            const auto side = vip_hit ? FlowOwnership::Side::forward : FlowOwnership::Side::reply;
            const uint16_t owner = ownership.owner(p.key, side, index);
            if (owner != index) {
                handoff(m, owner);
                continue;
            }
        }
        if (!vip_hit && !is_reply_side) {
            not_translated(m, p);
            continue;
        }
        if (p.ttl <= 1) {
            // RFC 1812 §5.3.1 would send Time Exceeded; a gateway in front of
            // a service just drops (as IPVS does).
            drop(m, DropReason::ttl_expired);
            continue;
        }
        vip_bits |= uint64_t{vip_hit} << i;
        slot_of[n_flows] = static_cast<uint8_t>(i);
        flow_keys[n_flows++] = p.key;
    }
    flows.lookup_bulk(std::span(flow_keys.data(), n_flows), now_s, std::span(refs.data(), n_flows));
    burst_hits = 0;
    burst_replies = 0;
    inserted_in_burst = false;
    for (uint32_t f = 0; f < n_flows; ++f) {
        const uint32_t i = slot_of[f];
        rte_mbuf* m = l4[i].m;
        const pkt::Parsed& p = l4[i].p;
        uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
        FlowRef ref = refs[f];
        if (ref.flow != nullptr && !FlowTable::still_valid(ref, p.key)) [[unlikely]] {
            ref = flows.lookup(p.key, now_s);  // reused by an insert earlier in this burst
        }
        if ((vip_bits >> i & 1) != 0) {
            client_to_service<Mode>(m, frame, p, *vips.ports[i], ref);
        } else if (!backend_to_client<Mode>(m, frame, p, ref)) {
            not_translated(m, p);
        }
    }
    counters.add(WorkerEvent::flow_hit, burst_hits);
    counters.add(WorkerEvent::flow_reply, burst_replies);
}

Worker::Worker(const WorkerContext& context, uint16_t index)
    : _impl(std::make_unique<Impl>(context, index)) {}

Worker::~Worker() {
    _impl->hold.clear([](rte_mbuf* m) { rte_pktmbuf_free(m); });
    for (uint16_t i = 0; i < _impl->tx_count; ++i) {
        rte_pktmbuf_free(_impl->tx[i]);
    }
}

void Worker::enable_rss_steering(std::span<const uint16_t> reta) {
    if (_impl->ctx.mode != NatMode::fullnat || reta.empty()) {
        return;
    }
    _impl->ownership.steer_by_rss(reta);
}

void Worker::process_burst(std::span<rte_mbuf* const> frames, uint64_t now_tsc, bool handed_off) {
    Impl& w = *_impl;
    w.now_tsc = now_tsc;
    w.now_s = static_cast<uint32_t>(now_tsc / w.ctx.tsc_hz);
    if (handed_off) {
        w.counters.add(WorkerEvent::handoff_in, frames.size());
    } else {
        w.counters.add(WorkerEvent::rx, frames.size());
    }
    for (size_t off = 0; off < frames.size(); off += kVipBurstMax) {
        size_t n = std::min<size_t>(kVipBurstMax, frames.size() - off);
        if (w.ctx.mode == NatMode::fullnat) {
            w.process<NatMode::fullnat>(frames.subspan(off, n), handed_off);
        } else {
            w.process<NatMode::nat>(frames.subspan(off, n), handed_off);
        }
    }
}

void Worker::service_hold_queue(uint64_t now_tsc) {
    Impl& w = *_impl;
    if (w.hold.empty()) {
        return;
    }
    w.view = w.ctx.neighbours->load(std::memory_order_acquire);
    w.hold.service(
        now_tsc, [&](uint32_t hop) { return w.view->find(hop); },
        [&](rte_mbuf* m, const MacAddr& mac) { w.send_to(m, mac); },
        [&](rte_mbuf* m) { w.drop(m, DropReason::neighbour_timeout); });
}

void Worker::expire_flows(uint64_t now_tsc, uint32_t budget) {
    Impl& w = *_impl;
    size_t n = w.flows.expire(static_cast<uint32_t>(now_tsc / w.ctx.tsc_hz), budget);
    w.counters.add(WorkerEvent::flow_expired, n);
    // Gauges for the control thread (the flow table itself is worker-only).
    const FlowCounters& fc = w.flows.counters();
    w.counters.set_flow_gauges(w.flows.size(), w.flows.capacity(),
                               fc.evicted_transitory + fc.evicted_established);
}

std::vector<rte_mbuf*> Worker::take_tx() {
    Impl& w = *_impl;
    std::vector<rte_mbuf*> out(w.tx.begin(), w.tx.begin() + w.tx_count);
    w.tx_count = 0;
    return out;
}

void Worker::flush_tx() {
    _impl->flush();
}

void Worker::census_step(uint64_t now_tsc, uint32_t budget) {
    Impl& w = *_impl;
    w.census.step(w.flows, static_cast<uint32_t>(now_tsc / w.ctx.tsc_hz), budget);
}

FlowCensus Worker::census() {
    return _impl->census.latest();
}

uint64_t Worker::heartbeat() const {
    return _impl->heartbeat.load(std::memory_order_relaxed);
}

const WorkerCounters& Worker::counters() const {
    return _impl->counters;
}

const dns::DnsCounters& Worker::dns_counters() const {
    return _impl->dns_counters;
}

WorkerStats Worker::stats() const {
    bool snat = _impl->ctx.mode == NatMode::fullnat;
    return WorkerStats{_impl->flows.size(), snat ? _impl->flows.size() : 0, _impl->hold.size()};
}

uint16_t Worker::index() const {
    return _impl->index;
}

uint32_t Worker::poll_once(uint64_t now) {
    Impl& w = *_impl;
    const WorkerContext& ctx = w.ctx;
    std::array<rte_mbuf*, kWorkerBurst> burst;
    uint32_t taken = rte_eth_rx_burst(ctx.port_id, w.index, burst.data(), kWorkerBurst);
    if (taken != 0) {
        process_burst(std::span(burst.data(), taken), now, false);
    }
    for (uint16_t from = 0; from < ctx.workers; ++from) {
        rte_ring* ring =
            ctx.handoff.empty() ? nullptr : ctx.handoff[size_t{from} * ctx.workers + w.index];
        if (ring == nullptr) {
            continue;
        }
        unsigned got = rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(burst.data()),
                                                 kWorkerBurst, nullptr);
        if (got != 0) {
            process_burst(std::span(burst.data(), got), now, true);
            taken += got;
        }
    }
    if (w.index == 0 && ctx.control_tx != nullptr) {
        unsigned got = rte_ring_sc_dequeue_burst(
            ctx.control_tx, reinterpret_cast<void**>(burst.data()), kWorkerBurst, nullptr);
        for (unsigned i = 0; i < got; ++i) {
            w.queue_tx(burst[i]);
        }
        w.counters.add(WorkerEvent::control_tx, got);
        taken += got;
    }
    if (now >= w.next_housekeeping) {
        w.next_housekeeping = now + ctx.tsc_hz * kHousekeepingUs / 1'000'000;
        service_hold_queue(now);
        expire_flows(now, kExpiryBudget);
        census_step(now, kCensusBudget);
        // Single writer: a relaxed load + store, no read-modify-write.
        w.heartbeat.store(w.heartbeat.load(std::memory_order_relaxed) + 1,
                          std::memory_order_relaxed);
    }
    w.flush();
    // Nothing from the snapshot or the neighbour view is held past here.
    rte_rcu_qsbr_quiescent(ctx.qsbr, w.index);
    return taken;
}

void Worker::attach() {
    rte_rcu_qsbr_thread_register(_impl->ctx.qsbr, _impl->index);
    rte_rcu_qsbr_thread_online(_impl->ctx.qsbr, _impl->index);
}

void Worker::detach() {
    rte_rcu_qsbr_thread_offline(_impl->ctx.qsbr, _impl->index);
    rte_rcu_qsbr_thread_unregister(_impl->ctx.qsbr, _impl->index);
}

void Worker::run() {
    Impl& w = *_impl;
    const WorkerContext& ctx = w.ctx;
    attach();
    const bool adaptive = ctx.idle == IdlePolicy::adaptive;
    if (adaptive) {
        // Sleeps as asked, not up to the default 50 us later: the slack would
        // be added to every sleep's bound (kIdleSleepMaxUs).
        prctl(PR_SET_TIMERSLACK, kIdleTimerSlackNs);
    }
    IdleBackoff backoff(ctx.tsc_hz);
    // Acquire: pairs with the control thread's release store on shutdown.
    while (!ctx.stop->load(std::memory_order_acquire)) {
        const uint64_t now = rte_rdtsc();
        const uint32_t taken = poll_once(now);
        if (!adaptive) {
            continue;
        }
        const IdleAction next = backoff.next(taken != 0, now);
        if (next.kind == IdleAction::Kind::pause) {
            for (uint32_t i = 0; i < kIdlePausesPerPoll; ++i) {
                rte_pause();
            }
        } else if (next.kind == IdleAction::Kind::sleep) {
            // Offline while asleep, so the control thread's grace periods
            // (reclaim of tables, zones, neighbour views) never wait for us.
            // Offline is a release store: the reads of shared state above
            // are done before a reclaimer can see us gone; online ends with
            // a full fence pairing with rte_rcu_qsbr_check's loads, so
            // nothing is read again before we count as a reader.
            rte_rcu_qsbr_thread_offline(ctx.qsbr, w.index);
            const timespec pause{0, static_cast<long>(next.sleep_us) * 1000};
            nanosleep(&pause, nullptr);
            rte_rcu_qsbr_thread_online(ctx.qsbr, w.index);
            w.counters.add(WorkerEvent::idle_sleep);
        }
    }
    detach();
}

}  // namespace svcgw
