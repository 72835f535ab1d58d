// svcgwctl's command line (args.hpp).
#include "args.hpp"

#include <sstream>

#include "common/net.hpp"

namespace svcgw::ctl {
namespace {

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

}  // namespace

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

bool names_services(const std::string& kind) {
    return kind == "services" || kind == "service" || kind == "svc";
}

bool is_decimal(const std::string& s, size_t max_digits) {
    return !s.empty() && s.size() <= max_digits &&
           s.find_first_not_of("0123456789") == std::string::npos;
}

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
        long value = is_decimal(port, kMaxPortDigits) ? std::stol(port) : 0;
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

}  // namespace svcgw::ctl
