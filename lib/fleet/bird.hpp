// BIRD's control socket (the one birdc speaks), for the one command svcgw
// needs: `configure`, after the routes file changed.
//
// Why the socket and not `birdc configure`: the control thread would fork a
// process that maps the hugepages and owns EAL's threads, and depend on
// birdc being installed next to BIRD; the socket gives the numbered reply
// (0003 Reconfigured, 8002 with the config error), a bounded wait, and an
// error message svcgw can log and export as it is.
//
// Protocol (BIRD's doc/reply_codes): every reply line starts with a 4-digit
// code, then '-' (more lines follow) or ' ' (the last line); a line starting
// with ' ' continues the previous one. 0xxx success, 8xxx run-time and 9xxx
// parse-time errors. The server greets with "0001 BIRD x.y.z ready."
//
// Threading: control thread; blocks at most `timeout` per call.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace svcgw::fleet {

struct BirdReply {
    int code = 0;         // of the last line
    std::string message;  // text of the last line
    bool ok() const { return code < 8000; }
};

// The reply once its last line is in `text` (nullopt: more to read);
// an error when a line is not of the form above.
Result<std::optional<BirdReply>> parse_bird_reply(std::string_view text);

// Connects to `socket_path`, reads the greeting, sends `configure` and
// returns BIRD's final reply (ok or not); errors for a socket that does not
// answer within `timeout` or breaks the protocol.
Result<BirdReply> bird_configure(const std::string& socket_path, std::chrono::milliseconds timeout);

// Writes `text` to `path` through a temporary file and rename(2), so BIRD
// never reads a half-written file.
Result<void> write_file_atomically(const std::string& path, const std::string& text);

}  // namespace svcgw::fleet
