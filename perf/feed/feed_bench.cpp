// svcgw-feed-bench: the Kubernetes feed at cluster scale, from the API's
// bytes to what a worker reads. The daemon's own path, in process:
//   Feed (one reflector thread per kind: paginated LIST, then WATCH; JSON
//   decoded there) -> queue + eventfd -> this thread as the control thread
//   (FeedSync: ClusterModel merge, one publish per batch window) ->
//   ControlState (origin kubernetes) -> SnapshotPublisher (ServiceTable +
//   Maglev rings; ZoneVersions: the DNS zone) -> a reader
//   thread looking the VIP up as a worker does.
// Only the HTTPS connection is replaced: each reflector's Transport serves
// LIST pages and WATCH lines from memory (MemoryApi), bytes built before
// the clock starts, in the shape kube-apiserver sends (metadata with uid,
// labels, ownerReferences and managedFields; 500 items a page). The health
// overlay is left out: without health checks it passes every publish
// through.
//
// Two measures (issue 11 §5):
//   1. cold start: from Feed::start (the LISTs begin) to the first complete
//      publish with DNS live, `--runs` times, each into a fresh table;
//   2. one EndpointSlice event to the data plane: a MODIFIED slice (one pod
//      replaced) handed to the watch stream, until the reader thread finds
//      the new backend in the service's VIP lookup; `--events` events,
//      `--gap-ms` apart (longer than the batch window: each one is a lone
//      event, published at once), on services spread over the whole set.
//
//   svcgw-feed-bench [--services N] [--endpoints E] [--runs R] [--events K]
//                    [--gap-ms G] [--window-ms W]
//
// Prints the samples' median [min..max] and percentiles, and one RESULT
// line (key=value).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <sched.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../bench_eal.hpp"
#include "../control_rig.hpp"
#include "control/snapshot_publisher.hpp"
#include "control/state.hpp"
#include "control/zone_versions.hpp"
#include "kube/feed.hpp"
#include "kube/feed_sync.hpp"
#include "table/service_table.hpp"

namespace svcgw {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using kube::HttpReply;
using kube::Transport;

constexpr uint32_t kPageSize = 500;         // the reflector's limit= (ReflectorOptions)
constexpr uint32_t kFirstPod = 0x0af40001;  // 10.244.0.1: pod addresses
constexpr uint32_t kNewPods = 0x0af80001;   // 10.248.0.1: pods the events bring
constexpr const char* kNamespace = "bench";

struct Options {
    uint32_t services = 10000;
    uint32_t endpoints = 3;  // per service: 30,000 at 10k
    uint32_t runs = 5;
    uint32_t events = 1000;
    uint32_t gap_ms = 20;
    uint32_t window_ms = 5;  // kubernetes.batch_window_ms default
};

// 10.96.1.0 onwards: clear of dns.cluster_ip (10.96.0.10).
uint32_t cluster_ip(uint32_t i) {
    return 0x0a600100 + i;
}

std::string ip_text(uint32_t ip) {
    return Ipv4{ip}.str();
}

std::string uid(uint32_t kind, uint32_t i) {
    char text[40];
    std::snprintf(text, sizeof text, "%08x-0000-4000-8000-%012x", kind, i);
    return text;
}

json managed_fields(const char* manager, const char* operation) {
    return json::array({{{"manager", manager},
                         {"operation", operation},
                         {"apiVersion", "v1"},
                         {"time", "2026-12-05T10:00:00Z"},
                         {"fieldsType", "FieldsV1"},
                         {"fieldsV1", {{"f:spec", {{"f:ports", json::object()}}}}}}});
}

json service(uint32_t i, uint64_t version) {
    const std::string name = "svc-" + std::to_string(i);
    return {{"metadata",
             {{"name", name},
              {"namespace", kNamespace},
              {"uid", uid(1, i)},
              {"resourceVersion", std::to_string(version)},
              {"creationTimestamp", "2026-12-05T10:00:00Z"},
              {"labels", {{"app", name}}},
              {"managedFields", managed_fields("kubectl-client-side-apply", "Update")}}},
            {"spec",
             {{"clusterIP", ip_text(cluster_ip(i))},
              {"clusterIPs", {ip_text(cluster_ip(i))}},
              {"internalTrafficPolicy", "Cluster"},
              {"ipFamilies", {"IPv4"}},
              {"ipFamilyPolicy", "SingleStack"},
              {"ports",
               json::array(
                   {{{"name", "http"}, {"port", 80}, {"protocol", "TCP"}, {"targetPort", 8080}}})},
              {"selector", {{"app", name}}},
              {"sessionAffinity", "None"},
              {"type", "ClusterIP"}}},
            {"status", {{"loadBalancer", json::object()}}}};
}

json slice(uint32_t i, const std::vector<uint32_t>& pods, uint64_t version) {
    const std::string name = "svc-" + std::to_string(i);
    json endpoints = json::array();
    for (size_t e = 0; e < pods.size(); ++e) {
        const std::string pod = name + "-" + std::to_string(pods[e] & 0xffff);
        endpoints.push_back(
            {{"addresses", {ip_text(pods[e])}},
             {"conditions", {{"ready", true}, {"serving", true}, {"terminating", false}}},
             {"nodeName", "node-" + std::to_string(e)},
             {"targetRef",
              {{"kind", "Pod"},
               {"name", pod},
               {"namespace", kNamespace},
               {"uid", uid(3, pods[e])}}},
             {"zone", "zone-" + std::to_string(e % 3)}});
    }
    return {{"metadata",
             {{"name", name + "-abcde"},
              {"generateName", name + "-"},
              {"namespace", kNamespace},
              {"uid", uid(2, i)},
              {"resourceVersion", std::to_string(version)},
              {"generation", 1},
              {"creationTimestamp", "2026-12-05T10:00:00Z"},
              {"labels",
               {{"endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io"},
                {"kubernetes.io/service-name", name}}},
              {"annotations",
               {{"endpoints.kubernetes.io/last-change-trigger-time", "2026-12-05T10:00:00Z"}}},
              {"ownerReferences", json::array({{{"apiVersion", "v1"},
                                                {"kind", "Service"},
                                                {"name", name},
                                                {"uid", uid(1, i)},
                                                {"controller", true},
                                                {"blockOwnerDeletion", true}}})},
              {"managedFields", managed_fields("kube-controller-manager", "Update")}}},
            {"addressType", "IPv4"},
            {"endpoints", endpoints},
            {"ports", json::array({{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}})}};
}

// The API server's side: LIST pages (bytes, built once) and per-kind watch
// lines handed over by the benchmark.
class MemoryApi {
public:
    void add_list(const std::string& path, const char* list_kind, const std::vector<json>& items,
                  uint64_t version) {
        std::vector<std::string>& pages = _pages[path];
        for (size_t start = 0; start == 0 || start < items.size(); start += kPageSize) {
            json page = {{"kind", list_kind}, {"apiVersion", "v1"}, {"items", json::array()}};
            page["metadata"]["resourceVersion"] = std::to_string(version);
            const size_t end = std::min(items.size(), start + kPageSize);
            for (size_t k = start; k < end; ++k) {
                page["items"].push_back(items[k]);
            }
            if (end < items.size()) {
                page["metadata"]["continue"] = std::to_string(pages.size() + 1);
            }
            pages.push_back(page.dump());
            _bytes += pages.back().size();
        }
    }
    size_t list_bytes() const { return _bytes; }

    // The reflector's GET: `path` is the collection plus its query.
    HttpReply get(const std::string& path) const {
        const std::string collection = path.substr(0, path.find('?'));
        auto found = _pages.find(collection);
        if (found == _pages.end()) {
            return {404, R"({"kind":"Status","code":404,"message":"not found"})"};
        }
        size_t page = 0;
        if (size_t at = path.find("continue="); at != std::string::npos) {
            page = std::strtoul(path.c_str() + at + std::strlen("continue="), nullptr, 10);
        }
        return {200, found->second.at(page)};
    }

    // Hands one line to the watch of `collection`.
    void send(const std::string& collection, std::string line) {
        std::lock_guard lock(_mutex);
        _lines[collection].push_back(std::move(line));
        _ready.notify_all();
    }
    // The reflector's watch: lines as they are sent, until `stopped`.
    void stream(const std::string& collection, const std::atomic<bool>& stopped,
                const Transport::DataSink& on_data) {
        std::unique_lock lock(_mutex);
        while (!stopped.load()) {
            auto& queue = _lines[collection];
            if (queue.empty()) {
                _ready.wait(lock);
                continue;
            }
            std::string line = std::move(queue.front());
            queue.pop_front();
            lock.unlock();
            if (!on_data(line)) {
                return;
            }
            lock.lock();
        }
    }
    void wake_all() {
        std::lock_guard lock(_mutex);
        _ready.notify_all();
    }

private:
    std::map<std::string, std::vector<std::string>> _pages;
    size_t _bytes = 0;
    std::mutex _mutex;
    std::condition_variable _ready;
    std::map<std::string, std::deque<std::string>> _lines;
};

class MemoryTransport : public Transport {
public:
    explicit MemoryTransport(MemoryApi& api) : _api(api) {}
    Result<HttpReply> get(const std::string& path) override { return _api.get(path); }
    Result<HttpReply> stream(const std::string& path, int, const DataSink& on_data) override {
        _api.stream(path.substr(0, path.find('?')), _stopped, on_data);
        return HttpReply{200, ""};
    }
    void stop() override {
        _stopped = true;
        _api.wake_all();
    }

private:
    MemoryApi& _api;
    std::atomic<bool> _stopped{false};
};

constexpr const char* kServices = "/api/v1/services";
constexpr const char* kSlices = "/apis/discovery.k8s.io/v1/endpointslices";

// The daemon's publish step (app/daemon.cpp: SnapshotPublisher over the
// table and ZoneVersions, DNS held until the first complete list).
struct Plane {
    rte_rcu_qsbr* qsbr = nullptr;
    std::unique_ptr<ServiceTable> table;
    std::unique_ptr<ZoneVersions> zones;
    std::unique_ptr<SnapshotPublisher> publisher;
    std::unique_ptr<ControlState> state;

    Plane() {
        qsbr = bench::make_qsbr("feed_bench_qsbr", 1);
        table = bench::make_table(qsbr);
        Config c = bench::config();
        zones = std::make_unique<ZoneVersions>(c.dns, c.network.service_cidr, qsbr, 1);
        publisher = std::make_unique<SnapshotPublisher>(*table, c.maglev, zones.get(), false);
        state = std::make_unique<ControlState>(c, *publisher, 0);
    }
    ~Plane() {
        state.reset();
        publisher.reset();
        zones.reset();
        table.reset();
        rte_free(qsbr);
    }
    void reclaim() {
        table->reclaim();
        zones->reclaim();
    }
};

// The control thread's loop (Daemon::feed_schedule): deltas in, publish
// when due, DNS live after the first complete list. Returns when `done()`.
struct Control {
    kube::Feed& feed;
    kube::FeedSync& sync;
    Plane& plane;
    Clock::time_point lists_in{};  // the last relisted delta's decode time
    bool live = false;

    template <class Done>
    void run(Done done) {
        std::optional<uint32_t> wait;
        while (!done()) {
            pollfd p{feed.fd(), POLLIN, 0};
            int timeout = wait ? static_cast<int>(*wait) : 1;
            if (poll(&p, 1, timeout) > 0) {
                std::vector<kube::Delta> deltas = feed.take();
                for (const kube::Delta& d : deltas) {
                    if (d.type == kube::Delta::Type::relisted) {
                        lists_in = std::max(lists_in, d.received);
                    }
                }
                sync.receive(std::move(deltas));
            }
            wait = sync.poll(*plane.state, Clock::now(), 0);
            if (sync.take_first_sync()) {
                auto on = plane.publisher->go_live(plane.state->running_config().services);
                if (!on) {
                    std::fprintf(stderr, "go_live: %s\n", on.error().front().str().c_str());
                    std::exit(1);
                }
                live = true;
            }
            plane.reclaim();
        }
    }
};

kube::Selection cluster_ips() {
    kube::Selection s;
    s.cluster_ips = true;  // the seed's mode: every Service's ClusterIP
    return s;
}

std::unique_ptr<kube::Feed> start_feed(MemoryApi& api) {
    kube::FeedOptions options;
    options.write_status = false;
    auto feed =
        kube::Feed::start(options, [&api] { return std::make_unique<MemoryTransport>(api); });
    if (!feed) {
        std::fprintf(stderr, "feed: %s\n", feed.error().message.c_str());
        std::exit(1);
    }
    return std::move(*feed);
}

double ms(Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

// CPU time of the whole process (every thread), in ms: on a shared box the
// wall time of a cold start is mostly waiting for a core; this is the work.
double cpu_ms() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) * 1e3 + double(t.tv_nsec) / 1e6;
}

double pct(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * double(v.size())))];
}

void summary(const char* what, const char* unit, const std::vector<double>& v) {
    std::printf("%-40s median %.3f [%.3f..%.3f] %s, p99 %.3f, n=%zu\n", what, pct(v, 0.5),
                pct(v, 0), pct(v, 1), unit, pct(v, 0.99), v.size());
}

bool parse_args(int argc, char** argv, Options& o) {
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const auto value = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
        if (flag == "--services") {
            o.services = value;
        } else if (flag == "--endpoints") {
            o.endpoints = value;
        } else if (flag == "--runs") {
            o.runs = value;
        } else if (flag == "--events") {
            o.events = value;
        } else if (flag == "--gap-ms") {
            o.gap_ms = value;
        } else if (flag == "--window-ms") {
            o.window_ms = value;
        } else {
            return false;
        }
    }
    return argc % 2 == 1 && o.services > 0 && o.services <= 60000 && o.endpoints > 0 &&
           o.window_ms >= 1 && o.window_ms <= 10;
}

int run(const Options& o) {
    bench_eal_init();
    // The cluster, as the API server holds it.
    std::vector<std::vector<uint32_t>> pods(o.services);
    std::vector<json> services, slices;
    uint32_t next_pod = kFirstPod;
    for (uint32_t i = 0; i < o.services; ++i) {
        for (uint32_t e = 0; e < o.endpoints; ++e) {
            pods[i].push_back(next_pod++);
        }
        services.push_back(service(i, 100 + i));
        slices.push_back(slice(i, pods[i], 100 + o.services + i));
    }
    uint64_t version = 100 + 2 * uint64_t{o.services};
    MemoryApi api;
    api.add_list(kServices, "ServiceList", services, version);
    api.add_list(kSlices, "EndpointSliceList", slices, version);
    services.clear();
    slices.clear();
    std::printf("cluster: %u services, %u endpoints, %zu bytes of LIST pages (%u per page)\n",
                o.services, o.services * o.endpoints, api.list_bytes(), kPageSize);

    // 1. Cold start, `runs` times.
    std::vector<double> start_ms, lists_ms, publish_ms, start_cpu_ms;
    std::unique_ptr<Plane> plane;
    std::unique_ptr<kube::Feed> feed;
    std::unique_ptr<kube::FeedSync> sync;
    for (uint32_t r = 0; r < o.runs; ++r) {
        feed.reset();
        sync.reset();
        plane = std::make_unique<Plane>();
        sync = std::make_unique<kube::FeedSync>(
            cluster_ips(), std::set<kube::Kind>{kube::Kind::service, kube::Kind::endpoint_slice},
            o.window_ms, [](const std::string&) {});
        const double cpu0 = cpu_ms();
        const auto t0 = Clock::now();
        feed = start_feed(api);
        Control control{*feed, *sync, *plane};
        control.run([&] { return control.live; });
        const auto t1 = Clock::now();
        start_cpu_ms.push_back(cpu_ms() - cpu0);
        if (plane->table->size() != o.services || !plane->zones->live()) {
            std::fprintf(stderr, "run %u: %zu services in the table, zone %s\n", r,
                         plane->table->size(), plane->zones->live() ? "live" : "missing");
            return 1;
        }
        start_ms.push_back(ms(t1 - t0));
        lists_ms.push_back(ms(control.lists_in - t0));
        publish_ms.push_back(ms(t1 - control.lists_in));
    }

    // 2. Slice events into the last run's feed, a reader thread as worker.
    std::vector<VipKey> keys;
    for (uint32_t i = 0; i < o.services; ++i) {
        keys.push_back(VipKey{htonl(cluster_ip(i)), htons(80), IPPROTO_TCP, 0});
    }
    // generation << 32 | the new backend (network order); which service in `target`
    std::atomic<uint64_t> want{0};
    std::atomic<uint32_t> target{0};
    std::atomic<uint32_t> seen_generation{0};
    std::atomic<int64_t> seen_at{0};
    std::atomic<bool> stop{false};
    std::thread reader([&] {
        // A worker lcore's place: off the EAL main thread's CPU 0.
        cpu_set_t cpus;
        CPU_ZERO(&cpus);
        for (int c = 1; c < static_cast<int>(std::thread::hardware_concurrency()); ++c) {
            CPU_SET(c, &cpus);
        }
        if (CPU_COUNT(&cpus) > 0) {
            pthread_setaffinity_np(pthread_self(), sizeof cpus, &cpus);
        }
        rte_rcu_qsbr_thread_register(plane->qsbr, 0);
        rte_rcu_qsbr_thread_online(plane->qsbr, 0);
        while (!stop.load(std::memory_order_relaxed)) {
            const uint64_t w = want.load(std::memory_order_acquire);
            const auto generation = static_cast<uint32_t>(w >> 32);
            if (generation != 0 && seen_generation.load(std::memory_order_relaxed) != generation) {
                const ServicePort* sp = plane->table->lookup(keys[target.load()]);
                if (sp != nullptr &&
                    sp->service->find_backend(static_cast<uint32_t>(w)) != nullptr) {
                    seen_at.store(Clock::now().time_since_epoch().count(),
                                  std::memory_order_relaxed);
                    seen_generation.store(generation, std::memory_order_release);
                }
            }
            rte_rcu_qsbr_quiescent(plane->qsbr, 0);
        }
        rte_rcu_qsbr_thread_offline(plane->qsbr, 0);
        rte_rcu_qsbr_thread_unregister(plane->qsbr, 0);
    });
    std::mt19937 rng(11);
    std::vector<double> event_ms;
    uint32_t fresh = kNewPods;
    size_t lost = 0;
    Control control{*feed, *sync, *plane};
    for (uint32_t g = 1; g <= o.events; ++g) {
        const uint32_t i = rng() % o.services;
        pods[i].back() = fresh++;  // one pod replaced: same count, new address
        // The API server's work, before the clock: the event's bytes.
        const std::string line =
            json{{"type", "MODIFIED"}, {"object", slice(i, pods[i], ++version)}}.dump() + "\n";
        target.store(i);
        want.store(uint64_t{g} << 32 | htonl(pods[i].back()), std::memory_order_release);
        const auto t0 = Clock::now();
        api.send(kSlices, line);
        const auto deadline = t0 + std::chrono::seconds(2);
        control.run([&] {
            return seen_generation.load(std::memory_order_acquire) == g || Clock::now() > deadline;
        });
        if (seen_generation.load(std::memory_order_acquire) != g) {
            ++lost;
            continue;
        }
        const int64_t seen = seen_at.load(std::memory_order_relaxed);
        event_ms.push_back(double(seen - t0.time_since_epoch().count()) / 1e6);
        const auto quiet = Clock::now() + std::chrono::milliseconds(o.gap_ms);
        control.run([&] { return Clock::now() >= quiet; });
    }
    stop = true;
    reader.join();
    const uint64_t lag_p50_us = sync->stats().lag.percentile_us(0.5);
    const uint64_t lag_p99_us = sync->stats().lag.percentile_us(0.99);
    feed.reset();
    sync.reset();
    plane.reset();

    summary("list start -> published (DNS live)", "ms", start_ms);
    summary("  of which LISTs fetched and decoded", "ms", lists_ms);
    summary("  of which merge + publish", "ms", publish_ms);
    summary("  CPU time of the process meanwhile", "ms", start_cpu_ms);
    summary("slice event -> reader sees the backend", "ms", event_ms);
    std::printf("feed's own lag histogram (decode -> published): p50 %llu us, p99 %llu us\n",
                static_cast<unsigned long long>(lag_p50_us),
                static_cast<unsigned long long>(lag_p99_us));
    std::printf(
        "RESULT services=%u endpoints=%u runs=%u start_ms_median=%.1f start_ms_min=%.1f "
        "start_ms_max=%.1f start_cpu_ms_median=%.1f events=%zu lost=%zu event_ms_p50=%.3f "
        "event_ms_p99=%.3f "
        "event_ms_max=%.3f\n",
        o.services, o.services * o.endpoints, o.runs, pct(start_ms, 0.5), pct(start_ms, 0),
        pct(start_ms, 1), pct(start_cpu_ms, 0.5), event_ms.size(), lost, pct(event_ms, 0.5),
        pct(event_ms, 0.99), pct(event_ms, 1));
    return lost == 0 ? 0 : 1;
}

}  // namespace
}  // namespace svcgw

int main(int argc, char** argv) {
    svcgw::Options options;
    if (!svcgw::parse_args(argc, argv, options)) {
        std::fprintf(stderr,
                     "usage: svcgw-feed-bench [--services N] [--endpoints E] [--runs R] "
                     "[--events K] [--gap-ms G] [--window-ms W]\n");
        return 2;
    }
    return svcgw::run(options);
}
