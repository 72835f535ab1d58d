// svcgw-health-bench (issue 14 §3): many backends probed at a fixed interval
// by the control plane's own code (HealthChecker + HealthOverlay +
// ControlState + SnapshotPublisher + ServiceTable, as in the daemon), then
// backends killed one by one, measuring:
//   - probe CPU: the loop's thread CPU time (user + system) per wall second,
//     and the probes it made;
//   - death -> removal: from closing a backend's listener to the published
//     port ring no longer holding it (what every worker reads next), median
//     and max.
// The process moves into a network namespace of its own (root) with every
// backend address on its loopback and one listener per backend: probes are
// real TCP connects, over loopback, not through a DPDK port.
//
//   svcgw-health-bench [--backends N] [--services S] [--interval-ms I]
//                      [--timeout-ms T] [--fall F] [--seconds W] [--deaths D]
//
// Prints one RESULT line (key=value) for perf/scripts/health.sh.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../bench_eal.hpp"
#include "control/health_overlay.hpp"
#include "control/snapshot_publisher.hpp"

namespace svcgw {
namespace {

constexpr uint16_t kBackendPort = 8080;
constexpr uint32_t kFirstBackend = 0x0ac80001;  // 10.200.0.1
// Listener backlog: probes close with RST right after the handshake, the
// acceptor thread empties the queues.
constexpr int kBacklog = 64;

struct Options {
    uint32_t backends = 10000;
    uint32_t services = 100;
    uint32_t interval_ms = 1000;
    uint32_t timeout_ms = 500;
    uint32_t fall = 3;
    uint32_t seconds = 10;  // measured steady window
    uint32_t deaths = 50;
};

[[noreturn]] void die(const std::string& why) {
    std::fprintf(stderr, "svcgw-health-bench: %s\n", why.c_str());
    std::exit(1);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string key = argv[i];
        const auto value = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
        if (key == "--backends") {
            o.backends = value;
        } else if (key == "--services") {
            o.services = value;
        } else if (key == "--interval-ms") {
            o.interval_ms = value;
        } else if (key == "--timeout-ms") {
            o.timeout_ms = value;
        } else if (key == "--fall") {
            o.fall = value;
        } else if (key == "--seconds") {
            o.seconds = value;
        } else if (key == "--deaths") {
            o.deaths = value;
        } else {
            die("unknown option " + key);
        }
    }
    if (o.backends == 0 || o.services == 0 || o.backends % o.services != 0 || o.backends > 60000 ||
        o.deaths > o.backends) {
        die("--backends must be a multiple of --services, at most 60000, >= --deaths");
    }
    return o;
}

Ipv4 backend_ip(uint32_t i) {
    // Skips .0 and .255 of every /24 so no address is a network or broadcast one.
    return Ipv4{kFirstBackend + i / 254 * 256 + i % 254};
}

// A namespace of our own with every backend address on its loopback.
void network(const Options& o) {
    if (unshare(CLONE_NEWNET) != 0) {
        die(std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno) + " (needs root)");
    }
    FILE* ip = popen("ip -batch -", "w");
    if (ip == nullptr) {
        die("cannot run ip");
    }
    std::fprintf(ip, "link set lo up\n");
    for (uint32_t i = 0; i < o.backends; ++i) {
        std::fprintf(ip, "addr add %s/32 dev lo\n", backend_ip(i).str().c_str());
    }
    if (pclose(ip) != 0) {
        die("ip -batch failed");
    }
}

// One listener per backend; a thread accepts and closes (the backends'
// side, not counted as probe CPU).
class Backends {
public:
    explicit Backends(uint32_t count) : _fds(count, -1) {
        _epoll = epoll_create1(EPOLL_CLOEXEC);
        for (uint32_t i = 0; i < count; ++i) {
            const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(kBackendPort);
            a.sin_addr.s_addr = htonl(backend_ip(i).value);
            if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
                listen(fd, kBacklog) != 0) {
                die("listener " + backend_ip(i).str() + ": " + std::strerror(errno));
            }
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u32 = i;
            epoll_ctl(_epoll, EPOLL_CTL_ADD, fd, &ev);
            _fds[i] = fd;
        }
        _thread = std::thread([this] { accept_loop(); });
    }
    ~Backends() {
        _stop = true;
        _thread.join();
        for (int fd : _fds) {
            if (fd >= 0) {
                close(fd);
            }
        }
        close(_epoll);
    }
    // Stops the backend's listener: its next probes are refused.
    void kill(uint32_t i) {
        const int fd = _fds[i];
        _fds[i] = -1;
        epoll_ctl(_epoll, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
    }

private:
    void accept_loop() {
        epoll_event events[256];
        while (!_stop) {
            const int n = epoll_wait(_epoll, events, 256, 20);
            for (int k = 0; k < n; ++k) {
                const int fd = _fds[events[k].data.u32];
                for (int c; fd >= 0 && (c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) {
                    close(c);
                }
            }
        }
    }

    std::vector<int> _fds;
    int _epoll = -1;
    std::thread _thread;
    std::atomic<bool> _stop{false};
};

// This thread's CPU time in seconds: user (our code) and system (the
// syscalls, and on loopback the peer's side of each handshake too).
struct Cpu {
    double user = 0, system = 0;
};
Cpu thread_cpu() {
    rusage u{};
    getrusage(RUSAGE_THREAD, &u);
    return Cpu{double(u.ru_utime.tv_sec) + double(u.ru_utime.tv_usec) / 1e6,
               double(u.ru_stime.tv_sec) + double(u.ru_stime.tv_usec) / 1e6};
}

uint64_t verdicts(const HealthSummary& s) {
    uint64_t n = 0;
    for (const auto& [result, count] : s.verdicts) {
        n += count;
    }
    return n;
}

int run(int argc, char** argv) {
    const Options o = parse(argc, argv);
    network(o);
    // EAL pins this thread to lcore 0; the caller's CPU set (taskset) wins.
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    const bool have_cpus = sched_getaffinity(0, sizeof cpus, &cpus) == 0;
    bench_eal_init();  // no hugepages: the table's memory comes from the heap
    if (have_cpus) {
        sched_setaffinity(0, sizeof cpus, &cpus);
    }
    rlimit files{};
    getrlimit(RLIMIT_NOFILE, &files);
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);

    auto* qsbr = static_cast<rte_rcu_qsbr*>(
        rte_zmalloc("q", rte_rcu_qsbr_get_memsize(1), RTE_CACHE_LINE_SIZE));
    rte_rcu_qsbr_init(qsbr, 1);
    auto table = ServiceTable::create(qsbr);
    if (!table) {
        die(table.error().str());
    }
    auto config = load_config("ports: [{name: ext0, device: net_null0, address: 10.99.0.1/24}]\n",
                              "bench.yaml");
    SnapshotPublisher publisher(**table, config->maglev);
    auto checker = health::HealthChecker::create();
    if (!checker) {
        die(checker.error().str());
    }
    uint64_t events = 0;
    HealthOverlay overlay(publisher, **checker, **table, [&](const std::string&) { ++events; });
    ControlState state(*config, overlay, 0);

    Backends backends(o.backends);
    const uint32_t per_service = o.backends / o.services;
    std::vector<ServiceConfig> services;
    HealthCheckConfig check;
    check.interval_ms = o.interval_ms;
    check.timeout_ms = o.timeout_ms;
    check.fall = o.fall;
    for (uint32_t s = 0; s < o.services; ++s) {
        ServiceConfig svc;
        svc.name = "svc" + std::to_string(s);
        ServicePortConfig port;
        port.port = 80;
        port.target_port = kBackendPort;
        port.health_check = check;
        svc.ports.push_back(port);
        for (uint32_t b = 0; b < per_service; ++b) {
            EndpointConfig ep;
            ep.ip = backend_ip(s * per_service + b);
            svc.endpoints.push_back(ep);
        }
        services.push_back(std::move(svc));
    }
    auto applied = state.apply(services, false, 0);
    if (!applied) {
        die("apply: " + applied.error().message);
    }

    // The daemon's loop, reduced to the health fd: wait, run the overlay.
    const int loop = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    epoll_ctl(loop, EPOLL_CTL_ADD, (*checker)->fd(), &ev);
    auto step = [&](uint64_t until) {
        while (health::now_us() < until) {
            epoll_event out{};
            const int wait_ms = static_cast<int>((until - health::now_us()) / 1000) + 1;
            if (epoll_wait(loop, &out, 1, wait_ms) > 0) {
                overlay.run(state);
            }
            rte_rcu_qsbr_quiescent(qsbr, 0);  // none registered: reclaim proceeds
            (*table)->reclaim();
        }
    };

    // Warm-up: two intervals, so every backend has been probed.
    step(health::now_us() + 2ull * o.interval_ms * 1000);
    const uint64_t probes_before = verdicts(overlay.summary());
    const Cpu cpu_before = thread_cpu();
    const uint64_t window_start = health::now_us();
    step(window_start + uint64_t{o.seconds} * 1'000'000);
    const double wall = double(health::now_us() - window_start) / 1e6;
    const Cpu cpu_after = thread_cpu();
    const double user = cpu_after.user - cpu_before.user;
    const double system = cpu_after.system - cpu_before.system;
    const double cpu = user + system;
    const HealthSummary steady = overlay.summary();
    const uint64_t probes = verdicts(steady) - probes_before;

    // Deaths: one backend every interval / 10, each in another service, at
    // random phases of their probe schedules; removal seen in the live table.
    std::mt19937 random(42);
    std::vector<uint32_t> victims(o.backends);
    for (uint32_t i = 0; i < o.backends; ++i) {
        victims[i] = i;
    }
    std::shuffle(victims.begin(), victims.end(), random);
    victims.resize(o.deaths);
    std::map<uint32_t, uint64_t> killed;  // backend -> death time
    std::vector<double> removal_ms;
    auto removed = [&](uint32_t i) {
        const Service* svc = (*table)->find("default", "svc" + std::to_string(i / per_service));
        const Backend* b = svc->find_backend(htonl(backend_ip(i).value));
        const size_t index = static_cast<size_t>(b - svc->backends().data());
        return svc->ports()[0].eligible[index] == 0;
    };
    const uint64_t gap = uint64_t{o.interval_ms} * 100;  // us: interval / 10
    size_t next = 0;
    const uint64_t limit =
        health::now_us() + (uint64_t{o.deaths} * gap) + uint64_t{o.fall + 3} * o.interval_ms * 1000;
    uint64_t next_kill = health::now_us();
    while (removal_ms.size() < victims.size() && health::now_us() < limit) {
        if (next < victims.size() && health::now_us() >= next_kill) {
            backends.kill(victims[next]);
            killed[victims[next]] = health::now_us();
            ++next;
            next_kill += gap;
        }
        step(health::now_us() + 1000);
        for (auto it = killed.begin(); it != killed.end();) {
            if (removed(it->first)) {
                removal_ms.push_back(double(health::now_us() - it->second) / 1000.0);
                it = killed.erase(it);
            } else {
                ++it;
            }
        }
    }
    std::sort(removal_ms.begin(), removal_ms.end());
    const double median = removal_ms.empty() ? 0 : removal_ms[removal_ms.size() / 2];
    const double max = removal_ms.empty() ? 0 : removal_ms.back();
    const double bound_ms = double(o.fall) * o.interval_ms;
    std::printf(
        "RESULT backends=%u services=%u interval_ms=%u fall=%u window_s=%.1f probes_per_s=%.0f "
        "probe_cpu_pct=%.1f user_pct=%.1f system_pct=%.1f cpu_us_per_probe=%.1f deferred=%llu "
        "in_flight_slots=%llu deaths=%u "
        "removed=%zu removal_median_ms=%.0f removal_max_ms=%.0f fall_x_interval_ms=%.0f "
        "events=%llu\n",
        o.backends, o.services, o.interval_ms, o.fall, wall, double(probes) / wall,
        100.0 * cpu / wall, 100.0 * user / wall, 100.0 * system / wall,
        probes == 0 ? 0.0 : 1e6 * cpu / double(probes),
        static_cast<unsigned long long>(steady.deferred),
        static_cast<unsigned long long>(steady.capacity), o.deaths, removal_ms.size(), median, max,
        bound_ms, static_cast<unsigned long long>(events));
    for (const auto& [result, count] : steady.verdicts) {
        if (count != 0) {
            std::printf("verdicts %s=%llu\n", result.c_str(),
                        static_cast<unsigned long long>(count));
        }
    }
    close(loop);
    return removal_ms.size() == victims.size() ? 0 : 1;
}

}  // namespace
}  // namespace svcgw

int main(int argc, char** argv) {
    return svcgw::run(argc, argv);
}
