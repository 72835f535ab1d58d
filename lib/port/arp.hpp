// ARP frames the control thread originates (RFC 826): requests to resolve a
// next hop and gratuitous ARP (RFC 5227 §3 "ARP Announcement": a request
// with sender = target = the announced address) for the port address and
// every VIP. Workers send them on behalf of the control thread.
#pragma once

#include <cstdint>

#include "dataplane/worker_neighbour.hpp"

struct rte_mbuf;
struct rte_mempool;

namespace svcgw {

// Broadcast "who has target_ip_be? tell sender_ip_be". nullptr when the pool
// is empty.
rte_mbuf* build_arp_request(rte_mempool* pool, const MacAddr& sender_mac, uint32_t sender_ip_be,
                            uint32_t target_ip_be);
// Announcement of ip_be at sender_mac.
rte_mbuf* build_gratuitous_arp(rte_mempool* pool, const MacAddr& sender_mac, uint32_t ip_be);

}  // namespace svcgw
