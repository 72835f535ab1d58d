// The records of the cluster zone, per Service (control thread).
#include "dns/records.hpp"

#include <algorithm>

#include "dns/wire.hpp"

namespace svcgw::dns {

namespace {

void append_label(Name& out, std::string_view label) {
    out.push_back(static_cast<char>(label.size()));
    for (char c : label) {
        out.push_back(static_cast<char>(ascii_lower(static_cast<uint8_t>(c))));
    }
}

// "10-1-2-3": the system-assigned endpoint hostname the spec allows when an
// endpoint has none (§2.1), in CoreDNS' form.
std::string dashed(Ipv4 ip) {
    std::string s = ip.str();
    std::replace(s.begin(), s.end(), '.', '-');
    return s;
}

std::string srv_rdata(uint16_t port, std::string_view target) {
    std::string rdata(6, '\0');
    auto* p = reinterpret_cast<uint8_t*>(rdata.data());
    store_be16(p, kSrvPriority);
    store_be16(p + 2, kSrvWeight);
    store_be16(p + 4, port);
    rdata.append(target);
    return rdata;
}

Name to_name(const std::vector<uint8_t>& wire) {
    return {wire.begin(), wire.end()};
}

}  // namespace

std::optional<Name> prepend_label(std::string_view label, std::string_view parent) {
    if (label.empty() || label.size() > kMaxLabelLength ||
        parent.size() + label.size() + 1 > kMaxNameLength ||
        label.find('.') != std::string_view::npos) {
        return std::nullopt;
    }
    Name out;
    out.reserve(parent.size() + label.size() + 1);
    append_label(out, label);
    out.append(parent);
    return out;
}

std::string_view parent_name(std::string_view name) {
    return name.substr(1 + static_cast<uint8_t>(name[0]));
}

size_t name_labels(std::string_view name) {
    size_t n = 0;
    for (size_t i = 0; i < name.size() && name[i] != 0; i += static_cast<uint8_t>(name[i]) + 1) {
        ++n;
    }
    return n;
}

Name reverse_name(Ipv4 ip, size_t octets) {
    static constexpr std::string_view kSuffix{"\7in-addr\4arpa\0", 14};
    Name out;
    out.reserve(octets * 4 + kSuffix.size());
    for (size_t i = octets; i > 0; --i) {
        const std::string digits = std::to_string((ip.value >> (32 - 8 * i)) & 0xff);
        out.push_back(static_cast<char>(digits.size()));
        out.append(digits);
    }
    out.append(kSuffix);
    return out;
}

std::string a_rdata(Ipv4 ip) {
    return {static_cast<char>(ip.value >> 24), static_cast<char>(ip.value >> 16),
            static_cast<char>(ip.value >> 8), static_cast<char>(ip.value)};
}

Result<ZoneLayout, Errors> ZoneLayout::create(const DnsConfig& dns, Ipv4Prefix service_cidr) {
    ZoneLayout z;
    auto domain = encode_name(dns.domain);
    if (!domain || domain->size() <= 1) {
        return Unexpected<Errors>{
            {Error{"dns.domain", "cannot encode '" + dns.domain + "' as a DNS name", ""}}};
    }
    z._domain = to_name(*domain);
    auto dns_host = prepend_label("dns", z._domain);
    auto ns_host = dns_host ? prepend_label("ns", *dns_host) : std::nullopt;
    auto hostmaster = prepend_label("hostmaster", z._domain);
    auto svc = prepend_label("svc", z._domain);
    if (!ns_host || !hostmaster || !svc || !prepend_label("dns-version", z._domain)) {
        return Unexpected<Errors>{
            {Error{"dns.domain", "domain '" + dns.domain + "' is too long for its records", ""}}};
    }
    z._ns_host = *ns_host;
    z._hostmaster = *hostmaster;
    z._svc = *svc;
    z._dns_ip = dns.cluster_ip;
    z._ttl = dns.ttl_s;
    z._service_cidr = Ipv4Prefix{service_cidr.network(), service_cidr.length};

    z._apexes.push_back({z._domain, static_cast<uint8_t>(name_labels(z._domain))});
    // One reverse zone per octet-aligned block of the CIDR (RFC 2317 has no
    // standard delegation below an octet): a /16 is one zone, a /12 sixteen.
    z._rev_bits = static_cast<uint8_t>((service_cidr.length + 7) / 8 * 8);
    const uint32_t blocks = uint32_t{1} << (z._rev_bits - service_cidr.length);
    const uint32_t step = z._rev_bits == 0 ? 0 : uint32_t{1} << (32 - z._rev_bits);
    for (uint32_t b = 0; b < blocks; ++b) {
        const size_t octets = z._rev_bits / 8;
        z._apexes.push_back({reverse_name(Ipv4{z._service_cidr.address.value + b * step}, octets),
                             static_cast<uint8_t>(octets + 2)});
    }
    // Endpoint PTR names outside those blocks: each a zone of its own.
    z._apexes.push_back({Name{}, 6});
    return z;
}

uint32_t ZoneLayout::negative_ttl() const {
    return std::min(_ttl, kMaxNegativeTtl);
}

std::string ZoneLayout::soa_rdata(uint32_t serial) const {
    std::string soa = _ns_host;
    soa.append(_hostmaster);
    for (uint32_t v : {serial, kSoaRefresh, kSoaRetry, kSoaExpire, negative_ttl()}) {
        uint8_t b[4];
        store_be32(b, v);
        soa.append(reinterpret_cast<const char*>(b), 4);
    }
    return soa;
}

Record ZoneLayout::ptr_record(Ipv4 ip, std::string_view target) const {
    Record r{reverse_name(ip, 4), rr_type::ptr, std::string(target), host_reverse_apex(), true};
    if (_service_cidr.contains(ip)) {
        r.own_zone = false;
        r.apex = static_cast<uint16_t>(
            1 +
            (_rev_bits == 0 ? 0 : (ip.value - _service_cidr.address.value) >> (32 - _rev_bits)));
    }
    return r;
}

std::vector<Record> ZoneLayout::static_records() const {
    std::vector<Record> out;
    out.push_back({_ns_host, rr_type::a, a_rdata(_dns_ip)});
    std::string txt(1, static_cast<char>(kSchemaVersion.size()));
    txt.append(kSchemaVersion);
    out.push_back({*prepend_label("dns-version", _domain), rr_type::txt, txt});
    if (_service_cidr.contains(_dns_ip)) {
        out.push_back(ptr_record(_dns_ip, _ns_host));
    }
    std::sort(out.begin(), out.end());
    return out;
}

Result<std::vector<Record>, Errors> ZoneLayout::service_records(const ServiceConfig& service,
                                                                const std::string& path) const {
    Errors errors;
    auto fail = [&](std::string at, std::string message) {
        errors.push_back(Error{path + at, std::move(message), ""});
        return Unexpected<Errors>{std::move(errors)};
    };
    auto ns_name = prepend_label(service.ns, _svc);
    auto name = ns_name ? prepend_label(service.name, *ns_name) : std::nullopt;
    if (!name) {
        return fail(".name",
                    "name '" + service.key() + "' does not fit a DNS name under " +
                        name_to_text({reinterpret_cast<const uint8_t*>(_svc.data()), _svc.size()}));
    }
    std::vector<Record> out;
    // Spec: <ns>.svc.<domain> exists as soon as the namespace has a Service,
    // even a headless one with no ready endpoint.
    out.push_back({*ns_name, kPresence, ""});
    if (service.type == ServiceType::external_name) {
        auto target = encode_name(service.external_name);
        if (!target || target->size() <= 1) {
            return fail(".external_name",
                        "'" + service.external_name + "' is not a DNS name for a CNAME");
        }
        out.push_back({*name, rr_type::cname, to_name(*target)});
        return out;
    }
    if (!service.headless && service.cluster_ip) {
        out.push_back({*name, rr_type::a, a_rdata(*service.cluster_ip)});
        out.push_back(ptr_record(*service.cluster_ip, *name));
    }
    // Headless: each ready endpoint's own name (its hostname, else dashed IP).
    std::vector<std::optional<Name>> hosts;
    if (service.headless) {
        for (size_t e = 0; e < service.endpoints.size(); ++e) {
            const EndpointConfig& ep = service.endpoints[e];
            if (!ep.ready) {
                hosts.emplace_back();
                continue;
            }
            const std::string label = ep.hostname.empty() ? dashed(ep.ip) : ep.hostname;
            auto host = prepend_label(label, *name);
            if (!host) {
                return fail(".endpoints[" + std::to_string(e) + "].hostname",
                            "endpoint name '" + label + "' under '" + service.key() +
                                "' is not a DNS label or does not fit a DNS name");
            }
            out.push_back({*name, rr_type::a, a_rdata(ep.ip)});
            out.push_back({*host, rr_type::a, a_rdata(ep.ip)});
            out.push_back(ptr_record(ep.ip, *host));
            hosts.push_back(std::move(host));
        }
    }
    for (size_t p = 0; p < service.ports.size(); ++p) {
        const ServicePortConfig& port = service.ports[p];
        if (port.name.empty()) {
            continue;  // spec: unnamed ports have no SRV record
        }
        const std::string_view proto = port.protocol == Protocol::udp ? "_udp" : "_tcp";
        auto proto_name = prepend_label(proto, *name);
        auto srv_name = proto_name ? prepend_label("_" + port.name, *proto_name) : std::nullopt;
        if (!srv_name) {
            return fail(".ports[" + std::to_string(p) + "].name",
                        "SRV name for port '" + port.name + "' is too long");
        }
        if (!service.headless) {
            if (service.cluster_ip) {
                out.push_back({*srv_name, rr_type::srv, srv_rdata(port.port, *name)});
            }
            continue;
        }
        for (size_t e = 0; e < service.endpoints.size(); ++e) {
            // Clients of a headless Service connect to the pod itself, so the
            // SRV port is the endpoint's target port (as CoreDNS does).
            const uint16_t target_port = service.endpoints[e].target_port_for(port);
            if (hosts[e] && target_port != 0) {
                out.push_back({*srv_name, rr_type::srv, srv_rdata(target_port, *hosts[e])});
            }
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

}  // namespace svcgw::dns
