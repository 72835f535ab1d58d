// Which worker owns a flow (DESIGN §1: both directions of a flow meet on
// one worker). The one rule, used by the burst path for every TCP/UDP
// frame and by the ICMP error path for the flow a quoted datagram belongs
// to:
//  - forward (client -> VIP): without RSS steering, hash(client ip, client
//    port) % workers; with it, the queue the NIC's RSS gives the client's
//    4-tuple (a frame the NIC delivered is already there).
//  - reply, nat: hash(client ip, client port) % workers, from the reply's
//    destination (the client).
//  - reply, fullnat: the SNAT port was chosen for the owner (snat_ports.hpp):
//    without RSS steering, port % workers; with it, the queue the NIC's RSS
//    gives the reply's 4-tuple (backend -> SNAT address:port).
// Pure C++, no EAL; one instance per worker, read-only after set-up.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/byte_order.hpp"
#include "dataplane/worker_context.hpp"
#include "net/flow_key.hpp"
#include "net/packet.hpp"

namespace svcgw {

// The NIC's RSS as software sees it: the Toeplitz key port.cpp programs and
// the redirection table (queue = reta[hash & (size - 1)]).
struct RssSteering {
    pkt::Toeplitz toeplitz{pkt::kRssDefaultKey};
    std::vector<uint16_t> reta;

    uint16_t queue_of(uint32_t src_ip_be, uint32_t dst_ip_be, uint16_t src_port_be,
                      uint16_t dst_port_be) const {
        const uint32_t h = toeplitz.hash_ipv4_l4(src_ip_be, dst_ip_be, src_port_be, dst_port_be);
        return reta[h & (reta.size() - 1)];
    }
};

class FlowOwnership {
public:
    enum class Side : uint8_t { forward, reply };

    FlowOwnership(NatMode mode, uint16_t workers) : _mode(mode), _workers(workers) {}

    // fullnat on a device with RSS: ownership follows the NIC's queues.
    void steer_by_rss(std::span<const uint16_t> reta) {
        _rss.emplace();
        _rss->reta.assign(reta.begin(), reta.end());
    }
    const RssSteering* rss() const { return _rss ? &*_rss : nullptr; }

    // The owner of the flow that `key` (as it arrives at the gateway) belongs
    // to. `delivered_on` = the queue the NIC delivered the frame with this
    // very key to, or nullopt for a key not from a frame's own header (a
    // quoted datagram, a frame from the control thread).
    uint16_t owner(const FlowKey& key, Side side, std::optional<uint16_t> delivered_on) const {
        if (_workers == 1) {
            return 0;
        }
        if (side == Side::forward) {
            if (!_rss) {
                return by_client(key.src_ip, key.src_port);
            }
            return delivered_on
                       ? *delivered_on
                       : _rss->queue_of(key.src_ip, key.dst_ip, key.src_port, key.dst_port);
        }
        if (_mode == NatMode::nat) {
            return by_client(key.dst_ip, key.dst_port);
        }
        if (!_rss) {
            return static_cast<uint16_t>(from_be16(key.dst_port) % _workers);
        }
        return delivered_on ? *delivered_on
                            : _rss->queue_of(key.src_ip, key.dst_ip, key.src_port, key.dst_port);
    }

    uint16_t workers() const { return _workers; }

private:
    uint16_t by_client(uint32_t ip_be, uint16_t port_be) const {
        return owner_of(ip_be, port_be, _workers);  // the specified hash (flow_key.hpp)
    }

    NatMode _mode;
    uint16_t _workers;
    std::optional<RssSteering> _rss;
};

}  // namespace svcgw
