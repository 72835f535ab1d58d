// svcgwctl: the control API's CLI with kubectl habits (DESIGN §3).
//
//   svcgwctl [--server unix:PATH|tcp:HOST:PORT] [--token-file F] VERB ...
//
// The server defaults to $SVCGW_SERVER, else unix:/run/svcgw/api.sock.
// Output and errors follow kubectl (control/kubectl.hpp); exit status 1 on
// any error.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "common/result.hpp"
#include "control/client.hpp"
#include "control/kubectl.hpp"
#include "control/listen.hpp"

namespace svcgw {
namespace {

using json = nlohmann::json;

constexpr const char* kDefaultServer = "unix:/run/svcgw/api.sock";
// A full apply of 10k services takes a fraction of a second; leave room.
constexpr int kClientTimeoutS = 60;

struct Reply {
    int status = 0;
    std::string body;
};

class Api {
public:
    Api(const ListenAddress& address, std::string token, std::string server)
        : _token(std::move(token)), _server(std::move(server)) {
        _client = make_client(address);
        _client->set_read_timeout(kClientTimeoutS, 0);
        _client->set_write_timeout(kClientTimeoutS, 0);
    }

    std::optional<Reply> call(const std::string& method, const std::string& path,
                              const std::string& body = "",
                              const std::string& type = "application/json",
                              httplib::Headers headers = {}) {
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

private:
    std::unique_ptr<httplib::ClientImpl> _client;
    std::string _token;
    std::string _server;
};

// Prints a server error the kubectl way; returns the exit status.
int report(const Reply& r) {
    std::fprintf(stderr, "%s\n", server_error(r.status, r.body).c_str());
    return 1;
}

int usage_error(const std::string& message) {
    std::fprintf(stderr, "error: %s\nSee 'svcgwctl --help' for usage.\n", message.c_str());
    return 1;
}

const char* kUsage = R"(svcgwctl controls the svcgw gateway (kubectl habits).

Usage: svcgwctl [--server unix:PATH|tcp:HOST:PORT] [--token-file FILE] VERB ...

  expose NAME --port=P [--target-port=T] [-n NS] [--protocol=TCP|UDP]
         [--cluster-ip=IP|None] [--endpoints=IP,IP] [--session-affinity=ClientIP]
  get services|svc [NAME] [-n NS | -A] [-o wide|json|yaml]
  get endpoints|ep [NAME] [-n NS | -A]
  describe service|svc NAME [-n NS]
  set endpoints NAME IP[:PORT][,...] [-n NS]
  endpoints add NAME IP[:PORT] [--weight=W] [-n NS]
  endpoints remove|drain NAME IP [-n NS]
  apply -f FILE|-
  delete service|svc NAME [-n NS]
  events [-n NS]                 (the Kubernetes feed's; all namespaces without -n)
  stats
  flows [--limit=N]
  fleet                            what this instance announces (BIRD), and why not
  fleet expect GENERATION|none     announce only while fleet.generation equals it
  drain [--deadline=S] [--wait]    withdraw every VIP route; flows keep being served
  undrain                          announce again

The server defaults to $SVCGW_SERVER, else unix:/run/svcgw/api.sock.
)";

struct Args {
    std::vector<std::string> positional;
    std::map<std::string, std::string> flags;  // "--port" -> "80"; "-n" -> "ns"
    bool has(const std::string& f) const { return flags.contains(f); }
    std::string get(const std::string& f, const std::string& fallback = "") const {
        auto it = flags.find(f);
        return it == flags.end() ? fallback : it->second;
    }
};

// Flags that take a value (`--port 80` and `--port=80` both work).
bool takes_value(const std::string& f) {
    static const char* valued[] = {"--server",    "--token-file",
                                   "-n",          "--namespace",
                                   "-o",          "--output",
                                   "--port",      "--target-port",
                                   "--protocol",  "--cluster-ip",
                                   "--endpoints", "--session-affinity",
                                   "--weight",    "-f",
                                   "--filename",  "--limit",
                                   "--name",      "--session-affinity-timeout",
                                   "--deadline"};
    for (const char* v : valued) {
        if (f == v) {
            return true;
        }
    }
    return false;
}

std::optional<Args> parse_args(int argc, char** argv, std::string& error) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "-" || arg.size() < 2 || arg[0] != '-') {
            a.positional.push_back(arg);
            continue;
        }
        std::string name = arg;
        std::string value;
        size_t eq = arg.find('=');
        if (eq != std::string::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
        } else if (takes_value(arg)) {
            if (i + 1 >= argc) {
                error = "flag needs an argument: " + arg;
                return std::nullopt;
            }
            value = argv[++i];
        }
        if (name == "--namespace") {
            name = "-n";
        } else if (name == "--output") {
            name = "-o";
        } else if (name == "--filename") {
            name = "-f";
        } else if (name == "--all-namespaces") {
            name = "-A";
        }
        a.flags[name] = value;
    }
    return a;
}

std::string ns_of(const Args& a) {
    return a.get("-n", "default");
}

std::string service_path(const std::string& ns, const std::string& name) {
    return "/v1/namespaces/" + ns + "/services/" + name;
}

// One "IP" or "IP:PORT" item. PORT is the endpoint's port for the
// service's port (an EndpointSlice port); without it the endpoint keeps the
// ports it has, or, when new, takes the Service's targetPort.
struct EndpointArg {
    std::string ip;
    std::optional<uint16_t> port;
};

std::optional<EndpointArg> parse_endpoint_arg(const std::string& item, std::string& error) {
    EndpointArg out;
    size_t colon = item.find(':');
    out.ip = item.substr(0, colon);
    if (!Ipv4::parse(out.ip)) {
        error = "invalid endpoint address \"" + item + "\"";
        return std::nullopt;
    }
    if (colon != std::string::npos) {
        const std::string port = item.substr(colon + 1);
        constexpr size_t kMaxPortDigits = 5;
        long value = port.empty() || port.size() > kMaxPortDigits ||
                             port.find_first_not_of("0123456789") != std::string::npos
                         ? 0
                         : std::stol(port);
        if (value < 1 || value > 65535) {
            error = "invalid port in \"" + item + "\" (1-65535)";
            return std::nullopt;
        }
        out.port = static_cast<uint16_t>(value);
    }
    return out;
}

std::optional<std::vector<EndpointArg>> parse_ip_list(const std::string& text, std::string& error) {
    std::vector<EndpointArg> list;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        if (item.empty()) {
            continue;
        }
        auto arg = parse_endpoint_arg(item, error);
        if (!arg) {
            return std::nullopt;
        }
        list.push_back(*arg);
    }
    return list;
}

// {"ip": ..., "ports": [{name, port}]} for one argument; the port belongs to
// the service's only port (IP:PORT cannot say which of several it means).
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
    if (!target.empty() && target.find_first_not_of("0123456789") == std::string::npos) {
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

// A GET's JSON body, or the exit code (the error already printed).
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

// A list answer's items (GET /v1/services, /v1/events), in `ns` alone
// unless it is empty.
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

int cmd_get(Api& api, const Args& a) {
    if (a.positional.size() < 2) {
        return usage_error("get needs a resource type (services, endpoints)");
    }
    const std::string kind = a.positional[1];
    const bool services = kind == "services" || kind == "service" || kind == "svc";
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
    if (a.positional.size() < 3 || (a.positional[1] != "service" && a.positional[1] != "svc" &&
                                    a.positional[1] != "services")) {
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

// Prints "service/NAME <what>" for a change the server made.
int changed(const Reply& r, const std::string& name, const std::string& what) {
    if (r.status >= 300) {
        return report(r);
    }
    std::printf("service/%s %s\n", name.c_str(), what.c_str());
    return 0;
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
        if (w.empty() || w.size() > 9 || w.find_first_not_of("0123456789") != std::string::npos) {
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
    if (a.positional.size() < 3 || (a.positional[1] != "service" && a.positional[1] != "svc" &&
                                    a.positional[1] != "services")) {
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

// As `kubectl get events`, from the feed's recent events. Without -n every
// event is listed: the feed's own ones (Synced, ...) have no namespace.
int cmd_events(Api& api, const Args& a) {
    auto events = list_items(api, "/v1/events", a.has("-n") ? ns_of(a) : "");
    if (!events) {
        return events.error();
    }
    std::string table = events_table(*events, static_cast<int64_t>(std::time(nullptr)));
    if (table.empty()) {
        std::fprintf(stderr, "No events found.\n");
    }
    std::printf("%s", table.c_str());
    return 0;
}

int cmd_stats(Api& api) {
    auto stats = get_json(api, "/v1/stats");
    if (!stats) {
        return stats.error();
    }
    std::printf("%s", stats_summary(*stats).c_str());
    return 0;
}

int cmd_flows(Api& api, const Args& a) {
    auto flows = get_json(api, "/v1/flows?limit=" + a.get("--limit", "100"));
    if (!flows) {
        return flows.error();
    }
    std::vector<std::vector<std::string>> rows = {
        {"WORKER", "PROTO", "CLIENT", "VIP", "BACKEND", "STATE", "IDLE", "PKTS-IN", "PKTS-OUT"}};
    for (const auto& f : flows->value("flows", json::array())) {
        rows.push_back({std::to_string(f.value("worker", 0)), f.value("protocol", ""),
                        f.value("client", ""), f.value("vip", ""), f.value("backend", ""),
                        f.value("state", ""), std::to_string(f.value("idle_s", 0)) + "s",
                        std::to_string(f.value("packets_fwd", 0)),
                        std::to_string(f.value("packets_rev", 0))});
    }
    std::printf("%s", render_table(rows).c_str());
    return 0;
}

// The fleet's verbs print the fleet status after the change; an instance
// whose BIRD did not take it exits 1 (its routes are not what was asked).
int print_fleet(const std::optional<Reply>& r) {
    if (!r) {
        return 1;
    }
    if (r->status >= 300) {
        return report(*r);
    }
    const json status = json::parse(r->body);
    std::printf("%s", fleet_summary(status).c_str());
    return status.at("bird").at("in_sync").get<bool>() ? 0 : 1;
}

int cmd_fleet(Api& api, const Args& a) {
    if (a.positional.size() == 1) {
        return print_fleet(api.call("GET", "/v1/fleet"));
    }
    if (a.positional.size() != 3 || a.positional[1] != "expect") {
        return usage_error("usage: fleet [expect GENERATION|none]");
    }
    const std::string& g = a.positional[2];
    if (g != "none" &&
        (g.empty() || g.size() > 19 || g.find_first_not_of("0123456789") != std::string::npos)) {
        return usage_error("GENERATION must be a non-negative integer or none");
    }
    return print_fleet(
        api.call("PUT", "/v1/fleet/expected_generation",
                 json{{"generation", g == "none" ? json(nullptr) : json(std::stoull(g))}}.dump()));
}

// Polled while `drain --wait` waits for the flows to end.
constexpr int kDrainPollMs = 500;

int cmd_drain(Api& api, const Args& a) {
    json body = json::object();
    if (a.has("--deadline")) {
        const std::string d = a.get("--deadline");
        if (d.empty() || d.size() > 5 || d.find_first_not_of("0123456789") != std::string::npos) {
            return usage_error("--deadline must be a number of seconds (1..86400)");
        }
        body["deadline_s"] = std::stoul(d);
    }
    auto r = api.call("PUT", "/v1/fleet/drain", body.dump());
    if (int rc = print_fleet(r); rc != 0 || !a.has("--wait")) {
        return rc;
    }
    while (true) {
        auto s = api.call("GET", "/v1/fleet");
        if (!s || s->status >= 300) {
            return print_fleet(s);
        }
        const json status = json::parse(s->body);
        const json& d = status.at("drain");
        if (d.is_null()) {
            std::fprintf(stderr, "the drain was cancelled (undrain)\n");
            return 1;
        }
        if (d.at("drained").get<bool>()) {
            std::printf("drained: %llu flows left\n",
                        static_cast<unsigned long long>(status.at("active_flows").get<uint64_t>()));
            return 0;
        }
        struct timespec pause {
            0, kDrainPollMs * 1'000'000L
        };
        nanosleep(&pause, nullptr);
    }
}

int ctl_main(int argc, char** argv) {
    std::string error;
    auto args = parse_args(argc, argv, error);
    if (!args) {
        return usage_error(error);
    }
    if (args->has("-h") || args->has("--help") || args->positional.empty()) {
        std::printf("%s", kUsage);
        return args->positional.empty() && !args->has("-h") && !args->has("--help") ? 1 : 0;
    }
    const char* env = std::getenv("SVCGW_SERVER");
    const std::string server = args->get("--server", env != nullptr && *env ? env : kDefaultServer);
    auto address = parse_listen(server);
    if (!address) {
        return usage_error("--server: " + address.error().message);
    }
    std::string token;
    if (args->has("--token-file")) {
        auto t = read_token_file(args->get("--token-file"));
        if (!t) {
            return usage_error(t.error().message);
        }
        token = *t;
    }
    Api api(*address, token, server);
    const std::string verb = args->positional[0];
    try {
        if (verb == "expose") {
            return cmd_expose(api, *args);
        }
        if (verb == "get") {
            return cmd_get(api, *args);
        }
        if (verb == "describe") {
            return cmd_describe(api, *args);
        }
        if (verb == "set") {
            return cmd_set(api, *args);
        }
        if (verb == "endpoints") {
            return cmd_endpoints(api, *args);
        }
        if (verb == "apply") {
            return cmd_apply(api, *args);
        }
        if (verb == "delete") {
            return cmd_delete(api, *args);
        }
        if (verb == "events") {
            return cmd_events(api, *args);
        }
        if (verb == "stats") {
            return cmd_stats(api);
        }
        if (verb == "flows") {
            return cmd_flows(api, *args);
        }
        if (verb == "fleet") {
            return cmd_fleet(api, *args);
        }
        if (verb == "drain") {
            return cmd_drain(api, *args);
        }
        if (verb == "undrain") {
            return print_fleet(api.call("DELETE", "/v1/fleet/drain"));
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: unexpected answer from the server: %s\n", e.what());
        return 1;
    }
    return usage_error("unknown command \"" + verb + "\"");
}

}  // namespace
}  // namespace svcgw

int main(int argc, char** argv) {
    return svcgw::ctl_main(argc, argv);
}
