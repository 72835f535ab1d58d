#include "fleet/announce.hpp"

#include <algorithm>
#include <map>

namespace svcgw::fleet {

std::string_view to_string(Withdrawn reason) {
    switch (reason) {
        case Withdrawn::none:
            return "announced";
        case Withdrawn::data_plane_down:
            return "data plane down";
        case Withdrawn::generation_mismatch:
            return "generation mismatch";
        case Withdrawn::draining:
            return "draining";
        case Withdrawn::no_eligible_backend:
            return "no eligible backend";
    }
    return "?";
}

std::vector<Route> decide(const AnnounceInputs& in) {
    Withdrawn instance = Withdrawn::none;  // what holds for every route
    if (!in.data_plane_up) {
        instance = Withdrawn::data_plane_down;
    } else if (in.expected_generation && *in.expected_generation != in.generation) {
        instance = Withdrawn::generation_mismatch;
    }
    std::map<uint32_t, Route> routes;
    for (const VipHealth& v : in.vips) {
        Withdrawn own = instance;
        if (own == Withdrawn::none && in.draining) {
            own = Withdrawn::draining;
        }
        if (own == Withdrawn::none && !v.eligible_backend && !v.fail_open) {
            own = Withdrawn::no_eligible_backend;
        }
        auto [it, fresh] = routes.try_emplace(v.vip.value, Route{v.vip, false, own});
        if (!fresh && own == Withdrawn::none) {
            it->second.withdrawn = Withdrawn::none;  // any service on the address
        }
    }
    for (Ipv4 a : in.snat_addresses) {
        routes[a.value] = Route{a, true, instance};
    }
    std::vector<Route> out;
    out.reserve(routes.size());
    for (const auto& [value, route] : routes) {
        out.push_back(route);
    }
    return out;
}

std::string render_bird_routes(std::span<const Route> routes) {
    std::string text =
        "# Written by svcgw (fleet.routes_file): the routes this instance announces.\n"
        "# Included by BIRD inside a `protocol static` block; do not edit.\n";
    for (const Route& r : routes) {
        if (r.announced()) {
            text += "route " + r.address.str() + "/32 blackhole;" + (r.snat ? "  # snat\n" : "\n");
        }
    }
    return text;
}

}  // namespace svcgw::fleet
