// Fuzz target: config and manifest loading from bytes (native YAML and
// Kubernetes Service / EndpointSlice / List documents).
//
// Runs the three entry points the daemon and the API use: load_config
// (parse + validate + allocate), parse_services (POST /v1/apply) and, for
// a config that loads, the DNS zone build (what a reload publishes next).
// Invariants besides the sanitizers: every error carries a message; a
// config that loaded validates again unchanged (allocation is stable); a
// loaded config builds a zone or reports why with a path.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "dns/zone.hpp"

namespace {

void die(const char* what) {
    std::fprintf(stderr, "fuzz_config: %s\n", what);
    std::abort();
}

void check_errors(const svcgw::Errors& errors) {
    if (errors.empty()) {
        die("failure without an error");
    }
    for (const auto& e : errors) {
        if (e.str().empty()) {
            die("empty error message");
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto config = svcgw::load_config(text, "fuzz.yaml");
    if (!config) {
        check_errors(config.error());
    } else {
        svcgw::Config again = *config;
        auto revalidated = svcgw::validate_and_allocate(again, config->services);
        if (!revalidated) {
            die("a loaded config does not validate again");
        }
        for (size_t i = 0; i < again.services.size(); ++i) {
            if (again.services[i].cluster_ip != config->services[i].cluster_ip) {
                die("re-validation moved a ClusterIP");
            }
        }
        auto zone = svcgw::dns::build_zone(*config, 1);
        if (!zone) {
            check_errors(zone.error());
        }
    }
    auto services = svcgw::parse_services(text, "fuzz.yaml");
    if (!services) {
        check_errors(services.error());
    }
    return 0;
}
