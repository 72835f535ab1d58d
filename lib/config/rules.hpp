// Internal to lib/config: name and address rules shared by validation and
// the manifest decoders (one copy of each).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/net.hpp"
#include "config/config.hpp"

namespace svcgw::config_detail {

bool lower_alnum(char c);
// Kubernetes DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63.
bool is_dns1123_label(std::string_view s);
// Kubernetes DNS-1035 label (Service names): a DNS-1123 label starting with a letter.
bool is_dns1035_label(std::string_view s);
// IANA_SVC_NAME (named target ports).
bool is_iana_service_name(std::string_view s);
// A host name in any case (RFC 1123 §2.1).
bool is_dns_name(std::string_view s);
// Lower-case DNS-1123 labels joined by dots, at most 253 characters.
bool is_dns1123_subdomain(std::string_view s);
// Kubernetes label value: at most 63 of [A-Za-z0-9-_.], alphanumeric at both ends.
bool is_label_value(std::string_view s);
// Not 0/8, 127/8, multicast or reserved (RFC 6890).
bool is_unicast(Ipv4 ip);
// "unix:/path" or "tcp:HOST:PORT"; an empty string when the form is right.
std::string listen_problem(std::string_view listen);

// Why an endpoint address cannot be one: the API server's ValidateEndpointIP
// (unspecified, loopback, link-local, link-local multicast), then what svcgw
// cannot forward to (any other non-unicast address).
std::optional<std::string> endpoint_ip_problem(Ipv4 ip);
// What is wrong with one endpoint on its own, as {field, message}: its
// address and its names. Shared by service validation and slice decoding.
std::vector<std::pair<std::string, std::string>> endpoint_problems(const EndpointConfig& endpoint);

}  // namespace svcgw::config_detail
