#include "fleet/bird.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace svcgw::fleet {
namespace {

constexpr size_t kCodeDigits = 4;
// Replies to `configure` are a few lines; anything longer is not BIRD.
constexpr size_t kMaxReply = 64 * 1024;

class Fd {
public:
    explicit Fd(int fd) : _fd(fd) {}
    ~Fd() {
        if (_fd >= 0) {
            close(_fd);
        }
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return _fd; }

private:
    int _fd;
};

std::string errno_text(const char* what) {
    return std::string(what) + ": " + std::strerror(errno);
}

// Reads until one complete reply is in, or the deadline passes.
Result<BirdReply> read_reply(int fd, std::chrono::steady_clock::time_point deadline,
                             const std::string& where) {
    std::string text;
    char buf[4096];
    while (true) {
        auto parsed = parse_bird_reply(text);
        if (!parsed) {
            return fail(where, parsed.error().message);
        }
        if (*parsed) {
            return **parsed;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{fd, POLLIN, 0};
        int n = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
        if (n == 0) {
            return fail(where, "no complete reply from BIRD in time");
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail(where, errno_text("poll"));
        }
        ssize_t got = ::read(fd, buf, sizeof buf);
        if (got == 0) {
            return fail(where, "BIRD closed the connection mid-reply");
        }
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            return fail(where, errno_text("read"));
        }
        text.append(buf, static_cast<size_t>(got));
        if (text.size() > kMaxReply) {
            return fail(where, "reply longer than " + std::to_string(kMaxReply) + " bytes");
        }
    }
}

}  // namespace

Result<std::optional<BirdReply>> parse_bird_reply(std::string_view text) {
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            return std::optional<BirdReply>{};  // a partial line
        }
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (!line.empty() && line.front() == ' ') {
            continue;  // continuation of the previous line
        }
        bool numbered = line.size() > kCodeDigits;
        for (size_t i = 0; numbered && i < kCodeDigits; ++i) {
            numbered = line[i] >= '0' && line[i] <= '9';
        }
        if (!numbered || (line[kCodeDigits] != ' ' && line[kCodeDigits] != '-')) {
            return fail("", "not a BIRD reply line: '" + std::string(line.substr(0, 80)) + "'");
        }
        if (line[kCodeDigits] == ' ') {
            BirdReply reply;
            reply.code = std::stoi(std::string(line.substr(0, kCodeDigits)));
            reply.message = std::string(line.substr(kCodeDigits + 1));
            return std::optional<BirdReply>{std::move(reply)};
        }
    }
    return std::optional<BirdReply>{};
}

Result<BirdReply> bird_configure(const std::string& socket_path,
                                 std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    sockaddr_un addr{};
    if (socket_path.size() >= sizeof addr.sun_path) {
        return fail(socket_path, "socket path too long");
    }
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) {
        return fail(socket_path, errno_text("socket"));
    }
    // A local stream socket connects at once or fails (no listener, no file).
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        return fail(socket_path, errno_text("connect"));
    }
    auto greeting = read_reply(fd.get(), deadline, socket_path);
    if (!greeting) {
        return greeting;
    }
    static constexpr std::string_view kCommand = "configure\n";
    if (::send(fd.get(), kCommand.data(), kCommand.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(kCommand.size())) {
        return fail(socket_path, errno_text("send"));
    }
    return read_reply(fd.get(), deadline, socket_path);
}

Result<void> write_file_atomically(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) {
        return fail(path, errno_text(("cannot write " + tmp).c_str()));
    }
    bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    written = (std::fclose(f) == 0) && written;
    if (!written) {
        std::remove(tmp.c_str());
        return fail(path, errno_text(("cannot write " + tmp).c_str()));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        return fail(path, errno_text("rename"));
    }
    return {};
}

}  // namespace svcgw::fleet
