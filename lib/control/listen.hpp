// The control API's addresses and bearer tokens, shared by the server
// (control/server.hpp) and its clients (control/client.hpp, svcgwctl):
// plain C++, no sockets, so the CLI links no server code.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace svcgw {

struct ListenAddress {
    bool is_unix = true;
    std::string path;  // unix
    std::string host;  // tcp
    int port = 0;      // tcp
};
Result<ListenAddress> parse_listen(std::string_view text);  // "unix:PATH" | "tcp:HOST:PORT"

// The token file's first line, trimmed; error if unreadable or empty.
Result<std::string> read_token_file(const std::string& path);
// "Bearer <token>" compared in time independent of where they differ.
bool bearer_matches(std::string_view authorization, std::string_view token);

}  // namespace svcgw
