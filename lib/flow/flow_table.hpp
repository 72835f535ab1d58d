// Per-lcore connection tracking (DESIGN §1: "one flow is owned by exactly one
// worker"). Pure C++, no EAL.
//
// Threading: one FlowTable per worker, used by that worker only. No locks, no
// atomics. The control thread never touches it; control-driven clearing
// (backend deleted, `GET /v1/flows`) is done by the owning worker through
// for_each()/erase().
//
// Layout: a preallocated array of 64-byte Flow entries (one per connection)
// and a bucketized cuckoo index (8 slots of {32-bit signature, entry index |
// direction bit} per 64-byte bucket, two candidate buckets per key). Each
// connection has two index slots: its forward key (client -> VIP:port) and
// its reply key (backend:tport -> snat:sport in fullnat, backend:tport ->
// client:cport in nat), so both directions find the same entry with one
// lookup. Nothing is allocated per packet.
//
// Time: `now` is a coarse, monotonic clock in seconds (u32), read once per
// burst by the worker. An entry expires when now - last_seen > its timeout.
// Expired entries are absent to lookup() (and reclaimed there), and are
// reclaimed in the background by expire(now, budget) from the LRU tails.
//
// LRU: four lists, each holding entries of one timeout class, so that each
// list is ordered by last_seen and expiry from its tail is exact:
// transitory (TCP before establishment, or after FIN/RST), established TCP,
// assured UDP (and any other protocol), and unreplied UDP (not assured yet). An entry moves to the
// head of its list at most once per clock tick (when last_seen changes), which keeps the
// established-flow path free of writes to neighbouring entries.
// When full, insert() evicts an expired tail if any, else the older of the
// transitory and unreplied-UDP tails (a spoofed-source flood only ever makes
// such entries), and established TCP / assured UDP (the older of the two
// tails) only when nothing else is left, like Linux conntrack's early drop
// of unassured entries: a flood cannot push out live connections.
//
// UDP assurance (as Linux's IPS_ASSURED for UDP): a UDP entry starts
// unreplied and becomes assured at the first packet touched after a reply
// has been counted (packets_rev != 0), in either direction. A one-shot
// request/response (or a flood a backend echoes, one reply per spoofed
// source) stays evictable; a real two-way exchange is protected.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "common/hash.hpp"
#include "common/table_memory.hpp"
#include "net/flow_key.hpp"

namespace svcgw {

// TCP connection state as tracked by the gateway (both directions seen).
#define SVCGW_FOREACH_TCP_STATE(X)                                          \
    X(none, "NONE")               /* no TCP packet seen yet (or not TCP) */ \
    X(syn_sent, "SYN_SENT")       /* client SYN seen */                     \
    X(syn_received, "SYN_RECV")   /* server SYN-ACK seen */                 \
    X(established, "ESTABLISHED") /* handshake completed (or picked up) */  \
    X(fin_wait, "FIN_WAIT")       /* FIN seen in one direction */           \
    X(closed, "CLOSED")           /* FIN both ways, or RST */

enum class TcpState : uint8_t {
#define SVCGW_X(name, text) name,
    SVCGW_FOREACH_TCP_STATE(SVCGW_X)
#undef SVCGW_X
};
std::string_view to_string(TcpState state);

// Bits of Flow::tcp_seen: which segments have been seen, per direction.
namespace tcp_seen {
constexpr uint8_t syn_fwd = 0x01;  // client SYN
constexpr uint8_t syn_rev = 0x02;  // server SYN-ACK
constexpr uint8_t ack_fwd = 0x04;  // client ACK (without SYN)
constexpr uint8_t any_rev = 0x08;  // any segment from the server
constexpr uint8_t fin_fwd = 0x10;  // client FIN
constexpr uint8_t fin_rev = 0x20;  // server FIN
constexpr uint8_t rst = 0x40;      // RST either way
}  // namespace tcp_seen

// Which timeout class (and LRU list) an entry is in.
// udp_unreplied has the UDP timeout but is evicted like transitory.
enum class FlowClass : uint8_t {
    transitory = 0,
    established = 1,
    udp = 2,  // assured: a packet after a reply
    udp_unreplied = 3,
    free = 4,
};

// The NAT decision stored with a connection, all by value (the service
// objects it came from are freed by RCU; DESIGN §1).
struct NatResult {
    uint32_t backend_ip = 0;    // network order
    uint16_t backend_port = 0;  // target port, network order
    uint16_t snat_port = 0;     // network order; ignored when snat_ip == 0
    uint32_t snat_ip = 0;       // network order; 0 = nat mode (client address kept)
    uint32_t backend_hint = 0;  // worker's index of the backend in the service, at service_gen
    uint64_t service_gen = 0;   // Service::generation() the decision was made with
};

// One connection. The worker reads and writes the NAT and user fields; the
// table owns key, last_seen, LRU links, tcp_* and cls.
//
// Backend re-validation: the worker compares service_gen with the current
// Service::generation() of the VIP the packet hit (the VIP:port:proto is the
// forward key's destination). Equal = nothing changed, use the cached backend.
// Different = look the backend up (Service::find_backend(backend_ip)): found
// -> store the new generation (and hint) and go on; gone -> erase the flow
// and re-balance the packet as a new connection.
struct alignas(64) Flow {
    FlowKey key;            // forward: client -> VIP:port
    uint32_t backend_ip;    // network order
    uint32_t snat_ip;       // network order; 0 = nat mode
    uint16_t backend_port;  // network order
    uint16_t snat_port;     // network order
    uint32_t backend_hint;  // worker-defined (index of the backend at service_gen)
    uint64_t service_gen;   // generation of the service when the backend was (re)validated
    uint32_t last_seen;     // seconds, the `now` of the last touch
    uint32_t lru_prev;      // entry index, table-owned
    uint32_t lru_next;      // entry index, table-owned
    uint32_t packets_fwd;   // worker-maintained counters (the table zeroes them)
    uint32_t packets_rev;   // the table reads it: != 0 = a reply was seen (UDP assurance)
    uint8_t tcp_seen;       // tcp_seen::* bits
    TcpState tcp_state;
    FlowClass cls;  // timeout class = LRU list; free when not in use

    bool is_snat() const { return snat_ip != 0; }
    // The key the backend's answers carry: backend:tport -> snat:sport, or
    // backend:tport -> client:cport in nat mode.
    FlowKey reply_key() const {
        FlowKey r;
        r.src_ip = backend_ip;
        r.src_port = backend_port;
        r.dst_ip = is_snat() ? snat_ip : key.src_ip;
        r.dst_port = is_snat() ? snat_port : key.src_port;
        r.proto = key.proto;
        return r;
    }
};
static_assert(sizeof(Flow) == 64, "one connection = one cache line");

struct FlowRef {
    Flow* flow = nullptr;   // nullptr = no live entry for the key
    bool is_reply = false;  // the key was the reply key (backend -> client side)
};

// Outcome of try_insert(): which key was in the way, or no room in the index.
enum class InsertStatus : uint8_t {
    inserted,
    forward_conflict,  // the forward key is live (e.g. a retransmitted SYN in the same burst)
    reply_conflict,    // the reply key is live: in fullnat, that SNAT port is taken
    index_full,        // no slot for a key even after cuckoo moves
};
struct InsertResult {
    Flow* flow = nullptr;  // set when inserted
    InsertStatus status = InsertStatus::index_full;
};

struct FlowTableConfig {
    // Field names and defaults as ConntrackConfig (config/config.hpp).
    uint32_t max_flows = 1048576;
    uint32_t tcp_established_timeout_s = 900;
    uint32_t tcp_transitory_timeout_s = 30;
    uint32_t udp_timeout_s = 300;
};

struct FlowCounters {
    uint64_t inserted = 0;
    uint64_t erased = 0;               // erase() calls (control-driven or backend gone)
    uint64_t expired = 0;              // reclaimed after their timeout (lookup, expire, insert)
    uint64_t evicted_transitory = 0;   // live half-open/closing TCP or unreplied UDP entries
                                       // evicted by a full table
    uint64_t evicted_established = 0;  // live established TCP / assured UDP entries evicted
                                       // (nothing else left)
    uint64_t insert_failed = 0;        // index had no room for a key (refused)
    uint64_t insert_conflict = 0;      // forward or reply key already belongs to a live entry
    uint64_t reply_conflict = 0;       // of those, the reply key (a taken SNAT port)
};

class FlowTable {
public:
    // Allocates everything up front from `memory` (entries + index, see
    // memory_bytes()); max_flows is clamped to [1, 2^31 - 1].
    explicit FlowTable(const FlowTableConfig& config, TableMemory& memory = process_table_memory());
    ~FlowTable();
    FlowTable(const FlowTable&) = delete;
    FlowTable& operator=(const FlowTable&) = delete;

    static uint32_t hash(const FlowKey& key) { return flow_hash(key); }
    // Prefetch the key's buckets ahead of lookup(key, hash, now).
    // always_inline: GCC 12 deems a function whose only effect is
    // __builtin_prefetch pure, and deletes the calls it does not inline
    // (their result is unused): this one was (secondary_bucket makes it too
    // big to inline early), so no bucket prefetch was ever emitted.
    [[gnu::always_inline]] void prefetch(uint32_t hash) const {
        __builtin_prefetch(&_buckets[primary_bucket(hash)]);
        __builtin_prefetch(&_buckets[secondary_bucket(hash)]);
    }

    // The live entry owning `key` in either direction. An expired entry is
    // reclaimed here and reported absent. Does not refresh last_seen: call
    // touch() or update_tcp_state() for the packet.
    FlowRef lookup(const FlowKey& key, uint32_t now) { return lookup(key, hash(key), now); }
    FlowRef lookup(const FlowKey& key, uint32_t hash, uint32_t now);
    // A burst: hashes first, then prefetches, then lookups. Writes
    // results[i] for keys[i]; results.size() must be >= keys.size() (spans
    // rather than a returned container: bursts live in the worker's arrays).
    void lookup_bulk(std::span<const FlowKey> keys, uint32_t now, std::span<FlowRef> results);

    // A new connection. nullptr when refused: the forward or reply key is
    // already live (insert_conflict), or the index has no room
    // (insert_failed). A full table evicts (see the file comment). The entry
    // starts in TcpState::none; TCP entries are transitory until
    // update_tcp_state() sees the handshake, others are udp_unreplied (UDP
    // timeout) until assured (see the file comment).
    Flow* insert(const FlowKey& forward, const NatResult& nat, uint32_t now) {
        return try_insert(forward, hash(forward), nat, now).flow;
    }
    // insert() that says why it refused (the worker probes SNAT ports on
    // reply_conflict); `forward_hash` = hash(forward), which the caller has.
    // The conflict checks come first: a refused insert never evicts.
    InsertResult try_insert(const FlowKey& forward, uint32_t forward_hash, const NatResult& nat,
                            uint32_t now);
    // True while `ref` (from lookup or lookup_bulk) still names the entry
    // of `key`: an insert (eviction) or erase later in the same burst may
    // have reused it.
    static bool still_valid(const FlowRef& ref, const FlowKey& key) {
        const Flow* f = ref.flow;
        return f->cls != FlowClass::free && (ref.is_reply ? f->reply_key() == key : f->key == key);
    }

    // Record one TCP segment of the flow (flags from the TCP header) and
    // refresh last_seen; moves the entry between timeout classes as its state
    // changes. A SYN (without ACK) from the client on a closed flow restarts
    // it (port reuse).
    void update_tcp_state(Flow* flow, uint8_t tcp_flags, bool is_reply, uint32_t now) {
        uint8_t seen = next_tcp_seen(flow->tcp_seen, tcp_flags, is_reply);
        if (seen == flow->tcp_seen) {
            touch(flow, now);
        } else {
            apply_tcp_seen(flow, seen, now);
        }
    }
    // A client SYN (without ACK) on a finished flow (FIN or RST seen): the
    // client reuses the 5-tuple for a new connection. update_tcp_state()
    // restarts such a flow; the worker may re-balance it instead.
    static bool is_reuse(uint8_t seen, uint8_t tcp_flags) {
        constexpr uint8_t kFinished = tcp_seen::fin_fwd | tcp_seen::fin_rev | tcp_seen::rst;
        return (tcp_flags & (tcp_flag::syn | tcp_flag::ack)) == tcp_flag::syn &&
               (seen & kFinished) != 0;
    }
    // Refresh last_seen (UDP, or any packet that does not change TCP state).
    // Call it before counting the packet in packets_fwd/packets_rev.
    void touch(Flow* flow, uint32_t now) {
        if (flow->cls == FlowClass::udp_unreplied && flow->packets_rev != 0) [[unlikely]] {
            move_to_class(flow, FlowClass::udp, now);
        } else if (flow->last_seen != now) {
            flow->last_seen = now;
            move_to_head(flow);
        }
    }

    void erase(Flow* flow);
    // Reclaim up to `budget` expired entries from the LRU tails; returns how
    // many were reclaimed.
    size_t expire(uint32_t now, size_t budget);
    // Erase every entry (counted as erased); returns how many.
    size_t clear();

    bool is_expired(const Flow& flow, uint32_t now) const {
        return now - flow.last_seen > _timeout[static_cast<uint8_t>(flow.cls)];
    }
    uint32_t timeout_of(const Flow& flow) const { return _timeout[static_cast<uint8_t>(flow.cls)]; }

    // Every entry in use (expired ones not yet reclaimed included: check
    // is_expired()). fn(Flow&) may erase the entry it is given.
    template <class Fn>
    void for_each(Fn&& fn) {
        for (uint32_t i = 0; i < _capacity; ++i) {
            if (_flows[i].cls != FlowClass::free) {
                fn(_flows[i]);
            }
        }
    }

    // The in-use entries among indices [begin, begin + count), for scans
    // spread over many calls (the worker's flow census).
    template <class Fn>
    void for_each_in(uint32_t begin, uint32_t count, Fn&& fn) const {
        const uint32_t end = begin + std::min(count, _capacity - std::min(begin, _capacity));
        for (uint32_t i = begin; i < end; ++i) {
            if (_flows[i].cls != FlowClass::free) {
                fn(_flows[i]);
            }
        }
    }
    size_t size() const { return _size; }
    size_t capacity() const { return _capacity; }
    // The two index buckets a key with this hash may sit in. For tests and
    // the packet fuzzer, which fill chosen buckets with colliding keys: the
    // index runs out of room per bucket pair, long before it is full.
    std::array<uint32_t, 2> candidate_buckets(uint32_t hash) const {
        return {primary_bucket(hash), secondary_bucket(hash)};
    }
    size_t bucket_count() const { return _bucket_count; }
    // Bytes allocated (entries + index); / capacity() = bytes per flow.
    size_t memory_bytes() const;
    // What a table of max_flows allocates, before building it.
    static size_t memory_bytes_for(uint32_t max_flows);
    const FlowCounters& counters() const { return _counters; }

private:
    static constexpr uint32_t kSlots = 8;            // 8 x (4 + 4) bytes = one cache line
    static constexpr uint32_t kEmpty = 0xffffffffu;  // slot value of an empty slot
    static constexpr uint32_t kNil = 0xffffffffu;    // end of an LRU list
    static constexpr int kClasses = 4;               // LRU lists (FlowClass without free)

    struct alignas(64) Bucket {
        uint32_t sig[kSlots];  // full 32-bit hash of the key
        uint32_t val[kSlots];  // entry index << 1 | is_reply, kEmpty when free
    };
    static_assert(sizeof(Bucket) == 64);

    struct List {
        uint32_t head = kNil;  // most recently used
        uint32_t tail = kNil;  // least recently used
    };

    // Lemire's multiply-shift range reduction: no power-of-two rounding, so
    // the index is sized to the load factor, not to the next power of two.
    uint32_t reduce(uint32_t h) const {
        return static_cast<uint32_t>((uint64_t{h} * _bucket_count) >> 32);
    }
    uint32_t primary_bucket(uint32_t h) const { return reduce(h); }
    uint32_t secondary_bucket(uint32_t h) const {
        // An independent second choice derived from the signature alone, so
        // a slot can be moved to its other bucket without the key.
        return reduce(static_cast<uint32_t>(mix64(h) >> 32));
    }
    static uint32_t match_mask(const Bucket& b, uint32_t h) {
#if defined(__AVX2__)
        __m256i sigs = _mm256_load_si256(reinterpret_cast<const __m256i*>(b.sig));
        __m256i eq = _mm256_cmpeq_epi32(sigs, _mm256_set1_epi32(static_cast<int>(h)));
        return static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(eq)));
#else
        uint32_t mask = 0;
        for (uint32_t i = 0; i < kSlots; ++i) {
            mask |= uint32_t{b.sig[i] == h} << i;
        }
        return mask;
#endif
    }
    // The entry of `key` in bucket b, or kEmpty.
    uint32_t find_in_bucket(uint32_t b, const FlowKey& key, uint32_t h) const {
        const Bucket& bucket = _buckets[b];
        for (uint32_t mask = match_mask(bucket, h); mask != 0; mask &= mask - 1) {
            uint32_t val = bucket.val[__builtin_ctz(mask)];
            if (val != kEmpty && key_matches(val, key)) {
                return val;
            }
        }
        return kEmpty;
    }
    bool key_matches(uint32_t val, const FlowKey& key) const {
        const Flow& f = _flows[val >> 1];
        return (val & 1) ? f.reply_key() == key : f.key == key;
    }
    FlowRef resolve(uint32_t val, uint32_t now);

    static uint8_t next_tcp_seen(uint8_t seen, uint8_t tcp_flags, bool is_reply);
    void apply_tcp_seen(Flow* flow, uint8_t seen, uint32_t now);
    void move_to_class(Flow* flow, FlowClass cls, uint32_t now);
    // The older of two LRU tails (ties: `first`), kNil when both are empty.
    uint32_t older_tail(FlowClass first, FlowClass second, uint32_t now) const;
    void move_to_head(Flow* flow) {
        uint32_t idx = static_cast<uint32_t>(flow - _flows);
        List& list = _lists[static_cast<uint8_t>(flow->cls)];
        if (list.head == idx) {
            return;
        }
        unlink(idx);
        push_head(idx);
    }
    void unlink(uint32_t idx);
    void push_head(uint32_t idx);

    // The entry take_free_entry() reclaims from a full table at `now`, and
    // which counter that reclaim bumps.
    enum class VictimKind : uint8_t { expired, transitory, established };
    struct Victim {
        uint32_t idx = kNil;  // kNil when no list has an entry
        VictimKind kind = VictimKind::expired;
    };
    Victim choose_victim(uint32_t now) const;
    // A full table's insert reclaims choose_victim(): start loading the index
    // buckets its reclaim rewrites, and those of the entry most likely
    // reclaimed by the next insert (a pipeline one eviction deep, two for
    // the entries), so these misses overlap other work instead of following
    // one another. Only hints: what is evicted is take_free_entry's choice.
    void prefetch_victim(uint32_t now) const;

    static uint32_t clamped_capacity(uint32_t max_flows);
    static uint32_t bucket_count_for(uint32_t capacity);
    bool index_insert(const FlowKey& key, uint32_t h, uint32_t val);
    bool index_remove(uint32_t h, uint32_t val);
    bool cuckoo_make_room(uint32_t b1, uint32_t b2);
    uint32_t take_free_entry(uint32_t now);
    void reclaim(uint32_t idx);

    TableMemory& _memory;
    Flow* _flows = nullptr;
    Bucket* _buckets = nullptr;
    uint32_t _capacity = 0;
    uint32_t _bucket_count = 0;
    uint32_t _size = 0;
    uint32_t _free_head = kNil;  // free entries, linked through lru_next
    List _lists[kClasses];
    uint32_t _timeout[kClasses + 1] = {};
    FlowCounters _counters;
    size_t _flows_bytes = 0;
    size_t _buckets_bytes = 0;
};

inline FlowRef FlowTable::lookup(const FlowKey& key, uint32_t hash, uint32_t now) {
    uint32_t val = find_in_bucket(primary_bucket(hash), key, hash);
    if (val == kEmpty) {
        val = find_in_bucket(secondary_bucket(hash), key, hash);
        if (val == kEmpty) {
            return {};
        }
    }
    return resolve(val, now);
}

inline FlowRef FlowTable::resolve(uint32_t val, uint32_t now) {
    Flow* flow = &_flows[val >> 1];
    if (is_expired(*flow, now)) [[unlikely]] {
        reclaim(val >> 1);
        ++_counters.expired;
        return {};
    }
    return {flow, (val & 1) != 0};
}

}  // namespace svcgw
