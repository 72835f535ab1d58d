#include "flow/flow_table.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#include "common/net.hpp"

namespace svcgw {

namespace {

// Index load at max_flows (two keys per flow). A 2-choice, 8-way cuckoo
// index fills past 95% before inserts start failing (Fan et al., "MemC3",
// NSDI 2013, §4.2); 85% keeps displacement paths short.
constexpr double kIndexLoad = 0.85;
// Breadth-first cuckoo search budget (buckets visited) before an insert is
// refused: ~3 levels of 8-way fan-out from two roots.
constexpr size_t kCuckooMaxNodes = 512;
constexpr uint32_t kMaxFlows = 0x7fffffffu;  // entry index << 1 | direction fits in u32

}  // namespace

std::string_view to_string(TcpState state) {
    switch (state) {
#define SVCGW_X(name, text) \
    case TcpState::name:    \
        return text;
        SVCGW_FOREACH_TCP_STATE(SVCGW_X)
#undef SVCGW_X
    }
    return "?";
}

uint32_t FlowTable::clamped_capacity(uint32_t max_flows) {
    return std::clamp<uint32_t>(max_flows, 1, kMaxFlows);
}

uint32_t FlowTable::bucket_count_for(uint32_t capacity) {
    double buckets = std::ceil(2.0 * capacity / (kSlots * kIndexLoad));
    return static_cast<uint32_t>(std::max(2.0, buckets));
}

size_t FlowTable::memory_bytes_for(uint32_t max_flows) {
    uint32_t capacity = clamped_capacity(max_flows);
    return size_t{capacity} * sizeof(Flow) + size_t{bucket_count_for(capacity)} * sizeof(Bucket);
}

FlowTable::FlowTable(const FlowTableConfig& config, TableMemory& memory) : _memory(memory) {
    _capacity = clamped_capacity(config.max_flows);
    _bucket_count = bucket_count_for(_capacity);
    _timeout[static_cast<uint8_t>(FlowClass::transitory)] = config.tcp_transitory_timeout_s;
    _timeout[static_cast<uint8_t>(FlowClass::established)] = config.tcp_established_timeout_s;
    _timeout[static_cast<uint8_t>(FlowClass::udp)] = config.udp_timeout_s;
    // Unreplied UDP differs only in eviction order; a shorter timeout (Linux:
    // 30 s) would need its own ConntrackConfig field.
    _timeout[static_cast<uint8_t>(FlowClass::udp_unreplied)] = config.udp_timeout_s;

    _flows_bytes = size_t{_capacity} * sizeof(Flow);
    _buckets_bytes = size_t{_bucket_count} * sizeof(Bucket);
    _flows = static_cast<Flow*>(_memory.allocate(_flows_bytes));
    try {
        _buckets = static_cast<Bucket*>(_memory.allocate(_buckets_bytes));
    } catch (...) {
        _memory.release(_flows, _flows_bytes);
        throw;
    }
    for (uint32_t b = 0; b < _bucket_count; ++b) {
        std::memset(_buckets[b].val, 0xff, sizeof _buckets[b].val);
    }
    // Free list in index order, so a fresh table fills its memory sequentially.
    for (uint32_t i = 0; i < _capacity; ++i) {
        _flows[i].cls = FlowClass::free;
        _flows[i].lru_next = i + 1 < _capacity ? i + 1 : kNil;
    }
    _free_head = 0;
}

FlowTable::~FlowTable() {
    _memory.release(_flows, _flows_bytes);
    _memory.release(_buckets, _buckets_bytes);
}

size_t FlowTable::memory_bytes() const {
    return _flows_bytes + _buckets_bytes;
}

void FlowTable::lookup_bulk(std::span<const FlowKey> keys, uint32_t now,
                            std::span<FlowRef> results) {
    // Stages over chunks of a burst: hash + prefetch buckets, then match
    // signatures + prefetch entries, then compare keys. Each stage's misses
    // overlap instead of being paid one packet after the other.
    constexpr size_t kChunk = 32;
    uint32_t hashes[kChunk];
    uint32_t vals[kChunk];
    for (size_t base = 0; base < keys.size(); base += kChunk) {
        size_t n = std::min(kChunk, keys.size() - base);
        for (size_t i = 0; i < n; ++i) {
            hashes[i] = hash(keys[base + i]);
            prefetch(hashes[i]);
        }
        for (size_t i = 0; i < n; ++i) {
            // Signature-only candidate: the first slot whose signature
            // matches in either bucket (32-bit signatures make a false
            // candidate rare; the key compare below settles it).
            uint32_t h = hashes[i];
            uint32_t val = kEmpty;
            for (uint32_t b : {primary_bucket(h), secondary_bucket(h)}) {
                const Bucket& bucket = _buckets[b];
                for (uint32_t mask = match_mask(bucket, h); mask != 0 && val == kEmpty;
                     mask &= mask - 1) {
                    val = bucket.val[__builtin_ctz(mask)];
                }
                if (val != kEmpty) {
                    break;
                }
            }
            vals[i] = val;
            if (val != kEmpty) {
                __builtin_prefetch(&_flows[val >> 1]);
            }
        }
        for (size_t i = 0; i < n; ++i) {
            const FlowKey& key = keys[base + i];
            // An earlier key of this burst may have reclaimed the entry (an
            // expired flow seen in both directions): then its slot is stale.
            if (vals[i] != kEmpty && _flows[vals[i] >> 1].cls == FlowClass::free) {
                vals[i] = kEmpty;
            }
            if (vals[i] != kEmpty && key_matches(vals[i], key)) {
                results[base + i] = resolve(vals[i], now);
            } else if (vals[i] == kEmpty) {
                results[base + i] = {};
            } else {
                results[base + i] = lookup(key, hashes[i], now);  // signature collision
            }
        }
    }
}

InsertResult FlowTable::try_insert(const FlowKey& forward, uint32_t forward_hash,
                                   const NatResult& nat, uint32_t now) {
    Flow candidate{};
    candidate.key = forward;
    candidate.backend_ip = nat.backend_ip;
    candidate.backend_port = nat.backend_port;
    candidate.snat_ip = nat.snat_ip;
    candidate.snat_port = nat.snat_ip != 0 ? nat.snat_port : 0;
    const FlowKey reply = candidate.reply_key();
    const uint32_t h_fwd = forward_hash;
    const uint32_t h_rep = hash(reply);
    // A new reply key (fresh SNAT port) is in neither of its buckets: both
    // are read, so load them together, along with what a full table's
    // eviction is about to touch. The forward key's buckets are usually warm
    // (the worker's bulk lookup just missed in them).
    prefetch(h_rep);
    prefetch_victim(now);
    if (reply == forward || lookup(forward, h_fwd, now).flow != nullptr) {
        ++_counters.insert_conflict;
        return {nullptr, InsertStatus::forward_conflict};
    }
    if (lookup(reply, h_rep, now).flow != nullptr) {
        ++_counters.insert_conflict;
        ++_counters.reply_conflict;
        return {nullptr, InsertStatus::reply_conflict};
    }

    uint32_t idx = take_free_entry(now);
    if (!index_insert(forward, h_fwd, idx << 1)) {
        ++_counters.insert_failed;
        _flows[idx].lru_next = _free_head;
        _free_head = idx;
        return {};
    }
    if (!index_insert(reply, h_rep, idx << 1 | 1)) {
        index_remove(h_fwd, idx << 1);
        ++_counters.insert_failed;
        _flows[idx].lru_next = _free_head;
        _free_head = idx;
        return {};
    }

    Flow& f = _flows[idx];
    f = candidate;
    f.backend_hint = nat.backend_hint;
    f.service_gen = nat.service_gen;
    f.last_seen = now;
    f.tcp_seen = 0;
    f.tcp_state = TcpState::none;
    f.cls = forward.proto == static_cast<uint8_t>(Protocol::tcp) ? FlowClass::transitory
                                                                 : FlowClass::udp_unreplied;
    push_head(idx);
    ++_size;
    ++_counters.inserted;
    return {&f, InsertStatus::inserted};
}

FlowTable::Victim FlowTable::choose_victim(uint32_t now) const {
    // An expired tail first (it is garbage anyway), then the transitory LRU,
    // then the older of the established and UDP tails.
    for (int c = 0; c < kClasses; ++c) {
        uint32_t tail = _lists[c].tail;
        if (tail != kNil && is_expired(_flows[tail], now)) {
            return {tail, VictimKind::expired};
        }
    }
    // Ties go to unreplied UDP: a flood's entries before a fresh handshake
    // of the same second.
    uint32_t victim = older_tail(FlowClass::udp_unreplied, FlowClass::transitory, now);
    if (victim != kNil) {
        return {victim, VictimKind::transitory};
    }
    return {older_tail(FlowClass::udp, FlowClass::established, now), VictimKind::established};
}

void FlowTable::prefetch_victim(uint32_t now) const {
    if (_free_head != kNil) {
        return;
    }
    const uint32_t victim = choose_victim(now).idx;
    if (victim == kNil) {
        return;
    }
    // This insert's victim: its buckets, in case the insert before did not
    // foresee it (then they are already on their way: a few instructions).
    const Flow& f = _flows[victim];
    prefetch(hash(f.key));
    prefetch(hash(f.reply_key()));
    // Most likely the next insert's victim: the entry behind it in its list
    // (a SYN flood evicts down one list). Its entry was prefetched by the
    // insert before, so its keys are at hand; its buckets get a whole insert
    // to arrive. And the one after it, whose keys the next insert reads.
    const uint32_t next = f.lru_prev;
    if (next == kNil) {
        return;
    }
    const Flow& n = _flows[next];
    prefetch(hash(n.key));
    prefetch(hash(n.reply_key()));
    if (n.lru_prev != kNil) {
        __builtin_prefetch(&_flows[n.lru_prev], 1);  // and unlink() writes it
    }
}

uint32_t FlowTable::take_free_entry(uint32_t now) {
    if (_free_head == kNil) {
        const Victim v = choose_victim(now);
        switch (v.kind) {
            case VictimKind::expired:
                ++_counters.expired;
                break;
            case VictimKind::transitory:
                ++_counters.evicted_transitory;
                break;
            case VictimKind::established:
                ++_counters.evicted_established;
                break;
        }
        reclaim(v.idx);
    }
    uint32_t idx = _free_head;
    _free_head = _flows[idx].lru_next;
    return idx;
}

uint32_t FlowTable::older_tail(FlowClass first, FlowClass second, uint32_t now) const {
    const uint32_t a = _lists[static_cast<uint8_t>(first)].tail;
    const uint32_t b = _lists[static_cast<uint8_t>(second)].tail;
    if (a == kNil) {
        return b;
    }
    if (b == kNil) {
        return a;
    }
    // Ages, not raw stamps: `now` is u32 and may wrap.
    return now - _flows[b].last_seen > now - _flows[a].last_seen ? b : a;
}

void FlowTable::reclaim(uint32_t idx) {
    Flow& f = _flows[idx];
    index_remove(hash(f.key), idx << 1);
    index_remove(hash(f.reply_key()), idx << 1 | 1);
    unlink(idx);
    f.cls = FlowClass::free;
    f.lru_next = _free_head;
    _free_head = idx;
    --_size;
}

void FlowTable::erase(Flow* flow) {
    reclaim(static_cast<uint32_t>(flow - _flows));
    ++_counters.erased;
}

size_t FlowTable::expire(uint32_t now, size_t budget) {
    size_t done = 0;
    for (int c = 0; c < kClasses; ++c) {
        while (done < budget) {
            uint32_t tail = _lists[c].tail;
            if (tail == kNil || !is_expired(_flows[tail], now)) {
                break;
            }
            reclaim(tail);
            ++done;
        }
    }
    _counters.expired += done;
    return done;
}

size_t FlowTable::clear() {
    size_t n = 0;
    for (int c = 0; c < kClasses; ++c) {
        while (_lists[c].tail != kNil) {
            reclaim(_lists[c].tail);
            ++n;
        }
    }
    _counters.erased += n;
    return n;
}

uint8_t FlowTable::next_tcp_seen(uint8_t seen, uint8_t tcp_flags, bool is_reply) {
    const bool syn = tcp_flags & tcp_flag::syn;
    const bool ack = tcp_flags & tcp_flag::ack;
    if (!is_reply) {
        if (syn && !ack) {
            // A fresh SYN on a finished connection: the client reuses the
            // port (TIME_WAIT recycling); start over on the same backend.
            seen = is_reuse(seen, tcp_flags) ? uint8_t{tcp_seen::syn_fwd}
                                             : uint8_t(seen | tcp_seen::syn_fwd);
        } else if (ack && !syn) {
            seen |= tcp_seen::ack_fwd;
        }
        if (tcp_flags & tcp_flag::fin) {
            seen |= tcp_seen::fin_fwd;
        }
    } else {
        seen |= tcp_seen::any_rev;
        if (syn && ack) {
            seen |= tcp_seen::syn_rev;
        }
        if (tcp_flags & tcp_flag::fin) {
            seen |= tcp_seen::fin_rev;
        }
    }
    if (tcp_flags & tcp_flag::rst) {
        seen |= tcp_seen::rst;
    }
    return seen;
}

namespace {

TcpState state_of(uint8_t seen) {
    using namespace tcp_seen;
    if ((seen & rst) || ((seen & fin_fwd) && (seen & fin_rev))) {
        return TcpState::closed;
    }
    if (seen & (fin_fwd | fin_rev)) {
        return TcpState::fin_wait;
    }
    if ((seen & syn_rev) && (seen & ack_fwd)) {
        return TcpState::established;
    }
    // Picked up mid-stream (no SYN seen: flow table restarted or cleared):
    // established once both sides have been heard.
    if (!(seen & syn_fwd) && (seen & ack_fwd) && (seen & any_rev)) {
        return TcpState::established;
    }
    if (seen & syn_rev) {
        return TcpState::syn_received;
    }
    if (seen & syn_fwd) {
        return TcpState::syn_sent;
    }
    return TcpState::none;
}

}  // namespace

void FlowTable::apply_tcp_seen(Flow* flow, uint8_t seen, uint32_t now) {
    if (flow->key.proto != static_cast<uint8_t>(Protocol::tcp)) {
        touch(flow, now);  // not TCP: flags mean nothing, keep the UDP class
        return;
    }
    flow->tcp_seen = seen;
    flow->tcp_state = state_of(seen);
    FlowClass cls =
        flow->tcp_state == TcpState::established ? FlowClass::established : FlowClass::transitory;
    if (cls != flow->cls) {
        move_to_class(flow, cls, now);
    } else {
        touch(flow, now);
    }
}

void FlowTable::move_to_class(Flow* flow, FlowClass cls, uint32_t now) {
    // The head of the new list, stamped `now`: the list stays ordered.
    uint32_t idx = static_cast<uint32_t>(flow - _flows);
    unlink(idx);
    flow->cls = cls;
    flow->last_seen = now;
    push_head(idx);
}

void FlowTable::unlink(uint32_t idx) {
    Flow& f = _flows[idx];
    List& list = _lists[static_cast<uint8_t>(f.cls)];
    if (f.lru_prev != kNil) {
        _flows[f.lru_prev].lru_next = f.lru_next;
    } else {
        list.head = f.lru_next;
    }
    if (f.lru_next != kNil) {
        _flows[f.lru_next].lru_prev = f.lru_prev;
    } else {
        list.tail = f.lru_prev;
    }
}

void FlowTable::push_head(uint32_t idx) {
    Flow& f = _flows[idx];
    List& list = _lists[static_cast<uint8_t>(f.cls)];
    f.lru_prev = kNil;
    f.lru_next = list.head;
    if (list.head != kNil) {
        _flows[list.head].lru_prev = idx;
    } else {
        list.tail = idx;
    }
    list.head = idx;
}

bool FlowTable::index_insert(const FlowKey& key, uint32_t h, uint32_t val) {
    (void)key;  // the index keeps only the signature; the key lives in the entry
    const uint32_t b1 = primary_bucket(h);
    const uint32_t b2 = secondary_bucket(h);
    for (int attempt = 0; attempt < 2; ++attempt) {
        for (uint32_t b : {b1, b2}) {
            Bucket& bucket = _buckets[b];
            for (uint32_t s = 0; s < kSlots; ++s) {
                if (bucket.val[s] == kEmpty) {
                    bucket.sig[s] = h;
                    bucket.val[s] = val;
                    return true;
                }
            }
        }
        if (attempt == 0 && !cuckoo_make_room(b1, b2)) {
            return false;
        }
    }
    return false;
}

bool FlowTable::index_remove(uint32_t h, uint32_t val) {
    for (uint32_t b : {primary_bucket(h), secondary_bucket(h)}) {
        Bucket& bucket = _buckets[b];
        for (uint32_t s = 0; s < kSlots; ++s) {
            if (bucket.val[s] == val) {
                bucket.val[s] = kEmpty;
                bucket.sig[s] = 0;
                return true;
            }
        }
    }
    return false;
}

bool FlowTable::cuckoo_make_room(uint32_t b1, uint32_t b2) {
    // Breadth-first search for the shortest chain of moves that frees a slot
    // in b1 or b2 (the approach of MemC3 and DPDK's rte_hash). Nothing moves
    // until a complete path is found, so a failed search changes nothing.
    // A bucket appears at most once in the tree, so a path never revisits one.
    struct Node {
        uint32_t bucket;
        int32_t parent;  // node index, -1 for a root
        uint32_t slot;   // slot in the parent bucket whose item moves here
    };
    Node nodes[kCuckooMaxNodes];
    size_t count = 0;
    auto seen = [&](uint32_t b) {
        for (size_t i = 0; i < count; ++i) {
            if (nodes[i].bucket == b) {
                return true;
            }
        }
        return false;
    };
    nodes[count++] = {b1, -1, 0};
    if (b2 != b1) {
        nodes[count++] = {b2, -1, 0};
    }
    for (size_t head = 0; head < count; ++head) {
        const uint32_t b = nodes[head].bucket;
        for (uint32_t s = 0; s < kSlots; ++s) {
            const uint32_t sig = _buckets[b].sig[s];
            const uint32_t p = primary_bucket(sig);
            const uint32_t alt = p == b ? secondary_bucket(sig) : p;
            if (alt == b) {
                continue;
            }
            const Bucket& target = _buckets[alt];
            uint32_t free_slot = kSlots;
            for (uint32_t t = 0; t < kSlots; ++t) {
                if (target.val[t] == kEmpty) {
                    free_slot = t;
                    break;
                }
            }
            if (free_slot != kSlots) {
                // Move (b, s) -> (alt, free_slot), then walk up the path,
                // each parent's item filling the slot its child vacated.
                uint32_t to_bucket = alt;
                uint32_t to_slot = free_slot;
                uint32_t from_bucket = b;
                uint32_t from_slot = s;
                int32_t node = static_cast<int32_t>(head);
                while (true) {
                    _buckets[to_bucket].sig[to_slot] = _buckets[from_bucket].sig[from_slot];
                    _buckets[to_bucket].val[to_slot] = _buckets[from_bucket].val[from_slot];
                    _buckets[from_bucket].val[from_slot] = kEmpty;
                    _buckets[from_bucket].sig[from_slot] = 0;
                    if (nodes[node].parent < 0) {
                        return true;
                    }
                    to_bucket = from_bucket;
                    to_slot = from_slot;
                    from_slot = nodes[node].slot;
                    node = nodes[node].parent;
                    from_bucket = nodes[node].bucket;
                }
            }
            if (count < kCuckooMaxNodes && !seen(alt)) {
                nodes[count++] = {alt, static_cast<int32_t>(head), s};
            }
        }
    }
    return false;
}

}  // namespace svcgw
