// The state of one worker and the helpers its parts share (private to
// lib/dataplane: worker.cpp and worker_host.cpp include it, nothing else).
// Hot fields first (per packet), then the per-burst scratch, then the
// housekeeping state.
#pragma once

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <array>
#include <atomic>
#include <cstring>

#include "dataplane/flow_census.hpp"
#include "dataplane/instance_owner.hpp"
#include "dataplane/ownership.hpp"
#include "dataplane/punt.hpp"
#include "dataplane/snat_ports.hpp"
#include "dataplane/worker.hpp"
#include "flow/affinity_table.hpp"
#include "flow/flow_table.hpp"
#include "net/packet.hpp"
#include "table/service_table.hpp"

namespace svcgw {

// How long a frame may wait for its next hop's MAC: the neighbour table
// gives up after ~1.4 s (port/neighbour.hpp), so 1.5 s covers every retry.
constexpr uint64_t kHoldTimeoutMs = 1500;
// Ask the control thread again for a hop still unresolved this long after
// the last ask: longer than its ARP round (NeighbourTimers, ~3 s), so a
// round in progress is not restarted, and a hop it gave up on is retried.
constexpr uint64_t kResolveAgainMs = 3500;
// Tx batch: a burst from rx plus one from each source can turn into frames.
constexpr uint16_t kTxBatch = 4 * kWorkerBurst;

struct Worker::Impl {
    // Hot: per packet.
    const WorkerContext& ctx;
    uint16_t index;
    const NeighbourView* view = nullptr;
    const dns::Zone* zone = nullptr;     // this burst's DNS zone (null = SERVFAIL)
    const MemberSet* members = nullptr;  // this burst's fleet members (null = no redirect)
    uint32_t now_s = 0;
    uint64_t now_tsc = 0;
    uint16_t tx_count = 0;
    std::array<rte_mbuf*, kTxBatch> tx{};
    WorkerCounters counters;
    dns::DnsCounters dns_counters;
    Punt punt;  // the exception path (disabled when the context has no punt rings)
    FlowTable flows;
    std::unique_ptr<AffinitySet> own_affinity;  // when the context has no shared set
    AffinitySet& affinity;
    FlowOwnership ownership;
    SnatPorts snat_ports;
    HoldQueue<rte_mbuf*, kHoldCapacity> hold;
    // Per-burst scratch of process(): frames to translate with their parse,
    // their VIP keys, then their flow keys and lookup results.
    struct Scratch {
        struct Pending {
            rte_mbuf* m;
            pkt::Parsed p;
        };
        std::array<Pending, kVipBurstMax> l4;
        std::array<VipKey, kVipBurstMax> keys;
        std::array<uint8_t, kVipBurstMax> slot_of;  // flow-key slot -> l4 index
        std::array<FlowKey, kVipBurstMax> flow_keys;
        std::array<FlowRef, kVipBurstMax> refs;
    } scratch;
    // Per-burst event tallies, added to `counters` once per burst.
    uint64_t burst_hits = 0;
    uint64_t burst_replies = 0;
    bool inserted_in_burst = false;  // bulk lookup misses may be stale
    // Housekeeping.
    FlowCensusTaker census;
    uint64_t next_housekeeping = 0;  // TSC; see poll_once
    // Housekeeping passes, read by the control thread (Worker::heartbeat);
    // a line of its own, so those reads never touch the packet path's.
    alignas(64) std::atomic<uint64_t> heartbeat{0};

    Impl(const WorkerContext& c, uint16_t i);

    // ---- addresses ----
    bool is_snat_address(uint32_t ip_be) const {
        for (uint32_t a : ctx.snat_be) {
            if (a == ip_be) {
                return true;
            }
        }
        return false;
    }
    bool in_subnet(uint32_t ip_be) const {
        return (ip_be & ctx.subnet_mask_be) == (ctx.address_be & ctx.subnet_mask_be);
    }
    bool in_service_cidr(uint32_t ip_be) const {
        return (ip_be & ctx.service_mask_be) == ctx.service_net_be;
    }
    // 224.0.0.0/4 (RFC 5771), 240.0.0.0/4 incl. 255.255.255.255, and the
    // port subnet's directed broadcast.
    bool is_multicast_or_broadcast(uint32_t ip_be) const {
        constexpr uint8_t kFirstMulticastOctet = 224;
        const uint8_t first = static_cast<uint8_t>(ip_be);  // network order: first octet
        return first >= kFirstMulticastOctet ||
               (ctx.subnet_mask_be != 0xffffffffu && in_subnet(ip_be) &&
                (ip_be | ctx.subnet_mask_be) == 0xffffffffu);
    }
    // Addresses the gateway answers ARP and ping for.
    bool is_local(uint32_t ip_be) const {
        return ip_be == ctx.address_be || (ip_be == ctx.dns_ip_be && ip_be != 0) ||
               ctx.table->is_vip(ip_be);
    }

    // ---- frames out ----
    void drop(rte_mbuf* m, DropReason reason) {
        counters.drop(reason);
        rte_pktmbuf_free(m);
    }
    // Host traffic the kernel behind the exception path terminates: the
    // port's address, and DNS over TCP (lib/dns/tcp_server.hpp).
    bool for_kernel(const pkt::Parsed& p) const {
        return p.key.dst_ip == ctx.address_be ||
               (p.key.dst_ip == ctx.dns_ip_be && ctx.dns_ip_be != 0 &&
                p.key.proto == pkt::kProtoTcp && p.key.dst_port == to_be16(dns::kDnsPort));
    }
    // Hands `m` to the kernel, policed (dataplane/punt.hpp); false = no
    // exception path, the caller still owns the frame.
    bool to_kernel(rte_mbuf* m, const pkt::Parsed& p) {
        const PuntClass c = punt_class(p);
        switch (punt.offer(m, c, now_tsc)) {
            case PuntResult::sent:
                counters.add(c == PuntClass::control ? WorkerEvent::punt_control
                                                     : WorkerEvent::punt_other);
                return true;
            case PuntResult::policed:
                drop(m, c == PuntClass::control ? DropReason::punt_control_policed
                                                : DropReason::punt_policed);
                return true;
            case PuntResult::ring_full:
                drop(m, DropReason::punt_ring_full);
                return true;
            case PuntResult::disabled:
                break;
        }
        return false;
    }
    void queue_tx(rte_mbuf* m) {
        if (tx_count == tx.size()) {
            flush();
        }
        tx[tx_count++] = m;
    }
    void flush() {
        if (tx_count == 0) {
            return;
        }
        uint16_t sent = rte_eth_tx_burst(ctx.port_id, index, tx.data(), tx_count);
        counters.add(WorkerEvent::tx, sent);
        for (uint16_t i = sent; i < tx_count; ++i) {
            drop(tx[i], DropReason::tx_full);
        }
        tx_count = 0;
    }
    void to_control(uint32_t ip_be, const MacAddr& mac, uint16_t kind) {
        if (ctx.to_control.empty()) {
            return;
        }
        ControlMessage msg{ip_be, mac, kind};
        if (rte_ring_sp_enqueue_elem(ctx.to_control[index], &msg, sizeof msg) != 0) {
            counters.drop(DropReason::control_ring_full);
        }
    }
    void handoff(rte_mbuf* m, uint16_t owner) {
        rte_ring* ring = ctx.handoff[size_t{index} * ctx.workers + owner];
        if (rte_ring_sp_enqueue(ring, m) != 0) {
            drop(m, DropReason::handoff_full);
            return;
        }
        counters.add(WorkerEvent::handoff_out);
    }

    // Ethernet addressing toward `dst_ip_be`, or hold the frame until the
    // control thread resolves the next hop.
    void forward_l2(rte_mbuf* m, uint32_t dst_ip_be) {
        uint32_t hop = dst_ip_be;
        if (!in_subnet(dst_ip_be)) {
            if (ctx.gateway_be == 0) {
                drop(m, DropReason::no_route);
                return;
            }
            hop = ctx.gateway_be;
        }
        if (const MacAddr* mac = view->find(hop)) {
            send_to(m, *mac);
            return;
        }
        const uint64_t deadline = now_tsc + kHoldTimeoutMs * ctx.tsc_hz / 1000;
        const uint64_t ask_again = kResolveAgainMs * ctx.tsc_hz / 1000;
        switch (hold.hold(m, hop, now_tsc, deadline, ask_again)) {
            case HoldQueue<rte_mbuf*, kHoldCapacity>::Hold::full:
                drop(m, DropReason::hold_full);
                return;
            case HoldQueue<rte_mbuf*, kHoldCapacity>::Hold::first_for_hop:
                counters.add(WorkerEvent::resolve_request);
                to_control(hop, MacAddr{}, ControlMessage::resolve);
                [[fallthrough]];
            case HoldQueue<rte_mbuf*, kHoldCapacity>::Hold::queued:
                counters.add(WorkerEvent::held);
                return;
        }
    }
    // fullnat owner redirect: the frame goes unchanged (TTL included: the
    // owner forwards it) to the owner's MAC, from ours, which is the mark
    // (dataplane/instance_owner.hpp).
    void redirect(rte_mbuf* m, uint32_t owner_ip_be) {
        counters.add(WorkerEvent::redirected);
        forward_l2(m, owner_ip_be);
    }
    // The owner rule (decide_owner) for a frame about the client -> VIP flow
    // `client_key` (the client's own frames, and ICMP errors quoting the
    // flow): true when it went to its owner instance. Needs `members`.
    bool redirected_to_owner(rte_mbuf* m, const uint8_t* frame, const FlowKey& client_key,
                             bool has_state) {
        const bool marked = members->is_peer_mac(frame + pkt::hdr::kEthSrcOff);
        if (marked) {
            counters.add(WorkerEvent::redirect_in);
        }
        if (has_state) {  // (the hash only when the rule needs it)
            return false;
        }
        const OwnerDecision d =
            decide_owner(*members, owner_hash(flow_hash(client_key)), has_state, marked);
        if (!d.redirect) {
            return false;
        }
        redirect(m, members->members()[d.owner].ip_be);
        return true;
    }
    void send_to(rte_mbuf* m, const MacAddr& mac) {
        auto* eth = rte_pktmbuf_mtod(m, uint8_t*);
        std::memcpy(eth + pkt::hdr::kEthDstOff, mac.data(), pkt::kMacLen);
        std::memcpy(eth + pkt::hdr::kEthSrcOff, ctx.mac.data(), pkt::kMacLen);
        queue_tx(m);
    }

    // ---- host duties (worker_host.cpp) ----
    // Replaces the frame's contents with a built answer of `len` bytes.
    void reply_with(rte_mbuf* m, const uint8_t* frame, size_t len);
    void reject(rte_mbuf* m, const uint8_t* frame, const pkt::Parsed& p, DropReason reason);
    void not_translated(rte_mbuf* m, const pkt::Parsed& p);
    void handle_arp(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p);
    void handle_icmp(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p);
    void handle_icmp_error(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p, bool handed_off);
    void handle_dns(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p);

    // ---- the burst path (worker.cpp) ----
    int pick_backend(const ServicePort& sp, const FlowKey& key, uint32_t key_hash);
    template <NatMode Mode>
    Flow* open_flow(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p, const ServicePort& sp);
    template <NatMode Mode>
    void client_to_service(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p, const ServicePort& sp,
                           FlowRef ref);
    template <NatMode Mode>
    bool backend_to_client(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p, FlowRef ref);
    bool reply_without_flow(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p);
    template <NatMode Mode>
    void process(std::span<rte_mbuf* const> frames, bool handed_off);
};

}  // namespace svcgw
