// The data-plane worker (DESIGN §1): one per non-main lcore. Each owns one
// rx/tx queue pair, its flow table, its SNAT ports, its hold queue and its
// counters; nothing on the per-packet path takes a lock or does an atomic
// read-modify-write.
//
// Loop (run() repeats poll_once()): rx burst + handoff rings ->
// process_burst() -> tx burst; frames from the control thread (worker 0);
// every kHousekeepingUs the hold queue, a budget of flow expiry and a census
// step; rte_rcu_qsbr_quiescent() once per iteration. With `dpdk.idle:
// adaptive`, polls that find nothing back off to short sleeps
// (dataplane/idle_backoff.hpp), RCU-offline while asleep. process_burst()
// and poll_once() are callable without the loop (unit tests, benchmarks).
//
// Ownership of a flow (both directions must meet on one worker):
//  - nat:     owner = hash(client ip, client port) % workers, computed from
//             the source of client->VIP packets and the destination of
//             backend->client replies.
//  - fullnat: client->VIP packets as in nat; replies come to
//             (SNAT address, SNAT port) and the SNAT port is allocated so
//             that port % workers == owner.
// A frame received by another worker goes to its owner over an SPSC ring per
// (from, to) pair. This is what makes vdevs without RSS (net_af_packet fans
// out with a kernel hash) correct with any number of workers.
//
// Packet semantics (each drop counted under its own reason, never logged):
//  - malformed headers (truncated, IHL < 5, total length beyond the frame,
//    UDP length < 8, TCP data offset out of range): drop.malformed;
//  - IPv4 header checksum wrong: drop.bad_ip_checksum (device verdict, or
//    checked in software when the device gives none);
//  - IP options: accepted and kept; offsets follow the IHL;
//  - UDP with an empty payload: forwarded like any datagram;
//  - 802.1Q/802.1ad tags: drop.vlan_tagged (untagged ports only);
//  - IPv4 in broadcast/multicast frames, or to 224/4, 240/4 or the subnet's
//    broadcast address: drop.l2_multicast / drop.ip_multicast (ARP is the
//    only broadcast the gateway answers);
//  - TTL <= 1 on a forwarded packet: drop.ttl_expired, no Time Exceeded
//    (as IPVS; the gateway is not a hop the client traces);
//  - SYN+FIN, SYN+RST, NULL, XMAS: drop.bad_tcp_flags, never a flow;
//  - IPv4 fragments: drop.fragment (no reassembly; TCP sets DF and does
//    path MTU discovery, which the next point keeps working);
//  - ICMP errors (types 3, 11, 12) quoting a tracked flow's datagram, even
//    with only 8 bytes of its L4 header: handed to the flow's owner and
//    translated for the other side (outer and quoted addresses and ports,
//    quoted IP and L4 checksums, ICMP checksum), so a client gets
//    "fragmentation needed" about its own client->VIP packet; untracked
//    ones: drop.icmp_error_untracked.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "dataplane/worker_counters.hpp"
#include "dataplane/worker_neighbour.hpp"
#include "dns/responder.hpp"
#include "flow/flow_table.hpp"

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;
struct rte_rcu_qsbr;

namespace svcgw {

class ServiceTable;

// Burst size: DPDK's customary 32 amortises the PMD call and fits L1 with
// the headers we touch.
constexpr uint16_t kWorkerBurst = 32;
// Packets a worker may hold for unresolved next hops (bounded so a dead
// backend cannot drain the mempool).
constexpr uint32_t kHoldCapacity = 64;
// SPSC rings (power of two): handoff between workers and messages to the
// control thread. 1024 handoff slots cover ~30 bursts of skew.
constexpr uint32_t kHandoffRingSize = 1024;
constexpr uint32_t kControlRingSize = 1024;

// Worker -> control thread: ARP knowledge and resolution requests.
struct ControlMessage {
    enum Kind : uint16_t { learned = 1, resolve = 2 };
    uint32_t ip_be;
    MacAddr mac;  // learned only
    uint16_t kind;
};
static_assert(sizeof(ControlMessage) == 12 && sizeof(ControlMessage) % 4 == 0,
              "rte_ring element sizes are multiples of 4");

// Everything the workers share, set up by the app before they start and
// read-only afterwards (except through the atomics and rings it points to).
struct WorkerContext {
    uint16_t port_id = 0;
    uint16_t workers = 1;
    MacAddr mac{};
    uint32_t address_be = 0;      // the port's own address
    uint32_t subnet_mask_be = 0;  // the port's subnet
    uint32_t gateway_be = 0;      // 0 = none
    uint32_t service_net_be = 0;  // network.service_cidr
    uint32_t service_mask_be = 0;
    ForwardingMode mode = ForwardingMode::fullnat;
    IdleMode idle = IdleMode::poll;  // dpdk.idle: what run() does when it finds nothing
    std::vector<uint32_t> snat_be;   // SNAT source addresses (fullnat)
    ConntrackConfig conntrack;
    const ServiceTable* table = nullptr;
    rte_rcu_qsbr* qsbr = nullptr;  // thread id of worker i = i
    const std::atomic<const NeighbourView*>* neighbours = nullptr;
    rte_mempool* pool = nullptr;  // for frames built from scratch (RST, ICMP)
    // handoff[from * workers + to]; null on the diagonal.
    std::vector<rte_ring*> handoff;
    std::vector<rte_ring*> to_control;  // per worker, ControlMessage elements
    rte_ring* control_tx = nullptr;     // control -> worker 0: frames to send
    const std::atomic<bool>* stop = nullptr;
    uint64_t tsc_hz = 0;
    // Cluster DNS (DESIGN §3): UDP to dns_ip_be:53 is answered in place by
    // the worker that received it (stateless: no owner, no handoff); ARP and
    // ping for it are answered like a VIP's. 0 = no DNS address.
    uint32_t dns_ip_be = 0;
    // The live zone: the control thread publishes with a release store and
    // retires old zones through `qsbr`; a worker loads it with acquire once
    // per burst. Null (pointer or zone) = no configuration yet: SERVFAIL.
    const std::atomic<const dns::Zone*>* dns_zone = nullptr;
};

struct WorkerStats {
    size_t flows = 0;
    size_t snat_ports_in_use = 0;  // one per fullnat flow (ports are per backend tuple)
    size_t held = 0;
};

// Flow census: each worker walks its flow table in small steps during
// housekeeping (kCensusBudget entries per step, so a big table never stalls
// packets) and, at the end of each pass, hands the result to the control
// thread under a try_lock (never waits). Gives per (VIP key, backend) active
// flow counts and a sample of live flows for GET /v1/flows.
constexpr uint32_t kCensusSamples = 1024;
struct FlowCensus {
    uint64_t passes = 0;  // completed passes; 0 = none yet
    uint32_t now_s = 0;   // worker clock at the end of the pass
    // (packed VipKey: ip_be << 32 | port_be << 16 | proto, backend ip_be) -> live flows
    std::map<std::pair<uint64_t, uint32_t>, uint32_t> per_backend;
    std::vector<Flow> samples;  // at most kCensusSamples
};
inline uint64_t pack_vip(uint32_t ip_be, uint16_t port_be, uint8_t proto) {
    return uint64_t{ip_be} << 32 | uint64_t{port_be} << 16 | proto;
}

class Worker {
public:
    Worker(const WorkerContext& context, uint16_t index);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // fullnat on a device with RSS: choose SNAT ports whose reply hashes
    // (Toeplitz, the default key port.cpp programs) to this worker's queue
    // through `reta`, instead of handing replies over. Call before run().
    void enable_rss_steering(std::span<const uint16_t> reta);

    // The lcore loop: attach(), poll_once() until *context.stop becomes
    // true (backing off between empty polls with dpdk.idle: adaptive),
    // detach().
    void run();

    // Registers the calling thread as this worker's RCU reader (thread id =
    // index) and goes online; detach() goes offline and unregisters. A
    // caller of poll_once() without run() (the harness) brackets it so.
    void attach();
    void detach();

    // One iteration of the loop at `now_tsc`, between attach() and
    // detach(): rx burst, handoff rings, control-thread frames (worker 0),
    // housekeeping when due, tx flush, quiescent report. Returns the frames
    // it took in; 0 = it found nothing to do.
    uint32_t poll_once(uint64_t now_tsc);

    // Processes one burst as the loop does. `handed_off` = the frames come
    // from another worker (owner checks skipped). Frames to send end up in
    // the tx batch (take_tx() / flush_tx()); dropped frames are freed and
    // counted.
    void process_burst(std::span<rte_mbuf* const> frames, uint64_t now_tsc, bool handed_off);
    // Sends held frames whose next hop resolved, drops timed-out ones.
    void service_hold_queue(uint64_t now_tsc);
    // Runs up to `budget` flow-table expiry steps.
    void expire_flows(uint64_t now_tsc, uint32_t budget);

    // The batch built by process_burst, for tests: ownership passes to the
    // caller.
    std::vector<rte_mbuf*> take_tx();
    void flush_tx();

    const WorkerCounters& counters() const;
    // Per-worker DNS outcomes (single writer: this worker); the control
    // plane sums them over workers. Read from other threads without
    // synchronisation: values may lag, never tear on x86-64 (8-byte aligned).
    const dns::DnsCounters& dns_counters() const;
    // Runs up to `budget` entries of the census pass (the loop calls it).
    void census_step(uint64_t now_tsc, uint32_t budget);
    // The last completed census (control thread; brief lock).
    FlowCensus census() const;
    WorkerStats stats() const;
    uint16_t index() const;

private:
    struct Impl;
    std::unique_ptr<Impl> _impl;
};

}  // namespace svcgw
