#include <cstdio>
#include <string>
#include <string_view>

#include "common/hash.hpp"
#include "telemetry/stats.hpp"

namespace svcgw {
namespace {

// Label values escape backslash, double quote and newline (exposition format).
std::string escape(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

class Writer {
public:
    void family(const char* name, const char* type, const char* help) {
        _out += "# HELP ";
        _out += name;
        _out += ' ';
        _out += help;
        _out += "\n# TYPE ";
        _out += name;
        _out += ' ';
        _out += type;
        _out += '\n';
    }
    void sample(const char* name, const std::string& labels, uint64_t value) {
        sample_text(name, labels, std::to_string(value));
    }
    void sample_text(const char* name, const std::string& labels, const std::string& value) {
        _out += name;
        if (!labels.empty()) {
            _out += '{' + labels + '}';
        }
        _out += ' ' + value + '\n';
    }
    std::string take() { return std::move(_out); }

private:
    std::string _out;
};

std::string port_labels(const PortStats& p) {
    return "namespace=\"" + escape(p.ns) + "\",service=\"" + escape(p.service) + "\",port=\"" +
           std::to_string(p.port) + "\",protocol=\"" + p.protocol + "\"";
}

std::string backend_labels(const BackendStats& b) {
    return "namespace=\"" + escape(b.ns) + "\",service=\"" + escape(b.service) + "\",backend=\"" +
           b.ip + "\"";
}

std::string probe_labels(const BackendStats& b, const ProbeStats& p) {
    return "namespace=\"" + escape(b.ns) + "\",service=\"" + escape(b.service) + "\",port=\"" +
           std::to_string(p.port) + "\",backend=\"" + b.ip + "\"";
}

std::string seconds(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.6f", value);
    return text;
}

// Health checks (DESIGN §6): per checked (service port, backend), per port,
// and the prober as a whole.
void render_health(Writer& w, const StatsSnapshot& s) {
    w.family("svcgw_backend_healthy", "gauge",
             "1 while the backend passes its health check on that service port, 0 once fall "
             "failed probes took it out of the ring.");
    for (const BackendStats& b : s.backends) {
        for (const ProbeStats& p : b.health) {
            w.sample("svcgw_backend_healthy", probe_labels(b, p), p.up ? 1 : 0);
        }
    }
    w.family("svcgw_backend_health_probes_total", "counter", "Health-check verdicts.");
    for (const BackendStats& b : s.backends) {
        for (const ProbeStats& p : b.health) {
            w.sample("svcgw_backend_health_probes_total", probe_labels(b, p), p.probes);
        }
    }
    w.family("svcgw_backend_health_failures_total", "counter", "Failed health-check verdicts.");
    for (const BackendStats& b : s.backends) {
        for (const ProbeStats& p : b.health) {
            w.sample("svcgw_backend_health_failures_total", probe_labels(b, p), p.failures);
        }
    }
    w.family("svcgw_backend_health_latency_seconds", "gauge",
             "Duration of the last health-check probe.");
    for (const BackendStats& b : s.backends) {
        for (const ProbeStats& p : b.health) {
            w.sample_text("svcgw_backend_health_latency_seconds", probe_labels(b, p),
                          seconds(double(p.latency_us) / 1e6));
        }
    }
    w.family("svcgw_service_all_down", "gauge",
             "1 while every backend of the port failed its health check (all_down applies).");
    for (const PortStats& p : s.ports) {
        w.sample("svcgw_service_all_down", port_labels(p), p.all_down.empty() ? 0 : 1);
    }
    const HealthSummary& h = s.health;
    w.family("svcgw_health_probes_total", "counter", "Health-check verdicts, by result.");
    for (const auto& [result, v] : h.verdicts) {
        w.sample("svcgw_health_probes_total", "result=\"" + result + "\"", v);
    }
    w.family("svcgw_health_probe_duration_seconds", "histogram",
             "Duration of successful health-check probes.");
    for (const auto& [bound, count] : h.latency_le) {
        w.sample("svcgw_health_probe_duration_seconds_bucket", "le=\"" + seconds(bound) + "\"",
                 count);
    }
    w.sample("svcgw_health_probe_duration_seconds_bucket", "le=\"+Inf\"", h.latency_count);
    w.sample_text("svcgw_health_probe_duration_seconds_sum", "", seconds(h.latency_sum_s));
    w.sample("svcgw_health_probe_duration_seconds_count", "", h.latency_count);
    w.family("svcgw_health_probes_in_flight", "gauge", "Health-check probes running now.");
    w.sample("svcgw_health_probes_in_flight", "", h.in_flight);
    w.family("svcgw_health_probe_slots", "gauge", "Health-check probes allowed at once.");
    w.sample("svcgw_health_probe_slots", "", h.capacity);
    w.family("svcgw_health_probes_deferred_total", "counter",
             "Probes that waited for a free slot (started late).");
    w.sample("svcgw_health_probes_deferred_total", "", h.deferred);
    w.family("svcgw_health_targets", "gauge", "Backends probed (address, port and check).");
    w.sample("svcgw_health_targets", "", h.targets);
    w.family("svcgw_health_targets_down", "gauge", "Probed backends that are down.");
    w.sample("svcgw_health_targets_down", "", h.down);
    w.family("svcgw_health_transitions_total", "counter", "Backends that went down or up.");
    w.sample("svcgw_health_transitions_total", "to=\"down\"", h.went_down);
    w.sample("svcgw_health_transitions_total", "to=\"up\"", h.went_up);
    w.family("svcgw_health_all_down_total", "counter",
             "Times a service port found every backend down (all_down applied).");
    w.sample("svcgw_health_all_down_total", "", h.all_down);
}

// Membership leases: each member's Lease (state, renewTime) and the
// agent's own requests.
void lease_metrics(Writer& w, const FleetMembersStats& f) {
    w.family("svcgw_fleet_lease_api_up", "gauge",
             "1 while the fleet's Leases were listed within the hold (0: the member set is "
             "frozen at its last known state).");
    w.sample("svcgw_fleet_lease_api_up", "", f.lease_api_ok ? 1 : 0);
    w.family("svcgw_fleet_member_lease_info", "gauge",
             "A member's Lease as last listed (state: live, expired, released or missing).");
    for (const FleetMemberStats& m : f.members) {
        w.sample("svcgw_fleet_member_lease_info",
                 "member=\"" + escape(m.name) + "\",state=\"" + m.lease_state + "\"", 1);
    }
    w.family("svcgw_fleet_member_lease_renew_time_seconds", "gauge",
             "renewTime of a member's Lease (Unix seconds, the holder's clock); absent without "
             "one. time() minus it shows a late renewal or clock skew.");
    for (const FleetMemberStats& m : f.members) {
        if (m.lease_renew_us != 0) {
            w.sample_text("svcgw_fleet_member_lease_renew_time_seconds",
                          "member=\"" + escape(m.name) + "\"",
                          seconds(static_cast<double>(m.lease_renew_us) / 1e6));
        }
    }
    w.family("svcgw_fleet_lease_requests_total", "counter",
             "This gateway's Lease writes (renewed), 409 Conflicts re-read, failed requests.");
    w.sample("svcgw_fleet_lease_requests_total", "result=\"renewed\"", f.lease_renewals);
    w.sample("svcgw_fleet_lease_requests_total", "result=\"conflict\"", f.lease_conflicts);
    w.sample("svcgw_fleet_lease_requests_total", "result=\"error\"", f.lease_errors);
}

// One family of the workers' DNS counters: the counter `name` itself, or,
// with `label`, every counter starting with `name`, the rest of its name
// as the label's value ("rcode_NXDOMAIN" -> rcode="NXDOMAIN").
void dns_counters(Writer& w, const StatsSnapshot& s, const char* metric, const char* help,
                  std::string_view name, const char* label = nullptr) {
    w.family(metric, "counter", help);
    for (const auto& wk : s.workers) {
        for (const auto& [counter, v] : wk.dns) {
            if (label == nullptr ? counter != name : !counter.starts_with(name)) {
                continue;
            }
            std::string labels = "worker=\"" + std::to_string(wk.index) + "\"";
            if (label != nullptr) {
                labels += std::string(",") + label + "=\"" + counter.substr(name.size()) + "\"";
            }
            w.sample(metric, labels, v);
        }
    }
}

}  // namespace

std::string render_prometheus(const StatsSnapshot& s) {
    Writer w;
    w.family("svcgw_services", "gauge", "Services configured.");
    w.sample("svcgw_services", "", s.services);
    w.family("svcgw_config_version", "gauge", "Published service-set version.");
    w.sample("svcgw_config_version", "", s.config_version);
    // Digests are 64-bit: exact only as label values (samples are doubles).
    w.family("svcgw_tables_digest_info", "gauge",
             "Digest of every VIP port's Maglev ring; equal on gateways that pick alike.");
    w.sample("svcgw_tables_digest_info", "digest=\"" + digest_str(s.tables_digest) + "\"", 1);
    w.family("svcgw_service_ring_info", "gauge",
             "Maglev ring of a service port: size and digest (label), equal on gateways that "
             "pick alike.");
    for (const PortStats& p : s.ports) {
        w.sample("svcgw_service_ring_info",
                 port_labels(p) + ",size=\"" + std::to_string(p.ring_size) + "\",digest=\"" +
                     digest_str(p.ring_digest) + "\"",
                 1);
    }
    if (s.reply_index.enabled) {
        w.family("svcgw_reply_index_keys", "gauge",
                 "nat: backend:targetPort keys of the reply index (replies without a flow).");
        w.sample("svcgw_reply_index_keys", "", s.reply_index.keys);
        w.family("svcgw_reply_index_unindexed_total", "counter",
                 "nat: backend:targetPort keys the reply index had no room for.");
        w.sample("svcgw_reply_index_unindexed_total", "", s.reply_index.unindexed);
    }

    if (s.fleet_members.enabled) {
        // fullnat owner redirect; the frames are svcgw_worker_events_total
        // {event="redirected"} (sent to their owner) and {event="redirect_in"}
        // (received from a peer).
        const FleetMembersStats& f = s.fleet_members;
        w.family("svcgw_fleet_owner_ring_info", "gauge",
                 "Owner ring of the fleet's live members: size and digest (label), equal on "
                 "instances that agree on the owners.");
        w.sample(
            "svcgw_fleet_owner_ring_info",
            "size=\"" + std::to_string(f.ring_size) + "\",digest=\"" + digest_str(f.digest) + "\"",
            1);
        w.family("svcgw_fleet_members_live", "gauge", "Fleet members live (this one included).");
        w.sample("svcgw_fleet_members_live", "", f.live);
        w.family("svcgw_fleet_member_up", "gauge",
                 "1 while a fleet member is live (probes or its Lease), by member.");
        for (const FleetMemberStats& m : f.members) {
            w.sample("svcgw_fleet_member_up",
                     "member=\"" + escape(m.name) + "\",address=\"" + m.address + "\"",
                     m.live ? 1 : 0);
        }
        w.family("svcgw_fleet_member_changes_total", "counter",
                 "Member sets published to the workers (liveness or MAC changes).");
        w.sample("svcgw_fleet_member_changes_total", "", f.changes);
        w.family("svcgw_fleet_membership_info", "gauge",
                 "Where the members' liveness comes from (source: probes or leases).");
        w.sample("svcgw_fleet_membership_info", "source=\"" + f.membership + "\"", 1);
        if (f.membership == "leases") {
            lease_metrics(w, f);
        }
    }

    if (s.exception_path.enabled) {
        const ExceptionPathView& e = s.exception_path;
        const std::string tap = "interface=\"" + escape(e.interface) + "\"";
        const char* frames = "svcgw_exception_path_frames_total";
        w.family(
            frames, "counter",
            "Frames through the exception path's TAP, by direction and result (punted "
            "and policed frames are in svcgw_worker_events_total / svcgw_worker_drops_total).");
        const std::pair<const char*, uint64_t> rows[] = {
            {"direction=\"to_kernel\",result=\"written\"", e.to_kernel},
            {"direction=\"to_kernel\",result=\"failed\"", e.to_kernel_failed},
            {"direction=\"from_kernel\",result=\"sent\"", e.from_kernel},
            {"direction=\"from_kernel\",result=\"kept\"", e.from_kernel_kept},
            {"direction=\"from_kernel\",result=\"failed\"", e.from_kernel_failed},
        };
        for (const auto& [labels, value] : rows) {
            w.sample(frames, tap + "," + labels, value);
        }
    }

    if (s.kubernetes.enabled) {
        const FeedStats& k = s.kubernetes;
        w.family("svcgw_kubernetes_synced", "gauge",
                 "1 once the feed's first complete list is published.");
        w.sample("svcgw_kubernetes_synced", "", k.synced ? 1 : 0);
        struct KindMetric {
            const char* name;
            const char* help;
            uint64_t FeedKindStats::*field;
        };
        const KindMetric kinds[] = {
            {"svcgw_kubernetes_events_total", "Watch events received.", &FeedKindStats::events},
            {"svcgw_kubernetes_bookmarks_total", "Watch bookmarks received.",
             &FeedKindStats::bookmarks},
            {"svcgw_kubernetes_relists_total", "Complete lists.", &FeedKindStats::relists},
            {"svcgw_kubernetes_watch_restarts_total", "Watches opened again.",
             &FeedKindStats::restarts},
            {"svcgw_kubernetes_expired_total", "410 Gone answers (relist).",
             &FeedKindStats::expired},
            {"svcgw_kubernetes_errors_total", "Failed requests and bad lines.",
             &FeedKindStats::errors},
        };
        for (const auto& m : kinds) {
            w.family(m.name, "counter", m.help);
            for (const FeedKindStats& kind : k.kinds) {
                w.sample(m.name, "kind=\"" + kind.kind + "\"", kind.*m.field);
            }
        }
        w.family("svcgw_kubernetes_publishes_total", "counter",
                 "Feed batches that changed the service set.");
        w.sample("svcgw_kubernetes_publishes_total", "", k.publishes);
        w.family("svcgw_kubernetes_rejected_total", "counter", "Services left out by validation.");
        w.sample("svcgw_kubernetes_rejected_total", "", k.rejected);
        w.family("svcgw_kubernetes_invalid_objects_total", "counter",
                 "Objects that could not be decoded.");
        w.sample("svcgw_kubernetes_invalid_objects_total", "", k.invalid);
        w.family("svcgw_kubernetes_publish_errors_total", "counter",
                 "Feed batches the publisher refused.");
        w.sample("svcgw_kubernetes_publish_errors_total", "", k.publish_errors);
        w.family("svcgw_kubernetes_status_updates_total", "counter",
                 "LoadBalancer statuses written back to the cluster.");
        w.sample("svcgw_kubernetes_status_updates_total", "", k.status_updates);
        w.family("svcgw_kubernetes_status_errors_total", "counter",
                 "Failed LoadBalancer status writes (each retried).");
        w.sample("svcgw_kubernetes_status_errors_total", "", k.status_errors);
        const char* lag = "svcgw_kubernetes_event_lag_seconds";
        w.family(lag, "histogram",
                 "From a watch event's arrival to its publish in the data plane.");
        for (const auto& [le_us, count] : k.lag_buckets) {
            std::string le = le_us == 0 ? "+Inf" : std::to_string(static_cast<double>(le_us) / 1e6);
            w.sample("svcgw_kubernetes_event_lag_seconds_bucket", "le=\"" + le + "\"", count);
        }
        w.sample_text("svcgw_kubernetes_event_lag_seconds_sum", "",
                      std::to_string(static_cast<double>(k.lag_sum_us) / 1e6));
        w.sample("svcgw_kubernetes_event_lag_seconds_count", "", k.lag_count);
    }

    struct PortMetric {
        const char* name;
        const char* type;
        const char* help;
        uint64_t TrafficStats::*field;
    };
    const PortMetric traffic[] = {
        {"packets_total", "counter", "Client-to-service packets.", &TrafficStats::packets},
        {"bytes_total", "counter", "Client-to-service frame bytes.", &TrafficStats::bytes},
        {"new_flows_total", "counter", "Connections balanced.", &TrafficStats::new_flows},
        {"active_flows", "gauge", "Live connections (flow census).", &TrafficStats::active_flows},
    };
    for (const auto& m : traffic) {
        std::string name = std::string("svcgw_service_") + m.name;
        w.family(name.c_str(), m.type, m.help);
        for (const PortStats& p : s.ports) {
            w.sample(name.c_str(), port_labels(p), p.traffic.*m.field);
        }
    }
    for (const auto& m : traffic) {
        std::string name = std::string("svcgw_backend_") + m.name;
        w.family(name.c_str(), m.type, m.help);
        for (const BackendStats& b : s.backends) {
            w.sample(name.c_str(), backend_labels(b), b.traffic.*m.field);
        }
    }
    w.family("svcgw_backend_ring_share_ratio", "gauge", "Share of the Maglev ring (new flows).");
    for (const BackendStats& b : s.backends) {
        char value[32];
        std::snprintf(value, sizeof value, "%.6f",
                      b.ring_size == 0 ? 0.0 : double(b.ring_slots) / b.ring_size);
        w.sample_text("svcgw_backend_ring_share_ratio", backend_labels(b), value);
    }
    render_health(w, s);
    std::string out = w.take();

    Writer ww;
    ww.family("svcgw_worker_drops_total", "counter", "Frames dropped by the worker, by reason.");
    for (const auto& wk : s.workers) {
        for (const auto& [reason, v] : wk.drops) {
            ww.sample("svcgw_worker_drops_total",
                      "worker=\"" + std::to_string(wk.index) + "\",reason=\"" + reason + "\"", v);
        }
    }
    ww.family("svcgw_worker_events_total", "counter", "Worker events (rx, tx, flows, replies).");
    for (const auto& wk : s.workers) {
        for (const auto& [event, v] : wk.events) {
            ww.sample("svcgw_worker_events_total",
                      "worker=\"" + std::to_string(wk.index) + "\",event=\"" + event + "\"", v);
        }
    }
    ww.family("svcgw_flows_active", "gauge", "Flow-table entries in use, per worker.");
    for (const auto& wk : s.workers) {
        ww.sample("svcgw_flows_active", "worker=\"" + std::to_string(wk.index) + "\"",
                  wk.flows_active);
    }
    ww.family("svcgw_flows_capacity", "gauge", "Flow-table capacity, per worker.");
    for (const auto& wk : s.workers) {
        ww.sample("svcgw_flows_capacity", "worker=\"" + std::to_string(wk.index) + "\"",
                  wk.flows_capacity);
    }
    ww.family("svcgw_flow_evictions_total", "counter", "Live flows evicted by a full table.");
    for (const auto& wk : s.workers) {
        ww.sample("svcgw_flow_evictions_total", "worker=\"" + std::to_string(wk.index) + "\"",
                  wk.flow_evictions);
    }
    // DNS (dns::counter_name): "queries", "rcode_<rcode>", "drop_<reason>",
    // and the "truncated" / "noerror_nodata" subsets of the responses.
    dns_counters(ww, s, "svcgw_dns_queries_total", "DNS queries seen by the worker.", "queries");
    dns_counters(ww, s, "svcgw_dns_responses_total", "DNS responses sent, by rcode.", "rcode_",
                 "rcode");
    dns_counters(ww, s, "svcgw_dns_truncated_total", "DNS responses sent with TC=1.", "truncated");
    dns_counters(ww, s, "svcgw_dns_dropped_total", "DNS queries not answered, by reason.", "drop_",
                 "reason");
    return out + ww.take();
}

}  // namespace svcgw
