// svcgw-pktgen: what the generator sends each burst (generator.hpp): the
// reactions queued by verify.cpp first, then fresh frames for the flow
// slots as the traffic mix wants them.
#include <algorithm>

#include "pktgen/generator.hpp"

namespace svcgw::pktgen {
namespace {

// A handshake slot stuck this long (a lost frame) is reopened.
constexpr double kStallS = 0.2;

}  // namespace

uint16_t Generator::fill_fresh(rte_mbuf** m, uint16_t want, bool warm) {
    uint16_t n = 0;
    uint64_t now = rte_rdtsc();
    for (uint32_t tries = 0; n < want && tries < _s.flows; ++tries) {
        uint32_t slot = _cursor;
        _cursor = _cursor + 1 == _s.flows ? 0 : _cursor + 1;
        Slot& sl = _slots[slot];
        if (warm) {
            if (sl.seen) {
                continue;
            }
            m[n] = frame(client_spec(slot, _s.tcp() ? tcp_flag::syn : 0));
        } else if (_s.mix == Mix::established || _s.mix == Mix::udp) {
            m[n] = frame(client_spec(slot, tcp_flag::ack | tcp_flag::psh));
        } else if (_s.mix == Mix::syn) {
            ++sl.generation;
            sl.backend = 0;
            ++stats.connections;
            m[n] = frame(client_spec(slot, tcp_flag::syn));
        } else {  // handshake: open idle slots, reopen stalled ones
            if (sl.state != SlotState::idle) {
                if (now - sl.since < static_cast<uint64_t>(kStallS * _hz)) {
                    continue;
                }
                ++stats.stalled;
            }
            ++sl.generation;
            sl.backend = 0;
            sl.state = SlotState::syn_sent;
            sl.since = now;
            ++stats.connections;
            m[n] = frame(client_spec(slot, tcp_flag::syn));
        }
        if (m[n] == nullptr) {
            break;
        }
        ++n;
    }
    return n;
}

void Generator::transmit(uint16_t budget, bool warm) {
    std::array<rte_mbuf*, kBurst> m;
    uint16_t n = 0;
    while (n < kBurst && !_pending.empty() && n < budget + kBurst / 2) {
        m[n++] = _pending.front();
        _pending.pop_front();
    }
    uint16_t fresh_budget = std::min<uint16_t>(budget, kBurst - n);
    n += fill_fresh(m.data() + n, fresh_budget, warm);
    if (n == 0) {
        return;
    }
    uint16_t sent = _link.send(m.data(), n);
    stats.tx += sent;
    if (sent < n) {
        rte_pktmbuf_free_bulk(m.data() + sent, n - sent);
    }
}

}  // namespace svcgw::pktgen
