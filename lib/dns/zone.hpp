// The cluster DNS zone (DESIGN §3 DNS, Kubernetes DNS-Based Service Discovery
// 1.1.0) as the workers read it: one immutable version per publish, reached
// through one pointer (release store by the control thread, acquire load by
// the workers, old versions freed through rte_rcu_qsbr). Workers only call
// the const methods below; dns/zone_writer.hpp builds the versions.
//
// Layout: a version is a Zone (serial, per-apex SOA bytes) over a hash array
// mapped trie (HAMT, Bagwell 2001) of names. Each trie level takes 6 bits of
// the name's hash and keeps only the children that exist (a 64-bit bitmap
// plus a dense slot array, indexed by popcount); a slot is either a child
// level or a leaf, one ZoneNode. A ZoneNode is one allocation holding a name
// (lower-cased wire form) and, per RRset, the complete answer-section bytes
// with the owner written as a compression pointer to the question (0xC00C),
// so answering is a memcpy.
//
// Versions share structure: a change copies only the trie levels on the
// path to the names it touches and the ZoneNodes it rebuilds, so publishing
// costs O(change), not O(zone). Nothing a worker can reach is ever written
// again; what a change replaces is retired whole.
//
// Contents: the forward zone <domain> (SOA, NS -> ns.dns.<domain> with its A
// = dns.cluster_ip, TXT dns-version, services' A/SRV/CNAME, headless
// endpoint names) and one reverse zone per octet-aligned block of the
// service CIDR (SOA, NS, PTR per ClusterIP and for dns.cluster_ip); the PTR
// name of a headless endpoint outside those blocks is a zone of its own (an
// apex with SOA, NS and the PTR), so we answer for exactly the names we
// hold and refuse the rest of in-addr.arpa. Every ancestor of an owner name
// up to its apex exists as an (empty) node, so NXDOMAIN vs NODATA is exact
// (RFC 8020).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "common/net.hpp"
#include "common/result.hpp"
#include "config/config.hpp"

namespace svcgw::dns {

struct RRset {
    uint16_t type = 0;
    uint16_t count = 0;          // records in the answer bytes
    uint16_t extra_count = 0;    // additional-section A records for SRV/NS targets
    uint16_t record_size = 0;    // size of each answer RR when all are equal (A), else 0
    uint32_t answer_offset = 0;  // node bytes: RRs, owner = pointer to the question name
    uint32_t answer_length = 0;
    uint32_t extra_offset = 0;  // node bytes: RRs with full (uncompressed) owner names
    uint32_t extra_length = 0;
};

// One name and its RRsets, in one allocation: this header, the RRset array
// (sorted by type), the name, then the record bytes. Offsets are from the
// start of the node.
struct ZoneNode {
    uint32_t size = 0;  // bytes of the whole allocation
    uint16_t apex = 0;  // index into Zone::apexes(): the zone this name is in
    uint8_t name_length = 0;
    uint8_t is_apex = 0;       // 1 = this name is the apex (its SOA comes from the Zone)
    uint16_t rrset_count = 0;  // 0 = empty non-terminal (or an apex without NS, never built)
    uint16_t record_count = 0;

    std::span<const RRset> rrsets() const {
        return {reinterpret_cast<const RRset*>(this + 1), rrset_count};
    }
    std::span<const uint8_t> name() const {
        return {base() + sizeof(ZoneNode) + rrset_count * sizeof(RRset), name_length};
    }
    std::span<const uint8_t> bytes(uint32_t offset, uint32_t length) const {
        return {base() + offset, length};
    }
    const RRset* rrset(uint16_t type) const;

private:
    const uint8_t* base() const { return reinterpret_cast<const uint8_t*>(this); }
};
static_assert(sizeof(ZoneNode) % alignof(RRset) == 0);

// Every apex serves the same SOA (Zone::soa()); they differ in where the
// apex starts in a query name.
struct ZoneApex {
    uint8_t label_count = 0;  // labels of the apex name, root excluded
};

// A trie level: which of the 64 children exist, then the dense slots. A slot
// is a TrieNode* or a ZoneNode* with bit 0 set (both are 8-byte aligned).
// Below the last hash bits (kTrieCollisionDepth) a level is a plain list of
// leaves with equal hashes, compared by name.
struct TrieNode {
    uint64_t bitmap = 0;
    // control only: the writer's change that built this level (it may edit
    // it in place until that change is published), and the slots allocated.
    uint32_t epoch = 0;
    uint16_t capacity = 0;
    uint16_t count = 0;  // used slots (= popcount(bitmap) above the collision depth)

    uintptr_t* slots() { return reinterpret_cast<uintptr_t*>(this + 1); }
    const uintptr_t* slots() const { return reinterpret_cast<const uintptr_t*>(this + 1); }
};
constexpr unsigned kTrieBits = 6;  // 64 children: one uint64_t bitmap
constexpr unsigned kTrieFanout = 1u << kTrieBits;
// 64 hash bits are used up after ceil(64 / 6) = 11 levels.
constexpr unsigned kTrieCollisionDepth = (64 + kTrieBits - 1) / kTrieBits;
constexpr uintptr_t kTrieLeafTag = 1;

class Zone {
public:
    Zone() = default;
    ~Zone();
    Zone(const Zone&) = delete;
    Zone& operator=(const Zone&) = delete;

    // Lookup by lower-cased wire name; `hash` must be name_hash(name).
    const ZoneNode* find(std::span<const uint8_t> name, uint64_t hash) const;
    const ZoneNode* find(std::span<const uint8_t> name) const;
    std::span<const ZoneApex> apexes() const { return _apexes; }
    // The SOA RR of every apex *without* its owner (type onward); TTL =
    // MINIMUM = min(ttl, 300), for negative answers (RFC 2308 §3).
    std::span<const uint8_t> soa() const { return _soa; }

    // Control thread and tests: the trie root, and every name in trie order.
    const TrieNode* root() const { return _root; }
    template <class F>
    void for_each_node(F&& visit) const {
        if (_root != nullptr) {
            walk(_root, visit);
        }
    }

    uint32_t serial() const { return _serial; }
    size_t node_count() const { return _node_count; }
    size_t record_count() const { return _record_count; }
    size_t memory_bytes() const {
        return sizeof(Zone) + _apexes.capacity() * sizeof(ZoneApex) + _soa.capacity() + _tree_bytes;
    }

private:
    friend class ZoneWriter;

    template <class F>
    static void walk(const TrieNode* level, F& visit) {
        for (uint16_t i = 0; i < level->count; ++i) {
            const uintptr_t slot = level->slots()[i];
            if ((slot & kTrieLeafTag) != 0) {
                visit(*reinterpret_cast<const ZoneNode*>(slot & ~kTrieLeafTag));
            } else {
                walk(reinterpret_cast<const TrieNode*>(slot), visit);
            }
        }
    }

    const TrieNode* _root = nullptr;
    std::vector<ZoneApex> _apexes;
    std::vector<uint8_t> _soa;
    uint32_t _serial = 0;
    size_t _node_count = 0;
    size_t _record_count = 0;
    size_t _tree_bytes = 0;  // trie levels and nodes, shared or not
    // A standalone zone (build_zone) owns its trie and nodes; a version
    // published by a ZoneWriter shares them with other versions and the
    // writer frees them.
    bool _owns_tree = false;
};

// Frees a trie level or a node (both come from ::operator new).
void free_trie(const TrieNode* node);
void free_zone_node(const ZoneNode* node);

// Builds a standalone zone for a validated service set (tests, benchmarks,
// fuzzers, --check): the same ZoneWriter the daemon runs, all services in
// one change. `serial` is the SOA serial. Fails only on names that cannot
// be encoded (a label > 63 octets or a name > 255 octets), each reported
// with its config path ("services[i]...").
Result<std::unique_ptr<const Zone>, Errors> build_zone(const std::vector<ServiceConfig>& services,
                                                       const DnsConfig& dns,
                                                       Ipv4Prefix service_cidr, uint32_t serial);
Result<std::unique_ptr<const Zone>, Errors> build_zone(const Config& config, uint32_t serial);

}  // namespace svcgw::dns
