// svcgw-pktgen's links (link.hpp).
#include "pktgen/link.hpp"

#include <unistd.h>

namespace svcgw::pktgen {
namespace {

// Waits for the memif peer to connect. A memif client connects once, at
// port start: when the peer's socket exists but its port is not started yet,
// the peer refuses the connection and nothing retries it (the testpmd
// pairing counted no frames back for exactly this reason). So the port is
// restarted every kConnectRetryS until the link is up or kConnectMaxS passes.
constexpr double kConnectRetryS = 1.0;
constexpr double kConnectMaxS = 15.0;

}  // namespace

bool memif_link_up(uint16_t port) {
    uint64_t hz = rte_get_tsc_hz();
    uint64_t end = rte_rdtsc() + static_cast<uint64_t>(kConnectMaxS * hz);
    uint64_t retry = rte_rdtsc() + static_cast<uint64_t>(kConnectRetryS * hz);
    while (rte_rdtsc() < end) {
        rte_eth_link l{};
        rte_eth_link_get_nowait(port, &l);
        if (l.link_status == RTE_ETH_LINK_UP) {
            return true;
        }
        if (rte_rdtsc() >= retry) {
            retry = rte_rdtsc() + static_cast<uint64_t>(kConnectRetryS * hz);
            rte_eth_dev_stop(port);
            if (rte_eth_dev_start(port) != 0) {
                return false;
            }
        }
        usleep(10000);
    }
    return false;
}

}  // namespace svcgw::pktgen
