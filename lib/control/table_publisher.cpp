#include "control/table_publisher.hpp"

namespace svcgw {

Result<void> TablePublisher::publish(const std::vector<ServiceConfig>& next,
                                     const ServiceDiff& diff, const MaglevConfig& maglev) {
    // All or nothing: build every new object first (what upsert would do);
    // only if all build is the table touched.
    std::vector<const ServiceConfig*> upserts = diff.changed;
    upserts.insert(upserts.end(), diff.added.begin(), diff.added.end());
    for (const ServiceConfig* s : upserts) {
        auto built = Service::build(*s, maglev);
        if (!built) {
            Error e = built.error();
            e.path = s->key() + (e.path.empty() ? "" : "." + e.path);
            return Unexpected<Error>{e};
        }
    }
    // Removals first so that a VIP moving between services is free again.
    Error failure;
    bool failed = false;
    for (const ServiceConfig* s : diff.removed) {
        auto done = _table.remove(s->ns, s->name);
        if (!done) {
            failure = done.error();
            failed = true;
            break;
        }
    }
    // A VIP swapped between two changed services fails on the first try;
    // a second pass sees it released.
    for (int pass = 0; pass < 2 && !failed && !upserts.empty(); ++pass) {
        std::vector<const ServiceConfig*> retry;
        for (const ServiceConfig* s : upserts) {
            auto done = _table.upsert(*s, maglev);
            if (!done) {
                retry.push_back(s);
                failure = done.error();
                failure.path = s->key() + (failure.path.empty() ? "" : "." + failure.path);
            }
        }
        upserts = std::move(retry);
        failed = !upserts.empty() && pass == 1;
    }
    if (failed) {
        // Capacity or key conflicts the validation cannot see: restore.
        for (const ServiceConfig* s : diff.added) {
            (void)_table.remove(s->ns, s->name);
        }
        for (const ServiceConfig& s : _published) {
            (void)_table.upsert(s, _maglev);
        }
        return Unexpected<Error>{failure};
    }
    _published = next;
    _maglev = maglev;
    return {};
}

}  // namespace svcgw
