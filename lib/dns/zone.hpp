// The cluster DNS zone (DESIGN §3 DNS, Kubernetes DNS-Based Service Discovery
// 1.1.0): built by the control thread from the service set, immutable once
// built, then published to the workers like the VIP table (one pointer swap,
// RCU reclaim). Workers only call the const lookup methods below.
//
// Layout: one byte arena holds every owner name (lower-cased wire form) and,
// per RRset, the complete answer-section bytes with the owner written as a
// compression pointer to the question (0xC00C), so answering is a memcpy.
// Names are found through an open-addressing hash (linear probing, load
// <= 1/2) of 8-byte slots {hash tag, node index}.
//
// Contents: the forward zone <domain> (SOA, NS -> ns.dns.<domain> with its A
// = dns.cluster_ip, TXT dns-version, services' A/SRV, headless endpoint
// names) and one reverse zone per octet-aligned block of the service CIDR
// (SOA, NS, PTR per ClusterIP and for dns.cluster_ip). Every ancestor of an
// owner name up to its apex exists as an (empty) node, so NXDOMAIN vs NODATA
// is exact (RFC 8020).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "common/net.hpp"
#include "common/result.hpp"
#include "config/config.hpp"

namespace svcgw::dns {

// RFC 2782 priority/weight: the spec leaves them open; kube-dns and the
// spec's own examples use 10 and 100 (equal weight for every target).
constexpr uint16_t kSrvPriority = 10;
constexpr uint16_t kSrvWeight = 100;
// SOA timers (RFC 1912 §2.2 ranges; the values CoreDNS' kubernetes plugin
// uses). No secondaries transfer this zone, so they are informational.
constexpr uint32_t kSoaRefresh = 7200;
constexpr uint32_t kSoaRetry = 1800;
constexpr uint32_t kSoaExpire = 86400;
// Spec §2.2: the schema version served in TXT dns-version.<domain>.
constexpr std::string_view kSchemaVersion = "1.1.0";

struct RRset {
    uint16_t type = 0;
    uint16_t count = 0;          // records in the answer bytes
    uint32_t answer_offset = 0;  // arena: RRs, owner = pointer to the question name
    uint32_t answer_length = 0;
    uint16_t extra_count = 0;   // additional-section A records for SRV/NS targets
    uint32_t extra_offset = 0;  // arena: RRs with full (uncompressed) owner names
    uint32_t extra_length = 0;
};

struct ZoneNode {
    uint32_t name_offset = 0;  // arena: lower-cased wire name
    uint8_t name_length = 0;
    uint8_t apex = 0;          // index into Zone::apexes()
    uint16_t rrset_count = 0;  // 0 = empty non-terminal
    uint32_t rrset_first = 0;  // index into the RRset array, sorted by type
};

struct ZoneApex {
    uint8_t label_count = 0;  // labels of the apex name, root excluded
    uint32_t soa_offset = 0;  // arena: SOA RR *without* its owner (type onward),
    uint32_t soa_length = 0;  // TTL = SOA minimum, for negative answers (RFC 2308 §3)
};

class Zone {
public:
    // Lookup by lower-cased wire name; `hash` must be name_hash(name).
    const ZoneNode* find(std::span<const uint8_t> name, uint64_t hash) const;
    const ZoneNode* find(std::span<const uint8_t> name) const;
    std::span<const RRset> rrsets(const ZoneNode& node) const {
        return {_rrsets.data() + node.rrset_first, node.rrset_count};
    }
    const RRset* rrset(const ZoneNode& node, uint16_t type) const;
    std::span<const uint8_t> bytes(uint32_t offset, uint32_t length) const {
        return {_arena.data() + offset, length};
    }
    std::span<const uint8_t> name(const ZoneNode& node) const {
        return bytes(node.name_offset, node.name_length);
    }
    std::span<const ZoneApex> apexes() const { return _apexes; }

    uint32_t serial() const { return _serial; }
    size_t node_count() const { return _nodes.size(); }
    size_t record_count() const { return _record_count; }
    size_t memory_bytes() const;

private:
    friend class ZoneBuilder;

    struct Slot {
        uint32_t tag = 0;   // upper hash bits, to skip most name compares
        uint32_t node = 0;  // node index + 1; 0 = empty
    };

    std::vector<Slot> _slots;
    uint64_t _mask = 0;
    std::vector<ZoneNode> _nodes;
    std::vector<RRset> _rrsets;
    std::vector<uint8_t> _arena;
    std::vector<ZoneApex> _apexes;
    uint32_t _serial = 0;
    size_t _record_count = 0;
};

// Builds the zone for a validated service set. `serial` is the SOA serial (the
// control thread's build counter: it must grow with every publish, RFC 1982).
// Fails only on names that cannot be encoded (a label > 63 octets or a name
// > 255 octets), each reported with its config path.
Result<std::unique_ptr<const Zone>, Errors> build_zone(const std::vector<ServiceConfig>& services,
                                                       const DnsConfig& dns,
                                                       Ipv4Prefix service_cidr, uint32_t serial);
Result<std::unique_ptr<const Zone>, Errors> build_zone(const Config& config, uint32_t serial);

}  // namespace svcgw::dns
