// The worker's per-burst path, driven without the lcore loop: a table of
// steps {description, input frame, expected output fields or drop reason},
// run in order per forwarding mode (flows carry state from step to step).
// EAL runs without hugepages or PCI (the VIP table is an rte_hash);
// --no-shconf, not --in-memory: DPDK 22.11 rejects --in-memory with --no-huge.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "dataplane/instance_owner.hpp"
#include "dataplane/worker.hpp"
#include "dns/responder.hpp"
#include "dns/zone.hpp"
#include "net/packet.hpp"
#include "table/service_table.hpp"
#include "test_eal.hpp"

namespace svcgw {
namespace {

uint32_t be(const char* text) {
    return htonl(Ipv4::parse(text)->value);
}
uint16_t be16(uint16_t v) {
    return htons(v);
}

const MacAddr kGwMac = {0x02, 0, 0, 0, 0, 0x01};
const MacAddr kClientMac = {0x02, 0, 0, 0, 0, 0x02};
const MacAddr kPod1Mac = {0x02, 0, 0, 0, 0, 0x11};
const MacAddr kPod2Mac = {0x02, 0, 0, 0, 0, 0x12};
const MacAddr kRouterMac = {0x02, 0, 0, 0, 0, 0xfe};
constexpr uint64_t kHz = 1'000'000'000;  // fake TSC: 1 tick = 1 ns

rte_mempool* g_pool = nullptr;

const auto* const kEal = ::testing::AddGlobalTestEnvironment(
    new test_support::EalEnvironment("test_dataplane", &g_pool, 1023));

// ---- frames ----

struct L4Spec {
    uint8_t proto = pkt::kProtoTcp;
    uint32_t src = 0, dst = 0;
    uint16_t sport = 0, dport = 0;
    uint8_t flags = tcp_flag::syn;
    uint8_t ttl = 64;
    MacAddr src_mac = kClientMac;
    MacAddr dst_mac = kGwMac;
};

rte_mbuf* make_l4(const L4Spec& s) {
    rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
    uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
    size_t l4_len = s.proto == pkt::kProtoTcp ? 20 : (s.proto == pkt::kProtoUdp ? 8 + 4 : 8 + 4);
    size_t len = 14 + 20 + l4_len;
    std::memset(f, 0, 64);
    std::memcpy(f, s.dst_mac.data(), 6);
    std::memcpy(f + 6, s.src_mac.data(), 6);
    f[12] = 0x08;
    uint8_t* ip = f + 14;
    ip[0] = 0x45;
    pkt::store_be16(ip + 2, static_cast<uint16_t>(20 + l4_len));
    ip[8] = s.ttl;
    ip[9] = s.proto;
    pkt::store32(ip + 12, s.src);
    pkt::store32(ip + 16, s.dst);
    uint8_t* l4 = ip + 20;
    if (s.proto == pkt::kProtoIcmp) {
        l4[0] = pkt::kIcmpEchoRequest;
        pkt::store_be16(l4 + 4, 7);
    } else {
        pkt::store16(l4, s.sport);
        pkt::store16(l4 + 2, s.dport);
        if (s.proto == pkt::kProtoTcp) {
            pkt::store_be16(l4 + 4, 0x1000);
            l4[12] = 5 << 4;
            l4[13] = s.flags;
            pkt::store_be16(l4 + 14, 65535);
        } else {
            pkt::store_be16(l4 + 4, static_cast<uint16_t>(l4_len));
        }
    }
    pkt::fill_checksums(ip);
    size_t frame_len = std::max<size_t>(len, pkt::kEthMinFrameLen);
    m->data_len = static_cast<uint16_t>(frame_len);
    m->pkt_len = static_cast<uint32_t>(frame_len);
    return m;
}

rte_mbuf* make_arp_request(uint32_t sender, uint32_t target) {
    rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
    size_t len = pkt::build_arp_request(std::span<uint8_t>(rte_pktmbuf_mtod(m, uint8_t*), 128),
                                        kClientMac, sender, target);
    m->data_len = static_cast<uint16_t>(len);
    m->pkt_len = static_cast<uint32_t>(len);
    return m;
}

// ---- expectations ----

struct Out {
    pkt::Parsed p;
    MacAddr dst_mac;
    MacAddr src_mac;
    bool checksums_ok;
    const uint8_t* frame;  // the frame itself, valid while a step checks it
};

Out inspect(rte_mbuf* m) {
    uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
    Out o;
    o.frame = f;
    o.p = pkt::parse(f, m->data_len);
    std::memcpy(o.dst_mac.data(), f, 6);
    std::memcpy(o.src_mac.data(), f + 6, 6);
    o.checksums_ok = o.p.l3 != pkt::L3::ipv4 || (pkt::ipv4_header_checksum_ok(f + o.p.l3_offset) &&
                                                 pkt::l4_checksum_ok(f + o.p.l3_offset));
    return o;
}

struct Step {
    std::string description;
    std::function<rte_mbuf*()> input;
    // A drop reason (counted once), a check of the one frame out, or both
    // (a reject: counted and answered).
    std::optional<DropReason> drop;
    std::function<void(const Out&)> check;
    std::function<void()> before = nullptr;  // config change before the packet
};

// ---- fixture ----

ServiceConfig nginx_service(std::vector<const char*> endpoints) {
    ServiceConfig s;
    s.name = "mynginx";
    s.cluster_ip = *Ipv4::parse("10.96.0.20");
    ServicePortConfig p;
    p.name = "http";
    p.port = 80;
    p.target_port = 8080;
    s.ports.push_back(p);
    ServicePortConfig u;
    u.name = "dns";
    u.port = 53;
    u.target_port = 5353;
    u.protocol = Protocol::udp;
    s.ports.push_back(u);
    for (const char* e : endpoints) {
        EndpointConfig ep;
        ep.ip = *Ipv4::parse(e);
        s.endpoints.push_back(ep);
    }
    return s;
}

// Two workers of one set over handoff rings (worker 0 reports to
// `to_control0`), built from `ctx` with workers = 2.
class TwoWorkers {
public:
    TwoWorkers(WorkerContext& ctx, rte_ring* to_control0, const std::string& tag) : _ctx(ctx) {
        _ctx.workers = 2;
        _ctx.handoff = {nullptr, ring("h01" + tag, sizeof(void*)), ring("h10" + tag, sizeof(void*)),
                        nullptr};
        _ctx.to_control = {to_control0, ring("c1" + tag, sizeof(ControlMessage))};
        _w = {std::make_unique<Worker>(_ctx, 0), std::make_unique<Worker>(_ctx, 1)};
    }
    ~TwoWorkers() {
        _w = {};
        for (rte_ring* r : _rings) {
            rte_ring_free(r);
        }
    }
    // Runs a frame on worker `at`; a handoff is followed to the other
    // worker. Returns the frame sent (or nullptr) and which worker sent it.
    std::pair<rte_mbuf*, int> run_on(uint16_t at, rte_mbuf* in, uint64_t now) {
        _w[at]->process_burst(std::span<rte_mbuf* const>(&in, 1), now, false);
        auto out = _w[at]->take_tx();
        if (!out.empty()) {
            return {out[0], at};
        }
        const uint16_t to = 1 - at;
        void* handed = nullptr;
        if (rte_ring_dequeue(_ctx.handoff[at * 2 + to], &handed) != 0) {
            return {nullptr, -1};
        }
        rte_mbuf* m = static_cast<rte_mbuf*>(handed);
        _w[to]->process_burst(std::span<rte_mbuf* const>(&m, 1), now, true);
        out = _w[to]->take_tx();
        return {out.empty() ? nullptr : out[0], out.empty() ? -1 : to};
    }

private:
    rte_ring* ring(const std::string& name, unsigned esize) {
        rte_ring* r = rte_ring_create_elem(name.c_str(), esize, 64, SOCKET_ID_ANY,
                                           RING_F_SP_ENQ | RING_F_SC_DEQ);
        EXPECT_NE(r, nullptr);
        _rings.push_back(r);
        return r;
    }
    WorkerContext& _ctx;
    std::vector<rte_ring*> _rings;
    std::array<std::unique_ptr<Worker>, 2> _w;
};

class Dataplane : public ::testing::TestWithParam<NatMode> {
protected:
    void SetUp() override {
        size_t size = rte_rcu_qsbr_get_memsize(1);
        _qsbr = static_cast<rte_rcu_qsbr*>(std::aligned_alloc(64, (size + 63) / 64 * 64));
        ASSERT_EQ(rte_rcu_qsbr_init(_qsbr, 1), 0);
        rte_rcu_qsbr_thread_register(_qsbr, 0);
        rte_rcu_qsbr_thread_online(_qsbr, 0);
        // Two traffic-counter lanes: one test runs two workers.
        auto table = ServiceTable::create(
            _qsbr, ServiceTableOptions{.max_vips = 64, .stats_lanes = 2, .max_reply_keys = 64});
        ASSERT_TRUE(table);
        _table = std::move(*table);
        ASSERT_TRUE(_table->upsert(nginx_service({"10.99.0.11", "10.99.0.12"}), {}));
        std::vector<std::pair<uint32_t, MacAddr>> neighbours = {{be("10.99.0.2"), kClientMac},
                                                                {be("10.99.0.11"), kPod1Mac},
                                                                {be("10.99.0.12"), kPod2Mac},
                                                                {be("10.99.0.254"), kRouterMac}};
        _view = std::make_unique<NeighbourView>(neighbours);
        _published.store(_view.get());
        std::string name = "to_control_" + std::to_string(GetParam() == NatMode::nat);
        _to_control = rte_ring_create_elem(name.c_str(), sizeof(ControlMessage), 64, SOCKET_ID_ANY,
                                           RING_F_SP_ENQ | RING_F_SC_DEQ);
        ASSERT_NE(_to_control, nullptr);

        _ctx.workers = 1;
        _ctx.mac = kGwMac;
        _ctx.address_be = be("10.99.0.1");
        _ctx.subnet_mask_be = be("255.255.255.0");
        _ctx.gateway_be = be("10.99.0.254");
        _ctx.service_net_be = be("10.96.0.0");
        _ctx.service_mask_be = be("255.255.0.0");
        _ctx.mode = GetParam();
        _ctx.snat_be = {be("10.99.0.1")};
        _ctx.conntrack.max_flows = 1024;
        _ctx.table = _table.get();
        _ctx.qsbr = _qsbr;
        _ctx.neighbours = &_published;
        _ctx.pool = g_pool;
        _ctx.to_control = {_to_control};
        _ctx.tsc_hz = kHz;
        _worker = std::make_unique<Worker>(_ctx, 0);
    }
    void TearDown() override {
        _worker.reset();
        rte_rcu_qsbr_thread_offline(_qsbr, 0);
        _table.reset();
        rte_ring_free(_to_control);
        std::free(_qsbr);
    }

    // One frame in; the output frame (or nullptr) and the drop reason seen.
    void run(const Step& step) {
        SCOPED_TRACE(step.description);
        // A step with neither would only say "nothing was dropped".
        ASSERT_TRUE(step.drop || step.check)
            << "a step must name a drop reason or check its output";
        if (step.before) {
            step.before();
        }
        auto drops_before = snapshot_drops();
        rte_mbuf* in = step.input();
        _now += kHz / 1000;
        _worker->process_burst(std::span<rte_mbuf* const>(&in, 1), _now, false);
        rte_rcu_qsbr_quiescent(_qsbr, 0);
        std::vector<rte_mbuf*> out = _worker->take_tx();
        auto drops_after = snapshot_drops();
        if (step.drop) {
            // Rejects count their reason and still answer (check set).
            EXPECT_EQ(out.empty(), step.check == nullptr);
            EXPECT_EQ(drops_after[size_t(*step.drop)] - drops_before[size_t(*step.drop)], 1u)
                << "expected drop " << kDropReasonNames[size_t(*step.drop)];
        } else {
            EXPECT_EQ(drops_after, drops_before) << "unexpected drop";
        }
        if (step.check) {
            ASSERT_EQ(out.size(), 1u);
            Out o = inspect(out[0]);
            EXPECT_TRUE(o.checksums_ok);
            step.check(o);
        }
        for (rte_mbuf* m : out) {
            rte_pktmbuf_free(m);
        }
    }
    // The steps in order, up to the first that fails fatally.
    void run_steps(std::span<const Step> steps) {
        for (const Step& step : steps) {
            run(step);
            if (HasFatalFailure()) {
                return;
            }
        }
    }
    // One frame through `w`; what it sent (at most one frame), checked.
    std::optional<Out> through(Worker& w, rte_mbuf* in) {
        _now += kHz / 1000;
        w.process_burst(std::span<rte_mbuf* const>(&in, 1), _now, false);
        rte_rcu_qsbr_quiescent(_qsbr, 0);
        auto out = w.take_tx();
        EXPECT_LE(out.size(), 1u);
        std::optional<Out> o;
        if (!out.empty()) {
            o = inspect(out[0]);
            EXPECT_TRUE(o->checksums_ok);
        }
        for (rte_mbuf* m : out) {
            rte_pktmbuf_free(m);
        }
        return o;
    }
    // One TCP segment from the client (10.99.0.2:sport) to the ClusterIP's
    // port 80; the one frame it makes the worker send.
    Out send_to_vip(uint16_t sport, uint8_t flags) {
        std::optional<Out> o = through(*_worker, make_l4({.src = be("10.99.0.2"),
                                                          .dst = be("10.96.0.20"),
                                                          .sport = be16(sport),
                                                          .dport = be16(80),
                                                          .flags = flags}));
        EXPECT_TRUE(o) << "no frame out";
        return o.value_or(Out{});
    }
    // mynginx (.11, .12) with a health check on port 80, whose verdicts are
    // _health's (the backends in _probe_down are down), published.
    void publish_checked(AllDownPolicy policy = ServicePortConfig{}.all_down,
                         SessionAffinity affinity = SessionAffinity::none) {
        ServiceConfig s = nginx_service({"10.99.0.11", "10.99.0.12"});
        s.ports[0].health_check = HealthCheckConfig{};
        s.ports[0].all_down = policy;
        s.session_affinity = affinity;
        ASSERT_TRUE(_table->upsert(s, {}));
        rte_rcu_qsbr_quiescent(_qsbr, 0);
    }
    std::vector<uint64_t> snapshot_drops() {
        std::vector<uint64_t> v;
        for (size_t i = 0; i < kDropReasonNames.size(); ++i) {
            v.push_back(_worker->counters().get(static_cast<DropReason>(i)));
        }
        return v;
    }

    // Offers `count` new TCP connections to the ClusterIP in bursts of 32,
    // one burst per millisecond (client i: 10.1.0.(i / 50000), port
    // 1024 + i % 50000). Every transmitted frame goes to `on_tx`, which
    // frees it; `after_burst` runs after each burst.
    void offer_new_flows(uint32_t count, const std::function<void(rte_mbuf*)>& on_tx,
                         const std::function<void()>& after_burst = {}) {
        for (uint32_t base = 0; base < count; base += 32) {
            std::array<rte_mbuf*, 32> burst;
            const uint32_t n = std::min<uint32_t>(32, count - base);
            for (uint32_t j = 0; j < n; ++j) {
                const uint32_t i = base + j;
                burst[j] = make_l4({.src = htonl(0x0a010000 + i / 50000),
                                    .dst = be("10.96.0.20"),
                                    .sport = be16(static_cast<uint16_t>(1024 + i % 50000)),
                                    .dport = be16(80)});
            }
            _now += kHz / 1000;
            _worker->process_burst(std::span<rte_mbuf* const>(burst.data(), n), _now, false);
            for (rte_mbuf* m : _worker->take_tx()) {
                on_tx(m);
            }
            if (after_burst) {
                after_burst();
            }
        }
    }

    rte_rcu_qsbr* _qsbr = nullptr;
    std::unique_ptr<ServiceTable> _table;
    std::unique_ptr<NeighbourView> _view;
    std::atomic<const NeighbourView*> _published{nullptr};
    rte_ring* _to_control = nullptr;
    WorkerContext _ctx;
    std::unique_ptr<Worker> _worker;
    uint64_t _now = 10 * kHz;
    // The health tests' probe verdicts: the backends (ip_be) in
    // _probe_down are down (set_health(&_health) to use them).
    std::set<uint32_t> _probe_down;
    HealthSource _health{[this](Ipv4 ip, uint16_t, const HealthCheckConfig&) {
        return !_probe_down.contains(htonl(ip.value));
    }};
};

TEST_P(Dataplane, BurstTable) {
    const bool fullnat = GetParam() == NatMode::fullnat;
    const uint32_t client = be("10.99.0.2"), vip = be("10.96.0.20"), gw = be("10.99.0.1");
    // Filled by the first step: where the connection went.
    uint32_t backend = 0;
    uint16_t snat_port = 0;
    auto syn = [&](uint16_t sport) {
        return [=] {
            return make_l4({.src = client, .dst = vip, .sport = be16(sport), .dport = be16(80)});
        };
    };
    auto reply_from = [&](uint8_t flags) {
        return [&, flags] {
            return make_l4({.src = backend,
                            .dst = fullnat ? gw : client,
                            .sport = be16(8080),
                            .dport = fullnat ? snat_port : be16(40000),
                            .flags = flags,
                            .src_mac = backend == be("10.99.0.11") ? kPod1Mac : kPod2Mac});
        };
    };
    std::vector<Step> steps = {
        {"SYN to VIP:80 creates a flow, DNAT to a backend:8080 (+SNAT in fullnat)", syn(40000),
         std::nullopt,
         [&](const Out& o) {
             backend = o.p.key.dst_ip;
             EXPECT_TRUE(backend == be("10.99.0.11") || backend == be("10.99.0.12"));
             EXPECT_EQ(o.p.key.dst_port, be16(8080));
             EXPECT_EQ(o.p.ttl, 63);
             EXPECT_EQ(o.src_mac, kGwMac);
             EXPECT_EQ(o.dst_mac, backend == be("10.99.0.11") ? kPod1Mac : kPod2Mac);
             if (fullnat) {
                 EXPECT_EQ(o.p.key.src_ip, gw);
                 EXPECT_GE(ntohs(o.p.key.src_port), 1024);
                 snat_port = o.p.key.src_port;
             } else {
                 EXPECT_EQ(o.p.key.src_ip, client);
                 EXPECT_EQ(o.p.key.src_port, be16(40000));
             }
         }},
        {"SYN-ACK from the backend is reverse-translated to VIP:80 -> client",
         reply_from(tcp_flag::syn | tcp_flag::ack), std::nullopt,
         [&](const Out& o) {
             EXPECT_EQ(o.p.key.src_ip, vip);
             EXPECT_EQ(o.p.key.src_port, be16(80));
             EXPECT_EQ(o.p.key.dst_ip, client);
             EXPECT_EQ(o.p.key.dst_port, be16(40000));
             EXPECT_EQ(o.dst_mac, kClientMac);
         }},
        {"established packet keeps its backend after the ring changes (new backend added)",
         [&] {
             return make_l4({.src = client,
                             .dst = vip,
                             .sport = be16(40000),
                             .dport = be16(80),
                             .flags = tcp_flag::ack});
         },
         std::nullopt, [&](const Out& o) { EXPECT_EQ(o.p.key.dst_ip, backend); },
         [&] {
             ASSERT_TRUE(_table->upsert(
                 nginx_service({"10.99.0.11", "10.99.0.12", "10.99.0.13", "10.99.0.14"}), {}));
         }},
        {"deleted backend: its flow is cleared and the packet re-balanced to a live one",
         [&] {
             return make_l4({.src = client,
                             .dst = vip,
                             .sport = be16(40000),
                             .dport = be16(80),
                             .flags = tcp_flag::ack});
         },
         std::nullopt,
         [&](const Out& o) {
             EXPECT_NE(o.p.key.dst_ip, backend);
             EXPECT_EQ(o.p.key.dst_ip,
                       backend == be("10.99.0.11") ? be("10.99.0.12") : be("10.99.0.11"));
             EXPECT_EQ(_worker->counters().get(WorkerEvent::flow_rebalanced), 1u);
         },
         [&] {
             const char* keep = backend == be("10.99.0.11") ? "10.99.0.12" : "10.99.0.11";
             ASSERT_TRUE(_table->upsert(nginx_service({keep}), {}));
         }},
        {"TTL 1 toward a VIP is dropped",
         [&] {
             return make_l4(
                 {.src = client, .dst = vip, .sport = be16(40001), .dport = be16(80), .ttl = 1});
         },
         DropReason::ttl_expired, nullptr},
        {"TCP to an address that is not ours, not a VIP, not a flow is dropped",
         [&] {
             return make_l4(
                 {.src = client, .dst = be("10.99.0.50"), .sport = be16(40002), .dport = be16(80)});
         },
         DropReason::not_for_us, nullptr},
        {"TCP to a service-CIDR address without a live VIP:port gets a RST",
         [&] {
             return make_l4({.src = client, .dst = vip, .sport = be16(40003), .dport = be16(81)});
         },
         DropReason::no_service,
         [&](const Out& o) {
             EXPECT_EQ(o.p.key.proto, pkt::kProtoTcp);
             EXPECT_TRUE(o.p.tcp_flags & tcp_flag::rst);
             EXPECT_EQ(o.p.key.src_ip, vip);
             EXPECT_EQ(o.p.key.dst_ip, client);
             EXPECT_EQ(o.dst_mac, kClientMac);
         }},
        {"service without endpoints: TCP SYN gets a RST", syn(40004), DropReason::no_endpoint,
         [&](const Out& o) { EXPECT_TRUE(o.p.tcp_flags & tcp_flag::rst); },
         [&] { ASSERT_TRUE(_table->upsert(nginx_service({}), {})); }},
        {"service without endpoints: UDP gets ICMP port unreachable",
         [&] {
             return make_l4({.proto = pkt::kProtoUdp,
                             .src = client,
                             .dst = vip,
                             .sport = be16(5000),
                             .dport = be16(53)});
         },
         DropReason::no_endpoint,
         [&](const Out& o) {
             EXPECT_EQ(o.p.key.proto, pkt::kProtoIcmp);
             EXPECT_EQ(o.p.icmp_type, pkt::kIcmpDestUnreachable);
             EXPECT_EQ(o.p.icmp_code, pkt::kIcmpPortUnreachable);
             EXPECT_EQ(o.p.key.dst_ip, client);
         }},
        {"ARP request for a VIP is answered with our MAC",
         [&] { return make_arp_request(client, vip); }, std::nullopt,
         [&](const Out& o) {
             EXPECT_EQ(o.p.l3, pkt::L3::arp);
             EXPECT_EQ(o.p.arp_op, pkt::kArpOpReply);
             EXPECT_EQ(o.p.key.src_ip, vip);
             EXPECT_EQ(o.src_mac, kGwMac);
             EXPECT_EQ(o.dst_mac, kClientMac);
         }},
        {"ARP request for another host is ignored",
         [&] { return make_arp_request(client, be("10.99.0.77")); }, DropReason::arp_ignored,
         nullptr},
        {"ICMP echo to the port address is answered",
         [&] { return make_l4({.proto = pkt::kProtoIcmp, .src = client, .dst = gw}); },
         std::nullopt,
         [&](const Out& o) {
             EXPECT_EQ(o.p.icmp_type, pkt::kIcmpEchoReply);
             EXPECT_EQ(o.p.key.src_ip, gw);
             EXPECT_EQ(o.p.key.dst_ip, client);
             EXPECT_EQ(o.dst_mac, kClientMac);
         }},
        {"ICMP echo to a VIP is answered",
         [&] { return make_l4({.proto = pkt::kProtoIcmp, .src = client, .dst = vip}); },
         std::nullopt, [&](const Out& o) { EXPECT_EQ(o.p.key.src_ip, vip); }},
        {"our own frame looped back by the vdev is dropped",
         [&] {
             return make_l4({.src = client,
                             .dst = vip,
                             .sport = be16(40005),
                             .dport = be16(80),
                             .src_mac = kGwMac});
         },
         DropReason::own_frame, nullptr},
    };
    run_steps(steps);
}

TEST_P(Dataplane, UnresolvedNextHopIsHeldThenSentOrDropped) {
    ServiceConfig s = nginx_service({"10.99.0.99"});  // no MAC known
    ASSERT_TRUE(_table->upsert(s, {}));
    rte_mbuf* in = make_l4(
        {.src = be("10.99.0.2"), .dst = be("10.96.0.20"), .sport = be16(1), .dport = be16(80)});
    _worker->process_burst(std::span<rte_mbuf* const>(&in, 1), _now, false);
    EXPECT_TRUE(_worker->take_tx().empty());
    EXPECT_EQ(_worker->stats().held, 1u);
    ControlMessage msg{};
    ASSERT_EQ(rte_ring_dequeue_elem(_to_control, &msg, sizeof msg), 0);
    EXPECT_EQ(msg.kind, ControlMessage::resolve);
    EXPECT_EQ(msg.ip_be, be("10.99.0.99"));
    // The control thread resolves it: a new view is published.
    const MacAddr mac = {2, 0, 0, 0, 0, 0x99};
    std::vector<std::pair<uint32_t, MacAddr>> entries = {{be("10.99.0.99"), mac}};
    NeighbourView resolved(entries);
    _published.store(&resolved, std::memory_order_release);
    _worker->service_hold_queue(_now + 1000);
    auto out = _worker->take_tx();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(inspect(out[0]).dst_mac, mac);
    rte_pktmbuf_free(out[0]);

    // Held again for another host that never answers: dropped after the timeout.
    _published.store(_view.get(), std::memory_order_release);
    ASSERT_TRUE(_table->upsert(nginx_service({"10.99.0.98"}), {}));
    in = make_l4(
        {.src = be("10.99.0.2"), .dst = be("10.96.0.20"), .sport = be16(2), .dport = be16(80)});
    _worker->process_burst(std::span<rte_mbuf* const>(&in, 1), _now, false);
    _worker->service_hold_queue(_now + 2 * kHz);
    EXPECT_TRUE(_worker->take_tx().empty());
    EXPECT_EQ(_worker->stats().held, 0u);
    EXPECT_EQ(_worker->counters().get(DropReason::neighbour_timeout), 1u);
}

// ---- packet semantics (issue 7 §2) ----

std::vector<uint8_t> bytes_of(rte_mbuf* m) {
    const uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
    std::vector<uint8_t> v(f, f + m->data_len);
    rte_pktmbuf_free(m);
    return v;
}
// Applies `edit` to the frame of `m` (offsets from the IP header), then
// recomputes both checksums unless told not to.
rte_mbuf* edit(rte_mbuf* m, const std::function<void(uint8_t* ip)>& fn, bool fix = true) {
    uint8_t* ip = rte_pktmbuf_mtod(m, uint8_t*) + 14;
    fn(ip);
    if (fix) {
        pkt::fill_checksums(ip);
    }
    return m;
}
// The same datagram with `n` bytes of NOP options after the IP header.
rte_mbuf* with_ip_options(rte_mbuf* m, size_t n) {
    uint8_t* ip = rte_pktmbuf_mtod(m, uint8_t*) + 14;
    const size_t total = pkt::load_be16(ip + 2);
    std::memmove(ip + 20 + n, ip + 20, total - 20);
    std::memset(ip + 20, 1, n);
    ip[0] = static_cast<uint8_t>(0x40 | (20 + n) / 4);
    pkt::store_be16(ip + 2, static_cast<uint16_t>(total + n));
    pkt::fill_checksums(ip);
    m->data_len = static_cast<uint16_t>(std::max<size_t>(14 + total + n, 60));
    m->pkt_len = m->data_len;
    return m;
}
// An ICMP error from `src` to `dst` quoting the IP datagram of `quoted`
// (an Ethernet frame) with `l4_bytes` of its L4 header.
rte_mbuf* make_icmp_error(uint32_t src, uint32_t dst, uint8_t type, uint8_t code,
                          const std::vector<uint8_t>& quoted, size_t l4_bytes, MacAddr src_mac) {
    const uint8_t* qip = quoted.data() + 14;
    const size_t qihl = size_t{qip[0] & 0xfu} * 4;
    const size_t quote = qihl + l4_bytes;
    rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
    uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
    const size_t len = 14 + 20 + 8 + quote;
    std::memset(f, 0, std::max<size_t>(len, 60));
    std::memcpy(f, kGwMac.data(), 6);
    std::memcpy(f + 6, src_mac.data(), 6);
    f[12] = 0x08;
    uint8_t* ip = f + 14;
    ip[0] = 0x45;
    pkt::store_be16(ip + 2, static_cast<uint16_t>(20 + 8 + quote));
    ip[8] = 64;
    ip[9] = pkt::kProtoIcmp;
    pkt::store32(ip + 12, src);
    pkt::store32(ip + 16, dst);
    uint8_t* icmp = ip + 20;
    icmp[0] = type;
    icmp[1] = code;
    pkt::store_be16(icmp + 6, 1280);  // next-hop MTU (RFC 1191)
    std::memcpy(icmp + 8, qip, quote);
    pkt::fill_checksums(ip);
    m->data_len = static_cast<uint16_t>(std::max<size_t>(len, 60));
    m->pkt_len = m->data_len;
    return m;
}
struct Quote {
    pkt::Parsed ip;  // parse of the quoted IP header alone
    FlowKey key;
    bool ip_checksum_ok;
    uint16_t tcp_checksum;  // 0 when not quoted
};
Quote quote_of(const Out& o) {
    const uint8_t* f = o.frame;
    auto q = pkt::parse_icmp_quote(f, o.p);
    EXPECT_TRUE(q.has_value());
    Quote r{};
    if (q) {
        r.key = q->key;
        r.ip_checksum_ok = pkt::ipv4_header_checksum_ok(f + q->ip_offset);
        r.tcp_checksum = q->l4_length >= 18 ? pkt::load16(f + q->l4_offset + 16) : 0;
    }
    return r;
}

TEST_P(Dataplane, PacketSemanticsTable) {
    const bool fullnat = GetParam() == NatMode::fullnat;
    ASSERT_TRUE(_table->upsert(nginx_service({"10.99.0.11"}), {}));
    const uint32_t client = be("10.99.0.2"), vip = be("10.96.0.20"), gw = be("10.99.0.1");
    const uint32_t pod = be("10.99.0.11");
    auto syn = [&](uint16_t sport, uint8_t flags = tcp_flag::syn) {
        return make_l4(
            {.src = client, .dst = vip, .sport = be16(sport), .dport = be16(80), .flags = flags});
    };
    // A flow to quote: its forwarded SYN and the translated SYN-ACK.
    std::vector<uint8_t> forwarded, replied;
    uint16_t snat_port = 0;
    std::vector<Step> steps = {
        {"SYN opens the flow the ICMP cases quote", [&] { return syn(41000); }, std::nullopt,
         [&](const Out& o) { snat_port = o.p.key.src_port; }},
        {"truncated IPv4 header: malformed",
         [&] {
             rte_mbuf* m = syn(41001);
             m->data_len = m->pkt_len = 14 + 12;
             return m;
         },
         DropReason::malformed, nullptr},
        {"IHL 4 (< 5): malformed",
         [&] {
             return edit(
                 syn(41002), [](uint8_t* ip) { ip[0] = 0x44; }, false);
         },
         DropReason::malformed, nullptr},
        {"total length beyond the frame: malformed",
         [&] { return edit(syn(41003), [](uint8_t* ip) { pkt::store_be16(ip + 2, 1500); }); },
         DropReason::malformed, nullptr},
        {"wrong IP header checksum: counted drop, no flow",
         [&] {
             return edit(
                 syn(41004), [](uint8_t* ip) { ip[10] ^= 0x21; }, false);
         },
         DropReason::bad_ip_checksum, nullptr},
        {"IP options: accepted, forwarded with options kept and checksums right",
         [&] { return with_ip_options(syn(41005), 8); }, std::nullopt,
         [&](const Out& o) {
             EXPECT_EQ(o.p.l4_offset - o.p.l3_offset, 28);
             EXPECT_EQ(o.p.key.dst_ip, pod);
             EXPECT_EQ(o.p.key.dst_port, be16(8080));
         }},
        {"zero-length UDP payload (UDP length 8): forwarded",
         [&] {
             rte_mbuf* m = make_l4({.proto = pkt::kProtoUdp,
                                    .src = client,
                                    .dst = vip,
                                    .sport = be16(5001),
                                    .dport = be16(53)});
             return edit(m, [](uint8_t* ip) {
                 pkt::store_be16(ip + 2, 28);
                 pkt::store_be16(ip + 24, 8);
             });
         },
         std::nullopt,
         [&](const Out& o) {
             EXPECT_EQ(o.p.payload_length, 0);
             EXPECT_EQ(o.p.key.dst_port, be16(5353));
         }},
        {"UDP length 0: malformed",
         [&] {
             rte_mbuf* m = make_l4({.proto = pkt::kProtoUdp,
                                    .src = client,
                                    .dst = vip,
                                    .sport = be16(5002),
                                    .dport = be16(53)});
             return edit(m, [](uint8_t* ip) { pkt::store_be16(ip + 24, 0); });
         },
         DropReason::malformed, nullptr},
        {"802.1Q-tagged frame: counted drop",
         [&] {
             rte_mbuf* m = syn(41006);
             rte_pktmbuf_mtod(m, uint8_t*)[12] = 0x81;
             rte_pktmbuf_mtod(m, uint8_t*)[13] = 0x00;
             return m;
         },
         DropReason::vlan_tagged, nullptr},
        {"IPv4 in a broadcast frame: counted drop",
         [&] {
             rte_mbuf* m = syn(41007);
             std::memset(rte_pktmbuf_mtod(m, uint8_t*), 0xff, 6);
             return m;
         },
         DropReason::l2_multicast, nullptr},
        {"IPv4 in a multicast frame: counted drop",
         [&] {
             rte_mbuf* m = syn(41008);
             rte_pktmbuf_mtod(m, uint8_t*)[0] = 0x01;
             return m;
         },
         DropReason::l2_multicast, nullptr},
        {"multicast destination address: counted drop",
         [&] {
             return make_l4(
                 {.src = client, .dst = be("239.1.2.3"), .sport = be16(1), .dport = be16(80)});
         },
         DropReason::ip_multicast, nullptr},
        {"subnet broadcast destination address: counted drop",
         [&] {
             return make_l4(
                 {.src = client, .dst = be("10.99.0.255"), .sport = be16(1), .dport = be16(80)});
         },
         DropReason::ip_multicast, nullptr},
        {"SYN+FIN: counted drop, no flow",
         [&] { return syn(41009, tcp_flag::syn | tcp_flag::fin); }, DropReason::bad_tcp_flags,
         nullptr},
        {"NULL scan (no flags): counted drop", [&] { return syn(41010, 0); },
         DropReason::bad_tcp_flags, nullptr},
        {"XMAS scan (FIN+PSH+URG): counted drop",
         [&] { return syn(41011, tcp_flag::fin | tcp_flag::psh | tcp_flag::urg); },
         DropReason::bad_tcp_flags, nullptr},
        {"first fragment (MF): counted drop",
         [&] { return edit(syn(41012), [](uint8_t* ip) { pkt::store_be16(ip + 6, 0x2000); }); },
         DropReason::fragment, nullptr},
        {"later fragment (offset): counted drop",
         [&] { return edit(syn(41013), [](uint8_t* ip) { pkt::store_be16(ip + 6, 0x0010); }); },
         DropReason::fragment, nullptr},
        {"TTL 1 toward a VIP: counted drop (no Time Exceeded)",
         [&] {
             return make_l4(
                 {.src = client, .dst = vip, .sport = be16(41014), .dport = be16(80), .ttl = 1});
         },
         DropReason::ttl_expired, nullptr},
    };
    ASSERT_NO_FATAL_FAILURE(run_steps(steps));
    EXPECT_EQ(_worker->counters().get(WorkerEvent::flow_new), 3u) << "SYN, options, UDP only";

    // Capture the flow's translated frames for the ICMP cases.
    auto through = [&](rte_mbuf* in) {
        _worker->process_burst(std::span<rte_mbuf* const>(&in, 1), _now, false);
        auto out = _worker->take_tx();
        EXPECT_EQ(out.size(), 1u);
        return out.empty() ? std::vector<uint8_t>{} : bytes_of(out[0]);
    };
    forwarded = through(syn(41000));
    replied = through(make_l4({.src = pod,
                               .dst = fullnat ? gw : client,
                               .sport = be16(8080),
                               .dport = fullnat ? snat_port : be16(41000),
                               .flags = tcp_flag::syn | tcp_flag::ack,
                               .src_mac = kPod1Mac}));
    ASSERT_FALSE(forwarded.empty());
    ASSERT_FALSE(replied.empty());
    const uint32_t router = be("10.99.0.254");
    // What the client put in its SYN's TCP checksum (a quote about it must
    // carry that again once translated).
    const std::vector<uint8_t> client_syn = bytes_of(syn(41000));
    const uint16_t client_syn_checksum = pkt::load16(client_syn.data() + 14 + 20 + 16);

    std::vector<Step> icmp = {
        {"frag needed from the backend side quoting 8 bytes of TCP (katran#159): to the client, "
         "as about its own packet to the VIP",
         [&] {
             return make_icmp_error(router, fullnat ? gw : client, 3, 4, forwarded, 8, kRouterMac);
         },
         std::nullopt,
         [&](const Out& o) {
             EXPECT_EQ(o.p.icmp_type, 3);
             EXPECT_EQ(o.p.icmp_code, 4);
             EXPECT_EQ(o.p.key.src_ip, vip);
             EXPECT_EQ(o.p.key.dst_ip, client);
             EXPECT_EQ(o.dst_mac, kClientMac);
             EXPECT_EQ(o.p.ttl, 63);
         }},
        {"frag needed quoting the full TCP header: to the client, the quote's IP and TCP "
         "checksums are those of the client's own packet again",
         [&] {
             return make_icmp_error(router, fullnat ? gw : client, 3, 4, forwarded, 20, kRouterMac);
         },
         std::nullopt,
         [&](const Out& o) {
             EXPECT_EQ(o.p.key.dst_ip, client);
             const Quote q = quote_of(o);
             EXPECT_TRUE(q.ip_checksum_ok);
             EXPECT_EQ(q.key.src_ip, client);
             EXPECT_EQ(q.key.src_port, be16(41000));
             EXPECT_EQ(q.key.dst_ip, vip);
             EXPECT_EQ(q.tcp_checksum, client_syn_checksum);
         }},
        {"port unreachable from the client quoting our reply: to the backend, about its packet",
         [&] { return make_icmp_error(client, vip, 3, 3, replied, 20, kClientMac); }, std::nullopt,
         [&](const Out& o) {
             EXPECT_EQ(o.p.key.dst_ip, pod);
             EXPECT_EQ(o.p.key.src_ip, fullnat ? gw : client);
             EXPECT_EQ(o.dst_mac, kPod1Mac);
         }},
        {"time exceeded quoting a flow nobody tracks: counted drop",
         [&] {
             std::vector<uint8_t> other = forwarded;
             other[14 + 20] ^= 0x40;  // another source port
             return make_icmp_error(router, fullnat ? gw : client, 11, 0, other, 8, kRouterMac);
         },
         DropReason::icmp_error_untracked, nullptr},
    };
    run_steps(icmp);
}

// The quoted datagram after translation, checked field by field.
TEST_P(Dataplane, IcmpErrorQuoteIsTranslatedBothWays) {
    const bool fullnat = GetParam() == NatMode::fullnat;
    ASSERT_TRUE(_table->upsert(nginx_service({"10.99.0.11"}), {}));
    const uint32_t client = be("10.99.0.2"), vip = be("10.96.0.20"), gw = be("10.99.0.1");
    const uint32_t pod = be("10.99.0.11");
    auto once = [&](rte_mbuf* in) {
        _worker->process_burst(std::span<rte_mbuf* const>(&in, 1), _now, false);
        auto out = _worker->take_tx();
        EXPECT_EQ(out.size(), 1u);
        return out.empty() ? nullptr : out[0];
    };
    // The client's original segment (what it will expect to see quoted).
    rte_mbuf* syn_in =
        make_l4({.src = client, .dst = vip, .sport = be16(42000), .dport = be16(80)});
    const std::vector<uint8_t> original(rte_pktmbuf_mtod(syn_in, uint8_t*),
                                        rte_pktmbuf_mtod(syn_in, uint8_t*) + syn_in->data_len);
    std::vector<uint8_t> forwarded = bytes_of(once(syn_in));
    ASSERT_FALSE(forwarded.empty());
    for (size_t l4_bytes : {size_t{8}, size_t{20}}) {
        SCOPED_TRACE("quoted L4 bytes: " + std::to_string(l4_bytes));
        rte_mbuf* out = once(make_icmp_error(be("10.99.0.254"), fullnat ? gw : client, 3, 4,
                                             forwarded, l4_bytes, kRouterMac));
        ASSERT_NE(out, nullptr);
        Out o = inspect(out);
        EXPECT_TRUE(o.checksums_ok) << "outer IP and ICMP checksums";
        Quote q = quote_of(o);
        EXPECT_TRUE(q.ip_checksum_ok);
        EXPECT_EQ(q.key.src_ip, client);
        EXPECT_EQ(q.key.src_port, be16(42000));
        EXPECT_EQ(q.key.dst_ip, vip);
        EXPECT_EQ(q.key.dst_port, be16(80));
        if (l4_bytes >= 18) {
            // Exactly the client's own TCP checksum: the translation undid ours.
            EXPECT_EQ(q.tcp_checksum, pkt::load16(original.data() + 14 + 20 + 16));
        }
        rte_pktmbuf_free(out);
    }
    EXPECT_EQ(_worker->counters().get(WorkerEvent::icmp_error_translated), 2u);
    (void)pod;
}

// With two workers, an ICMP error reaches the flow's owner whichever worker
// received it (the owner is computed from the quoted datagram), and the
// owner translates it.
TEST_P(Dataplane, IcmpErrorGoesToTheFlowOwner) {
    const bool fullnat = GetParam() == NatMode::fullnat;
    ASSERT_TRUE(_table->upsert(nginx_service({"10.99.0.11"}), {}));
    _worker.reset();
    TwoWorkers two(_ctx, _to_control, "icmp" + std::to_string(fullnat));
    auto run_on = [&](uint16_t at, rte_mbuf* in) { return two.run_on(at, in, _now); };
    const uint32_t client = be("10.99.0.2"), vip = be("10.96.0.20"), gw = be("10.99.0.1");
    const uint32_t pod = be("10.99.0.11");
    for (uint16_t sport = 43000; sport < 43004; ++sport) {
        SCOPED_TRACE("client port " + std::to_string(sport));
        auto [fwd, owner] = run_on(
            0, make_l4({.src = client, .dst = vip, .sport = be16(sport), .dport = be16(80)}));
        ASSERT_NE(fwd, nullptr);
        std::vector<uint8_t> forwarded = bytes_of(fwd);
        const uint16_t snat_port = pkt::parse(forwarded.data(), forwarded.size()).key.src_port;
        rte_mbuf* rep = nullptr;
        int rep_at = -1;
        std::tie(rep, rep_at) = run_on(0, make_l4({.src = pod,
                                                   .dst = fullnat ? gw : client,
                                                   .sport = be16(8080),
                                                   .dport = fullnat ? snat_port : be16(sport),
                                                   .flags = tcp_flag::syn | tcp_flag::ack,
                                                   .src_mac = kPod1Mac}));
        ASSERT_NE(rep, nullptr);
        EXPECT_EQ(rep_at, owner) << "both directions on one worker";
        std::vector<uint8_t> replied = bytes_of(rep);
        for (uint16_t at : {uint16_t{0}, uint16_t{1}}) {
            auto [to_client, by] =
                run_on(at, make_icmp_error(be("10.99.0.254"), fullnat ? gw : client, 3, 4,
                                           forwarded, 8, kRouterMac));
            ASSERT_NE(to_client, nullptr) << "received on worker " << at;
            EXPECT_EQ(by, owner);
            EXPECT_EQ(inspect(to_client).p.key.dst_ip, client);
            rte_pktmbuf_free(to_client);
            auto [to_pod, by2] =
                run_on(at, make_icmp_error(client, vip, 3, 3, replied, 8, kClientMac));
            ASSERT_NE(to_pod, nullptr) << "received on worker " << at;
            EXPECT_EQ(by2, owner);
            EXPECT_EQ(inspect(to_pod).p.key.dst_ip, pod);
            rte_pktmbuf_free(to_pod);
        }
    }
}

// Issue 10 §2: ClientIP affinity holds across workers. A client's
// connections are spread over the workers by their ports; after a ring
// change each must still go to the backend the client was given first,
// whichever worker gave it.
TEST_P(Dataplane, ClientIpAffinityHoldsAcrossWorkersAfterARingChange) {
    const bool fullnat = GetParam() == NatMode::fullnat;
    ServiceConfig svc = nginx_service({"10.99.0.11"});
    svc.session_affinity = SessionAffinity::client_ip;
    ASSERT_TRUE(_table->upsert(svc, {}));
    _worker.reset();
    AffinitySet affinity(2, 1024);
    _ctx.affinity = &affinity;
    TwoWorkers two(_ctx, _to_control, "aff" + std::to_string(fullnat));
    const uint32_t vip = be("10.96.0.20"), pod1 = be("10.99.0.11");
    auto connect = [&](uint32_t client, uint16_t sport) {
        return two.run_on(
            0, make_l4({.src = client, .dst = vip, .sport = be16(sport), .dport = be16(80)}), _now);
    };
    constexpr uint32_t kClients = 8;
    for (uint32_t c = 0; c < kClients; ++c) {
        auto [out, by] = connect(htonl(0x0a010001 + c), 40000);
        ASSERT_NE(out, nullptr);
        EXPECT_EQ(inspect(out).p.key.dst_ip, pod1);
        rte_pktmbuf_free(out);
    }
    // A second pod: the ring now sends about half of these clients to it.
    svc.endpoints.push_back(EndpointConfig{.ip = *Ipv4::parse("10.99.0.12")});
    ASSERT_TRUE(_table->upsert(svc, {}));
    _now += kHz;
    std::array<int, 2> by_worker{};
    for (uint32_t c = 0; c < kClients; ++c) {
        for (uint16_t sport = 40001; sport < 40009; ++sport) {
            SCOPED_TRACE("client " + std::to_string(c) + " port " + std::to_string(sport));
            auto [out, by] = connect(htonl(0x0a010001 + c), sport);
            ASSERT_NE(out, nullptr);
            ASSERT_GE(by, 0);
            ++by_worker[by];
            EXPECT_EQ(inspect(out).p.key.dst_ip, pod1) << "on worker " << by;
            rte_pktmbuf_free(out);
        }
    }
    EXPECT_GT(by_worker[0], 0);
    EXPECT_GT(by_worker[1], 0) << "both workers opened some of the connections";
    // A client never seen before follows the new ring on either worker.
    std::array<int, 2> new_pods{};
    for (uint32_t c = 100; c < 132; ++c) {
        auto [out, by] = connect(htonl(0x0a010001 + c), 40000);
        ASSERT_NE(out, nullptr);
        ++new_pods[inspect(out).p.key.dst_ip == pod1 ? 0 : 1];
        rte_pktmbuf_free(out);
    }
    EXPECT_GT(new_pods[1], 0) << "the ring change is live";
}

// perf/RESULTS.md finding 1 (fullnat refused flows as flow_table_full far
// below capacity): the SNAT probe built the reply key without its protocol,
// so it never saw a taken port; once the port cursor wrapped, try_insert hit
// the live reply key and the refusal was counted as a full table. One
// backend, one SNAT address: the reply-key space is exactly the 64512 ports
// 1024..65535, so every port must be used before anything is refused, and
// then the refusal must say snat_exhausted.
TEST_P(Dataplane, SnatPortSpaceIsUsedUpBeforeRefusing) {
    const bool fullnat = GetParam() == NatMode::fullnat;
    _worker.reset();
    _ctx.conntrack.max_flows = 1 << 17;
    _worker = std::make_unique<Worker>(_ctx, 0);
    ASSERT_TRUE(_table->upsert(nginx_service({"10.99.0.11"}), {}));
    constexpr uint32_t kPorts = 65536 - 1024;
    constexpr uint32_t kFlows = kPorts + 3000;
    std::vector<bool> port_used(65536, false);
    uint32_t duplicates = 0;
    offer_new_flows(kFlows, [&](rte_mbuf* m) {
        const uint16_t port = ntohs(inspect(m).p.key.src_port);
        duplicates += fullnat && port_used[port];
        port_used[port] = true;
        rte_pktmbuf_free(m);
    });
    const WorkerCounters& c = _worker->counters();
    EXPECT_EQ(c.get(DropReason::flow_table_full), 0u);
    EXPECT_EQ(c.get(DropReason::flow_conflict), 0u);
    EXPECT_EQ(duplicates, 0u) << "two live flows got one SNAT port toward one backend";
    if (fullnat) {
        EXPECT_EQ(c.get(WorkerEvent::flow_new), kPorts);
        EXPECT_EQ(c.get(DropReason::snat_exhausted), kFlows - kPorts);
    } else {
        EXPECT_EQ(c.get(WorkerEvent::flow_new), kFlows);
    }
}

// RESULTS.md (after b525beb): with 64 or 100 backends, SNAT cursors of
// backends sharing a cursor slot restarted at a fixed port on every switch
// and re-probed their own used ports until the attempts ran out. 100
// backends x ~600 flows each (1% of one SNAT address's ports): every flow
// must open.
TEST_P(Dataplane, ManyBackendsOpenEveryFlow) {
    _worker.reset();
    _ctx.conntrack.max_flows = 1 << 17;
    _worker = std::make_unique<Worker>(_ctx, 0);
    std::vector<std::string> ips;
    for (int b = 0; b < 100; ++b) {
        ips.push_back("10.99.0." + std::to_string(100 + b));
    }
    std::vector<const char*> endpoints;
    for (const auto& ip : ips) {
        endpoints.push_back(ip.c_str());
    }
    ASSERT_TRUE(_table->upsert(nginx_service(endpoints), {}));
    constexpr uint32_t kFlows = 60000;
    offer_new_flows(kFlows, rte_pktmbuf_free, [&] {
        // Backends' MACs are unknown here: drain what waits for them.
        _worker->service_hold_queue(_now + 2 * kHz);
        ControlMessage msg;
        while (rte_ring_dequeue_elem(_to_control, &msg, sizeof msg) == 0) {
        }
    });
    const WorkerCounters& c = _worker->counters();
    EXPECT_EQ(c.get(DropReason::snat_exhausted), 0u);
    EXPECT_EQ(c.get(DropReason::flow_table_full), 0u);
    EXPECT_EQ(c.get(DropReason::flow_conflict), 0u);
    EXPECT_EQ(c.get(WorkerEvent::flow_new), kFlows);
}

// A SYN retransmitted within one burst: the second copy must find the flow
// the first one opened (bulk lookup results are per burst), not a conflict.
TEST_P(Dataplane, SameNewFlowTwiceInOneBurst) {
    std::array<rte_mbuf*, 2> burst;
    for (auto& m : burst) {
        m = make_l4(
            {.src = be("10.99.0.2"), .dst = be("10.96.0.20"), .sport = be16(7), .dport = be16(80)});
    }
    _worker->process_burst(std::span<rte_mbuf* const>(burst.data(), 2), _now, false);
    auto out = _worker->take_tx();
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(inspect(out[0]).p.key, inspect(out[1]).p.key) << "same translation";
    EXPECT_EQ(_worker->counters().get(WorkerEvent::flow_new), 1u);
    EXPECT_EQ(_worker->counters().get(WorkerEvent::flow_hit), 1u);
    for (rte_mbuf* m : out) {
        rte_pktmbuf_free(m);
    }
}

// Health checks (issue 14): a probe-down backend gets no new flow on its
// port, its established flow keeps going; all down = fail_open forwards
// (counted), reject answers RST (counted as all_down); ClientIP affinity
// does not pin a client to a probe-down backend.
TEST_P(Dataplane, HealthChecksSteerNewFlowsOnly) {
    _table->set_health(&_health);
    publish_checked(AllDownPolicy::fail_open);
    // An established flow to .11, opened while it was healthy.
    uint16_t to_11 = 0;
    for (uint16_t sport = 20000; sport < 20100 && to_11 == 0; ++sport) {
        if (send_to_vip(sport, tcp_flag::syn).p.key.dst_ip == be("10.99.0.11")) {
            to_11 = sport;
        }
    }
    ASSERT_NE(to_11, 0);

    _probe_down = {be("10.99.0.11")};
    publish_checked(AllDownPolicy::fail_open);
    for (uint16_t sport = 30000; sport < 30064; ++sport) {
        ASSERT_EQ(send_to_vip(sport, tcp_flag::syn).p.key.dst_ip, be("10.99.0.12")) << sport;
    }
    EXPECT_EQ(send_to_vip(to_11, tcp_flag::ack).p.key.dst_ip, be("10.99.0.11")) << "flow kept";
    EXPECT_EQ(_worker->counters().get(WorkerEvent::flow_rebalanced), 0u);

    _probe_down = {be("10.99.0.11"), be("10.99.0.12")};
    publish_checked(AllDownPolicy::fail_open);
    const Out open = send_to_vip(31000, tcp_flag::syn);
    EXPECT_FALSE(open.p.tcp_flags & tcp_flag::rst);
    EXPECT_EQ(_worker->counters().get(WorkerEvent::all_down_forwarded), 1u);

    publish_checked(AllDownPolicy::reject);
    const uint64_t rejected = _worker->counters().get(DropReason::all_down);
    EXPECT_TRUE(send_to_vip(31001, tcp_flag::syn).p.tcp_flags & tcp_flag::rst);
    EXPECT_EQ(_worker->counters().get(DropReason::all_down), rejected + 1);
    EXPECT_EQ(_worker->counters().get(DropReason::no_endpoint), 0u);
    EXPECT_EQ(send_to_vip(to_11, tcp_flag::ack).p.key.dst_ip, be("10.99.0.11")) << "flow kept";

    // Affinity: pinned to .11 while healthy, moved when .11 goes down.
    _probe_down.clear();
    publish_checked(AllDownPolicy::fail_open, SessionAffinity::client_ip);
    const uint32_t pinned = send_to_vip(32000, tcp_flag::syn).p.key.dst_ip;
    _probe_down = {pinned};
    publish_checked(AllDownPolicy::fail_open, SessionAffinity::client_ip);
    EXPECT_NE(send_to_vip(32001, tcp_flag::syn).p.key.dst_ip, pinned);
    _table->set_health(nullptr);
}

// A client that reuses a finished connection's 5-tuple opens a new
// connection: it restarts on the same backend while that backend takes new
// flows, and is balanced again once it does not (probe-down here).
TEST_P(Dataplane, PortReuseOfAFinishedFlowSkipsABackendThatTakesNoNewFlows) {
    _table->set_health(&_health);
    publish_checked();
    uint16_t to_11 = 0;
    for (uint16_t sport = 20000; sport < 20100 && to_11 == 0; ++sport) {
        if (send_to_vip(sport, tcp_flag::syn).p.key.dst_ip == be("10.99.0.11")) {
            to_11 = sport;
        }
    }
    ASSERT_NE(to_11, 0);
    const auto reused = [&] { return _worker->counters().get(WorkerEvent::flow_reuse_rebalanced); };
    // Finished (client RST), reused while .11 is up: same backend.
    EXPECT_EQ(send_to_vip(to_11, tcp_flag::rst).p.key.dst_ip, be("10.99.0.11"));
    EXPECT_EQ(send_to_vip(to_11, tcp_flag::syn).p.key.dst_ip, be("10.99.0.11"));
    EXPECT_EQ(reused(), 0u);
    // .11 probe-down: a live flow keeps it, a reuse of a finished one does not.
    _probe_down = {be("10.99.0.11")};
    publish_checked();
    EXPECT_EQ(send_to_vip(to_11, tcp_flag::ack).p.key.dst_ip, be("10.99.0.11")) << "live flow kept";
    EXPECT_EQ(send_to_vip(to_11, tcp_flag::syn | tcp_flag::ack).p.key.dst_ip, be("10.99.0.11"))
        << "not a new connection";
    EXPECT_EQ(send_to_vip(to_11, tcp_flag::fin | tcp_flag::ack).p.key.dst_ip, be("10.99.0.11"));
    EXPECT_EQ(send_to_vip(to_11, tcp_flag::syn).p.key.dst_ip, be("10.99.0.12"))
        << "reuse re-picked";
    EXPECT_EQ(reused(), 1u);
    EXPECT_EQ(send_to_vip(to_11, tcp_flag::ack).p.key.dst_ip, be("10.99.0.12"))
        << "and stays there";
    _table->set_health(nullptr);
}

// The worker picks by the specified flow hash (net/flow_key.hpp): the
// backend of each new connection is the ring's pick of flow_hash(5-tuple),
// and the same golden picks as tests/unit/test_fleet.cpp hold for every
// build (-march native or x86-64): a fleet needs no shared flow state.
TEST_P(Dataplane, NewFlowsFollowTheSpecifiedHash) {
    auto svc = Service::build(nginx_service({"10.99.0.11", "10.99.0.12"}), {});
    ASSERT_TRUE(svc);
    std::string picked, expected;
    for (uint16_t i = 0; i < 24; ++i) {
        rte_mbuf* in = make_l4({.src = be("10.99.0.2"),
                                .dst = be("10.96.0.20"),
                                .sport = be16(static_cast<uint16_t>(41000 + i)),
                                .dport = be16(80)});
        const FlowKey key = pkt::parse(rte_pktmbuf_mtod(in, uint8_t*), in->data_len).key;
        expected += std::to_string(
            ntohl((*svc)->backends()[(*svc)->ring().pick(flow_hash(key))].ip_be) & 0xff);
        _now += kHz / 1000;
        _worker->process_burst(std::span<rte_mbuf* const>(&in, 1), _now, false);
        std::vector<rte_mbuf*> out = _worker->take_tx();
        ASSERT_EQ(out.size(), 1u);
        picked += std::to_string(ntohl(inspect(out[0]).p.key.dst_ip) & 0xff);
        rte_pktmbuf_free(out[0]);
        picked += " ";
        expected += " ";
    }
    EXPECT_EQ(picked, expected);
    EXPECT_EQ(picked, "11 12 11 11 11 12 12 12 12 11 11 12 11 11 11 12 11 11 12 12 11 12 12 12 ");
}

// A fleet (issue 13 §2): a second instance with the same table and none of
// the first one's state. nat: it translates the replies of the first one's
// connection from the service table, and picks the connection up
// mid-stream on the same backend when the client's packets move to it.
// fullnat owner redirect (issue 13 §2, dataplane/instance_owner.hpp): a new
// flow another member owns goes to it unchanged but for its MACs; a marked
// frame (from a peer's MAC), a flow with state here, or a dead owner's
// flow is handled here; an unresolved owner's MAC holds the frame.
TEST_P(Dataplane, FullnatRedirectsNewFlowsToTheirOwnerInstance) {
    if (GetParam() == NatMode::nat) {
        GTEST_SKIP() << "fullnat only: nat flows survive without redirect";
    }
    const MacAddr kPeerMac = {0x02, 0, 0, 0, 0, 0x03};
    const uint32_t client = be("10.99.0.2"), vip = be("10.96.0.20"), peer = be("10.99.0.3");
    auto member_set = [&](bool peer_live, bool peer_mac_known) {
        std::vector<MemberInfo> m(2);
        m[0].name = "g1";
        m[0].ip_be = be("10.99.0.1");
        m[0].mac = kGwMac;
        m[1].name = "g2";
        m[1].ip_be = peer;
        m[1].live = peer_live;
        if (peer_mac_known) {
            m[1].mac = kPeerMac;
        }
        auto set = MemberSet::build(m, 0, 0);
        EXPECT_TRUE(set.has_value());
        return std::make_unique<MemberSet>(std::move(*set));
    };
    std::unique_ptr<MemberSet> set = member_set(true, true);
    std::atomic<const MemberSet*> members{set.get()};
    _ctx.members = &members;
    std::vector<std::pair<uint32_t, MacAddr>> neighbours = {{client, kClientMac},
                                                            {be("10.99.0.11"), kPod1Mac},
                                                            {be("10.99.0.12"), kPod2Mac},
                                                            {peer, kPeerMac}};
    NeighbourView with_peer(neighbours);
    _published.store(&with_peer);

    // A client port of a flow each member owns.
    auto owner_of_port = [&](uint16_t sport) {
        FlowKey k{client, vip, be16(sport), be16(80), pkt::kProtoTcp};
        return set->owner(owner_hash(flow_hash(k)));
    };
    // The first client port from `from` whose flow the peer owns in `s`.
    auto peer_port = [&](const MemberSet& s, uint16_t from) {
        uint16_t sport = from;
        while (s.owner(owner_hash(
                   flow_hash(FlowKey{client, vip, be16(sport), be16(80), pkt::kProtoTcp}))) != 1) {
            ++sport;
        }
        return sport;
    };
    uint16_t ours = 0, theirs = 0;
    for (uint16_t sport = 40000; ours == 0 || theirs == 0; ++sport) {
        (owner_of_port(sport) == 0 ? ours : theirs) = sport;
    }
    auto once = [&](uint16_t sport, uint8_t flags, const MacAddr& src_mac) -> std::optional<Out> {
        rte_mbuf* in = make_l4({.src = client,
                                .dst = vip,
                                .sport = be16(sport),
                                .dport = be16(80),
                                .flags = flags,
                                .src_mac = src_mac});
        return through(*_worker, in);
    };
    const auto redirected = [&] { return _worker->counters().get(WorkerEvent::redirected); };
    const auto received = [&] { return _worker->counters().get(WorkerEvent::redirect_in); };

    auto o = once(theirs, tcp_flag::syn, kRouterMac);
    ASSERT_TRUE(o) << "a peer's new flow is forwarded";
    EXPECT_EQ(o->dst_mac, kPeerMac);
    EXPECT_EQ(o->src_mac, kGwMac) << "our MAC: the mark";
    EXPECT_EQ(o->p.key.src_ip, client) << "unchanged: the owner translates";
    EXPECT_EQ(o->p.key.dst_ip, vip);
    EXPECT_EQ(o->p.key.src_port, be16(theirs));
    EXPECT_EQ(o->p.ttl, 64) << "the owner forwards it, not us";
    EXPECT_EQ(redirected(), 1u);
    EXPECT_EQ(_worker->stats().flows, 0u) << "no state for a redirected flow";

    o = once(ours, tcp_flag::syn, kRouterMac);
    ASSERT_TRUE(o) << "our own new flow is translated here";
    EXPECT_EQ(o->p.key.src_ip, be("10.99.0.1"));
    EXPECT_NE(o->p.key.dst_ip, vip);
    EXPECT_EQ(redirected(), 1u);

    o = once(theirs, tcp_flag::syn, kPeerMac);
    ASSERT_TRUE(o) << "a marked frame is handled here, whoever owns it";
    EXPECT_EQ(o->p.key.src_ip, be("10.99.0.1"));
    EXPECT_NE(o->p.key.dst_ip, vip);
    EXPECT_EQ(received(), 1u);
    EXPECT_EQ(redirected(), 1u);
    EXPECT_EQ(_worker->stats().flows, 2u);

    o = once(theirs, tcp_flag::ack, kRouterMac);
    ASSERT_TRUE(o) << "state here keeps the flow here (not redirected)";
    EXPECT_NE(o->p.key.dst_ip, vip);
    EXPECT_EQ(redirected(), 1u);

    // ICMP errors quoting a flow: from a router on the client's path, about
    // the VIP's reply (frag needed, RFC 1191). A flow the peer owns and we
    // have no state for goes to the peer unchanged, like its client frames;
    // marked (the peer sent it), or ours without state: untracked here.
    const uint32_t router = be("10.99.0.254");
    auto frag_needed = [&](uint16_t sport, const MacAddr& src_mac) -> std::optional<Out> {
        const std::vector<uint8_t> reply = bytes_of(make_l4({.src = vip,
                                                             .dst = client,
                                                             .sport = be16(80),
                                                             .dport = be16(sport),
                                                             .flags = tcp_flag::ack}));
        return through(*_worker, make_icmp_error(router, vip, 3, 4, reply, 20, src_mac));
    };
    const uint16_t theirs_quiet = peer_port(*set, theirs + 1);  // no frame of it seen here
    o = frag_needed(theirs_quiet, kRouterMac);
    ASSERT_TRUE(o) << "an error about a peer's flow goes to the peer";
    EXPECT_EQ(o->dst_mac, kPeerMac);
    EXPECT_EQ(o->src_mac, kGwMac);
    EXPECT_EQ(o->p.key.src_ip, router) << "unchanged: the owner translates";
    EXPECT_EQ(o->p.key.dst_ip, vip);
    EXPECT_EQ(redirected(), 2u);
    const uint64_t untracked = _worker->counters().get(DropReason::icmp_error_untracked);
    EXPECT_FALSE(frag_needed(theirs_quiet, kPeerMac)) << "marked: never redirected twice";
    uint16_t ours_quiet = ours + 1;
    while (owner_of_port(ours_quiet) != 0) {
        ++ours_quiet;
    }
    EXPECT_FALSE(frag_needed(ours_quiet, kRouterMac)) << "ours, no state: nothing to tell";
    EXPECT_EQ(_worker->counters().get(DropReason::icmp_error_untracked), untracked + 2);
    EXPECT_EQ(redirected(), 2u);
    o = frag_needed(theirs, kRouterMac);
    ASSERT_TRUE(o) << "state here (the marked SYN above): translated here";
    EXPECT_EQ(o->p.key.src_ip, be("10.99.0.1")) << "to the backend, from our SNAT address";
    EXPECT_NE(o->p.key.dst_ip, vip);
    EXPECT_EQ(redirected(), 2u);

    // The owner dead: its flows are opened by the live ring's owner (us).
    set = member_set(false, true);
    members.store(set.get());
    const uint16_t theirs2 = peer_port(*member_set(true, true), 50000);  // owned while live
    o = once(theirs2, tcp_flag::syn, kRouterMac);
    ASSERT_TRUE(o) << "a dead owner's new flow is opened here";
    EXPECT_NE(o->p.key.dst_ip, vip);
    EXPECT_EQ(redirected(), 2u);

    // The owner's MAC not resolved yet: held, and asked for.
    set = member_set(true, false);
    members.store(set.get());
    NeighbourView without_peer(std::span(neighbours.data(), neighbours.size() - 1));
    _published.store(&without_peer);
    const uint64_t held = _worker->counters().get(WorkerEvent::held);
    const uint16_t theirs3 = peer_port(*set, 60000);
    EXPECT_FALSE(once(theirs3, tcp_flag::syn, kRouterMac));
    EXPECT_EQ(redirected(), 3u);
    EXPECT_EQ(_worker->counters().get(WorkerEvent::held), held + 1);
    _worker.reset();  // frees the held frames while the views live
    _published.store(_view.get());
    _ctx.members = nullptr;
}

TEST_P(Dataplane, AnotherInstanceTranslatesRepliesAndPicksUpMidStream) {
    if (GetParam() == NatMode::fullnat) {
        GTEST_SKIP() << "nat only: a fullnat reply goes to the SNAT address's owner";
    }
    const uint32_t client = be("10.99.0.2"), vip = be("10.96.0.20");
    Worker other(_ctx, 0);
    auto on = [&](Worker& w, rte_mbuf* in) { return through(w, in); };
    auto from_client = [&](uint16_t sport, uint8_t flags) {
        return make_l4(
            {.src = client, .dst = vip, .sport = be16(sport), .dport = be16(80), .flags = flags});
    };
    uint32_t backend = 0;
    auto from_backend = [&](uint16_t sport, uint16_t dport, uint8_t flags) {
        return make_l4({.src = backend,
                        .dst = client,
                        .sport = be16(sport),
                        .dport = be16(dport),
                        .flags = flags,
                        .src_mac = backend == be("10.99.0.11") ? kPod1Mac : kPod2Mac});
    };
    const auto stateless = [&] { return other.counters().get(WorkerEvent::reply_stateless); };

    auto o = on(*_worker, from_client(41000, tcp_flag::syn));
    ASSERT_TRUE(o);
    backend = o->p.key.dst_ip;

    o = on(other, from_backend(8080, 41000, tcp_flag::syn | tcp_flag::ack));
    ASSERT_TRUE(o) << "the SYN-ACK through the other instance";
    EXPECT_EQ(o->p.key.src_ip, vip);
    EXPECT_EQ(o->p.key.src_port, be16(80));
    EXPECT_EQ(o->p.key.dst_ip, client);
    EXPECT_EQ(o->p.key.dst_port, be16(41000));
    EXPECT_EQ(o->p.ttl, 63);
    EXPECT_EQ(o->dst_mac, kClientMac);
    EXPECT_EQ(stateless(), 1u);
    EXPECT_EQ(other.stats().flows, 0u) << "a reply opens no flow";

    o = on(other, from_client(41000, tcp_flag::ack));
    ASSERT_TRUE(o) << "the client's ACK moved to the other instance";
    EXPECT_EQ(o->p.key.dst_ip, backend) << "same backend: same table, same ring";
    EXPECT_EQ(o->p.key.dst_port, be16(8080));
    EXPECT_EQ(other.stats().flows, 1u);
    o = on(other, from_backend(8080, 41000, tcp_flag::ack));
    ASSERT_TRUE(o);
    EXPECT_EQ(o->p.key.src_ip, vip);
    EXPECT_EQ(other.counters().get(WorkerEvent::flow_reply), 1u) << "now the flow's";
    EXPECT_EQ(stateless(), 1u);

    EXPECT_FALSE(on(other, from_backend(9999, 41001, tcp_flag::ack)))
        << "a port no service targets";
    EXPECT_EQ(other.counters().get(DropReason::not_for_us), 1u);

    // The pods' 8080 behind a second VIP: which VIP answers is unknown
    // without the flow; with it, the flow says.
    ServiceConfig dup = nginx_service({"10.99.0.11", "10.99.0.12"});
    dup.name = "dup";
    dup.cluster_ip = *Ipv4::parse("10.96.0.21");
    ASSERT_TRUE(_table->upsert(dup, {}));
    EXPECT_FALSE(on(other, from_backend(8080, 41002, tcp_flag::ack)));
    EXPECT_EQ(other.counters().get(DropReason::reply_ambiguous), 1u);
    EXPECT_TRUE(on(other, from_backend(8080, 41000, tcp_flag::ack)));
    EXPECT_EQ(other.counters().get(WorkerEvent::flow_reply), 2u);
    EXPECT_EQ(stateless(), 1u);
}

// Load-balancer VIPs and externalIPs (issue 11 §2) beside the ClusterIP,
// and loadBalancerSourceRanges checked on new flows to the LB VIP only.
TEST_P(Dataplane, LoadBalancerAddressesAndSourceRanges) {
    const uint32_t near = be("10.99.0.2"), far = be("10.98.0.7");
    const uint32_t lb = be("192.0.2.5"), external = be("198.51.100.20"), cluster = be("10.96.0.20");
    auto lb_service = [](const char* range) {
        ServiceConfig s = nginx_service({"10.99.0.11", "10.99.0.12"});
        s.type = ServiceType::load_balancer;
        s.load_balancer_ips = {*Ipv4::parse("192.0.2.5")};
        s.external_ips = {*Ipv4::parse("198.51.100.20")};
        s.source_ranges = {*Ipv4Prefix::parse(range)};
        return s;
    };
    ASSERT_TRUE(_table->upsert(lb_service("10.99.0.0/30"), {}));
    auto syn = [](uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport = 80) {
        return [=] {
            return make_l4({.src = src, .dst = dst, .sport = be16(sport), .dport = be16(dport)});
        };
    };
    auto to_backend = [](const Out& o) {
        EXPECT_TRUE(o.p.key.dst_ip == be("10.99.0.11") || o.p.key.dst_ip == be("10.99.0.12"));
        EXPECT_EQ(o.p.key.dst_port, be16(8080));
    };
    const Step steps[] = {
        {"a client inside the ranges reaches the LB VIP", syn(near, lb, 1000), std::nullopt,
         to_backend},
        {"a client outside the ranges is dropped at the LB VIP", syn(far, lb, 1001),
         DropReason::source_range, nullptr},
        {"the same client reaches the ClusterIP (not filtered)", syn(far, cluster, 1002),
         std::nullopt, to_backend},
        {"and the external IP (not filtered)", syn(far, external, 1003), std::nullopt, to_backend},
        {"a port the LB VIP does not serve is refused with a RST", syn(near, lb, 1004, 81),
         DropReason::no_service,
         [&](const Out& o) {
             EXPECT_TRUE(o.p.tcp_flags & tcp_flag::rst);
             EXPECT_EQ(o.p.key.src_ip, lb);
         }},
        {"narrowed ranges: the open flow goes on",
         [&] {
             return make_l4({.src = near,
                             .dst = lb,
                             .sport = be16(1000),
                             .dport = be16(80),
                             .flags = tcp_flag::ack});
         },
         std::nullopt, to_backend,
         [&] { ASSERT_TRUE(_table->upsert(lb_service("172.16.0.0/12"), {})); }},
        {"narrowed ranges: a new flow from that client is dropped", syn(near, lb, 1005),
         DropReason::source_range, nullptr},
    };
    run_steps(steps);
}

// ---- DNS in the worker ----

constexpr const char* kDnsIp = "10.96.0.10";

// A standard query (RD set, one question, class IN), optionally with IP
// options in the header. `data_off` places the frame in the mbuf (to leave
// a given tailroom); 0 = default headroom.
rte_mbuf* make_dns_query(std::string_view name, uint16_t qtype, uint16_t id, size_t ip_options = 0,
                         std::optional<uint16_t> data_off = std::nullopt) {
    std::vector<uint8_t> q(12, 0);
    store_be16(q.data(), id);
    store_be16(q.data() + 2, dns::flag::rd);
    store_be16(q.data() + 4, 1);
    std::vector<uint8_t> wire = *dns::encode_name(name);
    q.insert(q.end(), wire.begin(), wire.end());
    q.resize(q.size() + 4);
    store_be16(q.data() + q.size() - 4, qtype);
    store_be16(q.data() + q.size() - 2, dns::kClassIn);

    rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
    if (data_off) {
        m->data_off = *data_off;
    }
    uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
    const size_t ihl = 20 + ip_options;
    const size_t len = 14 + ihl + 8 + q.size();
    std::memset(f, 0, std::max<size_t>(len, 60));
    std::memcpy(f, kGwMac.data(), 6);
    std::memcpy(f + 6, kClientMac.data(), 6);
    f[12] = 0x08;
    uint8_t* ip = f + 14;
    ip[0] = static_cast<uint8_t>(0x40 | ihl / 4);
    pkt::store_be16(ip + 2, static_cast<uint16_t>(ihl + 8 + q.size()));
    ip[8] = 7;  // whatever the client sent: the answer goes out with 64
    ip[9] = pkt::kProtoUdp;
    pkt::store32(ip + 12, be("10.99.0.2"));
    pkt::store32(ip + 16, be(kDnsIp));
    for (size_t i = 0; i < ip_options; ++i) {
        ip[20 + i] = 1;  // NOP options
    }
    uint8_t* udp = ip + ihl;
    pkt::store16(udp, be16(33333));
    pkt::store16(udp + 2, be16(53));
    pkt::store_be16(udp + 4, static_cast<uint16_t>(8 + q.size()));
    std::memcpy(udp + 8, q.data(), q.size());
    pkt::fill_checksums(ip);
    m->data_len = static_cast<uint16_t>(std::max<size_t>(len, 60));
    m->pkt_len = m->data_len;
    return m;
}

struct DnsAnswer {
    uint16_t id = 0, flags = 0, ancount = 0;
    std::vector<uint32_t> a_records;  // network order
};

// Decodes the response in a turned-around frame (answers whose owner is
// the 0xC00C pointer, as the responder writes them).
DnsAnswer decode_dns(const Out& o, const uint8_t* frame) {
    DnsAnswer a;
    const uint8_t* d = frame + o.p.payload_offset;
    const size_t n = o.p.payload_length;
    if (n < 12) {
        ADD_FAILURE() << "short DNS response";
        return a;
    }
    a.id = load_be16(d);
    a.flags = load_be16(d + 2);
    a.ancount = load_be16(d + 6);
    size_t at = 12;
    while (at < n && d[at] != 0) {
        at += d[at] + 1;
    }
    at += 1 + 4;  // root label, qtype, qclass
    for (uint16_t i = 0; i < a.ancount && at + 12 <= n; ++i) {
        EXPECT_EQ(load_be16(d + at), dns::kQuestionNamePointer);
        const uint16_t type = load_be16(d + at + 2);
        const uint16_t rdlen = load_be16(d + at + 10);
        if (type == dns::rr_type::a && rdlen == 4 && at + 16 <= n) {
            a.a_records.push_back(pkt::load32(d + at + 12));
        }
        at += 12 + rdlen;
    }
    EXPECT_LE(at, n);
    return a;
}

class DnsWorker : public Dataplane {
protected:
    void SetUp() override {
        Dataplane::SetUp();
        if (HasFatalFailure()) {
            return;
        }
        _worker.reset();
        _ctx.dns_ip_be = be(kDnsIp);
        _ctx.dns_zone = &_zone_live;
        _worker = std::make_unique<Worker>(_ctx, 0);
    }
    void publish_zone() {
        auto zone = dns::build_zone({nginx_service({"10.99.0.11"})}, DnsConfig{},
                                    *Ipv4Prefix::parse("10.96.0.0/16"), 1);
        ASSERT_TRUE(zone);
        _zone = std::move(*zone);
        _zone_live.store(_zone.get(), std::memory_order_release);
    }
    // One frame in; the frames out.
    std::vector<rte_mbuf*> send(rte_mbuf* in) {
        _now += kHz / 1000;
        _worker->process_burst(std::span<rte_mbuf* const>(&in, 1), _now, false);
        return _worker->take_tx();
    }
    uint64_t dns(dns::Counter c) const { return _worker->dns_counters()[c]; }

    std::unique_ptr<const dns::Zone> _zone;
    std::atomic<const dns::Zone*> _zone_live{nullptr};
};

TEST_P(DnsWorker, QueryAnsweredInPlaceAndTurnedAround) {
    publish_zone();
    for (size_t options : {size_t{0}, size_t{8}}) {
        SCOPED_TRACE("IP options: " + std::to_string(options));
        rte_mbuf* in =
            make_dns_query("mynginx.default.svc.cluster.local", dns::rr_type::a, 0x1234, options);
        auto out = send(in);
        ASSERT_EQ(out.size(), 1u);
        EXPECT_EQ(out[0], in) << "answered in the query's own mbuf";
        Out o = inspect(out[0]);
        ASSERT_EQ(o.p.verdict, pkt::Verdict::ok);
        EXPECT_TRUE(o.checksums_ok);
        uint8_t* f = rte_pktmbuf_mtod(out[0], uint8_t*);
        EXPECT_NE(pkt::load16(f + o.p.l4_offset + 6), 0) << "a real UDP checksum";
        EXPECT_EQ(o.p.l4_offset - o.p.l3_offset, 20) << "no IP options in the answer";
        EXPECT_EQ(o.p.key.src_ip, be(kDnsIp));
        EXPECT_EQ(o.p.key.src_port, be16(53));
        EXPECT_EQ(o.p.key.dst_ip, be("10.99.0.2"));
        EXPECT_EQ(o.p.key.dst_port, be16(33333));
        EXPECT_EQ(o.p.ttl, pkt::kDefaultTtl);
        EXPECT_EQ(o.src_mac, kGwMac);
        EXPECT_EQ(o.dst_mac, kClientMac);
        EXPECT_EQ(out[0]->pkt_len, out[0]->data_len);
        EXPECT_EQ(out[0]->data_len, 14u + o.p.ip_total_length);
        DnsAnswer a = decode_dns(o, f);
        EXPECT_EQ(a.id, 0x1234);
        EXPECT_TRUE(a.flags & dns::flag::qr);
        EXPECT_TRUE(a.flags & dns::flag::aa);
        EXPECT_EQ(a.flags & dns::flag::rcode_mask, 0);
        ASSERT_EQ(a.a_records.size(), 1u);
        EXPECT_EQ(a.a_records[0], be("10.96.0.20"));
        rte_pktmbuf_free(out[0]);
    }
    EXPECT_EQ(dns(dns::Counter::queries), 2u);
    EXPECT_EQ(dns(dns::Counter::noerror), 2u);
    EXPECT_EQ(_worker->counters().get(WorkerEvent::dns_reply), 2u);
}

TEST_P(DnsWorker, NoZoneYetAnswersServfail) {
    auto out = send(make_dns_query("mynginx.default.svc.cluster.local", dns::rr_type::a, 7));
    ASSERT_EQ(out.size(), 1u);
    Out o = inspect(out[0]);
    EXPECT_TRUE(o.checksums_ok);
    DnsAnswer a = decode_dns(o, rte_pktmbuf_mtod(out[0], uint8_t*));
    EXPECT_EQ(a.flags & dns::flag::rcode_mask, static_cast<uint16_t>(dns::Rcode::servfail));
    EXPECT_EQ(a.ancount, 0);
    EXPECT_EQ(dns(dns::Counter::servfail), 1u);
    rte_pktmbuf_free(out[0]);
}

TEST_P(DnsWorker, MalformedQueriesAreDroppedAndCounted) {
    publish_zone();
    // A response (QR set) must never be answered: reflection loops.
    rte_mbuf* in = make_dns_query("mynginx.default.svc.cluster.local", dns::rr_type::a, 9);
    {
        uint8_t* f = rte_pktmbuf_mtod(in, uint8_t*);
        Out o = inspect(in);
        f[o.p.payload_offset + 2] |= 0x80;
        pkt::fill_checksums(f + 14);
    }
    EXPECT_TRUE(send(in).empty());
    EXPECT_EQ(dns(dns::Counter::drop_response), 1u);
    EXPECT_EQ(_worker->counters().get(DropReason::dns_dropped), 1u);

    // A wrong UDP checksum: dropped before the responder sees it.
    in = make_dns_query("mynginx.default.svc.cluster.local", dns::rr_type::a, 10);
    {
        uint8_t* f = rte_pktmbuf_mtod(in, uint8_t*);
        Out o = inspect(in);
        f[o.p.l4_offset + 6] ^= 0x55;
    }
    EXPECT_TRUE(send(in).empty());
    EXPECT_EQ(_worker->counters().get(DropReason::bad_l4_checksum), 1u);
    EXPECT_EQ(dns(dns::Counter::queries), 1u);

    // A truncated UDP header (length field beyond the datagram).
    in = make_dns_query("x.cluster.local", dns::rr_type::a, 11);
    {
        uint8_t* f = rte_pktmbuf_mtod(in, uint8_t*);
        Out o = inspect(in);
        pkt::store_be16(f + o.p.l4_offset + 4, 2000);
    }
    EXPECT_TRUE(send(in).empty());
    EXPECT_EQ(_worker->counters().get(DropReason::malformed), 1u);
}

TEST_P(DnsWorker, AnswerLargerThanTheRoomIsTruncated) {
    publish_zone();
    // Leave only a few bytes past the query: the A record (16 bytes) cannot
    // fit, so the answer is TC=1 with the question only.
    const std::string name = "mynginx.default.svc.cluster.local";
    const size_t query_len = 12 + name.size() + 2 + 4;
    const size_t frame_len = 14 + 20 + 8 + query_len;
    rte_mbuf* probe = rte_pktmbuf_alloc(g_pool);
    const uint16_t buf_len = probe->buf_len;
    rte_pktmbuf_free(probe);
    rte_mbuf* in = make_dns_query(name, dns::rr_type::a, 12, 0,
                                  static_cast<uint16_t>(buf_len - frame_len - 10));
    auto out = send(in);
    ASSERT_EQ(out.size(), 1u);
    Out o = inspect(out[0]);
    EXPECT_TRUE(o.checksums_ok);
    DnsAnswer a = decode_dns(o, rte_pktmbuf_mtod(out[0], uint8_t*));
    EXPECT_TRUE(a.flags & dns::flag::tc);
    EXPECT_EQ(a.ancount, 0);
    EXPECT_LE(out[0]->data_off + out[0]->data_len, buf_len);
    EXPECT_EQ(dns(dns::Counter::truncated), 1u);
    rte_pktmbuf_free(out[0]);
}

TEST_P(DnsWorker, ArpAndPingForTheDnsAddressAreAnswered) {
    auto out = send(make_arp_request(be("10.99.0.2"), be(kDnsIp)));
    ASSERT_EQ(out.size(), 1u);
    Out o = inspect(out[0]);
    EXPECT_EQ(o.p.arp_op, pkt::kArpOpReply);
    EXPECT_EQ(o.p.key.src_ip, be(kDnsIp));
    rte_pktmbuf_free(out[0]);
    out = send(make_l4({.proto = pkt::kProtoIcmp, .src = be("10.99.0.2"), .dst = be(kDnsIp)}));
    ASSERT_EQ(out.size(), 1u);
    o = inspect(out[0]);
    EXPECT_EQ(o.p.icmp_type, pkt::kIcmpEchoReply);
    EXPECT_EQ(o.p.key.src_ip, be(kDnsIp));
    EXPECT_TRUE(o.checksums_ok);
    rte_pktmbuf_free(out[0]);
}

INSTANTIATE_TEST_SUITE_P(Modes, DnsWorker, ::testing::Values(NatMode::fullnat, NatMode::nat),
                         [](const auto& info) {
                             return info.param == NatMode::fullnat ? "fullnat" : "nat";
                         });

INSTANTIATE_TEST_SUITE_P(Modes, Dataplane, ::testing::Values(NatMode::fullnat, NatMode::nat),
                         [](const auto& info) {
                             return info.param == NatMode::fullnat ? "fullnat" : "nat";
                         });

}  // namespace
}  // namespace svcgw
