// EAL's log, kept as well as shown. rte_eal_init() and device probes report
// their real cause only in log lines (rte_errno is often left at 0, hence
// "rte_eal_init failed: Success"; a vdev that fails to probe leaves EAL
// running without the port). While installed, every EAL line still goes to
// stderr (the journal under systemd) and the recent ones are remembered, so
// the daemon's one-line start-up error can quote the cause.
//
// Threading: install() on the main thread before rte_eal_init(); the tee
// then stays for the life of the process (EAL threads may be logging, so
// its stream is never closed). A mutex guards the remembered lines.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace svcgw::eal_log {

// Makes the tee EAL's log stream (rte_openlog_stream); idempotent.
void install();

// Lines logged since install() at `max_level` or more severe (RTE_LOG_ERR,
// ...; RTE_LOG_DEBUG = all), oldest first, at most the last 64 lines.
std::vector<std::string> recent(uint32_t max_level);

// The cause of a failure as EAL logged it: the first remembered line that
// names `subject` (a device name, a PCI address); with an empty subject,
// the error lines ("; "-separated: the cause, then EAL's summary). Empty
// when nothing matches.
std::string cause(std::string_view subject = {});

}  // namespace svcgw::eal_log
