// The control thread's side of route health injection: keeps
// the drain state and the expected generation, decides the routes
// (announce.hpp) from what the daemon observed, and when the announced set
// changes writes fleet.routes_file and has BIRD reload it (bird.hpp). A
// reload BIRD did not take is retried every kRetryMs until it does.
//
// Drain (`svcgwctl drain`): every VIP route is withdrawn at once; the
// instance keeps serving, so existing flows run until they end or the
// deadline passes (then `drained` is reported and the operator may stop
// it). The drain is kept in fleet.drain_file, so an instance restarted
// after a drain comes back drained: the upgrade procedure is drain,
// restart, check the digests, undrain (README "Running a fleet").
//
// Threading: control thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"
#include "fleet/announce.hpp"
#include "fleet/bird.hpp"

namespace svcgw::fleet {

// What the daemon sees of itself, each evaluation.
struct Observed {
    bool data_plane_up = false;
    uint64_t generation = 0;
    std::vector<VipHealth> vips;
    std::vector<Ipv4> snat_addresses;
    uint64_t active_flows = 0;  // every worker's flow table
};

struct FleetStatus {
    bool draining = false;
    int64_t drain_since_unix = 0;
    std::optional<int64_t> drain_deadline_unix;  // nullopt: drained before this start
    bool drained = false;  // draining, and no flow left or the deadline passed
    uint64_t active_flows = 0;
    bool data_plane_up = false;
    uint64_t generation = 0;
    std::optional<uint64_t> expected_generation;
    std::vector<Route> routes;  // the last decision
    bool bird_in_sync = false;  // BIRD took the last routes file
    uint64_t bird_reloads = 0;  // successful
    uint64_t bird_failures = 0;
    std::string bird_last_error;
};

class Announcer {
public:
    // Reloads BIRD; the daemon's is bird_configure on fleet.bird_socket.
    using Reload = std::function<Result<BirdReply>()>;
    // BIRD's answer is waited for this long, on the control thread.
    static constexpr std::chrono::milliseconds kBirdTimeout{1000};
    static constexpr uint64_t kRetryMs = 1000;

    // Reads the drain file (a drained instance starts drained) and writes a
    // routes file without routes, so BIRD can start before the daemon.
    static Result<std::unique_ptr<Announcer>> start(const FleetConfig& config, Reload reload);
    // bird_configure on config.bird_socket.
    static Reload bird_reload(const FleetConfig& config);

    Result<void> drain(std::optional<uint32_t> deadline_s, int64_t now_unix);
    Result<void> undrain();
    void expect(std::optional<uint64_t> generation) { _expected = generation; }

    // Decides, and writes + reloads when the announced set changed or a
    // failed reload is due for a retry.
    void update(const Observed& observed, uint64_t now_ms, int64_t now_unix);
    // Shutdown: no route is announced any more (best effort, logged by the caller).
    Result<void> withdraw_all();

    FleetStatus status() const { return _status; }
    const FleetConfig& config() const { return _config; }

private:
    Announcer(FleetConfig config, Reload reload)
        : _config(std::move(config)), _reload(std::move(reload)) {}
    Result<void> push(const std::string& text);

    FleetConfig _config;
    Reload _reload;
    std::optional<uint64_t> _expected;
    std::string _pushed;   // the text BIRD last took
    std::string _pending;  // the text to push (== _pushed when in sync)
    uint64_t _retry_at_ms = 0;
    FleetStatus _status;
};

}  // namespace svcgw::fleet
