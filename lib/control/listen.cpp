#include "control/listen.hpp"

#include <cctype>
#include <fstream>

namespace svcgw {

Result<ListenAddress> parse_listen(std::string_view text) {
    ListenAddress a;
    if (text.starts_with("unix:")) {
        a.is_unix = true;
        a.path = std::string(text.substr(5));
        if (a.path.empty() || a.path[0] != '/') {
            return fail("listen", "unix socket path must be absolute: " + std::string(text));
        }
        return a;
    }
    if (text.starts_with("tcp:")) {
        std::string rest(text.substr(4));
        size_t colon = rest.rfind(':');
        if (colon == std::string::npos || colon == 0) {
            return fail("listen", "expected tcp:HOST:PORT, got " + std::string(text));
        }
        a.is_unix = false;
        a.host = rest.substr(0, colon);
        std::string port = rest.substr(colon + 1);
        if (port.empty() || port.size() > 5 ||
            port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) == 0 ||
            std::stoi(port) > 65535) {
            return fail("listen", "bad port in " + std::string(text));
        }
        a.port = std::stoi(port);
        return a;
    }
    return fail("listen", "expected unix:PATH or tcp:HOST:PORT, got '" + std::string(text) + "'");
}

Result<std::string> read_token_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return fail("api.token_file", "cannot read " + path);
    }
    std::string line;
    std::getline(in, line);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) {
        line.pop_back();
    }
    if (line.empty()) {
        return fail("api.token_file", path + " is empty");
    }
    return line;
}

bool bearer_matches(std::string_view authorization, std::string_view token) {
    constexpr std::string_view kPrefix = "Bearer ";
    if (!authorization.starts_with(kPrefix) || token.empty()) {
        return false;
    }
    std::string_view given = authorization.substr(kPrefix.size());
    // Constant time over the expected token: every byte is compared and the
    // length difference folded in, no early exit.
    unsigned diff = given.size() == token.size() ? 0 : 1;
    for (size_t i = 0; i < token.size(); ++i) {
        char g = i < given.size() ? given[i] : 0;
        diff |= static_cast<unsigned char>(g ^ token[i]);
    }
    return diff == 0;
}

}  // namespace svcgw
