// svcgwctl's side of the control API (client.hpp).
#include "client.hpp"

#include <cstdio>

#include "control/client.hpp"
#include "control/kubectl.hpp"

namespace svcgw::ctl {
namespace {

// A full apply of 10k services takes a fraction of a second; leave room.
constexpr int kClientTimeoutS = 60;

}  // namespace

Api::Api(const ListenAddress& address, std::string token, std::string server)
    : _token(std::move(token)), _server(std::move(server)) {
    _client = make_client(address);
    _client->set_read_timeout(kClientTimeoutS, 0);
    _client->set_write_timeout(kClientTimeoutS, 0);
}

std::optional<Reply> Api::call(const std::string& method, const std::string& path,
                               const std::string& body, const std::string& type,
                               httplib::Headers headers) {
    if (!_token.empty()) {
        headers.emplace("Authorization", "Bearer " + _token);
    }
    httplib::Result r{nullptr, httplib::Error::Unknown};
    if (method == "GET") {
        r = _client->Get(path.c_str(), headers);
    } else if (method == "DELETE") {
        r = _client->Delete(path.c_str(), headers);
    } else if (method == "PUT") {
        r = _client->Put(path.c_str(), headers, body, type.c_str());
    } else if (method == "PATCH") {
        r = _client->Patch(path.c_str(), headers, body, type.c_str());
    } else {
        r = _client->Post(path.c_str(), headers, body, type.c_str());
    }
    if (!r) {
        std::fprintf(stderr,
                     "The connection to the server %s was refused - is svcgw running? (%s)\n",
                     _server.c_str(), httplib::to_string(r.error()).c_str());
        return std::nullopt;
    }
    return Reply{r->status, r->body};
}

int report(const Reply& r) {
    std::fprintf(stderr, "%s\n", server_error(r.status, r.body).c_str());
    return 1;
}

int usage_error(const std::string& message) {
    std::fprintf(stderr, "error: %s\nSee 'svcgwctl --help' for usage.\n", message.c_str());
    return 1;
}

Result<json, int> get_json(Api& api, const std::string& path) {
    auto r = api.call("GET", path);
    if (!r) {
        return Unexpected<int>{1};
    }
    if (r->status >= 300) {
        return Unexpected<int>{report(*r)};
    }
    return json::parse(r->body);
}

Result<json, int> list_items(Api& api, std::string path, const std::string& ns) {
    if (!ns.empty()) {
        path += "?namespace=" + ns;
    }
    auto list = get_json(api, path);
    if (!list) {
        return list;
    }
    return list->value("items", json::array());
}

std::string service_path(const std::string& ns, const std::string& name) {
    return "/v1/namespaces/" + ns + "/services/" + name;
}

}  // namespace svcgw::ctl
