#include "common/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace svcgw {

Result<Notified> notify_manager(std::string_view socket, std::string_view state) {
    if (socket.empty()) {
        return Notified::no_socket;
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    // sd_notify(3): an absolute path, or '@' for Linux's abstract namespace
    // (a leading NUL byte; the name is not NUL-terminated).
    if ((socket[0] != '/' && socket[0] != '@') || socket.size() < 2 ||
        socket.size() > sizeof addr.sun_path) {
        return fail("NOTIFY_SOCKET", "'" + std::string(socket) + "' is not a socket path");
    }
    std::memcpy(addr.sun_path, socket.data(), socket.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket.size());
    if (socket[0] == '@') {
        addr.sun_path[0] = '\0';
    } else if (socket.size() < sizeof addr.sun_path) {
        ++len;  // the path's terminating NUL
    }
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return fail("NOTIFY_SOCKET", std::string("socket: ") + std::strerror(errno));
    }
    const ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                                  reinterpret_cast<const sockaddr*>(&addr), len);
    const int err = errno;
    ::close(fd);
    if (sent < 0) {
        return fail("NOTIFY_SOCKET", std::string(socket) + ": " + std::strerror(err));
    }
    return Notified::sent;
}

Result<Notified> notify_manager(std::string_view state) {
    const char* socket = std::getenv("NOTIFY_SOCKET");
    return notify_manager(socket == nullptr ? std::string_view{} : std::string_view{socket}, state);
}

std::string reloading_state() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const unsigned long long usec =
        static_cast<unsigned long long>(ts.tv_sec) * 1000000ull + ts.tv_nsec / 1000;
    return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec);
}

}  // namespace svcgw
