#include "gateway/control_tick.hpp"

#include <arpa/inet.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <array>
#include <span>

#include "net/packet.hpp"
#include "port/neighbour.hpp"

namespace svcgw {

namespace {

// Messages per dequeue: one 768-byte array on the stack.
constexpr unsigned kDrainBatch = 64;

// A frame written by one of the data plane's tested builders
// (net/packet.hpp) into a fresh mbuf; null when the pool is empty.
template <class Build>
rte_mbuf* built_frame(rte_mempool* pool, Build&& build) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) {
        return nullptr;
    }
    const size_t len =
        build(std::span<uint8_t>(rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_tailroom(m)));
    if (len == 0) {
        rte_pktmbuf_free(m);
        return nullptr;
    }
    m->data_len = static_cast<uint16_t>(len);
    m->pkt_len = static_cast<uint32_t>(len);
    return m;
}

}  // namespace

ControlTick::ControlTick(const WorkerContext& context, NeighbourTable& neighbours,
                         std::function<void()> reclaim)
    : _ctx(context), _neighbours(neighbours), _reclaim(std::move(reclaim)) {}

void ControlTick::run(uint64_t now_ms) {
    std::array<ControlMessage, kDrainBatch> messages;
    for (rte_ring* ring : _ctx.to_control) {
        unsigned drained = 0;
        while (drained < kControlDrainBudget) {
            const unsigned n = rte_ring_dequeue_burst_elem(
                ring, messages.data(), sizeof(ControlMessage), kDrainBatch, nullptr);
            if (n == 0) {
                break;
            }
            drained += n;
            for (unsigned i = 0; i < n; ++i) {
                const Ipv4 ip{ntohl(messages[i].ip_be)};
                if (messages[i].kind == ControlMessage::learned) {
                    _neighbours.learned(ip, messages[i].mac, now_ms);
                } else {
                    _neighbours.want(ip, now_ms);
                }
            }
        }
    }
    for (Ipv4 ip : _neighbours.tick(now_ms)) {
        send(built_frame(_ctx.pool, [&](std::span<uint8_t> out) {
            return pkt::build_arp_request(out, _ctx.mac, _ctx.address_be, htonl(ip.value));
        }));
    }
    if (_reclaim) {
        _reclaim();
    }
}

void ControlTick::send(rte_mbuf* frame) {
    if (frame == nullptr) {
        return;
    }
    if (_ctx.control_tx == nullptr || rte_ring_enqueue(_ctx.control_tx, frame) != 0) {
        rte_pktmbuf_free(frame);
    }
}

void ControlTick::announce(uint32_t ip_be) {
    send(built_frame(_ctx.pool, [&](std::span<uint8_t> out) {
        return pkt::build_gratuitous_arp(out, _ctx.mac, ip_be);
    }));
}

}  // namespace svcgw
