// Session affinity (Kubernetes sessionAffinity: ClientIP): the backend a
// client was last sent to, per service port, so that its new connections go
// to the same backend until the affinity times out. Pure C++, no EAL.
//
// Threading: one AffinityTable per worker, written by that worker only. The
// other workers of its AffinitySet read it (peek()) when a client's new
// connection reaches them: a client's connections are spread over workers by
// their ports, and each must find the backend the client was last given,
// whichever worker gave it (after a ring change the ring alone would send
// it elsewhere). Each entry is a seqlock: the writer makes its version odd,
// writes, makes it even; a reader retries or skips a torn entry. Plain
// stores and loads (relaxed atomics), no read-modify-write.
//
// Structure: a set-associative cache of 8-way sets (fixed capacity, no
// allocation after construction). A key lives only in its set; when the set
// is full the least recently used way is replaced (LRU within the set), which
// bounds memory without any list maintenance. Only new connections consult
// it, so it is off the established-flow path.
//
// The timeout is per service (session_affinity_timeout_s) and is passed on
// each call; an entry remembers its own expiry. The worker still checks that
// the returned backend exists and is eligible (Service::find_backend) and
// overwrites the entry when it is not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "common/table_memory.hpp"

namespace svcgw {

struct AffinityKey {
    uint32_t client_ip = 0;  // network order
    uint32_t vip = 0;        // network order: the service port's VIP...
    uint16_t port = 0;       // ...port (network order)...
    uint8_t proto = 0;       // ...and protocol identify the service port
    uint8_t pad = 0;         // always zero

    bool operator==(const AffinityKey&) const = default;
};
static_assert(sizeof(AffinityKey) == 12);

struct AffinityCounters {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t expired = 0;  // found but timed out
    uint64_t evicted = 0;  // live entry replaced because its set was full
};

class AffinityTable {
public:
    // Rounded up to a whole number of 8-way sets (at least one).
    explicit AffinityTable(uint32_t max_entries, TableMemory& memory = process_table_memory());
    ~AffinityTable();
    AffinityTable(const AffinityTable&) = delete;
    AffinityTable& operator=(const AffinityTable&) = delete;

    // The backend (network order) remembered for key if it was used within
    // timeout_s seconds; refreshes the entry's expiry (kube-proxy refreshes
    // the affinity on every new connection).
    std::optional<uint32_t> lookup(const AffinityKey& key, uint32_t now, uint32_t timeout_s);
    // Remember (or overwrite) the backend for key.
    void update(const AffinityKey& key, uint32_t backend_ip, uint32_t now, uint32_t timeout_s);
    // From any thread, without changing anything: the live entry for key.
    struct Peeked {
        uint32_t backend_ip;
        uint32_t last_used;
    };
    std::optional<Peeked> peek(const AffinityKey& key, uint32_t now) const;
    void erase(const AffinityKey& key);
    // Forget every entry pointing at backend_ip (backend deleted); returns count.
    size_t erase_backend(uint32_t backend_ip);
    void clear();

    size_t size() const { return _size; }  // live or expired-but-not-replaced entries
    size_t capacity() const { return _sets * kWays; }
    // What a table of max_entries allocates, before building it.
    static size_t memory_bytes_for(uint32_t max_entries);
    const AffinityCounters& counters() const { return _counters; }

private:
    static constexpr uint32_t kWays = 8;

    // Fields as words, each accessed through std::atomic_ref (relaxed), the
    // version by the seqlock's rules (affinity_table.cpp: write()).
    struct Entry {
        uint32_t key[3];  // AffinityKey's bytes
        uint32_t backend_ip;
        uint32_t last_used;  // seconds
        uint32_t timeout_s;  // 0 = empty way (timeouts are clamped to >= 1)
        uint32_t version;    // odd while the owner writes
        uint32_t pad;
    };
    static_assert(sizeof(Entry) == 32 && sizeof(AffinityKey) == sizeof(Entry::key));

    // A consistent copy of an entry (single writer: the owner reads its own
    // entries without retrying).
    struct View {
        AffinityKey key;
        uint32_t backend_ip;
        uint32_t last_used;
        uint32_t timeout_s;
    };
    static View read(const Entry& e);
    static bool read_consistent(const Entry& e, View& out);
    static void write(Entry& e, const View& v);

    Entry* set_of(const AffinityKey& key) const;
    static bool expired(const View& e, uint32_t now) { return now - e.last_used > e.timeout_s; }
    std::span<Entry> entries() { return {_entries, capacity()}; }

    static uint32_t sets_for(uint32_t max_entries);

    // _sets * kWays, set s at [s * kWays, s * kWays + kWays). All-zero bytes
    // are an empty way, so the zero-filled block from `memory` is ready; from
    // process memory a table nobody uses (most services have no affinity,
    // every worker has a table) stays untouched pages.
    uint32_t _sets = 1;
    TableMemory& _memory;
    Entry* _entries = nullptr;
    size_t _size = 0;
    AffinityCounters _counters;
};

// The affinity tables of one worker set: worker w writes tables[w] and
// reads them all. A client's affinity is its freshest live entry on any
// worker, so its new connections agree whichever worker they reach.
class AffinitySet {
public:
    // memory[w] holds worker w's table (process memory when not given).
    AffinitySet(uint16_t workers, uint32_t entries_per_worker,
                std::span<TableMemory* const> memory = {});

    // As AffinityTable::lookup for worker `self`: the backend of the
    // freshest live entry for key in any table; refreshes (or copies it
    // into) self's table.
    std::optional<uint32_t> lookup(uint16_t self, const AffinityKey& key, uint32_t now,
                                   uint32_t timeout_s);
    void update(uint16_t self, const AffinityKey& key, uint32_t backend_ip, uint32_t now,
                uint32_t timeout_s) {
        _tables[self]->update(key, backend_ip, now, timeout_s);
    }
    AffinityTable& table(uint16_t w) { return *_tables[w]; }
    uint16_t workers() const { return static_cast<uint16_t>(_tables.size()); }

private:
    std::vector<std::unique_ptr<AffinityTable>> _tables;
};

}  // namespace svcgw
