// The zone's single writer (control thread): keeps the records of every
// Service by name and turns a change into a new Zone version that shares
// everything the change does not touch (dns/zone.hpp). Pure C++, no DPDK:
// the caller publishes the version (one release store) and frees what the
// change replaced (ZoneRetired) once no reader can hold it (rte_rcu_qsbr).
//
// A change costs O(names it touches): the index finds the names a Service
// contributes to, only those are rebuilt, and only the trie levels on their
// paths are copied. Rules that keep the readers safe:
// - nothing reachable from a published version is written again: a trie
//   level is edited in place only by the change that allocated it, before
//   it is published (its `epoch`);
// - prepare() builds the whole new version and changes nothing visible, so
//   a failure (an unencodable name) or an abandoned change costs nothing;
//   commit() only swaps the writer's own bookkeeping.
//
// Threading: one thread (the control thread) calls everything here. That
// thread may also read live() between calls without any grace period:
// versions are retired only by its own commit().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"
#include "dns/records.hpp"
#include "dns/zone.hpp"

namespace svcgw::dns {

// What a committed change replaced: the previous version, the trie levels
// and the nodes it no longer shares. Freed by the destructor.
class ZoneRetired {
public:
    ZoneRetired() = default;
    ~ZoneRetired();
    ZoneRetired(const ZoneRetired&) = delete;
    ZoneRetired& operator=(const ZoneRetired&) = delete;

    size_t objects() const { return _levels.size() + _nodes.size() + (_version ? 1 : 0); }

private:
    friend class ZoneWriter;
    std::unique_ptr<const Zone> _version;
    std::vector<const TrieNode*> _levels;
    std::vector<const ZoneNode*> _nodes;
};

class ZoneWriter {
public:
    // Fails when dns.domain cannot be encoded. The writer starts with the
    // zone's own records and no Service (live() is that version).
    static Result<std::unique_ptr<ZoneWriter>, Errors> create(const DnsConfig& dns,
                                                              Ipv4Prefix service_cidr,
                                                              uint32_t serial);
    // Frees the live version and everything it holds: no reader may be left.
    ~ZoneWriter();
    ZoneWriter(const ZoneWriter&) = delete;
    ZoneWriter& operator=(const ZoneWriter&) = delete;

    struct Upsert {
        const ServiceConfig* service;  // key() identifies it
        std::string path;              // error prefix, e.g. "services[3]"
    };
    class Change;

    // A new version with `upserts` added or replaced and the Services keyed
    // `removals` gone, with SOA serial `serial`. Changes nothing visible;
    // dropping the result abandons it. Only one change may be pending.
    Result<std::unique_ptr<Change>, Errors> prepare(std::span<const Upsert> upserts,
                                                    std::span<const std::string> removals,
                                                    uint32_t serial);
    // Makes `change` live() and hands back what it replaced.
    std::unique_ptr<ZoneRetired> commit(std::unique_ptr<Change> change);

    const Zone* live() const { return _live.get(); }
    // Gives the live version, with its trie and nodes, to the caller (a
    // standalone zone, build_zone); the writer must not be used after.
    std::unique_ptr<const Zone> detach();

    size_t services() const { return _services.size(); }
    // The keys ("ns/name") of the Services the live version holds.
    std::vector<std::string> service_keys() const;

private:
    struct Part {
        uint32_t owner;  // Service id; 0 = the zone's own records
        uint16_t type;
        std::string rdata;
    };
    struct NameEntry {
        std::vector<Part> parts;
        uint32_t presence = 0;  // Services that say the name exists (kPresence records)
        uint32_t children = 0;  // existing names one label below
        uint16_t apex = 0;
        bool is_apex = false;            // an apex: NS at the name, SOA from the version
        bool pinned = false;             // a configured apex: exists with or without records
        const ZoneNode* node = nullptr;  // in the version; null = does not exist
        // A change's copy: the node in its base version (the live one).
        const ZoneNode* before = nullptr;
        bool exists() const { return pinned || !parts.empty() || presence > 0 || children > 0; }
    };
    using Names = std::unordered_map<Name, NameEntry>;
    struct ServiceState {
        uint32_t id = 0;
        std::vector<Record> records;  // sorted
    };

    explicit ZoneWriter(ZoneLayout layout);

    NameEntry& touch(Change& c, const Name& name, const Record* first);
    const NameEntry* lookup(const Change& c, const Name& name) const;
    void set_service(Change& c, const std::string& key, uint32_t id,
                     const std::vector<Record>* before, std::optional<std::vector<Record>> after);
    void settle_existence(Change& c);
    const ZoneNode* build_node(const Change& c, const Name& name, const NameEntry& entry);
    uint16_t put_glue(const Change& c, std::string_view target, std::vector<uint8_t>& out) const;
    void build_version(Change& c, uint32_t serial);

    friend class Change;

    ZoneLayout _layout;
    Names _names;
    std::unordered_map<std::string, ServiceState> _services;
    std::unique_ptr<Zone> _live;
    uint32_t _next_id = 1;
    uint32_t _epoch = 0;
    bool _pending = false;
    std::vector<uint8_t> _node_scratch;  // build_node's buffer, reused
};

// A prepared, unpublished version. Destroying it without commit() frees
// what it built and leaves the writer as it was.
class ZoneWriter::Change {
public:
    ~Change();
    Change(const Change&) = delete;
    Change& operator=(const Change&) = delete;

    const Zone* version() const { return _version.get(); }
    size_t touched_names() const { return _names.size(); }

private:
    friend class ZoneWriter;
    Change(ZoneWriter& writer, uint32_t epoch) : _writer(writer), _epoch(epoch) {}

    ZoneWriter& _writer;
    uint32_t _epoch;
    bool _committed = false;
    Names _names;  // every touched name's state after the change
    std::unordered_map<std::string, std::optional<ServiceState>> _services;  // key -> after
    std::unique_ptr<Zone> _version;
    std::vector<const ZoneNode*> _built;  // new nodes in _version
    std::vector<const ZoneNode*> _replaced_nodes;
    std::vector<const TrieNode*> _replaced_levels;
};

}  // namespace svcgw::dns
