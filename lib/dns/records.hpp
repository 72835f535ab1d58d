// What the cluster zone holds, as records (Kubernetes DNS-Based Service
// Discovery 1.1.0, with CoreDNS' kubernetes plugin where the spec leaves a
// choice). Pure functions of the configuration: the zone writer turns these
// records into the answer bytes the workers serve. Control thread only.
//
// Per Service (spec §2.3-§2.5):
// - ClusterIP: A <svc>.<ns>.svc.<domain> = ClusterIP; PTR of the ClusterIP;
//   per named port SRV _<port>._<proto>.<svc>... -> <svc>... (port = the
//   Service port).
// - headless: per ready endpoint an A at the Service name and one at
//   <hostname>.<svc>..., where hostname is the EndpointSlice `hostname`
//   (StatefulSet pods: web-0) or, when unset, the dashed IP (10-1-2-3, as
//   CoreDNS); the PTR of the endpoint IP -> that name (§2.4.3); per named
//   port and ready endpoint SRV -> that name, port = the endpoint's target
//   port (clients of a headless Service connect to the pod). No ready
//   endpoint: no record, NXDOMAIN (§2.4.1).
// - ExternalName: CNAME <svc>... -> external_name (§2.5); nothing else.
// - every Service: <ns>.svc.<domain> exists (NODATA, not NXDOMAIN).
// Unlike CoreDNS, endpoint names and endpoint PTRs exist for headless
// Services only (the spec's rows): a ClusterIP Service's endpoints are
// reached through its VIP, and its endpoint changes never touch DNS.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
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
// Negative answers are cached for min(SOA TTL, SOA MINIMUM) (RFC 2308 §5).
// CoreDNS caps the SOA's TTL at 300 s whatever the record TTL, so "no such
// service" is never cached for long; we cap both fields the same way.
constexpr uint32_t kMaxNegativeTtl = 300;
// Spec §2.2: the schema version served in TXT dns-version.<domain>.
constexpr std::string_view kSchemaVersion = "1.1.0";

// Names and rdata in wire form (lower-cased, uncompressed), held as bytes.
using Name = std::string;

// Type 0: no record, the owner name exists (a namespace with a Service).
constexpr uint16_t kPresence = 0;

struct Record {
    Name owner;
    uint16_t type = 0;
    std::string rdata;
    uint16_t apex = 0;      // index into ZoneLayout::apexes(): the zone the owner is in
    bool own_zone = false;  // the owner is an apex of its own (an endpoint PTR, see below)

    auto operator<=>(const Record&) const = default;
};

struct ApexName {
    Name name;
    uint8_t label_count = 0;
};

// The names that do not depend on Services: the domain, the reverse zones of
// the service CIDR, the name server. The PTR name of a headless endpoint
// outside the service CIDR (a pod IP) lives in no configured zone: it is an
// apex of its own (with SOA and NS), all of them sharing the last entry of
// apexes() ("d.c.b.a.in-addr.arpa", 6 labels).
class ZoneLayout {
public:
    static Result<ZoneLayout, Errors> create(const DnsConfig& dns, Ipv4Prefix service_cidr);

    const std::vector<ApexName>& apexes() const { return _apexes; }
    uint16_t host_reverse_apex() const { return static_cast<uint16_t>(_apexes.size() - 1); }
    const Name& domain() const { return _domain; }
    const Name& ns_host() const { return _ns_host; }
    uint32_t ttl() const { return _ttl; }
    // min(ttl, 300): the SOA's TTL and MINIMUM (kMaxNegativeTtl).
    uint32_t negative_ttl() const;

    // The zone's own records: NS host A, TXT dns-version, PTR of dns.cluster_ip.
    std::vector<Record> static_records() const;
    // A Service's records, sorted and without duplicates. Errors (names that
    // do not encode) carry `path` ("services[3]") as their prefix.
    Result<std::vector<Record>, Errors> service_records(const ServiceConfig& service,
                                                        const std::string& path) const;
    // SOA rdata (RFC 1035 §3.3.13), the same at every apex.
    std::string soa_rdata(uint32_t serial) const;

private:
    ZoneLayout() = default;
    Record ptr_record(Ipv4 ip, std::string_view target) const;

    Name _domain;
    Name _ns_host;  // ns.dns.<domain>
    Name _hostmaster;
    Name _svc;  // svc.<domain>
    Ipv4 _dns_ip;
    uint32_t _ttl = 0;
    Ipv4Prefix _service_cidr;
    uint8_t _rev_bits = 0;          // reverse zones: the CIDR rounded out to whole octets
    std::vector<ApexName> _apexes;  // [0] domain, [1..] reverse blocks, [last] endpoint PTRs
};

// Wire-form helpers shared with the writer.
std::optional<Name> prepend_label(std::string_view label, std::string_view parent);
std::string_view parent_name(std::string_view name);  // not the root
size_t name_labels(std::string_view name);
// d.c.b.a.in-addr.arpa for the first `octets` octets of `ip` (RFC 1035 §3.5).
Name reverse_name(Ipv4 ip, size_t octets);
std::string a_rdata(Ipv4 ip);

}  // namespace svcgw::dns
