// svcgwctl's command line: kubectl-style flags (`--port 80` or `--port=80`,
// `-n NS`, long aliases folded onto the short names) and the endpoint
// arguments (`IP[:PORT]`, comma lists). Pure: no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace svcgw::ctl {

struct Args {
    std::vector<std::string> positional;
    std::map<std::string, std::string> flags;  // "--port" -> "80"; "-n" -> "ns"
    bool has(const std::string& f) const { return flags.contains(f); }
    std::string get(const std::string& f, const std::string& fallback = "") const {
        auto it = flags.find(f);
        return it == flags.end() ? fallback : it->second;
    }
};

std::optional<Args> parse_args(int argc, char** argv, std::string& error);

// The namespace a verb works in (-n, else "default").
std::string ns_of(const Args& a);

// "service", "services" or "svc": the resource names kubectl accepts.
bool names_services(const std::string& kind);

// `s` is 1 to `max_digits` decimal digits (a count, a port, a generation).
bool is_decimal(const std::string& s, size_t max_digits);

// One "IP" or "IP:PORT" item. PORT is the endpoint's port for the
// service's port (an EndpointSlice port); without it the endpoint keeps the
// ports it has, or, when new, takes the Service's targetPort.
struct EndpointArg {
    std::string ip;
    std::optional<uint16_t> port;
};

std::optional<EndpointArg> parse_endpoint_arg(const std::string& item, std::string& error);
// A comma list of endpoint items; empty items are skipped.
std::optional<std::vector<EndpointArg>> parse_ip_list(const std::string& text, std::string& error);

}  // namespace svcgw::ctl
