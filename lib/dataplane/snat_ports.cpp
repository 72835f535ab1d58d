#include "dataplane/snat_ports.hpp"

namespace svcgw {

namespace {

// Cursor slots per worker (16 B each, 16 KiB: L1/L2 resident); more than
// the (SNAT address, backend, target port) tuples a worker usually sees.
constexpr uint32_t kSnatCursorSlots = 1024;
// Cursor restarts step by 2^32 / golden ratio: successive starts land far
// apart in any port range (Fibonacci hashing, Knuth 6.4).
constexpr uint32_t kSnatRestartStride = 0x9e3779b9u;

}  // namespace

SnatPorts::SnatPorts(const FlowOwnership& ownership, uint16_t index, PortRange range)
    : _ownership(ownership), _index(index), _range(range), _cursors(kSnatCursorSlots) {
    const uint16_t workers = ownership.workers();
    // The first port >= range.lo with port % workers == index.
    _first = range.lo + (index + workers - range.lo % workers) % workers;
    _count = (range.hi - _first) / workers + 1;
}

uint16_t SnatPorts::next(uint32_t snat_ip_be, uint32_t backend_ip_be, uint16_t backend_port_be,
                         uint8_t proto) {
    // The reply key space (backend -> SNAT address), SNAT port left zero.
    FlowKey space;
    space.src_ip = backend_ip_be;
    space.dst_ip = snat_ip_be;
    space.src_port = backend_port_be;
    space.proto = proto;
    const uint64_t tag = flow_hash(space) | uint64_t{1} << 32;  // 0 = unused slot
    Cursor& c = _cursors[tag & (kSnatCursorSlots - 1)];
    if (c.tag != tag) {
        // A new space, or another one evicted ours: start somewhere new each
        // time. A fixed start per space made two spaces sharing a slot
        // re-probe their used ports from the same point on every switch,
        // until kSnatAttempts ran out (snat_exhausted with 64+ backends,
        // RESULTS.md).
        c.tag = tag;
        _restart += kSnatRestartStride;
        c.next = _restart;
    }
    if (const RssSteering* rss = _ownership.rss()) {
        // Reply tuple: backend -> snat:port; the next port whose RSS queue is ours.
        auto port_be = rss->toeplitz.find_port_for_queue(rss->reta, _index, backend_ip_be,
                                                         snat_ip_be, backend_port_be, _range.lo,
                                                         _range.hi, c.next % _range.size());
        const uint16_t port = port_be ? from_be16(*port_be) : _range.lo;
        c.next = port - _range.lo + 1u;
        return to_be16(port);
    }
    // Without RSS steering: ports with port % workers == index are ours.
    const uint32_t k = c.next % _count;
    c.next = k + 1;
    return to_be16(static_cast<uint16_t>(_first + k * _ownership.workers()));
}

}  // namespace svcgw
