// svcgw-pktgen's command line (the flags are listed in pktgen.cpp's header):
// what to generate, against what, and the changes to make during the run.
// Also writes the svcgw config that matches a run (--emit-config).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "pktgen/traffic.hpp"

namespace svcgw::pktgen {

enum class Peer { svcgw, macswap };

struct Options {
    std::string link = "ring";
    Peer peer = Peer::svcgw;
    Shape shape;
    double rate = 0;
    double duration = 2;
    uint16_t workers = 1;
    double change_at = -1;
    uint32_t remove = 0;
    uint32_t changes = 1;        // remove, add back, remove, ... (ring only past 1)
    double change_every_ms = 0;  // between two changes
    std::string emit_config;
    std::string device;
    // memif + svcgw: the change is a config reload. At change_at the file
    // reload_from is renamed over reload_to (svcgw's -c file) and reload_pid
    // gets SIGHUP.
    uint32_t max_flows = 0;  // conntrack.max_flows; 0: max(1M, 2 x flows)
    pid_t reload_pid = 0;
    std::string reload_from;
    std::string reload_to;
};

void usage();
// The options, or nothing on a bad flag (print usage()); eal_start is the
// index of the first EAL argument (after "--").
std::optional<Options> parse_options(int argc, char** argv, int& eal_start);
// conntrack.max_flows of the run (--max-flows, else max(1M, 2 x flows)).
uint32_t max_flows(const Options& o);
// The svcgw config matching the shape (for the memif link); exit status.
int emit_config(const Options& o);

}  // namespace svcgw::pktgen
