// Zone construction (control thread) and lookup (workers).
#include "dns/zone.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "dns/wire.hpp"

namespace svcgw::dns {

std::optional<std::vector<uint8_t>> encode_name(std::string_view dotted) {
    std::vector<uint8_t> out;
    if (!dotted.empty() && dotted.back() == '.') {
        dotted.remove_suffix(1);
    }
    while (!dotted.empty()) {
        size_t dot = dotted.find('.');
        std::string_view label = dotted.substr(0, dot);
        if (label.empty() || label.size() > kMaxLabelLength) {
            return std::nullopt;
        }
        out.push_back(static_cast<uint8_t>(label.size()));
        for (char c : label) {
            out.push_back(ascii_lower(static_cast<uint8_t>(c)));
        }
        dotted = dot == std::string_view::npos ? std::string_view{} : dotted.substr(dot + 1);
    }
    out.push_back(0);
    if (out.size() > kMaxNameLength) {
        return std::nullopt;
    }
    return out;
}

std::string name_to_text(std::span<const uint8_t> wire) {
    std::string out;
    size_t i = 0;
    while (i < wire.size() && wire[i] != 0) {
        size_t len = wire[i];
        for (size_t k = 1; k <= len && i + k < wire.size(); ++k) {
            out.push_back(static_cast<char>(wire[i + k]));
        }
        out.push_back('.');
        i += len + 1;
    }
    return out.empty() ? "." : out;
}

const ZoneNode* Zone::find(std::span<const uint8_t> name, uint64_t hash) const {
    if (_slots.empty()) {
        return nullptr;
    }
    const auto tag = static_cast<uint32_t>(hash >> 32);
    for (uint64_t i = hash & _mask;; i = (i + 1) & _mask) {
        const Slot& slot = _slots[i];
        if (slot.node == 0) {
            return nullptr;
        }
        if (slot.tag == tag) {
            const ZoneNode& node = _nodes[slot.node - 1];
            if (node.name_length == name.size() &&
                std::memcmp(_arena.data() + node.name_offset, name.data(), name.size()) == 0) {
                return &node;
            }
        }
    }
}

const ZoneNode* Zone::find(std::span<const uint8_t> name) const {
    return find(name, name_hash(name.data(), name.size()));
}

const RRset* Zone::rrset(const ZoneNode& node, uint16_t type) const {
    for (const RRset& set : rrsets(node)) {
        if (set.type == type) {
            return &set;
        }
    }
    return nullptr;
}

size_t Zone::memory_bytes() const {
    return sizeof(*this) + _slots.capacity() * sizeof(Slot) + _nodes.capacity() * sizeof(ZoneNode) +
           _rrsets.capacity() * sizeof(RRset) + _arena.capacity() +
           _apexes.capacity() * sizeof(ZoneApex);
}

namespace {

// Names and rdata are bytes; std::string holds them (short names stay inline,
// and the name index can look up suffixes as string_views without copies).
using Name = std::string;

const uint8_t* bytes_of(std::string_view s) {
    return reinterpret_cast<const uint8_t*>(s.data());
}

void append_label(Name& out, std::string_view label) {
    out.push_back(static_cast<char>(label.size()));
    for (char c : label) {
        out.push_back(static_cast<char>(ascii_lower(static_cast<uint8_t>(c))));
    }
}

std::optional<Name> prepend(std::string_view label, std::string_view parent) {
    if (label.empty() || label.size() > kMaxLabelLength ||
        parent.size() + label.size() + 1 > kMaxNameLength) {
        return std::nullopt;
    }
    Name out;
    out.reserve(parent.size() + label.size() + 1);
    append_label(out, label);
    out.append(parent);
    return out;
}

// The name without its first label (callers never pass the root).
std::string_view parent_of(std::string_view name) {
    return name.substr(1 + static_cast<uint8_t>(name[0]));
}

size_t label_count(std::string_view name) {
    size_t n = 0;
    for (size_t i = 0; i < name.size() && name[i] != 0; i += static_cast<uint8_t>(name[i]) + 1) {
        ++n;
    }
    return n;
}

Name a_rdata(Ipv4 ip) {
    return {static_cast<char>(ip.value >> 24), static_cast<char>(ip.value >> 16),
            static_cast<char>(ip.value >> 8), static_cast<char>(ip.value)};
}

// "10-1-2-3": the system-assigned endpoint hostname the spec allows when an
// endpoint has none (§2.1); the config carries no hostnames.
std::string dashed(Ipv4 ip) {
    std::string s = ip.str();
    for (char& c : s) {
        if (c == '.') {
            c = '-';
        }
    }
    return s;
}

// d.c.b.a.in-addr.arpa for the first `octets` octets of `ip` (RFC 1035 §3.5),
// written straight in wire form (one per ClusterIP: keep it cheap).
Name reverse_name(Ipv4 ip, size_t octets) {
    static constexpr std::string_view kSuffix{"\7in-addr\4arpa\0", 14};
    Name out;
    out.reserve(octets * 4 + kSuffix.size());
    for (size_t i = octets; i > 0; --i) {
        const unsigned v = (ip.value >> (32 - 8 * i)) & 0xff;
        char digits[3];
        size_t n = 0;
        if (v >= 100) {
            digits[n++] = static_cast<char>('0' + v / 100);
        }
        if (v >= 10) {
            digits[n++] = static_cast<char>('0' + v / 10 % 10);
        }
        digits[n++] = static_cast<char>('0' + v % 10);
        out.push_back(static_cast<char>(n));
        out.append(digits, n);
    }
    out.append(kSuffix);
    return out;
}

std::string service_path(size_t index) {
    return "services[" + std::to_string(index) + "]";
}

}  // namespace

// Build-time layout: nodes in a vector with their names in one buffer,
// found through an open-addressing index sized ahead (no rehash for the
// usual service shapes); records as (node, type, rdata) slices of one byte
// buffer, grouped by node, sorted and de-duplicated at the end. No
// allocation per name or per record.
// This replaced ordered maps of byte vectors: the build is on the path of
// every DNS-visible change, and 10k services cost ~60 ms that way.
class ZoneBuilder {
public:
    ZoneBuilder(const DnsConfig& dns, uint32_t serial) : _ttl(dns.ttl_s), _serial(serial) {}

    Result<std::unique_ptr<const Zone>, Errors> build(const std::vector<ServiceConfig>& services,
                                                      const DnsConfig& dns,
                                                      Ipv4Prefix service_cidr) {
        auto domain = encode_name(dns.domain);
        if (!domain || domain->size() <= 1) {
            return Unexpected<Errors>{
                {Error{"dns.domain", "cannot encode '" + dns.domain + "' as a DNS name", ""}}};
        }
        _domain.assign(domain->begin(), domain->end());
        auto dns_host = prepend("dns", _domain);
        auto ns_host = dns_host ? prepend("ns", *dns_host) : std::nullopt;
        auto hostmaster = prepend("hostmaster", _domain);
        auto version = prepend("dns-version", _domain);
        auto svc = prepend("svc", _domain);
        if (!ns_host || !hostmaster || !version || !svc) {
            return Unexpected<Errors>{{Error{
                "dns.domain", "domain '" + dns.domain + "' is too long for its records", ""}}};
        }
        _ns_host = *ns_host;
        _hostmaster = *hostmaster;
        _svc = *svc;

        // Per service: its name, the namespace node, A, PTR, and per named
        // port an SRV name and its _proto parent; headless ones add one name
        // per endpoint. 6 per service covers the common shapes.
        size_t expected = 64;
        for (const ServiceConfig& s : services) {
            expected += 6 + s.ports.size() * 2 + (s.headless ? s.endpoints.size() : 0);
        }
        size_t capacity = 16;
        while (capacity < 2 * expected) {
            capacity *= 2;
        }
        _slots.assign(capacity, 0);
        _nodes.reserve(expected);
        _records.reserve(expected);
        _names.reserve(expected * 40);
        _rdata.reserve(expected * 24);

        add_apex(_domain);
        add(_ns_host, 0, rr_type::a, a_rdata(dns.cluster_ip));
        Name txt(1, static_cast<char>(kSchemaVersion.size()));
        txt.append(kSchemaVersion);
        add(*version, 0, rr_type::txt, txt);
        add_reverse_zones(service_cidr);
        add_ptr(dns.cluster_ip, _ns_host);

        for (size_t i = 0; i < services.size(); ++i) {
            add_service(services[i], i);
        }
        if (!_errors.empty()) {
            return Unexpected<Errors>{std::move(_errors)};
        }
        return finish();
    }

private:
    struct Record {
        uint32_t node = 0;
        uint16_t type = 0;
        uint16_t length = 0;
        uint32_t offset = 0;  // into _rdata
    };
    struct NodeBuild {
        uint32_t name_offset = 0;  // into _names
        uint8_t name_length = 0;
        uint8_t apex = 0;
        uint32_t first = 0, count = 0;  // its records in _records, after finish()'s sort
    };

    void add_apex(const Name& apex) {
        _apex_names.push_back(apex);
        const auto index = static_cast<uint8_t>(_apex_names.size() - 1);
        Name soa = _ns_host;
        soa.append(_hostmaster);
        for (uint32_t v : {_serial, kSoaRefresh, kSoaRetry, kSoaExpire, _ttl}) {
            uint8_t b[4];
            store32(b, v);
            soa.append(reinterpret_cast<const char*>(b), 4);
        }
        _soa_rdata.push_back(soa);
        add(apex, index, rr_type::soa, soa);
        add(apex, index, rr_type::ns, _ns_host);
    }

    // One reverse zone per octet-aligned block of the CIDR (RFC 2317 has no
    // standard delegation below an octet): a /16 is one zone, a /12 sixteen.
    void add_reverse_zones(Ipv4Prefix cidr) {
        _rev_bits = static_cast<uint8_t>((cidr.length + 7) / 8 * 8);
        _rev_network = cidr.network();
        _rev_length = cidr.length;
        _rev_first_apex = _apex_names.size();
        const uint32_t blocks = uint32_t{1} << (_rev_bits - cidr.length);
        const uint32_t step = _rev_bits == 0 ? 0 : uint32_t{1} << (32 - _rev_bits);
        for (uint32_t b = 0; b < blocks; ++b) {
            add_apex(reverse_name(Ipv4{_rev_network.value + b * step}, _rev_bits / 8));
        }
    }

    void add_ptr(Ipv4 ip, std::string_view target) {
        if (!Ipv4Prefix{_rev_network, _rev_length}.contains(ip)) {
            return;  // outside every reverse zone we serve (validation prevents it)
        }
        const uint32_t block =
            _rev_bits == 0 ? 0 : (ip.value - _rev_network.value) >> (32 - _rev_bits);
        add(reverse_name(ip, 4), static_cast<uint8_t>(_rev_first_apex + block), rr_type::ptr,
            target);
    }

    void add_service(const ServiceConfig& service, size_t index) {
        auto ns_name = prepend(service.ns, _svc);
        auto name = ns_name ? prepend(service.name, *ns_name) : std::nullopt;
        if (!name) {
            report(service_path(index) + ".name", "name '" + service.key() +
                                                      "' does not fit a DNS name under " +
                                                      name_to_text(bytes(_svc)));
            return;
        }
        // Spec: <ns>.svc.<domain> exists as soon as the namespace has a service,
        // even a headless one with no ready endpoint.
        ensure(*ns_name, 0);
        if (!service.headless) {
            if (!service.cluster_ip) {
                return;  // not allocated: validation runs first, nothing to publish
            }
            add(*name, 0, rr_type::a, a_rdata(*service.cluster_ip));
            add_ptr(*service.cluster_ip, *name);
        }
        for (size_t p = 0; p < service.ports.size(); ++p) {
            const ServicePortConfig& port = service.ports[p];
            if (port.name.empty()) {
                continue;  // spec: unnamed ports have no SRV record
            }
            const std::string_view proto = port.protocol == Protocol::udp ? "_udp" : "_tcp";
            auto proto_name = prepend(proto, *name);
            auto srv_name = proto_name ? prepend("_" + port.name, *proto_name) : std::nullopt;
            if (!srv_name) {
                report(service_path(index) + ".ports[" + std::to_string(p) + "].name",
                       "SRV name for port '" + port.name + "' is too long");
                continue;
            }
            if (!service.headless) {
                add(*srv_name, 0, rr_type::srv, srv_rdata(port.port, *name));
                continue;
            }
            for (const EndpointConfig& ep : service.endpoints) {
                // Clients of a headless service connect to the pod itself, so
                // the SRV port is the endpoint's target port (as CoreDNS does).
                const uint16_t target_port = ep.target_port_for(port);
                auto host = prepend(dashed(ep.ip), *name);
                if (ep.ready && target_port != 0 && host) {
                    add(*srv_name, 0, rr_type::srv, srv_rdata(target_port, *host));
                }
            }
        }
        if (service.headless) {
            for (const EndpointConfig& ep : service.endpoints) {
                if (!ep.ready) {
                    continue;
                }
                add(*name, 0, rr_type::a, a_rdata(ep.ip));
                auto host = prepend(dashed(ep.ip), *name);
                if (!host) {
                    report(service_path(index) + ".name",
                           "endpoint name under '" + service.key() + "' is too long");
                    continue;
                }
                add(*host, 0, rr_type::a, a_rdata(ep.ip));
            }
        }
    }

    void report(std::string path, std::string message) {
        _errors.push_back(Error{std::move(path), std::move(message), ""});
    }

    static std::span<const uint8_t> bytes(std::string_view s) { return {bytes_of(s), s.size()}; }

    static Name srv_rdata(uint16_t port, std::string_view target) {
        Name rdata(6, '\0');
        auto* p = reinterpret_cast<uint8_t*>(rdata.data());
        store16(p, kSrvPriority);
        store16(p + 2, kSrvWeight);
        store16(p + 4, port);
        rdata.append(target);
        return rdata;
    }

    // The node and its ancestors up to the apex (empty non-terminals). An
    // existing ancestor already has all of its own, so the walk stops there.
    uint32_t ensure(std::string_view name, uint8_t apex) {
        const uint32_t node = find_or_insert(name, apex);
        if (node + 1 != _nodes.size()) {
            return node;  // existed already, and so do its ancestors
        }
        const size_t apex_length = _apex_names[apex].size();
        for (std::string_view up = name; up.size() > apex_length;) {
            up = parent_of(up);
            if (find_or_insert(up, apex) + 1 != _nodes.size()) {
                break;
            }
        }
        return node;
    }

    std::string_view node_name(const NodeBuild& n) const {
        return {_names.data() + n.name_offset, n.name_length};
    }

    // Open addressing over node indices (+1; 0 = empty), load <= 1/2.
    std::optional<uint32_t> find_node(std::string_view name) const {
        const uint64_t mask = _slots.size() - 1;
        for (uint64_t i = name_hash(bytes_of(name), name.size()) & mask;; i = (i + 1) & mask) {
            const uint32_t slot = _slots[i];
            if (slot == 0) {
                return std::nullopt;
            }
            if (node_name(_nodes[slot - 1]) == name) {
                return slot - 1;
            }
        }
    }

    void grow() {
        std::vector<uint32_t> old = std::move(_slots);
        _slots.assign(old.size() * 2, 0);
        const uint64_t mask = _slots.size() - 1;
        for (uint32_t slot : old) {
            if (slot != 0) {
                const std::string_view name = node_name(_nodes[slot - 1]);
                uint64_t i = name_hash(bytes_of(name), name.size()) & mask;
                while (_slots[i] != 0) {
                    i = (i + 1) & mask;
                }
                _slots[i] = slot;
            }
        }
    }

    // The node's index; a new node is the last one.
    uint32_t find_or_insert(std::string_view name, uint8_t apex) {
        if (auto found = find_node(name)) {
            _nodes[*found].apex = apex;
            return *found;
        }
        if (2 * (_nodes.size() + 1) > _slots.size()) {
            grow();
        }
        const auto index = static_cast<uint32_t>(_nodes.size());
        NodeBuild node;
        node.name_offset = static_cast<uint32_t>(_names.size());
        node.name_length = static_cast<uint8_t>(name.size());
        node.apex = apex;
        _names.append(name);
        _nodes.push_back(node);
        const uint64_t mask = _slots.size() - 1;
        uint64_t i = name_hash(bytes_of(name), name.size()) & mask;
        while (_slots[i] != 0) {
            i = (i + 1) & mask;
        }
        _slots[i] = index + 1;
        return index;
    }

    void add(std::string_view owner, uint8_t apex, uint16_t type, std::string_view rdata) {
        const uint32_t node = ensure(owner, apex);
        _records.push_back({node, type, static_cast<uint16_t>(rdata.size()),
                            static_cast<uint32_t>(_rdata.size())});
        _rdata.append(rdata);
    }

    std::string_view rdata(const Record& r) const { return {_rdata.data() + r.offset, r.length}; }

    // Records grouped by node (a counting sort: nodes are dense indices),
    // then per node sorted by (type, rdata) with duplicates dropped: a set
    // of records per type, and answers that do not depend on the order
    // services were given in.
    void group_records() {
        std::vector<uint32_t> start(_nodes.size() + 1, 0);
        for (const Record& r : _records) {
            ++start[r.node + 1];
        }
        for (size_t n = 0; n < _nodes.size(); ++n) {
            start[n + 1] += start[n];
        }
        std::vector<Record> sorted(_records.size());
        std::vector<uint32_t> fill(start.begin(), start.end() - 1);
        for (const Record& r : _records) {
            sorted[fill[r.node]++] = r;
        }
        auto less = [this](const Record& a, const Record& b) {
            return a.type != b.type ? a.type < b.type : rdata(a) < rdata(b);
        };
        auto same = [this](const Record& a, const Record& b) {
            return a.type == b.type && rdata(a) == rdata(b);
        };
        _records.clear();
        for (size_t n = 0; n < _nodes.size(); ++n) {
            auto first = sorted.begin() + start[n];
            auto last = sorted.begin() + start[n + 1];
            std::sort(first, last, less);
            last = std::unique(first, last, same);
            _nodes[n].first = static_cast<uint32_t>(_records.size());
            _records.insert(_records.end(), first, last);
            _nodes[n].count = static_cast<uint32_t>(_records.size()) - _nodes[n].first;
        }
    }

    std::span<const Record> records_of(const NodeBuild& n) const {
        return {_records.data() + n.first, n.count};
    }

    static void put_rr(std::vector<uint8_t>& arena, uint16_t type, uint32_t ttl,
                       std::string_view rdata) {
        uint8_t fixed[kRrFixedSize];
        store16(fixed, type);
        store16(fixed + 2, kClassIn);
        store32(fixed + 4, ttl);
        store16(fixed + 8, static_cast<uint16_t>(rdata.size()));
        arena.insert(arena.end(), fixed, fixed + kRrFixedSize);
        arena.insert(arena.end(), bytes_of(rdata), bytes_of(rdata) + rdata.size());
    }

    // A records of `target`, with its full owner name, for the additional section.
    uint16_t put_glue(std::vector<uint8_t>& arena, std::string_view target) const {
        auto node = find_node(target);
        if (!node) {
            return 0;
        }
        uint16_t count = 0;
        for (const Record& r : records_of(_nodes[*node])) {
            if (r.type == rr_type::a) {
                arena.insert(arena.end(), bytes_of(target), bytes_of(target) + target.size());
                put_rr(arena, rr_type::a, _ttl, rdata(r));
                ++count;
            }
        }
        return count;
    }

    std::unique_ptr<const Zone> finish() {
        group_records();
        auto zone = std::make_unique<Zone>();
        zone->_serial = _serial;
        zone->_nodes.reserve(_nodes.size());
        std::vector<uint8_t>& arena = zone->_arena;
        arena.reserve(_rdata.size() * 2 + _nodes.size() * 48);
        for (const NodeBuild& build : _nodes) {
            ZoneNode node;
            node.name_offset = static_cast<uint32_t>(arena.size());
            node.name_length = build.name_length;
            node.apex = build.apex;
            node.rrset_first = static_cast<uint32_t>(zone->_rrsets.size());
            const std::string_view name = node_name(build);
            arena.insert(arena.end(), bytes_of(name), bytes_of(name) + name.size());
            const std::span<const Record> records = records_of(build);
            for (size_t first = 0; first < records.size();) {
                size_t last = first;
                while (last < records.size() && records[last].type == records[first].type) {
                    ++last;
                }
                const uint16_t type = records[first].type;
                RRset set;
                set.type = type;
                set.count = static_cast<uint16_t>(last - first);
                set.answer_offset = static_cast<uint32_t>(arena.size());
                for (size_t r = first; r < last; ++r) {
                    uint8_t owner[2];
                    store16(owner, kQuestionNamePointer);
                    arena.insert(arena.end(), owner, owner + 2);
                    put_rr(arena, type, _ttl, rdata(records[r]));
                }
                set.answer_length = static_cast<uint32_t>(arena.size()) - set.answer_offset;
                set.extra_offset = static_cast<uint32_t>(arena.size());
                for (size_t r = first; r < last; ++r) {
                    if (type == rr_type::srv) {
                        set.extra_count += put_glue(arena, rdata(records[r]).substr(6));
                    } else if (type == rr_type::ns) {
                        set.extra_count += put_glue(arena, rdata(records[r]));
                    }
                }
                set.extra_length = static_cast<uint32_t>(arena.size()) - set.extra_offset;
                zone->_rrsets.push_back(set);
                zone->_record_count += set.count;
                ++node.rrset_count;
                first = last;
            }
            zone->_nodes.push_back(node);
        }
        for (size_t i = 0; i < _apex_names.size(); ++i) {
            ZoneApex apex;
            apex.label_count = static_cast<uint8_t>(label_count(_apex_names[i]));
            apex.soa_offset = static_cast<uint32_t>(arena.size());
            put_rr(arena, rr_type::soa, _ttl, _soa_rdata[i]);
            apex.soa_length = static_cast<uint32_t>(arena.size()) - apex.soa_offset;
            zone->_apexes.push_back(apex);
        }
        arena.shrink_to_fit();

        size_t capacity = 16;
        while (capacity < 2 * zone->_nodes.size()) {
            capacity *= 2;
        }
        zone->_slots.assign(capacity, {});
        zone->_mask = capacity - 1;
        for (uint32_t n = 0; n < zone->_nodes.size(); ++n) {
            auto name = zone->name(zone->_nodes[n]);
            const uint64_t h = name_hash(name.data(), name.size());
            uint64_t i = h & zone->_mask;
            while (zone->_slots[i].node != 0) {
                i = (i + 1) & zone->_mask;
            }
            zone->_slots[i] = {static_cast<uint32_t>(h >> 32), n + 1};
        }
        return zone;
    }

    uint32_t _ttl;
    uint32_t _serial;
    Name _domain;
    Name _ns_host;
    Name _hostmaster;
    Name _svc;
    std::vector<Name> _apex_names;
    std::vector<Name> _soa_rdata;
    Ipv4 _rev_network;
    uint8_t _rev_length = 0;
    uint8_t _rev_bits = 0;
    size_t _rev_first_apex = 0;
    std::vector<uint32_t> _slots;  // name index: node + 1, 0 = empty
    std::vector<NodeBuild> _nodes;
    std::vector<Record> _records;
    std::string _names;  // every node's name, back to back
    std::string _rdata;  // every record's rdata, back to back
    Errors _errors;
};

Result<std::unique_ptr<const Zone>, Errors> build_zone(const std::vector<ServiceConfig>& services,
                                                       const DnsConfig& dns,
                                                       Ipv4Prefix service_cidr, uint32_t serial) {
    return ZoneBuilder(dns, serial).build(services, dns, service_cidr);
}

Result<std::unique_ptr<const Zone>, Errors> build_zone(const Config& config, uint32_t serial) {
    return build_zone(config.services, config.dns, config.network.service_cidr, serial);
}

}  // namespace svcgw::dns
