#include "control/kubectl.hpp"

#include <cstdio>
#include <ctime>
#include <map>

namespace svcgw {

using json = nlohmann::json;

std::string format_age(int64_t seconds) {
    // kubectl (apimachinery duration.HumanDuration): precision shrinks as
    // the age grows.
    if (seconds < -1) {
        return "<invalid>";
    }
    if (seconds < 0) {
        return "0s";
    }
    auto str = [](const char* f, int64_t a, int64_t b = 0) {
        char buf[32];
        std::snprintf(buf, sizeof buf, f, static_cast<long long>(a), static_cast<long long>(b));
        return std::string(buf);
    };
    if (seconds < 60 * 2) {
        return str("%llds", seconds);
    }
    const int64_t minutes = seconds / 60;
    if (minutes < 10) {
        int64_t s = seconds % 60;
        return s == 0 ? str("%lldm", minutes) : str("%lldm%llds", minutes, s);
    }
    if (minutes < 60 * 3) {
        return str("%lldm", minutes);
    }
    const int64_t hours = minutes / 60;
    if (hours < 8) {
        int64_t m = minutes % 60;
        return m == 0 ? str("%lldh", hours) : str("%lldh%lldm", hours, m);
    }
    if (hours < 48) {
        return str("%lldh", hours);
    }
    if (hours < 24 * 8) {
        int64_t h = hours % 24;
        return h == 0 ? str("%lldd", hours / 24) : str("%lldd%lldh", hours / 24, h);
    }
    if (hours < 24 * 365 * 2) {
        return str("%lldd", hours / 24);
    }
    if (hours < 24 * 365 * 8) {
        int64_t d = (hours / 24) % 365;
        return d == 0 ? str("%lldy", hours / 24 / 365) : str("%lldy%lldd", hours / 24 / 365, d);
    }
    return str("%lldy", hours / 24 / 365);
}

int64_t age_seconds(const std::string& ts, int64_t now_unix_s) {
    std::tm tm{};
    if (strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) == nullptr) {
        return -1;
    }
    return now_unix_s - static_cast<int64_t>(timegm(&tm));
}

std::string format_ports(const json& ports) {
    std::string out;
    for (const auto& p : ports) {
        out += (out.empty() ? "" : ",") + std::to_string(p.value("port", 0)) + "/" +
               p.value("protocol", std::string("TCP"));
    }
    return out.empty() ? "<none>" : out;
}

namespace {

std::string target_of(const json& port, const json& endpoint) {
    const json& t =
        port.contains("target_port") ? port["target_port"] : json(port.value("port", 0));
    if (t.is_number()) {
        return std::to_string(t.get<int>());
    }
    // Named targetPort: the endpoint's own port of that service-port name.
    for (const auto& np : endpoint.value("ports", json::array())) {
        if (np.value("name", "") == port.value("name", "")) {
            return std::to_string(np.value("port", 0));
        }
    }
    return "";
}

// The service's health-check entries (status.health) for one backend.
std::vector<json> probes_of(const json& service, const std::string& ip) {
    std::vector<json> out;
    const json status = service.value("status", json::object());
    for (const auto& p : status.value("health", json::array())) {
        if (p.value("ip", "") == ip) {
            out.push_back(p);
        }
    }
    return out;
}

// A probe-down backend is not ready for that port, as with a failing
// readiness probe.
bool probe_down(const json& service, const std::string& ip, int port) {
    for (const json& p : probes_of(service, ip)) {
        if (p.value("port", 0) == port && !p.value("up", true)) {
            return true;
        }
    }
    return false;
}

// "0.4s" below ten seconds, kubectl's ages above.
std::string short_age(uint64_t ms) {
    constexpr uint64_t kTenthsBelowMs = 10'000;
    if (ms < kTenthsBelowMs) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
        return buf;
    }
    return format_age(static_cast<int64_t>(ms / 1000));
}

// HEALTH of describe's backend table: "up (ok 0.4s ago)", per checked port
// when there are several ("80:down (refused 1.2s ago),443:up (...)"); "-"
// when nothing checks it.
std::string health_cell(const json& service, const std::string& ip) {
    const std::vector<json> probes = probes_of(service, ip);
    std::string out;
    for (const json& p : probes) {
        std::string cell = p.value("up", true) ? "up" : "down";
        if (p.value("probed", false)) {
            cell += " (" + p.value("last", std::string()) + " " +
                    short_age(p.value("last_age_ms", uint64_t{0})) + " ago)";
        } else {
            cell += " (not probed yet)";
        }
        if (probes.size() > 1) {
            cell = std::to_string(p.value("port", 0)) + ":" + cell;
        }
        out += (out.empty() ? "" : ",") + cell;
    }
    return out.empty() ? "-" : out;
}

std::string service_ip(const json& s) {
    std::string ip = s.value("cluster_ip", "");
    return ip.empty() ? "<none>" : ip;
}

// kubectl's EXTERNAL-IP: an ExternalName's name; else the load-balancer
// and external addresses, or <pending> for a LoadBalancer without one.
std::string external_column(const json& s) {
    if (s.contains("external_name")) {
        return s["external_name"].get<std::string>();
    }
    std::string out;
    for (const char* key : {"load_balancer_ips", "external_ips"}) {
        for (const auto& ip : s.value(key, json::array())) {
            out += (out.empty() ? "" : ",") + ip.get<std::string>();
        }
    }
    if (out.empty()) {
        return s.value("type", "") == "LoadBalancer" ? "<pending>" : "<none>";
    }
    return out;
}

}  // namespace

std::string format_endpoints(const json& service) {
    // Kubernetes lists ready addresses only (the slices say which: a
    // terminating pod is not ready unless publishNotReadyAddresses).
    std::vector<std::string> all;
    for (const auto& e : service.value("endpoints", json::array())) {
        if (!e.value("ready", true)) {
            continue;
        }
        for (const auto& p : service.value("ports", json::array())) {
            std::string target = target_of(p, e);
            if (!target.empty() && !probe_down(service, e.value("ip", ""), p.value("port", 0))) {
                all.push_back(e.value("ip", "") + ":" + target);
            }
        }
    }
    if (all.empty()) {
        return "<none>";
    }
    constexpr size_t kShown = 3;  // kubectl's formatEndpoints limit
    std::string out;
    for (size_t i = 0; i < all.size() && i < kShown; ++i) {
        out += (i == 0 ? "" : ",") + all[i];
    }
    if (all.size() > kShown) {
        out += " + " + std::to_string(all.size() - kShown) + " more...";
    }
    return out;
}

std::string render_table(const std::vector<std::vector<std::string>>& rows) {
    constexpr size_t kGap = 3;  // kubectl's tabwriter padding
    std::vector<size_t> width;
    for (const auto& row : rows) {
        if (width.size() < row.size()) {
            width.resize(row.size(), 0);
        }
        for (size_t c = 0; c < row.size(); ++c) {
            width[c] = std::max(width[c], row[c].size());
        }
    }
    std::string out;
    for (const auto& row : rows) {
        std::string line;
        for (size_t c = 0; c < row.size(); ++c) {
            line += row[c];
            if (c + 1 < row.size()) {
                line += std::string(width[c] - row[c].size() + kGap, ' ');
            }
        }
        out += line + "\n";
    }
    return out;
}

namespace {

// A kubectl list: a header, then a row per object, with -A the namespace
// first; nothing at all when there is no object (as kubectl prints).
class Listing {
public:
    Listing(std::vector<std::string> header, bool all_namespaces)
        : _all_namespaces(all_namespaces) {
        add(std::move(header), "NAMESPACE");
    }
    void add(std::vector<std::string> row, const std::string& ns) {
        if (_all_namespaces) {
            row.insert(row.begin(), ns);
        }
        _rows.push_back(std::move(row));
    }
    std::string str() const { return _rows.size() == 1 ? "" : render_table(_rows); }

private:
    bool _all_namespaces;
    std::vector<std::vector<std::string>> _rows;
};

}  // namespace

std::string services_table(const json& items, const GetOptions& o, int64_t now) {
    std::vector<std::string> header = {"NAME",        "TYPE",    "CLUSTER-IP",
                                       "EXTERNAL-IP", "PORT(S)", "AGE"};
    if (o.wide) {
        header.push_back("SELECTOR");
    }
    Listing list(std::move(header), o.all_namespaces);
    for (const auto& s : items) {
        std::vector<std::string> row = {
            s.value("name", ""),
            s.value("type", std::string("ClusterIP")),
            service_ip(s),
            external_column(s),
            format_ports(s.value("ports", json::array())),
            format_age(age_seconds(s.value("creationTimestamp", ""), now))};
        if (o.wide) {
            row.push_back("<none>");
        }
        list.add(std::move(row), s.value("namespace", ""));
    }
    return list.str();
}

std::string events_table(const json& items, int64_t now) {
    Listing list({"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}, false);
    for (const auto& e : items) {
        list.add({format_age(age_seconds(e.value("lastTimestamp", ""), now)), e.value("type", ""),
                  e.value("reason", ""), e.value("object", ""), e.value("message", "")},
                 "");
    }
    return list.str();
}

std::string endpoints_table(const json& items, const GetOptions& o, int64_t now) {
    Listing list({"NAME", "ENDPOINTS", "AGE"}, o.all_namespaces);
    for (const auto& s : items) {
        list.add({s.value("name", ""), format_endpoints(s),
                  format_age(age_seconds(s.value("creationTimestamp", ""), now))},
                 s.value("namespace", ""));
    }
    return list.str();
}

namespace {

std::string human_bytes(uint64_t b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(b);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.1f%s", v, units[u]);
    return buf;
}

std::string field(const std::string& label, const std::string& value) {
    constexpr size_t kLabelWidth = 26;  // kubectl describe's column for services
    std::string l = label + ":";
    return l + std::string(l.size() < kLabelWidth ? kLabelWidth - l.size() : 1, ' ') + value + "\n";
}

}  // namespace

std::string describe_service(const json& s) {
    std::string out;
    const std::string ip = service_ip(s);
    out += field("Name", s.value("name", ""));
    out += field("Namespace", s.value("namespace", ""));
    out += field("Labels", "<none>");
    out += field("Annotations", "<none>");
    out += field("Selector", "<none>");
    const std::string type = s.value("type", std::string("ClusterIP"));
    out += field("Type", type);
    if (type == "ExternalName") {
        out += field("External Name", s.value("external_name", ""));
    } else {
        out += field("IP Family Policy", "SingleStack");
        out += field("IP Families", "IPv4");
        out += field("IP", ip);
        out += field("IPs", ip);
    }
    for (const auto& p : s.value("ports", json::array())) {
        const std::string proto = p.value("protocol", std::string("TCP"));
        const std::string name = p.value("name", "");
        out += field("Port", (name.empty() ? "<unset>" : name) + "  " +
                                 std::to_string(p.value("port", 0)) + "/" + proto);
        const json& t = p.contains("target_port") ? p["target_port"] : json(0);
        out += field(
            "TargetPort",
            (t.is_string() ? t.get<std::string>() : std::to_string(t.get<int>())) + "/" + proto);
        json one = s;
        one["ports"] = json::array({p});
        out += field("Endpoints", format_endpoints(one) == "<none>" ? "" : format_endpoints(one));
        if (p.contains("health_check")) {
            const json& h = p["health_check"];
            std::string check = h.value("protocol", std::string("tcp"));
            if (h.contains("port")) {
                check += " port " + std::to_string(h.value("port", 0));
            }
            if (h.contains("path")) {
                check += " " + h.value("path", std::string()) + " expect " +
                         h.value("expect", std::string());
            }
            check += ", every " + std::to_string(h.value("interval_ms", 0)) + "ms, timeout " +
                     std::to_string(h.value("timeout_ms", 0)) + "ms, rise " +
                     std::to_string(h.value("rise", 0)) + ", fall " +
                     std::to_string(h.value("fall", 0)) +
                     ", all down: " + p.value("all_down", std::string("fail_open"));
            out += field("Health Check", check);
        }
        // svcgw's addition: the port's Maglev ring, comparable across gateways.
        for (const auto& ps : s.value("stats", json::object()).value("ports", json::array())) {
            if (ps.value("port", 0) == p.value("port", 0) &&
                ps.value("protocol", std::string()) == proto) {
                out += field("Ring", std::to_string(ps.value("ring_size", 0u)) + " slots, digest " +
                                         ps.value("ring_digest", std::string("<none>")));
            }
        }
    }
    const std::string affinity = s.value("session_affinity", std::string("None"));
    out += field("Session Affinity", affinity);
    if (affinity == "ClientIP") {
        out += field("Session Affinity Timeout",
                     std::to_string(s.value("session_affinity_timeout_s", 0)) + "s");
    }
    // svcgw's addition: each backend's ring share and traffic.
    const json stats = s.value("stats", json::object());
    // HEALTH last: its cells vary most in width (and earlier columns keep
    // their places for scripts that read them).
    std::vector<std::vector<std::string>> rows = {{"  ADDRESS", "WEIGHT", "STATE", "RING-SHARE",
                                                   "NEW-FLOWS", "ACTIVE", "PACKETS", "BYTES",
                                                   "HEALTH"}};
    for (const auto& b : stats.value("backends", json::array())) {
        std::string state = b.value("terminating", false) ? "terminating"
                            : b.value("ready", false)     ? "ready"
                            : b.value("serving", false)   ? "serving"
                                                          : "not-ready";
        if (b.value("weight", 0) == 0) {
            state = "drained";
        }
        const uint32_t size = b.value("ring_size", 0u);
        char share[16];
        std::snprintf(share, sizeof share, "%.1f%%",
                      size == 0 ? 0.0 : 100.0 * b.value("ring_slots", 0u) / size);
        const json t = b.value("traffic", json::object());
        rows.push_back({"  " + b.value("ip", ""), std::to_string(b.value("weight", 0)), state,
                        share, std::to_string(t.value("new_flows", uint64_t{0})),
                        std::to_string(t.value("active_flows", uint64_t{0})),
                        std::to_string(t.value("packets", uint64_t{0})),
                        human_bytes(t.value("bytes", uint64_t{0})),
                        health_cell(s, b.value("ip", ""))});
    }
    if (rows.size() > 1) {
        out += "Backends:\n" + render_table(rows);
    } else {
        out += field("Backends", "<none>");
    }
    const json stats_all = s.value("stats", json::object());
    if (stats_all.contains("config_version")) {
        out +=
            field("Config Version", std::to_string(stats_all.value("config_version", uint64_t{0})) +
                                        " (tables digest " +
                                        stats_all.value("tables_digest", std::string()) + ")");
    }
    // Fields svcgw does not honour, never dropped silently.
    const json warnings = s.value("warnings", json::array());
    if (warnings.empty()) {
        out += field("Warnings", "<none>");
    } else {
        out += "Warnings:\n";
        for (const auto& w : warnings) {
            out += "  " + w.get<std::string>() + "\n";
        }
    }
    // Health-check and feed events, as kubectl lists an object's events.
    const json status = s.value("status", json::object());
    std::vector<std::vector<std::string>> events = {
        {"  Type", "Reason", "Age", "From", "Message"},
        {"  ----", "------", "----", "----", "-------"}};
    for (const auto& e : status.value("events", json::array())) {
        events.push_back({"  " + e.value("type", ""), e.value("reason", ""),
                          short_age(e.value("age_ms", uint64_t{0})), e.value("from", ""),
                          e.value("message", "")});
    }
    if (events.size() > 2) {
        out += "Events:\n" + render_table(events);
    } else {
        out += field("Events", "<none>");
    }
    return out;
}

std::string stats_summary(const json& st) {
    std::string out;
    std::vector<std::vector<std::string>> rows = {
        {"NAMESPACE", "SERVICE", "PORT", "NEW-FLOWS", "ACTIVE", "PACKETS", "BYTES"}};
    for (const auto& p : st.value("ports", json::array())) {
        const json t = p.value("traffic", json::object());
        rows.push_back({p.value("namespace", ""), p.value("service", ""),
                        std::to_string(p.value("port", 0)) + "/" + p.value("protocol", ""),
                        std::to_string(t.value("new_flows", uint64_t{0})),
                        std::to_string(t.value("active_flows", uint64_t{0})),
                        std::to_string(t.value("packets", uint64_t{0})),
                        human_bytes(t.value("bytes", uint64_t{0}))});
    }
    out += render_table(rows);
    std::vector<std::vector<std::string>> workers = {
        {"WORKER", "RX", "TX", "FLOWS", "CAPACITY", "EVICTIONS", "DROPS"}};
    for (const auto& w : st.value("workers", json::array())) {
        std::string drops;
        const json drop_counts = w.value("drops", json::object());  // items() needs an lvalue
        for (const auto& [reason, v] : drop_counts.items()) {
            if (v.get<uint64_t>() != 0) {
                drops +=
                    (drops.empty() ? "" : ",") + reason + "=" + std::to_string(v.get<uint64_t>());
            }
        }
        const json ev = w.value("events", json::object());
        workers.push_back({std::to_string(w.value("worker", 0)),
                           std::to_string(ev.value("rx", uint64_t{0})),
                           std::to_string(ev.value("tx", uint64_t{0})),
                           std::to_string(w.value("flows_active", uint64_t{0})),
                           std::to_string(w.value("flows_capacity", uint64_t{0})),
                           std::to_string(w.value("flow_evictions", uint64_t{0})),
                           drops.empty() ? "<none>" : drops});
    }
    out += "\n" + render_table(workers);
    // Cluster DNS answered by the workers: queries, then responses by rcode
    // (NODATA is the part of NOERROR without an answer), then drops.
    std::vector<std::vector<std::string>> dns = {{"WORKER", "DNS-QUERIES", "NOERROR", "NODATA",
                                                  "NXDOMAIN", "REFUSED", "SERVFAIL", "OTHER",
                                                  "TRUNCATED", "DROPPED"}};
    bool any_dns = false;
    for (const auto& w : st.value("workers", json::array())) {
        const json d = w.value("dns", json::object());
        if (d.empty()) {
            continue;
        }
        any_dns = true;
        auto n = [&d](const char* key) { return d.value(key, uint64_t{0}); };
        uint64_t dropped = 0;
        for (const auto& [key, v] : d.items()) {
            if (key.rfind("drop_", 0) == 0) {
                dropped += v.get<uint64_t>();
            }
        }
        const uint64_t other = n("rcode_formerr") + n("rcode_notimp") + n("rcode_badvers");
        dns.push_back({std::to_string(w.value("worker", 0)), std::to_string(n("queries")),
                       std::to_string(n("rcode_noerror")), std::to_string(n("noerror_nodata")),
                       std::to_string(n("rcode_nxdomain")), std::to_string(n("rcode_refused")),
                       std::to_string(n("rcode_servfail")), std::to_string(other),
                       std::to_string(n("truncated")), std::to_string(dropped)});
    }
    if (any_dns) {
        out += "\n" + render_table(dns);
    }
    return out;
}

std::string server_error(int status, const std::string& body) {
    json j = json::parse(body, nullptr, false);
    std::string reason = "InternalError";
    std::string message = body;
    if (!j.is_discarded() && j.is_object()) {
        reason = j.value("reason", reason);
        message = j.value("error", message);
    } else if (status == 401) {
        reason = "Unauthorized";
    }
    while (!message.empty() && message.back() == '\n') {
        message.pop_back();
    }
    return "Error from server (" + reason + "): " + message;
}

namespace {

// fullnat owner redirect: the owner ring and one row per member.
std::string fleet_members_summary(const json& m) {
    const json& ring = m.at("owner_ring");
    std::string out = "\nowner ring:  " + std::to_string(m.at("live").get<uint64_t>()) + " of " +
                      std::to_string(m.at("members").size()) + " members live, " +
                      std::to_string(ring.at("size").get<uint64_t>()) + " slots, digest " +
                      ring.at("digest").get<std::string>() + "\n";
    const bool leases = m.value("membership", "probes") == "leases";
    out += "membership:  " + m.value("membership", std::string("probes"));
    if (leases) {
        out += m.value("lease_api_ok", false)
                   ? " (API reached)"
                   : " (API NOT reached: members frozen at their last known state)";
    }
    out += "\n";
    std::vector<std::vector<std::string>> rows = {{"MEMBER", "ADDRESS", "STATE", "SLOTS", "MAC"}};
    if (leases) {
        rows[0].insert(rows[0].end(), {"LEASE", "RENEWED"});
    }
    for (const json& r : m.at("members")) {
        rows.push_back(
            {r.at("name").get<std::string>() + (r.at("self").get<bool>() ? " (self)" : ""),
             r.at("address").get<std::string>(), r.at("live").get<bool>() ? "live" : "dead",
             std::to_string(r.at("slots").get<uint64_t>()),
             r.at("self").get<bool>()        ? "-"
             : r.at("mac_known").get<bool>() ? "known"
                                             : "unresolved"});
        if (leases) {
            const json& l = r.at("lease");
            const json& renewed = l.at("renew_time");
            rows.back().insert(rows.back().end(),
                               {l.at("state").get<std::string>(),
                                renewed.is_null() ? "-" : renewed.get<std::string>()});
        }
    }
    return out + render_table(rows);
}

}  // namespace

std::string fleet_summary(const json& s) {
    if (!s.value("announce", true)) {
        auto m = s.find("members");
        return "announce:    off\n" + (m != s.end() ? fleet_members_summary(*m) : std::string());
    }
    auto number = [](const json& v) {
        return v.is_null() ? "none" : std::to_string(v.get<uint64_t>());
    };
    std::string out = "generation:  " + number(s.at("generation")) + " (expected " +
                      number(s.at("expected_generation")) + ")\n";
    out +=
        std::string("data plane:  ") + (s.at("data_plane_up").get<bool>() ? "up" : "DOWN") + "\n";
    const json& d = s.at("drain");
    out += "drain:       ";
    if (d.is_null()) {
        out += "no\n";
    } else {
        out += d.at("drained").get<bool>() ? "drained" : "draining";
        out += ", since " + d.at("since").get<std::string>();
        if (!d.at("deadline").is_null()) {
            out += ", deadline " + d.at("deadline").get<std::string>();
        }
        out += ", " + std::to_string(s.at("active_flows").get<uint64_t>()) + " flows left\n";
    }
    const json& b = s.at("bird");
    out += "bird:        ";
    if (b.at("in_sync").get<bool>()) {
        out += "in sync (" + std::to_string(b.at("reloads").get<uint64_t>()) + " reloads)\n";
    } else {
        out += "NOT in sync: " + b.at("last_error").get<std::string>() + "\n";
    }
    std::vector<std::vector<std::string>> rows = {{"PREFIX", "KIND", "STATE"}};
    for (const json& r : s.at("routes")) {
        const bool on = r.at("announced").get<bool>();
        rows.push_back(
            {r.at("prefix").get<std::string>(), r.at("kind").get<std::string>(),
             on ? "announced" : "withdrawn (" + r.at("reason").get<std::string>() + ")"});
    }
    out += render_table(rows);
    if (auto m = s.find("members"); m != s.end()) {
        out += fleet_members_summary(*m);
    }
    return out;
}

}  // namespace svcgw
