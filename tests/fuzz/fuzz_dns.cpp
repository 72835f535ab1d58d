// Fuzz target: DNS query handling (dns::answer) against a zone that has
// every kind of name the responder serves: ClusterIP and headless services,
// named ports (SRV), a service with many endpoints (TC), PTR zones.
//
// Input: byte 0 = options (bits 0-1: output buffer size 12 / 512 / 1232 /
// 4096; bit 2: no zone (SERVFAIL path); bit 3: max_udp_default 1232
// instead of 512), the rest = the UDP payload.
//
// Invariants checked besides the sanitizers: the reply fits its buffer;
// answering in place (out == query buffer, as the worker does in the mbuf)
// gives byte for byte the same response as answering into a separate
// buffer; a response echoes the query ID and has QR set.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dns/responder.hpp"
#include "dns/zone.hpp"

namespace {

using namespace svcgw;

constexpr size_t kOutSizes[] = {12, 512, 1232, 4096};
constexpr uint16_t kEdnsDefault = 1232;

const dns::Zone* g_zone = nullptr;

void die(const char* what) {
    std::fprintf(stderr, "fuzz_dns: %s\n", what);
    std::abort();
}

ServiceConfig service(const char* name, const char* ns, const char* vip,
                      std::vector<ServicePortConfig> ports, int endpoints) {
    ServiceConfig s;
    s.name = name;
    s.ns = ns;
    if (vip == nullptr) {
        s.headless = true;
    } else {
        s.cluster_ip = *Ipv4::parse(vip);
    }
    s.ports = std::move(ports);
    for (int i = 0; i < endpoints; ++i) {
        EndpointConfig e;
        e.ip = Ipv4{0x0a010000u + static_cast<uint32_t>(i + 1)};  // 10.1.0.x
        e.ready = i % 5 != 4;  // a few not ready: headless answers skip them
        s.endpoints.push_back(e);
    }
    return s;
}

const dns::Zone* build() {
    ServicePortConfig http{.name = "http", .port = 80, .target_port = 8080};
    ServicePortConfig dnsp{.name = "dns", .port = 53, .target_port = 53, .protocol = Protocol::udp};
    ServicePortConfig bare{.port = 9000, .target_port = 9000};
    std::vector<ServiceConfig> services = {
        service("web", "default", "10.96.0.20", {http, dnsp, bare}, 1),
        service("headless", "default", nullptr, {http}, 4),
        service("big", "default", nullptr, {http}, 60),
        service("db", "other", "10.96.1.5", {bare}, 0),
    };
    DnsConfig dns;
    dns.cluster_ip = *Ipv4::parse("10.96.0.10");
    auto zone = dns::build_zone(services, dns, *Ipv4Prefix::parse("10.96.0.0/16"), 7);
    if (!zone) {
        die("build_zone failed");
    }
    return zone->release();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    g_zone = build();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) {
        return 0;
    }
    const uint8_t options = data[0];
    const size_t out_size = kOutSizes[options & 3];
    const dns::Zone* zone = (options & 4) ? nullptr : g_zone;
    const uint16_t max_udp = (options & 8) ? kEdnsDefault : dns::kClassicUdpSize;
    // Exact-size heap copies: any read or write past them is an ASan report.
    const size_t qlen = size - 1;
    std::unique_ptr<uint8_t[]> query(new uint8_t[qlen]);
    std::memcpy(query.get(), data + 1, qlen);
    std::unique_ptr<uint8_t[]> out(new uint8_t[out_size]);
    dns::Reply r = dns::answer(zone, {query.get(), qlen}, {out.get(), out_size}, max_udp);
    if (r.length > out_size) {
        die("reply longer than its buffer");
    }
    if (r.length > 0) {
        if (r.length < 12 || qlen < 2 || std::memcmp(out.get(), query.get(), 2) != 0 ||
            !(out[2] & 0x80)) {
            die("response without the query ID or QR");
        }
    }
    // In place: the query at the start of a buffer at least as long as it.
    const size_t inplace_size = std::max(qlen, out_size);
    std::unique_ptr<uint8_t[]> inplace(new uint8_t[inplace_size]);
    std::memcpy(inplace.get(), query.get(), qlen);
    dns::Reply r2 =
        dns::answer(zone, {inplace.get(), qlen}, {inplace.get(), inplace_size}, max_udp);
    // A larger buffer may let a longer answer fit; compare only when both
    // buffers have the same size.
    if (inplace_size == out_size) {
        if (r2.length != r.length || r2.outcome != r.outcome ||
            std::memcmp(inplace.get(), out.get(), r.length) != 0) {
            die("in-place answer differs from the out-of-place one");
        }
    }
    return 0;
}
