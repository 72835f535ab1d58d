#include "dns/wire.hpp"

namespace svcgw::dns {

std::optional<std::vector<uint8_t>> encode_name(std::string_view dotted) {
    std::vector<uint8_t> out;
    if (!dotted.empty() && dotted.back() == '.') {
        dotted.remove_suffix(1);
    }
    while (!dotted.empty()) {
        size_t dot = dotted.find('.');
        std::string_view label = dotted.substr(0, dot);
        if (label.empty() || label.size() > kMaxLabelLength) {
            return std::nullopt;
        }
        out.push_back(static_cast<uint8_t>(label.size()));
        for (char c : label) {
            out.push_back(ascii_lower(static_cast<uint8_t>(c)));
        }
        dotted = dot == std::string_view::npos ? std::string_view{} : dotted.substr(dot + 1);
    }
    out.push_back(0);
    if (out.size() > kMaxNameLength) {
        return std::nullopt;
    }
    return out;
}

std::string name_to_text(std::span<const uint8_t> wire) {
    std::string out;
    size_t i = 0;
    while (i < wire.size() && wire[i] != 0) {
        size_t len = wire[i];
        for (size_t k = 1; k <= len && i + k < wire.size(); ++k) {
            out.push_back(static_cast<char>(wire[i + k]));
        }
        out.push_back('.');
        i += len + 1;
    }
    return out.empty() ? "." : out;
}

}  // namespace svcgw::dns
