// fullnat SNAT source ports of one worker. A port is chosen so that the
// backend's replies (backend -> SNAT address:port) reach the flow's owner
// under the ownership rule (ownership.hpp): without RSS steering, ports with
// port % workers == this worker; with it, ports whose reply 4-tuple hashes
// to this worker's queue.
//
// A cursor per reply-key space (SNAT address, backend, target port,
// protocol) hands ports out in turn, so the first candidate is free unless
// the space is nearly full of live flows. The cursor is only a hint (the
// flow table's insert checks the reply key), so a cursor slot shared by two
// spaces costs nothing but a fresh start.
//
// Pure C++, no EAL; one instance per worker (single thread).
#pragma once

#include <cstdint>
#include <vector>

#include "dataplane/ownership.hpp"
#include "dataplane/snat_range.hpp"

namespace svcgw {

// Candidate SNAT ports tried before declaring exhaustion for one flow: with
// a cursor per reply-key space the first is nearly always free; 256 only
// matters when a (SNAT address, backend) pair is close to 64k live flows.
constexpr uint32_t kSnatAttempts = 256;

class SnatPorts {
public:
    // Ports from `range` for worker `index` of `ownership.workers()`;
    // `ownership` must outlive this object (its RSS steering, once set, is
    // followed). `range` holds at least `ownership.workers()` ports.
    SnatPorts(const FlowOwnership& ownership, uint16_t index, PortRange range = {});

    // The next candidate port (network order) toward (snat_ip, backend).
    uint16_t next(uint32_t snat_ip_be, uint32_t backend_ip_be, uint16_t backend_port_be,
                  uint8_t proto);

private:
    struct Cursor {
        uint64_t tag = 0;  // 0 = unused slot
        uint32_t next = 0;
    };
    const FlowOwnership& _ownership;
    uint16_t _index;
    PortRange _range;
    std::vector<Cursor> _cursors;
    uint32_t _restart = 0;  // advances by kSnatRestartStride per cursor (re)start
    // Our share of the port range without RSS steering:
    // _first + k * workers, k < _count.
    uint32_t _first = 0;
    uint32_t _count = 1;
};

}  // namespace svcgw
