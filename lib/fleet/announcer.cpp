#include "fleet/announcer.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace svcgw::fleet {

Result<std::unique_ptr<Announcer>> Announcer::start(const FleetConfig& config, Reload reload) {
    std::unique_ptr<Announcer> a(new Announcer(config, std::move(reload)));
    struct stat st {};
    if (::stat(config.drain_file.c_str(), &st) == 0) {
        a->_status.draining = true;
        a->_status.drain_since_unix = static_cast<int64_t>(st.st_mtime);
    } else if (errno != ENOENT) {
        return fail("fleet.drain_file", config.drain_file + ": " + std::strerror(errno));
    }
    // Nothing is announced before the first decision; BIRD may include the
    // file already (it refuses a configuration whose include is missing).
    a->_pending = render_bird_routes({});
    if (auto written = write_file_atomically(config.routes_file, a->_pending); !written) {
        Error e = written.error();
        e.path = "fleet.routes_file";
        return Unexpected<Error>{e};
    }
    return a;
}

Announcer::Reload Announcer::bird_reload(const FleetConfig& config) {
    return [socket = config.bird_socket] { return bird_configure(socket, kBirdTimeout); };
}

Result<void> Announcer::drain(std::optional<uint32_t> deadline_s, int64_t now_unix) {
    const std::string text = "drained by svcgwctl at " + std::to_string(now_unix) + "\n";
    if (auto written = write_file_atomically(_config.drain_file, text); !written) {
        return written;
    }
    if (!_status.draining) {
        _status.drain_since_unix = now_unix;
    }
    _status.draining = true;
    _status.drain_deadline_unix = now_unix + deadline_s.value_or(_config.drain_deadline_s);
    return {};
}

Result<void> Announcer::undrain() {
    if (std::remove(_config.drain_file.c_str()) != 0 && errno != ENOENT) {
        return fail(_config.drain_file, std::string("cannot remove: ") + std::strerror(errno));
    }
    _status.draining = false;
    _status.drain_deadline_unix.reset();
    _status.drained = false;
    return {};
}

void Announcer::update(const Observed& o, uint64_t now_ms, int64_t now_unix) {
    AnnounceInputs in;
    in.data_plane_up = o.data_plane_up;
    in.generation = o.generation;
    in.expected_generation = _expected;
    in.draining = _status.draining;
    in.vips = o.vips;
    in.snat_addresses = o.snat_addresses;
    _status.routes = decide(in);
    _status.data_plane_up = o.data_plane_up;
    _status.generation = o.generation;
    _status.expected_generation = _expected;
    _status.active_flows = o.active_flows;
    // A drain restored from the file has no deadline: it is done at once.
    _status.drained = _status.draining && (o.active_flows == 0 || !_status.drain_deadline_unix ||
                                           now_unix >= *_status.drain_deadline_unix);

    std::string text = render_bird_routes(_status.routes);
    if (text != _pending) {
        _pending = std::move(text);
        _retry_at_ms = 0;  // a change goes out now, not at the retry time
    }
    if (_pending == _pushed || now_ms < _retry_at_ms) {
        return;
    }
    if (auto pushed = push(_pending); !pushed) {
        _retry_at_ms = now_ms + kRetryMs;
    }
}

Result<void> Announcer::withdraw_all() {
    _pending = render_bird_routes({});
    return push(_pending);
}

Result<void> Announcer::push(const std::string& text) {
    auto fail_with = [this](std::string message) -> Result<void> {
        ++_status.bird_failures;
        _status.bird_in_sync = false;
        _status.bird_last_error = message;
        return fail("fleet", std::move(message));
    };
    if (auto written = write_file_atomically(_config.routes_file, text); !written) {
        return fail_with(written.error().str());
    }
    auto reply = _reload();
    if (!reply) {
        return fail_with(reply.error().str());
    }
    if (!reply->ok()) {
        return fail_with("BIRD refused the configuration: " + std::to_string(reply->code) + " " +
                         reply->message);
    }
    _pushed = text;
    ++_status.bird_reloads;
    _status.bird_in_sync = true;
    _status.bird_last_error.clear();
    return {};
}

}  // namespace svcgw::fleet
