#include "port/arp.hpp"

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include <cstring>

namespace svcgw {

rte_mbuf* build_arp_request(rte_mempool* pool, const MacAddr& sender_mac, uint32_t sender_ip_be,
                            uint32_t target_ip_be) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) {
        return nullptr;
    }
    // Ethernet minimum payload is 46 bytes; pad the 28-byte ARP body so
    // every vdev sends a valid frame.
    constexpr uint16_t kFrameLen = RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN;
    auto* bytes = rte_pktmbuf_mtod(m, uint8_t*);
    std::memset(bytes, 0, kFrameLen);
    auto* eth = reinterpret_cast<rte_ether_hdr*>(bytes);
    std::memset(eth->dst_addr.addr_bytes, 0xff, RTE_ETHER_ADDR_LEN);
    std::memcpy(eth->src_addr.addr_bytes, sender_mac.data(), RTE_ETHER_ADDR_LEN);
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
    auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
    arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
    arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    arp->arp_hlen = RTE_ETHER_ADDR_LEN;
    arp->arp_plen = sizeof(uint32_t);
    arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
    std::memcpy(arp->arp_data.arp_sha.addr_bytes, sender_mac.data(), RTE_ETHER_ADDR_LEN);
    arp->arp_data.arp_sip = sender_ip_be;
    // Target hardware address is ignored in requests (RFC 826); zero it.
    arp->arp_data.arp_tip = target_ip_be;
    m->data_len = kFrameLen;
    m->pkt_len = kFrameLen;
    return m;
}

rte_mbuf* build_gratuitous_arp(rte_mempool* pool, const MacAddr& sender_mac, uint32_t ip_be) {
    return build_arp_request(pool, sender_mac, ip_be, ip_be);
}

}  // namespace svcgw
