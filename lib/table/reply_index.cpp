// DPDK glue of the reply index (reply_index.hpp): the rule is pairs_of()
// and the one-VIP test in replace().
#include "table/reply_index.hpp"

#include <rte_byteorder.h>
#include <rte_hash.h>

#include <cstring>
#include <unordered_set>

#include "table/service_table.hpp"

namespace svcgw {

namespace {

// The data word of an ambiguous key. A packed VipKey is never 0: a VIP is
// never 0.0.0.0 (config validation).
constexpr uintptr_t kAmbiguous = 0;
static_assert(sizeof(uintptr_t) >= sizeof(VipKey), "a packed VipKey fits the data word");

}  // namespace

ReplyIndex::~ReplyIndex() {
    if (_hash != nullptr) {
        rte_hash_free(_hash);
    }
}

ReplyIndex::Answer ReplyIndex::lookup(uint32_t src_ip_be, uint16_t src_port_be,
                                      uint8_t proto) const {
    const VipKey key{src_ip_be, src_port_be, proto, 0};
    void* data = nullptr;
    if (rte_hash_lookup_data(_hash, &key, &data) < 0) {
        return {};
    }
    const auto word = reinterpret_cast<uintptr_t>(data);
    if (word == kAmbiguous) {
        return {Match::ambiguous};
    }
    VipKey vip;
    const uint64_t packed = word;
    std::memcpy(static_cast<void*>(&vip), &packed, sizeof vip);  // trivially copyable
    return {Match::unique, vip.ip_be, vip.port_be};
}

std::vector<ReplyIndex::Pair> ReplyIndex::pairs_of(const Service* service) {
    std::vector<Pair> pairs;
    if (service == nullptr || !service->cluster_ip()) {
        return pairs;
    }
    const uint32_t vip_be = rte_cpu_to_be_32(service->cluster_ip()->value);
    const auto backends = service->backends();
    for (const ServicePort& sp : service->ports()) {
        const auto proto = static_cast<uint8_t>(sp.protocol);
        const uint64_t vip = VipKey{vip_be, sp.port_be, proto, 0}.packed();
        for (size_t i = 0; i < backends.size(); ++i) {
            if (sp.target_port_be[i] != 0) {  // 0: this backend does not serve the port
                pairs.emplace_back(
                    VipKey{backends[i].ip_be, sp.target_port_be[i], proto, 0}.packed(), vip);
            }
        }
    }
    return pairs;
}

void ReplyIndex::replace(const Service* old, const Service* next) {
    std::unordered_set<uint64_t> touched;
    for (const auto& [backend, vip] : pairs_of(old)) {
        auto it = _vips_of.find(backend);
        if (it != _vips_of.end()) {
            it->second.erase(vip);
            touched.insert(backend);
        }
    }
    for (const auto& [backend, vip] : pairs_of(next)) {
        _vips_of[backend].insert(vip);
        touched.insert(backend);
    }
    for (uint64_t backend : touched) {
        VipKey key;
        std::memcpy(static_cast<void*>(&key), &backend, sizeof key);
        auto it = _vips_of.find(backend);
        if (it->second.empty()) {
            rte_hash_del_key(_hash, &key);  // -ENOENT when it was never indexed: fine
            _vips_of.erase(it);
            continue;
        }
        // One VIP: its packed key; several: the marker. Inserting and
        // replacing the data word are single release stores (LF mode).
        const uintptr_t word =
            it->second.size() == 1 ? static_cast<uintptr_t>(*it->second.begin()) : kAmbiguous;
        if (rte_hash_add_key_data(_hash, &key, reinterpret_cast<void*>(word)) < 0) {
            ++_unindexed;
        }
    }
}

}  // namespace svcgw
