// Name and address rules, as the Kubernetes API server states them where it
// has one (apimachinery validation, ValidateEndpointIP), plus what svcgw
// itself cannot serve.
#include "config/rules.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace svcgw::config_detail {

namespace {

// RFC 1035 §2.3.4: labels are at most 63 octets, names at most 255 octets on
// the wire, i.e. 253 characters in text form.
constexpr size_t kMaxLabel = 63;
constexpr size_t kMaxDomainName = 253;
// IANA_SVC_NAME (RFC 6335 §5.1): at most 15 characters.
constexpr size_t kMaxServiceName = 15;
// sun_path is 108 bytes including the terminating NUL (unix(7)).
constexpr size_t kMaxUnixPath = 107;

}  // namespace

bool lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// Kubernetes DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63.
bool is_dns1123_label(std::string_view s) {
    if (s.empty() || s.size() > kMaxLabel || !lower_alnum(s.front()) || !lower_alnum(s.back())) {
        return false;
    }
    return std::all_of(s.begin(), s.end(), [](char c) { return lower_alnum(c) || c == '-'; });
}

// Kubernetes DNS-1035 label (Service names): a DNS-1123 label starting with a letter.
bool is_dns1035_label(std::string_view s) {
    return is_dns1123_label(s) && s.front() >= 'a' && s.front() <= 'z';
}

// IANA_SVC_NAME (named target ports).
bool is_iana_service_name(std::string_view s) {
    if (s.empty() || s.size() > kMaxServiceName || s.front() == '-' || s.back() == '-' ||
        s.find("--") != std::string_view::npos) {
        return false;
    }
    bool letter = std::any_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'z'; });
    return letter &&
           std::all_of(s.begin(), s.end(), [](char c) { return lower_alnum(c) || c == '-'; });
}

// A host name in any case (RFC 1123 §2.1), lower-cased by the caller.
bool is_dns_name(std::string_view s) {
    if (s.empty() || s.size() > kMaxDomainName) {
        return false;
    }
    size_t start = 0;
    while (start <= s.size()) {
        size_t dot = s.find('.', start);
        std::string_view label = s.substr(start, dot == std::string_view::npos ? dot : dot - start);
        std::string lowered;
        for (char c : label) {
            lowered += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        if (!is_dns1123_label(lowered)) {
            return false;
        }
        if (dot == std::string_view::npos) {
            break;
        }
        start = dot + 1;
    }
    return true;
}

// Kubernetes DNS-1123 subdomain (node names, ExternalName targets): lower-case
// DNS-1123 labels joined by dots, at most 253 characters.
bool is_dns1123_subdomain(std::string_view s) {
    if (s.empty() || s.size() > kMaxDomainName) {
        return false;
    }
    size_t start = 0;
    while (true) {
        size_t dot = s.find('.', start);
        if (!is_dns1123_label(s.substr(start, dot == std::string_view::npos ? dot : dot - start))) {
            return false;
        }
        if (dot == std::string_view::npos) {
            return true;
        }
        start = dot + 1;
    }
}

// Kubernetes label value (zones come from the topology.kubernetes.io/zone
// label): at most 63 of [A-Za-z0-9-_.], starting and ending alphanumeric.
bool is_label_value(std::string_view s) {
    auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
    if (s.empty()) {
        return true;
    }
    if (s.size() > kMaxLabel || !alnum(s.front()) || !alnum(s.back())) {
        return false;
    }
    return std::all_of(s.begin(), s.end(),
                       [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool is_unicast(Ipv4 ip) {
    uint8_t first = static_cast<uint8_t>(ip.value >> 24);
    // 0/8 "this network", 127/8 loopback, 224/4 multicast, 240/4 reserved (RFC 6890).
    return first != 0 && first != 127 && first < 224;
}

// "unix:/path" or "tcp:HOST:PORT"; an empty string when the form is right.
std::string listen_problem(std::string_view listen) {
    constexpr std::string_view kForms = " (expected \"unix:/path\" or \"tcp:HOST:PORT\")";
    if (listen.starts_with("unix:")) {
        std::string_view path = listen.substr(5);
        if (path.empty() || path.front() != '/') {
            return "unix socket path must be absolute";
        }
        if (path.size() > kMaxUnixPath) {
            return "unix socket path longer than " + std::to_string(kMaxUnixPath) + " bytes";
        }
        return {};
    }
    if (listen.starts_with("tcp:")) {
        std::string_view rest = listen.substr(4);
        size_t colon = rest.rfind(':');
        if (colon == std::string_view::npos) {
            return "missing port in '" + std::string(listen) + "'" + std::string(kForms);
        }
        std::string_view host = rest.substr(0, colon);
        std::string_view port_text = rest.substr(colon + 1);
        if (host.find(':') != std::string_view::npos || host.starts_with("[")) {
            return "IPv6 listen addresses are not supported";
        }
        bool digits_only = !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
        });
        if (digits_only ? !Ipv4::parse(host).has_value() : !is_dns_name(host)) {
            return "invalid host '" + std::string(host) + "'";
        }
        uint32_t port = 0;
        auto [end, ec] =
            std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
        if (port_text.empty() || ec != std::errc{} || end != port_text.data() + port_text.size() ||
            port < 1 || port > 65535) {
            return "invalid port '" + std::string(port_text) + "' (1-65535)";
        }
        return {};
    }
    return "invalid listen address '" + std::string(listen) + "'" + std::string(kForms);
}

std::optional<std::string> endpoint_ip_problem(Ipv4 ip) {
    const std::string text = ip.str();
    const uint8_t first = static_cast<uint8_t>(ip.value >> 24);
    if (ip.value == 0) {
        return text + " may not be unspecified (0.0.0.0)";
    }
    if (first == 127) {
        return text + " may not be in the loopback range (127.0.0.0/8)";
    }
    if ((ip.value >> 16) == 0xa9fe) {  // 169.254/16, RFC 3927
        return text + " may not be in the link-local range (169.254.0.0/16)";
    }
    if ((ip.value >> 8) == 0xe00000) {  // 224.0.0/24, RFC 5771
        return text + " may not be in the link-local multicast range (224.0.0.0/24)";
    }
    if (!is_unicast(ip)) {
        return text + " is not a unicast address";  // svcgw forwards to unicast pods only
    }
    return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> endpoint_problems(const EndpointConfig& ep) {
    std::vector<std::pair<std::string, std::string>> out;
    if (auto problem = endpoint_ip_problem(ep.ip)) {
        out.emplace_back("ip", *problem);
    }
    if (!ep.hostname.empty() && !is_dns1123_label(ep.hostname)) {
        out.emplace_back("hostname",
                         "invalid hostname '" + ep.hostname + "': must be a DNS-1123 label");
    }
    if (!ep.node_name.empty() && !is_dns1123_subdomain(ep.node_name)) {
        out.emplace_back("node_name",
                         "invalid node_name '" + ep.node_name + "': must be a DNS-1123 subdomain");
    }
    if (!is_label_value(ep.zone)) {
        out.emplace_back("zone", "invalid zone '" + ep.zone +
                                     "': must be a label value (at most 63 of A-Z a-z 0-9 - _ ., "
                                     "alphanumeric at both ends)");
    }
    return out;
}

}  // namespace svcgw::config_detail
