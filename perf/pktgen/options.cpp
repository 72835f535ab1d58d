// svcgw-pktgen's command line (options.hpp).
#include "pktgen/options.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>

#include "common/net.hpp"

namespace svcgw::pktgen {

void usage() {
    std::fprintf(stderr,
                 "usage: svcgw-pktgen [--link ring|memif] [--peer svcgw|macswap] [--clients N] "
                 "[--vips N] [--backends N] [--flows N] [--mix established|handshake|syn|udp] "
                 "[--size BYTES] [--mode fullnat|nat] [--rate PPS] [--duration S] [--workers N] "
                 "[--max-flows N] "
                 "[--change-at S --remove R [--changes N --change-every-ms X] "
                 "[--reload-pid PID --reload-from NEW --reload-to CFG]] "
                 "[--emit-config FILE --device SPEC] -- EAL options\n");
}

std::optional<Options> parse_options(int argc, char** argv, int& eal_start) {
    Options o;
    eal_start = argc;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--") {
            eal_start = i + 1;
            break;
        }
        if (i + 1 >= argc) {
            return std::nullopt;
        }
        std::string v = argv[++i];
        auto num = [&] { return std::strtoul(v.c_str(), nullptr, 10); };
        if (a == "--link" && (v == "ring" || v == "memif")) {
            o.link = v;
        } else if (a == "--peer" && (v == "svcgw" || v == "macswap")) {
            o.peer = v == "svcgw" ? Peer::svcgw : Peer::macswap;
        } else if (a == "--clients") {
            o.shape.clients = static_cast<uint32_t>(std::max(1ul, num()));
        } else if (a == "--vips") {
            o.shape.vips = static_cast<uint32_t>(std::max(1ul, num()));
        } else if (a == "--backends") {
            o.shape.backends = static_cast<uint32_t>(std::max(1ul, num()));
        } else if (a == "--flows") {
            o.shape.flows = static_cast<uint32_t>(std::max(1ul, num()));
        } else if (a == "--mix") {
            std::map<std::string, Mix> mixes = {{"established", Mix::established},
                                                {"handshake", Mix::handshake},
                                                {"syn", Mix::syn},
                                                {"udp", Mix::udp}};
            if (!mixes.contains(v)) {
                return std::nullopt;
            }
            o.shape.mix = mixes[v];
        } else if (a == "--size") {
            o.shape.frame_size = static_cast<uint32_t>(num());
        } else if (a == "--mode" && (v == "fullnat" || v == "nat")) {
            o.shape.fullnat = v == "fullnat";
        } else if (a == "--rate") {
            o.rate = std::strtod(v.c_str(), nullptr);
        } else if (a == "--duration") {
            o.duration = std::strtod(v.c_str(), nullptr);
        } else if (a == "--workers") {
            o.workers = static_cast<uint16_t>(std::max(1ul, num()));
        } else if (a == "--change-at") {
            o.change_at = std::strtod(v.c_str(), nullptr);
        } else if (a == "--remove") {
            o.remove = static_cast<uint32_t>(num());
        } else if (a == "--changes") {
            o.changes = static_cast<uint32_t>(std::max(1ul, num()));
        } else if (a == "--change-every-ms") {
            o.change_every_ms = std::max(0.0, std::strtod(v.c_str(), nullptr));
        } else if (a == "--emit-config") {
            o.emit_config = v;
        } else if (a == "--device") {
            o.device = v;
        } else if (a == "--max-flows") {
            o.max_flows = static_cast<uint32_t>(num());
        } else if (a == "--reload-pid") {
            o.reload_pid = static_cast<pid_t>(num());
        } else if (a == "--reload-from") {
            o.reload_from = v;
        } else if (a == "--reload-to") {
            o.reload_to = v;
        } else {
            return std::nullopt;
        }
    }
    uint32_t min = o.shape.tcp() ? kMinTcpFrame : kMinUdpFrame;
    o.shape.frame_size = std::clamp<uint32_t>(o.shape.frame_size, min, kMaxFrame);
    if (o.remove >= o.shape.backends) {
        o.remove = 0;
    }
    if (o.changes > 1 && (o.link != "ring" || o.peer != Peer::svcgw)) {
        std::fprintf(stderr, "pktgen: --changes past 1 needs --link ring\n");
        return std::nullopt;
    }
    return o;
}

// Flow-table capacity: twice the flows keeps the cuckoo table far from full.
uint32_t max_flows(const Options& o) {
    return o.max_flows != 0 ? o.max_flows : std::max<uint32_t>(1u << 20, o.shape.flows * 2);
}

int emit_config(const Options& o) {
    std::ofstream out(o.emit_config);
    const Shape& s = o.shape;
    out << "dpdk: {lcores: \"0-1\", memory_mb: 1024, file_prefix: svcgw_perf}\n"
        << "ports:\n  - {name: perf0, device: \"" << o.device
        << "\", address: " << Ipv4{kGatewayIp}.str() << "/" << int{kLinkPrefix} << "}\n"
        << "network: {service_cidr: " << Ipv4{kServiceNet}.str() << "/" << int{kServiceCidrLen}
        << "}\n"
        << "dns: {cluster_ip: " << Ipv4{kDnsIp}.str() << "}\n"
        << "forwarding: {mode: " << (s.fullnat ? "fullnat" : "nat") << "}\n"
        << "conntrack: {max_flows: " << max_flows(o) << "}\n"
        << "services:\n";
    for (uint32_t v = 0; v < s.vips; ++v) {
        out << "  - name: svc" << v << "\n    cluster_ip: " << Ipv4{s.vip_ip(v)}.str()
            << "\n    ports: [{port: " << kVipPort << ", target_port: " << kTargetPort
            << ", protocol: " << (s.tcp() ? "TCP" : "UDP") << "}]\n    endpoints:\n";
        for (uint32_t b = 0; b + o.remove < s.backends; ++b) {
            out << "      - {ip: " << Ipv4{s.backend_ip(v, b)}.str() << "}\n";
        }
    }
    return out ? 0 : 1;
}

}  // namespace svcgw::pktgen
