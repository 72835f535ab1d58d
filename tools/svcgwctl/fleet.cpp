// svcgwctl's fleet verbs: what this instance announces (fleet), the
// generation it expects (fleet expect), and drain / undrain.
#include <cstdio>
#include <ctime>
#include <string>

#include "control/kubectl.hpp"
#include "verbs.hpp"

namespace svcgw::ctl {
namespace {

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

// Polled while `drain --wait` waits for the flows to end.
constexpr int kDrainPollMs = 500;

}  // namespace

int cmd_fleet(Api& api, const Args& a) {
    if (a.positional.size() == 1) {
        return print_fleet(api.call("GET", "/v1/fleet"));
    }
    if (a.positional.size() != 3 || a.positional[1] != "expect") {
        return usage_error("usage: fleet [expect GENERATION|none]");
    }
    const std::string& g = a.positional[2];
    if (g != "none" && !is_decimal(g, 19)) {
        return usage_error("GENERATION must be a non-negative integer or none");
    }
    return print_fleet(
        api.call("PUT", "/v1/fleet/expected_generation",
                 json{{"generation", g == "none" ? json(nullptr) : json(std::stoull(g))}}.dump()));
}

int cmd_drain(Api& api, const Args& a) {
    json body = json::object();
    if (a.has("--deadline")) {
        const std::string d = a.get("--deadline");
        if (!is_decimal(d, 5)) {
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

int cmd_undrain(Api& api, const Args&) {
    return print_fleet(api.call("DELETE", "/v1/fleet/drain"));
}

}  // namespace svcgw::ctl
