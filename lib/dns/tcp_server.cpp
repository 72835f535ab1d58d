// DNS over TCP on the control thread (RFC 7766).
#include "dns/tcp_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>

#include "dns/wire.hpp"

namespace svcgw::dns {

namespace {

// Events handled per poll(): the control thread has other work too.
constexpr int kEventsPerPoll = 64;
// Bytes read per recv(); a whole maximum-size message takes a few.
constexpr size_t kReadChunk = 16384;
// RFC 7766 §8: the 2-octet length prefix.
constexpr size_t kLengthPrefix = 2;

uint64_t now_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

Unexpected<Error> os_error(const std::string& what) {
    return fail("dns", what + ": " + std::strerror(errno));
}

}  // namespace

Result<std::unique_ptr<DnsTcpServer>> DnsTcpServer::listen(Ipv4 address, uint16_t port,
                                                           ZoneSource zone, TcpOptions options) {
    std::unique_ptr<DnsTcpServer> s(new DnsTcpServer(std::move(zone), options));
    const std::string where = address.str() + ":" + std::to_string(port) + "/tcp";
    s->_listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->_listener < 0) {
        return os_error("cannot create the DNS/TCP socket");
    }
    const int one = 1;
    setsockopt(s->_listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (options.freebind &&
        setsockopt(s->_listener, IPPROTO_IP, IP_FREEBIND, &one, sizeof one) != 0) {
        return os_error("cannot set IP_FREEBIND for " + where);
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(address.value);
    if (::bind(s->_listener, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        return os_error("cannot listen on " + where);
    }
    if (::listen(s->_listener, kTcpListenBacklog) != 0) {
        return os_error("cannot listen on " + where);
    }
    socklen_t len = sizeof sa;
    getsockname(s->_listener, reinterpret_cast<sockaddr*>(&sa), &len);
    s->_port = ntohs(sa.sin_port);

    s->_epoll = epoll_create1(EPOLL_CLOEXEC);
    s->_timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (s->_epoll < 0 || s->_timer < 0) {
        return os_error("cannot create the DNS/TCP event set");
    }
    // Sweep four times per idle timeout: a connection lives at most 1.25x it.
    const uint64_t sweep_ns = uint64_t{options.idle_timeout_ms} * 1000000 / 4 + 1;
    const timespec period{static_cast<time_t>(sweep_ns / 1000000000),
                          static_cast<long>(sweep_ns % 1000000000)};
    const itimerspec timer{period, period};
    timerfd_settime(s->_timer, 0, &timer, nullptr);
    for (int fd : {s->_listener, s->_timer}) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (epoll_ctl(s->_epoll, EPOLL_CTL_ADD, fd, &ev) != 0) {
            return os_error("cannot watch the DNS/TCP socket");
        }
    }
    s->_answer.resize(kMaxTcpMessage + kLengthPrefix);
    return s;
}

DnsTcpServer::~DnsTcpServer() {
    for (auto& [fd, c] : _connections) {
        ::close(fd);
    }
    for (int fd : {_listener, _timer, _epoll}) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
}

TcpStats DnsTcpServer::stats() const {
    TcpStats s = _stats;
    s.open = _connections.size();
    return s;
}

void DnsTcpServer::poll() {
    epoll_event events[kEventsPerPoll];
    const int n = epoll_wait(_epoll, events, kEventsPerPoll, 0);
    const uint64_t now = now_ms();
    for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == _listener) {
            accept_all(now);
            continue;
        }
        if (fd == _timer) {
            uint64_t expirations = 0;
            (void)!::read(_timer, &expirations, sizeof expirations);
            sweep_idle(now);
            continue;
        }
        auto it = _connections.find(fd);
        if (it == _connections.end()) {
            continue;  // closed earlier in this batch
        }
        Connection& c = it->second;
        if ((events[i].events & EPOLLERR) != 0) {
            close(fd, &TcpStats::closed_error);
            continue;
        }
        if ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) != 0 && c.reading) {
            on_readable(c, now);
        } else {
            service(c, now);  // room to write
        }
    }
}

void DnsTcpServer::accept_all(uint64_t now) {
    for (;;) {
        const int fd = ::accept4(_listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;  // EAGAIN, or a connection that died in the queue
        }
        if (_connections.size() >= _options.max_connections) {
            ::close(fd);
            ++_stats.refused;
            continue;
        }
        // Answers go out as soon as they are built, pipelined or not.
        const int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.fd = fd;
        if (epoll_ctl(_epoll, EPOLL_CTL_ADD, fd, &ev) != 0) {
            ::close(fd);
            ++_stats.closed_error;
            continue;
        }
        Connection& c = _connections[fd];
        c.fd = fd;
        c.last_active_ms = now;
        ++_stats.accepted;
    }
}

void DnsTcpServer::on_readable(Connection& c, uint64_t now) {
    // Read while the buffer can take it: it holds at most what back-pressure
    // left unanswered plus one partial message.
    while (!c.peer_closed && c.in.size() < kMaxTcpMessage + kLengthPrefix) {
        const size_t used = c.in.size();
        c.in.resize(used + kReadChunk);
        const ssize_t got = ::recv(c.fd, c.in.data() + used, kReadChunk, 0);
        c.in.resize(used + (got > 0 ? static_cast<size_t>(got) : 0));
        if (got > 0) {
            continue;
        }
        if (got == 0) {
            c.peer_closed = true;
        } else if (errno == EINTR) {
            continue;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
            close(c.fd, &TcpStats::closed_error);
            return;
        }
        break;
    }
    service(c, now);
}

void DnsTcpServer::service(Connection& c, uint64_t now) {
    for (;;) {
        answer_buffered(c, now);
        if (!flush(c, now)) {
            return;  // closed
        }
        // Output drained below the cap while complete queries still wait:
        // answer them too (a pipelining client that reads slowly).
        if (pending(c) >= kTcpMaxPendingOutput || !has_message(c)) {
            break;
        }
    }
    if (c.peer_closed && pending(c) == 0) {
        // FIN after its queries: all answered (a partial one never completes).
        close(c.fd, &TcpStats::closed_peer);
        return;
    }
    update_interest(c);
}

bool DnsTcpServer::has_message(const Connection& c) {
    return c.in.size() >= kLengthPrefix &&
           c.in.size() - kLengthPrefix >= size_t{load_be16(c.in.data())};
}

void DnsTcpServer::answer_buffered(Connection& c, uint64_t now) {
    size_t pos = 0;
    while (pending(c) < kTcpMaxPendingOutput && c.in.size() - pos >= kLengthPrefix) {
        const size_t length = load_be16(c.in.data() + pos);
        if (c.in.size() - pos - kLengthPrefix < length) {
            break;  // a partial message: wait for the rest
        }
        const std::span<const uint8_t> query(c.in.data() + pos + kLengthPrefix, length);
        pos += kLengthPrefix + length;
        const Reply r = answer_tcp(_zone(), query,
                                   std::span<uint8_t>(_answer).subspan(kLengthPrefix), _rotation++);
        _dns.add(r);
        if (r.length == 0) {
            continue;  // dropped (a response, a short header): as over UDP; not activity
        }
        c.last_active_ms = now;
        store_be16(_answer.data(), static_cast<uint16_t>(r.length));
        c.out.insert(c.out.end(), _answer.begin(),
                     _answer.begin() + static_cast<long>(kLengthPrefix + r.length));
    }
    c.in.erase(c.in.begin(), c.in.begin() + static_cast<long>(pos));
}

bool DnsTcpServer::flush(Connection& c, uint64_t now) {
    while (c.out_sent < c.out.size()) {
        const ssize_t sent = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent,
                                    MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent > 0) {
            c.out_sent += static_cast<size_t>(sent);
            c.last_active_ms = now;
            continue;
        }
        if (sent < 0 && errno == EINTR) {
            continue;
        }
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        close(c.fd, &TcpStats::closed_error);
        return false;
    }
    if (c.out_sent == c.out.size()) {
        c.out.clear();
        c.out_sent = 0;
    } else if (c.out_sent >= kTcpMaxPendingOutput) {
        c.out.erase(c.out.begin(), c.out.begin() + static_cast<long>(c.out_sent));
        c.out_sent = 0;
    }
    return true;
}

void DnsTcpServer::update_interest(Connection& c) {
    // Read while answers can be queued; wait for room to write when some
    // are pending. A client that does not read is not read either.
    const bool reading = !c.peer_closed && pending(c) < kTcpMaxPendingOutput;
    const bool writing = pending(c) > 0;
    if (reading == c.reading && writing == c.writing) {
        return;
    }
    _stats.paused += c.reading && !reading && !c.peer_closed;
    c.reading = reading;
    c.writing = writing;
    epoll_event ev{};
    ev.events = (reading ? EPOLLIN | EPOLLRDHUP : 0u) | (writing ? EPOLLOUT : 0u);
    ev.data.fd = c.fd;
    epoll_ctl(_epoll, EPOLL_CTL_MOD, c.fd, &ev);
}

void DnsTcpServer::close(int fd, uint64_t TcpStats::*reason) {
    epoll_ctl(_epoll, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    _connections.erase(fd);
    ++(_stats.*reason);
}

void DnsTcpServer::sweep_idle(uint64_t now) {
    std::vector<int> idle;
    for (const auto& [fd, c] : _connections) {
        if (now - c.last_active_ms >= _options.idle_timeout_ms) {
            idle.push_back(fd);
        }
    }
    for (int fd : idle) {
        close(fd, &TcpStats::closed_idle);
    }
}

}  // namespace svcgw::dns
