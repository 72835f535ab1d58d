// svcgw-pktgen: traffic generator and verifier for svcgw (perf/RESULTS.md).
//
//   svcgw-pktgen [options] -- EAL options
//   --link ring|memif   ring: svcgw's Worker runs in this process on a
//                       net_ring pair, stepped on this thread, and its cycles
//                       are timed apart from the generator's (worker ns/pkt).
//                       memif: svcgw (or testpmd) is another process at the
//                       other end of the --vdev net_memif port (port 0).
//   --peer svcgw|macswap  what is at the other end (macswap: dpdk-testpmd
//                       --forward-mode=macswap; only tags, checksums and
//                       latency are verified)
//   --clients N --vips N --backends N --flows N
//   --mix established|handshake|syn|udp   --size BYTES   --mode fullnat|nat
//   --rate PPS (0 = as fast as possible)  --duration S   --workers N (ring)
//   --change-at S --remove R   (ring: at S seconds into the run, every
//                       service loses its last R backends through
//                       ServiceTable::upsert, the call a SIGHUP reload makes;
//                       odd flow slots then open new connections)
//   --changes N --change-every-ms X   (ring: N changes, the first at S, then
//                       one every X ms: odd ones remove the last R backends,
//                       even ones add them back. Even slots stay established
//                       through all of them; after each change a rotating
//                       batch of odd slots opens new connections, sized so
//                       the new flows of the whole run fit the flow table)
//                       memif: the same change as a config reload of the
//                       daemon: --reload-pid PID --reload-from NEW
//                       --reload-to CFG (NEW is renamed over CFG, then
//                       SIGHUP; new connections start kReloadSettleS later)
//   --max-flows N       conntrack.max_flows (default max(1M, 2 x flows))
//   --emit-config FILE --device SPEC   write the matching svcgw config, exit
//                       (with --remove R: the services without their last R)
//
// Single thread, one core. Prints a human summary and one `RESULT k=v ...`
// line for perf/scripts.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pktgen/inproc.hpp"
#include "pktgen/traffic.hpp"

namespace svcgw::pktgen {
namespace {

constexpr uint16_t kBurst = 32;
// Mbufs: rings and descriptor queues on both sides plus reaction backlog.
constexpr unsigned kPoolMbufs = 65535;
constexpr unsigned kPoolCache = 256;
// Warm-up opens every flow before measuring; bounded so a broken peer does
// not hang a scripted run.
constexpr double kWarmupMaxS = 20.0;
// Warm-up rate cap: lets ARP resolution keep up (svcgw holds 64 frames per
// worker while resolving).
constexpr double kWarmupPps = 2e6;
// After the last transmit, frames still in flight are collected this long.
constexpr double kDrainS = 0.05;
// A handshake slot stuck this long (a lost frame) is reopened.
constexpr double kStallS = 0.2;
// memif reload: new connections start this long after the SIGHUP, so they
// meet the reloaded table (a one-service reload takes well under 10 ms; a
// connection opened before it lands would be counted against the old ring).
constexpr double kReloadSettleS = 0.2;
// Data segments per handshake connection.
constexpr uint32_t kDataPerConnection = 4;

enum class Peer { svcgw, macswap };

struct Options {
    std::string link = "ring";
    Peer peer = Peer::svcgw;
    Shape shape;
    double rate = 0;
    double duration = 2;
    uint16_t workers = 1;
    double change_at = -1;
    uint32_t remove = 0;
    uint32_t changes = 1;        // remove, add back, remove, ... (ring only past 1)
    double change_every_ms = 0;  // between two changes
    std::string emit_config;
    std::string device;
    // memif + svcgw: the change is a config reload. At change_at the file
    // reload_from is renamed over reload_to (svcgw's -c file) and reload_pid
    // gets SIGHUP.
    uint32_t max_flows = 0;  // conntrack.max_flows; 0: max(1M, 2 x flows)
    pid_t reload_pid = 0;
    std::string reload_from;
    std::string reload_to;
};

enum class SlotState : uint8_t { idle, syn_sent, data_sent };

struct Slot {
    uint32_t backend = 0;  // host order; 0 = not seen in this generation
    uint16_t generation = 0;
    SlotState state = SlotState::idle;
    uint64_t since = 0;  // tsc of the last state change
    bool seen = false;   // any output seen for this slot (warm-up)
};

struct Stats {
    uint64_t tx = 0, rx = 0, rx_forward = 0, rx_reply = 0, arp_answered = 0;
    uint64_t connections = 0, stalled = 0;
    std::array<uint64_t, static_cast<size_t>(VerifyError::count)> errors{};
    uint64_t moved_alive = 0, moved_dead = 0;     // existing flows after a change
    uint64_t new_after_change = 0, remapped = 0;  // new flows vs the ring before the change
    uint64_t changes = 0, change_cycles = 0;      // changes made, their cost (generator side)
    uint64_t reopened = 0;                        // connections opened by the changes
    LatencyHistogram latency;
    void error(VerifyError e) { ++errors[static_cast<size_t>(e)]; }
    uint64_t error_total() const {
        uint64_t t = 0;
        for (uint64_t e : errors) {
            t += e;
        }
        return t;
    }
};

uint32_t max_flows(const Options& o);

// ---- the link ------------------------------------------------------------

class Link {
public:
    virtual ~Link() = default;
    virtual uint16_t send(rte_mbuf** m, uint16_t n) = 0;
    virtual uint16_t recv(rte_mbuf** m, uint16_t n) = 0;
    // The peer's share of the loop (ring: the worker step, timed).
    virtual void poll(uint64_t) {}
    virtual MacAddr peer_mac() const = 0;
};

class MemifLink : public Link {
public:
    explicit MemifLink(uint16_t port) : _port(port) {}
    uint16_t send(rte_mbuf** m, uint16_t n) override { return rte_eth_tx_burst(_port, 0, m, n); }
    uint16_t recv(rte_mbuf** m, uint16_t n) override { return rte_eth_rx_burst(_port, 0, m, n); }
    MacAddr peer_mac() const override { return _peer; }
    void set_peer_mac(const MacAddr& m) { _peer = m; }

private:
    uint16_t _port;
    MacAddr _peer{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
};

class RingLink : public Link {
public:
    explicit RingLink(std::unique_ptr<InprocGateway> gw) : _gw(std::move(gw)) {}
    uint16_t send(rte_mbuf** m, uint16_t n) override {
        // Without RSS a frame lands on any queue; spread by burst.
        uint16_t q = static_cast<uint16_t>(_turn++ % _gw->workers());
        return static_cast<uint16_t>(
            rte_ring_enqueue_burst(_gw->to_svcgw(q), reinterpret_cast<void**>(m), n, nullptr));
    }
    uint16_t recv(rte_mbuf** m, uint16_t n) override {
        uint16_t got = 0;
        for (uint16_t q = 0; q < _gw->workers() && got < n; ++q) {
            got += static_cast<uint16_t>(rte_ring_dequeue_burst(
                _gw->from_svcgw(q), reinterpret_cast<void**>(m + got), n - got, nullptr));
        }
        return got;
    }
    void poll(uint64_t now) override {
        uint64_t t0 = rte_rdtsc();
        _gw->step(now);
        worker_cycles += rte_rdtsc() - t0;
        if (now >= _next_control) {
            const uint64_t tick = rte_get_tsc_hz() * kControlTickNs / 1'000'000'000;
            _next_control = now + tick;
            _gw->control(now / (rte_get_tsc_hz() / 1000));
        }
    }
    MacAddr peer_mac() const override { return _gw->mac(); }
    InprocGateway& gateway() { return *_gw; }

    uint64_t worker_cycles = 0;

private:
    std::unique_ptr<InprocGateway> _gw;
    uint64_t _turn = 0;
    uint64_t _next_control = 0;
};

// ---- the generator -------------------------------------------------------

class Generator {
public:
    Generator(const Options& o, Link& link, rte_mempool* pool)
        : _o(o),
          _s(o.shape),
          _link(link),
          _pool(pool),
          _slots(o.shape.flows),
          _backend_conns(size_t{o.shape.vips} * o.shape.backends, 0) {
        _hz = rte_get_tsc_hz();
        _alive_backends = _s.backends;
    }

    bool warmup();
    // memif: ARP for svcgw's address (its MAC is what clients send to and
    // what its frames come from); testpmd never answers: broadcast stays.
    void resolve_peer(MemifLink& memif) {
        uint64_t end = rte_rdtsc() + _hz;
        uint64_t next = 0;
        while (rte_rdtsc() < end && memif.peer_mac()[0] == 0xff) {
            if (rte_rdtsc() >= next) {
                next = rte_rdtsc() + _hz / 10;
                if (rte_mbuf* m = rte_pktmbuf_alloc(_pool)) {
                    std::span<uint8_t> out(rte_pktmbuf_mtod(m, uint8_t*), pkt::kEthMinFrameLen);
                    size_t len = pkt::build_arp_request(out, mac_of(kClientBase),
                                                        htonl(kClientBase), htonl(kGatewayIp));
                    m->data_len = static_cast<uint16_t>(len);
                    m->pkt_len = static_cast<uint32_t>(len);
                    if (memif.send(&m, 1) != 1) {
                        rte_pktmbuf_free(m);
                    }
                }
            }
            receive(false);
        }
    }
    void measure();
    void report(double seconds_measured, uint64_t worker_cycles);
    // After warmup(): flows that never got a frame back.
    uint64_t unanswered() const { return _unseen; }
    // The rings of the two service sets a change switches between: all
    // backends, and all but the last --remove (what the old ring would
    // have picked for a new flow).
    void set_rings(std::vector<std::unique_ptr<const Service>> full,
                   std::vector<std::unique_ptr<const Service>> reduced) {
        _rings[0] = std::move(full);
        _rings[1] = std::move(reduced);
    }

    Stats stats;
    RingLink* ring = nullptr;  // set on the ring link (ARP, disruption)

private:
    rte_mbuf* frame(const FrameSpec& spec) {
        rte_mbuf* m = rte_pktmbuf_alloc(_pool);
        if (m == nullptr) {
            return nullptr;
        }
        auto* p = rte_pktmbuf_mtod(m, uint8_t*);
        size_t len = build_frame(p, spec);
        m->data_len = static_cast<uint16_t>(len);
        m->pkt_len = static_cast<uint32_t>(len);
        return m;
    }
    FrameSpec client_spec(uint32_t slot, uint8_t flags) {
        Endpoints e = endpoints_of(_s, slot, _slots[slot].generation);
        FrameSpec f;
        f.src_mac = mac_of(e.client_ip);
        f.dst_mac = _link.peer_mac();
        f.src_ip = e.client_ip;
        f.dst_ip = _s.vip_ip(e.service);
        f.src_port = e.client_port;
        f.dst_port = kVipPort;
        f.tcp = _s.tcp();
        f.tcp_flags = flags;
        f.frame_size = _s.frame_size;
        f.tag = Tag{kTagMagic, _slots[slot].generation, slot, rte_rdtsc()};
        return f;
    }
    void queue(rte_mbuf* m) {
        if (m != nullptr) {
            _pending.push_back(m);
        }
    }
    void answer_arp(uint32_t target_be, const MacAddr& asker_mac, uint32_t asker_be) {
        uint32_t target = be32(target_be);
        if (!_s.is_backend(target) && !_s.is_client(target)) {
            return;
        }
        rte_mbuf* m = rte_pktmbuf_alloc(_pool);
        if (m == nullptr) {
            return;
        }
        std::span<uint8_t> out(rte_pktmbuf_mtod(m, uint8_t*), pkt::kEthMinFrameLen);
        size_t len = pkt::build_arp_reply(out, mac_of(target), target_be, asker_mac, asker_be);
        m->data_len = static_cast<uint16_t>(len);
        m->pkt_len = static_cast<uint32_t>(len);
        ++stats.arp_answered;
        queue(m);
    }
    uint16_t fill_fresh(rte_mbuf** m, uint16_t want, bool warm);
    void transmit(uint16_t budget, bool warm);
    void receive(bool measuring);
    void on_frame(const uint8_t* f, uint16_t len, bool measuring);
    void on_forward(const uint8_t* f, const pkt::Parsed& p, const Tag& t, bool measuring);
    void on_reply(const uint8_t* f, const pkt::Parsed& p, const Tag& t);
    bool apply_change(uint64_t now);
    void open_new_connections();
    void loop(double seconds, bool warm);

    const Options& _o;
    Shape _s;
    Link& _link;
    rte_mempool* _pool;
    std::vector<Slot> _slots;
    std::vector<uint64_t> _backend_conns;
    std::deque<rte_mbuf*> _pending;  // reactions (ARP, handshake), sent first
    uint32_t _cursor = 0;
    uint64_t _hz = 0;
    uint64_t _unseen = 0;
    uint32_t _alive_backends = 0;  // per service: the first N are alive
    bool _changed = false;
    bool _reduced = false;                      // the last --remove backends are out
    uint64_t _settled_tsc = UINT64_MAX;         // frames sent after this meet the new ring
    uint64_t _new_connections_at = UINT64_MAX;  // tsc: odd slots open new connections
    uint32_t _reopen_cursor = 0;                // next odd slot (index / 2) to reopen
    std::array<std::vector<std::unique_ptr<const Service>>, 2> _rings;  // full, reduced
};

uint16_t Generator::fill_fresh(rte_mbuf** m, uint16_t want, bool warm) {
    uint16_t n = 0;
    uint64_t now = rte_rdtsc();
    for (uint32_t tries = 0; n < want && tries < _s.flows; ++tries) {
        uint32_t slot = _cursor;
        _cursor = _cursor + 1 == _s.flows ? 0 : _cursor + 1;
        Slot& sl = _slots[slot];
        if (warm) {
            if (sl.seen) {
                continue;
            }
            m[n] = frame(client_spec(slot, _s.tcp() ? tcp_flag::syn : 0));
        } else if (_s.mix == Mix::established || _s.mix == Mix::udp) {
            m[n] = frame(client_spec(slot, tcp_flag::ack | tcp_flag::psh));
        } else if (_s.mix == Mix::syn) {
            ++sl.generation;
            sl.backend = 0;
            ++stats.connections;
            m[n] = frame(client_spec(slot, tcp_flag::syn));
        } else {  // handshake: open idle slots, reopen stalled ones
            if (sl.state != SlotState::idle) {
                if (now - sl.since < static_cast<uint64_t>(kStallS * _hz)) {
                    continue;
                }
                ++stats.stalled;
            }
            ++sl.generation;
            sl.backend = 0;
            sl.state = SlotState::syn_sent;
            sl.since = now;
            ++stats.connections;
            m[n] = frame(client_spec(slot, tcp_flag::syn));
        }
        if (m[n] == nullptr) {
            break;
        }
        ++n;
    }
    return n;
}

void Generator::transmit(uint16_t budget, bool warm) {
    std::array<rte_mbuf*, kBurst> m;
    uint16_t n = 0;
    while (n < kBurst && !_pending.empty() && n < budget + kBurst / 2) {
        m[n++] = _pending.front();
        _pending.pop_front();
    }
    uint16_t fresh_budget = std::min<uint16_t>(budget, kBurst - n);
    n += fill_fresh(m.data() + n, fresh_budget, warm);
    if (n == 0) {
        return;
    }
    uint16_t sent = _link.send(m.data(), n);
    stats.tx += sent;
    if (sent < n) {
        rte_pktmbuf_free_bulk(m.data() + sent, n - sent);
    }
}

void Generator::receive(bool measuring) {
    std::array<rte_mbuf*, kBurst> m;
    uint16_t n = _link.recv(m.data(), kBurst);
    for (uint16_t i = 0; i < n; ++i) {
        on_frame(rte_pktmbuf_mtod(m[i], const uint8_t*), m[i]->data_len, measuring);
    }
    if (n != 0) {
        rte_pktmbuf_free_bulk(m.data(), n);
    }
}

void Generator::on_frame(const uint8_t* f, uint16_t len, bool measuring) {
    pkt::Parsed p = pkt::parse(f, len, true);
    if (p.l3 == pkt::L3::arp && p.verdict == pkt::Verdict::ok) {
        MacAddr asker;
        std::memcpy(asker.data(), f + p.l3_offset + 8, 6);
        if (p.arp_op == pkt::kArpOpRequest) {
            answer_arp(p.key.dst_ip, asker, p.key.src_ip);
        } else if (be32(p.key.src_ip) == kGatewayIp) {
            if (auto* memif = dynamic_cast<MemifLink*>(&_link)) {
                memif->set_peer_mac(asker);
            }
        }
        return;
    }
    ++stats.rx;
    if (p.verdict == pkt::Verdict::bad_ip_checksum) {
        stats.error(VerifyError::bad_checksum);
        return;
    }
    if (p.verdict != pkt::Verdict::ok || p.l3 != pkt::L3::ipv4 ||
        (p.key.proto != pkt::kProtoTcp && p.key.proto != pkt::kProtoUdp)) {
        stats.error(VerifyError::malformed);
        return;
    }
    if (!pkt::l4_checksum_ok(f + p.l3_offset)) {
        stats.error(VerifyError::bad_checksum);
        return;
    }
    Tag t = read_tag(f, p);
    if (t.magic == 0) {
        stats.error(VerifyError::no_tag);
        return;
    }
    if (t.flow >= _s.flows) {
        stats.error(VerifyError::unknown_flow);
        return;
    }
    if (measuring) {
        uint64_t now = rte_rdtsc();
        stats.latency.add((now - t.tsc) * 1'000'000'000 / _hz);
    }
    _slots[t.flow].seen = true;
    if (_o.peer == Peer::macswap) {
        return;  // testpmd swaps MACs only: tag, checksums and latency are all there is
    }
    uint32_t dst = be32(p.key.dst_ip);
    if (_s.is_backend(dst)) {
        ++stats.rx_forward;
        on_forward(f, p, t, measuring);
    } else if (_s.is_client(dst)) {
        ++stats.rx_reply;
        on_reply(f, p, t);
    } else {
        stats.error(VerifyError::unexpected);
    }
}

void Generator::on_forward(const uint8_t* f, const pkt::Parsed& p, const Tag& t, bool measuring) {
    Slot& sl = _slots[t.flow];
    uint32_t service = service_of_slot(_s, t.flow);
    uint32_t backend = be32(p.key.dst_ip);
    MacAddr dst_mac, src_mac;
    std::memcpy(dst_mac.data(), f, 6);
    std::memcpy(src_mac.data(), f + 6, 6);
    if (dst_mac != mac_of(backend) || src_mac != _link.peer_mac()) {
        stats.error(VerifyError::bad_l2);
    }
    if (p.ttl != kTtl - 1) {
        stats.error(VerifyError::bad_ttl);
    }
    if (_s.service_of_backend(backend) != service) {
        stats.error(VerifyError::wrong_backend);
        return;
    }
    if (be16(p.key.dst_port) != kTargetPort) {
        stats.error(VerifyError::wrong_port);
    }
    Endpoints e = endpoints_of(_s, t.flow, t.generation);
    if (_s.fullnat ? be32(p.key.src_ip) != _s.snat_ip
                   : (be32(p.key.src_ip) != e.client_ip || be16(p.key.src_port) != e.client_port)) {
        stats.error(VerifyError::bad_source);
    }
    uint32_t b_index = backend - _s.backend_ip(service, 0);
    if (ring != nullptr && t.tsc > _settled_tsc && b_index >= _alive_backends) {
        // Sent after the last change, which the in-process worker applied
        // before reading it: a removed backend must get nothing.
        stats.error(VerifyError::dead_backend);
    }
    if (t.generation == sl.generation && sl.backend != 0 && sl.backend != backend) {
        uint32_t old_index = sl.backend - _s.backend_ip(service, 0);
        if (old_index < _alive_backends) {
            ++stats.moved_alive;
            stats.error(VerifyError::backend_changed);
        } else {
            ++stats.moved_dead;  // its backend was removed: re-balanced, as it must be
        }
    }
    if (t.generation == sl.generation && sl.backend != backend) {
        if (sl.backend == 0) {
            ++_backend_conns[size_t{service} * _s.backends + b_index];
            if (_changed && !_rings[0].empty() && measuring && t.tsc > _settled_tsc) {
                // New connection after the change: where would the ring
                // before it have sent it?
                FlowKey k;
                k.src_ip = be32(e.client_ip);
                k.dst_ip = be32(_s.vip_ip(service));
                k.src_port = be16(e.client_port);
                k.dst_port = be16(kVipPort);
                k.proto = _s.tcp() ? pkt::kProtoTcp : pkt::kProtoUdp;
                const Service& old = *_rings[_reduced ? 0 : 1][service];
                uint32_t before = old.backends()[old.ring().pick(flow_hash(k))].ip_be;
                ++stats.new_after_change;
                stats.remapped += before != be32(backend);
            }
        }
        sl.backend = backend;
    }
    // Backend side of a handshake connection.
    if (_s.mix == Mix::handshake && t.generation == sl.generation) {
        uint8_t flags = p.tcp_flags;
        uint8_t answer = 0;
        if ((flags & tcp_flag::syn) != 0 && (flags & tcp_flag::ack) == 0) {
            answer = tcp_flag::syn | tcp_flag::ack;
        } else if ((flags & tcp_flag::fin) != 0) {
            answer = tcp_flag::fin | tcp_flag::ack;
        }
        if (answer != 0) {
            FrameSpec r;
            r.src_mac = mac_of(backend);
            r.dst_mac = _link.peer_mac();
            r.src_ip = backend;
            r.dst_ip = be32(p.key.src_ip);
            r.src_port = be16(p.key.dst_port);
            r.dst_port = be16(p.key.src_port);
            r.tcp_flags = answer;
            r.frame_size = _s.frame_size;
            r.tag = Tag{kTagMagic, t.generation, t.flow, rte_rdtsc()};
            queue(frame(r));
        }
    }
}

void Generator::on_reply(const uint8_t* f, const pkt::Parsed& p, const Tag& t) {
    Slot& sl = _slots[t.flow];
    uint32_t service = service_of_slot(_s, t.flow);
    Endpoints e = endpoints_of(_s, t.flow, t.generation);
    MacAddr dst_mac;
    std::memcpy(dst_mac.data(), f, 6);
    if (be32(p.key.src_ip) != _s.vip_ip(service) || be16(p.key.src_port) != kVipPort ||
        be32(p.key.dst_ip) != e.client_ip || be16(p.key.dst_port) != e.client_port) {
        stats.error(VerifyError::bad_reply);
        return;
    }
    if (dst_mac != mac_of(e.client_ip)) {
        stats.error(VerifyError::bad_l2);
    }
    if (p.ttl != kTtl - 1) {
        stats.error(VerifyError::bad_ttl);
    }
    if (_s.mix != Mix::handshake || t.generation != sl.generation) {
        return;
    }
    uint64_t now = rte_rdtsc();
    if ((p.tcp_flags & (tcp_flag::syn | tcp_flag::ack)) == (tcp_flag::syn | tcp_flag::ack)) {
        queue(frame(client_spec(t.flow, tcp_flag::ack)));
        for (uint32_t d = 0; d < kDataPerConnection; ++d) {
            queue(frame(client_spec(t.flow, tcp_flag::ack | tcp_flag::psh)));
        }
        queue(frame(client_spec(t.flow, tcp_flag::fin | tcp_flag::ack)));
        sl.state = SlotState::data_sent;
        sl.since = now;
    } else if ((p.tcp_flags & tcp_flag::fin) != 0) {
        queue(frame(client_spec(t.flow, tcp_flag::ack)));
        sl.state = SlotState::idle;
        sl.since = now;
    }
}

bool Generator::apply_change(uint64_t now) {
    const bool reduce = !_reduced;
    std::vector<uint32_t> keep;
    for (uint32_t b = 0; b < _s.backends; ++b) {
        if (!reduce || b + _o.remove < _s.backends) {
            keep.push_back(b);
        }
    }
    if (ring != nullptr) {
        InprocGateway& gw = ring->gateway();
        uint64_t t0 = rte_rdtsc();
        for (uint32_t v = 0; v < _s.vips; ++v) {
            auto done = gw.table().upsert(service_config(_s, v, keep), MaglevConfig{});
            if (!done) {
                std::fprintf(stderr, "pktgen: change failed: %s\n", done.error().str().c_str());
                return false;
            }
        }
        stats.change_cycles += rte_rdtsc() - t0;
        _new_connections_at = now;
        _settled_tsc = rte_rdtsc();
    } else {
        if (std::rename(_o.reload_from.c_str(), _o.reload_to.c_str()) != 0 ||
            kill(_o.reload_pid, SIGHUP) != 0) {
            std::fprintf(stderr, "pktgen: reload failed: %s\n", std::strerror(errno));
            return false;
        }
        _new_connections_at = now + static_cast<uint64_t>(kReloadSettleS * _hz);
        _settled_tsc = _new_connections_at;
    }
    _alive_backends = static_cast<uint32_t>(keep.size());
    _reduced = reduce;
    _changed = true;
    ++stats.changes;
    return true;
}

void Generator::open_new_connections() {
    // Odd slots start new connections (new tuples); even ones carry on.
    // Each change reopens a batch, rotating: every new tuple is a new flow
    // that lives on in the table, and a full table would evict established
    // flows (which then move, through no fault of the change), so the
    // batches of all changes together fit in the room left.
    uint32_t odd = _s.flows / 2;
    if (odd == 0) {
        return;
    }
    uint64_t room = max_flows(_o) > _s.flows ? (max_flows(_o) - _s.flows) / 2 : 0;
    uint64_t batch = std::clamp<uint64_t>(room / std::max(1u, _o.changes), 1, odd);
    for (uint64_t n = 0; n < batch; ++n) {
        uint32_t i = 2 * _reopen_cursor + 1;
        _reopen_cursor = _reopen_cursor + 1 == odd ? 0 : _reopen_cursor + 1;
        ++_slots[i].generation;
        _slots[i].backend = 0;
    }
    stats.reopened += batch;
}

void Generator::loop(double seconds, bool warm) {
    uint64_t start = rte_rdtsc();
    uint64_t end = start + static_cast<uint64_t>(seconds * _hz);
    bool can_change = ring != nullptr || _o.reload_pid != 0;
    uint64_t change = _o.change_at >= 0 && _o.remove > 0 && !warm && can_change
                          ? start + static_cast<uint64_t>(_o.change_at * _hz)
                          : UINT64_MAX;
    auto change_every = static_cast<uint64_t>(_o.change_every_ms * 1e-3 * static_cast<double>(_hz));
    double rate = warm ? (_o.rate > 0 ? std::min(_o.rate, kWarmupPps) : kWarmupPps) : _o.rate;
    uint64_t sent_at_start = stats.tx;
    uint64_t now = start;
    uint32_t warm_left = 0;
    while ((now = rte_rdtsc()) < end) {
        if (now >= change) {
            bool more = apply_change(now) && stats.changes < _o.changes;
            change = more ? change + change_every : UINT64_MAX;
        }
        if (now >= _new_connections_at) {
            open_new_connections();
            _new_connections_at = UINT64_MAX;
        }
        uint16_t budget = kBurst;
        if (rate > 0) {
            double allowed = static_cast<double>(now - start) / static_cast<double>(_hz) * rate -
                             static_cast<double>(stats.tx - sent_at_start);
            budget = static_cast<uint16_t>(std::clamp(allowed, 0.0, double{kBurst}));
        }
        transmit(budget, warm);
        _link.poll(now);
        receive(!warm);
        if (warm && ++warm_left % 1024 == 0) {
            uint64_t unseen = 0;
            for (const Slot& s : _slots) {
                unseen += !s.seen;
            }
            _unseen = unseen;
            if (unseen == 0) {
                return;
            }
        }
    }
}

bool Generator::warmup() {
    loop(kWarmupMaxS, true);
    // Collect stragglers, then start counting afresh.
    uint64_t drain_end = rte_rdtsc() + static_cast<uint64_t>(kDrainS * _hz);
    while (rte_rdtsc() < drain_end) {
        _link.poll(rte_rdtsc());
        receive(false);
    }
    uint64_t unseen = 0;
    for (Slot& s : _slots) {
        unseen += !s.seen;
        if (_s.mix == Mix::syn || _s.mix == Mix::handshake) {
            s.state = SlotState::idle;
        }
    }
    std::fill(_backend_conns.begin(), _backend_conns.end(), 0);
    for (Slot& s : _slots) {
        if (s.backend != 0 && _s.mix != Mix::syn && _s.mix != Mix::handshake) {
            uint32_t service = _s.service_of_backend(s.backend);
            ++_backend_conns[size_t{service} * _s.backends +
                             (s.backend - _s.backend_ip(service, 0))];
        }
    }
    std::printf("warm-up: %u flows, %lu never answered, %lu ARP answers\n", _s.flows, unseen,
                stats.arp_answered);
    _unseen = unseen;
    Stats fresh;
    fresh.arp_answered = stats.arp_answered;
    stats = fresh;
    if (ring != nullptr) {
        ring->worker_cycles = 0;
    }
    return unseen == 0 || _o.peer == Peer::macswap;
}

void Generator::measure() {
    loop(_o.duration, false);
}

void Generator::report(double seconds, uint64_t worker_cycles) {
    auto mpps = [&](uint64_t n) { return static_cast<double>(n) / seconds / 1e6; };
    double ns_per_pkt = stats.tx == 0
                            ? 0
                            : static_cast<double>(worker_cycles) * 1e9 / static_cast<double>(_hz) /
                                  static_cast<double>(stats.tx);
    // Shares of connections per backend, relative to an even split (1.0).
    double min_share = 0, max_share = 0;
    uint64_t total = 0;
    for (uint64_t c : _backend_conns) {
        total += c;
    }
    if (total != 0) {
        double even = static_cast<double>(total) / static_cast<double>(_backend_conns.size());
        min_share = 1e9;
        for (uint32_t v = 0; v < _s.vips; ++v) {
            for (uint32_t b = 0; b < _alive_backends; ++b) {
                double r = static_cast<double>(_backend_conns[size_t{v} * _s.backends + b]) / even;
                min_share = std::min(min_share, r);
                max_share = std::max(max_share, r);
            }
        }
    }
    std::printf("tx %.3f Mpps, rx %.3f Mpps (forward %lu, reply %lu), lost %ld, errors %lu\n",
                mpps(stats.tx), mpps(stats.rx), stats.rx_forward, stats.rx_reply,
                static_cast<long>(stats.tx) - static_cast<long>(stats.rx), stats.error_total());
    for (size_t e = 0; e < stats.errors.size(); ++e) {
        if (stats.errors[e] != 0) {
            std::printf("  error %s: %lu\n", kVerifyErrorNames[e], stats.errors[e]);
        }
    }
    std::printf("latency ns: p50 %lu p90 %lu p99 %lu p99.9 %lu max %lu\n",
                stats.latency.quantile(0.5), stats.latency.quantile(0.9),
                stats.latency.quantile(0.99), stats.latency.quantile(0.999), stats.latency.max());
    if (total != 0) {
        std::printf("backend shares (connections / even split): min %.3f max %.3f over %zu\n",
                    min_share, max_share, _backend_conns.size());
    }
    double remapped = stats.new_after_change == 0 ? 0.0
                                                  : static_cast<double>(stats.remapped) /
                                                        static_cast<double>(stats.new_after_change);
    if (_changed) {
        std::printf(
            "change: %lu of %u changes (remove/add back %u of %u backends per service); existing "
            "flows moved %lu (surviving backends) + %lu (removed); new flows remapped %.4f of "
            "%lu vs the ring before their change (R/N = %.4f); %lu connections reopened; "
            "%.1f us per change (upsert of %u services)\n",
            stats.changes, _o.changes, _o.remove, _s.backends, stats.moved_alive, stats.moved_dead,
            remapped, stats.new_after_change,
            _s.backends == 0 ? 0.0 : static_cast<double>(_o.remove) / _s.backends, stats.reopened,
            stats.changes == 0 ? 0.0
                               : static_cast<double>(stats.change_cycles) * 1e6 /
                                     static_cast<double>(_hz) / static_cast<double>(stats.changes),
            _s.vips);
    }
    std::printf(
        "RESULT tx_mpps=%.4f rx_mpps=%.4f lost=%ld errors=%lu conn_per_s=%.0f "
        "worker_ns_per_pkt=%.2f lat_p50_ns=%lu lat_p99_ns=%lu lat_p999_ns=%lu "
        "share_min=%.3f share_max=%.3f moved_alive=%lu moved_dead=%lu remapped=%.4f "
        "stalled=%lu changes=%lu new_after_change=%lu dead_backend=%lu\n",
        mpps(stats.tx), mpps(stats.rx), static_cast<long>(stats.tx) - static_cast<long>(stats.rx),
        stats.error_total(), static_cast<double>(stats.connections) / seconds, ns_per_pkt,
        stats.latency.quantile(0.5), stats.latency.quantile(0.99), stats.latency.quantile(0.999),
        min_share, max_share, stats.moved_alive, stats.moved_dead, remapped, stats.stalled,
        stats.changes, stats.new_after_change,
        stats.errors[static_cast<size_t>(VerifyError::dead_backend)]);
}

// ---- set-up --------------------------------------------------------------

void usage() {
    std::fprintf(stderr,
                 "usage: svcgw-pktgen [--link ring|memif] [--peer svcgw|macswap] [--clients N] "
                 "[--vips N] [--backends N] [--flows N] [--mix established|handshake|syn|udp] "
                 "[--size BYTES] [--mode fullnat|nat] [--rate PPS] [--duration S] [--workers N] "
                 "[--max-flows N] "
                 "[--change-at S --remove R [--changes N --change-every-ms X] "
                 "[--reload-pid PID --reload-from NEW --reload-to CFG]] "
                 "[--emit-config FILE --device SPEC] -- EAL options\n");
}

std::optional<Options> parse_options(int argc, char** argv, int& eal_start) {
    Options o;
    eal_start = argc;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--") {
            eal_start = i + 1;
            break;
        }
        if (i + 1 >= argc) {
            return std::nullopt;
        }
        std::string v = argv[++i];
        auto num = [&] { return std::strtoul(v.c_str(), nullptr, 10); };
        if (a == "--link" && (v == "ring" || v == "memif")) {
            o.link = v;
        } else if (a == "--peer" && (v == "svcgw" || v == "macswap")) {
            o.peer = v == "svcgw" ? Peer::svcgw : Peer::macswap;
        } else if (a == "--clients") {
            o.shape.clients = static_cast<uint32_t>(std::max(1ul, num()));
        } else if (a == "--vips") {
            o.shape.vips = static_cast<uint32_t>(std::max(1ul, num()));
        } else if (a == "--backends") {
            o.shape.backends = static_cast<uint32_t>(std::max(1ul, num()));
        } else if (a == "--flows") {
            o.shape.flows = static_cast<uint32_t>(std::max(1ul, num()));
        } else if (a == "--mix") {
            std::map<std::string, Mix> mixes = {{"established", Mix::established},
                                                {"handshake", Mix::handshake},
                                                {"syn", Mix::syn},
                                                {"udp", Mix::udp}};
            if (!mixes.contains(v)) {
                return std::nullopt;
            }
            o.shape.mix = mixes[v];
        } else if (a == "--size") {
            o.shape.frame_size = static_cast<uint32_t>(num());
        } else if (a == "--mode" && (v == "fullnat" || v == "nat")) {
            o.shape.fullnat = v == "fullnat";
        } else if (a == "--rate") {
            o.rate = std::strtod(v.c_str(), nullptr);
        } else if (a == "--duration") {
            o.duration = std::strtod(v.c_str(), nullptr);
        } else if (a == "--workers") {
            o.workers = static_cast<uint16_t>(std::max(1ul, num()));
        } else if (a == "--change-at") {
            o.change_at = std::strtod(v.c_str(), nullptr);
        } else if (a == "--remove") {
            o.remove = static_cast<uint32_t>(num());
        } else if (a == "--changes") {
            o.changes = static_cast<uint32_t>(std::max(1ul, num()));
        } else if (a == "--change-every-ms") {
            o.change_every_ms = std::max(0.0, std::strtod(v.c_str(), nullptr));
        } else if (a == "--emit-config") {
            o.emit_config = v;
        } else if (a == "--device") {
            o.device = v;
        } else if (a == "--max-flows") {
            o.max_flows = static_cast<uint32_t>(num());
        } else if (a == "--reload-pid") {
            o.reload_pid = static_cast<pid_t>(num());
        } else if (a == "--reload-from") {
            o.reload_from = v;
        } else if (a == "--reload-to") {
            o.reload_to = v;
        } else {
            return std::nullopt;
        }
    }
    uint32_t min = o.shape.tcp() ? kMinTcpFrame : kMinUdpFrame;
    o.shape.frame_size = std::clamp<uint32_t>(o.shape.frame_size, min, kMaxFrame);
    if (o.remove >= o.shape.backends) {
        o.remove = 0;
    }
    if (o.changes > 1 && (o.link != "ring" || o.peer != Peer::svcgw)) {
        std::fprintf(stderr, "pktgen: --changes past 1 needs --link ring\n");
        return std::nullopt;
    }
    return o;
}

// Flow-table capacity: twice the flows keeps the cuckoo table far from full.
uint32_t max_flows(const Options& o) {
    return o.max_flows != 0 ? o.max_flows : std::max<uint32_t>(1u << 20, o.shape.flows * 2);
}

// The svcgw config matching the shape (for the memif link).
int emit_config(const Options& o) {
    std::ofstream out(o.emit_config);
    const Shape& s = o.shape;
    out << "dpdk: {lcores: \"0-1\", memory_mb: 1024, file_prefix: svcgw_perf}\n"
        << "ports:\n  - {name: perf0, device: \"" << o.device
        << "\", address: " << Ipv4{kGatewayIp}.str() << "/" << int{kLinkPrefix} << "}\n"
        << "network: {service_cidr: " << Ipv4{kServiceNet}.str() << "/" << int{kServiceCidrLen}
        << "}\n"
        << "dns: {cluster_ip: " << Ipv4{kDnsIp}.str() << "}\n"
        << "forwarding: {mode: " << (s.fullnat ? "fullnat" : "nat") << "}\n"
        << "conntrack: {max_flows: " << max_flows(o) << "}\n"
        << "services:\n";
    for (uint32_t v = 0; v < s.vips; ++v) {
        out << "  - name: svc" << v << "\n    cluster_ip: " << Ipv4{s.vip_ip(v)}.str()
            << "\n    ports: [{port: " << kVipPort << ", target_port: " << kTargetPort
            << ", protocol: " << (s.tcp() ? "TCP" : "UDP") << "}]\n    endpoints:\n";
        for (uint32_t b = 0; b + o.remove < s.backends; ++b) {
            out << "      - {ip: " << Ipv4{s.backend_ip(v, b)}.str() << "}\n";
        }
    }
    return out ? 0 : 1;
}

// Waits for the memif peer to connect. A memif client connects once, at
// port start: when the peer's socket exists but its port is not started yet,
// the peer refuses the connection and nothing retries it (the testpmd
// pairing counted no frames back for exactly this reason). So the port is
// restarted every kConnectRetryS until the link is up or kConnectMaxS passes.
constexpr double kConnectRetryS = 1.0;
constexpr double kConnectMaxS = 15.0;
bool memif_link_up(uint16_t port) {
    uint64_t hz = rte_get_tsc_hz();
    uint64_t end = rte_rdtsc() + static_cast<uint64_t>(kConnectMaxS * hz);
    uint64_t retry = rte_rdtsc() + static_cast<uint64_t>(kConnectRetryS * hz);
    while (rte_rdtsc() < end) {
        rte_eth_link l{};
        rte_eth_link_get_nowait(port, &l);
        if (l.link_status == RTE_ETH_LINK_UP) {
            return true;
        }
        if (rte_rdtsc() >= retry) {
            retry = rte_rdtsc() + static_cast<uint64_t>(kConnectRetryS * hz);
            rte_eth_dev_stop(port);
            if (rte_eth_dev_start(port) != 0) {
                return false;
            }
        }
        usleep(10000);
    }
    return false;
}

int run(int argc, char** argv) {
    int eal_start = 0;
    auto parsed = parse_options(argc, argv, eal_start);
    if (!parsed) {
        usage();
        return 2;
    }
    Options o = *parsed;
    if (!o.emit_config.empty()) {
        return emit_config(o);
    }
    std::vector<char*> eal_argv = {argv[0]};
    for (int i = eal_start; i < argc; ++i) {
        eal_argv.push_back(argv[i]);
    }
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
        std::fprintf(stderr, "pktgen: rte_eal_init failed\n");
        return 1;
    }
    rte_mempool* pool = rte_pktmbuf_pool_create("pktgen", kPoolMbufs, kPoolCache, 0,
                                                RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (pool == nullptr) {
        std::fprintf(stderr, "pktgen: mempool failed\n");
        return 1;
    }
    std::unique_ptr<Link> link;
    RingLink* ring = nullptr;
    if (o.link == "ring") {
        InprocOptions io;
        io.workers = o.workers;
        io.fullnat = o.shape.fullnat;
        io.max_flows = max_flows(o);
        io.max_vips = std::max<uint32_t>(1024, o.shape.vips);
        io.pool = pool;
        auto gw = InprocGateway::create(io);
        if (!gw) {
            return 1;
        }
        auto added = gw->add_services(o.shape);
        if (!added) {
            std::fprintf(stderr, "pktgen: services: %s\n", added.error().str().c_str());
            return 1;
        }
        auto r = std::make_unique<RingLink>(std::move(gw));
        ring = r.get();
        link = std::move(r);
    } else {
        if (rte_eth_dev_count_avail() == 0) {
            std::fprintf(stderr, "pktgen: no port (pass --vdev net_memif...)\n");
            return 1;
        }
        rte_eth_conf conf{};
        if (rte_eth_dev_configure(0, 1, 1, &conf) != 0 ||
            rte_eth_rx_queue_setup(0, 0, 1024, rte_socket_id(), nullptr, pool) != 0 ||
            rte_eth_tx_queue_setup(0, 0, 1024, rte_socket_id(), nullptr) != 0 ||
            rte_eth_dev_start(0) != 0) {
            std::fprintf(stderr, "pktgen: port set-up failed\n");
            return 1;
        }
        if (!memif_link_up(0)) {
            std::fprintf(stderr,
                         "pktgen: memif link never came up (is the peer running and "
                         "its port started? role/socket must pair)\n");
            rte_eth_dev_stop(0);
            rte_eth_dev_close(0);
            rte_eal_cleanup();
            return 1;
        }
        link = std::make_unique<MemifLink>(0);
    }

    Generator gen(o, *link, pool);
    gen.ring = ring;
    if ((ring != nullptr || o.reload_pid != 0) && o.change_at >= 0 && o.remove > 0) {
        std::vector<uint32_t> kept;
        for (uint32_t b = 0; b + o.remove < o.shape.backends; ++b) {
            kept.push_back(b);
        }
        std::vector<std::unique_ptr<const Service>> full, reduced;
        for (uint32_t v = 0; v < o.shape.vips; ++v) {
            auto all = Service::build(service_config(o.shape, v), MaglevConfig{});
            auto some = Service::build(service_config(o.shape, v, kept), MaglevConfig{});
            if (!all || !some) {
                return 1;
            }
            full.push_back(std::move(*all));
            reduced.push_back(std::move(*some));
        }
        gen.set_rings(std::move(full), std::move(reduced));
    }
    const char* mixes[] = {"established", "handshake", "syn", "udp"};
    std::printf(
        "pktgen: link %s, peer %s, %s, mix %s, %u clients, %u VIPs, %u backends/service, "
        "%u flows, %u-byte frames, rate %s, %u worker(s)\n",
        o.link.c_str(), o.peer == Peer::svcgw ? "svcgw" : "macswap",
        o.shape.fullnat ? "fullnat" : "nat", mixes[static_cast<int>(o.shape.mix)], o.shape.clients,
        o.shape.vips, o.shape.backends, o.shape.flows, o.shape.frame_size,
        o.rate > 0 ? std::to_string(o.rate).c_str() : "max", o.workers);
    if (auto* memif = dynamic_cast<MemifLink*>(link.get()); memif != nullptr) {
        gen.resolve_peer(*memif);
    }
    if (!gen.warmup()) {
        std::printf("pktgen: warm-up incomplete (flows never answered); measuring anyway\n");
    }
    if (gen.unanswered() == o.shape.flows) {
        // Nothing came back at all: a broken pairing, not a measurement.
        std::fprintf(stderr, "pktgen: no frame came back during warm-up\n");
        link.reset();
        rte_eal_cleanup();
        return 1;
    }
    uint64_t t0 = rte_rdtsc();
    gen.measure();
    double seconds = static_cast<double>(rte_rdtsc() - t0) / static_cast<double>(rte_get_tsc_hz());
    gen.report(seconds, ring != nullptr ? ring->worker_cycles : 0);
    if (ring != nullptr) {
        InprocGateway& gw = ring->gateway();
        for (uint16_t w = 0; w < gw.workers(); ++w) {
            const WorkerCounters& c = gw.worker(w).counters();
            std::string line;
            for (size_t d = 0; d < kDropReasonNames.size(); ++d) {
                if (uint64_t v = c.get(static_cast<DropReason>(d)); v != 0) {
                    line += " " + std::string(kDropReasonNames[d]) + "=" + std::to_string(v);
                }
            }
            std::string events;
            for (size_t e = 0; e < kWorkerEventNames.size(); ++e) {
                if (uint64_t v = c.get(static_cast<WorkerEvent>(e)); v != 0) {
                    events += " " + std::string(kWorkerEventNames[e]) + "=" + std::to_string(v);
                }
            }
            std::printf("worker %u: flows %zu, events:%s, drops:%s\n", w,
                        gw.worker(w).stats().flows, events.c_str(),
                        line.empty() ? " none" : line.c_str());
        }
        rte_malloc_socket_stats ms{};
        rte_malloc_get_socket_stats(0, &ms);
        std::printf("EAL heap in use: %.1f MiB\n",
                    static_cast<double>(ms.heap_allocsz_bytes) / 1048576.0);
    }
    link.reset();
    rte_eal_cleanup();
    return 0;
}

}  // namespace
}  // namespace svcgw::pktgen

int main(int argc, char** argv) {
    return svcgw::pktgen::run(argc, argv);
}
