// The exception path's pure parts: which frames are control class (their
// own ring and bucket), the token bucket's rate and burst, and which kernel
// frames may leave through the port; which driver carries it to the kernel
// (with /dev/vhost-net present or absent: an injected path) and the vdev
// string of the ethdev drivers.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "dataplane/punt.hpp"
#include "net/packet.hpp"
#include "port/exception_path.hpp"
#include "port/kernel_driver.hpp"

namespace svcgw {
namespace {

pkt::Parsed l4(uint8_t proto, uint16_t src_port, uint16_t dst_port) {
    pkt::Parsed p;
    p.verdict = pkt::Verdict::ok;
    p.l3 = pkt::L3::ipv4;
    p.key.proto = proto;
    p.key.src_port = htons(src_port);
    p.key.dst_port = htons(dst_port);
    return p;
}

TEST(Punt, ControlClassIsArpBgpAndBfd) {
    pkt::Parsed arp;
    arp.verdict = pkt::Verdict::ok;
    arp.l3 = pkt::L3::arp;
    struct Case {
        const char* what;
        pkt::Parsed p;
        PuntClass expected;
    };
    const std::vector<Case> cases = {
        {"arp", arp, PuntClass::control},
        {"bgp to the gateway's speaker", l4(pkt::kProtoTcp, 40000, 179), PuntClass::control},
        {"bgp from a peer's speaker port", l4(pkt::kProtoTcp, 179, 40000), PuntClass::control},
        {"bfd control", l4(pkt::kProtoUdp, 49152, 3784), PuntClass::control},
        {"bfd echo", l4(pkt::kProtoUdp, 49152, 3785), PuntClass::control},
        {"bfd echo looped back", l4(pkt::kProtoUdp, 3785, 3785), PuntClass::control},
        {"multihop bfd", l4(pkt::kProtoUdp, 49152, 4784), PuntClass::control},
        {"udp from 4784 is not bfd", l4(pkt::kProtoUdp, 4784, 40000), PuntClass::other},
        {"udp to 179 is not bgp", l4(pkt::kProtoUdp, 40000, 179), PuntClass::other},
        {"tcp to 3784 is not bfd", l4(pkt::kProtoTcp, 40000, 3784), PuntClass::other},
        {"ssh", l4(pkt::kProtoTcp, 40000, 22), PuntClass::other},
        {"dns over tcp", l4(pkt::kProtoTcp, 40000, 53), PuntClass::other},
        {"icmp", l4(pkt::kProtoIcmp, 0, 0), PuntClass::other},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(punt_class(c.p), c.expected) << c.what;
    }
}

constexpr uint64_t kHz = 1'000'000;  // a 1 MHz "TSC": one cycle = 1 us

TEST(Punt, BucketStartsFullThenHoldsTheRate) {
    TokenBucket bucket(1000, 10, kHz);  // 1000/s = one frame per 1000 cycles
    uint64_t now = 5;
    int passed = 0;
    for (int i = 0; i < 100; ++i) {
        passed += bucket.take(now) ? 1 : 0;
    }
    EXPECT_EQ(passed, 10) << "a full bucket passes its burst at once, then nothing";
    EXPECT_FALSE(bucket.take(now + 999));
    EXPECT_TRUE(bucket.take(now + 1000)) << "one frame's worth of credit after 1 ms";
    EXPECT_FALSE(bucket.take(now + 1000));
}

TEST(Punt, FloodAtTenTimesTheRatePassesTheRatePlusTheBurst) {
    TokenBucket bucket(2000, 64, kHz);
    int passed = 0;
    // One second of offers every 50 us (20k/s).
    for (uint64_t t = 1; t <= kHz; t += 50) {
        passed += bucket.take(t) ? 1 : 0;
    }
    EXPECT_GE(passed, 2000);
    EXPECT_LE(passed, 2000 + 64);
}

TEST(Punt, IdleTimeRefillsOnlyUpToTheBurst) {
    TokenBucket bucket(1000, 8, kHz);
    for (int i = 0; i < 8; ++i) {
        ASSERT_TRUE(bucket.take(1));
    }
    int passed = 0;
    for (int i = 0; i < 100; ++i) {
        passed += bucket.take(10 * kHz) ? 1 : 0;  // ten idle seconds later
    }
    EXPECT_EQ(passed, 8);
}

TEST(Punt, RateZeroPassesNothing) {
    TokenBucket bucket(0, 64, kHz);
    EXPECT_FALSE(bucket.take(1));
    EXPECT_FALSE(bucket.take(kHz));
}

TEST(ExceptionPath, OnlyIpv4AndArpRequestsLeaveTheKernel) {
    const MacAddr mac{0x02, 0, 0, 0, 0, 1};
    std::array<uint8_t, pkt::kEthMinFrameLen> request{}, reply{};
    ASSERT_NE(pkt::build_arp_request(request, mac, htonl(0x0a630001), htonl(0x0a630064)), 0u);
    ASSERT_NE(pkt::build_arp_reply(reply, mac, htonl(0x0a630001), mac, htonl(0x0a630064)), 0u);
    EXPECT_TRUE(kernel_frame_leaves(request.data(), request.size()));
    EXPECT_FALSE(kernel_frame_leaves(reply.data(), reply.size()))
        << "the workers answer ARP for the gateway's addresses";
    std::array<uint8_t, 60> ipv4{}, ipv6{};
    ipv4[12] = 0x08;
    ipv6[12] = 0x86;
    ipv6[13] = 0xdd;
    EXPECT_TRUE(kernel_frame_leaves(ipv4.data(), ipv4.size()));
    EXPECT_FALSE(kernel_frame_leaves(ipv6.data(), ipv6.size()));
    EXPECT_FALSE(kernel_frame_leaves(ipv4.data(), 13)) << "shorter than an Ethernet header";
}

// A file that opens read-write stands in for /dev/vhost-net.
class VhostNet : public ::testing::Test {
protected:
    void SetUp() override {
        char name[] = "/tmp/svcgw-vhost-net.XXXXXX";
        int fd = mkstemp(name);
        ASSERT_GE(fd, 0);
        close(fd);
        present = name;
        absent = present + ".absent";
    }
    void TearDown() override { unlink(present.c_str()); }
    std::string present;
    std::string absent;
};

TEST_F(VhostNet, AutoTakesVirtioUserWhenVhostNetOpens) {
    auto chosen = choose_kernel_driver(KernelDriver::automatic, present);
    ASSERT_TRUE(chosen.has_value()) << chosen.error().str();
    EXPECT_EQ(chosen->driver, KernelDriver::virtio_user);
    EXPECT_EQ(chosen->reason, "auto: " + present + " opens");
}

TEST_F(VhostNet, AutoFallsBackToTheTapWithTheCause) {
    auto chosen = choose_kernel_driver(KernelDriver::automatic, absent);
    ASSERT_TRUE(chosen.has_value()) << chosen.error().str();
    EXPECT_EQ(chosen->driver, KernelDriver::tap);
    EXPECT_EQ(chosen->reason, "auto: " + absent + " cannot be opened (No such file or directory)");
}

TEST_F(VhostNet, VirtioUserWithoutVhostNetIsAnError) {
    auto refused = choose_kernel_driver(KernelDriver::virtio_user, absent);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().path, "ports[0].kernel_driver");
    EXPECT_NE(refused.error().message.find("virtio_user needs " + absent +
                                           ", which cannot be opened: No such file"),
              std::string::npos)
        << refused.error().message;
    auto chosen = choose_kernel_driver(KernelDriver::virtio_user, present);
    ASSERT_TRUE(chosen.has_value());
    EXPECT_EQ(chosen->driver, KernelDriver::virtio_user);
}

TEST_F(VhostNet, TapAndTapPmdAreTakenAsAsked) {
    for (const std::string& vhost : {present, absent}) {
        for (KernelDriver asked : {KernelDriver::tap, KernelDriver::tap_pmd}) {
            auto chosen = choose_kernel_driver(asked, vhost);
            ASSERT_TRUE(chosen.has_value());
            EXPECT_EQ(chosen->driver, asked);
            EXPECT_EQ(chosen->reason,
                      "ports[0].kernel_driver: " + std::string(kernel_driver_name(asked)));
        }
    }
}

// The virtio_user string can only be checked here: no /dev/vhost-net on
// the test machines (the integration test runs the ethdev code over tap_pmd).
TEST(KernelVdev, VirtioUserOverVhostKernel) {
    const MacAddr mac{0x02, 0x00, 0x5e, 0x10, 0xab, 0x01};
    const KernelVdev vdev =
        kernel_vdev(KernelDriver::virtio_user, "svcgw0", mac, kExceptionQueueSize);
    EXPECT_EQ(vdev.name, "virtio_user_svcgw0");
    EXPECT_EQ(vdev.args,
              "path=/dev/vhost-net,iface=svcgw0,mac=02:00:5e:10:ab:01,queues=1,queue_size=512");
    EXPECT_TRUE(kernel_driver_is_ethdev(KernelDriver::virtio_user));
}

TEST(KernelVdev, NetTap) {
    const MacAddr mac{0x02, 0x00, 0x5e, 0x10, 0xab, 0x01};
    const KernelVdev vdev = kernel_vdev(KernelDriver::tap_pmd, "k0", mac, kExceptionQueueSize);
    EXPECT_EQ(vdev.name, "net_tap_k0");
    EXPECT_EQ(vdev.args, "iface=k0,mac=02:00:5e:10:ab:01");
    EXPECT_TRUE(kernel_driver_is_ethdev(KernelDriver::tap_pmd));
    EXPECT_FALSE(kernel_driver_is_ethdev(KernelDriver::tap));
}

}  // namespace
}  // namespace svcgw
