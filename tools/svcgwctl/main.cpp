// svcgwctl: the control API's CLI with kubectl habits (DESIGN §3).
//
//   svcgwctl [--server unix:PATH|tcp:HOST:PORT] [--token-file F] VERB ...
//
// The server defaults to $SVCGW_SERVER, else unix:/run/svcgw/api.sock.
// Output and errors follow kubectl (control/kubectl.hpp); exit status 1 on
// any error.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "args.hpp"
#include "client.hpp"
#include "control/listen.hpp"
#include "verbs.hpp"

namespace svcgw::ctl {
namespace {

constexpr const char* kDefaultServer = "unix:/run/svcgw/api.sock";

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

struct Verb {
    const char* name;
    int (*run)(Api&, const Args&);
};

const Verb kVerbs[] = {
    {"expose", cmd_expose},       {"get", cmd_get},
    {"describe", cmd_describe},   {"set", cmd_set},
    {"endpoints", cmd_endpoints}, {"apply", cmd_apply},
    {"delete", cmd_delete},       {"events", cmd_events},
    {"stats", cmd_stats},         {"flows", cmd_flows},
    {"fleet", cmd_fleet},         {"drain", cmd_drain},
    {"undrain", cmd_undrain},
};

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
    for (const Verb& v : kVerbs) {
        if (verb != v.name) {
            continue;
        }
        try {
            return v.run(api, *args);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "error: unexpected answer from the server: %s\n", e.what());
            return 1;
        }
    }
    return usage_error("unknown command \"" + verb + "\"");
}

}  // namespace
}  // namespace svcgw::ctl

int main(int argc, char** argv) {
    return svcgw::ctl::ctl_main(argc, argv);
}
