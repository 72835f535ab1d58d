// The service-manager notification (common/sd_notify.hpp): what a manager
// listening on NOTIFY_SOCKET receives, for a path and an abstract socket,
// and that a missing or bad socket is told apart from a sent message.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "common/sd_notify.hpp"

namespace svcgw {
namespace {

// A datagram socket bound where a manager would listen.
class Manager {
public:
    // `name`: a path, or "@name" for the abstract namespace.
    explicit Manager(const std::string& name) : _name(name) {
        _fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, name.data(), name.size());
        socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
        if (name[0] == '@') {
            addr.sun_path[0] = '\0';
        } else {
            unlink(name.c_str());
        }
        _bound = bind(_fd, reinterpret_cast<const sockaddr*>(&addr), len) == 0;
    }
    ~Manager() {
        close(_fd);
        if (_name[0] == '/') {
            unlink(_name.c_str());
        }
    }
    bool bound() const { return _bound; }
    std::string receive() {
        char buf[512];
        const ssize_t n = recv(_fd, buf, sizeof buf, MSG_DONTWAIT);
        return n < 0 ? std::string("(nothing)") : std::string(buf, static_cast<size_t>(n));
    }

private:
    std::string _name;
    int _fd = -1;
    bool _bound = false;
};

TEST(SdNotify, PathSocketGetsTheStateAsIs) {
    const std::string path = "/tmp/svcgw-notify-" + std::to_string(getpid());
    Manager m(path);
    ASSERT_TRUE(m.bound());
    auto r = notify_manager(path, "READY=1\nSTATUS=serving 2 services");
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(*r, Notified::sent);
    EXPECT_EQ(m.receive(), "READY=1\nSTATUS=serving 2 services");
}

TEST(SdNotify, AbstractSocket) {
    const std::string name = "@svcgw-notify-" + std::to_string(getpid());
    Manager m(name);
    ASSERT_TRUE(m.bound());
    auto r = notify_manager(name, "STOPPING=1");
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(m.receive(), "STOPPING=1");
}

TEST(SdNotify, FromTheEnvironment) {
    const std::string path = "/tmp/svcgw-notify-env-" + std::to_string(getpid());
    Manager m(path);
    ASSERT_TRUE(m.bound());
    setenv("NOTIFY_SOCKET", path.c_str(), 1);
    auto r = notify_manager("READY=1");
    unsetenv("NOTIFY_SOCKET");
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(m.receive(), "READY=1");
    // Unset: nothing to tell, not an error.
    auto none = notify_manager("READY=1");
    ASSERT_TRUE(none);
    EXPECT_EQ(*none, Notified::no_socket);
}

TEST(SdNotify, BadOrDeadSocketIsAnError) {
    EXPECT_FALSE(notify_manager("relative/path", "READY=1"));
    EXPECT_FALSE(notify_manager("@", "READY=1"));
    EXPECT_FALSE(notify_manager("/" + std::string(200, 'x'), "READY=1"));
    auto dead = notify_manager("/tmp/svcgw-notify-nobody-listens", "READY=1");
    ASSERT_FALSE(dead);
    EXPECT_NE(dead.error().message.find("svcgw-notify-nobody-listens"), std::string::npos);
}

TEST(SdNotify, ReloadingCarriesTheMonotonicClock) {
    const std::string s = reloading_state();
    unsigned long long usec = 0;
    ASSERT_EQ(std::sscanf(s.c_str(), "RELOADING=1\nMONOTONIC_USEC=%llu", &usec), 1) << s;
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const unsigned long long now = static_cast<unsigned long long>(ts.tv_sec) * 1000000ull;
    EXPECT_LE(usec, now + 1000000ull);
    EXPECT_GE(usec + 1000000ull, now);
}

}  // namespace
}  // namespace svcgw
