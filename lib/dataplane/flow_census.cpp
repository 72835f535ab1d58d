#include "dataplane/flow_census.hpp"

#include <algorithm>
#include <tuple>

#include "common/hash.hpp"
#include "table/service_table.hpp"

namespace svcgw {

namespace {

// A new pass starts at most once a second: the census feeds gauges and
// GET /v1/flows, read by people and by scrapes every few seconds.
constexpr uint32_t kCensusPeriodS = 1;
// Counting slots to start with (16 B each): more than the (VIP, backend)
// pairs of most gateways; the table doubles when half full.
constexpr size_t kCensusInitialSlots = 256;

bool by_key(const BackendFlows& a, const BackendFlows& b) {
    return std::tie(a.vip, a.backend_ip_be) < std::tie(b.vip, b.backend_ip_be);
}

size_t slot_hash(uint64_t vip, uint32_t backend_ip_be) {
    return static_cast<size_t>(hash_u64(vip ^ uint64_t{backend_ip_be} << 17, backend_ip_be));
}

}  // namespace

uint64_t FlowCensus::flows_of(uint64_t vip) const {
    uint64_t n = 0;
    auto it =
        std::lower_bound(per_backend.begin(), per_backend.end(), BackendFlows{vip, 0, 0}, by_key);
    for (; it != per_backend.end() && it->vip == vip; ++it) {
        n += it->flows;
    }
    return n;
}

uint32_t FlowCensus::flows_of(uint64_t vip, uint32_t backend_ip_be) const {
    const BackendFlows probe{vip, backend_ip_be, 0};
    auto it = std::lower_bound(per_backend.begin(), per_backend.end(), probe, by_key);
    return it != per_backend.end() && it->vip == vip && it->backend_ip_be == backend_ip_be
               ? it->flows
               : 0;
}

FlowCensusTaker::FlowCensusTaker() : _counts(kCensusInitialSlots) {}

void FlowCensusTaker::count(uint64_t vip, uint32_t backend_ip_be) {
    if ((_used + 1) * 2 > _counts.size()) {
        grow();
    }
    const size_t mask = _counts.size() - 1;
    for (size_t i = slot_hash(vip, backend_ip_be) & mask;; i = (i + 1) & mask) {
        BackendFlows& s = _counts[i];
        if (s.flows == 0) {
            s = BackendFlows{vip, backend_ip_be, 1};
            ++_used;
            return;
        }
        if (s.vip == vip && s.backend_ip_be == backend_ip_be) {
            ++s.flows;
            return;
        }
    }
}

void FlowCensusTaker::grow() {
    std::vector<BackendFlows> old(_counts.size() * 2);
    old.swap(_counts);
    const size_t mask = _counts.size() - 1;
    for (const BackendFlows& s : old) {
        if (s.flows == 0) {
            continue;
        }
        size_t i = slot_hash(s.vip, s.backend_ip_be) & mask;
        while (_counts[i].flows != 0) {
            i = (i + 1) & mask;
        }
        _counts[i] = s;
    }
}

void FlowCensusTaker::step(const FlowTable& flows, uint32_t now_s, uint32_t budget) {
    if (_cursor == 0 && now_s < _start_s) {
        return;
    }
    FlowCensus& work = _buffers[_back];
    flows.for_each_in(_cursor, budget, [&](const Flow& f) {
        if (flows.is_expired(f, now_s)) {
            return;
        }
        count(VipKey{f.key.dst_ip, f.key.dst_port, f.key.proto, 0}.packed(), f.backend_ip);
        if (work.samples.size() < kCensusSamples) {
            work.samples.push_back(f);
        }
    });
    _cursor += budget;
    if (_cursor < flows.capacity()) {
        return;
    }
    publish(now_s);
    _cursor = 0;
    _start_s = now_s + kCensusPeriodS;
}

void FlowCensusTaker::publish(uint32_t now_s) {
    FlowCensus& work = _buffers[_back];
    work.passes = ++_passes;
    work.now_s = now_s;
    work.per_backend.clear();
    for (BackendFlows& s : _counts) {
        if (s.flows != 0) {
            work.per_backend.push_back(s);  // sorted by the reader
            s = BackendFlows{};
        }
    }
    _used = 0;
    // acq_rel: release publishes the buffer's contents to the reader's
    // acquire exchange in latest(); acquire pairs with the reader's release
    // there, so the buffer we get back is no longer being read.
    _back = _latest.exchange(static_cast<uint8_t>(_back | kFresh), std::memory_order_acq_rel) &
            (kFresh - 1);
    _buffers[_back].samples.clear();
}

FlowCensus FlowCensusTaker::latest() {
    // Relaxed: only a hint; the exchange below orders the data.
    if ((_latest.load(std::memory_order_relaxed) & kFresh) != 0) {
        // acq_rel: acquire pairs with the worker's release in publish();
        // release hands our old front back only after we finished reading it.
        _front = _latest.exchange(_front, std::memory_order_acq_rel) & (kFresh - 1);
        auto& rows = _buffers[_front].per_backend;
        std::sort(rows.begin(), rows.end(), by_key);  // here, off the worker
    }
    return _buffers[_front];
}

}  // namespace svcgw
