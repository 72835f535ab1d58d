// svcgwctl's side of the control API: one HTTP client for the server, the
// calls every verb makes through it, and the kubectl way of printing what
// went wrong. A call that cannot reach the server prints why and gives no
// reply; a verb then exits 1.
#pragma once

#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "control/listen.hpp"

namespace svcgw::ctl {

using json = nlohmann::json;

struct Reply {
    int status = 0;
    std::string body;
};

class Api {
public:
    Api(const ListenAddress& address, std::string token, std::string server);

    std::optional<Reply> call(const std::string& method, const std::string& path,
                              const std::string& body = "",
                              const std::string& type = "application/json",
                              httplib::Headers headers = {});

private:
    std::unique_ptr<httplib::ClientImpl> _client;
    std::string _token;
    std::string _server;
};

// Prints a server error the kubectl way; returns the exit status.
int report(const Reply& r);

// Prints a usage error (with the pointer to --help); returns the exit status.
int usage_error(const std::string& message);

// A GET's JSON body, or the exit code (the error already printed).
Result<json, int> get_json(Api& api, const std::string& path);

// A list answer's items (GET /v1/services, /v1/events), in `ns` alone
// unless it is empty.
Result<json, int> list_items(Api& api, std::string path, const std::string& ns);

std::string service_path(const std::string& ns, const std::string& name);

}  // namespace svcgw::ctl
