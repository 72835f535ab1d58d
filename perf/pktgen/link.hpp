// svcgw-pktgen's two links to the gateway under test: a net_memif port to
// another process, or svcgw's workers in this process on net_ring pairs
// (inproc.hpp), stepped from the generator's loop and timed apart.
#pragma once

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstdint>
#include <memory>

#include "pktgen/inproc.hpp"

namespace svcgw::pktgen {

class Link {
public:
    virtual ~Link() = default;
    virtual uint16_t send(rte_mbuf** m, uint16_t n) = 0;
    virtual uint16_t recv(rte_mbuf** m, uint16_t n) = 0;
    // The peer's share of the loop (ring: the worker step, timed).
    virtual void poll(uint64_t) {}
    virtual MacAddr peer_mac() const = 0;
};

class MemifLink : public Link {
public:
    explicit MemifLink(uint16_t port) : _port(port) {}
    uint16_t send(rte_mbuf** m, uint16_t n) override { return rte_eth_tx_burst(_port, 0, m, n); }
    uint16_t recv(rte_mbuf** m, uint16_t n) override { return rte_eth_rx_burst(_port, 0, m, n); }
    MacAddr peer_mac() const override { return _peer; }
    void set_peer_mac(const MacAddr& m) { _peer = m; }

private:
    uint16_t _port;
    MacAddr _peer{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
};

class RingLink : public Link {
public:
    explicit RingLink(std::unique_ptr<InprocGateway> gw) : _gw(std::move(gw)) {}
    uint16_t send(rte_mbuf** m, uint16_t n) override {
        // Without RSS a frame lands on any queue; spread by burst.
        uint16_t q = static_cast<uint16_t>(_turn++ % _gw->workers());
        return static_cast<uint16_t>(
            rte_ring_enqueue_burst(_gw->to_svcgw(q), reinterpret_cast<void**>(m), n, nullptr));
    }
    uint16_t recv(rte_mbuf** m, uint16_t n) override {
        uint16_t got = 0;
        for (uint16_t q = 0; q < _gw->workers() && got < n; ++q) {
            got += static_cast<uint16_t>(rte_ring_dequeue_burst(
                _gw->from_svcgw(q), reinterpret_cast<void**>(m + got), n - got, nullptr));
        }
        return got;
    }
    void poll(uint64_t now) override {
        uint64_t t0 = rte_rdtsc();
        _gw->step(now);
        worker_cycles += rte_rdtsc() - t0;
        if (now >= _next_control) {
            const uint64_t tick = rte_get_tsc_hz() * kControlTickNs / 1'000'000'000;
            _next_control = now + tick;
            _gw->control(now / (rte_get_tsc_hz() / 1000));
        }
    }
    MacAddr peer_mac() const override { return _gw->mac(); }
    InprocGateway& gateway() { return *_gw; }

    uint64_t worker_cycles = 0;

private:
    std::unique_ptr<InprocGateway> _gw;
    uint64_t _turn = 0;
    uint64_t _next_control = 0;
};

// Waits for the memif peer on `port` to connect (restarting the port, see
// link.cpp); false when it never does.
bool memif_link_up(uint16_t port);

}  // namespace svcgw::pktgen
