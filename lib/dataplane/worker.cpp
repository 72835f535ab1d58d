#include "dataplane/worker.hpp"

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <sys/prctl.h>
#include <time.h>

#include <array>
#include <new>
#include <optional>

#include "common/hash.hpp"
#include "dataplane/idle_backoff.hpp"
#include "dataplane/packet.hpp"
#include "flow/affinity_table.hpp"
#include "flow/flow_table.hpp"
#include "table/service_table.hpp"

namespace svcgw {

namespace {

// How long a frame may wait for its next hop's MAC: the neighbour table
// gives up after ~1.4 s (port/neighbour.hpp), so 1.5 s covers every retry.
constexpr uint64_t kHoldTimeoutMs = 1500;
// Housekeeping (hold queue, flow expiry) runs at most every 100 us of TSC:
// frequent enough for ARP latency, rare enough to stay off the packet path
// (STYLE §5).
constexpr uint64_t kHousekeepingUs = 100;
// Flow entries reclaimed per housekeeping pass: 10k/s per worker keeps up
// with any sane connection churn without a latency spike.
constexpr size_t kExpiryBudget = 64;
// Flow-table entries the census visits per housekeeping step: 1024 x 64 B
// (~1-2 us of sequential reads) every 100 us covers a 512k-entry table in
// ~50 ms; a new pass starts at most once per kCensusPeriodS.
constexpr uint32_t kCensusBudget = 1024;
constexpr uint32_t kCensusPeriodS = 1;
// Session-affinity entries per worker (ClientIP services).
constexpr uint32_t kAffinityEntries = 65536;
// SNAT ports: below 1024 are privileged and often filtered (RFC 6056 §2.1
// recommends ephemeral ports from 1024 up).
constexpr uint16_t kSnatPortLo = 1024;
constexpr uint16_t kSnatPortHi = 65535;
// Candidate SNAT ports tried before declaring exhaustion for one flow: with
// a cursor per reply-key space the first is nearly always free; 256 only
// matters when a (SNAT address, backend) pair is close to 64k live flows.
constexpr uint32_t kSnatAttempts = 256;
// SNAT cursor slots per worker (16 B each, 16 KiB: L1/L2 resident); more
// than the (SNAT address, backend, target port) tuples a worker usually sees.
constexpr uint32_t kSnatCursorSlots = 1024;
// Cursor restarts step by 2^32 / golden ratio: successive starts land far
// apart in any port range (Fibonacci hashing, Knuth 6.4).
constexpr uint32_t kSnatRestartStride = 0x9e3779b9u;
using dns::kDnsPort;
// RFC 791: the IPv4 total length is a 16-bit field.
constexpr size_t kMaxIpTotal = 65535;
// Timer slack of an adaptive worker's sleeps (Linux's default is 50 us):
// small next to kIdleSleepMinUs, so a sleep ends close to when it was asked.
constexpr unsigned long kIdleTimerSlackNs = 1000;
// Tx batch: a burst from rx plus one from each source can turn into frames.
constexpr uint16_t kTxBatch = 4 * kWorkerBurst;

uint16_t bswap16(uint16_t v) {
    return static_cast<uint16_t>(v >> 8 | v << 8);
}

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

struct Worker::Impl {
    // Hot: per packet.
    const WorkerContext& ctx;
    uint16_t index;
    bool software_owner;  // ownership by hash (no RSS steering of replies)
    const NeighbourView* view = nullptr;
    const dns::Zone* zone = nullptr;  // this burst's DNS zone (null = SERVFAIL)
    uint32_t now_s = 0;
    uint64_t now_tsc = 0;
    uint16_t tx_count = 0;
    std::array<rte_mbuf*, kTxBatch> tx{};
    WorkerCounters counters;
    dns::DnsCounters dns_counters;
    FlowTable flows;
    AffinityTable affinity;
    HoldQueue<rte_mbuf*, kHoldCapacity> hold;
    std::optional<pkt::Toeplitz> toeplitz;
    std::vector<uint16_t> reta;
    // SNAT port cursors (see next_snat_port) and our share of the port
    // range without RSS steering: snat_first + k * workers, k < snat_count.
    struct SnatCursor {
        uint64_t tag = 0;
        uint32_t next = 0;
    };
    std::vector<SnatCursor> snat_cursors;
    uint32_t snat_restart = 0;  // advances by kSnatRestartStride per cursor (re)start
    uint32_t snat_first = kSnatPortLo;
    uint32_t snat_count = 1;
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
    // census (see worker.hpp)
    FlowCensus census_work;
    uint32_t census_cursor = 0;
    mutable std::mutex census_lock;
    FlowCensus census_done;
    bool census_ready = false;       // census_work complete, not yet handed over
    uint32_t census_start_s = 0;     // no new pass before this
    uint64_t next_housekeeping = 0;  // TSC; see poll_once

    Impl(const WorkerContext& c, uint16_t i)
        : ctx(c),
          index(i),
          software_owner(true),
          flows(FlowTableConfig{std::max<uint32_t>(c.conntrack.max_flows / c.workers, 1024),
                                c.conntrack.tcp_established_timeout_s,
                                c.conntrack.tcp_transitory_timeout_s, c.conntrack.udp_timeout_s}),
          affinity(kAffinityEntries),
          snat_cursors(kSnatCursorSlots) {
        snat_first = kSnatPortLo + (i + c.workers - kSnatPortLo % c.workers) % c.workers;
        snat_count = (kSnatPortHi - snat_first) / c.workers + 1;
        process_fn = c.mode == ForwardingMode::fullnat ? &Impl::process<ForwardingMode::fullnat>
                                                       : &Impl::process<ForwardingMode::nat>;
    }

    void not_translated(rte_mbuf* m, const pkt::Parsed& p);

    // ---- helpers ----
    uint16_t owner_of(uint32_t ip_be, uint16_t port_be) const {
        if (ctx.workers == 1) {
            return 0;
        }
        uint64_t h = hash_u64(uint64_t{ip_be} << 16 | port_be, 0);
        return static_cast<uint16_t>(h % ctx.workers);
    }
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
        const uint8_t first = static_cast<uint8_t>(ip_be);  // network order: first octet
        return first >= 224 || (ctx.subnet_mask_be != 0xffffffffu && in_subnet(ip_be) &&
                                (ip_be | ctx.subnet_mask_be) == 0xffffffffu);
    }
    // Addresses the gateway answers ARP and ping for.
    bool is_local(uint32_t ip_be) const {
        return ip_be == ctx.address_be || (ip_be == ctx.dns_ip_be && ip_be != 0) ||
               ctx.table->is_vip(ip_be);
    }

    void drop(rte_mbuf* m, DropReason reason) {
        counters.drop(reason);
        rte_pktmbuf_free(m);
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
        uint64_t deadline = now_tsc + kHoldTimeoutMs * ctx.tsc_hz / 1000;
        switch (hold.hold(m, hop, deadline)) {
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
    void send_to(rte_mbuf* m, const MacAddr& mac) {
        auto* eth = rte_pktmbuf_mtod(m, uint8_t*);
        std::memcpy(eth, mac.data(), 6);
        std::memcpy(eth + 6, ctx.mac.data(), 6);
        queue_tx(m);
    }

    // Replaces the frame's contents with a built answer of `len` bytes.
    void reply_with(rte_mbuf* m, const uint8_t* frame, size_t len) {
        rte_pktmbuf_reset(m);
        std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), frame, len);
        m->data_len = static_cast<uint16_t>(len);
        m->pkt_len = static_cast<uint32_t>(len);
        queue_tx(m);
    }

    // TCP -> RST, UDP -> ICMP port unreachable (from the VIP the client
    // addressed), so the client fails at once instead of retrying.
    void reject(rte_mbuf* m, const uint8_t* frame, const pkt::Parsed& p, DropReason reason) {
        std::array<uint8_t, 128> out;
        size_t len = 0;
        if (p.key.proto == pkt::kProtoTcp) {
            len = pkt::build_tcp_rst(out, frame, p);
            counters.add(WorkerEvent::reject_rst, len != 0);
        } else {
            len = pkt::build_icmp_port_unreachable(out, frame, p, p.key.dst_ip);
            counters.add(WorkerEvent::reject_icmp, len != 0);
        }
        counters.drop(reason);
        if (len == 0) {
            rte_pktmbuf_free(m);
            return;
        }
        reply_with(m, out.data(), len);
    }

    // ---- host duties ----
    void handle_arp(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p) {
        uint32_t sender = p.key.src_ip, target = p.key.dst_ip;
        const uint8_t* sender_mac_ptr = frame + p.l3_offset + 8;
        MacAddr sender_mac;
        std::memcpy(sender_mac.data(), sender_mac_ptr, 6);
        if (!is_local(target) || sender == 0 || sender == target) {
            drop(m, DropReason::arp_ignored);
            return;
        }
        // RFC 826: a request or reply addressed to us teaches the sender's MAC.
        if (in_subnet(sender)) {
            counters.add(WorkerEvent::arp_learned);
            to_control(sender, sender_mac, ControlMessage::learned);
        }
        if (p.arp_op != pkt::kArpOpRequest) {
            rte_pktmbuf_free(m);
            return;
        }
        std::array<uint8_t, pkt::kEthMinFrameLen> out;
        size_t len = pkt::build_arp_reply(out, ctx.mac, target, sender_mac, sender);
        if (len == 0) {
            drop(m, DropReason::malformed);
            return;
        }
        counters.add(WorkerEvent::arp_reply);
        reply_with(m, out.data(), len);
    }

    void handle_icmp(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p) {
        if (is_local(p.key.dst_ip) && p.icmp_type == pkt::kIcmpEchoRequest &&
            pkt::make_icmp_echo_reply(frame, p)) {
            counters.add(WorkerEvent::icmp_echo_reply);
            queue_tx(m);
            return;
        }
        drop(m, DropReason::icmp_ignored);
    }

    // The worker owning the flow whose key (as the gateway sees it arrive)
    // is `k`: a client->VIP key or a backend->SNAT/client reply key.
    uint16_t owner_of_key(const FlowKey& k) const {
        if (ctx.workers == 1) {
            return 0;
        }
        const bool forward = ctx.table->is_vip(k.dst_ip);
        if (forward) {
            if (software_owner) {
                return owner_of(k.src_ip, k.src_port);
            }
            // The queue the NIC's RSS gave the client's packets.
            const uint32_t h = toeplitz->hash_ipv4_l4(k.src_ip, k.dst_ip, k.src_port, k.dst_port);
            return reta[h & (reta.size() - 1)];
        }
        if (ctx.mode == ForwardingMode::nat) {
            return owner_of(k.dst_ip, k.dst_port);
        }
        if (software_owner) {
            return static_cast<uint16_t>(bswap16(k.dst_port) % ctx.workers);
        }
        return index;  // SNAT ports were chosen so that replies hash to us
    }

    // ICMP errors (fragmentation needed, port unreachable, time exceeded,
    // parameter problem) about a packet the gateway translated: the quoted
    // datagram is translated back and the error sent to the flow's other
    // side, so path MTU discovery works through the gateway.
    void handle_icmp_error(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p, bool handed_off) {
        const std::optional<pkt::IcmpQuote> q = pkt::parse_icmp_quote(frame, p);
        if (!q) {
            drop(m, DropReason::icmp_error_untracked);
            return;
        }
        // The quoted datagram went out from us: reversed, it is the flow's
        // key on the side the error comes from.
        const FlowKey k = q->key.reversed();
        if (!handed_off) {
            const uint16_t owner = owner_of_key(k);
            if (owner != index) {
                handoff(m, owner);
                return;
            }
        }
        FlowRef ref = flows.lookup(k, now_s);
        if (ref.flow == nullptr) {
            drop(m, DropReason::icmp_error_untracked);
            return;
        }
        if (p.ttl <= 1) {
            drop(m, DropReason::ttl_expired);
            return;
        }
        const Flow& f = *ref.flow;
        if (ref.is_reply) {
            // About our packet to the backend: tell the client, as the VIP,
            // about the packet it sent (client -> VIP).
            pkt::translate_icmp_error(frame, p, *q, f.key.dst_ip, f.key.src_ip, f.key);
            counters.add(WorkerEvent::icmp_error_translated);
            forward_l2(m, f.key.src_ip);
            return;
        }
        // About our reply to the client: tell the backend, about its packet.
        const uint32_t outer_src = f.is_snat() ? f.snat_ip : p.key.src_ip;
        pkt::translate_icmp_error(frame, p, *q, outer_src, f.backend_ip, f.reply_key());
        counters.add(WorkerEvent::icmp_error_translated);
        forward_l2(m, f.backend_ip);
    }

    // A query to the cluster DNS address, answered in the mbuf it came in
    // and turned around toward the client.
    void handle_dns(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p) {
        uint8_t* ip = frame + p.l3_offset;
        const uint64_t l4_csum = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
        // UNKNOWN: check it ourselves; GOOD/NONE: the device vouches for it.
        if (l4_csum == RTE_MBUF_F_RX_L4_CKSUM_BAD ||
            (l4_csum == RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN && !pkt::l4_checksum_ok(ip))) {
            drop(m, DropReason::bad_l4_checksum);  // the kernel would drop it too
            return;
        }
        // The response is written from the query's first byte on, over the
        // rest of the data room; the reply carries no IP options, so its
        // payload starts kIpv4MinHeaderLen after the IP header.
        const size_t ihl = p.l4_offset - p.l3_offset;
        const size_t payload_at = p.payload_offset;
        const size_t room =
            std::min<size_t>(m->buf_len - m->data_off - payload_at,
                             kMaxIpTotal - pkt::kIpv4MinHeaderLen - pkt::kUdpHeaderLen);
        uint8_t* payload = frame + payload_at;
        // Rotation of multi-address answers: this worker's own query count
        // (a plain counter it alone writes; no shared state per packet).
        const auto rotation = static_cast<uint32_t>(dns_counters[dns::Counter::queries]);
        dns::Reply r =
            dns::answer(zone, std::span<const uint8_t>(payload, p.payload_length),
                        std::span<uint8_t>(payload, room), dns::kClassicUdpSize, rotation);
        dns_counters.add(r);
        if (r.length == 0) {
            drop(m, DropReason::dns_dropped);
            return;
        }
        const uint32_t client_ip = p.key.src_ip;
        const uint16_t client_port = p.key.src_port;
        if (ihl != pkt::kIpv4MinHeaderLen) {
            // Options are not echoed (RFC 1122 §3.2.1.8 only asks for that on
            // source routes, which we do not honour): move UDP down.
            std::memmove(ip + pkt::kIpv4MinHeaderLen, ip + ihl, pkt::kUdpHeaderLen + r.length);
        }
        const uint16_t udp_len = static_cast<uint16_t>(pkt::kUdpHeaderLen + r.length);
        const uint16_t ip_len = static_cast<uint16_t>(pkt::kIpv4MinHeaderLen + udp_len);
        ip[0] = 0x45;
        ip[1] = 0;
        pkt::store_be16(ip + 2, ip_len);
        pkt::store_be16(ip + 6, 0);  // no fragment bits (the answer fits the room)
        ip[8] = pkt::kDefaultTtl;
        pkt::store32(ip + 12, ctx.dns_ip_be);
        pkt::store32(ip + 16, client_ip);
        uint8_t* udp = ip + pkt::kIpv4MinHeaderLen;
        pkt::store16(udp, bswap16(kDnsPort));
        pkt::store16(udp + 2, client_port);
        pkt::store_be16(udp + 4, udp_len);
        pkt::fill_checksums(ip);  // IP header and the full UDP checksum
        size_t len = pkt::kEthHeaderLen + ip_len;
        if (len < pkt::kEthMinFrameLen) {
            std::memset(frame + len, 0, pkt::kEthMinFrameLen - len);
            len = pkt::kEthMinFrameLen;
        }
        m->data_len = static_cast<uint16_t>(len);
        m->pkt_len = static_cast<uint32_t>(len);
        counters.add(WorkerEvent::dns_reply);
        forward_l2(m, client_ip);
    }

    // ---- NAT ----
    // Next SNAT port candidate toward (snat_ip, backend): a cursor per
    // reply-key space, so ports are handed out in turn and the first
    // candidate is free unless the space is nearly full of live flows. The
    // cursor is only a hint (try_insert checks the reply key), so a slot
    // shared by two backends costs nothing but a fresh start.
    uint16_t next_snat_port(uint32_t snat_ip, uint32_t backend_ip, uint16_t backend_port,
                            uint8_t proto) {
        const uint64_t tag = mix64(uint64_t{snat_ip} << 32 ^ uint64_t{backend_ip} ^
                                   uint64_t{backend_port} << 8 ^ proto) |
                             1;  // 0 = unused slot
        SnatCursor& c = snat_cursors[tag & (kSnatCursorSlots - 1)];
        if (c.tag != tag) {
            // A new space, or another one evicted ours: start somewhere new
            // each time. A fixed start per space made two spaces sharing a
            // slot re-probe their used ports from the same point on every
            // switch, until kSnatAttempts ran out (snat_exhausted with 64+
            // backends, RESULTS.md).
            c.tag = tag;
            snat_restart += kSnatRestartStride;
            c.next = snat_restart;
        }
        if (toeplitz) {
            // Reply tuple: backend -> snat:port; the next port whose RSS queue is ours.
            constexpr uint32_t kRange = uint32_t{kSnatPortHi} - kSnatPortLo + 1;
            auto port_be =
                toeplitz->find_port_for_queue(reta, index, backend_ip, snat_ip, backend_port,
                                              kSnatPortLo, kSnatPortHi, c.next % kRange);
            uint16_t port = port_be ? bswap16(*port_be) : kSnatPortLo;
            c.next = port - kSnatPortLo + 1u;
            return bswap16(port);
        }
        // Without RSS steering: ports with port % workers == index are ours.
        const uint32_t k = c.next % snat_count;
        c.next = k + 1;
        return bswap16(static_cast<uint16_t>(snat_first + k * ctx.workers));
    }

    // Picks a backend for a new connection: affinity first, then Maglev.
    // Returns the backend index, or -1 when the service port has no ring.
    int pick_backend(const ServicePort& sp, const FlowKey& key, uint32_t key_hash) {
        const Service& svc = *sp.service;
        if (sp.ring == nullptr || sp.ring->empty()) {
            return -1;
        }
        if (svc.session_affinity() == SessionAffinity::client_ip) {
            AffinityKey ak{key.src_ip, key.dst_ip, key.dst_port, key.proto, 0};
            uint32_t timeout = svc.session_affinity_timeout_s();
            if (auto ip = affinity.lookup(ak, now_s, timeout)) {
                const Backend* b = svc.find_backend(*ip);
                if (b != nullptr) {
                    int idx = static_cast<int>(b - svc.backends().data());
                    if (sp.eligible[idx] != 0) {  // still in this port's ring
                        return idx;
                    }
                }
            }
            int idx = static_cast<int>(sp.ring->pick(hash_u64(key.src_ip, 0)));
            affinity.update(ak, svc.backends()[idx].ip_be, now_s, timeout);
            return idx;
        }
        return static_cast<int>(sp.ring->pick(key_hash));
    }

    // Opens a connection for `key`; the flow, or null after dropping or
    // rejecting the frame.
    template <ForwardingMode Mode>
    Flow* open_flow(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p, const ServicePort& sp) {
        const FlowKey& key = p.key;
        const Service& svc = *sp.service;
        if (key.proto == pkt::kProtoTcp && (p.tcp_flags & tcp_flag::rst) != 0) {
            drop(m, DropReason::not_for_us);  // never open a flow with a RST
            return nullptr;
        }
        const uint32_t key_hash = flow_hash(key);
        int idx = pick_backend(sp, key, key_hash);
        if (idx < 0) {
            reject(m, frame, p,
                   sp.all_down == AllDownState::reject ? DropReason::all_down
                                                       : DropReason::no_endpoint);
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
        if constexpr (Mode == ForwardingMode::fullnat) {
            nat.snat_ip = ctx.snat_be[key_hash % ctx.snat_be.size()];
        }
        for (uint32_t attempt = 0; attempt < kSnatAttempts; ++attempt) {
            if constexpr (Mode == ForwardingMode::fullnat) {
                nat.snat_port =
                    next_snat_port(nat.snat_ip, nat.backend_ip, nat.backend_port, key.proto);
            }
            InsertResult r = flows.try_insert(key, key_hash, nat, now_s);
            switch (r.status) {
                case InsertStatus::inserted:
                    inserted_in_burst = true;
                    return r.flow;
                case InsertStatus::reply_conflict:
                    if constexpr (Mode == ForwardingMode::fullnat) {
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

    template <ForwardingMode Mode>
    void client_to_service(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p, const ServicePort& sp,
                           FlowRef ref) {
        const FlowKey& key = p.key;
        const Service& svc = *sp.service;
        if (ref.flow == nullptr && inserted_in_burst) {
            ref = flows.lookup(key, now_s);  // opened by an earlier frame of this burst
        }
        Flow* flow = ref.flow;
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
            FlowTable::is_reuse(flow->tcp_seen, p.tcp_flags) &&
            sp.eligible[flow->backend_hint] == 0) [[unlikely]] {
            // A new connection on a finished one's 5-tuple (client port
            // reuse): new, so a backend that takes no new flows (probe-down,
            // drained) does not get it, and the ring picks again.
            flows.erase(flow);
            flow = nullptr;
            counters.add(WorkerEvent::flow_reuse_rebalanced);
        }
        const bool is_new = flow == nullptr;
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
        if constexpr (Mode == ForwardingMode::fullnat) {
            pkt::rewrite_src_dst(frame, p, flow->snat_ip, flow->snat_port, flow->backend_ip,
                                 flow->backend_port);
        } else {
            pkt::rewrite_dst(frame, p, flow->backend_ip, flow->backend_port);
        }
        pkt::decrement_ttl(frame, p);  // TTL > 1 checked before classification
        forward_l2(m, flow->backend_ip);
    }

    // A backend's answer: reply key hit -> back to the client as the VIP.
    template <ForwardingMode Mode>
    bool backend_to_client(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p, FlowRef ref) {
        if (ref.flow == nullptr || !ref.is_reply) {
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
        if constexpr (Mode == ForwardingMode::fullnat) {
            pkt::rewrite_src_dst(frame, p, flow->key.dst_ip, flow->key.dst_port, flow->key.src_ip,
                                 flow->key.src_port);
        } else {
            pkt::rewrite_src(frame, p, flow->key.dst_ip, flow->key.dst_port);
        }
        pkt::decrement_ttl(frame, p);
        forward_l2(m, flow->key.src_ip);
        return true;
    }

    // ---- the burst ----
    template <ForwardingMode Mode>
    void process(std::span<rte_mbuf* const> frames, bool handed_off);
    // process<mode> for the configured mode, chosen once (STYLE §8).
    void (Impl::*process_fn)(std::span<rte_mbuf* const>, bool) = nullptr;
};

template <ForwardingMode Mode>
void Worker::Impl::process(std::span<rte_mbuf* const> frames, bool handed_off) {
    // Acquire: pairs with the control thread's release publication; valid
    // until our next quiescent report.
    view = ctx.neighbours->load(std::memory_order_acquire);
    // Acquire: pairs with the control thread's release store of a new zone.
    zone = ctx.dns_zone != nullptr ? ctx.dns_zone->load(std::memory_order_acquire) : nullptr;
    const uint16_t dns_port_be = bswap16(kDnsPort);

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
            if constexpr (Mode == ForwardingMode::fullnat) {
                is_reply_side = is_snat_address(p.key.dst_ip);
            } else {
                is_reply_side = p.key.dst_ip != ctx.address_be && !in_service_cidr(p.key.dst_ip);
            }
        }
        // Both directions of a flow must be handled by its owner.
        if (!handed_off && ctx.workers > 1) {
            uint16_t owner = index;
            if (vip_hit) {
                if (software_owner) {
                    owner = owner_of(p.key.src_ip, p.key.src_port);
                }
            } else if (is_reply_side) {
                if constexpr (Mode == ForwardingMode::nat) {
                    owner = owner_of(p.key.dst_ip, p.key.dst_port);
                } else if (software_owner) {
                    owner = static_cast<uint16_t>(bswap16(p.key.dst_port) % ctx.workers);
                }
            }
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

// IPv4 TCP/UDP that is neither for a VIP nor a tracked reply.
void Worker::Impl::not_translated(rte_mbuf* m, const pkt::Parsed& p) {
    if (in_service_cidr(p.key.dst_ip)) {
        // A ClusterIP that is not (or no longer) a live VIP:port: refuse
        // so clients fail fast instead of hanging.
        reject(m, rte_pktmbuf_mtod(m, uint8_t*), p, DropReason::no_service);
        return;
    }
    drop(m, DropReason::not_for_us);
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
    if (_impl->ctx.mode != ForwardingMode::fullnat || reta.empty()) {
        return;
    }
    _impl->toeplitz.emplace(pkt::kRssDefaultKey);
    _impl->reta.assign(reta.begin(), reta.end());
    _impl->software_owner = false;
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
        (w.*w.process_fn)(frames.subspan(off, n), handed_off);
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
    const uint32_t now_s = static_cast<uint32_t>(now_tsc / w.ctx.tsc_hz);
    if (w.census_cursor == 0 && !w.census_ready && now_s < w.census_start_s) {
        return;
    }
    if (!w.census_ready) {
        w.flows.for_each_in(w.census_cursor, budget, [&](const Flow& f) {
            if (w.flows.is_expired(f, now_s)) {
                return;
            }
            ++w.census_work
                  .per_backend[{pack_vip(f.key.dst_ip, f.key.dst_port, f.key.proto), f.backend_ip}];
            if (w.census_work.samples.size() < kCensusSamples) {
                w.census_work.samples.push_back(f);
            }
        });
        w.census_cursor += budget;
        if (w.census_cursor < w.flows.capacity()) {
            return;
        }
        w.census_ready = true;
        w.census_work.now_s = now_s;
    }
    // try_lock: the control thread holds it only to copy; never wait.
    std::unique_lock lock(w.census_lock, std::try_to_lock);
    if (!lock.owns_lock()) {
        return;
    }
    w.census_work.passes = w.census_done.passes + 1;
    std::swap(w.census_done, w.census_work);
    lock.unlock();
    w.census_work.per_backend.clear();
    w.census_work.samples.clear();
    w.census_cursor = 0;
    w.census_ready = false;
    w.census_start_s = now_s + kCensusPeriodS;
}

FlowCensus Worker::census() const {
    std::lock_guard lock(_impl->census_lock);
    return _impl->census_done;
}

const WorkerCounters& Worker::counters() const {
    return _impl->counters;
}

const dns::DnsCounters& Worker::dns_counters() const {
    return _impl->dns_counters;
}

WorkerStats Worker::stats() const {
    bool snat = _impl->ctx.mode == ForwardingMode::fullnat;
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
    const bool adaptive = ctx.idle == IdleMode::adaptive;
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
