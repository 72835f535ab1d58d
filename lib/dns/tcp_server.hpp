// DNS over TCP (RFC 7766) on kernel sockets, served by the control thread.
// The workers answer UDP in the data plane; TCP needs a TCP stack, so the
// gateway's kernel terminates it (the exception path carries the frames to
// dns.cluster_ip:53 to the kernel) and this server answers from the same
// zone the workers use, with the same responder (answer_tcp).
//
// Threading: one thread, the one that publishes and retires zones (the
// control thread), calls everything here. The zone is read through `zone`
// at each query, never kept across calls: a version can only be freed by
// that same thread's reclaim, between two calls, so no grace period is
// needed (control/zone_versions.hpp, ZoneVersions::live()).
//
// The server is one epoll set of its own (listener, connections, an idle
// timer); fd() is that set, so the control loop watches one descriptor and
// calls poll() when it is readable. Never blocks.
//
// RFC 7766 behaviour:
// - 2-octet length framing; several queries per connection, pipelined:
//   every complete message in the buffer is answered, in order (§6.2.1);
// - a response can use the whole 65535-octet message (§8), whatever the
//   query's EDNS size;
// - idle timeout (§6.2.3): a connection that completes no query we answer
//   and takes none of its pending output for kTcpIdleTimeoutMs is closed; a
//   client that trickles bytes without finishing a message, or sends
//   messages we drop, gets no extension;
// - at most kTcpMaxConnections at once; beyond that a new connection is
//   accepted and closed at once (the client retries or falls back);
// - a client that does not read its responses stops being read once
//   kTcpMaxPendingOutput octets wait for it (no unbounded buffering);
// - a half-closed connection (client sent FIN after its queries) still gets
//   its answers, then is closed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/net.hpp"
#include "common/result.hpp"
#include "dns/responder.hpp"
#include "dns/zone.hpp"

namespace svcgw::dns {

// RFC 7766 §6.2.3 asks for an idle timeout "on the order of seconds"; Knot
// uses 10 s by default, BIND and Unbound 30 s. Stub resolvers reuse a
// connection only for the queries of one lookup, so 10 s is plenty.
constexpr uint32_t kTcpIdleTimeoutMs = 10000;
// BIND's default tcp-clients is 150; DNS over TCP here only carries what a
// truncated UDP answer sends over, so a few hundred is ample and bounds
// memory at kTcpMaxConnections x (64 KiB in + kTcpMaxPendingOutput out).
constexpr uint32_t kTcpMaxConnections = 256;
// Two maximum-size responses: enough for pipelining, bounded per client.
constexpr size_t kTcpMaxPendingOutput = 2 * (kMaxTcpMessage + 2);
// The kernel's queue of connections not yet accepted (listen(2) backlog).
constexpr int kTcpListenBacklog = 128;

struct TcpOptions {
    uint32_t idle_timeout_ms = kTcpIdleTimeoutMs;
    uint32_t max_connections = kTcpMaxConnections;
    bool freebind = false;  // IP_FREEBIND: bind before the address is configured
};

struct TcpStats {
    uint64_t accepted = 0;
    uint64_t refused = 0;      // over max_connections
    uint64_t closed_idle = 0;  // idle timeout
    uint64_t closed_peer = 0;  // the client closed (after its answers)
    uint64_t closed_error = 0;
    uint64_t paused = 0;  // times a client's unread answers stopped its reads
    uint64_t open = 0;
};

class DnsTcpServer {
public:
    using ZoneSource = std::function<const Zone*()>;

    // Listens on address:port (port 0 = any, see port()).
    static Result<std::unique_ptr<DnsTcpServer>> listen(Ipv4 address, uint16_t port,
                                                        ZoneSource zone, TcpOptions options = {});
    ~DnsTcpServer();
    DnsTcpServer(const DnsTcpServer&) = delete;
    DnsTcpServer& operator=(const DnsTcpServer&) = delete;

    // Readable when poll() has work.
    int fd() const { return _epoll; }
    // Handles what is ready (accepts, reads, answers, writes, idle sweep).
    void poll();

    uint16_t port() const { return _port; }
    // Per-query outcomes, counted as the workers count theirs.
    const DnsCounters& dns_counters() const { return _dns; }
    TcpStats stats() const;

private:
    struct Connection {
        int fd = -1;
        std::vector<uint8_t> in;   // received, not yet answered
        std::vector<uint8_t> out;  // answers not yet sent, from out_sent on
        size_t out_sent = 0;
        uint64_t last_active_ms = 0;
        bool reading = true;       // EPOLLIN registered (false while output backs up)
        bool writing = false;      // EPOLLOUT registered (answers wait for room)
        bool peer_closed = false;  // FIN received: answer what is there, then close
    };

    DnsTcpServer(ZoneSource zone, TcpOptions options) : _zone(std::move(zone)), _options(options) {}
    void accept_all(uint64_t now);
    void on_readable(Connection& c, uint64_t now);
    void service(Connection& c, uint64_t now);  // answer, send, then choose events
    void answer_buffered(Connection& c, uint64_t now);
    bool flush(Connection& c, uint64_t now);  // false: the connection failed (closed)
    static size_t pending(const Connection& c) { return c.out.size() - c.out_sent; }
    static bool has_message(const Connection& c);
    void update_interest(Connection& c);
    void close(int fd, uint64_t TcpStats::*reason);
    void sweep_idle(uint64_t now);

    ZoneSource _zone;
    TcpOptions _options;
    int _epoll = -1;
    int _listener = -1;
    int _timer = -1;
    uint16_t _port = 0;
    std::unordered_map<int, Connection> _connections;
    std::vector<uint8_t> _answer;  // one response being built
    uint32_t _rotation = 0;        // this server's own query count (loadbalance)
    DnsCounters _dns;
    TcpStats _stats;
};

}  // namespace svcgw::dns
