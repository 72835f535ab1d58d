// The neighbour view (DESIGN §1): the IPv4 -> MAC map the control thread
// publishes and the workers read to address frames to a next hop. Pure C++,
// no EAL.
//
// Threading: a NeighbourView is immutable once published. The control thread
// (port/neighbour.hpp) builds a new one per change, publishes it with one
// release store and frees the old one only after every worker reported
// quiescent (rte_rcu_qsbr). A worker loads the pointer with acquire once per
// burst and does not keep it across its quiescent report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "net/mac_addr.hpp"

namespace svcgw {

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

}  // namespace svcgw
