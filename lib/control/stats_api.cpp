// The counters: GET /v1/stats (JSON), GET /metrics (Prometheus text, also
// on metrics.listen) and GET /v1/flows (the workers' flow census).
#include <algorithm>

#include "common/hash.hpp"
#include "control/api_json.hpp"
#include "control/api_routes.hpp"

namespace svcgw {
namespace {
using json = nlohmann::json;
}  // namespace

json fleet_members_json(const FleetMembersStats& f) {
    json members = json::array();
    const bool leases = f.membership == "leases";
    for (const FleetMemberStats& m : f.members) {
        json member{{"name", m.name}, {"address", m.address},     {"self", m.self},
                    {"live", m.live}, {"mac_known", m.mac_known}, {"slots", m.slots}};
        if (leases) {
            member["lease"] =
                json{{"state", m.lease_state},
                     {"renew_time", m.lease_renew_us != 0 ? json(m.lease_renew_time) : json()},
                     {"duration_s", m.lease_duration_s}};
        }
        members.push_back(std::move(member));
    }
    json out{{"owner_ring", json{{"size", f.ring_size}, {"digest", digest_str(f.digest)}}},
             {"live", f.live},
             {"changes", f.changes},
             {"membership", f.membership},
             {"members", std::move(members)}};
    if (leases) {
        out["lease_api_ok"] = f.lease_api_ok;
        out["lease_requests"] = json{{"renewed", f.lease_renewals},
                                     {"conflict", f.lease_conflicts},
                                     {"error", f.lease_errors}};
    }
    return out;
}

namespace api {
namespace {

json traffic_json(const TrafficStats& t) {
    return json{{"packets", t.packets},
                {"bytes", t.bytes},
                {"new_flows", t.new_flows},
                {"active_flows", t.active_flows}};
}

}  // namespace

json stats_json(const StatsSnapshot& s, const std::string& ns, const std::string& name) {
    auto wanted = [&](const std::string& n, const std::string& svc) {
        return name.empty() || (n == ns && svc == name);
    };
    json ports = json::array();
    for (const auto& p : s.ports) {
        if (wanted(p.ns, p.service)) {
            ports.push_back(json{{"namespace", p.ns},
                                 {"service", p.service},
                                 {"port", p.port},
                                 {"port_name", p.port_name},
                                 {"protocol", p.protocol},
                                 {"ring_size", p.ring_size},
                                 {"ring_digest", digest_str(p.ring_digest)},
                                 {"traffic", traffic_json(p.traffic)}});
        }
    }
    json backends = json::array();
    for (const auto& b : s.backends) {
        if (wanted(b.ns, b.service)) {
            backends.push_back(json{{"namespace", b.ns},
                                    {"service", b.service},
                                    {"ip", b.ip},
                                    {"weight", b.weight},
                                    {"ready", b.ready},
                                    {"serving", b.serving},
                                    {"terminating", b.terminating},
                                    {"eligible", b.eligible},
                                    {"ring_slots", b.ring_slots},
                                    {"ring_size", b.ring_size},
                                    {"traffic", traffic_json(b.traffic)}});
        }
    }
    json workers = json::array();
    json dns_total = json::object();  // summed over workers (dns::counter_name keys)
    if (name.empty()) {
        for (const auto& w : s.workers) {
            json drops = json::object();
            for (const auto& [k, v] : w.drops) {
                drops[k] = v;
            }
            json events = json::object();
            for (const auto& [k, v] : w.events) {
                events[k] = v;
            }
            json dns = json::object();
            for (const auto& [k, v] : w.dns) {
                dns[k] = v;
                dns_total[k] = dns_total.value(k, uint64_t{0}) + v;
            }
            workers.push_back(json{{"worker", w.index},
                                   {"events", std::move(events)},
                                   {"drops", std::move(drops)},
                                   {"dns", std::move(dns)},
                                   {"flows_active", w.flows_active},
                                   {"flows_capacity", w.flows_capacity},
                                   {"flow_evictions", w.flow_evictions}});
        }
    }
    json out{{"services", s.services},
             {"config_version", s.config_version},
             {"tables_digest", digest_str(s.tables_digest)},
             {"ports", std::move(ports)},
             {"backends", std::move(backends)},
             {"workers", std::move(workers)},
             {"dns", std::move(dns_total)}};
    if (s.exception_path.enabled) {
        const ExceptionPathView& e = s.exception_path;
        out["exception_path"] = json{{"interface", e.interface},
                                     {"to_kernel", e.to_kernel},
                                     {"to_kernel_failed", e.to_kernel_failed},
                                     {"from_kernel", e.from_kernel},
                                     {"from_kernel_kept", e.from_kernel_kept},
                                     {"from_kernel_failed", e.from_kernel_failed}};
    }
    if (s.fleet_members.enabled) {
        out["fleet_members"] = fleet_members_json(s.fleet_members);
    }
    if (s.reply_index.enabled) {
        out["reply_index"] =
            json{{"keys", s.reply_index.keys}, {"unindexed", s.reply_index.unindexed}};
    }
    if (s.kubernetes.enabled) {
        const FeedStats& k = s.kubernetes;
        json kinds = json::object();
        for (const FeedKindStats& kind : k.kinds) {
            kinds[kind.kind] = json{{"events", kind.events},        {"bookmarks", kind.bookmarks},
                                    {"relists", kind.relists},      {"restarts", kind.restarts},
                                    {"expired", kind.expired},      {"errors", kind.errors},
                                    {"last_error", kind.last_error}};
        }
        out["kubernetes"] = json{{"synced", k.synced},
                                 {"kinds", std::move(kinds)},
                                 {"publishes", k.publishes},
                                 {"rejected", k.rejected},
                                 {"invalid", k.invalid},
                                 {"publish_errors", k.publish_errors},
                                 {"status_updates", k.status_updates},
                                 {"status_errors", k.status_errors},
                                 {"lag_count", k.lag_count},
                                 {"lag_p50_us", k.lag_p50_us},
                                 {"lag_p99_us", k.lag_p99_us}};
    }
    return out;
}

HttpResponse get_stats(const HttpRequest&, ControlExecutor& ex, const PathArgs&) {
    return ex.execute([](ControlBackend& b) {
        StatsSnapshot s = stats_of(b);
        return json_response(stats_json(s));
    });
}

HttpResponse get_metrics(const HttpRequest&, ControlExecutor& ex, const PathArgs&) {
    return ex.execute([](ControlBackend& b) {
        StatsSnapshot s = stats_of(b);
        return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", render_prometheus(s)};
    });
}

HttpResponse get_flows(const HttpRequest& r, ControlExecutor& ex, const PathArgs&) {
    size_t limit = kDefaultFlowLimit;
    if (auto it = r.query.find("limit"); it != r.query.end()) {
        const std::string& v = it->second;
        if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos) {
            return error_response(400, "BadRequest", "limit must be a positive integer", "limit");
        }
        limit = std::min<size_t>(std::stoul(v), kMaxFlowLimit);
    }
    return ex.execute([limit](ControlBackend& b) {
        json flows = json::array();
        for (const FlowSample& f : b.flows(limit)) {
            json j{{"worker", f.worker},          {"protocol", f.protocol},
                   {"client", f.client},          {"vip", f.vip},
                   {"backend", f.backend},        {"state", f.state},
                   {"idle_s", f.idle_s},          {"packets_fwd", f.packets_fwd},
                   {"packets_rev", f.packets_rev}};
            if (!f.snat.empty()) {
                j["snat"] = f.snat;
            }
            flows.push_back(std::move(j));
        }
        return json_response(json{{"flows", std::move(flows)}});
    });
}

}  // namespace api
}  // namespace svcgw
