#include "health/http.hpp"

namespace svcgw::health {

namespace {

// RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT; §4: status-line =
// HTTP-version SP status-code SP [reason-phrase]. "HTTP/1." + digit + SP is 9
// bytes, then three digits.
constexpr std::string_view kVersionPrefix = "HTTP/1.";
constexpr size_t kCodeOffset = 9;
constexpr size_t kCodeDigits = 3;

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

}  // namespace

std::string http_request(std::string_view path, Ipv4 ip, uint16_t port) {
    std::string r;
    r.reserve(path.size() + 128);
    r += "GET ";
    r += path;
    r += " HTTP/1.1\r\nHost: ";
    r += ip.str();
    r += ":";
    r += std::to_string(port);
    r += "\r\nUser-Agent: svcgw-health/1\r\nAccept: */*\r\nConnection: close\r\n\r\n";
    return r;
}

StatusLine parse_status_line(std::string_view received) {
    StatusLine out;
    // Every byte so far must agree with the grammar, so a non-HTTP answer
    // (an SSH banner, a TLS alert) fails at once instead of at the timeout.
    for (size_t i = 0; i < received.size() && i < kCodeOffset + kCodeDigits; ++i) {
        const char c = received[i];
        bool fits = false;
        if (i < kVersionPrefix.size()) {
            fits = c == kVersionPrefix[i];
        } else if (i == kVersionPrefix.size()) {
            fits = is_digit(c);
        } else if (i == kVersionPrefix.size() + 1) {
            fits = c == ' ';
        } else {
            fits = is_digit(c);
        }
        if (!fits) {
            out.state = StatusLine::State::malformed;
            return out;
        }
    }
    if (received.size() < kCodeOffset + kCodeDigits) {
        if (received.size() >= kMaxStatusLine) {
            out.state = StatusLine::State::malformed;
        }
        return out;
    }
    out.code = static_cast<uint16_t>((received[kCodeOffset] - '0') * 100 +
                                     (received[kCodeOffset + 1] - '0') * 10 +
                                     (received[kCodeOffset + 2] - '0'));
    out.state = StatusLine::State::ok;
    return out;
}

}  // namespace svcgw::health
