// The zone updated in place (issue 16 §2): the guarantees of the incremental
// writer, not examples.
// - Equivalence: after any sequence of changes, the live version holds
//   byte for byte the names a from-scratch build of the same Services holds,
//   in a trie of the same shape (no history in it).
// - Readers are safe: a version, once published, never changes, whatever
//   the writer does next; what a change replaces is handed back, never freed
//   behind a reader.
// - O(change): one Service's change touches its own names and the trie
//   levels above them, not the zone.
// - Abandoned changes leave the writer as it was and leak nothing (ASan).
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "dns/responder.hpp"
#include "dns/zone.hpp"
#include "dns/zone_writer.hpp"
#include "dns_message.hpp"

namespace svcgw::dns {
namespace {

using namespace test;  // NOLINT: the message helpers

const Ipv4Prefix kCidr = *Ipv4Prefix::parse("10.96.0.0/16");

DnsConfig dns_config() {
    DnsConfig dns;
    dns.cluster_ip = *Ipv4::parse("10.96.0.10");
    return dns;
}

// Every name of a version with its node's bytes, keyed by name.
std::map<std::string, std::string> dump(const Zone& zone) {
    std::map<std::string, std::string> out;
    zone.for_each_node([&](const ZoneNode& node) {
        const auto* bytes = reinterpret_cast<const char*>(&node);
        const std::span<const uint8_t> name = node.name();
        out.emplace(std::string(name.begin(), name.end()), std::string(bytes, node.size));
    });
    return out;
}

// Levels and their bytes, to prove a published version is never written.
void levels(const TrieNode* level, std::vector<std::string>& out) {
    const auto* bytes = reinterpret_cast<const char*>(level);
    out.emplace_back(bytes, sizeof(TrieNode) + level->count * sizeof(uintptr_t));
    for (uint16_t i = 0; i < level->count; ++i) {
        const uintptr_t slot = level->slots()[i];
        if ((slot & kTrieLeafTag) == 0) {
            levels(reinterpret_cast<const TrieNode*>(slot), out);
        }
    }
}

struct Snapshot {
    std::map<std::string, std::string> nodes;
    std::vector<std::string> trie;
    bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(const Zone& zone) {
    Snapshot s{dump(zone), {}};
    if (zone.root() != nullptr) {
        levels(zone.root(), s.trie);
    }
    return s;
}

// Random Services of every shape DNS serves, over small pools of names and
// addresses so that changes replace, share (pod IPs in two headless
// Services, one PTR name) and remove.
class Generator {
public:
    explicit Generator(uint32_t seed) : _rng(seed) {}

    ServiceConfig service() {
        ServiceConfig s;
        s.name = "svc-" + std::to_string(pick(40));
        s.ns = "ns-" + std::to_string(pick(3));
        switch (pick(4)) {
            case 0:
                s.type = ServiceType::external_name;
                s.external_name = pick(2) == 0 ? "www.example.com"
                                               : "svc-" + std::to_string(pick(40)) + ".ns-0.svc." +
                                                     "cluster.local";
                break;
            case 1:
            case 2:
                s.headless = true;
                for (uint32_t e = pick(6); e > 0; --e) {
                    EndpointConfig ep;
                    ep.ip = Ipv4{(10u << 24) | (244u << 16) | pick(24)};
                    ep.ready = pick(5) != 0;
                    if (pick(2) == 0) {
                        ep.hostname = "web-" + std::to_string(pick(4));
                    }
                    s.endpoints.push_back(ep);
                }
                break;
            default:
                s.cluster_ip = Ipv4{(10u << 24) | (96u << 16) | (1 + pick(300))};
                break;
        }
        for (uint32_t p = pick(3); p > 0; --p) {
            s.ports.push_back({pick(3) == 0 ? "" : "p" + std::to_string(pick(3)),
                               static_cast<uint16_t>(80 + pick(3)),
                               static_cast<uint16_t>(8080 + pick(2)), "",
                               pick(2) == 0 ? Protocol::tcp : Protocol::udp});
        }
        return s;
    }
    uint32_t pick(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(_rng); }

private:
    std::mt19937 _rng;
};

std::unique_ptr<ZoneWriter> writer(uint32_t serial = 1) {
    auto w = ZoneWriter::create(dns_config(), kCidr, serial);
    EXPECT_TRUE(w.has_value());
    return std::move(*w);
}

std::unique_ptr<ZoneRetired> apply(ZoneWriter& w, const std::vector<const ServiceConfig*>& upserts,
                                   const std::vector<std::string>& removals, uint32_t serial) {
    std::vector<ZoneWriter::Upsert> u;
    for (const ServiceConfig* s : upserts) {
        u.push_back({s, s->key()});
    }
    auto change = w.prepare(u, removals, serial);
    EXPECT_TRUE(change.has_value()) << (change ? "" : change.error().front().str());
    return change ? w.commit(std::move(*change)) : nullptr;
}

// One entry per key, the last one winning (as in a diff), in key order.
std::vector<const ServiceConfig*> by_key(const std::vector<ServiceConfig>& services) {
    std::map<std::string, const ServiceConfig*> unique;
    for (const ServiceConfig& s : services) {
        unique[s.key()] = &s;
    }
    std::vector<const ServiceConfig*> out;
    for (const auto& [key, s] : unique) {
        out.push_back(s);
    }
    return out;
}

TEST(ZoneWriter, EveryChangeSequenceEndsAsAFreshBuild) {
    for (uint32_t seed : {1u, 2u, 3u}) {
        Generator gen(seed);
        auto w = writer();
        std::map<std::string, ServiceConfig> running;
        for (uint32_t step = 0; step < 250; ++step) {
            std::vector<ServiceConfig> batch;
            std::vector<std::string> removals;
            for (uint32_t k = 1 + gen.pick(3); k > 0; --k) {
                ServiceConfig s = gen.service();
                if (gen.pick(4) == 0 && running.contains(s.key())) {
                    removals.push_back(s.key());
                    running.erase(s.key());
                } else if (std::none_of(removals.begin(), removals.end(),
                                        [&](const std::string& r) { return r == s.key(); })) {
                    running[s.key()] = s;
                    batch.push_back(s);
                }
            }
            (void)apply(*w, by_key(batch), removals, 1);

            std::vector<ServiceConfig> all;
            for (const auto& [key, s] : running) {
                all.push_back(s);
            }
            auto fresh = build_zone(all, dns_config(), kCidr, 1);
            ASSERT_TRUE(fresh.has_value());
            ASSERT_EQ(dump(*w->live()), dump(**fresh)) << "seed " << seed << " step " << step;
            EXPECT_EQ(w->live()->node_count(), (*fresh)->node_count());
            EXPECT_EQ(w->live()->record_count(), (*fresh)->record_count());
            EXPECT_EQ(w->live()->memory_bytes(), (*fresh)->memory_bytes())
                << "same trie shape: seed " << seed << " step " << step;
        }
    }
}

TEST(ZoneWriter, PublishedVersionsNeverChange) {
    Generator gen(7);
    auto w = writer();
    std::vector<ServiceConfig> first;
    for (int i = 0; i < 120; ++i) {
        first.push_back(gen.service());
    }
    const std::vector<const ServiceConfig*> upserts = by_key(first);
    std::vector<std::unique_ptr<ZoneRetired>> held;  // a reader that never goes quiescent
    held.push_back(apply(*w, upserts, {}, 2));
    const Zone* old = w->live();
    const Snapshot before = snapshot(*old);
    Bytes q = make_query("svc-1.ns-0.svc.cluster.local", rr_type::a);
    Bytes out_before(4096);
    const Reply r_before = answer(old, q, out_before);

    std::vector<ServiceConfig> later;
    later.reserve(400);
    for (int i = 0; i < 400; ++i) {
        later.push_back(gen.service());
        std::vector<std::string> removals;
        if (i % 3 == 0) {
            removals.push_back(gen.service().key());
        }
        held.push_back(apply(*w, {&later.back()}, removals, 3 + i));
    }
    EXPECT_NE(w->live(), old);
    EXPECT_TRUE(snapshot(*old) == before) << "a published version was written";
    Bytes out_after(4096);
    const Reply r_after = answer(old, q, out_after);
    ASSERT_EQ(r_after.length, r_before.length);
    EXPECT_EQ(Bytes(out_after.begin(), out_after.begin() + r_after.length),
              Bytes(out_before.begin(), out_before.begin() + r_before.length));
    EXPECT_EQ(old->serial(), 2u);
    EXPECT_EQ(w->live()->serial(), 402u);
}

TEST(ZoneWriter, OneServiceChangeCostsItsOwnNames) {
    auto w = writer();
    std::vector<ServiceConfig> services;
    for (int i = 0; i < 10000; ++i) {
        ServiceConfig s;
        s.name = "svc-" + std::to_string(i);
        s.ns = "bench";
        s.cluster_ip = Ipv4{(10u << 24) | (96u << 16) | static_cast<uint32_t>(i + 100)};
        s.ports.push_back({"http", 80, 8080, "", Protocol::tcp});
        services.push_back(s);
    }
    std::vector<const ServiceConfig*> all;
    for (const ServiceConfig& s : services) {
        all.push_back(&s);
    }
    (void)apply(*w, all, {}, 1);
    const size_t names = w->live()->node_count();
    EXPECT_GT(names, 40000u);

    ServiceConfig added = services[0];
    added.name = "new";
    added.cluster_ip = Ipv4{(10u << 24) | (96u << 16) | 99};  // its PTR's parent exists
    std::vector<ZoneWriter::Upsert> u = {{&added, "new"}};
    auto change = w->prepare(u, {}, 2);
    ASSERT_TRUE(change.has_value());
    // new, _tcp.new, _http._tcp.new and its PTR; the namespace and the
    // PTR's parent gain a child (same bytes: their nodes are kept).
    EXPECT_EQ((*change)->touched_names(), 6u);
    auto retired = w->commit(std::move(*change));
    // The old version, and per name at most one level per trie depth.
    EXPECT_LE(retired->objects(), 1u + 4u * 4u);
    EXPECT_EQ(w->live()->node_count(), names + 4);

    auto removed = apply(*w, {}, {"bench/svc-17"}, 3);
    EXPECT_EQ(w->live()->node_count(), names + 4 - 4);
    Bytes q = make_query("svc-17.bench.svc.cluster.local", rr_type::a);
    Bytes out(512);
    Reply r = answer(w->live(), q, out);
    EXPECT_EQ(r.outcome, Counter::nxdomain);
}

TEST(ZoneWriter, AnAbandonedChangeLeavesTheWriterAsItWas) {
    auto w = writer();
    Generator gen(11);
    std::vector<ServiceConfig> services;
    for (int i = 0; i < 50; ++i) {
        services.push_back(gen.service());
    }
    const std::vector<const ServiceConfig*> upserts = by_key(services);
    (void)apply(*w, upserts, {}, 1);
    const Zone* live = w->live();
    const Snapshot before = snapshot(*live);
    {
        ServiceConfig extra = gen.service();
        extra.name = "extra";
        std::vector<ZoneWriter::Upsert> u = {{&extra, "x"}};
        std::vector<std::string> removals = {upserts[0]->key()};
        auto change = w->prepare(u, removals, 2);
        ASSERT_TRUE(change.has_value());
        EXPECT_NE((*change)->version(), live);
        // dropped here: nothing published, everything it built freed (LSan)
    }
    EXPECT_EQ(w->live(), live);
    EXPECT_TRUE(snapshot(*live) == before);
    // An error is abandoned the same way.
    ServiceConfig bad = gen.service();
    bad.name = std::string(64, 'x');
    std::vector<ZoneWriter::Upsert> u = {{&bad, "services[9]"}};
    auto failed = w->prepare(u, {}, 2);
    ASSERT_FALSE(failed.has_value());
    EXPECT_EQ(failed.error().front().path, "services[9].name");
    // ... and the writer takes the next change.
    auto again = apply(*w, {}, {upserts[0]->key()}, 2);
    ASSERT_NE(again, nullptr);
    std::vector<ServiceConfig> rest;
    for (size_t i = 1; i < upserts.size(); ++i) {
        rest.push_back(*upserts[i]);
    }
    auto fresh = build_zone(rest, dns_config(), kCidr, 2);
    ASSERT_TRUE(fresh.has_value());
    EXPECT_EQ(dump(*w->live()), dump(**fresh));
}

TEST(ZoneWriter, OneChangeAtATime) {
    auto w = writer();
    auto first = w->prepare({}, {}, 2);
    ASSERT_TRUE(first.has_value());
    EXPECT_THROW((void)w->prepare({}, {}, 3), std::logic_error);
    (void)w->commit(std::move(*first));
    EXPECT_NO_THROW((void)w->prepare({}, {}, 3));
}

}  // namespace
}  // namespace svcgw::dns
