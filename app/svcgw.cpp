// svcgw: the gateway daemon (DESIGN §1, §3).
//
//   svcgw -c FILE [--check] [-- EAL options]
//
// main: the arguments, --check (the pre-flight a rollout runs), the checks
// that fail with their fix before EAL starts, EAL, then the control thread
// (daemon.hpp) on the main lcore and a worker on every other lcore.
#include <net/if.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_version.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "daemon.hpp"
#include "gateway/memory_budget.hpp"
#include "log.hpp"
#include "port/eal_args.hpp"
#include "port/eal_log.hpp"
#include "port/kernel_driver.hpp"
#include "port/port.hpp"
#include "table/service.hpp"
#include "table/service_table.hpp"
#include "version.hpp"

namespace svcgw::app {
namespace {

void usage() {
    std::fprintf(stderr, "usage: svcgw -c FILE [--check] [-- EAL options] | svcgw --version\n");
}

// Workers the lcore list asks for (the main lcore runs the control thread);
// build_eal_args refuses a list without one.
uint16_t configured_workers(const Config& config) {
    const size_t lcores = parse_lcore_list(config.dpdk.lcores).size();
    return static_cast<uint16_t>(lcores > 1 ? lcores - 1 : 1);
}

// The exception path's driver for ports[0] (port/kernel_driver.hpp); tap
// (unused) without a kernel_interface.
Result<KernelDriverChoice> choose_exception_driver(const Config& config) {
    if (config.ports.empty() || config.ports[0].kernel_interface.empty()) {
        return KernelDriverChoice{KernelDriver::tap, "no kernel_interface"};
    }
    return choose_kernel_driver(config.ports[0].kernel_driver);
}

// Exit 1 when the daemon would refuse the file, and also when it would
// leave Kubernetes objects out (it would start without them): a pre-flight
// check must not pass over what will not run. Warnings alone: 0.
int check_only(const std::string& path) {
    auto config = load_config_file(path);
    if (!config) {
        for (const Error& e : config.error()) {
            std::fprintf(stderr, "%s\n", e.str().c_str());
        }
        return 1;
    }
    if (auto fits = check_memory_budget(*config, configured_workers(*config)); !fits) {
        std::fprintf(stderr, "%s\n", fits.error().str().c_str());
        return 1;
    }
    // The host side of the exception path, as the daemon decides it.
    if (auto kernel = choose_exception_driver(*config); !kernel) {
        std::fprintf(stderr, "%s: %s\n", path.c_str(), kernel.error().str().c_str());
        return 1;
    }
    for (const std::string& line : warning_lines(*config)) {
        std::fprintf(stderr, "%s\n", line.c_str());
    }
    for (const std::string& line : skipped_lines(config->skipped)) {
        std::fprintf(stderr, "%s\n", line.c_str());
    }
    if (!config->skipped.empty()) {
        std::printf("%s: %zu Kubernetes objects would be left out, the rest loads\n", path.c_str(),
                    config->skipped.size());
        return 1;
    }
    // The digest a gateway serving exactly this file exports
    // (svcgw_tables_digest_info): compare it across a fleet before a rollout.
    std::vector<std::unique_ptr<const Service>> built;
    std::vector<const Service*> services;
    for (size_t i = 0; i < config->services.size(); ++i) {
        auto svc = Service::build(config->services[i], config->maglev);
        if (!svc) {
            std::fprintf(stderr, "%s: services[%zu]: %s\n", path.c_str(), i,
                         svc.error().str().c_str());
            return 1;
        }
        services.push_back(svc->get());
        built.push_back(std::move(*svc));
    }
    std::printf("%s: ok (%zu services, tables digest %s)\n", path.c_str(), services.size(),
                digest_str(tables_digest(services)).c_str());
    return 0;
}

int daemon_main(int argc, char** argv) {
    std::string path;
    bool check = false;
    std::vector<std::string> trailing;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--") {
            trailing.assign(argv + i + 1, argv + argc);
            break;
        }
        if ((arg == "-c" || arg == "--config") && i + 1 < argc) {
            path = argv[++i];
        } else if (arg == "--check") {
            check = true;
        } else if (arg == "--version") {
            // The DPDK it runs on: PMD behaviour differs between releases.
            std::printf("svcgw %s (%s), %s\n", SVCGW_VERSION, SVCGW_COMMIT, rte_version());
            return 0;
        } else if (arg == "-h" || arg == "--help") {
            usage();
            return 0;
        } else {
            usage();
            return 2;
        }
    }
    if (path.empty()) {
        usage();
        return 2;
    }
    if (check) {
        return check_only(path);
    }

    auto loaded = load_config_file(path);
    if (!loaded) {
        for (const Error& e : loaded.error()) {
            log("%s", e.str().c_str());
        }
        return 1;
    }
    Config config = std::move(*loaded);
    for (const std::string& line : warning_lines(config)) {
        log("%s", line.c_str());
    }
    for (const std::string& line : skipped_lines(config.skipped)) {
        log("%s", line.c_str());
    }
    if (config.ports.size() != 1) {
        log("%s: ports: exactly one port is supported (got %zu)", path.c_str(),
            config.ports.size());
        return 1;
    }
    // The config's own limits before the host's: as --check says.
    if (auto fits = check_memory_budget(config, configured_workers(config)); !fits) {
        log("%s: %s", path.c_str(), fits.error().str().c_str());
        return 1;
    }
    // A missing interface or an unbound PCI device fails here, with its
    // fix, rather than as an EAL probe error.
    if (auto present = check_port_device(config.ports[0], HostView{"/sys", if_nametoindex});
        !present) {
        log("%s: %s", path.c_str(), present.error().str().c_str());
        return 1;
    }
    auto kernel = choose_exception_driver(config);
    if (!kernel) {
        log("%s: %s", path.c_str(), kernel.error().str().c_str());
        return 1;
    }
    if (!config.ports[0].kernel_interface.empty()) {
        log("exception path: %s over %s (%s)", config.ports[0].kernel_interface.c_str(),
            kernel_driver_name(kernel->driver), kernel->reason.c_str());
    }
    auto eal_args = build_eal_args(config, probe_hugepages(), trailing);
    if (!eal_args) {
        log("%s: %s", path.c_str(), eal_args.error().str().c_str());
        return 1;
    }
    std::string joined;
    for (const auto& a : *eal_args) {
        joined += " " + a;
    }
    log("EAL:%s", joined.c_str());

    // Block the signals before EAL creates its threads (they inherit the
    // mask), so only the control thread's signalfd sees them.
    const sigset_t signals = control_signals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    std::vector<char*> eal_argv;
    for (auto& a : *eal_args) {
        eal_argv.push_back(a.data());
    }
    eal_argv.push_back(nullptr);
    eal_log::install();
    if (rte_eal_init(static_cast<int>(eal_argv.size() - 1), eal_argv.data()) < 0) {
        // rte_errno is often left at 0 ("Success"): the cause is in EAL's log.
        const int error = rte_errno;
        const std::string cause = eal_log::cause();
        log("%s: dpdk: EAL initialisation failed: %s%s%s", path.c_str(),
            error != 0 ? rte_strerror(error) : "", error != 0 && !cause.empty() ? ": " : "",
            cause.c_str());
        return 1;
    }
    unsigned workers = rte_lcore_count() - 1;
    if (workers == 0) {
        log("dpdk.lcores: no worker lcore");
        rte_eal_cleanup();
        return 1;
    }
    int rc = 0;
    std::string failure;
    {
        Daemon daemon(path, std::move(config), kernel->driver);
        auto started = daemon.start(workers);
        if (!started) {
            failure = started.error().str();
            rc = 1;
        } else {
            rc = daemon.run();
        }
    }
    rte_eal_cleanup();
    if (!failure.empty()) {
        // Last, after the shutdown's summary lines: a supervisor shows the
        // final line, and that must be the cause.
        log("%s: %s", path.c_str(), failure.c_str());
        return rc;
    }
    log("stopped");
    return rc;
}

}  // namespace
}  // namespace svcgw::app

int main(int argc, char** argv) {
    return svcgw::app::daemon_main(argc, argv);
}
