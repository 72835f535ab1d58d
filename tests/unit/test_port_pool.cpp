// The port's packet pool layout (port/packet_pool.hpp): the pool a
// net_af_xdp port registers as its UMEM must be one array.
#include <gtest/gtest.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstdint>

#include "port/packet_pool.hpp"
#include "test_eal.hpp"

namespace svcgw {
namespace {

const auto* const g_env =
    ::testing::AddGlobalTestEnvironment(new test_support::EalEnvironment("test_port_pool"));

constexpr uint32_t kMbufs = 1023;
constexpr unsigned kCache = 32;

struct PoolDeleter {
    void operator()(rte_mempool* pool) const { rte_mempool_free(pool); }
};
using PoolPtr = std::unique_ptr<rte_mempool, PoolDeleter>;

// What net_af_xdp registers: from the first chunk's page, populated_size x
// object size bytes (plus the offset into that page).
struct Umem {
    uintptr_t begin = 0;
    uintptr_t end = 0;
};

Umem umem_of(const rte_mempool* pool) {
    const rte_mempool_memhdr* chunk = STAILQ_FIRST(&pool->mem_list);
    const auto addr = reinterpret_cast<uintptr_t>(chunk->addr);
    const uint64_t object = rte_mempool_calc_obj_size(pool->elt_size, pool->flags, nullptr);
    return {addr, addr + pool->populated_size * object};
}

unsigned mbufs_outside(const rte_mempool* pool) {
    struct Count {
        Umem umem;
        unsigned outside = 0;
    } count{umem_of(pool)};
    rte_mempool_obj_iter(
        const_cast<rte_mempool*>(pool),
        [](rte_mempool* mp, void* arg, void* obj, unsigned) {
            auto* c = static_cast<Count*>(arg);
            const auto begin = reinterpret_cast<uintptr_t>(obj);
            if (begin < c->umem.begin || begin + mp->elt_size > c->umem.end) {
                ++c->outside;
            }
        },
        &count);
    return count.outside;
}

TEST(PacketPool, OneArrayKeepsEveryMbufInsideTheUmem) {
    PoolPtr pool(create_packet_pool("pp_array", kMbufs, kCache, 0, PoolLayout::one_array));
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
    EXPECT_TRUE(pool_is_one_array(pool.get()));
    EXPECT_EQ(mbufs_outside(pool.get()), 0u);
    EXPECT_EQ(rte_pktmbuf_data_room_size(pool.get()), RTE_MBUF_DEFAULT_BUF_SIZE);
    rte_mbuf* m = rte_pktmbuf_alloc(pool.get());
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(rte_pktmbuf_headroom(m), RTE_PKTMBUF_HEADROOM);
    EXPECT_EQ(m->pool, pool.get());
    rte_pktmbuf_free(m);
}

// Why the layout exists: the default pool, on the 4 KiB pages of --no-huge
// (the unit tests' EAL), pads every object to its own page, so a share of
// the mbufs lies past what the UMEM would cover.
TEST(PacketPool, DefaultPoolOnSmallPagesIsNotOneArray) {
    PoolPtr pool(create_packet_pool("pp_any", kMbufs, kCache, 0, PoolLayout::any));
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
    EXPECT_FALSE(pool_is_one_array(pool.get()));
    EXPECT_GT(mbufs_outside(pool.get()), 0u);
}

TEST(PacketPool, OnlyAfXdpNeedsOneArray) {
    EXPECT_TRUE(device_needs_one_array_pool("net_af_xdp0,iface=veth0,start_queue=0"));
    EXPECT_FALSE(device_needs_one_array_pool("net_af_packet0,iface=veth0"));
    EXPECT_FALSE(device_needs_one_array_pool("0000:03:00.0"));
}

}  // namespace
}  // namespace svcgw
