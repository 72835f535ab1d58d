#include "flow/affinity_table.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>

#include "net/flow_key.hpp"

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

uint32_t load(const uint32_t& word, std::memory_order order = std::memory_order_relaxed) {
    return std::atomic_ref<const uint32_t>(word).load(order);
}
void store(uint32_t& word, uint32_t value, std::memory_order order = std::memory_order_relaxed) {
    std::atomic_ref<uint32_t>(word).store(value, order);
}

}  // namespace

AffinityTable::View AffinityTable::read(const Entry& e) {
    View v;
    const uint32_t words[3] = {load(e.key[0]), load(e.key[1]), load(e.key[2])};
    std::memcpy(&v.key, words, sizeof words);
    v.backend_ip = load(e.backend_ip);
    v.last_used = load(e.last_used);
    v.timeout_s = load(e.timeout_s);
    return v;
}

bool AffinityTable::read_consistent(const Entry& e, View& out) {
    // Acquire: pairs with write()'s release store of the even version, so
    // the fields read below are at least that new.
    const uint32_t before = load(e.version, std::memory_order_acquire);
    if ((before & 1) != 0) {
        return false;
    }
    out = read(e);
    // Acquire fence: the field loads above complete before the re-check.
    std::atomic_thread_fence(std::memory_order_acquire);
    return load(e.version) == before;
}

void AffinityTable::write(Entry& e, const View& v) {
    const uint32_t version = load(e.version);
    store(e.version, version + 1);
    // Release fence: a reader that sees any field below also sees the odd
    // version (pairs with read_consistent's acquire fence).
    std::atomic_thread_fence(std::memory_order_release);
    uint32_t words[3];
    std::memcpy(words, &v.key, sizeof words);
    for (int i = 0; i < 3; ++i) {
        store(e.key[i], words[i]);
    }
    store(e.backend_ip, v.backend_ip);
    store(e.last_used, v.last_used);
    store(e.timeout_s, v.timeout_s);
    // Release: pairs with read_consistent's acquire load of the version.
    store(e.version, version + 2, std::memory_order_release);
}

uint32_t AffinityTable::sets_for(uint32_t max_entries) {
    return std::max<uint32_t>(1, (max_entries + kWays - 1) / kWays);
}

size_t AffinityTable::memory_bytes_for(uint32_t max_entries) {
    return size_t{sets_for(max_entries)} * kWays * sizeof(Entry);
}

AffinityTable::AffinityTable(uint32_t max_entries, TableMemory& memory)
    : _sets(sets_for(max_entries)),
      _memory(memory),
      _entries(static_cast<Entry*>(_memory.allocate(memory_bytes_for(max_entries)))) {}

AffinityTable::~AffinityTable() {
    _memory.release(_entries, capacity() * sizeof(Entry));
}

AffinityTable::Entry* AffinityTable::set_of(const AffinityKey& key) const {
    uint32_t set = static_cast<uint32_t>((uint64_t{affinity_hash(key)} * _sets) >> 32);
    return &_entries[size_t{set} * kWays];
}

std::optional<uint32_t> AffinityTable::lookup(const AffinityKey& key, uint32_t now,
                                              uint32_t timeout_s) {
    Entry* set = set_of(key);
    for (uint32_t w = 0; w < kWays; ++w) {
        View e = read(set[w]);
        if (e.timeout_s != 0 && e.key == key) {
            if (expired(e, now)) {
                e.timeout_s = 0;
                write(set[w], e);
                --_size;
                ++_counters.expired;
                ++_counters.misses;
                return std::nullopt;
            }
            e.last_used = now;
            e.timeout_s = std::max<uint32_t>(1, timeout_s);
            write(set[w], e);
            ++_counters.hits;
            return e.backend_ip;
        }
    }
    ++_counters.misses;
    return std::nullopt;
}

std::optional<AffinityTable::Peeked> AffinityTable::peek(const AffinityKey& key,
                                                         uint32_t now) const {
    const Entry* set = set_of(key);
    for (uint32_t w = 0; w < kWays; ++w) {
        View e;
        // A torn entry is being rewritten right now: treated as absent.
        if (read_consistent(set[w], e) && e.timeout_s != 0 && e.key == key && !expired(e, now)) {
            return Peeked{e.backend_ip, e.last_used};
        }
    }
    return std::nullopt;
}

void AffinityTable::update(const AffinityKey& key, uint32_t backend_ip, uint32_t now,
                           uint32_t timeout_s) {
    Entry* set = set_of(key);
    Entry* slot = nullptr;
    for (uint32_t w = 0; w < kWays && slot == nullptr; ++w) {
        const View e = read(set[w]);
        if (e.timeout_s != 0 && e.key == key) {
            slot = &set[w];
        }
    }
    for (uint32_t w = 0; w < kWays && slot == nullptr; ++w) {
        if (read(set[w]).timeout_s == 0) {
            slot = &set[w];
            ++_size;
        }
    }
    if (slot == nullptr) {
        // Full set: an expired way if any, else the least recently used.
        slot = &set[0];
        for (uint32_t w = 0; w < kWays; ++w) {
            const View e = read(set[w]);
            if (expired(e, now)) {
                slot = &set[w];
                break;
            }
            if (now - e.last_used > now - read(*slot).last_used) {
                slot = &set[w];
            }
        }
        if (!expired(read(*slot), now)) {
            ++_counters.evicted;
        }
    }
    write(*slot, View{key, backend_ip, now, std::max<uint32_t>(1, timeout_s)});
}

void AffinityTable::erase(const AffinityKey& key) {
    Entry* set = set_of(key);
    for (uint32_t w = 0; w < kWays; ++w) {
        View e = read(set[w]);
        if (e.timeout_s != 0 && e.key == key) {
            e.timeout_s = 0;
            write(set[w], e);
            --_size;
            return;
        }
    }
}

size_t AffinityTable::erase_backend(uint32_t backend_ip) {
    size_t n = 0;
    for (Entry& entry : entries()) {
        View e = read(entry);
        if (e.timeout_s != 0 && e.backend_ip == backend_ip) {
            e.timeout_s = 0;
            write(entry, e);
            ++n;
        }
    }
    _size -= n;
    return n;
}

void AffinityTable::clear() {
    for (Entry& entry : entries()) {
        View e = read(entry);
        if (e.timeout_s != 0) {
            e.timeout_s = 0;
            write(entry, e);
        }
    }
    _size = 0;
}

AffinitySet::AffinitySet(uint16_t workers, uint32_t entries_per_worker,
                         std::span<TableMemory* const> memory) {
    for (uint16_t w = 0; w < std::max<uint16_t>(workers, 1); ++w) {
        TableMemory& m = w < memory.size() ? *memory[w] : process_table_memory();
        _tables.push_back(std::make_unique<AffinityTable>(entries_per_worker, m));
    }
}

std::optional<uint32_t> AffinitySet::lookup(uint16_t self, const AffinityKey& key, uint32_t now,
                                            uint32_t timeout_s) {
    AffinityTable& own = *_tables[self];
    if (_tables.size() == 1) {
        return own.lookup(key, now, timeout_s);
    }
    std::optional<AffinityTable::Peeked> best;
    for (const auto& t : _tables) {
        const auto p = t->peek(key, now);
        // Freshest wins: after a backend was replaced on one worker, its
        // newer entry overrides the older ones elsewhere.
        if (p && (!best || now - p->last_used < now - best->last_used)) {
            best = p;
        }
    }
    if (!best) {
        own.lookup(key, now, timeout_s);  // counts the miss, clears an expired entry
        return std::nullopt;
    }
    own.update(key, best->backend_ip, now, timeout_s);
    return best->backend_ip;
}

}  // namespace svcgw
