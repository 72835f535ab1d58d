// DPDK port glue: opens one ethdev for the gateway with one rx and one tx
// queue per worker, RSS when the device has it, promiscuous off, and a
// per-socket mempool sized for everything that can hold an mbuf.
//
// Slow-path transmit (ARP requests, gratuitous ARP from the control thread)
// does not get a queue of its own: on net_af_packet every queue is a socket
// in one PACKET_FANOUT group, so an extra queue would also *receive* a share
// of the traffic that nobody polls. The control thread instead hands its
// frames to worker 0 over an SPSC ring and worker 0 sends them on its own
// queue; no lock ever touches a tx queue. Works the same on every device.
//
// Threading: open_port()/close_port() on the main lcore only, before the
// workers start / after they stopped.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "common/result.hpp"
#include "config/config.hpp"
#include "net/mac_addr.hpp"

struct rte_mempool;

namespace svcgw {

// Descriptor ring sizes: 1024 absorbs a ~50 us stall at 10 Mpps per queue
// and is accepted by every PMD we target (af_packet ignores it).
constexpr uint16_t kRxDescriptors = 1024;
constexpr uint16_t kTxDescriptors = 1024;
// Per-lcore mempool cache (DPDK's RTE_MEMPOOL_CACHE_MAX_SIZE is 512; 256
// keeps a full burst cycle local without stranding many mbufs).
constexpr unsigned kMempoolCache = 256;

struct Port {
    uint16_t port_id = 0;
    std::string name;
    MacAddr mac{};
    Ipv4Prefix address;
    std::optional<Ipv4> gateway;
    uint16_t queues = 0;  // rx and tx queue pairs, one per worker
    // Hash of the device's RSS (Toeplitz over rss_key, reta[hash % size]),
    // when the device spreads by RSS across more than one queue.
    bool rss = false;
    std::vector<uint8_t> rss_key;
    std::vector<uint16_t> reta;
    rte_mempool* pool = nullptr;
    bool started = false;
    // A vdev (af_packet, af_xdp, tap, ...): local senders' partial
    // checksums can reach it (net/packet.hpp l4_checksum_partial).
    bool software = false;
};

// Mbufs a port can have outstanding: rx and tx rings, one burst being built
// per worker, the per-worker hold queue, the handoff rings between workers,
// the control ring and every lcore's mempool cache.
uint32_t mempool_size(unsigned workers, uint32_t handoff_ring_size, uint32_t hold_capacity,
                      uint32_t control_ring_size);

// `device` is the config's device string; the ethdev is looked up by the
// vdev name (before the first comma) or the PCI address.
Result<Port> open_port(const PortConfig& config, uint16_t workers, uint32_t mbufs);
void close_port(Port& port);

std::string mac_str(const MacAddr& mac);

}  // namespace svcgw
