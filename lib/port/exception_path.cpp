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
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "net/packet.hpp"
#include "port/eal_log.hpp"
#include "port/kernel_driver.hpp"

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
// Frames per ring dequeue and per rx burst.
constexpr unsigned kBatch = 32;

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
    const uint16_t type = load_be16(frame + pkt::hdr::kEthTypeOff);
    if (type == kEtherTypeIpv4) {
        return true;
    }
    if (type == kEtherTypeArp && len >= kArpOpOffset + 2) {
        const uint16_t op = load_be16(frame + kArpOpOffset);
        return op == pkt::kArpOpRequest;
    }
    return false;
}

namespace {

// The kernel side, whichever driver created the interface: MAC, MTU, IPv6
// off, up, the addresses and the default route.
Result<void> configure_kernel_side(const ExceptionPathSetup& setup) {
    const std::string& name = setup.interface;
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        return tap_error(name, "socket", errno);
    }
    ifreq ifr{};
    auto link_ioctl = [&](unsigned long request, const char* step) -> Result<void> {
        if (ioctl(sock, request, &ifr) < 0) {
            int error = errno;
            close(sock);
            return tap_error(name, step, error);
        }
        return {};
    };
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    std::memcpy(ifr.ifr_hwaddr.sa_data, setup.mac.data(), setup.mac.size());
    if (auto done = link_ioctl(SIOCSIFHWADDR, "set MAC"); !done) {
        return done;
    }
    ifr.ifr_mtu = setup.mtu;
    if (auto done = link_ioctl(SIOCSIFMTU, "set MTU"); !done) {
        return done;
    }
    // The interface carries IPv4 only (the data plane is IPv4): no IPv6
    // link-local chatter (router and neighbour solicitations, MLD) toward
    // the port.
    if (int sysctl = ::open(("/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6").c_str(),
                            O_WRONLY | O_CLOEXEC);
        sysctl >= 0) {
        (void)!write(sysctl, "1", 1);
        close(sysctl);
    }
    if (auto done = link_ioctl(SIOCGIFFLAGS, "get flags"); !done) {
        return done;
    }
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (auto done = link_ioctl(SIOCSIFFLAGS, "set up"); !done) {
        return done;
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
    return {};
}

Unexpected<Error> ethdev_error(const std::string& device, const std::string& step, int rc) {
    const std::string cause = eal_log::cause(device);
    return fail("ports[0].kernel_driver", device + ": " + step + ": " +
                                              rte_strerror(rc < 0 ? -rc : rc) +
                                              (cause.empty() ? "" : " (" + cause + ")"));
}

}  // namespace

Result<std::unique_ptr<ExceptionPath>> ExceptionPath::open(const ExceptionPathSetup& setup) {
    std::unique_ptr<ExceptionPath> path(new ExceptionPath(setup.interface, setup.driver));
    auto created =
        kernel_driver_is_ethdev(setup.driver) ? path->open_ethdev(setup) : path->open_tap();
    if (!created) {
        return Unexpected<Error>{created.error()};
    }
    if (auto configured = configure_kernel_side(setup); !configured) {
        return Unexpected<Error>{configured.error()};
    }
    return path;
}

Result<void> ExceptionPath::open_tap() {
    _fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (_fd < 0) {
        return tap_error(_name, "open /dev/net/tun", errno);
    }
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    std::strncpy(ifr.ifr_name, _name.c_str(), IFNAMSIZ - 1);
    if (ioctl(_fd, TUNSETIFF, &ifr) < 0) {
        // EBUSY: another process holds a TAP of that name.
        return tap_error(_name, "create", errno);
    }
    return {};
}

// The PMD creates the kernel interface (virtio_user: when vhost-net is set
// up; net_tap: at probe) and brings it up at start; the kernel side is
// configured after that, so the PMD's own start-up settings do not undo it.
Result<void> ExceptionPath::open_ethdev(const ExceptionPathSetup& setup) {
    const KernelVdev vdev = kernel_vdev(setup.driver, _name, setup.mac, kExceptionQueueSize);
    // Hot-plugged on the vdev bus (EAL's API: no link to the bus driver).
    if (int rc = rte_eal_hotplug_add("vdev", vdev.name.c_str(), vdev.args.c_str()); rc != 0) {
        return ethdev_error(vdev.name, "vdev " + vdev.args, rc);
    }
    _vdev = vdev.name;
    uint16_t port = 0;
    if (int rc = rte_eth_dev_get_port_by_name(_vdev.c_str(), &port); rc != 0) {
        return ethdev_error(_vdev, "no ethdev", rc);
    }
    _ethdev = port;
    const rte_eth_conf conf{};  // no offloads: complete frames both ways
    if (int rc = rte_eth_dev_configure(port, 1, 1, &conf); rc != 0) {
        return ethdev_error(_vdev, "rte_eth_dev_configure", rc);
    }
    uint16_t rx_desc = kExceptionQueueSize, tx_desc = kExceptionQueueSize;
    if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rx_desc, &tx_desc); rc != 0) {
        return ethdev_error(_vdev, "rte_eth_dev_adjust_nb_rx_tx_desc", rc);
    }
    int socket = rte_eth_dev_socket_id(port);
    if (socket < 0) {
        socket = static_cast<int>(rte_socket_id());
    }
    if (int rc = rte_eth_rx_queue_setup(port, 0, rx_desc, static_cast<unsigned>(socket), nullptr,
                                        setup.pool);
        rc != 0) {
        return ethdev_error(_vdev, "rx queue", rc);
    }
    if (int rc = rte_eth_tx_queue_setup(port, 0, tx_desc, static_cast<unsigned>(socket), nullptr);
        rc != 0) {
        return ethdev_error(_vdev, "tx queue", rc);
    }
    if (int rc = rte_eth_dev_start(port); rc != 0) {
        return ethdev_error(_vdev, "rte_eth_dev_start", rc);
    }
    _started = true;
    return {};
}

ExceptionPath::~ExceptionPath() {
    if (_fd >= 0) {
        close(_fd);  // a non-persistent TAP disappears with its last descriptor
    }
    if (_ethdev) {
        if (_started) {
            rte_eth_dev_stop(*_ethdev);
        }
        rte_eth_dev_close(*_ethdev);  // frees the rx ring's mbufs, closes the TAP
    }
    if (!_vdev.empty()) {
        rte_eal_hotplug_remove("vdev", _vdev.c_str());
    }
}

void ExceptionPath::from_kernel(rte_mempool* pool, const std::function<bool(rte_mbuf*)>& send) {
    if (_ethdev) {
        receive_ethdev(send);
    } else {
        read_tap(pool, send);
    }
}

void ExceptionPath::pass(rte_mbuf* m, const std::function<bool(rte_mbuf*)>& send) {
    if (send(m)) {
        ++_stats.from_kernel;
    } else {
        ++_stats.from_kernel_failed;
        rte_pktmbuf_free(m);
    }
}

void ExceptionPath::read_tap(rte_mempool* pool, const std::function<bool(rte_mbuf*)>& send) {
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
        pass(m, send);
        m = nullptr;
    }
    if (m != nullptr) {
        rte_pktmbuf_free(m);
    }
}

void ExceptionPath::receive_ethdev(const std::function<bool(rte_mbuf*)>& send) {
    std::array<rte_mbuf*, kBatch> frames;
    unsigned received = 0;
    while (received < kExceptionPathBudget) {
        const uint16_t n = rte_eth_rx_burst(*_ethdev, 0, frames.data(), kBatch);
        if (n == 0) {
            return;
        }
        received += n;
        for (uint16_t i = 0; i < n; ++i) {
            rte_mbuf* m = frames[i];
            if (!kernel_frame_leaves(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len)) {
                ++_stats.from_kernel_kept;
                rte_pktmbuf_free(m);
                continue;
            }
            pass(m, send);
        }
    }
}

void ExceptionPath::hand_to_kernel(rte_mbuf** frames, unsigned n) {
    if (_ethdev) {
        // The PMD frees what it sent; what its full ring refused is ours.
        const uint16_t sent = rte_eth_tx_burst(*_ethdev, 0, frames, static_cast<uint16_t>(n));
        _stats.to_kernel += sent;
        _stats.to_kernel_failed += n - sent;
        rte_pktmbuf_free_bulk(frames + sent, n - sent);
        return;
    }
    for (unsigned i = 0; i < n; ++i) {
        rte_mbuf* m = frames[i];
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

void ExceptionPath::drain(rte_ring* ring) {
    std::array<rte_mbuf*, kBatch> frames;
    unsigned drained = 0;
    while (drained < kExceptionPathBudget) {
        const unsigned n = rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(frames.data()),
                                                     kBatch, nullptr);
        if (n == 0) {
            return;
        }
        drained += n;
        hand_to_kernel(frames.data(), n);
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
