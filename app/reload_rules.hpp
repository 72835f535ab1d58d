// What a SIGHUP may change (DESIGN §3): the file is read and parsed here;
// the service set is validated by ControlState::reload against the whole
// running set. Sections the workers and the port were built from need a
// restart.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"
#include "control/state.hpp"

namespace svcgw::app {

// The names of the sections that differ between `a` and `b` and cannot be
// reloaded; empty when the reload may go ahead.
std::vector<std::string> fixed_sections_changed(const Config& a, const Config& b);

// The file at `path`, parsed (not yet validated against the running set).
Result<Config, Errors> read_config_file(const std::string& path);

// Every address the running services serve (network order).
std::set<uint32_t> vips_of(const std::map<std::string, ServiceRecord>& running);

}  // namespace svcgw::app
