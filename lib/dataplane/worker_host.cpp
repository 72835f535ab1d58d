// Host duties of a worker: what the gateway answers itself instead of
// translating. ARP for its addresses (port, DNS, VIPs), ping, ICMP errors
// about translated flows (handed to the flow's owner and translated for the
// other side), the cluster DNS turn-around in place, and the refusals (RST /
// port unreachable) for services that do not exist or have no endpoint.
#include <rte_mbuf.h>

#include <algorithm>
#include <optional>

#include "common/byte_order.hpp"
#include "dataplane/worker_impl.hpp"

namespace svcgw {

namespace {

// RFC 791: the IPv4 total length is a 16-bit field.
constexpr size_t kMaxIpTotal = 65535;
// Room for a RST or a port unreachable quoting the IP header and 8 bytes.
constexpr size_t kRejectFrameMax = 128;

}  // namespace

void Worker::Impl::reply_with(rte_mbuf* m, const uint8_t* frame, size_t len) {
    rte_pktmbuf_reset(m);
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), frame, len);
    m->data_len = static_cast<uint16_t>(len);
    m->pkt_len = static_cast<uint32_t>(len);
    queue_tx(m);
}

// TCP -> RST, UDP -> ICMP port unreachable (from the VIP the client
// addressed), so the client fails at once instead of retrying.
void Worker::Impl::reject(rte_mbuf* m, const uint8_t* frame, const pkt::Parsed& p,
                          DropReason reason) {
    std::array<uint8_t, kRejectFrameMax> out;
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

// IPv4 TCP/UDP that is neither for a VIP nor a tracked reply.
void Worker::Impl::not_translated(rte_mbuf* m, const pkt::Parsed& p) {
    if (for_kernel(p) && to_kernel(m, p)) {
        return;
    }
    if (in_service_cidr(p.key.dst_ip) || ctx.table->is_vip(p.key.dst_ip)) {
        // A ClusterIP that is not (or no longer) a live VIP:port, or a port
        // a load-balancer VIP does not serve: refuse so clients fail fast
        // instead of hanging.
        reject(m, rte_pktmbuf_mtod(m, uint8_t*), p, DropReason::no_service);
        return;
    }
    drop(m, DropReason::not_for_us);
}

void Worker::Impl::handle_arp(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p) {
    uint32_t sender = p.key.src_ip, target = p.key.dst_ip;
    MacAddr sender_mac;
    std::memcpy(sender_mac.data(), frame + p.l3_offset + pkt::hdr::kArpSenderMacOff, pkt::kMacLen);
    if (!is_local(target) || sender == 0 || sender == target) {
        drop(m, DropReason::arp_ignored);
        return;
    }
    // RFC 826: a request or reply addressed to us teaches the sender's MAC.
    if (in_subnet(sender)) {
        counters.add(WorkerEvent::arp_learned);
        to_control(sender, sender_mac, ControlMessage::learned);
    }
    // The kernel behind the exception path learns its neighbours from
    // the ARP for its address: replies to its requests, and a copy of
    // each request (its own answer never leaves: port/exception_path).
    const bool kernel_learns = target == ctx.address_be && punt.enabled();
    if (p.arp_op != pkt::kArpOpRequest) {
        if (!kernel_learns || !to_kernel(m, p)) {
            rte_pktmbuf_free(m);
        }
        return;
    }
    if (kernel_learns) {
        if (rte_mbuf* copy = rte_pktmbuf_copy(m, ctx.pool, 0, UINT32_MAX)) {
            to_kernel(copy, p);
        } else {
            counters.drop(DropReason::no_mbuf);
        }
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

void Worker::Impl::handle_icmp(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p) {
    if (is_local(p.key.dst_ip) && p.icmp_type == pkt::kIcmpEchoRequest &&
        pkt::make_icmp_echo_reply(frame, p)) {
        counters.add(WorkerEvent::icmp_echo_reply);
        queue_tx(m);
        return;
    }
    if (p.key.dst_ip == ctx.address_be && to_kernel(m, p)) {
        return;  // echo replies to the kernel's pings, timestamps, ...
    }
    drop(m, DropReason::icmp_ignored);
}

// ICMP errors (fragmentation needed, port unreachable, time exceeded,
// parameter problem) about a packet the gateway translated: the quoted
// datagram is translated back and the error sent to the flow's other side,
// so path MTU discovery works through the gateway.
void Worker::Impl::handle_icmp_error(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p,
                                     bool handed_off) {
    const std::optional<pkt::IcmpQuote> q = pkt::parse_icmp_quote(frame, p);
    if (!q) {
        if (p.key.dst_ip == ctx.address_be && to_kernel(m, p)) {
            return;
        }
        drop(m, DropReason::icmp_error_untracked);
        return;
    }
    // The quoted datagram went out from us: reversed, it is the flow's key
    // on the side the error comes from.
    const FlowKey k = q->key.reversed();
    const bool client_side = ctx.table->is_vip(k.dst_ip);
    if (!handed_off) {
        const auto side = client_side ? FlowOwnership::Side::forward : FlowOwnership::Side::reply;
        const uint16_t owner = ownership.owner(k, side, std::nullopt);
        if (owner != index) {
            handoff(m, owner);
            return;
        }
    }
    FlowRef ref = flows.lookup(k, now_s);
    if (ref.flow == nullptr) {
        // fullnat fleet: about a flow another instance owns (ECMP brought
        // the error here, as it brings the client's frames): to the owner,
        // so path MTU discovery works for moved flows too.
        if (client_side && members != nullptr && redirected_to_owner(m, frame, k, false)) {
            return;
        }
        // About a kernel socket's datagram (a probe to a dead port).
        if (p.key.dst_ip == ctx.address_be && to_kernel(m, p)) {
            return;
        }
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

// A query to the cluster DNS address, answered in the mbuf it came in and
// turned around toward the client.
void Worker::Impl::handle_dns(rte_mbuf* m, uint8_t* frame, const pkt::Parsed& p) {
    using namespace pkt::hdr;
    uint8_t* ip = frame + p.l3_offset;
    const uint64_t l4_csum = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
    // UNKNOWN: check it ourselves; GOOD/NONE: the device vouches for it.
    if (l4_csum == RTE_MBUF_F_RX_L4_CKSUM_BAD ||
        (l4_csum == RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN && !pkt::l4_checksum_ok(ip))) {
        drop(m, DropReason::bad_l4_checksum);  // the kernel would drop it too
        return;
    }
    // The response is written from the query's first byte on, over the rest
    // of the data room; the reply carries no IP options, so its payload
    // starts kIpv4MinHeaderLen after the IP header.
    const size_t ihl = p.l4_offset - p.l3_offset;
    const size_t payload_at = p.payload_offset;
    const size_t room = std::min<size_t>(m->buf_len - m->data_off - payload_at,
                                         kMaxIpTotal - pkt::kIpv4MinHeaderLen - pkt::kUdpHeaderLen);
    uint8_t* payload = frame + payload_at;
    // Rotation of multi-address answers: this worker's own query count (a
    // plain counter it alone writes; no shared state per packet).
    const auto rotation = static_cast<uint32_t>(dns_counters[dns::Counter::queries]);
    dns::Reply r = dns::answer(zone, std::span<const uint8_t>(payload, p.payload_length),
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
    ip[kIpVersionIhlOff] = kIpVersionIhlNoOptions;
    ip[kIpTosOff] = 0;
    pkt::store_be16(ip + kIpTotalLengthOff, ip_len);
    pkt::store_be16(ip + kIpFragOff, 0);  // no fragment bits (the answer fits the room)
    ip[kIpTtlOff] = pkt::kDefaultTtl;
    pkt::store32(ip + kIpSrcOff, ctx.dns_ip_be);
    pkt::store32(ip + kIpDstOff, client_ip);
    uint8_t* udp = ip + pkt::kIpv4MinHeaderLen;
    pkt::store_be16(udp + kL4SrcPortOff, dns::kDnsPort);
    pkt::store16(udp + kL4DstPortOff, client_port);
    pkt::store_be16(udp + kUdpLengthOff, udp_len);
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

}  // namespace svcgw
