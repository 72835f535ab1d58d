// The zone's incremental writer (control thread).
#include "dns/zone_writer.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <iterator>
#include <new>
#include <stdexcept>

#include "dns/wire.hpp"

namespace svcgw::dns {

namespace {

const uint8_t* bytes_of(std::string_view s) {
    return reinterpret_cast<const uint8_t*>(s.data());
}

uint64_t hash_of(std::string_view name) {
    return name_hash(bytes_of(name), name.size());
}

const ZoneNode* leaf_of(uintptr_t slot) {
    return reinterpret_cast<const ZoneNode*>(slot & ~kTrieLeafTag);
}

uintptr_t leaf_slot(const ZoneNode* node) {
    return reinterpret_cast<uintptr_t>(node) | kTrieLeafTag;
}

bool is_leaf(uintptr_t slot) {
    return (slot & kTrieLeafTag) != 0;
}

TrieNode* level_of(uintptr_t slot) {
    return reinterpret_cast<TrieNode*>(slot);
}

bool same_name(const ZoneNode& node, std::string_view name) {
    const std::span<const uint8_t> own = node.name();
    return own.size() == name.size() && std::memcmp(own.data(), name.data(), name.size()) == 0;
}

size_t level_bytes(const TrieNode& level) {
    return sizeof(TrieNode) + size_t{level.capacity} * sizeof(uintptr_t);
}

unsigned chunk(uint64_t hash, unsigned depth) {
    return static_cast<unsigned>(hash >> (kTrieBits * depth)) & (kTrieFanout - 1);
}

// Path-copying edits of the trie for one change (epoch). Levels of this
// epoch are private to the change and edited in place; any other level is
// published, so it is copied and the original listed in `replaced`.
class TrieEditor {
public:
    TrieEditor(uint32_t epoch, std::vector<const TrieNode*>& replaced)
        : _epoch(epoch), _replaced(replaced) {}

    uintptr_t insert(uintptr_t slot, unsigned depth, uint64_t hash, const ZoneNode* leaf) {
        if (slot == 0 && depth > 0) {
            return leaf_slot(leaf);
        }
        if (slot != 0 && is_leaf(slot)) {
            const ZoneNode* old = leaf_of(slot);
            const std::span<const uint8_t> n = leaf->name();
            if (same_name(*old, {reinterpret_cast<const char*>(n.data()), n.size()})) {
                return leaf_slot(leaf);  // the caller retires `old`
            }
            // Two names share the hash bits so far: one more level for both.
            const std::span<const uint8_t> o = old->name();
            uintptr_t split = reinterpret_cast<uintptr_t>(allocate(depth));
            split = insert(split, depth, name_hash(o.data(), o.size()), old);
            return insert(split, depth, hash, leaf);
        }
        TrieNode* level = slot == 0 ? allocate(depth) : writable(level_of(slot), depth);
        uintptr_t* slots = level->slots();
        if (depth >= kTrieCollisionDepth) {
            for (uint16_t i = 0; i < level->count; ++i) {
                if (same_name(*leaf_of(slots[i]), name_view(leaf))) {
                    slots[i] = leaf_slot(leaf);
                    return reinterpret_cast<uintptr_t>(level);
                }
            }
            if (level->count == level->capacity) {
                level = grow(level, depth);
                slots = level->slots();
            }
            slots[level->count++] = leaf_slot(leaf);
            return reinterpret_cast<uintptr_t>(level);
        }
        const uint64_t bit = uint64_t{1} << chunk(hash, depth);
        const auto pos = static_cast<uint16_t>(std::popcount(level->bitmap & (bit - 1)));
        if ((level->bitmap & bit) != 0) {
            slots[pos] = insert(slots[pos], depth + 1, hash, leaf);
        } else {
            std::memmove(slots + pos + 1, slots + pos, (level->count - pos) * sizeof(uintptr_t));
            slots[pos] = leaf_slot(leaf);
            level->bitmap |= bit;
            ++level->count;
        }
        return reinterpret_cast<uintptr_t>(level);
    }

    // The name must be in the trie. A level left empty goes; one left with a
    // single leaf hands the leaf up, so the trie stays as shallow as its
    // names need (no history in its shape).
    uintptr_t erase(uintptr_t slot, unsigned depth, uint64_t hash, std::string_view name) {
        if (is_leaf(slot)) {
            return same_name(*leaf_of(slot), name) ? 0 : slot;
        }
        TrieNode* level = writable(level_of(slot), depth);
        uintptr_t* slots = level->slots();
        uint16_t pos = 0;
        if (depth >= kTrieCollisionDepth) {
            while (pos < level->count && !same_name(*leaf_of(slots[pos]), name)) {
                ++pos;
            }
            if (pos == level->count) {
                throw std::logic_error("ZoneWriter: erasing a name the trie does not hold");
            }
        } else {
            const uint64_t bit = uint64_t{1} << chunk(hash, depth);
            if ((level->bitmap & bit) == 0) {
                throw std::logic_error("ZoneWriter: erasing a name the trie does not hold");
            }
            pos = static_cast<uint16_t>(std::popcount(level->bitmap & (bit - 1)));
            const uintptr_t child = erase(slots[pos], depth + 1, hash, name);
            if (child != 0) {
                slots[pos] = child;
                return collapse(level, depth);
            }
            level->bitmap &= ~bit;
        }
        std::memmove(slots + pos, slots + pos + 1, (level->count - pos - 1) * sizeof(uintptr_t));
        --level->count;
        return collapse(level, depth);
    }

    // Shrinks this epoch's levels to their used slots (they were allocated
    // with room for every child while the change edited them).
    uintptr_t seal(uintptr_t slot) {
        if (slot == 0 || is_leaf(slot) || level_of(slot)->epoch != _epoch) {
            return slot;
        }
        TrieNode* level = level_of(slot);
        for (uint16_t i = 0; i < level->count; ++i) {
            level->slots()[i] = seal(level->slots()[i]);
        }
        if (level->capacity > level->count) {
            TrieNode* exact = copy(*level, level->count);
            free_trie(level);
            level = exact;
        }
        _sealed_bytes += level_bytes(*level);
        return reinterpret_cast<uintptr_t>(level);
    }

    size_t sealed_bytes() const { return _sealed_bytes; }

private:
    static std::string_view name_view(const ZoneNode* node) {
        const std::span<const uint8_t> n = node->name();
        return {reinterpret_cast<const char*>(n.data()), n.size()};
    }

    TrieNode* copy(const TrieNode& from, uint16_t capacity) {
        void* raw = ::operator new (sizeof(TrieNode) + size_t{capacity} * sizeof(uintptr_t));
        auto* level = new (raw) TrieNode{};
        level->bitmap = from.bitmap;
        level->epoch = _epoch;
        level->capacity = capacity;
        level->count = from.count;
        std::memcpy(level->slots(), from.slots(), size_t{from.count} * sizeof(uintptr_t));
        return level;
    }

    TrieNode* allocate(unsigned depth) {
        return copy(TrieNode{}, depth >= kTrieCollisionDepth ? 2 : kTrieFanout);
    }

    TrieNode* writable(TrieNode* level, unsigned depth) {
        if (level->epoch == _epoch) {
            return level;
        }
        TrieNode* mine =
            copy(*level, depth >= kTrieCollisionDepth ? static_cast<uint16_t>(level->count + 1)
                                                      : static_cast<uint16_t>(kTrieFanout));
        _replaced.push_back(level);
        return mine;
    }

    TrieNode* grow(TrieNode* level, unsigned depth) {
        (void)depth;
        TrieNode* bigger = copy(*level, static_cast<uint16_t>(level->capacity * 2));
        free_trie(level);  // this epoch's: never published
        return bigger;
    }

    uintptr_t collapse(TrieNode* level, unsigned depth) {
        if (depth > 0 && level->count == 0) {
            free_trie(level);
            return 0;
        }
        if (depth > 0 && level->count == 1 && is_leaf(level->slots()[0])) {
            const uintptr_t leaf = level->slots()[0];
            free_trie(level);
            return leaf;
        }
        return reinterpret_cast<uintptr_t>(level);
    }

    uint32_t _epoch;
    std::vector<const TrieNode*>& _replaced;
    size_t _sealed_bytes = 0;
};

// Frees this epoch's levels reachable from `slot` (an abandoned change).
void free_epoch(uintptr_t slot, uint32_t epoch) {
    if (slot == 0 || is_leaf(slot) || level_of(slot)->epoch != epoch) {
        return;
    }
    const TrieNode* level = level_of(slot);
    for (uint16_t i = 0; i < level->count; ++i) {
        free_epoch(level->slots()[i], epoch);
    }
    free_trie(level);
}

void free_tree(uintptr_t slot) {
    if (slot == 0) {
        return;
    }
    if (is_leaf(slot)) {
        free_zone_node(leaf_of(slot));
        return;
    }
    const TrieNode* level = level_of(slot);
    for (uint16_t i = 0; i < level->count; ++i) {
        free_tree(level->slots()[i]);
    }
    free_trie(level);
}

void put_rr(std::vector<uint8_t>& out, uint16_t type, uint32_t ttl, std::string_view rdata) {
    uint8_t fixed[kRrFixedSize];
    store_be16(fixed, type);
    store_be16(fixed + 2, kClassIn);
    store_be32(fixed + 4, ttl);
    store_be16(fixed + 8, static_cast<uint16_t>(rdata.size()));
    out.insert(out.end(), fixed, fixed + kRrFixedSize);
    out.insert(out.end(), bytes_of(rdata), bytes_of(rdata) + rdata.size());
}

}  // namespace

ZoneRetired::~ZoneRetired() {
    for (const TrieNode* level : _levels) {
        free_trie(level);
    }
    for (const ZoneNode* node : _nodes) {
        free_zone_node(node);
    }
}

ZoneWriter::ZoneWriter(ZoneLayout layout) : _layout(std::move(layout)) {}

Result<std::unique_ptr<ZoneWriter>, Errors> ZoneWriter::create(const DnsConfig& dns,
                                                               Ipv4Prefix service_cidr,
                                                               uint32_t serial) {
    auto layout = ZoneLayout::create(dns, service_cidr);
    if (!layout) {
        return Unexpected<Errors>{layout.error()};
    }
    std::unique_ptr<ZoneWriter> w(new ZoneWriter(std::move(*layout)));
    const std::vector<ApexName>& apexes = w->_layout.apexes();
    for (size_t i = 0; i + 1 < apexes.size(); ++i) {  // the last one is per endpoint PTR
        NameEntry& apex = w->_names[apexes[i].name];
        apex.apex = static_cast<uint16_t>(i);
        apex.is_apex = true;
        apex.pinned = true;
    }
    // The first version: the apexes and the zone's own records (owner 0).
    auto first = std::unique_ptr<Change>(new Change(*w, ++w->_epoch));
    w->_pending = true;
    for (size_t i = 0; i + 1 < apexes.size(); ++i) {
        w->touch(*first, apexes[i].name, nullptr);
    }
    w->set_service(*first, "", 0, nullptr, w->_layout.static_records());
    w->settle_existence(*first);
    w->build_version(*first, serial);
    (void)w->commit(std::move(first));
    return w;
}

ZoneWriter::~ZoneWriter() {
    if (_live != nullptr) {
        free_tree(reinterpret_cast<uintptr_t>(_live->_root));
    }
}

std::unique_ptr<const Zone> ZoneWriter::detach() {
    _names.clear();
    _services.clear();
    _live->_owns_tree = true;
    return std::move(_live);
}

ZoneWriter::Change::~Change() {
    if (_committed) {
        return;
    }
    if (_version != nullptr) {
        free_epoch(reinterpret_cast<uintptr_t>(_version->_root), _epoch);
    }
    for (const ZoneNode* node : _built) {
        free_zone_node(node);
    }
    _writer._pending = false;
}

ZoneWriter::NameEntry& ZoneWriter::touch(Change& c, const Name& name, const Record* first) {
    auto [it, fresh] = c._names.try_emplace(name);
    NameEntry& entry = it->second;
    if (!fresh) {
        return entry;
    }
    if (auto live = _names.find(name); live != _names.end()) {
        entry = live->second;  // a copy: the live entry stays as it is until commit
        entry.before = live->second.node;
    } else if (first != nullptr) {
        entry.apex = first->apex;
        entry.is_apex = first->own_zone;
    }
    return entry;
}

const ZoneWriter::NameEntry* ZoneWriter::lookup(const Change& c, const Name& name) const {
    if (auto it = c._names.find(name); it != c._names.end()) {
        return &it->second;
    }
    auto it = _names.find(name);
    return it == _names.end() ? nullptr : &it->second;
}

void ZoneWriter::set_service(Change& c, const std::string& key, uint32_t id,
                             const std::vector<Record>* before,
                             std::optional<std::vector<Record>> after) {
    static const std::vector<Record> kNone;
    if (auto pending = c._services.find(key); pending != c._services.end()) {
        before = pending->second ? &pending->second->records : nullptr;  // twice in one change
    }
    const std::vector<Record>& old = before != nullptr ? *before : kNone;
    const std::vector<Record>& now = after ? *after : kNone;
    // Only the records that differ move; a name none of them owns keeps its
    // node (an endpoint change of a big headless Service rebuilds the names
    // of that endpoint, the Service name and its SRV names).
    bool address_changed = false;
    auto gone = old.begin();
    auto come = now.begin();
    while (gone != old.end() || come != now.end()) {
        const bool take_old = come == now.end() || (gone != old.end() && *gone < *come);
        const bool take_new = gone == old.end() || (come != now.end() && *come < *gone);
        if (!take_old && !take_new) {  // in both: unchanged
            ++gone;
            ++come;
            continue;
        }
        const Record& r = take_old ? *gone++ : *come++;
        address_changed |= r.type == rr_type::a;
        NameEntry& entry = touch(c, r.owner, &r);
        if (r.type == kPresence) {
            // A count, not a part: a namespace with 10,000 Services must not
            // cost 10,000 parts to copy when one more comes.
            entry.presence = take_old ? entry.presence - 1 : entry.presence + 1;
        } else if (take_old) {
            auto part = std::find_if(entry.parts.begin(), entry.parts.end(), [&](const Part& p) {
                return p.owner == id && p.type == r.type && p.rdata == r.rdata;
            });
            if (part != entry.parts.end()) {
                entry.parts.erase(part);
            }
        } else {
            entry.parts.push_back(Part{id, r.type, r.rdata});
        }
    }
    if (address_changed) {
        // SRV glue carries the targets' A records, which are this Service's.
        for (const Record& r : now) {
            if (r.type == rr_type::srv) {
                touch(c, r.owner, &r);
            }
        }
    }
    c._services[key] =
        after ? std::optional<ServiceState>(ServiceState{id, std::move(*after)}) : std::nullopt;
}

// A name exists while it has records, a child, or is a configured apex. When
// that flips, its parent gains or loses a child: deepest names first, so a
// parent is settled after all of its children.
void ZoneWriter::settle_existence(Change& c) {
    std::vector<std::vector<std::pair<const Name*, NameEntry*>>> by_depth(kMaxLabels + 1);
    for (auto& [name, entry] : c._names) {
        by_depth[name_labels(name)].emplace_back(&name, &entry);
    }
    Name parent;
    for (size_t depth = kMaxLabels; depth > 1; --depth) {
        for (size_t i = 0; i < by_depth[depth].size(); ++i) {
            const auto [name, entry] = by_depth[depth][i];  // stable: map nodes do not move
            const bool now = entry->exists();
            if (now == (entry->before != nullptr) || entry->is_apex) {
                continue;
            }
            parent.assign(parent_name(*name));
            auto [it, fresh] = c._names.try_emplace(parent);
            NameEntry& p = it->second;
            if (fresh) {
                if (auto live = _names.find(parent); live != _names.end()) {
                    p = live->second;
                    p.before = live->second.node;
                } else {
                    p.apex = entry->apex;
                }
                by_depth[depth - 1].emplace_back(&it->first, &p);
            }
            p.children = now ? p.children + 1 : p.children - 1;
        }
    }
}

const ZoneNode* ZoneWriter::build_node(const Change& c, const Name& name, const NameEntry& entry) {
    struct Rr {
        uint16_t type;
        std::string_view rdata;
        auto operator<=>(const Rr&) const = default;
    };
    Rr rrs_inline[8];
    std::vector<Rr> rrs_heap;
    const size_t total = entry.parts.size() + (entry.is_apex ? 1 : 0);
    std::span<Rr> rrs(rrs_inline, 0);
    if (total > std::size(rrs_inline)) {
        rrs_heap.resize(total);
        rrs = rrs_heap;
    } else {
        rrs = std::span<Rr>(rrs_inline, total);
    }
    size_t n = 0;
    for (const Part& p : entry.parts) {
        rrs[n++] = {p.type, p.rdata};
    }
    if (entry.is_apex) {
        rrs[n++] = {rr_type::ns, _layout.ns_host()};
    }
    std::sort(rrs.begin(), rrs.begin() + static_cast<long>(n));
    n = static_cast<size_t>(std::unique(rrs.begin(), rrs.begin() + static_cast<long>(n)) -
                            rrs.begin());

    size_t sets = 0;
    for (size_t i = 0; i < n; ++i) {
        sets += i == 0 || rrs[i].type != rrs[i - 1].type;
    }
    std::vector<uint8_t>& out = _node_scratch;
    const size_t head = sizeof(ZoneNode) + sets * sizeof(RRset);
    out.assign(head, 0);
    out.insert(out.end(), bytes_of(name), bytes_of(name) + name.size());
    const uint32_t ttl = _layout.ttl();
    uint32_t records = 0;
    size_t s = 0;
    for (size_t first = 0; first < n; ++s) {
        size_t last = first;
        while (last < n && rrs[last].type == rrs[first].type) {
            ++last;
        }
        RRset set;
        set.type = rrs[first].type;
        set.count = static_cast<uint16_t>(last - first);
        set.record_size = set.type == rr_type::a ? static_cast<uint16_t>(2 + kRrFixedSize + 4) : 0;
        set.answer_offset = static_cast<uint32_t>(out.size());
        for (size_t r = first; r < last; ++r) {
            out.push_back(static_cast<uint8_t>(kQuestionNamePointer >> 8));
            out.push_back(static_cast<uint8_t>(kQuestionNamePointer));
            put_rr(out, set.type, ttl, rrs[r].rdata);
        }
        set.answer_length = static_cast<uint32_t>(out.size()) - set.answer_offset;
        set.extra_offset = static_cast<uint32_t>(out.size());
        if (set.type == rr_type::srv || set.type == rr_type::ns) {
            // Additional section: the targets' A records (RFC 2782, RFC 1035 §3.3.11).
            for (size_t r = first; r < last; ++r) {
                set.extra_count = static_cast<uint16_t>(
                    set.extra_count +
                    put_glue(c, set.type == rr_type::srv ? rrs[r].rdata.substr(6) : rrs[r].rdata,
                             out));
            }
        }
        set.extra_length = static_cast<uint32_t>(out.size()) - set.extra_offset;
        std::memcpy(out.data() + sizeof(ZoneNode) + s * sizeof(RRset), &set, sizeof set);
        records += set.count;
        first = last;
    }
    ZoneNode header;
    header.size = static_cast<uint32_t>(out.size());
    header.apex = entry.apex;
    header.name_length = static_cast<uint8_t>(name.size());
    header.is_apex = entry.is_apex ? 1 : 0;
    header.rrset_count = static_cast<uint16_t>(sets);
    header.record_count = static_cast<uint16_t>(records);
    std::memcpy(out.data(), &header, sizeof header);
    void* raw = ::operator new(out.size());
    std::memcpy(raw, out.data(), out.size());
    return static_cast<const ZoneNode*>(raw);
}

uint16_t ZoneWriter::put_glue(const Change& c, std::string_view target,
                              std::vector<uint8_t>& out) const {
    const NameEntry* t = lookup(c, Name(target));
    if (t == nullptr) {
        return 0;
    }
    std::string_view addresses[16];
    std::vector<std::string_view> more;
    size_t n = 0;
    for (const Part& p : t->parts) {
        if (p.type != rr_type::a) {
            continue;
        }
        if (n < std::size(addresses)) {
            addresses[n++] = p.rdata;
        } else {
            more.push_back(p.rdata);
        }
    }
    more.insert(more.begin(), addresses, addresses + n);
    std::sort(more.begin(), more.end());
    more.erase(std::unique(more.begin(), more.end()), more.end());
    for (std::string_view a : more) {
        out.insert(out.end(), bytes_of(target), bytes_of(target) + target.size());
        put_rr(out, rr_type::a, _layout.ttl(), a);
    }
    return static_cast<uint16_t>(more.size());
}

void ZoneWriter::build_version(Change& c, uint32_t serial) {
    const Zone* base = _live.get();
    TrieEditor editor(c._epoch, c._replaced_levels);
    uintptr_t root = base != nullptr ? reinterpret_cast<uintptr_t>(base->_root) : 0;
    int64_t nodes = 0;
    int64_t records = 0;
    int64_t bytes = 0;
    for (auto& [name, entry] : c._names) {
        const ZoneNode* before = entry.before;
        if (entry.exists()) {
            const ZoneNode* node = build_node(c, name, entry);
            if (before != nullptr && before->size == node->size &&
                std::memcmp(before, node, node->size) == 0) {
                free_zone_node(node);  // same bytes: keep sharing the old one
                entry.node = before;
                continue;
            }
            c._built.push_back(node);
            entry.node = node;
            root = editor.insert(root, 0, hash_of(name), node);
            nodes += 1;
            records += node->record_count;
            bytes += node->size;
        } else if (before == nullptr) {
            continue;  // touched, but never existed
        } else {
            entry.node = nullptr;
            root = editor.erase(root, 0, hash_of(name), name);
        }
        if (before != nullptr) {
            c._replaced_nodes.push_back(before);
            nodes -= 1;
            records -= before->record_count;
            bytes -= before->size;
        }
    }
    root = editor.seal(root);
    for (const TrieNode* level : c._replaced_levels) {
        bytes -= static_cast<int64_t>(level_bytes(*level));
    }
    bytes += static_cast<int64_t>(editor.sealed_bytes());

    auto version = std::make_unique<Zone>();
    version->_root = level_of(root);
    version->_serial = serial;
    for (const ApexName& apex : _layout.apexes()) {
        version->_apexes.push_back(ZoneApex{apex.label_count});
    }
    put_rr(version->_soa, rr_type::soa, _layout.negative_ttl(), _layout.soa_rdata(serial));
    version->_node_count =
        static_cast<size_t>(static_cast<int64_t>(base != nullptr ? base->_node_count : 0) + nodes);
    version->_record_count = static_cast<size_t>(
        static_cast<int64_t>(base != nullptr ? base->_record_count : 0) + records);
    version->_tree_bytes =
        static_cast<size_t>(static_cast<int64_t>(base != nullptr ? base->_tree_bytes : 0) + bytes);
    c._version = std::move(version);
}

Result<std::unique_ptr<ZoneWriter::Change>, Errors> ZoneWriter::prepare(
    std::span<const Upsert> upserts, std::span<const std::string> removals, uint32_t serial) {
    if (_pending) {
        throw std::logic_error("ZoneWriter: a change is already pending");
    }
    std::unique_ptr<Change> c(new Change(*this, ++_epoch));
    _pending = true;
    Errors errors;
    std::vector<std::vector<Record>> records;
    records.reserve(upserts.size());
    size_t total = 0;
    for (const Upsert& u : upserts) {
        auto r = _layout.service_records(*u.service, u.path);
        if (!r) {
            errors.insert(errors.end(), r.error().begin(), r.error().end());
            records.emplace_back();
            continue;
        }
        total += r->size();
        records.push_back(std::move(*r));
    }
    if (!errors.empty()) {
        return Unexpected<Errors>{std::move(errors)};
    }
    // Most records own a name of their own (a bulk load touches ~one name
    // per record): size the change's index once.
    c->_names.reserve(total + removals.size() * 4);
    for (const std::string& key : removals) {
        if (auto it = _services.find(key); it != _services.end()) {
            set_service(*c, key, it->second.id, &it->second.records, std::nullopt);
        }
    }
    for (size_t i = 0; i < upserts.size(); ++i) {
        const std::string key = upserts[i].service->key();
        auto it = _services.find(key);
        const uint32_t id = it != _services.end() ? it->second.id : _next_id++;
        set_service(*c, key, id, it != _services.end() ? &it->second.records : nullptr,
                    std::move(records[i]));
    }
    settle_existence(*c);
    build_version(*c, serial);
    return c;
}

std::unique_ptr<ZoneRetired> ZoneWriter::commit(std::unique_ptr<Change> change) {
    if (change == nullptr || &change->_writer != this || change->_version == nullptr) {
        throw std::logic_error("ZoneWriter: commit of a change that is not this writer's");
    }
    auto retired = std::make_unique<ZoneRetired>();
    retired->_levels = std::move(change->_replaced_levels);
    retired->_nodes = std::move(change->_replaced_nodes);
    _names.reserve(_names.size() + change->_names.size());
    while (!change->_names.empty()) {
        // Hand the map node over (no copy of the name or the records).
        auto handle = change->_names.extract(change->_names.begin());
        handle.mapped().before = nullptr;
        if (!handle.mapped().exists()) {
            _names.erase(handle.key());
            continue;
        }
        if (auto live = _names.find(handle.key()); live != _names.end()) {
            live->second = std::move(handle.mapped());
        } else {
            _names.insert(std::move(handle));
        }
    }
    for (auto& [key, state] : change->_services) {
        if (key.empty()) {
            continue;  // the zone's own records
        }
        if (state) {
            _services[key] = std::move(*state);
        } else {
            _services.erase(key);
        }
    }
    retired->_version = std::move(_live);
    _live = std::move(change->_version);
    change->_committed = true;
    _pending = false;
    return retired;
}

std::vector<std::string> ZoneWriter::service_keys() const {
    std::vector<std::string> keys;
    keys.reserve(_services.size());
    for (const auto& [key, state] : _services) {
        keys.push_back(key);
    }
    return keys;
}

}  // namespace svcgw::dns
