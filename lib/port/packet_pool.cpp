#include "port/packet_pool.hpp"

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mempool.h>

namespace svcgw {

namespace {

rte_mempool* create_one_array(const std::string& name, uint32_t mbufs, unsigned cache, int socket) {
    // NO_IOVA_CONTIG: objects are packed back to back (no per-page
    // padding). Nothing DMAs by an af_xdp mbuf's IOVA: the kernel copies
    // from the UMEM or maps it itself.
    rte_mempool* pool = rte_mempool_create_empty(
        name.c_str(), mbufs, sizeof(rte_mbuf) + RTE_MBUF_DEFAULT_BUF_SIZE, cache,
        sizeof(rte_pktmbuf_pool_private), socket, RTE_MEMPOOL_F_NO_IOVA_CONTIG);
    if (pool == nullptr) {
        return nullptr;
    }
    int rc = rte_mempool_set_ops_byname(pool, rte_mbuf_best_mempool_ops(), nullptr);
    if (rc == 0) {
        rte_pktmbuf_pool_private priv{};
        priv.mbuf_data_room_size = RTE_MBUF_DEFAULT_BUF_SIZE;
        rte_pktmbuf_pool_init(pool, &priv);
        rc = rte_mempool_populate_default(pool);
        rc = rc < 0 ? rc : 0;
    }
    if (rc != 0) {
        rte_mempool_free(pool);
        rte_errno = -rc;
        return nullptr;
    }
    rte_mempool_obj_iter(pool, rte_pktmbuf_init, nullptr);
    return pool;
}

}  // namespace

rte_mempool* create_packet_pool(const std::string& name, uint32_t mbufs, unsigned cache, int socket,
                                PoolLayout layout) {
    if (layout == PoolLayout::one_array) {
        return create_one_array(name, mbufs, cache, socket);
    }
    return rte_pktmbuf_pool_create(name.c_str(), mbufs, cache, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                   socket);
}

bool pool_is_one_array(const rte_mempool* pool) {
    if (pool->nb_mem_chunks != 1) {
        return false;
    }
    const rte_mempool_memhdr* chunk = STAILQ_FIRST(&pool->mem_list);
    const uint64_t object = rte_mempool_calc_obj_size(pool->elt_size, pool->flags, nullptr);
    return chunk->len <= uint64_t{pool->populated_size} * object;
}

bool device_needs_one_array_pool(const std::string& device) {
    return device.starts_with("net_af_xdp");
}

}  // namespace svcgw
