// Fuzz target: the whole per-burst packet path (parse -> VIP lookup -> flow
// table -> Maglev pick -> NAT rewrite -> reply builders) through
// Worker::process_burst, as the lcore loop drives it, on synthetic mbufs.
//
// Input: byte 0 = options (bit 0: nat instead of fullnat; bit 1: refill
// IPv4/L4 checksums so mutations get past checksum checks), then records
// {u16 big-endian length, u8 milliseconds to advance, frame bytes}. Flows
// carry state only between the frames of one input: each input ends past
// every timeout with an empty flow table, so a crash reproduces from its
// input alone.
//
// Each frame sits in its own heap buffer attached as an mbuf external
// buffer and ends exactly at the buffer's end, so a read past the frame is
// an ASan heap-buffer-overflow instead of a silent read of the mempool.
// The buffer keeps RTE_PKTMBUF_HEADROOM + kReplyRoom bytes from its start
// because the worker may reset the mbuf and build a reply (<= 128 bytes)
// at the default headroom.
//
// FUZZ_PACKET_MIN_FRAME=N (environment) skips frames shorter than N bytes:
// only for long runs past a known runt-frame bug, never in CI.
//
// Invariants checked: no sanitizer report; every frame the worker emits
// lies inside its buffer; the flow table never holds more than its
// capacity; every mbuf returns to the pool once the worker is gone.
#include <arpa/inet.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/packet.hpp"
#include "dataplane/worker.hpp"
#include "dns/zone.hpp"
#include "table/service_table.hpp"

namespace {

using namespace svcgw;

constexpr uint64_t kHz = 1'000'000'000;  // fake TSC: 1 tick = 1 ns
// Reply builders write at most 128 bytes (worker.cpp reject()).
constexpr size_t kReplyRoom = 128;
// Largest frame a default mbuf carries (2048-byte data room).
constexpr size_t kMaxFrame = 2048;
// Frames per input: a few bursts are enough to open, use and close flows.
constexpr size_t kMaxFrames = 96;
// Small flow table (the worker rounds up to 1024): fullness is reachable.
constexpr uint32_t kMaxFlows = 1024;
constexpr unsigned kPoolSize = 1023;

uint32_t be(const char* text) {
    return htonl(Ipv4::parse(text)->value);
}

const MacAddr kGwMac = {0x02, 0, 0, 0, 0, 0x01};

ServiceConfig service(const char* name, const char* vip, uint16_t port, uint16_t target,
                      Protocol proto, std::vector<const char*> endpoints) {
    ServiceConfig s;
    s.name = name;
    s.cluster_ip = *Ipv4::parse(vip);
    ServicePortConfig p;
    p.port = port;
    p.target_port = target;
    p.protocol = proto;
    s.ports.push_back(p);
    for (const char* e : endpoints) {
        EndpointConfig ep;
        ep.ip = *Ipv4::parse(e);
        s.endpoints.push_back(ep);
    }
    return s;
}

struct Global {
    rte_mempool* pool = nullptr;
    rte_rcu_qsbr* qsbr = nullptr;
    std::unique_ptr<ServiceTable> table;
    std::unique_ptr<NeighbourView> view;
    std::atomic<const NeighbourView*> published{nullptr};
    rte_ring* to_control = nullptr;
    std::unique_ptr<const dns::Zone> zone;
    std::atomic<const dns::Zone*> published_zone{nullptr};
    size_t min_frame = 0;
};
Global* g = nullptr;

void die(const char* what) {
    std::fprintf(stderr, "fuzz_packet: %s\n", what);
    std::abort();
}

void set_up() {
    g = new Global;
    std::string prefix = "--file-prefix=fuzz_packet_" + std::to_string(getpid());
    std::vector<std::string> args = {"fuzz_packet", "--no-huge",         "--no-pci",
                                     "--no-shconf", "--no-telemetry",    "-l",
                                     "0",           "--log-level=error", prefix};
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
        die("rte_eal_init failed");
    }
    g->pool = rte_pktmbuf_pool_create("fuzz_pool", kPoolSize, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                      SOCKET_ID_ANY);
    if (g->pool == nullptr) {
        die("mempool creation failed");
    }
    size_t size = rte_rcu_qsbr_get_memsize(1);
    g->qsbr = static_cast<rte_rcu_qsbr*>(std::aligned_alloc(64, (size + 63) / 64 * 64));
    rte_rcu_qsbr_init(g->qsbr, 1);
    rte_rcu_qsbr_thread_register(g->qsbr, 0);
    rte_rcu_qsbr_thread_online(g->qsbr, 0);
    auto table = ServiceTable::create(g->qsbr, ServiceTableOptions{.max_vips = 64});
    if (!table) {
        die("ServiceTable::create failed");
    }
    g->table = std::move(*table);
    // TCP with two backends, UDP, ClientIP affinity, and one without endpoints
    // (reject paths).
    ServiceConfig web =
        service("web", "10.96.0.20", 80, 8080, Protocol::tcp, {"10.99.0.11", "10.99.0.12"});
    ServicePortConfig udp;
    udp.port = 53;
    udp.target_port = 5353;
    udp.protocol = Protocol::udp;
    web.ports.push_back(udp);
    ServiceConfig sticky =
        service("sticky", "10.96.0.21", 443, 8443, Protocol::tcp, {"10.99.0.12", "10.99.0.13"});
    sticky.session_affinity = SessionAffinity::client_ip;
    ServiceConfig empty = service("empty", "10.96.0.22", 80, 80, Protocol::tcp, {});
    ServiceConfig far = service("far", "10.96.0.23", 80, 80, Protocol::udp, {"10.77.0.5"});
    std::vector<ServiceConfig> services = {web, sticky, empty, far};
    for (const ServiceConfig& s : services) {
        if (!g->table->upsert(s, {})) {
            die("upsert failed");
        }
    }
    // Cluster DNS at 10.96.0.10 (the DnsConfig default), answered in place.
    auto zone = dns::build_zone(services, DnsConfig{}, *Ipv4Prefix::parse("10.96.0.0/16"), 1);
    if (!zone) {
        die("build_zone failed");
    }
    g->zone = std::move(*zone);
    g->published_zone.store(g->zone.get());
    // Runs past a known, reported bug can skip runt frames (see tools/fuzz.sh).
    if (const char* v = std::getenv("FUZZ_PACKET_MIN_FRAME"); v != nullptr) {
        g->min_frame = std::strtoul(v, nullptr, 10);
    }
    // Every on-subnet host the seeds use is resolved so frames go out; .14
    // and off-subnet hosts via the router are not (hold/resolve paths).
    std::vector<std::pair<uint32_t, MacAddr>> neighbours = {
        {be("10.99.0.2"), {0x02, 0, 0, 0, 0, 0x02}},
        {be("10.99.0.11"), {0x02, 0, 0, 0, 0, 0x11}},
        {be("10.99.0.12"), {0x02, 0, 0, 0, 0, 0x12}},
        {be("10.99.0.13"), {0x02, 0, 0, 0, 0, 0x13}}};
    g->view = std::make_unique<NeighbourView>(neighbours);
    g->published.store(g->view.get());
    g->to_control = rte_ring_create_elem("fuzz_to_control", sizeof(ControlMessage), 64,
                                         SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (g->to_control == nullptr) {
        die("ring creation failed");
    }
}

// One heap buffer per frame; the mbuf's free callback releases it.
struct ExtBuffer {
    rte_mbuf_ext_shared_info shinfo;
    uint8_t* data;
};

void free_ext(void* /*addr*/, void* opaque) {
    auto* ext = static_cast<ExtBuffer*>(opaque);
    std::free(ext->data);
    delete ext;
}

rte_mbuf* make_frame(const uint8_t* bytes, size_t len, bool fix_checksums) {
    rte_mbuf* m = rte_pktmbuf_alloc(g->pool);
    if (m == nullptr) {
        die("mempool empty: an mbuf leaked in an earlier input");
    }
    size_t buf_len = std::max(RTE_PKTMBUF_HEADROOM + kReplyRoom, len);
    auto* ext = new ExtBuffer;
    ext->data = static_cast<uint8_t*>(std::malloc(buf_len));
    std::memset(ext->data, 0, buf_len);
    ext->shinfo.free_cb = free_ext;
    ext->shinfo.fcb_opaque = ext;
    rte_mbuf_ext_refcnt_set(&ext->shinfo, 1);
    rte_pktmbuf_attach_extbuf(m, ext->data, RTE_BAD_IOVA, static_cast<uint16_t>(buf_len),
                              &ext->shinfo);
    m->data_off = static_cast<uint16_t>(buf_len - len);
    uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
    std::memcpy(frame, bytes, len);
    m->data_len = static_cast<uint16_t>(len);
    m->pkt_len = static_cast<uint32_t>(len);
    if (fix_checksums) {
        pkt::Parsed p = pkt::parse(frame, len);
        if (p.l3 == pkt::L3::ipv4 && p.verdict == pkt::Verdict::ok) {
            pkt::fill_checksums(frame + p.l3_offset);
        }
    }
    return m;
}

// Reads every byte of an emitted frame (ASan checks them) and its bounds.
void check_output(rte_mbuf* m) {
    if (m->nb_segs != 1 || m->data_len != m->pkt_len ||
        size_t{m->data_off} + m->data_len > m->buf_len) {
        die("emitted frame outside its buffer");
    }
    const volatile uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
    uint8_t sum = 0;
    for (size_t i = 0; i < m->data_len; ++i) {
        sum = static_cast<uint8_t>(sum + f[i]);
    }
    (void)sum;
}

void drain_control() {
    ControlMessage msg;
    while (rte_ring_dequeue_elem(g->to_control, &msg, sizeof(msg)) == 0) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    set_up();
    return 0;
}

namespace {

// One worker per forwarding mode, kept across inputs: building one costs
// its flow and affinity tables (~ms under ASan), which would cap the run
// at ~100 inputs/s. Each input ends past every timeout (flows, affinity,
// hold queue) and drains the table, so no state leaks into the next one.
std::unique_ptr<Worker> g_workers[2];
WorkerContext g_contexts[2];  // a Worker keeps a reference to its context
uint64_t g_now = 10 * kHz;
// Longer than the longest timeout the fixture uses (affinity: 10800 s).
constexpr uint64_t kForgetAllS = 4 * 3600;
constexpr uint32_t kDrainBudget = 1 << 20;

Worker& worker_for(bool nat) {
    auto& w = g_workers[nat ? 1 : 0];
    if (!w) {
        WorkerContext& ctx = g_contexts[nat ? 1 : 0];
        ctx.workers = 1;
        ctx.mac = kGwMac;
        ctx.address_be = be("10.99.0.1");
        ctx.subnet_mask_be = be("255.255.255.0");
        ctx.gateway_be = be("10.99.0.254");
        ctx.service_net_be = be("10.96.0.0");
        ctx.service_mask_be = be("255.255.0.0");
        ctx.mode = nat ? ForwardingMode::nat : ForwardingMode::fullnat;
        ctx.snat_be = {be("10.99.0.1")};
        ctx.conntrack.max_flows = kMaxFlows;
        ctx.table = g->table.get();
        ctx.qsbr = g->qsbr;
        ctx.neighbours = &g->published;
        ctx.pool = g->pool;
        ctx.to_control = {g->to_control};
        ctx.tsc_hz = kHz;
        ctx.dns_ip_be = be("10.96.0.10");
        ctx.dns_zone = &g->published_zone;
        w = std::make_unique<Worker>(ctx, 0);
    }
    return *w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) {
        return 0;
    }
    const uint8_t options = data[0];
    const bool fix_checksums = options & 2;
    const unsigned pool_before = rte_mempool_avail_count(g->pool);
    Worker& worker = worker_for(options & 1);
    uint64_t& now = g_now;
    std::vector<rte_mbuf*> burst;
    auto run_burst = [&] {
        worker.process_burst(burst, now, false);
        burst.clear();
        worker.service_hold_queue(now);
        worker.expire_flows(now, 64);
        worker.census_step(now, 1024);
        rte_rcu_qsbr_quiescent(g->qsbr, 0);
        for (rte_mbuf* m : worker.take_tx()) {
            check_output(m);
            rte_pktmbuf_free(m);
        }
        drain_control();
        if (worker.stats().flows > kMaxFlows) {
            die("flow table above its capacity");
        }
    };
    size_t off = 1, frames = 0;
    while (off + 3 <= size && frames < kMaxFrames) {
        size_t len =
            std::min<size_t>({size_t{data[off]} << 8 | data[off + 1], kMaxFrame, size - off - 3});
        uint64_t advance_ms = data[off + 2];
        off += 3;
        if (advance_ms != 0 && !burst.empty()) {
            run_burst();
        }
        now += advance_ms * (kHz / 1000);
        if (len >= g->min_frame) {
            burst.push_back(make_frame(data + off, len, fix_checksums));
        }
        off += len;
        ++frames;
        if (burst.size() == kWorkerBurst) {
            run_burst();
        }
    }
    if (!burst.empty()) {
        run_burst();
    }
    // Past every timeout: holds drop, flows and affinities expire.
    now += kForgetAllS * kHz;
    run_burst();
    worker.expire_flows(now, kDrainBudget);
    if (worker.stats().flows != 0 || worker.stats().held != 0) {
        die("flows or held frames survive every timeout");
    }
    if (rte_mempool_avail_count(g->pool) != pool_before) {
        die("mbufs not returned to the pool");
    }
    return 0;
}
