// HTTPS to the Kubernetes API (cpp-httplib over OpenSSL): plain requests and
// streamed watch bodies. TLS always verified (the CA from the kubeconfig or
// the service account, the server's name checked); the bearer token file is
// re-read per request so rotated service account tokens keep working.
//
// Threading: one ApiClient per thread of use; stop() may be called from any
// thread and makes the running and every later request fail fast (shutdown).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "kube/kubeconfig.hpp"

namespace httplib {
class SSLClient;
}

namespace svcgw::kube {

// The HTTP statuses the API's clients act on (RFC 9110 §15); 410 Gone is
// the API's answer to a watch or list from a compacted resourceVersion.
constexpr int kHttpOk = 200;
constexpr int kHttpCreated = 201;
constexpr int kHttpNotFound = 404;
constexpr int kHttpConflict = 409;
constexpr int kHttpGone = 410;

inline bool http_success(int status) {
    return status >= 200 && status < 300;  // 2xx (RFC 9110 §15.3)
}

struct HttpReply {
    int status = 0;
    std::string body;
};

struct ClientTimeouts {
    int connect_s = 5;
    int read_s = 30;  // a watch sets its own: its server timeout plus a margin
};

// What a reflector needs from HTTP (ApiClient; tests fake it).
class Transport {
public:
    virtual ~Transport() = default;
    virtual Result<HttpReply> get(const std::string& path) = 0;
    using DataSink = std::function<bool(std::string_view)>;
    virtual Result<HttpReply> stream(const std::string& path, int read_timeout_s,
                                     const DataSink& on_data) = 0;
    virtual void stop() = 0;
};

class ApiClient : public Transport {
public:
    explicit ApiClient(ClusterAccess access, ClientTimeouts timeouts = {});
    ~ApiClient();
    ApiClient(const ApiClient&) = delete;
    ApiClient& operator=(const ApiClient&) = delete;

    // `path` starts with "/" and includes the query string.
    Result<HttpReply> get(const std::string& path) override;
    Result<HttpReply> patch(const std::string& path, const std::string& content_type,
                            const std::string& body);
    // A write with a body (create, update, patch).
    enum class Write { post, put, patch };
    Result<HttpReply> write(Write verb, const std::string& path, const std::string& content_type,
                            const std::string& body);
    // A streamed GET: `on_data` gets the body as it arrives (any split)
    // while the status is 200 and returns false to hang up. Other statuses
    // come back whole in the reply. `read_timeout_s` bounds the silence
    // between two chunks.
    Result<HttpReply> stream(const std::string& path, int read_timeout_s,
                             const DataSink& on_data) override;
    // Any thread: aborts the request in progress; later ones fail at once.
    void stop() override;

private:
    httplib::SSLClient& client(int read_timeout_s);
    std::string bearer() const;

    ClusterAccess _access;
    ClientTimeouts _timeouts;
    std::atomic<bool> _stopped{false};
    std::mutex _mutex;  // guards _client against stop() from another thread
    std::unique_ptr<httplib::SSLClient> _client;
};

}  // namespace svcgw::kube
