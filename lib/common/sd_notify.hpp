// Readiness and state changes for a service manager, systemd's notify
// protocol (sd_notify(3)): one datagram of newline-separated KEY=VALUE lines
// to the AF_UNIX socket named by $NOTIFY_SOCKET, a path or "@name" for the
// abstract namespace. Without the variable nothing is sent (svcgw started by
// hand, or by a supervisor that does not ask). The protocol is one sendto():
// no libsystemd.
// Threading: any thread; no state.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace svcgw {

enum class Notified : bool { no_socket, sent };

// Sends `state` (e.g. "READY=1\nSTATUS=serving 3 services") to `socket`
// (the value of NOTIFY_SOCKET; empty = no manager listening). An error
// names the socket and the cause; the caller logs it and carries on (a
// manager that cannot be told is no reason to stop serving).
Result<Notified> notify_manager(std::string_view socket, std::string_view state);

// The same, with the socket from the environment (NOTIFY_SOCKET).
Result<Notified> notify_manager(std::string_view state);

// "RELOADING=1\nMONOTONIC_USEC=N": systemd 253's Type=notify-reload wants
// the clock with the reload so it can tell this reload's READY=1 from an
// earlier one's; older managers ignore the extra line.
std::string reloading_state();

}  // namespace svcgw
