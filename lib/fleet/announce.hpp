// Route health injection: which /32 routes an instance of a
// fleet announces, and the BIRD text that announces them. Pure C++ (no
// DPDK, no sockets): the daemon gathers the inputs on the control thread,
// the Announcer (announcer.hpp) writes the text and reloads BIRD.
//
// A VIP is announced only while all of these hold, checked in this order
// (the first that fails is the reason reported):
//   1. the data plane is up (every worker made progress recently);
//   2. the running fleet generation equals the expected one (when one is set);
//   3. the instance is not draining;
//   4. the VIP has a backend eligible for new flows, or it fails open.
// A SNAT address is announced while 1 and 2 hold: draining must keep the
// replies of its existing flows coming back.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"

namespace svcgw::fleet {

// Why a route is not announced; `none` = announced.
enum class Withdrawn : uint8_t {
    none,
    data_plane_down,
    generation_mismatch,
    draining,
    no_eligible_backend,
};
std::string_view to_string(Withdrawn reason);

struct VipHealth {
    Ipv4 vip;
    bool eligible_backend = false;  // some backend gets new flows (table/service.hpp's rule)
    bool fail_open = false;         // announced even with no eligible backend
};

struct AnnounceInputs {
    bool data_plane_up = false;
    uint64_t generation = 0;                      // fleet.generation of the running config
    std::optional<uint64_t> expected_generation;  // nullopt = no expectation set
    bool draining = false;
    // One entry per service; an address several services share is
    // announced when any of them may be (each has its own ports).
    std::vector<VipHealth> vips;
    std::vector<Ipv4> snat_addresses;
};

struct Route {
    Ipv4 address;  // announced as address/32
    bool snat = false;
    Withdrawn withdrawn = Withdrawn::none;

    bool announced() const { return withdrawn == Withdrawn::none; }
    bool operator==(const Route&) const = default;
};

// Every VIP and SNAT address with its verdict, sorted by address (a SNAT
// address that is also a VIP is listed once, as SNAT: its replies matter
// more than its balance).
std::vector<Route> decide(const AnnounceInputs& inputs);

// The routes BIRD includes inside the operator's `protocol static` block
// (README "Running a fleet"): one `route A/32 blackhole;` per announced
// route, in address order, after a header comment. Blackhole: the routes
// exist to be exported by BGP (next hop self); the gateway's own kernel
// must not use them (the operator's kernel protocol does not export them).
std::string render_bird_routes(std::span<const Route> routes);

}  // namespace svcgw::fleet
