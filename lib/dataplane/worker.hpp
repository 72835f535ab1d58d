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
// Files by job: worker.cpp (the loop and the burst path: classify, flow
// lookup, NAT), worker_host.cpp (host duties: ARP, ping, ICMP errors, DNS
// turn-around, rejects), ownership.hpp (which worker owns a flow: the one
// rule), snat_ports.* (fullnat source ports), flow_census.* (the census),
// worker_impl.hpp (the state they share).
//
// A frame received by a worker that does not own its flow goes to the owner
// over an SPSC ring per (from, to) pair. This is what makes vdevs without
// RSS (net_af_packet fans out with a kernel hash) correct with any number of
// workers.
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

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "dataplane/flow_census.hpp"
#include "dataplane/worker_context.hpp"
#include "dataplane/worker_counters.hpp"
#include "dns/responder.hpp"

struct rte_mbuf;

namespace svcgw {

struct WorkerStats {
    size_t flows = 0;
    size_t snat_ports_in_use = 0;  // one per fullnat flow (ports are per backend tuple)
    size_t held = 0;
};

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
    // The last completed census; one reader thread (the control thread).
    FlowCensus census();
    // Housekeeping passes of poll_once: they move every kHousekeepingUs
    // while the loop polls and after each idle sleep, whatever the size of
    // the flow table (a census pass grows with it). Any thread may read it.
    uint64_t heartbeat() const;
    WorkerStats stats() const;
    uint16_t index() const;

private:
    struct Impl;
    std::unique_ptr<Impl> _impl;
};

}  // namespace svcgw
