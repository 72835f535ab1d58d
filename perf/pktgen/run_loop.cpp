// svcgw-pktgen: the generator's paced loop (warm-up, then the measured
// run), and the backend changes made during it: ServiceTable::upsert on the
// ring link, a config reload of the daemon on the memif link.
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "pktgen/generator.hpp"

namespace svcgw::pktgen {
namespace {

// Warm-up opens every flow before measuring; bounded so a broken peer does
// not hang a scripted run.
constexpr double kWarmupMaxS = 20.0;
// Warm-up rate cap: lets ARP resolution keep up (svcgw holds 64 frames per
// worker while resolving).
constexpr double kWarmupPps = 2e6;
// After the last transmit, frames still in flight are collected this long.
constexpr double kDrainS = 0.05;
// memif reload: new connections start this long after the SIGHUP, so they
// meet the reloaded table (a one-service reload takes well under 10 ms; a
// connection opened before it lands would be counted against the old ring).
constexpr double kReloadSettleS = 0.2;

}  // namespace

void Generator::resolve_peer(MemifLink& memif) {
    uint64_t end = rte_rdtsc() + _hz;
    uint64_t next = 0;
    while (rte_rdtsc() < end && memif.peer_mac()[0] == 0xff) {
        if (rte_rdtsc() >= next) {
            next = rte_rdtsc() + _hz / 10;
            rte_mbuf* m = alloc_frame(pkt::kEthMinFrameLen, [](std::span<uint8_t> out) {
                return pkt::build_arp_request(out, mac_of(kClientBase), htonl(kClientBase),
                                              htonl(kGatewayIp));
            });
            if (m != nullptr && memif.send(&m, 1) != 1) {
                rte_pktmbuf_free(m);
            }
        }
        receive(false);
    }
}

bool Generator::apply_change(uint64_t now) {
    const bool reduce = !_reduced;
    std::vector<uint32_t> keep;
    for (uint32_t b = 0; b < _s.backends; ++b) {
        if (!reduce || b + _o.remove < _s.backends) {
            keep.push_back(b);
        }
    }
    if (ring != nullptr) {
        InprocGateway& gw = ring->gateway();
        uint64_t t0 = rte_rdtsc();
        for (uint32_t v = 0; v < _s.vips; ++v) {
            auto done = gw.table().upsert(service_config(_s, v, keep), MaglevConfig{});
            if (!done) {
                std::fprintf(stderr, "pktgen: change failed: %s\n", done.error().str().c_str());
                return false;
            }
        }
        stats.change_cycles += rte_rdtsc() - t0;
        _new_connections_at = now;
        _settled_tsc = rte_rdtsc();
    } else {
        if (std::rename(_o.reload_from.c_str(), _o.reload_to.c_str()) != 0 ||
            kill(_o.reload_pid, SIGHUP) != 0) {
            std::fprintf(stderr, "pktgen: reload failed: %s\n", std::strerror(errno));
            return false;
        }
        _new_connections_at = now + static_cast<uint64_t>(kReloadSettleS * _hz);
        _settled_tsc = _new_connections_at;
    }
    _alive_backends = static_cast<uint32_t>(keep.size());
    _reduced = reduce;
    _changed = true;
    ++stats.changes;
    return true;
}

void Generator::open_new_connections() {
    // Odd slots start new connections (new tuples); even ones carry on.
    // Each change reopens a batch, rotating: every new tuple is a new flow
    // that lives on in the table, and a full table would evict established
    // flows (which then move, through no fault of the change), so the
    // batches of all changes together fit in the room left.
    uint32_t odd = _s.flows / 2;
    if (odd == 0) {
        return;
    }
    uint64_t room = max_flows(_o) > _s.flows ? (max_flows(_o) - _s.flows) / 2 : 0;
    uint64_t batch = std::clamp<uint64_t>(room / std::max(1u, _o.changes), 1, odd);
    for (uint64_t n = 0; n < batch; ++n) {
        uint32_t i = 2 * _reopen_cursor + 1;
        _reopen_cursor = _reopen_cursor + 1 == odd ? 0 : _reopen_cursor + 1;
        ++_slots[i].generation;
        _slots[i].backend = 0;
    }
    stats.reopened += batch;
}

void Generator::loop(double seconds, bool warm) {
    uint64_t start = rte_rdtsc();
    uint64_t end = start + static_cast<uint64_t>(seconds * _hz);
    bool can_change = ring != nullptr || _o.reload_pid != 0;
    uint64_t change = _o.change_at >= 0 && _o.remove > 0 && !warm && can_change
                          ? start + static_cast<uint64_t>(_o.change_at * _hz)
                          : UINT64_MAX;
    auto change_every = static_cast<uint64_t>(_o.change_every_ms * 1e-3 * static_cast<double>(_hz));
    double rate = warm ? (_o.rate > 0 ? std::min(_o.rate, kWarmupPps) : kWarmupPps) : _o.rate;
    uint64_t sent_at_start = stats.tx;
    uint64_t now = start;
    uint32_t warm_left = 0;
    while ((now = rte_rdtsc()) < end) {
        if (now >= change) {
            bool more = apply_change(now) && stats.changes < _o.changes;
            change = more ? change + change_every : UINT64_MAX;
        }
        if (now >= _new_connections_at) {
            open_new_connections();
            _new_connections_at = UINT64_MAX;
        }
        uint16_t budget = kBurst;
        if (rate > 0) {
            double allowed = static_cast<double>(now - start) / static_cast<double>(_hz) * rate -
                             static_cast<double>(stats.tx - sent_at_start);
            budget = static_cast<uint16_t>(std::clamp(allowed, 0.0, double{kBurst}));
        }
        transmit(budget, warm);
        _link.poll(now);
        receive(!warm);
        if (warm && ++warm_left % 1024 == 0) {
            uint64_t unseen = 0;
            for (const Slot& s : _slots) {
                unseen += !s.seen;
            }
            _unseen = unseen;
            if (unseen == 0) {
                return;
            }
        }
    }
}

bool Generator::warmup() {
    loop(kWarmupMaxS, true);
    // Collect stragglers, then start counting afresh.
    uint64_t drain_end = rte_rdtsc() + static_cast<uint64_t>(kDrainS * _hz);
    while (rte_rdtsc() < drain_end) {
        _link.poll(rte_rdtsc());
        receive(false);
    }
    uint64_t unseen = 0;
    for (Slot& s : _slots) {
        unseen += !s.seen;
        if (_s.mix == Mix::syn || _s.mix == Mix::handshake) {
            s.state = SlotState::idle;
        }
    }
    std::fill(_backend_conns.begin(), _backend_conns.end(), 0);
    for (Slot& s : _slots) {
        if (s.backend != 0 && _s.mix != Mix::syn && _s.mix != Mix::handshake) {
            uint32_t service = _s.service_of_backend(s.backend);
            ++_backend_conns[size_t{service} * _s.backends +
                             (s.backend - _s.backend_ip(service, 0))];
        }
    }
    std::printf("warm-up: %u flows, %lu never answered, %lu ARP answers\n", _s.flows, unseen,
                stats.arp_answered);
    _unseen = unseen;
    Stats fresh;
    fresh.arp_answered = stats.arp_answered;
    stats = fresh;
    if (ring != nullptr) {
        ring->worker_cycles = 0;
    }
    return unseen == 0 || _o.peer == Peer::macswap;
}

void Generator::measure() {
    loop(_o.duration, false);
}

}  // namespace svcgw::pktgen
