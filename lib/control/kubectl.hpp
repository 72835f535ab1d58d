// kubectl's output habits for svcgwctl: AGE as kubectl's
// HumanDuration prints it, PORT(S), tab-aligned tables (3 spaces between
// columns, as kubectl's tabwriter), `Error from server (Reason): message`.
// Pure functions over the API's JSON, so they are unit-tested without a
// server.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace svcgw {

// Age of an object `seconds` old: "27s", "5m", "2d10h", "3y45d" ...
std::string format_age(int64_t seconds);
// Seconds since an RFC 3339 UTC timestamp ("2026-01-02T03:04:05Z"); -1 if unparsable.
int64_t age_seconds(const std::string& rfc3339, int64_t now_unix_s);

// "80/TCP,53/UDP" from a service's "ports" list; "<none>" when empty.
std::string format_ports(const nlohmann::json& ports);
// "10.99.0.11:80,10.99.0.12:80" over ready endpoints x target ports; more
// than three shown as "a,b,c + N more..."; "<none>" when none is ready.
std::string format_endpoints(const nlohmann::json& service);

// Left-aligned columns separated by at least three spaces; no trailing blanks.
std::string render_table(const std::vector<std::vector<std::string>>& rows);

struct GetOptions {
    bool all_namespaces = false;
    bool wide = false;
};
// `get services` / `get endpoints` tables from ServiceList items.
std::string services_table(const nlohmann::json& items, const GetOptions& options,
                           int64_t now_unix_s);
std::string endpoints_table(const nlohmann::json& items, const GetOptions& options,
                            int64_t now_unix_s);
// `describe service` from GET /v1/namespaces/NS/services/NAME (with "stats").
std::string describe_service(const nlohmann::json& service);
// `get events` table (LAST SEEN TYPE REASON OBJECT MESSAGE, oldest first)
// from GET /v1/events items.
std::string events_table(const nlohmann::json& items, int64_t now_unix_s);
// `stats` summary from GET /v1/stats.
std::string stats_summary(const nlohmann::json& stats);

// GET /v1/fleet's body as svcgwctl prints it: the instance's state, then
// one row per route with the reason it is withdrawn.
std::string fleet_summary(const nlohmann::json& status);

// "Error from server (NotFound): services \"x\" not found" from an API error body.
std::string server_error(int status, const std::string& body);

}  // namespace svcgw
