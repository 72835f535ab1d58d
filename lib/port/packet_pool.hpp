// The port's mbuf pool, and the one layout rule a PMD depends on.
//
// net_af_xdp (DPDK 22.11) registers the rx pool as its UMEM: the first
// memory chunk's page, populated_size x object size long. Every mbuf must
// lie inside that span or the kernel rejects its TX descriptor
// (tx_invalid_descs) and the frame is lost without an error.
// rte_pktmbuf_pool_create does not promise the span: asking for
// IOVA-contiguous objects, the mempool skips to the next page rather than
// let an object straddle one, which leaves a gap per 4 KiB page under
// --no-huge (a 4095-mbuf pool then spans 16.8 MB for a 9.7 MB UMEM) and a
// few gaps, in several chunks, on hugepages. A pool of one array has none.
#pragma once

#include <cstdint>
#include <string>

struct rte_mempool;

namespace svcgw {

enum class PoolLayout {
    any,        // rte_pktmbuf_pool_create's: objects never straddle a page
    one_array,  // one chunk, objects back to back (a UMEM for net_af_xdp)
};

// A packet mbuf pool of `mbufs` default-sized buffers with the per-lcore
// cache `cache`; null with rte_errno set on failure.
rte_mempool* create_packet_pool(const std::string& name, uint32_t mbufs, unsigned cache, int socket,
                                PoolLayout layout);

// True when every object of `pool` lies in one chunk of populated_size x
// object size bytes: what net_af_xdp's UMEM covers.
bool pool_is_one_array(const rte_mempool* pool);

// True for the devices whose PMD takes the rx pool as its UMEM.
bool device_needs_one_array_pool(const std::string& device);

}  // namespace svcgw
