// The API's sockets (DESIGN §3): cpp-httplib serving ApiHandler on
// unix:PATH (mode 0600, the default) or tcp:HOST:PORT (only with a bearer
// token). Limits: request body kMaxRequestBody, header lines 8 KiB
// (httplib's compiled limit), kReadTimeoutS per read, a small pool of
// threads, so one slow client holds one thread for at most the timeout.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "common/result.hpp"
#include "control/api.hpp"
#include "control/listen.hpp"

namespace httplib {
class Server;
}

namespace svcgw {

// Seconds a client may take to send a request (slow clients cannot pin a
// server thread longer).
constexpr int kReadTimeoutS = 5;
constexpr int kWriteTimeoutS = 5;
// Server threads per listener: enough for concurrent CLIs and a scraper.
constexpr size_t kApiThreads = 4;

enum class ServerRole { api, metrics };

class ApiServer {
public:
    // Binds and starts serving on its own threads. api role: tcp needs a
    // token (token_file), refused otherwise. metrics role: GET /metrics only.
    static Result<std::unique_ptr<ApiServer>> start(const std::string& listen,
                                                    const std::string& token_file,
                                                    const ApiHandler& handler, ServerRole role);
    ~ApiServer();  // stops and joins
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

private:
    ApiServer() = default;
    std::unique_ptr<httplib::Server> _server;
    std::atomic<bool> _finished{false};  // the serving thread left listen_after_bind()
    std::thread _thread;
    std::string _unix_path;
};

}  // namespace svcgw
