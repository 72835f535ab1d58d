#include "flow/affinity_table.hpp"

#include <algorithm>
#include <new>

#include "flow/flow_key.hpp"

namespace svcgw {

namespace {

uint32_t affinity_hash(const AffinityKey& key) {
    // Reuse the flow hash: the 12-byte key padded to a FlowKey's 16 bytes.
    FlowKey k;
    k.src_ip = key.client_ip;
    k.dst_ip = key.vip;
    k.dst_port = key.port;
    k.proto = key.proto;
    return flow_hash(k);
}

}  // namespace

AffinityTable::AffinityTable(uint32_t max_entries) {
    _sets = std::max<uint32_t>(1, (max_entries + kWays - 1) / kWays);
    _entries.reset(static_cast<Entry*>(std::calloc(capacity(), sizeof(Entry))));
    if (!_entries) {
        throw std::bad_alloc();  // construction-time only, as the flow table
    }
}

AffinityTable::Entry* AffinityTable::set_of(const AffinityKey& key) {
    uint32_t set = static_cast<uint32_t>((uint64_t{affinity_hash(key)} * _sets) >> 32);
    return &_entries[size_t{set} * kWays];
}

std::optional<uint32_t> AffinityTable::lookup(const AffinityKey& key, uint32_t now,
                                              uint32_t timeout_s) {
    Entry* set = set_of(key);
    for (uint32_t w = 0; w < kWays; ++w) {
        Entry& e = set[w];
        if (e.timeout_s != 0 && e.key == key) {
            if (expired(e, now)) {
                e.timeout_s = 0;
                --_size;
                ++_counters.expired;
                ++_counters.misses;
                return std::nullopt;
            }
            e.last_used = now;
            e.timeout_s = std::max<uint32_t>(1, timeout_s);
            ++_counters.hits;
            return e.backend_ip;
        }
    }
    ++_counters.misses;
    return std::nullopt;
}

void AffinityTable::update(const AffinityKey& key, uint32_t backend_ip, uint32_t now,
                           uint32_t timeout_s) {
    Entry* set = set_of(key);
    Entry* slot = nullptr;
    for (uint32_t w = 0; w < kWays && slot == nullptr; ++w) {
        if (set[w].timeout_s != 0 && set[w].key == key) {
            slot = &set[w];
        }
    }
    for (uint32_t w = 0; w < kWays && slot == nullptr; ++w) {
        if (set[w].timeout_s == 0) {
            slot = &set[w];
            ++_size;
        }
    }
    if (slot == nullptr) {
        // Full set: an expired way if any, else the least recently used.
        slot = &set[0];
        for (uint32_t w = 0; w < kWays; ++w) {
            if (expired(set[w], now)) {
                slot = &set[w];
                break;
            }
            if (now - set[w].last_used > now - slot->last_used) {
                slot = &set[w];
            }
        }
        if (!expired(*slot, now)) {
            ++_counters.evicted;
        }
    }
    slot->key = key;
    slot->backend_ip = backend_ip;
    slot->last_used = now;
    slot->timeout_s = std::max<uint32_t>(1, timeout_s);
}

void AffinityTable::erase(const AffinityKey& key) {
    Entry* set = set_of(key);
    for (uint32_t w = 0; w < kWays; ++w) {
        if (set[w].timeout_s != 0 && set[w].key == key) {
            set[w].timeout_s = 0;
            --_size;
            return;
        }
    }
}

size_t AffinityTable::erase_backend(uint32_t backend_ip) {
    size_t n = 0;
    for (Entry& e : entries()) {
        if (e.timeout_s != 0 && e.backend_ip == backend_ip) {
            e.timeout_s = 0;
            ++n;
        }
    }
    _size -= n;
    return n;
}

void AffinityTable::clear() {
    for (Entry& e : entries()) {
        e.timeout_s = 0;
    }
    _size = 0;
}

}  // namespace svcgw
