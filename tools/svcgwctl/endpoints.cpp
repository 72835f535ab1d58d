// svcgwctl's endpoint verbs: set endpoints (a full replacement) and
// endpoints add|remove|drain (one address).
#include <cstdio>
#include <string>

#include "verbs.hpp"

namespace svcgw::ctl {
namespace {

// Prints "service/NAME <what>" for a change the server made.
int changed(const Reply& r, const std::string& name, const std::string& what) {
    if (r.status >= 300) {
        return report(r);
    }
    std::printf("service/%s %s\n", name.c_str(), what.c_str());
    return 0;
}

}  // namespace

std::optional<json> endpoint_json(const EndpointArg& arg, const json& service_ports,
                                  std::string& error) {
    json e{{"ip", arg.ip}};
    if (arg.port) {
        if (service_ports.size() != 1) {
            error = "endpoint " + arg.ip + ":" + std::to_string(*arg.port) +
                    ": IP:PORT needs a service with one port (this one has " +
                    std::to_string(service_ports.size()) + "); use the API's ports";
            return std::nullopt;
        }
        e["ports"] =
            json::array({json{{"name", service_ports[0].value("name", "")}, {"port", *arg.port}}});
    }
    return e;
}

int cmd_set(Api& api, const Args& a) {
    if (a.positional.size() < 4 || (a.positional[1] != "endpoints" && a.positional[1] != "ep")) {
        return usage_error("usage: set endpoints NAME IP[:PORT][,...]");
    }
    const std::string name = a.positional[2];
    std::string error;
    auto list = parse_ip_list(a.positional[3], error);
    if (!list) {
        return usage_error(error);
    }
    const std::string path = service_path(ns_of(a), name) + "/endpoints";
    // A full replacement carries the version it was built from; another
    // writer in between makes it stale (409): read again and retry. The
    // list itself is the user's, so a retry cannot lose their intent.
    constexpr int kConflictRetries = 3;
    for (int attempt = 0;; ++attempt) {
        auto current = get_json(api, path);
        if (!current) {
            return current.error();
        }
        json endpoints = json::array();
        for (const EndpointArg& arg : *list) {
            auto e = endpoint_json(arg, current->value("ports", json::array()), error);
            if (!e) {
                return usage_error(error);
            }
            endpoints.push_back(*e);
        }
        json body{{"resourceVersion", current->value("resourceVersion", "")},
                  {"endpoints", std::move(endpoints)}};
        auto r = api.call("PUT", path, body.dump());
        if (!r) {
            return 1;
        }
        // Only a stale version is worth another read; a service the
        // feed owns stays refused (its error names another path).
        const json answer = json::parse(r->body, nullptr, false);
        const bool stale =
            r->status == 409 && answer.is_object() && answer.value("path", "") == "resourceVersion";
        if (stale && attempt < kConflictRetries) {
            continue;
        }
        return changed(*r, name, "endpoints updated");
    }
}

int cmd_endpoints(Api& api, const Args& a) {
    if (a.positional.size() < 4) {
        return usage_error("usage: endpoints add|remove|drain NAME IP[:PORT] [--weight=W]");
    }
    const std::string op = a.positional[1];
    const std::string name = a.positional[2];
    std::string error;
    auto arg = parse_endpoint_arg(a.positional[3], error);
    if (!arg) {
        return usage_error(error);
    }
    const std::string path = service_path(ns_of(a), name) + "/endpoints/" + arg->ip;
    if (op == "remove" || op == "drain") {
        if (arg->port || a.has("--weight")) {
            return usage_error(op + " takes an address only");
        }
        auto r = op == "remove" ? api.call("DELETE", path) : api.call("POST", path + "/drain");
        if (!r) {
            return 1;
        }
        return changed(*r, name, op == "remove" ? "endpoint removed" : "endpoint drained");
    }
    if (op != "add") {
        return usage_error("unknown endpoints operation \"" + op + "\" (add, remove, drain)");
    }
    // add = in and taking new flows: ready, not terminating.
    json body{{"ready", true}, {"serving", true}, {"terminating", false}};
    if (arg->port) {
        auto service = get_json(api, service_path(ns_of(a), name));
        if (!service) {
            return service.error();
        }
        auto e = endpoint_json(*arg, service->value("ports", json::array()), error);
        if (!e) {
            return usage_error(error);
        }
        body["ports"] = (*e)["ports"];
    }
    if (a.has("--weight")) {
        const std::string w = a.get("--weight");
        if (!is_decimal(w, 9)) {
            return usage_error("--weight must be a non-negative integer");
        }
        body["weight"] = std::stoul(w);
    }
    auto r = api.call("PATCH", path, body.dump());
    if (!r) {
        return 1;
    }
    std::string action = "configured";
    if (r->status < 300) {
        json results = json::parse(r->body).value("results", json::array());
        action = results.empty() ? action : results[0].value("action", action);
    }
    return changed(*r, name, action == "created" ? "endpoint added" : "endpoint " + action);
}

}  // namespace svcgw::ctl
