// loadBalancerSourceRanges as the workers check them: which
// clients may open flows to a service's load-balancer addresses. Built once
// with the immutable Service and read by workers without locks (RCU like
// the rest of the Service). Only new flows are checked: a flow that exists
// keeps going, so narrowing the ranges does not cut open connections
// (kube-proxy's rules match new connections the same way).
//
// As kube-proxy: the ranges filter the load-balancer addresses only; the
// ClusterIP (when svcgw serves it) and externalIPs stay open. Clients
// outside them are dropped (counted as source_range), not answered: a
// scanner outside the ranges learns nothing, as with a cloud firewall.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <utility>
#include <vector>

#include "common/net.hpp"

namespace svcgw {

class SourceFilter {
public:
    SourceFilter() = default;
    // `guarded`: the addresses the ranges apply to; empty `ranges`: open.
    SourceFilter(const std::vector<Ipv4>& guarded, const std::vector<Ipv4Prefix>& ranges) {
        if (ranges.empty()) {
            return;
        }
        for (Ipv4 ip : guarded) {
            _guarded_be.push_back(to_be(ip.value));
        }
        std::vector<std::pair<uint32_t, uint32_t>> spans;
        for (const Ipv4Prefix& p : ranges) {
            const uint32_t first = p.network().value;
            spans.emplace_back(first, first | ~p.mask());
        }
        std::sort(spans.begin(), spans.end());
        for (const auto& [first, last] : spans) {  // merged: disjoint, ascending
            if (!_spans.empty() && uint64_t{first} <= uint64_t{_spans.back().second} + 1) {
                _spans.back().second = std::max(_spans.back().second, last);
            } else {
                _spans.emplace_back(first, last);
            }
        }
    }

    // Hot: per new flow. One branch for a service without ranges.
    bool allows(uint32_t dst_be, uint32_t src_be) const {
        if (_spans.empty()) {
            return true;
        }
        if (std::find(_guarded_be.begin(), _guarded_be.end(), dst_be) == _guarded_be.end()) {
            return true;  // the ClusterIP or an external IP
        }
        const uint32_t src = to_be(src_be);  // the byte swap is its own inverse
        // The last span starting at or below src holds it, if any does.
        auto it = std::upper_bound(_spans.begin(), _spans.end(), src,
                                   [](uint32_t v, const auto& span) { return v < span.first; });
        return it != _spans.begin() && src <= std::prev(it)->second;
    }
    bool empty() const { return _spans.empty(); }

private:
    static uint32_t to_be(uint32_t host) {
        if constexpr (std::endian::native == std::endian::little) {
            return __builtin_bswap32(host);
        }
        return host;
    }

    std::vector<uint32_t> _guarded_be;                  // network order
    std::vector<std::pair<uint32_t, uint32_t>> _spans;  // host order, inclusive
};

}  // namespace svcgw
