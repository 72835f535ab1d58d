// The workers' side of the exception path (DESIGN §6): frames
// for the host that the worker does not answer itself go to the kernel
// through two SPSC rings per worker, drained by the control thread into the
// port's TAP (port/exception_path.hpp).
//
// Two classes, each with its own ring and its own token bucket, so a flood
// of ordinary host traffic cannot take the place of the routing protocols
// (dpvs#665: BGP flapped under load until its frames had their own queue):
//  - control: ARP, BGP (tcp/179, RFC 4271 §8), single-hop BFD (udp/3784,
//    RFC 5881 §4), BFD echo (udp/3785) and multihop BFD (udp/4784, RFC 5883);
//  - other:   everything else for the host.
// The control thread drains the control rings first.
//
// Each worker polices its own share of the configured rates (rate /
// workers): no shared state between workers.
//
// Threading: one Punt per worker, used by that worker only.
#pragma once

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <cstdint>

#include "common/byte_order.hpp"
#include "net/packet.hpp"

namespace svcgw {

enum class PuntClass : uint8_t { control, other };

// Well-known ports of the control protocols (network order compare).
constexpr uint16_t kBgpPort = 179;           // RFC 4271 §8
constexpr uint16_t kBfdControlPort = 3784;   // RFC 5881 §4
constexpr uint16_t kBfdEchoPort = 3785;      // RFC 5881 §4
constexpr uint16_t kBfdMultihopPort = 4784;  // RFC 5883 §5

inline PuntClass punt_class(const pkt::Parsed& p) {
    if (p.l3 == pkt::L3::arp) {
        return PuntClass::control;
    }
    const uint16_t src = from_be16(p.key.src_port), dst = from_be16(p.key.dst_port);
    if (p.key.proto == pkt::kProtoTcp && (src == kBgpPort || dst == kBgpPort)) {
        return PuntClass::control;
    }
    if (p.key.proto == pkt::kProtoUdp && (dst == kBfdControlPort || dst == kBfdMultihopPort ||
                                          dst == kBfdEchoPort || src == kBfdEchoPort)) {
        return PuntClass::control;
    }
    return PuntClass::other;
}

// Token bucket in TSC cycles: a frame costs tsc_hz / rate cycles of credit;
// credit grows with time up to `burst` frames' worth. Pure integer state,
// no clock of its own (the caller passes the TSC it already read).
class TokenBucket {
public:
    TokenBucket() = default;
    TokenBucket(uint64_t rate_per_s, uint64_t burst, uint64_t tsc_hz)
        : _cost(rate_per_s == 0 ? 0 : std::max<uint64_t>(tsc_hz / rate_per_s, 1)),
          _capacity(_cost * std::max<uint64_t>(burst, 1)),
          _credit(_capacity) {}

    bool take(uint64_t now_tsc) {
        if (_cost == 0) {
            return false;  // rate 0: nothing passes
        }
        if (now_tsc > _last) {
            _credit = std::min(_capacity, _credit + (now_tsc - _last));
            _last = now_tsc;
        }
        if (_credit < _cost) {
            return false;
        }
        _credit -= _cost;
        return true;
    }

private:
    uint64_t _cost = 0;
    uint64_t _capacity = 0;
    uint64_t _credit = 0;
    uint64_t _last = 0;
};

// What became of a frame offered to the kernel.
enum class PuntResult : uint8_t { sent, policed, ring_full, disabled };

class Punt {
public:
    Punt() = default;
    // Rings null = no exception path (every offer answers `disabled`).
    Punt(rte_ring* control, rte_ring* other, uint64_t control_pps, uint64_t other_pps,
         uint64_t burst, uint64_t tsc_hz)
        : _rings{control, other},
          _buckets{TokenBucket(control_pps, burst, tsc_hz), TokenBucket(other_pps, burst, tsc_hz)} {
    }

    bool enabled() const { return _rings[0] != nullptr; }

    // On `sent` the frame belongs to the kernel side; otherwise the caller
    // still owns it (frees it and counts the result).
    PuntResult offer(rte_mbuf* m, PuntClass c, uint64_t now_tsc) {
        const auto i = static_cast<size_t>(c);
        if (_rings[i] == nullptr) {
            return PuntResult::disabled;
        }
        if (!_buckets[i].take(now_tsc)) {
            return PuntResult::policed;
        }
        if (rte_ring_sp_enqueue(_rings[i], m) != 0) {
            return PuntResult::ring_full;
        }
        return PuntResult::sent;
    }

private:
    rte_ring* _rings[2] = {nullptr, nullptr};
    TokenBucket _buckets[2];
};

}  // namespace svcgw
