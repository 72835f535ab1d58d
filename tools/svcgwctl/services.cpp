// svcgwctl's service verbs: expose, get, describe, apply, delete.
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include "control/kubectl.hpp"
#include "verbs.hpp"

namespace svcgw::ctl {
namespace {

std::string to_yaml(const json& j, int indent = 0);

std::string yaml_scalar(const json& v) {
    if (v.is_string()) {
        const std::string s = v.get<std::string>();
        // Quote what YAML would read as another type or syntax.
        if (s.empty() || s == "None" || s == "true" || s == "false" || s == "null" ||
            s.find_first_of(":#{}[],&*?|<>=!%@`'\"") != std::string::npos ||
            s.find_first_not_of("0123456789.") == std::string::npos) {
            return json(s).dump();
        }
        return s;
    }
    return v.dump();
}

std::string to_yaml(const json& j, int indent) {
    std::string pad(indent, ' ');
    std::string out;
    if (j.is_object()) {
        for (const auto& [k, v] : j.items()) {
            if ((v.is_object() || v.is_array()) && !v.empty()) {
                out += pad + k + ":\n" + to_yaml(v, indent + (v.is_array() ? 0 : 2));
            } else if (v.is_array()) {
                out += pad + k + ": []\n";
            } else if (v.is_object()) {
                out += pad + k + ": {}\n";
            } else {
                out += pad + k + ": " + yaml_scalar(v) + "\n";
            }
        }
    } else if (j.is_array()) {
        for (const auto& v : j) {
            if (v.is_object() && !v.empty()) {
                std::string inner = to_yaml(v, indent + 2);
                out += pad + "- " + inner.substr(indent + 2);
            } else {
                out += pad + "- " + yaml_scalar(v) + "\n";
            }
        }
    }
    return out;
}

}  // namespace

int cmd_expose(Api& api, const Args& a) {
    if (a.positional.size() < 2) {
        return usage_error("expose needs a NAME");
    }
    const std::string name = a.positional[1];
    if (!a.has("--port")) {
        return usage_error("--port is required");
    }
    json port{{"port", std::atoi(a.get("--port").c_str())},
              {"protocol", a.get("--protocol", "TCP")}};
    std::string target = a.get("--target-port", a.get("--port"));
    if (is_decimal(target, std::string::npos)) {
        port["target_port"] = std::atoi(target.c_str());
    } else {
        port["target_port"] = target;
    }
    json svc{{"name", name}, {"namespace", ns_of(a)}, {"ports", json::array({port})}};
    if (a.has("--cluster-ip")) {
        svc["cluster_ip"] = a.get("--cluster-ip");
    }
    if (a.has("--session-affinity")) {
        svc["session_affinity"] = a.get("--session-affinity");
    }
    if (a.has("--session-affinity-timeout")) {
        svc["session_affinity_timeout_s"] = std::atoi(a.get("--session-affinity-timeout").c_str());
    }
    if (a.has("--endpoints")) {
        std::string error;
        auto list = parse_ip_list(a.get("--endpoints"), error);
        if (!list) {
            return usage_error(error);
        }
        svc["endpoints"] = json::array();
        for (const EndpointArg& arg : *list) {
            auto e = endpoint_json(arg, svc["ports"], error);
            if (!e) {
                return usage_error(error);
            }
            svc["endpoints"].push_back(*e);
        }
    }
    auto r = api.call("PUT", service_path(ns_of(a), name), svc.dump(), "application/json",
                      {{"If-None-Match", "*"}});
    if (!r) {
        return 1;
    }
    if (r->status >= 300) {
        return report(*r);
    }
    std::printf("service/%s exposed\n", name.c_str());
    return 0;
}

int cmd_get(Api& api, const Args& a) {
    if (a.positional.size() < 2) {
        return usage_error("get needs a resource type (services, endpoints)");
    }
    const std::string kind = a.positional[1];
    const bool services = names_services(kind);
    const bool endpoints = kind == "endpoints" || kind == "ep";
    if (!services && !endpoints) {
        std::fprintf(stderr, "error: the server doesn't have a resource type \"%s\"\n",
                     kind.c_str());
        return 1;
    }
    GetOptions options;
    options.all_namespaces = a.has("-A");
    const std::string output = a.get("-o");
    options.wide = output == "wide";
    if (!output.empty() && output != "wide" && output != "json" && output != "yaml") {
        return usage_error("unable to match a printer suitable for the output format \"" + output +
                           "\", allowed formats are: json,wide,yaml");
    }
    json items = json::array();
    if (a.positional.size() >= 3) {
        const std::string name = a.positional[2];
        auto r = api.call("GET", service_path(ns_of(a), name));
        if (!r) {
            return 1;
        }
        if (r->status >= 300) {
            if (endpoints && r->status == 404) {
                std::fprintf(stderr, "Error from server (NotFound): endpoints \"%s\" not found\n",
                             name.c_str());
                return 1;
            }
            return report(*r);
        }
        json one = json::parse(r->body);
        one.erase("stats");
        items.push_back(one);
    } else {
        auto listed = list_items(api, "/v1/services", options.all_namespaces ? "" : ns_of(a));
        if (!listed) {
            return listed.error();
        }
        items = std::move(*listed);
    }
    if (output == "json" || output == "yaml") {
        json doc = items.size() == 1 && a.positional.size() >= 3
                       ? items[0]
                       : json{{"kind", "List"}, {"items", items}};
        std::printf("%s", output == "json" ? (doc.dump(4) + "\n").c_str() : to_yaml(doc).c_str());
        return 0;
    }
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    std::string table =
        services ? services_table(items, options, now) : endpoints_table(items, options, now);
    if (table.empty()) {
        if (options.all_namespaces) {
            std::fprintf(stderr, "No resources found\n");
        } else {
            std::fprintf(stderr, "No resources found in %s namespace.\n", ns_of(a).c_str());
        }
        return 0;
    }
    std::printf("%s", table.c_str());
    return 0;
}

int cmd_describe(Api& api, const Args& a) {
    if (a.positional.size() < 3 || !names_services(a.positional[1])) {
        return usage_error("usage: describe service NAME");
    }
    auto r = api.call("GET", service_path(ns_of(a), a.positional[2]));
    if (!r) {
        return 1;
    }
    if (r->status == 404) {
        // Not running, but the feed may have refused it: its events say why.
        report(*r);
        const std::string object = "Service/" + ns_of(a) + "/" + a.positional[2];
        json mine = json::array();
        if (auto events = list_items(api, "/v1/events", ns_of(a))) {
            for (const json& e : *events) {
                if (e.value("object", "") == object) {
                    mine.push_back(e);
                }
            }
        }
        std::printf("%s", events_table(mine, static_cast<int64_t>(std::time(nullptr))).c_str());
        return 1;
    }
    if (r->status >= 300) {
        return report(*r);
    }
    std::printf("%s", describe_service(json::parse(r->body)).c_str());
    return 0;
}

int cmd_apply(Api& api, const Args& a) {
    if (!a.has("-f")) {
        return usage_error("must specify -f FILE");
    }
    const std::string file = a.get("-f");
    std::stringstream text;
    if (file == "-") {
        text << std::cin.rdbuf();
    } else {
        std::ifstream in(file);
        if (!in) {
            std::fprintf(stderr, "error: the path \"%s\" does not exist\n", file.c_str());
            return 1;
        }
        text << in.rdbuf();
    }
    auto r = api.call("POST", "/v1/apply", text.str(), "application/yaml");
    if (!r) {
        return 1;
    }
    json answer = json::parse(r->body, nullptr, false);
    if (r->status >= 300 && (answer.is_discarded() || !answer.contains("skipped"))) {
        return report(*r);
    }
    // As kubectl apply: a line per object, warnings and the objects left
    // out on stderr, exit 1 when any was.
    for (const auto& o : answer.value("results", json::array())) {
        std::printf("%s/%s %s%s\n", o.value("kind", "service").c_str(), o.value("name", "").c_str(),
                    o.value("action", "").c_str(),
                    o.contains("note") ? (" (" + o.value("note", "") + ")").c_str() : "");
    }
    for (const auto& w : answer.value("warnings", json::array())) {
        std::fprintf(stderr, "Warning: %s\n", w.get<std::string>().c_str());
    }
    const json skipped = answer.value("skipped", json::array());
    for (const auto& object : skipped) {
        for (const auto& e : object.value("errors", json::array())) {
            const std::string path = e.value("path", "");
            std::fprintf(stderr, "Error from server (%s): %s%s%s (%s: left out)\n",
                         object.value("reason", "Invalid").c_str(), path.c_str(),
                         path.empty() ? "" : ": ", e.value("error", "").c_str(),
                         object.value("object", "").c_str());
        }
    }
    return skipped.empty() ? 0 : 1;
}

int cmd_delete(Api& api, const Args& a) {
    if (a.positional.size() < 3 || !names_services(a.positional[1])) {
        return usage_error("usage: delete service NAME");
    }
    int rc = 0;
    for (size_t i = 2; i < a.positional.size(); ++i) {
        auto r = api.call("DELETE", service_path(ns_of(a), a.positional[i]));
        if (!r) {
            return 1;
        }
        if (r->status >= 300) {
            rc = report(*r);
            continue;
        }
        std::printf("service \"%s\" deleted\n", a.positional[i].c_str());
    }
    return rc;
}

}  // namespace svcgw::ctl
