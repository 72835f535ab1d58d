#include "kube/api_client.hpp"

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <fstream>
#include <sstream>

namespace svcgw::kube {

namespace {

// No Authorization header without a token: a client certificate
// authenticates in the TLS handshake.
httplib::Headers request_headers(const std::string& token) {
    httplib::Headers headers{{"Accept", "application/json"}};
    if (!token.empty()) {
        headers.emplace("Authorization", "Bearer " + token);
    }
    return headers;
}

// A store holding every certificate of a PEM bundle; nullptr if none parses.
X509_STORE* store_from_pem(const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (bio == nullptr) {
        return nullptr;
    }
    X509_STORE* store = X509_STORE_new();
    int added = 0;
    while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
        added += X509_STORE_add_cert(store, cert) == 1 ? 1 : 0;
        X509_free(cert);
    }
    BIO_free(bio);
    if (added == 0) {
        X509_STORE_free(store);
        return nullptr;
    }
    return store;
}

// TCP keep-alive on every connection to the API server: a watch reads for
// minutes without sending, so a peer that vanished without a FIN or RST
// (host down, network partition) would go unnoticed until the watch's read
// timeout (its server-side timeout plus a margin: minutes). Probes after
// kKeepAliveIdleS of silence, kKeepAliveProbes unanswered kKeepAliveIntervalS
// apart: the connection fails within 10 + 3 x 5 = 25 s and the reflector
// reconnects (client-go relies on the same mechanism over HTTP/1.1).
constexpr int kKeepAliveIdleS = 10;
constexpr int kKeepAliveIntervalS = 5;
constexpr int kKeepAliveProbes = 3;

void keep_alive(socket_t sock) {
    const int on = 1;
    setsockopt(sock, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    setsockopt(sock, IPPROTO_TCP, TCP_KEEPIDLE, &kKeepAliveIdleS, sizeof kKeepAliveIdleS);
    setsockopt(sock, IPPROTO_TCP, TCP_KEEPINTVL, &kKeepAliveIntervalS, sizeof kKeepAliveIntervalS);
    setsockopt(sock, IPPROTO_TCP, TCP_KEEPCNT, &kKeepAliveProbes, sizeof kKeepAliveProbes);
}

std::string trim(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
        text.pop_back();
    }
    return text;
}

std::string error_text(httplib::Error error) {
    return httplib::to_string(error);
}

}  // namespace

ApiClient::ApiClient(ClusterAccess access, ClientTimeouts timeouts)
    : _access(std::move(access)), _timeouts(timeouts) {}

ApiClient::~ApiClient() = default;

std::string ApiClient::bearer() const {
    if (!_access.token_file.empty()) {
        std::ifstream in(_access.token_file);
        std::ostringstream text;
        text << in.rdbuf();
        return trim(text.str());
    }
    return _access.token;
}

httplib::SSLClient& ApiClient::client(int read_timeout_s) {
    std::lock_guard lock(_mutex);
    if (_client == nullptr) {
        X509* cert = nullptr;
        EVP_PKEY* key = nullptr;
        if (!_access.client_cert_pem.empty()) {
            BIO* cb = BIO_new_mem_buf(_access.client_cert_pem.data(),
                                      static_cast<int>(_access.client_cert_pem.size()));
            BIO* kb = BIO_new_mem_buf(_access.client_key_pem.data(),
                                      static_cast<int>(_access.client_key_pem.size()));
            cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
            key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
            BIO_free(cb);
            BIO_free(kb);
        }
        _client = cert != nullptr && key != nullptr
                      ? std::make_unique<httplib::SSLClient>(_access.host, _access.port, cert, key)
                      : std::make_unique<httplib::SSLClient>(_access.host, _access.port);
        X509_free(cert);  // the client's SSL_CTX holds its own references
        EVP_PKEY_free(key);
        if (!_access.ca_pem.empty()) {
            if (X509_STORE* store = store_from_pem(_access.ca_pem)) {
                _client->set_ca_cert_store(store);  // owned by the client from here
            }
        }
        _client->enable_server_certificate_verification(true);
        _client->set_connection_timeout(_timeouts.connect_s, 0);
        _client->set_keep_alive(true);
        _client->set_socket_options(keep_alive);
    }
    _client->set_read_timeout(read_timeout_s, 0);
    return *_client;
}

Result<HttpReply> ApiClient::get(const std::string& path) {
    if (_stopped.load(std::memory_order_acquire)) {
        return fail("", "stopped");
    }
    const httplib::Headers headers = request_headers(bearer());
    auto res = client(_timeouts.read_s).Get(_access.base_path + path, headers);
    if (!res) {
        return fail("", _access.server() + path + ": " + error_text(res.error()));
    }
    return HttpReply{res->status, std::move(res->body)};
}

Result<HttpReply> ApiClient::patch(const std::string& path, const std::string& content_type,
                                   const std::string& body) {
    return write(Write::patch, path, content_type, body);
}

Result<HttpReply> ApiClient::write(Write verb, const std::string& path,
                                   const std::string& content_type, const std::string& body) {
    if (_stopped.load(std::memory_order_acquire)) {
        return fail("", "stopped");
    }
    const httplib::Headers headers = request_headers(bearer());
    httplib::SSLClient& c = client(_timeouts.read_s);
    const std::string at = _access.base_path + path;
    httplib::Result res = verb == Write::post  ? c.Post(at, headers, body, content_type)
                          : verb == Write::put ? c.Put(at, headers, body, content_type)
                                               : c.Patch(at, headers, body, content_type);
    if (!res) {
        return fail("", _access.server() + path + ": " + error_text(res.error()));
    }
    return HttpReply{res->status, std::move(res->body)};
}

Result<HttpReply> ApiClient::stream(const std::string& path, int read_timeout_s,
                                    const DataSink& on_data) {
    if (_stopped.load(std::memory_order_acquire)) {
        return fail("", "stopped");
    }
    const httplib::Headers headers = request_headers(bearer());
    HttpReply reply;
    bool hung_up = false;
    auto res = client(read_timeout_s)
                   .Get(
                       _access.base_path + path, headers,
                       [&](const httplib::Response& response) {
                           reply.status = response.status;
                           return true;
                       },
                       [&](const char* data, size_t length) {
                           if (reply.status != kHttpOk) {
                               reply.body.append(data, length);
                               return true;
                           }
                           if (!on_data(std::string_view(data, length))) {
                               hung_up = true;
                               return false;
                           }
                           return true;
                       });
    if (hung_up) {
        return reply;
    }
    if (!res) {
        return fail("", _access.server() + path + ": " + error_text(res.error()));
    }
    reply.status = res->status;
    if (reply.body.empty()) {
        reply.body = std::move(res->body);
    }
    return reply;
}

void ApiClient::stop() {
    _stopped.store(true, std::memory_order_release);
    std::lock_guard lock(_mutex);
    if (_client != nullptr) {
        _client->stop();
    }
}

}  // namespace svcgw::kube
