#include <gtest/gtest.h>

#include <random>
#include <string_view>

#include "common/crc32c.hpp"
#include "common/hash.hpp"
#include "common/net.hpp"
#include "common/result.hpp"

namespace svcgw {
namespace {

TEST(Ipv4, ParsesAndFormats) {
    struct Case {
        const char* text;
        bool ok;
        uint32_t value;
    };
    const Case cases[] = {
        {"10.96.0.10", true, 0x0a60000a},
        {"0.0.0.0", true, 0},
        {"255.255.255.255", true, 0xffffffff},
        {"256.0.0.1", false, 0},
        {"10.0.0", false, 0},
        {"10.0.0.1.2", false, 0},
        {"10.0.0.01", false, 0},
        {"10..0.1", false, 0},
        {"", false, 0},
        {"a.b.c.d", false, 0},
        {"10.0.0.1 ", false, 0},
    };
    for (const auto& c : cases) {
        auto ip = Ipv4::parse(c.text);
        EXPECT_EQ(ip.has_value(), c.ok) << c.text;
        if (c.ok && ip) {
            EXPECT_EQ(ip->value, c.value) << c.text;
            EXPECT_EQ(ip->str(), c.text);
        }
    }
}

TEST(Ipv4Prefix, ContainsAndRejects) {
    auto cidr = Ipv4Prefix::parse("10.96.0.0/16");
    ASSERT_TRUE(cidr);
    EXPECT_TRUE(cidr->contains(*Ipv4::parse("10.96.255.1")));
    EXPECT_FALSE(cidr->contains(*Ipv4::parse("10.97.0.1")));
    EXPECT_TRUE(Ipv4Prefix::parse("0.0.0.0/0")->contains(Ipv4{0xdeadbeef}));
    EXPECT_FALSE(Ipv4Prefix::parse("10.0.0.0/33"));
    EXPECT_FALSE(Ipv4Prefix::parse("10.0.0.0"));
    EXPECT_EQ(Ipv4Prefix::parse("10.99.0.1/24")->network().str(), "10.99.0.0");
}

TEST(Protocol, KubernetesSpelling) {
    EXPECT_EQ(parse_protocol("TCP"), Protocol::tcp);
    EXPECT_EQ(parse_protocol("udp"), Protocol::udp);
    EXPECT_FALSE(parse_protocol("SCTP"));
    EXPECT_EQ(to_string(Protocol::udp), "UDP");
}

TEST(Hash, StableAcrossRunsAndSeeded) {
    static_assert(hash_bytes("10.99.0.11", 0) == hash_bytes("10.99.0.11", 0));
    EXPECT_NE(hash_bytes("10.99.0.11", 0), hash_bytes("10.99.0.11", 1));
    EXPECT_NE(hash_bytes("", 0), hash_bytes(std::string_view("\0", 1), 0));
    EXPECT_NE(hash_u64(1, 0), hash_u64(2, 0));
}

// Golden values: Maglev seeds its permutations with these hashes (DESIGN
// §2), so two gateways, or one gateway before and after an upgrade, build
// the same rings only while they stay exactly these. A change here remaps
// flows across a fleet: it must be deliberate (and versioned), never a
// side effect. Computed once with this code.
TEST(Hash, GoldenValues) {
    struct Case {
        std::string_view bytes;
        uint64_t seed;
        uint64_t want;
    };
    constexpr Case kBytes[] = {
        {"", 0, 0xe220a8397b1dcdafULL},
        {"10.99.0.11", 0, 0x7a7008e0224f571dULL},
        {"10.99.0.11", 1, 0x09e73772af27c94bULL},
        {"10.99.0.12", 42, 0xf5e86ab8e330d3f9ULL},
        {"a-longer-identity-than-one-word", 7, 0x3f8db3493f5a5ef6ULL},
    };
    for (const Case& c : kBytes) {
        EXPECT_EQ(hash_bytes(c.bytes, c.seed), c.want) << c.bytes << " seed " << c.seed;
    }
    EXPECT_EQ(hash_u64(0, 0), 0x48218226ff3cd4bfULL);
    EXPECT_EQ(hash_u64(0x0a63000b, 0), 0xf596152332eb7a73ULL);
    EXPECT_EQ(hash_u64(0x0a63000b, 42), 0x43638a64d1a032efULL);
    EXPECT_EQ(mix64(1), 0x5692161d100b05e5ULL);
}

// CRC-32C, the flow hash primitive (common/crc32c.hpp). Golden values from
// an independent bitwise implementation (no tables); they hold for every
// build, whatever -march says, and must never change.
TEST(Crc32c, StandardCheckValue) {
    // RFC 3720 §B.4 / the CRC catalogue: CRC-32C("123456789") with the
    // usual inversions is 0xE3069283.
    constexpr std::string_view text = "123456789";
    const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
    EXPECT_EQ(~crc32c::update_bytes(~0u, {bytes, text.size()}), 0xe3069283u);
    static_assert(~crc32c::update_bytes(~0u, {}) == 0u);
}

TEST(Crc32c, WordGoldenVectors) {
    struct Case {
        uint32_t crc;
        uint64_t word;
        uint32_t expected;
    };
    const Case cases[] = {
        {0, 0, 0},
        {0xffffffffu, 0, 0x73d74d75u},
        {0x9e3779b9u, 0x0123456789abcdefull, 0xd540420fu},
        {0x12345678u, ~uint64_t{0}, 0x8e05945au},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(crc32c::update_u64(c.crc, c.word), c.expected) << std::hex << c.word;
        EXPECT_EQ(crc32c::update_u64_portable(c.crc, c.word), c.expected) << std::hex << c.word;
    }
}

// The instruction (where this build has it) and the tables agree on any
// input, and a word is its 8 bytes least significant first.
TEST(Crc32c, InstructionTablesAndBytesAgree) {
    std::mt19937_64 rng(20261201);
    for (int i = 0; i < 100000; ++i) {
        const auto crc = static_cast<uint32_t>(rng());
        const uint64_t word = rng();
        uint8_t bytes[8];
        for (int b = 0; b < 8; ++b) {
            bytes[b] = static_cast<uint8_t>(word >> (8 * b));
        }
        const uint32_t by_bytes = crc32c::update_bytes(crc, bytes);
        ASSERT_EQ(crc32c::update_u64_portable(crc, word), by_bytes) << i;
        ASSERT_EQ(crc32c::update_u64(crc, word), by_bytes) << i;
        ASSERT_EQ(crc32c::load_le64(bytes), word);
    }
    RecordProperty("crc32c_instruction", crc32c::kHardware ? "yes" : "no");
}

TEST(Digest64, GoldenValuesOrderAndLength) {
    Digest64 empty(1);
    Digest64 a(1), b(1), c(1), d(2);
    for (uint64_t w : {1, 2, 3}) {
        a.add(w);
        d.add(w);
    }
    for (uint64_t w : {2, 1, 3}) {
        b.add(w);
    }
    for (uint64_t w : {1, 2, 3, 0}) {
        c.add(w);
    }
    // Fixed values (an independent Python model of the definition): ring
    // digests are compared between builds and versions.
    EXPECT_EQ(empty.value(), 0xdce423fc82c0d5b8ull);
    EXPECT_EQ(a.value(), 0x551b87a2ff93b914ull);
    EXPECT_NE(a.value(), b.value()) << "order matters";
    EXPECT_NE(a.value(), c.value()) << "a trailing zero word matters";
    EXPECT_NE(a.value(), d.value()) << "the domain matters";
    EXPECT_EQ(digest_str(0x00ab), "00000000000000ab");
}

TEST(Result, CarriesValueOrError) {
    Result<int> ok = 3;
    ASSERT_TRUE(ok);
    EXPECT_EQ(*ok, 3);
    Result<int> bad = fail("services[0].port", "must be 1-65535", "a.yaml:3:7");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().str(), "a.yaml:3:7: services[0].port: must be 1-65535");
    Result<void> none;
    EXPECT_TRUE(none);
}

}  // namespace
}  // namespace svcgw
