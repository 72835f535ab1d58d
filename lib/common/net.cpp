#include "common/net.hpp"

#include <charconv>

namespace svcgw {

namespace {

std::optional<uint32_t> parse_uint(std::string_view text, uint32_t max) {
    if (text.empty() || text.size() > 10 || (text.size() > 1 && text[0] == '0')) {
        return std::nullopt;
    }
    uint32_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value > max) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

std::optional<Ipv4> Ipv4::parse(std::string_view text) {
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
        size_t dot = text.find('.');
        bool last = i == 3;
        if (last != (dot == std::string_view::npos)) {
            return std::nullopt;
        }
        auto octet = parse_uint(text.substr(0, dot), 255);
        if (!octet) {
            return std::nullopt;
        }
        value = value << 8 | *octet;
        text = last ? std::string_view{} : text.substr(dot + 1);
    }
    return Ipv4{value};
}

std::string Ipv4::str() const {
    return std::to_string(value >> 24) + '.' + std::to_string(value >> 16 & 0xff) + '.' +
           std::to_string(value >> 8 & 0xff) + '.' + std::to_string(value & 0xff);
}

std::optional<Ipv4Prefix> Ipv4Prefix::parse(std::string_view text) {
    size_t slash = text.find('/');
    if (slash == std::string_view::npos) {
        return std::nullopt;
    }
    auto address = Ipv4::parse(text.substr(0, slash));
    auto length = parse_uint(text.substr(slash + 1), 32);
    if (!address || !length) {
        return std::nullopt;
    }
    return Ipv4Prefix{*address, static_cast<uint8_t>(*length)};
}

std::string Ipv4Prefix::str() const {
    return address.str() + '/' + std::to_string(length);
}

std::optional<Protocol> parse_protocol(std::string_view text) {
    auto equals = [](std::string_view a, std::string_view b) {
        if (a.size() != b.size()) {
            return false;
        }
        for (size_t i = 0; i < a.size(); ++i) {
            if ((a[i] | 0x20) != (b[i] | 0x20)) {
                return false;
            }
        }
        return true;
    };
    if (equals(text, "tcp")) {
        return Protocol::tcp;
    }
    if (equals(text, "udp")) {
        return Protocol::udp;
    }
    return std::nullopt;
}

std::string_view to_string(Protocol protocol) {
    return protocol == Protocol::tcp ? "TCP" : "UDP";
}

}  // namespace svcgw
