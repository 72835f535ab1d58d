// svcgw-pktgen's generator: a slot per concurrent flow, the frames sent for
// each slot's connection (send.cpp), the check of every frame that comes
// back and the reactions it calls for (verify.cpp), the paced run loop and
// the changes made during it (run_loop.cpp), and the summary (report.cpp).
//
// Threading: one thread; the ring link's worker is stepped from loop().
#pragma once

#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "pktgen/link.hpp"
#include "pktgen/options.hpp"
#include "pktgen/traffic.hpp"

namespace svcgw::pktgen {

constexpr uint16_t kBurst = 32;

enum class SlotState : uint8_t { idle, syn_sent, data_sent };

struct Slot {
    uint32_t backend = 0;  // host order; 0 = not seen in this generation
    uint16_t generation = 0;
    SlotState state = SlotState::idle;
    uint64_t since = 0;  // tsc of the last state change
    bool seen = false;   // any output seen for this slot (warm-up)
};

struct Stats {
    uint64_t tx = 0, rx = 0, rx_forward = 0, rx_reply = 0, arp_answered = 0;
    uint64_t connections = 0, stalled = 0;
    std::array<uint64_t, static_cast<size_t>(VerifyError::count)> errors{};
    uint64_t moved_alive = 0, moved_dead = 0;     // existing flows after a change
    uint64_t new_after_change = 0, remapped = 0;  // new flows vs the ring before the change
    uint64_t changes = 0, change_cycles = 0;      // changes made, their cost (generator side)
    uint64_t reopened = 0;                        // connections opened by the changes
    LatencyHistogram latency;
    void error(VerifyError e) { ++errors[static_cast<size_t>(e)]; }
    uint64_t error_total() const {
        uint64_t t = 0;
        for (uint64_t e : errors) {
            t += e;
        }
        return t;
    }
};

class Generator {
public:
    Generator(const Options& o, Link& link, rte_mempool* pool)
        : _o(o),
          _s(o.shape),
          _link(link),
          _pool(pool),
          _slots(o.shape.flows),
          _backend_conns(size_t{o.shape.vips} * o.shape.backends, 0) {
        _hz = rte_get_tsc_hz();
        _alive_backends = _s.backends;
    }

    bool warmup();
    // memif: ARP for svcgw's address (its MAC is what clients send to and
    // what its frames come from); testpmd never answers: broadcast stays.
    void resolve_peer(MemifLink& memif);
    void measure();
    void report(double seconds_measured, uint64_t worker_cycles);
    // After warmup(): flows that never got a frame back.
    uint64_t unanswered() const { return _unseen; }
    // The rings of the two service sets a change switches between: all
    // backends, and all but the last --remove (what the old ring would
    // have picked for a new flow).
    void set_rings(std::vector<std::unique_ptr<const Service>> full,
                   std::vector<std::unique_ptr<const Service>> reduced) {
        _rings[0] = std::move(full);
        _rings[1] = std::move(reduced);
    }

    Stats stats;
    RingLink* ring = nullptr;  // set on the ring link (ARP, disruption)

private:
    // A frame from the pool, written by build(span) -> its length; null
    // when the pool is empty.
    template <class Build>
    rte_mbuf* alloc_frame(size_t room, Build&& build) {
        rte_mbuf* m = rte_pktmbuf_alloc(_pool);
        if (m == nullptr) {
            return nullptr;
        }
        size_t len = build(std::span<uint8_t>(rte_pktmbuf_mtod(m, uint8_t*), room));
        m->data_len = static_cast<uint16_t>(len);
        m->pkt_len = static_cast<uint32_t>(len);
        return m;
    }
    rte_mbuf* frame(const FrameSpec& spec) {
        return alloc_frame(kMaxFrame,
                           [&](std::span<uint8_t> out) { return build_frame(out.data(), spec); });
    }
    FrameSpec client_spec(uint32_t slot, uint8_t flags) {
        Endpoints e = endpoints_of(_s, slot, _slots[slot].generation);
        FrameSpec f;
        f.src_mac = mac_of(e.client_ip);
        f.dst_mac = _link.peer_mac();
        f.src_ip = e.client_ip;
        f.dst_ip = _s.vip_ip(e.service);
        f.src_port = e.client_port;
        f.dst_port = kVipPort;
        f.tcp = _s.tcp();
        f.tcp_flags = flags;
        f.frame_size = _s.frame_size;
        f.tag = Tag{kTagMagic, _slots[slot].generation, slot, rte_rdtsc()};
        return f;
    }
    void queue(rte_mbuf* m) {
        if (m != nullptr) {
            _pending.push_back(m);
        }
    }
    // send.cpp
    uint16_t fill_fresh(rte_mbuf** m, uint16_t want, bool warm);
    void transmit(uint16_t budget, bool warm);
    // verify.cpp
    void receive(bool measuring);
    void on_frame(const uint8_t* f, uint16_t len, bool measuring);
    void answer_arp(uint32_t target_be, const MacAddr& asker_mac, uint32_t asker_be);
    void on_forward(const uint8_t* f, const pkt::Parsed& p, const Tag& t, bool measuring);
    void on_reply(const uint8_t* f, const pkt::Parsed& p, const Tag& t);
    // run_loop.cpp
    bool apply_change(uint64_t now);
    void open_new_connections();
    void loop(double seconds, bool warm);

    const Options& _o;
    Shape _s;
    Link& _link;
    rte_mempool* _pool;
    std::vector<Slot> _slots;
    std::vector<uint64_t> _backend_conns;
    std::deque<rte_mbuf*> _pending;  // reactions (ARP, handshake), sent first
    uint32_t _cursor = 0;
    uint64_t _hz = 0;
    uint64_t _unseen = 0;
    uint32_t _alive_backends = 0;  // per service: the first N are alive
    bool _changed = false;
    bool _reduced = false;                      // the last --remove backends are out
    uint64_t _settled_tsc = UINT64_MAX;         // frames sent after this meet the new ring
    uint64_t _new_connections_at = UINT64_MAX;  // tsc: odd slots open new connections
    uint32_t _reopen_cursor = 0;                // next odd slot (index / 2) to reopen
    std::array<std::vector<std::unique_ptr<const Service>>, 2> _rings;  // full, reduced
};

// report.cpp: each in-process worker's counters and the EAL heap.
void report_gateway(InprocGateway& gw);

}  // namespace svcgw::pktgen
