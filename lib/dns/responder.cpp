// Query parsing and response assembly. Everything is parsed before the first
// byte of `out` is written, so the caller may answer in place.
#include "dns/responder.hpp"

#include <algorithm>
#include <cstring>

namespace svcgw::dns {
namespace {

// RFC 1035 §4.1.4 label type bits: 00 = label, 11 = pointer, 01/10 reserved
// (RFC 6891 §5 retired the extended label types).
constexpr uint8_t kLabelTypeMask = 0xc0;
constexpr uint8_t kPointerBits = 0xc0;

struct Query {
    uint16_t id = 0;
    uint16_t flags = 0;
    size_t question_end = 0;  // offset just past QTYPE/QCLASS
    uint16_t qtype = 0;
    uint16_t qclass = 0;
    bool edns = false;
    uint16_t udp_size = 0;
    uint8_t edns_version = 0;
    bool do_bit = false;
    size_t name_length = 0;
    size_t labels = 0;
    uint8_t name[kMaxNameLength];  // lower-cased wire name
    uint8_t
        label_offset[kMaxLabels + 1];  // label i starts at name[label_offset[i]]; [labels] = root
};

enum class Parse { ok, formerr_header_only, formerr_with_question };

// The question: exactly one uncompressed name, then type and class.
Parse parse_question(const uint8_t* msg, size_t size, Query& q) {
    size_t pos = kHeaderSize;
    size_t len = 0;
    for (;;) {
        if (pos >= size) {
            return Parse::formerr_header_only;
        }
        const uint8_t l = msg[pos];
        if ((l & kLabelTypeMask) != 0) {
            return Parse::formerr_header_only;  // pointer or reserved label type
        }
        if (len + l + 1 > kMaxNameLength) {
            return Parse::formerr_header_only;
        }
        if (l == 0) {
            q.label_offset[q.labels] = static_cast<uint8_t>(len);
            q.name[len++] = 0;
            ++pos;
            break;
        }
        if (pos + 1 + l > size) {
            return Parse::formerr_header_only;
        }
        q.label_offset[q.labels++] = static_cast<uint8_t>(len);
        q.name[len] = l;
        for (size_t i = 1; i <= l; ++i) {
            q.name[len + i] = ascii_lower(msg[pos + i]);
        }
        len += l + 1;
        pos += l + 1;
    }
    if (pos + 4 > size) {
        return Parse::formerr_header_only;
    }
    q.name_length = len;
    q.qtype = load_be16(msg + pos);
    q.qclass = load_be16(msg + pos + 2);
    q.question_end = pos + 4;
    return Parse::ok;
}

// Skips a (possibly compressed) owner name outside the question; pointers are
// not followed, so they cannot loop. Returns the offset past it, 0 if bad.
size_t skip_name(const uint8_t* msg, size_t size, size_t pos) {
    size_t len = 0;
    for (;;) {
        if (pos >= size) {
            return 0;
        }
        const uint8_t l = msg[pos];
        if ((l & kLabelTypeMask) == kPointerBits) {
            return pos + 2 <= size ? pos + 2 : 0;
        }
        if ((l & kLabelTypeMask) != 0 || len + l + 1 > kMaxNameLength) {
            return 0;
        }
        len += l + 1;
        pos += l + 1;
        if (l == 0) {
            return pos;
        }
    }
}

// The additional section: at most one OPT (owned by the root, well-formed
// options); other records (e.g. TSIG we do not support) are skipped.
bool parse_additional(const uint8_t* msg, size_t size, uint16_t count, Query& q) {
    size_t pos = q.question_end;
    for (uint16_t r = 0; r < count; ++r) {
        const size_t owner = pos;
        pos = skip_name(msg, size, pos);
        if (pos == 0 || pos + kRrFixedSize > size) {
            return false;
        }
        const uint16_t type = load_be16(msg + pos);
        const uint16_t rdlength = load_be16(msg + pos + 8);
        const size_t rdata = pos + kRrFixedSize;
        if (rdata + rdlength > size) {
            return false;
        }
        if (type == rr_type::opt) {
            // RFC 6891 §6.1.1: one OPT, owner = root; else FORMERR.
            if (q.edns || pos != owner + 1) {
                return false;
            }
            for (size_t o = rdata; o < rdata + rdlength;) {
                if (o + 4 > rdata + rdlength || o + 4 + load_be16(msg + o + 2) > rdata + rdlength) {
                    return false;
                }
                o += 4 + load_be16(msg + o + 2);
            }
            q.edns = true;
            q.udp_size = load_be16(msg + pos + 2);
            q.edns_version = msg[pos + 5];
            q.do_bit = (load_be16(msg + pos + 6) & kEdnsDoBit) != 0;
        }
        pos = rdata + rdlength;
    }
    return pos == size;  // anything after the last record is garbage
}

// Assembles the response in `out` (header last, once the counts are known).
class Writer {
public:
    Writer(std::span<uint8_t> out, size_t limit, const Query& q)
        : _out(out.data()), _limit(limit), _q(q) {}

    // Reserves room for the OPT we will append, so sections never crowd it out.
    bool start(const uint8_t* question, size_t question_length) {
        _pos = kHeaderSize + question_length;
        if (_pos + opt_size() > _limit) {
            return false;
        }
        std::memmove(_out + kHeaderSize, question, question_length);
        _qdcount = question_length > 0 ? 1 : 0;
        return true;
    }
    bool put(std::span<const uint8_t> bytes) {
        if (_pos + bytes.size() + opt_size() > _limit) {
            return false;
        }
        std::memcpy(_out + _pos, bytes.data(), bytes.size());
        _pos += bytes.size();
        return true;
    }
    bool put_pointer_and(uint16_t pointer, std::span<const uint8_t> bytes) {
        if (_pos + 2 + bytes.size() + opt_size() > _limit) {
            return false;
        }
        store_be16(_out + _pos, pointer);
        std::memcpy(_out + _pos + 2, bytes.data(), bytes.size());
        _pos += 2 + bytes.size();
        return true;
    }
    // The answer RRs of `set`, owners pointing at `owner`, starting at record
    // `first` of a set of equal-size records (the rotation) and wrapping.
    bool put_rrset(const ZoneNode& node, const RRset& set, uint16_t owner, uint32_t first) {
        const std::span<const uint8_t> rrs = node.bytes(set.answer_offset, set.answer_length);
        if (_pos + rrs.size() + opt_size() > _limit) {
            return false;
        }
        size_t split = 0;
        if (set.record_size != 0 && set.count > 1) {
            split = size_t{first % set.count} * set.record_size;
        }
        uint8_t* at = _out + _pos;
        std::memcpy(at, rrs.data() + split, rrs.size() - split);
        std::memcpy(at + rrs.size() - split, rrs.data(), split);
        if (owner != kQuestionNamePointer) {
            // Each RR: 2-octet owner pointer, fixed part, rdata.
            for (size_t rr = 0; rr < rrs.size();) {
                store_be16(at + rr, owner);
                rr += 2 + kRrFixedSize + load_be16(at + rr + 2 + kRrFixedSize - 2);
            }
        }
        _pos += rrs.size();
        return true;
    }
    size_t position() const { return _pos; }

    size_t finish(Rcode rcode, bool aa, bool tc, uint16_t an, uint16_t ns, uint16_t ar) {
        const auto code = static_cast<uint8_t>(rcode);
        if (_q.edns) {
            uint8_t* p = _out + _pos;
            p[0] = 0;  // root owner
            store_be16(p + 1, rr_type::opt);
            store_be16(p + 3, kOurUdpSize);
            p[5] = static_cast<uint8_t>(code >> 4);  // extended rcode, upper 8 bits
            p[6] = 0;                                // we speak version 0
            store_be16(p + 7, _q.do_bit ? kEdnsDoBit : 0);
            store_be16(p + 9, 0);
            _pos += kOptRecordSize;
            ++ar;
        }
        uint16_t flags = flag::qr | (_q.flags & (flag::opcode_mask | flag::rd | flag::cd)) |
                         (code & flag::rcode_mask);
        flags |= aa ? flag::aa : 0;
        flags |= tc ? flag::tc : 0;
        store_be16(_out, _q.id);
        store_be16(_out + 2, flags);
        store_be16(_out + 4, _qdcount);
        store_be16(_out + 6, an);
        store_be16(_out + 8, ns);
        store_be16(_out + 10, ar);
        return _pos;
    }

private:
    size_t opt_size() const { return _q.edns ? kOptRecordSize : 0; }

    uint8_t* _out;
    size_t _limit;
    const Query& _q;
    size_t _pos = 0;
    uint16_t _qdcount = 0;
};

Counter counter_for(Rcode rcode) {
    switch (rcode) {
        case Rcode::noerror:
            return Counter::noerror;
        case Rcode::formerr:
            return Counter::formerr;
        case Rcode::servfail:
            return Counter::servfail;
        case Rcode::nxdomain:
            return Counter::nxdomain;
        case Rcode::notimp:
            return Counter::notimp;
        case Rcode::refused:
            return Counter::refused;
        case Rcode::badvers:
            return Counter::badvers;
    }
    return Counter::servfail;
}

Reply drop(Counter reason) {
    return Reply{0, reason, false, false};
}

// A CNAME target in the zone is followed (RFC 1034 §4.3.2 step 3a), at most
// this many links (RFC 1034 §3.6.2 asks to bound chains; BIND stops at 16,
// our ExternalName chains are one or two long).
constexpr int kMaxCnameChain = 8;

Reply respond(const Zone* zone, std::span<const uint8_t> query, std::span<uint8_t> out, bool tcp,
              uint16_t max_udp_default, uint32_t rotation) {
    const uint8_t* msg = query.data();
    const size_t size = query.size();
    if (size < kHeaderSize) {
        return drop(Counter::drop_short_header);
    }
    Query q;
    q.id = load_be16(msg);
    q.flags = load_be16(msg + 2);
    if ((q.flags & flag::qr) != 0) {
        return drop(Counter::drop_response);
    }

    // Error answers without a question or without EDNS: the header alone.
    auto bare = [&](Rcode rcode, size_t question_length) -> Reply {
        q.edns = false;
        Writer w(out, std::min<size_t>(out.size(), kOurUdpSize), q);
        if (!w.start(msg + kHeaderSize, question_length)) {
            return drop(Counter::drop_buffer_too_small);
        }
        return Reply{w.finish(rcode, false, false, 0, 0, 0), counter_for(rcode), false, false};
    };

    if ((q.flags & flag::opcode_mask) != 0) {
        return bare(Rcode::notimp, 0);
    }
    if (load_be16(msg + 4) != 1) {
        return bare(Rcode::formerr, 0);
    }
    if (parse_question(msg, size, q) != Parse::ok) {
        return bare(Rcode::formerr, 0);
    }
    const size_t question_length = q.question_end - kHeaderSize;
    if (load_be16(msg + 6) != 0 || load_be16(msg + 8) != 0 ||
        !parse_additional(msg, size, load_be16(msg + 10), q)) {
        return bare(Rcode::formerr, question_length);
    }

    // RFC 6891 §6.2.5: below 512 means 512; we never exceed what we advertise.
    // Over TCP the message may use all of its 2-octet length (RFC 7766 §8).
    size_t limit = tcp      ? kMaxTcpMessage
                   : q.edns ? std::clamp<size_t>(q.udp_size, kClassicUdpSize, kOurUdpSize)
                            : max_udp_default;
    limit = std::min(limit, out.size());
    Writer w(out, limit, q);
    if (!w.start(msg + kHeaderSize, question_length)) {
        return drop(Counter::drop_buffer_too_small);
    }
    auto reply = [&](Rcode rcode, bool aa, uint16_t an = 0, uint16_t ns = 0,
                     uint16_t ar = 0) -> Reply {
        return Reply{w.finish(rcode, aa, false, an, ns, ar), counter_for(rcode), false, false};
    };
    auto truncated = [&](Rcode rcode) -> Reply {
        // RFC 2181 §9: the required data did not fit; send none of it.
        Writer t(out, limit, q);
        (void)t.start(msg + kHeaderSize, question_length);  // fitted once already
        return Reply{t.finish(rcode, true, true, 0, 0, 0), counter_for(rcode), true, false};
    };

    if (q.edns && q.edns_version > 0) {
        return reply(Rcode::badvers, false);
    }
    if (zone == nullptr) {
        return reply(Rcode::servfail, false);
    }
    if (q.qclass != kClassIn) {
        return reply(Rcode::refused, false);
    }
    if (q.qtype == rr_type::opt) {
        return reply(Rcode::formerr, false);
    }
    if (q.qtype >= rr_type::ixfr && q.qtype <= rr_type::maila) {
        return reply(Rcode::notimp, false);
    }

    const ZoneNode* node = zone->find({q.name, q.name_length});
    Rcode rcode = Rcode::noerror;
    uint16_t apex_index = 0;
    if (node != nullptr) {
        if (q.qtype == rr_type::soa && node->is_apex) {
            // The apex's SOA lives in the version (its serial changes with
            // every publish); its owner is the question.
            if (!w.put_pointer_and(kQuestionNamePointer, zone->soa())) {
                return truncated(Rcode::noerror);
            }
            return reply(Rcode::noerror, true, 1);
        }
        const RRset* set = nullptr;
        if (q.qtype == rr_type::any) {
            set = node->rrset_count > 0 ? &node->rrsets()[0] : nullptr;
        } else {
            set = node->rrset(q.qtype);
        }
        if (set != nullptr) {
            if (!w.put_rrset(*node, *set, kQuestionNamePointer, rotation)) {
                return truncated(Rcode::noerror);
            }
            const bool glue =
                set->extra_count > 0 && w.put(node->bytes(set->extra_offset, set->extra_length));
            return reply(Rcode::noerror, true, set->count, 0, glue ? set->extra_count : 0);
        }
        if (const RRset* cname = node->rrset(rr_type::cname)) {
            // RFC 1034 §3.6.2: a CNAME answers every type. Targets we hold
            // are followed; others are left to the client's resolver, which
            // restarts at the target (so a chain ending outside the zone,
            // or at a name without that type, is a complete answer).
            uint16_t an = 0;
            uint16_t owner = kQuestionNamePointer;
            const ZoneNode* at = node;
            for (int link = 0; link < kMaxCnameChain; ++link) {
                const size_t target_at = w.position() + 2 + kRrFixedSize;
                if (!w.put_rrset(*at, *cname, owner, 0)) {
                    if (an == 0) {
                        return truncated(Rcode::noerror);
                    }
                    break;
                }
                ++an;
                const size_t rdata = cname->answer_offset + 2 + kRrFixedSize;
                const uint16_t rdlength = load_be16(at->bytes(rdata - 2, 2).data());
                if (target_at > kMaxCompressionOffset) {
                    break;  // a pointer cannot reach it
                }
                owner = static_cast<uint16_t>(0xc000 | target_at);
                at = zone->find(at->bytes(rdata, rdlength));
                if (at == nullptr) {
                    break;
                }
                if (const RRset* data = at->rrset(q.qtype)) {
                    if (w.put_rrset(*at, *data, owner, rotation)) {
                        an = static_cast<uint16_t>(an + data->count);
                    }
                    break;
                }
                cname = at->rrset(rr_type::cname);
                if (cname == nullptr) {
                    break;
                }
            }
            return reply(Rcode::noerror, true, an);
        }
        apex_index = node->apex;  // NODATA
    } else {
        // Closest existing ancestor: it proves authority; none -> not ours.
        const ZoneNode* encloser = nullptr;
        for (size_t i = 1; i <= q.labels && encloser == nullptr; ++i) {
            const size_t off = q.label_offset[i];
            encloser = zone->find({q.name + off, q.name_length - off});
        }
        if (encloser == nullptr) {
            return reply(Rcode::refused, false);
        }
        rcode = Rcode::nxdomain;
        apex_index = encloser->apex;
    }
    // Negative answer: the apex's SOA, its owner a pointer into the question.
    const ZoneApex& apex = zone->apexes()[apex_index];
    const size_t first_label = q.labels - std::min<size_t>(apex.label_count, q.labels);
    const auto pointer =
        static_cast<uint16_t>(0xc000 | (kHeaderSize + q.label_offset[first_label]));
    if (!w.put_pointer_and(pointer, zone->soa())) {
        return truncated(rcode);
    }
    Reply r = reply(rcode, true, 0, 1);
    r.nodata = rcode == Rcode::noerror;
    return r;
}

}  // namespace

Reply answer(const Zone* zone, std::span<const uint8_t> query, std::span<uint8_t> out,
             uint16_t max_udp_default, uint32_t rotation) {
    return respond(zone, query, out, false, max_udp_default, rotation);
}

Reply answer_tcp(const Zone* zone, std::span<const uint8_t> query, std::span<uint8_t> out,
                 uint32_t rotation) {
    return respond(zone, query, out, true, kClassicUdpSize, rotation);
}

}  // namespace svcgw::dns
