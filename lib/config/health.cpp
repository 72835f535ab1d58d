// Health-check settings of a service port: one reader for both sources, the
// native keys (`health_check: {...}` and `all_down` of a service port) and the
// Kubernetes annotations (`svcgw.io/health-check-*` on a Service, applied to
// each of its ports). Every value check lives here, so a file, an API body and
// a manifest are held to the same rules.
#include <algorithm>
#include <array>
#include <initializer_list>
#include <map>

#include "config/parse.hpp"

namespace svcgw {

std::string_view to_string(HealthProtocol protocol) {
    return protocol == HealthProtocol::http ? "http" : "tcp";
}

std::string_view to_string(AllDownPolicy policy) {
    return policy == AllDownPolicy::reject ? "reject" : "fail_open";
}

uint16_t EndpointConfig::probe_port_for(const ServicePortConfig& service_port) const {
    const uint16_t target = target_port_for(service_port);
    if (!service_port.health_check || target == 0) {
        return 0;  // not probed, or no traffic to this endpoint on that port anyway
    }
    return service_port.health_check->port != 0 ? service_port.health_check->port : target;
}

namespace config_detail {

namespace {

constexpr std::string_view kAnnotationPrefix = "svcgw.io/health-check-";
constexpr std::string_view kOwnPrefix = "svcgw.io/";
// Ten probes a second per backend is already far more than keepalived
// (delay_loop in seconds) or Envoy's examples use; below that the probes
// themselves become load.
constexpr uint64_t kMinIntervalMs = 100;
// Beyond an hour a probe no longer tells whether a backend is up now.
constexpr uint64_t kMaxIntervalMs = 3'600'000;
// A timeout below 10 ms fails healthy backends on any scheduling hiccup of
// the control thread.
constexpr uint64_t kMinTimeoutMs = 10;
// rise/fall beyond 100 probes make a backend's state follow nothing real.
constexpr uint64_t kMaxThreshold = 100;
// RFC 9110 §15: status codes are three-digit integers from 100 to 599.
constexpr uint16_t kStatusMin = 100;
constexpr uint16_t kStatusMax = 599;
// The request line must fit the prober's fixed request buffer (1 KiB of path
// leaves room for the method, version and headers).
constexpr size_t kMaxPathLength = 1024;
constexpr uint64_t kU16Max = 65535;

struct Setting {
    std::string_view native;      // key inside health_check
    std::string_view annotation;  // suffix after svcgw.io/health-check-
};
constexpr std::array<Setting, 8> kSettings{{{"protocol", "protocol"},
                                            {"port", "port"},
                                            {"path", "path"},
                                            {"expect", "expect"},
                                            {"interval_ms", "interval-ms"},
                                            {"timeout_ms", "timeout-ms"},
                                            {"rise", "rise"},
                                            {"fall", "fall"}}};
constexpr Setting kAllDown{"all_down", "all-down"};

// The settings given, by native key: value node and display path.
using Given = std::map<std::string_view, std::pair<ConfigNode, std::string>, std::less<>>;

// One of a few words; `what` names the key in the message.
template <class E>
std::optional<E> read_choice(Reader& r, const ConfigNode& node, const std::string& path,
                             std::string_view what,
                             std::initializer_list<std::pair<std::string_view, E>> choices) {
    auto text = r.string(node, path);
    if (!text) {
        return std::nullopt;
    }
    std::string words;
    for (const auto& [word, value] : choices) {
        if (*text == word) {
            return value;
        }
        words += (words.empty() ? "" : " or ") + std::string(word);
    }
    r.error(node, path, "unknown " + std::string(what) + " '" + *text + "' (" + words + ")");
    return std::nullopt;
}

std::optional<HealthProtocol> read_protocol_value(Reader& r, const ConfigNode& node,
                                                  const std::string& path) {
    return read_choice<HealthProtocol>(
        r, node, path, "health check protocol",
        {{"tcp", HealthProtocol::tcp}, {"http", HealthProtocol::http}});
}

// "200-399" or "204": inclusive range of accepted HTTP status codes.
std::optional<std::pair<uint16_t, uint16_t>> read_expect(Reader& r, const ConfigNode& node,
                                                         const std::string& path) {
    auto text = r.string(node, path);
    if (!text) {
        return std::nullopt;
    }
    auto code = [](std::string_view s) -> std::optional<uint16_t> {
        if (s.size() != 3 || s.find_first_not_of("0123456789") != std::string_view::npos) {
            return std::nullopt;
        }
        const auto v = static_cast<uint16_t>((s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0'));
        return v >= kStatusMin && v <= kStatusMax ? std::optional<uint16_t>{v} : std::nullopt;
    };
    const std::string_view all = *text;
    const size_t dash = all.find('-');
    auto lo = code(all.substr(0, dash));
    auto hi = dash == std::string_view::npos ? lo : code(all.substr(dash + 1));
    if (!lo || !hi || *lo > *hi) {
        r.error(node, path,
                "expected a status code or a range of them, e.g. 200-399 (codes " +
                    std::to_string(kStatusMin) + " to " + std::to_string(kStatusMax) +
                    ", low to high), got '" + *text + "'");
        return std::nullopt;
    }
    return std::pair{*lo, *hi};
}

std::optional<std::string> read_path(Reader& r, const ConfigNode& node, const std::string& path) {
    auto text = r.string(node, path);
    if (!text) {
        return std::nullopt;
    }
    // RFC 9112 §3.2: the origin-form request target; visible ASCII only, so
    // nothing can end the request line or inject a header.
    bool visible = true;
    for (char c : *text) {
        visible = visible && c > 0x20 && c < 0x7f;
    }
    if (text->empty() || text->front() != '/' || !visible || text->size() > kMaxPathLength) {
        r.error(node, path,
                "expected an absolute path starting with '/' (visible ASCII, at most " +
                    std::to_string(kMaxPathLength) + " characters), got '" + *text + "'");
        return std::nullopt;
    }
    return text;
}

// The one reader of the settings. `text`: every value arrives as a string
// (annotations), so numbers may be quoted.
HealthCheckConfig read_settings(Reader& r, const Given& given, bool text, SourceMap& source,
                                const std::string& typed) {
    HealthCheckConfig hc;
    auto node_of = [&](std::string_view key) -> const std::pair<ConfigNode, std::string>* {
        auto it = given.find(key);
        return it == given.end() ? nullptr : &it->second;
    };
    auto note = [&](std::string_view key, bool ok) {
        const auto* at = node_of(key);
        record(source, r, key_path(typed, key), at->second, at->first, ok);
    };
    auto integer = [&](std::string_view key, uint64_t min,
                       uint64_t max) -> std::optional<uint64_t> {
        const auto* at = node_of(key);
        if (at == nullptr) {
            return std::nullopt;
        }
        auto value = r.integer(at->first, at->second, min, max, text);
        note(key, value.has_value());
        return value;
    };
    if (const auto* at = node_of("protocol")) {
        auto protocol = read_protocol_value(r, at->first, at->second);
        note("protocol", protocol.has_value());
        hc.protocol = protocol.value_or(hc.protocol);
    }
    if (auto port = integer("port", 1, kU16Max)) {
        hc.port = static_cast<uint16_t>(*port);
    }
    if (const auto* at = node_of("path")) {
        auto path = read_path(r, at->first, at->second);
        note("path", path.has_value());
        hc.path = path.value_or(hc.path);
    }
    if (const auto* at = node_of("expect")) {
        auto expect = read_expect(r, at->first, at->second);
        note("expect", expect.has_value());
        if (expect) {
            hc.expect_min = expect->first;
            hc.expect_max = expect->second;
        }
    }
    auto interval = integer("interval_ms", kMinIntervalMs, kMaxIntervalMs);
    auto timeout = integer("timeout_ms", kMinTimeoutMs, kMaxIntervalMs);
    hc.interval_ms = static_cast<uint32_t>(interval.value_or(hc.interval_ms));
    hc.timeout_ms = static_cast<uint32_t>(timeout.value_or(hc.timeout_ms));
    hc.rise = static_cast<uint32_t>(integer("rise", 1, kMaxThreshold).value_or(hc.rise));
    hc.fall = static_cast<uint32_t>(integer("fall", 1, kMaxThreshold).value_or(hc.fall));

    // One probe per backend at a time: it must end before the next starts.
    const bool timing_parsed =
        (interval || !node_of("interval_ms")) && (timeout || !node_of("timeout_ms"));
    if (timing_parsed && hc.timeout_ms > hc.interval_ms) {
        const auto* at =
            node_of("timeout_ms") != nullptr ? node_of("timeout_ms") : node_of("interval_ms");
        r.error(at->first, at->second,
                "timeout_ms " + std::to_string(hc.timeout_ms) + " exceeds interval_ms " +
                    std::to_string(hc.interval_ms) + " (a probe must end before the next starts)");
    }
    if (hc.protocol == HealthProtocol::tcp) {
        for (std::string_view key : {"path", "expect"}) {
            if (const auto* at = node_of(key)) {
                r.error(at->first, at->second,
                        std::string(key) + " applies to protocol http only (this check is tcp)");
            }
        }
    }
    return hc;
}

std::optional<AllDownPolicy> read_all_down_value(Reader& r, const ConfigNode& node,
                                                 const std::string& path) {
    return read_choice<AllDownPolicy>(
        r, node, path, "all_down",
        {{"fail_open", AllDownPolicy::fail_open}, {"reject", AllDownPolicy::reject}});
}

}  // namespace

HealthCheckConfig parse_native_health_check(Reader& r, const ConfigNode& node,
                                            const std::string& path, SourceMap& source,
                                            const std::string& typed) {
    record(source, r, typed, path, node, node.IsMap());
    if (!r.expect_map(node, path)) {
        return HealthCheckConfig{};
    }
    std::vector<std::string_view> keys;
    for (const Setting& s : kSettings) {
        keys.push_back(s.native);
    }
    Fields f(r, node, path, keys);
    Given given;
    for (const Setting& s : kSettings) {
        if (auto value = f.get(s.native)) {
            given.emplace(s.native, std::pair{*value, f.path(s.native)});
        }
    }
    return read_settings(r, given, false, source, typed);
}

std::optional<AllDownPolicy> read_all_down(Reader& r, const ConfigNode& node,
                                           const std::string& path) {
    return read_all_down_value(r, node, path);
}

void apply_health_annotations(Reader& r, const ConfigNode& annotations, const std::string& path,
                              ServiceConfig& svc, const std::vector<std::string_view>& consumed) {
    if (!annotations.IsMap()) {
        return;  // absent, or reported by the metadata reader
    }
    std::vector<std::string> known;
    for (const Setting& s : kSettings) {
        known.push_back(std::string(kAnnotationPrefix) + std::string(s.annotation));
    }
    known.push_back(std::string(kAnnotationPrefix) + std::string(kAllDown.annotation));
    const std::vector<std::string_view> candidates(known.begin(), known.end());

    Given given;
    std::optional<std::pair<ConfigNode, std::string>> all_down;
    std::string first_location;
    for (const ConfigNode::Entry& pair : annotations.entries()) {
        if (!pair.first.IsScalar()) {
            continue;
        }
        const std::string key = pair.first.Scalar();
        if (key.rfind(kOwnPrefix, 0) != 0 ||
            std::find(consumed.begin(), consumed.end(), key) != consumed.end()) {
            continue;  // someone else's annotation, or read by the feed
        }
        const std::string at = path + "[" + key + "]";
        auto match = std::find(known.begin(), known.end(), key);
        if (match == known.end()) {
            std::string hint = suggest(key, candidates);
            r.error(pair.first, at,
                    "unknown annotation '" + key + "'" +
                        (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
            continue;
        }
        if (first_location.empty()) {
            first_location = r.location(pair.first);
        }
        const std::string_view suffix = std::string_view(key).substr(kAnnotationPrefix.size());
        if (suffix == kAllDown.annotation) {
            all_down = std::pair{pair.second, at};
            continue;
        }
        for (const Setting& s : kSettings) {
            if (s.annotation == suffix) {
                given.emplace(s.native, std::pair{pair.second, at});
            }
        }
    }
    if (given.empty()) {
        if (all_down) {
            r.error(all_down->first, all_down->second,
                    "all-down needs a health check (a svcgw.io/health-check-protocol annotation "
                    "or another health-check setting)");
        }
        return;
    }
    // The annotations describe one check for every port of the Service; each
    // port probes its own target port unless health-check-port names one.
    SourceMap scratch;  // per-port locations are recorded below
    HealthCheckConfig hc = read_settings(r, given, true, scratch, "health_check");
    std::optional<AllDownPolicy> policy;
    if (all_down) {
        policy = read_all_down_value(r, all_down->first, all_down->second);
    }
    for (size_t j = 0; j < svc.ports.size(); ++j) {
        ServicePortConfig& port = svc.ports[j];
        const std::string typed = key_path(index_path("ports", j), "health_check");
        port.health_check = hc;
        port.all_down = policy.value_or(port.all_down);
        record_at(svc.locations, typed, path, first_location);
        for (const auto& [key, ref] : scratch) {
            svc.locations[key_path(index_path("ports", j), key)] = ref;
        }
    }
}

}  // namespace config_detail
}  // namespace svcgw
