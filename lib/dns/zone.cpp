// Zone lookup (workers) and the standalone build (tests, tools).
#include "dns/zone.hpp"

#include <bit>
#include <cstring>
#include <new>

#include "dns/wire.hpp"
#include "dns/zone_writer.hpp"

namespace svcgw::dns {

namespace {

bool same_name(const ZoneNode& node, std::span<const uint8_t> name) {
    const std::span<const uint8_t> own = node.name();
    return own.size() == name.size() && std::memcmp(own.data(), name.data(), name.size()) == 0;
}

const ZoneNode* leaf_of(uintptr_t slot) {
    return reinterpret_cast<const ZoneNode*>(slot & ~kTrieLeafTag);
}

void free_all(const TrieNode* level) {
    for (uint16_t i = 0; i < level->count; ++i) {
        const uintptr_t slot = level->slots()[i];
        if ((slot & kTrieLeafTag) != 0) {
            free_zone_node(leaf_of(slot));
        } else {
            free_all(reinterpret_cast<const TrieNode*>(slot));
        }
    }
    free_trie(level);
}

}  // namespace

const RRset* ZoneNode::rrset(uint16_t type) const {
    for (const RRset& set : rrsets()) {
        if (set.type == type) {
            return &set;
        }
    }
    return nullptr;
}

Zone::~Zone() {
    if (_owns_tree && _root != nullptr) {
        free_all(_root);
    }
}

const ZoneNode* Zone::find(std::span<const uint8_t> name, uint64_t hash) const {
    const TrieNode* level = _root;
    for (unsigned depth = 0; level != nullptr; ++depth) {
        const uintptr_t* slots = level->slots();
        if (depth >= kTrieCollisionDepth) {
            for (uint16_t i = 0; i < level->count; ++i) {
                if (same_name(*leaf_of(slots[i]), name)) {
                    return leaf_of(slots[i]);
                }
            }
            return nullptr;
        }
        const uint64_t bit = uint64_t{1} << ((hash >> (kTrieBits * depth)) & (kTrieFanout - 1));
        if ((level->bitmap & bit) == 0) {
            return nullptr;
        }
        const uintptr_t slot = slots[std::popcount(level->bitmap & (bit - 1))];
        if ((slot & kTrieLeafTag) != 0) {
            const ZoneNode* node = leaf_of(slot);
            return same_name(*node, name) ? node : nullptr;
        }
        level = reinterpret_cast<const TrieNode*>(slot);
    }
    return nullptr;
}

const ZoneNode* Zone::find(std::span<const uint8_t> name) const {
    return find(name, name_hash(name.data(), name.size()));
}

void free_trie(const TrieNode* node) {
    ::operator delete(const_cast<TrieNode*>(node));
}

void free_zone_node(const ZoneNode* node) {
    ::operator delete(const_cast<ZoneNode*>(node));
}

Result<std::unique_ptr<const Zone>, Errors> build_zone(const std::vector<ServiceConfig>& services,
                                                       const DnsConfig& dns,
                                                       Ipv4Prefix service_cidr, uint32_t serial) {
    auto writer = ZoneWriter::create(dns, service_cidr, serial);
    if (!writer) {
        return Unexpected<Errors>{writer.error()};
    }
    std::vector<ZoneWriter::Upsert> upserts;
    upserts.reserve(services.size());
    for (size_t i = 0; i < services.size(); ++i) {
        upserts.push_back({&services[i], "services[" + std::to_string(i) + "]"});
    }
    auto change = (*writer)->prepare(upserts, {}, serial);
    if (!change) {
        return Unexpected<Errors>{change.error()};
    }
    (void)(*writer)->commit(std::move(*change));
    return (*writer)->detach();
}

Result<std::unique_ptr<const Zone>, Errors> build_zone(const Config& config, uint32_t serial) {
    return build_zone(config.services, config.dns, config.network.service_cidr, serial);
}

}  // namespace svcgw::dns
