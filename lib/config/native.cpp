// The native config format (DESIGN §3): one YAML document without `kind`.
// Typed paths and display paths are the same here ("services[0].ports[1].port").
#include <cctype>
#include <limits>

#include "config/parse.hpp"

namespace svcgw::config_detail {

namespace {

constexpr uint64_t kU16Max = std::numeric_limits<uint16_t>::max();
constexpr uint64_t kU32Max = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
// The feed (DESIGN §6): a rollout is batched into one publish per window of at most 10 ms.
constexpr uint64_t kMaxBatchWindowMs = 10;
// kube-apiserver caps a watch at --min-request-timeout x 2 (30 min by
// default); a longer timeoutSeconds would only be cut short.
constexpr uint64_t kMaxWatchTimeoutS = 3600;
// A drain outlasting a day is a forgotten drain, not an upgrade.
constexpr uint64_t kMaxDrainDeadlineS = 86400;
// fleet.lease: a lease of over an hour is not liveness; a renewal more
// than ten times a second per member is a load on the API, not a tuning.
constexpr uint64_t kMaxLeaseDurationS = 3600;
constexpr uint64_t kMinLeaseRenewMs = 100;
// fleet.probe: a member probed less than once a minute is not watched, and
// more than 100 probes in a row is a typo, not a threshold.
constexpr uint64_t kMaxProbeMs = 60000;
constexpr uint64_t kMaxProbeCount = 100;

std::string lower(std::string text) {
    for (char& c : text) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return text;
}

// Reads one field of a mapping, records where it was written (typed key ->
// display path) and whether it parsed. Nothing is recorded when absent.
class FieldReader {
public:
    FieldReader(Reader& reader, SourceMap& source, std::string typed_prefix)
        : _reader(reader), _source(source), _typed_prefix(std::move(typed_prefix)) {}

    template <class Read>
    auto read(const Fields& fields, std::string_view key, std::string_view typed, Read&& read_fn)
        -> decltype(read_fn(std::declval<const ConfigNode&>(), std::string{})) {
        auto node = fields.get(key);
        if (!node) {
            return std::nullopt;
        }
        std::string path = fields.path(key);
        auto value = read_fn(*node, path);
        record(_source, _reader, key_path(_typed_prefix, typed), path, *node, value.has_value());
        return value;
    }

    std::optional<std::string> string(const Fields& f, std::string_view key) {
        return read(f, key, key, [&](const ConfigNode& n, const std::string& p) {
            return _reader.string(n, p);
        });
    }
    std::optional<uint64_t> integer(const Fields& f, std::string_view key, uint64_t min,
                                    uint64_t max) {
        return read(f, key, key, [&](const ConfigNode& n, const std::string& p) {
            return _reader.integer(n, p, min, max);
        });
    }
    std::optional<bool> boolean(const Fields& f, std::string_view key) {
        return read(f, key, key, [&](const ConfigNode& n, const std::string& p) {
            return _reader.boolean(n, p);
        });
    }
    // One of a fixed set of words; `what` names the value in the error
    // ("unknown mode 'dsr' (fullnat or nat)").
    template <class E, size_t N>
    std::optional<E> choice(const Fields& f, std::string_view key, std::string_view what,
                            const std::pair<std::string_view, E> (&words)[N]) {
        return read(
            f, key, key, [&](const ConfigNode& n, const std::string& p) -> std::optional<E> {
                auto text = _reader.string(n, p);
                if (!text) {
                    return std::nullopt;
                }
                std::string known;
                for (size_t i = 0; i < N; ++i) {
                    if (*text == words[i].first) {
                        return words[i].second;
                    }
                    known += std::string(i == 0 ? "" : (i + 1 == N ? " or " : ", ")) +
                             std::string(words[i].first);
                }
                _reader.error(n, p,
                              "unknown " + std::string(what) + " '" + *text + "' (" + known + ")");
                return std::nullopt;
            });
    }
    std::optional<Ipv4> ipv4(const Fields& f, std::string_view key) {
        return read(f, key, key,
                    [&](const ConfigNode& n, const std::string& p) { return _reader.ipv4(n, p); });
    }
    std::optional<Ipv4Prefix> prefix(const Fields& f, std::string_view key) {
        return read(f, key, key, [&](const ConfigNode& n, const std::string& p) {
            return _reader.prefix(n, p);
        });
    }

private:
    Reader& _reader;
    SourceMap& _source;
    std::string _typed_prefix;
};

template <class T, class U>
void assign(T& target, const std::optional<U>& value) {
    if (value) {
        target = static_cast<T>(*value);
    }
}

}  // namespace

EndpointSpec parse_native_endpoint(Reader& r, const ConfigNode& node, const std::string& path,
                                   SourceMap& source, const std::string& typed) {
    EndpointSpec spec;
    EndpointConfig& ep = spec.endpoint;
    record(source, r, typed, path, node, node.IsMap());
    if (!r.expect_map(node, path)) {
        return spec;
    }
    Fields f(r, node, path,
             {"ip", "ready", "serving", "terminating", "weight", "ports", "hostname", "node_name",
              "zone"});
    FieldReader read(r, source, typed);
    if (auto ip = read.ipv4(f, "ip")) {
        ep.ip = *ip;
    } else if (!f.has("ip")) {
        r.error(f.location(), f.path("ip"), "missing required key 'ip'");
        record_at(source, key_path(typed, "ip"), f.path("ip"), f.location(), false);
    }
    // Fields left out keep EndpointConfig's defaults (Kubernetes' rule).
    auto given = [&](EndpointField field, const auto& value) {
        if (value) {
            spec.given |= static_cast<uint16_t>(field);
        }
        return value;
    };
    assign(ep.ready, given(EndpointField::ready, read.boolean(f, "ready")));
    assign(ep.serving, given(EndpointField::serving, read.boolean(f, "serving")));
    assign(ep.terminating, given(EndpointField::terminating, read.boolean(f, "terminating")));
    assign(ep.weight, given(EndpointField::weight, read.integer(f, "weight", 0, kU16Max)));
    assign(ep.hostname, given(EndpointField::hostname, read.string(f, "hostname")));
    assign(ep.node_name, given(EndpointField::node_name, read.string(f, "node_name")));
    assign(ep.zone, given(EndpointField::zone, read.string(f, "zone")));
    if (auto ports = f.get("ports"); ports && r.expect_seq(*ports, f.path("ports"))) {
        spec.given |= static_cast<uint16_t>(EndpointField::ports);
        for (size_t i = 0; i < ports->size(); ++i) {
            const ConfigNode& item = (*ports)[i];
            std::string item_path = index_path(f.path("ports"), i);
            std::string item_typed = index_path(key_path(typed, "ports"), i);
            record(source, r, item_typed, item_path, item, item.IsMap());
            if (!r.expect_map(item, item_path)) {
                continue;
            }
            Fields pf(r, item, item_path, {"name", "port"});
            FieldReader pread(r, source, item_typed);
            auto name = pread.string(pf, "name");
            auto port = pread.integer(pf, "port", 1, kU16Max);
            if (!pf.has("port")) {
                r.error(pf.location(), pf.path("port"), "missing required key 'port'");
            }
            if (port) {
                ep.ports.push_back(EndpointPort{name.value_or(""), static_cast<uint16_t>(*port)});
            }
        }
    }
    return spec;
}

namespace {

ServicePortConfig parse_service_port(Reader& r, const ConfigNode& node, const std::string& path,
                                     SourceMap& source, const std::string& typed) {
    ServicePortConfig sp;
    record(source, r, typed, path, node, node.IsMap());
    if (!r.expect_map(node, path)) {
        return sp;
    }
    Fields f(r, node, path,
             {"name", "port", "target_port", "protocol", "node_port", "health_check", "all_down"});
    FieldReader read(r, source, typed);
    assign(sp.name, read.string(f, "name"));
    assign(sp.node_port, read.integer(f, "node_port", 1, kU16Max));
    if (auto port = read.integer(f, "port", 1, kU16Max)) {
        sp.port = static_cast<uint16_t>(*port);
    } else if (!f.has("port")) {
        r.error(f.location(), f.path("port"), "missing required key 'port'");
        record_at(source, key_path(typed, "port"), f.path("port"), f.location(), false);
    }
    auto target = read.read(
        f, "target_port", "target_port",
        [&](const ConfigNode& n, const std::string& p) { return read_target_port(r, n, p); });
    if (target) {
        sp.target_port = target->number;
        sp.target_port_name = target->name;
    } else if (!f.has("target_port")) {
        sp.target_port = sp.port;  // omitted = port, as in Kubernetes
        if (sp.port == 0) {
            // Follows a port already reported; do not report it twice.
            record_at(source, key_path(typed, "target_port"), f.path("target_port"), f.location(),
                      false);
        }
    }
    assign(sp.protocol,
           read.read(f, "protocol", "protocol", [&](const ConfigNode& n, const std::string& p) {
               return read_protocol(r, n, p);
           }));
    if (auto check = f.get("health_check")) {
        sp.health_check = parse_native_health_check(r, *check, f.path("health_check"), source,
                                                    key_path(typed, "health_check"));
    }
    assign(sp.all_down,
           read.read(f, "all_down", "all_down", [&](const ConfigNode& n, const std::string& p) {
               return read_all_down(r, n, p);
           }));
    if (f.has("all_down") && !f.has("health_check")) {
        r.error(f.key_location("all_down"), f.path("all_down"),
                "all_down needs a health_check on the same port");
    }
    return sp;
}

DpdkConfig parse_dpdk(Reader& r, const Fields& f, FieldReader& read, SourceMap& source) {
    DpdkConfig dpdk;
    assign(dpdk.lcores, read.string(f, "lcores"));
    assign(dpdk.memory_mb, read.integer(f, "memory_mb", 1, kU32Max));
    assign(dpdk.hugepages,
           read.read(f, "hugepages", "hugepages",
                     [&](const ConfigNode& n, const std::string& p) -> std::optional<HugepageMode> {
                         if (n.IsScalar() && lower(n.Scalar()) == "auto") {
                             return HugepageMode::automatic;
                         }
                         if (n.IsScalar() && n.Tag() != "!") {
                             std::string text = lower(n.Scalar());
                             if (text == "true") {
                                 return HugepageMode::on;
                             }
                             if (text == "false") {
                                 return HugepageMode::off;
                             }
                         }
                         r.error(n, p, "expected auto, true or false");
                         return std::nullopt;
                     }));
    assign(dpdk.file_prefix, read.string(f, "file_prefix"));
    assign(dpdk.idle,
           read.choice<IdleMode>(f, "idle", "idle mode",
                                 {{"poll", IdleMode::poll}, {"adaptive", IdleMode::adaptive}}));
    if (auto args = f.get("extra_args"); args && r.expect_seq(*args, f.path("extra_args"))) {
        for (size_t i = 0; i < args->size(); ++i) {
            std::string path = index_path(f.path("extra_args"), i);
            if (auto arg = r.string((*args)[i], path)) {
                dpdk.extra_args.push_back(*arg);
            }
            record(source, r, path, path, (*args)[i]);
        }
    }
    return dpdk;
}

std::vector<PortConfig> parse_ports(Reader& r, const ConfigNode& seq, SourceMap& source) {
    std::vector<PortConfig> ports;
    if (!r.expect_seq(seq, "ports")) {
        return ports;
    }
    for (size_t i = 0; i < seq.size(); ++i) {
        const ConfigNode& node = seq[i];
        std::string path = index_path("ports", i);
        record(source, r, path, path, node, node.IsMap());
        PortConfig port;
        if (!r.expect_map(node, path)) {
            ports.push_back(port);
            continue;
        }
        Fields f(r, node, path,
                 {"name", "device", "address", "gateway", "kernel_interface", "kernel_driver"});
        FieldReader read(r, source, path);
        for (std::string_view required : {"name", "device", "address"}) {
            if (!f.has(required)) {
                r.error(f.location(), f.path(required),
                        "missing required key '" + std::string(required) + "'");
                record_at(source, f.path(required), f.path(required), f.location(), false);
            }
        }
        assign(port.name, read.string(f, "name"));
        assign(port.device, read.string(f, "device"));
        assign(port.address, read.prefix(f, "address"));
        port.gateway = read.ipv4(f, "gateway");
        assign(port.kernel_interface, read.string(f, "kernel_interface"));
        assign(port.kernel_driver,
               read.choice<KernelDriver>(f, "kernel_driver", "kernel driver",
                                         {{"auto", KernelDriver::automatic},
                                          {"tap", KernelDriver::tap},
                                          {"virtio_user", KernelDriver::virtio_user},
                                          {"tap_pmd", KernelDriver::tap_pmd}}));
        ports.push_back(std::move(port));
    }
    return ports;
}

}  // namespace

std::optional<Protocol> read_protocol(Reader& reader, const ConfigNode& node,
                                      const std::string& path) {
    auto text = reader.string(node, path);
    if (!text) {
        return std::nullopt;
    }
    if (auto protocol = parse_protocol(*text)) {
        return protocol;
    }
    if (lower(*text) == "sctp") {
        reader.error(node, path, "unsupported protocol '" + *text + "' (TCP or UDP)");
    } else {
        reader.error(node, path, "unknown protocol '" + *text + "' (TCP or UDP)");
    }
    return std::nullopt;
}

std::optional<ServiceType> read_service_type(Reader& reader, const ConfigNode& node,
                                             const std::string& path) {
    auto text = reader.string(node, path);
    if (!text) {
        return std::nullopt;
    }
    if (auto type = parse_service_type(*text)) {
        return type;
    }
    reader.error(
        node, path,
        "unknown service type '" + *text + "' (ClusterIP, NodePort, LoadBalancer or ExternalName)");
    return std::nullopt;
}

std::optional<TrafficPolicy> read_traffic_policy(Reader& reader, const ConfigNode& node,
                                                 const std::string& path) {
    auto text = reader.string(node, path);
    if (!text) {
        return std::nullopt;
    }
    if (auto policy = parse_traffic_policy(*text)) {
        return policy;
    }
    reader.error(node, path, "unknown traffic policy '" + *text + "' (Cluster or Local)");
    return std::nullopt;
}

namespace {

// A YAML sequence read item by item with `parse` (an optional per item:
// absent = reported, left out), each item's location recorded.
template <typename T, typename Parse>
std::vector<T> read_list(Reader& reader, const ConfigNode& seq, const std::string& path,
                         SourceMap& source, const std::string& typed, Parse parse) {
    std::vector<T> out;
    record(source, reader, typed, path, seq, seq.IsSequence());
    if (!reader.expect_seq(seq, path)) {
        return out;
    }
    for (size_t i = 0; i < seq.size(); ++i) {
        std::string item = index_path(path, i);
        std::optional<T> value = parse(seq[i], item);
        record(source, reader, index_path(typed, i), item, seq[i], value.has_value());
        if (value) {
            out.push_back(*value);
        }
    }
    return out;
}

}  // namespace

std::vector<Ipv4> read_ipv4_list(Reader& reader, const ConfigNode& seq, const std::string& path,
                                 SourceMap& source, const std::string& typed) {
    return read_list<Ipv4>(
        reader, seq, path, source, typed,
        [&](const ConfigNode& n, const std::string& at) { return reader.ipv4(n, at); });
}

std::vector<Ipv4Prefix> read_source_ranges(Reader& reader, const ConfigNode& seq,
                                           const std::string& path, SourceMap& source,
                                           const std::string& typed) {
    return read_list<Ipv4Prefix>(
        reader, seq, path, source, typed,
        [&](const ConfigNode& n, const std::string& at) -> std::optional<Ipv4Prefix> {
            auto prefix = reader.prefix(n, at);
            if (!prefix) {
                return std::nullopt;
            }
            return Ipv4Prefix{prefix->network(), prefix->length};  // host bits cleared
        });
}

std::optional<TargetPort> read_target_port(Reader& reader, const ConfigNode& node,
                                           const std::string& path) {
    if (!node.IsScalar()) {
        reader.error(node, path, "expected a port number or a port name");
        return std::nullopt;
    }
    const std::string text = node.Scalar();
    bool quoted = node.Tag() == "!";
    bool numeric = !text.empty() && (std::isdigit(static_cast<unsigned char>(text[0])) ||
                                     text[0] == '-' || text[0] == '+');
    if (!quoted && numeric) {
        auto number = reader.integer(node, path, 1, kU16Max);
        if (!number) {
            return std::nullopt;
        }
        return TargetPort{static_cast<uint16_t>(*number), {}};
    }
    // A string, even "8080" when quoted (Kubernetes IntOrString): validated
    // as a port name later.
    return TargetPort{0, text};
}

std::vector<ServiceConfig> parse_native_services(Reader& r, const ConfigNode& seq,
                                                 const std::string& path) {
    std::vector<ServiceConfig> services;
    if (!r.expect_seq(seq, path)) {
        return services;
    }
    for (size_t i = 0; i < seq.size(); ++i) {
        const ConfigNode& node = seq[i];
        std::string svc_path = index_path(path, i);
        ServiceConfig svc;
        record(svc.locations, r, "", svc_path, node, node.IsMap());
        if (!r.expect_map(node, svc_path)) {
            services.push_back(std::move(svc));
            continue;
        }
        Fields f(r, node, svc_path,
                 {"name", "namespace", "type", "cluster_ip", "external_name", "session_affinity",
                  "session_affinity_timeout_s", "ports", "endpoints", "load_balancer_ips",
                  "external_ips", "source_ranges", "external_traffic_policy", "serve_cluster_ip"});
        FieldReader read(r, svc.locations, "");
        if (auto name = read.string(f, "name")) {
            svc.name = *name;
        } else if (!f.has("name")) {
            r.error(f.location(), f.path("name"), "missing required key 'name'");
            record_at(svc.locations, "name", f.path("name"), f.location(), false);
        }
        assign(svc.ns, read.string(f, "namespace"));
        assign(svc.type,
               read.read(f, "type", "type", [&](const ConfigNode& n, const std::string& p) {
                   return read_service_type(r, n, p);
               }));
        assign(svc.external_name, read.string(f, "external_name"));
        auto cluster_ip = read.read(
            f, "cluster_ip", "cluster_ip",
            [&](const ConfigNode& n, const std::string& p) -> std::optional<std::optional<Ipv4>> {
                if (n.IsScalar() && n.Scalar() == "None") {
                    svc.headless = true;
                    return std::optional<Ipv4>{};
                }
                if (n.IsScalar() && n.Scalar().empty()) {
                    return std::optional<Ipv4>{};  // "" = allocate, as in Kubernetes
                }
                auto ip = r.ipv4(n, p);
                if (!ip) {
                    return std::nullopt;
                }
                return std::optional<Ipv4>{*ip};
            });
        if (cluster_ip) {
            svc.cluster_ip = *cluster_ip;
        }
        assign(
            svc.session_affinity,
            read.read(
                f, "session_affinity", "session_affinity",
                [&](const ConfigNode& n, const std::string& p) -> std::optional<SessionAffinity> {
                    auto text = r.string(n, p);
                    if (text && *text == "None") {
                        return SessionAffinity::none;
                    }
                    if (text && *text == "ClientIP") {
                        return SessionAffinity::client_ip;
                    }
                    if (text) {
                        r.error(n, p,
                                "unknown session_affinity '" + *text + "' (None or ClientIP)");
                    }
                    return std::nullopt;
                }));
        assign(svc.session_affinity_timeout_s,
               read.integer(f, "session_affinity_timeout_s", 0, kU32Max));
        for (auto [key, target] : {std::pair{"load_balancer_ips", &svc.load_balancer_ips},
                                   {"external_ips", &svc.external_ips}}) {
            if (auto list = f.get(key)) {
                *target = read_ipv4_list(r, *list, f.path(key), svc.locations, key);
            }
        }
        if (auto list = f.get("source_ranges")) {
            svc.source_ranges = read_source_ranges(r, *list, f.path("source_ranges"), svc.locations,
                                                   "source_ranges");
        }
        assign(svc.external_traffic_policy,
               read.read(f, "external_traffic_policy", "external_traffic_policy",
                         [&](const ConfigNode& n, const std::string& p) {
                             return read_traffic_policy(r, n, p);
                         }));
        assign(svc.serve_cluster_ip, read.boolean(f, "serve_cluster_ip"));
        if (auto ports = f.get("ports")) {
            record(svc.locations, r, "ports", f.path("ports"), *ports, ports->IsSequence());
            if (r.expect_seq(*ports, f.path("ports"))) {
                for (size_t j = 0; j < ports->size(); ++j) {
                    svc.ports.push_back(parse_service_port(r, (*ports)[j],
                                                           index_path(f.path("ports"), j),
                                                           svc.locations, index_path("ports", j)));
                }
            }
        }
        if (auto endpoints = f.get("endpoints")) {
            record(svc.locations, r, "endpoints", f.path("endpoints"), *endpoints,
                   endpoints->IsSequence());
            if (r.expect_seq(*endpoints, f.path("endpoints"))) {
                for (size_t j = 0; j < endpoints->size(); ++j) {
                    svc.endpoints.push_back(
                        parse_native_endpoint(r, (*endpoints)[j],
                                              index_path(f.path("endpoints"), j), svc.locations,
                                              index_path("endpoints", j))
                            .endpoint);
                }
            }
        }
        services.push_back(std::move(svc));
    }
    return services;
}

namespace {

// fleet.members: [{name, address}, ...]
std::vector<FleetMemberConfig> parse_fleet_members(Reader& r, const ConfigNode& seq,
                                                   const std::string& path, SourceMap& source) {
    std::vector<FleetMemberConfig> out;
    record(source, r, path, path, seq, seq.IsSequence());
    if (!seq.IsSequence()) {
        r.error(seq, path, "must be a list of {name, address}");
        return out;
    }
    for (size_t i = 0; i < seq.size(); ++i) {
        const std::string at = index_path(path, i);
        FleetMemberConfig m;
        if (!r.expect_map(seq[i], at)) {
            continue;
        }
        Fields f(r, seq[i], at, {"name", "address"});
        FieldReader read(r, source, at);
        for (std::string_view required : {"name", "address"}) {
            if (!f.has(required)) {
                r.error(f.location(), f.path(required),
                        "missing required key '" + std::string(required) + "'");
            }
        }
        assign(m.name, read.string(f, "name"));
        assign(m.address, read.ipv4(f, "address"));
        out.push_back(std::move(m));
    }
    return out;
}

}  // namespace

Config parse_native_config(Reader& r, const ConfigNode& doc) {
    Config config;
    config.source = r.source();
    Fields top(r, doc, "",
               {"dpdk", "ports", "network", "punt", "forwarding", "maglev", "conntrack", "dns",
                "api", "metrics", "kubernetes", "fleet", "services"});
    SourceMap& src = config.locations;
    auto section = [&](std::string_view key,
                       std::vector<std::string_view> allowed) -> std::optional<Fields> {
        auto node = top.get(key);
        if (!node) {
            return std::nullopt;
        }
        record(src, r, std::string(key), std::string(key), *node, node->IsMap());
        if (!r.expect_map(*node, std::string(key))) {
            return std::nullopt;
        }
        return Fields(r, *node, std::string(key), std::move(allowed));
    };

    if (auto f = section(
            "dpdk", {"lcores", "memory_mb", "hugepages", "file_prefix", "extra_args", "idle"})) {
        FieldReader read(r, src, "dpdk");
        config.dpdk = parse_dpdk(r, *f, read, src);
    }
    if (auto ports = top.get("ports")) {
        record(src, r, "ports", "ports", *ports, ports->IsSequence());
        config.ports = parse_ports(r, *ports, src);
    }
    if (auto f = section("network", {"service_cidr", "snat_addresses", "lb_pools"})) {
        FieldReader read(r, src, "network");
        assign(config.network.service_cidr, read.prefix(*f, "service_cidr"));
        if (auto snat = f->get("snat_addresses");
            snat && r.expect_seq(*snat, f->path("snat_addresses"))) {
            for (size_t i = 0; i < snat->size(); ++i) {
                std::string path = index_path(f->path("snat_addresses"), i);
                auto ip = r.ipv4((*snat)[i], path);
                record(src, r, path, path, (*snat)[i], ip.has_value());
                if (ip) {
                    config.network.snat_addresses.push_back(*ip);
                }
            }
        }
        if (auto pools = f->get("lb_pools"); pools && r.expect_seq(*pools, f->path("lb_pools"))) {
            for (size_t i = 0; i < pools->size(); ++i) {
                std::string path = index_path(f->path("lb_pools"), i);
                auto text = r.string((*pools)[i], path);
                auto range = text ? Ipv4Range::parse(*text) : std::nullopt;
                if (text && !range) {
                    r.error((*pools)[i], path,
                            "invalid pool '" + *text +
                                "' (a CIDR without host bits, e.g. 192.0.2.0/28, or FIRST-LAST, "
                                "e.g. 192.0.2.10-192.0.2.20)");
                }
                record(src, r, path, path, (*pools)[i], range.has_value());
                if (range) {
                    config.network.lb_pools.push_back(*range);
                }
            }
        }
    }
    if (auto f = section("forwarding", {"mode"})) {
        FieldReader read(r, src, "forwarding");
        assign(config.forwarding, read.choice<ForwardingMode>(*f, "mode", "mode",
                                                              {{"fullnat", ForwardingMode::fullnat},
                                                               {"nat", ForwardingMode::nat}}));
    }
    if (auto f = section("maglev", {"table_size", "seed"})) {
        FieldReader read(r, src, "maglev");
        assign(config.maglev.table_size,
               read.read(*f, "table_size", "table_size",
                         [&](const ConfigNode& n, const std::string& p) -> std::optional<uint64_t> {
                             if (n.IsScalar() && n.Scalar() == "auto") {
                                 return 0;
                             }
                             return r.integer(n, p, 1, kU32Max);
                         }));
        assign(config.maglev.seed, read.integer(*f, "seed", 0, kU64Max));
    }
    if (auto f = section("conntrack", {"max_flows", "tcp_established_timeout_s",
                                       "tcp_transitory_timeout_s", "udp_timeout_s"})) {
        FieldReader read(r, src, "conntrack");
        assign(config.conntrack.max_flows, read.integer(*f, "max_flows", 1, kU32Max));
        assign(config.conntrack.tcp_established_timeout_s,
               read.integer(*f, "tcp_established_timeout_s", 1, kU32Max));
        assign(config.conntrack.tcp_transitory_timeout_s,
               read.integer(*f, "tcp_transitory_timeout_s", 1, kU32Max));
        assign(config.conntrack.udp_timeout_s, read.integer(*f, "udp_timeout_s", 1, kU32Max));
    }
    if (auto f = section("punt", {"rate_pps", "control_rate_pps", "burst"})) {
        FieldReader read(r, src, "punt");
        assign(config.punt.rate_pps, read.integer(*f, "rate_pps", 1, kU32Max));
        assign(config.punt.control_rate_pps, read.integer(*f, "control_rate_pps", 1, kU32Max));
        assign(config.punt.burst, read.integer(*f, "burst", 1, kU32Max));
    }
    if (auto f = section("dns", {"cluster_ip", "domain", "ttl_s"})) {
        FieldReader read(r, src, "dns");
        assign(config.dns.cluster_ip, read.ipv4(*f, "cluster_ip"));
        assign(config.dns.domain, read.string(*f, "domain"));
        assign(config.dns.ttl_s, read.integer(*f, "ttl_s", 0, kU32Max));
    }
    if (auto f = section("api", {"listen", "token_file"})) {
        FieldReader read(r, src, "api");
        assign(config.api.listen, read.string(*f, "listen"));
        assign(config.api.token_file, read.string(*f, "token_file"));
    }
    if (auto f = section("metrics", {"listen"})) {
        FieldReader read(r, src, "metrics");
        assign(config.metrics.listen, read.string(*f, "listen"));
    }
    if (auto f =
            section("kubernetes", {"enabled", "kubeconfig", "cluster_ips", "load_balancer_class",
                                   "default_class", "service_proxy_name", "batch_window_ms",
                                   "watch_timeout_s", "backoff_max_ms", "backends"})) {
        FieldReader read(r, src, "kubernetes");
        KubernetesConfig& k = config.kubernetes;
        assign(k.enabled, read.boolean(*f, "enabled"));
        assign(k.kubeconfig, read.string(*f, "kubeconfig"));
        assign(k.cluster_ips, read.boolean(*f, "cluster_ips"));
        assign(k.load_balancer_class, read.string(*f, "load_balancer_class"));
        assign(k.default_class, read.boolean(*f, "default_class"));
        assign(k.service_proxy_name, read.string(*f, "service_proxy_name"));
        assign(k.batch_window_ms, read.integer(*f, "batch_window_ms", 1, kMaxBatchWindowMs));
        assign(k.watch_timeout_s, read.integer(*f, "watch_timeout_s", 1, kMaxWatchTimeoutS));
        assign(k.backoff_max_ms, read.integer(*f, "backoff_max_ms", 100, kU32Max));
        assign(
            k.backends,
            read.read(*f, "backends", "backends", [&](const ConfigNode& n, const std::string& p) {
                auto text = r.string(n, p);
                auto mode = text ? parse_backend_mode(*text) : std::nullopt;
                if (text && !mode) {
                    r.error(n, p, "unknown backends '" + *text + "' (pods or nodeport)");
                }
                return mode;
            }));
    }
    if (auto f = section(
            "fleet", {"announce", "bird_socket", "routes_file", "drain_file", "drain_deadline_s",
                      "generation", "self", "members", "membership", "probe", "lease"})) {
        FieldReader read(r, src, "fleet");
        FleetConfig& fl = config.fleet;
        assign(fl.announce, read.boolean(*f, "announce"));
        assign(fl.bird_socket, read.string(*f, "bird_socket"));
        assign(fl.routes_file, read.string(*f, "routes_file"));
        assign(fl.drain_file, read.string(*f, "drain_file"));
        assign(fl.drain_deadline_s, read.integer(*f, "drain_deadline_s", 1, kMaxDrainDeadlineS));
        assign(fl.generation, read.integer(*f, "generation", 0, kU64Max));
        assign(fl.self, read.string(*f, "self"));
        if (auto members = f->get("members")) {
            fl.members = parse_fleet_members(r, *members, f->path("members"), src);
        }
        if (auto probe = f->get("probe")) {
            const std::string path = f->path("probe");
            record(src, r, path, path, *probe, probe->IsMap());
            if (r.expect_map(*probe, path)) {
                Fields p(r, *probe, path, {"port", "interval_ms", "timeout_ms", "rise", "fall"});
                FieldReader pr(r, src, path);
                assign(fl.probe.port, pr.integer(p, "port", 1, kU16Max));
                assign(fl.probe.interval_ms, pr.integer(p, "interval_ms", 10, kMaxProbeMs));
                assign(fl.probe.timeout_ms, pr.integer(p, "timeout_ms", 10, kMaxProbeMs));
                assign(fl.probe.rise, pr.integer(p, "rise", 1, kMaxProbeCount));
                assign(fl.probe.fall, pr.integer(p, "fall", 1, kMaxProbeCount));
            }
        }
        static constexpr std::pair<std::string_view, FleetMembership> kMemberships[] = {
            {"probes", FleetMembership::probes}, {"leases", FleetMembership::leases}};
        assign(fl.membership, read.choice(*f, "membership", "membership", kMemberships));
        if (auto lease = f->get("lease")) {
            const std::string path = f->path("lease");
            record(src, r, path, path, *lease, lease->IsMap());
            if (r.expect_map(*lease, path)) {
                Fields l(r, *lease, path, {"namespace", "duration_s", "renew_ms"});
                FieldReader lr(r, src, path);
                assign(fl.lease.ns, lr.string(l, "namespace"));
                assign(fl.lease.duration_s, lr.integer(l, "duration_s", 1, kMaxLeaseDurationS));
                assign(fl.lease.renew_ms,
                       lr.integer(l, "renew_ms", kMinLeaseRenewMs, kMaxLeaseDurationS * 1000));
            }
        }
    }
    if (auto services = top.get("services")) {
        config.services = parse_native_services(r, *services, "services");
    }
    return config;
}

}  // namespace svcgw::config_detail
