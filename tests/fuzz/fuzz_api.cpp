// Fuzz target: API request handling (ApiHandler::handle) without sockets,
// with the control job run inline on a real ControlState (the publisher is
// a recorder that can be told to fail), so routing, JSON/YAML body
// parsing, validation and the all-or-nothing state changes are all
// exercised.
//
// Input: byte 0 = flags (bit k: the publish of request k fails), then up to
// kMaxRequests HTTP-like request texts separated by NUL bytes, run in turn
// on one state (create, then change, then delete...):
//   METHOD SP PATH[?QUERY] LF (Name: value LF)* LF BODY
// The handler gets the parsed pieces (cpp-httplib's own parsing is not
// ours to fuzz). Invariants besides the sanitizers: handle() never throws;
// the status is a valid HTTP status; every error response is JSON with
// "error" and "path"; a request that failed leaves the state exactly as it
// was (version, and every record in full: config, origin, age); after every
// request the data plane (what the publisher last accepted) holds exactly
// the running set.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "control/api.hpp"
#include "control/control_queue.hpp"
#include "control/state.hpp"

namespace {

using namespace svcgw;

void die(const char* what) {
    std::fprintf(stderr, "fuzz_api: %s\n", what);
    std::abort();
}

// Requests per input: enough for create -> change -> delete chains with
// failures in between, few enough to keep an input fast.
constexpr size_t kMaxRequests = 8;

// Keeps what the data plane would hold: the last set it accepted.
class RecordingPublisher : public ServicePublisher {
public:
    Result<void> publish(const ServiceDiff& diff, const MaglevConfig&) override {
        ++calls;
        if (fail) {
            return svcgw::fail("", "table full");
        }
        apply_diff(live, diff);
        return {};
    }
    // The running set as the diffs built it.
    std::vector<ServiceConfig> services() const {
        std::vector<ServiceConfig> out;
        for (const auto& [key, s] : live) {
            out.push_back(s);
        }
        return out;
    }
    bool fail = false;
    int calls = 0;
    std::map<std::string, ServiceConfig> live;  // by "ns/name"
};

class Backend : public ControlBackend {
public:
    explicit Backend(ControlState& s) : _state(s) {}
    ControlState& state() override { return _state; }
    StatsSnapshot stats() override {
        StatsSnapshot s;
        s.services = _state.records().size();
        WorkerStatsView w;
        w.drops = {{"no_service", 3}};
        s.workers.push_back(w);
        return s;
    }
    std::vector<FlowSample> flows(size_t limit) override {
        return std::vector<FlowSample>(std::min<size_t>(limit, 3));
    }

private:
    ControlState& _state;
};

const Config* g_base = nullptr;

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

std::string_view next_line(std::string_view& rest) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    return line;
}

HttpRequest parse_request(std::string_view text) {
    HttpRequest r;
    std::string_view first = next_line(text);
    size_t sp = first.find(' ');
    r.method = std::string(first.substr(0, sp));
    std::string_view target = sp == std::string_view::npos ? "" : first.substr(sp + 1);
    size_t q = target.find('?');
    r.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) {
        std::string_view query = target.substr(q + 1);
        while (!query.empty()) {
            size_t amp = query.find('&');
            std::string_view pair = query.substr(0, amp);
            size_t eq = pair.find('=');
            r.query[std::string(pair.substr(0, eq))] =
                eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1));
            query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
        }
    }
    while (!text.empty()) {
        std::string_view line = next_line(text);
        if (line.empty()) {
            break;
        }
        size_t colon = line.find(':');
        std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') {
            value.remove_prefix(1);
        }
        r.headers[lower(line.substr(0, colon))] = std::string(value);
    }
    r.body = std::string(text);
    return r;
}

// Everything a client or the data plane can observe of the state.
struct Snapshot {
    uint64_t version;
    std::vector<ServiceConfig> running;
    std::vector<std::tuple<std::string, ServiceConfig, Origin, int64_t>> records;
    bool operator==(const Snapshot&) const = default;
};
Snapshot snapshot(const ControlState& s) {
    Snapshot out{s.version(), s.running_config().services, {}};
    for (const auto& [key, r] : s.records()) {
        out.records.emplace_back(key, r.config, r.origin, r.created_unix_s);
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    auto c = load_config(R"(
ports: [{name: ext0, device: "net_null0", address: 10.99.0.1/24}]
network: {service_cidr: 10.96.0.0/16}
services:
  - name: filesvc
    cluster_ip: 10.96.0.50
    ports: [{name: http, port: 80, target_port: 8080}]
    endpoints: [{ip: 10.99.0.11}, {ip: 10.99.0.12}]
  - name: other
    namespace: team
    ports: [{port: 53, target_port: 53, protocol: UDP}]
    endpoints: [{ip: 10.99.0.13}]
)",
                         "fuzz-base.yaml");
    if (!c) {
        die("base config does not load");
    }
    g_base = new Config(*c);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) {
        return 0;
    }
    const uint8_t fail_bits = data[0];
    RecordingPublisher publisher;
    ControlState state(*g_base, publisher, 1000);
    for (const auto& [key, record] : state.records()) {
        publisher.live.emplace(key, record.config);  // the initial set is live already
    }
    Backend backend(state);
    InlineExecutor exec(backend);
    ApiHandler api(exec);
    std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
    for (size_t k = 0; k < kMaxRequests && (k == 0 || !rest.empty()); ++k) {
        const size_t nul = rest.find('\0');
        HttpRequest request = parse_request(rest.substr(0, nul));
        rest = nul == std::string_view::npos ? std::string_view{} : rest.substr(nul + 1);
        // The data plane refuses this change (publish fails).
        publisher.fail = (fail_bits >> k & 1) != 0;
        const Snapshot before = snapshot(state);
        HttpResponse response = api.handle(request);
        if (response.status < 100 || response.status > 599) {
            die("status outside 100..599");
        }
        if (response.status >= 400) {
            if (!(snapshot(state) == before)) {
                die("a failed request changed the state");
            }
            if (response.content_type == "application/json") {
                auto j = nlohmann::json::parse(response.body, nullptr, false);
                if (j.is_discarded() || !j.is_object() || !j.contains("error") ||
                    !j.contains("path")) {
                    die("error response without a JSON error and path");
                }
            }
        }
        if (!(publisher.services() == state.running_config().services)) {
            die("the data plane does not hold the running set");
        }
        if (request.path == "/metrics" || request.method == "GET") {
            (void)api.metrics();
        }
    }
    return 0;
}
