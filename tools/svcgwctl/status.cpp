// svcgwctl's verbs that show what the gateway reports: events, stats, flows.
#include <cstdio>
#include <ctime>
#include <vector>

#include "control/kubectl.hpp"
#include "verbs.hpp"

namespace svcgw::ctl {

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

int cmd_stats(Api& api, const Args&) {
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

}  // namespace svcgw::ctl
