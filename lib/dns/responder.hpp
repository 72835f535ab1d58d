// The DNS query responder: one UDP payload in, one response out. Pure C++,
// no EAL, no allocation, no locks; safe to call from any number of workers
// at once on the same Zone (it only reads it).
//
// Policy (DESIGN §3 DNS; each choice and its RFC):
// - no zone yet (before the first configuration is live): SERVFAIL, never
//   NXDOMAIN, so resolvers retry instead of caching a negative answer;
// - truncated header (< 12 octets) or QR=1 (a response): dropped, no reply
//   (RFC 1035 §7.3 -- never answer responses: reflection loops);
// - opcode other than QUERY: NOTIMP (header only);
// - QDCOUNT != 1, a compression pointer or bad label type in the question,
//   a name > 255 octets, a truncated question, ANCOUNT/NSCOUNT != 0, a
//   malformed additional section, two OPT records, an OPT not owned by the
//   root, trailing bytes, QTYPE OPT: FORMERR;
// - EDNS version > 0: BADVERS (RFC 6891 §6.1.3);
// - QCLASS other than IN: REFUSED (we hold no data in any other class; NOTIMP
//   is for unsupported opcodes/kinds of query, RFC 1035 §4.1.1);
// - QTYPE AXFR/IXFR/MAILA/MAILB: NOTIMP (no zone transfer over UDP);
// - names outside <domain> and the service CIDR's reverse zones: REFUSED;
// - NXDOMAIN (no such name) vs NODATA (name exists, incl. empty
//   non-terminals, but not that type): both with the zone's SOA in the
//   authority section, TTL = SOA minimum (RFC 2308);
// - AAAA: NODATA (IPv4-only cluster); ANY: the first RRset of the name by
//   type code, a minimal answer per RFC 8482 §4.1 (no amplification);
// - a CNAME (ExternalName Service) answers every type (RFC 1034 §3.6.2);
//   its target is followed while it is in the zone (RFC 1034 §4.3.2 3a),
//   else left to the client's resolver;
// - multi-address answers rotate per response (as CoreDNS `loadbalance`):
//   `rotation` (the caller's own query counter: no shared state) picks the
//   first A record, so clients that take the first address spread out;
// - AA on authoritative answers, RD and CD copied, RA/AD clear; the question
//   is echoed byte for byte (the client's case) and answers point to it;
// - EDNS0: an OPT is echoed with our size (1232) and the DO bit copied (RFC
//   3225 §3); the response limit is the client's size (at least 512, at
//   most ours), 512 (`max_udp_default`) without EDNS, and never more than
//   `out.size()`; if the answer or the SOA does not fit: TC=1 with the
//   question only; additional glue is added only when it fits (RFC 2181 §9);
// - over TCP (answer_tcp, RFC 7766) the limit is the message's own 65535
//   octets (and `out.size()`), whatever the EDNS size says.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "dns/wire.hpp"
#include "dns/zone.hpp"

namespace svcgw::dns {

// One list generates the enum and the names (STYLE §10). Every query bumps
// `queries` and exactly one outcome (an rcode or a drop reason).
#define SVCGW_DNS_COUNTERS(X)                                                        \
    X(queries, "queries")                                                            \
    X(noerror, "rcode_noerror")                                                      \
    X(nxdomain, "rcode_nxdomain")                                                    \
    X(refused, "rcode_refused")                                                      \
    X(formerr, "rcode_formerr")                                                      \
    X(notimp, "rcode_notimp")                                                        \
    X(servfail, "rcode_servfail")                                                    \
    X(badvers, "rcode_badvers")                                                      \
    X(nodata, "noerror_nodata") /* a subset of noerror: the name has no such type */ \
    X(truncated, "truncated")                                                        \
    X(drop_short_header, "drop_short_header")                                        \
    X(drop_response, "drop_qr_set")                                                  \
    X(drop_buffer_too_small, "drop_buffer_too_small")

enum class Counter : uint8_t {
#define SVCGW_DNS_ENUM(id, name) id,
    SVCGW_DNS_COUNTERS(SVCGW_DNS_ENUM)
#undef SVCGW_DNS_ENUM
        count
};

constexpr std::string_view counter_name(Counter c) {
    constexpr std::string_view kNames[] = {
#define SVCGW_DNS_NAME(id, name) name,
        SVCGW_DNS_COUNTERS(SVCGW_DNS_NAME)
#undef SVCGW_DNS_NAME
    };
    return kNames[static_cast<size_t>(c)];
}

// What answer() did. `length` is 0 exactly when the query is dropped.
struct Reply {
    size_t length = 0;
    Counter outcome = Counter::drop_short_header;  // an rcode counter or a drop reason
    bool truncated = false;
    bool nodata = false;
};

// Per-lcore counters, owned by the caller; plain integers, no atomics (one
// writer). Readers on other threads see eventually consistent values.
struct alignas(64) DnsCounters {
    uint64_t values[static_cast<size_t>(Counter::count)] = {};

    void add(const Reply& reply) {
        ++values[static_cast<size_t>(Counter::queries)];
        ++values[static_cast<size_t>(reply.outcome)];
        values[static_cast<size_t>(Counter::truncated)] += reply.truncated;
        values[static_cast<size_t>(Counter::nodata)] += reply.nodata;
    }
    uint64_t operator[](Counter c) const { return values[static_cast<size_t>(c)]; }
};

// Answers one query message (the UDP payload). Writes the response into
// `out` and returns its length, or length 0 = drop. `zone` may be null
// (SERVFAIL). `out` may be the very buffer `query` is in (same start
// address: the worker answers in place in the mbuf), provided it is at least
// as long as the query; any other overlap is not allowed. Never reads
// outside `query`, never writes outside `out`.
Reply answer(const Zone* zone, std::span<const uint8_t> query, std::span<uint8_t> out,
             uint16_t max_udp_default = kClassicUdpSize, uint32_t rotation = 0);
// The same for a query that came over TCP (one message, without its length
// prefix).
Reply answer_tcp(const Zone* zone, std::span<const uint8_t> query, std::span<uint8_t> out,
                 uint32_t rotation = 0);

}  // namespace svcgw::dns
