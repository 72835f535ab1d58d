// The control thread's event loop (daemon.hpp): the housekeeping tick, the
// exception path, health verdicts, the feed's batches, DNS over TCP, API
// jobs, and the signals (SIGHUP reloads the file, SIGTERM/SIGINT stop).
#include <rte_ring.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/sd_notify.hpp"
#include "daemon.hpp"
#include "log.hpp"
#include "reload_rules.hpp"
#include "table/service.hpp"

namespace svcgw::app {

sigset_t control_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    return signals;
}

int Daemon::run() {
    const sigset_t signals = control_signals();
    int sfd = signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    int efd = epoll_create1(EPOLL_CLOEXEC);
    if (sfd < 0 || tfd < 0 || efd < 0) {
        log("cannot set up epoll/signalfd/timerfd: %s", std::strerror(errno));
        return 1;
    }
    itimerspec period{{0, kControlTickNs}, {0, kControlTickNs}};
    timerfd_settime(tfd, 0, &period, nullptr);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = sfd;
    epoll_ctl(efd, EPOLL_CTL_ADD, sfd, &ev);
    ev.data.fd = tfd;
    epoll_ctl(efd, EPOLL_CTL_ADD, tfd, &ev);
    ev.data.fd = _queue.fd();
    epoll_ctl(efd, EPOLL_CTL_ADD, _queue.fd(), &ev);
    if (_feed != nullptr) {
        ev.data.fd = _feed->fd();
        epoll_ctl(efd, EPOLL_CTL_ADD, _feed->fd(), &ev);
        ev.data.fd = _feed_timer;
        epoll_ctl(efd, EPOLL_CTL_ADD, _feed_timer, &ev);
    }
    ev.data.fd = _dns_tcp->fd();
    epoll_ctl(efd, EPOLL_CTL_ADD, _dns_tcp->fd(), &ev);
    ev.data.fd = _checker->fd();
    epoll_ctl(efd, EPOLL_CTL_ADD, _checker->fd(), &ev);
    if (_members != nullptr && _members->fd() >= 0) {
        ev.data.fd = _members->fd();
        epoll_ctl(efd, EPOLL_CTL_ADD, _members->fd(), &ev);
        _members->run(health::now_us());  // the first probes
    }
    if (_exception != nullptr && _exception->fd() >= 0) {
        ev.data.fd = _exception->fd();
        epoll_ctl(efd, EPOLL_CTL_ADD, _exception->fd(), &ev);
    }

    // Ready: the port is up, the workers poll, the API and DNS answer.
    tell_manager(ready_state());
    bool running = true;
    while (running) {
        epoll_event events[4];
        int n = epoll_wait(efd, events, 4, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            log("epoll_wait: %s", std::strerror(errno));
            break;
        }
        for (int i = 0; i < n; ++i) {
            if (events[i].data.fd == tfd) {
                uint64_t expirations = 0;
                (void)!read(tfd, &expirations, sizeof expirations);
                const uint64_t now = now_ms();
                _tick->run(now);
                if (_members != nullptr) {
                    refresh_leases(now);
                    _members->tick(now);
                }
                if (_exception != nullptr) {
                    _exception->to_kernel(_rings->punt_control, _rings->punt_other);
                    if (_exception->fd() < 0) {
                        from_kernel();  // an ethdev: polled, it has no descriptor
                    }
                }
                if (now >= _fleet_next_ms) {
                    refresh_announcements();
                }
                continue;
            }
            if (_exception != nullptr && events[i].data.fd == _exception->fd()) {
                from_kernel();
                continue;
            }
            if (_members != nullptr && _members->fd() >= 0 && events[i].data.fd == _members->fd()) {
                _members->run(health::now_us());
                continue;
            }
            if (events[i].data.fd == _checker->fd()) {
                _health->run(*_state);  // verdicts; a crossed rise/fall republishes
                refresh_announcements();
                continue;
            }
            if (_feed != nullptr && events[i].data.fd == _feed->fd()) {
                _feed_sync->receive(_feed->take());
                if (kube::StatusWriter* w = _feed->status_writer(); w != nullptr) {
                    _feed_sync->status_written(w->take_outcomes(), now_unix());
                }
                feed_schedule();
                continue;
            }
            if (_feed != nullptr && events[i].data.fd == _feed_timer) {
                uint64_t expirations = 0;
                (void)!read(_feed_timer, &expirations, sizeof expirations);
                feed_schedule();
                continue;
            }
            if (events[i].data.fd == _dns_tcp->fd()) {
                _dns_tcp->poll();  // reads the zone this thread publishes
                continue;
            }
            if (events[i].data.fd == _queue.fd()) {
                // API jobs: complete requests, answered without waiting on a client.
                _queue.drain(*this);
                announce_new_vips();
                refresh_announcements();
                continue;
            }
            signalfd_siginfo info{};
            while (read(sfd, &info, sizeof info) == sizeof info) {
                if (info.ssi_signo == SIGHUP) {
                    reload();
                } else {
                    log("signal %u: stopping", info.ssi_signo);
                    tell_manager("STOPPING=1");
                    running = false;
                }
            }
        }
    }
    close(efd);
    close(tfd);
    close(sfd);
    return 0;
}

// What the kernel sends leaves through worker 0, as our ARP does.
void Daemon::from_kernel() {
    _exception->from_kernel(
        _port.pool, [this](rte_mbuf* m) { return rte_ring_enqueue(_context.control_tx, m) == 0; });
}

// Hands what the reflectors decoded to the model and publishes when due;
// arms the batch timer when a publish has to wait for the window.
void Daemon::feed_schedule() {
    auto wait = _feed_sync->poll(*_state, std::chrono::steady_clock::now(), now_unix());
    if (_feed_sync->take_first_sync()) {
        auto live = _publisher->go_live(_state->running_config().services);
        if (!live) {
            log("dns: zone build failed: %s", live.error().front().str().c_str());
        } else {
            const ZoneStats zs = _zones->stats();
            log("dns: %s:53 live after the first list: %llu names, serial %u",
                _config.dns.cluster_ip.str().c_str(), static_cast<unsigned long long>(zs.nodes),
                zs.serial);
        }
    }
    announce_new_vips();
    refresh_announcements();
    if (wait) {
        itimerspec once{{0, 0},
                        {static_cast<time_t>(*wait / 1000), long(*wait % 1000) * 1'000'000}};
        timerfd_settime(_feed_timer, 0, &once, nullptr);
    }
}

void Daemon::tell_manager(const std::string& state) {
    auto told = notify_manager(state);
    if (!told && !_notify_failed) {
        _notify_failed = true;
        log("cannot notify the service manager: %s", told.error().str().c_str());
    }
}

std::string Daemon::ready_state() const {
    return "READY=1\nSTATUS=serving " + std::to_string(_state->records().size()) +
           " services, tables digest " + digest_str(tables_digest(_table->services()));
}

// SIGHUP. The manager sees the reload begin and end, accepted or not
// (a rejected file leaves the gateway serving as before: ready).
void Daemon::reload() {
    tell_manager(reloading_state());
    reload_file();
    tell_manager(ready_state());
}

void Daemon::reload_file() {
    auto loaded = read_config_file(_path);
    if (!loaded) {
        for (const Error& e : loaded.error()) {
            log("reload: %s", e.str().c_str());
        }
        log("reload: rejected, configuration unchanged");
        return;
    }
    Config next = std::move(*loaded);
    auto fixed = fixed_sections_changed(_config, next);
    if (!fixed.empty()) {
        std::string names;
        for (const auto& s : fixed) {
            names += (names.empty() ? "" : ", ") + s;
        }
        log("reload: %s: not reloadable (restart to apply); configuration unchanged",
            names.c_str());
        return;
    }
    // The file's services replace the file-owned ones; API-created
    // services stay (control/state.hpp, README "Reload and the API").
    auto done = _state->reload(next, now_unix());
    if (!done) {
        for (const Error& e : done.error()) {
            log("reload: %s", e.str().c_str());
        }
        log("reload: rejected, configuration unchanged");
        return;
    }
    // Kubernetes objects of the file are taken one by one (lib/config).
    for (const std::string& line : warning_lines(next)) {
        log("reload: %s", line.c_str());
    }
    for (const std::string& line : skipped_lines(done->skipped)) {
        log("reload: %s", line.c_str());
    }
    next.services.clear();  // the running set lives in _state
    next.endpoint_slices.clear();
    next.skipped.clear();
    _config = std::move(next);
    announce_new_vips();
    refresh_announcements();
    const ZoneStats zs = _zones->stats();
    log("reload: %zu services (%zu added, %zu changed, %zu removed, %zu objects left out), dns "
        "zone serial %u",
        _state->records().size(), done->added, done->changed, done->removed, done->skipped.size(),
        zs.serial);
}

}  // namespace svcgw::app
