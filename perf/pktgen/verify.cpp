// svcgw-pktgen: every frame that comes back is checked against the traffic
// model (traffic.hpp: VerifyError) and may call for a reaction: an ARP
// answer, or the backend's and the client's side of a handshake.
#include <cstring>

#include "pktgen/generator.hpp"

namespace svcgw::pktgen {
namespace {

// Data segments per handshake connection.
constexpr uint32_t kDataPerConnection = 4;

}  // namespace

void Generator::receive(bool measuring) {
    std::array<rte_mbuf*, kBurst> m;
    uint16_t n = _link.recv(m.data(), kBurst);
    for (uint16_t i = 0; i < n; ++i) {
        on_frame(rte_pktmbuf_mtod(m[i], const uint8_t*), m[i]->data_len, measuring);
    }
    if (n != 0) {
        rte_pktmbuf_free_bulk(m.data(), n);
    }
}

void Generator::on_frame(const uint8_t* f, uint16_t len, bool measuring) {
    pkt::Parsed p = pkt::parse(f, len, true);
    if (p.l3 == pkt::L3::arp && p.verdict == pkt::Verdict::ok) {
        MacAddr asker;
        std::memcpy(asker.data(), f + p.l3_offset + pkt::hdr::kArpSenderMacOff, asker.size());
        if (p.arp_op == pkt::kArpOpRequest) {
            answer_arp(p.key.dst_ip, asker, p.key.src_ip);
        } else if (be32(p.key.src_ip) == kGatewayIp) {
            if (auto* memif = dynamic_cast<MemifLink*>(&_link)) {
                memif->set_peer_mac(asker);
            }
        }
        return;
    }
    ++stats.rx;
    if (p.verdict == pkt::Verdict::bad_ip_checksum) {
        stats.error(VerifyError::bad_checksum);
        return;
    }
    if (p.verdict != pkt::Verdict::ok || p.l3 != pkt::L3::ipv4 ||
        (p.key.proto != pkt::kProtoTcp && p.key.proto != pkt::kProtoUdp)) {
        stats.error(VerifyError::malformed);
        return;
    }
    if (!pkt::l4_checksum_ok(f + p.l3_offset)) {
        stats.error(VerifyError::bad_checksum);
        return;
    }
    Tag t = read_tag(f, p);
    if (t.magic == 0) {
        stats.error(VerifyError::no_tag);
        return;
    }
    if (t.flow >= _s.flows) {
        stats.error(VerifyError::unknown_flow);
        return;
    }
    if (measuring) {
        uint64_t now = rte_rdtsc();
        stats.latency.add((now - t.tsc) * 1'000'000'000 / _hz);
    }
    _slots[t.flow].seen = true;
    if (_o.peer == Peer::macswap) {
        return;  // testpmd swaps MACs only: tag, checksums and latency are all there is
    }
    uint32_t dst = be32(p.key.dst_ip);
    if (_s.is_backend(dst)) {
        ++stats.rx_forward;
        on_forward(f, p, t, measuring);
    } else if (_s.is_client(dst)) {
        ++stats.rx_reply;
        on_reply(f, p, t);
    } else {
        stats.error(VerifyError::unexpected);
    }
}

void Generator::answer_arp(uint32_t target_be, const MacAddr& asker_mac, uint32_t asker_be) {
    uint32_t target = be32(target_be);
    if (!_s.is_backend(target) && !_s.is_client(target)) {
        return;
    }
    rte_mbuf* m = alloc_frame(pkt::kEthMinFrameLen, [&](std::span<uint8_t> out) {
        return pkt::build_arp_reply(out, mac_of(target), target_be, asker_mac, asker_be);
    });
    if (m == nullptr) {
        return;
    }
    ++stats.arp_answered;
    queue(m);
}

void Generator::on_forward(const uint8_t* f, const pkt::Parsed& p, const Tag& t, bool measuring) {
    Slot& sl = _slots[t.flow];
    uint32_t service = service_of_slot(_s, t.flow);
    uint32_t backend = be32(p.key.dst_ip);
    MacAddr dst_mac, src_mac;
    std::memcpy(dst_mac.data(), f + pkt::hdr::kEthDstOff, pkt::kMacLen);
    std::memcpy(src_mac.data(), f + pkt::hdr::kEthSrcOff, pkt::kMacLen);
    if (dst_mac != mac_of(backend) || src_mac != _link.peer_mac()) {
        stats.error(VerifyError::bad_l2);
    }
    if (p.ttl != kTtl - 1) {
        stats.error(VerifyError::bad_ttl);
    }
    if (_s.service_of_backend(backend) != service) {
        stats.error(VerifyError::wrong_backend);
        return;
    }
    if (be16(p.key.dst_port) != kTargetPort) {
        stats.error(VerifyError::wrong_port);
    }
    Endpoints e = endpoints_of(_s, t.flow, t.generation);
    if (_s.fullnat ? be32(p.key.src_ip) != _s.snat_ip
                   : (be32(p.key.src_ip) != e.client_ip || be16(p.key.src_port) != e.client_port)) {
        stats.error(VerifyError::bad_source);
    }
    uint32_t b_index = backend - _s.backend_ip(service, 0);
    if (ring != nullptr && t.tsc > _settled_tsc && b_index >= _alive_backends) {
        // Sent after the last change, which the in-process worker applied
        // before reading it: a removed backend must get nothing.
        stats.error(VerifyError::dead_backend);
    }
    if (t.generation == sl.generation && sl.backend != 0 && sl.backend != backend) {
        uint32_t old_index = sl.backend - _s.backend_ip(service, 0);
        if (old_index < _alive_backends) {
            ++stats.moved_alive;
            stats.error(VerifyError::backend_changed);
        } else {
            ++stats.moved_dead;  // its backend was removed: re-balanced, as it must be
        }
    }
    if (t.generation == sl.generation && sl.backend != backend) {
        if (sl.backend == 0) {
            ++_backend_conns[size_t{service} * _s.backends + b_index];
            if (_changed && !_rings[0].empty() && measuring && t.tsc > _settled_tsc) {
                // New connection after the change: where would the ring
                // before it have sent it?
                FlowKey k;
                k.src_ip = be32(e.client_ip);
                k.dst_ip = be32(_s.vip_ip(service));
                k.src_port = be16(e.client_port);
                k.dst_port = be16(kVipPort);
                k.proto = _s.tcp() ? pkt::kProtoTcp : pkt::kProtoUdp;
                const Service& old = *_rings[_reduced ? 0 : 1][service];
                uint32_t before = old.backends()[old.ring().pick(flow_hash(k))].ip_be;
                ++stats.new_after_change;
                stats.remapped += before != be32(backend);
            }
        }
        sl.backend = backend;
    }
    // Backend side of a handshake connection.
    if (_s.mix == Mix::handshake && t.generation == sl.generation) {
        uint8_t flags = p.tcp_flags;
        uint8_t answer = 0;
        if ((flags & tcp_flag::syn) != 0 && (flags & tcp_flag::ack) == 0) {
            answer = tcp_flag::syn | tcp_flag::ack;
        } else if ((flags & tcp_flag::fin) != 0) {
            answer = tcp_flag::fin | tcp_flag::ack;
        }
        if (answer != 0) {
            FrameSpec r;
            r.src_mac = mac_of(backend);
            r.dst_mac = _link.peer_mac();
            r.src_ip = backend;
            r.dst_ip = be32(p.key.src_ip);
            r.src_port = be16(p.key.dst_port);
            r.dst_port = be16(p.key.src_port);
            r.tcp_flags = answer;
            r.frame_size = _s.frame_size;
            r.tag = Tag{kTagMagic, t.generation, t.flow, rte_rdtsc()};
            queue(frame(r));
        }
    }
}

void Generator::on_reply(const uint8_t* f, const pkt::Parsed& p, const Tag& t) {
    Slot& sl = _slots[t.flow];
    uint32_t service = service_of_slot(_s, t.flow);
    Endpoints e = endpoints_of(_s, t.flow, t.generation);
    MacAddr dst_mac;
    std::memcpy(dst_mac.data(), f + pkt::hdr::kEthDstOff, pkt::kMacLen);
    if (be32(p.key.src_ip) != _s.vip_ip(service) || be16(p.key.src_port) != kVipPort ||
        be32(p.key.dst_ip) != e.client_ip || be16(p.key.dst_port) != e.client_port) {
        stats.error(VerifyError::bad_reply);
        return;
    }
    if (dst_mac != mac_of(e.client_ip)) {
        stats.error(VerifyError::bad_l2);
    }
    if (p.ttl != kTtl - 1) {
        stats.error(VerifyError::bad_ttl);
    }
    if (_s.mix != Mix::handshake || t.generation != sl.generation) {
        return;
    }
    uint64_t now = rte_rdtsc();
    if ((p.tcp_flags & (tcp_flag::syn | tcp_flag::ack)) == (tcp_flag::syn | tcp_flag::ack)) {
        queue(frame(client_spec(t.flow, tcp_flag::ack)));
        for (uint32_t d = 0; d < kDataPerConnection; ++d) {
            queue(frame(client_spec(t.flow, tcp_flag::ack | tcp_flag::psh)));
        }
        queue(frame(client_spec(t.flow, tcp_flag::fin | tcp_flag::ack)));
        sl.state = SlotState::data_sent;
        sl.since = now;
    } else if ((p.tcp_flags & tcp_flag::fin) != 0) {
        queue(frame(client_spec(t.flow, tcp_flag::ack)));
        sl.state = SlotState::idle;
        sl.since = now;
    }
}

}  // namespace svcgw::pktgen
