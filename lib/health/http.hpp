// The HTTP side of a health probe (pure, no sockets): the request a probe
// sends and the reading of the status line it gets back. Only the status
// code decides; headers and body are never read (RFC 9112 §4: the status
// line is the first line of a response).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/net.hpp"

namespace svcgw::health {

// Bytes of a response a probe reads at most: the status line of any sane
// server fits ("HTTP/1.1 200 OK\r\n" is 17), and a reason phrase longer than
// this is not worth waiting for.
constexpr size_t kMaxStatusLine = 256;

// "GET <path> HTTP/1.1" with Host (the backend's address and port, as the
// kubelet's httpGet probe sends), a User-Agent naming svcgw, and
// Connection: close (one request per connection, nothing kept open).
std::string http_request(std::string_view path, Ipv4 ip, uint16_t port);

// The outcome of reading the bytes received so far.
struct StatusLine {
    enum class State { incomplete, ok, malformed };
    State state = State::incomplete;
    uint16_t code = 0;  // valid when ok
};

// Reads "HTTP/1.x SP 3DIGIT" at the start of `received`. `incomplete` while
// more bytes could still make it valid; `malformed` as soon as they cannot
// (or when kMaxStatusLine bytes hold no complete status code).
StatusLine parse_status_line(std::string_view received);

}  // namespace svcgw::health
