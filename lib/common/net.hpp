// Plain value types for addresses, prefixes and protocols, shared by every
// plane. No DPDK here; host byte order unless a name says otherwise.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace svcgw {

struct Ipv4 {
    uint32_t value = 0;  // host byte order

    static std::optional<Ipv4> parse(std::string_view text);  // dotted quad only
    std::string str() const;
    auto operator<=>(const Ipv4&) const = default;
};

struct Ipv4Prefix {
    Ipv4 address;  // as written (may have host bits set, e.g. a port's 10.99.0.1/24)
    uint8_t length = 0;

    static std::optional<Ipv4Prefix> parse(std::string_view text);  // "a.b.c.d/len"
    uint32_t mask() const { return length == 0 ? 0 : ~uint32_t{0} << (32 - length); }
    Ipv4 network() const { return Ipv4{address.value & mask()}; }
    bool contains(Ipv4 ip) const { return (ip.value & mask()) == network().value; }
    std::string str() const;
    auto operator<=>(const Ipv4Prefix&) const = default;
};

// IANA protocol numbers (RFC 790 / IANA registry).
enum class Protocol : uint8_t { tcp = 6, udp = 17 };

// Accepts Kubernetes' spelling ("TCP", "UDP"), case-insensitively.
std::optional<Protocol> parse_protocol(std::string_view text);
std::string_view to_string(Protocol protocol);  // "TCP" | "UDP"

}  // namespace svcgw
