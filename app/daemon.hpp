// The daemon's control thread (DESIGN §1): it owns the config, the VIP
// table's writer side, the DNS zone, the neighbour table, the API, the
// Kubernetes feed and route health injection, and blocks in epoll
// (signalfd for SIGHUP/SIGTERM/SIGINT, timerfd for the 1 ms housekeeping
// tick); it never busy-polls. Every other lcore runs a data-plane worker
// (dataplane/worker.hpp).
//
// By job: start-up and shut-down (daemon.cpp), the event loop with reloads
// and the feed's batches (control_loop.cpp), the API's read side and route
// announcements (daemon_status.cpp).
#pragma once

#include <signal.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"
#include "control/api.hpp"
#include "control/control_queue.hpp"
#include "control/health_overlay.hpp"
#include "control/server.hpp"
#include "control/snapshot_publisher.hpp"
#include "control/state.hpp"
#include "control/zone_versions.hpp"
#include "dataplane/worker.hpp"
#include "dns/tcp_server.hpp"
#include "fleet/announcer.hpp"
#include "gateway/control_tick.hpp"
#include "gateway/fleet_members.hpp"
#include "gateway/fleet_observer.hpp"
#include "gateway/worker_setup.hpp"
#include "health/checker.hpp"
#include "kube/feed.hpp"
#include "kube/feed_sync.hpp"
#include "kube/lease_agent.hpp"
#include "port/exception_path.hpp"
#include "port/kernel_driver.hpp"
#include "port/neighbour.hpp"
#include "port/port.hpp"
#include "table/service_table.hpp"

struct rte_rcu_qsbr;

namespace svcgw::app {

// The signals the control thread takes through its signalfd: SIGHUP
// (reload), SIGTERM and SIGINT (stop). Blocked before EAL starts its threads.
sigset_t control_signals();

class Daemon : public ControlBackend {
public:
    Daemon(std::string path, Config config, KernelDriver kernel_driver)
        : _path(std::move(path)), _config(std::move(config)), _kernel_driver(kernel_driver) {}
    ~Daemon() { shutdown(); }

    Result<void> start(unsigned workers);
    int run();

    // ControlBackend: called by API jobs on the control thread.
    ControlState& state() override { return *_state; }
    StatsSnapshot stats() override;
    std::vector<FlowSample> flows(size_t limit) override;
    ServiceHealth health(const std::string& key) override;
    fleet::Announcer* announcer() override { return _announcer.get(); }
    void refresh_announcements() override;
    std::vector<OriginEvent> events() override;

private:
    Result<void> start_feed();
    Result<void> start_leases();
    void refresh_leases(uint64_t now_ms);  // control tick
    void fill_lease_stats(FleetMembersStats& s) const;
    Result<void> open_exception_path();
    void from_kernel();
    void feed_schedule();
    void reload();
    void reload_file();
    // The service manager (systemd Type=notify): READY=1 with what is
    // served, RELOADING=1, STOPPING=1. A failed send is logged once.
    void tell_manager(const std::string& state);
    std::string ready_state() const;
    void announce(const std::set<uint32_t>& vips);
    void announce_new_vips();
    void shutdown();

    std::string _path;
    Config _config;
    KernelDriver _kernel_driver;  // the exception path's, as chosen before EAL started
    uint16_t _workers = 0;
    rte_rcu_qsbr* _qsbr = nullptr;
    std::unique_ptr<ServiceTable> _table;
    std::unique_ptr<ZoneVersions> _zones;             // the DNS zone the workers answer from
    std::unique_ptr<dns::DnsTcpServer> _dns_tcp;      // DNS over TCP, on this (the control) thread
    std::unique_ptr<SnapshotPublisher> _publisher;    // the VIP table and the DNS zone, one step
    std::unique_ptr<health::HealthChecker> _checker;  // probes (kernel sockets, this thread)
    std::unique_ptr<HealthOverlay> _health;           // the publisher ControlState uses
    std::unique_ptr<ControlState> _state;
    ControlQueue _queue;
    std::unique_ptr<ApiHandler> _api;
    std::unique_ptr<ApiServer> _api_server;
    std::unique_ptr<ApiServer> _metrics_server;
    Port _port;
    std::unique_ptr<NeighbourTable> _neighbours;
    std::unique_ptr<FleetMembers> _members;  // fleet.members: fullnat owner redirect
    std::unique_ptr<WorkerRings> _rings;
    WorkerContext _context;
    std::unique_ptr<ControlTick> _tick;
    std::unique_ptr<ExceptionPath> _exception;  // ports[0].kernel_interface
    std::vector<std::unique_ptr<Worker>> _worker_objects;
    std::atomic<bool> _stop{false};
    std::set<uint32_t> _announced;                 // VIPs announced with a gratuitous ARP
    std::unique_ptr<fleet::Announcer> _announcer;  // fleet.announce: routes BIRD exports
    FleetObserver _fleet_observer;
    uint64_t _fleet_next_ms = 0;                 // the next periodic announcement decision
    std::unique_ptr<kube::FeedSync> _feed_sync;  // control thread side of the feed
    std::unique_ptr<kube::Feed> _feed;           // reflector threads (kubernetes.enabled)
    int _feed_timer = -1;                        // the feed's batch window
    // fleet.membership leases (fleet_leases.cpp)
    std::unique_ptr<kube::LeaseAgent> _leases;
    std::vector<std::string> _lease_members;       // fleet.members' names, config order
    std::vector<kube::MemberLease> _lease_states;  // as last evaluated
    uint64_t _lease_next_ms = 0;
    bool _launched = false;
    bool _shut_down = false;
    bool _notify_failed = false;  // logged once; the daemon serves on regardless
};

}  // namespace svcgw::app
