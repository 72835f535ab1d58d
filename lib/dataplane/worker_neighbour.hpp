// Worker side of neighbour resolution (DESIGN §1): the read-only neighbour
// view published by the control thread, and the small per-worker queue of
// packets held while a next hop is being resolved. Pure C++, no EAL.
//
// Threading: a NeighbourView is immutable once published. The control thread
// (port/neighbour.hpp) builds a new one per change, publishes it with one
// release store and frees the old one only after every worker reported
// quiescent (rte_rcu_qsbr). A worker loads the pointer with acquire once per
// burst and does not keep it across its quiescent report.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>
#include <vector>

namespace svcgw {

using MacAddr = std::array<uint8_t, 6>;

class NeighbourView {
public:
    struct Entry {
        uint32_t ip_be;  // 0 = empty slot (0.0.0.0 is never a neighbour)
        MacAddr mac;
        uint16_t pad;
    };

    NeighbourView() : NeighbourView(std::span<const std::pair<uint32_t, MacAddr>>{}) {}
    // Open addressing at load factor <= 1/2 so a miss ends after a probe or two.
    explicit NeighbourView(std::span<const std::pair<uint32_t, MacAddr>> entries) {
        size_t capacity = 8;
        while (capacity < entries.size() * 2) {
            capacity *= 2;
        }
        _slots.assign(capacity, Entry{0, {}, 0});
        _mask = capacity - 1;
        for (const auto& [ip_be, mac] : entries) {
            size_t i = slot_of(ip_be);
            while (_slots[i].ip_be != 0 && _slots[i].ip_be != ip_be) {
                i = (i + 1) & _mask;
            }
            _slots[i] = Entry{ip_be, mac, 0};
        }
        _size = entries.size();
    }

    const MacAddr* find(uint32_t ip_be) const {
        for (size_t i = slot_of(ip_be);; i = (i + 1) & _mask) {
            const Entry& e = _slots[i];
            if (e.ip_be == ip_be) {
                return &e.mac;
            }
            if (e.ip_be == 0) {
                return nullptr;
            }
        }
    }
    size_t size() const { return _size; }

private:
    size_t slot_of(uint32_t ip_be) const {
        // Fibonacci hashing: host bits of neighbours differ in the low bits.
        return (uint64_t{ip_be} * 0x9e3779b97f4a7c15ULL >> 32) & _mask;
    }

    std::vector<Entry> _slots;
    size_t _mask = 0;
    size_t _size = 0;
};

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
