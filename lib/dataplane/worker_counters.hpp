// Per-worker counters (STYLE §10): one X-macro list generates the enum and
// the names. Each worker owns one alignas(64) block; it bumps its counters
// with a relaxed load + store (no read-modify-write atomics on the fast
// path, a single writer), and other threads may read them relaxed at any
// time (stats, shutdown summary) without a data race.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

namespace svcgw {

// Things that happened to packets; not errors.
#define SVCGW_WORKER_EVENTS(X)                                                       \
    X(rx)                    /* frames received on the worker's queue */             \
    X(tx)                    /* frames handed to the device */                       \
    X(handoff_out)           /* frames passed to the flow's owner */                 \
    X(handoff_in)            /* frames received from another worker */               \
    X(control_tx)            /* control-thread frames (ARP requests, GARP) sent */   \
    X(arp_reply)             /* ARP requests for our address or a VIP answered */    \
    X(arp_learned)           /* ARP senders passed to the neighbour table */         \
    X(icmp_echo_reply)       /* pings to our address, the DNS address or a VIP */    \
    X(dns_reply)             /* DNS queries answered in place */                     \
    X(icmp_error_translated) /* ICMP errors about a flow sent to its other side */   \
    X(flow_new)              /* connections balanced to a backend */                 \
    X(flow_hit)              /* client->service packets of a known flow */           \
    X(flow_reply)            /* backend->client packets translated back */           \
    X(reply_stateless)       /* nat: backend replies translated without a flow */    \
    X(flow_rebalanced)       /* flows whose backend was deleted, balanced again */   \
    X(flow_reuse_rebalanced) /* SYN on a closed flow, backend out: balanced again */ \
    X(flow_expired)          /* flows removed by the idle timers */                  \
    X(reject_rst)            /* TCP connection refused with RST */                   \
    X(reject_icmp)           /* UDP refused with ICMP port unreachable */            \
    X(all_down_forwarded)    /* new flow, every backend probe-down (fail_open) */    \
    X(held)                  /* frames queued waiting for a next hop's MAC */        \
    X(l4_checksum_completed) /* partial TCP/UDP checksums finished (veth/tap) */     \
    X(resolve_request)       /* next hops the worker asked the control to resolve */ \
    X(idle_sleep)            /* sleeps with nothing to do (dpdk.idle: adaptive) */   \
    X(punt_control)          /* ARP, BGP, BFD handed to the kernel (TAP) */          \
    X(punt_other)            /* other host frames handed to the kernel */            \
    X(redirected)            /* fullnat: new flows' frames sent to their owner */    \
    X(redirect_in)           /* fullnat: client frames a fleet peer redirected */

// Why a frame was dropped (each one counted, never logged).
#define SVCGW_WORKER_DROPS(X)                                                          \
    X(malformed)            /* truncated or inconsistent headers */                    \
    X(not_ipv4)             /* neither IPv4 nor ARP (IPv6, LLDP, ...) */               \
    X(vlan_tagged)          /* 802.1Q/802.1ad tagged frame: untagged ports only */     \
    X(bad_ip_checksum)      /* IPv4 header checksum wrong (NIC verdict or ours) */     \
    X(l2_multicast)         /* IPv4 in a broadcast/multicast Ethernet frame */         \
    X(ip_multicast)         /* IPv4 to a multicast or broadcast address */             \
    X(bad_tcp_flags)        /* SYN+FIN, SYN+RST, NULL or XMAS segment: never a flow */ \
    X(not_for_us)           /* IPv4 not to our address, a VIP or a known flow */       \
    X(own_frame)            /* our own transmission looped back by the vdev */         \
    X(fragment)             /* IPv4 fragments (not reassembled) */                     \
    X(unsupported_l4)       /* L4 protocol the gateway does not translate */           \
    X(ttl_expired)          /* TTL would reach zero on forwarding */                   \
    X(no_endpoint)          /* service without eligible backend (reject sent) */       \
    X(all_down)             /* every backend probe-down, all_down: reject (sent) */    \
    X(no_service)           /* service address (CIDR or VIP) not a live VIP:port */    \
    X(source_range)         /* new flow to an LB VIP from outside its source ranges */ \
    X(no_target_port)       /* backend does not serve the service port */              \
    X(flow_table_full)      /* flow index had no room for a new connection's keys */   \
    X(flow_conflict)        /* a new connection's key belongs to a live flow */        \
    X(reply_ambiguous)      /* nat: flowless reply from a backend:port of many VIPs */ \
    X(snat_exhausted)       /* no free SNAT port for the owner */                      \
    X(no_route)             /* off-subnet destination and no gateway configured */     \
    X(hold_full)            /* hold queue full while resolving a next hop */           \
    X(neighbour_timeout)    /* next hop did not resolve in time */                     \
    X(handoff_full)         /* owner's handoff ring full */                            \
    X(control_ring_full)    /* control thread's ring full (message lost) */            \
    X(tx_full)              /* device did not take the frame */                        \
    X(arp_ignored)          /* ARP not for us (or not Ethernet/IPv4) */                \
    X(icmp_ignored)         /* ICMP that is not an echo request to us */               \
    X(icmp_error_untracked) /* ICMP error quoting no live flow, or unparsable */       \
    X(no_mbuf)              /* could not allocate a reply frame */                     \
    X(dns_dropped)          /* DNS query not answered (short header, QR set) */        \
    X(bad_l4_checksum)      /* locally answered UDP (DNS) with a wrong checksum */     \
    X(punt_policed)         /* host frame over punt.rate_pps (exception path) */       \
    X(punt_control_policed) /* ARP/BGP/BFD over punt.control_rate_pps */               \
    X(punt_ring_full)       /* punt ring full: the control thread fell behind */

enum class WorkerEvent : uint8_t {
#define SVCGW_X(name) name,
    SVCGW_WORKER_EVENTS(SVCGW_X)
#undef SVCGW_X
        count
};

enum class DropReason : uint8_t {
#define SVCGW_X(name) name,
    SVCGW_WORKER_DROPS(SVCGW_X)
#undef SVCGW_X
        count
};

constexpr std::array<std::string_view, static_cast<size_t>(WorkerEvent::count)> kWorkerEventNames =
    {
#define SVCGW_X(name) #name,
        SVCGW_WORKER_EVENTS(SVCGW_X)
#undef SVCGW_X
};

constexpr std::array<std::string_view, static_cast<size_t>(DropReason::count)> kDropReasonNames = {
#define SVCGW_X(name) #name,
    SVCGW_WORKER_DROPS(SVCGW_X)
#undef SVCGW_X
};

struct alignas(64) WorkerCounters {
    std::array<std::atomic<uint64_t>, static_cast<size_t>(WorkerEvent::count)> events{};
    std::array<std::atomic<uint64_t>, static_cast<size_t>(DropReason::count)> drops{};
    // Flow-table gauges, refreshed by the worker at each housekeeping step.
    std::atomic<uint64_t> flows_active{0};
    std::atomic<uint64_t> flows_capacity{0};
    std::atomic<uint64_t> flow_evictions{0};

    void set_flow_gauges(uint64_t active, uint64_t capacity, uint64_t evictions) {
        flows_active.store(active, std::memory_order_relaxed);
        flows_capacity.store(capacity, std::memory_order_relaxed);
        flow_evictions.store(evictions, std::memory_order_relaxed);
    }

    // Single writer (the owning worker): load + store, not fetch_add.
    void add(WorkerEvent e, uint64_t n = 1) { bump(events[static_cast<size_t>(e)], n); }
    void drop(DropReason r, uint64_t n = 1) { bump(drops[static_cast<size_t>(r)], n); }
    uint64_t get(WorkerEvent e) const {
        return events[static_cast<size_t>(e)].load(std::memory_order_relaxed);
    }
    uint64_t get(DropReason r) const {
        return drops[static_cast<size_t>(r)].load(std::memory_order_relaxed);
    }

private:
    static void bump(std::atomic<uint64_t>& c, uint64_t n) {
        c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
};

}  // namespace svcgw
