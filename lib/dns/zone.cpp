// Zone construction (control thread) and lookup (workers).
#include "dns/zone.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <string>
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

using Name = std::vector<uint8_t>;

// Byte-wise order for names and rdata. Spelled out because GCC 12's
// -Wstringop-overread misfires on std::vector<uint8_t>'s operator<=>.
struct BytesLess {
    bool operator()(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) const {
        const size_t n = std::min(a.size(), b.size());
        const int c = n == 0 ? 0 : std::memcmp(a.data(), b.data(), n);
        return c != 0 ? c < 0 : a.size() < b.size();
    }
};

std::optional<Name> prepend(std::string_view label, const Name& parent) {
    if (label.empty() || label.size() > kMaxLabelLength ||
        parent.size() + label.size() + 1 > kMaxNameLength) {
        return std::nullopt;
    }
    Name out;
    out.reserve(parent.size() + label.size() + 1);
    out.push_back(static_cast<uint8_t>(label.size()));
    for (char c : label) {
        out.push_back(ascii_lower(static_cast<uint8_t>(c)));
    }
    out.insert(out.end(), parent.begin(), parent.end());
    return out;
}

// The name without its first label; the root stays the root.
Name parent_of(const Name& name) {
    if (name.size() <= 1) {
        return name;
    }
    return Name(name.begin() + 1 + name[0], name.end());
}

size_t label_count(const Name& name) {
    size_t n = 0;
    for (size_t i = 0; i < name.size() && name[i] != 0; i += name[i] + 1) {
        ++n;
    }
    return n;
}

std::vector<uint8_t> a_rdata(Ipv4 ip) {
    return {static_cast<uint8_t>(ip.value >> 24), static_cast<uint8_t>(ip.value >> 16),
            static_cast<uint8_t>(ip.value >> 8), static_cast<uint8_t>(ip.value)};
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

// d.c.b.a.in-addr.arpa for the first `octets` octets of `ip` (RFC 1035 §3.5).
Name reverse_name(Ipv4 ip, size_t octets) {
    std::string text;
    for (size_t i = octets; i > 0; --i) {
        text += std::to_string((ip.value >> (32 - 8 * i)) & 0xff) + ".";
    }
    text += "in-addr.arpa";
    return *encode_name(text);
}

}  // namespace

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
        _domain = *domain;
        auto ns_host = prepend("ns", *prepend("dns", _domain));
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

        add_apex(_domain);
        add(_ns_host, 0, rr_type::a, a_rdata(dns.cluster_ip));
        std::vector<uint8_t> txt{static_cast<uint8_t>(kSchemaVersion.size())};
        txt.insert(txt.end(), kSchemaVersion.begin(), kSchemaVersion.end());
        add(*version, 0, rr_type::txt, txt);
        add_reverse_zones(service_cidr);
        add_ptr(dns.cluster_ip, _ns_host);

        for (size_t i = 0; i < services.size(); ++i) {
            add_service(services[i], "services[" + std::to_string(i) + "]");
        }
        if (!_errors.empty()) {
            return Unexpected<Errors>{std::move(_errors)};
        }
        return finish();
    }

private:
    struct NodeBuild {
        uint8_t apex = 0;
        std::map<uint16_t, std::set<std::vector<uint8_t>, BytesLess>>
            rrsets;  // type -> distinct rdata
    };

    void add_apex(const Name& apex) {
        _apex_names.push_back(apex);
        const auto index = static_cast<uint8_t>(_apex_names.size() - 1);
        std::vector<uint8_t> soa = _ns_host;
        soa.insert(soa.end(), _hostmaster.begin(), _hostmaster.end());
        for (uint32_t v : {_serial, kSoaRefresh, kSoaRetry, kSoaExpire, _ttl}) {
            uint8_t b[4];
            store32(b, v);
            soa.insert(soa.end(), b, b + 4);
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

    void add_ptr(Ipv4 ip, const Name& target) {
        if (!Ipv4Prefix{_rev_network, _rev_length}.contains(ip)) {
            return;  // outside every reverse zone we serve (validation prevents it)
        }
        const uint32_t block =
            _rev_bits == 0 ? 0 : (ip.value - _rev_network.value) >> (32 - _rev_bits);
        add(reverse_name(ip, 4), static_cast<uint8_t>(_rev_first_apex + block), rr_type::ptr,
            target);
    }

    void add_service(const ServiceConfig& service, const std::string& path) {
        auto ns_name = prepend(service.ns, _svc);
        auto name = ns_name ? prepend(service.name, *ns_name) : std::nullopt;
        if (!name) {
            report(path + ".name", "name '" + service.key() + "' does not fit a DNS name under " +
                                       name_to_text(_svc));
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
            const std::string proto = port.protocol == Protocol::udp ? "_udp" : "_tcp";
            auto proto_name = prepend(proto, *name);
            auto srv_name = proto_name ? prepend("_" + port.name, *proto_name) : std::nullopt;
            if (!srv_name) {
                report(path + ".ports[" + std::to_string(p) + "].name",
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
                    report(path + ".name",
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

    static std::vector<uint8_t> srv_rdata(uint16_t port, const Name& target) {
        std::vector<uint8_t> rdata(6);
        store16(rdata.data(), kSrvPriority);
        store16(rdata.data() + 2, kSrvWeight);
        store16(rdata.data() + 4, port);
        rdata.insert(rdata.end(), target.begin(), target.end());
        return rdata;
    }

    // The node and its ancestors up to the apex (empty non-terminals).
    NodeBuild& ensure(const Name& name, uint8_t apex) {
        NodeBuild& node = _nodes[name];
        node.apex = apex;
        const size_t apex_length = _apex_names[apex].size();
        for (Name up = name; up.size() > apex_length;) {
            up = parent_of(up);
            _nodes[up].apex = apex;
        }
        return node;
    }

    void add(const Name& owner, uint8_t apex, uint16_t type, std::vector<uint8_t> rdata) {
        ensure(owner, apex).rrsets[type].insert(std::move(rdata));
    }

    void put_rr(std::vector<uint8_t>& arena, uint16_t type, uint32_t ttl,
                std::span<const uint8_t> rdata) {
        uint8_t fixed[kRrFixedSize];
        store16(fixed, type);
        store16(fixed + 2, kClassIn);
        store32(fixed + 4, ttl);
        store16(fixed + 8, static_cast<uint16_t>(rdata.size()));
        arena.insert(arena.end(), fixed, fixed + kRrFixedSize);
        arena.insert(arena.end(), rdata.begin(), rdata.end());
    }

    // A records of `target`, with its full owner name, for the additional section.
    uint16_t put_glue(std::vector<uint8_t>& arena, const Name& target) {
        auto it = _nodes.find(target);
        if (it == _nodes.end()) {
            return 0;
        }
        auto a = it->second.rrsets.find(rr_type::a);
        if (a == it->second.rrsets.end()) {
            return 0;
        }
        for (const auto& rdata : a->second) {
            arena.insert(arena.end(), target.begin(), target.end());
            put_rr(arena, rr_type::a, _ttl, rdata);
        }
        return static_cast<uint16_t>(a->second.size());
    }

    std::unique_ptr<const Zone> finish() {
        auto zone = std::make_unique<Zone>();
        zone->_serial = _serial;
        std::vector<uint8_t>& arena = zone->_arena;
        for (auto& [name, build] : _nodes) {
            ZoneNode node;
            node.name_offset = static_cast<uint32_t>(arena.size());
            node.name_length = static_cast<uint8_t>(name.size());
            node.apex = build.apex;
            node.rrset_first = static_cast<uint32_t>(zone->_rrsets.size());
            node.rrset_count = static_cast<uint16_t>(build.rrsets.size());
            arena.insert(arena.end(), name.begin(), name.end());
            for (auto& [type, rdatas] : build.rrsets) {
                RRset set;
                set.type = type;
                set.count = static_cast<uint16_t>(rdatas.size());
                set.answer_offset = static_cast<uint32_t>(arena.size());
                for (const auto& rdata : rdatas) {
                    uint8_t owner[2];
                    store16(owner, kQuestionNamePointer);
                    arena.insert(arena.end(), owner, owner + 2);
                    put_rr(arena, type, _ttl, rdata);
                }
                set.answer_length = static_cast<uint32_t>(arena.size()) - set.answer_offset;
                set.extra_offset = static_cast<uint32_t>(arena.size());
                for (const auto& rdata : rdatas) {
                    if (type == rr_type::srv) {
                        set.extra_count += put_glue(arena, Name(rdata.begin() + 6, rdata.end()));
                    } else if (type == rr_type::ns) {
                        set.extra_count += put_glue(arena, rdata);
                    }
                }
                set.extra_length = static_cast<uint32_t>(arena.size()) - set.extra_offset;
                zone->_rrsets.push_back(set);
                zone->_record_count += set.count;
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
    std::vector<std::vector<uint8_t>> _soa_rdata;
    Ipv4 _rev_network;
    uint8_t _rev_length = 0;
    uint8_t _rev_bits = 0;
    size_t _rev_first_apex = 0;
    std::map<Name, NodeBuild, BytesLess> _nodes;
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
