#include "port/port.hpp"

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstdio>

#include "net/packet.hpp"
#include "port/eal_args.hpp"
#include "port/eal_log.hpp"
#include "port/packet_pool.hpp"

namespace svcgw {

namespace {

// The RSS key we program is packet.hpp's default, so the workers' software
// Toeplitz (SNAT port steering) computes the same hash as the device.
constexpr const pkt::RssKey& kRssKey = pkt::kRssDefaultKey;

Unexpected<Error> port_error(const std::string& what, int rc) {
    return fail("ports[0].device", what + ": " + rte_strerror(rc < 0 ? -rc : rc));
}

}  // namespace

uint32_t mempool_size(unsigned workers, uint32_t handoff_ring_size, uint32_t hold_capacity,
                      uint32_t control_ring_size) {
    // Working set of one worker: the burst it is processing plus its tx batch.
    constexpr uint32_t kBurstSlack = 2 * 64;
    uint64_t n = uint64_t{workers} * (kRxDescriptors + kTxDescriptors + kBurstSlack +
                                      hold_capacity + (workers - 1) * handoff_ring_size) +
                 control_ring_size + uint64_t{workers + 1} * kMempoolCache;
    // rte_mempool is most memory-efficient at 2^k - 1 elements.
    uint32_t size = 1;
    while (size - 1 < n) {
        size <<= 1;
    }
    return size - 1;
}

Result<Port> open_port(const PortConfig& config, uint16_t workers, uint32_t mbufs) {
    Port port;
    port.name = config.name;
    port.address = config.address;
    port.gateway = config.gateway;
    port.queues = workers;
    port.software = is_vdev_spec(config.device);

    std::string dev_name = config.device.substr(0, config.device.find(','));
    int rc = rte_eth_dev_get_port_by_name(dev_name.c_str(), &port.port_id);
    if (rc != 0) {
        // EAL carries on when a device fails to probe; its log has why.
        const std::string cause = eal_log::cause(dev_name);
        return fail("ports[0].device",
                    "device " + dev_name + " could not be probed" +
                        (cause.empty() ? " (no EAL message names it: check the device string)"
                                       : ": " + cause));
    }
    rte_eth_dev_info info{};
    rc = rte_eth_dev_info_get(port.port_id, &info);
    if (rc != 0) {
        return port_error("rte_eth_dev_info_get", rc);
    }
    if (info.max_rx_queues < workers || info.max_tx_queues < workers) {
        return fail("ports[0].device", "device has " + std::to_string(info.max_rx_queues) +
                                           " rx / " + std::to_string(info.max_tx_queues) +
                                           " tx queues, " + std::to_string(workers) +
                                           " workers need one each (af_packet: qpairs=)");
    }

    rte_eth_conf conf{};
    // Spread by RSS only when it can reach more than one worker and the
    // device hashes IP/TCP/UDP; vdevs usually report no RSS offloads.
    uint64_t hash_types =
        info.flow_type_rss_offloads &
        (RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP);
    if (workers > 1 && hash_types != 0 &&
        (info.hash_key_size == 0 || info.hash_key_size == kRssKey.size()) && info.reta_size > 0) {
        port.rss = true;
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        port.rss_key.assign(kRssKey.begin(), kRssKey.end());
        conf.rx_adv_conf.rss_conf.rss_key = port.rss_key.data();
        conf.rx_adv_conf.rss_conf.rss_key_len = static_cast<uint8_t>(port.rss_key.size());
        conf.rx_adv_conf.rss_conf.rss_hf = hash_types;
    }
    rc = rte_eth_dev_configure(port.port_id, workers, workers, &conf);
    if (rc != 0) {
        return port_error("rte_eth_dev_configure", rc);
    }
    uint16_t rx_desc = kRxDescriptors, tx_desc = kTxDescriptors;
    rc = rte_eth_dev_adjust_nb_rx_tx_desc(port.port_id, &rx_desc, &tx_desc);
    if (rc != 0) {
        return port_error("rte_eth_dev_adjust_nb_rx_tx_desc", rc);
    }

    int socket = rte_eth_dev_socket_id(port.port_id);
    if (socket < 0) {
        socket = static_cast<int>(rte_socket_id());
    }
    std::string pool_name = "mbuf_" + std::to_string(port.port_id);
    const bool umem = device_needs_one_array_pool(config.device);
    port.pool = create_packet_pool(pool_name, mbufs, kMempoolCache, socket,
                                   umem ? PoolLayout::one_array : PoolLayout::any);
    if (port.pool == nullptr) {
        return port_error("mempool of " + std::to_string(mbufs) + " mbufs", rte_errno);
    }
    if (umem && !pool_is_one_array(port.pool)) {
        close_port(port);
        return fail("ports[0].device",
                    dev_name +
                        " takes its mbuf pool as its UMEM, which must be one array: the "
                        "pool of " +
                        std::to_string(mbufs) +
                        " mbufs did not fit in one piece of DPDK memory (raise dpdk.memory_mb)");
    }
    for (uint16_t q = 0; q < workers; ++q) {
        rc = rte_eth_rx_queue_setup(port.port_id, q, rx_desc, socket, nullptr, port.pool);
        if (rc != 0) {
            return port_error("rx queue " + std::to_string(q), rc);
        }
        rc = rte_eth_tx_queue_setup(port.port_id, q, tx_desc, socket, nullptr);
        if (rc != 0) {
            return port_error("tx queue " + std::to_string(q), rc);
        }
    }
    rc = rte_eth_dev_start(port.port_id);
    if (rc != 0) {
        return port_error("rte_eth_dev_start", rc);
    }
    port.started = true;
    // We answer only for our own MAC; promiscuous mode would feed the
    // workers every frame on the wire. Some vdevs cannot change it: fine.
    rte_eth_promiscuous_disable(port.port_id);

    rte_ether_addr mac{};
    rc = rte_eth_macaddr_get(port.port_id, &mac);
    if (rc != 0) {
        return port_error("rte_eth_macaddr_get", rc);
    }
    std::copy(std::begin(mac.addr_bytes), std::end(mac.addr_bytes), port.mac.begin());

    if (port.rss) {
        std::vector<rte_eth_rss_reta_entry64> reta((info.reta_size + RTE_ETH_RETA_GROUP_SIZE - 1) /
                                                   RTE_ETH_RETA_GROUP_SIZE);
        for (auto& group : reta) {
            group.mask = ~uint64_t{0};
        }
        rc = rte_eth_dev_rss_reta_query(port.port_id, reta.data(), info.reta_size);
        bool power_of_two = (info.reta_size & (info.reta_size - 1)) == 0;
        if (rc != 0 || !power_of_two) {
            // Without the table we cannot steer replies; fall back to handoff.
            port.rss = false;
        } else {
            for (uint16_t i = 0; i < info.reta_size; ++i) {
                port.reta.push_back(
                    reta[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE]);
            }
        }
    }
    return port;
}

void close_port(Port& port) {
    if (port.started) {
        rte_eth_dev_stop(port.port_id);
        rte_eth_dev_close(port.port_id);
        port.started = false;
    }
    if (port.pool != nullptr) {
        rte_mempool_free(port.pool);
        port.pool = nullptr;
    }
}

std::string mac_str(const MacAddr& mac) {
    char text[18];
    std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
                  mac[3], mac[4], mac[5]);
    return text;
}

}  // namespace svcgw
