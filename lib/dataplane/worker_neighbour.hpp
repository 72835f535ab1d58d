// Worker side of neighbour resolution (DESIGN §1): the small per-worker
// queue of packets held while a next hop is being resolved, over the
// read-only neighbour view (net/neighbour_view.hpp) the control thread
// publishes. Pure C++, no EAL.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "net/neighbour_view.hpp"

namespace svcgw {

// Packets waiting for a next hop's MAC. Bounded (a burst toward an
// unresolvable address must not eat the mempool) and timed (a next hop that
// never answers releases its packets as drops).
template <class Packet, size_t Capacity>
class HoldQueue {
public:
    enum class Hold { first_for_hop, queued, full };

    // `first_for_hop` tells the caller to ask the control thread to resolve:
    // for the hop's first held packet, and again once the last ask is
    // `ask_again` old. The control thread gives up on an address after one
    // round of ARP requests; under steady traffic the queue is never empty
    // for the hop, and without a new ask nothing would ARP for it again.
    Hold hold(Packet packet, uint32_t next_hop_be, uint64_t now, uint64_t deadline,
              uint64_t ask_again) {
        if (_count == Capacity) {
            return Hold::full;
        }
        uint64_t asked = 0;
        bool pending = false;
        for (size_t i = 0; i < _count; ++i) {
            if (_items[i].next_hop_be == next_hop_be && _items[i].asked >= asked) {
                asked = _items[i].asked;
                pending = true;
            }
        }
        const bool ask = !pending || now - asked >= ask_again;
        _items[_count++] = Item{packet, next_hop_be, deadline, ask ? now : asked};
        return ask ? Hold::first_for_hop : Hold::queued;
    }

    // Sends what now resolves, drops what timed out, keeps the rest in order.
    template <class Resolve, class Send, class Drop>
    void service(uint64_t now, Resolve&& resolve, Send&& send, Drop&& drop) {
        size_t kept = 0;
        for (size_t i = 0; i < _count; ++i) {
            Item item = _items[i];
            if (const MacAddr* mac = resolve(item.next_hop_be)) {
                send(item.packet, *mac);
            } else if (now >= item.deadline) {
                drop(item.packet);
            } else {
                _items[kept++] = item;
            }
        }
        _count = kept;
    }

    template <class Drop>
    void clear(Drop&& drop) {
        for (size_t i = 0; i < _count; ++i) {
            drop(_items[i].packet);
        }
        _count = 0;
    }

    size_t size() const { return _count; }
    bool empty() const { return _count == 0; }
    static constexpr size_t capacity() { return Capacity; }

private:
    struct Item {
        Packet packet;
        uint32_t next_hop_be;
        uint64_t deadline;
        uint64_t asked;  // when the hop's resolution was last asked for
    };
    std::array<Item, Capacity> _items{};
    size_t _count = 0;
};

}  // namespace svcgw
