#include "port/kernel_driver.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "port/port.hpp"

namespace svcgw {

namespace {

// 0 when `path` opens read-write (as virtio_user opens it), else the errno.
int open_error(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    close(fd);
    return 0;
}

}  // namespace

const char* kernel_driver_name(KernelDriver driver) {
    switch (driver) {
        case KernelDriver::automatic:
            return "auto";
        case KernelDriver::tap:
            return "tap";
        case KernelDriver::virtio_user:
            return "virtio_user";
        case KernelDriver::tap_pmd:
            return "tap_pmd";
    }
    return "?";
}

bool kernel_driver_is_ethdev(KernelDriver driver) {
    return driver == KernelDriver::virtio_user || driver == KernelDriver::tap_pmd;
}

Result<KernelDriverChoice> choose_kernel_driver(KernelDriver wanted, const std::string& vhost_net) {
    switch (wanted) {
        case KernelDriver::tap:
        case KernelDriver::tap_pmd:
            return KernelDriverChoice{
                wanted, "ports[0].kernel_driver: " + std::string(kernel_driver_name(wanted))};
        case KernelDriver::virtio_user:
            if (int error = open_error(vhost_net)) {
                return fail("ports[0].kernel_driver",
                            "virtio_user needs " + vhost_net +
                                ", which cannot be opened: " + std::strerror(error) +
                                " (modprobe vhost_net, or kernel_driver: auto or tap)");
            }
            return KernelDriverChoice{
                wanted, "ports[0].kernel_driver: virtio_user, " + vhost_net + " opens"};
        case KernelDriver::automatic:
            break;
    }
    if (int error = open_error(vhost_net)) {
        return KernelDriverChoice{KernelDriver::tap, "auto: " + vhost_net + " cannot be opened (" +
                                                         std::strerror(error) + ")"};
    }
    return KernelDriverChoice{KernelDriver::virtio_user, "auto: " + vhost_net + " opens"};
}

KernelVdev kernel_vdev(KernelDriver driver, const std::string& interface, const MacAddr& mac,
                       uint16_t queue_size, const std::string& vhost_net) {
    if (driver == KernelDriver::virtio_user) {
        // vhost-kernel back end: `path` is vhost-net, `iface` the TAP it
        // creates. No rx offloads are asked for, so the PMD does not offer
        // the TAP checksum/TSO offloads: the kernel hands over complete frames.
        return KernelVdev{"virtio_user_" + interface,
                          "path=" + vhost_net + ",iface=" + interface + ",mac=" + mac_str(mac) +
                              ",queues=1,queue_size=" + std::to_string(queue_size)};
    }
    // net_tap: queue sizes come from the queue set-up, not the arguments.
    return KernelVdev{"net_tap_" + interface, "iface=" + interface + ",mac=" + mac_str(mac)};
}

}  // namespace svcgw
