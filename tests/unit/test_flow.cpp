// FlowTable and AffinityTable guarantees: both directions find one entry,
// per-state timeouts, LRU eviction order (half-open first), counters, the
// capacity bound under churn, and affinity expiry/eviction. Time is a fake
// clock (plain integers).
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <deque>
#include <new>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "flow/affinity_table.hpp"
#include "flow/flow_table.hpp"

namespace svcgw {
namespace {

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;
constexpr uint32_t kT0 = 1000;  // arbitrary start of the fake clock

FlowKey key(uint32_t client, uint16_t cport, uint32_t vip, uint16_t vport, uint8_t proto) {
    FlowKey k;
    k.src_ip = htonl(client);
    k.src_port = htons(cport);
    k.dst_ip = htonl(vip);
    k.dst_port = htons(vport);
    k.proto = proto;
    return k;
}

NatResult fullnat(uint32_t backend, uint16_t tport, uint32_t snat, uint16_t sport) {
    NatResult n;
    n.backend_ip = htonl(backend);
    n.backend_port = htons(tport);
    n.snat_ip = htonl(snat);
    n.snat_port = htons(sport);
    return n;
}

constexpr uint32_t kClient = 0x0a010001;   // 10.1.0.1
constexpr uint32_t kVip = 0x0a600014;      // 10.96.0.20
constexpr uint32_t kBackend = 0x0a63000b;  // 10.99.0.11
constexpr uint32_t kSnat = 0x0a630001;     // 10.99.0.1

FlowTableConfig small_config(uint32_t max_flows) {
    FlowTableConfig c;
    c.max_flows = max_flows;
    c.tcp_established_timeout_s = 900;
    c.tcp_transitory_timeout_s = 30;
    c.udp_timeout_s = 300;
    return c;
}

// Drive a flow through the three-way handshake.
void handshake(FlowTable& t, Flow* f, uint32_t now) {
    t.update_tcp_state(f, tcp_flag::syn, false, now);
    t.update_tcp_state(f, tcp_flag::syn | tcp_flag::ack, true, now);
    t.update_tcp_state(f, tcp_flag::ack, false, now);
}

// The specified flow hash (net/flow_key.hpp): golden values computed by an
// independent model (bitwise CRC-32C + fmix32 in Python). Every build must
// produce them, with or without the CRC32 instruction, so gateways built
// for different CPUs pick the same backend. Never change them: a new hash
// is a new version (and new digests).
TEST(FlowHash, GoldenVectors) {
    struct Case {
        const char* src;
        const char* dst;
        uint16_t sport, dport;
        uint8_t proto;
        uint32_t expected;
    };
    const Case cases[] = {
        {"0.0.0.0", "0.0.0.0", 0, 0, 0, 0x5afb98c3u},
        {"10.99.0.100", "10.96.0.20", 40000, 80, 6, 0x12bbda46u},
        {"10.99.0.100", "10.96.0.20", 40001, 80, 6, 0x9159c5d0u},
        {"192.168.1.2", "10.96.0.10", 5353, 53, 17, 0x34b4322bu},
        {"255.255.255.255", "255.255.255.255", 65535, 65535, 255, 0x7c15a99cu},
        {"10.99.0.11", "10.99.0.1", 8080, 0, 6, 0xb28ef3eeu},
    };
    for (const Case& c : cases) {
        FlowKey k;
        k.src_ip = inet_addr(c.src);
        k.dst_ip = inet_addr(c.dst);
        k.src_port = htons(c.sport);
        k.dst_port = htons(c.dport);
        k.proto = c.proto;
        EXPECT_EQ(flow_hash(k), c.expected) << c.src << ":" << c.sport << " -> " << c.dst;
        EXPECT_EQ(FlowTable::hash(k), c.expected);
    }
    EXPECT_EQ(client_hash(inet_addr("10.99.0.100")), 0x1987eeedu);
    EXPECT_EQ(client_hash(inet_addr("192.168.1.2")), 0xbff60c31u);
}

TEST(FlowHash, WorkerOwnerGoldenVectors) {
    auto owners = [](const char* ip, uint16_t first_port, uint16_t workers) {
        std::string out;
        for (uint16_t p = first_port; p < first_port + 16; ++p) {
            out += std::to_string(owner_of(inet_addr(ip), htons(p), workers));
        }
        return out;
    };
    EXPECT_EQ(owners("10.99.0.100", 40000, 1), "0000000000000000");
    EXPECT_EQ(owners("10.99.0.100", 40000, 2), "1000110001011001");
    EXPECT_EQ(owners("10.99.0.100", 40000, 3), "2021102010200212");
    EXPECT_EQ(owners("192.168.1.2", 1024, 4), "2110031021223202");
}

// Avalanche: flipping any one bit of the key flips each output bit about
// half the time. CRC alone is linear (a given input bit flips a given output
// bit always or never), so clients that differ in a fixed pattern of bits
// would share a worker or a ring region; the finalizer is what passes this.
TEST(FlowHash, EveryKeyBitMovesEveryHashBit) {
    std::mt19937_64 rng(7);
    constexpr int kKeys = 2000;
    std::vector<FlowKey> keys(kKeys);
    for (FlowKey& k : keys) {
        k.src_ip = static_cast<uint32_t>(rng());
        k.dst_ip = static_cast<uint32_t>(rng());
        k.src_port = static_cast<uint16_t>(rng());
        k.dst_port = static_cast<uint16_t>(rng());
        k.proto = static_cast<uint8_t>(rng());
    }
    // Input bits: the 13 meaningful key bytes (the padding is always zero).
    for (int bit = 0; bit < 13 * 8; ++bit) {
        std::array<int, 32> flips{};
        for (const FlowKey& k : keys) {
            FlowKey f = k;
            reinterpret_cast<uint8_t*>(&f)[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
            const uint32_t diff = flow_hash(k) ^ flow_hash(f);
            for (int out = 0; out < 32; ++out) {
                flips[out] += (diff >> out) & 1u;
            }
        }
        for (int out = 0; out < 32; ++out) {
            // 50% +- 5 sigma of a fair coin over 2000 keys (~5.6%).
            ASSERT_NEAR(flips[out], kKeys / 2, kKeys * 0.056)
                << "key bit " << bit << " -> hash bit " << out;
        }
    }
}

TEST(FlowTable, BothDirectionsFindTheSameEntryFullnat) {
    FlowTable t(small_config(1024));
    FlowKey fwd = key(kClient, 40000, kVip, 80, kTcp);
    Flow* f = t.insert(fwd, fullnat(kBackend, 8080, kSnat, 61000), kT0);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(t.size(), 1u);

    FlowRef a = t.lookup(fwd, kT0);
    EXPECT_EQ(a.flow, f);
    EXPECT_FALSE(a.is_reply);

    FlowKey reply = key(kBackend, 8080, kSnat, 61000, kTcp);
    EXPECT_EQ(f->reply_key(), reply);
    FlowRef b = t.lookup(reply, kT0);
    EXPECT_EQ(b.flow, f);
    EXPECT_TRUE(b.is_reply);

    // Neither the mirror of the forward key nor another protocol matches.
    EXPECT_EQ(t.lookup(fwd.reversed(), kT0).flow, nullptr);
    EXPECT_EQ(t.lookup(key(kClient, 40000, kVip, 80, kUdp), kT0).flow, nullptr);
    EXPECT_EQ(t.lookup(key(kClient, 40001, kVip, 80, kTcp), kT0).flow, nullptr);
}

TEST(FlowTable, NatModeReplyKeyTargetsTheClient) {
    FlowTable t(small_config(16));
    FlowKey fwd = key(kClient, 40000, kVip, 53, kUdp);
    NatResult n = fullnat(kBackend, 5353, 0, 999);
    n.snat_ip = 0;  // nat mode: snat_port must be ignored
    Flow* f = t.insert(fwd, n, kT0);
    ASSERT_NE(f, nullptr);
    EXPECT_FALSE(f->is_snat());
    FlowKey reply = key(kBackend, 5353, kClient, 40000, kUdp);
    EXPECT_EQ(f->reply_key(), reply);
    FlowRef r = t.lookup(reply, kT0);
    EXPECT_EQ(r.flow, f);
    EXPECT_TRUE(r.is_reply);
}

TEST(FlowTable, StoresNatAndGenerationByValue) {
    FlowTable t(small_config(16));
    NatResult n = fullnat(kBackend, 8080, kSnat, 61000);
    n.service_gen = 77;
    n.backend_hint = 3;
    Flow* f = t.insert(key(kClient, 1, kVip, 80, kTcp), n, kT0);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->backend_ip, htonl(kBackend));
    EXPECT_EQ(f->backend_port, htons(8080));
    EXPECT_EQ(f->snat_ip, htonl(kSnat));
    EXPECT_EQ(f->snat_port, htons(61000));
    EXPECT_EQ(f->service_gen, 77u);
    EXPECT_EQ(f->backend_hint, 3u);
    EXPECT_EQ(f->tcp_state, TcpState::none);
    EXPECT_EQ(f->cls, FlowClass::transitory);
}

TEST(FlowTable, RefusesKeysThatAreAlreadyLive) {
    FlowTable t(small_config(16));
    FlowKey fwd = key(kClient, 40000, kVip, 80, kTcp);
    ASSERT_NE(t.insert(fwd, fullnat(kBackend, 80, kSnat, 61000), kT0), nullptr);
    // Same forward key again.
    EXPECT_EQ(t.insert(fwd, fullnat(kBackend + 1, 80, kSnat, 61001), kT0), nullptr);
    // Different client, but the reply key (backend:80 -> snat:61000) is taken:
    // the SNAT port chooser must pick another port.
    EXPECT_EQ(
        t.insert(key(kClient + 1, 40000, kVip, 80, kTcp), fullnat(kBackend, 80, kSnat, 61000), kT0),
        nullptr);
    EXPECT_EQ(t.counters().insert_conflict, 2u);
    EXPECT_EQ(t.counters().inserted, 1u);
    EXPECT_EQ(t.size(), 1u);
}

// try_insert says which key was in the way (the worker probes another SNAT
// port only on a reply conflict), and a refused insert into a full table
// evicts nothing.
TEST(FlowTable, TryInsertNamesTheConflictAndNeverEvictsWhenRefusing) {
    FlowTable t(small_config(1));
    FlowKey fwd = key(kClient, 40000, kVip, 80, kTcp);
    ASSERT_EQ(
        t.try_insert(fwd, FlowTable::hash(fwd), fullnat(kBackend, 80, kSnat, 61000), kT0).status,
        InsertStatus::inserted);
    EXPECT_EQ(
        t.try_insert(fwd, FlowTable::hash(fwd), fullnat(kBackend, 80, kSnat, 61001), kT0).status,
        InsertStatus::forward_conflict);
    FlowKey other = key(kClient + 1, 40000, kVip, 80, kTcp);
    InsertResult r =
        t.try_insert(other, FlowTable::hash(other), fullnat(kBackend, 80, kSnat, 61000), kT0);
    EXPECT_EQ(r.status, InsertStatus::reply_conflict);
    EXPECT_EQ(r.flow, nullptr);
    EXPECT_EQ(t.counters().reply_conflict, 1u);
    EXPECT_EQ(t.counters().insert_conflict, 2u);
    // The table (capacity 1) still holds the first flow: nothing was evicted.
    EXPECT_NE(t.lookup(fwd, kT0).flow, nullptr);
    EXPECT_EQ(t.counters().evicted_transitory, 0u);
    // The same client with a free port goes in (evicting, the table is full).
    r = t.try_insert(other, FlowTable::hash(other), fullnat(kBackend, 80, kSnat, 61001), kT0);
    EXPECT_EQ(r.status, InsertStatus::inserted);
    ASSERT_NE(r.flow, nullptr);
    EXPECT_TRUE(FlowTable::still_valid(FlowRef{r.flow, false}, other));
    EXPECT_TRUE(FlowTable::still_valid(FlowRef{r.flow, true}, r.flow->reply_key()));
    EXPECT_FALSE(FlowTable::still_valid(FlowRef{r.flow, false}, fwd)) << "entry was reused";
}

struct TimeoutCase {
    const char* description;
    uint8_t proto;
    std::vector<std::pair<uint8_t, bool>> segments;  // {tcp flags, is_reply}
    TcpState state;
    FlowClass cls;
    uint32_t timeout;
};

TEST(FlowTable, TimeoutFollowsTheState) {
    const uint8_t syn = tcp_flag::syn, ack = tcp_flag::ack, fin = tcp_flag::fin,
                  rst = tcp_flag::rst;
    const TimeoutCase cases[] = {
        {"tcp, nothing seen", kTcp, {}, TcpState::none, FlowClass::transitory, 30},
        {"syn only", kTcp, {{syn, false}}, TcpState::syn_sent, FlowClass::transitory, 30},
        {"syn, syn-ack",
         kTcp,
         {{syn, false}, {syn | ack, true}},
         TcpState::syn_received,
         FlowClass::transitory,
         30},
        {"handshake",
         kTcp,
         {{syn, false}, {syn | ack, true}, {ack, false}},
         TcpState::established,
         FlowClass::established,
         900},
        {"picked up mid-stream",
         kTcp,
         {{ack, false}, {ack, true}},
         TcpState::established,
         FlowClass::established,
         900},
        {"client ack alone is not established",
         kTcp,
         {{ack, false}},
         TcpState::none,
         FlowClass::transitory,
         30},
        {"fin one way",
         kTcp,
         {{syn, false}, {syn | ack, true}, {ack, false}, {fin | ack, false}},
         TcpState::fin_wait,
         FlowClass::transitory,
         30},
        {"fin both ways",
         kTcp,
         {{syn, false}, {syn | ack, true}, {ack, false}, {fin | ack, false}, {fin | ack, true}},
         TcpState::closed,
         FlowClass::transitory,
         30},
        {"rst from server",
         kTcp,
         {{syn, false}, {rst | ack, true}},
         TcpState::closed,
         FlowClass::transitory,
         30},
        {"new syn after close reuses the flow",
         kTcp,
         {{syn, false}, {syn | ack, true}, {ack, false}, {rst, false}, {syn, false}},
         TcpState::syn_sent,
         FlowClass::transitory,
         30},
        {"udp, unreplied", kUdp, {}, TcpState::none, FlowClass::udp_unreplied, 300},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.description);
        FlowTable t(small_config(64));
        FlowKey fwd = key(kClient, 40000, kVip, 80, c.proto);
        Flow* f = t.insert(fwd, fullnat(kBackend, 80, kSnat, 61000), kT0);
        ASSERT_NE(f, nullptr);
        for (auto [flags, is_reply] : c.segments) {
            t.update_tcp_state(f, flags, is_reply, kT0);
        }
        EXPECT_EQ(f->tcp_state, c.state) << to_string(f->tcp_state);
        EXPECT_EQ(f->cls, c.cls);
        EXPECT_EQ(t.timeout_of(*f), c.timeout);
        // Alive through the whole timeout, gone one second later, and the
        // expiry is counted and frees the slot.
        EXPECT_EQ(t.lookup(fwd, kT0 + c.timeout).flow, f);
        EXPECT_EQ(t.lookup(f->reply_key(), kT0 + c.timeout).flow, f);
        EXPECT_EQ(t.lookup(fwd, kT0 + c.timeout + 1).flow, nullptr);
        EXPECT_EQ(t.counters().expired, 1u);
        EXPECT_EQ(t.size(), 0u);
        // The keys are free again.
        EXPECT_NE(t.insert(fwd, fullnat(kBackend, 80, kSnat, 61000), kT0 + c.timeout + 1), nullptr);
    }
}

TEST(FlowTable, TouchExtendsLife) {
    FlowTable t(small_config(16));
    FlowKey fwd = key(kClient, 1, kVip, 53, kUdp);
    Flow* f = t.insert(fwd, fullnat(kBackend, 53, kSnat, 2), kT0);
    t.touch(f, kT0 + 250);
    EXPECT_EQ(t.lookup(fwd, kT0 + 500).flow, f);
    EXPECT_EQ(t.lookup(fwd, kT0 + 551).flow, nullptr);
}

TEST(FlowTable, ExpireReclaimsOnlyExpiredWithinBudget) {
    FlowTable t(small_config(64));
    for (uint16_t i = 0; i < 10; ++i) {
        ASSERT_NE(t.insert(key(kClient, i, kVip, 53, kUdp), fullnat(kBackend, 53, kSnat, i), kT0),
                  nullptr);
    }
    for (uint16_t i = 10; i < 20; ++i) {
        ASSERT_NE(
            t.insert(key(kClient, i, kVip, 53, kUdp), fullnat(kBackend, 53, kSnat, i), kT0 + 100),
            nullptr);
    }
    EXPECT_EQ(t.expire(kT0 + 300, 100), 0u);  // not yet: 300 s is still alive
    EXPECT_EQ(t.expire(kT0 + 301, 4), 4u);
    EXPECT_EQ(t.size(), 16u);
    EXPECT_EQ(t.expire(kT0 + 301, 100), 6u);
    EXPECT_EQ(t.size(), 10u);
    EXPECT_EQ(t.counters().expired, 10u);
    for (uint16_t i = 0; i < 20; ++i) {
        bool live = t.lookup(key(kClient, i, kVip, 53, kUdp), kT0 + 301).flow != nullptr;
        EXPECT_EQ(live, i >= 10) << i;
    }
}

TEST(FlowTable, FullTableEvictsHalfOpenFirstInLruOrder) {
    FlowTable t(small_config(4));
    FlowKey e1 = key(kClient, 1, kVip, 80, kTcp);
    FlowKey e2 = key(kClient, 2, kVip, 80, kTcp);
    FlowKey h1 = key(kClient, 3, kVip, 80, kTcp);
    FlowKey h2 = key(kClient, 4, kVip, 80, kTcp);
    handshake(t, t.insert(e1, fullnat(kBackend, 80, kSnat, 1), kT0), kT0);
    handshake(t, t.insert(e2, fullnat(kBackend, 80, kSnat, 2), kT0), kT0);
    t.update_tcp_state(t.insert(h1, fullnat(kBackend, 80, kSnat, 3), kT0), tcp_flag::syn, false,
                       kT0);
    t.update_tcp_state(t.insert(h2, fullnat(kBackend, 80, kSnat, 4), kT0 + 1), tcp_flag::syn, false,
                       kT0 + 1);
    ASSERT_EQ(t.size(), 4u);

    // The oldest half-open entry (h1) goes first, then h2, although the
    // established ones are older still.
    FlowKey n1 = key(kClient, 5, kVip, 80, kTcp);
    ASSERT_NE(t.insert(n1, fullnat(kBackend, 80, kSnat, 5), kT0 + 2), nullptr);
    EXPECT_EQ(t.lookup(h1, kT0 + 2).flow, nullptr);
    EXPECT_NE(t.lookup(h2, kT0 + 2).flow, nullptr);
    EXPECT_EQ(t.counters().evicted_transitory, 1u);
    handshake(t, t.lookup(n1, kT0 + 2).flow, kT0 + 2);

    FlowKey n2 = key(kClient, 6, kVip, 80, kTcp);
    ASSERT_NE(t.insert(n2, fullnat(kBackend, 80, kSnat, 6), kT0 + 3), nullptr);
    EXPECT_EQ(t.lookup(h2, kT0 + 3).flow, nullptr);
    EXPECT_EQ(t.counters().evicted_transitory, 2u);
    EXPECT_EQ(t.counters().evicted_established, 0u);
    handshake(t, t.lookup(n2, kT0 + 3).flow, kT0 + 3);

    // Only established entries left: the least recently used one goes.
    // e1 is refreshed, so e2 is the LRU.
    t.touch(t.lookup(e1, kT0 + 4).flow, kT0 + 4);
    FlowKey n3 = key(kClient, 7, kVip, 80, kTcp);
    ASSERT_NE(t.insert(n3, fullnat(kBackend, 80, kSnat, 7), kT0 + 5), nullptr);
    EXPECT_EQ(t.lookup(e2, kT0 + 5).flow, nullptr);
    EXPECT_NE(t.lookup(e1, kT0 + 5).flow, nullptr);
    EXPECT_EQ(t.counters().evicted_established, 1u);
    EXPECT_EQ(t.size(), 4u);
    EXPECT_EQ(t.counters().expired, 0u);
}

TEST(FlowTable, FullTableReclaimsAnExpiredEntryBeforeEvicting) {
    FlowTable t(small_config(2));
    FlowKey udp = key(kClient, 1, kVip, 53, kUdp);
    FlowKey syn = key(kClient, 2, kVip, 80, kTcp);
    ASSERT_NE(t.insert(udp, fullnat(kBackend, 53, kSnat, 1), kT0), nullptr);
    ASSERT_NE(t.insert(syn, fullnat(kBackend, 80, kSnat, 2), kT0 + 290), nullptr);
    // At kT0 + 301 the UDP entry is expired, the half-open one is live.
    ASSERT_NE(t.insert(key(kClient, 3, kVip, 80, kTcp), fullnat(kBackend, 80, kSnat, 3), kT0 + 301),
              nullptr);
    EXPECT_EQ(t.counters().expired, 1u);
    EXPECT_EQ(t.counters().evicted_transitory, 0u);
    EXPECT_NE(t.lookup(syn, kT0 + 301).flow, nullptr);
}

// A UDP exchange as the worker records it: request, reply, next request
// (touch before counting the packet).
void assure_udp(FlowTable& t, Flow* f, uint32_t now) {
    t.touch(f, now);
    ++f->packets_fwd;
    t.touch(f, now);
    ++f->packets_rev;
    EXPECT_EQ(f->cls, FlowClass::udp_unreplied) << "one reply alone does not assure";
    t.touch(f, now);
    ++f->packets_fwd;
    EXPECT_EQ(f->cls, FlowClass::udp) << "a packet after the reply assures";
}

TEST(FlowTable, UdpIsAssuredByAPacketAfterAReplyAndKeepsItsTimeout) {
    FlowTable t(small_config(16));
    Flow* f = t.insert(key(kClient, 1, kVip, 53, kUdp), fullnat(kBackend, 53, kSnat, 1), kT0);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->cls, FlowClass::udp_unreplied);
    EXPECT_EQ(t.timeout_of(*f), 300u);
    // Forward packets alone never assure it.
    for (uint32_t s = 0; s < 5; ++s) {
        t.touch(f, kT0 + s);
        ++f->packets_fwd;
    }
    EXPECT_EQ(f->cls, FlowClass::udp_unreplied);
    assure_udp(t, f, kT0 + 10);
    EXPECT_EQ(f->last_seen, kT0 + 10);
    EXPECT_EQ(t.timeout_of(*f), 300u);
    EXPECT_FALSE(t.is_expired(*f, kT0 + 310));
    EXPECT_TRUE(t.is_expired(*f, kT0 + 311));
    // Expiry from the assured list's tail still works.
    EXPECT_EQ(t.expire(kT0 + 311, 16), 1u);
    EXPECT_EQ(t.size(), 0u);
}

TEST(FlowTable, EvictsHalfOpenTcpAndUnrepliedUdpBeforeEstablishedAndAssured) {
    FlowTable t(small_config(6));
    FlowKey est = key(kClient, 1, kVip, 80, kTcp);
    FlowKey assured = key(kClient, 2, kVip, 53, kUdp);
    FlowKey old_udp = key(kClient, 3, kVip, 53, kUdp);
    FlowKey half_open = key(kClient, 4, kVip, 80, kTcp);
    FlowKey new_udp = key(kClient, 5, kVip, 53, kUdp);
    FlowKey fill = key(kClient, 6, kVip, 53, kUdp);
    // The protected entries are the oldest of all.
    handshake(t, t.insert(est, fullnat(kBackend, 80, kSnat, 1), kT0), kT0);
    assure_udp(t, t.insert(assured, fullnat(kBackend, 53, kSnat, 2), kT0), kT0);
    ASSERT_NE(t.insert(old_udp, fullnat(kBackend, 53, kSnat, 3), kT0 + 1), nullptr);
    t.update_tcp_state(t.insert(half_open, fullnat(kBackend, 80, kSnat, 4), kT0 + 2), tcp_flag::syn,
                       false, kT0 + 2);
    ASSERT_NE(t.insert(new_udp, fullnat(kBackend, 53, kSnat, 5), kT0 + 3), nullptr);
    ASSERT_NE(t.insert(fill, fullnat(kBackend, 53, kSnat, 6), kT0 + 3), nullptr);
    ASSERT_EQ(t.size(), 6u);

    // LRU across the two evictable lists: old_udp, half_open, new_udp, fill.
    const FlowKey order[] = {old_udp, half_open, new_udp, fill};
    uint16_t port = 100;
    for (const FlowKey& victim : order) {
        const uint32_t now = kT0 + 5;
        ASSERT_NE(t.lookup(victim, now).flow, nullptr);
        // The newcomer is established at once, so it is not evictable.
        Flow* n =
            t.insert(key(kClient, port, kVip, 80, kTcp), fullnat(kBackend, 80, kSnat, port), now);
        ++port;
        ASSERT_NE(n, nullptr);
        handshake(t, n, now);
        EXPECT_EQ(t.lookup(victim, now).flow, nullptr);
        EXPECT_NE(t.lookup(est, now).flow, nullptr);
        EXPECT_NE(t.lookup(assured, now).flow, nullptr);
    }
    EXPECT_EQ(t.counters().evicted_transitory, 4u);
    EXPECT_EQ(t.counters().evicted_established, 0u);
    // Nothing evictable is left: now the least recently used protected
    // entry goes (est and assured are the oldest).
    ASSERT_NE(
        t.insert(key(kClient, 200, kVip, 53, kUdp), fullnat(kBackend, 53, kSnat, 200), kT0 + 6),
        nullptr);
    EXPECT_EQ(t.counters().evicted_established, 1u);
    EXPECT_EQ(t.size(), 6u);
}

TEST(FlowTable, UnrepliedUdpFloodNeverEvictsEstablishedOrAssuredFlows) {
    constexpr uint32_t kMax = 256;
    FlowTable t(small_config(kMax));
    FlowKey est = key(kClient, 1, kVip, 80, kTcp);
    FlowKey assured = key(kClient, 2, kVip, 53, kUdp);
    handshake(t, t.insert(est, fullnat(kBackend, 80, kSnat, 1), kT0), kT0);
    assure_udp(t, t.insert(assured, fullnat(kBackend, 53, kSnat, 2), kT0), kT0);
    // Spoofed sources, one packet each (some echoed once by the backend),
    // always newer than the two live flows, for many table lifetimes.
    std::mt19937 rng(7);
    uint32_t now = kT0;
    for (uint32_t i = 0; i < 20 * kMax; ++i) {
        now = kT0 + 1 + i / 64;  // the flood outlives neither timeout
        FlowKey k = key(0x0b000000 + i, static_cast<uint16_t>(rng()), kVip, 53, kUdp);
        Flow* f = t.insert(k, fullnat(kBackend, 53, kSnat, static_cast<uint16_t>(1000 + i)), now);
        ASSERT_NE(f, nullptr);
        t.touch(f, now);
        ++f->packets_fwd;
        if (i % 2 == 0) {
            t.touch(f, now);  // the backend's one echo
            ++f->packets_rev;
        }
        ASSERT_LE(t.size(), kMax);
    }
    ASSERT_LT(now - kT0, 300u);
    EXPECT_NE(t.lookup(est, now).flow, nullptr);
    EXPECT_NE(t.lookup(assured, now).flow, nullptr);
    EXPECT_EQ(t.counters().evicted_established, 0u);
    EXPECT_EQ(t.counters().evicted_transitory, 20 * kMax - (kMax - 2));
}

TEST(FlowTable, EvictsTheOlderOfEstablishedAndUdp) {
    FlowTable t(small_config(2));
    FlowKey tcp = key(kClient, 1, kVip, 80, kTcp);
    FlowKey udp = key(kClient, 2, kVip, 53, kUdp);
    handshake(t, t.insert(tcp, fullnat(kBackend, 80, kSnat, 1), kT0 + 10), kT0 + 10);
    Flow* u = t.insert(udp, fullnat(kBackend, 53, kSnat, 2), kT0);
    ASSERT_NE(u, nullptr);
    assure_udp(t, u, kT0);
    ASSERT_NE(t.insert(key(kClient, 3, kVip, 53, kUdp), fullnat(kBackend, 53, kSnat, 3), kT0 + 20),
              nullptr);
    EXPECT_EQ(t.lookup(udp, kT0 + 20).flow, nullptr);
    EXPECT_NE(t.lookup(tcp, kT0 + 20).flow, nullptr);
    EXPECT_EQ(t.counters().evicted_established, 1u);
}

// A full table under a stream of inserts (a SYN flood) evicts one entry per
// insert, entry for entry in LRU order: the half-open ones in the order they
// were last touched, then the flood's own oldest, never the established ones.
// (try_insert() prefetches the next victim from the list tails: that must not
// change which one goes.)
TEST(FlowTable, FullTableEvictsOneEntryPerInsertInExactLruOrder) {
    constexpr uint32_t kCap = 64;
    constexpr uint32_t kEstablished = 8;
    FlowTable t(small_config(kCap));
    std::vector<FlowKey> half_open;
    std::vector<FlowKey> established;
    uint16_t port = 1;
    for (uint32_t i = 0; i < kCap; ++i, ++port) {
        FlowKey k = key(kClient, port, kVip, 80, kTcp);
        Flow* f = t.insert(k, fullnat(kBackend, 80, kSnat, port), kT0);
        ASSERT_NE(f, nullptr);
        if (i % (kCap / kEstablished) == 0) {
            handshake(t, f, kT0);
            established.push_back(k);
        } else {
            half_open.push_back(k);
        }
    }
    // Refresh every third half-open entry a second later, in reverse: they
    // move to the head, so the others go first (oldest first), then these in
    // the order they were touched.
    std::deque<FlowKey> expected;
    std::vector<FlowKey> touched;
    for (size_t i = 0; i < half_open.size(); ++i) {
        if (i % 3 == 0) {
            touched.push_back(half_open[i]);
        } else {
            expected.push_back(half_open[i]);
        }
    }
    std::reverse(touched.begin(), touched.end());
    for (const FlowKey& k : touched) {
        t.update_tcp_state(t.lookup(k, kT0 + 1).flow, tcp_flag::syn, false, kT0 + 1);
        expected.push_back(k);
    }

    const uint32_t now = kT0 + 2;
    for (uint32_t i = 0; i < 2 * kCap; ++i, ++port) {
        FlowKey k = key(kClient, port, kVip, 80, kTcp);
        ASSERT_NE(t.insert(k, fullnat(kBackend, 80, kSnat, port), now), nullptr);
        EXPECT_EQ(t.lookup(expected.front(), now).flow, nullptr) << "insert " << i;
        expected.pop_front();
        expected.push_back(k);
        EXPECT_NE(t.lookup(expected.front(), now).flow, nullptr) << "insert " << i;
        EXPECT_EQ(t.size(), kCap);
    }
    for (const FlowKey& k : established) {
        EXPECT_NE(t.lookup(k, now).flow, nullptr);
    }
    EXPECT_EQ(t.counters().evicted_transitory, 2 * kCap);
    EXPECT_EQ(t.counters().evicted_established, 0u);
    EXPECT_EQ(t.counters().expired, 0u);
}

TEST(FlowTable, EraseAndClearFreeBothKeys) {
    FlowTable t(small_config(8));
    FlowKey a = key(kClient, 1, kVip, 80, kTcp);
    Flow* f = t.insert(a, fullnat(kBackend, 80, kSnat, 1), kT0);
    FlowKey reply = f->reply_key();
    t.erase(f);
    EXPECT_EQ(t.lookup(a, kT0).flow, nullptr);
    EXPECT_EQ(t.lookup(reply, kT0).flow, nullptr);
    EXPECT_EQ(t.size(), 0u);
    for (uint16_t i = 0; i < 8; ++i) {
        ASSERT_NE(t.insert(key(kClient, i, kVip, 80, kTcp), fullnat(kBackend, 80, kSnat, i), kT0),
                  nullptr);
    }
    EXPECT_EQ(t.clear(), 8u);
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(t.counters().erased, 9u);
    size_t visited = 0;
    t.for_each([&](Flow&) { ++visited; });
    EXPECT_EQ(visited, 0u);
}

TEST(FlowTable, ForEachMayEraseTheVisitedEntry) {
    FlowTable t(small_config(64));
    for (uint16_t i = 0; i < 40; ++i) {
        NatResult n = fullnat(i % 2 ? kBackend : kBackend + 1, 80, kSnat, i);
        ASSERT_NE(t.insert(key(kClient, i, kVip, 80, kTcp), n, kT0), nullptr);
    }
    // Backend kBackend deleted: clear its flows.
    t.for_each([&](Flow& f) {
        if (f.backend_ip == htonl(kBackend)) {
            t.erase(&f);
        }
    });
    EXPECT_EQ(t.size(), 20u);
    for (uint16_t i = 0; i < 40; ++i) {
        EXPECT_EQ(t.lookup(key(kClient, i, kVip, 80, kTcp), kT0).flow != nullptr, i % 2 == 0);
    }
}

TEST(FlowTable, BulkLookupMatchesSingleLookup) {
    FlowTable t(small_config(4096));
    std::vector<FlowKey> keys;
    for (uint16_t i = 0; i < 100; ++i) {
        FlowKey k = key(kClient + i, 1000 + i, kVip, 80, kTcp);
        if (i % 3 != 0) {
            Flow* f = t.insert(k, fullnat(kBackend, 80, kSnat, 2000 + i), kT0);
            ASSERT_NE(f, nullptr);
            keys.push_back(i % 2 ? k : f->reply_key());
        } else {
            keys.push_back(k);  // never inserted
        }
    }
    std::vector<FlowRef> bulk(keys.size());
    t.lookup_bulk(keys, kT0, bulk);
    for (size_t i = 0; i < keys.size(); ++i) {
        FlowRef one = t.lookup(keys[i], kT0);
        EXPECT_EQ(bulk[i].flow, one.flow) << i;
        EXPECT_EQ(bulk[i].is_reply, one.is_reply) << i;
        EXPECT_EQ(one.flow != nullptr, i % 3 != 0) << i;
    }
}

TEST(FlowTable, BulkLookupOfAnExpiredFlowInBothDirectionsReclaimsOnce) {
    FlowTable t(small_config(16));
    FlowKey fwd = key(kClient, 1, kVip, 53, kUdp);
    Flow* f = t.insert(fwd, fullnat(kBackend, 53, kSnat, 1), kT0);
    FlowKey other = key(kClient, 2, kVip, 53, kUdp);
    Flow* g = t.insert(other, fullnat(kBackend, 53, kSnat, 2), kT0 + 200);
    ASSERT_NE(f, nullptr);
    ASSERT_NE(g, nullptr);
    const FlowKey keys[] = {fwd, f->reply_key(), fwd, other};
    FlowRef results[4];
    t.lookup_bulk(keys, kT0 + 301, results);
    EXPECT_EQ(results[0].flow, nullptr);
    EXPECT_EQ(results[1].flow, nullptr);
    EXPECT_EQ(results[2].flow, nullptr);
    EXPECT_EQ(results[3].flow, g);
    EXPECT_EQ(t.counters().expired, 1u);
    EXPECT_EQ(t.size(), 1u);
    // The free list is intact: the table fills to capacity again.
    for (uint16_t i = 10; i < 25; ++i) {
        ASSERT_NE(
            t.insert(key(kClient, i, kVip, 53, kUdp), fullnat(kBackend, 53, kSnat, i), kT0 + 301),
            nullptr);
    }
    EXPECT_EQ(t.size(), 16u);
    EXPECT_EQ(t.counters().evicted_established, 0u);
}

TEST(FlowTable, TcpFlagsOnANonTcpFlowOnlyRefreshIt) {
    FlowTable t(small_config(16));
    Flow* f = t.insert(key(kClient, 1, kVip, 53, kUdp), fullnat(kBackend, 53, kSnat, 1), kT0);
    t.update_tcp_state(f, tcp_flag::syn, false, kT0 + 5);
    EXPECT_EQ(f->cls, FlowClass::udp_unreplied);
    EXPECT_EQ(f->tcp_state, TcpState::none);
    EXPECT_EQ(f->last_seen, kT0 + 5);
}

TEST(FlowTable, CapacityBoundAndConsistencyUnderRandomChurn) {
    constexpr uint32_t kMax = 1000;
    FlowTable t(small_config(kMax));
    std::mt19937 rng(12345);  // fixed seed: reproducible
    uint32_t now = kT0;
    for (int step = 0; step < 200000; ++step) {
        if (step % 1000 == 0) {
            now += 7;
            t.expire(now, 50);
        }
        // A small key space so inserts, conflicts and hits all happen.
        FlowKey k = key(kClient + rng() % 64, static_cast<uint16_t>(rng() % 64), kVip, 80,
                        rng() % 2 ? kTcp : kUdp);
        FlowRef r = t.lookup(k, now);
        uint32_t op = rng() % 10;
        if (r.flow == nullptr) {
            NatResult n = fullnat(kBackend + rng() % 4, 80, kSnat, static_cast<uint16_t>(rng()));
            Flow* f = t.insert(k, n, now);
            if (f != nullptr) {
                ASSERT_EQ(t.lookup(k, now).flow, f);
                ASSERT_EQ(t.lookup(f->reply_key(), now).flow, f);
            }
        } else if (op == 0) {
            t.erase(r.flow);
            ASSERT_EQ(t.lookup(k, now).flow, nullptr);
        } else if (k.proto == kTcp) {
            const uint8_t flags[] = {tcp_flag::syn, tcp_flag::syn | tcp_flag::ack, tcp_flag::ack,
                                     tcp_flag::fin | tcp_flag::ack, tcp_flag::rst};
            t.update_tcp_state(r.flow, flags[rng() % 5], rng() % 2, now);
        } else {
            t.touch(r.flow, now);
        }
        ASSERT_LE(t.size(), kMax);
    }
    const auto& c = t.counters();
    EXPECT_GT(c.inserted, 0u);
    EXPECT_GT(c.insert_conflict, 0u);  // random SNAT ports collide in the reply key
    EXPECT_EQ(c.insert_failed, 0u);    // the index is sized for max_flows
    EXPECT_EQ(c.inserted - c.erased - c.expired - c.evicted_transitory - c.evicted_established,
              t.size());
    // Every live entry is reachable by both keys, and no key is owned twice.
    size_t live = 0;
    std::set<std::pair<uint64_t, uint64_t>> keys;
    t.for_each([&](Flow& f) {
        ++live;
        for (const FlowKey& k : {f.key, f.reply_key()}) {
            EXPECT_TRUE(keys.insert({k.word0(), k.word1()}).second);
        }
        if (!t.is_expired(f, now)) {
            EXPECT_EQ(t.lookup(f.key, now).flow, &f);
            FlowRef r = t.lookup(f.reply_key(), now);
            EXPECT_EQ(r.flow, &f);
            EXPECT_TRUE(r.is_reply);
        }
    });
    EXPECT_EQ(live, t.size());
}

TEST(FlowTable, FillsToCapacityWithoutIndexFailures) {
    constexpr uint32_t kMax = 100000;
    FlowTable t(small_config(kMax));
    for (uint32_t i = 0; i < kMax; ++i) {
        ASSERT_NE(t.insert(key(kClient + i, 1, kVip, 80, kUdp),
                           fullnat(kBackend, 80, kSnat + i / 60000, 1024 + i % 60000), kT0),
                  nullptr)
            << i;
    }
    EXPECT_EQ(t.size(), kMax);
    EXPECT_EQ(t.counters().insert_failed, 0u);
    // At 85% index load many inserts went through cuckoo displacement:
    // every key must still be found, in its direction.
    for (uint32_t i = 0; i < kMax; ++i) {
        FlowRef f = t.lookup(key(kClient + i, 1, kVip, 80, kUdp), kT0);
        ASSERT_NE(f.flow, nullptr) << i;
        ASSERT_FALSE(f.is_reply);
        FlowRef r = t.lookup(f.flow->reply_key(), kT0);
        ASSERT_EQ(r.flow, f.flow) << i;
        ASSERT_TRUE(r.is_reply);
    }
    // One more evicts (an unreplied UDP entry) instead of failing.
    EXPECT_NE(t.insert(key(kClient, 2, kVip, 80, kUdp), fullnat(kBackend, 81, kSnat, 1), kT0),
              nullptr);
    EXPECT_EQ(t.size(), kMax);
    EXPECT_EQ(t.counters().evicted_transitory, 1u);
    double per_flow = static_cast<double>(t.memory_bytes()) / t.capacity();
    RecordProperty("bytes_per_flow", std::to_string(per_flow));
    EXPECT_LT(per_flow, 96.0);
}

// Counts what a table takes from its memory and gives back.
class CountingMemory final : public TableMemory {
public:
    void* allocate(size_t bytes) override {
        ++allocations;
        live_bytes += bytes;
        return process_table_memory().allocate(bytes);
    }
    void release(void* block, size_t bytes) noexcept override {
        ++releases;
        live_bytes -= bytes;
        process_table_memory().release(block, bytes);
    }
    int allocations = 0;
    int releases = 0;
    size_t live_bytes = 0;
};

TEST(TableMemoryUse, TablesTakeTheirWholeFootprintFromTheGivenMemoryAndGiveItBack) {
    CountingMemory memory;
    {
        FlowTable flows(small_config(5000), memory);
        EXPECT_EQ(memory.live_bytes, flows.memory_bytes());
        EXPECT_EQ(FlowTable::memory_bytes_for(5000), flows.memory_bytes());
        AffinityTable affinity(1000, memory);
        EXPECT_EQ(memory.live_bytes, flows.memory_bytes() + AffinityTable::memory_bytes_for(1000));
        // Zero-filled memory is ready: a fresh table finds nothing and fills.
        EXPECT_EQ(flows.lookup(key(kClient, 1, kVip, 80, kTcp), kT0).flow, nullptr);
        EXPECT_NE(
            flows.insert(key(kClient, 1, kVip, 80, kTcp), fullnat(kBackend, 80, kSnat, 1), kT0),
            nullptr);
    }
    EXPECT_EQ(memory.allocations, 3);  // entries, index, affinity sets
    EXPECT_EQ(memory.releases, 3);
    EXPECT_EQ(memory.live_bytes, 0u);
}

TEST(TableMemoryUse, AnAllocationThatFailsLeavesNothingBehind) {
    // The index allocation fails after the entries were taken.
    class FailSecond final : public TableMemory {
    public:
        void* allocate(size_t bytes) override {
            if (++calls == 2) {
                throw std::bad_alloc();
            }
            return counting.allocate(bytes);
        }
        void release(void* block, size_t bytes) noexcept override {
            counting.release(block, bytes);
        }
        int calls = 0;
        CountingMemory counting;
    } memory;
    EXPECT_THROW(FlowTable(small_config(5000), memory), std::bad_alloc);
    EXPECT_EQ(memory.counting.live_bytes, 0u);
}

TEST(AffinityTable, RemembersUntilTimeoutAndRefreshesOnUse) {
    AffinityTable a(1024);
    AffinityKey k{htonl(kClient), htonl(kVip), htons(80), kTcp, 0};
    EXPECT_FALSE(a.lookup(k, kT0, 100));
    a.update(k, htonl(kBackend), kT0, 100);
    EXPECT_EQ(a.lookup(k, kT0 + 100, 100), htonl(kBackend));  // refreshed at kT0 + 100
    EXPECT_EQ(a.lookup(k, kT0 + 200, 100), htonl(kBackend));
    EXPECT_FALSE(a.lookup(k, kT0 + 301, 100));
    EXPECT_EQ(a.counters().expired, 1u);
    EXPECT_EQ(a.size(), 0u);
    // Other service ports of the same client are independent.
    a.update(k, htonl(kBackend), kT0, 100);
    AffinityKey other = k;
    other.port = htons(443);
    EXPECT_FALSE(a.lookup(other, kT0, 100));
}

// The workers of a set see each other's entries: a client first sent to a
// backend by worker 0 is sent there by worker 1 too; the freshest live entry
// wins (a backend replaced on one worker overrides older entries); expired
// entries count on no worker.
TEST(AffinitySet, WorkersShareTheFreshestLiveEntry) {
    AffinitySet set(3, 1024);
    const AffinityKey k{htonl(kClient), htonl(kVip), htons(80), kTcp, 0};
    constexpr uint32_t kTimeout = 100;
    EXPECT_FALSE(set.lookup(1, k, kT0, kTimeout));
    set.update(0, k, htonl(kBackend), kT0, kTimeout);
    EXPECT_EQ(set.lookup(1, k, kT0 + 1, kTimeout), htonl(kBackend));
    EXPECT_EQ(set.lookup(2, k, kT0 + 1, kTimeout), htonl(kBackend));
    // Worker 2 replaced the backend later: everyone follows it.
    set.update(2, k, htonl(kBackend + 1), kT0 + 5, kTimeout);
    EXPECT_EQ(set.lookup(0, k, kT0 + 6, kTimeout), htonl(kBackend + 1));
    EXPECT_EQ(set.lookup(1, k, kT0 + 7, kTimeout), htonl(kBackend + 1));
    // Past the timeout of every copy: gone everywhere.
    EXPECT_FALSE(set.lookup(2, k, kT0 + 7 + kTimeout + 1, kTimeout));
    EXPECT_FALSE(set.table(0).peek(k, kT0 + 7 + kTimeout + 1));
    // Another client is not affected.
    AffinityKey other = k;
    other.client_ip = htonl(kClient + 1);
    EXPECT_FALSE(set.lookup(0, other, kT0, kTimeout));
}

TEST(AffinityTable, FullSetReplacesLeastRecentlyUsed) {
    AffinityTable a(8);  // a single 8-way set
    ASSERT_EQ(a.capacity(), 8u);
    auto k = [](uint32_t i) {
        return AffinityKey{htonl(kClient + i), htonl(kVip), htons(80), kTcp, 0};
    };
    for (uint32_t i = 0; i < 8; ++i) {
        a.update(k(i), i, kT0 + i, 1000);
    }
    EXPECT_TRUE(a.lookup(k(0), kT0 + 10, 1000));  // 0 is now recent; 1 is the LRU
    a.update(k(8), 8, kT0 + 11, 1000);
    EXPECT_EQ(a.counters().evicted, 1u);
    EXPECT_FALSE(a.lookup(k(1), kT0 + 12, 1000));
    for (uint32_t i : {0u, 2u, 3u, 4u, 5u, 6u, 7u, 8u}) {
        EXPECT_EQ(a.lookup(k(i), kT0 + 12, 1000), i) << i;
    }
    EXPECT_EQ(a.size(), 8u);
}

TEST(AffinityTable, EraseBackendForgetsItsClients) {
    AffinityTable a(64);
    for (uint32_t i = 0; i < 10; ++i) {
        a.update(AffinityKey{htonl(kClient + i), htonl(kVip), htons(80), kTcp, 0},
                 htonl(kBackend + i % 2), kT0, 100);
    }
    EXPECT_EQ(a.erase_backend(htonl(kBackend)), 5u);
    EXPECT_EQ(a.size(), 5u);
    for (uint32_t i = 0; i < 10; ++i) {
        bool found =
            a.lookup(AffinityKey{htonl(kClient + i), htonl(kVip), htons(80), kTcp, 0}, kT0, 100)
                .has_value();
        EXPECT_EQ(found, i % 2 == 1) << i;
    }
}

}  // namespace
}  // namespace svcgw
