#include "port/exception_path.hpp"

// <net/if.h> before the <linux/...> headers: their libc-compat guards then
// skip the duplicate struct ifreq.
#include <net/if.h>
// clang-format off
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_arp.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
// clang-format on
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "dataplane/packet.hpp"

namespace svcgw {

namespace {

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeArp = 0x0806;
constexpr size_t kEthHeaderLen = 14;
// ARP opcode offset in an Ethernet frame: 14 (Ethernet) + 6 (htype, ptype,
// hlen, plen), RFC 826.
constexpr size_t kArpOpOffset = kEthHeaderLen + 6;
// An rtnetlink acknowledgement is an nlmsgerr plus the request echoed:
// a page holds it.
constexpr size_t kNetlinkBufferSize = 4096;

std::string errno_str(int error) {
    return std::strerror(error);
}

Unexpected<Error> tap_error(const std::string& name, const std::string& step, int error) {
    return fail("ports[0].kernel_interface", "TAP " + name + ": " + step + ": " + errno_str(error));
}

// One rtnetlink request with its acknowledgement: 0 or an errno.
int netlink_request(nlmsghdr* request) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
        return errno;
    }
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    request->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    int error = 0;
    if (sendto(fd, request, request->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) < 0) {
        error = errno;
    } else {
        std::array<char, kNetlinkBufferSize> reply{};
        ssize_t n = recv(fd, reply.data(), reply.size(), 0);
        if (n < 0) {
            error = errno;
        } else {
            auto* header = reinterpret_cast<nlmsghdr*>(reply.data());
            if (NLMSG_OK(header, static_cast<unsigned>(n)) && header->nlmsg_type == NLMSG_ERROR) {
                error = -static_cast<nlmsgerr*>(NLMSG_DATA(header))->error;
            }
        }
    }
    close(fd);
    return error;
}

// An rtnetlink message with room for a few attributes.
template <typename Body>
struct NetlinkMessage {
    nlmsghdr header{};
    Body body{};
    std::array<char, 64> attributes{};

    NetlinkMessage(uint16_t type, uint16_t flags) {
        header.nlmsg_len = NLMSG_LENGTH(sizeof(Body));
        header.nlmsg_type = type;
        header.nlmsg_flags = flags;
    }
    void add_u32(uint16_t type, uint32_t value) {
        auto* rta = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(this) +
                                              NLMSG_ALIGN(header.nlmsg_len));
        rta->rta_type = type;
        rta->rta_len = RTA_LENGTH(sizeof value);
        std::memcpy(RTA_DATA(rta), &value, sizeof value);
        header.nlmsg_len = NLMSG_ALIGN(header.nlmsg_len) + RTA_ALIGN(rta->rta_len);
    }
};

int add_address(int ifindex, Ipv4 address, uint8_t length) {
    NetlinkMessage<ifaddrmsg> m(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
    m.body.ifa_family = AF_INET;
    m.body.ifa_prefixlen = length;
    m.body.ifa_scope = RT_SCOPE_UNIVERSE;
    m.body.ifa_index = static_cast<unsigned>(ifindex);
    m.add_u32(IFA_LOCAL, htonl(address.value));
    m.add_u32(IFA_ADDRESS, htonl(address.value));
    return netlink_request(&m.header);
}

int add_default_route(int ifindex, Ipv4 gateway) {
    NetlinkMessage<rtmsg> m(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
    m.body.rtm_family = AF_INET;
    m.body.rtm_table = RT_TABLE_MAIN;
    m.body.rtm_protocol = RTPROT_STATIC;
    m.body.rtm_scope = RT_SCOPE_UNIVERSE;
    m.body.rtm_type = RTN_UNICAST;
    m.add_u32(RTA_GATEWAY, htonl(gateway.value));
    m.add_u32(RTA_OIF, static_cast<uint32_t>(ifindex));
    return netlink_request(&m.header);
}

}  // namespace

bool kernel_frame_leaves(const uint8_t* frame, size_t len) {
    if (len < kEthHeaderLen) {
        return false;
    }
    const uint16_t type = static_cast<uint16_t>(frame[12] << 8 | frame[13]);
    if (type == kEtherTypeIpv4) {
        return true;
    }
    if (type == kEtherTypeArp && len >= kArpOpOffset + 2) {
        const uint16_t op =
            static_cast<uint16_t>(frame[kArpOpOffset] << 8 | frame[kArpOpOffset + 1]);
        return op == pkt::kArpOpRequest;
    }
    return false;
}

Result<std::unique_ptr<ExceptionPath>> ExceptionPath::open(const ExceptionPathSetup& setup) {
    const std::string& name = setup.interface;
    int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return tap_error(name, "open /dev/net/tun", errno);
    }
    std::unique_ptr<ExceptionPath> path(new ExceptionPath(fd, name));
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        // EBUSY: another process holds a TAP of that name.
        return tap_error(name, "create", errno);
    }
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        return tap_error(name, "socket", errno);
    }
    auto link_ioctl = [&](unsigned long request, const char* step) -> Result<void> {
        if (ioctl(sock, request, &ifr) < 0) {
            int error = errno;
            close(sock);
            return tap_error(name, step, error);
        }
        return {};
    };
    ifr = ifreq{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    std::memcpy(ifr.ifr_hwaddr.sa_data, setup.mac.data(), setup.mac.size());
    if (auto done = link_ioctl(SIOCSIFHWADDR, "set MAC"); !done) {
        return Unexpected<Error>{done.error()};
    }
    ifr.ifr_mtu = setup.mtu;
    if (auto done = link_ioctl(SIOCSIFMTU, "set MTU"); !done) {
        return Unexpected<Error>{done.error()};
    }
    // The TAP carries IPv4 only (the data plane is IPv4): no IPv6 link-local
    // chatter (router and neighbour solicitations, MLD) toward the port.
    if (int sysctl = ::open(("/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6").c_str(),
                            O_WRONLY | O_CLOEXEC);
        sysctl >= 0) {
        (void)!write(sysctl, "1", 1);
        close(sysctl);
    }
    if (auto done = link_ioctl(SIOCGIFFLAGS, "get flags"); !done) {
        return Unexpected<Error>{done.error()};
    }
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (auto done = link_ioctl(SIOCSIFFLAGS, "set up"); !done) {
        return Unexpected<Error>{done.error()};
    }
    close(sock);

    const int ifindex = static_cast<int>(if_nametoindex(name.c_str()));
    if (ifindex == 0) {
        return tap_error(name, "if_nametoindex", errno);
    }
    if (int error = add_address(ifindex, setup.address.address, setup.address.length)) {
        return tap_error(name, "add address " + setup.address.str(), error);
    }
    for (Ipv4 ip : setup.host_addresses) {
        if (int error = add_address(ifindex, ip, 32)) {
            return tap_error(name, "add address " + ip.str() + "/32", error);
        }
    }
    if (setup.gateway) {
        // EEXIST: the namespace already has a default route (a management
        // interface); it stays, and the port's subnet is still on-link.
        if (int error = add_default_route(ifindex, *setup.gateway); error != 0 && error != EEXIST) {
            return tap_error(name, "default route via " + setup.gateway->str(), error);
        }
    }
    return path;
}

ExceptionPath::~ExceptionPath() {
    if (_fd >= 0) {
        close(_fd);  // a non-persistent TAP disappears with its last descriptor
    }
}

void ExceptionPath::from_kernel(rte_mempool* pool, const std::function<bool(rte_mbuf*)>& send) {
    rte_mbuf* m = nullptr;
    for (unsigned i = 0; i < kExceptionPathBudget; ++i) {
        if (m == nullptr) {
            m = rte_pktmbuf_alloc(pool);
            if (m == nullptr) {
                ++_stats.from_kernel_failed;
                return;  // the frame stays in the TAP until mbufs come back
            }
        }
        auto* data = rte_pktmbuf_mtod(m, uint8_t*);
        ssize_t n = read(_fd, data, rte_pktmbuf_tailroom(m));
        if (n <= 0) {
            break;  // EAGAIN: nothing more queued
        }
        const auto len = static_cast<size_t>(n);
        if (!kernel_frame_leaves(data, len)) {
            ++_stats.from_kernel_kept;
            continue;  // the mbuf is reused for the next read
        }
        m->data_len = static_cast<uint16_t>(len);
        m->pkt_len = static_cast<uint32_t>(len);
        if (send(m)) {
            ++_stats.from_kernel;
        } else {
            ++_stats.from_kernel_failed;
            rte_pktmbuf_free(m);
        }
        m = nullptr;
    }
    if (m != nullptr) {
        rte_pktmbuf_free(m);
    }
}

void ExceptionPath::drain(rte_ring* ring) {
    constexpr unsigned kBatch = 32;
    std::array<void*, kBatch> frames;
    unsigned drained = 0;
    while (drained < kExceptionPathBudget) {
        const unsigned n = rte_ring_sc_dequeue_burst(ring, frames.data(), kBatch, nullptr);
        if (n == 0) {
            return;
        }
        drained += n;
        for (unsigned i = 0; i < n; ++i) {
            auto* m = static_cast<rte_mbuf*>(frames[i]);
            std::array<iovec, 8> iov;
            size_t segments = 0;
            for (rte_mbuf* s = m; s != nullptr && segments < iov.size(); s = s->next) {
                iov[segments++] = iovec{rte_pktmbuf_mtod(s, void*), s->data_len};
            }
            if (writev(_fd, iov.data(), static_cast<int>(segments)) < 0) {
                ++_stats.to_kernel_failed;
            } else {
                ++_stats.to_kernel;
            }
            rte_pktmbuf_free(m);
        }
    }
}

void ExceptionPath::to_kernel(std::span<rte_ring* const> control,
                              std::span<rte_ring* const> other) {
    for (rte_ring* ring : control) {
        drain(ring);
    }
    for (rte_ring* ring : other) {
        drain(ring);
    }
}

}  // namespace svcgw
