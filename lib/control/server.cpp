#include "control/server.hpp"

#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

namespace svcgw {
namespace {

// httplib 0.11 binds TCP only; it serves any listening socket placed in
// svr_sock_ (protected), which is how the unix socket is served.
class SocketServer : public httplib::Server {
public:
    void adopt(int fd) { svr_sock_ = fd; }
};

Result<int> bind_unix(const std::string& path) {
    sockaddr_un addr{};
    if (path.size() >= sizeof addr.sun_path) {
        return fail("api.listen", "unix socket path too long: " + path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return fail("api.listen", std::string("socket: ") + std::strerror(errno));
    }
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    std::string dir = path.substr(0, path.rfind('/'));
    if (!dir.empty()) {
        mkdir(dir.c_str(), 0755);  // /run/svcgw; fine if it exists
    }
    unlink(path.c_str());  // a stale socket from a previous run
    // Created 0600 from the start: no window where others may connect.
    mode_t old = umask(0177);
    int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    umask(old);
    if (rc != 0 || listen(fd, SOMAXCONN) != 0) {
        std::string e = std::strerror(errno);
        close(fd);
        return fail("api.listen", "cannot listen on unix:" + path + ": " + e);
    }
    return fd;
}

HttpRequest to_request(const httplib::Request& req) {
    HttpRequest r;
    r.method = req.method;
    r.path = req.path;
    for (const auto& [k, v] : req.params) {
        r.query[k] = v;
    }
    for (const auto& [k, v] : req.headers) {
        std::string lower = k;
        for (char& c : lower) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        r.headers[lower] = v;
    }
    r.body = req.body;
    return r;
}

void write(httplib::Response& res, const HttpResponse& out) {
    res.status = out.status;
    res.set_content(out.body, out.content_type.c_str());
}

}  // namespace

Result<std::unique_ptr<ApiServer>> ApiServer::start(const std::string& listen,
                                                    const std::string& token_file,
                                                    const ApiHandler& handler, ServerRole role) {
    const std::string key = role == ServerRole::api ? "api" : "metrics";
    auto address = parse_listen(listen);
    if (!address) {
        Error e = address.error();
        e.path = key + ".listen";
        return Unexpected<Error>{e};
    }
    std::string token;
    if (role == ServerRole::api && !address->is_unix) {
        if (token_file.empty()) {
            return fail("api.token_file",
                        "api.listen " + listen + " is TCP: a bearer token file is required");
        }
        auto t = read_token_file(token_file);
        if (!t) {
            return Unexpected<Error>{t.error()};
        }
        token = *t;
    }
    std::unique_ptr<ApiServer> server(new ApiServer());
    auto http = std::make_unique<SocketServer>();
    http->new_task_queue = [] { return new httplib::ThreadPool(kApiThreads); };
    http->set_read_timeout(kReadTimeoutS, 0);
    http->set_write_timeout(kWriteTimeoutS, 0);
    http->set_keep_alive_timeout(kReadTimeoutS);
    http->set_payload_max_length(kMaxRequestBody);
    http->set_pre_routing_handler([token](const httplib::Request& req, httplib::Response& res) {
        if (token.empty() || bearer_matches(req.get_header_value("Authorization"), token)) {
            return httplib::Server::HandlerResponse::Unhandled;
        }
        write(res, error_response(401, "Unauthorized", "missing or wrong bearer token"));
        return httplib::Server::HandlerResponse::Handled;
    });
    http->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) {
            return;
        }
        // httplib's own refusals (oversized body: 413, bad request line: 400).
        std::string reason = res.status == 413 ? "RequestEntityTooLarge" : "BadRequest";
        write(res, error_response(res.status, reason,
                                  "request refused by the server (" + std::to_string(res.status) +
                                      ") for " + req.path));
    });
    const ApiHandler* h = &handler;
    auto serve = [h, role](const httplib::Request& req, httplib::Response& res) {
        HttpRequest r = to_request(req);
        if (role == ServerRole::metrics) {
            if (r.path != "/metrics") {
                write(res, error_response(404, "NotFound", "only /metrics is served here"));
                return;
            }
            if (r.method != "GET") {
                write(res, error_response(405, "MethodNotAllowed", "GET only"));
                return;
            }
            write(res, h->metrics());
            return;
        }
        write(res, h->handle(r));
    };
    http->Get(".*", serve);
    http->Put(".*", serve);
    http->Post(".*", serve);
    http->Delete(".*", serve);
    http->Patch(".*", serve);
    http->Options(".*", serve);

    if (address->is_unix) {
        auto fd = bind_unix(address->path);
        if (!fd) {
            return Unexpected<Error>{fd.error()};
        }
        http->adopt(*fd);
        server->_unix_path = address->path;
    } else if (!http->bind_to_port(address->host, address->port)) {
        return fail(key + ".listen", "cannot listen on " + listen);
    }
    SocketServer* raw = http.get();
    server->_server = std::move(http);
    std::atomic<bool>* finished = &server->_finished;
    server->_thread = std::thread([raw, finished] {
        raw->listen_after_bind();
        // Release: pairs with the destructor's acquire load.
        finished->store(true, std::memory_order_release);
    });
    return server;
}

ApiServer::~ApiServer() {
    if (_server) {
        // httplib's stop() does nothing until the serving thread has
        // entered its loop (is_running), and that loop then never ends: a
        // server destroyed right after start() (a start-up failure further
        // on) hung the daemon in join(). Wait for one of the two ends.
        while (!_server->is_running() && !_finished.load(std::memory_order_acquire)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        _server->stop();
    }
    if (_thread.joinable()) {
        _thread.join();
    }
    if (!_unix_path.empty()) {
        unlink(_unix_path.c_str());
    }
}

}  // namespace svcgw
