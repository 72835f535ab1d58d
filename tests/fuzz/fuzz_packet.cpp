// Fuzz target: the whole per-burst packet path (parse -> VIP lookup -> flow
// table -> Maglev pick -> NAT rewrite -> reply builders) through
// Worker::process_burst, as the lcore loop drives it, on synthetic mbufs.
//
// Every input runs on a fresh gateway: new workers (flow tables, SNAT
// cursors, affinity, hold queues), the clock back at its start. So a crash
// reproduces from its input alone, and the first SNAT port of an input is
// always the same one (a worker kept across inputs moved its cursor with
// every input, so replies could never find their flow).
//
// Input: byte 0 = options
//   bit 0: nat instead of fullnat
//   bit 1: refill IPv4/L4 checksums of the input's frames, so mutations
//          get past the checksum checks
//   bit 2: two workers with hand-off rings (frames a worker hands over are
//          run on their owner, as the loop does)
//   bits 3-4: pre-fill the flow table before the records (kPrefill*): to
//          capacity with half-open flows (a new flow evicts), to capacity
//          with established ones, or with keys that fill a block of index
//          buckets (a new key landing there gets flow_table_full)
// then records {u16 big-endian header, u8 milliseconds to advance, body}:
//   header bits 0-11: body length; bit 14: a reply record; bit 15: the
//          frame arrives at worker 1 (two workers only)
//   frame record: the body is the frame
//   reply record: the body is {u8 n, u8 kind, u8 a, u8 b, payload...} and
//          builds a frame answering the n-th frame (mod the count) the
//          workers emitted so far in this input (the frames received before
//          it are processed first): kind 0: a TCP/UDP answer
//          from its destination to its source, TCP flags a (this is how a
//          backend's reply reaches the SNAT port the worker chose); kind 1:
//          an ICMP error about it (type a, code b) from its destination,
//          quoting its IP header and `payload[0]` bytes of L4
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
// Invariants checked: no sanitizer report; every frame the workers emit
// lies inside its buffer; no flow table holds more than its capacity; the
// hand-off rings are empty between bursts once followed; past every
// timeout nothing survives; every mbuf returns to the pool once the
// workers are gone.
#include <arpa/inet.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/worker.hpp"
#include "dns/zone.hpp"
#include "flow/flow_table.hpp"
#include "net/packet.hpp"
#include "table/service_table.hpp"

namespace {

using namespace svcgw;

constexpr uint64_t kHz = 1'000'000'000;  // fake TSC: 1 tick = 1 ns
// The clock of every input starts here (past 0 so that "seconds ago" never wraps).
constexpr uint64_t kStartTsc = 10 * kHz;
// Reply builders write at most 128 bytes (worker.cpp reject()).
constexpr size_t kReplyRoom = 128;
// Largest frame a default mbuf carries (2048-byte data room).
constexpr size_t kMaxFrame = 2048;
// Frames per input: a few bursts are enough to open, use and close flows.
constexpr size_t kMaxFrames = 96;
// Record header: length bits and flags.
constexpr uint16_t kLengthMask = 0x0fff;
constexpr uint16_t kReplyRecord = 0x4000;
constexpr uint16_t kAtWorker1 = 0x8000;
// Emitted frames a reply record can answer (the most recent ones).
constexpr size_t kEmittedKept = 64;
// The workers' tables: the worker gives each at least 1024 entries.
constexpr uint32_t kMaxFlows = 1024;
constexpr unsigned kPoolSize = 2047;
// Pre-fill kinds (options bits 3-4).
constexpr uint8_t kPrefillNone = 0;
constexpr uint8_t kPrefillHalfOpen = 1;
constexpr uint8_t kPrefillEstablished = 2;
constexpr uint8_t kPrefillCollide = 3;
// Colliding pre-fill: keys whose index buckets all lie in the first
// kCollideBuckets buckets fill them (8 slots each); 96 x 8 = 768 keys fit
// in a 1024-entry table even when only the forward key is chosen (fullnat:
// the reply key depends on the SNAT port the worker picks).
constexpr uint32_t kCollideBuckets = 96;
constexpr uint32_t kIndexSlotsPerBucket = 8;
// Hand-offs followed per burst before declaring a ping-pong between workers.
constexpr int kMaxHandoffRounds = 8;
// Longer than the longest timeout the fixture uses (affinity: 10800 s).
constexpr uint64_t kForgetAllS = 4 * 3600;
constexpr uint32_t kDrainBudget = 1 << 20;

uint32_t be(const char* text) {
    return htonl(Ipv4::parse(text)->value);
}

const MacAddr kGwMac = {0x02, 0, 0, 0, 0, 0x01};
const MacAddr kClientMac = {0x02, 0, 0, 0, 0, 0x02};
// Pre-fill clients: the resolved client 10.99.0.2, one source port per flow.
constexpr uint16_t kPrefillPortLo = 1024;

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

// A client -> VIP TCP segment the pre-fill sends (seq/ack are not checked).
struct Segment {
    uint32_t src_ip, dst_ip;
    uint16_t src_port, dst_port;  // host order
    uint8_t flags;
    MacAddr src_mac;
};

struct Global {
    rte_mempool* pool = nullptr;
    rte_rcu_qsbr* qsbr = nullptr;
    std::unique_ptr<ServiceTable> table;
    std::unique_ptr<NeighbourView> view;
    std::atomic<const NeighbourView*> published{nullptr};
    rte_ring* to_control[2] = {};
    rte_ring* handoff[2] = {};  // 0 -> 1, 1 -> 0
    std::unique_ptr<const dns::Zone> zone;
    std::atomic<const dns::Zone*> published_zone{nullptr};
    size_t min_frame = 0;
    // Client ports of the colliding pre-fill, per mode (see kCollideBuckets).
    std::vector<uint16_t> collide_ports[2];
};
Global* g = nullptr;

void die(const char* what) {
    std::fprintf(stderr, "fuzz_packet: %s\n", what);
    std::abort();
}

// The services of the colliding pre-fill: one backend, so that in nat mode
// the reply key (backend -> client) follows from the client's key alone.
constexpr const char* kSoloVip = "10.96.0.24";
constexpr const char* kSoloBackend = "10.99.0.13";
constexpr uint16_t kSoloPort = 80;

// Client ports whose flows' index slots all fall in the first
// kCollideBuckets buckets of a table like the workers'.
std::vector<uint16_t> colliding_ports(bool nat) {
    FlowTable geometry(FlowTableConfig{.max_flows = kMaxFlows});
    auto inside = [&](const FlowKey& k) {
        for (uint32_t b : geometry.candidate_buckets(flow_hash(k))) {
            if (b >= kCollideBuckets) {
                return false;
            }
        }
        return true;
    };
    // Keys past the slots (a few extra): the last ones meet a full block.
    const size_t want = kCollideBuckets * kIndexSlotsPerBucket / (nat ? 2 : 1) + 32;
    std::vector<uint16_t> ports;
    for (uint32_t port = kPrefillPortLo; port <= 65535 && ports.size() < want; ++port) {
        FlowKey fwd;
        fwd.src_ip = be("10.99.0.2");
        fwd.dst_ip = be(kSoloVip);
        fwd.src_port = htons(static_cast<uint16_t>(port));
        fwd.dst_port = htons(kSoloPort);
        fwd.proto = pkt::kProtoTcp;
        if (!inside(fwd)) {
            continue;
        }
        if (nat) {
            FlowKey rep;
            rep.src_ip = be(kSoloBackend);
            rep.src_port = htons(kSoloPort);
            rep.dst_ip = fwd.src_ip;
            rep.dst_port = fwd.src_port;
            rep.proto = pkt::kProtoTcp;
            if (!inside(rep)) {
                continue;
            }
        }
        ports.push_back(static_cast<uint16_t>(port));
    }
    return ports;
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
    // Two QSBR threads: the second worker of the two-worker context. The
    // fuzzer thread reports quiescence for both.
    size_t size = rte_rcu_qsbr_get_memsize(2);
    g->qsbr = static_cast<rte_rcu_qsbr*>(std::aligned_alloc(64, (size + 63) / 64 * 64));
    rte_rcu_qsbr_init(g->qsbr, 2);
    for (unsigned t = 0; t < 2; ++t) {
        rte_rcu_qsbr_thread_register(g->qsbr, t);
        rte_rcu_qsbr_thread_online(g->qsbr, t);
    }
    auto table = ServiceTable::create(
        g->qsbr, ServiceTableOptions{.max_vips = 64, .stats_lanes = 2, .max_reply_keys = 64});
    if (!table) {
        die("ServiceTable::create failed");
    }
    g->table = std::move(*table);
    // TCP with two backends, UDP, ClientIP affinity, one without endpoints
    // (reject paths), one behind the router, one with a single backend.
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
    ServiceConfig solo =
        service("solo", kSoloVip, kSoloPort, kSoloPort, Protocol::tcp, {kSoloBackend});
    std::vector<ServiceConfig> services = {web, sticky, empty, far, solo};
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
        {be("10.99.0.2"), kClientMac},
        {be("10.99.0.11"), {0x02, 0, 0, 0, 0, 0x11}},
        {be("10.99.0.12"), {0x02, 0, 0, 0, 0, 0x12}},
        {be("10.99.0.13"), {0x02, 0, 0, 0, 0, 0x13}}};
    g->view = std::make_unique<NeighbourView>(neighbours);
    g->published.store(g->view.get());
    for (unsigned i = 0; i < 2; ++i) {
        std::string n = "fuzz_to_control" + std::to_string(i);
        g->to_control[i] = rte_ring_create_elem(n.c_str(), sizeof(ControlMessage), 64,
                                                SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
        n = "fuzz_handoff" + std::to_string(i);
        g->handoff[i] = rte_ring_create(n.c_str(), kHandoffRingSize, SOCKET_ID_ANY,
                                        RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (g->to_control[i] == nullptr || g->handoff[i] == nullptr) {
            die("ring creation failed");
        }
    }
    g->collide_ports[0] = colliding_ports(false);
    g->collide_ports[1] = colliding_ports(true);
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
        die("mempool empty: an mbuf leaked");
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

// ---- frame builders (pre-fill and reply records) ----

constexpr size_t kTcpHeaderLen = 20;
constexpr uint8_t kDefaultTtl = 64;
constexpr uint16_t kEtherIpv4 = 0x0800;

// Ethernet + IPv4 (no options) around an L4 body; checksums filled.
std::vector<uint8_t> ipv4_frame(const MacAddr& src_mac, uint32_t src_ip, uint32_t dst_ip,
                                uint8_t proto, const std::vector<uint8_t>& l4) {
    std::vector<uint8_t> f(pkt::kEthHeaderLen + pkt::kIpv4MinHeaderLen + l4.size());
    std::memcpy(f.data(), kGwMac.data(), 6);
    std::memcpy(f.data() + 6, src_mac.data(), 6);
    pkt::store_be16(f.data() + 12, kEtherIpv4);
    uint8_t* ip = f.data() + pkt::kEthHeaderLen;
    ip[0] = 0x45;
    pkt::store_be16(ip + 2, static_cast<uint16_t>(pkt::kIpv4MinHeaderLen + l4.size()));
    ip[8] = kDefaultTtl;
    ip[9] = proto;
    pkt::store32(ip + 12, src_ip);
    pkt::store32(ip + 16, dst_ip);
    std::memcpy(ip + pkt::kIpv4MinHeaderLen, l4.data(), l4.size());
    pkt::fill_checksums(ip);
    if (f.size() < pkt::kEthMinFrameLen) {
        f.resize(pkt::kEthMinFrameLen, 0);
    }
    return f;
}

// Ports in network order.
std::vector<uint8_t> l4_header(uint8_t proto, uint16_t src_port_be, uint16_t dst_port_be,
                               uint8_t tcp_flags, std::span<const uint8_t> payload) {
    const size_t hdr = proto == pkt::kProtoTcp ? kTcpHeaderLen : pkt::kUdpHeaderLen;
    std::vector<uint8_t> l4(hdr + payload.size(), 0);
    pkt::store16(l4.data(), src_port_be);
    pkt::store16(l4.data() + 2, dst_port_be);
    if (proto == pkt::kProtoTcp) {
        pkt::store_be16(l4.data() + 4, 0x1000);  // seq, arbitrary
        l4[12] = (kTcpHeaderLen / 4) << 4;
        l4[13] = tcp_flags;
        pkt::store_be16(l4.data() + 14, 65535);  // window
    } else {
        pkt::store_be16(l4.data() + 4, static_cast<uint16_t>(l4.size()));
    }
    std::copy(payload.begin(), payload.end(), l4.begin() + static_cast<long>(hdr));
    return l4;
}

std::vector<uint8_t> segment_frame(const Segment& s) {
    return ipv4_frame(s.src_mac, s.src_ip, s.dst_ip, pkt::kProtoTcp,
                      l4_header(pkt::kProtoTcp, htons(s.src_port), htons(s.dst_port), s.flags, {}));
}

// The answer to an emitted frame (a reply record, see the file comment):
// empty when the frame cannot be answered that way.
std::vector<uint8_t> answer_to(const std::vector<uint8_t>& emitted, uint8_t kind, uint8_t a,
                               uint8_t b, std::span<const uint8_t> payload) {
    pkt::Parsed p = pkt::parse(emitted.data(), emitted.size());
    if (p.verdict != pkt::Verdict::ok || p.l3 != pkt::L3::ipv4) {
        return {};
    }
    MacAddr from;  // the emitted frame's destination answers
    std::memcpy(from.data(), emitted.data(), 6);
    if (kind % 2 == 0) {
        if (p.key.proto != pkt::kProtoTcp && p.key.proto != pkt::kProtoUdp) {
            return {};
        }
        return ipv4_frame(from, p.key.dst_ip, p.key.src_ip, p.key.proto,
                          l4_header(p.key.proto, p.key.dst_port, p.key.src_port, a, payload));
    }
    // ICMP error: 8-byte header (the unused word carries a next-hop MTU for
    // "fragmentation needed", RFC 1191), then the quote.
    const size_t quoted_l4 = payload.empty() ? 8 : payload[0];
    const size_t ip_len = p.l4_offset - p.l3_offset;
    const size_t l4_avail = emitted.size() - p.l4_offset;
    std::vector<uint8_t> icmp(8, 0);
    icmp[0] = a;
    icmp[1] = b;
    pkt::store_be16(icmp.data() + 6, 1280);
    icmp.insert(
        icmp.end(), emitted.begin() + p.l3_offset,
        emitted.begin() + p.l3_offset + static_cast<long>(ip_len + std::min(quoted_l4, l4_avail)));
    return ipv4_frame(from, p.key.dst_ip, p.key.src_ip, pkt::kProtoIcmp, icmp);
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

// One input's gateway: one or two fresh workers sharing the global service
// table, zone and neighbour view, with their own clock.
class Gateway {
public:
    Gateway(bool nat, uint16_t workers) {
        _ctx.workers = workers;
        _ctx.mac = kGwMac;
        _ctx.address_be = be("10.99.0.1");
        _ctx.subnet_mask_be = be("255.255.255.0");
        _ctx.gateway_be = be("10.99.0.254");
        _ctx.service_net_be = be("10.96.0.0");
        _ctx.service_mask_be = be("255.255.0.0");
        _ctx.mode = nat ? NatMode::nat : NatMode::fullnat;
        _ctx.snat_be = {be("10.99.0.1")};
        _ctx.conntrack.max_flows = kMaxFlows * workers;
        _ctx.table = g->table.get();
        _ctx.qsbr = g->qsbr;
        _ctx.neighbours = &g->published;
        _ctx.pool = g->pool;
        _ctx.tsc_hz = kHz;
        _ctx.dns_ip_be = be("10.96.0.10");
        _ctx.dns_zone = &g->published_zone;
        if (workers == 2) {
            _ctx.handoff = {nullptr, g->handoff[0], g->handoff[1], nullptr};
            _ctx.to_control = {g->to_control[0], g->to_control[1]};
        } else {
            _ctx.to_control = {g->to_control[0]};
        }
        for (uint16_t i = 0; i < workers; ++i) {
            _workers.push_back(std::make_unique<Worker>(_ctx, i));
        }
    }
    Gateway(const Gateway&) = delete;
    Gateway& operator=(const Gateway&) = delete;

    uint16_t workers() const { return _ctx.workers; }
    uint64_t now() const { return _now; }
    void advance(uint64_t ticks) { _now += ticks; }
    const std::deque<std::vector<uint8_t>>& emitted() const { return _emitted; }

    // Queues a frame for worker `at`'s next burst; runs the burst when full.
    void receive(uint16_t at, rte_mbuf* m) {
        _pending[at].push_back(m);
        if (_pending[at].size() == kWorkerBurst) {
            run_bursts();
        }
    }
    // Runs the pending bursts, follows hand-offs, housekeeping, collects tx.
    void run_bursts() {
        for (uint16_t w = 0; w < workers(); ++w) {
            if (!_pending[w].empty()) {
                _workers[w]->process_burst(_pending[w], _now, false);
                _pending[w].clear();
            }
        }
        follow_handoffs();
        for (auto& w : _workers) {
            w->service_hold_queue(_now);
            w->expire_flows(_now, 64);
            w->census_step(_now, 1024);
        }
        for (unsigned t = 0; t < workers(); ++t) {
            rte_rcu_qsbr_quiescent(g->qsbr, t);
        }
        for (auto& w : _workers) {
            for (rte_mbuf* m : w->take_tx()) {
                check_output(m);
                if (_record) {
                    const uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
                    _emitted.emplace_back(f, f + m->data_len);
                    if (_emitted.size() > kEmittedKept) {
                        _emitted.pop_front();
                    }
                }
                rte_pktmbuf_free(m);
            }
            if (w->stats().flows > kMaxFlows) {
                die("flow table above its capacity");
            }
        }
        for (unsigned i = 0; i < workers(); ++i) {
            ControlMessage msg;
            while (rte_ring_dequeue_elem(g->to_control[i], &msg, sizeof(msg)) == 0) {
            }
        }
    }
    // Whether emitted frames are kept for reply records (not the pre-fill's).
    void record_emitted(bool on) {
        _record = on;
        _emitted.clear();
    }

    // Past every timeout: nothing may survive.
    void forget_all() {
        run_bursts();
        _now += kForgetAllS * kHz;
        run_bursts();
        for (auto& w : _workers) {
            w->expire_flows(_now, kDrainBudget);
            if (w->stats().flows != 0 || w->stats().held != 0) {
                die("flows or held frames survive every timeout");
            }
        }
    }

private:
    // Frames a worker handed over run on their owner as the loop runs them
    // (handed_off = true), until the rings are empty.
    void follow_handoffs() {
        if (workers() < 2) {
            return;
        }
        for (int round = 0; round < kMaxHandoffRounds; ++round) {
            bool any = false;
            for (uint16_t from = 0; from < 2; ++from) {
                std::array<rte_mbuf*, kWorkerBurst> burst;
                unsigned got;
                while ((got = rte_ring_sc_dequeue_burst(g->handoff[from],
                                                        reinterpret_cast<void**>(burst.data()),
                                                        kWorkerBurst, nullptr)) != 0) {
                    _workers[1 - from]->process_burst(std::span(burst.data(), got), _now, true);
                    any = true;
                }
            }
            if (!any) {
                return;
            }
        }
        die("frames handed back and forth between the workers");
    }

    WorkerContext _ctx;  // the workers keep a reference to it
    std::vector<std::unique_ptr<Worker>> _workers;
    std::vector<rte_mbuf*> _pending[2];
    uint64_t _now = kStartTsc;
    std::deque<std::vector<uint8_t>> _emitted;
    bool _record = false;
};

// Sends `frames` to worker 0 (hand-offs followed), in bursts.
void send_all(Gateway& gw, const std::vector<std::vector<uint8_t>>& frames) {
    for (const auto& f : frames) {
        gw.receive(0, make_frame(f.data(), f.size(), false));
    }
    gw.run_bursts();
}

Segment prefill_segment(uint32_t vip, uint16_t vport, uint16_t port, uint8_t flags) {
    return Segment{be("10.99.0.2"), vip, port, vport, flags, kClientMac};
}

// Keys that fill a block of index buckets (see kCollideBuckets).
void prefill_colliding(Gateway& gw, bool nat) {
    std::vector<std::vector<uint8_t>> syns;
    for (uint16_t port : g->collide_ports[nat]) {
        syns.push_back(
            segment_frame(prefill_segment(be(kSoloVip), kSoloPort, port, tcp_flag::syn)));
    }
    send_all(gw, syns);
}

// The tables' capacity in flows to 10.96.0.20:80: half-open (SYN only), or
// established (SYN, the backend's SYN-ACK to what the worker sent it, the
// client's ACK).
void prefill_to_capacity(Gateway& gw, bool established) {
    const uint32_t flows = kMaxFlows * gw.workers();
    std::vector<std::vector<uint8_t>> syns;
    for (uint32_t i = 0; i < flows; ++i) {
        syns.push_back(segment_frame(prefill_segment(
            be("10.96.0.20"), 80, static_cast<uint16_t>(kPrefillPortLo + i), tcp_flag::syn)));
    }
    if (!established) {
        send_all(gw, syns);
        return;
    }
    std::vector<std::vector<uint8_t>> synacks, acks;
    for (size_t base = 0; base < syns.size(); base += kEmittedKept) {
        const size_t n = std::min(kEmittedKept, syns.size() - base);
        gw.record_emitted(true);
        send_all(gw, std::vector<std::vector<uint8_t>>(syns.begin() + static_cast<long>(base),
                                                       syns.begin() + static_cast<long>(base + n)));
        for (const auto& out : gw.emitted()) {
            auto f = answer_to(out, 0, tcp_flag::syn | tcp_flag::ack, 0, {});
            if (!f.empty()) {
                synacks.push_back(std::move(f));
            }
        }
    }
    gw.record_emitted(false);
    for (uint32_t i = 0; i < flows; ++i) {
        acks.push_back(segment_frame(prefill_segment(
            be("10.96.0.20"), 80, static_cast<uint16_t>(kPrefillPortLo + i), tcp_flag::ack)));
    }
    send_all(gw, synacks);
    send_all(gw, acks);
}

void prefill(Gateway& gw, uint8_t kind, bool nat) {
    switch (kind) {
        case kPrefillHalfOpen:
            prefill_to_capacity(gw, false);
            break;
        case kPrefillEstablished:
            prefill_to_capacity(gw, true);
            break;
        case kPrefillCollide:
            prefill_colliding(gw, nat);
            break;
        case kPrefillNone:
        default:
            break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    set_up();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) {
        return 0;
    }
    const uint8_t options = data[0];
    const bool nat = options & 1;
    const bool fix_checksums = options & 2;
    const uint16_t workers = (options & 4) != 0 ? 2 : 1;
    const uint8_t prefill_kind = options >> 3 & 3;
    const unsigned pool_before = rte_mempool_avail_count(g->pool);
    {
        Gateway gw(nat, workers);
        prefill(gw, prefill_kind, nat);
        gw.record_emitted(true);
        size_t off = 1, frames = 0;
        while (off + 3 <= size && frames < kMaxFrames) {
            const uint16_t header = static_cast<uint16_t>(data[off] << 8 | data[off + 1]);
            const size_t len = std::min<size_t>(
                {static_cast<size_t>(header & kLengthMask), kMaxFrame, size - off - 3});
            const uint64_t advance_ms = data[off + 2];
            const uint16_t at = (header & kAtWorker1) != 0 && workers == 2 ? 1 : 0;
            const uint8_t* body = data + off + 3;
            off += 3 + len;
            ++frames;
            if (advance_ms != 0) {
                gw.run_bursts();
                gw.advance(advance_ms * (kHz / 1000));
            }
            if ((header & kReplyRecord) != 0) {
                gw.run_bursts();  // what was received so far has been answered
                if (len < 4 || gw.emitted().empty()) {
                    continue;
                }
                const auto& to = gw.emitted()[body[0] % gw.emitted().size()];
                auto f = answer_to(to, body[1], body[2], body[3],
                                   std::span<const uint8_t>(body + 4, len - 4));
                if (!f.empty()) {
                    gw.receive(at, make_frame(f.data(), f.size(), false));
                }
                continue;
            }
            if (len >= g->min_frame) {
                gw.receive(at, make_frame(body, len, fix_checksums));
            }
        }
        gw.forget_all();
    }
    for (rte_ring* r : g->handoff) {
        if (rte_ring_count(r) != 0) {
            die("frames left on a hand-off ring");
        }
    }
    if (rte_mempool_avail_count(g->pool) != pool_before) {
        die("mbufs not returned to the pool");
    }
    return 0;
}
