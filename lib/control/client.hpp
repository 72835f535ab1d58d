// An httplib client for an API address: TCP as httplib does it, or a unix
// socket (httplib 0.11 connects over TCP only, so the socket is connected
// here and httplib does the HTTP).
#pragma once

#include <httplib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>

#include "control/listen.hpp"

namespace svcgw {

class UnixClient : public httplib::ClientImpl {
public:
    explicit UnixClient(std::string path)
        : httplib::ClientImpl("localhost"), _path(std::move(path)) {}

protected:
    bool create_and_connect_socket(Socket& socket, httplib::Error& error) override {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (_path.size() >= sizeof addr.sun_path) {
            error = httplib::Error::Connection;
            return false;
        }
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            error = httplib::Error::Connection;
            return false;
        }
        std::memcpy(addr.sun_path, _path.c_str(), _path.size() + 1);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            error = httplib::Error::Connection;
            ::close(fd);
            return false;
        }
        socket.sock = fd;
        return true;
    }

private:
    std::string _path;
};

inline std::unique_ptr<httplib::ClientImpl> make_client(const ListenAddress& address) {
    if (address.is_unix) {
        return std::make_unique<UnixClient>(address.path);
    }
    return std::make_unique<httplib::ClientImpl>(address.host, address.port);
}

}  // namespace svcgw
