// DNS messages for tests: a query encoder and a response decoder written
// independently of the responder (it follows compression pointers, backwards
// only, so a malformed response fails instead of looping, and renders RDATA
// as text). Shared by the DNS unit tests.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dns/wire.hpp"

namespace svcgw::dns::test {

using Bytes = std::vector<uint8_t>;

// ---------------------------------------------------------------- encoding

struct Edns {
    uint16_t size = 1232;
    uint8_t version = 0;
    bool do_bit = false;
    Bytes options;  // raw option bytes
};

struct QueryOpts {
    uint16_t id = 0xbeef;
    uint16_t flags = flag::rd;
    uint16_t qclass = kClassIn;
    std::optional<Edns> edns;
};

inline void put16(Bytes& b, uint16_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
}

// Wire name keeping the caller's case (encode_name lower-cases).
inline Bytes wire_name(std::string_view dotted) {
    Bytes out;
    while (!dotted.empty() && dotted != ".") {
        size_t dot = dotted.find('.');
        std::string_view label = dotted.substr(0, dot);
        out.push_back(static_cast<uint8_t>(label.size()));
        out.insert(out.end(), label.begin(), label.end());
        dotted = dot == std::string_view::npos ? "" : dotted.substr(dot + 1);
    }
    out.push_back(0);
    return out;
}

inline Bytes opt_record(const Edns& e) {
    Bytes b{0};
    put16(b, rr_type::opt);
    put16(b, e.size);
    b.push_back(0);  // extended rcode
    b.push_back(e.version);
    put16(b, e.do_bit ? kEdnsDoBit : 0);
    put16(b, static_cast<uint16_t>(e.options.size()));
    b.insert(b.end(), e.options.begin(), e.options.end());
    return b;
}

inline Bytes make_query(std::string_view name, uint16_t type, const QueryOpts& o = {}) {
    Bytes b;
    put16(b, o.id);
    put16(b, o.flags);
    put16(b, 1);
    put16(b, 0);
    put16(b, 0);
    put16(b, o.edns ? 1 : 0);
    Bytes n = wire_name(name);
    b.insert(b.end(), n.begin(), n.end());
    put16(b, type);
    put16(b, o.qclass);
    if (o.edns) {
        Bytes opt = opt_record(*o.edns);
        b.insert(b.end(), opt.begin(), opt.end());
    }
    return b;
}

// ---------------------------------------------------------------- decoding
// Independent of the responder: follows compression pointers (backwards only,
// so a malformed response fails instead of looping) and renders RDATA.

struct Rr {
    std::string name;
    uint16_t type = 0;
    uint16_t cls = 0;
    uint32_t ttl = 0;
    std::string text;  // rendered RDATA
};

struct Msg {
    uint16_t id = 0;
    uint16_t flags = 0;
    unsigned rcode = 0;  // with the EDNS extended bits
    std::vector<std::pair<std::string, uint16_t>> questions;
    std::vector<Rr> an, ns, ar;
    bool edns = false;
    uint16_t edns_size = 0;
    uint8_t edns_version = 0;
    bool do_bit = false;
    size_t size = 0;
};

inline std::optional<std::string> read_name(std::span<const uint8_t> m, size_t& pos) {
    std::string out;
    size_t p = pos;
    bool jumped = false;
    for (int hops = 0; hops < 128; ++hops) {
        if (p >= m.size()) {
            return std::nullopt;
        }
        uint8_t l = m[p];
        if ((l & 0xc0) == 0xc0) {
            if (p + 2 > m.size()) {
                return std::nullopt;
            }
            size_t target = load_be16(&m[p]) & 0x3fff;
            if (target >= p) {
                return std::nullopt;  // forward or self pointer: reject
            }
            if (!jumped) {
                pos = p + 2;
            }
            jumped = true;
            p = target;
            continue;
        }
        if (l & 0xc0 || p + 1 + l > m.size()) {
            return std::nullopt;
        }
        if (l == 0) {
            if (!jumped) {
                pos = p + 1;
            }
            return out.empty() ? "." : out;
        }
        out.append(reinterpret_cast<const char*>(&m[p + 1]), l);
        out.push_back('.');
        p += 1 + l;
    }
    return std::nullopt;
}

inline std::optional<Msg> decode(std::span<const uint8_t> m) {
    if (m.size() < kHeaderSize) {
        return std::nullopt;
    }
    Msg msg;
    msg.size = m.size();
    msg.id = load_be16(&m[0]);
    msg.flags = load_be16(&m[2]);
    msg.rcode = msg.flags & flag::rcode_mask;
    uint16_t counts[4] = {load_be16(&m[4]), load_be16(&m[6]), load_be16(&m[8]), load_be16(&m[10])};
    size_t pos = kHeaderSize;
    for (uint16_t i = 0; i < counts[0]; ++i) {
        auto name = read_name(m, pos);
        if (!name || pos + 4 > m.size()) {
            return std::nullopt;
        }
        msg.questions.emplace_back(*name, load_be16(&m[pos]));
        pos += 4;
    }
    std::vector<Rr>* sections[3] = {&msg.an, &msg.ns, &msg.ar};
    for (int s = 0; s < 3; ++s) {
        for (uint16_t i = 0; i < counts[s + 1]; ++i) {
            Rr rr;
            auto name = read_name(m, pos);
            if (!name || pos + 10 > m.size()) {
                return std::nullopt;
            }
            rr.name = *name;
            rr.type = load_be16(&m[pos]);
            rr.cls = load_be16(&m[pos + 2]);
            rr.ttl = load_be32(&m[pos + 4]);
            size_t rdlen = load_be16(&m[pos + 8]);
            size_t rd = pos + 10;
            if (rd + rdlen > m.size()) {
                return std::nullopt;
            }
            size_t p = rd;
            switch (rr.type) {
                case rr_type::a:
                    if (rdlen != 4) {
                        return std::nullopt;
                    }
                    rr.text = std::to_string(m[rd]) + "." + std::to_string(m[rd + 1]) + "." +
                              std::to_string(m[rd + 2]) + "." + std::to_string(m[rd + 3]);
                    break;
                case rr_type::ns:
                case rr_type::cname:
                case rr_type::ptr: {
                    auto n = read_name(m, p);
                    if (!n || p != rd + rdlen) {
                        return std::nullopt;
                    }
                    rr.text = *n;
                    break;
                }
                case rr_type::srv: {
                    p += 6;
                    auto n = read_name(m, p);
                    if (rdlen < 7 || !n || p != rd + rdlen) {
                        return std::nullopt;
                    }
                    rr.text = std::to_string(load_be16(&m[rd])) + " " +
                              std::to_string(load_be16(&m[rd + 2])) + " " +
                              std::to_string(load_be16(&m[rd + 4])) + " " + *n;
                    break;
                }
                case rr_type::soa: {
                    auto mname = read_name(m, p);
                    auto rname = mname ? read_name(m, p) : std::nullopt;
                    if (!rname || p + 20 != rd + rdlen) {
                        return std::nullopt;
                    }
                    rr.text = *mname + " " + *rname;
                    for (int k = 0; k < 5; ++k) {
                        rr.text += " " + std::to_string(load_be32(&m[p + 4 * k]));
                    }
                    break;
                }
                case rr_type::txt:
                    if (rdlen == 0 || m[rd] + 1u != rdlen) {
                        return std::nullopt;
                    }
                    rr.text = std::string(reinterpret_cast<const char*>(&m[rd + 1]), m[rd]);
                    break;
                case rr_type::opt:
                    if (s != 2 || rr.name != "." || msg.edns) {
                        return std::nullopt;
                    }
                    msg.edns = true;
                    msg.edns_size = rr.cls;
                    msg.rcode |= (rr.ttl >> 24) << 4;
                    msg.edns_version = static_cast<uint8_t>(rr.ttl >> 16);
                    msg.do_bit = (rr.ttl & kEdnsDoBit) != 0;
                    break;
                default:
                    return std::nullopt;  // we never send other types
            }
            pos = rd + rdlen;
            if (rr.type != rr_type::opt) {
                sections[s]->push_back(rr);
            }
        }
    }
    if (pos != m.size()) {
        return std::nullopt;
    }
    return msg;
}

}  // namespace svcgw::dns::test
