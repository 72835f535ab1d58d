// Neighbour resolution (control table + worker view + hold queue) and the
// EAL argument builder: the pure parts of lib/port, no EAL needed.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_rcu_qsbr.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/worker_neighbour.hpp"
#include "port/eal_args.hpp"
#include "port/neighbour.hpp"

namespace svcgw {
namespace {

Ipv4 ip(const char* text) {
    return *Ipv4::parse(text);
}
uint32_t be(const char* text) {
    return htonl(ip(text).value);
}
const MacAddr kMacA = {0x02, 0, 0, 0, 0, 0xa};
const MacAddr kMacB = {0x02, 0, 0, 0, 0, 0xb};
const Ipv4Prefix kSubnet = *Ipv4Prefix::parse("10.99.0.1/24");

const MacAddr* published(const NeighbourTable& t, const char* addr) {
    return t.view().load(std::memory_order_acquire)->find(be(addr));
}

TEST(NeighbourTable, ResolvesOnFirstTickAndPublishesOnAnswer) {
    NeighbourTable t(kSubnet, nullptr);
    t.want(ip("10.99.0.11"), 0);
    EXPECT_TRUE(t.pending(ip("10.99.0.11")));
    EXPECT_EQ(published(t, "10.99.0.11"), nullptr);
    auto requests = t.tick(0);
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0], ip("10.99.0.11"));
    // A second want while pending does not duplicate the request.
    t.want(ip("10.99.0.11"), 1);
    EXPECT_TRUE(t.tick(1).empty());
    t.learned(ip("10.99.0.11"), kMacA, 5);
    ASSERT_NE(published(t, "10.99.0.11"), nullptr);
    EXPECT_EQ(*published(t, "10.99.0.11"), kMacA);
    EXPECT_EQ(t.stats().resolved, 1u);
    EXPECT_FALSE(t.pending(ip("10.99.0.11")));
}

TEST(NeighbourTable, RetriesWithBackoffThenGivesUp) {
    NeighbourTimers timers{.retry_ms = 100, .max_requests = 3, .reachable_ms = 1000};
    NeighbourTable t(kSubnet, nullptr, timers);
    t.want(ip("10.99.0.12"), 0);
    std::vector<uint64_t> sent_at;
    for (uint64_t now = 0; now <= 2000; now += 10) {
        if (!t.tick(now).empty()) {
            sent_at.push_back(now);
        }
    }
    // Requests at 0, +100, +200 (doubling), then the entry is dropped at +400.
    EXPECT_EQ(sent_at, (std::vector<uint64_t>{0, 100, 300}));
    EXPECT_FALSE(t.pending(ip("10.99.0.12")));
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(t.stats().failed, 1u);
    EXPECT_EQ(t.stats().requests, 3u);
}

TEST(NeighbourTable, ReprobesAndExpiresSilentNeighbour) {
    NeighbourTimers timers{.retry_ms = 100, .max_requests = 2, .reachable_ms = 1000};
    NeighbourTable t(kSubnet, nullptr, timers);
    t.learned(ip("10.99.0.13"), kMacA, 0);
    EXPECT_TRUE(t.tick(999).empty());
    // Reachable time over: probe, MAC still usable while probing.
    EXPECT_EQ(t.tick(1000).size(), 1u);
    EXPECT_NE(published(t, "10.99.0.13"), nullptr);
    EXPECT_EQ(t.tick(1100).size(), 1u);
    EXPECT_TRUE(t.tick(1300).empty());  // gave up: unpublished
    EXPECT_EQ(published(t, "10.99.0.13"), nullptr);
    EXPECT_EQ(t.stats().expired, 1u);
}

TEST(NeighbourTable, AnswerDuringProbeKeepsEntryAndMacChangeRepublishes) {
    NeighbourTimers timers{.retry_ms = 100, .max_requests = 2, .reachable_ms = 1000};
    NeighbourTable t(kSubnet, nullptr, timers);
    t.learned(ip("10.99.0.14"), kMacA, 0);
    EXPECT_EQ(t.tick(1000).size(), 1u);
    t.learned(ip("10.99.0.14"), kMacB, 1050);
    EXPECT_TRUE(t.tick(1300).empty());
    ASSERT_NE(published(t, "10.99.0.14"), nullptr);
    EXPECT_EQ(*published(t, "10.99.0.14"), kMacB);
}

TEST(NeighbourTable, IgnoresAddressesOutsideTheSubnetAndOurOwn) {
    NeighbourTable t(kSubnet, nullptr);
    t.learned(ip("192.168.1.1"), kMacA, 0);
    t.learned(ip("10.99.0.1"), kMacA, 0);
    t.want(ip("8.8.8.8"), 0);
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(t.stats().ignored, 2u);
    EXPECT_TRUE(t.tick(0).empty());
}

TEST(NeighbourTable, OldViewsAreFreedOnlyAfterReadersPassQuiescence) {
    size_t size = rte_rcu_qsbr_get_memsize(1);
    auto* qsbr = static_cast<rte_rcu_qsbr*>(std::aligned_alloc(64, (size + 63) / 64 * 64));
    ASSERT_EQ(rte_rcu_qsbr_init(qsbr, 1), 0);
    ASSERT_EQ(rte_rcu_qsbr_thread_register(qsbr, 0), 0);
    rte_rcu_qsbr_thread_online(qsbr, 0);
    {
        NeighbourTable t(kSubnet, qsbr);
        const NeighbourView* held = t.view().load(std::memory_order_acquire);
        t.learned(ip("10.99.0.15"), kMacA, 0);
        t.tick(1);
        EXPECT_EQ(t.retired_views(), 1u);  // the reader may still use `held`
        EXPECT_EQ(held->find(be("10.99.0.15")), nullptr);
        rte_rcu_qsbr_quiescent(qsbr, 0);
        t.tick(2);
        EXPECT_EQ(t.retired_views(), 0u);
    }
    rte_rcu_qsbr_thread_offline(qsbr, 0);
    std::free(qsbr);
}

TEST(NeighbourView, FindsEveryEntryAndMissesOthers) {
    std::vector<std::pair<uint32_t, MacAddr>> entries;
    for (uint32_t i = 1; i <= 200; ++i) {
        MacAddr mac = {2, 0, 0, 0, uint8_t(i >> 8), uint8_t(i)};
        entries.emplace_back(htonl(0x0a630000 + i), mac);
    }
    NeighbourView view(entries);
    for (const auto& [addr, mac] : entries) {
        ASSERT_NE(view.find(addr), nullptr);
        EXPECT_EQ(*view.find(addr), mac);
    }
    EXPECT_EQ(view.find(htonl(0x0a630000 + 201)), nullptr);
    EXPECT_EQ(NeighbourView().find(be("10.99.0.1")), nullptr);
}

TEST(HoldQueue, IsBoundedAsksOncePerHopAndReleasesInOrder) {
    HoldQueue<int, 4> q;
    using Hold = HoldQueue<int, 4>::Hold;
    constexpr uint64_t kAskAgain = 1000;
    EXPECT_EQ(q.hold(1, 11, 0, 100, kAskAgain), Hold::first_for_hop);
    EXPECT_EQ(q.hold(2, 11, 0, 100, kAskAgain), Hold::queued);
    EXPECT_EQ(q.hold(3, 12, 0, 50, kAskAgain), Hold::first_for_hop);
    EXPECT_EQ(q.hold(4, 11, 0, 100, kAskAgain), Hold::queued);
    EXPECT_EQ(q.hold(5, 13, 0, 100, kAskAgain), Hold::full);
    EXPECT_EQ(q.size(), 4u);

    MacAddr mac = kMacA;
    std::vector<int> sent, dropped;
    auto resolve_none = [](uint32_t) -> const MacAddr* { return nullptr; };
    auto resolve_11 = [&](uint32_t hop) -> const MacAddr* { return hop == 11 ? &mac : nullptr; };
    auto send = [&](int p, const MacAddr&) { sent.push_back(p); };
    auto drop = [&](int p) { dropped.push_back(p); };
    q.service(10, resolve_none, send, drop);
    EXPECT_TRUE(sent.empty());
    EXPECT_TRUE(dropped.empty());
    q.service(60, resolve_none, send, drop);  // hop 12 timed out
    EXPECT_EQ(dropped, std::vector<int>{3});
    q.service(70, resolve_11, send, drop);
    EXPECT_EQ(sent, (std::vector<int>{1, 2, 4}));
    EXPECT_TRUE(q.empty());
}

// Under steady traffic the queue always holds a packet for the hop; once
// the last ask is old the hop is asked for again (the control thread may
// have given up on it), then not again until the next interval.
TEST(HoldQueue, AsksAgainForAHopStillHeldAfterTheInterval) {
    HoldQueue<int, 8> q;
    using Hold = HoldQueue<int, 8>::Hold;
    auto drop_all_before = [&](uint64_t now) {
        q.service(
            now, [](uint32_t) -> const MacAddr* { return nullptr; }, [](int, const MacAddr&) {},
            [](int) {});
    };
    EXPECT_EQ(q.hold(1, 11, 0, 1500, 3500), Hold::first_for_hop);
    EXPECT_EQ(q.hold(2, 11, 1000, 2500, 3500), Hold::queued);
    drop_all_before(1500);  // packet 1 timed out, 2 still held
    EXPECT_EQ(q.hold(3, 11, 2000, 3500, 3500), Hold::queued);
    drop_all_before(2500);
    EXPECT_EQ(q.hold(4, 11, 3000, 4500, 3500), Hold::queued);
    drop_all_before(3500);
    EXPECT_EQ(q.hold(5, 11, 3600, 5100, 3500), Hold::first_for_hop) << "asked at 0, 3.6 s ago";
    EXPECT_EQ(q.hold(6, 11, 4000, 5500, 3500), Hold::queued) << "asked again at 3.6 s";
}

// ---- EAL arguments ----

Config base_config() {
    Config c;
    c.dpdk.lcores = "0-1";
    c.dpdk.memory_mb = 256;
    c.dpdk.file_prefix = "gw1";
    PortConfig p;
    p.name = "ext0";
    p.device = "net_af_packet0,iface=veth-gw";
    p.address = kSubnet;
    c.ports.push_back(p);
    return c;
}

bool has(const std::vector<std::string>& args, const std::string& a) {
    return std::find(args.begin(), args.end(), a) != args.end();
}

TEST(EalArgs, VdevGetsQueuePairsAndNoPci) {
    Config c = base_config();
    c.dpdk.lcores = "0-2";
    c.dpdk.extra_args = {"--log-level=debug"};
    std::vector<std::string> trailing = {"--no-telemetry"};
    auto args = build_eal_args(c, HugepageInfo{true, 1ull << 30}, trailing);
    ASSERT_TRUE(args);
    EXPECT_EQ(*args,
              (std::vector<std::string>{"svcgw", "-l", "0-2", "--file-prefix=gw1", "-m", "256",
                                        "--vdev=net_af_packet0,iface=veth-gw,qpairs=2", "--no-pci",
                                        "--log-level=debug", "--no-telemetry"}));
}

TEST(EalArgs, HugepagesAutoFallsBackAndTrueFailsClearly) {
    Config c = base_config();
    HugepageInfo none{false, 0}, small{true, 128ull << 20}, plenty{true, 512ull << 20};
    EXPECT_TRUE(has(*build_eal_args(c, none, {}), "--no-huge"));
    EXPECT_TRUE(has(*build_eal_args(c, small, {}), "--no-huge"));
    EXPECT_FALSE(has(*build_eal_args(c, plenty, {}), "--no-huge"));
    c.dpdk.hugepages = HugepageMode::off;
    EXPECT_TRUE(has(*build_eal_args(c, plenty, {}), "--no-huge"));
    c.dpdk.hugepages = HugepageMode::on;
    auto missing = build_eal_args(c, none, {});
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().path, "dpdk.hugepages");
    auto short_of = build_eal_args(c, small, {});
    ASSERT_FALSE(short_of);
    EXPECT_NE(short_of.error().message.find("128 MiB"), std::string::npos);
    EXPECT_TRUE(build_eal_args(c, plenty, {}));
}

TEST(EalArgs, PciAddressAndExplicitQpairsAndLcoresSyntax) {
    Config c = base_config();
    c.ports[0].device = "0000:01:00.0";
    c.dpdk.lcores = "0@0,1@1,2@1";
    auto args = build_eal_args(c, HugepageInfo{}, {});
    ASSERT_TRUE(args);
    EXPECT_TRUE(has(*args, "--lcores=0@0,1@1,2@1"));
    EXPECT_TRUE(has(*args, "0000:01:00.0"));
    EXPECT_FALSE(has(*args, "--no-pci"));
    EXPECT_EQ(with_queue_pairs("net_af_packet0,iface=x,qpairs=4", 2),
              "net_af_packet0,iface=x,qpairs=4");
    EXPECT_EQ(with_queue_pairs("net_tap0,iface=x", 2), "net_tap0,iface=x");
}

// A missing interface or an unusable PCI device is refused before EAL
// runs, naming the fix (issue 12 §4). sysfs is a fake tree here.
TEST(EalArgs, PortDeviceIsCheckedAgainstTheHost) {
    namespace fs = std::filesystem;
    const fs::path root = fs::temp_directory_path() / ("svcgw-sysfs-" + std::to_string(getpid()));
    const fs::path devices = root / "bus/pci/devices";
    fs::create_directories(root / "bus/pci/drivers/vfio-pci");
    fs::create_directories(root / "bus/pci/drivers/ixgbe");
    for (const char* dev : {"0000:03:00.0", "0000:03:00.1", "0000:04:00.0"}) {
        fs::create_directories(devices / dev);
    }
    fs::create_directory_symlink("../../drivers/vfio-pci", devices / "0000:03:00.0/driver");
    fs::create_directory_symlink("../../drivers/ixgbe", devices / "0000:03:00.1/driver");
    HostView host{root.string(), [](const char* name) -> unsigned {
                      return std::string_view(name) == "veth-gw" ? 7 : 0;
                  }};
    auto check = [&](const std::string& device) {
        PortConfig port;
        port.device = device;
        return check_port_device(port, host);
    };
    struct Case {
        const char* device;
        const char* error;  // substring of the message; null = accepted
    };
    const Case cases[] = {
        {"net_af_packet0,iface=veth-gw", nullptr},
        {"net_af_packet0,iface=veth-gw,qpairs=2", nullptr},
        {"net_af_packet0,iface=nosuch0", "interface \"nosuch0\" does not exist"},
        {"net_af_xdp0,iface=nosuch0,start_queue=0", "interface \"nosuch0\" does not exist"},
        {"net_af_packet0", "names no iface="},
        {"net_tap0,iface=tap9", nullptr},  // the PMD creates it
        {"0000:03:00.0", nullptr},
        {"03:00.0", nullptr},  // domain 0000 implied, as EAL does
        {"0000:03:00.0,txq_inline=128", nullptr},
        {"0000:03:00.1", "bound to the kernel driver ixgbe: bind it with `dpdk-devbind.py"},
        {"0000:04:00.0", "has no driver"},
        {"0000:05:00.0", "no PCI device 0000:05:00.0"},
    };
    for (const Case& c : cases) {
        auto r = check(c.device);
        if (c.error == nullptr) {
            EXPECT_TRUE(r) << c.device << ": " << (r ? "" : r.error().str());
        } else {
            ASSERT_FALSE(r) << c.device;
            EXPECT_EQ(r.error().path, "ports[0].device");
            EXPECT_NE(r.error().message.find(c.error), std::string::npos)
                << c.device << ": " << r.error().message;
        }
    }
    EXPECT_EQ(device_arg("net_af_packet0,iface=veth-gw,qpairs=2", "iface"), "veth-gw");
    EXPECT_EQ(device_arg("net_af_packet0,ifacex=a,iface=b", "iface"), "b");
    EXPECT_EQ(device_arg("net_af_packet0", "iface"), "");
    fs::remove_all(root);
}

TEST(EalArgs, LcoreListsAndErrors) {
    EXPECT_EQ(parse_lcore_list("0-1"), (std::vector<unsigned>{0, 1}));
    EXPECT_EQ(parse_lcore_list("0,2-3"), (std::vector<unsigned>{0, 2, 3}));
    EXPECT_EQ(parse_lcore_list("(0-1)@0,2@1"), (std::vector<unsigned>{0, 1, 2}));
    EXPECT_TRUE(parse_lcore_list("0-").empty());
    EXPECT_TRUE(parse_lcore_list("1,1").empty());
    EXPECT_TRUE(parse_lcore_list("3-1").empty());
    EXPECT_TRUE(parse_lcore_list("").empty());
    Config c = base_config();
    c.dpdk.lcores = "0";
    auto one = build_eal_args(c, HugepageInfo{}, {});
    ASSERT_FALSE(one);
    EXPECT_EQ(one.error().path, "dpdk.lcores");
    c.dpdk.lcores = "zero";
    EXPECT_FALSE(build_eal_args(c, HugepageInfo{}, {}));
}

}  // namespace
}  // namespace svcgw
